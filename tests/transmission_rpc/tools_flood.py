"""Flood 4.9.5 (tests/webui/node_modules) in its Transmission mode, and its page in headless Chromium.

    tools_flood.py URL USER PASS TORRENT_DIR DATA_DIR OUT_DIR

Adds the torrents (plain torrent-add), labels one "flood-tag", connects a
python3-libtorrent leecher to the multi-file one, then starts Flood with
`--auth none --trurl URL --truser USER --trpass PASS` (tests/webui/flood_ui.py's
start_flood, api_lists and page_lists, shared with the qBittorrent test).
Asserts, through Flood's own HTTP API: GET /api/torrents lists every torrent
under its upper-case info hash with its name, size, 100% complete, the label
as a tag; GET
/api/torrents/HASH/peers shows the leecher (127.0.0.1); GET
/api/client/settings answers. Then Chromium opens Flood's page: its text
shows every torrent name (screenshot OUT_DIR/flood-transmission.png).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "webui"))

from flood_ui import api_lists, page_lists, start_flood  # noqa: E402
from tools_common import main_wrapper, wait_for, workdir  # noqa: E402
from tools_shared import Args, add_all, check, leech, multi, of, poll, stop_process  # noqa: E402


def run():
    a = Args()
    check(a.out_dir, "OUT_DIR missing")
    os.makedirs(a.out_dir, exist_ok=True)
    rpc = of(a)
    work = workdir("trpc-flood-")
    ids = add_all(rpc, a.torrents, a.data_dir)
    names = sorted(t.name for t in a.torrents)
    labelled = a.torrents[0]
    rpc.call("torrent-set", ids=[ids[labelled.hash]], labels=["flood-tag"])

    lt = multi(a.torrents)
    leecher = leech(lt, rpc, work, rate=16384, seconds=240)
    try:
        with_leecher(a, rpc, work, ids, names, labelled, lt)
    finally:
        stop_process(leecher)


def with_leecher(a, rpc, work, ids, names, labelled, lt):
    def rpc_peer():
        t = rpc.torrents(("id", "peers"), ids=[ids[lt.hash]])[0]
        return [p for p in t["peers"] if p.get("address") == "127.0.0.1"]
    poll("torrent-get peers of %s to list the leecher" % lt.name, 60, rpc_peer, 0.5)

    flood, furl, fs = start_flood(["--trurl", a.url, "--truser", a.user, "--trpass", a.password], work)
    ft = api_lists(flood, furl, fs, names)
    for t in a.torrents:
        f = ft.get(t.hash.upper())
        check(f is not None, "Flood lists no %s (%s); it has %s" % (t.hash.upper(), t.name, sorted(ft)))
        check(f["name"] == t.name, "Flood name %r != %r" % (f["name"], t.name))
        check(f["sizeBytes"] == t.size, "%s: Flood sizeBytes %r != %d" % (t.name, f["sizeBytes"], t.size))
        check(f["percentComplete"] == 100, "%s: Flood percentComplete %r" % (t.name, f["percentComplete"]))
        check(f["directory"].rstrip("/") in (a.data_dir.rstrip("/"), os.path.join(a.data_dir, t.name)),
              "%s: Flood directory %r" % (t.name, f["directory"]))
    check(ft[labelled.hash.upper()].get("tags") == ["flood-tag"],
          "%s: Flood tags %r, want the label" % (labelled.name, ft[labelled.hash.upper()].get("tags")))
    print("Flood /api/torrents: %s" % names)

    def flood_peers():
        r = fs.get("%s/api/torrents/%s/peers" % (furl, lt.hash.upper()), timeout=30)
        r.raise_for_status()
        return [p for p in r.json() if p.get("address") == "127.0.0.1"]
    peers = wait_for("Flood's peers of %s to show the leecher" % lt.name, flood_peers, 60)
    print("Flood peers of %s: %s" % (lt.name, peers))
    r = fs.get("%s/api/client/settings" % furl, timeout=30)
    check(r.ok, "Flood /api/client/settings: HTTP %d %r" % (r.status_code, r.text[:300]))

    page_lists(furl, names, work, os.path.join(a.out_dir, "flood-transmission.png"))


if __name__ == "__main__":
    main_wrapper("tools_flood", run)
