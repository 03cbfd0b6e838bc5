//! Open data files: a bounded, per-thread cache shared by the shards' block
//! reads and the hash check.
//!
//! - Files are opened *beneath* the torrent's save path: `openat2` with
//!   `RESOLVE_BENEATH` (and no magic links), so a file, or a folder on its
//!   way, swapped for a symlink that leads out of the save path is refused
//!   however late the swap happens; symlinks that stay inside are followed.
//!   Kernels without `openat2` (before 5.6) walk the path one component at a
//!   time with `O_NOFOLLOW` instead, which refuses every symlink.
//! - The cache holds at most `cap` entries and closes the least recently
//!   used file beyond that, so descriptors stay bounded with any number of
//!   torrents. An in-flight read keeps its own `Rc` of the file.
//! - A failed open is remembered, then retried after a backoff (1 s,
//!   doubling up to 60 s): a file that is briefly unreadable (chmod,
//!   descriptor exhaustion) comes back without a restart.
//!
//! One cache per thread (`Rc`/`RefCell`, no locks): each shard has one, each
//! hash-check worker has one.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringseed_proto::metainfo::InfoHash;
use rustix::fs::{Mode, OFlags, ResolveFlags};

use super::FileSlot;

/// First retry delay after a failed open; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Key of a cached file: (torrent, file index, opened with O_DIRECT).
type Key = (InfoHash, u32, bool);

enum Entry {
    Open {
        file: Rc<tokio_uring::fs::File>,
        used: u64,
    },
    Failed {
        retry_at: Instant,
        backoff: Duration,
        used: u64,
    },
}

impl Entry {
    fn used(&self) -> u64 {
        match self {
            Entry::Open { used, .. } | Entry::Failed { used, .. } => *used,
        }
    }
}

/// Why a file could not be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: open failed recently; retrying in {retry_in:?}")]
    Backoff { path: String, retry_in: Duration },
    #[error("pad file or no such file index")]
    NoFile,
}

/// A bounded cache of open data files for one thread.
pub(crate) struct FileCache {
    cap: usize,
    entries: RefCell<HashMap<Key, Entry>>,
    tick: Cell<u64>,
    /// Opens that failed (for logs and metrics).
    pub(crate) failures: Cell<u64>,
    /// Tell the kernel accesses are random (`POSIX_FADV_RANDOM`): no
    /// readahead beyond what each read asks for.
    random: bool,
}

impl FileCache {
    /// A cache holding at most `cap` (≥ 1) files.
    pub(crate) fn new(cap: usize) -> Self {
        FileCache {
            cap: cap.max(1),
            entries: RefCell::new(HashMap::new()),
            tick: Cell::new(0),
            failures: Cell::new(0),
            random: false,
        }
    }

    /// Files opened from now on are advised `POSIX_FADV_RANDOM` (page-cache
    /// opens only). For the shards: many peers interleave requests for
    /// pieces all over a file through one descriptor, so the kernel's
    /// readahead (8 MiB on this machine's virtual disk) reads mostly what
    /// nobody asked for once the payload is larger than the page cache
    /// (bytes read per byte sent, 3 GiB payload in 512 MiB: 2.7–3.1 with
    /// readahead; docs/benchmarks.md, "Read amplification"). A writer's
    /// batch reads up to 512 KiB of consecutive blocks at once anyway.
    pub(crate) fn random_access(mut self) -> Self {
        self.random = true;
        self
    }

