"""Runs tool scripts against Debian's transmission-daemon 3.00, the reference
the tools_*.py scripts were validated on:

    tools_against_daemon.py SCRIPT [SCRIPT...]      e.g. tools_remote.py tools_pylib.py

For each script: a fresh payload (tests/webui/payload.py: 4 torrents, one a
folder of 4 files), a fresh `transmission-daemon -f -g CFG -p PORT -t -u USER
-v PASS --no-portmap --no-dht -P PEER_PORT`, then `SCRIPT URL USER PASS
TORRENT_DIR DATA_DIR OUT_DIR` with this Python. Exits 1 when a script fails.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
USER, PASS = "admin", "tools-pass"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(script):
    work = tempfile.mkdtemp(prefix="trd-tools-")
    subprocess.run([sys.executable, os.path.join(HERE, "..", "webui", "payload.py"), work], check=True)
    port, peer = free_port(), free_port()
    log = open(os.path.join(work, "daemon.log"), "wb")
    daemon = subprocess.Popen(
        ["transmission-daemon", "-f", "-g", os.path.join(work, "cfg"), "-p", str(port), "-t",
         "-u", USER, "-v", PASS, "--no-portmap", "--no-dht", "-P", str(peer),
         "-w", os.path.join(work, "downloads")],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if time.time() > deadline or daemon.poll() is not None:
                    raise SystemExit("transmission-daemon did not listen on %d" % port)
                time.sleep(0.2)
        url = "http://127.0.0.1:%d/transmission/rpc" % port
        rc = subprocess.call([sys.executable, os.path.join(HERE, script), url, USER, PASS,
                              os.path.join(work, "torrents"), os.path.join(work, "data"),
                              os.path.join(work, "out")])
    finally:
        daemon.terminate()
        daemon.wait(20)
    print("%s against transmission-daemon: exit %d (files in %s)" % (script, rc, work), flush=True)
    if rc == 0:
        shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(1 if any([run(s) for s in sys.argv[1:]]) else 0)
