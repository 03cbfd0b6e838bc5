//! The methods: each reads its arguments ([`super::args`]), calls the
//! [`Api`] and builds Transmission's answer. Unknown torrents are skipped,
//! as transmission-daemon does; an argument of the wrong type fails the
//! call before anything changes.

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Map, Value};

use super::args::{self, Args, Id, Ids};
use super::torrent::{self, Ctx, SPEED_UNIT};
use super::{api_error, session, TransmissionRpc};
use crate::control::api::{AddOptions, Api, ApiError};
use crate::coordinator::view::{TorrentView, View};
use crate::messages::{CommandError, ShareLimits, TorrentProps};
use ringseed_proto::metainfo::InfoHash;

type Answer = Result<Map<String, Value>, Failure>;

/// A failed call: the `result` text, and the `arguments` transmission-daemon
/// still sends with it (usually none).
pub(super) struct Failure {
    pub(super) result: String,
    pub(super) arguments: Map<String, Value>,
}

impl From<String> for Failure {
    fn from(result: String) -> Failure {
        Failure {
            result,
            arguments: Map::new(),
        }
    }
}

impl From<&str> for Failure {
    fn from(result: &str) -> Failure {
        Failure::from(result.to_string())
    }
}

/// Seconds a torrent counts as recently active (Transmission's `recently-active`).
const RECENT_SECS: u64 = 60;

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("an object literal"),
    }
}

/// Runs one method.
pub(super) async fn dispatch(
    server: &TransmissionRpc,
    method: &str,
    a: &Map<String, Value>,
) -> Answer {
    let a = Args(a);
    match method {
        "session-get" => Ok(session::get(server, &a)?),
        "session-set" => Ok(session::set(server, &a).await?),
        "session-stats" => Ok(session::stats(server)),
        "session-close" => Ok(Map::new()),
        "torrent-get" => torrent_get(server, &a),
        "torrent-add" => torrent_add(server, &a).await,
        "torrent-set" => torrent_set(server, &a).await,
        "torrent-start" | "torrent-start-now" => each(server, &a, Action::Start).await,
        "torrent-stop" => each(server, &a, Action::Stop).await,
        "torrent-verify" => each(server, &a, Action::Verify).await,
        "torrent-reannounce" => each(server, &a, Action::Reannounce).await,
        "torrent-remove" => {
            let delete = a.bool("delete-local-data")?.unwrap_or(false);
            let hashes = selected(server, &a)?;
            server.api.remove(hashes, delete).await.map_err(api_error)?;
            Ok(Map::new())
        }
        "torrent-set-location" => {
            let location = a.str("location")?.ok_or("no location")?.to_string();
            let move_data = a.bool("move")?.unwrap_or(false);
            relocate(server, &a, &location, move_data).await
        }
        "torrent-rename-path" => Err(
            "renaming is not supported: a seeder serves the files as the metainfo names them"
                .into(),
        ),
        "queue-move-top" | "queue-move-up" | "queue-move-down" | "queue-move-bottom" => {
            // No queueing: every torrent seeds; the order stays.
            selected(server, &a)?;
            Ok(Map::new())
        }
        "free-space" => {
            let path = a.str("path")?.ok_or("directory path argument is missing")?;
            let p = std::path::Path::new(path);
            if !p.is_absolute() {
                return Err("directory path is not absolute".into());
            }
            match session::free_bytes(p) {
                Ok(free) => Ok(object(json!({
                    "path": path,
                    "size-bytes": free,
                    "total_size": session::total_bytes(p).unwrap_or(-1),
                }))),
                Err(e) => Err(Failure {
                    result: e.to_string(),
                    arguments: object(json!({"path": path, "size-bytes": -1, "total_size": -1})),
                }),
            }
        }
        // No outside network here to test from; a seedbox's port is open
        // or not by its firewall, which the daemon cannot see.
        "port-test" => Ok(object(json!({"port-is-open": false}))),
        "blocklist-update" => {
            let size = server.update_blocklist().await?;
            Ok(object(json!({"blocklist-size": size})))
        }
        "group-get" => Ok(object(json!({"group": []}))),
        "group-set" => Ok(Map::new()),
        _ => Err("method name not recognized".into()),
    }
}

