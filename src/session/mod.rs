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
/// Errors: the save path is unusable, or a file escapes it.
pub(crate) fn prepare(
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
