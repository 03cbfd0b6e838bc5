//! Reading a torrent-wide byte range (a block or a piece chunk) into one
//! buffer with io_uring: the one read path of the shards' block serving and
//! the hash check.
//!
//! A range maps to file extents ([`super::Layout`]); each extent is read at
//! its file offset into its place in the buffer (short reads continue), BEP 47
//! pad extents are zero-filled without touching the disk. Files come from the
//! thread's [`FileCache`]. The buffer is owned and travels into the kernel
//! and back (tokio-uring's model), so the caller gets it back on every path.

use std::ops::Range;
use std::path::Path;

use ringseed_proto::metainfo::InfoHash;

use super::files::{FileCache, OpenError};
use super::{FileSlot, Layout};

/// A buffer a range can be read into: a registered block buffer, a plain
/// one, or the hash check's `Vec`.
pub trait ReadTarget: Sized {
    /// Reads `range` of the buffer from `file` at `offset`; returns the bytes read.
    fn read_at(
        self,
        file: &tokio_uring::fs::File,
        range: Range<usize>,
        offset: u64,
    ) -> impl std::future::Future<Output = (std::io::Result<usize>, Self)>;
    /// Fills `range` with zeros (pad files).
    fn zero(&mut self, range: Range<usize>);
}

impl ReadTarget for Vec<u8> {
    async fn read_at(
        self,
        file: &tokio_uring::fs::File,
        range: Range<usize>,
        offset: u64,
    ) -> (std::io::Result<usize>, Self) {
        use tokio_uring::buf::BoundedBuf;
        let (r, s) = file.read_at(self.slice(range), offset).await;
        (r, s.into_inner())
    }
    fn zero(&mut self, range: Range<usize>) {
        self[range].fill(0);
    }
}

/// The files of one torrent as the read path needs them.
#[derive(Clone, Copy)]
pub struct TorrentFiles<'a> {
    pub info_hash: InfoHash,
    /// The save path every file is opened beneath.
    pub root: &'a Path,
    pub slots: &'a [FileSlot],
    pub layout: &'a Layout,
}

/// Why a range could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("file shorter than the torrent says")]
    Short,
}

/// A read that failed, with the index of the file it failed on.
#[derive(Debug, thiserror::Error)]
#[error("file {file}: {error}")]
pub struct RangeError {
    pub file: usize,
    pub error: ReadError,
}

/// Reads the torrent-wide range `offset..offset+len` into `buf[start..start+len]`.
/// `on_read` is called once per read submitted (for counters).
///
/// Errors: a file cannot be opened, a read fails, or a file is short; the
/// error names the file.
pub async fn read_range<B: ReadTarget>(
    cache: &FileCache,
    t: TorrentFiles<'_>,
    offset: u64,
    len: u32,
    mut buf: B,
    start: usize,
    mut on_read: impl FnMut(),
) -> (Result<(), RangeError>, B) {
    let mut pos = start;
    for e in t.layout.extents(offset, len) {
        let end = pos + e.len as usize;
        if e.pad {
            buf.zero(pos..end);
            pos = end;
            continue;
        }
        let fail = |error: ReadError| RangeError {
            file: e.file,
            error,
        };
        let file = match cache.get(t.info_hash, t.root, t.slots, e.file, false) {
            Ok(f) => f,
            Err(err) => return (Err(fail(err.into())), buf),
        };
        let mut off = e.file_offset;
        while pos < end {
            on_read();
            let (res, b) = buf.read_at(&file, pos..end, off).await;
            buf = b;
            match res {
                Ok(0) => return (Err(fail(ReadError::Short)), buf),
                Ok(n) => {
                    pos += n;
                    off += n as u64;
                }
                Err(err) => return (Err(fail(err.into())), buf),
            }
        }
    }
    (Ok(()), buf)
}

/// Reading without io_uring (hash check fallback when no ring can be
/// created): ordinary `pread`s on files opened the same way, kept open for
/// one torrent's check.
#[derive(Default)]
pub struct SyncFiles {
    open: std::collections::HashMap<usize, std::fs::File>,
}

impl SyncFiles {
    /// Reads the torrent-wide range starting at `offset` into all of `buf`.
    ///
    /// Errors: a file cannot be opened or read, or is short.
    pub fn read_range(
        &mut self,
        t: TorrentFiles<'_>,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), ReadError> {
        use std::os::unix::fs::FileExt;
        let mut pos = 0usize;
        for e in t.layout.extents(offset, buf.len() as u32) {
            let end = pos + e.len as usize;
            if e.pad {
                buf[pos..end].fill(0);
                pos = end;
                continue;
            }
            let file = match self.open.entry(e.file) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    let rel = t
                        .slots
                        .get(e.file)
                        .and_then(|s| s.rel.as_ref())
                        .ok_or(OpenError::NoFile)?;
                    let fd = super::files::open_fd_beneath(t.root, rel, false)?;
                    v.insert(std::fs::File::from(fd))
                }
            };
            file.read_exact_at(&mut buf[pos..end], e.file_offset)
                .map_err(|err| {
                    if err.kind() == std::io::ErrorKind::UnexpectedEof {
                        ReadError::Short
                    } else {
                        ReadError::Io(err)
                    }
                })?;
            pos = end;
        }
        Ok(())
    }
}
