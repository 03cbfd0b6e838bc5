#!/usr/bin/env python3
"""The shape of every qBittorrent WebUI API v2 answer ringseed serves.

  shapes.py URL USER PASS TORRENT_DIR DATA_DIR > shapes.json

Logs in to URL and makes a FIXED sequence of calls (plain HTTP with
`requests`, so every call is visible here) on the torrents of TORRENT_DIR,
whose content is already complete in DATA_DIR: added with skip_checking,
savepath=DATA_DIR, a category and tags. Every read is made once more as a
POST (cross-seed POSTs everything). Prints ONE JSON document: for each call
its HTTP status, content type and the shape of the answer (JSON: key → JSON
type, recursively, arrays by the union of their items' shapes, maps keyed by
hash/name/address collapsed to "<key>"; text: the text when short, else a
class such as <version>, <path>). compare_shapes.py compares two of them.

It also asserts what the shapes need to mean anything (the torrents are
listed, seeding, a real libtorrent peer shows in sync/torrentPeers, …) and
exits 1 with a message when something is off. Validated against Debian's
qbittorrent-nox 4.5.2 (WebAPI 2.8.19); qBittorrent 5.x names (stop/start,
filter=stopped) are chosen by the server's webapiVersion, and both names of a
renamed endpoint are called and recorded (one 404s).

The reference, reference-qbittorrent-4.5.2.json, was made with
  /usr/bin/python3 tests/webui/payload.py /tmp/wp
  .venv-tests/bin/python tests/webui/qbt_nox.py run -- .venv-tests/bin/python \
      tests/webui/shapes.py {url} {user} {pass} /tmp/wp/torrents /tmp/wp/data

Leaves the server as it found it: the torrents (deleteFiles=false), the
categories and tags it made are removed at the end (and at the start, if an
earlier run left them).
"""
import json
import os
import sys
import tempfile
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webui_common import (Fail, check, load_torrents, poll, response_shape, start_leecher,  # noqa: E402
                          stop_process, is_v5, SEEDING_STATES, STOPPED_UP, run_main)

CAT = "shapes-cat"
CAT2 = "shapes-cat2"
TAGS = ["shapes-t1", "shapes-t2"]
TAG3 = "shapes-t3"
MAGNET_HASH = "c0ffee00" * 5
# Maps keyed by something variable (info hash, category or tag name, peer address, tracker URL).
MAPS = {
    "sync/maindata": ("torrents", "categories", "trackers"),
    "sync/torrentPeers": ("peers",),
    "torrents/categories": ("",),
}


class Recorder:
    def __init__(self, url):
        self.base = url.rstrip("/") + "/api/v2/"
        self.s = requests.Session()
        self.calls = {}
        self.order = []

    def raw(self, method, path, **kw):
        kw.setdefault("timeout", 60)
        return self.s.request(method, self.base + path, **kw)

    def rec(self, name, method, path, expect=200, maps=None, partial=False, **kw):
        """Makes one call, records its shape under `name`, checks its status."""
        r = self.raw(method, path, **kw)
        check(name not in self.calls, "call name used twice: " + name)
        maps = maps if maps is not None else MAPS.get(path, ())
        out = response_shape(r, maps)
        out["call"] = "%s %s" % (method, path)
        if partial:
            out["partial"] = True
        self.calls[name] = out
        self.order.append(name)
        if expect is not None:
            ok = r.status_code in expect if isinstance(expect, tuple) else r.status_code == expect
            check(ok, "%s: %s %s gave %s %r, expected %s" % (name, method, path, r.status_code, r.text[:200], expect))
        return r

    def read(self, name, path, params=None, **kw):
        """A read as GET with a query, then the same as POST with a form body."""
        g = self.rec(name, "GET", path, params=params, **kw)
        self.rec(name + " [POST]", "POST", path, data=params or {}, **kw)
        return g


def info(rec, **params):
    r = rec.raw("GET", "torrents/info", params=params)
    check(r.status_code == 200, "torrents/info %s: %s" % (params, r.status_code))
    return r.json()


# Set once the server is known: ringseed (a seeder) refuses magnets.
RINGSEED = False


def by_hash(rec, h):
    got = info(rec, hashes=h)
    return got[0] if got else None


