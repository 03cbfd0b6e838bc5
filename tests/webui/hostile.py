#!/usr/bin/env python3
"""Hostile requests to the qBittorrent WebUI API; the server must refuse them
and keep answering.

  hostile.py URL USER PASS [--strict-host]

Prints one line per case (what was sent, what came back) and asserts:
  - multipart bombs to torrents/add (10,000 parts; one 100 MB part; nested
    boundaries; no boundary) are refused or answered without a 5xx — the
    100 MB body with 400 (what qBittorrent answers to a Content-Length over
    64 MiB), 413 or a closed connection, the missing boundary with 400;
  - huge and invalid form fields, wrong types (limit=abc, hashes=zzz,
    hash=zzz, setPreferences json={nope) get no 5xx;
  - a POST with a cross-site Origin or Referer (http://evil.example) is
    refused (401/403), and so is a Host header naming another port;
  - a Host header naming another host (evil.example) is refused with
    --strict-host (ringseed bound to loopback); qBittorrent itself accepts
    it while its domain list (web_ui_domain_list) is "*", its default, so
    without the flag the answer is only printed;
  - 6 failed logins from one address (127.0.0.2, so 127.0.0.1 stays usable)
    ban it: later logins from it are refused with 403 even with the right
    password (qBittorrent bans after web_ui_max_auth_fail_count = 5);
  - afterwards app/version still answers on the first session.
Reference codes: Debian's qbittorrent-nox 4.5.2 (see the report / the
docstring of tests/webui.rs). Run it last: the ban lasts an hour.
"""
import http.client
import json
import os
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webui_common import check, run_main  # noqa: E402

results = []


class Server:
    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.sid = None

    def req(self, method, path, body=None, headers=None, source=None, timeout=60, cookie=True):
        """One request on a fresh connection; (status, headers, body) or
        (None, None, 'closed: …') when the server closed the connection."""
        h = {"Host": "%s:%d" % (self.host, self.port)}
        if cookie and self.sid:
            h["Cookie"] = "SID=" + self.sid
        h.update(headers or {})
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout,
                                       source_address=(source, 0) if source else None)
        try:
            c.putrequest(method, "/api/v2/" + path, skip_host=True, skip_accept_encoding=True)
            for k, v in h.items():
                c.putheader(k, v)
            if body is not None:
                c.putheader("Content-Length", str(len(body)))
            c.endheaders(body)
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        except (ConnectionError, http.client.RemoteDisconnected, socket.timeout, BrokenPipeError) as e:
            return None, None, ("closed: %s" % type(e).__name__).encode()
        finally:
            c.close()

    def form(self, path, fields, **kw):
        body = urllib.parse.urlencode(fields).encode()
        return self.req("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"}, **kw)

    def login(self, user, password, source=None):
        st, hd, body = self.form("auth/login", {"username": user, "password": password}, source=source, cookie=False)
        sid = None
        for k, v in (hd or {}).items():
            if k.lower() == "set-cookie" and v.startswith("SID="):
                sid = v.split(";")[0][4:]
        return st, body, sid

    def alive(self):
        st, _, body = self.req("GET", "app/version")
        return st == 200 and body.startswith(b"v")


def show(case, st, body):
    b = body[:90].decode("utf-8", "replace").replace("\n", " ")
    results.append({"case": case, "status": st, "body": b})
    print("%-58s -> %s %s" % (case, st if st is not None else "—", b), flush=True)


def multipart(parts, boundary="hostileBoundary"):
    out = []
    for name, value, extra in parts:
        out.append(b"--" + boundary.encode() + b"\r\nContent-Disposition: form-data; name=\"" + name.encode()
                   + b"\"" + extra + b"\r\n\r\n" + value + b"\r\n")
    out.append(b"--" + boundary.encode() + b"--\r\n")
    return b"".join(out), "multipart/form-data; boundary=" + boundary