/// The torrents `ids` names that exist, in the order given (all, by id,
/// when `ids` is absent; `recently-active` counts as all here).
fn chosen<'v>(
    server: &TransmissionRpc,
    view: &'v View,
    a: &Args<'_>,
) -> Result<Vec<(i64, &'v Arc<TorrentView>)>, String> {
    let which = args::ids(a)?;
    let mut ids = server.api.ids();
    ids.sync(view);
    Ok(match which {
        Ids::All | Ids::RecentlyActive => ids.all(view),
        Ids::Some(list) => {
            let mut out: Vec<(i64, &Arc<TorrentView>)> = Vec::new();
            for id in list {
                let found = match id {
                    Id::Number(n) => ids.torrent(view, n).map(|t| (n, t)),
                    Id::Hash(h) => view
                        .torrents
                        .get(&h)
                        .and_then(|t| ids.id_of(t).map(|n| (n, t))),
                };
                if let Some(f) = found {
                    if !out.iter().any(|(n, _)| *n == f.0) {
                        out.push(f);
                    }
                }
            }
            out
        }
    })
}

/// The torrents `ids` names, held past the view (for calls that await).
fn chosen_torrents(
    server: &TransmissionRpc,
    a: &Args<'_>,
) -> Result<Vec<Arc<TorrentView>>, String> {
    let view = server.api.view();
    Ok(chosen(server, &view, a)?
        .into_iter()
        .map(|(_, t)| t.clone())
        .collect())
}

fn selected(server: &TransmissionRpc, a: &Args<'_>) -> Result<Vec<InfoHash>, String> {
    Ok(chosen_torrents(server, a)?
        .iter()
        .map(|t| t.info_hash)
        .collect())
}

fn torrent_get(server: &TransmissionRpc, a: &Args<'_>) -> Answer {
    let Some(fields) = a.strings("fields")? else {
        return Err(Failure {
            result: "no fields specified".into(),
            arguments: object(json!({"torrents": []})),
        });
    };
    let table = match a.str("format")? {
        None | Some("objects") => false,
        Some("table") => true,
        Some(f) => return Err(format!("invalid argument \"format\": {f:?}").into()),
    };
    let recent = args::ids(a)? == Ids::RecentlyActive;
    let view = server.api.view();
    let trackers = server.api.trackers();
    let parked = server.parked_limits.lock().clone();
    let parked_limit = |t: &TorrentView| parked.get(&t.info_hash).copied();
    let ctx = Ctx {
        view: &view,
        trackers: &trackers,
        state_dir: server.api.state_dir(),
        parked_limit: &parked_limit,
        webseeds: &|t: &TorrentView| server.webseeds(t),
    };
    let mut list = chosen(server, &view, a)?;
    let since = view.built_unix.saturating_sub(RECENT_SECS);
    if recent {
        list.retain(|(_, t)| {
            t.upload_rate > 0
                || t.state == crate::torrent::TorrentState::Checking
                || crate::control::webui::last_activity_unix(&view, t) >= since
                || crate::control::webui::added_unix(&view, t) >= since
        });
    }
    // Known fields only, each once, in the order asked (Transmission skips
    // names it does not know).
    let mut names: Vec<&str> = Vec::new();
    for f in &fields {
        if let Some(k) = torrent::FIELDS.iter().find(|k| **k == f.as_str()) {
            if !names.contains(k) {
                names.push(k);
            }
        }
    }
    let torrents: Vec<Value> = if table {
        let mut rows = vec![Value::Array(names.iter().map(|n| json!(n)).collect())];
        rows.extend(list.iter().map(|(id, t)| {
            Value::Array(
                names
                    .iter()
                    .map(|n| torrent::field(&ctx, t, *id, n).unwrap_or(Value::Null))
                    .collect(),
            )
        }));
        rows
    } else {
        list.iter()
            .map(|(id, t)| {
                Value::Object(
                    names
                        .iter()
                        .filter_map(|n| torrent::field(&ctx, t, *id, n).map(|v| (n.to_string(), v)))
                        .collect(),
                )
            })
            .collect()
    };
    let mut out = Map::new();
    out.insert("torrents".into(), Value::Array(torrents));
    if recent {
        let removed = server.api.ids().removed_since(since);
        out.insert("removed".into(), json!(removed));
    }
    Ok(out)
}

