#!/usr/bin/env python3
"""Sends the fixed request list (calls.py) to one Transmission RPC server
and prints the shapes of its answers as JSON ({"server": …, "calls": …}).

  trpc_shapes.py URL USER PASSWORD TORRENT_DIR DATA_DIR [--samples FILE] [--out FILE]

URL is the server's base (http://127.0.0.1:PORT); the server must hold no
torrents; TORRENT_DIR/DATA_DIR are tests/webui/payload.py's (alpha, beta,
gamma, delta). --samples writes the raw answers too. Exits 1 (FAIL: …) when
the server misbehaves while answering (calls.py's checks).
"""
import argparse
import json
import sys
import tempfile

from trpc_common import Rpc, run_main, write_json
from calls import run_calls


def shapes(url, user, password, torrent_dir, data_dir):
    rpc = Rpc(url, user, password)
    with tempfile.TemporaryDirectory(prefix="trpc-shapes-") as scratch:
        calls, samples = run_calls(rpc, torrent_dir, data_dir, scratch, log=lambda m: sys.stderr.write(m + "\n"))
    s = samples["session-get"]["json"]["arguments"]
    server = {"version": s.get("version"), "rpc-version": s.get("rpc-version"),
              "rpc-version-minimum": s.get("rpc-version-minimum")}
    return {"server": server, "calls": calls}, {"server": server, "calls": samples}


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    for a in ("url", "user", "password", "torrent_dir", "data_dir"):
        ap.add_argument(a)
    ap.add_argument("--samples")
    ap.add_argument("--out")
    a = ap.parse_args()
    doc, samples = shapes(a.url, a.user, a.password, a.torrent_dir, a.data_dir)
    if a.samples:
        write_json(a.samples, samples)
    if a.out:
        write_json(a.out, doc)
    else:
        print(json.dumps(doc, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    run_main(main)
