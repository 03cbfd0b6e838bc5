//! The methods: porla's (reference §1.5) mapped onto a seeder, and
//! ringseed's own under `ringseed.`. Parameter errors follow porla: a
//! missing key or a wrong type is an "exception" (-32603 with nlohmann's
//! message); a torrent that is not found is -1.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Map, Value};

use super::{MethodError, Rpc};
use crate::coordinator::view::{latest, PeerView, TorrentView, View};
use crate::messages::{AddTorrent, CommandError, ControlCommand, Reply, TorrentProps, MSG_NAMES};
use crate::tracker::{TorrentTrackers, TrackerStatus, TrackersView};
use ringseed_proto::metainfo::{InfoHash, Metainfo, MetainfoError};

/// porla's single session name.
const SESSION: &str = "default";

const METHODS: &[&str] = &[
    "sessions.list",
    "sys.versions",
    "torrents.add",
    "torrents.files.list",
    "torrents.list",
    "torrents.pause",
    "torrents.peers.add",
    "torrents.peers.list",
    "torrents.properties.get",
    "torrents.properties.set",
    "torrents.recheck",
    "torrents.remove",
    "torrents.resume",
    "torrents.trackers.list",
    "ringseed.disconnects",
    "ringseed.getpeerinfo",
    "ringseed.session.get",
    "ringseed.session.set",
];

/// True when `method` is served.
pub fn exists(method: &str) -> bool {
    METHODS.contains(&method)
}

/// The method name as a static label (metrics).
pub fn canonical(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

type R = Result<Value, MethodError>;

// ---- Parameters, nlohmann style ----

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_error(expected: &str, v: &Value) -> MethodError {
    MethodError::Internal(format!(
        "[json.exception.type_error.302] type must be {expected}, but is {}",
        type_name(v)
    ))
}

/// A required key (`params.at(k)` in porla).
fn key<'a>(params: &'a Value, k: &str) -> Result<&'a Value, MethodError> {
    match params {
        Value::Object(m) => m.get(k).ok_or_else(|| {
            MethodError::Internal(format!(
                "[json.exception.out_of_range.403] key '{k}' not found"
            ))
        }),
        other => Err(MethodError::Internal(format!(
            "[json.exception.type_error.304] cannot use at() with {}",
            type_name(other)
        ))),
    }
}

/// An optional key; `null` counts as absent.
fn opt<'a>(params: &'a Value, k: &str) -> Option<&'a Value> {
    params.get(k).filter(|v| !v.is_null())
}

fn string(v: &Value) -> Result<&str, MethodError> {
    v.as_str().ok_or_else(|| type_error("string", v))
}

/// An integer, as nlohmann's `get<int64_t>()` reads any JSON number: a
/// float is truncated toward zero (out-of-range values saturate here).
fn int(v: &Value) -> Result<i64, MethodError> {
    v.as_i64()
        .or_else(|| v.as_f64().map(|f| f as i64))
        .ok_or_else(|| type_error("number", v))
}

fn boolean(v: &Value) -> Result<bool, MethodError> {
    v.as_bool().ok_or_else(|| type_error("boolean", v))
}

fn array(v: &Value) -> Result<&Vec<Value>, MethodError> {
    v.as_array().ok_or_else(|| type_error("array", v))
}

// ---- Info hashes (reference §1.2) ----

/// A parsed `info_hash`: v1 and v2 halves, all zeros when absent. Anything
/// porla cannot parse is all zeros, which matches no torrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IhKey {
    pub v1: [u8; 20],
    pub v2: [u8; 32],
}