/// `torrent-added` / `torrent-duplicate`'s object.
fn added_object(server: &TransmissionRpc, ih: InfoHash) -> Value {
    let view = server.api.view();
    let mut ids = server.api.ids();
    ids.sync(&view);
    match view.torrents.get(&ih) {
        Some(t) => json!({
            "hashString": ih.to_hex(),
            "id": ids.id_of(t).unwrap_or(0),
            "name": t.meta.name,
        }),
        None => json!({"hashString": ih.to_hex(), "id": 0, "name": ""}),
    }
}

async fn torrent_add(server: &TransmissionRpc, a: &Args<'_>) -> Answer {
    let metainfo = a.str("metainfo")?;
    let filename = a.str("filename")?;
    let dir = a.str("download-dir")?;
    let paused = a.bool("paused")?;
    let labels = a.strings("labels")?.unwrap_or_default();
    let peer_limit = a.int_min0("peer-limit")?;
    let raw = match (metainfo, filename) {
        (Some(b64), _) => {
            let cleaned: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(cleaned.as_bytes())
                .map_err(|_| "invalid or corrupt torrent file".to_string())?
        }
        (None, Some(f)) => {
            let lower = f.trim().to_ascii_lowercase();
            if lower.starts_with("magnet:")
                || lower.starts_with("http://")
                || lower.starts_with("https://")
            {
                return Err("a seeder cannot fetch a torrent: give its metainfo (base64) or the path of a local .torrent file".into());
            }
            let max = server.config.max_body_bytes as u64;
            let meta = std::fs::metadata(f).map_err(|e| format!("{f}: {e}"))?;
            if meta.len() > max {
                return Err(format!("{f}: larger than {max} bytes").into());
            }
            std::fs::read(f).map_err(|e| format!("{f}: {e}"))?
        }
        (None, None) => return Err("no filename or metainfo specified".into()),
    };
    let new = Api::parse_torrent(raw).map_err(api_error)?;
    let ih = new.meta.info_hash;
    if server.api.view().torrents.contains_key(&ih) {
        return Ok(object(
            json!({"torrent-duplicate": added_object(server, ih)}),
        ));
    }
    let options = AddOptions {
        save_path: dir.filter(|d| !d.is_empty()).map(PathBuf::from),
        paused,
        props: TorrentProps {
            max_connections: peer_limit.filter(|p| *p > 0),
            ..Default::default()
        },
        tags: labels,
        ..Default::default()
    };
    match server.api.add_torrent(new, options).await {
        Ok(added) => Ok(object(
            json!({"torrent-added": added_object(server, added.info_hash)}),
        )),
        Err(ApiError::Command(CommandError::Duplicate)) => Ok(object(
            json!({"torrent-duplicate": added_object(server, ih)}),
        )),
        Err(e) => Err(api_error(e).into()),
    }
}

