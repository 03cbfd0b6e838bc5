"""The ONE fixed list of Transmission RPC requests that the reference, the
comparison and the differential all send (`run_calls`), and the behaviour
both servers must show while answering it (checks: a server that answers
with the right shapes but does the wrong thing fails here).

Names are "method/variant"; each answer is recorded by trpc_common.record.
Every method of issue 19 is in the list: session-get/-set/-stats,
torrent-get (ids omitted / number / numbers / hashes / recently-active;
every field; format table), torrent-add (metainfo, filename, duplicate,
download-dir, paused, labels, magnet, URL), torrent-set, torrent-start,
-start-now, -stop, -verify, -reannounce, torrent-remove (keeping and
deleting data), torrent-set-location, queue-move-*, free-space, port-test,
blocklist-update, an unknown method, no method, a body that is not JSON.
"""
import base64
import os
import shutil
import time

import requests

from trpc_common import SID, check, load_torrents, poll, record, start_leecher, stop_process

# rpc-spec 3.00 (rpc-version 16) torrent-get fields, every one.
FIELDS_16 = [
    "activityDate", "addedDate", "bandwidthPriority", "comment", "corruptEver", "creator",
    "dateCreated", "desiredAvailable", "doneDate", "downloadDir", "downloadedEver",
    "downloadLimit", "downloadLimited", "editDate", "error", "errorString", "eta", "etaIdle",
    "files", "fileStats", "hashString", "haveUnchecked", "haveValid", "honorsSessionLimits",
    "id", "isFinished", "isPrivate", "isStalled", "labels", "leftUntilDone", "magnetLink",
    "manualAnnounceTime", "maxConnectedPeers", "metadataPercentComplete", "name", "peer-limit",
    "peers", "peersConnected", "peersFrom", "peersGettingFromUs", "peersSendingToUs",
    "percentDone", "pieces", "pieceCount", "pieceSize", "priorities", "queuePosition",
    "rateDownload", "rateUpload", "recheckProgress", "secondsDownloading", "secondsSeeding",
    "seedIdleLimit", "seedIdleMode", "seedRatioLimit", "seedRatioMode", "sizeWhenDone",
    "startDate", "status", "trackers", "trackerStats", "totalSize", "torrentFile",
    "uploadedEver", "uploadLimit", "uploadLimited", "uploadRatio", "wanted", "webseeds",
    "webseedsSendingToUs",
]
# What rpc-version 17 (Transmission 4.0) added; 3.00 answers 0 for a field it does not know.
FIELDS_17 = ["availability", "file-count", "group", "percentComplete", "primary-mime-type", "trackerList"]
ALL_FIELDS = FIELDS_16 + FIELDS_17
# What Tremotesf-like pollers ask every few seconds (the table format call).
POLL_FIELDS = ["id", "hashString", "name", "status", "percentDone", "rateUpload", "uploadedEver",
               "peersConnected", "labels", "error", "errorString", "uploadRatio", "totalSize"]

# Status values (rpc-spec): 0 stopped, 1 check wait, 2 check, 6 seeding.
STOPPED, CHECK_WAIT, CHECK, SEED = 0, 1, 2, 6


class Recorder:
    def __init__(self, rpc):
        self.rpc = rpc
        self.calls = {}
        self.samples = {}

    def keep(self, name, r, request):
        check(name not in self.calls, "call name %s twice" % name)
        self.calls[name], self.samples[name] = record(r, request)
        return r

    def call(self, name, method, arguments=None, tag=None, want="success"):
        """Sends one request; records it; checks HTTP 200, the tag echoed and
        (unless want is None) the result. Returns the parsed answer."""
        body = {"method": method}
        if arguments is not None:
            body["arguments"] = arguments
        if tag is not None:
            body["tag"] = tag
        r = self.keep(name, self.rpc.post(body), body)
        check(r.status_code == 200, "%s: HTTP %s %r" % (name, r.status_code, r.text[:300]))
        j = r.json()
        check(isinstance(j.get("arguments"), dict), "%s: no arguments object: %r" % (name, j))
        if tag is not None:
            check(j.get("tag") == tag, "%s: tag %r not echoed (%r)" % (name, tag, j.get("tag")))
        if want == "success":
            check(j.get("result") == "success", "%s: result %r" % (name, j.get("result")))
        elif want == "error":
            check(isinstance(j.get("result"), str) and j["result"] != "success",
                  "%s: expected an error result, got %r" % (name, j.get("result")))
        return j

    def http(self, name, r, request):
        return self.keep(name, r, request)