fn hex_exact<const N: usize>(s: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    (s.len() == 2 * N).then_some(())?;
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// porla's `info_hash` shapes: "40 hex", "64 hex", [v1, null], [null, v2], [v1, v2].
pub fn parse_info_hash(v: &Value) -> IhKey {
    let zero = IhKey {
        v1: [0; 20],
        v2: [0; 32],
    };
    match v {
        Value::String(s) => {
            if let Some(v1) = hex_exact::<20>(s) {
                return IhKey { v1, ..zero };
            }
            if let Some(v2) = hex_exact::<32>(s) {
                return IhKey { v2, ..zero };
            }
            zero
        }
        Value::Array(a) if a.len() == 2 => {
            let v1 = match &a[0] {
                Value::Null => Some([0; 20]),
                Value::String(s) => hex_exact::<20>(s),
                _ => None,
            };
            let v2 = match &a[1] {
                Value::Null => Some([0; 32]),
                Value::String(s) => hex_exact::<32>(s),
                _ => None,
            };
            match (v1, v2) {
                (Some(v1), Some(v2)) => IhKey { v1, v2 },
                _ => zero,
            }
        }
        _ => zero,
    }
}

fn key_of(meta: &Metainfo) -> IhKey {
    IhKey {
        v1: meta.info_hash.0,
        v2: meta.info_hash_v2.unwrap_or([0; 32]),
    }
}

/// `[v1 hex, v2 hex or null]`, porla's output form.
pub fn ih_json(meta: &Metainfo) -> Value {
    json!([meta.info_hash.to_hex(), meta.info_hash_v2.map(hex::encode)])
}

/// The torrent an `info_hash` parameter names: an exact match of both halves.
fn find(view: &View, params: &Value) -> Result<Arc<TorrentView>, MethodError> {
    let k = parse_info_hash(key(params, "info_hash")?);
    view.torrents
        .get(&InfoHash(k.v1))
        .filter(|t| key_of(&t.meta) == k)
        .cloned()
        .ok_or_else(MethodError::not_found)
}

// ---- Commands ----

async fn ask<T>(
    rpc: &Rpc,
    make: impl FnOnce(Reply<T>) -> ControlCommand,
) -> Result<T, MethodError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    rpc.commands
        .send(make(tx))
        .map_err(|_| MethodError::Internal("the daemon is stopping".into()))?;
    rx.await
        .map_err(|_| MethodError::Internal("the daemon is stopping".into()))
}

fn command_error(e: CommandError) -> MethodError {
    match e {
        CommandError::NotFound => MethodError::not_found(),
        CommandError::Duplicate => {
            MethodError::rpc(-3, format!("Torrent already in session '{SESSION}'"))
        }
        CommandError::Store(s) => MethodError::with_data(-5, "Failed to add torrent to session", s),
    }
}