async fn torrent_set(server: &TransmissionRpc, a: &Args<'_>) -> Answer {
    // Every argument is read before anything changes.
    let labels = a.strings("labels")?;
    let up = a.int_min0("uploadLimit")?;
    let up_on = a.bool("uploadLimited")?;
    let peer_limit = a.int_min0("peer-limit")?;
    let ratio = a.f64_min0("seedRatioLimit")?;
    let ratio_mode = a.int("seedRatioMode")?;
    let idle = a.int_min0("seedIdleLimit")?;
    let idle_mode = a.int("seedIdleMode")?;
    let location = a.str("location")?;
    for mode in [ratio_mode, idle_mode].into_iter().flatten() {
        if !(0..=2).contains(&mode) {
            return Err(
                format!("invalid seed mode {mode}: 0 global, 1 single, 2 unlimited").into(),
            );
        }
    }
    if let Some(l) = &labels {
        if l.iter().any(|s| s.contains(',')) {
            return Err("labels cannot contain comma (,) character".into());
        }
    }
    let view = server.api.view();
    let list = chosen_torrents(server, a)?;
    let api = &server.api;
    for t in &list {
        let ih = t.info_hash;
        if let Some(new) = &labels {
            let new: Vec<String> = new
                .iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            let gone: Vec<String> = t
                .tags
                .iter()
                .filter(|x| !new.contains(x))
                .cloned()
                .collect();
            if !gone.is_empty() {
                api.torrent_tags(vec![ih], gone, false)
                    .await
                    .map_err(api_error)?;
            }
            if !new.is_empty() {
                api.torrent_tags(vec![ih], new, true)
                    .await
                    .map_err(api_error)?;
            }
        }
        if up.is_some() || up_on.is_some() || peer_limit.is_some() {
            let mut parked = server.parked_limits.lock().remove(&ih);
            let now_bytes = if t.upload_limit > 0 {
                Some(t.upload_limit)
            } else {
                parked
            };
            let bytes = up.map(|k| k.max(0) * SPEED_UNIT).or(now_bytes);
            let enabled = up_on.unwrap_or(t.upload_limit > 0);
            let limit = match (enabled, bytes) {
                (true, Some(b)) => Some(b.max(1)),
                (true, None) => Some(100 * SPEED_UNIT),
                (false, b) => {
                    parked = b;
                    Some(-1)
                }
            };
            if let Some(b) = parked.filter(|_| !enabled) {
                server.parked_limits.lock().insert(ih, b);
            }
            let props = TorrentProps {
                upload_limit: if up.is_some() || up_on.is_some() {
                    limit
                } else {
                    None
                },
                max_connections: peer_limit.filter(|p| *p > 0),
                ..Default::default()
            };
            api.set_props(ih, props).await.map_err(api_error)?;
        }
        if ratio.is_some() || ratio_mode.is_some() || idle.is_some() || idle_mode.is_some() {
            let own = t.share_limits;
            let (r_mode, r_now, i_mode, i_now) = torrent::seed_limits(t, &view);
            let new_ratio = match ratio_mode.unwrap_or(r_mode) {
                0 => -2.0,
                2 => -1.0,
                _ => ratio.unwrap_or(r_now).max(0.0),
            };
            let new_idle = match idle_mode.unwrap_or(i_mode) {
                0 => -2,
                2 => -1,
                _ => idle.unwrap_or(i_now).max(0) * 60,
            };
            let limits = ShareLimits {
                ratio: new_ratio,
                inactive_seeding_time_secs: new_idle,
                ..own
            };
            api.set_share_limits(vec![ih], limits)
                .await
                .map_err(api_error)?;
        }
        if let Some(loc) = location {
            set_location(api, ih, loc, false).await?;
        }
    }
    Ok(Map::new())
}

async fn set_location(
    api: &Api,
    ih: InfoHash,
    location: &str,
    move_data: bool,
) -> Result<(), String> {
    let to = PathBuf::from(location);
    if !to.is_absolute() {
        return Err(format!("location is not absolute: {location}"));
    }
    api.set_location(ih, to, move_data).await.map_err(api_error)
}

async fn relocate(
    server: &TransmissionRpc,
    a: &Args<'_>,
    location: &str,
    move_data: bool,
) -> Answer {
    for ih in selected(server, a)? {
        set_location(&server.api, ih, location, move_data).await?;
    }
    Ok(Map::new())
}

#[derive(Clone, Copy)]
enum Action {
    Start,
    Stop,
    Verify,
    Reannounce,
}

/// Applies `action` to each torrent `ids` names. A torrent already in the
/// asked state is no error (transmission-daemon answers success).
async fn each(server: &TransmissionRpc, a: &Args<'_>, action: Action) -> Answer {
    let api = &server.api;
    for t in chosen_torrents(server, a)? {
        let ih = t.info_hash;
        let r = match action {
            Action::Start if t.paused => api.resume(ih).await,
            Action::Stop if !t.paused => api.pause(ih).await,
            Action::Start | Action::Stop => Ok(()),
            Action::Verify => api.recheck(ih).await,
            Action::Reannounce => {
                server.trackers.reannounce(&ih);
                Ok(())
            }
        };
        match r {
            Ok(()) | Err(ApiError::Command(CommandError::NotFound)) => {}
            Err(e) => return Err(api_error(e).into()),
        }
    }
    Ok(Map::new())
}
