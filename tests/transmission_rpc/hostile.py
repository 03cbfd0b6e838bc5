#!/usr/bin/env python3
"""Hostile clients against a Transmission RPC server, then proof that it
still answers and still seeds: a libtorrent leecher downloads a torrent
byte-identical afterwards.

  hostile.py URL USER PASSWORD TORRENT_DIR DATA_DIR [--metrics URL] [--transmission]

The server must hold no torrents; beta (one file) and alpha (4 files) of
TORRENT_DIR are added with DATA_DIR as their download dir.

What is sent, and what must come back:
  - a body over the size cap (64 MiB + 1, announced in Content-Length, sent
    in 1 MiB writes): 413, or the connection closed before it is all read;
  - 100,000 '[' (and as an argument), a JSON array body, invalid UTF-8,
    `method` as a number, `arguments` as an array: never 5xx, never
    "success", no state changed;
  - wrong types for every argument of every method (ids as an object,
    fields as a string, numbers as strings, negative and out-of-range
    limits, labels as a string…): never 5xx, a JSON answer with a result
    string (the tag echoed); each request alone changes nothing: session
    keys and every torrent's limits, labels, dir and status read back the
    same (with --transmission the changes are listed, not asserted: 3.00
    wraps negative limits and acts on all torrents for odd ids);
  - a stale session id, 25 times, each a torrent-stop: 409 each time with
    the current id in X-Transmission-Session-Id, and nothing stopped;
  - wrong or malformed Basic credentials: 401 with WWW-Authenticate: Basic;
  - a request from 127.0.0.4, outside the whitelist: 403;
  - a browser-style cross-site POST (Origin of another site, text/plain, no
    session id): 409 and nothing stopped;
  ringseed only (not with --transmission, whose rules differ: no ban,
  3.00 lets any Host through when auth is on, negative limits wrap):
  - 5 bad logins from 127.0.0.2, then the right credentials from 127.0.0.2
    are refused 403 (banned) while 127.0.0.1 is still served;
  - a Host that is not loopback (DNS rebinding) is refused (403 or 421),
    Host localhost / 127.0.0.1 served;
  - with --metrics: ringseed_transmission_rpc_refusals_total{reason} grew
    for session_id, auth, banned, host, body, json and whitelist (host and
    body may instead be ringseed_http_errors_total{server="transmission_rpc",
    kind="host"|"body_too_large"}).
The ringseed under test must allow 127.0.0.1-3 and refuse 127.0.0.4
([transmission_rpc] whitelist).
Exits 0 when all holds, 1 with FAIL: … otherwise.
"""
import argparse
import base64
import http.client
import json
import os
import re
import socket
import tempfile
import time
import urllib.parse

import requests

from trpc_common import SID, Rpc, check, load_torrents, poll, run_main, start_leecher, stop_process

MIB = 1 << 20
# What a wrong-typed request must leave as it was.
SESSION_KEYS = ["peer-port", "download-dir", "speed-limit-up", "speed-limit-up-enabled", "seedRatioLimit",
                "seedRatioLimited", "idle-seeding-limit", "idle-seeding-limit-enabled", "encryption"]
TORRENT_KEYS = ["uploadLimit", "uploadLimited", "seedRatioLimit", "seedRatioMode", "seedIdleLimit", "seedIdleMode",
                "labels", "bandwidthPriority", "peer-limit"]


