"""Shared parts of the tests/webui scripts: a small qBittorrent WebUI API v2
client (requests, one session cookie), failing with a clear message, waiting
with deadlines, free ports, child processes stopped on exit, and a real
libtorrent leecher (Debian's python3-libtorrent) as a peer.

The scripts run against any server speaking qBittorrent's WebUI API v2:
Debian's qbittorrent-nox (tests/webui/against_qbittorrent.py) or ringseed
(tests/webui_tools.rs).
"""

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))


class TestFailure(Exception):
    pass


def fail(msg):
    raise TestFailure(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def main_wrapper(name, fn):
    """Runs fn(); exits 0 on success, 1 with "FAIL name: why" otherwise."""
    try:
        fn()
    except TestFailure as e:
        print(f"FAIL {name}: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    except Exception as e:  # an unexpected error is a failure too, with its traceback
        import traceback

        traceback.print_exc()
        print(f"FAIL {name}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    print(f"PASS {name}", flush=True)
    _state["passed"] = True
    sys.exit(0)


def wait_for(what, fn, timeout=30.0, interval=0.25):
    """Polls fn() until it returns a truthy value; fails with the last value."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
        except (requests.RequestException, OSError, ValueError) as e:
            last = e
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            fail(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_children = []
_workdirs = []
_state = {"passed": False}


def workdir(prefix):
    """A temp directory for the script's files; removed when the script
    passes, kept (and named in its output) when it fails."""
    import tempfile

    d = tempfile.mkdtemp(prefix=prefix)
    _workdirs.append(d)
    return d


def spawn(args, log_path, env=None, cwd=None):
    """Starts a child in its own process group, output to log_path; it is
    stopped (SIGTERM to its group, then SIGKILL) when the script exits."""
    log = open(log_path, "wb")
    p = subprocess.Popen(
        args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
    )
    p.log_path = log_path
    _children.append(p)
    return p


def stop(p):
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


@atexit.register
def _stop_children():
    for p in reversed(_children):
        stop(p)
    for d in _workdirs:
        if _state["passed"]:
            import shutil

            shutil.rmtree(d, ignore_errors=True)
        else:
            print(f"(files of this run kept in {d})", file=sys.stderr)


def log_tail(path, n=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return f"({path}: {e})"


def check_alive(p, what):
    if p.poll() is not None:
        fail(f"{what} exited with {p.returncode}; its log:\n{log_tail(p.log_path)}")


class Qbt:
    """A qBittorrent WebUI API v2 client: logs in with the form, keeps the SID
    cookie, sends Referer/Origin (qBittorrent's CSRF check)."""

    def __init__(self, url, user, password):
        self.url = url.rstrip("/")
        self.s = requests.Session()
        self.s.headers["Referer"] = self.url
        self.s.headers["Origin"] = self.url
        # Tells the test's own calls from the tools' in log_proxy.py's log.
        self.s.headers["User-Agent"] = "ringseed-webui-test"
        r = self.s.post(
            f"{self.url}/api/v2/auth/login", data={"username": user, "password": password}, timeout=30
        )
        check(r.status_code == 200 and r.text == "Ok.", f"login: HTTP {r.status_code} {r.text!r}")
        check("SID" in self.s.cookies, f"login: no SID cookie (headers {dict(r.headers)})")

    def get(self, path, **params):
        r = self.s.get(f"{self.url}/api/v2/{path}", params=params, timeout=30)
        check(r.status_code == 200, f"GET {path} {params}: HTTP {r.status_code} {r.text[:300]!r}")
        return r

    def post(self, path, data=None, files=None):
        r = self.s.post(f"{self.url}/api/v2/{path}", data=data, files=files, timeout=60)
        check(r.status_code == 200, f"POST {path} {data}: HTTP {r.status_code} {r.text[:300]!r}")
        return r

    def torrents(self, **params):
        return self.get("torrents/info", **params).json()

    def by_hash(self):
        return {t["hash"]: t for t in self.torrents()}


def torrent_info(path):
    """(v1 info-hash hex, name, announce URLs) of a .torrent file, with
    libtorrent (python3-libtorrent, importable from the venv)."""
    import libtorrent as lt

    ti = lt.torrent_info(path)
    return str(ti.info_hash()), ti.name(), [t.url for t in ti.trackers()]


def add_torrents(qbt, torrent_dir, data_dir, paused=()):
    """Adds every .torrent of torrent_dir (not already in the server) with
    savepath=data_dir and skip_checking=true; names in `paused` are added
    paused. Waits until each is complete (progress 1). Returns
    {hash: (name, [announce urls], path)}."""
    files = sorted(f for f in os.listdir(torrent_dir) if f.endswith(".torrent"))
    check(files, f"no .torrent files in {torrent_dir}")
    out = {}
    have = qbt.by_hash()
    for f in files:
        path = os.path.join(torrent_dir, f)
        h, name, trackers = torrent_info(path)
        out[h] = (name, trackers, path)
        if h in have:
            continue
        with open(path, "rb") as fh:
            r = qbt.post(
                "torrents/add",
                data={
                    "savepath": data_dir,
                    "skip_checking": "true",
                    "paused": "true" if name in paused else "false",
                    # qBittorrent 5 renamed paused to stopped (API 2.11.0).
                    "stopped": "true" if name in paused else "false",
                    "autoTMM": "false",
                },
                files={"torrents": (f, fh, "application/x-bittorrent")},
            )
        check(r.text.strip() in ("Ok.", ""), f"torrents/add {f}: {r.text!r}")

    def all_complete():
        now = qbt.by_hash()
        missing = [out[h][0] for h in out if h not in now]
        if missing:
            return False
        settling = ("checking", "metaDL", "allocating", "moving", "unknown")
        return all(now[h]["progress"] == 1 and not now[h]["state"].startswith(settling) for h in out)

    wait_for(f"torrents {[v[0] for v in out.values()]} added, complete and not checking", all_complete, 60)
    return out


LEECHER = textwrap.dedent(
    """
    import sys, time, json
    import libtorrent as lt
    torrent, save, port, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    ses = lt.session({"listen_interfaces": "127.0.0.1:0", "enable_dht": False,
                      "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
                      "enable_outgoing_utp": False, "enable_incoming_utp": False,
                      "download_rate_limit": rate, "allow_multiple_connections_per_ip": True,
                      "user_agent": "ringseed-test-leecher", "alert_mask": 0})
    h = ses.add_torrent({"ti": lt.torrent_info(torrent), "save_path": save})
    # Loopback peers are in libtorrent's unlimited "local" peer class: limit the torrent itself.
    h.set_download_limit(rate)
    while True:
        s = h.status()
        if s.num_peers == 0:
            h.connect_peer(("127.0.0.1", port))
        print(json.dumps({"peers": s.num_peers, "progress": s.progress,
                          "state": str(s.state)}), flush=True)
        time.sleep(1)
    """
)


def start_leecher(torrent, save_dir, peer_port, log_path, rate=16384):
    """A python libtorrent leecher (/usr/bin/python3, python3-libtorrent)
    connected to 127.0.0.1:peer_port, downloading at `rate` bytes/s so it
    stays connected; reconnects when it has no peer."""
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    return spawn(
        [py, "-c", LEECHER, torrent, save_dir, str(peer_port), str(rate)], log_path
    )


def peer_port(qbt):
    """The server's peer listen port: env WEBUI_PEER_PORT, else
    /api/v2/app/preferences listen_port."""
    if os.environ.get("WEBUI_PEER_PORT"):
        return int(os.environ["WEBUI_PEER_PORT"])
    prefs = qbt.get("app/preferences").json()
    port = prefs.get("listen_port")
    check(isinstance(port, int) and port > 0, f"app/preferences listen_port: {port!r}")
    return port


def torrent_file(qbt, info_hash, work):
    """A .torrent file of the server's torrent info_hash, for a leecher: from
    torrents/export (API 2.8.14+), else the matching file of the directory in
    env WEBUI_TORRENT_DIR (the test that made the torrents sets it)."""
    path = os.path.join(work, f"{info_hash}.torrent")
    r = qbt.s.get(f"{qbt.url}/api/v2/torrents/export", params={"hash": info_hash}, timeout=30)
    if r.status_code == 200 and r.content.startswith(b"d"):
        with open(path, "wb") as f:
            f.write(r.content)
        return path
    d = os.environ.get("WEBUI_TORRENT_DIR")
    if d:
        for f in os.listdir(d):
            if f.endswith(".torrent") and torrent_info(os.path.join(d, f))[0] == info_hash:
                print(f"torrents/export: HTTP {r.status_code}; using {d}/{f}")
                return os.path.join(d, f)
    fail(f"torrents/export {info_hash}: HTTP {r.status_code} {r.text[:200]!r}, and no match in WEBUI_TORRENT_DIR={d!r}")


def http_json(url, timeout=10, **kw):
    r = requests.get(url, timeout=timeout, **kw)
    r.raise_for_status()
    return r.json()


def dump(v):
    return json.dumps(v, indent=1, sort_keys=True)[:2000]
