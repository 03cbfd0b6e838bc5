#!/usr/bin/env python3
"""Replays cross-seed's qBittorrent injection, request by request.

  cross_seed_replay.py URL USER PASS TORRENT DATA_DIR

Read from cross-seed v7.0.0-14 (github cross-seed/cross-seed at commit
0a222a03, packages/cross-seed/src/clients/QBittorrent.ts: login(),
request(), createTag(), getPreferences(), isTorrentInClient(),
getTorrentInfo(), getCategoryForNewTorrent(), inject(), recheckTorrent(),
resumeInjection(); constants.ts: TORRENT_TAG "cross-seed", suffix
".cross-seed", User-Agent CrossSeed/<version>). What cross-seed does and so
does this script:
  - every call is a POST; login's body is URLSearchParams
    (application/x-www-form-urlencoded;charset=UTF-8); the session cookie
    sent back is the FIRST Set-Cookie header verbatim (attributes included);
    string bodies are hand-built `k=v` (not percent-encoded) with
    Content-Type application/x-www-form-urlencoded; torrents/info without
    a filter is an empty URLSearchParams body; torrents/categories an empty
    text/plain;charset=UTF-8 body (fetch's default for a string);
  - app/version decides the names: >= 5 stop/start and `stopped`, else
    pause/resume and `paused` (cross-seed never asks app/webapiVersion);
  - torrents/add is undici's FormData: boundary ----formdata-undici-0NNNNNNNNNNN,
    the torrent as a Blob (application/x-bittorrent) named
    `<name>.cross-seed.torrent`, then downloadPath+savepath (autoTMM off
    only), autoTMM, category, tags, contentLayout, skip_checking,
    stopped|paused, and a trailing `foo=bar` ("the parser parses the last kv
    pair incorrectly", says cross-seed);
  - after the add, torrents/info?hashes= polled (5 retries, each falling back
    to the full list); with a recheck: stop|pause, recheck, then polling
    until not checking and stopped, then start|resume.
The resume poll waits 1 s instead of cross-seed's 15 s (resumeSleepTime),
so it also waits out checkingResumeData and a stopped state whose recheck has
not begun yet (amount_left still the whole size), which cross-seed's 15 s
sleep hides; it starts the torrent only once the recheck found it complete.

Two injections of the same files under new info hashes (TORRENT's info
dictionary plus a `source` key), the searchee being TORRENT itself, added
first (not part of the replay) with a category whose save path is DATA_DIR:
  A: searchee autoTMM off; a MATCH: skip_checking=true, not stopped,
     savepath/downloadPath = the searchee's save_path.
  B: searchee autoTMM on, duplicateCategories on: torrents/categories, then
     torrents/createCategory of `<cat>.cross-seed`; a recheck injection:
     skip_checking=false, stopped; stop, recheck, poll, start.
Asserts each injected torrent ends complete and seeding with the tag and
category cross-seed gave it. Cleans up what it added (never the files).
"""
import json
import os
import random
import sys
import time
import urllib.parse

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webui_common import Fail, Torrent, check, variant, run_main, SEEDING_STATES  # noqa: E402

USER_AGENT = "CrossSeed/7.0.0-14"
TORRENT_TAG = "cross-seed"
SUFFIX = ".cross-seed"
SRC_CAT = "xs-src"
FORM = "application/x-www-form-urlencoded"
COMPLETE = {"uploading", "pausedUP", "stoppedUP", "queuedUP", "stalledUP", "checkingUP", "forcedUP"}


