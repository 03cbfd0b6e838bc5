//! The session threads' traffic: check jobs (coordinator → `hash-check`)
//! and their results (back to the coordinator), and store jobs
//! (coordinator → `session-store`) with the records they write and the
//! control command each one answers once the write is durable.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use ringseed_proto::metainfo::{InfoHash, Metainfo};
use serde::{Deserialize, Serialize};

use super::{unix_now, CommandError, IoFailure, Reply};
use crate::torrent::{CheckSource, LoadError, Torrent};

/// A torrent to verify.
pub(crate) struct CheckJob {
    pub(crate) info_hash: InfoHash,
    pub(crate) meta: Arc<Metainfo>,
    pub(crate) save_path: PathBuf,
    /// Hash every piece even when resume data matches (`torrents.recheck`).
    pub(crate) force: bool,
    /// The coordinator's generation of the torrent when queued: a result
    /// for an older generation (removed and re-added, rechecked again) is dropped.
    pub(crate) generation: u64,
    /// Check only these pieces of this (ready) torrent: a file that could
    /// not be read while serving is rechecked this way.
    pub(crate) pieces: Option<(Arc<Torrent>, Vec<u32>)>,
    /// Trust the data without hashing (qBittorrent's `skip_checking`): when
    /// every file exists with its length, every piece is taken as verified
    /// ([`CheckSource::Trusted`]); otherwise the torrent is hashed as usual.
    pub(crate) skip_checking: bool,
}

/// What a check found.
pub(crate) enum CheckOutcome {
    /// The whole torrent: ready to seed, or why not.
    Full(Result<(Arc<Torrent>, CheckSource), LoadError>),
    /// The pieces asked for, each verified or not.
    Pieces(Vec<(u32, bool)>),
}

/// A finished check.
pub(crate) struct CheckDone {
    pub(crate) info_hash: InfoHash,
    pub(crate) generation: u64,
    pub(crate) outcome: CheckOutcome,
}

/// What the coordinator asks the `session-store` thread to do. A job's
/// reply, when it has one, is sent once the write is durable.
pub(crate) enum StoreJob {
    /// Write a torrent's record (and its metainfo bytes, on add).
    Save {
        record: TorrentRecord,
        metainfo: Option<Arc<[u8]>>,
        reply: Option<StoreReply>,
    },
    /// Remove a torrent from the session, and its data when asked.
    Remove {
        info_hash: InfoHash,
        data: Option<(Arc<Metainfo>, PathBuf)>,
        reply: Option<StoreReply>,
    },
    /// Write many records at once (a clean stop banks every torrent's
    /// upload and seeding time): each is renamed into place without its own
    /// fsync, then one syncfs makes them all durable (10,000 fsyncs took
    /// over 30 s on a slow disk).
    SaveAll {
        records: Vec<TorrentRecord>,
        reply: Option<StoreReply>,
    },
    /// Write the session-wide settings.
    Settings {
        settings: SessionSettings,
        reply: Option<StoreReply>,
    },
}

impl StoreJob {
    /// Who waits for this job.
    pub(crate) fn reply_slot(&mut self) -> &mut Option<StoreReply> {
        match self {
            StoreJob::Save { reply, .. }
            | StoreJob::SaveAll { reply, .. }
            | StoreJob::Remove { reply, .. }
            | StoreJob::Settings { reply, .. } => reply,
        }
    }
}

/// Who waits for a store job, and what they are told once it is durable:
/// the store's error, if any, becomes [`CommandError::Store`].
#[derive(Debug)]
pub(crate) enum StoreReply {
    /// A control command answered with `Ok(())`.
    Done(Reply<Result<(), CommandError>>),
    /// An add, answered with the torrent's info hash.
    Added(InfoHash, Reply<Result<InfoHash, CommandError>>),
}

impl StoreReply {
    /// Sends the store's outcome (its error on failure).
    pub(crate) fn send(self, outcome: Result<(), IoFailure>) {
        let outcome = outcome.map_err(CommandError::Store);
        // A caller that stopped waiting (its client went away) is no error.
        match self {
            StoreReply::Done(tx) => {
                let _ = tx.send(outcome);
            }
            StoreReply::Added(ih, tx) => {
                let _ = tx.send(outcome.map(|()| ih));
            }
        }
    }
}

/// Format version of the record files.
const FORMAT: u32 = 1;

