//! `torrent-get`'s fields: every field of Transmission's rpc-spec up to
//! rpc-version 17, with Transmission's names, units and JSON types, and
//! ringseed's values. A seeder never downloads, so the download figures
//! are 0 and the torrent is always complete once checked; docs/transmission-rpc.md
//! lists each value that differs from what transmission-daemon would say.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};

use crate::control::webui;
use crate::coordinator::view::{PeerView, TorrentView, View};
use crate::messages::PeerSource;
use crate::torrent::TorrentState;
use crate::tracker::{TorrentTrackers, TrackersView};

/// Transmission's `status`: stopped.
pub(super) const STATUS_STOPPED: i64 = 0;
/// Transmission's `status`: checking.
pub(super) const STATUS_CHECK: i64 = 2;
/// Transmission's `status`: seeding.
pub(super) const STATUS_SEED: i64 = 6;

/// Transmission's ETA when it cannot be known (`TR_ETA_NOT_AVAIL`).
const ETA_NOT_AVAIL: i64 = -1;
/// Transmission's default per-torrent limits (settings.json), for values
/// that are shown while not in force: speed KB/s, ratio, idle minutes.
const DEFAULT_SPEED_KBPS: i64 = 100;
const DEFAULT_RATIO: f64 = 2.0;
const DEFAULT_IDLE_MINUTES: i64 = 30;
/// Transmission's per-torrent peer limit default.
const DEFAULT_PEER_LIMIT: i64 = 50;

/// Speed units: Transmission's RPC counts speeds in kB/s of 1000 bytes
/// (`units.speed-bytes`).
pub(super) const SPEED_UNIT: i64 = 1000;

/// Every field, in the rpc-spec's order (`torrent-get` without `fields`
/// is an error in Transmission; the table format names these columns).
pub(super) const FIELDS: &[&str] = &[
    "activityDate",
    "addedDate",
    "availability",
    "bandwidthPriority",
    "comment",
    "corruptEver",
    "creator",
    "dateCreated",
    "desiredAvailable",
    "doneDate",
    "downloadDir",
    "downloadedEver",
    "downloadLimit",
    "downloadLimited",
    "editDate",
    "error",
    "errorString",
    "eta",
    "etaIdle",
    "file-count",
    "files",
    "fileStats",
    "group",
    "hashString",
    "haveUnchecked",
    "haveValid",
    "honorsSessionLimits",
    "id",
    "isFinished",
    "isPrivate",
    "isStalled",
    "labels",
    "leftUntilDone",
    "magnetLink",
    "manualAnnounceTime",
    "maxConnectedPeers",
    "metadataPercentComplete",
    "name",
    "peer-limit",
    "peers",
    "peersConnected",
    "peersFrom",
    "peersGettingFromUs",
    "peersSendingToUs",
    "percentComplete",
    "percentDone",
    "pieces",
    "pieceCount",
    "pieceSize",
    "priorities",
    "primary-mime-type",
    "queuePosition",
    "rateDownload",
    "rateUpload",
    "recheckProgress",
    "secondsDownloading",
    "secondsSeeding",
    "seedIdleLimit",
    "seedIdleMode",
    "seedRatioLimit",
    "seedRatioMode",
    "sizeWhenDone",
    "startDate",
    "status",
    "torrentFile",
    "totalSize",
    "trackerList",
    "trackers",
    "trackerStats",
    "uploadedEver",
    "uploadLimit",
    "uploadLimited",
    "uploadRatio",
    "wanted",
    "webseeds",
    "webseedsSendingToUs",
];

/// What every field of one request reads from.
pub(super) struct Ctx<'a> {
    pub(super) view: &'a View,
    pub(super) trackers: &'a TrackersView,
    pub(super) state_dir: &'a Path,
    /// Upload limits set while not enabled (bytes/s), shown as `uploadLimit`.
    pub(super) parked_limit: &'a dyn Fn(&TorrentView) -> Option<i64>,
    /// A torrent's web seeds (read once per torrent, then kept).
    pub(super) webseeds: &'a dyn Fn(&TorrentView) -> Arc<[String]>,
}

/// Transmission's status of a torrent: a seeder is stopped, checking or
/// seeding (a torrent in error is stopped, its error in `error`).
pub(super) fn status(t: &TorrentView) -> i64 {
    match t.state {
        TorrentState::Checking => STATUS_CHECK,
        TorrentState::Seeding => STATUS_SEED,
        TorrentState::Paused | TorrentState::Error => STATUS_STOPPED,
    }
}

