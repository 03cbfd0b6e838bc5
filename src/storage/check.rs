//! Piece verification (BEP 3 piece hashes) on every core, reading with io_uring.
//!
//! Each worker thread runs its own `tokio_uring` runtime with two tasks, so
//! one task's read is in the kernel while the other hashes. Pieces are handed
//! out through one atomic counter; a piece is read in chunks of at most
//! [`CHUNK`] bytes so memory does not grow with the piece length. Reads go
//! through the same path as block serving ([`super::read::Disk::read_range`],
//! files opened beneath the save path from a bounded [`FileCache`]). SHA-1 comes
//! from the `sha1` crate, which uses the CPU's SHA extensions when present.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use ringseed_proto::metainfo::Metainfo;
use sha1::{Digest, Sha1};

use super::files::FileCache;
use super::read::{Disk, TorrentFiles};
use super::{FileSlot, Layout};

/// Files each hash-check worker keeps open.
const FILES_PER_WORKER: usize = 16;
/// Submission queue entries of a worker's ring: two reads in flight need few.
const WORKER_RING_ENTRIES: u32 = 16;

/// Largest single read of the hash check, in bytes.
pub(crate) const CHUNK: usize = 1 << 20;
/// Tasks per worker thread (reads in flight per core).
const TASKS_PER_WORKER: usize = 2;

/// Outcome of a hash check.
#[derive(Clone, Debug)]
pub struct CheckResult {
    /// One entry per piece: true when its SHA-1 matched.
    pub(crate) verified: Vec<bool>,
    /// Bytes read from disk and hashed (pad bytes excluded).
    pub bytes_hashed: u64,
    /// Pieces that could not be read (missing or short file).
    pub unreadable: u32,
    /// Pieces whose bytes were read but whose hash did not match.
    pub corrupt: u32,
}

impl CheckResult {
    /// Number of verified pieces.
    pub fn verified_count(&self) -> u32 {
        self.verified.iter().filter(|v| **v).count() as u32
    }
}

const UNKNOWN: u8 = 0;
const OK: u8 = 1;
const CORRUPT: u8 = 2;
const UNREADABLE: u8 = 3;

/// Verifies every piece of a torrent with `threads` worker threads (0 = one
/// per core). `progress` counts hashed bytes as they go (for metrics and logs).
///
/// Never fails: a file that is missing, short or unreadable leaves its pieces
/// unverified.
pub fn verify_all(
    meta: &Arc<Metainfo>,
    root: &Path,
    slots: &Arc<Vec<FileSlot>>,
    threads: usize,
    progress: &Arc<AtomicU64>,
) -> CheckResult {
    verify_pieces(meta, root, slots, None, threads, progress)
}