    /// The open file `index` of a torrent whose content is below `root`
    /// (`direct`: O_DIRECT). Must run inside a `tokio_uring` runtime.
    ///
    /// Errors: a pad file; the open failed (now, or recently and its retry
    /// time has not come).
    pub(crate) fn get(
        &self,
        info_hash: InfoHash,
        root: &Path,
        slots: &[FileSlot],
        index: usize,
        direct: bool,
    ) -> Result<Rc<tokio_uring::fs::File>, OpenError> {
        let slot = slots.get(index).ok_or(OpenError::NoFile)?;
        let rel = slot.rel.as_ref().ok_or(OpenError::NoFile)?;
        let key = (info_hash, index as u32, direct);
        let now_tick = self.tick.get() + 1;
        self.tick.set(now_tick);
        let mut prev_backoff = None;
        if let Some(e) = self.entries.borrow_mut().get_mut(&key) {
            match e {
                Entry::Open { file, used } => {
                    *used = now_tick;
                    return Ok(file.clone());
                }
                Entry::Failed {
                    retry_at, backoff, ..
                } => {
                    let now = Instant::now();
                    if now < *retry_at {
                        return Err(OpenError::Backoff {
                            path: rel.display().to_string(),
                            retry_in: *retry_at - now,
                        });
                    }
                    prev_backoff = Some(*backoff);
                }
            }
        }
        let result = open_beneath(root, rel, direct);
        if let (Ok(f), true, false) = (&result, self.random, direct) {
            use std::os::fd::AsRawFd;
            // SAFETY: advice on a descriptor we hold open; no memory involved.
            unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_RANDOM) };
        }
        let entry = match &result {
            Ok(f) => Entry::Open {
                file: f.clone(),
                used: now_tick,
            },
            Err(_) => {
                self.failures.set(self.failures.get() + 1);
                let backoff = prev_backoff.map_or(FIRST_BACKOFF, |b| (b * 2).min(MAX_BACKOFF));
                Entry::Failed {
                    retry_at: Instant::now() + backoff,
                    backoff,
                    used: now_tick,
                }
            }
        };
        let mut entries = self.entries.borrow_mut();
        entries.insert(key, entry);
        while entries.len() > self.cap {
            // Least recently used goes; failures first among equals is not
            // needed: they are cheap to forget (the next open retries).
            let victim = entries
                .iter()
                .filter(|(k, _)| **k != key)
                .min_by_key(|(_, e)| e.used())
                .map(|(k, _)| *k);
            match victim {
                Some(k) => {
                    entries.remove(&k);
                }
                None => break,
            }
        }
        result.map_err(|source| OpenError::Io {
            path: root.join(rel).display().to_string(),
            source,
        })
    }

    /// Forgets every file of a torrent (removed, rechecked, paused).
    pub(crate) fn forget(&self, info_hash: &InfoHash) {
        self.entries.borrow_mut().retain(|k, _| &k.0 != info_hash);
    }
}

/// Opens `rel` read-only beneath the directory `root` without letting the
/// resolution leave it (see the module docs).
pub(crate) fn open_beneath(
    root: &Path,
    rel: &Path,
    direct: bool,
) -> std::io::Result<Rc<tokio_uring::fs::File>> {
    let fd = open_fd_beneath(root, rel, direct)?;
    // SAFETY: `fd` is a freshly opened descriptor we own; ownership moves to the File.
    let std_file = unsafe { std::fs::File::from_raw_fd(fd.into_raw_fd()) };
    Ok(Rc::new(tokio_uring::fs::File::from_std(std_file)))
}

/// The descriptor behind [`open_beneath`] (also used by data removal).
pub(crate) fn open_fd_beneath(root: &Path, rel: &Path, direct: bool) -> std::io::Result<OwnedFd> {
    let dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut flags = OFlags::RDONLY | OFlags::CLOEXEC;
    if direct {
        flags |= OFlags::DIRECT;
    }
    match rustix::fs::openat2(
        &dir,
        rel,
        flags,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => Ok(fd),
        Err(rustix::io::Errno::NOSYS) => walk_nofollow(dir, rel, flags),
        Err(e) => Err(e.into()),
    }
}

/// Fallback for kernels without `openat2`: one `openat(O_NOFOLLOW)` per
/// path component, so no symlink is followed at all.
fn walk_nofollow(mut dir: OwnedFd, rel: &Path, flags: OFlags) -> std::io::Result<OwnedFd> {
    let comps: Vec<_> = rel.components().collect();
    for (i, c) in comps.iter().enumerate() {
        let std::path::Component::Normal(name) = c else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "path component is not a plain name",
            ));
        };
        let last = i + 1 == comps.len();
        let f = if last {
            flags | OFlags::NOFOLLOW
        } else {
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
        };
        dir = rustix::fs::openat(&dir, *name, f, Mode::empty())?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_beneath_follows_inner_links_and_refuses_outer_ones() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("t")).unwrap();
        std::fs::write(root.path().join("t/a"), b"a").unwrap();
        std::os::unix::fs::symlink("a", root.path().join("t/inner")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("t/outer"))
            .unwrap();
        std::os::unix::fs::symlink("../../", root.path().join("t/up")).unwrap();
        let ok = |p: &str| open_fd_beneath(root.path(), Path::new(p), false).is_ok();
        assert!(ok("t/a"));
        assert!(ok("t/inner"));
        assert!(!ok("t/outer"));
        assert!(!ok("t/up/etc/passwd"));
        assert!(!ok("t/missing"));
    }
}
