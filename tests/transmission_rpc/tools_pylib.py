"""The `transmission-rpc` PyPI client library (pinned in tests/webui/setup.sh) drives a Transmission RPC server.

    tools_pylib.py URL USER PASS TORRENT_DIR DATA_DIR [OUT_DIR]

Every Client method of issue 19, asserted on behaviour (read back through the
library, cross-checked with plain torrent-get calls of tools_shared.Rpc):
  - a wrong password raises TransmissionAuthError;
  - get_session: rpc_version >= 14, every Session property readable;
    set_session (speed_limit_up, seed_ratio_limit, idle_seeding_limit and
    their switches) read back by get_session; session_stats: every property,
    torrent_count, current uploaded_bytes > 0 after a leecher;
  - add_torrent: bytes with download_dir and labels, a local path (the
    library sends `filename`), pathlib.Path (base64) paused; adding again
    returns the same id (torrent-duplicate);
  - get_torrents/get_torrent by id and by hash: every Torrent property
    readable (a missing field only where the library says it is newer than
    the server's rpc_version), every field of the JSON type the library
    declares; status, progress, files() (names, sizes, complete), trackers,
    tracker_stats (the .torrent's announce URLs), total_size, pieces;
  - a python3-libtorrent leecher: peers lists 127.0.0.1 with the keys the
    tools read; peers_connected >= 1;
  - change_torrent labels, upload_limit(ed), seed_ratio_limit/mode,
    seed_idle_limit/mode read back; location (ringseed: honoured);
  - stop_torrent -> stopped; start_torrent / start_torrent_now -> seeding;
    verify_torrent -> seeding at 100%; reannounce_torrent accepted;
  - move_torrent_data(move=False) (locate) to a copy of the data: download_dir
    is the copy, still complete; remove_torrent(delete_data=True) then
    deletes the copy only; remove_torrent without: gone, files kept;
    get_recently_active_torrents lists the removed ids;
  - queue_top/bottom/up/down accepted; free_space(DATA_DIR) > 0; port_test a
    boolean (ringseed: false); blocklist_update: of the local file the server
    names in blocklist-url (ringseed's [transmission_rpc] blocklist) -> its
    number of ranges, else of a 2-range p2p-plain list served over local HTTP
    set with set_session(blocklist_url) -> 2; then blocklist_size and
    blocklist_enabled say so;
  - ringseed only: a magnet link is refused with an error result.
"""
import http.server
import importlib.metadata
import os
import pathlib
import shutil
import threading
import warnings

from tools_shared import (
    STOPPED, Args, check, content_paths, leech, multi, of, poll, run_main, stop_process,
    wait_complete, workdir,
)

from transmission_rpc import Client, Session, SessionStats, Torrent  # noqa: E402
from transmission_rpc.constants import TORRENT_GET_ARGS, get_torrent_arguments  # noqa: E402
from transmission_rpc.error import TransmissionAuthError, TransmissionError  # noqa: E402

warnings.simplefilter("ignore", DeprecationWarning)

PY_TYPES = {
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "double": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
}


# Types of torrent-get fields: the library's table (TORRENT_GET_ARGS), with
# its slips corrected by Transmission's rpc-spec (errorString is a string,
# trackerStats an array, trackerList a string: the library's own
# Torrent.tracker_list splits it into lines).
FIELD_TYPES = dict({k: v.type for k, v in TORRENT_GET_ARGS.items()}, errorString="string", trackerStats="array",
                   trackerList="string")


def properties(cls):
    return sorted(n for n in dir(cls) if isinstance(getattr(cls, n, None), property))


def read_all(obj, cls, allowed_missing=()):
    """Reads every property of obj; returns [(name, error)] of those that
    fail, except KeyErrors of fields in allowed_missing."""
    bad = []
    for n in properties(cls):
        try:
            v = getattr(obj, n)
            if isinstance(v, list):
                for x in v:  # TrackerStats, FileStat...: their properties too
                    if hasattr(x, "fields"):
                        for m in properties(type(x)):
                            getattr(x, m)
        except KeyError as e:
            if e.args and e.args[0] in allowed_missing:
                continue
            bad.append((n, "KeyError %s" % e))
        except Exception as e:  # a wrong type or value
            bad.append((n, repr(e)))
    return bad


