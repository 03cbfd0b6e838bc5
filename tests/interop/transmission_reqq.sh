#!/bin/sh
# Times Transmission downloading the ~200 MiB multi-file interop torrent
# from `ringseed seed --reqq N` for several N, in a private network namespace
# (needs root, like tests/interop_clients.rs, which does the work: see its
# ignored test `transmission_reqq_sweep`).
#
#   tests/interop/transmission_reqq.sh [REQQ...]
#
# Environment: INTEROP_RUNS (runs per value, default 2), RINGSEED_BIN (another
# ringseed build), RINGSEED_ARGS (more seeder flags), INTEROP_TIMEOUT_SECS
# (per download, default 180).
#
# Prints one line per run:
#   REQQ reqq=N run=I result=ok seconds=S MBps=X first_byte_s=F transfer_seconds=T transfer_MBps=Y
# seconds: torrent added to complete; transfer_*: from the first byte on disk
# (Transmission decides it is interested only at its 10 s rechoke pulse).
set -eu
cd "$(dirname "$0")/../.."
if [ $# -gt 0 ]; then
    INTEROP_REQQ="$*"
    export INTEROP_REQQ
fi
cargo test --release --test interop_clients transmission_reqq_sweep -- \
    --ignored --exact --nocapture 2>&1 | grep -E '^(REQQ|SKIP)|panicked|error' || true
