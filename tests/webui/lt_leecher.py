#!/usr/bin/python3
"""A real peer for the WebUI API tests (sync/torrentPeers): Debian's
python3-libtorrent leeches TORRENT into SAVE_DIR from HOST:PORT only, its
download limited to --rate bytes/s so it stays connected, for --seconds at
most. Prints `connected` once libtorrent has a peer, `done` when complete.

  lt_leecher.py TORRENT SAVE_DIR HOST:PORT [--rate N] [--seconds S]
"""
import argparse
import sys
import time

import libtorrent as lt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("torrent")
    ap.add_argument("save")
    ap.add_argument("peer")
    ap.add_argument("--rate", type=int, default=32768)
    ap.add_argument("--seconds", type=float, default=90)
    a = ap.parse_args()
    host, port = a.peer.rsplit(":", 1)
    ses = lt.session({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False, "enable_lsd": False,
        # TCP at once: ringseed has no uTP (libtorrent would try uTP first).
        "enable_outgoing_utp": False, "enable_incoming_utp": False, "enable_upnp": False, "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        "download_rate_limit": a.rate,
        "user_agent": "ringseed-webui-test/1.0 libtorrent/" + lt.__version__,
    })
    p = lt.add_torrent_params()
    p.ti = lt.torrent_info(a.torrent)
    p.save_path = a.save
    h = ses.add_torrent(p)
    # The session's rate limit spares local peers (libtorrent's local peer
    # class); the torrent's own limit does not.
    h.set_download_limit(a.rate)
    h.connect_peer((host, int(port)))
    start = last_connect = time.time()
    said = False
    while time.time() - start < a.seconds:
        s = h.status()
        if s.num_peers > 0 and not said:
            print("connected", flush=True)
            said = True
        if s.is_seeding:
            print("done", flush=True)
            return 0
        if s.num_peers == 0 and time.time() - last_connect > 2:
            h.connect_peer((host, int(port)))
            last_connect = time.time()
        time.sleep(0.2)
    print("timeout progress=%.3f" % h.status().progress, flush=True)
    return 0 if said else 1


if __name__ == "__main__":
    sys.exit(main())