/// The file list without BEP 47 pad files (Transmission hides them).
fn files(t: &TorrentView) -> impl Iterator<Item = &ringseed_proto::metainfo::FileEntry> {
    t.meta.files.iter().filter(|f| !f.pad)
}

fn complete(t: &TorrentView) -> bool {
    t.pieces_have == t.pieces
}

/// The tracker's scrape URL by the BEP 48 convention (the last path
/// segment `announce…` becomes `scrape…`), "" when it has none; UDP
/// trackers scrape at their announce URL.
fn scrape_url(announce: &str) -> String {
    if announce.starts_with("udp://") {
        return announce.to_string();
    }
    let path_start = announce.find("://").map_or(0, |i| i + 3);
    let q = announce[path_start..]
        .find('?')
        .map_or(announce.len(), |i| path_start + i);
    match announce[..q].rfind('/') {
        Some(slash) if slash >= path_start && announce[slash + 1..q].starts_with("announce") => {
            format!(
                "{}/scrape{}",
                &announce[..slash],
                &announce[slash + 1 + "announce".len()..]
            )
        }
        _ => String::new(),
    }
}

/// `scheme://host:port` of a tracker URL (`trackerStats.host`).
fn tracker_host(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let has_port = match authority.strip_prefix('[') {
        Some(v6) => v6.contains("]:"),
        None => authority.contains(':'),
    };
    if has_port {
        format!("{scheme}://{authority}")
    } else {
        let port = if scheme == "https" { 443 } else { 80 };
        format!("{scheme}://{authority}:{port}")
    }
}

