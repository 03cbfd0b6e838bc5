"""prometheus-qbittorrent-exporter (PyPI) and a real Prometheus against a
qBittorrent WebUI API v2 server.

    exporter_prometheus.py URL USER PASS

The server must hold at least one torrent (complete, seeding).

Checks:
  1. The exporter (`qbittorrent-exporter`, env QBITTORRENT_HOST/PORT/USER/PASS,
     EXPORTER_PORT, EXPORT_METRICS_BY_TORRENT=True, EXPORT_METRICS_BY_TAG=True)
     serves /metrics where: qbittorrent_up is 1 with the server's version
     label; qbittorrent_torrent_size has one series per torrent of the server
     (torrents/info), labelled with its name and category, valued its size;
     qbittorrent_torrents_count summed over status/category equals the
     number of torrents, and each torrent's state is counted; the server-wide
     counters (qbittorrent_up_info_data, qbittorrent_dl_info_data,
     qbittorrent_total_peer_connections) are there. The exporter (1.7.0) has
     no per-torrent speed or hash series; the upload speed is checked as the
     rate of its upload counter (4).
  2. The exporter's log has no error (it logs "Couldn't ..." when a call fails).
  3. A real Prometheus (Debian's `prometheus`, 1 s scrape interval, temp
     TSDB) scrapes the exporter: `up{job="qbittorrent"}` is 1 and
     `qbittorrent_torrent_size` returns one series per torrent, names equal
     to the server's.
  4. With a real libtorrent leecher downloading one torrent from the server
     (rate-limited), `rate(qbittorrent_up_info_data[5s])` through Prometheus
     becomes > 0, i.e. the upload series moves.
"""

import os
import shutil
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tools_common import (  # noqa: E402
    workdir,
    Qbt,
    check,
    TestFailure,
    check_alive,
    fail,
    log_tail,
    free_port,
    http_json,
    main_wrapper,
    peer_port,
    spawn,
    start_leecher,
    torrent_file,
    wait_for,
)

import requests  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402


def exporter_bin():
    cand = os.path.join(os.path.dirname(sys.executable), "qbittorrent-exporter")
    if os.path.exists(cand):
        return cand
    found = shutil.which("qbittorrent-exporter")
    check(found, "qbittorrent-exporter not installed (run tests/webui/setup-tools.sh)")
    return found


def scrape(port):
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    return samples


