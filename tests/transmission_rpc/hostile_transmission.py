#!/usr/bin/env python3
"""hostile.py --transmission against a fresh transmission-daemon 3.00
(tr_daemon.py): the rules ringseed shares with Transmission (409 handshake,
401 auth, malformed and wrong-typed requests answered, seeding undisturbed)
checked on the reference server itself.

  hostile_transmission.py TORRENT_DIR DATA_DIR
"""
import os
import subprocess
import sys

from trpc_common import HERE, check, run_main
from tr_daemon import TrDaemon


def main():
    check(len(sys.argv) == 3, __doc__)
    torrent_dir, data_dir = sys.argv[1:]
    with TrDaemon("admin", "hostile-pass", data_dir) as t:
        r = subprocess.run([sys.executable, os.path.join(HERE, "hostile.py"), t.url, t.user, t.password,
                            torrent_dir, data_dir, "--transmission"])
        if r.returncode:
            sys.stderr.write("transmission-daemon log:\n" + t.log() + "\n")
        check(r.returncode == 0, "hostile.py --transmission failed (exit %d)" % r.returncode)
    return 0


if __name__ == "__main__":
    run_main(main)
