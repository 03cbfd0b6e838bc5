#!/usr/bin/env python3
"""Records the reference: Debian's transmission-daemon 3.00 in a private
config dir (tr_daemon.py) answering the fixed request list (calls.py) on
tests/webui/payload.py's torrents, with a python3-libtorrent leecher
connected. Writes, in OUT_DIR (default: this directory),
reference-transmission-3.00.json (shapes) and transmission-3.00-samples.json
(the raw answers).

  reference.py [OUT_DIR]
"""
import os
import subprocess
import sys
import tempfile

from trpc_common import HERE, check, run_main, write_json
from trpc_shapes import shapes
from tr_daemon import TrDaemon, available

PAYLOAD = os.path.join(HERE, "..", "webui", "payload.py")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else HERE
    version = available()
    check(version and "3.00" in version, "transmission-daemon 3.00 needed, found %r" % version)
    with tempfile.TemporaryDirectory(prefix="trpc-ref-") as tmp:
        subprocess.run(["/usr/bin/python3", PAYLOAD, tmp], check=True)
        data, torrents = os.path.join(tmp, "data"), os.path.join(tmp, "torrents")
        with TrDaemon("admin", "reference-pass", data) as t:
            try:
                doc, samples = shapes(t.url, t.user, t.password, torrents, data)
            except Exception:
                sys.stderr.write("transmission-daemon log:\n" + t.log() + "\n")
                raise
    doc["server"]["daemon"] = version
    samples["server"]["daemon"] = version
    write_json(os.path.join(out, "reference-transmission-3.00.json"), doc)
    write_json(os.path.join(out, "transmission-3.00-samples.json"), samples)
    print("wrote %d calls to %s" % (len(doc["calls"]), out))
    return 0


if __name__ == "__main__":
    run_main(main)