/// One torrent of the session, as stored (`STATE/session/<info hash>.json`,
/// written by the `session-store` thread): the coordinator keeps it as the
/// torrent's settings and hands it to that thread to write.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct TorrentRecord {
    pub(crate) format: u32,
    /// Info hash, 40 lowercase hex digits.
    pub(crate) info_hash: String,
    /// Torrent name (for people reading the file).
    pub name: String,
    /// Folder holding the torrent's content.
    pub(crate) save_path: PathBuf,
    pub(crate) paused: bool,
    /// Upload limit, bytes/s of payload; -1 = unlimited.
    pub upload_limit: i64,
    /// Most peers connected at once; -1 = unlimited.
    pub max_connections: i64,
    /// Upload slots of this torrent; -1 = the global `choking.upload_slots`.
    pub(crate) max_uploads: i64,
    /// Unix time the torrent was added, seconds.
    pub(crate) added_unix: u64,
    /// Order of addition (porla's `queue_position`).
    pub(crate) queue_position: u64,
    /// Payload bytes uploaded before this daemon started (all-time upload
    /// minus this run's); brought up to date when the daemon stops.
    pub(crate) uploaded_before: u64,
    /// Seconds seeded in earlier runs and earlier seeding spells of this
    /// run (added up when seeding stops: pause, recheck, shutdown). The
    /// seeding-time share limit counts all of it, as qBittorrent does.
    #[serde(default)]
    pub(crate) seeding_secs_before: u64,
    /// Category (qBittorrent's): "" = none. Only a label and a save path
    /// for adds: setting it never moves data.
    #[serde(default)]
    pub(crate) category: String,
    /// Tags (qBittorrent's), each one of the session's tags.
    #[serde(default)]
    pub(crate) tags: BTreeSet<String>,
    /// This torrent's share limits (-2 = the global one, -1 = none).
    #[serde(default)]
    pub(crate) share_limits: ShareLimits,
    /// Unix time the torrent was first complete (its first check found every
    /// piece), seconds; 0 = not yet.
    #[serde(default)]
    pub(crate) completion_unix: u64,
    /// Added with `skip_checking` and not hashed since: a read failure
    /// while serving has the whole torrent rechecked (not only the file's
    /// pieces), since nothing proved its data.
    #[serde(default)]
    pub(crate) skip_checked: bool,
}

impl TorrentRecord {
    /// A new record with default limits.
    pub(crate) fn new(
        meta: &Metainfo,
        save_path: PathBuf,
        paused: bool,
        queue_position: u64,
    ) -> Self {
        TorrentRecord {
            format: FORMAT,
            info_hash: meta.info_hash.to_hex(),
            name: meta.name.clone(),
            save_path,
            paused,
            upload_limit: -1,
            max_connections: -1,
            max_uploads: -1,
            added_unix: unix_now(),
            queue_position,
            uploaded_before: 0,
            seeding_secs_before: 0,
            category: String::new(),
            tags: BTreeSet::new(),
            share_limits: ShareLimits::default(),
            completion_unix: 0,
            skip_checked: false,
        }
    }
}

/// Session-wide settings changed at runtime (`STATE/session/settings.json`).
/// `None` = never set: the configuration's value (or the built-in default)
/// applies.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct SessionSettings {
    /// Global upload limit set through the RPC or the IPC, bytes/s (-1 = unlimited);
    /// `None` = the configuration's.
    pub upload_limit: Option<i64>,
    /// Download limit set through the IPC (`downlimit`), bytes/s (-1 =
    /// unlimited). Stored and reported only: a seeder downloads nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) download_limit: Option<i64>,
    /// Save path of torrents added without one (the IPC's `directory`);
    /// `None` = `storage.data_dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) default_save_path: Option<PathBuf>,
    /// Torrents added through the IPC start at once (the IPC's
    /// `autostart`); `None` = true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) autostart: Option<bool>,
    /// Categories (qBittorrent's): name → save path of torrents added in
    /// the category without a save path ("" = the default save path; a
    /// relative path is below it).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) categories: BTreeMap<String, PathBuf>,
    /// Tags (qBittorrent's) torrents may carry.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub(crate) tags: BTreeSet<String>,
    /// Global share limits set at runtime; `None` = the configuration's
    /// `[seeding]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) share_limits: Option<GlobalShareLimits>,
}

/// The per-torrent value meaning "use the global limit" (qBittorrent's -2).
pub(crate) const USE_GLOBAL: i64 = -2;
/// The value meaning "no limit" (qBittorrent's -1).
pub(crate) const NO_LIMIT: i64 = -1;

