//! Torrents in qBittorrent's shapes: an item of `torrents/info` (and of
//! `sync/maindata`), its filters and sorting, and the per-torrent reads
//! (`properties`, `files`, `trackers`, `webseeds`, `pieceStates`,
//! `pieceHashes`). Key names and value types are qBittorrent 5.1's
//! (`src/webui/api/serialize/serialize_torrent.cpp`,
//! `torrentscontroller.cpp`); the values are ringseed's own (docs/webui.md
//! lists where a seeder's value differs from what qBittorrent would say).

use std::path::PathBuf;

use serde_json::{json, Map, Value};

use super::ext;
use super::form::Params;
use crate::coordinator::view::{TorrentView, View};
use crate::torrent::TorrentState;
use crate::tracker::{TorrentTrackers, TrackersView};
use ringseed_proto::metainfo::{InfoHash, Metainfo};

/// qBittorrent's ETA for a torrent with nothing left to do (100 days, s).
pub(crate) const MAX_ETA: i64 = 8_640_000;
/// Ratios above this show as -1 (qBittorrent's `Torrent::MAX_RATIO`).
const MAX_RATIO: f64 = 9999.0;

/// The qBittorrent state of a torrent: a seeder is never downloading, so
/// only the `UP` states, `missingFiles` and `error` occur. With queueing
/// off nothing is `queuedUP`.
pub(crate) fn state(t: &TorrentView) -> &'static str {
    match t.state {
        TorrentState::Checking => "checkingUP",
        TorrentState::Error => {
            if t.error
                .as_ref()
                .is_some_and(|e| e.errno == Some(libc::ENOENT))
            {
                "missingFiles"
            } else {
                "error"
            }
        }
        TorrentState::Paused => "stoppedUP",
        TorrentState::Seeding if t.upload_rate > 0 => "uploading",
        TorrentState::Seeding => "stalledUP",
    }
}

/// qBittorrent's real ratio: uploaded over the larger of downloaded and
/// size (a seeder downloaded nothing, so over the size); -1 past 9999.
pub(crate) fn ratio(t: &TorrentView) -> f64 {
    let size = t.meta.lengths.total_length().max(1) as f64;
    let r = t.uploaded_total as f64 / size;
    if r > MAX_RATIO {
        -1.0
    } else {
        r
    }
}

/// Where the content is: the file of a single-file torrent, the root
/// folder of a multi-file one.
pub(crate) fn content_path(t: &TorrentView) -> PathBuf {
    t.save_path.join(&t.meta.name)
}

/// A magnet link: `xt` (v1, and v2 for a hybrid), `dn`, every `tr`.
pub(crate) fn magnet(meta: &Metainfo) -> String {
    let mut m = format!("magnet:?xt=urn:btih:{}", meta.info_hash.to_hex());
    if let Some(v2) = meta.info_hash_v2 {
        m.push_str("&xt=urn:btmh:1220");
        m.push_str(&hex::encode(v2));
    }
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    m.push_str("&dn=");
    m.push_str(&enc(&meta.name));
    for tier in crate::tracker::tiers(meta) {
        for url in tier {
            m.push_str("&tr=");
            m.push_str(&enc(&url));
        }
    }
    m
}

fn tracker_count(t: &TorrentView, tr: Option<&TorrentTrackers>) -> usize {
    match tr {
        Some(tr) => tr.trackers.len(),
        None => crate::tracker::tiers(&t.meta).iter().map(Vec::len).sum(),
    }
}

/// Seconds in a month, for `popularity` (qBittorrent: ratio per month of activity).
const MONTH_SECS: f64 = 30.0 * 86400.0;

/// qBittorrent's `popularity`: the ratio per month of activity; -1 when the
/// ratio shows as -1 (past 9999).
fn popularity(t: &TorrentView) -> f64 {
    let r = ratio(t);
    if r < 0.0 {
        -1.0
    } else {
        r * MONTH_SECS / t.active_secs.max(1) as f64
    }
}