class CrossSeed:
    def __init__(self, url, user, password):
        self.href = url.rstrip("/") + "/api/v2"
        self.user, self.password = user, password
        self.http = requests.Session()
        self.cookie = None
        self.log = []

    def login(self):
        body = urllib.parse.urlencode({"username": self.user, "password": self.password})
        r = self.http.post(self.href + "/auth/login", data=body, timeout=10,
                           headers={"User-Agent": USER_AGENT, "Content-Type": FORM + ";charset=UTF-8"})
        self.log.append(("POST /auth/login", r.status_code))
        check(r.ok, "login failed with code %s" % r.status_code)
        # getSetCookie()[0]: the first Set-Cookie header, attributes and all.
        cookies = r.raw.headers.getlist("Set-Cookie")
        check(cookies, "login: no Set-Cookie (invalid username or password); body %r" % r.text)
        self.cookie = cookies[0]
        self.http.cookies.clear()  # only the Cookie header cross-seed builds is sent
        self.version = self.request("/app/version", "", {"Content-Type": FORM})
        check(self.version, "unable to retrieve version")
        nums = [int("".join(ch for ch in p if ch.isdigit()) or 0) for p in self.version.lstrip("v").split(".")[:3]]
        self.major = nums[0]
        check(tuple(nums) >= (4, 3, 1), "qBittorrent minimum supported version is v4.3.1, got %s" % self.version)

    def request(self, path, body, headers=None, expect=200):
        """cross-seed's request(): a POST with Cookie and User-Agent (it retries on
        403/5xx; here those fail the replay)."""
        h = {"Cookie": self.cookie, "User-Agent": USER_AGENT}
        if isinstance(body, str) and not headers:
            h["Content-Type"] = "text/plain;charset=UTF-8"  # fetch's default for a string body
        h.update(headers or {})
        data = body.encode() if isinstance(body, str) else body
        r = self.http.post(self.href + path, data=data, headers=h, timeout=600)
        self.log.append(("POST " + path, r.status_code))
        check(r.status_code == expect, "POST %s (%r) gave %s %r" % (path, body[:80] if isinstance(body, str) else "…",
                                                                   r.status_code, r.text[:200]))
        return r.text

    def form(self, s):
        return self.request(s[0], s[1], {"Content-Type": FORM})

    def all_info(self):
        # new URLSearchParams() with no entries: an empty urlencoded body.
        return json.loads(self.request("/torrents/info", "", {"Content-Type": FORM + ";charset=UTF-8"}))

    def info(self, h, retries=0):
        for i in range(retries + 1):
            got = json.loads(self.form(("/torrents/info", "hashes=%s" % h)))
            if got:
                return got[0]
            for t in self.all_info():
                if h in (t["hash"], t.get("infohash_v1"), t.get("infohash_v2")):
                    return t
            if i < retries:
                time.sleep(min(2 ** i, 10))
        return None


def multipart(fields, file_bytes, filename):
    """undici's FormData encoding (what cross-seed's fetch sends)."""
    boundary = "----formdata-undici-0" + str(random.randrange(10 ** 11)).zfill(11)
    esc = lambda s: s.replace("\n", "%0A").replace("\r", "%0D").replace('"', "%22")
    parts = [("--%s\r\nContent-Disposition: form-data; name=\"torrents\"; filename=\"%s\"\r\n"
              "Content-Type: application/x-bittorrent\r\n\r\n" % (boundary, esc(filename))).encode()
             + file_bytes + b"\r\n"]
    for k, v in fields:
        parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                      % (boundary, esc(k), v.replace("\r\n", "\n").replace("\n", "\r\n"))).encode())
    parts.append(("--%s--\r\n" % boundary).encode())
    return b"".join(parts), "multipart/form-data; boundary=" + boundary


