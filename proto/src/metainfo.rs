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
//! Decoding uses bendy's strict decoder, so non-canonical bencode (unsorted or
//! duplicate dictionary keys, leading zeros, `-0`) is refused as
//! [`MetainfoError::NotBencode`].

use std::fmt;
use std::path::PathBuf;

use bendy::decoding::{Decoder, Object};
use sha1::{Digest, Sha1};

/// Size of a block in bytes (16 KiB): the unit peers request and the largest
/// request a seeder serves.
pub const BLOCK_LEN: u32 = 16384;

/// Largest accepted `piece length` in bytes (256 MiB = `1 << 28`).
///
/// A piece is the unit the seeder reads and hashes in one go when verifying
/// data, so this bounds the largest buffer a hostile torrent can make it
/// allocate. Real torrents use at most 16–64 MiB.
pub const MAX_PIECE_LENGTH: u32 = 1 << 28;

/// Largest number of entries accepted in a multi-file `files` list.
pub const MAX_FILES: usize = 1_000_000;

/// Maximum bencode nesting depth accepted while decoding. A v1 torrent needs
/// 5 levels (top dict, info, files, file dict, path); v2 `file tree`s of
/// hybrid torrents need one level per directory. The limit bounds the
/// decoder's memory and recursion on hostile input.
const MAX_DEPTH: usize = 512;

/// 20-byte SHA-1 info hash (BEP 3): the torrent's identity on the wire and at
/// trackers. `Display` and `Debug` print 40 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

impl InfoHash {
    /// The hash as 40 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 40 hex characters (either case). Returns `None` for any other
    /// length or a non-hex character.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 20];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(InfoHash(out))
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

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

/// Maps a bendy decoding error to `Truncated` (unexpected end of input) or
/// `NotBencode` (anything else), keeping bendy's message.
fn decode_err(e: bendy::decoding::Error) -> MetainfoError {
    let msg = e.to_string();
    // bendy does not expose its error kind; its EOF message is stable text.
    if msg.contains("EOF") {
        MetainfoError::Truncated(msg)
    } else {
        MetainfoError::NotBencode(msg)
    }
}

/// Why a block request `(index, begin, length)` is invalid for a torrent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The piece index is `>= num_pieces`.
    #[error("piece index {0} out of range")]
    PieceOutOfRange(u32),
    /// The requested length is 0 bytes.
    #[error("block length is zero")]
    ZeroLength,
    /// The requested length exceeds [`BLOCK_LEN`] bytes.
    #[error("block length {0} exceeds 16384")]
    TooLong(u32),
    /// `begin + length` goes past the end of the piece.
    #[error("block {begin}+{length} crosses the end of piece {index} ({piece_len} bytes)")]
    CrossesPieceEnd {
        /// Piece index.
        index: u32,
        /// Byte offset of the block inside the piece.
        begin: u32,
        /// Block length in bytes.
        length: u32,
        /// Length of that piece in bytes.
        piece_len: u32,
    },
}

/// Piece arithmetic for one torrent; the only place that multiplies piece
/// indexes. All lengths and offsets are in bytes.
///
/// Invariants (enforced by [`Lengths::new`]): `total_length > 0`,
/// `0 < piece_length <= MAX_PIECE_LENGTH`, and
/// `num_pieces = ceil(total_length / piece_length)` fits in `u32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lengths {
    total_length: u64,
    piece_length: u32,
    num_pieces: u32,
}

impl Lengths {
    /// Builds the arithmetic for `total_length` bytes cut into pieces of
    /// `piece_length` bytes (the last one may be shorter).
    ///
    /// Errors: [`MetainfoError::ZeroPieceLength`],
    /// [`MetainfoError::PieceLengthTooLarge`] (over [`MAX_PIECE_LENGTH`]),
    /// [`MetainfoError::NoData`] (`total_length == 0`),
    /// [`MetainfoError::TooManyPieces`] (piece count does not fit `u32`).
    pub fn new(total_length: u64, piece_length: u32) -> Result<Self, MetainfoError> {
        if piece_length == 0 {
            return Err(MetainfoError::ZeroPieceLength);
        }
        if piece_length > MAX_PIECE_LENGTH {
            return Err(MetainfoError::PieceLengthTooLarge(piece_length.into()));
        }
        if total_length == 0 {
            return Err(MetainfoError::NoData);
        }
        let n = total_length.div_ceil(u64::from(piece_length));
        let num_pieces = u32::try_from(n).map_err(|_| MetainfoError::TooManyPieces(n))?;
        Ok(Lengths {
            total_length,
            piece_length,
            num_pieces,
        })
    }

    /// Total length of the torrent's data in bytes (pad files included).
    pub fn total_length(&self) -> u64 {
        self.total_length
    }

    /// Nominal piece length in bytes (every piece but possibly the last).
    pub fn piece_length(&self) -> u32 {
        self.piece_length
    }

    /// Number of pieces (at least 1).
    pub fn num_pieces(&self) -> u32 {
        self.num_pieces
    }

    /// Torrent-wide byte offset of the first byte of piece `index`. Not
    /// range-checked: for `index >= num_pieces` the result is past the end.
    pub fn piece_offset(&self, index: u32) -> u64 {
        u64::from(index) * u64::from(self.piece_length)
    }

    /// Length of piece `index` in bytes: `piece_length`, except the last piece
    /// which may be shorter; 0 if `index >= num_pieces`.
    pub fn piece_len(&self, index: u32) -> u32 {
        if index >= self.num_pieces {
            return 0;
        }
        let rest = self.total_length - self.piece_offset(index);
        // rest > 0 because index < num_pieces; min with piece_length fits u32.
        rest.min(u64::from(self.piece_length)) as u32
    }

    /// Number of [`BLOCK_LEN`]-byte blocks in piece `index` (the last block may
    /// be short); 0 if `index >= num_pieces`.
    pub fn block_count(&self, index: u32) -> u32 {
        self.piece_len(index).div_ceil(BLOCK_LEN)
    }

    /// Length in bytes of block `block` of piece `index`: [`BLOCK_LEN`], except
    /// the piece's last block which may be shorter; 0 if either index is out
    /// of range.
    pub fn block_len(&self, index: u32, block: u32) -> u32 {
        let piece_len = u64::from(self.piece_len(index));
        let start = u64::from(block) * u64::from(BLOCK_LEN);
        if start >= piece_len {
            return 0;
        }
        (piece_len - start).min(u64::from(BLOCK_LEN)) as u32
    }

