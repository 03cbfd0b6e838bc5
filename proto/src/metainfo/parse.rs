//! Reading a `.torrent` file: [`Metainfo::from_bytes`] walks the bencode
//! with the strict reader, hashes the raw `info` bytes, and checks names,
//! lengths and piece counts before anything is trusted.

use sha1::{Digest, Sha1};

use super::paths::choose_path;
use super::{FileEntry, InfoHash, Lengths, Metainfo, MetainfoError, MAX_DEPTH, MAX_FILES};
use crate::bencode::strict::{self, Object};
use crate::lengths::MAX_PIECE_LENGTH;

/// Maps a strict-reader error to `Truncated` (unexpected end of input) or
/// `NotBencode` (anything else), keeping bendy's message.
fn decode_err(e: strict::Error) -> MetainfoError {
    let msg = e.to_string();
    if strict::is_truncation(&e) {
        MetainfoError::Truncated(msg)
    } else {
        MetainfoError::NotBencode(msg)
    }
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
    let mut dec = strict::decoder(raw, MAX_DEPTH);
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
        let mut dec = strict::decoder(bytes, MAX_DEPTH);
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
                    b"creation date" => {
                        if let Object::Integer(i) = value {
                            creation_date = i.parse().ok();
                        }
                    }
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
}
