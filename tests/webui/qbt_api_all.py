#!/usr/bin/env python3
"""Every WebUI endpoint ringseed serves, through the `qbittorrent-api` client
library (what qbit_manage drives qBittorrent with), asserting behaviour.

  qbt_api_all.py URL USER PASS TORRENT_DIR DATA_DIR

Adds the torrents of TORRENT_DIR (content complete in DATA_DIR) in one call
with skip_checking, a category and tags, then checks that what each call
changes shows: listed with category/tags, filters, properties, files,
pieces, a real libtorrent peer in sync/torrentPeers, stop → stoppedUP
(pausedUP before qBittorrent 5), start → seeding, share limits in
torrents/info, upload limits, categories and tags created/edited/removed,
rename, setLocation, topPrio 409 with queueing off, sync/maindata deltas,
transfer limits, the log, delete without the files, logout. Passes against
Debian's qbittorrent-nox 4.5.2; the only 4.5/5.x differences tolerated are
the documented ones (pause/resume → stop/start, paused* → stopped* states,
filter paused → stopped), chosen by the server's webapiVersion. Removes what
it added (torrents without their files, categories, tags), also at start.
"""
import os
import sys
import tempfile

import qbittorrentapi as qba

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webui_common import (Fail, check, load_torrents, poll, start_leecher, stop_process,  # noqa: E402
                          is_v5, SEEDING_STATES, STOPPED_UP, run_main)

