//! The torrent answers of porla's methods (registered in porla's `src/main.cpp`, `src/methods/`): a torrent of
//! `torrents.list` and that list's sorting and paging, its files, its
//! properties and its trackers, in porla's shapes (libtorrent's names and
//! values; ringseed's additions noted where they are).

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::params::ListParams;
use super::{MethodError, SESSION};
use crate::coordinator::view::{TorrentView, View};
use crate::torrent::TorrentState;
use crate::tracker::{TorrentTrackers, TrackerStatus, TrackersView};
use ringseed_proto::metainfo::Metainfo;

/// `[v1 hex, v2 hex or null]`, porla's output form.
pub(super) fn ih_json(meta: &Metainfo) -> Value {
    json!([meta.info_hash.to_hex(), meta.info_hash_v2.map(hex::encode)])
}

/// libtorrent's `torrent_status::state_t` values porla reports.
fn state_code(t: &TorrentView) -> i64 {
    match t.state {
        TorrentState::Checking => 1, // checking_files
        _ => 5,                      // seeding (paused is a flag, as in libtorrent)
    }
}

pub(crate) fn progress(have: u32, total: u32) -> f64 {
    // porla emits a float widened to double.
    (if total == 0 {
        0.0
    } else {
        have as f32 / total as f32
    }) as f64
}

/// porla's `torrents.trackers.list` (registered in porla's `src/main.cpp`, `src/methods/`): one object per
/// tracker with libtorrent's `announce_entry` fields and one endpoint (our
/// listen socket) whose `info_hashes` holds libtorrent's two slots, v1 and
/// v2; ringseed announces the v1 hash, so the v2 slot keeps its defaults.
/// Times (`next_announce`, `min_announce`) are Unix seconds, 0 when none.
/// `source` 1 is libtorrent's `source_torrent`; `fail_limit` 0 = no limit.
pub(crate) fn trackers_list(t: &TorrentView, tr: Option<&TorrentTrackers>, port: u16) -> Value {
    let unknown = json!({
        "complete_sent": false, "fails": 0, "last_error": "", "message": "",
        "min_announce": 0, "next_announce": 0, "scrape_complete": -1,
        "scrape_downloaded": -1, "scrape_incomplete": -1, "start_sent": false,
        "updating": false,
    });
    let mut out = Vec::new();
    let status: Vec<TrackerStatus> = match tr {
        Some(tr) => tr.trackers.clone(),
        // Not announcing (paused, checking, trackers off): the metainfo's list.
        None => crate::tracker::tiers(&t.meta)
            .into_iter()
            .enumerate()
            .flat_map(|(i, tier)| {
                tier.into_iter().map(move |url| TrackerStatus {
                    url,
                    tier: i as u32,
                    scrape_complete: -1,
                    scrape_incomplete: -1,
                    scrape_downloaded: -1,
                    ..Default::default()
                })
            })
            .collect(),
    };
    for s in status {
        let v1 = json!({
            "complete_sent": false,
            "fails": s.fails,
            "last_error": s.last_error,
            "message": s.message,
            "min_announce": s.min_announce_unix,
            "next_announce": if tr.is_some() { s.next_announce_unix } else { 0 },
            "scrape_complete": s.scrape_complete,
            "scrape_downloaded": s.scrape_downloaded,
            "scrape_incomplete": s.scrape_incomplete,
            "start_sent": s.start_sent,
            "updating": s.updating,
        });
        out.push(json!({
            "endpoints": [{
                "enabled": tr.is_some(),
                "info_hashes": [v1, unknown.clone()],
                "local_endpoint": ["0.0.0.0", port],
            }],
            "fail_limit": 0,
            "source": 1,
            "tier": s.tier,
            "trackerid": s.tracker_id.unwrap_or_default(),
            "url": s.url,
            "verified": s.verified,
        }));
    }
    json!({ "trackers": out })
}