/// A torrent's share limits, with qBittorrent's meanings: -2 = use the
/// global limit, -1 = no limit, ≥ 0 = this limit. Times are in SECONDS
/// here (qBittorrent's API speaks minutes: convert with
/// [`ShareLimits::from_qbt_minutes`] / [`ShareLimits::to_qbt_minutes`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ShareLimits {
    /// Share ratio (payload uploaded / torrent size).
    pub(crate) ratio: f64,
    /// Seeding time, all runs together, seconds.
    pub(crate) seeding_time_secs: i64,
    /// Time without uploading, seconds.
    pub(crate) inactive_seeding_time_secs: i64,
}

impl Default for ShareLimits {
    /// Every limit the global one (-2), as qBittorrent adds torrents.
    fn default() -> Self {
        ShareLimits {
            ratio: USE_GLOBAL as f64,
            seeding_time_secs: USE_GLOBAL,
            inactive_seeding_time_secs: USE_GLOBAL,
        }
    }
}

/// Minutes (qBittorrent's unit) to seconds, sentinels (< 0) kept.
pub(crate) fn mins_to_secs(mins: i64) -> i64 {
    if mins < 0 {
        mins
    } else {
        mins.saturating_mul(60)
    }
}

/// Seconds to minutes (qBittorrent's unit), rounded up so that a limit is
/// never shown as shorter than it is; sentinels (< 0) kept.
#[allow(dead_code)] // The qBittorrent WebUI front end's (control/webui).
pub(crate) fn secs_to_mins(secs: i64) -> i64 {
    if secs < 0 {
        secs
    } else {
        (secs + 59) / 60
    }
}

/// A limit with qBittorrent's sentinels: -2 (when `global_allowed`) and
/// -1 kept, other negatives (and NaN) become -1.
fn norm_time(v: i64, global_allowed: bool) -> i64 {
    match v {
        USE_GLOBAL if global_allowed => USE_GLOBAL,
        v if v < 0 => NO_LIMIT,
        v => v,
    }
}

fn norm_ratio(v: f64, global_allowed: bool) -> f64 {
    if global_allowed && v == USE_GLOBAL as f64 {
        v
    } else if v.is_nan() || v < 0.0 {
        NO_LIMIT as f64
    } else {
        v
    }
}

#[allow(dead_code)] // The conversions are the qBittorrent WebUI front end's.
impl ShareLimits {
    /// From qBittorrent's units: `ratio`, seeding times in minutes (its
    /// `setShareLimits` parameters `ratioLimit`, `seedingTimeLimit`,
    /// `inactiveSeedingTimeLimit`).
    pub(crate) fn from_qbt_minutes(ratio: f64, mins: i64, inactive_mins: i64) -> Self {
        ShareLimits {
            ratio,
            seeding_time_secs: mins_to_secs(mins),
            inactive_seeding_time_secs: mins_to_secs(inactive_mins),
        }
        .normalized()
    }

    /// In qBittorrent's units: (ratio, seeding minutes, inactive minutes).
    pub(crate) fn to_qbt_minutes(self) -> (f64, i64, i64) {
        (
            self.ratio,
            secs_to_mins(self.seeding_time_secs),
            secs_to_mins(self.inactive_seeding_time_secs),
        )
    }

    /// Negative values other than -2 become -1 (no limit).
    pub(crate) fn normalized(self) -> Self {
        ShareLimits {
            ratio: norm_ratio(self.ratio, true),
            seeding_time_secs: norm_time(self.seeding_time_secs, true),
            inactive_seeding_time_secs: norm_time(self.inactive_seeding_time_secs, true),
        }
    }
}

pub(crate) use crate::config::ShareLimitAction;

/// The session's share limits (qBittorrent's `max_ratio`,
/// `max_seeding_time`, `max_inactive_seeding_time`, `max_ratio_act`), times
/// in seconds; -1 = no limit. They apply to torrents whose own limit is -2.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct GlobalShareLimits {
    pub(crate) max_ratio: f64,
    pub(crate) max_seeding_time_secs: i64,
    pub(crate) max_inactive_seeding_time_secs: i64,
    /// What a torrent that reaches any limit (its own or these) does.
    pub(crate) action: ShareLimitAction,
}

impl Default for GlobalShareLimits {
    /// No limits; the action stop.
    fn default() -> Self {
        GlobalShareLimits::from(&crate::config::Seeding::default())
    }
}

