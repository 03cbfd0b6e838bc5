"""qbit_manage (PyPI `qbit-manage`, its real CLI) against a qBittorrent WebUI API v2 server.

    qbit_manage_run.py URL USER PASS TORRENT_DIR DATA_DIR

TORRENT_DIR holds at least 3 .torrent files whose announce URLs have
different hosts; each torrent's content is complete under DATA_DIR (DATA_DIR/NAME).
The server must not have them yet, or have them without tags and category
(qbit_manage changes only untagged, uncategorized torrents): one run per server.

Checks:
  1. The torrents are added through the API (torrents/add, savepath=DATA_DIR,
     skip_checking=true; the first one by name paused) unless the server
     has them already, and each is complete.
  2. qbit_manage runs once (--run, not --dry-run) with a config written to a
     temp dir: tag by tracker (one tag per announce host), categories by save
     path (DATA_DIR -> category "rs-data"), share limits (group "capped":
     max_ratio 2.5 / max_seeding_time 1440 min for the first two torrents'
     tags; group "long": 10 / 10080 for the others), recheck (resume the
     paused, complete torrent). It exits 0, and its log says qBittorrent
     connected, and shows each action as applied (no "Not"/dry-run wording).
  3. The server's state through torrents/info matches: each torrent has its
     tracker's tag, category rs-data, ratio_limit and seeding_time_limit of
     its group; the paused torrent is running again; the category exists
     (torrents/categories) with DATA_DIR as save path.
"""

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tools_common import workdir, TestFailure, Qbt, add_torrents, check, dump, main_wrapper, torrent_info, wait_for  # noqa: E402

CAT = "rs-data"
GROUPS = {"capped": (2.5, 1440), "long": (10.0, 10080)}
PAUSED_STATES = ("pausedUP", "pausedDL", "stoppedUP", "stoppedDL")


def qbit_manage_bin():
    cand = os.path.join(os.path.dirname(sys.executable), "qbit-manage")
    if os.path.exists(cand):
        return cand
    found = shutil.which("qbit-manage")
    check(found, "qbit-manage not installed (run tests/webui/setup-tools.sh)")
    return found


