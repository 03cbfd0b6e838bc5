//! Storage: where a torrent's bytes live on disk, read-only.
//!
//! - [`Layout`] maps a torrent-wide byte range (a piece or a block) to file
//!   extents; a range can span many files, zero-length files included, and
//!   BEP 47 pad files are extents of zeros that are not on disk.
//! - [`resolve_files`] turns the metainfo's file list into checked absolute
//!   paths below the data directory (symlinks that leave it are refused).
//! - [`files`] opens data files beneath the save path, in a bounded cache.
//! - [`read`] is the one read path of block serving and the hash check: a
//!   torrent's files through a thread's cache ([`read::Disk`]) give a range
//!   (block or piece chunk) read into a buffer with io_uring, a run of
//!   blocks as one open file for `readv` or O_DIRECT, or a range as open
//!   files and zeros for splicing.
//! - [`check`] verifies pieces with SHA-1 on every core.
//! - [`resume`] keeps verified bitfields across restarts.

pub(crate) mod cache;
pub mod check;
pub(crate) mod files;
pub(crate) mod read;
pub(crate) mod remove;
pub(crate) mod resume;

use std::path::{Path, PathBuf};

use ringseed_proto::metainfo::Metainfo;

/// One contiguous run of bytes inside one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Extent {
    /// Index into the torrent's file list.
    pub(crate) file: usize,
    /// Byte offset inside that file.
    pub(crate) file_offset: u64,
    /// Length in bytes (never 0).
    pub(crate) len: u32,
    /// True for BEP 47 pad files: the bytes are zeros and nothing is read.
    pub(crate) pad: bool,
}

/// File layout of one torrent: file start offsets, sorted, for binary search.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    /// (torrent-wide offset, length, pad) per file, in torrent order.
    files: Vec<(u64, u64, bool)>,
}

impl Layout {
    /// Builds the layout from the metainfo's file list.
    pub(crate) fn new(meta: &Metainfo) -> Self {
        Layout {
            files: meta
                .files
                .iter()
                .map(|f| (f.offset, f.length, f.pad))
                .collect(),
        }
    }

    /// The extents of the torrent-wide range `offset..offset+len` (bytes), in
    /// order; zero-length files are skipped. No allocation (block hot path).
    pub(crate) fn extents(&self, offset: u64, len: u32) -> Extents<'_> {
        // First file whose end is past `offset`.
        let i = self
            .files
            .partition_point(|&(start, flen, _)| start + flen <= offset);
        Extents {
            files: &self.files,
            i,
            pos: offset,
            end: offset + len as u64,
        }
    }

    /// Bytes of the range `offset..offset+len` that lie in files (BEP 47 pad
    /// extents left out): what reading it takes from disk.
    pub(crate) fn file_bytes(&self, offset: u64, len: u32) -> u64 {
        self.extents(offset, len)
            .filter(|e| !e.pad)
            .map(|e| e.len as u64)
            .sum()
    }
}

/// Iterator over the extents of a range (see [`Layout::extents`]).
pub(crate) struct Extents<'a> {
    files: &'a [(u64, u64, bool)],
    i: usize,
    pos: u64,
    end: u64,
}

impl Iterator for Extents<'_> {
    type Item = Extent;
    fn next(&mut self) -> Option<Extent> {
        while self.pos < self.end && self.i < self.files.len() {
            let (start, flen, pad) = self.files[self.i];
            self.i += 1;
            if flen > 0 {
                let take = (start + flen).min(self.end) - self.pos;
                let e = Extent {
                    file: self.i - 1,
                    file_offset: self.pos - start,
                    len: take as u32,
                    pad,
                };
                self.pos += take;
                return Some(e);
            }
        }
        None
    }
}

/// Writes `bytes` to `path` atomically: a temp file in the same directory
/// (`NAME.tmpPID`), fsync, rename over `path`. The caller fsyncs the
/// directory ([`sync_dir`]) once after a batch of writes. A crash leaves the
/// old or the new file, never half of one; a leftover temp file is removed
/// by [`remove_temp_files`] at the next start.
///
/// Errors: any I/O error on the directory.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    let tmp = path.with_file_name(name);
    let r = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// fsyncs a directory, so renames and unlinks in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Removes `*.tmpPID` files a killed process left in `dir`; returns how many.
pub(crate) fn remove_temp_files(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in rd.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if let Some((_, pid)) = name.rsplit_once(".tmp") {
            if !pid.is_empty()
                && pid.bytes().all(|b| b.is_ascii_digit())
                && std::fs::remove_file(e.path()).is_ok()
            {
                n += 1;
            }
        }
    }
    n
}

/// Errors of path resolution.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "torrent {torrent}: file {path} resolves outside the data directory (through a symlink)"
    )]
    Escapes { torrent: String, path: PathBuf },
}

/// Where one file of a torrent is, and whether it is usable.
#[derive(Clone, Debug)]
pub struct FileSlot {
    /// Absolute path below the data directory (`None` for pad files), for logs and stat.
    pub(crate) path: Option<PathBuf>,
    /// The same path relative to the save path (what is opened beneath it).
    pub(crate) rel: Option<PathBuf>,
    /// Expected length in bytes.
    pub(crate) length: u64,
    /// Size and mtime found on disk at resolution, when the file exists.
    pub(crate) stat: Option<FileStat>,
}

