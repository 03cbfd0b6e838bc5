#!/usr/bin/env python3
"""The live differential: transmission-daemon 3.00 (tr_daemon.py) and the
server under test answer the same request list (calls.py) on the same
torrents in the same run; their shapes are compared with each other and
with the committed reference.

  differential.py URL USER PASSWORD TORRENT_DIR DATA_DIR [--out DIR]
  differential.py --self TORRENT_DIR DATA_DIR [--out DIR]

With URL (ringseed; holding no torrents): records transmission-daemon
first, then URL; passes when
  1. the live transmission-daemon equals the committed reference
     (reference-transmission-3.00.json) exactly: the reference is current;
  2. URL against the committed reference, and
  3. URL against the live transmission-daemon
differ only as allowed-differences.json says (each entry with a reason).
--self checks 1 alone (the comparer passing Transmission against itself).
--out keeps the shape and sample documents there.
"""
import argparse
import json
import os
import sys
import tempfile

from trpc_common import HERE, check, run_main, write_json
from trpc_shapes import shapes
from tr_daemon import TrDaemon, available
from compare import compare

REFERENCE = os.path.join(HERE, "reference-transmission-3.00.json")
ALLOWED = os.path.join(HERE, "allowed-differences.json")


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("args", nargs="+")
    ap.add_argument("--self", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()
    if a.self:
        check(len(a.args) == 2, "--self TORRENT_DIR DATA_DIR")
        url = None
        torrent_dir, data_dir = a.args
    else:
        check(len(a.args) == 5, "URL USER PASSWORD TORRENT_DIR DATA_DIR")
        url, user, password, torrent_dir, data_dir = a.args
    version = available()
    check(version and "3.00" in version, "transmission-daemon 3.00 needed, found %r" % version)
    tmp = None if a.out else tempfile.TemporaryDirectory(prefix="trpc-diff-")
    out = a.out or tmp.name
    os.makedirs(out, exist_ok=True)
    with TrDaemon("admin", "differential-pass", data_dir) as t:
        try:
            live_tr, tr_samples = shapes(t.url, t.user, t.password, torrent_dir, data_dir)
        except Exception:
            sys.stderr.write("transmission-daemon log:\n" + t.log() + "\n")
            raise
    write_json(os.path.join(out, "transmission-shapes.json"), live_tr)
    write_json(os.path.join(out, "transmission-samples.json"), tr_samples)
    reference = json.load(open(REFERENCE))
    rules = json.load(open(ALLOWED))["allowed"]
    failed = []
    print("== 1. live transmission-daemon vs the committed reference")
    bad, _ = compare(reference, live_tr, [], "reference", "live-3.00")
    failed += bad
    if url:
        live, samples = shapes(url, user, password, torrent_dir, data_dir)
        write_json(os.path.join(out, "server-shapes.json"), live)
        write_json(os.path.join(out, "server-samples.json"), samples)
        print("\n== 2. server vs the committed reference")
        bad, unused = compare(reference, live, rules, "3.00", "server")
        failed += bad
        print("\n== 3. server vs the live transmission-daemon")
        bad, unused3 = compare(live_tr, live, rules, "live-3.00", "server")
        failed += bad
        stale = [r for r in unused if r in unused3]
        for r in stale:
            print("note: allowed entry matched nothing: %s" % json.dumps(r))
    if a.out:
        print("\nshapes and samples in %s" % out)
    check(not failed, "%d differences not allowed (listed above)" % len(failed))
    return 0


if __name__ == "__main__":
    run_main(main)