/// Runs `method`.
pub async fn dispatch(rpc: &Rpc, method: &str, params: &Value) -> R {
    let view = latest(&rpc.view);
    match method {
        "sessions.list" => Ok(json!({"sessions": [{
            "is_dht_running": false,
            "is_listening": true,
            "is_paused": false,
            "name": SESSION,
            "torrents_total": view.torrents.len(),
        }]})),
        "sys.versions" => Ok(json!({
            "ringseed": {"version": env!("CARGO_PKG_VERSION")},
            "porla_api": {"methods": METHODS},
        })),
        "torrents.add" => add(rpc, params).await,
        "torrents.remove" => {
            let hashes: Vec<InfoHash> = array(key(params, "info_hashes")?)?
                .iter()
                .filter_map(|v| {
                    let k = parse_info_hash(v);
                    view.torrents
                        .get(&InfoHash(k.v1))
                        .filter(|t| key_of(&t.meta) == k)
                        .map(|t| t.info_hash)
                })
                .collect();
            let remove_data = boolean(key(params, "remove_data")?)?;
            ask(rpc, |r| ControlCommand::Remove {
                info_hashes: hashes,
                remove_data,
                reply: r,
            })
            .await?
            .map_err(command_error)?;
            Ok(Value::Null)
        }
        "torrents.pause" | "torrents.resume" | "torrents.recheck" => {
            let ih = find(&view, params)?.info_hash;
            ask(rpc, |r| match method {
                "torrents.pause" => ControlCommand::Pause(ih, r),
                "torrents.resume" => ControlCommand::Resume(ih, r),
                _ => ControlCommand::Recheck(ih, r),
            })
            .await?
            .map_err(command_error)?;
            Ok(Value::Null)
        }
        "torrents.list" => list(&view, &rpc.trackers.read(), params),
        "torrents.trackers.list" => {
            let t = find(&view, params)?;
            let trackers = rpc.trackers.read().clone();
            Ok(trackers_list(
                &t,
                trackers.torrents.get(&t.info_hash).map(|x| &**x),
                view.session.listen_port,
            ))
        }
        "torrents.files.list" => {
            let t = find(&view, params)?;
            Ok(json!({"files": files(&t)}))
        }
        "torrents.properties.get" => {
            let t = find(&view, params)?;
            Ok(properties(&t))
        }
        "torrents.properties.set" => {
            let t = find(&view, params)?;
            let get = |k: &str| opt(params, k).map(int).transpose();
            let props = TorrentProps {
                upload_limit: get("upload_limit")?,
                max_connections: get("max_connections")?,
                max_uploads: get("max_uploads")?,
            };
            let paused = match opt(params, "flags") {
                Some(f) => opt(f, "paused").map(boolean).transpose()?,
                None => None,
            };
            let ih = t.info_hash;
            ask(rpc, |r| ControlCommand::SetProps(ih, props, r))
                .await?
                .map_err(command_error)?;
            if let Some(p) = paused {
                ask(rpc, |r| match p {
                    true => ControlCommand::Pause(ih, r),
                    false => ControlCommand::Resume(ih, r),
                })
                .await?
                .map_err(command_error)?;
            }
            Ok(Value::Null)
        }
        "torrents.peers.add" => {
            let t = find(&view, params)?;
            let mut addrs = Vec::new();
            for p in array(key(params, "peers")?)? {
                // [ip, port]; unparsable addresses are skipped (porla logs and skips).
                let (Some(ip), Some(port)) = (
                    p.get(0).and_then(Value::as_str),
                    p.get(1).and_then(Value::as_u64),
                ) else {
                    continue;
                };
                match (ip.parse::<std::net::IpAddr>(), u16::try_from(port)) {
                    (Ok(ip), Ok(port)) => addrs.push(SocketAddr::new(ip, port)),
                    _ => tracing::info!(ip, port, "torrents.peers.add: unparsable address skipped"),
                }
            }
            let ih = t.info_hash;
            ask(rpc, |r| ControlCommand::AddPeers(ih, addrs, r))
                .await?
                .map_err(command_error)?;
            Ok(Value::Bool(true))
        }
        "torrents.peers.list" => {
            let t = find(&view, params)?;
            let peers: Vec<Value> = view
                .peers
                .get(&t.info_hash)
                .map(|v| {
                    v.iter()
                        .map(|p| json!(porla_peer(p, view.built_unix)))
                        .collect()
                })
                .unwrap_or_default();
            Ok(json!({"peers": peers}))
        }
        "ringseed.getpeerinfo" => {
            let only = match opt(params, "info_hash") {
                Some(_) => Some(find(&view, params)?.info_hash),
                None => None,
            };
            let mut peers: Vec<&Arc<PeerView>> = view
                .all_peers()
                .filter(|p| only.is_none_or(|ih| p.info_hash == ih))
                .collect();
            peers.sort_by_key(|p| p.key);
            Ok(Value::Array(
                peers.into_iter().map(|p| getpeerinfo(p)).collect(),
            ))
        }
        "ringseed.disconnects" => {
            let since = opt(params, "since").map(int).transpose()?.unwrap_or(0);
            let out: Vec<Value> = view
                .recent_disconnects
                .iter()
                .filter(|d| d.unix as i64 >= since)
                .map(|d| {
                    json!({
                        "time": d.unix,
                        "peer": d.addr.map(|a| a.to_string()),
                        "client": d.client.as_deref(),
                        "info_hash": d.info_hash.map(|h| h.to_hex()),
                        "reason": d.reason.name(),
                        "code": d.reason.code(),
                        "message": d.reason.message(),
                        "source": d.source.map(crate::control::metrics::source_name),
                    })
                })
                .collect();
            Ok(Value::Array(out))
        }
        "ringseed.session.get" => Ok(json!({
            "upload_limit": view.session.upload_limit,
            "upload_rate": view.session.upload_rate,
            "listen_port": view.session.listen_port,
            "torrents_total": view.torrents.len(),
            "peers_total": view.all_peers().count(),
            "hashed_bytes": view.session.hashed_bytes,
        })),
        "ringseed.session.set" => {
            if let Some(v) = opt(params, "upload_limit") {
                let limit = int(v)?;
                ask(rpc, |r| ControlCommand::SetUploadLimit(limit, r))
                    .await?
                    .map_err(command_error)?;
            }
            Ok(Value::Null)
        }
        _ => Err(MethodError::rpc(-32601, "Method not found")),
    }
}