/// Verifies the pieces in `only` (all pieces when `None`); pieces not in
/// `only` come back unverified. See [`verify_all`].
pub(crate) fn verify_pieces(
    meta: &Arc<Metainfo>,
    root: &Path,
    slots: &Arc<Vec<FileSlot>>,
    only: Option<&[u32]>,
    threads: usize,
    progress: &Arc<AtomicU64>,
) -> CheckResult {
    let n = meta.lengths.num_pieces();
    let list: Vec<u32> = match only {
        Some(l) => l.iter().copied().filter(|i| *i < n).collect(),
        None => (0..n).collect(),
    };
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let threads = threads.min(list.len().max(1));
    let job = Arc::new(Job {
        meta: meta.clone(),
        root: root.to_owned(),
        slots: slots.clone(),
        layout: Layout::new(meta),
        states: (0..n).map(|_| AtomicU8::new(UNKNOWN)).collect(),
        next: AtomicU32::new(0),
        progress: progress.clone(),
        list,
    });
    let before = progress.load(Ordering::Relaxed);
    std::thread::scope(|s| {
        for w in 0..threads {
            let job = job.clone();
            std::thread::Builder::new()
                .name(format!("hash-check-{w:02}"))
                .spawn_scoped(s, move || {
                    match tokio_uring::Runtime::new(
                        tokio_uring::builder().entries(WORKER_RING_ENTRIES),
                    ) {
                        Ok(rt) => rt.block_on(worker(job)),
                        Err(e) => {
                            // No ring (RLIMIT_MEMLOCK too small, io_uring
                            // disabled): hash with ordinary reads instead.
                            static WARNED: std::sync::Once = std::sync::Once::new();
                            WARNED.call_once(|| {
                                tracing::warn!(error = %e, "cannot create an io_uring ring for the hash check; hashing with ordinary reads")
                            });
                            worker_sync(&job)
                        }
                    }
                })
                .expect("spawn hash-check thread");
        }
    });
    let mut r = CheckResult {
        verified: Vec::with_capacity(n as usize),
        bytes_hashed: progress.load(Ordering::Relaxed) - before,
        unreadable: 0,
        corrupt: 0,
    };
    let mut listed = vec![only.is_none(); n as usize];
    for &i in job.list.iter() {
        listed[i as usize] = true;
    }
    for (s, listed) in job.states.iter().zip(listed) {
        let s = s.load(Ordering::Relaxed);
        r.verified.push(s == OK);
        match s {
            CORRUPT => r.corrupt += 1,
            UNREADABLE | UNKNOWN if listed => r.unreadable += 1,
            _ => {}
        }
    }
    r
}

/// What every worker of one check shares.
struct Job {
    meta: Arc<Metainfo>,
    /// The save path the files are opened beneath.
    root: PathBuf,
    slots: Arc<Vec<FileSlot>>,
    layout: Layout,
    /// One state per piece (`UNKNOWN` until hashed).
    states: Vec<AtomicU8>,
    /// Index into `list` of the next piece to hand out.
    next: AtomicU32,
    /// Bytes hashed (pad bytes excluded).
    progress: Arc<AtomicU64>,
    /// The pieces to check.
    list: Vec<u32>,
}

impl Job {
    /// The next piece to hash, if any is left.
    fn next_piece(&self) -> Option<u32> {
        self.list
            .get(self.next.fetch_add(1, Ordering::Relaxed) as usize)
            .copied()
    }

    fn files(&self) -> TorrentFiles<'_> {
        TorrentFiles {
            info_hash: self.meta.info_hash,
            root: &self.root,
            slots: &self.slots,
            layout: &self.layout,
        }
    }

    /// A read buffer: one chunk, at most a piece.
    fn buffer(&self) -> Vec<u8> {
        vec![0u8; CHUNK.min(self.meta.lengths.piece_length() as usize)]
    }
}