fn torrent_json(t: &TorrentView, tr: Option<&TorrentTrackers>) -> Value {
    let size = t.meta.lengths.total_length();
    let mut flags = Vec::new();
    if t.paused {
        flags.push("paused");
    }
    let swarm = tr.and_then(|x| x.swarm);
    json!({
        // libtorrent torrent_status's tracker fields (ringseed's additions
        // to porla's list): the tracker that answered last, whether an
        // announce is in flight, seconds to the next one, and the swarm as
        // the tracker counts it (-1 unknown).
        "current_tracker": tr.and_then(|x| x.current.clone()).unwrap_or_default(),
        "announcing_to_trackers": tr.is_some_and(|x| x.updating),
        "next_announce": tr.map_or(-1, |x| x.next_announce_unix.saturating_sub(crate::messages::unix_now()) as i64),
        "num_complete": swarm.map_or(-1, |s| s.complete),
        "num_incomplete": swarm.map_or(-1, |s| s.incomplete),
        "num_downloaded": swarm.map_or(-1, |s| s.downloaded),
        "tracker_error": tr.and_then(|x| x.trackers.iter().find(|s| !s.last_error.is_empty()).map(|s| s.last_error.clone())),
        "active_duration": t.active_secs,
        "all_time_download": 0,
        "all_time_upload": t.uploaded_total,
        // porla's category and tags (qBittorrent's, set through the
        // control API): null / [] when none.
        "category": (!t.category.is_empty()).then(|| t.category.to_string()),
        "download_rate": 0,
        "error": t.error.as_ref().map(|e| &e.message),
        "eta": -1,
        "finished_duration": t.seeding_secs,
        "flags": flags,
        "info_hash": ih_json(&t.meta),
        "last_download": -1,
        "last_upload": last_upload(t),
        "list_peers": t.peers,
        "list_seeds": t.seeds,
        "metadata": null,
        "moving_storage": false,
        "name": t.meta.name,
        "num_peers": t.peers,
        "num_seeds": t.seeds,
        "progress": progress(t.pieces_have, t.pieces),
        "queue_position": t.queue_position,
        "ratio": if size == 0 { 0.0 } else { t.uploaded_total as f64 / size as f64 },
        "save_path": t.save_path.display().to_string(),
        "seeding_duration": t.seeding_secs,
        "session": SESSION,
        "size": size,
        "state": state_code(t),
        "tags": &*t.tags,
        "total": size,
        "total_done": t.bytes_have,
        "upload_rate": t.wire_upload_rate,
    })
}

/// libtorrent's `last_upload`: seconds since payload was last uploaded,
/// -1 when never (this run).
fn last_upload(t: &TorrentView) -> i64 {
    if t.upload_rate > 0 {
        0
    } else if t.last_activity_unix == 0 {
        -1
    } else {
        crate::messages::unix_now().saturating_sub(t.last_activity_unix) as i64
    }
}

/// A sortable value of a `torrents.list` field.
#[derive(PartialEq, PartialOrd)]
enum SortVal {
    Num(f64),
    Text(String),
}

/// The value `torrents.list` shows for `field`, for sorting without
/// building every row's JSON (only the page is built). `None`: not a
/// sortable field.
fn sort_val(t: &TorrentView, field: &str) -> Option<SortVal> {
    use SortVal::{Num, Text};
    let size = t.meta.lengths.total_length() as f64;
    Some(match field {
        "active_duration" => Num(t.active_secs as f64),
        "all_time_download" | "download_rate" => Num(0.0),
        "all_time_upload" => Num(t.uploaded_total as f64),
        "eta" | "last_download" => Num(-1.0),
        "finished_duration" | "seeding_duration" => Num(t.seeding_secs as f64),
        "last_upload" => Num(last_upload(t) as f64),
        "list_peers" | "num_peers" => Num(t.peers as f64),
        "list_seeds" | "num_seeds" => Num(t.seeds as f64),
        "name" => Text(t.meta.name.clone()),
        "progress" => Num(progress(t.pieces_have, t.pieces)),
        "queue_position" => Num(t.queue_position as f64),
        "ratio" => Num(if size == 0.0 {
            0.0
        } else {
            t.uploaded_total as f64 / size
        }),
        "save_path" => Text(t.save_path.display().to_string()),
        "size" | "total" => Num(size),
        "state" => Num(state_code(t) as f64),
        "total_done" => Num(t.bytes_have as f64),
        "upload_rate" => Num(t.wire_upload_rate as f64),
        "info_hash" => Text(t.info_hash.to_hex()),
        "category" => Text(t.category.to_string()),
        _ => return None,
    })
}

/// `torrents.list`: the page of torrents `p` asks for, sorted (ties by
/// queue position), with porla's totals.
///
/// Errors: an unknown `order_by` field (-1); a page past the end (-2).
/// A torrent's answer to a query's `is:STATE` (a seeder never downloads).
fn is_state(t: &TorrentView, state: &str) -> bool {
    match state {
        "seeding" => t.state == TorrentState::Seeding,
        "paused" => t.paused,
        "checking" => t.state == TorrentState::Checking,
        "finished" | "complete" => t.pieces_have == t.pieces,
        "error" => t.state == TorrentState::Error,
        _ => false,
    }
}

