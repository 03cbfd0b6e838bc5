//! A torrent as the threads share it: the immutable [`Torrent`] the hash
//! check produces, the [`Registry`] the shards look info hashes up in, and
//! why a torrent could not be loaded ([`LoadError`]).
//!
//! A [`Torrent`] is immutable once published: shards hold `Arc<Torrent>` and
//! never lock it per block. The [`Registry`] is written by the coordinator
//! (the owner of the torrent list) and read by shards at handshake time only.
//! Plain data, no thread of its own, and below every thread: the session
//! threads, the coordinator, the shards and the messages between them all
//! import it; it imports none of them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::RwLock;
use ringseed_proto::metainfo::{InfoHash, Metainfo, MetainfoError};

use crate::storage::{FileSlot, Layout, StorageError};
use ringseed_proto::bitfield::Bitfield;

/// A torrent ready to seed: metainfo, file layout and verified pieces.
#[derive(Debug)]
pub(crate) struct Torrent {
    pub(crate) meta: Arc<Metainfo>,
    /// The save path, canonical: every file is opened beneath it.
    pub(crate) root: PathBuf,
    pub(crate) layout: Layout,
    pub(crate) files: Arc<Vec<FileSlot>>,
    /// Verified pieces (its bytes are the BEP 3 bitfield we send).
    pub(crate) pieces: Bitfield,
}

impl Torrent {
    /// True when every piece is verified (we may send `have_all`).
    pub(crate) fn is_complete(&self) -> bool {
        self.pieces.count() == self.meta.lengths.num_pieces()
    }

    /// A copy with some pieces marked had or not (`(index, have)`).
    pub(crate) fn with_pieces(&self, changes: impl IntoIterator<Item = (u32, bool)>) -> Torrent {
        let mut pieces = self.pieces.clone();
        for (i, h) in changes {
            pieces.set(i, h);
        }
        Torrent {
            meta: self.meta.clone(),
            root: self.root.clone(),
            layout: self.layout.clone(),
            files: self.files.clone(),
            pieces,
        }
    }

    /// The pieces holding any byte of file `file` (none for an empty file).
    pub(crate) fn pieces_of_file(&self, file: usize) -> std::ops::Range<u32> {
        let Some(f) = self.meta.files.get(file) else {
            return 0..0;
        };
        if f.length == 0 {
            return 0..0;
        }
        let pl = self.meta.lengths.piece_length() as u64;
        ((f.offset / pl) as u32)..(((f.offset + f.length - 1) / pl) as u32 + 1)
    }
}

/// Where a torrent of the session stands, as every reader shows it.
/// [`TorrentState::as_str`] is the text the JSON-RPC, the IPC and the
/// `state` label of `/metrics` carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TorrentState {
    /// Being hash checked.
    Checking,
    /// Checked and serving.
    Seeding,
    /// Paused by the operator (a check in progress shows as checking).
    Paused,
    /// The check failed (or never produced a torrent): nothing is served.
    Error,
}

impl TorrentState {
    /// "checking", "seeding", "paused" or "error".
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TorrentState::Checking => "checking",
            TorrentState::Seeding => "seeding",
            TorrentState::Paused => "paused",
            TorrentState::Error => "error",
        }
    }
}

impl std::fmt::Display for TorrentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the registry knows of an info hash.
#[derive(Clone, Debug)]
pub(crate) enum TorrentEntry {
    /// Being hash checked: peers are refused with `torrent_checking` (−18).
    Checking,
    /// Paused by the operator: peers are refused as for an unknown torrent (−11).
    Paused,
    Ready(Arc<Torrent>),
}

/// Info hash → torrent, shared by all shards; written by the coordinator when
/// a torrent is added, checked, paused, resumed or removed; read once per
/// handshake.
pub(crate) type Registry = Arc<RwLock<HashMap<InfoHash, TorrentEntry>>>;

/// How the verified set of a loaded torrent was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CheckSource {
    /// Resume data applied; nothing was hashed.
    Resume,
    /// Pieces were hashed: this many bytes.
    Hashed { bytes: u64 },
    /// Added with `skip_checking` and every file had its length: every
    /// piece taken as verified, nothing hashed (qBittorrent's seed mode).
    Trusted,
}

/// Why a torrent could not be loaded. Every variant names the torrent.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: invalid torrent: {source}")]
    Invalid { path: String, source: MetainfoError },
    #[error("{path}: {source}")]
    Storage { path: String, source: StorageError },
}