def run():
    url, user, password = sys.argv[1:4]
    qbt = Qbt(url, user, password)
    version = qbt.get("app/version").text
    torrents = qbt.torrents()
    check(torrents, "the server has no torrents")
    names = sorted(t["name"] for t in torrents)
    print(f"server {version}: {len(torrents)} torrents {names}")
    work = workdir("exporter-")

    u = urllib.parse.urlsplit(url)
    eport = free_port()
    env = dict(
        os.environ,
        QBITTORRENT_HOST=u.hostname,
        QBITTORRENT_PORT=str(u.port or (443 if u.scheme == "https" else 80)),
        QBITTORRENT_SSL="True" if u.scheme == "https" else "False",
        QBITTORRENT_URL_BASE=u.path.strip("/"),
        QBITTORRENT_USER=user,
        QBITTORRENT_PASS=password,
        EXPORTER_ADDRESS="127.0.0.1",
        EXPORTER_PORT=str(eport),
        EXPORT_METRICS_BY_TORRENT="True",
        EXPORT_METRICS_BY_TAG="True",
        EXPORTER_LOG_LEVEL="DEBUG",
    )
    exporter = spawn([exporter_bin()], os.path.join(work, "exporter.log"), env=env)

    def mismatches():
        """What in the exporter's /metrics differs from torrents/info (read
        right after the scrape): [] when it all matches."""
        check_alive(exporter, "qbittorrent-exporter")
        m = scrape(eport)
        torrents = qbt.torrents()
        bad = []
        up = m.get("qbittorrent_up", [])
        if not (len(up) == 1 and up[0][1] == 1 and up[0][0].get("version") == version):
            bad.append(f"qbittorrent_up {up}: expected 1 with version={version}")
        sizes = m.get("qbittorrent_torrent_size", [])
        by_name = {}
        for labels, v in sizes:
            by_name.setdefault(labels["name"], []).append((labels, v))
        if sorted(by_name) != names or len(sizes) != len(torrents):
            bad.append(f"qbittorrent_torrent_size series {sorted(by_name)} (n={len(sizes)}) != torrents {names}")
        for t in torrents:
            for labels, v in by_name.get(t["name"], []):
                if v != t["size"] or labels["category"] != t["category"]:
                    bad.append(f"{t['name']}: qbittorrent_torrent_size {v} {labels} != size {t['size']} category {t['category']!r}")
        counts = m.get("qbittorrent_torrents_count", [])
        if sum(v for _, v in counts) != len(torrents):
            bad.append(f"qbittorrent_torrents_count sums to {sum(v for _, v in counts)}, not {len(torrents)}")
        for t in torrents:
            cat = t["category"] or "Uncategorized"
            if not any(v >= 1 for lab, v in counts if lab["status"] == t["state"] and lab["category"] == cat):
                bad.append(f"{t['name']}: state {t['state']} category {cat!r} not counted in qbittorrent_torrents_count")
        untagged = sum(v for lab, v in m.get("qbittorrent_tagged_torrents_count", []) if lab["tag"] == "Untagged")
        if untagged != sum(1 for t in torrents if not t["tags"].strip()):
            bad.append(f"qbittorrent_tagged_torrents_count{{tag=Untagged}} {untagged}")
        for name in ("qbittorrent_up_info_data_total", "qbittorrent_dl_info_data_total", "qbittorrent_total_peer_connections"):
            if name not in m:
                bad.append(f"no {name}")
        mismatches.last = bad
        return None if bad else m

    try:
        m = wait_for("the exporter's /metrics to match torrents/info", mismatches, 30)
    except TestFailure:
        fail("exporter /metrics vs torrents/info:\n" + "\n".join(getattr(mismatches, "last", ["no scrape"])) + "\nexporter log:\n" + log_tail(exporter.log_path))
    sizes = m["qbittorrent_torrent_size"]
    counts = m["qbittorrent_torrents_count"]
    print(f"exporter /metrics: {len(sizes)} torrent series, counts {sum(v for _, v in counts)}")

    # A real Prometheus scraping the exporter every second.
    check(shutil.which("prometheus"), "prometheus not installed (apt-get install prometheus)")
    pport = free_port()
    cfg = os.path.join(work, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: qbittorrent\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{eport}']\n"
        )
    prom = spawn(
        [
            "prometheus",
            f"--config.file={cfg}",
            f"--storage.tsdb.path={os.path.join(work, 'tsdb')}",
            f"--web.listen-address=127.0.0.1:{pport}",
        ],
        os.path.join(work, "prometheus.log"),
    )
    purl = f"http://127.0.0.1:{pport}"

    def query(q):
        check_alive(prom, "prometheus")
        r = http_json(f"{purl}/api/v1/query", params={"query": q})
        check(r.get("status") == "success", f"query {q}: {r}")
        return r["data"]["result"]

    wait_for("prometheus ready", lambda: requests.get(f"{purl}/-/ready", timeout=5).ok, 30)
    wait_for("up{job=qbittorrent} == 1", lambda: [r for r in query('up{job="qbittorrent"}') if r["value"][1] == "1"], 30)
    series = wait_for(
        "qbittorrent_torrent_size in prometheus",
        lambda: query("qbittorrent_torrent_size") if len(query("qbittorrent_torrent_size")) >= len(torrents) else None,
        30,
    )
    got = sorted(s["metric"]["name"] for s in series)
    check(got == names, f"prometheus qbittorrent_torrent_size series names {got} != server torrents {names}")
    print(f"prometheus: qbittorrent_torrent_size has {len(series)} series, one per torrent")

    # Upload: a real leecher downloads the biggest torrent; the upload counter's rate goes > 0.
    running = [t for t in torrents if not t["state"].startswith(("paused", "stopped", "error", "missing"))]
    check(running, f"no running torrent to leech: {[(t['name'], t['state']) for t in torrents]}")
    big = max(running, key=lambda t: t["size"])
    before = wait_for("qbittorrent_up_info_data_total in prometheus", lambda: query("qbittorrent_up_info_data_total"), 30)
    base = float(before[0]["value"][1])
    tfile = torrent_file(qbt, big["hash"], work)
    port = peer_port(qbt)
    save = os.path.join(work, "leech")
    os.makedirs(save)
    leecher = start_leecher(tfile, save, port, os.path.join(work, "leecher.log"), rate=128 * 1024)

    def uploaded():
        check_alive(leecher, "libtorrent leecher")
        res = query("qbittorrent_up_info_data_total")
        return res and float(res[0]["value"][1]) > base + 100_000 and res

    res = wait_for(
        f"qbittorrent_up_info_data_total in prometheus to grow by 100 kB from {base:.0f} while a leecher downloads {big['name']}",
        uploaded,
        90,
        0.5,
    )
    rate = query("rate(qbittorrent_up_info_data_total[10s])")
    print(
        f"prometheus: qbittorrent_up_info_data_total {base:.0f} -> {float(res[0]['value'][1]):.0f} while the leecher downloads"
        f" (rate[10s] {float(rate[0]['value'][1]) if rate else 0:.0f} B/s)"
    )
    err = [ln for ln in open(exporter.log_path, errors="replace") if '"ERROR"' in ln or "Couldn't" in ln]
    check(not err, "exporter log has errors:\n" + "".join(err[:10]))


if __name__ == "__main__":
    main_wrapper("exporter_prometheus", run)
