"""transmission-remote (Debian's transmission-cli 3.00) drives a Transmission RPC server.

    tools_remote.py URL USER PASS TORRENT_DIR DATA_DIR [OUT_DIR]

Runs `transmission-remote HOST:PORT/PATH/ -n USER:PASS ...` (once with
`--auth`) and asserts on its parsed output, cross-checked with plain
torrent-get calls (tools_shared.Rpc):
  - a wrong password: the tool exits non-zero with the server's 401;
  - `-a FILE -w DATA_DIR` per torrent: "success"; `-l` lists every name with a
    distinct id, 100% done, status Idle/Seeding, ids as torrent-get's;
  - `-t N -i`: Id, Name, Hash, Location, Percent Done 100%, Piece Count and
    Piece Size of the .torrent;
  - a python3-libtorrent leecher on the multi-file torrent: `-t N -pi` lists
    127.0.0.1, `-l` shows it Seeding with Up > 0 and a ratio > 0, `-t N -i`
    "Peers: connected to 1" or more, `-st` an Uploaded total;
  - `-t N -S`: Stopped in `-l` and `-i`; `-t N -s`: seeding again;
  - `-t N -v` after one byte of a file is flipped: less than 100% done;
    restored and verified again: 100%;
  - `-u 123` then `-si` "Upload speed limit: 123 kB/s", `-U` then "Unlimited";
    `-t N -u 45` then `-t N -i` "Upload Limit: 45 kB/s";
  - `-t N -L a,b` then `-t N -i` "Labels: a, b" and torrent-get labels;
  - `-si`: RPC version >= 14, Listenport = the peer port; `-st` parsed;
  - `-t N -r`: gone from `-l`, its files kept; `-t M --remove-and-delete`:
    gone, its files deleted, the other torrents' files still there.
"""
import os
import re
import subprocess

from tools_shared import (
    Args, check, content_paths, leech, multi, of, peer_port, poll, run_main, stop_process, workdir,
)

ROW = re.compile(r"^\s*(\d+)(\*?)\s+(\S+)\s+(.*?)\s+(-?[\d.]+)\s+(-?[\d.]+)\s+(\S+)  (.{11})  (.*)$")


class Remote:
    def __init__(self, a):
        self.target = "%s:%d%s/" % (a.host, a.port, a.path.rstrip("/"))
        self.auth = "%s:%s" % (a.user, a.password)

    def run(self, *args, ok=True, auth_flag="-n", auth=None):
        cmd = ["transmission-remote", self.target, auth_flag, auth or self.auth] + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        out = p.stdout + p.stderr
        print("$ %s\n%s" % (" ".join(cmd[4:]) or "(connect)", out.rstrip()), flush=True)
        if ok:
            check(p.returncode == 0, "%s: exit %d: %s" % (cmd[4:], p.returncode, out))
        return p.returncode, out

    def act(self, *args):
        """An action: its reply line says "success"."""
        _, out = self.run(*args)
        check('responded: "success"' in out, "%s: %r" % (list(args), out))

    def list(self):
        _, out = self.run("-l")
        lines = out.splitlines()
        check(lines and lines[0].split() == ["ID", "Done", "Have", "ETA", "Up", "Down", "Ratio", "Status", "Name"],
              "-l header: %r" % out)
        check(lines[-1].startswith("Sum:"), "-l: no Sum: line: %r" % out)
        rows = {}
        for ln in lines[1:-1]:
            m = ROW.match(ln)
            check(m, "-l row not parsed: %r" % ln)
            row = dict(zip(("id", "err", "done", "have_eta", "up", "down", "ratio", "status", "name"), m.groups()))
            row["id"] = int(row["id"])
            row["status"] = row["status"].strip()
            check(row["name"] not in rows, "-l lists %r twice" % row["name"])
            rows[row["name"]] = row
        return rows

    def info(self, tid, flag="-i"):
        """`-t N -i` as {key: value} of its "  Key: value" lines."""
        _, out = self.run("-t", str(tid), flag)
        d = {}
        for ln in out.splitlines():
            m = re.match(r"^\s+([A-Za-z][A-Za-z &]*?):\s*(.*)$", ln)
            if m and m.group(1) not in d:
                d[m.group(1)] = m.group(2).strip()
        return d, out


def flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


