#!/usr/bin/env python3
"""Writes ringseed's Grafana dashboards (dashboards/*.json) from one place,
so every dashboard shares the datasource and torrent variables and the
queries stay in step with the metric names. Run: python3 dashboards/generate.py"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
T = 'info_hash=~"$torrent"'

DASHBOARDS = {
    "ringseed-overview": ("ringseed: overview", [
        ("Upload rate (payload)", "timeseries", "Bps", 'sum(rate(ringseed_torrent_uploaded_bytes_total{%s}[$__rate_interval]))' % T),
        ("Connected peers", "stat", "short", "sum(ringseed_peers)"),
        ("Torrents", "stat", "short", "sum(ringseed_torrents)"),
        ("Disconnects by reason", "timeseries", "ops", "sum by (reason) (rate(ringseed_disconnects_total[$__rate_interval]))"),
        ("Hash-check progress (verified / total pieces)", "bargauge", "percentunit",
         'ringseed_torrent_pieces_verified{%s} / ringseed_torrent_pieces{%s}' % (T, T)),
        ("Hash-check read rate", "timeseries", "Bps", "rate(ringseed_hash_check_bytes_total[$__rate_interval])"),
        ("Block serve time p99", "timeseries", "s",
         "histogram_quantile(0.99, sum by (le) (rate(ringseed_block_serve_duration_seconds_bucket[$__rate_interval])))"),
    ]),
    "ringseed-torrent": ("ringseed: per torrent", [
        ("Upload rate by torrent", "timeseries", "Bps", 'rate(ringseed_torrent_uploaded_bytes_total{%s}[$__rate_interval])' % T),
        ("Peers connected", "timeseries", "short", 'ringseed_torrent_peers_connected{%s}' % T),
        ("Peers interested", "timeseries", "short", 'ringseed_torrent_peers_interested{%s}' % T),
        ("Peers unchoked", "timeseries", "short", 'ringseed_torrent_peers_unchoked{%s}' % T),
        ("Torrent state", "table", "short", 'ringseed_torrent_info{%s}' % T),
    ]),
    "ringseed-peers": ("ringseed: peers", [
        ("Top 10 peers by upload rate", "timeseries", "Bps", 'topk(10, ringseed_peer_upload_rate_bytes_per_second{%s})' % T),
        ("Clients", "piechart", "short", 'count by (client) (ringseed_peer_info{%s})' % T),
        ("RTT (kernel TCP_INFO)", "timeseries", "s", 'ringseed_peer_rtt_seconds{%s}' % T),
        ("Request queue lengths", "timeseries", "short", 'ringseed_peer_request_queue_length{%s}' % T),
        ("Peers without per-peer series", "stat", "short", "ringseed_peers_not_shown"),
        ("Misbehaviour score", "timeseries", "short", 'ringseed_peer_misbehaviour_score{%s}' % T),
    ]),
    "ringseed-shards": ("ringseed: shards", [
        ("Connections per shard", "timeseries", "short", "ringseed_shard_connections"),
        ("Bytes sent per shard", "timeseries", "Bps", "rate(ringseed_shard_sent_bytes_total[$__rate_interval])"),
        ("Registered buffers in use", "timeseries", "percentunit",
         "ringseed_shard_registered_buffers_in_use / clamp_min(ringseed_shard_registered_buffers, 1)"),
        ("io_uring submissions per shard", "timeseries", "ops", "rate(ringseed_shard_uring_submissions_total[$__rate_interval])"),
        ("Blocks spliced (never in user memory) / blocks sent", "timeseries", "percentunit",
         "rate(ringseed_shard_spliced_blocks_total[$__rate_interval]) / clamp_min(rate(ringseed_shard_blocks_sent_total[$__rate_interval]), 1)"),
        ("Splice pipes open per shard", "timeseries", "short", "ringseed_shard_splice_pipes"),
        ("Blocks by source (read cache, disk, page cache)", "timeseries", "ops",
         "sum by (source) (rate(ringseed_shard_read_blocks_total[$__rate_interval]))"),
        ("Read cache size", "timeseries", "bytes", "sum(ringseed_shard_read_cache_allocated_bytes)"),
        ("Choking round duration p99", "timeseries", "s",
         "histogram_quantile(0.99, sum by (le) (rate(ringseed_choke_round_duration_seconds_bucket[$__rate_interval])))"),
    ]),
}


def panel(i, title, kind, unit, expr):
    return {
        "id": i + 1,
        "type": kind,
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": [{"refId": "A", "expr": expr, "datasource": {"type": "prometheus", "uid": "${datasource}"}}],
    }


def dashboard(uid, title, panels):
    return {
        "uid": uid,
        "title": title,
        "tags": ["ringseed", "bittorrent"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "time": {"from": "now-15m", "to": "now"},
        "refresh": "10s",
        "templating": {"list": [
            {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0},
            {"name": "torrent", "label": "Torrent", "type": "query",
             "datasource": {"type": "prometheus", "uid": "${datasource}"},
             "query": {"query": "label_values(ringseed_torrent_info, info_hash)", "refId": "torrent"},
             "definition": "label_values(ringseed_torrent_info, info_hash)",
             "includeAll": True, "multi": True, "allValue": ".+", "refresh": 2, "current": {}, "hide": 0},
        ]},
        "panels": [panel(i, *p) for i, p in enumerate(panels)],
    }


if __name__ == "__main__":
    for uid, (title, panels) in DASHBOARDS.items():
        with open(os.path.join(HERE, uid + ".json"), "w") as f:
            json.dump(dashboard(uid, title, panels), f, indent=2)
            f.write("\n")
