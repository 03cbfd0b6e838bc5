#!/bin/sh
# Holds a private network namespace for ringseed's interop tests.
#
#   unshare -n tests/interop/netns.sh ADDR...
#
# Brings `lo` up, adds each ADDR (IPv4) to it as a /32, prints "netns ready"
# and then stays alive until its stdin is closed (the test holds the other
# end of a pipe, so the namespace goes away with the test even if it is
# killed). Test processes join the namespace through /proc/PID/ns/net
# (setns in the tests; `nsenter --net=/proc/PID/ns/net` by hand).
# Only loopback exists inside: nothing can leave the machine.
set -eu
ip link set lo up
for a in "$@"; do
    ip addr add "$a/32" dev lo
done
echo "netns ready"
exec cat >/dev/null
