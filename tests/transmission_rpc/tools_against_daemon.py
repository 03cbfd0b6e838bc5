"""Runs tool scripts against Debian's transmission-daemon 3.00, the reference
the tools_*.py scripts were validated on:

    tools_against_daemon.py [--ringseed BIN] SCRIPT [SCRIPT...]   e.g. tools_remote.py tools_pylib.py

For each script: a fresh payload (tests/webui/payload.py: 4 torrents, one a
folder of 4 files), a fresh `transmission-daemon -f -g CFG -p PORT -t -u USER
-v PASS --no-portmap --no-dht -P PEER_PORT`, then `SCRIPT URL USER PASS
TORRENT_DIR DATA_DIR OUT_DIR` with this Python. Exits 1 when a script fails.
With --ringseed BIN the server is that build of `ringseed seed
--transmission-rpc 127.0.0.1:PORT` instead (credentials set with `BIN
webui-password`), for a quick look without cargo; tests/transmission_rpc_tools.rs
is the test that runs the scripts against ringseed.
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


def start_daemon(work, port, peer, log):
    return subprocess.Popen(
        ["transmission-daemon", "-f", "-g", os.path.join(work, "cfg"), "-p", str(port), "-t",
         "-u", USER, "-v", PASS, "--no-portmap", "--no-dht", "-P", str(peer),
         "-w", os.path.join(work, "downloads")],
        stdout=log, stderr=subprocess.STDOUT)


def start_ringseed(binary, work, port, peer, log):
    state = os.path.join(work, "state")
    # blocklist-update reads the file of [transmission_rpc] blocklist (as in tests/transmission_rpc_tools.rs).
    with open(os.path.join(work, "blocklist.p2p"), "w") as f:
        f.write("test range:10.9.8.1-10.9.8.20\nother range:192.0.2.0-192.0.2.255\n")
    with open(os.path.join(work, "ringseed.toml"), "w") as f:
        f.write('[transmission_rpc]\nblocklist = "%s"\n' % os.path.join(work, "blocklist.p2p"))
    subprocess.run([binary, "webui-password", "--state-dir", state, "--username", USER, PASS], check=True)
    return subprocess.Popen(
        [binary, "seed", "--config", os.path.join(work, "ringseed.toml"), "--state-dir", state, "--listen", "127.0.0.1:%d" % peer, "--rpc", "127.0.0.1:0",
         "--webui", "127.0.0.1:0", "--metrics", "off", "--transmission-rpc", "127.0.0.1:%d" % port],
        stdout=log, stderr=subprocess.STDOUT)


def run(script, ringseed=None):
    work = tempfile.mkdtemp(prefix="trd-tools-")
    subprocess.run([sys.executable, os.path.join(HERE, "..", "webui", "payload.py"), work], check=True)
    port, peer = free_port(), free_port()
    log = open(os.path.join(work, "server.log"), "wb")
    server = start_ringseed(ringseed, work, port, peer, log) if ringseed else start_daemon(work, port, peer, log)
    what = "ringseed" if ringseed else "transmission-daemon"
    try:
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit("%s did not listen on %d (log %s)" % (what, port, log.name))
                time.sleep(0.2)
        url = "http://127.0.0.1:%d/transmission/rpc" % port
        rc = subprocess.call([sys.executable, os.path.join(HERE, script), url, USER, PASS,
                              os.path.join(work, "torrents"), os.path.join(work, "data"),
                              os.path.join(work, "out")],
                             env=dict(os.environ, TRPC_PEER_PORT=str(peer)))
    finally:
        server.terminate()
        server.wait(20)
    print("%s against %s: exit %d (files in %s)" % (script, what, rc, work), flush=True)
    if rc == 0:
        shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    argv = sys.argv[1:]
    binary = None
    if argv[:1] == ["--ringseed"] and len(argv) >= 2:
        binary, argv = os.path.abspath(argv[1]), argv[2:]
    if not argv:
        sys.exit(__doc__)
    sys.exit(1 if any([run(s, binary) for s in argv]) else 0)
