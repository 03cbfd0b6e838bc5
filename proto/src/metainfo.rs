//! Torrent metainfo (`.torrent` files) as pure functions over bytes: no I/O.
//!
//! This module is the seeder's single source of truth about *what* a torrent
//! contains: its info hash, its files and where each one sits in the
//! torrent-wide byte stream, and the piece arithmetic ([`Lengths`]) that maps
//! piece indexes to byte ranges.
//!
//! - BEP 3: the metainfo dictionary (`announce`, `info` with `name`,
//!   `piece length`, `pieces`, and either `length` or `files`), and the info
//!   hash, SHA-1 over the raw bytes of the `info` value exactly as they appear
//!   in the file (unknown keys included, never re-encoded).
//! - BEP 12: `announce-list` tiers. They are optional and not needed to seed,
//!   so a malformed `announce-list` is ignored rather than refused.
//! - BEP 47: pad files (`attr` containing `p`) are marked on [`FileEntry::pad`];
//!   their bytes are zeros that are not stored on disk.
//! - BEP 52: v2 keys (`meta version`, `file tree`) are only *detected*. A hybrid
//!   v1+v2 torrent is accepted through its v1 view (`pieces`, `files`); a
//!   v2-only torrent is refused with [`MetainfoError::V2Only`].
//!
//! Every name and path component is validated before it reaches a
//! [`FileEntry`], so joining [`Metainfo::file_path`] to a data directory can
//! never escape it. [`build_torrent`] is the matching encoder used by
//! `ringseed create`.
//!
//! Decoding uses the strict bencode reader ([`crate::bencode::strict`],
//! bendy's), so non-canonical bencode (unsorted or duplicate dictionary
//! keys, leading zeros, `-0`) is refused as [`MetainfoError::NotBencode`].
//!
//! The parts: this file holds the types and errors; `parse` reads a file
//! ([`Metainfo::from_bytes`]), `paths` validates names and paths, `build`
//! writes a torrent ([`build_torrent`]).

use std::path::PathBuf;

use crate::lengths::{LengthsError, MAX_PIECE_LENGTH};

pub use crate::info_hash::InfoHash;
pub use crate::lengths::{Lengths, RequestError};
pub use build::{build_torrent, build_torrent_with_tiers};

mod build;
mod parse;
mod paths;
#[cfg(test)]
mod tests;

/// Largest number of entries accepted in a multi-file `files` list.
pub const MAX_FILES: usize = 1_000_000;

/// Maximum bencode nesting depth accepted while decoding. A v1 torrent needs
/// 5 levels (top dict, info, files, file dict, path); v2 `file tree`s of
/// hybrid torrents need one level per directory. The limit bounds the
/// decoder's memory and recursion on hostile input.
const MAX_DEPTH: usize = 512;

