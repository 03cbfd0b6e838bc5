//! The session threads' traffic: check jobs (coordinator → `hash-check`)
//! and their results (back to the coordinator), and store jobs
//! (coordinator → `session-store`) with the records they write and the
//! control command each one answers once the write is durable.

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
    /// Write the session-wide settings.
    Settings {
        settings: SessionSettings,
        reply: Option<StoreReply>,
    },
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
    /// minus this run's).
    pub(crate) uploaded_before: u64,
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
        }
    }
}

/// Session-wide settings changed at runtime (`STATE/session/settings.json`).
/// `None` = never set: the configuration's value (or the built-in default)
/// applies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
}