/// Size (bytes) and modification time (ns since the epoch) of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct FileStat {
    pub(crate) size: u64,
    pub(crate) mtime_ns: i128,
}

/// Reads size and mtime of a path (following symlinks, as opening does).
pub(crate) fn stat(path: &Path) -> Option<FileStat> {
    let md = std::fs::metadata(path).ok()?;
    if !md.is_file() {
        return None;
    }
    let mtime = md.modified().ok()?;
    let mtime_ns = match mtime.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    };
    Some(FileStat {
        size: md.len(),
        mtime_ns,
    })
}

/// Resolves every file of `meta` below `data_dir`.
///
/// Lexical safety (no `..`, absolute paths, NUL…) is already enforced by the
/// metainfo parser; here the paths that exist are canonicalised and must stay
/// inside the canonical data directory, so a symlink pointing elsewhere is
/// refused. Missing files are not an error: their pieces are left out.
///
/// Errors: the data directory cannot be canonicalised, or a file escapes it.
pub fn resolve_files(meta: &Metainfo, data_dir: &Path) -> Result<Vec<FileSlot>, StorageError> {
    let root = std::fs::canonicalize(data_dir).map_err(|source| StorageError::DataDir {
        path: data_dir.to_owned(),
        source,
    })?;
    let mut out = Vec::with_capacity(meta.files.len());
    for f in &meta.files {
        if f.pad {
            out.push(FileSlot {
                path: None,
                rel: None,
                length: f.length,
                stat: None,
            });
            continue;
        }
        let rel = meta.file_path(f);
        let joined = root.join(&rel);
        // Walk up to the deepest existing ancestor so that a symlinked
        // directory is caught even when the file itself is missing.
        let mut probe = joined.as_path();
        let canon = loop {
            match std::fs::canonicalize(probe) {
                Ok(c) => break Some(c),
                Err(_) => match probe.parent() {
                    Some(p) if p.starts_with(&root) => probe = p,
                    _ => break None,
                },
            }
        };
        if let Some(c) = canon {
            if !c.starts_with(&root) {
                return Err(StorageError::Escapes {
                    torrent: meta.name.clone(),
                    path: joined,
                });
            }
        }
        let stat = if f.length == 0 {
            Some(FileStat {
                size: 0,
                mtime_ns: 0,
            })
        } else {
            stat(&joined)
        };
        out.push(FileSlot {
            path: Some(joined),
            rel: Some(rel),
            length: f.length,
            stat,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringseed_proto::metainfo::build_torrent;

    fn meta(files: &[(Vec<String>, u64)], piece_length: u32) -> Metainfo {
        let total: u64 = files.iter().map(|f| f.1).sum();
        let n = total.div_ceil(piece_length as u64) as usize;
        let hashes = vec![[0u8; 20]; n];
        Metainfo::from_bytes(&build_torrent(
            "t",
            files,
            piece_length,
            &hashes,
            None,
            "test",
        ))
        .unwrap()
    }

    #[test]
    fn piece_spanning_three_files_and_an_empty_one_maps_to_three_extents() {
        let m = meta(
            &[
                (vec!["a".into()], 10),
                (vec!["empty".into()], 0),
                (vec!["b".into()], 5),
                (vec!["c".into()], 100),
            ],
            32,
        );
        let l = Layout::new(&m);
        let e: Vec<Extent> = l.extents(0, 32).collect();
        assert_eq!(
            e,
            vec![
                Extent {
                    file: 0,
                    file_offset: 0,
                    len: 10,
                    pad: false
                },
                Extent {
                    file: 2,
                    file_offset: 0,
                    len: 5,
                    pad: false
                },
                Extent {
                    file: 3,
                    file_offset: 0,
                    len: 17,
                    pad: false
                },
            ]
        );
        // The short last piece: 115 - 96 = 19 bytes, all in file c.
        assert_eq!(
            l.extents(96, 19).collect::<Vec<_>>(),
            vec![Extent {
                file: 3,
                file_offset: 81,
                len: 19,
                pad: false
            }]
        );
    }

    #[test]
    fn symlink_leaving_the_data_dir_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"x").unwrap();
        let data = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), data.path().join("t")).unwrap();
        let m = meta(&[(vec!["secret".into()], 1)], 16384);
        let err = resolve_files(&m, data.path()).unwrap_err();
        assert!(matches!(err, StorageError::Escapes { .. }), "{err}");
    }

    #[test]
    fn missing_files_resolve_without_stat() {
        let data = tempfile::tempdir().unwrap();
        let m = meta(&[(vec!["x".into()], 5), (vec!["y".into()], 0)], 16384);
        let slots = resolve_files(&m, data.path()).unwrap();
        assert!(slots[0].stat.is_none());
        assert_eq!(
            slots[1].stat,
            Some(FileStat {
                size: 0,
                mtime_ns: 0
            })
        );
    }
}