async fn add(rpc: &Rpc, params: &Value) -> R {
    let ti = opt(params, "ti").map(string).transpose()?;
    let magnet = opt(params, "magnet_uri").map(string).transpose()?;
    let raw: Vec<u8> = match (ti, magnet) {
        (Some(ti), _) => base64::engine::general_purpose::STANDARD
            .decode(ti.trim())
            .map_err(|e| {
                MethodError::with_data(
                    -1,
                    "Failed to bdecode 'ti' parameter",
                    format!("base64: {e}"),
                )
            })?,
        (None, Some(_)) => {
            return Err(MethodError::with_data(
                -5,
                "Failed to add torrent to session",
                "magnet links are not supported: a seeder needs the metainfo ('ti')",
            ))
        }
        (None, None) => {
            return Err(MethodError::rpc(
                -4,
                "Either 'ti' or 'magnet_uri' must be set",
            ))
        }
    };
    let meta = Metainfo::from_bytes(&raw).map_err(|e| match e {
        MetainfoError::NotBencode(_) | MetainfoError::Truncated(_) => {
            MethodError::with_data(-1, "Failed to bdecode 'ti' parameter", e.to_string())
        }
        _ => MethodError::with_data(
            -2,
            "Failed to parse torrent_info from bdecoded data",
            e.to_string(),
        ),
    })?;
    let save_path = match opt(params, "save_path").map(string).transpose()? {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        // The session's default: storage.data_dir unless the IPC's
        // `directory` changed it.
        _ => Some(latest(&rpc.view).session.default_save_path.clone())
            .filter(|d| !d.as_os_str().is_empty())
            .ok_or_else(|| MethodError::rpc(-4, "'save_path' missing"))?,
    };
    let save_path = std::path::absolute(&save_path).unwrap_or(save_path);
    let get = |k: &str| opt(params, k).map(int).transpose();
    let props = TorrentProps {
        upload_limit: get("upload_limit")?,
        max_connections: get("max_connections")?,
        max_uploads: get("max_uploads")?,
    };
    let paused = opt(params, "paused")
        .map(boolean)
        .transpose()?
        .unwrap_or(false);
    let ih = ih_json(&meta);
    let add = AddTorrent {
        meta: Arc::new(meta),
        raw: Arc::from(raw),
        save_path,
        paused,
        props,
    };
    ask(rpc, |r| ControlCommand::Add(Box::new(add), r))
        .await?
        .map_err(command_error)?;
    Ok(json!({"info_hash": ih}))
}

/// libtorrent's `torrent_status::state_t` values porla reports.
fn state_code(t: &TorrentView) -> i64 {
    match t.state {
        "checking" => 1, // checking_files
        _ => 5,          // seeding (paused is a flag, as in libtorrent)
    }
}

fn progress(have: u32, total: u32) -> f64 {
    // porla emits a float widened to double.
    (if total == 0 {
        0.0
    } else {
        have as f32 / total as f32
    }) as f64
}

/// porla's `torrents.trackers.list` (reference §1.5): one object per
/// tracker with libtorrent's `announce_entry` fields and one endpoint (our
/// listen socket) whose `info_hashes` holds libtorrent's two slots, v1 and
/// v2; ringseed announces the v1 hash, so the v2 slot keeps its defaults.
/// Times (`next_announce`, `min_announce`) are Unix seconds, 0 when none.
/// `source` 1 is libtorrent's `source_torrent`; `fail_limit` 0 = no limit.
fn trackers_list(t: &TorrentView, tr: Option<&TorrentTrackers>, port: u16) -> Value {
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
        "category": null,
        "download_rate": 0,
        "error": t.error,
        "eta": -1,
        "finished_duration": t.seeding_secs,
        "flags": flags,
        "info_hash": ih_json(&t.meta),
        "last_download": -1,
        "last_upload": if t.upload_rate > 0 { 0 } else { -1 },
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
        "tags": [],
        "total": size,
        "total_done": t.bytes_have,
        "upload_rate": t.wire_upload_rate,
    })
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
        "last_upload" => Num(if t.upload_rate > 0 { 0.0 } else { -1.0 }),
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
        _ => return None,
    })
}

