#!/usr/bin/python3
"""Real-client side of ringseed's interop tests, driven by Debian's python3-libtorrent.

  lt_client.py make OUT.torrent ROOT [--hybrid] [--piece-size N]
      Makes a torrent of ROOT with libtorrent (v1 only, or hybrid v1+v2 with
      BEP 47 pad files) and prints its v1 info hash.
  lt_client.py download TORRENT SAVE_DIR HOST:PORT|- [--timeout SECS] [--listen ADDR:PORT]
      Downloads TORRENT into SAVE_DIR from the one given peer, or with `-`
      from the peers its trackers give (nothing given by hand); prints the
      seconds it took and exits 0 when libtorrent reports it finished.
"""
import os
import sys
import time

import libtorrent as lt


def make(out, root, hybrid, piece_size):
    fs = lt.file_storage()
    lt.add_files(fs, root)
    flags = 0 if hybrid else lt.create_torrent.v1_only
    ct = lt.create_torrent(fs, piece_size, flags=flags)
    ct.set_creator("ringseed interop test")
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(root)))
    data = lt.bencode(ct.generate())
    with open(out, "wb") as f:
        f.write(data)
    ti = lt.torrent_info(out)
    print(str(ti.info_hashes().v1))


def download(torrent, save, peer, timeout, listen):
    by_hand = peer != "-"
    if by_hand:
        host, port = peer.rsplit(":", 1)
    ses = lt.session({
        "listen_interfaces": listen,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        # ringseed speaks BitTorrent over TCP only (no uTP, BEP 29).
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification
        | lt.alert.category_t.tracker_notification,
    })
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(torrent)
    params.save_path = save
    h = ses.add_torrent(params)
    start = time.time()
    if by_hand:
        h.connect_peer((host, int(port)))
    last_connect = start
    while True:
        s = h.status()
        if s.is_seeding or s.is_finished:
            break
        now = time.time()
        if now - start > timeout:
            print(f"timeout: state={s.state} progress={s.progress:.3f} peers={s.num_peers}", file=sys.stderr)
            for a in ses.pop_alerts():
                print("alert:", a.message(), file=sys.stderr)
            sys.exit(1)
        if by_hand and s.num_peers == 0 and now - last_connect > 2:
            h.connect_peer((host, int(port)))
            last_connect = now
        for a in ses.pop_alerts():
            if isinstance(a, (lt.peer_error_alert, lt.peer_disconnected_alert,
                              lt.tracker_error_alert, lt.tracker_reply_alert)):
                print("alert:", a.message(), file=sys.stderr)
        time.sleep(0.05)
    took = time.time() - start
    s = h.status()
    print(f"finished in {took:.3f} s, {s.total_done} bytes, {s.num_pieces} pieces")


def main():
    args = sys.argv[1:]
    if args[0] == "make":
        hybrid = "--hybrid" in args
        ps = 0
        if "--piece-size" in args:
            ps = int(args[args.index("--piece-size") + 1])
        make(args[1], args[2], hybrid, ps)
    elif args[0] == "download":
        timeout = 120.0
        if "--timeout" in args:
            timeout = float(args[args.index("--timeout") + 1])
        listen = "127.0.0.1:0"
        if "--listen" in args:
            listen = args[args.index("--listen") + 1]
        download(args[1], args[2], args[3], timeout, listen)
    else:
        sys.exit("unknown command " + args[0])


if __name__ == "__main__":
    main()
