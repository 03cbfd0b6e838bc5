#!/usr/bin/python3
"""Drives a running `deluged` for ringseed's interop tests (Debian's deluge 2.0).

  deluge_client.py --port PORT --user USER --password PASS \
      TORRENT SAVE_DIR [--peer PEER_IP:PEER_PORT] [--timeout SECS]

Connects to deluged on 127.0.0.1:PORT (retrying while it starts), adds
TORRENT with SAVE_DIR as its download location and polls its status four
times a second. Without --peer, deluged finds peers only through the
torrent's trackers; with --peer it is also given that peer with
core.connect_peer (again every 10 s until done). Prints "added", a progress
line per poll and "done" and exits 0 when the torrent is complete; exits 1
with the last status on timeout or error.
"""
import argparse
import base64
import os
import sys
import time

from twisted.internet import defer, reactor, task

import deluge.log
from deluge.ui.client import client

KEYS = ["state", "progress", "total_done", "total_wanted", "num_peers", "message", "is_finished",
        "tracker_status"]


def out(*a):
    print(*a, flush=True)


@defer.inlineCallbacks
def run(args):
    deadline = time.monotonic() + args.timeout
    while True:
        try:
            yield client.connect("127.0.0.1", args.port, args.user, args.password)
            break
        except Exception as e:  # deluged still starting
            if time.monotonic() > deadline:
                raise RuntimeError("cannot connect to deluged: %s" % e)
            yield task.deferLater(reactor, 0.2, lambda: None)
    with open(args.torrent, "rb") as f:
        dump = base64.b64encode(f.read())
    opts = {"download_location": os.path.abspath(args.save), "add_paused": False}
    tid = yield client.core.add_torrent_file(os.path.basename(args.torrent), dump, opts)
    if not tid:
        raise RuntimeError("add_torrent_file returned %r" % (tid,))
    out("added", tid)
    peer = args.peer.rsplit(":", 1) if args.peer else None
    last_peer = 0.0
    status = {}
    while time.monotonic() < deadline:
        if peer and time.monotonic() - last_peer >= 10:
            ip, port = peer
            ok = yield client.core.connect_peer(tid, ip, int(port))
            out("connect_peer", ip, port, ok)
            last_peer = time.monotonic()
        status = yield client.core.get_torrent_status(tid, KEYS)
        out("status", " ".join("%s=%s" % (k, status.get(k)) for k in KEYS))
        if status.get("total_wanted") and status.get("total_done") == status.get("total_wanted"):
            out("done")
            return 0
        yield task.deferLater(reactor, 0.25, lambda: None)
    out("timeout; last status:", status)
    return 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("torrent")
    p.add_argument("save")
    p.add_argument("--peer")
    args = p.parse_args()
    deluge.log.setup_logger("warning")
    result = {"rc": 1}

    def finished(rc):
        result["rc"] = rc

    def failed(f):
        out("error:", f.getErrorMessage())

    d = run(args)
    d.addCallbacks(finished, failed)
    d.addBoth(lambda _: client.disconnect() if client.connected() else None)
    d.addBoth(lambda _: reactor.stop())
    reactor.run()
    sys.exit(result["rc"])


if __name__ == "__main__":
    main()