def cleanup(rec, torrents):
    hashes = "|".join([t.hash for t in torrents] + [MAGNET_HASH])
    r = rec.raw("POST", "torrents/delete", data={"hashes": hashes, "deleteFiles": "false"})
    check(r.status_code == 200, "cleanup delete: %s" % r.status_code)
    poll("cleanup: torrents gone", 30, lambda: not info(rec, hashes=hashes))
    rec.raw("POST", "torrents/removeCategories", data={"categories": "\n".join([CAT, CAT2])})
    rec.raw("POST", "torrents/deleteTags", data={"tags": ",".join(TAGS + [TAG3])})


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    url, user, password, torrent_dir, data_dir = sys.argv[1:]
    data_dir = os.path.abspath(data_dir)
    torrents = load_torrents(torrent_dir, minimum=3)
    multi = next(t for t in torrents if t.multi)
    # The first torrents in one multipart add, the last one alone and stopped.
    first, last = torrents[:-1], torrents[-1]
    rec = Recorder(url)

    # --- auth -----------------------------------------------------------
    rec.rec("no session: app/version", "GET", "app/version", expect=403)
    r = rec.rec("auth/login wrong password", "POST", "auth/login",
                data={"username": user, "password": password + "-wrong"})
    check(r.text == "Fails.", "a wrong password gives 200 Fails., got %r" % r.text)
    r = rec.rec("auth/login", "POST", "auth/login", data={"username": user, "password": password})
    check(r.text == "Ok.", "login: %r" % r.text)
    check("SID" in rec.s.cookies, "login set no SID cookie: %s" % r.headers.get("Set-Cookie"))
    rec.calls["auth/login"]["cookie"] = sorted(rec.s.cookies.keys())

    cleanup(rec, torrents)

    # --- app --------------------------------------------------------------
    version = rec.read("app/version", "app/version").text
    webapi = rec.read("app/webapiVersion", "app/webapiVersion").text
    v5 = is_v5(webapi)
    build = rec.read("app/buildInfo", "app/buildInfo").json()
    global RINGSEED
    RINGSEED = str(build.get("libtorrent", "")).startswith("ringseed")
    prefs = rec.read("app/preferences", "app/preferences").json()
    listen_port = prefs.get("listen_port")
    check(isinstance(listen_port, int) and listen_port > 0, "preferences listen_port: %r" % listen_port)
    rec.rec("app/setPreferences", "POST", "app/setPreferences",
            data={"json": json.dumps({"queueing_enabled": False})})
    check(rec.raw("GET", "app/preferences").json().get("queueing_enabled") is False,
          "setPreferences queueing_enabled=false did not stick")
    rec.read("app/defaultSavePath", "app/defaultSavePath")

    # --- add ----------------------------------------------------------------
    files = [("torrents", (t.filename, t.data, "application/x-bittorrent")) for t in first]
    form = {"savepath": data_dir, "category": CAT, "tags": ",".join(TAGS), "paused": "false",
            "stopped": "false", "skip_checking": "true", "contentLayout": "Original", "autoTMM": "false",
            "upLimit": "1048576", "ratioLimit": "2.5", "seedingTimeLimit": "120", "foo": "bar"}
    r = rec.rec("torrents/add multipart", "POST", "torrents/add", files=files, data=form)
    check(r.text == "Ok.", "add: %r" % r.text)
    form_stopped = dict(form, paused="true", stopped="true")
    r = rec.rec("torrents/add stopped", "POST", "torrents/add",
                files=[("torrents", (last.filename, last.data, "application/x-bittorrent"))], data=form_stopped)
    check(r.text == "Ok.", "add stopped: %r" % r.text)
    rec.rec("torrents/add not a torrent", "POST", "torrents/add", expect=415,
            files=[("torrents", ("bad.torrent", b"this is not bencode", "application/x-bittorrent"))],
            data={"savepath": data_dir})
    r = rec.rec("torrents/add urls=magnet", "POST", "torrents/add",
                data={"urls": "magnet:?xt=urn:btih:%s&dn=shapes-magnet" % MAGNET_HASH,
                      "savepath": data_dir, "paused": "true", "stopped": "true"})
    if RINGSEED:
        # A seeder has no metadata to fetch a magnet with: ringseed refuses
        # it (docs/webui.md; allowed-ringseed.json).
        check(r.text == "Fails.", "add magnet on ringseed: %r" % r.text)
        check(not by_hash(rec, MAGNET_HASH), "ringseed listed a magnet it refused")
    else:
        check(r.text == "Ok.", "add magnet: %r" % r.text)
        poll("the magnet listed", 20, lambda: by_hash(rec, MAGNET_HASH))
        rec.rec("torrents/delete magnet", "POST", "torrents/delete",
                data={"hashes": MAGNET_HASH, "deleteFiles": "false"})
        poll("the magnet gone", 20, lambda: not by_hash(rec, MAGNET_HASH))

    def seeding(t):
        x = by_hash(rec, t.hash)
        return x and x["state"] in SEEDING_STATES and x["progress"] == 1

    for t in first:
        poll("%s seeding (complete, skip_checking)" % t.name, 60, lambda: seeding(t))
    x = poll("%s listed stopped" % last.name, 60, lambda: by_hash(rec, last.hash))
    poll("%s stopped and complete" % last.name, 60,
         lambda: (by_hash(rec, last.hash) or {}).get("state") in STOPPED_UP)
    x = by_hash(rec, multi.hash)
    check(x["category"] == CAT, "category: %r" % x["category"])
    check(sorted(x["tags"].split(", ")) == TAGS, "tags: %r" % x["tags"])
    check(x["save_path"].rstrip("/") == data_dir, "save_path %r != %r" % (x["save_path"], data_dir))

    # --- torrents/info ------------------------------------------------------
    all_hashes = sorted(t.hash for t in torrents)
    got = rec.read("torrents/info", "torrents/info").json()
    check(sorted(g["hash"] for g in got) == all_hashes, "torrents/info lists %s" % [g["hash"] for g in got])
    stopped_filter = "stopped" if v5 else "paused"
    for f in ["all", "seeding", "completed", stopped_filter, "active", "inactive", "stalled", "errored"]:
        name = "torrents/info filter=" + ("stopped" if f == stopped_filter else f)
        got = rec.read(name, "torrents/info", params={"filter": f}).json()
        if f in ("all", "completed"):
            check(len(got) == len(torrents), "%s: %d torrents" % (name, len(got)))
        if f == stopped_filter:
            check([g["hash"] for g in got] == [last.hash], "%s: %s" % (name, [g["hash"] for g in got]))
        if f == "errored":
            check(got == [], "%s: %s" % (name, got))
    got = rec.read("torrents/info category=", "torrents/info", params={"category": CAT}).json()
    check(len(got) == len(torrents), "category filter: %d" % len(got))
    got = rec.read("torrents/info tag=", "torrents/info", params={"tag": TAGS[0]}).json()
    check(len(got) == len(torrents), "tag filter: %d" % len(got))
    got = rec.read("torrents/info hashes=", "torrents/info", params={"hashes": "|".join(all_hashes[:2])}).json()
    check(sorted(g["hash"] for g in got) == all_hashes[:2], "hashes filter")
    got = rec.read("torrents/info sort reverse limit offset", "torrents/info",
                   params={"sort": "name", "reverse": "true", "limit": "2", "offset": "1"}).json()
    names = sorted((t.name for t in torrents), reverse=True)
    check([g["name"] for g in got] == names[1:3], "sort/reverse/limit/offset: %s, want %s"
          % ([g["name"] for g in got], names[1:3]))

    # --- one torrent's reads ------------------------------------------------------
    h = {"hash": multi.hash}
    p = rec.read("torrents/properties", "torrents/properties", params=h).json()
    check(p["total_size"] == multi.size, "properties total_size %s != %s" % (p["total_size"], multi.size))
    check(p["pieces_num"] == multi.pieces and p["pieces_have"] == multi.pieces, "properties pieces")
    fl = rec.read("torrents/files", "torrents/files", params=h).json()
    check(len(fl) == len(multi.meta[b"info"][b"files"]), "files: %d" % len(fl))
    rec.read("torrents/trackers", "torrents/trackers", params=h)
    rec.read("torrents/webseeds", "torrents/webseeds", params=h)
    ps = rec.read("torrents/pieceStates", "torrents/pieceStates", params=h).json()
    check(ps == [2] * multi.pieces, "pieceStates: all 2 (have), got %s" % ps[:10])
    ph = rec.read("torrents/pieceHashes", "torrents/pieceHashes", params=h).json()
    check(len(ph) == multi.pieces, "pieceHashes: %d" % len(ph))
    # torrents/export is WebAPI 2.8.14+; 4.5.2 has it.
    e = rec.read("torrents/export", "torrents/export", params=h, expect=(200, 404))
    if e.status_code == 200:
        check(e.content == multi.data or b"4:info" in e.content, "export: not the torrent")
    rec.read("torrents/properties unknown hash", "torrents/properties", params={"hash": "0" * 40}, expect=404)

    # --- a real peer: sync/torrentPeers -----------------------------------------
    with tempfile.TemporaryDirectory(prefix="webui-leech-") as save:
        leech = start_leecher(multi.path, save, "127.0.0.1", listen_port, rate=32768, seconds=90)
        try:
            def peers():
                r = rec.raw("GET", "sync/torrentPeers", params={"hash": multi.hash, "rid": 0})
                check(r.status_code == 200, "torrentPeers: %s" % r.status_code)
                return r.json().get("peers")
            poll("the libtorrent leecher in sync/torrentPeers", 45, peers)
            r = rec.read("sync/torrentPeers rid=0", "sync/torrentPeers", params={"hash": multi.hash, "rid": 0})
            rid = r.json()["rid"]
            rec.read("sync/torrentPeers rid=N", "sync/torrentPeers",
                     params={"hash": multi.hash, "rid": rid}, partial=True)
            poll("properties nb_connections >= 1 with a peer", 15, lambda: rec.raw(
                "GET", "torrents/properties", params=h).json()["nb_connections"] >= 1)
            rec.read("torrents/properties with a peer", "torrents/properties", params=h)
        finally:
            stop_process(leech)
    rec.rec("transfer/banPeers", "POST", "transfer/banPeers", data={"peers": "192.0.2.1:6881"})

    # --- changes ----------------------------------------------------------------------
    one = {"hashes": multi.hash}
    if v5:
        stop, start, old_stop, old_start = "torrents/stop", "torrents/start", "torrents/pause", "torrents/resume"
    else:
        stop, start, old_stop, old_start = "torrents/pause", "torrents/resume", "torrents/stop", "torrents/start"
    rec.rec(stop, "POST", stop, data=one)
    poll("stopped state", 20, lambda: by_hash(rec, multi.hash)["state"] in STOPPED_UP)
    rec.rec(start, "POST", start, data=one)
    poll("seeding again after start", 30, lambda: seeding(multi))
    # The other name of the pair: 404 on a server that has only one of them.
    rec.rec(old_stop, "POST", old_stop, data={"hashes": "0" * 40}, expect=(200, 404))
    rec.rec(old_start, "POST", old_start, data={"hashes": "0" * 40}, expect=(200, 404))
    rec.rec("torrents/recheck", "POST", "torrents/recheck", data={"hashes": last.hash})
    poll("%s complete after recheck" % last.name, 60,
         lambda: (by_hash(rec, last.hash) or {}).get("state") in STOPPED_UP | SEEDING_STATES
         and by_hash(rec, last.hash)["progress"] == 1)
    rec.rec("torrents/reannounce", "POST", "torrents/reannounce", data=one)
    rec.rec("torrents/createCategory", "POST", "torrents/createCategory", data={"category": CAT2, "savePath": data_dir})
    rec.rec("torrents/editCategory", "POST", "torrents/editCategory", data={"category": CAT2, "savePath": os.path.join(data_dir, "edited")})
    rec.rec("torrents/setCategory", "POST", "torrents/setCategory", data={"hashes": multi.hash, "category": CAT2})
    check(by_hash(rec, multi.hash)["category"] == CAT2, "setCategory did not stick")
    cats = rec.read("torrents/categories", "torrents/categories").json()
    check(CAT in cats and CAT2 in cats, "categories: %s" % list(cats))
    rec.rec("torrents/setCategory none", "POST", "torrents/setCategory", data={"hashes": multi.hash, "category": ""})
    rec.rec("torrents/removeCategories", "POST", "torrents/removeCategories", data={"categories": CAT2})
    check(CAT2 not in rec.raw("GET", "torrents/categories").json(), "removeCategories")
    rec.rec("torrents/createTags", "POST", "torrents/createTags", data={"tags": TAG3})
    tags = rec.read("torrents/tags", "torrents/tags").json()
    check(TAG3 in tags and all(t in tags for t in TAGS), "tags: %s" % tags)
    rec.rec("torrents/addTags", "POST", "torrents/addTags", data={"hashes": multi.hash, "tags": TAG3})
    check(TAG3 in by_hash(rec, multi.hash)["tags"], "addTags")
    rec.rec("torrents/removeTags", "POST", "torrents/removeTags", data={"hashes": multi.hash, "tags": TAG3})
    check(TAG3 not in by_hash(rec, multi.hash)["tags"], "removeTags")
    rec.rec("torrents/deleteTags", "POST", "torrents/deleteTags", data={"tags": TAG3})
    check(TAG3 not in rec.raw("GET", "torrents/tags").json(), "deleteTags")
    rec.rec("torrents/setShareLimits", "POST", "torrents/setShareLimits",
            data={"hashes": multi.hash, "ratioLimit": "1.5", "seedingTimeLimit": "60", "inactiveSeedingTimeLimit": "-2"})
    x = by_hash(rec, multi.hash)
    check(abs(x["ratio_limit"] - 1.5) < 1e-9 and x["seeding_time_limit"] == 60,
          "setShareLimits: ratio_limit %s seeding_time_limit %s" % (x["ratio_limit"], x["seeding_time_limit"]))
    rec.rec("torrents/setUploadLimit", "POST", "torrents/setUploadLimit", data={"hashes": multi.hash, "limit": "204800"})
    ul = rec.read("torrents/uploadLimit", "torrents/uploadLimit", params={"hashes": multi.hash}).json()
    check(ul.get(multi.hash) == 204800, "uploadLimit: %s" % ul)
    rec.calls["torrents/uploadLimit"]["shape"] = {"<hash>": "number"}
    rec.calls["torrents/uploadLimit [POST]"]["shape"] = {"<hash>": "number"}
    rec.rec("torrents/setAutoManagement", "POST", "torrents/setAutoManagement", data={"hashes": multi.hash, "enable": "false"})
    rec.rec("torrents/setLocation", "POST", "torrents/setLocation", data={"hashes": multi.hash, "location": data_dir})
    # ringseed shows the metainfo's names (allowed-ringseed.json).
    rec.rec("torrents/rename", "POST", "torrents/rename", data={"hash": multi.hash, "name": multi.name + " renamed"},
            expect=409 if RINGSEED else 200)
    if not RINGSEED:
        poll("rename shows", 10, lambda: by_hash(rec, multi.hash)["name"] == multi.name + " renamed")
    rec.rec("torrents/topPrio queueing off", "POST", "torrents/topPrio", data=one, expect=409)

    # --- sync/maindata ----------------------------------------------------------------
    r = rec.read("sync/maindata rid=0", "sync/maindata", params={"rid": 0})
    full = r.json()
    check(full.get("full_update") is True, "rid=0 is a full update")
    check(set(full.get("torrents", {})) == set(all_hashes), "maindata torrents: %s" % list(full.get("torrents", {})))
    rid = full["rid"]
    rec.raw("POST", "torrents/addTags", data={"hashes": multi.hash, "tags": TAGS[0] + "x"})

    def delta():
        r = rec.raw("GET", "sync/maindata", params={"rid": rid})
        d = r.json()
        t = d.get("torrents", {}).get(multi.hash, {})
        return d if "tags" in t else None
    d = poll("sync/maindata delta with the new tag", 15, delta)
    check(not d.get("full_update"), "a delta is not a full update: %s" % d.get("full_update"))
    rec.rec("sync/maindata rid=N after a change", "GET", "sync/maindata", params={"rid": rid}, partial=True)
    last_rid = rec.raw("GET", "sync/maindata", params={"rid": rid}).json()["rid"]
    rec.rec("sync/maindata rid=N idle", "GET", "sync/maindata", params={"rid": last_rid}, partial=True)
    rec.rec("sync/maindata rid=N idle [POST]", "POST", "sync/maindata", data={"rid": last_rid}, partial=True)
    rec.raw("POST", "torrents/deleteTags", data={"tags": TAGS[0] + "x"})

    # --- transfer, log ------------------------------------------------------------------------
    rec.read("transfer/info", "transfer/info")
    rec.rec("transfer/setUploadLimit", "POST", "transfer/setUploadLimit", data={"limit": "0"})
    ul = rec.read("transfer/uploadLimit", "transfer/uploadLimit")
    check(ul.text.strip() == "0", "transfer/uploadLimit after setUploadLimit 0: %r" % ul.text)
    rec.read("log/main", "log/main")
    rec.read("log/main last_known_id", "log/main", params={"last_known_id": "-1", "normal": "true"})

    # --- delete ----------------------------------------------------------------------------------
    rec.rec("torrents/delete", "POST", "torrents/delete", data={"hashes": last.hash, "deleteFiles": "false"})
    poll("deleted torrent gone", 20, lambda: not by_hash(rec, last.hash))
    check(os.path.exists(os.path.join(data_dir, last.name)), "deleteFiles=false removed the data")

    cleanup(rec, torrents)
    rec.rec("auth/logout", "POST", "auth/logout")
    rec.rec("after logout: app/version", "GET", "app/version", expect=403)

    doc = {"server": {"version": version, "webapiVersion": webapi},
           "calls": {k: rec.calls[k] for k in rec.order}}
    json.dump(doc, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    run_main(main)