    /// Checks that `(index, begin, length)` (piece index, byte offset in the
    /// piece, byte count) is a request a seeder may serve: `index <
    /// num_pieces`, `0 < length <= BLOCK_LEN`, and `begin + length <=
    /// piece_len(index)` (computed without overflow). `begin` need not be
    /// block-aligned.
    ///
    /// Errors, checked in this order: [`RequestError::PieceOutOfRange`],
    /// [`RequestError::ZeroLength`], [`RequestError::TooLong`],
    /// [`RequestError::CrossesPieceEnd`].
    pub fn check_request(&self, index: u32, begin: u32, length: u32) -> Result<(), RequestError> {
        if index >= self.num_pieces {
            return Err(RequestError::PieceOutOfRange(index));
        }
        if length == 0 {
            return Err(RequestError::ZeroLength);
        }
        if length > BLOCK_LEN {
            return Err(RequestError::TooLong(length));
        }
        let piece_len = self.piece_len(index);
        if u64::from(begin) + u64::from(length) > u64::from(piece_len) {
            return Err(RequestError::CrossesPieceEnd {
                index,
                begin,
                length,
                piece_len,
            });
        }
        Ok(())
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

/// A file entry of the `files` list, as decoded, before validation.
#[derive(Default)]
struct RawFile<'a> {
    length: Option<i64>,
    path: Option<Vec<&'a [u8]>>,
    path_utf8: Option<Vec<&'a [u8]>>,
    pad: bool,
}

/// The fields of the `info` dictionary that matter, as decoded.
#[derive(Default)]
struct RawInfo<'a> {
    name: Option<&'a [u8]>,
    name_utf8: Option<&'a [u8]>,
    piece_length: Option<i64>,
    pieces: Option<&'a [u8]>,
    length: Option<i64>,
    files: Option<Vec<RawFile<'a>>>,
    private: bool,
    meta_version: Option<i64>,
    has_file_tree: bool,
}

fn wrong(key: &'static str, expected: &'static str) -> MetainfoError {
    MetainfoError::WrongType { key, expected }
}

fn int_value(obj: Object<'_, '_>, key: &'static str) -> Result<i64, MetainfoError> {
    match obj {
        Object::Integer(s) => s
            .parse()
            .map_err(|_| wrong(key, "integer within the 64-bit range")),
        _ => Err(wrong(key, "integer")),
    }
}

fn bytes_value<'ser>(
    obj: Object<'_, 'ser>,
    key: &'static str,
) -> Result<&'ser [u8], MetainfoError> {
    match obj {
        Object::Bytes(b) => Ok(b),
        _ => Err(wrong(key, "byte string")),
    }
}

fn bytes_list<'ser>(
    obj: Object<'_, 'ser>,
    key: &'static str,
) -> Result<Vec<&'ser [u8]>, MetainfoError> {
    let Object::List(mut list) = obj else {
        return Err(wrong(key, "list of byte strings"));
    };
    let mut out = Vec::new();
    while let Some(item) = list.next_object().map_err(decode_err)? {
        match item {
            Object::Bytes(b) => out.push(b),
            _ => return Err(wrong(key, "list of byte strings")),
        }
    }
    Ok(out)
}

fn parse_file<'ser>(obj: Object<'_, 'ser>) -> Result<RawFile<'ser>, MetainfoError> {
    let Object::Dict(mut d) = obj else {
        return Err(wrong("files", "list of dictionaries"));
    };
    let mut f = RawFile::default();
    while let Some((key, value)) = d.next_pair().map_err(decode_err)? {
        match key {
            b"length" => f.length = Some(int_value(value, "files/length")?),
            b"path" => f.path = Some(bytes_list(value, "files/path")?),
            b"path.utf-8" => f.path_utf8 = Some(bytes_list(value, "files/path.utf-8")?),
            b"attr" => f.pad = bytes_value(value, "files/attr")?.contains(&b'p'),
            // md5sum, sha1, symlink path, ...: not needed (dropping the
            // object still validates its structure).
            _ => {}
        }
    }
    Ok(f)
}

/// Walks the raw bytes of the `info` dictionary.
fn parse_info(raw: &[u8]) -> Result<RawInfo<'_>, MetainfoError> {
    let mut dec = Decoder::new(raw).with_max_depth(MAX_DEPTH);
    let Some(Object::Dict(mut d)) = dec.next_object().map_err(decode_err)? else {
        // The caller only hands over the raw bytes of a dictionary.
        return Err(wrong("info", "dictionary"));
    };
    let mut info = RawInfo::default();
    while let Some((key, value)) = d.next_pair().map_err(decode_err)? {
        match key {
            b"name" => info.name = Some(bytes_value(value, "name")?),
            b"name.utf-8" => info.name_utf8 = Some(bytes_value(value, "name.utf-8")?),
            b"piece length" => info.piece_length = Some(int_value(value, "piece length")?),
            b"pieces" => info.pieces = Some(bytes_value(value, "pieces")?),
            b"length" => info.length = Some(int_value(value, "length")?),
            b"private" => info.private = int_value(value, "private")? != 0,
            b"meta version" => info.meta_version = Some(int_value(value, "meta version")?),
            b"file tree" => info.has_file_tree = true,
            b"files" => {
                let Object::List(mut list) = value else {
                    return Err(wrong("files", "list of dictionaries"));
                };
                let mut files = Vec::new();
                while let Some(item) = list.next_object().map_err(decode_err)? {
                    if files.len() == MAX_FILES {
                        return Err(MetainfoError::TooManyFiles(files.len() + 1));
                    }
                    files.push(parse_file(item)?);
                }
                info.files = Some(files);
            }
            _ => {}
        }
    }
    Ok(info)
}

/// Lossy display form of a path for error messages.
fn display_path(parts: &[&[u8]]) -> String {
    parts
        .iter()
        .map(|p| String::from_utf8_lossy(p))
        .collect::<Vec<_>>()
        .join("/")
}

/// Validates one path component (UTF-8 already checked). `whole` is the full
/// path for the error message.
fn check_component(c: &str, whole: &dyn Fn() -> String) -> Result<(), MetainfoError> {
    let reason = if c.is_empty() {
        Some("empty component")
    } else if c == "." {
        Some("`.` component")
    } else if c == ".." {
        Some("`..` component")
    } else if c.contains('\0') {
        Some("NUL byte")
    } else if c.starts_with('/') || c.starts_with('\\') || is_drive_prefix(c) {
        Some("absolute path")
    } else if c.contains('/') || c.contains('\\') {
        Some("path separator inside a component")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(MetainfoError::UnsafePath {
            path: whole(),
            reason,
        }),
        None => Ok(()),
    }
}