CAT, CAT2 = "api-cat", "api-cat2"
TAGS = ["api-t1", "api-t2"]
TAG3 = "api-t3"


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    url, user, password, torrent_dir, data_dir = sys.argv[1:]
    data_dir = os.path.abspath(data_dir)
    torrents = load_torrents(torrent_dir, minimum=3)
    multi = next(t for t in torrents if t.multi)
    others = [t for t in torrents if t is not multi]
    all_hashes = sorted(t.hash for t in torrents)

    # Wrong password: the library raises LoginFailed (qBittorrent answers 200 "Fails.").
    bad = qba.Client(host=url, username=user, password=password + "-wrong", REQUESTS_ARGS={"timeout": 60})
    try:
        bad.auth_log_in()
        raise Fail("login with a wrong password succeeded")
    except qba.LoginFailed:
        pass

    c = qba.Client(host=url, username=user, password=password, REQUESTS_ARGS={"timeout": 60})
    c.auth_log_in()
    check(c.is_logged_in, "not logged in after auth_log_in")

    def get(h):
        got = c.torrents_info(torrent_hashes=h)
        return got[0] if got else None

    def cleanup():
        c.torrents_delete(delete_files=False, torrent_hashes=all_hashes)
        poll("cleanup: torrents gone", 30, lambda: not c.torrents_info(torrent_hashes=all_hashes))
        c.torrents_remove_categories(categories=[CAT, CAT2])
        c.torrents_delete_tags(tags=TAGS + [TAG3])

    # --- app ---
    version, webapi = c.app_version(), c.app_web_api_version()
    check(version.startswith("v"), "app/version %r" % version)
    v5 = is_v5(webapi)
    sys.stderr.write("server %s, WebAPI %s (%s names)\n" % (version, webapi, "5.x" if v5 else "4.x"))
    bi = c.app_build_info()
    # ringseed, a seeder: refuses magnets and renames (docs/webui.md).
    ringseed = str(bi.get("libtorrent", "")).startswith("ringseed")
    for k in ("qt", "libtorrent", "boost", "openssl", "bitness"):
        check(k in bi, "buildInfo lacks %s: %s" % (k, dict(bi)))
    prefs = c.app_preferences()
    check(isinstance(prefs.get("listen_port"), int) and prefs["listen_port"] > 0, "listen_port %r" % prefs.get("listen_port"))
    check("save_path" in prefs, "preferences lack save_path")
    c.app_set_preferences(prefs={"queueing_enabled": False})
    check(c.app_preferences()["queueing_enabled"] is False, "setPreferences queueing_enabled=false")
    check(c.app_default_save_path().startswith("/"), "defaultSavePath %r" % c.app_default_save_path())
    cleanup()

    # --- add, many files in one call ---
    r = c.torrents_add(torrent_files={t.filename: t.data for t in torrents}, save_path=data_dir, category=CAT,
                       tags=TAGS, is_skip_checking=True, is_paused=False, is_stopped=False,
                       content_layout="Original", use_auto_torrent_management=False, upload_limit=2_000_000,
                       ratio_limit=3, seeding_time_limit=600)
    check(r == "Ok." or getattr(r, "success_count", 0) == len(torrents), "torrents_add: %r" % (r,))
    for t in torrents:
        poll("%s seeding after add" % t.name, 60,
             lambda: (get(t.hash) or {}).get("state") in SEEDING_STATES and get(t.hash)["progress"] == 1)
    x = get(multi.hash)
    check(x["category"] == CAT, "category %r" % x["category"])
    check(sorted(x["tags"].split(", ")) == TAGS, "tags %r" % x["tags"])
    check(x["save_path"].rstrip("/") == data_dir, "save_path %r" % x["save_path"])
    check(x["size"] == multi.size and x["total_size"] == multi.size, "size %s" % x["size"])
    check(x["up_limit"] == 2_000_000, "add upLimit → up_limit %s" % x["up_limit"])
    check(abs(x["ratio_limit"] - 3) < 1e-9 and x["seeding_time_limit"] == 600,
          "add ratioLimit/seedingTimeLimit → %s/%s" % (x["ratio_limit"], x["seeding_time_limit"]))
    check(x["auto_tmm"] is False, "autoTMM false")
    check(x["amount_left"] == 0 and x["completed"] == multi.size, "complete: amount_left %s" % x["amount_left"])
    check(x["infohash_v1"] == multi.hash, "infohash_v1 %r" % x["infohash_v1"])
    cats = c.torrents_categories()
    check(CAT in cats, "adding with a new category creates it: %s" % list(cats))
    check(all(t in c.torrents_tags() for t in TAGS), "adding with new tags creates them: %s" % c.torrents_tags())

    # A file that is not a torrent: 415.
    try:
        c.torrents_add(torrent_files={"bad.torrent": b"not a torrent"}, save_path=data_dir)
        raise Fail("adding garbage was accepted")
    except qba.UnsupportedMediaType415Error:
        pass
    # A magnet: qBittorrent lists it at once (no metadata without DHT), then
    # it is deleted; ringseed, a seeder with no metadata to fetch, refuses it.
    mh = "c0ffee01" * 5
    r = c.torrents_add(urls="magnet:?xt=urn:btih:%s&dn=api-magnet" % mh, save_path=data_dir, is_paused=True, is_stopped=True)
    if ringseed:
        check(r == "Fails." and not get(mh), "ringseed: a magnet is refused: %r" % (r,))
    else:
        check(r == "Ok." or getattr(r, "success_count", 0) == 1, "magnet add: %r" % (r,))
        poll("magnet listed", 20, lambda: get(mh))
        c.torrents_delete(delete_files=False, torrent_hashes=mh)
        poll("magnet gone", 20, lambda: not get(mh))

    # --- info filters ---
    def hashes(**kw):
        return sorted(t.hash for t in c.torrents_info(**kw))
    check(hashes() == all_hashes, "info: %s" % hashes())
    check(hashes(status_filter="all") == all_hashes, "filter all")
    check(hashes(status_filter="seeding") == all_hashes, "filter seeding")
    check(hashes(status_filter="completed") == all_hashes, "filter completed")
    check(hashes(status_filter="stopped" if v5 else "paused") == [], "filter stopped/paused: none yet")
    check(set(hashes(status_filter="active")) | set(hashes(status_filter="inactive")) == set(all_hashes),
          "active ∪ inactive = all")
    check(hashes(status_filter="stalled") == hashes(status_filter="inactive"),
          "stalled = inactive while nothing moves")
    check(hashes(status_filter="errored") == [], "filter errored")
    check(hashes(category=CAT) == all_hashes, "filter category")
    check(hashes(category="no-such-cat") == [], "filter unknown category")
    check(hashes(tag=TAGS[1]) == all_hashes, "filter tag")
    check(hashes(torrent_hashes=all_hashes[:2]) == all_hashes[:2], "filter hashes")
    names = [t.name for t in c.torrents_info(sort="name", reverse=True, limit=2, offset=1)]
    want = sorted((t.name for t in torrents), reverse=True)[1:3]
    check(names == want, "sort/reverse/limit/offset: %s want %s" % (names, want))
    sizes = [t.size for t in c.torrents_info(sort="size")]
    check(sizes == sorted(sizes), "sort=size ascending: %s" % sizes)

    # --- one torrent ---
    p = c.torrents_properties(torrent_hash=multi.hash)
    check(p["total_size"] == multi.size and p["pieces_num"] == multi.pieces and p["pieces_have"] == multi.pieces,
          "properties sizes/pieces: %s" % {k: p[k] for k in ("total_size", "pieces_num", "pieces_have")})
    check(p["piece_size"] == multi.piece_length, "piece_size %s" % p["piece_size"])
    check(p["save_path"].rstrip("/") == data_dir, "properties save_path %r" % p["save_path"])
    files = c.torrents_files(torrent_hash=multi.hash)
    want = sorted("/".join([multi.name] + [s.decode() for s in f[b"path"]]) for f in multi.meta[b"info"][b"files"])
    check(sorted(f["name"] for f in files) == want, "files: %s want %s" % ([f["name"] for f in files], want))
    check(all(f["progress"] == 1 for f in files), "files complete")
    check([f["index"] for f in files] == list(range(len(files))), "file indexes")
    trackers = c.torrents_trackers(torrent_hash=multi.hash)
    check(all("url" in t and "status" in t for t in trackers), "trackers: %s" % trackers)
    announce = multi.meta.get(b"announce", b"").decode()
    if announce:
        check(announce in [t["url"] for t in trackers], "tracker %s listed: %s" % (announce, [t["url"] for t in trackers]))
    ws = [w["url"] for w in c.torrents_webseeds(torrent_hash=multi.hash)]
    for u in multi.meta.get(b"url-list", []) if isinstance(multi.meta.get(b"url-list"), list) else \
            ([multi.meta[b"url-list"]] if b"url-list" in multi.meta else []):
        check(u.decode() in ws, "webseed %s listed: %s" % (u, ws))
    check(list(c.torrents_piece_states(torrent_hash=multi.hash)) == [2] * multi.pieces, "pieceStates all 2")
    ph = list(c.torrents_piece_hashes(torrent_hash=multi.hash))
    pieces = multi.meta[b"info"][b"pieces"]
    check(ph == [pieces[i:i + 20].hex() for i in range(0, len(pieces), 20)], "pieceHashes are the SHA-1s")
    exported = c.torrents_export(torrent_hash=multi.hash)
    check(b"4:info" in exported and multi.meta[b"info"][b"pieces"] in exported, "export gives the torrent")
    try:
        c.torrents_properties(torrent_hash="0" * 40)
        raise Fail("properties of an unknown hash")
    except qba.NotFound404Error:
        pass

    # --- a real peer ---
    with tempfile.TemporaryDirectory(prefix="webui-leech-") as save:
        leech = start_leecher(multi.path, save, "127.0.0.1", prefs["listen_port"], rate=32768, seconds=90)
        try:
            peers = poll("the leecher in sync/torrentPeers", 45,
                         lambda: c.sync_torrent_peers(torrent_hash=multi.hash, rid=0).get("peers"))
            addr, peer = next(iter(peers.items()))
            check(addr.startswith("127.0.0.1:") and peer["ip"] == "127.0.0.1", "peer address %s %s" % (addr, peer.get("ip")))
            check(0 <= peer["progress"] < 1, "a leecher's progress: %s" % peer["progress"])
            check("ringseed-webui-test" in peer["client"] or "libtorrent" in peer["client"].lower()
                  or peer["client"], "peer client %r" % peer["client"])
            poll("upload counted", 30, lambda: get(multi.hash)["uploaded"] > 0)
            c.transfer_ban_peers(peers="192.0.2.1:6881")
        finally:
            stop_process(leech)

    # --- stop / start ---
    c.torrents_stop(torrent_hashes=multi.hash)
    poll("stopped: %s" % ("stoppedUP" if v5 else "pausedUP"), 20,
         lambda: get(multi.hash)["state"] == ("stoppedUP" if v5 else "pausedUP"))
    check(hashes(status_filter="stopped" if v5 else "paused") == [multi.hash], "filter stopped lists it")
    c.torrents_start(torrent_hashes=multi.hash)
    poll("seeding after start", 30, lambda: get(multi.hash)["state"] in SEEDING_STATES)
    # The library's 4.x names too (it maps them by version).
    c.torrents_pause(torrent_hashes=others[0].hash)
    poll("paused via torrents_pause", 20, lambda: get(others[0].hash)["state"] in STOPPED_UP)
    c.torrents_resume(torrent_hashes=others[0].hash)
    poll("resumed via torrents_resume", 30, lambda: get(others[0].hash)["state"] in SEEDING_STATES)

    c.torrents_recheck(torrent_hashes=others[0].hash)
    poll("complete after recheck", 60, lambda: get(others[0].hash)["state"] in SEEDING_STATES
         and get(others[0].hash)["progress"] == 1)
    c.torrents_reannounce(torrent_hashes=multi.hash)

    # --- categories ---
    c.torrents_create_category(name=CAT2, save_path=data_dir)
    check(c.torrents_categories()[CAT2]["savePath"].rstrip("/") == data_dir, "createCategory savePath")
    edited = os.path.join(data_dir, "edited")
    c.torrents_edit_category(name=CAT2, save_path=edited)
    check(c.torrents_categories()[CAT2]["savePath"].rstrip("/") == edited, "editCategory savePath")
    try:
        c.torrents_create_category(name=CAT2, save_path=data_dir)
        raise Fail("creating an existing category")
    except qba.Conflict409Error:
        pass
    c.torrents_set_category(category=CAT2, torrent_hashes=multi.hash)
    check(get(multi.hash)["category"] == CAT2, "setCategory")
    check(get(multi.hash)["save_path"].rstrip("/") == data_dir, "setCategory without autoTMM keeps the save path")
    try:
        c.torrents_set_category(category="no-such-category", torrent_hashes=multi.hash)
        raise Fail("setCategory to an unknown category")
    except qba.Conflict409Error:
        pass
    c.torrents_set_category(category="", torrent_hashes=multi.hash)
    check(get(multi.hash)["category"] == "", "setCategory empty")
    c.torrents_remove_categories(categories=CAT2)
    check(CAT2 not in c.torrents_categories(), "removeCategories")

    # --- tags ---
    c.torrents_create_tags(tags=TAG3)
    check(TAG3 in c.torrents_tags(), "createTags")
    c.torrents_add_tags(tags=TAG3, torrent_hashes=multi.hash)
    check(TAG3 in get(multi.hash)["tags"].split(", "), "addTags")
    check(hashes(tag=TAG3) == [multi.hash], "filter by the new tag")
    c.torrents_remove_tags(tags=TAG3, torrent_hashes=multi.hash)
    check(TAG3 not in get(multi.hash)["tags"].split(", "), "removeTags")
    c.torrents_delete_tags(tags=TAG3)
    check(TAG3 not in c.torrents_tags(), "deleteTags")

    # --- limits ---
    c.torrents_set_share_limits(ratio_limit=1.5, seeding_time_limit=60, inactive_seeding_time_limit=-2,
                                torrent_hashes=multi.hash)
    x = get(multi.hash)
    check(abs(x["ratio_limit"] - 1.5) < 1e-9 and x["seeding_time_limit"] == 60,
          "setShareLimits → ratio_limit %s seeding_time_limit %s" % (x["ratio_limit"], x["seeding_time_limit"]))
    c.torrents_set_upload_limit(limit=300_000, torrent_hashes=multi.hash)
    check(c.torrents_upload_limit(torrent_hashes=multi.hash)[multi.hash] == 300_000, "setUploadLimit")
    check(get(multi.hash)["up_limit"] == 300_000, "up_limit in info")
    check(c.torrents_properties(torrent_hash=multi.hash)["up_limit"] == 300_000, "up_limit in properties")
    c.torrents_set_auto_management(enable=False, torrent_hashes=multi.hash)
    check(get(multi.hash)["auto_tmm"] is False, "setAutoManagement false")
    c.torrents_set_location(location=data_dir, torrent_hashes=multi.hash)
    check(get(multi.hash)["save_path"].rstrip("/") == data_dir, "setLocation to the same directory")
    if ringseed:
        try:
            c.torrents_rename(torrent_hash=multi.hash, new_torrent_name="api renamed")
            raise Fail("ringseed accepted a rename")
        except qba.Conflict409Error:
            pass
    else:
        c.torrents_rename(torrent_hash=multi.hash, new_torrent_name="api renamed")
        poll("rename", 10, lambda: get(multi.hash)["name"] == "api renamed")
    check(os.path.isdir(os.path.join(data_dir, multi.name)), "rename moves no files")
    try:
        c.torrents_top_priority(torrent_hashes=multi.hash)
        raise Fail("topPrio with queueing off was accepted")
    except qba.Conflict409Error:
        pass

    # --- sync ---
    md = c.sync_maindata(rid=0)
    check(md.get("full_update") is True, "maindata rid=0 full_update")
    check(set(md["torrents"]) == set(all_hashes), "maindata torrents %s" % list(md["torrents"]))
    check(md["torrents"][multi.hash]["name"] == (multi.name if ringseed else "api renamed"), "maindata name")
    check(CAT in md.get("categories", {}), "maindata categories")
    check(all(t in md.get("tags", []) for t in TAGS), "maindata tags")
    check("server_state" in md and "connection_status" in md["server_state"], "maindata server_state")
    rid = md["rid"]
    c.torrents_set_upload_limit(limit=400_000, torrent_hashes=multi.hash)

    def delta():
        d = c.sync_maindata(rid=rid)
        return d if d.get("torrents", {}).get(multi.hash, {}).get("up_limit") == 400_000 else None
    d = poll("maindata delta with the new up_limit", 15, delta)
    check(not d.get("full_update"), "delta is no full update")
    check(multi.hash not in d.get("torrents_removed", []), "delta removes nothing")

    # --- transfer, log ---
    ti = c.transfer_info()
    for k in ("dl_info_speed", "up_info_speed", "up_info_data", "connection_status"):
        check(k in ti, "transfer/info lacks %s" % k)
    check(ti["up_info_data"] > 0, "transfer up_info_data after a peer leeched: %s" % ti["up_info_data"])
    c.transfer_set_upload_limit(limit=5 * 1024 * 1024)  # qBittorrent keeps whole KiB
    check(c.transfer_upload_limit() == 5 * 1024 * 1024, "transfer setUploadLimit: %s" % c.transfer_upload_limit())
    c.transfer_set_upload_limit(limit=0)
    check(c.transfer_upload_limit() == 0, "transfer uploadLimit back to 0")
    log = c.log_main()
    check(len(log) > 0 and all("message" in e and "id" in e for e in log), "log/main")
    ids = [e["id"] for e in log]
    check(ids == sorted(ids), "log ids ascending")
    newer = c.log_main(last_known_id=ids[-1])
    check(all(e["id"] > ids[-1] for e in newer), "log last_known_id")

    # --- delete without files ---
    c.torrents_delete(delete_files=False, torrent_hashes=others[-1].hash)
    poll("deleted", 20, lambda: not get(others[-1].hash))
    check(os.path.exists(os.path.join(data_dir, others[-1].name)), "deleteFiles=false kept the data")

    cleanup()
    c.auth_log_out()
    check(not c.is_logged_in, "still logged in after logout")
    print("qbt_api_all: OK against %s (WebAPI %s)" % (version, webapi))
    return 0


if __name__ == "__main__":
    run_main(main)
