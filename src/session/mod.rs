//! Torrents and their state: loading metainfo, resolving files, checking
//! pieces (or trusting resume data) on the `hash-check` thread
//! ([`checker`]), and the persistent session on the `session-store` thread
//! ([`store`]). The torrent the check produces and the registry the shards
//! read it from are in [`crate::torrent`]; the jobs these threads take and
//! the results they send are in [`crate::messages`].

pub(crate) mod checker;
pub(crate) mod store;

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use ringseed_proto::metainfo::Metainfo;

use crate::storage::{self, check, resume, Layout, StorageError};
use crate::torrent::{CheckSource, LoadError, Torrent};
use ringseed_proto::bitfield::Bitfield;

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

/// Resolves files below `save_path`, then verifies pieces (or applies resume
/// data when `state_dir` is given, the files are unchanged and `force` is
/// false), and saves resume data.
///
/// `skip_checking` (qBittorrent's): when every file exists with its
/// length, every piece is taken as verified without hashing and resume
/// data is written so a restart trusts it too; when a file is missing or
/// has another size, the torrent is hashed as usual (a warning says why) —
/// trusting it would announce pieces that cannot be served.
///
/// Errors: the save path is unusable, or a file escapes it.
pub(crate) fn prepare(
    meta: Arc<Metainfo>,
    save_path: &Path,
    state_dir: Option<&Path>,
    hash_threads: usize,
    force: bool,
    skip_checking: bool,
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
    let trusted = (skip_checking && resumed.is_none())
        .then(|| trust_files(&meta, &files))
        .flatten();
    if let Some(have) = &trusted {
        if let Some(d) = state_dir {
            if let Err(e) = resume::save(d, &meta, &resume::record(&meta, &files, have)) {
                tracing::warn!(dir = %d.display(), error = %e, "cannot write resume data");
            }
        }
    }
    let (have, source) = match (resumed, trusted) {
        (Some(have), _) => (have, CheckSource::Resume),
        (None, Some(have)) => (have, CheckSource::Trusted),
        (None, None) => {
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
    let pieces = Bitfield::from_bools(&have);
    let layout = Layout::new(&meta);
    Ok((
        Torrent {
            meta,
            root,
            layout,
            files,
            pieces,
        },
        source,
    ))
}

/// Every piece as verified when every file of `meta` exists with its
/// length (pad files need nothing); `None`, with a warning naming the first
/// file that does not, otherwise.
fn trust_files(meta: &Metainfo, files: &[storage::FileSlot]) -> Option<Vec<bool>> {
    for f in files {
        let Some(path) = &f.path else {
            continue;
        };
        let size = f.stat.map(|s| s.size);
        if size != Some(f.length) {
            tracing::warn!(
                torrent = %meta.name,
                file = %path.display(),
                size = size.map_or(-1, |s| s as i64),
                expected = f.length,
                "skip_checking refused: a file is missing or has another size; hashing the torrent"
            );
            return None;
        }
    }
    Some(vec![true; meta.lengths.num_pieces() as usize])
}
