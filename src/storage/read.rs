//! Reading torrent-wide byte ranges with io_uring: the one read path of
//! the shards' block serving and the hash check.
//!
//! A [`Disk`] is one torrent's files seen through one thread's
//! [`FileCache`]: given a range (a block or a piece chunk) it walks the file
//! extents ([`super::Layout`]) and opens the files behind them, so no caller
//! walks extents or opens files itself. It offers each send path what it
//! needs:
//! - [`Disk::read_range`]: every extent read at its file offset into its
//!   place in one buffer (short reads continue); BEP 47 pad extents are
//!   zero-filled without touching the disk (the hash check, and any block
//!   the faster ways below cannot take);
//! - [`Disk::read_block`]: a block into a block buffer, with O_DIRECT as
//!   whole aligned pages when asked and one file holds the block;
//! - [`Disk::contiguous`]: the open file holding a whole run of consecutive
//!   blocks, for one `readv` into several buffers;
//! - [`Disk::segments`]: a range as zeros and (open file, offset, length)
//!   parts, for splicing from the page cache into a pipe.
//!
//! The buffer is owned and travels into the kernel and back (tokio-uring's
//! model), so the caller gets it back on every path.

use std::ops::Range;
use std::path::Path;
use std::rc::Rc;

use ringseed_proto::metainfo::InfoHash;
use tokio_uring::buf::BoundedBufMut;
use tokio_uring::fs::File;

use super::files::{FileCache, OpenError};
use super::{Extent, Extents, FileSlot, Layout};

/// O_DIRECT alignment of memory, file offset and length, bytes.
pub(crate) const DIRECT_ALIGN: usize = 4096;

/// A buffer a range can be read into: a registered block buffer, a plain
/// one, or the hash check's `Vec`.
pub(crate) trait ReadTarget: Sized {
    /// Reads `range` of the buffer from `file` at `offset`; returns the bytes read.
    fn read_at(
        self,
        file: &File,
        range: Range<usize>,
        offset: u64,
    ) -> impl std::future::Future<Output = (std::io::Result<usize>, Self)>;
    /// Fills `range` with zeros (pad files).
    fn zero(&mut self, range: Range<usize>);
}

impl ReadTarget for Vec<u8> {
    async fn read_at(
        self,
        file: &File,
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
pub(crate) struct TorrentFiles<'a> {
    pub(crate) info_hash: InfoHash,
    /// The save path every file is opened beneath.
    pub(crate) root: &'a Path,
    pub(crate) slots: &'a [FileSlot],
    pub(crate) layout: &'a Layout,
}

/// Why a range could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
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
pub(crate) struct RangeError {
    pub(crate) file: usize,
    pub(crate) error: ReadError,
}

/// One torrent's data files read through one thread's file cache (see the
/// module docs). Cheap to make (references only) and `Copy`.
#[derive(Clone, Copy)]
pub(crate) struct Disk<'a> {
    cache: &'a FileCache,
    files: TorrentFiles<'a>,
}

/// A run of bytes that lies in one file, with that file open: what one
/// `readv` (or one O_DIRECT read) needs.
pub(crate) struct Contiguous {
    file: Rc<File>,
    extent: Extent,
}

/// One part of a range as it lies on disk (see [`Disk::segments`]).
pub(crate) enum Segment {
    /// A BEP 47 pad extent: this many zero bytes, nothing on disk.
    Zeros(u32),
    /// `len` bytes of an open file from byte `offset` of it.
    File {
        file: Rc<File>,
        offset: u64,
        len: u32,
    },
}

/// Iterator over the [`Segment`]s of a range (see [`Disk::segments`]).
pub(crate) struct Segments<'a> {
    disk: Disk<'a>,
    extents: Extents<'a>,
}

impl Iterator for Segments<'_> {
    type Item = Result<Segment, RangeError>;
    fn next(&mut self) -> Option<Self::Item> {
        let e = self.extents.next()?;
        if e.pad {
            return Some(Ok(Segment::Zeros(e.len)));
        }
        Some(match self.disk.open(e.file, false) {
            Ok(file) => Ok(Segment::File {
                file,
                offset: e.file_offset,
                len: e.len,
            }),
            Err(err) => Err(RangeError {
                file: e.file,
                error: err.into(),
            }),
        })
    }
}

impl<'a> Disk<'a> {
    /// The files `files` of one torrent, opened through `cache`.
    pub(crate) fn new(cache: &'a FileCache, files: TorrentFiles<'a>) -> Self {
        Disk { cache, files }
    }

    /// File `index` from the cache (`direct`: O_DIRECT).
    fn open(&self, index: usize, direct: bool) -> Result<Rc<File>, OpenError> {
        let t = &self.files;
        self.cache.get(t.info_hash, t.root, t.slots, index, direct)
    }

