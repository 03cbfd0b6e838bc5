"""A tiny logging HTTP reverse proxy (a development aid, not a test): every
request to 127.0.0.1:LISTEN_PORT goes to TARGET_URL, and one JSON line per
request is appended to LOG: method, path, query, form/body parameters (file
uploads shown by name and size), status, and the top-level keys of a JSON
response (for a list of objects, the keys of its first object).

    python3 log_proxy.py LISTEN_PORT TARGET_URL LOG [--fake-version]

--fake-version: answer app/version "v5.1.0" and app/webapiVersion "2.11.4"
itself (what ringseed says), to see which calls a tool makes to such a server,
and translate qBittorrent 5's renames to the 4.x server behind it (the log
shows the calls as the tool made them): torrents/start and torrents/stop to
resume/pause, filter=running/stopped to resumed/paused, stopped=... to
paused=..., and in answers the states pausedUP/pausedDL to stoppedUP/stoppedDL.

Used by against_qbittorrent.py --log to list what each tool calls.
"""

import http.server
import json
import sys
import threading
import urllib.parse

import requests

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


def params_of(ctype, body):
    if not body:
        return None
    if ctype.startswith("application/x-www-form-urlencoded"):
        return {k: v if len(v) > 1 else v[0] for k, v in urllib.parse.parse_qs(body.decode(errors="replace")).items()}
    if ctype.startswith("multipart/form-data"):
        from email.parser import BytesParser
        from email.policy import HTTP

        msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
        out = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fname = part.get_filename()
            data = part.get_payload(decode=True) or b""
            out.setdefault(name, []).append(
                f"<file {fname} {len(data)} B>" if fname else data.decode(errors="replace")
            )
        return {k: v if len(v) > 1 else v[0] for k, v in out.items()}
    if ctype.startswith("application/json"):
        try:
            return json.loads(body)
        except ValueError:
            pass
    return f"<{len(body)} B {ctype}>"


V5_PATHS = {"/api/v2/torrents/start": "/api/v2/torrents/resume", "/api/v2/torrents/stop": "/api/v2/torrents/pause"}
V5_FILTERS = {"running": "resumed", "stopped": "paused"}


def to_v4(path, ctype, body):
    """A qBittorrent 5 (API 2.11) request as qBittorrent 4.x understands it."""
    u = urllib.parse.urlsplit(path)
    p = V5_PATHS.get(u.path, u.path)

    def fix(pairs):
        out = []
        for k, v in pairs:
            if k == "filter":
                v = V5_FILTERS.get(v, v)
            if k == "stopped":
                k = "paused"
            out.append((k, v))
        return out

    q = urllib.parse.urlencode(fix(urllib.parse.parse_qsl(u.query, keep_blank_values=True)))
    if ctype.startswith("application/x-www-form-urlencoded") and body:
        body = urllib.parse.urlencode(fix(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))).encode()
    elif ctype.startswith("multipart/form-data") and body:
        body = body.replace(b'name="stopped"', b'name="paused"')
    return p + ("?" + q if q else ""), body


def keys_of(resp):
    if "json" not in resp.headers.get("content-type", ""):
        t = resp.content[:80]
        return None if not t else t.decode(errors="replace")
    try:
        v = resp.json()
    except ValueError:
        return None
    if isinstance(v, dict):
        return sorted(v)[:80]
    if isinstance(v, list):
        return ["[list]"] + (sorted(v[0]) if v and isinstance(v[0], dict) else [])
    return v


def main():
    port, target, log_path = int(sys.argv[1]), sys.argv[2].rstrip("/"), sys.argv[3]
    fake = "--fake-version" in sys.argv[4:]
    lock = threading.Lock()
    local = threading.local()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def handle_any(self):
            n = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(n) if n else b""
            if not hasattr(local, "s"):
                local.s = requests.Session()
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP | {"host"}}
            # The server's CSRF check compares Origin/Referer with its own address.
            for k in ("Origin", "Referer"):
                if k in headers:
                    u0 = urllib.parse.urlsplit(headers[k])
                    headers[k] = target + (u0.path or "/") + (("?" + u0.query) if u0.query else "")
                    if k == "Origin":
                        headers[k] = target
            path, fwd_body = self.path, body
            if fake:
                path, fwd_body = to_v4(path, self.headers.get("content-type", ""), body)
            resp = local.s.request(
                self.command, target + path, data=fwd_body, headers=headers, allow_redirects=False
            )
            local.s.cookies.clear()
            u = urllib.parse.urlsplit(self.path)
            entry = {
                "client": self.headers.get("user-agent", ""),
                "method": self.command,
                "path": u.path,
                "query": {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()} or None,
                "params": params_of(self.headers.get("content-type", ""), body),
                "status": resp.status_code,
                "resp": keys_of(resp),
            }
            with lock, open(log_path, "a") as f:
                f.write(json.dumps(entry) + "\n")
            data = resp.content
            fakes = {"/api/v2/app/version": b"v5.1.0", "/api/v2/app/webapiVersion": b"2.11.4"}
            if fake and u.path in fakes and resp.status_code == 200:
                data = fakes[u.path]
            elif fake and b'"state":"paused' in data:
                data = data.replace(b'"state":"pausedUP"', b'"state":"stoppedUP"')
                data = data.replace(b'"state":"pausedDL"', b'"state":"stoppedDL"')
            self.send_response(resp.status_code)
            for k, v in resp.raw.headers.items():
                if k.lower() not in HOP:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
    srv.serve_forever()


if __name__ == "__main__":
    main()