def check_torrent_fields(t, rpc_version):
    offered = set(get_torrent_arguments(rpc_version))
    newer = set(TORRENT_GET_ARGS) - offered
    missing = sorted(offered - set(t.fields))
    check(not missing, "%s: torrent-get (all fields) lacks %s" % (t.name, missing))
    # trackers/trackerStats `sitename` came with rpc-version 17 too.
    bad = read_all(t, Torrent, newer | ({"sitename"} if rpc_version < 17 else set()))
    check(not bad, "%s: Torrent properties fail: %s" % (t.name, bad))
    wrong = [(k, FIELD_TYPES[k], type(v).__name__) for k, v in t.fields.items()
             if k in FIELD_TYPES and not PY_TYPES[FIELD_TYPES[k]](v)]
    check(not wrong, "%s: fields of another JSON type than transmission-rpc declares: %s" % (t.name, wrong))
    t.get_files()


def serve_blocklist(work):
    d = os.path.join(work, "www")
    os.makedirs(d)
    with open(os.path.join(d, "bl.txt"), "w") as f:
        f.write("test range:10.9.8.1-10.9.8.20\nother range:192.0.2.0-192.0.2.255\n")

    class H(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=d, **k)

        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return "http://127.0.0.1:%d/bl.txt" % srv.server_address[1]


