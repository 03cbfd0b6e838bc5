"""Shared parts of the Transmission RPC scripts (tests/transmission_rpc/*.py):
an RPC client that does the X-Transmission-Session-Id handshake and Basic
auth, and the response recording (status, headers that matter, JSON shape).
The generic helpers (check, poll, shape, bencode, torrents, leecher) are
tests/webui/webui_common.py's, imported, not copied."""
import json
import os
import sys

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.append(os.path.join(HERE, "..", "webui"))

from webui_common import (  # noqa: E402,F401  (re-exported for the scripts)
    Fail, Torrent, bdecode, bencode, check, json_type, load_torrents, merge,
    poll, response_shape, run_main, shape, start_leecher, stop_process, variant,
)

SID = "X-Transmission-Session-Id"
# Headers whose presence the comparison asserts (values differ per run).
HEADERS = (SID, "WWW-Authenticate")


class Rpc:
    """POSTs to URL/transmission/rpc with Basic auth; a 409 answer's session
    id is taken and the request sent again once (what every client does)."""

    def __init__(self, url, user, password, timeout=30):
        self.base = url.rstrip("/")
        self.url = self.base + "/transmission/rpc"
        self.auth = (user, password)
        self.sid = None
        self.timeout = timeout
        self.http = requests.Session()

    def post(self, body, headers=None, auth=True, sid=True, retry=True, url=None):
        """One POST of `body` (a dict is sent as JSON, bytes/str as they are)."""
        data = json.dumps(body) if isinstance(body, (dict, list)) else body
        h = {"Content-Type": "application/json"}
        if sid and self.sid:
            h[SID] = self.sid
        h.update(headers or {})
        r = self.http.post(url or self.url, data=data, headers=h,
                           auth=self.auth if auth is True else (auth or None), timeout=self.timeout)
        if r.status_code == 409 and sid and retry and SID in r.headers:
            self.sid = r.headers[SID]
            h[SID] = self.sid
            r = self.http.post(url or self.url, data=data, headers=h,
                               auth=self.auth if auth is True else (auth or None), timeout=self.timeout)
        return r

    def request(self, method, arguments=None, tag=None):
        body = {"method": method}
        if arguments is not None:
            body["arguments"] = arguments
        if tag is not None:
            body["tag"] = tag
        return self.post(body)

    def answer(self, method, arguments=None, tag=None):
        r = self.request(method, arguments, tag)
        check(r.status_code == 200, "%s: HTTP %s %r" % (method, r.status_code, r.text[:300]))
        return r.json()

    def ok(self, method, arguments=None):
        """The `arguments` of a successful answer; Fail otherwise."""
        j = self.answer(method, arguments)
        check(j.get("result") == "success", "%s %s: result %r" % (method, arguments, j.get("result")))
        return j.get("arguments", {})

    def torrents(self, fields, ids=None):
        args = {"fields": fields}
        if ids is not None:
            args["ids"] = ids
        return self.ok("torrent-get", args)["torrents"]


def record(r, request=None):
    """(shape record, raw sample) of a response: status, content type, the
    presence of the headers that matter, the JSON shape (or text class)."""
    rec = response_shape(r)
    rec["headers"] = {h: "present" for h in HEADERS if h in r.headers}
    raw = {"request": request, "status": r.status_code,
           "headers": {k: v for k, v in r.headers.items()
                       if k in HEADERS or k.lower() in ("content-type", "content-length", "connection")}}
    try:
        raw["json"] = r.json()
    except ValueError:
        raw["text"] = r.text[:2000]
    return rec, raw


def write_json(path, v):
    with open(path, "w") as f:
        json.dump(v, f, indent=1, sort_keys=True)
        f.write("\n")