/// One torrent of `torrents/info`: every key qBittorrent 5.1 sends.
pub(crate) fn item(
    view: &View,
    t: &TorrentView,
    tr: Option<&TorrentTrackers>,
) -> Map<String, Value> {
    let meta = &t.meta;
    let total = meta.lengths.total_length();
    let (ratio_limit, seeding_limit, inactive_limit) = ext::share_limits(t);
    let (g_ratio, g_seeding, g_inactive, _) = ext::global_limits(view);
    let effective = |own: f64, global: f64| if own == -2.0 { global } else { own };
    let mins = |secs: i64| if secs < 0 { secs } else { secs / 60 };
    let eff_secs = |own: i64, global: i64| if own == -2 { global } else { own };
    let ratio = ratio(t);
    let (seeds, leechers) = (t.seeds as i64, t.peers.saturating_sub(t.seeds) as i64);
    let swarm = tr.and_then(|tr| tr.swarm);
    let next_announce = tr
        .map(|tr| tr.next_announce_unix.saturating_sub(view.built_unix))
        .unwrap_or(0);
    let v = json!({
        "added_on": ext::added_unix(view, t),
        "amount_left": total.saturating_sub(t.bytes_have),
        "auto_tmm": false,
        "availability": if t.paused { -1.0 } else { 1.0 + seeds as f64 },
        "category": ext::category(t),
        "comment": meta.comment.clone().unwrap_or_default(),
        "completed": t.bytes_have,
        "completion_on": ext::completion_unix(view, t),
        "content_path": content_path(t).display().to_string(),
        "dl_limit": -1,
        "dlspeed": 0,
        "download_path": "",
        "downloaded": 0,
        "downloaded_session": 0,
        "eta": MAX_ETA,
        "f_l_piece_prio": false,
        "force_start": false,
        "has_metadata": true,
        "hash": meta.info_hash.to_hex(),
        "inactive_seeding_time_limit": mins(inactive_limit),
        "infohash_v1": meta.info_hash.to_hex(),
        "infohash_v2": meta.info_hash_v2.map(hex::encode).unwrap_or_default(),
        "last_activity": ext::last_activity_unix(view, t),
        "magnet_uri": magnet(meta),
        "max_inactive_seeding_time": mins(eff_secs(inactive_limit, g_inactive)),
        "max_ratio": effective(ratio_limit, g_ratio),
        "max_seeding_time": mins(eff_secs(seeding_limit, g_seeding)),
        "name": meta.name,
        "num_complete": swarm.map_or(seeds, |s| s.complete),
        "num_incomplete": swarm.map_or(leechers, |s| s.incomplete),
        "num_leechs": leechers,
        "num_seeds": seeds,
        "popularity": popularity(t),
        "priority": 0,
        "private": meta.private,
        "progress": progress(t),
        "ratio": ratio,
        "ratio_limit": ratio_limit,
        "reannounce": next_announce,
        "root_path": if meta.multi_file { content_path(t).display().to_string() } else { String::new() },
        "save_path": t.save_path.display().to_string(),
        "seeding_time": t.seeding_secs,
        "seeding_time_limit": mins(seeding_limit),
        // We are a complete copy: seen complete since it was complete (a
        // time that does not tick, so idle deltas stay small).
        "seen_complete": ext::completion_unix(view, t),
        "seq_dl": false,
        "size": total,
        "state": state(t),
        "super_seeding": false,
        "tags": ext::tags(t).join(", "),
        "time_active": t.active_secs,
        "total_size": total,
        "tracker": tr.and_then(|tr| tr.current.clone()).unwrap_or_default(),
        "trackers_count": tracker_count(t, tr),
        "up_limit": t.upload_limit,
        "uploaded": t.uploaded_total,
        "uploaded_session": t.uploaded_session,
        "upspeed": t.upload_rate,
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("an object literal"),
    }
}

/// Verified share of the torrent, 0–1.
pub(crate) fn progress(t: &TorrentView) -> f64 {
    let total = t.meta.lengths.total_length();
    if total == 0 {
        1.0
    } else {
        t.bytes_have as f64 / total as f64
    }
}

/// Whether `t` passes qBittorrent's `filter` (5.x names and their 4.x
/// aliases); an unknown filter passes everything, as in qBittorrent.
fn passes(filter: &str, t: &TorrentView) -> bool {
    let st = state(t);
    let active = t.upload_rate > 0 || t.state == TorrentState::Checking;
    match filter {
        "downloading" | "stalled_downloading" => false,
        "seeding" => matches!(st, "uploading" | "stalledUP"),
        "completed" => t.pieces_have == t.pieces,
        "stopped" | "paused" => t.paused,
        "running" | "resumed" => !t.paused,
        "active" => active,
        "inactive" => !active,
        "stalled" | "stalled_uploading" => st == "stalledUP",
        "checking" => st == "checkingUP",
        "moving" => false,
        "errored" => matches!(st, "error" | "missingFiles"),
        _ => true,
    }
}

/// The torrents `hashes` names (`a|b|c`, or `all`); unknown hashes are
/// skipped, as qBittorrent does.
pub(crate) fn select(view: &View, hashes: Option<&str>) -> Vec<InfoHash> {
    match hashes.map(str::trim) {
        None | Some("") => Vec::new(),
        Some(h) if h.eq_ignore_ascii_case("all") => view.torrents.keys().copied().collect(),
        Some(h) => h
            .split('|')
            .filter_map(|x| InfoHash::from_hex(x.trim()))
            .filter(|ih| view.torrents.contains_key(ih))
            .collect(),
    }
}

/// `torrents/info`: the torrents passing `filter`, `category`, `tag` and
/// `hashes`, sorted by the `sort` key (`reverse`), then `offset` (negative:
/// from the end) and `limit`; `None` when `sort` names no key of a torrent
/// (qBittorrent answers 400).
pub(crate) fn info(view: &View, trackers: &TrackersView, p: &Params) -> Option<Vec<Value>> {
    let filter = p.get("filter").unwrap_or("all");
    let category = p.get("category");
    let tag = p.get("tag");
    let hashes: Option<std::collections::HashSet<InfoHash>> = p
        .get("hashes")
        .map(|h| select(view, Some(h)).into_iter().collect());
    let mut items: Vec<Map<String, Value>> = view
        .torrents
        .values()
        .filter(|t| passes(filter, t))
        .filter(|t| category.is_none_or(|c| ext::category(t) == c))
        .filter(|t| {
            tag.is_none_or(|g| {
                let tags = ext::tags(t);
                if g.is_empty() {
                    tags.is_empty()
                } else {
                    tags.iter().any(|x| x == g)
                }
            })
        })
        .filter(|t| hashes.as_ref().is_none_or(|h| h.contains(&t.info_hash)))
        .map(|t| item(view, t, trackers.torrents.get(&t.info_hash).map(|a| &**a)))
        .collect();
    if let Some(key) = p.get("sort") {
        if !items.is_empty() && !items[0].contains_key(key) {
            return None;
        }
        items.sort_by(|a, b| compare(a.get(key), b.get(key)));
    }
    if p.flag("reverse") == Some(true) {
        items.reverse();
    }
    let n = items.len() as i64;
    let mut offset = p.int("offset").unwrap_or(0);
    if offset < 0 {
        offset = (n + offset).max(0);
    }
    let limit = p.int("limit").filter(|l| *l > 0).unwrap_or(n);
    Some(
        items
            .into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(Value::Object)
            .collect(),
    )
}

/// Orders two JSON values of one key: numbers by value, strings by text,
/// booleans false first; a missing key first.
fn compare(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

/// `torrents/properties`.
pub(crate) fn properties(view: &View, t: &TorrentView, tr: Option<&TorrentTrackers>) -> Value {
    let meta = &t.meta;
    let total = meta.lengths.total_length();
    let (seeds, leechers) = (t.seeds as i64, t.peers.saturating_sub(t.seeds) as i64);
    let swarm = tr.and_then(|tr| tr.swarm);
    let added = ext::added_unix(view, t) as i64;
    let completed = ext::completion_unix(view, t) as i64;
    json!({
        "addition_date": added,
        "comment": meta.comment.clone().unwrap_or_default(),
        "completion_date": if completed == 0 { -1 } else { completed },
        "created_by": meta.created_by.clone().unwrap_or_default(),
        "creation_date": meta.creation_date.unwrap_or(-1),
        "dl_limit": -1,
        "dl_speed": 0,
        "dl_speed_avg": 0,
        "download_path": "",
        "eta": MAX_ETA,
        "hash": meta.info_hash.to_hex(),
        "infohash_v1": meta.info_hash.to_hex(),
        "infohash_v2": meta.info_hash_v2.map(hex::encode).unwrap_or_default(),
        "is_private": meta.private,
        "last_seen": if t.pieces_have == t.pieces { view.built_unix as i64 } else { -1 },
        "name": meta.name,
        "nb_connections": t.peers,
        "nb_connections_limit": t.max_connections,
        "peers": leechers,
        "peers_total": swarm.map_or(leechers, |s| s.incomplete),
        "piece_size": meta.lengths.piece_length(),
        "pieces_have": t.pieces_have,
        "pieces_num": t.pieces,
        "popularity": popularity(t),
        "reannounce": tr.map(|tr| tr.next_announce_unix.saturating_sub(view.built_unix)).unwrap_or(0),
        "save_path": t.save_path.display().to_string(),
        "seeding_time": t.seeding_secs,
        "seeds": seeds,
        "seeds_total": swarm.map_or(seeds, |s| s.complete),
        "share_ratio": ratio(t),
        "time_elapsed": t.active_secs,
        "total_downloaded": 0,
        "total_downloaded_session": 0,
        "total_size": total,
        "total_uploaded": t.uploaded_total,
        "total_uploaded_session": t.uploaded_session,
        "total_wasted": 0,
        "up_limit": t.upload_limit,
        "up_speed": t.upload_rate,
        "up_speed_avg": t.uploaded_session / t.active_secs.max(1),
    })
}

/// `torrents/files`: pad files hidden (qBittorrent does); `indexes`
/// (`1|3`) picks some.
pub(crate) fn files(t: &TorrentView, indexes: Option<&str>) -> Vec<Value> {
    let meta = &t.meta;
    let pl = meta.lengths.piece_length() as u64;
    let complete = t.pieces_have == t.pieces;
    let wanted: Option<Vec<usize>> =
        indexes.map(|s| s.split('|').filter_map(|x| x.trim().parse().ok()).collect());
    let mut out = Vec::new();
    for (i, f) in meta.files.iter().filter(|f| !f.pad).enumerate() {
        if wanted.as_ref().is_some_and(|w| !w.contains(&i)) {
            continue;
        }
        let first = f.offset / pl;
        let last = if f.length == 0 {
            first
        } else {
            (f.offset + f.length - 1) / pl
        };
        let mut o = json!({
            "availability": if t.paused { -1.0 } else { 1.0 + t.seeds as f64 },
            "index": i,
            "is_seed": complete,
            "name": f.path.join("/"),
            "piece_range": [first, last],
            "priority": 1,
            "progress": if complete || f.length == 0 { 1.0 } else { progress(t) },
            "size": f.length,
        });
        if i != 0 {
            // qBittorrent sends `is_seed` on the first file only.
            o.as_object_mut().expect("object").remove("is_seed");
        }
        out.push(o);
    }
    out
}

/// `torrents/trackers`: the DHT, PeX and LSD rows first (disabled: status
/// 0, as qBittorrent shows them when off), then one row per tracker.
/// Status: 0 disabled, 1 not contacted, 2 working, 3 updating, 4 not working.
pub(crate) fn trackers(t: &TorrentView, tr: Option<&TorrentTrackers>) -> Vec<Value> {
    let private_msg = if t.meta.private {
        "This torrent is private"
    } else {
        ""
    };
    let mut out: Vec<Value> = ["** [DHT] **", "** [PeX] **", "** [LSD] **"]
        .iter()
        .map(|url| {
            json!({"msg": private_msg, "num_downloaded": 0, "num_leeches": 0, "num_peers": 0,
                   "num_seeds": 0, "status": 0, "tier": "", "url": url})
        })
        .collect();
    match tr {
        Some(tr) => {
            for s in &tr.trackers {
                let status = if s.updating {
                    3
                } else if s.fails > 0 {
                    4
                } else if s.verified {
                    2
                } else {
                    1
                };
                let msg = if s.last_error.is_empty() {
                    &s.message
                } else {
                    &s.last_error
                };
                out.push(json!({
                    "msg": msg,
                    "num_downloaded": s.scrape_downloaded,
                    "num_leeches": s.scrape_incomplete,
                    "num_peers": if s.scrape_incomplete < 0 { -1 } else { s.scrape_incomplete + s.scrape_complete.max(0) },
                    "num_seeds": s.scrape_complete,
                    "status": status,
                    "tier": s.tier,
                    "url": s.url,
                }));
            }
        }
        None => {
            for (tier, urls) in crate::tracker::tiers(&t.meta).into_iter().enumerate() {
                for url in urls {
                    out.push(json!({"msg": "", "num_downloaded": -1, "num_leeches": -1,
                        "num_peers": -1, "num_seeds": -1, "status": 1, "tier": tier, "url": url}));
                }
            }
        }
    }
    out
}

/// `torrents/pieceStates`: 2 (have) for every verified piece. The view
/// holds counts, not the bitfield: a torrent not complete shows its pieces
/// as 0 (not had) while it checks, and as had once complete.
pub(crate) fn piece_states(t: &TorrentView) -> Vec<u8> {
    let have = if t.pieces_have == t.pieces { 2 } else { 0 };
    vec![have; t.pieces as usize]
}

/// `torrents/pieceHashes`: the SHA-1 of each piece, hex.
pub(crate) fn piece_hashes(t: &TorrentView) -> Vec<String> {
    t.meta.piece_hashes.iter().map(hex::encode).collect()
}

/// `torrents/webseeds`: the metainfo's BEP 19 `url-list` (a string or a
/// list), read from the metainfo bytes the session keeps.
pub(crate) fn webseeds(raw: &[u8]) -> Vec<Value> {
    use ringseed_proto::bencode::lenient::{decode, Limits};
    let limits = Limits {
        max_depth: 64,
        max_values: 10_000_000,
    };
    let Ok(top) = decode(raw, limits) else {
        return Vec::new();
    };
    let urls: Vec<&[u8]> = match top.get(b"url-list") {
        Some(v) => match (v.as_str(), v.as_list()) {
            (Some(s), _) => vec![s],
            (None, Some(l)) => l.iter().filter_map(|x| x.as_str()).collect(),
            _ => Vec::new(),
        },
        None => Vec::new(),
    };
    urls.into_iter()
        .filter_map(|u| std::str::from_utf8(u).ok())
        .filter(|u| !u.is_empty())
        .map(|u| json!({ "url": u }))
        .collect()
}