    /// The file extent holding all of `offset..offset+len`, if one file (not
    /// a BEP 47 pad file) does.
    fn single_extent(&self, offset: u64, len: u32) -> Option<Extent> {
        let mut ext = self.files.layout.extents(offset, len);
        match (ext.next(), ext.next()) {
            (Some(e), None) if !e.pad => Some(e),
            _ => None,
        }
    }

    /// The torrent-wide range `offset..offset+len` as one open file (opened
    /// with O_DIRECT when `direct`), when one file (not a pad file) holds all
    /// of it and opens; else `None` (the caller reads block by block, which
    /// reports errors per block).
    pub(crate) fn contiguous(&self, offset: u64, len: u32, direct: bool) -> Option<Contiguous> {
        let extent = self.single_extent(offset, len)?;
        let file = self.open(extent.file, direct).ok()?;
        Some(Contiguous { file, extent })
    }

    /// Bytes of the range `offset..offset+len` read from disk (see
    /// [`Layout::file_bytes`]).
    pub(crate) fn file_bytes(&self, offset: u64, len: u32) -> u64 {
        self.files.layout.file_bytes(offset, len)
    }

    /// The torrent-wide range `offset..offset+len` as it lies on disk, in
    /// order: pad zeros and open files (page cache). A file that cannot be
    /// opened yields its error (and the caller stops there). No allocation
    /// but the cache's own.
    pub(crate) fn segments(&self, offset: u64, len: u32) -> Segments<'a> {
        Segments {
            disk: *self,
            extents: self.files.layout.extents(offset, len),
        }
    }

    /// Reads the torrent-wide range `offset..offset+len` into `buf[start..start+len]`.
    /// `on_read` is called once per read submitted (for counters).
    ///
    /// Errors: a file cannot be opened, a read fails, or a file is short; the
    /// error names the file.
    pub(crate) async fn read_range<B: ReadTarget>(
        &self,
        offset: u64,
        len: u32,
        mut buf: B,
        start: usize,
        mut on_read: impl FnMut(),
    ) -> (Result<(), RangeError>, B) {
        let mut pos = start;
        for e in self.files.layout.extents(offset, len) {
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
            let file = match self.open(e.file, false) {
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

    /// Reads the block `offset..offset+len` (torrent-wide) into `buf` at
    /// index `at`; returns where the data starts in `buf` (`at` unless
    /// O_DIRECT read from an earlier page boundary). `on_read` as in
    /// [`Disk::read_range`].
    ///
    /// With `direct`, a block that one file holds is read with O_DIRECT as
    /// whole aligned pages landing at `at`, which must be [`DIRECT_ALIGN`]
    /// aligned in memory, with room for the block, the page part before it
    /// and the rest of its last page. Other blocks, and files O_DIRECT cannot
    /// open (tmpfs), are read through the page cache.
    ///
    /// Errors: as [`Disk::read_range`].
    pub(crate) async fn read_block<B: ReadTarget>(
        &self,
        offset: u64,
        len: u32,
        buf: B,
        at: usize,
        direct: bool,
        mut on_read: impl FnMut(),
    ) -> (Result<usize, RangeError>, B) {
        let run = if direct {
            self.contiguous(offset, len, true)
        } else {
            None
        };
        if let Some(Contiguous { file, extent: e }) = run {
            let aligned = e.file_offset & !(DIRECT_ALIGN as u64 - 1);
            let r = (e.file_offset - aligned) as usize;
            let rlen = (r + e.len as usize).div_ceil(DIRECT_ALIGN) * DIRECT_ALIGN;
            on_read();
            let (res, b) = buf.read_at(&file, at..at + rlen, aligned).await;
            let fail = |error| RangeError {
                file: e.file,
                error,
            };
            return match res {
                Ok(n) if n >= r + e.len as usize => (Ok(at + r), b),
                Ok(_) => (Err(fail(ReadError::Short)), b),
                Err(err) => (Err(fail(err.into())), b),
            };
        }
        let (res, buf) = self.read_range(offset, len, buf, at, on_read).await;
        (res.map(|()| at), buf)
    }
}

impl Contiguous {
    /// Reads the run into `bufs` in order with one `readv`; returns the bytes
    /// read (a short count is not an error) and the buffers.
    pub(crate) async fn readv<B: BoundedBufMut>(
        &self,
        bufs: Vec<B>,
    ) -> (std::io::Result<usize>, Vec<B>) {
        self.file.readv_at(bufs, self.extent.file_offset).await
    }
}

/// Reading without io_uring (hash check fallback when no ring can be
/// created): ordinary `pread`s on files opened the same way, kept open for
/// one torrent's check.
#[derive(Default)]
pub(crate) struct SyncFiles {
    open: std::collections::HashMap<usize, std::fs::File>,
}

impl SyncFiles {
    /// Reads the torrent-wide range starting at `offset` into all of `buf`.
    ///
    /// Errors: a file cannot be opened or read, or is short.
    pub(crate) fn read_range(
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