def inject(cs, new_bytes, new_hash, name, searchee_hash, duplicate_categories, to_recheck):
    """QBittorrent.inject() for a searchee already in the client."""
    all_t = cs.all_info()  # isTorrentInClient
    check(all_t, "isTorrentInClient: no torrents found")
    check(not any(new_hash in (t["hash"], t.get("infohash_v1")) for t in all_t), "already in client")
    si = cs.info(searchee_hash)
    check(si, "searchee %s not in the client" % searchee_hash)
    save_path, auto_tmm, category = si["save_path"], si["auto_tmm"], si["category"]
    check(si["state"] in COMPLETE, "searchee not complete: %s" % si["state"])
    fields = []
    if not auto_tmm:
        fields += [("downloadPath", save_path), ("savepath", save_path)]
    fields.append(("autoTMM", "true" if auto_tmm else "false"))
    if category:
        if duplicate_categories:  # getCategoryForNewTorrent
            dupe = category if category.endswith(SUFFIX) else category + SUFFIX
            if auto_tmm:
                cats = list(json.loads(cs.request("/torrents/categories", "")).values())
                found = next((c for c in cats if c["name"] == dupe), None)
                if not found:
                    cs.form(("/torrents/createCategory", "category=%s&savePath=%s" % (dupe, save_path)))
                elif found["savePath"] != save_path:
                    cs.form(("/torrents/editCategory", "category=%s&savePath=%s" % (dupe, save_path)))
            category = dupe
        fields.append(("category", category))
    fields.append(("tags", TORRENT_TAG))
    fields.append(("contentLayout", "Original"))
    fields.append(("skip_checking", "false" if to_recheck else "true"))
    fields.append(("stopped" if cs.major >= 5 else "paused", "true" if to_recheck else "false"))
    fields.append(("foo", "bar"))
    body, ctype = multipart(fields, new_bytes, "%s.%s.torrent" % (name, TORRENT_TAG))
    text = cs.request("/torrents/add", body, {"Content-Type": ctype})
    check(text == "Ok.", "torrents/add: %r" % text)
    ni = cs.info(new_hash, retries=5)
    check(ni, "Failed to retrieve torrent after adding")
    if to_recheck:
        stop = "/torrents/stop" if cs.major >= 5 else "/torrents/pause"
        cs.form((stop, "hashes=%s" % ni["hash"]))
        cs.form(("/torrents/recheck", "hashes=%s" % ni["hash"]))
        # resumeInjection(checkOnce=false)
        deadline = time.time() + 120
        while True:
            check(time.time() < deadline, "Will not resume torrent %s: timeout" % new_hash)
            time.sleep(1)
            ti = cs.info(new_hash)
            # cross-seed waits out checkingDL/checkingUP only; qBittorrent 4.5.2 also shows
            # checkingResumeData right after the add (cross-seed would give up there), waited out too.
            if not ti or ti["state"] in ("checkingDL", "checkingUP", "checkingResumeData"):
                continue
            check(ti["state"] in ("pausedDL", "stoppedDL", "pausedUP", "stoppedUP"),
                  "Will not resume: state is %s" % ti["state"])
            if ti["amount_left"] > 0:
                # cross-seed's first look comes 15 s after the recheck, by when it has run;
                # polling every second may look before it starts: look again.
                continue
            cs.form(("/torrents/start" if cs.major >= 5 else "/torrents/resume", "hashes=%s" % new_hash))
            break
    return category


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    url, user, password, torrent_path, data_dir = sys.argv[1:]
    data_dir = os.path.abspath(data_dir)
    t = Torrent(torrent_path)
    bytes_a, hash_a = variant(t, "cross-seed-replay-A")
    bytes_b, hash_b = variant(t, "cross-seed-replay-B")

    # --- setup, not cross-seed: the searchee in the client, complete ---
    s = requests.Session()
    r = s.post(url + "/api/v2/auth/login", data={"username": user, "password": password}, timeout=10)
    check(r.text == "Ok.", "setup login: %r" % r.text)
    api = lambda p, **d: s.post(url + "/api/v2/" + p, data=d, timeout=60)

    def cleanup():
        api("torrents/delete", hashes="|".join([t.hash, hash_a, hash_b]), deleteFiles="false")
        deadline = time.time() + 30
        while api("torrents/info", hashes="|".join([t.hash, hash_a, hash_b])).json():
            check(time.time() < deadline, "cleanup: torrents still listed")
            time.sleep(0.2)
        api("torrents/removeCategories", categories="\n".join([SRC_CAT, SRC_CAT + SUFFIX]))
        api("torrents/deleteTags", tags=TORRENT_TAG)
    cleanup()
    check(api("torrents/createCategory", category=SRC_CAT, savePath=data_dir).status_code == 200, "setup category")
    r = s.post(url + "/api/v2/torrents/add", files={"torrents": (t.filename, t.data)},
               data={"savepath": data_dir, "category": SRC_CAT, "skip_checking": "true", "autoTMM": "false"})
    check(r.text == "Ok.", "setup add of the searchee: %r" % r.text)

    def seeding(h):
        got = api("torrents/info", hashes=h).json()
        return got and got[0]["state"] in SEEDING_STATES and got[0]["progress"] == 1
    deadline = time.time() + 60
    while not seeding(t.hash):
        check(time.time() < deadline, "searchee not seeding")
        time.sleep(0.25)

    # --- the replay ---
    cs = CrossSeed(url, user, password)
    cs.login()
    cs.form(("/torrents/createTags", "tags=%s" % TORRENT_TAG))  # validateConfig → createTag
    prefs = json.loads(cs.request("/app/preferences", "", {"Content-Type": FORM}))  # with torrentDir set
    check(isinstance(prefs, dict), "preferences")

    cat_a = inject(cs, bytes_a, hash_a, t.name, t.hash, duplicate_categories=False, to_recheck=False)
    # Scenario B's searchee uses automatic torrent management (its category's path is DATA_DIR).
    api("torrents/setAutoManagement", hashes=t.hash, enable="true")
    cat_b = inject(cs, bytes_b, hash_b, t.name, t.hash, duplicate_categories=True, to_recheck=True)

    for h, cat in ((hash_a, cat_a), (hash_b, cat_b)):
        deadline = time.time() + 60
        while not seeding(h):
            check(time.time() < deadline, "injected %s not seeding: %s" % (h, api("torrents/info", hashes=h).json()))
            time.sleep(0.25)
        x = api("torrents/info", hashes=h).json()[0]
        check(x["category"] == cat, "%s category %r, want %r" % (h, x["category"], cat))
        check(TORRENT_TAG in x["tags"].split(", "), "%s tags %r" % (h, x["tags"]))
        check(x["save_path"].rstrip("/") == data_dir, "%s save_path %r" % (h, x["save_path"]))
        check(x["amount_left"] == 0, "%s amount_left %s" % (h, x["amount_left"]))
    check(cat_b == SRC_CAT + SUFFIX, "B used the duplicate category: %r" % cat_b)
    check(cat_b in api("torrents/categories").json(), "createCategory made %s" % cat_b)

    cleanup()
    for line in cs.log:
        print("%-36s %s" % line)
    print("cross_seed_replay: OK against %s (names of %s)" % (cs.version, "5.x" if cs.major >= 5 else "4.x"))
    return 0


if __name__ == "__main__":
    run_main(main)