/// Transmission's `sitename`: the registered name of the tracker's host
/// (`tracker.example.org` → `example`); the address itself for an IP.
fn sitename(url: &str) -> String {
    let host = url
        .split_once("://")
        .map_or(url, |(_, r)| r)
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    let host = if host.starts_with('[') {
        return host
            .trim_start_matches('[')
            .split(']')
            .next()
            .unwrap_or("")
            .to_string();
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    if host.parse::<std::net::IpAddr>().is_ok() {
        return host.to_string();
    }
    let labels: Vec<&str> = host.split('.').collect();
    match labels.len() {
        0 => String::new(),
        1 => labels[0].to_string(),
        n => labels[n - 2].to_string(),
    }
}

/// The announce URLs, tier by tier.
fn tiers(t: &TorrentView, tr: Option<&TorrentTrackers>) -> Vec<(u32, String)> {
    match tr {
        Some(tr) if !tr.trackers.is_empty() => tr
            .trackers
            .iter()
            .map(|s| (s.tier, s.url.clone()))
            .collect(),
        _ => crate::tracker::tiers(&t.meta)
            .into_iter()
            .enumerate()
            .flat_map(|(i, urls)| urls.into_iter().map(move |u| (i as u32, u)))
            .collect(),
    }
}

/// Transmission's `flagStr` of a peer, in its order: O optimistic, U/u
/// uploading to / choked while interested, K unchoked by the peer while we
/// are not interested, ? unchoked but not interested, I incoming.
fn flag_str(p: &PeerView) -> String {
    let mut s = String::new();
    if p.optimistic {
        s.push('O');
    }
    if p.peer_interested {
        s.push(if p.am_choking { 'u' } else { 'U' });
    }
    if !p.peer_choking {
        s.push('K');
    }
    if !p.am_choking && !p.peer_interested {
        s.push('?');
    }
    if !p.outgoing {
        s.push('I');
    }
    s
}

fn peer(p: &PeerView) -> Value {
    let progress = if p.num_pieces == 0 {
        0.0
    } else {
        p.have_count as f64 / p.num_pieces as f64
    };
    json!({
        "address": p.addr.ip().to_canonical().to_string(),
        "clientIsChoked": p.peer_choking,
        "clientIsInterested": false,
        "clientName": &*p.client,
        "flagStr": flag_str(p),
        "isDownloadingFrom": false,
        "isEncrypted": false,
        "isIncoming": !p.outgoing,
        "isUTP": false,
        "isUploadingTo": p.peer_interested && !p.am_choking,
        "peerIsChoked": p.am_choking,
        "peerIsInterested": p.peer_interested,
        "port": p.addr.port(),
        "progress": progress,
        "rateToClient": 0,
        "rateToPeer": p.upload_rate,
    })
}

fn tracker_stat(id: usize, s: &crate::tracker::TrackerStatus, tr: &TorrentTrackers) -> Value {
    // Transmission's announce states: 0 inactive, 1 waiting, 2 queued, 3 active.
    let announce_state = if s.updating {
        3
    } else if s.next_announce_unix > 0 {
        1
    } else {
        0
    };
    let result = if !s.last_error.is_empty() {
        s.last_error.clone()
    } else if s.verified {
        "Success".to_string()
    } else {
        String::new()
    };
    let announced = s.verified || s.fails > 0;
    let last = if s.verified { tr.last_announce_unix } else { 0 };
    json!({
        "announce": s.url,
        "announceState": announce_state,
        "downloadCount": s.scrape_downloaded,
        "hasAnnounced": announced,
        "hasScraped": s.scrape_complete >= 0,
        "host": tracker_host(&s.url),
        "id": id,
        "isBackup": tr.current.as_deref().is_some_and(|c| c != s.url) && s.tier > 0,
        "lastAnnouncePeerCount": 0,
        "lastAnnounceResult": result,
        "lastAnnounceStartTime": last,
        "lastAnnounceSucceeded": s.verified && s.last_error.is_empty(),
        "lastAnnounceTime": last,
        "lastAnnounceTimedOut": s.last_error.contains("timed out"),
        "lastScrapeResult": "",
        "lastScrapeStartTime": 0,
        "lastScrapeSucceeded": s.scrape_complete >= 0,
        "lastScrapeTime": if s.scrape_complete >= 0 { last } else { 0 },
        "lastScrapeTimedOut": false,
        "leecherCount": s.scrape_incomplete,
        "nextAnnounceTime": s.next_announce_unix,
        "nextScrapeTime": 0,
        "scrape": scrape_url(&s.url),
        "scrapeState": 0,
        "seederCount": s.scrape_complete,
        "sitename": sitename(&s.url),
        "tier": s.tier,
    })
}

/// The own share limits as Transmission modes: (ratio mode, ratio, idle
/// mode, idle minutes). Modes: 0 the session's, 1 the torrent's, 2 none.
pub(super) fn seed_limits(t: &TorrentView, view: &View) -> (i64, f64, i64, i64) {
    let own = t.share_limits;
    let g = view.session.share_limits;
    let (ratio_mode, ratio) = match own.ratio {
        -2.0 => (
            0,
            if g.max_ratio >= 0.0 {
                g.max_ratio
            } else {
                DEFAULT_RATIO
            },
        ),
        r if r < 0.0 => (2, DEFAULT_RATIO),
        r => (1, r),
    };
    let g_idle = g.max_inactive_seeding_time_secs;
    let (idle_mode, idle) = match own.inactive_seeding_time_secs {
        -2 => (
            0,
            if g_idle >= 0 {
                g_idle / 60
            } else {
                DEFAULT_IDLE_MINUTES
            },
        ),
        s if s < 0 => (2, DEFAULT_IDLE_MINUTES),
        s => (1, s / 60),
    };
    (ratio_mode, ratio, idle_mode, idle)
}

/// The value of one field, `None` for a field Transmission does not know
/// (it skips those).
pub(super) fn field(ctx: &Ctx<'_>, t: &TorrentView, id: i64, name: &str) -> Option<Value> {
    let meta = &t.meta;
    let total = meta.lengths.total_length();
    let tr = ctx.trackers.torrents.get(&t.info_hash).map(|a| &**a);
    let peers = crate::control::api::Api::torrent_peers(ctx.view, t.info_hash);
    let progress = webui::progress(t);
    Some(match name {
        "activityDate" => json!(webui::last_activity_unix(ctx.view, t)),
        "addedDate" => json!(webui::added_unix(ctx.view, t)),
        // Per piece: peers that have it, -1 for a piece we have (all of
        // them once checked; a seeder has nothing else to count).
        "availability" => {
            let have = if complete(t) { -1 } else { 0 };
            Value::Array(vec![json!(have); t.pieces as usize])
        }
        "bandwidthPriority" => json!(0),
        "comment" => json!(meta.comment.clone().unwrap_or_default()),
        "corruptEver" => json!(0),
        "creator" => json!(meta.created_by.clone().unwrap_or_default()),
        "dateCreated" => json!(meta.creation_date.unwrap_or(0).max(0)),
        "desiredAvailable" => json!(0),
        "doneDate" => json!(webui::completion_unix(ctx.view, t)),
        "downloadDir" => json!(t.save_path.display().to_string()),
        "downloadedEver" => json!(0),
        "downloadLimit" => json!(DEFAULT_SPEED_KBPS),
        "downloadLimited" => json!(false),
        "editDate" => json!(0),
        // 3 = a local error (TR_STAT_LOCAL_ERROR), 0 = none.
        "error" => json!(if t.error.is_some() { 3 } else { 0 }),
        "errorString" => json!(t
            .error
            .as_ref()
            .map(|e| e.message.clone())
            .unwrap_or_default()),
        "eta" | "etaIdle" => json!(ETA_NOT_AVAIL),
        "file-count" => json!(files(t).count()),
        "files" => {
            let done = complete(t);
            Value::Array(
                files(t)
                    .map(|f| {
                        json!({
                            "bytesCompleted": if done { f.length } else { 0 },
                            "length": f.length,
                            "name": f.path.join("/"),
                        })
                    })
                    .collect(),
            )
        }
        "fileStats" => {
            let done = complete(t);
            Value::Array(
                files(t)
                    .map(|f| {
                        json!({
                            "bytesCompleted": if done { f.length } else { 0 },
                            "priority": 0,
                            "wanted": true,
                        })
                    })
                    .collect(),
            )
        }
        "group" => json!(""),
        "hashString" => json!(t.info_hash.to_hex()),
        "haveUnchecked" => json!(0),
        "haveValid" => json!(t.bytes_have),
        "honorsSessionLimits" => json!(true),
        "id" => json!(id),
        "isFinished" => json!(false),
        "isPrivate" => json!(meta.private),
        "isStalled" => json!(false),
        "labels" => json!(webui::tags(t)),
        "leftUntilDone" => json!(total.saturating_sub(t.bytes_have)),
        "magnetLink" => json!(webui::magnet(meta)),
        "manualAnnounceTime" => json!(tr
            .and_then(|tr| tr.trackers.first())
            .map_or(-1, |s| s.min_announce_unix as i64)),
        "maxConnectedPeers" | "peer-limit" => json!(if t.max_connections > 0 {
            t.max_connections
        } else {
            DEFAULT_PEER_LIMIT
        }),
        "metadataPercentComplete" => json!(1.0),
        "name" => json!(meta.name),
        "peers" => Value::Array(peers.iter().map(|p| peer(p)).collect()),
        "peersConnected" => json!(peers.len()),
        "peersFrom" => {
            let from = |s: PeerSource| peers.iter().filter(|p| p.source == s).count();
            json!({
                "fromCache": 0,
                "fromDht": 0,
                "fromIncoming": from(PeerSource::INCOMING),
                "fromLpd": 0,
                "fromLtep": 0,
                "fromPex": 0,
                "fromTracker": from(PeerSource::TRACKER),
            })
        }
        "peersGettingFromUs" => json!(peers.iter().filter(|p| p.upload_rate > 0).count()),
        "peersSendingToUs" => json!(0),
        "percentComplete" | "percentDone" => json!(progress),
        "pieces" => {
            // The view holds counts, not the bitfield: all set once complete.
            let n = t.pieces as usize;
            let mut bits = vec![0u8; n.div_ceil(8)];
            if complete(t) {
                bits.iter_mut().for_each(|b| *b = 0xff);
                if !n.is_multiple_of(8) {
                    if let Some(last) = bits.last_mut() {
                        *last = 0xffu8 << (8 - n % 8);
                    }
                }
            }
            json!(base64::engine::general_purpose::STANDARD.encode(bits))
        }
        "pieceCount" => json!(t.pieces),
        "pieceSize" => json!(meta.lengths.piece_length()),
        "priorities" => Value::Array(files(t).map(|_| json!(0)).collect()),
        "primary-mime-type" => json!("application/octet-stream"),
        "queuePosition" => json!(t.queue_position),
        "rateDownload" => json!(0),
        "rateUpload" => json!(t.upload_rate),
        "recheckProgress" => json!(if t.state == TorrentState::Checking {
            progress
        } else {
            0.0
        }),
        "secondsDownloading" => json!(0),
        "secondsSeeding" => json!(t.seeding_secs),
        "seedIdleLimit" => json!(seed_limits(t, ctx.view).3),
        "seedIdleMode" => json!(seed_limits(t, ctx.view).2),
        "seedRatioLimit" => json!(seed_limits(t, ctx.view).1),
        "seedRatioMode" => json!(seed_limits(t, ctx.view).0),
        "sizeWhenDone" => json!(total),
        "startDate" => json!(if t.paused { 0 } else { t.seeding_started_unix }),
        "status" => json!(status(t)),
        "torrentFile" => json!(crate::session::store::torrent_file_path(
            ctx.state_dir,
            &t.info_hash
        )
        .display()
        .to_string()),
        "totalSize" => json!(total),
        "trackerList" => {
            let mut out = String::new();
            let mut last_tier = None;
            for (tier, url) in tiers(t, tr) {
                if last_tier.is_some_and(|l| l != tier) {
                    out.push('\n');
                }
                out.push_str(&url);
                out.push('\n');
                last_tier = Some(tier);
            }
            json!(out)
        }
        "trackers" => Value::Array(
            tiers(t, tr)
                .into_iter()
                .enumerate()
                .map(|(i, (tier, url))| {
                    json!({"announce": url, "id": i, "scrape": scrape_url(&url),
                           "sitename": sitename(&url), "tier": tier})
                })
                .collect(),
        ),
        "trackerStats" => Value::Array(match tr {
            Some(tr) if !tr.trackers.is_empty() => tr
                .trackers
                .iter()
                .enumerate()
                .map(|(i, s)| tracker_stat(i, s, tr))
                .collect(),
            // Not announced yet (just added, paused, trackers off): each
            // tracker of the metainfo, nothing known.
            _ => {
                let none = TorrentTrackers::default();
                tiers(t, None)
                    .into_iter()
                    .enumerate()
                    .map(|(i, (tier, url))| {
                        let s = crate::tracker::TrackerStatus {
                            url,
                            tier,
                            scrape_complete: -1,
                            scrape_incomplete: -1,
                            scrape_downloaded: -1,
                            ..Default::default()
                        };
                        tracker_stat(i, &s, &none)
                    })
                    .collect()
            }
        }),
        "uploadedEver" => json!(t.uploaded_total),
        "uploadLimit" => json!(if t.upload_limit > 0 {
            t.upload_limit / SPEED_UNIT
        } else {
            (ctx.parked_limit)(t).map_or(DEFAULT_SPEED_KBPS, |b| b / SPEED_UNIT)
        }),
        "uploadLimited" => json!(t.upload_limit > 0),
        "uploadRatio" => json!(if t.bytes_have == 0 {
            -1.0
        } else {
            t.uploaded_total as f64 / t.bytes_have as f64
        }),
        // 1 per wanted file: transmission-daemon 3.00 sends integers.
        "wanted" => Value::Array(files(t).map(|_| json!(1)).collect()),
        "webseeds" => Value::Array(
            (ctx.webseeds)(t)
                .iter()
                .map(|u| Value::String(u.clone()))
                .collect(),
        ),
        "webseedsSendingToUs" => json!(0),
        _ => return None,
    })
}

/// The metainfo's web seeds (BEP 19 `url-list`), read from the .torrent
/// the session keeps (none when it cannot be read).
pub(super) fn read_webseeds(state_dir: &Path, t: &TorrentView) -> Arc<[String]> {
    let path = crate::session::store::torrent_file_path(state_dir, &t.info_hash);
    match std::fs::read(path) {
        Ok(raw) => webui::webseeds(&raw)
            .into_iter()
            .filter_map(|v| v.get("url").and_then(Value::as_str).map(str::to_string))
            .collect(),
        Err(_) => Arc::from([]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrape_urls_by_convention() {
        assert_eq!(
            scrape_url("http://t.example/announce"),
            "http://t.example/scrape"
        );
        assert_eq!(
            scrape_url("http://t.example/x/announce.php?passkey=1"),
            "http://t.example/x/scrape.php?passkey=1"
        );
        assert_eq!(scrape_url("http://t.example/a"), "");
        assert_eq!(scrape_url("udp://t.example:80"), "udp://t.example:80");
    }

    #[test]
    fn hosts_and_sitenames() {
        assert_eq!(
            tracker_host("http://tracker.example.org/announce"),
            "http://tracker.example.org:80"
        );
        assert_eq!(
            tracker_host("http://127.0.0.1:6969/announce"),
            "http://127.0.0.1:6969"
        );
        assert_eq!(
            sitename("http://tracker.example.org:80/announce"),
            "example"
        );
        assert_eq!(sitename("http://127.0.0.1:6969/announce"), "127.0.0.1");
        assert_eq!(sitename("udp://[::1]:6969"), "::1");
    }

    #[test]
    fn field_names_are_unique() {
        let mut f = FIELDS.to_vec();
        f.sort_unstable();
        f.dedup();
        assert_eq!(f.len(), FIELDS.len());
    }
}