def big_upload(srv, size):
    """A torrents/add of one `size`-byte part, streamed; the status, or 'closed'."""
    boundary = "bigBoundary"
    head = ("--%s\r\nContent-Disposition: form-data; name=\"torrents\"; filename=\"big.torrent\"\r\n"
            "Content-Type: application/x-bittorrent\r\n\r\n" % boundary).encode()
    tail = ("\r\n--%s--\r\n" % boundary).encode()
    total = len(head) + size + len(tail)
    s = socket.create_connection((srv.host, srv.port), timeout=60)
    req = ("POST /api/v2/torrents/add HTTP/1.1\r\nHost: %s:%d\r\nCookie: SID=%s\r\n"
           "Content-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n"
           % (srv.host, srv.port, srv.sid, boundary, total)).encode()
    sent = 0
    try:
        s.sendall(req + head)
        chunk = b"\0" * (1 << 20)
        while sent < size:
            n = min(len(chunk), size - sent)
            s.sendall(chunk[:n])
            sent += n
        s.sendall(tail)
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        s.settimeout(30)
        data = s.recv(4096)
    except (ConnectionResetError, socket.timeout) as e:
        data = b""
    finally:
        s.close()
    if not data:
        return None, ("closed after %d MiB sent" % (sent >> 20)).encode()
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    st = int(line.split()[1]) if line.startswith("HTTP/") else None
    return st, (data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b"") + (b" [after %d MiB]" % (sent >> 20))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    strict_host = "--strict-host" in sys.argv
    if len(args) != 3:
        sys.exit(__doc__)
    url, user, password = args
    srv = Server(url)
    st, body, sid = srv.login(user, password)
    check(st == 200 and body == b"Ok." and sid, "login: %s %r" % (st, body))
    srv.sid = sid
    version = srv.req("GET", "app/version")[2].decode()
    print("server %s" % version)
    no5xx = lambda st: st is None or st < 500

    # --- multipart bombs ---
    body, ct = multipart([("f%d" % i, b"x", b"") for i in range(10000)])
    st, _, b = srv.req("POST", "torrents/add", body, {"Content-Type": ct})
    show("torrents/add, 10,000 parts (%d KiB)" % (len(body) >> 10), st, b)
    check((st == 200 and b == b"Fails.") or (st is not None and 400 <= st < 500) or st is None,
          "10,000 parts without a torrent: 200 Fails., a 4xx or a close, got %s %r" % (st, b))
    check(srv.alive(), "not answering after 10,000 parts")

    st, b = big_upload(srv, 100 * 1024 * 1024)
    show("torrents/add, one 100 MB part", st, b)
    # qBittorrent (4.5.2 and 5.1, requestparser.cpp) answers 400 as soon as a
    # Content-Length over 64 MiB is announced; 413 or closing is as good.
    check(st in (400, 413) or st is None, "a 100 MB body must be refused (400/413/close): %s %r" % (st, b))
    check(srv.alive(), "not answering after the 100 MB part")

    inner, inner_ct = multipart([("torrents", b"d4:infod4:name1:xee", b"; filename=\"x.torrent\"")], "innerBoundary")
    body, ct = multipart([("torrents", inner, b"; filename=\"nested.torrent\"\r\nContent-Type: " + inner_ct.encode()),
                          ("savepath", b"/tmp", b"")], "outerBoundary")
    st, _, b = srv.req("POST", "torrents/add", body, {"Content-Type": ct})
    show("torrents/add, nested multipart in a part", st, b)
    check(st in (400, 415) or (st == 200 and b == b"Fails."), "nested multipart: %s %r" % (st, b))

    st, _, b = srv.req("POST", "torrents/add", b"--x\r\nabc\r\n--x--\r\n", {"Content-Type": "multipart/form-data"})
    show("torrents/add, multipart without a boundary", st, b)
    check(st == 400, "missing boundary: 400 expected, got %s" % st)

    body, ct = multipart([("torrents", b"d4:info", b"; filename=\"cut.torrent\"")], "b")
    body = body[:-10]  # the closing boundary cut off
    st, _, b = srv.req("POST", "torrents/add", body, {"Content-Type": ct})
    show("torrents/add, unterminated multipart", st, b)
    check((st == 200 and b == b"Fails.") or (st is not None and 400 <= st < 500) or st is None,
          "unterminated multipart: %s %r" % (st, b))

    # --- huge and invalid fields, wrong types ---
    for case, method, path, fields in [
        ("torrents/info hashes= 1 MiB", "POST", "torrents/info", {"hashes": "a" * (1 << 20)}),
        ("torrents/info 10,000 fields", "POST", "torrents/info", {"f%d" % i: "1" for i in range(10000)}),
        ("torrents/add savepath= 4 MiB", "POST", "torrents/add", {"urls": "magnet:?xt=urn:btih:" + "e" * 40, "savepath": "/" + "p" * (4 << 20), "paused": "true"}),
        ("app/setPreferences json={nope", "POST", "app/setPreferences", {"json": "{nope"}),
        ("app/setPreferences json=[1,2]", "POST", "app/setPreferences", {"json": "[1,2]"}),
        ("app/setPreferences json= 2 MiB string", "POST", "app/setPreferences", {"json": json.dumps({"web_ui_username": "x" * (2 << 20)})[:100] + "}"}),
        ("torrents/info limit=abc", "GET", "torrents/info?limit=abc", None),
        ("torrents/info offset=-5&limit=-1", "GET", "torrents/info?offset=-5&limit=-1", None),
        ("torrents/info hashes=zzz", "GET", "torrents/info?hashes=zzz", None),
        ("torrents/info filter=nonsense", "GET", "torrents/info?filter=nonsense", None),
        ("torrents/info sort=no_such_field", "GET", "torrents/info?sort=no_such_field", None),
        ("torrents/properties hash=zzz", "GET", "torrents/properties?hash=zzz", None),
        ("torrents/properties (no hash)", "GET", "torrents/properties", None),
        ("torrents/setUploadLimit limit=abc", "POST", "torrents/setUploadLimit", {"hashes": "all", "limit": "abc"}),
        ("sync/maindata rid=abc", "GET", "sync/maindata?rid=abc", None),
        ("sync/torrentPeers hash=zzz", "GET", "sync/torrentPeers?hash=zzz", None),
        ("transfer/setUploadLimit limit=-99999999999", "POST", "transfer/setUploadLimit", {"limit": "-99999999999"}),
        ("a query of 64 KiB", "GET", "app/version?x=" + "q" * 65536, None),
    ]:
        if fields is None:
            st, _, b = srv.req(method, path)
        else:
            st, _, b = srv.form(path, fields)
        show(case, st, b)
        check(no5xx(st), "%s: %s" % (case, st))
    # The 4 MiB savepath magnet (if it was added at all) goes away again.
    srv.form("torrents/delete", {"hashes": "e" * 40, "deleteFiles": "false"})
    check(srv.alive(), "not answering after the invalid fields")

    # --- cross-site, Host ---
    for case, hdr in [("POST with Origin: http://evil.example", {"Origin": "http://evil.example"}),
                      ("POST with Referer: http://evil.example/x", {"Referer": "http://evil.example/x"}),
                      ("POST with Origin: null", {"Origin": "null"})]:
        st, _, b = srv.req("POST", "app/version", b"", dict(hdr, **{"Content-Type": "application/x-www-form-urlencoded"}))
        show(case, st, b)
        if "evil" in case:
            check(st in (401, 403), "%s must be refused (401/403), got %s" % (case, st))
    st, _, b = srv.req("POST", "app/version", b"", {"Origin": "http://%s:%d" % (srv.host, srv.port)})
    show("POST with its own Origin", st, b)
    check(st == 200, "same-origin POST refused: %s" % st)
    wrong_port = 1 if srv.port != 1 else 2
    st, _, b = srv.req("GET", "app/version", headers={"Host": "%s:%d" % (srv.host, wrong_port)})
    show("Host: %s:%d (another port)" % (srv.host, wrong_port), st, b)
    check(st in (401, 403), "Host naming another port must be refused, got %s" % st)
    st, _, b = srv.req("GET", "app/version", headers={"Host": "evil.example"})
    show("Host: evil.example", st, b)
    st2, _, b2 = srv.req("GET", "app/version", headers={"Host": "evil.example:%d" % srv.port})
    show("Host: evil.example:%d" % srv.port, st2, b2)
    if strict_host:
        check(st in (401, 403) and st2 in (401, 403), "a foreign Host must be refused (--strict-host): %s, %s" % (st, st2))
    check(srv.alive(), "not answering after the cross-site requests")

    # --- failed logins: a ban (from 127.0.0.2) ---
    src = "127.0.0.2"
    codes = []
    for i in range(6):
        st, body, _ = srv.login(user, password + "-wrong%d" % i, source=src)
        codes.append((st, body.decode("utf-8", "replace")[:60]))
    show("6 wrong logins from %s" % src, None, json.dumps(codes).encode())
    check(all(c[0] in (200, 403) for c in codes), "wrong logins: %s" % codes)
    check(codes[0] == (200, "Fails."), "the first wrong login: 200 Fails., got %s" % (codes[0],))
    st, body, sid2 = srv.login(user, password, source=src)
    show("then the right password from %s" % src, st, body)
    check(st == 403 and not sid2, "after 6 failures the right password must be refused with 403, got %s %r" % (st, body))
    st, _, b = srv.req("GET", "app/version", source=src, cookie=False)
    show("app/version from %s without a session" % src, st, b)
    check(st == 403, "no session from the banned address: %s" % st)

    check(srv.alive(), "the first session no longer answers app/version")
    st, body, sid3 = srv.login(user, password)
    show("the right password from 127.0.0.1 (not banned)", st, body)
    check(st == 200 and body == b"Ok.", "127.0.0.1 login after 127.0.0.2's ban: %s %r" % (st, body))
    print("hostile: OK against %s" % version)
    print(json.dumps({"server": version, "results": results}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_main(main)
