#!/usr/bin/python3
"""Builds the WebUI tests' payload: OUT/data (complete content) and
OUT/torrents (.torrent files, v1, made with libtorrent), deterministic bytes.

  payload.py OUT

Torrents: `alpha` (a directory of 4 files, one in a subdirectory, with an
announce URL and a web seed), `beta.bin` (one file), `gamma` (2 files),
`delta.bin` (one file). A few MiB in all.
"""
import os
import random
import sys

import libtorrent as lt

TREES = {
    "alpha": [("a.bin", 1_500_000), ("b.txt", 20_000), ("sub/c.bin", 700_001), ("z.dat", 33)],
    "beta.bin": None,
    "gamma": [("one.bin", 400_000), ("two.bin", 123_457)],
    "delta.bin": None,
}
SINGLE = {"beta.bin": 1_048_576 + 17, "delta.bin": 300_000}


def write(path, n, seed):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(random.Random(seed).randbytes(n))


def main(out):
    data = os.path.join(out, "data")
    tdir = os.path.join(out, "torrents")
    os.makedirs(tdir, exist_ok=True)
    for i, (name, files) in enumerate(TREES.items()):
        root = os.path.join(data, name)
        if files is None:
            write(root, SINGLE[name], i)
        else:
            for j, (rel, n) in enumerate(files):
                write(os.path.join(root, rel), n, i * 100 + j)
        fs = lt.file_storage()
        lt.add_files(fs, root)
        ct = lt.create_torrent(fs, 65536, flags=lt.create_torrent.v1_only)
        ct.set_creator("ringseed webui tests")
        if name == "alpha":
            ct.add_tracker("http://127.0.0.1:9/announce")
            ct.add_url_seed("http://127.0.0.1:9/webseed/")
            ct.set_comment("payload alpha")
        lt.set_piece_hashes(ct, data)
        with open(os.path.join(tdir, name.split(".")[0] + ".torrent"), "wb") as f:
            f.write(lt.bencode(ct.generate()))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