class Raw:
    """Plain http.client requests (any Host, any source address, any body)."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port

    def send(self, body, headers, source="127.0.0.1", method="POST", path="/transmission/rpc"):
        c = http.client.HTTPConnection(self.host, self.port, timeout=30, source_address=(source, 0))
        try:
            c.putrequest(method, path, skip_host="Host" in headers, skip_accept_encoding=True)
            if body is not None and "Content-Length" not in headers:
                c.putheader("Content-Length", str(len(body)))
            for k, v in headers.items():
                c.putheader(k, v)
            c.endheaders(body)
            r = c.getresponse()
            return r.status, requests.structures.CaseInsensitiveDict(r.getheaders()), r.read()
        finally:
            c.close()


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def refusals(metrics_url):
    """{reason: count} of ringseed_transmission_rpc_refusals_total, plus
    "http:KIND" for ringseed_http_errors_total{server="transmission_rpc"}
    (the HTTP layer's refusals: Host, body size)."""
    text = requests.get(metrics_url.rstrip("/") + "/metrics", timeout=10).text
    out = {}
    for m in re.finditer(r'^ringseed_transmission_rpc_refusals_total\{[^}]*reason="([^"]+)"[^}]*\}\s+([0-9.e+]+)',
                         text, re.M):
        out[m.group(1)] = out.get(m.group(1), 0) + float(m.group(2))
    for m in re.finditer(r'^ringseed_http_errors_total\{([^}]*)\}\s+([0-9.e+]+)', text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels.get("server") == "transmission_rpc":
            k = "http:" + labels.get("kind", "")
            out[k] = out.get(k, 0) + float(m.group(2))
    return out


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    for a in ("url", "user", "password", "torrent_dir", "data_dir"):
        ap.add_argument(a)
    ap.add_argument("--metrics")
    ap.add_argument("--transmission", action="store_true", help="the server is transmission-daemon 3.00")
    a = ap.parse_args()
    ringseed = not a.transmission
    rpc = Rpc(a.url, a.user, a.password)
    raw = Raw(a.url)
    auth = basic(a.user, a.password)
    ts = {t.name.split(".")[0]: t for t in load_torrents(a.torrent_dir, minimum=2)}
    before = refusals(a.metrics) if a.metrics else {}

    # --- setup: two torrents seeding ----------------------------------------------
    ids = {}
    for name in ("alpha", "beta"):
        with open(ts[name].path, "rb") as f:
            meta = base64.b64encode(f.read()).decode()
        ids[name] = rpc.ok("torrent-add", {"metainfo": meta, "download-dir": a.data_dir})["torrent-added"]["id"]
    hashes = {n: ts[n].hash for n in ids}
    watch = ["id", "hashString", "status", "downloadDir"] + TORRENT_KEYS

    def snapshot():
        return {t["hashString"]: t for t in rpc.torrents(watch)}
    poll("both torrents seeding", 60, lambda: all(t["status"] == 6 for t in snapshot().values())
         and len(snapshot()) == 2)
    session_before = rpc.ok("session-get")
    sid = rpc.sid

    def assert_undisturbed(what):
        now = snapshot()
        check(sorted(now) == sorted(hashes.values()), "%s: torrents now %s" % (what, sorted(now)))
        for h, t in now.items():
            check(t["status"] == 6, "%s: torrent %s status %s, not seeding" % (what, h, t["status"]))
        s = rpc.ok("session-get")
        for k in SESSION_KEYS:
            check(s.get(k) == session_before.get(k), "%s: session %s changed %r -> %r"
                  % (what, k, session_before.get(k), s.get(k)))

    def post(body, extra=None, source="127.0.0.1", with_sid=True, with_auth=True, method="POST"):
        h = {"Content-Type": "application/json"}
        if with_auth:
            h["Authorization"] = auth
        if with_sid:
            h[SID] = rpc.sid
        h.update(extra or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        return raw.send(body, h, source=source, method=method)

    def answer_of(what, st, body):
        check(st < 500, "%s: HTTP %d" % (what, st))
        if st != 200:
            return None
        try:
            j = json.loads(body)
        except ValueError:
            j = None
        check(j is not None, "%s: HTTP 200 without JSON: %r" % (what, body[:200]))
        check(isinstance(j, dict) and isinstance(j.get("result"), str), "%s: answer %r" % (what, body[:200]))
        return j

    # --- an oversized body ------------------------------------------------------------
    size = 64 * MIB + 1
    s = socket.create_connection((raw.host, raw.port), timeout=30)
    s.sendall(("POST /transmission/rpc HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: %s\r\n%s: %s\r\n"
               "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
               % (raw.port, auth, SID, rpc.sid, size)).encode())
    chunk = b'{"method":"session-get","arguments":{"x":"' + b"a" * (MIB - 40)
    sent, closed = 0, False
    try:
        while sent < size:
            n = min(len(chunk), size - sent)
            s.sendall(chunk[:n])
            sent += n
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    s.settimeout(30)
    try:
        head = s.recv(4096)
    except (ConnectionResetError, socket.timeout):
        head = b""
    s.close()
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.") else None
    print("oversized body: %d of %d bytes sent, closed early: %s, answer %r" % (sent, size, closed, head[:40]))
    if ringseed:
        check(status == 413 or (status is None and closed),
              "a %d-byte body: HTTP %s after %d bytes (want 413 or the connection closed)" % (size, status, sent))
    else:
        check(status is None or status < 500, "oversized body: HTTP %s" % status)
    rpc.ok("session-stats")

    # --- malformed JSON -----------------------------------------------------------------
    for what, body in [
        ("100000 '['", "[" * 100000),
        ("100000 '[' in arguments", '{"method":"torrent-stop","arguments":{"ids":' + "[" * 100000 + "}}"),
        ("100000 '{\"a\":'", '{"a":' * 100000),
        ("a JSON array", [{"method": "torrent-stop"}]),
        ("invalid UTF-8", b'{"method":"torrent-stop\xff\xfe","arguments":{}}'),
        ("method as a number", {"method": 5}),
        ("arguments as an array", {"method": "torrent-stop", "arguments": [1]}),
        ("null", "null"),
        ("empty body", ""),
        ("truncated", '{"method":"torrent-stop","arguments":{"ids":[1'),
    ]:
        if not ringseed:
            # 3.00 runs what it can read of a broken request: an array as
            # arguments (read as none: every torrent) and a truncated body.
            body = json.dumps(body) if isinstance(body, (dict, list)) else body
            body = body.replace("torrent-stop", "session-stats") if isinstance(body, str) else body
        st, _, b = post(body)
        j = answer_of(what, st, b)
        if ringseed:
            check(j is None or j["result"] != "success", "%s: result success" % what)
            check(st in (200, 400), "%s: HTTP %d (want 200 with an error result, or 400)" % (what, st))
    assert_undisturbed("after malformed JSON")

    # --- wrong types for every argument ------------------------------------------------
    A, B = ids["alpha"], ids["beta"]
    wrong = [
        ("torrent-get", {"ids": {"a": 1}, "fields": ["id"]}),
        ("torrent-get", {"fields": "name"}),
        ("torrent-get", {"fields": [1, None, {}]}),
        ("torrent-get", {"ids": 1.5, "fields": ["id"]}),
        ("torrent-get", {"ids": [2 ** 70, -1], "fields": ["id"]}),
        ("torrent-get", {"ids": "not-a-hash", "fields": ["id"]}),
        ("torrent-get", {"fields": ["id"], "format": 7}),
        ("torrent-get", {"fields": ["id"], "format": "bogus"}),
        ("session-get", {"fields": "version"}),
        ("torrent-set", {"ids": [A], "uploadLimit": "77"}),
        ("torrent-set", {"ids": [A], "uploadLimit": -5, "uploadLimited": "yes"}),
        ("torrent-set", {"ids": [A], "seedRatioLimit": -2, "seedRatioMode": 9}),
        ("torrent-set", {"ids": [A], "seedRatioLimit": "2"}),
        ("torrent-set", {"ids": [A], "seedIdleLimit": -10, "seedIdleMode": -1}),
        ("torrent-set", {"ids": [A], "labels": "a,b"}),
        ("torrent-set", {"ids": [A], "labels": [1, {"x": 2}]}),
        ("torrent-set", {"ids": [A], "labels": ["with,comma"]}),
        ("torrent-set", {"ids": [A], "location": None}),
        ("torrent-set", {"ids": [A], "location": 5}),
        ("torrent-set", {"ids": [A], "bandwidthPriority": "high", "peer-limit": -3}),
        ("torrent-set", {"ids": {"all": True}, "uploadLimit": 1}),
        ("session-set", {"speed-limit-up": -1}),
        # (a boolean as "true" is not here: 3.00 reads it as true too)
        ("session-set", {"speed-limit-up": "250"}),
        ("session-set", {"seedRatioLimit": -1.5, "seedRatioLimited": 1}),
        ("session-set", {"idle-seeding-limit": -30}),
        ("session-set", {"peer-port": 70000}),
        ("session-set", {"peer-port": -1}),
        ("session-set", {"peer-port": "51413"}),
        ("session-set", {"download-dir": 17}),
        ("session-set", {"download-dir": ""}),
        ("session-set", {"encryption": 3}),
        ("session-set", {"encryption": "none-of-these"}),
        ("torrent-add", {"metainfo": "!!! not base64 !!!", "download-dir": a.data_dir}),
        ("torrent-add", {"metainfo": base64.b64encode(b"d4:infoi3ee").decode(), "download-dir": a.data_dir}),
        ("torrent-add", {"metainfo": 12345}),
        ("torrent-add", {"filename": 5}),
        ("torrent-add", {"filename": "/nonexistent/x.torrent"}),
        ("torrent-add", {"filename": ts["alpha"].path, "download-dir": 5}),
        ("torrent-add", {"filename": ts["alpha"].path, "paused": "no", "labels": "x"}),
        ("torrent-start", {"ids": {"x": 1}}),
        ("torrent-start-now", {"ids": "bogus"}),
        ("torrent-verify", {"ids": [1.5]}),
        ("torrent-reannounce", {"ids": {}}),
        ("torrent-set-location", {"ids": [A], "location": 5, "move": "no"}),
        ("queue-move-top", {"ids": {"x": 1}}),
        ("queue-move-up", {"ids": "x"}),
        ("queue-move-down", {"ids": [None]}),
        ("queue-move-bottom", {"ids": 2 ** 80}),
        ("free-space", {"path": 5}),
        ("free-space", {"path": "relative"}),
        ("free-space", {}),
        ("port-test", {"ipProtocol": 4}),
        ("blocklist-update", {"url": 5}),
        ("session-stats", {"x": [1]}),
    ]
    if ringseed:
        # Destructive ones: 3.00 acts on ALL torrents when ids is not a list/number/string.
        wrong += [
            ("torrent-stop", {"ids": {"a": 1}}),
            ("torrent-stop", {"ids": [{"id": A}]}),
            ("torrent-remove", {"ids": {"all": 1}, "delete-local-data": "yes"}),
            ("torrent-remove", {"ids": [A], "delete-local-data": "yes please"}),
            ("torrent-remove", {"ids": "*", "delete-local-data": True}),
            # 3.00 takes a relative location as it is (and then loses the data).
            ("torrent-set-location", {"ids": [A], "location": "relative/dir", "move": False}),
            ("torrent-set", {"ids": [A], "location": "relative/dir"}),
        ]
    # Each request alone: the state (session keys, every watched torrent
    # field) before and after it; a change is recorded, then put back.
    def state():
        sess = rpc.ok("session-get")
        return {"session": {k: sess.get(k) for k in SESSION_KEYS}, "torrents": snapshot()}

    def changes(b4, now):
        out = ["session %s: %r -> %r" % (k, b4["session"][k], now["session"].get(k))
               for k in SESSION_KEYS if now["session"].get(k) != b4["session"][k]]
        for h, t in b4["torrents"].items():
            u = now["torrents"].get(h)
            if u is None:
                out.append("torrent %s removed" % t["id"])
                continue
            out += ["torrent %s %s: %r -> %r" % (t["id"], k, t[k], u.get(k)) for k in watch if u.get(k) != t[k]]
        return out

    def restore(b4):
        rpc.ok("session-set", b4["session"])
        for h, t in b4["torrents"].items():
            cur = snapshot()
            if h not in cur:
                name = [n for n in hashes if hashes[n] == h][0]
                with open(ts[name].path, "rb") as f:
                    meta = base64.b64encode(f.read()).decode()
                rpc.ok("torrent-add", {"metainfo": meta, "download-dir": a.data_dir})
                ids[name] = rpc.torrents(["id"], [h])[0]["id"]
            if snapshot()[h]["downloadDir"] != t["downloadDir"]:
                rpc.ok("torrent-set-location", {"ids": [h], "location": t["downloadDir"], "move": False})
            rpc.ok("torrent-set", dict({k: t[k] for k in TORRENT_KEYS}, ids=[h]))
            rpc.ok("torrent-start", {"ids": [h]})
        poll("torrents seeding again after a restore", 60,
             lambda: all(x["status"] == 6 for x in snapshot().values()), every=0.5)

    results, changed = [], []
    b4 = state()
    for method, args in wrong:
        what = "%s %s" % (method, json.dumps(args)[:120])
        st, _, b = post({"method": method, "arguments": args, "tag": 3})
        j = answer_of(what, st, b)
        check(j is not None, "%s: HTTP %d (want 200 with a result)" % (what, st))
        check(j.get("tag") == 3, "%s: tag not echoed: %r" % (what, j))
        results.append((what, j["result"]))
        if method.endswith("-set") or method.startswith(("torrent-stop", "torrent-remove")):
            time.sleep(1)  # a limit acts on the next tick
        now = state()
        c = changes(b4, now)
        if c:
            changed.append("%s (result %r): %s" % (what, j["result"][:60], "; ".join(c)))
            restore(b4)
            b4 = state()
    print("wrong types: %d requests; results: %s" % (len(results), sorted({r for _, r in results})))
    for line in changed:
        print("  state changed by %s" % line)
    if ringseed:
        check(not changed, "%d wrong-typed requests changed the state:\n  %s" % (len(changed), "\n  ".join(changed)))
    assert_undisturbed("after wrong types")
    A, B = ids["alpha"], ids["beta"]  # a restore may have added one again

    # --- a stale session id, over and over ------------------------------------------
    fresh = rpc.sid
    for i in range(25):
        stale = "%048d" % i if i % 2 else fresh[::-1]
        st, h, _ = post({"method": "torrent-stop", "arguments": {"ids": [A, B]}}, {SID: stale})
        check(st == 409, "stale session id #%d: HTTP %d (want 409)" % (i, st))
        check(h.get(SID) == fresh, "stale session id #%d: 409 names %r, not the current %r" % (i, h.get(SID), fresh))
    st, h, _ = post({"method": "torrent-stop", "arguments": {"ids": [A, B]}}, with_sid=False)
    check(st == 409 and h.get(SID) == fresh, "no session id: HTTP %d %r" % (st, h.get(SID)))
    check(rpc.sid == sid, "session id changed during the run")
    assert_undisturbed("after the stale session id loop")

    # --- bad Basic auth ---------------------------------------------------------------
    # From 127.0.0.3 for ringseed (its ban counts per address; 4 stay under its 5),
    # from 127.0.0.1 for 3.00 (its whitelist refuses other addresses with 403).
    src = "127.0.0.3" if ringseed else "127.0.0.1"
    for what, value in [("wrong password", basic(a.user, a.password + "x")),
                        ("not base64", "Basic !!!not-base64!!!"),
                        ("no colon", "Basic " + base64.b64encode(b"justauser").decode()),
                        ("Bearer", "Bearer " + a.password)]:
        st, h, _ = post({"method": "torrent-stop", "arguments": {"ids": [A]}}, {"Authorization": value}, source=src)
        check(st == 401, "%s: HTTP %d (want 401)" % (what, st))
        check(h.get("WWW-Authenticate", "").lower().startswith("basic"), "%s: WWW-Authenticate %r"
              % (what, h.get("WWW-Authenticate")))
    assert_undisturbed("after bad auth")

    # --- an address outside the whitelist (127.0.0.4: ringseed's test config
    # lists 127.0.0.1-3, 3.00's default only 127.0.0.1) -------------------------------
    st, _, _ = post({"method": "torrent-stop", "arguments": {"ids": [A]}}, source="127.0.0.4")
    check(st == 403, "127.0.0.4, outside the whitelist, good credentials: HTTP %d (want 403)" % st)
    assert_undisturbed("after a request from outside the whitelist")

    # --- cross-site requests ------------------------------------------------------------
    st, h, _ = post('{"method":"torrent-stop","arguments":{"ids":[%d,%d]}}' % (A, B),
                    {"Origin": "http://evil.example", "Referer": "http://evil.example/page",
                     "Content-Type": "text/plain;charset=UTF-8"}, with_sid=False)
    check(st == 409, "cross-site POST without session id: HTTP %d (want 409)" % st)
    st, _, _ = post(None, {"Origin": "http://evil.example"}, with_sid=False, method="GET")
    check(st == 409, "cross-site GET without session id: HTTP %d (want 409)" % st)
    assert_undisturbed("after cross-site requests")

    if ringseed:
        # --- the ban: 5 failures from 127.0.0.2, then even good credentials are refused --
        bad = basic(a.user, "wrong-" + a.password)
        codes = [post({"method": "session-stats"}, {"Authorization": bad}, source="127.0.0.2")[0] for _ in range(5)]
        check(codes == [401] * 5, "5 bad logins from 127.0.0.2: %s (want 401 each)" % codes)
        for i in range(2):
            st, _, _ = post({"method": "session-stats"}, source="127.0.0.2")
            check(st == 403, "127.0.0.2 after 5 failures, good credentials, try %d: HTTP %d (want 403)" % (i + 1, st))
        st, _, _ = post({"method": "session-stats"})
        check(st == 200, "127.0.0.1 while 127.0.0.2 is banned: HTTP %d" % st)

        # --- Host headers (DNS rebinding) --------------------------------------------------
        for host in ("evil.example.com", "evil.example.com:%d" % raw.port, "rebind.attacker.test"):
            st, _, b = post({"method": "torrent-stop", "arguments": {"ids": [A]}}, {"Host": host})
            check(st in (403, 421), "Host %s while bound to loopback: HTTP %d (want 403 or 421)" % (host, st))
        for host in ("localhost:%d" % raw.port, "127.0.0.1:%d" % raw.port, "localhost"):
            st, _, b = post({"method": "session-stats"}, {"Host": host})
            check(st == 200, "Host %s: HTTP %d (want 200)" % (host, st))
        assert_undisturbed("after foreign Host headers")

    # --- metrics ------------------------------------------------------------------------
    if a.metrics:
        want = {"session_id": 27, "auth": 4 + 5, "banned": 2, "host": 3, "body": 1, "json": 1, "whitelist": 1}
        # Host and body size may be counted by the HTTP layer instead.
        also = {"host": "http:host", "body": "http:body_too_large"}
        # /metrics is rendered once a second: the last refusals show within
        # a few seconds, not at once.
        deadline = time.time() + 5
        while True:
            after = refusals(a.metrics)
            grew = {r: after.get(r, 0) - before.get(r, 0) for r in set(after) | set(before)}
            missing = []
            for reason, n in want.items():
                got = grew.get(reason, 0) + grew.get(also.get(reason, ""), 0)
                if got < n:
                    missing.append("reason=%r grew by %s, want >= %d" % (reason, got, n))
            if not missing or time.time() > deadline:
                break
            time.sleep(0.25)
        print("refusals counted: %s" % json.dumps(grew, sort_keys=True))
        check(not missing, "refusals not counted (ringseed_transmission_rpc_refusals_total%s): %s"
              % (" or ringseed_http_errors_total{server=\"transmission_rpc\"}", "; ".join(missing)))

    # --- still seeding: a leecher downloads beta byte-identical ----------------------
    peer_port = rpc.ok("session-get")["peer-port"]
    with tempfile.TemporaryDirectory(prefix="trpc-hostile-leech-") as save:
        p = start_leecher(ts["beta"].path, save, "127.0.0.1", peer_port, rate=8 * MIB, seconds=90)
        try:
            out, _ = p.communicate(timeout=120)
        finally:
            stop_process(p)
        check("done" in out, "leecher after the hostile run: %r" % out[-300:])
        with open(os.path.join(save, ts["beta"].name), "rb") as f1, \
                open(os.path.join(a.data_dir, ts["beta"].name), "rb") as f2:
            check(f1.read() == f2.read(), "leeched beta differs from the seeded file")
    assert_undisturbed("at the end")
    print("hostile: all held (%s)" % ("ringseed rules" if ringseed else "transmission-daemon 3.00 rules"))
    return 0


if __name__ == "__main__":
    run_main(main)