def run():
    url, user, password, torrent_dir, data_dir = sys.argv[1:6]
    data_dir = os.path.abspath(data_dir)
    qbt = Qbt(url, user, password)
    version = qbt.get("app/version").text
    api = qbt.get("app/webapiVersion").text
    print(f"server: {version}, WebUI API {api}")

    names = sorted(
        torrent_info(os.path.join(torrent_dir, f))[1]
        for f in os.listdir(torrent_dir)
        if f.endswith(".torrent")
    )
    check(len(names) >= 3, f"need 3 torrents in {torrent_dir}, found {names}")
    paused_name = names[0]
    added = add_torrents(qbt, torrent_dir, data_dir, paused=[paused_name])
    # qbit_manage tags only untagged torrents and categorizes only uncategorized ones.
    done = [t["name"] for h, t in qbt.by_hash().items() if h in added and (t["tags"] or t["category"])]
    check(not done, f"{done} already have tags or a category: run this on a server with fresh torrents")

    # The paused one: make sure it is paused even if the server had it already.
    paused_hash = next(h for h, v in added.items() if v[0] == paused_name)

    def is_paused():
        return qbt.by_hash()[paused_hash]["state"] in PAUSED_STATES

    try:
        wait_for(f"{paused_name} paused", is_paused, 5)
    except TestFailure:
        print(f"{paused_name} is {qbt.by_hash()[paused_hash]['state']}: pausing it")
        newer = tuple(int(x) for x in api.split(".")[:2]) >= (2, 11)
        qbt.post("torrents/stop" if newer else "torrents/pause", {"hashes": paused_hash})
        wait_for(f"{paused_name} paused", is_paused, 30)

    # One tag per announce host; group "capped" for the first two torrents' tags.
    expect = {}  # hash -> (tag, group)
    tracker_cfg = {}
    for i, (h, (name, trackers, _)) in enumerate(sorted(added.items(), key=lambda kv: kv[1][0])):
        check(trackers, f"{name}: no announce URL in its .torrent")
        host = urllib.parse.urlsplit(trackers[0]).hostname
        check(host not in tracker_cfg, f"{name}: announce host {host} shared with another torrent")
        tag = "trk-" + host.split(".")[0] if host.count(".") else "trk-" + host
        tag = f"{tag}-{i}"
        tracker_cfg[host] = tag
        expect[h] = (tag, "capped" if i < 2 else "long")

    cfg_dir = workdir("qbm-")
    tags_of = lambda g: [t for t, grp in expect.values() if grp == g]  # noqa: E731
    lines = [
        "qbt:",
        f"  host: {url!r}",
        f"  user: {user!r}",
        f"  pass: {password!r}",
        "settings:",
        "  force_auto_tmm: false",
        "  tag_stalled_torrents: false",
        "  disable_qbt_default_share_limits: true",
        "directory:",
        f"  root_dir: {data_dir!r}",
        f"  remote_dir: {data_dir!r}",
        f"  torrents_dir: {os.path.abspath(torrent_dir)!r}",
        "cat:",
        f"  {CAT}: {data_dir!r}",
        "tracker:",
    ]
    for host, tag in tracker_cfg.items():
        lines += [f"  {host}:", f"    tag: {tag}"]
    lines += ["  other:", "    tag: other", "share_limits:"]
    for prio, (g, (ratio, minutes)) in enumerate(GROUPS.items(), 1):
        lines += [
            f"  {g}:",
            f"    priority: {prio}",
            f"    include_any_tags: {tags_of(g)}",
            f"    max_ratio: {ratio}",
            f"    max_seeding_time: {minutes}",
            "    cleanup: false",
            "    add_group_to_tag: true",
        ]
    cfg = "\n".join(lines) + "\n"
    with open(os.path.join(cfg_dir, "config.yml"), "w") as f:
        f.write(cfg)
    print(f"qbit_manage config ({cfg_dir}/config.yml):\n{cfg}")

    cmd = [
        qbit_manage_bin(),
        "--run",
        "--web-server=False",
        "--config-dir",
        cfg_dir,
        "--log-file",
        "qbm.log",
        "--cat-update",
        "--tag-update",
        "--share-limits",
        "--recheck",
        "--skip-cleanup",
        "--width",
        "200",
        "--log-level",
        "DEBUG",
    ]
    print("running:", " ".join(cmd), flush=True)
    env = dict(os.environ, QBT_CONFIG_DIR=cfg_dir)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cfg_dir, env=env)
    out = p.stdout + p.stderr
    logs = []
    for root, _, files in os.walk(cfg_dir):
        for f in files:
            if f.endswith(".log"):
                with open(os.path.join(root, f), errors="replace") as fh:
                    logs.append(fh.read())
    log = "\n".join(logs) or out
    tail = "\n".join(out.splitlines()[-60:])
    check(p.returncode == 0, f"qbit-manage exited {p.returncode}:\n{tail}")
    check(logs, f"no qbit_manage log file under {cfg_dir}; output:\n{tail}")
    for bad in ("CRITICAL", "Traceback", "UnsupportedVersion"):
        check(bad not in log, f"qbit_manage log has {bad}:\n{tail}")
    check("Qbt Connection Successful" in log, f"qbit_manage did not connect:\n{tail}")
    check("--dry-run (QBT_DRY_RUN): False" in log, f"qbit_manage log does not say dry-run is off:\n{tail}")
    check(re.search(r"Not Resuming|\[DRY-RUN\]|Dry-Run", log) is None, f"qbit_manage ran in dry-run mode:\n{tail}")

    # Per torrent, the actions logged after its "Torrent Name: NAME" line.
    actions, current, totals = {}, None, {}
    for line in log.splitlines():
        if "[INFO]" not in line or "|" not in line:
            continue
        msg = line.split("|", 1)[1].strip(" |=")
        if msg.startswith("Torrent Name: "):
            current = msg[len("Torrent Name: "):]
        elif msg.startswith("Total ") and ":" in msg:
            k, v = msg.split(":", 1)
            totals[k.strip()] = int(v.strip()) if v.strip().isdigit() else v.strip()
        elif current is not None and ": " in msg:
            actions.setdefault(current, []).append(msg)
    print("qbit_manage actions:", dump(actions))
    prio = {g: i for i, g in enumerate(GROUPS, 1)}
    for h, (tag, group) in expect.items():
        name = added[h][0]
        got = actions.get(name, [])
        ratio, minutes = GROUPS[group]
        for want in (
            f"New Category: {CAT}",
            f"New Tag: {tag}",
            f"Added Tag: ~share_limit_{prio[group]}.{group}",
            f"Share Limit: Max Ratio = {ratio}, Max Seed Time = ",
        ):
            check(any(a.startswith(want) for a in got), f"qbit_manage log: {name} lacks {want!r}; its actions: {got}\n{tail}")
    check(
        re.search(r"\| Resuming \[.*\] - " + re.escape(paused_name) + r"\s", log),
        f"qbit_manage log: no 'Resuming [...] - {paused_name}' line\n{tail}",
    )
    n = len(expect)
    for k, want in (
        ("Total Torrents Resumed", 1),
        ("Total Torrents Categorized", n),
        ("Total Share Limits Updated", n),
        ("Total Torrents Tagged", 2 * n),
    ):
        check(totals.get(k) == want, f"qbit_manage log: {k} = {totals.get(k)!r}, expected {want}; totals {totals}")
    print("qbit_manage log: tags, categories, share limits and the resume applied")

    # The server's state.
    def state_ok():
        now = qbt.by_hash()
        bad = []
        for h, (tag, group) in expect.items():
            t = now[h]
            tags = [x.strip() for x in t["tags"].split(",") if x.strip()]
            ratio, minutes = GROUPS[group]
            if tag not in tags:
                bad.append(f"{t['name']}: tags {tags} lack {tag}")
            if t["category"] != CAT:
                bad.append(f"{t['name']}: category {t['category']!r} != {CAT}")
            if abs(t["ratio_limit"] - ratio) > 1e-6:
                bad.append(f"{t['name']}: ratio_limit {t['ratio_limit']} != {ratio}")
            if t["seeding_time_limit"] != minutes:
                bad.append(f"{t['name']}: seeding_time_limit {t['seeding_time_limit']} != {minutes}")
        if now[paused_hash]["state"] in PAUSED_STATES:
            bad.append(f"{paused_name} still {now[paused_hash]['state']}")
        return bad

    # The calls were answered before qbit_manage exited; allow a moment anyway.
    deadline = time.monotonic() + 10
    while (bad := state_ok()) and time.monotonic() < deadline:
        time.sleep(0.5)
    check(not bad, "server state after qbit_manage:\n" + "\n".join(bad))
    cats = qbt.get("torrents/categories").json()
    check(CAT in cats, f"torrents/categories lacks {CAT}: {dump(cats)}")
    check(
        os.path.join(cats[CAT].get("savePath", ""), "") == os.path.join(data_dir, ""),
        f"category {CAT} savePath {cats[CAT].get('savePath')!r} != {data_dir}",
    )
    for h, (tag, group) in expect.items():
        t = qbt.by_hash()[h]
        print(
            f"  {t['name']}: tags={t['tags']!r} category={t['category']!r} "
            f"ratio_limit={t['ratio_limit']} seeding_time_limit={t['seeding_time_limit']} state={t['state']}"
        )


if __name__ == "__main__":
    main_wrapper("qbit_manage_run", run)