/// `C:` style Windows drive prefix.
fn is_drive_prefix(c: &str) -> bool {
    let b = c.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// Picks `preferred` (a `.utf-8` variant) when present and valid UTF-8, else
/// `fallback`, and checks that every component is UTF-8 and safe.
/// `prefix` (the torrent name) only appears in error messages.
fn choose_path(
    prefix: Option<&str>,
    preferred: Option<&[&[u8]]>,
    fallback: Option<&[&[u8]]>,
) -> Result<Vec<String>, MetainfoError> {
    let preferred = preferred.filter(|p| p.iter().all(|c| std::str::from_utf8(c).is_ok()));
    let parts = preferred.or(fallback).unwrap_or(&[]);
    let whole = || {
        let rest = display_path(parts);
        match prefix {
            Some(n) => format!("{n}/{rest}"),
            None => rest,
        }
    };
    if parts.is_empty() {
        return Err(MetainfoError::UnsafePath {
            path: whole(),
            reason: "empty component",
        });
    }
    let mut out = Vec::with_capacity(parts.len());
    for c in parts {
        let s = std::str::from_utf8(c).map_err(|_| MetainfoError::UnsafePath {
            path: whole(),
            reason: "not UTF-8",
        })?;
        check_component(s, &whole)?;
        out.push(s.to_owned());
    }
    Ok(out)
}

/// Decodes `announce-list` (BEP 12). Returns `Ok(None)` when it is
/// malformed (wrong types): trackers are not needed to seed, so a broken
/// optional key should not make the whole torrent unusable. Bencode
/// *structure* errors still propagate, since the info hash depends on the
/// file being well-formed.
fn parse_announce_list(obj: Object<'_, '_>) -> Result<Option<Vec<Vec<String>>>, MetainfoError> {
    let Object::List(mut tiers) = obj else {
        return Ok(None);
    };
    let mut out = Vec::new();
    let mut malformed = false;
    while let Some(tier) = tiers.next_object().map_err(decode_err)? {
        let Object::List(mut urls) = tier else {
            malformed = true;
            continue;
        };
        let mut t = Vec::new();
        while let Some(url) = urls.next_object().map_err(decode_err)? {
            match url {
                Object::Bytes(b) => match std::str::from_utf8(b) {
                    Ok(s) if !s.is_empty() => t.push(s.to_owned()),
                    _ => {}
                },
                _ => malformed = true,
            }
        }
        if !t.is_empty() {
            out.push(t);
        }
    }
    Ok(if malformed { None } else { Some(out) })
}

/// Converts a decoded length to `u64`, refusing negatives.
fn non_negative(length: i64, path: impl FnOnce() -> String) -> Result<u64, MetainfoError> {
    u64::try_from(length).map_err(|_| MetainfoError::NegativeLength {
        path: path(),
        length,
    })
}

impl Metainfo {
    /// Parses and validates a .torrent file (BEP 3, v1; hybrid v1+v2 accepted
    /// through its v1 view; v2-only refused).
    ///
    /// The whole input must be exactly one bencoded dictionary. Errors: any
    /// [`MetainfoError`]: bencode errors ([`NotBencode`](MetainfoError::NotBencode),
    /// [`Truncated`](MetainfoError::Truncated), trailing bytes), structure
    /// errors (missing keys, wrong types), unsafe names or paths, and
    /// inconsistent lengths or piece counts.
    pub fn from_bytes(bytes: &[u8]) -> Result<Metainfo, MetainfoError> {
        let mut dec = Decoder::new(bytes).with_max_depth(MAX_DEPTH);
        let mut info_raw: Option<&[u8]> = None;
        let mut announce: Option<String> = None;
        let mut announce_list = Vec::new();
        let (mut comment, mut created_by, mut creation_date) = (None, None, None);
        {
            let mut top = match dec.next_object().map_err(decode_err)? {
                None => return Err(MetainfoError::Truncated("empty input".into())),
                Some(Object::Dict(d)) => d,
                Some(_) => return Err(MetainfoError::NotADict),
            };
            while let Some((key, value)) = top.next_pair().map_err(decode_err)? {
                match key {
                    b"info" => match value {
                        Object::Dict(d) => info_raw = Some(d.into_raw().map_err(decode_err)?),
                        _ => return Err(wrong("info", "dictionary")),
                    },
                    b"announce" => {
                        let url = std::str::from_utf8(bytes_value(value, "announce")?)
                            .map_err(|_| wrong("announce", "UTF-8 URL"))?;
                        announce = (!url.is_empty()).then(|| url.to_owned());
                    }
                    b"announce-list" => {
                        announce_list = parse_announce_list(value)?.unwrap_or_default();
                    }
                    b"comment" | b"created by" => {
                        let text = match value {
                            Object::Bytes(b) => std::str::from_utf8(b).ok().map(str::to_owned),
                            // Dropping a list or dict decoder consumes it.
                            _ => None,
                        };
                        match key {
                            b"comment" => comment = text,
                            _ => created_by = text,
                        }
                    }
                    b"creation date" => match value {
                        Object::Integer(i) => creation_date = i.parse().ok(),
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
        match dec.next_object().map_err(decode_err)? {
            None => {}
            Some(_) => {
                return Err(MetainfoError::NotBencode(
                    "trailing data after the top-level dictionary".into(),
                ))
            }
        }
        let info_raw = info_raw.ok_or(MetainfoError::MissingKey("info"))?;
        let info_hash = InfoHash(Sha1::digest(info_raw).into());
        let info = parse_info(info_raw)?;

        // BEP 52: implementations must check `meta version` first.
        if let Some(v) = info.meta_version {
            if v > 2 {
                return Err(MetainfoError::UnsupportedMetaVersion(v));
            }
        }
        let has_v2 = info.meta_version == Some(2) || info.has_file_tree;
        let pieces = match info.pieces {
            Some(p) => p,
            None if has_v2 => return Err(MetainfoError::V2Only),
            None => return Err(MetainfoError::MissingKey("pieces")),
        };

        let name_parts: Option<Vec<&[u8]>> = info.name.map(|n| vec![n]);
        let name_utf8_parts: Option<Vec<&[u8]>> = info.name_utf8.map(|n| vec![n]);
        if name_parts.is_none() && name_utf8_parts.is_none() {
            return Err(MetainfoError::MissingKey("name"));
        }
        let name = choose_path(None, name_utf8_parts.as_deref(), name_parts.as_deref())?
            .pop()
            .expect("one component");

        let piece_length = info
            .piece_length
            .ok_or(MetainfoError::MissingKey("piece length"))?;
        let piece_length = non_negative(piece_length, || "piece length".into())?;
        if piece_length == 0 {
            return Err(MetainfoError::ZeroPieceLength);
        }
        if piece_length > u64::from(MAX_PIECE_LENGTH) {
            return Err(MetainfoError::PieceLengthTooLarge(piece_length));
        }
        let piece_length = piece_length as u32; // <= MAX_PIECE_LENGTH

        if pieces.len() % 20 != 0 {
            return Err(MetainfoError::BadPiecesLength(pieces.len()));
        }

        let (files, multi_file) = match (info.length, info.files) {
            (Some(_), Some(_)) => return Err(MetainfoError::BothLengthAndFiles),
            (None, None) => return Err(MetainfoError::MissingKey("length")),
            (Some(length), None) => {
                let length = non_negative(length, || name.clone())?;
                let entry = FileEntry {
                    path: vec![name.clone()],
                    length,
                    offset: 0,
                    pad: false,
                };
                (vec![entry], false)
            }
            (None, Some(raw_files)) => {
                let mut files = Vec::with_capacity(raw_files.len());
                let mut offset = 0u64;
                for f in raw_files {
                    let rest = choose_path(Some(&name), f.path_utf8.as_deref(), f.path.as_deref())
                        .map_err(|e| match (e, &f.path, &f.path_utf8) {
                            // Neither key present: report the missing key, not an empty path.
                            (MetainfoError::UnsafePath { .. }, None, None) => {
                                MetainfoError::MissingKey("path")
                            }
                            (e, _, _) => e,
                        })?;
                    let mut path = Vec::with_capacity(rest.len() + 1);
                    path.push(name.clone());
                    path.extend(rest);
                    let length = f.length.ok_or(MetainfoError::MissingKey("length"))?;
                    let length = non_negative(length, || path.join("/"))?;
                    files.push(FileEntry {
                        path,
                        length,
                        offset,
                        pad: f.pad,
                    });
                    offset = offset
                        .checked_add(length)
                        .ok_or(MetainfoError::TotalLengthOverflow)?;
                }
                (files, true)
            }
        };
        let total: u64 = files.last().map_or(0, |f| f.offset + f.length);
        let lengths = Lengths::new(total, piece_length)?;

        let got = pieces.len() / 20;
        if got != lengths.num_pieces() as usize {
            return Err(MetainfoError::PieceCountMismatch {
                expected: lengths.num_pieces(),
                got,
            });
        }
        let piece_hashes = pieces
            .chunks_exact(20)
            .map(|c| <[u8; 20]>::try_from(c).expect("chunk of 20"))
            .collect();

        Ok(Metainfo {
            info_hash,
            name,
            lengths,
            piece_hashes,
            files,
            multi_file,
            private: info.private,
            hybrid: has_v2,
            info_hash_v2: has_v2.then(|| sha2::Sha256::digest(info_raw).into()),
            announce,
            announce_list,
            comment,
            created_by,
            creation_date,
        })
    }

    /// Relative path (joined components) of a file, for joining to the data
    /// dir. Safe by construction: components were validated at parse time.
    pub fn file_path(&self, file: &FileEntry) -> PathBuf {
        file.path.iter().collect()
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

fn put_int(out: &mut Vec<u8>, i: u64) {
    out.push(b'i');
    out.extend_from_slice(i.to_string().as_bytes());
    out.push(b'e');
}

/// Pure encoder for `ringseed create`: builds a v1 .torrent (canonical
/// bencode, keys sorted) and returns its bytes.
///
/// - `name`: the torrent name (file name or top directory).
/// - `files`: `(path components below the name, length in bytes)` in torrent
///   order. A single entry with an empty path makes a single-file torrent
///   (`length`); anything else makes a multi-file torrent (`files`).
/// - `piece_length`: bytes per piece; `piece_hashes`: one SHA-1 per piece.
/// - `announce`: tracker URL, omitted when `None`; `created_by` is omitted
///   when empty. No `creation date` is written, so the output is
///   deterministic.
///
/// Nothing is validated here: [`Metainfo::from_bytes`] on the result reports
/// any inconsistency (unsafe names, piece count mismatch, ...).
pub fn build_torrent(
    name: &str,
    files: &[(Vec<String>, u64)],
    piece_length: u32,
    piece_hashes: &[[u8; 20]],
    announce: Option<&str>,
    created_by: &str,
) -> Vec<u8> {
    let tiers: Vec<Vec<String>> = announce
        .map(|a| vec![vec![a.to_string()]])
        .unwrap_or_default();
    build_torrent_with_tiers(name, files, piece_length, piece_hashes, &tiers, created_by)
}

/// [`build_torrent`] with BEP 12 tracker tiers: `announce` is the first
/// URL of the first tier; `announce-list` is written when there is more
/// than one URL in all. Empty tiers are skipped.
pub fn build_torrent_with_tiers(
    name: &str,
    files: &[(Vec<String>, u64)],
    piece_length: u32,
    piece_hashes: &[[u8; 20]],
    tiers: &[Vec<String>],
    created_by: &str,
) -> Vec<u8> {
    let tiers: Vec<&Vec<String>> = tiers.iter().filter(|t| !t.is_empty()).collect();
    let announce = tiers.first().map(|t| t[0].as_str());
    let urls: usize = tiers.iter().map(|t| t.len()).sum();
    let mut info = Vec::new();
    info.push(b'd');
    if files.len() == 1 && files[0].0.is_empty() {
        put_bytes(&mut info, b"length");
        put_int(&mut info, files[0].1);
    } else {
        put_bytes(&mut info, b"files");
        info.push(b'l');
        for (path, length) in files {
            info.push(b'd');
            put_bytes(&mut info, b"length");
            put_int(&mut info, *length);
            put_bytes(&mut info, b"path");
            info.push(b'l');
            for c in path {
                put_bytes(&mut info, c.as_bytes());
            }
            info.push(b'e');
            info.push(b'e');
        }
        info.push(b'e');
    }
    put_bytes(&mut info, b"name");
    put_bytes(&mut info, name.as_bytes());
    put_bytes(&mut info, b"piece length");
    put_int(&mut info, piece_length.into());
    put_bytes(&mut info, b"pieces");
    put_bytes(&mut info, piece_hashes.concat().as_slice());
    info.push(b'e');

    let mut out = Vec::with_capacity(info.len() + 128);
    out.push(b'd');
    if let Some(url) = announce {
        put_bytes(&mut out, b"announce");
        put_bytes(&mut out, url.as_bytes());
    }
    if urls > 1 {
        put_bytes(&mut out, b"announce-list");
        out.push(b'l');
        for t in &tiers {
            out.push(b'l');
            for u in t.iter() {
                put_bytes(&mut out, u.as_bytes());
            }
            out.push(b'e');
        }
        out.push(b'e');
    }
    if !created_by.is_empty() {
        put_bytes(&mut out, b"created by");
        put_bytes(&mut out, created_by.as_bytes());
    }
    put_bytes(&mut out, b"info");
    out.extend_from_slice(&info);
    out.push(b'e');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // --- tiny hand-rolled bencode builders for test inputs ---

    fn bs(s: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        put_bytes(&mut v, s);
        v
    }

    fn int(i: i64) -> Vec<u8> {
        format!("i{i}e").into_bytes()
    }

    fn list(items: Vec<Vec<u8>>) -> Vec<u8> {
        let mut v = vec![b'l'];
        for i in items {
            v.extend(i);
        }
        v.push(b'e');
        v
    }

    /// Dictionary with keys sorted (canonical), as bendy requires.
    fn dict(mut pairs: Vec<(&str, Vec<u8>)>) -> Vec<u8> {
        pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut v = vec![b'd'];
        for (k, val) in pairs {
            v.extend(bs(k.as_bytes()));
            v.extend(val);
        }
        v.push(b'e');
        v
    }

    fn hashes(n: usize) -> Vec<u8> {
        (0..n).flat_map(|i| [i as u8; 20]).collect()
    }

    fn sha1(b: &[u8]) -> [u8; 20] {
        Sha1::digest(b).into()
    }

    fn torrent(info: Vec<u8>) -> Vec<u8> {
        dict(vec![("announce", bs(b"http://t/a")), ("info", info)])
    }

    fn multi(files: Vec<Vec<u8>>, total: u64, piece_length: i64) -> Vec<u8> {
        let n = total.div_ceil(piece_length as u64) as usize;
        torrent(dict(vec![
            ("files", list(files)),
            ("name", bs(b"top")),
            ("piece length", int(piece_length)),
            ("pieces", bs(&hashes(n))),
        ]))
    }

    fn file(path: &[&[u8]], length: i64) -> Vec<u8> {
        dict(vec![
            ("length", int(length)),
            ("path", list(path.iter().map(|c| bs(c)).collect())),
        ])
    }

    #[test]
    fn comment_creator_and_date_are_read_and_wrong_types_ignored() {
        let info = dict(vec![
            ("length", int(5)),
            ("name", bs(b"a")),
            ("piece length", int(16384)),
            ("pieces", bs(&hashes(1))),
        ]);
        let t = dict(vec![
            ("comment", bs(b"hello")),
            ("created by", bs(b"mktorrent 1.1")),
            ("creation date", int(1_186_444_800)),
            ("info", info.clone()),
        ]);
        let m = Metainfo::from_bytes(&t).unwrap();
        assert_eq!(m.comment.as_deref(), Some("hello"));
        assert_eq!(m.created_by.as_deref(), Some("mktorrent 1.1"));
        assert_eq!(m.creation_date, Some(1_186_444_800));
        let odd = dict(vec![
            ("comment", list(vec![int(1)])),
            ("created by", int(3)),
            ("creation date", bs(b"yesterday")),
            ("info", info),
        ]);
        let m = Metainfo::from_bytes(&odd).unwrap();
        assert_eq!(
            (m.comment, m.created_by, m.creation_date),
            (None, None, None)
        );
    }

    fn unsafe_reason(r: Result<Metainfo, MetainfoError>) -> &'static str {
        match r {
            Err(MetainfoError::UnsafePath { reason, .. }) => reason,
            other => panic!("expected UnsafePath, got {other:?}"),
        }
    }

    #[test]
    fn single_file_parses_and_info_hash_is_sha1_of_raw_info_slice() {
        let mut t = Vec::new();
        t.extend_from_slice(b"d8:announce14:http://tracker4:infod6:lengthi20000e4:name5:a.bin12:piece lengthi16384e6:pieces40:");
        t.extend_from_slice(&[0xab; 40]);
        t.extend_from_slice(b"ee");
        // The info value starts right after the `4:info` key and ends before
        // the top-level dictionary's final `e`.
        let start = t.windows(6).position(|w| w == b"4:info").unwrap() + 6;
        let expected = sha1(&t[start..t.len() - 1]);

        let m = Metainfo::from_bytes(&t).unwrap();
        assert_eq!(m.info_hash, InfoHash(expected));
        assert_eq!(m.name, "a.bin");
        assert!(!m.multi_file && !m.private && !m.hybrid);
        assert_eq!(m.announce.as_deref(), Some("http://tracker"));
        assert!(m.announce_list.is_empty());
        assert_eq!(m.lengths.total_length(), 20000);
        assert_eq!(m.lengths.num_pieces(), 2);
        assert_eq!(m.piece_hashes, vec![[0xab; 20]; 2]);
        assert_eq!(
            m.files,
            vec![FileEntry {
                path: vec!["a.bin".into()],
                length: 20000,
                offset: 0,
                pad: false
            }]
        );
        assert_eq!(m.file_path(&m.files[0]), PathBuf::from("a.bin"));
    }

    #[test]
    fn multi_file_with_zero_length_file_has_contiguous_offsets() {
        let t = multi(
            vec![
                file(&[b"a"], 10),
                file(&[b"empty"], 0),
                file(&[b"sub", b"b"], 30000),
            ],
            30010,
            16384,
        );
        let m = Metainfo::from_bytes(&t).unwrap();
        assert!(m.multi_file);
        assert_eq!(m.files.len(), 3);
        assert_eq!(m.files[0].path, ["top", "a"]);
        assert_eq!((m.files[0].offset, m.files[0].length), (0, 10));
        assert_eq!((m.files[1].offset, m.files[1].length), (10, 0));
        assert_eq!(m.files[2].path, ["top", "sub", "b"]);
        assert_eq!((m.files[2].offset, m.files[2].length), (10, 30000));
        assert_eq!(m.file_path(&m.files[2]), PathBuf::from("top/sub/b"));
        assert_eq!(m.lengths.num_pieces(), 2);
    }

    #[test]
    fn lengths_last_piece_short() {
        let l = Lengths::new(40000, 16384).unwrap();
        assert_eq!(l.num_pieces(), 3);
        assert_eq!(l.piece_offset(2), 32768);
        assert_eq!(l.piece_len(0), 16384);
        assert_eq!(l.piece_len(2), 40000 - 32768);
        assert_eq!(l.piece_len(3), 0);
        assert_eq!(l.block_count(2), 1);
        assert_eq!(l.block_len(2, 0), 7232);
        assert_eq!(l.block_len(2, 1), 0);
    }

    #[test]
    fn lengths_exact_multiple_and_blocks() {
        let l = Lengths::new(4 * 65536, 65536).unwrap();
        assert_eq!(l.num_pieces(), 4);
        assert_eq!(l.piece_len(3), 65536);
        assert_eq!(l.block_count(3), 4);
        assert_eq!(l.block_len(3, 3), BLOCK_LEN);
        assert_eq!(l.block_len(3, 4), 0);
        assert_eq!(l.block_len(3, u32::MAX), 0);
        assert_eq!(l.block_count(4), 0);

        let l = Lengths::new(65536 + 100, 65536).unwrap();
        assert_eq!(l.block_count(1), 1);
        assert_eq!(l.block_len(1, 0), 100);
        let l = Lengths::new(20000, 20000).unwrap();
        assert_eq!(l.block_count(0), 2);
        assert_eq!(l.block_len(0, 1), 20000 - 16384);
    }

    #[test]
    fn lengths_new_refuses_bad_inputs() {
        assert!(matches!(
            Lengths::new(1, 0),
            Err(MetainfoError::ZeroPieceLength)
        ));
        assert!(matches!(Lengths::new(0, 16384), Err(MetainfoError::NoData)));
        assert!(matches!(
            Lengths::new(1, MAX_PIECE_LENGTH + 1),
            Err(MetainfoError::PieceLengthTooLarge(_))
        ));
        assert!(matches!(
            Lengths::new(u64::MAX, 1),
            Err(MetainfoError::TooManyPieces(_))
        ));
        // The largest addressable torrent: u32::MAX full pieces of the largest size.
        let max = u64::from(u32::MAX) * u64::from(MAX_PIECE_LENGTH);
        let l = Lengths::new(max, MAX_PIECE_LENGTH).unwrap();
        let last = l.num_pieces() - 1;
        assert_eq!(last, u32::MAX - 1);
        assert_eq!(l.piece_offset(last) + u64::from(l.piece_len(last)), max);
        assert!(matches!(
            Lengths::new(max + 1, MAX_PIECE_LENGTH),
            Err(MetainfoError::TooManyPieces(_))
        ));
    }

    #[test]
    fn check_request_accepts_valid_and_reports_each_error() {
        let l = Lengths::new(40000, 32768).unwrap(); // pieces of 32768 and 7232
        assert_eq!(l.check_request(0, 0, BLOCK_LEN), Ok(()));
        assert_eq!(l.check_request(0, 16384, BLOCK_LEN), Ok(()));
        assert_eq!(l.check_request(1, 7232 - 1, 1), Ok(()));
        assert_eq!(
            l.check_request(2, 0, 1),
            Err(RequestError::PieceOutOfRange(2))
        );
        assert_eq!(l.check_request(0, 0, 0), Err(RequestError::ZeroLength));
        assert_eq!(
            l.check_request(0, 0, BLOCK_LEN + 1),
            Err(RequestError::TooLong(BLOCK_LEN + 1))
        );
        assert_eq!(
            l.check_request(1, 7000, 300),
            Err(RequestError::CrossesPieceEnd {
                index: 1,
                begin: 7000,
                length: 300,
                piece_len: 7232
            })
        );
        // begin + length would overflow u32: must still be refused, not wrap.
        assert_eq!(
            l.check_request(0, u32::MAX, BLOCK_LEN),
            Err(RequestError::CrossesPieceEnd {
                index: 0,
                begin: u32::MAX,
                length: BLOCK_LEN,
                piece_len: 32768
            })
        );
    }

    #[test]
    fn traversal_component_refused() {
        let t = multi(vec![file(&[b"..", b"x"], 1)], 1, 16384);
        assert_eq!(unsafe_reason(Metainfo::from_bytes(&t)), "`..` component");
    }

    #[test]
    fn absolute_path_refused() {
        let t = multi(vec![file(&[b"/etc", b"passwd"], 1)], 1, 16384);
        assert_eq!(unsafe_reason(Metainfo::from_bytes(&t)), "absolute path");
        let t = multi(vec![file(&[b"C:", b"x"], 1)], 1, 16384);
        assert_eq!(unsafe_reason(Metainfo::from_bytes(&t)), "absolute path");
    }

    #[test]
    fn empty_component_and_empty_path_refused() {
        let t = multi(vec![file(&[b"a", b"", b"b"], 1)], 1, 16384);
        assert_eq!(unsafe_reason(Metainfo::from_bytes(&t)), "empty component");
        let t = multi(vec![file(&[], 1)], 1, 16384);
        assert_eq!(unsafe_reason(Metainfo::from_bytes(&t)), "empty component");
    }

    #[test]
    fn dot_component_refused() {
        let t = multi(vec![file(&[b".", b"x"], 1)], 1, 16384);
        assert_eq!(unsafe_reason(Metainfo::from_bytes(&t)), "`.` component");
    }

    #[test]
    fn nul_byte_refused() {
        let t = multi(vec![file(&[b"a\0b"], 1)], 1, 16384);
        assert_eq!(unsafe_reason(Metainfo::from_bytes(&t)), "NUL byte");
    }

    #[test]
    fn separator_inside_component_refused() {
        let t = multi(vec![file(&[b"a/../../b"], 1)], 1, 16384);
        assert_eq!(
            unsafe_reason(Metainfo::from_bytes(&t)),
            "path separator inside a component"
        );
        let t = multi(vec![file(&[b"a\\b"], 1)], 1, 16384);
        assert_eq!(
            unsafe_reason(Metainfo::from_bytes(&t)),
            "path separator inside a component"
        );
    }

    #[test]
    fn non_utf8_path_refused() {
        let t = multi(vec![file(&[b"\xff\xfe"], 1)], 1, 16384);
        assert_eq!(unsafe_reason(Metainfo::from_bytes(&t)), "not UTF-8");
    }

    #[test]
    fn unsafe_name_refused() {
        for (name, reason) in [
            (&b".."[..], "`..` component"),
            (b"/etc", "absolute path"),
            (b"", "empty component"),
            (b"a/b", "path separator inside a component"),
        ] {
            let t = Metainfo::from_bytes(&build_torrent(
                std::str::from_utf8(name).unwrap(),
                &[(vec![], 5)],
                16384,
                &[[0; 20]],
                None,
                "",
            ));
            assert_eq!(unsafe_reason(t), reason, "name {name:?}");
        }
    }

    #[test]
    fn utf8_name_and_path_variants_are_preferred() {
        let t = torrent(dict(vec![
            (
                "files",
                list(vec![dict(vec![
                    ("length", int(3)),
                    ("path", list(vec![bs(b"\xff")])),
                    ("path.utf-8", list(vec![bs("ü".as_bytes())])),
                ])]),
            ),
            ("name", bs(b"\xfe")),
            ("name.utf-8", bs("ñ".as_bytes())),
            ("piece length", int(16384)),
            ("pieces", bs(&hashes(1))),
        ]));
        let m = Metainfo::from_bytes(&t).unwrap();
        assert_eq!(m.name, "ñ");
        assert_eq!(m.files[0].path, ["ñ", "ü"]);
    }

    #[test]
    fn zero_piece_length_refused() {
        let t = torrent(dict(vec![
            ("length", int(5)),
            ("name", bs(b"a")),
            ("piece length", int(0)),
            ("pieces", bs(&hashes(1))),
        ]));
        assert!(matches!(
            Metainfo::from_bytes(&t),
            Err(MetainfoError::ZeroPieceLength)
        ));
    }

    #[test]
    fn huge_piece_length_refused() {
        let t = torrent(dict(vec![
            ("length", int(5)),
            ("name", bs(b"a")),
            ("piece length", int(1 << 29)),
            ("pieces", bs(&hashes(1))),
        ]));
        assert!(matches!(
            Metainfo::from_bytes(&t),
            Err(MetainfoError::PieceLengthTooLarge(n)) if n == 1 << 29
        ));
    }

    #[test]
    fn pieces_not_multiple_of_20_refused() {
        let t = torrent(dict(vec![
            ("length", int(5)),
            ("name", bs(b"a")),
            ("piece length", int(16384)),
            ("pieces", bs(&[0; 21])),
        ]));
        assert!(matches!(
            Metainfo::from_bytes(&t),
            Err(MetainfoError::BadPiecesLength(21))
        ));
    }

    #[test]
    fn piece_count_mismatch_refused() {
        let t = build_torrent("a", &[(vec![], 40000)], 16384, &[[0; 20]; 2], None, "");
        assert!(matches!(
            Metainfo::from_bytes(&t),
            Err(MetainfoError::PieceCountMismatch {
                expected: 3,
                got: 2
            })
        ));
    }

    #[test]
    fn negative_length_refused() {
        let t = torrent(dict(vec![
            ("length", int(-5)),
            ("name", bs(b"a")),
            ("piece length", int(16384)),
            ("pieces", bs(&hashes(1))),
        ]));
        assert!(matches!(
            Metainfo::from_bytes(&t),
            Err(MetainfoError::NegativeLength { ref path, length: -5 }) if path == "a"
        ));
        let t = multi(vec![file(&[b"x"], 10), file(&[b"y"], -1)], 10, 16384);
        assert!(matches!(
            Metainfo::from_bytes(&t),
            Err(MetainfoError::NegativeLength { ref path, length: -1 }) if path == "top/y"
        ));
    }

    #[test]
    fn total_length_overflow_refused() {
        let t = multi(
            vec![
                file(&[b"x"], i64::MAX),
                file(&[b"y"], i64::MAX),
                file(&[b"z"], 2),
            ],
            1,
            16384,
        );
        assert!(matches!(
            Metainfo::from_bytes(&t),
            Err(MetainfoError::TotalLengthOverflow)
        ));
    }

    #[test]
    fn zero_total_length_refused() {
        let t = multi(vec![file(&[b"x"], 0)], 0, 16384);
        assert!(matches!(
            Metainfo::from_bytes(&t),
            Err(MetainfoError::NoData)
        ));
    }

    #[test]
    fn truncated_bencode_refused() {
        let t = build_torrent("a", &[(vec![], 5)], 16384, &[[0; 20]], None, "x");
        for cut in [1, t.len() / 2, t.len() - 1] {
            let r = Metainfo::from_bytes(&t[..cut]);
            assert!(
                matches!(r, Err(MetainfoError::Truncated(_))),
                "cut {cut}: {r:?}"
            );
        }
        assert!(matches!(
            Metainfo::from_bytes(b""),
            Err(MetainfoError::Truncated(_))
        ));
        // A string length running past the end of the input.
        assert!(matches!(
            Metainfo::from_bytes(b"d4:info99:de"),
            Err(MetainfoError::Truncated(_))
        ));
    }

    #[test]
    fn not_bencode_refused() {
        assert!(matches!(
            Metainfo::from_bytes(b"<html>hello</html>"),
            Err(MetainfoError::NotBencode(_))
        ));
        assert!(matches!(
            Metainfo::from_bytes(b"i42e"),
            Err(MetainfoError::NotADict)
        ));
        assert!(matches!(
            Metainfo::from_bytes(b"l4:spame"),
            Err(MetainfoError::NotADict)
        ));
        // Unsorted keys are not canonical bencode.
        assert!(matches!(
            Metainfo::from_bytes(b"d4:infod1:ai1ee1:ai1ee"),
            Err(MetainfoError::NotBencode(_))
        ));
        // Hostile nesting is bounded.
        let deep = [vec![b'l'; 100_000], vec![b'e'; 100_000]].concat();
        let deep = [b"d1:x".to_vec(), deep, b"e".to_vec()].concat();
        assert!(matches!(
            Metainfo::from_bytes(&deep),
            Err(MetainfoError::NotBencode(_))
        ));
    }

    #[test]
    fn trailing_garbage_refused() {
        let t = build_torrent("a", &[(vec![], 5)], 16384, &[[0; 20]], None, "x");
        for tail in [&b"x"[..], b"e", b"i1e", b"de", b"\n"] {
            let r = Metainfo::from_bytes(&[t.clone(), tail.to_vec()].concat());
            assert!(
                matches!(r, Err(MetainfoError::NotBencode(_))),
                "tail {tail:?}: {r:?}"
            );
        }
    }

    #[test]
    fn missing_info_and_wrong_types_refused() {
        assert!(matches!(
            Metainfo::from_bytes(b"d8:announce1:xe"),
            Err(MetainfoError::MissingKey("info"))
        ));
        assert!(matches!(
            Metainfo::from_bytes(b"d4:infoi1ee"),
            Err(MetainfoError::WrongType { key: "info", .. })
        ));
        let t = torrent(dict(vec![
            ("length", bs(b"5")),
            ("name", bs(b"a")),
            ("piece length", int(16384)),
            ("pieces", bs(&hashes(1))),
        ]));
        assert!(matches!(
            Metainfo::from_bytes(&t),
            Err(MetainfoError::WrongType { key: "length", .. })
        ));
        let t = torrent(dict(vec![
            ("name", bs(b"a")),
            ("piece length", int(16384)),
            ("pieces", bs(&hashes(1))),
        ]));
        assert!(matches!(
            Metainfo::from_bytes(&t),
            Err(MetainfoError::MissingKey(_))
        ));
        let t = torrent(dict(vec![
            ("files", list(vec![file(&[b"x"], 5)])),
            ("length", int(5)),
            ("name", bs(b"a")),
            ("piece length", int(16384)),
            ("pieces", bs(&hashes(1))),
        ]));
        assert!(matches!(
            Metainfo::from_bytes(&t),
            Err(MetainfoError::BothLengthAndFiles)
        ));
    }

    #[test]
    fn v2_only_refused() {
        let file_tree = dict(vec![(
            "a",
            dict(vec![(
                "",
                dict(vec![("length", int(5)), ("pieces root", bs(&[1; 32]))]),
            )]),
        )]);
        let t = torrent(dict(vec![
            ("file tree", file_tree),
            ("meta version", int(2)),
            ("name", bs(b"a")),
            ("piece length", int(16384)),
        ]));
        let err = Metainfo::from_bytes(&t).unwrap_err();
        assert!(matches!(err, MetainfoError::V2Only));
        assert_eq!(
            err.to_string(),
            "v2-only torrents (BEP 52) are not supported yet; need a v1 or hybrid torrent"
        );
    }

    #[test]
    fn future_meta_version_refused() {
        let t = torrent(dict(vec![
            ("length", int(5)),
            ("meta version", int(3)),
            ("name", bs(b"a")),
            ("piece length", int(16384)),
            ("pieces", bs(&hashes(1))),
        ]));
        assert!(matches!(
            Metainfo::from_bytes(&t),
            Err(MetainfoError::UnsupportedMetaVersion(3))
        ));
    }

    #[test]
    fn hybrid_accepted_through_v1_view_with_pad_files_marked() {
        let leaf = |len: i64| {
            dict(vec![(
                "",
                dict(vec![("length", int(len)), ("pieces root", bs(&[7; 32]))]),
            )])
        };
        let file_tree = dict(vec![("a", leaf(100)), ("b", leaf(16384))]);
        let pad = dict(vec![
            ("attr", bs(b"p")),
            ("length", int(16284)),
            ("path", list(vec![bs(b".pad"), bs(b"16284")])),
        ]);
        let info = dict(vec![
            ("file tree", file_tree),
            (
                "files",
                list(vec![file(&[b"a"], 100), pad, file(&[b"b"], 16384)]),
            ),
            ("meta version", int(2)),
            ("name", bs(b"hy")),
            ("piece length", int(16384)),
            ("pieces", bs(&hashes(2))),
            ("private", int(1)),
        ]);
        let t = dict(vec![("info", info), ("piece layers", dict(vec![]))]);
        let m = Metainfo::from_bytes(&t).unwrap();
        assert!(m.hybrid && m.multi_file && m.private);
        assert_eq!(m.announce, None);
        assert_eq!(m.files.len(), 3);
        assert!(!m.files[0].pad && m.files[1].pad && !m.files[2].pad);
        assert_eq!(m.files[1].path, ["hy", ".pad", "16284"]);
        assert_eq!(m.files[2].offset, 16384);
        assert_eq!(m.lengths.total_length(), 32768);
    }

    #[test]
    fn build_torrent_round_trips_multi_file() {
        let files = vec![
            (vec!["d".to_string(), "one".to_string()], 20_000u64),
            (vec!["empty".to_string()], 0),
            (vec!["two".to_string()], 13_000),
        ];
        let hs: Vec<[u8; 20]> = (0..3).map(|i| [i as u8 + 1; 20]).collect();
        let bytes = build_torrent(
            "set",
            &files,
            16384,
            &hs,
            Some("http://tr/announce"),
            "ringseed test",
        );
        let m = Metainfo::from_bytes(&bytes).unwrap();
        assert_eq!(m.name, "set");
        assert!(m.multi_file);
        assert_eq!(m.piece_hashes, hs);
        assert_eq!(m.announce.as_deref(), Some("http://tr/announce"));
        let got: Vec<(Vec<String>, u64)> = m
            .files
            .iter()
            .map(|f| (f.path[1..].to_vec(), f.length))
            .collect();
        assert_eq!(got, files);
        assert!(m.files.iter().all(|f| f.path[0] == "set" && !f.pad));
        assert_eq!(m.lengths, Lengths::new(33_000, 16384).unwrap());
        // Deterministic output.
        assert_eq!(
            bytes,
            build_torrent(
                "set",
                &files,
                16384,
                &hs,
                Some("http://tr/announce"),
                "ringseed test"
            )
        );
    }

    #[test]
    fn build_torrent_round_trips_single_file() {
        let bytes = build_torrent("f.iso", &[(vec![], 16384)], 16384, &[[9; 20]], None, "");
        assert!(!bytes.windows(10).any(|w| w == b"created by"));
        let m = Metainfo::from_bytes(&bytes).unwrap();
        assert!(!m.multi_file);
        assert_eq!(
            m.files,
            vec![FileEntry {
                path: vec!["f.iso".into()],
                length: 16384,
                offset: 0,
                pad: false
            }]
        );
        assert_eq!(m.piece_hashes, vec![[9; 20]]);
        // The hash covers exactly the info dict build_torrent wrote.
        let start = bytes.windows(6).position(|w| w == b"4:info").unwrap() + 6;
        assert_eq!(m.info_hash.0, sha1(&bytes[start..bytes.len() - 1]));
    }

    #[test]
    fn unknown_info_keys_are_part_of_the_info_hash() {
        let base = vec![
            ("length", int(5)),
            ("name", bs(b"a")),
            ("piece length", int(16384)),
            ("pieces", bs(&hashes(1))),
        ];
        let plain_info = dict(base.clone());
        let mut with = base;
        with.push(("x-custom", dict(vec![("k", list(vec![int(1), bs(b"v")]))])));
        let custom_info = dict(with);
        let a = Metainfo::from_bytes(&torrent(plain_info.clone())).unwrap();
        let b = Metainfo::from_bytes(&torrent(custom_info.clone())).unwrap();
        assert_ne!(a.info_hash, b.info_hash);
        assert_eq!(a.info_hash.0, sha1(&plain_info));
        assert_eq!(b.info_hash.0, sha1(&custom_info));
        assert_eq!(a.files, b.files);
    }

    #[test]
    fn announce_list_parsed_and_malformed_one_ignored() {
        let info = dict(vec![
            ("length", int(5)),
            ("name", bs(b"a")),
            ("piece length", int(16384)),
            ("pieces", bs(&hashes(1))),
        ]);
        let good = list(vec![
            list(vec![bs(b"http://a"), bs(b"http://b")]),
            list(vec![]),
            list(vec![bs(b"udp://c")]),
        ]);
        let t = dict(vec![("announce-list", good), ("info", info.clone())]);
        let m = Metainfo::from_bytes(&t).unwrap();
        assert_eq!(
            m.announce_list,
            vec![vec!["http://a", "http://b"], vec!["udp://c"]]
        );
        let bad = list(vec![bs(b"http://a"), list(vec![int(3)])]);
        let t = dict(vec![("announce-list", bad), ("info", info)]);
        assert!(Metainfo::from_bytes(&t).unwrap().announce_list.is_empty());
    }

    #[test]
    fn too_many_files_refused() {
        let files: Vec<Vec<u8>> = (0..=MAX_FILES).map(|_| file(&[b"f"], 0)).collect();
        let t = multi(files, 1, 16384);
        assert!(
            matches!(Metainfo::from_bytes(&t), Err(MetainfoError::TooManyFiles(n)) if n == MAX_FILES + 1)
        );
    }

    #[test]
    fn info_hash_hex_round_trip() {
        let h = InfoHash([0xab; 20]);
        assert_eq!(h.to_hex(), "ab".repeat(20));
        assert_eq!(format!("{h}"), h.to_hex());
        assert_eq!(format!("{h:?}"), h.to_hex());
        assert_eq!(InfoHash::from_hex(&"AB".repeat(20)), Some(h));
        assert_eq!(InfoHash::from_hex("abc"), None);
        assert_eq!(InfoHash::from_hex(&"zz".repeat(20)), None);
    }
}
