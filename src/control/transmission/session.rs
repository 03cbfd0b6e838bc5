//! `session-get`, `session-set` and `session-stats`: Transmission 4.0's
//! keys, with ringseed's settings behind those a seeder honours (upload
//! limit, share limits, default save path, peer port, start of added
//! torrents). Keys for what a seeder does not do (download limits, queues,
//! alternative speeds, scripts, DHT/PEX/LPD until they exist) are answered
//! with their off values and accepted unchanged by `session-set`.

use serde_json::{json, Map, Value};

use super::args::Args;
use super::torrent::SPEED_UNIT;
use super::{api_error, TransmissionRpc};
use crate::control::api::Api;
use crate::messages::{GlobalShareLimits, SessionChange};

/// Every `session-get` key, in Transmission 4.0's order.
fn all(server: &TransmissionRpc) -> Map<String, Value> {
    let api = &server.api;
    let view = api.view();
    let s = &view.session;
    let g = s.share_limits;
    let dir = s.default_save_path.display().to_string();
    let free = free_bytes(&s.default_save_path).unwrap_or(-1);
    let up = s.upload_limit;
    let ratio_on = g.max_ratio >= 0.0;
    let idle_on = g.max_inactive_seeding_time_secs >= 0;
    let blocklist = server.blocklist_size();
    let v = json!({
        "alt-speed-down": 50,
        "alt-speed-enabled": false,
        "alt-speed-time-begin": 540,
        "alt-speed-time-day": 127,
        "alt-speed-time-enabled": false,
        "alt-speed-time-end": 1020,
        "alt-speed-up": 50,
        "blocklist-enabled": blocklist > 0,
        "blocklist-size": blocklist,
        "blocklist-url": server.config.blocklist,
        "cache-size-mb": 4,
        "config-dir": std::path::absolute(api.state_dir())
            .unwrap_or_else(|_| api.state_dir().to_path_buf())
            .display()
            .to_string(),
        "default-trackers": "",
        "dht-enabled": false,
        "download-dir": dir,
        "download-dir-free-space": free,
        "download-queue-enabled": false,
        "download-queue-size": 5,
        "encryption": "tolerated",
        "idle-seeding-limit": if idle_on { g.max_inactive_seeding_time_secs / 60 } else { 30 },
        "idle-seeding-limit-enabled": idle_on,
        "incomplete-dir": dir,
        "incomplete-dir-enabled": false,
        "lpd-enabled": false,
        "peer-limit-global": api.config().network.max_peers_per_shard * api.config().shard_count(),
        "peer-limit-per-torrent": 50,
        "peer-port": s.listen_port,
        "peer-port-random-on-start": false,
        "pex-enabled": false,
        "port-forwarding-enabled": false,
        "queue-stalled-enabled": false,
        "queue-stalled-minutes": 30,
        "rename-partial-files": false,
        "rpc-version": super::RPC_VERSION,
        "rpc-version-minimum": super::RPC_VERSION_MINIMUM,
        "rpc-version-semver": "5.3.0",
        "script-torrent-added-enabled": false,
        "script-torrent-added-filename": "",
        "script-torrent-done-enabled": false,
        "script-torrent-done-filename": "",
        "script-torrent-done-seeding-enabled": false,
        "script-torrent-done-seeding-filename": "",
        "seed-queue-enabled": false,
        "seed-queue-size": 10,
        "seedRatioLimit": if ratio_on { g.max_ratio } else { 2.0 },
        "seedRatioLimited": ratio_on,
        "session-id": server.session_id,
        "speed-limit-down": 100,
        "speed-limit-down-enabled": false,
        "speed-limit-up": if up > 0 { up / SPEED_UNIT } else { 100 },
        "speed-limit-up-enabled": up > 0,
        "start-added-torrents": s.autostart,
        "trash-original-torrent-files": false,
        "units": {
            "memory-bytes": 1024,
            "memory-units": ["KiB", "MiB", "GiB", "TiB"],
            "size-bytes": 1000,
            "size-units": ["kB", "MB", "GB", "TB"],
            "speed-bytes": SPEED_UNIT,
            "speed-units": ["kB/s", "MB/s", "GB/s", "TB/s"],
        },
        "utp-enabled": false,
        "version": super::VERSION,
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("an object literal"),
    }
}

/// `session-get`: every key, or those `fields` names.
pub(super) fn get(server: &TransmissionRpc, a: &Args<'_>) -> Result<Map<String, Value>, String> {
    let mut m = all(server);
    if let Some(fields) = a.strings("fields")? {
        m.retain(|k, _| fields.iter().any(|f| f == k));
    }
    Ok(m)
}

/// Free bytes for an unprivileged user on the filesystem of `path`.
///
/// Errors: `path` cannot be reached (the OS's reason).
pub(super) fn free_bytes(path: &std::path::Path) -> Result<i64, std::io::Error> {
    let st = rustix::fs::statvfs(path)?;
    Ok((st.f_bavail.saturating_mul(st.f_frsize)).min(i64::MAX as u64) as i64)
}

/// Total bytes of the filesystem of `path`.
pub(super) fn total_bytes(path: &std::path::Path) -> Option<i64> {
    let st = rustix::fs::statvfs(path).ok()?;
    Some((st.f_blocks.saturating_mul(st.f_frsize)).min(i64::MAX as u64) as i64)
}

/// `session-set`: applies what a seeder honours; the other keys are
/// accepted and change nothing (they show their off values).
///
/// Errors: a key of the wrong type; `encryption` "required" (ringseed
/// speaks plaintext only until MSE/PE exists); a port that cannot be bound.
pub(super) async fn set(
    server: &TransmissionRpc,
    a: &Args<'_>,
) -> Result<Map<String, Value>, String> {
    let api: &Api = &server.api;
    // Read every argument first: a wrong type changes nothing.
    let up = a.int_min0("speed-limit-up")?;
    let up_on = a.bool("speed-limit-up-enabled")?;
    let ratio = a.f64_min0("seedRatioLimit")?;
    let ratio_on = a.bool("seedRatioLimited")?;
    let idle = a.int_min0("idle-seeding-limit")?;
    let idle_on = a.bool("idle-seeding-limit-enabled")?;
    let dir = a.str("download-dir")?;
    let port = a.int("peer-port")?;
    let start = a.bool("start-added-torrents")?;
    let encryption = a.str("encryption")?;
    if let Some(e) = encryption {
        match e {
            "tolerated" | "preferred" => {}
            "required" => {
                return Err(
                    "encryption \"required\" is not supported: ringseed speaks plaintext only"
                        .into(),
                )
            }
            _ => return Err(format!("invalid argument \"encryption\": {e:?}")),
        }
    }
    if let Some(p) = port {
        if !(1..=65535).contains(&p) {
            return Err(format!("invalid argument \"peer-port\": {p}"));
        }
    }
    if let Some(d) = dir {
        if !std::path::Path::new(d).is_absolute() {
            return Err(format!("download directory path is not absolute: {d}"));
        }
    }
    let view = api.view();
    if up.is_some() || up_on.is_some() {
        let now = view.session.upload_limit;
        let enabled = up_on.unwrap_or(now > 0);
        let kbps = up.unwrap_or(if now > 0 { now / SPEED_UNIT } else { 100 });
        let bytes = if enabled {
            kbps.max(0) * SPEED_UNIT
        } else {
            -1
        };
        api.set_upload_limit(if bytes == 0 { 1 } else { bytes })
            .await
            .map_err(api_error)?;
    }
    let g = view.session.share_limits;
    if ratio.is_some() || ratio_on.is_some() || idle.is_some() || idle_on.is_some() {
        let ratio_now = if g.max_ratio >= 0.0 { g.max_ratio } else { 2.0 };
        let max_ratio = match ratio_on.unwrap_or(g.max_ratio >= 0.0) {
            true => ratio.unwrap_or(ratio_now).max(0.0),
            false => -1.0,
        };
        let idle_now = g.max_inactive_seeding_time_secs;
        let max_idle = match idle_on.unwrap_or(idle_now >= 0) {
            true => idle.map_or(if idle_now >= 0 { idle_now } else { 30 * 60 }, |m| {
                m.max(0) * 60
            }),
            false => -1,
        };
        api.set_global_share_limits(GlobalShareLimits {
            max_ratio,
            max_inactive_seeding_time_secs: max_idle,
            ..g
        })
        .await
        .map_err(api_error)?;
    }
    if let Some(d) = dir {
        api.set_session(SessionChange::DefaultSavePath(d.into()))
            .await
            .map_err(api_error)?;
    }
    if let Some(s) = start {
        api.set_session(SessionChange::Autostart(s))
            .await
            .map_err(api_error)?;
    }
    if let Some(p) = port {
        api.set_listen_port(p as u16).await.map_err(api_error)?;
    }
    Ok(Map::new())
}

/// `session-stats`: the torrent counts, speeds (bytes/s) and transfer
/// totals. `cumulative-stats` is this run's figures with the torrents'
/// all-time upload (ringseed keeps no separate session history).
pub(super) fn stats(server: &TransmissionRpc) -> Map<String, Value> {
    let view = server.api.view();
    let total = view.torrents.len();
    // Transmission's: active = running, paused = the rest.
    let active = view.torrents.values().filter(|t| !t.paused).count();
    let paused = total - active;
    let now = crate::messages::unix_now();
    let secs = now.saturating_sub(server.started_unix);
    let session_up: u64 = view.torrents.values().map(|t| t.uploaded_session).sum();
    let all_up: u64 = view.torrents.values().map(|t| t.uploaded_total).sum();
    let stats = |up: u64| {
        json!({
            "downloadedBytes": 0,
            "filesAdded": 0,
            "secondsActive": secs,
            "sessionCount": 1,
            "uploadedBytes": up,
        })
    };
    let v = json!({
        "activeTorrentCount": active,
        "cumulative-stats": stats(all_up),
        "current-stats": stats(session_up),
        "downloadSpeed": 0,
        "pausedTorrentCount": paused,
        "torrentCount": total,
        "uploadSpeed": view.session.upload_rate,
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("an object literal"),
    }
}