impl From<&crate::config::Seeding> for GlobalShareLimits {
    fn from(c: &crate::config::Seeding) -> Self {
        GlobalShareLimits {
            max_ratio: c.max_ratio,
            max_seeding_time_secs: c.max_seeding_time_secs,
            max_inactive_seeding_time_secs: c.max_inactive_seeding_time_secs,
            action: c.share_limit_action,
        }
        .normalized()
    }
}

impl GlobalShareLimits {
    /// Negative values become -1 (no limit; -2 means nothing here).
    pub(crate) fn normalized(self) -> Self {
        GlobalShareLimits {
            max_ratio: norm_ratio(self.max_ratio, false),
            max_seeding_time_secs: norm_time(self.max_seeding_time_secs, false),
            max_inactive_seeding_time_secs: norm_time(self.max_inactive_seeding_time_secs, false),
            action: self.action,
        }
    }
}

/// Whether `name` may be a category: qBittorrent's rule
/// (`Session::isValidCategoryName`): not empty, no `\\`, not starting or
/// ending with `/`, no `//` (a `/` separates subcategories).
pub(crate) fn valid_category_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains('\\')
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.contains("//")
}

/// The categories `name` implies: its parents and itself (`a/b/c` → `a`,
/// `a/b`, `a/b/c`), as qBittorrent creates them.
pub(crate) fn category_and_parents(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('/')
        .map(move |(i, _)| &name[..i])
        .chain(std::iter::once(name))
}

/// The parent category of `name` (`a/b` → `a`; `a` → "").
pub(crate) fn parent_category(name: &str) -> &str {
    name.rfind('/').map_or("", |i| &name[..i])
}

/// Whether `category` is `name` or one of its subcategories.
pub(crate) fn in_category(category: &str, name: &str) -> bool {
    category == name
        || category
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// `tag` trimmed, when it may be a tag: qBittorrent's rule (`Tag::isValid`):
/// not empty once trimmed, no comma.
pub(crate) fn tag_name(tag: &str) -> Option<&str> {
    let t = tag.trim();
    (!t.is_empty() && !t.contains(',')).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_names_follow_qbittorrents_rule() {
        for ok in ["tv", "tv/hd", "a b", "x/y/z", "é"] {
            assert!(valid_category_name(ok), "{ok}");
        }
        for bad in ["", "/tv", "tv/", "tv//hd", "a\\b", "/"] {
            assert!(!valid_category_name(bad), "{bad}");
        }
        assert_eq!(
            category_and_parents("a/b/c").collect::<Vec<_>>(),
            ["a", "a/b", "a/b/c"]
        );
        assert_eq!(parent_category("a/b"), "a");
        assert_eq!(parent_category("a"), "");
        assert!(in_category("a/b", "a") && in_category("a", "a"));
        assert!(!in_category("ab", "a"));
    }

    #[test]
    fn tag_names_are_trimmed_and_refused_when_empty_or_with_a_comma() {
        assert_eq!(tag_name("  x y "), Some("x y"));
        assert_eq!(tag_name("   "), None);
        assert_eq!(tag_name("a,b"), None);
    }

    #[test]
    fn share_limits_convert_qbittorrents_minutes_and_keep_sentinels() {
        let l = ShareLimits::from_qbt_minutes(-2.0, 3, -1);
        assert_eq!(
            (l.ratio, l.seeding_time_secs, l.inactive_seeding_time_secs),
            (-2.0, 180, -1)
        );
        assert_eq!(l.to_qbt_minutes(), (-2.0, 3, -1));
        let odd = ShareLimits {
            ratio: -7.0,
            seeding_time_secs: 61,
            inactive_seeding_time_secs: -5,
        }
        .normalized();
        assert_eq!(odd.ratio, -1.0);
        assert_eq!(odd.inactive_seeding_time_secs, -1);
        assert_eq!(odd.to_qbt_minutes().1, 2);
        // -2 means nothing for the global limits: no limit.
        let g = GlobalShareLimits {
            max_ratio: -2.0,
            max_seeding_time_secs: -2,
            ..GlobalShareLimits::default()
        }
        .normalized();
        assert_eq!((g.max_ratio, g.max_seeding_time_secs), (-1.0, -1));
        assert_eq!(
            ShareLimitAction::from_qbt(3),
            Some(ShareLimitAction::RemoveWithContent)
        );
        assert_eq!(ShareLimitAction::from_qbt(2), None);
        assert_eq!(ShareLimitAction::Remove.to_qbt(), 1);
    }
}