pub(crate) fn list(
    view: &View,
    trackers: &TrackersView,
    p: &ListParams,
) -> Result<Value, MethodError> {
    let (page, page_size) = (p.page, p.page_size);
    let mut rows: Vec<(SortVal, &Arc<TorrentView>)> = Vec::with_capacity(view.torrents.len());
    for t in view.torrents.values() {
        if p.save_path
            .as_ref()
            .is_some_and(|sp| t.save_path.display().to_string() != *sp)
            || p.category.as_ref().is_some_and(|c| *t.category != **c)
            || !p.tags.iter().all(|g| t.tags.contains(g))
            || p.query
                .as_ref()
                .is_some_and(|q| !q.eval(&|s| is_state(t, s)))
        {
            continue;
        }
        let key = sort_val(t, &p.order_by)
            .ok_or_else(|| MethodError::rpc(-1, "Invalid field in 'order_by'"))?;
        rows.push((key, t));
    }
    if sort_val_field_ok(&p.order_by).is_none() {
        return Err(MethodError::rpc(-1, "Invalid field in 'order_by'"));
    }
    rows.sort_by(|a, b| {
        let o =
            a.0.partial_cmp(&b.0)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.1.queue_position.cmp(&b.1.queue_position));
        if p.order_by_dir == "desc" {
            o.reverse()
        } else {
            o
        }
    });
    let total = rows.len();
    if page > 0 && page * page_size >= total {
        return Err(MethodError::rpc(-2, "Invalid page - too large."));
    }
    let torrents: Vec<Value> = rows
        .iter()
        .skip(page * page_size)
        .take(page_size)
        .map(|(_, t)| torrent_json(t, trackers.torrents.get(&t.info_hash).map(|x| &**x)))
        .collect();
    Ok(json!({
        "order_by": p.order_by,
        "order_by_dir": p.order_by_dir,
        "page": page,
        "page_size": page_size,
        "torrents": torrents,
        "torrents_total": total,
        "torrents_total_unfiltered": view.torrents.len(),
    }))
}

/// `Some` when `field` is a sortable `torrents.list` field (checked even
/// when there are no torrents).
fn sort_val_field_ok(field: &str) -> Option<()> {
    const FIELDS: &[&str] = &[
        "active_duration",
        "all_time_download",
        "download_rate",
        "all_time_upload",
        "eta",
        "last_download",
        "finished_duration",
        "seeding_duration",
        "last_upload",
        "list_peers",
        "num_peers",
        "list_seeds",
        "num_seeds",
        "name",
        "progress",
        "queue_position",
        "ratio",
        "save_path",
        "size",
        "total",
        "state",
        "total_done",
        "upload_rate",
        "info_hash",
        "category",
    ];
    FIELDS.contains(&field).then_some(())
}

pub(crate) fn files(t: &TorrentView) -> Vec<Value> {
    let meta = &t.meta;
    let pl = meta.lengths.piece_length() as u64;
    meta.files
        .iter()
        .map(|f| {
            let rel = meta.file_path(f);
            let path = if meta.multi_file {
                PathBuf::from(&meta.name).join(&rel)
            } else {
                rel.clone()
            };
            let first = f.offset / pl;
            let last = if f.length == 0 { first } else { (f.offset + f.length - 1) / pl };
            json!({
                "absolute_path": t.save_path.join(&path).display().to_string(),
                "first_block_node": 0,
                "first_piece_node": 0,
                // libtorrent's file flags: pad_file = 1.
                "flags": if f.pad { 1 } else { 0 },
                "name": rel.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                "num_blocks": f.length.div_ceil(16384),
                "num_pieces": if f.length == 0 { 0 } else { last - first + 1 },
                "offset": f.offset,
                "path": path.display().to_string(),
                "size": f.length,
            })
        })
        .collect()
}

pub(crate) fn properties(t: &TorrentView) -> Value {
    let mut flags = Map::new();
    for name in [
        "apply_ip_filter",
        "auto_managed",
        "default_dont_download",
        "disable_dht",
        "disable_lsd",
        "disable_pex",
        "duplicate_is_error",
        "i2p_torrent",
        "need_save_resume",
        "no_verify_files",
        "override_trackers",
        "override_web_seeds",
        "paused",
        "seed_mode",
        "sequential_download",
        "share_mode",
        "stop_when_ready",
        "super_seeding",
        "update_subscribe",
        "upload_mode",
    ] {
        let on = match name {
            "paused" => t.paused,
            // ringseed has no DHT, LSD or PEX; it only uploads.
            "disable_dht" | "disable_lsd" | "disable_pex" | "upload_mode" => true,
            _ => false,
        };
        flags.insert(name.into(), Value::Bool(on));
    }
    json!({
        "download_limit": -1,
        "flags": flags,
        "max_connections": t.max_connections,
        "max_uploads": t.max_uploads,
        "upload_limit": t.upload_limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_a_float_widened_to_double() {
        assert_eq!(json!(progress(1, 3)).to_string(), "0.3333333432674408");
        assert_eq!(json!(progress(3, 3)).to_string(), "1.0");
    }
}
