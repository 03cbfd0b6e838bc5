//! Control runtime → coordinator: the operations of the session (add,
//! remove, pause, resume, recheck, properties, peers, limits, settings,
//! listen port), each answered on a [`Reply`] oneshot.

use std::net::SocketAddr;
use std::sync::Arc;

use ringseed_proto::metainfo::InfoHash;

use super::{IoFailure, Reply};

/// A torrent to add to the session.
#[derive(Debug)]
pub(crate) struct AddTorrent {
    pub(crate) meta: Arc<ringseed_proto::metainfo::Metainfo>,
    /// The metainfo bytes as given (kept in the session).
    pub(crate) raw: Arc<[u8]>,
    /// Folder holding (or to hold) the torrent's content.
    pub(crate) save_path: std::path::PathBuf,
    pub(crate) paused: bool,
    pub(crate) props: TorrentProps,
}

/// Per-torrent settings (porla's `torrents.properties`): `None` leaves a
/// value as it is; -1 = unlimited / the global default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TorrentProps {
    /// Upload limit, bytes/s of payload (0 or -1 = unlimited).
    pub upload_limit: Option<i64>,
    /// Most connected peers.
    pub max_connections: Option<i64>,
    /// Upload slots.
    pub(crate) max_uploads: Option<i64>,
}

/// Why a control command failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CommandError {
    #[error("torrent not found")]
    NotFound,
    #[error("torrent already in the session")]
    Duplicate,
    #[error("{0}")]
    Store(IoFailure),
}

/// Control runtime → coordinator: the operations of the session.
#[derive(Debug)]
pub(crate) enum ControlCommand {
    /// Add a torrent; it is hashed unless resume data matches. Answered once
    /// the session on disk holds it.
    Add(Box<AddTorrent>, Reply<Result<InfoHash, CommandError>>),
    /// Remove torrents (unknown ones are skipped), closing their peers;
    /// `remove_data` deletes the files their metainfo names.
    Remove {
        info_hashes: Vec<InfoHash>,
        remove_data: bool,
        reply: Reply<Result<(), CommandError>>,
    },
    Pause(InfoHash, Reply<Result<(), CommandError>>),
    Resume(InfoHash, Reply<Result<(), CommandError>>),
    /// Hash every piece again (peers are closed while it checks).
    Recheck(InfoHash, Reply<Result<(), CommandError>>),
    SetProps(InfoHash, TorrentProps, Reply<Result<(), CommandError>>),
    /// Dial these peers for the torrent.
    AddPeers(InfoHash, Vec<SocketAddr>, Reply<Result<(), CommandError>>),
    /// The global upload limit, bytes/s (0 or -1 = unlimited); kept in the session.
    SetUploadLimit(i64, Reply<Result<(), CommandError>>),
    /// Peers a tracker returned for a seeding torrent: the coordinator dials
    /// those it is not connected to, within the caps of `[trackers]`
    /// (half-open, per torrent, global), with source = tracker.
    TrackerPeers {
        info_hash: InfoHash,
        peers: Vec<SocketAddr>,
    },
    /// A session-wide runtime setting (the IPC's `downlimit`, `directory`,
    /// `autostart`); kept in the session's `settings.json`.
    SetSession(SessionChange, Reply<Result<(), CommandError>>),
    /// Refuse these addresses from now on (until the daemon stops) and
    /// close their connections (the WebUI's `transfer/banPeers`).
    BanPeers(Vec<std::net::IpAddr>, Reply<Result<(), CommandError>>),
    /// Listen on `port` from now on: one listener per shard, bound by the
    /// caller (SO_REUSEPORT, like at start); existing peers stay.
    Listen {
        port: u16,
        listeners: Vec<std::net::TcpListener>,
        reply: Reply<Result<(), CommandError>>,
    },
}

/// A change to a session-wide runtime setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SessionChange {
    /// Download limit, bytes/s (0 or -1 = unlimited). Stored and reported
    /// only: a seeder downloads nothing.
    DownloadLimit(i64),
    /// Save path of torrents added without one (absolute).
    DefaultSavePath(std::path::PathBuf),
    /// Torrents added through the IPC start seeding at once (`false`: paused).
    Autostart(bool),
}