def main():
    a = Args()
    rpc = of(a)
    rt = Remote(a)
    work = workdir("trpc-remote-")
    names = sorted(t.name for t in a.torrents)

    # Bad credentials: refused, the tool says so.
    rc, out = rt.run("-l", ok=False, auth=a.user + ":wrong-" + a.password)
    check(rc != 0 and "401" in out, "wrong password: exit %d, %r (want non-zero and the 401)" % (rc, out))
    rc, out = rt.run("-l", auth_flag="--auth")
    check(rc == 0, "--auth: exit %d %r" % (rc, out))

    # -a FILE -w DIR, then -l.
    for t in a.torrents:
        rt.act("-a", t.path, "-w", a.data_dir)

    def listed():
        rows = rt.list()
        return rows if sorted(rows) == names and all(
            r["done"] == "100%" and r["status"] in ("Idle", "Seeding") for r in rows.values()) else None
    rows = poll("-l to list %s at 100%%, Idle or Seeding" % names, 60, listed, 1)
    ids = {n: r["id"] for n, r in rows.items()}
    check(len(set(ids.values())) == len(ids), "-l ids not distinct: %r" % ids)
    got = {t["name"]: t["id"] for t in rpc.torrents()}
    check(got == ids, "-l ids %r != torrent-get ids %r" % (ids, got))
    for r in rows.values():
        check(r["err"] == "", "-l marks %s with an error (*)" % r["name"])

    # -t N -i
    for t in a.torrents:
        d, out = rt.info(ids[t.name])
        want = {"Id": str(ids[t.name]), "Name": t.name, "Hash": t.hash, "Location": a.data_dir,
                "Percent Done": "100%", "Piece Count": str(t.pieces)}
        for k, v in want.items():
            check(d.get(k) == v, "-t %d -i %s: %r, want %r\n%s" % (ids[t.name], k, d.get(k), v, out))
        check(d.get("Piece Size", "").startswith("%.2f KiB" % (t.piece_length / 1024)) or
              d.get("Piece Size", "").startswith("%.2f MiB" % (t.piece_length / 1048576)),
              "-i Piece Size %r for %d bytes" % (d.get("Piece Size"), t.piece_length))
        check(d.get("State") in ("Idle", "Seeding"), "-i State %r" % d.get("State"))

    # A real peer.
    lt = multi(a.torrents)
    tid = ids[lt.name]
    leecher = leech(lt, rpc, work, rate=65536)
    try:
        def peer_listed():
            _, out = rt.run("-t", str(tid), "-pi")
            lines = out.splitlines()
            check(lines and lines[0].split()[:2] == ["Address", "Flags"], "-pi header: %r" % out)
            return [ln for ln in lines[1:] if ln.split() and ln.split()[0] == "127.0.0.1"]
        peers = poll("-t %d -pi to list the leecher 127.0.0.1" % tid, 60, peer_listed, 1)
        print("peer line: %r" % peers[0])

        def seeding_to_it():
            r = rt.list()[lt.name]
            try:
                ratio = float(r["ratio"])
            except ValueError:
                ratio = 0
            return r if r["status"] == "Seeding" and float(r["up"]) > 0 and ratio > 0 else None
        r = poll("-l to show %s Seeding with Up > 0 and Ratio > 0" % lt.name, 60, seeding_to_it, 1)
        print("leeched row: %r" % r)
        d, out = rt.info(tid)
        m = re.match(r"connected to (\d+),", d.get("Peers", ""))
        check(m and int(m.group(1)) >= 1, "-i Peers: %r\n%s" % (d.get("Peers"), out))
        check(d.get("Uploaded") not in (None, "None"), "-i Uploaded %r after the leecher" % d.get("Uploaded"))
    finally:
        stop_process(leecher)
    _, st = rt.run("-st")
    check("CURRENT SESSION" in st and "TOTAL" in st, "-st: %r" % st)
    up = re.search(r"CURRENT SESSION\s+Uploaded:\s+(.*)", st)
    check(up and up.group(1).strip() != "None", "-st current session Uploaded: %r" % (up and up.group(1)))

    # Stop, start.
    other = next(t for t in a.torrents if t is not lt)
    oid = ids[other.name]
    rt.act("-t", str(oid), "-S")
    poll("-l to show %s Stopped" % other.name, 30, lambda: rt.list()[other.name]["status"] == "Stopped", 0.5)
    d, out = rt.info(oid)
    check(d.get("State") == "Stopped", "-i State after -S: %r" % d.get("State"))
    check(rpc.torrents(ids=[oid])[0]["status"] == 0, "torrent-get status after -S not 0")
    rt.act("-t", str(oid), "-s")
    poll("-l to show %s Idle/Seeding after -s" % other.name, 30,
         lambda: rt.list()[other.name]["status"] in ("Idle", "Seeding"), 0.5)

    # Verify finds a flipped byte, then a restored one.
    victim = content_paths(a.data_dir, other)[0]
    flip_byte(victim, 10)
    rt.act("-t", str(oid), "-v")
    r = poll("-l to show %s below 100%% after verifying a flipped byte" % other.name, 60,
             lambda: (lambda r: r if r["done"] != "100%" and "Verif" not in r["status"] else None)(rt.list()[other.name]),
             0.5)
    print("after the corrupt verify: %r" % r)
    flip_byte(victim, 10)
    rt.act("-t", str(oid), "-v")
    rt.act("-t", str(oid), "-s")
    poll("-l to show %s 100%% again after verifying the restored byte" % other.name, 60,
         lambda: (lambda r: r["done"] == "100%" and r["status"] in ("Idle", "Seeding"))(rt.list()[other.name]), 0.5)

    # Upload limits: session, then torrent.
    rt.act("-u", "123")
    out = rt.run("-si")[1]
    check(re.search(r"Upload speed limit: 123 kB/s", out), "-si after -u 123:\n%s" % out)
    rt.act("-U")
    out = rt.run("-si")[1]
    check(re.search(r"Upload speed limit: Unlimited", out), "-si after -U:\n%s" % out)
    rt.act("-t", str(tid), "-u", "45")
    d, out = rt.info(tid)
    check(d.get("Upload Limit") == "45 kB/s", "-i Upload Limit after -t -u 45: %r" % d.get("Upload Limit"))
    rt.act("-t", str(tid), "-U")
    d, out = rt.info(tid)
    check(d.get("Upload Limit") == "Unlimited", "-i Upload Limit after -t -U: %r" % d.get("Upload Limit"))

    # Labels (transmission-remote 3.00 has -L/--labels).
    rt.act("-t", str(tid), "-L", "a,b")
    d, out = rt.info(tid)
    check(d.get("Labels") == "a, b", "-i Labels after -L a,b: %r" % d.get("Labels"))
    lab = rpc.torrents(("id", "labels"), ids=[tid])[0]["labels"]
    check(lab == ["a", "b"], "torrent-get labels after -L a,b: %r" % lab)

    # Session info.
    out = rt.run("-si")[1]
    ver = re.search(r"RPC version: (\d+)", out)
    check(ver and int(ver.group(1)) >= 14, "-si RPC version: %r" % (ver and ver.group(1)))
    lp = re.search(r"Listenport: (\d+)", out)
    check(lp and int(lp.group(1)) == peer_port(rpc), "-si Listenport %r, peer port %d" % (lp and lp.group(1), peer_port(rpc)))
    check("Daemon version:" in out and "Download directory:" in out, "-si lacks lines:\n%s" % out)

    # Remove (data kept), remove and delete (data gone, the rest kept).
    keep = next(t for t in a.torrents if t is not lt and t is not other)
    rt.act("-t", str(ids[keep.name]), "-r")
    poll("-l without %s" % keep.name, 30, lambda: keep.name not in rt.list(), 0.5)
    check(all(os.path.exists(p) for p in content_paths(a.data_dir, keep)), "-r deleted %s's files" % keep.name)
    rt.act("-t", str(tid), "--remove-and-delete")
    poll("-l without %s" % lt.name, 30, lambda: lt.name not in rt.list(), 0.5)
    poll("%s's files deleted after --remove-and-delete" % lt.name, 30,
         lambda: not any(os.path.exists(p) for p in content_paths(a.data_dir, lt)), 0.5)
    for t in a.torrents:
        if t is not lt:
            for p in content_paths(a.data_dir, t):
                check(os.path.exists(p), "--remove-and-delete of %s deleted %s" % (lt.name, p))
    left = sorted(rt.list())
    check(left == sorted(t.name for t in a.torrents if t not in (lt, keep)), "-l after removals: %r" % left)
    print("PASS tools_remote")


if __name__ == "__main__":
    run_main(main)