def main():
    a = Args()
    rpc = of(a)
    work = workdir("trpc-pylib-")
    print("transmission-rpc", importlib.metadata.version("transmission-rpc"))

    def client(password=a.password):
        return Client(protocol="http", host=a.host, port=a.port, path=a.path, username=a.user,
                      password=password, timeout=60)
    try:
        client("wrong-" + a.password)
        check(False, "a wrong password: no TransmissionAuthError")
    except TransmissionAuthError:
        pass
    c = client()

    # Session.
    s = c.get_session()
    print("server", s.version, "rpc", s.rpc_version)
    ringseed = "ringseed" in s.version
    check(isinstance(s.rpc_version, int) and s.rpc_version >= 14, "rpc_version %r" % s.rpc_version)
    check(s.rpc_version_minimum <= s.rpc_version, "rpc_version_minimum %r" % s.rpc_version_minimum)
    bad = read_all(s, Session)
    check(not bad, "Session properties fail: %s" % bad)
    c.set_session(speed_limit_up=55, speed_limit_up_enabled=True, seed_ratio_limit=3.5, seed_ratio_limited=True,
                  idle_seeding_limit=12, idle_seeding_limit_enabled=True)
    s2 = c.get_session()
    got = (s2.speed_limit_up, s2.speed_limit_up_enabled, s2.seed_ratio_limit, s2.seed_ratio_limited,
           s2.idle_seeding_limit, s2.idle_seeding_limit_enabled)
    check(got == (55, True, 3.5, True, 12, True), "get_session after set_session: %r" % (got,))
    c.set_session(speed_limit_up_enabled=False, seed_ratio_limited=False, idle_seeding_limit_enabled=False)
    s3 = c.get_session()
    check((s3.speed_limit_up_enabled, s3.seed_ratio_limited, s3.idle_seeding_limit_enabled) == (False, False, False),
          "switches still on after set_session(False...)")

    # add_torrent: bytes + download_dir + labels; a path (filename); pathlib.Path paused; a file object.
    ts = a.torrents
    t0, t1 = ts[0], ts[1]
    added = c.add_torrent(t0.data, download_dir=a.data_dir, labels=["lab0"])
    check(added.hash_string == t0.hash, "add_torrent(bytes) -> %r, want %s" % (added.fields, t0.hash))
    added1 = c.add_torrent(os.path.abspath(t1.path), download_dir=a.data_dir, paused=True)
    check(added1.hash_string == t1.hash, "add_torrent(path) -> %r" % added1.fields)
    for t in ts[2:]:
        with open(t.path, "rb") as f:
            x = c.add_torrent(f if t is not ts[-1] else pathlib.Path(t.path), download_dir=a.data_dir)
        check(x.hash_string == t.hash, "add_torrent(%s) -> %r" % (t.name, x.fields))
    dup = c.add_torrent(t0.data, download_dir=a.data_dir)
    check(dup.id == added.id, "adding %s again: id %r, first %r" % (t0.name, dup.id, added.id))
    ids = wait_complete(rpc, ts, paused=(t1.name,))
    check(c.get_torrent(added1.id).status == "stopped", "the paused add is %s" % c.get_torrent(added1.id).status)
    if s.rpc_version >= 17:  # torrent-add labels came with rpc-version 17 (Transmission 4.0)
        check(c.get_torrent(added.id).labels == ["lab0"], "labels of the add: %r" % c.get_torrent(added.id).labels)
    c.start_torrent(added1.id)
    ids = wait_complete(rpc, ts)

    # get_torrents / get_torrent: every field, every property.
    got = {t.hash_string: t for t in c.get_torrents()}
    check(sorted(got) == sorted(ids), "get_torrents hashes %s, want %s" % (sorted(got), sorted(ids)))
    for t in ts:
        x = got[t.hash]
        check_torrent_fields(x, s.rpc_version)
        by_hash = c.get_torrent(t.hash)
        check(by_hash.id == ids[t.hash] == x.id, "%s: ids %r %r %r" % (t.name, by_hash.id, ids[t.hash], x.id))
        check(x.name == t.name and x.status == "seeding" and x.progress == 100.0,
              "%s: name %r status %r progress %r" % (t.name, x.name, x.status, x.progress))
        check(x.total_size == t.size and x.piece_count == t.pieces and x.piece_size == t.piece_length,
              "%s: total_size %r piece_count %r piece_size %r" % (t.name, x.total_size, x.piece_count, x.piece_size))
        check(x.download_dir.rstrip("/") == a.data_dir.rstrip("/"), "%s: download_dir %r" % (t.name, x.download_dir))
        files = sorted((f.name, f.size, f.completed) for f in x.get_files())
        info = t.meta[b"info"]
        want = sorted(("/".join([t.name] + [p.decode() for p in f[b"path"]]), f[b"length"], f[b"length"])
                      for f in info[b"files"]) if t.multi else [(t.name, t.size, t.size)]
        check(files == want, "%s: files() %r, want %r" % (t.name, files, want))
        announce = sorted({u.decode() for tier in t.meta.get(b"announce-list", []) for u in tier}
                          | ({t.meta[b"announce"].decode()} if b"announce" in t.meta else set()))
        check(sorted(tr.announce for tr in x.trackers) == announce, "%s: trackers %r, want %r"
              % (t.name, [tr.announce for tr in x.trackers], announce))
        check(sorted(tr.announce for tr in x.tracker_stats) == announce, "%s: tracker_stats %r (trackers %r), "
              "want one per announce URL %r; torrent-get again: %r" % (
                  t.name, x.fields["trackerStats"], x.fields["trackers"], announce,
                  rpc.torrents(("trackers", "trackerStats", "status"), ids=[x.id])))
        if s.rpc_version >= 17:
            check(sorted(x.tracker_list) == announce, "%s: tracker_list %r" % (t.name, x.tracker_list))
        check(x.upload_limit >= 0 and isinstance(x.peers, list), "%s: upload_limit/peers" % t.name)

    # A real peer.
    lt = multi(ts)
    tid = ids[lt.hash]
    leecher = leech(lt, rpc, work, rate=32768)
    try:
        def peer():
            x = c.get_torrent(tid)
            return [p for p in x.peers if p.get("address") == "127.0.0.1"] and x
        x = poll("get_torrent(%d).peers to list 127.0.0.1" % tid, 60, peer, 0.5)
        p = next(p for p in x.peers if p.get("address") == "127.0.0.1")
        keys = ("address", "port", "clientName", "flagStr", "progress", "rateToPeer", "rateToClient",
                "isEncrypted", "isUTP", "isDownloadingFrom", "isUploadingTo", "clientIsChoked", "peerIsChoked")
        check(all(k in p for k in keys), "peer lacks %s: %r" % ([k for k in keys if k not in p], p))
        check(isinstance(p["port"], int) and 0 < p["port"] < 65536, "peer port %r" % p["port"])
        check(x.peers_connected >= 1, "peers_connected %r with the leecher" % x.peers_connected)
        check_torrent_fields(x, s.rpc_version)
        poll("session_stats current uploaded_bytes > 0", 60,
             lambda: c.session_stats().current_stats.uploaded_bytes > 0, 0.5)
    finally:
        stop_process(leecher)
    st = c.session_stats()
    bad = read_all(st, SessionStats) + read_all(st.current_stats, type(st.current_stats)) + \
        read_all(st.cumulative_stats, type(st.cumulative_stats))
    check(not bad, "SessionStats properties fail: %s" % bad)
    check(st.torrent_count == len(ts), "session_stats torrent_count %r, want %d" % (st.torrent_count, len(ts)))

    # change_torrent.
    c.change_torrent(tid, labels=["x", "y"], upload_limit=77, upload_limited=True, seed_ratio_limit=2.5,
                     seed_ratio_mode=1, seed_idle_limit=33, seed_idle_mode=1)
    x = c.get_torrent(tid)
    got = (x.labels, x.upload_limit, x.upload_limited, x.seed_ratio_limit, x.seed_ratio_mode, x.seed_idle_limit,
           x.seed_idle_mode)
    check(got == (["x", "y"], 77, True, 2.5, 1, 33, 1), "get_torrent after change_torrent: %r" % (got,))
    raw = rpc.torrents(("labels", "uploadLimit", "seedRatioLimit"), ids=[tid])[0]
    check((raw["labels"], raw["uploadLimit"], raw["seedRatioLimit"]) == (["x", "y"], 77, 2.5), "torrent-get: %r" % raw)
    c.change_torrent(tid, labels=[], upload_limited=False, seed_ratio_mode=0, seed_idle_mode=0)
    x = c.get_torrent(tid)
    check((x.labels, x.upload_limited, x.seed_ratio_mode, x.seed_idle_mode) == ([], False, 0, 0),
          "after resetting: %r" % ((x.labels, x.upload_limited, x.seed_ratio_mode, x.seed_idle_mode),))

    # stop / start / start_now / verify / reannounce.
    other = next(t for t in ts if t is not lt)
    oid = ids[other.hash]
    c.stop_torrent(oid)
    poll("%s stopped" % other.name, 30, lambda: c.get_torrent(oid).status == "stopped", 0.25)
    check(c.get_torrent(oid).status.stopped and rpc.torrents(ids=[oid])[0]["status"] == STOPPED, "status after stop")
    c.start_torrent(oid)
    poll("%s seeding after start" % other.name, 30, lambda: c.get_torrent(oid).status == "seeding", 0.25)
    c.stop_torrent(oid)
    poll("%s stopped" % other.name, 30, lambda: c.get_torrent(oid).status == "stopped", 0.25)
    c.start_torrent_now(oid)
    poll("%s seeding after start_now" % other.name, 30, lambda: c.get_torrent(oid).status == "seeding", 0.25)
    c.verify_torrent(oid)
    poll("%s seeding at 100%% after verify" % other.name, 60,
         lambda: (lambda x: x.status == "seeding" and x.progress == 100.0)(c.get_torrent(oid)), 0.25)
    c.reannounce_torrent(tid)

    # Queue (no effect needed, accepted), free space, port test, blocklist.
    for f in (c.queue_top, c.queue_bottom, c.queue_up, c.queue_down):
        f(tid)
    check(isinstance(c.get_torrent(tid).queue_position, int), "queue_position")
    free = c.free_space(a.data_dir)
    check(isinstance(free, int) and free > 0, "free_space(%s) %r" % (a.data_dir, free))
    try:
        open_ = c.port_test()
        check(isinstance(open_, bool), "port_test %r" % (open_,))
        check(not ringseed or open_ is False, "ringseed port_test %r, want False" % (open_,))
    except TransmissionError as e:
        # transmission-daemon asks a web site, which the test machine cannot reach.
        check(not ringseed and "portTested" in str(e.message), "port_test: %r" % e)
        print("port_test: %s (no outside network)" % e.message)
    configured = c.get_session().blocklist_url
    if configured and os.path.isfile(configured):
        # ringseed reads the file its config names ([transmission_rpc] blocklist).
        with open(configured) as f:
            want = sum(1 for ln in f if ln.strip() and not ln.startswith("#"))
        n = c.blocklist_update()
        check(n == want, "blocklist_update of the configured %s (%d ranges): %r" % (configured, want, n))
    else:
        # transmission-daemon fetches session-set's blocklist-url.
        url = serve_blocklist(work)
        c.set_session(blocklist_url=url, blocklist_enabled=True)
        want = 2
        n = c.blocklist_update()
        check(n == want, "blocklist_update of %s (2 ranges): %r" % (url, n))
    s4 = c.get_session()
    check(s4.blocklist_size == want and s4.blocklist_enabled, "blocklist_size %r enabled %r after the update" % (
        s4.blocklist_size, s4.blocklist_enabled))

    # locate (move=False) to a copy, then remove with delete_data: the copy goes.
    located = os.path.join(work, "located")
    os.makedirs(located)
    shutil.copytree(os.path.join(a.data_dir, lt.name), os.path.join(located, lt.name))
    c.move_torrent_data(tid, located, move=False)
    x = poll("download_dir %s after move_torrent_data(move=False)" % located, 30,
             lambda: (lambda x: x if x.download_dir.rstrip("/") == located and x.status == "seeding"
                      and x.progress == 100.0 else None)(c.get_torrent(tid)), 0.25)
    check(all(os.path.exists(p) for p in content_paths(a.data_dir, lt)), "locate moved the original data")
    if ringseed:
        c.change_torrent(oid, location=located)
        x = c.get_torrent(oid)
        check(x.download_dir.rstrip("/") == located, "change_torrent(location=) -> download_dir %r" % x.download_dir)
        c.change_torrent(oid, location=a.data_dir)
        wait_complete(rpc, [other])
    c.remove_torrent(tid, delete_data=True)
    poll("%s gone" % lt.name, 30, lambda: lt.hash not in {t.hash_string for t in c.get_torrents()}, 0.25)
    poll("the located copy deleted", 30, lambda: not any(os.path.exists(p) for p in content_paths(located, lt)), 0.25)
    check(all(os.path.exists(p) for p in content_paths(a.data_dir, lt)), "delete_data deleted the original too")
    c.remove_torrent(oid)
    poll("%s gone" % other.name, 30, lambda: other.hash not in {t.hash_string for t in c.get_torrents()}, 0.25)
    check(all(os.path.exists(p) for p in content_paths(a.data_dir, other)), "remove_torrent deleted data")
    active, removed = c.get_recently_active_torrents()
    check(tid in removed and oid in removed, "recently-active removed %r, want %d and %d" % (removed, tid, oid))
    left = sorted(t.name for t in c.get_torrents())
    check(left == sorted(t.name for t in ts if t not in (lt, other)), "left: %r" % left)

    if ringseed:
        try:
            c.add_torrent("magnet:?xt=urn:btih:" + "ab" * 20)
            check(False, "a magnet link was accepted")
        except TransmissionError:
            pass
    print("PASS tools_pylib")


if __name__ == "__main__":
    run_main(main)