/// Why a torrent file was refused. Each message names the offending value.
#[derive(Debug, thiserror::Error)]
pub enum MetainfoError {
    /// The input is not valid (canonical) bencode, or has bytes after the
    /// top-level dictionary. Carries bendy's message.
    #[error("not valid bencode: {0}")]
    NotBencode(String),
    /// The input ends in the middle of a bencode value (or is empty).
    #[error("truncated bencode: {0}")]
    Truncated(String),
    /// The top-level value is not a dictionary.
    #[error("the top-level bencode value is not a dictionary")]
    NotADict,
    /// A required key is absent.
    #[error("missing required key `{0}`")]
    MissingKey(&'static str),
    /// A key holds a value of the wrong bencode type (or an integer outside
    /// the 64-bit range).
    #[error("key `{key}` has the wrong type: expected {expected}")]
    WrongType {
        /// The key, `files/...` for keys inside a `files` entry.
        key: &'static str,
        /// What was expected there.
        expected: &'static str,
    },
    /// `piece length` is 0.
    #[error("piece length is zero")]
    ZeroPieceLength,
    /// `piece length` exceeds [`MAX_PIECE_LENGTH`] (bytes).
    #[error("piece length {0} bytes exceeds the limit of {MAX_PIECE_LENGTH} bytes")]
    PieceLengthTooLarge(u64),
    /// `pieces` is not a whole number of 20-byte SHA-1 hashes (length in bytes).
    #[error("`pieces` is {0} bytes long, not a multiple of 20")]
    BadPiecesLength(usize),
    /// `pieces` holds a different number of hashes than the total length
    /// and piece length imply.
    #[error("expected {expected} piece hashes for the torrent's length, got {got}")]
    PieceCountMismatch {
        /// `ceil(total_length / piece_length)`.
        expected: u32,
        /// Hashes found in `pieces`.
        got: usize,
    },
    /// A file `length` (or `piece length`) is negative. `path` names the file
    /// (components joined with `/`) or the key.
    #[error("`{path}` has negative length {length}")]
    NegativeLength {
        /// The file path, or `piece length`.
        path: String,
        /// The value found.
        length: i64,
    },
    /// The torrent's total length is 0 bytes.
    #[error("torrent has no data")]
    NoData,
    /// A BEP 52 v2-only torrent (no v1 `pieces`).
    #[error("v2-only torrents (BEP 52) are not supported yet; need a v1 or hybrid torrent")]
    V2Only,
    /// `meta version` is greater than 2: a future, incompatible revision of BEP 52.
    #[error("unsupported `meta version` {0} (only 2 is known)")]
    UnsupportedMetaVersion(i64),
    /// The `info` dictionary has both `length` (single-file) and `files`
    /// (multi-file), so its layout is ambiguous.
    #[error("`info` has both `length` and `files`; the file layout is ambiguous")]
    BothLengthAndFiles,
    /// A name or path could escape or confuse the data directory. `path` is the
    /// offending path (components joined with `/`, lossy UTF-8).
    #[error("unsafe path `{path}`: {reason}")]
    UnsafePath {
        /// The offending path.
        path: String,
        /// One of: "absolute path", "`..` component", "empty component",
        /// "`.` component", "NUL byte", "path separator inside a component",
        /// "not UTF-8".
        reason: &'static str,
    },
    /// More than [`MAX_FILES`] entries in `files` (the count seen so far).
    #[error("too many files: more than {MAX_FILES} (saw {0})")]
    TooManyFiles(usize),
    /// The file lengths add up to more than `u64::MAX` bytes.
    #[error("total length of the files overflows 64 bits")]
    TotalLengthOverflow,
    /// The total length and piece length imply more than `u32::MAX` pieces.
    #[error("{0} pieces is more than the protocol's 32-bit piece index can address")]
    TooManyPieces(u64),
}

impl From<LengthsError> for MetainfoError {
    fn from(e: LengthsError) -> Self {
        match e {
            LengthsError::ZeroPieceLength => MetainfoError::ZeroPieceLength,
            LengthsError::PieceLengthTooLarge(n) => MetainfoError::PieceLengthTooLarge(n),
            LengthsError::NoData => MetainfoError::NoData,
            LengthsError::TooManyPieces(n) => MetainfoError::TooManyPieces(n),
        }
    }
}

/// One file of a torrent, in the torrent-wide byte stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Path components relative to the data directory: for a single-file
    /// torrent `[name]`, for a multi-file torrent `[name, dir..., file]`.
    /// Every component already validated (non-empty, not `.`/`..`, no
    /// separator, no NUL, not absolute, UTF-8).
    pub path: Vec<String>,
    /// Length of the file in bytes (may be 0).
    pub length: u64,
    /// Torrent-wide byte offset of the file's first byte.
    pub offset: u64,
    /// BEP 47 pad file (attr contains 'p'): zeros not stored on disk.
    pub pad: bool,
}

/// A parsed and validated `.torrent` file (v1 view).
#[derive(Clone, Debug)]
pub struct Metainfo {
    /// SHA-1 over the raw bytes of the `info` value exactly as they appear in
    /// the file.
    pub info_hash: InfoHash,
    /// The torrent's name (`name.utf-8` when present and valid, else `name`),
    /// validated as a single path component.
    pub name: String,
    /// Piece arithmetic: total length, piece length, piece count.
    pub lengths: Lengths,
    /// One SHA-1 per piece, in piece order; `len() == lengths.num_pieces()`.
    pub piece_hashes: Vec<[u8; 20]>,
    /// Files in torrent order, pad files included, zero-length files included.
    /// Offsets are contiguous: each file starts where the previous one ends.
    pub files: Vec<FileEntry>,
    /// True when the torrent uses the multi-file layout (`files`), even with
    /// a single entry.
    pub multi_file: bool,
    /// BEP 27 `private` flag (any nonzero integer counts as private).
    pub private: bool,
    /// The info dict has both v1 (`pieces`) and v2 (`meta version` == 2 or
    /// `file tree`) keys (BEP 52 hybrid).
    pub hybrid: bool,
    /// BEP 52 v2 info hash of a hybrid torrent: SHA-256 over the same raw
    /// `info` bytes (`None` for v1-only torrents).
    pub info_hash_v2: Option<[u8; 32]>,
    /// The `announce` tracker URL; `None` when absent or empty.
    pub announce: Option<String>,
    /// BEP 12 tracker tiers; empty when absent or malformed. Empty tiers and
    /// non-UTF-8 URLs are dropped.
    pub announce_list: Vec<Vec<String>>,
    /// The top-level `comment` (UTF-8), when present. Informational: a
    /// wrong type is ignored, never refused.
    pub comment: Option<String>,
    /// The top-level `created by` (UTF-8), when present (informational).
    pub created_by: Option<String>,
    /// The top-level `creation date`, Unix seconds, when present (informational).
    pub creation_date: Option<i64>,
}

impl Metainfo {
    /// Relative path (joined components) of a file, for joining to the data
    /// dir. Safe by construction: components were validated at parse time.
    pub fn file_path(&self, file: &FileEntry) -> PathBuf {
        file.path.iter().collect()
    }
}
