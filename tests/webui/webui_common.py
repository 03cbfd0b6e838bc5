"""Shared parts of the qBittorrent WebUI API scripts (tests/webui/*.py):
bencode, info hashes, the payload's torrents, response shapes, a leecher
subprocess and small assertions. Plain Python 3.11 + requests."""
import hashlib
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def run_main(main):
    """Runs main(), turning a Fail into a clear message and exit status 1."""
    try:
        rc = main()
    except Fail as e:
        sys.stderr.write("FAIL: %s\n" % e)
        sys.exit(1)
    sys.exit(rc or 0)


# --- bencode -------------------------------------------------------------

def bdecode(data):
    def dec(i):
        c = data[i:i + 1]
        if c == b"i":
            j = data.index(b"e", i)
            return int(data[i + 1:j]), j + 1
        if c == b"l":
            i += 1
            out = []
            while data[i:i + 1] != b"e":
                v, i = dec(i)
                out.append(v)
            return out, i + 1
        if c == b"d":
            i += 1
            out = {}
            while data[i:i + 1] != b"e":
                k, i = dec(i)
                v, i = dec(i)
                out[k] = v
            return out, i + 1
        j = data.index(b":", i)
        n = int(data[i:j])
        return data[j + 1:j + 1 + n], j + 1 + n
    v, end = dec(0)
    if end != len(data):
        raise ValueError("trailing bytes after bencoded value")
    return v


def bencode(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, (bytes, bytearray)):
        return b"%d:%s" % (len(v), bytes(v))
    if isinstance(v, str):
        return bencode(v.encode())
    if isinstance(v, list):
        return b"l" + b"".join(bencode(x) for x in v) + b"e"
    if isinstance(v, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, x) for k, x in v.items())
        return b"d" + b"".join(bencode(k) + bencode(x) for k, x in items) + b"e"
    raise TypeError(type(v))


class Torrent:
    """One .torrent of the payload: bytes, v1 info hash, name, files."""

    def __init__(self, path):
        self.path = path
        self.filename = os.path.basename(path)
        with open(path, "rb") as f:
            self.data = f.read()
        meta = bdecode(self.data)
        self.meta = meta
        info = meta[b"info"]
        self.hash = hashlib.sha1(bencode(info)).hexdigest()
        self.name = info[b"name"].decode()
        self.multi = b"files" in info
        self.size = (sum(f[b"length"] for f in info[b"files"]) if self.multi else info[b"length"])
        self.piece_length = info[b"piece length"]
        self.pieces = len(info[b"pieces"]) // 20


def load_torrents(torrent_dir, minimum=3):
    paths = sorted(os.path.join(torrent_dir, p) for p in os.listdir(torrent_dir) if p.endswith(".torrent"))
    ts = [Torrent(p) for p in paths]
    check(len(ts) >= minimum, "%s: need at least %d .torrent files, found %d" % (torrent_dir, minimum, len(ts)))
    check(any(t.multi for t in ts), "%s: need one multi-file torrent" % torrent_dir)
    return ts


def variant(t, tag):
    """The same files as `t` under another info hash (an extra `source` key in
    its info dictionary), as .torrent bytes, and that hash."""
    meta = dict(t.meta)
    info = dict(meta[b"info"])
    info[b"source"] = tag.encode()
    meta[b"info"] = info
    return bencode(meta), hashlib.sha1(bencode(info)).hexdigest()


# --- shapes --------------------------------------------------------------

def json_type(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def merge(a, b):
    """Union of two shapes: objects key by key, differing leaf types as 'x|y'."""
    if a is None:
        return b
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = merge(out.get(k), v)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if not a:
            return b
        if not b:
            return a
        return [merge(a[0], b[0])]
    if a == b:
        return a
    names = lambda s: set(s.split("|")) if isinstance(s, str) else {json.dumps(s, sort_keys=True)}
    return "|".join(sorted(names(a) | names(b)))


def shape(v, maps=(), path=""):
    """The shape of a JSON value: objects key → shape, arrays by the union of
    their items' shapes (one-item list; [] when empty), leaves by JSON type.
    Objects at a path in `maps` (e.g. 'torrents', keyed by info hash) are
    collapsed to {'<key>': union of their values' shapes}."""
    if isinstance(v, dict):
        if path in maps:
            merged = None
            for k in sorted(v):
                merged = merge(merged, shape(v[k], maps, path + ".*"))
            return {"<key>": merged} if merged is not None else {}
        return {k: shape(v[k], maps, (path + "." + k) if path else k) for k in sorted(v)}
    if isinstance(v, list):
        merged = None
        for x in v:
            merged = merge(merged, shape(x, maps, path + "[]"))
        return [merged] if merged is not None else []
    return json_type(v)


def text_shape(t):
    import re
    if t == "":
        return ""
    if re.fullmatch(r"v?\d+(\.\d+)+", t):
        return "<version>"
    if re.fullmatch(r"-?\d+", t):
        return "<integer>"
    if t.startswith("/"):
        return "<path>"
    if len(t) <= 40:
        return t
    return "<text>"


def response_shape(r, maps=()):
    """{status, content_type, shape|text} of a requests.Response."""
    ct = r.headers.get("Content-Type", "")
    out = {"status": r.status_code, "content_type": ct}
    base = ct.split(";")[0].strip().lower()
    if r.content[:1] == b"d" and b"4:info" in r.content[:4096]:
        try:
            bdecode(r.content)
            out["body"] = "<torrent file>"
            return out
        except (ValueError, IndexError):
            pass
    if base == "application/json":
        try:
            out["shape"] = shape(r.json(), maps)
        except ValueError:
            out["shape"] = "<invalid json>"
    elif base in ("application/x-bittorrent", "application/octet-stream"):
        out["body"] = "<binary>"
    else:
        out["text"] = text_shape(r.text)
    return out


# --- a real leecher --------------------------------------------------------

LEECHER = os.path.join(HERE, "lt_leecher.py")


def start_leecher(torrent_path, save_dir, host, port, rate=32768, seconds=90):
    """Debian's python3-libtorrent leeching `torrent_path` from host:port only,
    download-limited to `rate` bytes/s so it stays connected a while."""
    return subprocess.Popen(["/usr/bin/python3", LEECHER, torrent_path, save_dir,
                             "%s:%d" % (host, port), "--rate", str(rate), "--seconds", str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop_process(p):
    if p and p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def poll(what, timeout, f, every=0.25):
    """Calls f() until it returns a true value; Fail with `what` after timeout s."""
    deadline = time.time() + timeout
    last = None
    while True:
        last = f()
        if last:
            return last
        if time.time() > deadline:
            raise Fail("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(every)


def api_version(s):
    return tuple(int(x) for x in s.strip().split(".")[:3])


def is_v5(webapi):
    """qBittorrent 5.0 is WebAPI 2.11.0: pause/resume became stop/start and
    the paused* states stopped*."""
    return api_version(webapi) >= (2, 11, 0)


SEEDING_STATES = {"uploading", "stalledUP", "queuedUP", "forcedUP"}
STOPPED_UP = {"pausedUP", "stoppedUP"}
