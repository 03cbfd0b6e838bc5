//! Torrents and their state: loading metainfo, resolving files, checking
//! pieces (or trusting resume data), the registry the shards look info
//! hashes up in, and the persistent session ([`store`]).
//!
//! A [`Torrent`] is immutable once published: shards hold `Arc<Torrent>` and
//! never lock it per block. The [`Registry`] is written by the coordinator
//! (the owner of the torrent list) and read by shards at handshake time only.

pub mod checker;
pub mod store;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use parking_lot::RwLock;
use ringseed_proto::metainfo::{InfoHash, Metainfo, MetainfoError};

use crate::storage::{self, check, resume, FileSlot, Layout, StorageError};

/// A torrent ready to seed: metainfo, file layout and verified pieces.
#[derive(Debug)]
pub struct Torrent {
    pub meta: Arc<Metainfo>,
    /// The save path, canonical: every file is opened beneath it.
    pub root: PathBuf,
    pub layout: Layout,
    pub files: Arc<Vec<FileSlot>>,
    /// Verified pieces, one per piece.
    pub have: Vec<bool>,
    /// Verified pieces as a BEP 3 bitfield (what we send).
    pub bitfield: Vec<u8>,
    /// Number of verified pieces.
    pub have_count: u32,
}

impl Torrent {
    /// True when every piece is verified (we may send `have_all`).
    pub fn is_complete(&self) -> bool {
        self.have_count == self.meta.lengths.num_pieces()
    }

    /// A copy with some pieces marked had or not (`(index, have)`).
    pub fn with_pieces(&self, changes: impl IntoIterator<Item = (u32, bool)>) -> Torrent {
        let mut have = self.have.clone();
        for (i, h) in changes {
            if let Some(x) = have.get_mut(i as usize) {
                *x = h;
            }
        }
        Torrent {
            meta: self.meta.clone(),
            root: self.root.clone(),
            layout: self.layout.clone(),
            files: self.files.clone(),
            have_count: have.iter().filter(|h| **h).count() as u32,
            bitfield: resume::to_bitfield(&have),
            have,
        }
    }

    /// The pieces holding any byte of file `file` (none for an empty file).
    pub fn pieces_of_file(&self, file: usize) -> std::ops::Range<u32> {
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

/// What the registry knows of an info hash.
#[derive(Clone, Debug)]
pub enum TorrentEntry {
    /// Being hash checked: peers are refused with `torrent_checking` (−18).
    Checking,
    /// Paused by the operator: peers are refused as for an unknown torrent (−11).
    Paused,
    Ready(Arc<Torrent>),
}

/// Info hash → torrent, shared by all shards; written by the coordinator when
/// a torrent is added, checked, paused, resumed or removed; read once per
/// handshake.
pub type Registry = Arc<RwLock<HashMap<InfoHash, TorrentEntry>>>;

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

/// Reads and parses a .torrent file.
///
/// Errors: [`LoadError::Read`] or [`LoadError::Invalid`] with the reason.
pub fn read_metainfo(path: &Path) -> Result<(Metainfo, Vec<u8>), LoadError> {
    let p = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: p.clone(),
        source,
    })?;
    let meta =
        Metainfo::from_bytes(&bytes).map_err(|source| LoadError::Invalid { path: p, source })?;
    Ok((meta, bytes))
}

/// How the verified set of a loaded torrent was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckSource {
    /// Resume data applied; nothing was hashed.
    Resume,
    /// Pieces were hashed: this many bytes.
    Hashed { bytes: u64 },
}

/// Resolves files below `save_path`, then verifies pieces (or applies resume
/// data when `state_dir` is given, the files are unchanged and `force` is
/// false), and saves resume data.
///
/// Errors: the save path is unusable, or a file escapes it.
pub fn prepare(
    meta: Arc<Metainfo>,
    save_path: &Path,
    state_dir: Option<&Path>,
    hash_threads: usize,
    force: bool,
    progress: &Arc<AtomicU64>,
) -> Result<(Torrent, CheckSource), LoadError> {
    let p = meta.name.clone();
    let files = storage::resolve_files(&meta, save_path).map_err(|source| LoadError::Storage {
        path: p.clone(),
        source,
    })?;
    let root = std::fs::canonicalize(save_path).map_err(|source| LoadError::Storage {
        path: p,
        source: StorageError::DataDir {
            path: save_path.to_owned(),
            source,
        },
    })?;
    let files = Arc::new(files);
    let resumed = if force {
        None
    } else {
        state_dir.and_then(|d| resume::load(d, &meta, &files))
    };
    let (have, source) = match resumed {
        Some(have) => (have, CheckSource::Resume),
        None => {
            let r = check::verify_all(&meta, &root, &files, hash_threads, progress);
            for f in files.iter() {
                if let Some(path) = &f.path {
                    match f.stat {
                        None => {
                            tracing::warn!(torrent = %meta.name, file = %path.display(), "file missing or unreadable; its pieces are not seeded")
                        }
                        Some(s) if s.size < f.length => {
                            tracing::warn!(torrent = %meta.name, file = %path.display(), size = s.size, expected = f.length, "file is short; its missing pieces are not seeded")
                        }
                        _ => {}
                    }
                }
            }
            // A file that exists but cannot be opened (permissions, a symlink
            // leading out of the save path) is named with the reason.
            for f in files.iter().filter(|f| f.stat.is_some() && f.length > 0) {
                if let Some(rel) = &f.rel {
                    if let Err(e) = storage::files::open_fd_beneath(&root, rel, false) {
                        tracing::warn!(torrent = %meta.name, file = %root.join(rel).display(), error = %e, "file cannot be opened; its pieces are not seeded");
                    }
                }
            }
            if r.corrupt > 0 {
                tracing::warn!(torrent = %meta.name, pieces = r.corrupt, "pieces failed the hash check; they are not seeded");
            }
            if let Some(d) = state_dir {
                if let Err(e) = resume::save(d, &meta, &resume::record(&meta, &files, &r.verified))
                {
                    tracing::warn!(dir = %d.display(), error = %e, "cannot write resume data");
                }
            }
            (
                r.verified,
                CheckSource::Hashed {
                    bytes: r.bytes_hashed,
                },
            )
        }
    };
    let have_count = have.iter().filter(|h| **h).count() as u32;
    let bitfield = resume::to_bitfield(&have);
    let layout = Layout::new(&meta);
    Ok((
        Torrent {
            meta,
            root,
            layout,
            files,
            have,
            bitfield,
            have_count,
        },
        source,
    ))
}
