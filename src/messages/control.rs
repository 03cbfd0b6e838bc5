//! Control runtime → coordinator: the operations of the session (add,
//! remove, pause, resume, recheck, properties, peers, limits, settings,
//! listen port), each answered on a [`Reply`] oneshot.

use std::net::SocketAddr;
use std::sync::Arc;

use ringseed_proto::metainfo::InfoHash;

use super::{GlobalShareLimits, IoFailure, Reply, ShareLimits};

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
    /// Category ("" = none). One the session lacks is created (save path
    /// ""), as qBittorrent does; an invalid name is dropped (no category)
    /// with a warning, as qBittorrent does.
    pub(crate) category: String,
    /// Tags; those the session lacks are created, invalid ones dropped
    /// (qBittorrent's behaviour).
    pub(crate) tags: Vec<String>,
    pub(crate) share_limits: ShareLimits,
    /// Trust the data without hashing when every file has its length
    /// (qBittorrent's `skip_checking`; see [`super::CheckJob::skip_checking`]).
    pub(crate) skip_checking: bool,
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
    /// A category named by a command is not in the session.
    #[error("category does not exist")]
    UnknownCategory,
    /// A category to create is already in the session.
    #[error("category already exists")]
    CategoryExists,
    /// A category or tag name qBittorrent's rules refuse (the name given).
    #[error("invalid name: {0:?}")]
    InvalidName(String),
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
    /// The torrent's content is now under this folder (absolute): the
    /// record is changed and the torrent checked again there (the caller
    /// moved the files, or they already were there).
    SetSavePath(
        InfoHash,
        std::path::PathBuf,
        Reply<Result<(), CommandError>>,
    ),
    /// Refuse these addresses from now on (until the daemon stops) and
    /// close their connections (the WebUI's `transfer/banPeers`).
    BanPeers(Vec<std::net::IpAddr>, Reply<Result<(), CommandError>>),
    /// Replaces the blocklist's ranges (inclusive) and closes the
    /// connections inside them; replies how many ranges are held after
    /// merging (Transmission's `blocklist-update`).
    SetBlocklist(Vec<(std::net::IpAddr, std::net::IpAddr)>, Reply<usize>),
    /// Sets the category of torrents (unknown torrents are skipped); ""
    /// clears it. Data is not moved (a seeder serves its files where they
    /// are). Refused with [`CommandError::UnknownCategory`].
    SetCategory(Vec<InfoHash>, String, Reply<Result<(), CommandError>>),
    /// Creates, edits or removes categories (kept in `settings.json`).
    Categories(CategoryChange, Reply<Result<(), CommandError>>),
    /// Creates or deletes tags (kept in `settings.json`).
    Tags(TagChange, Reply<Result<(), CommandError>>),
    /// Adds tags to torrents (creating those the session lacks, as
    /// qBittorrent does) or removes them from torrents (the session keeps
    /// them); unknown torrents are skipped.
    TorrentTags {
        info_hashes: Vec<InfoHash>,
        tags: Vec<String>,
        add: bool,
        reply: Reply<Result<(), CommandError>>,
    },
    /// Sets torrents' own share limits (unknown torrents are skipped).
    SetShareLimits(Vec<InfoHash>, ShareLimits, Reply<Result<(), CommandError>>),
    /// Sets the session's share limits (kept in `settings.json`, over the
    /// configuration's `[seeding]`).
    SetGlobalShareLimits(GlobalShareLimits, Reply<Result<(), CommandError>>),
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

/// A change to the session's categories (qBittorrent's `createCategory`,
/// `editCategory`, `removeCategories`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(dead_code)] // Built by the qBittorrent WebUI front end (control/webui).
pub(crate) enum CategoryChange {
    /// A new category (its missing parents, `a` of `a/b`, are created with
    /// save path ""). Refused: [`CommandError::InvalidName`],
    /// [`CommandError::CategoryExists`].
    Create {
        name: String,
        save_path: std::path::PathBuf,
    },
    /// A new save path for adds in the category (torrents already in it
    /// stay where they are). Refused: [`CommandError::UnknownCategory`].
    Edit {
        name: String,
        save_path: std::path::PathBuf,
    },
    /// Removes categories and their subcategories (unknown names are
    /// skipped); their torrents go to the removed category's parent (`a`
    /// for `a/b`), or none.
    Remove(Vec<String>),
}

/// A change to the session's tags (qBittorrent's `createTags`,
/// `deleteTags`); names are trimmed, and refused
/// ([`CommandError::InvalidName`]) when empty or holding a comma.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(dead_code)] // Built by the qBittorrent WebUI front end (control/webui).
pub(crate) enum TagChange {
    Create(Vec<String>),
    /// Deletes tags from the session and from every torrent that has them.
    Delete(Vec<String>),
}