def b64(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def run_calls(rpc, torrent_dir, data_dir, scratch, log=print):
    """Sends the list to `rpc` (a trpc_common.Rpc on a server holding no
    torrents). torrent_dir holds alpha (multi-file, a tracker, a web seed),
    beta (one file), gamma (2 files, added paused), delta (one file, added
    from a private copy in SCRATCH/own so that removing it with its data
    deletes only that copy). Returns (calls, samples)."""
    ts = {t.name.split(".")[0]: t for t in load_torrents(torrent_dir, minimum=4)}
    alpha, beta, gamma, delta = ts["alpha"], ts["beta"], ts["gamma"], ts["delta"]
    own = os.path.join(scratch, "own")
    os.makedirs(own, exist_ok=True)
    shutil.copy(os.path.join(data_dir, "delta.bin"), os.path.join(own, "delta.bin"))
    rec = Recorder(rpc)
    sget = {"method": "session-get"}

    # --- the HTTP layer: auth, the session-id handshake ----------------------
    r = requests.post(rpc.url, json=sget, timeout=30)
    rec.http("http/no-auth", r, {"note": "no Authorization, no session id"})
    check(r.status_code == 401, "no auth: HTTP %s (want 401)" % r.status_code)
    check("basic" in r.headers.get("WWW-Authenticate", "").lower(), "401 without WWW-Authenticate: Basic")
    r = requests.post(rpc.url, json=sget, auth=("admin-wrong", "nope"), timeout=30)
    rec.http("http/bad-auth", r, {"note": "wrong user and password"})
    check(r.status_code == 401, "bad auth: HTTP %s (want 401)" % r.status_code)
    r = requests.post(rpc.url, json=sget, auth=rpc.auth, timeout=30)
    rec.http("http/no-session-id", r, {"note": "good auth, no session id"})
    check(r.status_code == 409 and r.headers.get(SID), "no session id: HTTP %s, %s %r"
          % (r.status_code, SID, r.headers.get(SID)))
    rpc.sid = r.headers[SID]
    r = requests.post(rpc.url, json=sget, auth=rpc.auth, headers={SID: "stale-" + rpc.sid}, timeout=30)
    rec.http("http/stale-session-id", r, {"note": "good auth, wrong session id"})
    check(r.status_code == 409 and r.headers.get(SID) == rpc.sid, "stale session id: HTTP %s" % r.status_code)
    r = requests.get(rpc.url, auth=rpc.auth, timeout=30)
    rec.http("http/get-no-session-id", r, {"note": "GET, good auth, no session id"})
    check(r.status_code == 409, "GET without session id: HTTP %s (want 409)" % r.status_code)
    r = rpc.post(sget, url=rpc.url + "/")
    rec.http("http/trailing-slash", r, {"url": "/transmission/rpc/", "body": sget})
    check(r.status_code == 200, "/transmission/rpc/: HTTP %s" % r.status_code)

    # --- session ------------------------------------------------------------
    s = rec.call("session-get", "session-get", tag=7)["arguments"]
    for k in ("version", "rpc-version", "rpc-version-minimum", "download-dir", "peer-port", "units",
              "speed-limit-up", "speed-limit-up-enabled", "seedRatioLimit", "seedRatioLimited",
              "idle-seeding-limit", "idle-seeding-limit-enabled", "encryption", "blocklist-enabled",
              "blocklist-size", "session-id"):
        check(k in s, "session-get lacks %r" % k)
    check(s["session-id"] == rpc.sid, "session-get session-id %r is not the header's %r" % (s["session-id"], rpc.sid))
    peer_port = s["peer-port"]
    few = ["version", "rpc-version", "download-dir", "peer-port", "units"]
    s2 = rec.call("session-get/fields", "session-get", {"fields": few})["arguments"]
    check(set(few) <= set(s2), "session-get fields %s answered %s" % (few, sorted(s2)))
    rec.call("session-stats", "session-stats")
    rec.call("torrent-get/none-yet", "torrent-get", {"fields": ["id", "name"]})

    # --- torrent-add --------------------------------------------------------
    a = rec.call("torrent-add/metainfo", "torrent-add",
                 {"metainfo": b64(alpha.path), "download-dir": data_dir, "labels": ["diff", "multi"]})
    check("torrent-added" in a["arguments"], "torrent-add metainfo: %r" % a)
    added = a["arguments"]["torrent-added"]
    check(added.get("hashString") == alpha.hash and isinstance(added.get("id"), int)
          and added.get("name") == alpha.name, "torrent-added %r (alpha %s)" % (added, alpha.hash))
    ids = {"alpha": added["id"]}
    b = rec.call("torrent-add/filename", "torrent-add", {"filename": beta.path, "download-dir": data_dir})
    ids["beta"] = b["arguments"]["torrent-added"]["id"]
    g = rec.call("torrent-add/paused", "torrent-add",
                 {"metainfo": b64(gamma.path), "download-dir": data_dir, "paused": True})
    ids["gamma"] = g["arguments"]["torrent-added"]["id"]
    d = rec.call("torrent-add/own-data", "torrent-add",
                 {"filename": delta.path, "download-dir": own, "labels": ["own"]})
    ids["delta"] = d["arguments"]["torrent-added"]["id"]
    check(len(set(ids.values())) == 4, "ids not distinct: %r" % ids)
    dup = rec.call("torrent-add/duplicate", "torrent-add", {"filename": alpha.path, "download-dir": data_dir})
    check(dup["arguments"].get("torrent-duplicate", {}).get("id") == ids["alpha"],
          "duplicate: %r (alpha is %d)" % (dup, ids["alpha"]))
    magnet = "magnet:?xt=urn:btih:" + "ab" * 20 + "&dn=nothing"
    m = rec.call("torrent-add/magnet", "torrent-add", {"filename": magnet}, want=None)
    if "torrent-added" in m["arguments"]:  # Transmission takes magnets; remove it at once
        rpc.ok("torrent-remove", {"ids": [m["arguments"]["torrent-added"]["hashString"]]})
    rec.call("torrent-add/url", "torrent-add", {"filename": "http://127.0.0.1:9/none.torrent"}, want="error")
    rec.call("torrent-add/nothing", "torrent-add", {"download-dir": data_dir}, want="error")

    # --- seeding, a peer ----------------------------------------------------
    def states():
        return {t["id"]: t for t in rpc.torrents(["id", "status", "percentDone", "peers", "labels"])}
    poll("alpha, beta and delta seeding (status 6), gamma stopped (0)", 60, lambda: (
        lambda st: all(st.get(ids[n], {}).get("status") == SEED for n in ("alpha", "beta", "delta"))
        and st.get(ids["gamma"], {}).get("status") == STOPPED)(states()))
    st = states()
    # torrent-add's labels came with rpc-version 17 (3.00 ignores them).
    want_labels = ["diff", "multi"] if s["rpc-version"] >= 17 else []
    check(sorted(st[ids["alpha"]]["labels"]) == want_labels,
          "alpha labels after torrent-add %r (rpc-version %s: want %r)" % (st[ids["alpha"]]["labels"],
                                                                           s["rpc-version"], want_labels))
    leech_dir = os.path.join(scratch, "leech")
    leecher = start_leecher(alpha.path, leech_dir, "127.0.0.1", peer_port, rate=16384, seconds=120)
    try:
        poll("a peer on alpha in torrent-get peers", 40, lambda: states()[ids["alpha"]]["peers"], every=0.5)
        poll("peers with a nonzero port", 10, lambda: all(p.get("port") for p in states()[ids["alpha"]]["peers"]))
        poll("alpha uploadedEver > 0 (the leecher downloads)", 40,
             lambda: rpc.torrents(["uploadedEver"], [ids["alpha"]])[0]["uploadedEver"] > 0, every=0.5)

        # --- torrent-get ----------------------------------------------------
        tg = rec.call("torrent-get/all-fields", "torrent-get", {"fields": ALL_FIELDS}, tag=9)
        tl = tg["arguments"]["torrents"]
        check(sorted(t["id"] for t in tl) == sorted(ids.values()), "all torrents: %r" % [t["id"] for t in tl])
        by = {t["hashString"]: t for t in tl}
        ta = by[alpha.hash]
        check(ta["totalSize"] == alpha.size and len(ta["files"]) == 4 and len(ta["fileStats"]) == 4,
              "alpha size/files: %r %r" % (ta["totalSize"], len(ta["files"])))
        check(ta["pieceCount"] == alpha.pieces and ta["pieceSize"] == alpha.piece_length, "alpha pieces")
        check(ta["percentDone"] == 1 and ta["leftUntilDone"] == 0, "alpha complete")
        check(ta["trackerStats"] and ta["trackers"], "alpha trackers: %r" % ta["trackers"])
        check(ta["peers"] and ta["peers"][0]["address"] == "127.0.0.1", "alpha peers %r" % ta["peers"])
        check(ta["error"] == 0 and ta["errorString"] == "", "alpha error %r %r" % (ta["error"], ta["errorString"]))
        check(by[beta.hash]["files"][0]["length"] == beta.size, "beta one file")
        check(by[gamma.hash]["status"] == STOPPED, "gamma paused")
        one = rec.call("torrent-get/id-number", "torrent-get", {"ids": ids["beta"], "fields": ALL_FIELDS})
        check([t["id"] for t in one["arguments"]["torrents"]] == [ids["beta"]], "ids number")
        two = rec.call("torrent-get/id-list", "torrent-get",
                       {"ids": [ids["alpha"], ids["gamma"]], "fields": ALL_FIELDS})
        check(sorted(t["id"] for t in two["arguments"]["torrents"]) == sorted([ids["alpha"], ids["gamma"]]),
              "ids list")
        hs = rec.call("torrent-get/hash-strings", "torrent-get",
                      {"ids": [alpha.hash, delta.hash], "fields": ALL_FIELDS})
        check(sorted(t["hashString"] for t in hs["arguments"]["torrents"]) == sorted([alpha.hash, delta.hash]),
              "ids hashes")
        mix = rec.call("torrent-get/ids-mixed", "torrent-get",
                       {"ids": [ids["gamma"], beta.hash], "fields": ["id", "hashString"]})
        check(sorted(t["id"] for t in mix["arguments"]["torrents"]) == sorted([ids["gamma"], ids["beta"]]),
              "ids mixed")
        ra = rec.call("torrent-get/recently-active", "torrent-get",
                      {"ids": "recently-active", "fields": ["id", "name", "status", "rateUpload"]})
        check(isinstance(ra["arguments"].get("removed"), list), "recently-active without 'removed'")
        rec.calls["torrent-get/recently-active"]["partial"] = True  # which torrents: timing
        tab = rec.call("torrent-get/table", "torrent-get", {"fields": POLL_FIELDS, "format": "table"})
        rows = tab["arguments"]["torrents"]
        check(rows and rows[0] == POLL_FIELDS and len(rows) == 5 and all(len(x) == len(POLL_FIELDS) for x in rows),
              "table: %r" % rows[:2])
        rec.call("torrent-get/objects", "torrent-get", {"fields": POLL_FIELDS, "format": "objects"})
        rec.call("torrent-get/no-fields", "torrent-get", {"ids": [ids["alpha"]]}, want="error")
        rec.call("torrent-get/unknown-id", "torrent-get", {"ids": [99999], "fields": ["id"]})
    finally:
        stop_process(leecher)

    # --- torrent-set ----------------------------------------------------------
    sets = {"labels": ["relabelled", "x"], "uploadLimit": 77, "uploadLimited": True,
            "seedRatioLimit": 4.5, "seedRatioMode": 1, "seedIdleLimit": 90, "seedIdleMode": 1}
    rec.call("torrent-set", "torrent-set", dict(sets, ids=[ids["alpha"]]))
    got = rec.call("torrent-get/after-set", "torrent-get", {"ids": [ids["alpha"]], "fields": ["id"] + list(sets)})
    t = got["arguments"]["torrents"][0]
    for k, v in sets.items():
        check(t[k] == v if k != "labels" else sorted(t[k]) == sorted(v), "after torrent-set %s = %r, got %r" % (k, v, t[k]))
    rec.call("torrent-set/location", "torrent-set", {"ids": [ids["delta"]], "location": own})
    rec.call("torrent-set/unlimit", "torrent-set", {"ids": [ids["alpha"]], "uploadLimited": False,
                                                    "seedRatioMode": 0, "seedIdleMode": 0})

    # --- actions -------------------------------------------------------------
    def status_of(name):
        return rpc.torrents(["id", "status"], [ids[name]])[0]["status"]
    rec.call("torrent-stop", "torrent-stop", {"ids": [ids["beta"]]})
    poll("beta stopped", 15, lambda: status_of("beta") == STOPPED)
    rec.call("torrent-start", "torrent-start", {"ids": [ids["beta"]]})
    poll("beta seeding again", 30, lambda: status_of("beta") == SEED)
    rec.call("torrent-start-now", "torrent-start-now", {"ids": [ids["gamma"]]})
    poll("gamma seeding", 30, lambda: status_of("gamma") == SEED)
    rec.call("torrent-verify", "torrent-verify", {"ids": [ids["beta"]]})
    poll("beta verified and seeding", 60, lambda: status_of("beta") == SEED, every=0.5)
    rec.call("torrent-reannounce", "torrent-reannounce", {"ids": [ids["alpha"]]})
    rec.call("torrent-set-location", "torrent-set-location",
             {"ids": [ids["beta"]], "location": data_dir, "move": False})
    for q in ("top", "up", "down", "bottom"):
        rec.call("queue-move-" + q, "queue-move-" + q, {"ids": [ids["beta"]]})

    # --- session misc ----------------------------------------------------------
    fs = rec.call("free-space", "free-space", {"path": data_dir})["arguments"]
    check(fs.get("path") == data_dir and fs.get("size-bytes", 0) > 0, "free-space %r" % fs)
    rec.call("free-space/missing", "free-space", {"path": os.path.join(scratch, "no", "such")}, want="error")
    rec.call("port-test", "port-test", want=None)
    rec.call("blocklist-update", "blocklist-update", want=None)
    ss = rec.call("session-stats/after", "session-stats")["arguments"]
    check(ss.get("torrentCount") == 4, "session-stats torrentCount %r" % ss.get("torrentCount"))
    check(ss.get("cumulative-stats", {}).get("uploadedBytes", 0) > 0
          or ss.get("current-stats", {}).get("uploadedBytes", 0) > 0, "nothing uploaded to the leecher? %r" % ss)
    sset = {"speed-limit-up": 900, "speed-limit-up-enabled": True, "seedRatioLimit": 7.25,
            "seedRatioLimited": True, "idle-seeding-limit": 45, "idle-seeding-limit-enabled": True,
            "download-dir": data_dir, "peer-port": peer_port, "encryption": "tolerated"}
    rec.call("session-set", "session-set", sset)
    s3 = rec.call("session-get/after-set", "session-get")["arguments"]
    for k, v in sset.items():
        check(s3.get(k) == v, "after session-set %s = %r, session-get says %r" % (k, v, s3.get(k)))
    # ringseed speaks plaintext only: it accepts "preferred" and keeps "tolerated" (shape only here).
    rec.call("session-set/encryption-preferred", "session-set", {"encryption": "preferred"}, want=None)
    rec.call("session-set/undo", "session-set", {"speed-limit-up-enabled": False, "seedRatioLimited": False,
                                                 "idle-seeding-limit-enabled": False})

    # --- malformed requests ----------------------------------------------------
    rec.call("unknown-method", "torrent-frobnicate", {}, tag=5, want="error")
    r = rpc.post({"arguments": {}, "tag": 6})
    rec.http("no-method", r, {"arguments": {}, "tag": 6})
    check(r.status_code in (200, 400), "no method: HTTP %s" % r.status_code)
    r = rpc.post(b"{this is not json")
    rec.http("not-json", r, "{this is not json")
    check(r.status_code in (200, 400), "not JSON: HTTP %s" % r.status_code)

    # --- removal ---------------------------------------------------------------
    rec.call("torrent-remove/keep-data", "torrent-remove", {"ids": [ids["gamma"]], "delete-local-data": False})
    rec.call("torrent-remove/delete-data", "torrent-remove", {"ids": [delta.hash], "delete-local-data": True})
    poll("delta's private copy deleted", 15, lambda: not os.path.exists(os.path.join(own, "delta.bin")))
    check(os.path.exists(os.path.join(data_dir, "gamma", "one.bin")), "gamma's data gone after remove keeping data")
    check(os.path.exists(os.path.join(data_dir, "delta.bin")), "the shared delta.bin was deleted")
    left = rec.call("torrent-get/after-remove", "torrent-get", {"fields": ["id", "hashString"]})
    check(sorted(t["id"] for t in left["arguments"]["torrents"]) == sorted([ids["alpha"], ids["beta"]]),
          "after removes: %r" % left["arguments"]["torrents"])
    ra2 = rec.call("torrent-get/recently-active-removed", "torrent-get",
                   {"ids": "recently-active", "fields": ["id"]})
    rec.calls["torrent-get/recently-active-removed"]["partial"] = True
    check(set(ra2["arguments"].get("removed", [])) >= {ids["gamma"], ids["delta"]},
          "recently-active removed %r lacks %r" % (ra2["arguments"].get("removed"), [ids["gamma"], ids["delta"]]))
    log("%d calls recorded" % len(rec.calls))
    return rec.calls, rec.samples