async fn worker(job: Arc<Job>) {
    let files = Rc::new(FileCache::new(FILES_PER_WORKER));
    let mut tasks = Vec::new();
    for _ in 0..TASKS_PER_WORKER {
        let (job, files) = (job.clone(), files.clone());
        tasks.push(tokio_uring::spawn(async move {
            let disk = Disk::new(&files, job.files());
            let mut buf = job.buffer();
            while let Some(index) = job.next_piece() {
                let (state, b) = hash_piece(&job.meta, disk, index, buf, &job.progress).await;
                buf = b;
                job.states[index as usize].store(state, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// The hash check without io_uring: the same pieces, ordinary `pread`s.
fn worker_sync(job: &Job) {
    let (meta, t) = (&job.meta, job.files());
    let mut files = super::read::SyncFiles::default();
    let mut buf = job.buffer();
    while let Some(index) = job.next_piece() {
        let mut hasher = Sha1::new();
        let start = meta.lengths.piece_offset(index);
        let len = meta.lengths.piece_len(index) as u64;
        let mut done = 0u64;
        let mut state = OK;
        while done < len {
            let want = (len - done).min(buf.len() as u64) as u32;
            if files
                .read_range(t, start + done, &mut buf[..want as usize])
                .is_err()
            {
                state = UNREADABLE;
                break;
            }
            hasher.update(&buf[..want as usize]);
            job.progress
                .fetch_add(job.layout.file_bytes(start + done, want), Ordering::Relaxed);
            done += want as u64;
        }
        if state == OK {
            let digest: [u8; 20] = hasher.finalize().into();
            if digest != meta.piece_hashes[index as usize] {
                state = CORRUPT;
            }
        }
        job.states[index as usize].store(state, Ordering::Relaxed);
    }
}

async fn hash_piece(
    meta: &Metainfo,
    disk: Disk<'_>,
    index: u32,
    mut buf: Vec<u8>,
    progress: &AtomicU64,
) -> (u8, Vec<u8>) {
    let mut hasher = Sha1::new();
    let start = meta.lengths.piece_offset(index);
    let len = meta.lengths.piece_len(index) as u64;
    let mut done = 0u64;
    while done < len {
        let want = (len - done).min(buf.len() as u64) as u32;
        let (res, b) = disk.read_range(start + done, want, buf, 0, || {}).await;
        buf = b;
        if res.is_err() {
            return (UNREADABLE, buf);
        }
        hasher.update(&buf[..want as usize]);
        // Pad bytes are hashed but not read from disk: count only file bytes.
        progress.fetch_add(disk.file_bytes(start + done, want), Ordering::Relaxed);
        done += want as u64;
    }
    let digest: [u8; 20] = hasher.finalize().into();
    let ok = digest == meta.piece_hashes[index as usize];
    (if ok { OK } else { CORRUPT }, buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringseed_proto::metainfo::build_torrent;

    fn torrent_for(
        dir: &std::path::Path,
        files: &[(&str, Vec<u8>)],
        piece_length: u32,
    ) -> Arc<Metainfo> {
        let all: Vec<u8> = files.iter().flat_map(|f| f.1.clone()).collect();
        let hashes: Vec<[u8; 20]> = all
            .chunks(piece_length as usize)
            .map(|c| Sha1::digest(c).into())
            .collect();
        std::fs::create_dir_all(dir.join("t")).unwrap();
        for (name, data) in files {
            std::fs::write(dir.join("t").join(name), data).unwrap();
        }
        let list: Vec<(Vec<String>, u64)> = files
            .iter()
            .map(|f| (vec![f.0.to_string()], f.1.len() as u64))
            .collect();
        Arc::new(
            Metainfo::from_bytes(&build_torrent(
                "t",
                &list,
                piece_length,
                &hashes,
                None,
                "test",
            ))
            .unwrap(),
        )
    }

    #[test]
    fn corrupt_and_short_files_leave_only_their_pieces_out() {
        let dir = tempfile::tempdir().unwrap();
        let a: Vec<u8> = (0..40_000u32).map(|i| (i * 7) as u8).collect();
        let b: Vec<u8> = (0..50_000u32).map(|i| (i * 13) as u8).collect();
        let meta = torrent_for(
            dir.path(),
            &[("a", a), ("empty", vec![]), ("b", b.clone())],
            16384,
        );
        let slots = Arc::new(super::super::resolve_files(&meta, dir.path()).unwrap());
        let progress = Arc::new(AtomicU64::new(0));
        let r = verify_all(&meta, dir.path(), &slots, 2, &progress);
        assert_eq!(r.verified_count(), meta.lengths.num_pieces());
        assert_eq!(r.bytes_hashed, 90_000);

        // Flip one byte in piece 4 (offset 70_000) and truncate b by 10 bytes: the last piece.
        let mut b2 = b;
        b2[70_000 - 40_000] ^= 1;
        b2.truncate(b2.len() - 10);
        std::fs::write(dir.path().join("t/b"), &b2).unwrap();
        let r = verify_all(&meta, dir.path(), &slots, 2, &progress);
        let bad: Vec<usize> = r
            .verified
            .iter()
            .enumerate()
            .filter(|(_, v)| !**v)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(bad, vec![4, 5]);
        assert_eq!((r.corrupt, r.unreadable), (1, 1));
    }
}
