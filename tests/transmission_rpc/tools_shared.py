"""Shared parts of the Transmission RPC tool scripts (tests/transmission_rpc/tools_*.py).

Every script takes the same arguments and adds the torrents itself:

    tools_X.py URL USER PASS TORRENT_DIR DATA_DIR [OUT_DIR]

URL is the RPC endpoint (http://HOST:PORT/transmission/rpc), TORRENT_DIR holds
the .torrent files (at least two, one of several files), DATA_DIR their
complete content (passed as `download-dir`). The scripts run against Debian's
transmission-daemon 3.00 (tools_against_daemon.py) and ringseed
(tests/transmission_rpc_tools.rs). Helpers of tests/webui/webui_common.py
(check, poll, Torrent, start_leecher, stop_process, run_main) are imported,
not copied. Env TRPC_PEER_PORT overrides session-get's `peer-port` as the port
a leecher connects to.
"""
import base64
import os
import sys
import tempfile
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "webui"))

import requests  # noqa: E402

from webui_common import (  # noqa: E402,F401  (re-exported for the scripts)
    Fail,
    Torrent,
    check,
    load_torrents,
    poll,
    run_main,
    start_leecher,
    stop_process,
)


class Args:
    def __init__(self, argv=None):
        argv = sys.argv[1:] if argv is None else argv
        if len(argv) not in (5, 6):
            sys.exit(__doc__)
        self.url, self.user, self.password, self.torrent_dir, self.data_dir = argv[:5]
        self.out_dir = argv[5] if len(argv) == 6 else None
        u = urllib.parse.urlsplit(self.url)
        self.host, self.port, self.path = u.hostname, u.port, u.path or "/transmission/rpc"
        self.torrents = load_torrents(self.torrent_dir, minimum=2)


class Rpc:
    """A plain Transmission RPC client (requests): the scripts' own view of
    the server, independent of the tool under test. Answers the 409 session
    id handshake; call() fails unless result is "success"."""

    def __init__(self, url, user, password):
        self.url = url
        self.s = requests.Session()
        self.s.auth = (user, password)
        self.s.headers["X-Transmission-Session-Id"] = ""

    def request(self, method, arguments=None):
        body = {"method": method, "arguments": arguments or {}, "tag": 7}
        for _ in range(3):
            r = self.s.post(self.url, json=body, timeout=60)
            if r.status_code == 409:
                self.s.headers["X-Transmission-Session-Id"] = r.headers.get("X-Transmission-Session-Id", "")
                continue
            break
        check(r.status_code == 200, "%s: HTTP %d %r" % (method, r.status_code, r.text[:300]))
        reply = r.json()
        check(reply.get("tag") == 7, "%s: tag %r, sent 7" % (method, reply.get("tag")))
        return reply

    def call(self, method, **arguments):
        reply = self.request(method, {k.replace("_", "-"): v for k, v in arguments.items()})
        check(reply.get("result") == "success", "%s %s: %r" % (method, arguments, reply))
        return reply.get("arguments", {})

    def torrents(self, fields=("id", "name", "hashString", "status", "percentDone"), ids=None):
        args = {"fields": list(fields)}
        if ids is not None:
            args["ids"] = ids
        return self.request("torrent-get", args)["arguments"]["torrents"]

    def by_hash(self, fields=("id", "name", "hashString", "status", "percentDone")):
        return {t["hashString"]: t for t in self.torrents(fields)}

    def session(self):
        return self.call("session-get")


# Transmission's torrent status numbers (rpc-spec 3.3).
STOPPED, CHECK_WAIT, CHECK, DOWNLOAD_WAIT, DOWNLOAD, SEED_WAIT, SEED = range(7)


def of(a):
    return Rpc(a.url, a.user, a.password)


def add_all(rpc, torrents, data_dir, paused=()):
    """torrent-add (metainfo, download-dir) of each torrent not yet in the
    server; waits until each is complete and seeding (status 6, or 0 for a
    name in `paused`). Returns {hash: id}."""
    have = rpc.by_hash()
    for t in torrents:
        if t.hash in have:
            continue
        args = {"metainfo": base64.b64encode(t.data).decode(), "download-dir": data_dir}
        if t.name in paused:
            args["paused"] = True
        out = rpc.call("torrent-add", **args)
        check("torrent-added" in out, "torrent-add %s: %r" % (t.name, out))
    return wait_complete(rpc, torrents, paused)


def wait_complete(rpc, torrents, paused=()):
    def ready():
        now = rpc.by_hash()
        for t in torrents:
            x = now.get(t.hash)
            want = STOPPED if t.name in paused else SEED
            if not x or x["percentDone"] != 1 or x["status"] != want:
                return None
        return {t.hash: now[t.hash]["id"] for t in torrents}
    return poll("torrents %s complete and seeding" % [t.name for t in torrents], 60, ready)


def peer_port(rpc):
    if os.environ.get("TRPC_PEER_PORT"):
        return int(os.environ["TRPC_PEER_PORT"])
    port = rpc.session().get("peer-port")
    check(isinstance(port, int) and port > 0, "session-get peer-port: %r" % (port,))
    return port


def multi(torrents):
    """The biggest torrent of several files (the leecher's)."""
    return max((t for t in torrents if t.multi), key=lambda t: t.size)


def workdir(prefix):
    return tempfile.mkdtemp(prefix=prefix)


def content_paths(data_dir, t):
    """The files of torrent t under data_dir."""
    info = t.meta[b"info"]
    if b"files" not in info:
        return [os.path.join(data_dir, t.name)]
    return [os.path.join(data_dir, t.name, *[p.decode() for p in f[b"path"]]) for f in info[b"files"]]


def leech(t, rpc, work, rate=16384, seconds=120):
    """A python3-libtorrent leecher of t connected to the server's peer port
    (kept slow so it stays connected). Returns the process."""
    return start_leecher(t.path, os.path.join(work, "leech-" + t.hash[:8]), "127.0.0.1",
                         peer_port(rpc), rate=rate, seconds=seconds)