fn list(view: &View, trackers: &TrackersView, params: &Value) -> R {
    let page = opt(params, "page")
        .map(int)
        .transpose()?
        .unwrap_or(0)
        .max(0) as usize;
    let page_size = opt(params, "page_size")
        .map(int)
        .transpose()?
        .unwrap_or(50)
        .max(1) as usize;
    let order_by = opt(params, "order_by")
        .map(string)
        .transpose()?
        .unwrap_or("queue_position")
        .to_string();
    let dir = opt(params, "order_by_dir")
        .map(string)
        .transpose()?
        .unwrap_or("asc")
        .to_string();
    let filters = opt(params, "filters");
    if let Some(f) = filters {
        if opt(f, "query").is_some() {
            return Err(MethodError::with_data(
                -1000,
                "PQL queries are not supported",
                json!({"pos": 0}),
            ));
        }
    }
    let save_path = match filters {
        Some(f) => opt(f, "save_path")
            .map(string)
            .transpose()?
            .map(str::to_string),
        None => None,
    };
    // ringseed has no categories or tags: such a filter matches nothing.
    let nothing = filters.is_some_and(|f| {
        opt(f, "category").is_some()
            || opt(f, "tags").is_some_and(|t| t.as_array().is_some_and(|a| !a.is_empty()))
    });
    let mut rows: Vec<(SortVal, &Arc<TorrentView>)> = Vec::with_capacity(view.torrents.len());
    for t in view.torrents.values() {
        if nothing
            || save_path
                .as_ref()
                .is_some_and(|sp| t.save_path.display().to_string() != *sp)
        {
            continue;
        }
        let key = sort_val(t, &order_by)
            .ok_or_else(|| MethodError::rpc(-1, "Invalid field in 'order_by'"))?;
        rows.push((key, t));
    }
    if sort_val_field_ok(&order_by).is_none() {
        return Err(MethodError::rpc(-1, "Invalid field in 'order_by'"));
    }
    rows.sort_by(|a, b| {
        let o =
            a.0.partial_cmp(&b.0)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.1.queue_position.cmp(&b.1.queue_position));
        if dir == "desc" {
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
        "order_by": order_by,
        "order_by_dir": dir,
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
    ];
    FIELDS.contains(&field).then_some(())
}

fn files(t: &TorrentView) -> Vec<Value> {
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

fn properties(t: &TorrentView) -> Value {
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

/// libtorrent `peer_flags_t` bits (reference §2.1).
pub mod flags {
    pub const CHOKED: u32 = 1 << 1;
    pub const REMOTE_INTERESTED: u32 = 1 << 2;
    pub const REMOTE_CHOKED: u32 = 1 << 3;
    pub const SUPPORTS_EXTENSIONS: u32 = 1 << 4;
    pub const OUTGOING_CONNECTION: u32 = 1 << 5;
    pub const SEED: u32 = 1 << 10;
    pub const OPTIMISTIC_UNCHOKE: u32 = 1 << 11;
    pub const UPLOAD_ONLY: u32 = 1 << 13;
}

/// The `flags` of a peer (a seed is never interested, so `interesting` is never set).
pub fn peer_flags(p: &PeerView) -> u32 {
    let mut f = 0;
    let mut set = |c: bool, bit: u32| {
        if c {
            f |= bit
        }
    };
    set(p.am_choking, flags::CHOKED);
    set(p.peer_interested, flags::REMOTE_INTERESTED);
    set(p.peer_choking, flags::REMOTE_CHOKED);
    set(p.extensions, flags::SUPPORTS_EXTENSIONS);
    set(p.outgoing, flags::OUTGOING_CONNECTION);
    set(
        p.have_count == p.num_pieces && p.num_pieces > 0,
        flags::SEED,
    );
    set(p.optimistic, flags::OPTIMISTIC_UNCHOKE);
    set(p.upload_only, flags::UPLOAD_ONLY);
    f
}

/// One peer of `torrents.peers.list`: porla's 17 keys in their sorted
/// order, libtorrent 2.x meanings (reference §1.4).
#[derive(Debug, serde::Serialize)]
pub struct PorlaPeer {
    pub busy_requests: u32,
    pub client: String,
    pub connection_type: u8,
    pub down_speed: u64,
    pub download_queue_length: u32,
    pub download_queue_time: u64,
    pub flags: u32,
    pub ip: (String, u16),
    pub last_active: u64,
    pub last_request: u64,
    pub local_endpoint: (String, u16),
    pub progress: f64,
    pub rtt: u32,
    pub source: u8,
    pub total_download: u64,
    pub total_upload: u64,
    pub up_speed: u64,
}

fn endpoint_pair(a: Option<SocketAddr>) -> (String, u16) {
    a.map_or((String::new(), 0), |a| (a.ip().to_string(), a.port()))
}

/// A connected peer as porla shows it; `now` is the view's Unix time.
pub fn porla_peer(p: &PeerView, now: u64) -> PorlaPeer {
    PorlaPeer {
        busy_requests: 0,
        client: p.client.to_string(),
        // libtorrent 2.x connection_type_t: standard_bittorrent = 1.
        connection_type: 1,
        down_speed: p.down_speed,
        // A seed requests nothing, so its download queue is always empty.
        download_queue_length: 0,
        download_queue_time: 0,
        flags: peer_flags(p),
        ip: endpoint_pair(Some(p.addr)),
        last_active: now.saturating_sub(p.last_send_unix.max(p.last_recv_unix)),
        // Seconds since we last sent a request; a seed never does, and
        // libtorrent counts from the connection then.
        last_request: now.saturating_sub(p.connected_unix),
        local_endpoint: endpoint_pair(p.local_addr),
        progress: progress(p.have_count, p.num_pieces),
        // libtorrent 2.0 reports the mean request → block time, ms.
        rtt: p.serve_ms,
        source: p.source,
        total_download: p.downloaded,
        total_upload: p.uploaded,
        up_speed: p.up_speed,
    }
}

fn per_msg(counts: &[u64]) -> Value {
    let mut m = Map::new();
    for (name, n) in MSG_NAMES.iter().zip(counts) {
        if *n > 0 {
            m.insert((*name).into(), json!(n));
        }
    }
    Value::Object(m)
}

/// One peer of `ringseed.getpeerinfo`: seed 003's fields as reference §4
/// maps them, plus seed 004's Net::BitTorrent::Peer state.
fn getpeerinfo(p: &PeerView) -> Value {
    let mut o = json!({
        "id": p.key.0,
        "addr": p.addr.to_string(),
        "services": hex::encode(p.reserved),
        "lastsend": p.last_send_unix,
        "lastrecv": p.last_recv_unix,
        "bytessent": p.bytes_sent,
        "bytesrecv": p.bytes_recv,
        "conntime": p.connected_unix,
        "subver": &*p.client,
        "inbound": !p.outgoing,
        "banscore": p.score,
        "whitelisted": p.whitelisted,
        "inflight": p.inflight,
        "bytessent_per_msg": per_msg(&p.sent_per_msg),
        "bytesrecv_per_msg": per_msg(&p.recv_per_msg),
        "am_choking": p.am_choking,
        "am_interested": false,
        "peer_choking": p.peer_choking,
        "peer_interested": p.peer_interested,
        "bitfield": p.bitfield.as_deref().map(hex::encode).unwrap_or_default(),
        "peerid": hex::encode(p.peer_id),
        "reserved_bytes": hex::encode(p.reserved),
        "incoming": !p.outgoing,
        "source": crate::control::metrics::source_name(p.source),
        "host": p.addr.ip().to_string(),
        "port": p.addr.port(),
        "info_hash": p.info_hash.to_hex(),
        // ringseed's additions, for `ringseed peers`.
        "up_speed": p.up_speed,
        "total_upload": p.uploaded,
        "progress": progress(p.have_count, p.num_pieces),
        "optimistic": p.optimistic,
        "fast": p.fast,
        "extensions": p.extensions,
    });
    let m = o.as_object_mut().expect("object");
    if let Some(ip) = p.yourip {
        m.insert("addrlocal".into(), json!(ip.to_string()));
    }
    if let Some(a) = p.local_addr {
        m.insert("addrbind".into(), json!(a.to_string()));
    }
    if p.rtt_us > 0 {
        m.insert("pingtime".into(), json!(p.rtt_us as f64 / 1e6));
    }
    if p.min_rtt_us > 0 {
        m.insert("minping".into(), json!(p.min_rtt_us as f64 / 1e6));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vector P3: the seed document's peer, byte for byte.
    #[test]
    fn porla_peer_serialises_like_vector_p3() {
        let peer = PorlaPeer {
            busy_requests: 0,
            client: "Transmission 2.94".into(),
            connection_type: 1,
            down_speed: 41856,
            download_queue_length: 25,
            download_queue_time: 0,
            flags: 668689,
            ip: ("1.2.3.4".into(), 51415),
            last_active: 0,
            last_request: 3,
            local_endpoint: ("192.168.1.16".into(), 6881),
            progress: 1.0,
            rtt: 336,
            source: 6,
            total_download: 395821,
            total_upload: 0,
            up_speed: 3093,
        };
        let body = json!({"id": 1, "jsonrpc": "2.0", "result": {"peers": [peer]}}).to_string();
        assert_eq!(
            body,
            r#"{"id":1,"jsonrpc":"2.0","result":{"peers":[{"busy_requests":0,"client":"Transmission 2.94","connection_type":1,"down_speed":41856,"download_queue_length":25,"download_queue_time":0,"flags":668689,"ip":["1.2.3.4",51415],"last_active":0,"last_request":3,"local_endpoint":["192.168.1.16",6881],"progress":1.0,"rtt":336,"source":6,"total_download":395821,"total_upload":0,"up_speed":3093}]}}"#
        );
    }

    #[test]
    fn progress_is_a_float_widened_to_double() {
        assert_eq!(json!(progress(1, 3)).to_string(), "0.3333333432674408");
        assert_eq!(json!(progress(3, 3)).to_string(), "1.0");
    }

    #[test]
    fn integers_are_read_from_any_json_number() {
        assert_eq!(int(&json!(7)).unwrap(), 7);
        assert_eq!(int(&json!(1_500_000.9)).unwrap(), 1_500_000);
        assert_eq!(int(&json!(-2.5)).unwrap(), -2);
        assert_eq!(int(&json!(u64::MAX)).unwrap(), i64::MAX);
        match int(&json!("7")) {
            Err(MethodError::Internal(m)) => {
                assert_eq!(
                    m,
                    "[json.exception.type_error.302] type must be number, but is string"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn info_hash_shapes_follow_porla() {
        let v1 = "0f16ea6965ee5133ea4dbb1e7f516e9fcf3d899e";
        let v2 = "a".repeat(64);
        let k = parse_info_hash(&json!(v1));
        assert_eq!(hex::encode(k.v1), v1);
        assert_eq!(k.v2, [0; 32]);
        assert_eq!(parse_info_hash(&json!([v1, null])), k);
        let h = parse_info_hash(&json!([v1, v2]));
        assert_eq!(hex::encode(h.v2), v2);
        let only2 = parse_info_hash(&json!([null, v2]));
        assert_eq!(only2.v1, [0; 20]);
        let zero = IhKey {
            v1: [0; 20],
            v2: [0; 32],
        };
        for bad in [
            json!("abcdef0123456789abcd"),
            json!([v1]),
            json!(5),
            json!([v1, null, null]),
            json!(["zz", null]),
        ] {
            assert_eq!(parse_info_hash(&bad), zero, "{bad}");
        }
    }
}
