//! Writing a `.torrent` file for `ringseed create`: a v1 metainfo in
//! canonical bencode (bendy's serde serializer sorts every dictionary's
//! keys), deterministic (no `creation date`).

use serde::Serialize;

use crate::bencode::{self, present};

/// The top-level dictionary (BEP 3; BEP 12 `announce-list`).
#[derive(Serialize)]
struct Torrent<'a> {
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "present")]
    announce: Option<&'a str>,
    #[serde(
        rename = "announce-list",
        skip_serializing_if = "Option::is_none",
        serialize_with = "present"
    )]
    announce_list: Option<Vec<&'a Vec<String>>>,
    #[serde(rename = "created by", skip_serializing_if = "str::is_empty")]
    created_by: &'a str,
    info: Info<'a>,
}

/// The `info` dictionary: `length` for a single file, `files` otherwise.
#[derive(Serialize)]
struct Info<'a> {
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "present")]
    files: Option<Vec<File<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "present")]
    length: Option<u64>,
    name: &'a str,
    #[serde(rename = "piece length")]
    piece_length: u32,
    /// The piece hashes, 20 bytes each, one after the other.
    #[serde(with = "serde_bytes")]
    pieces: Vec<u8>,
}

/// One entry of `files`.
#[derive(Serialize)]
struct File<'a> {
    length: u64,
    path: &'a [String],
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
/// Nothing is validated here: [`Metainfo::from_bytes`](super::Metainfo::from_bytes)
/// on the result reports any inconsistency (unsafe names, piece count mismatch, ...).
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
    let urls: usize = tiers.iter().map(|t| t.len()).sum();
    let single = files.len() == 1 && files[0].0.is_empty();
    let info = Info {
        files: (!single).then(|| {
            files
                .iter()
                .map(|(path, length)| File {
                    length: *length,
                    path,
                })
                .collect()
        }),
        length: single.then(|| files[0].1),
        name,
        piece_length,
        pieces: piece_hashes.concat(),
    };
    bencode::to_bytes(&Torrent {
        announce: tiers.first().map(|t| t[0].as_str()),
        announce_list: (urls > 1).then_some(tiers),
        created_by,
        info,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metainfo::{FileEntry, Lengths, Metainfo};
    use sha1::{Digest, Sha1};

    fn sha1(b: &[u8]) -> [u8; 20] {
        Sha1::digest(b).into()
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

    /// The exact bytes the hand-written encoder wrote before bendy did, so
    /// info hashes of torrents made by `ringseed create` stay the same.
    #[test]
    fn build_torrent_bytes_are_pinned() {
        let files = vec![
            (vec!["d".to_string(), "one".to_string()], 20_000u64),
            (vec!["empty".to_string()], 0),
        ];
        let tiers = vec![
            vec!["http://a".to_string(), "http://b".to_string()],
            vec![],
            vec!["udp://c".to_string()],
        ];
        let bytes = build_torrent_with_tiers(
            "set",
            &files,
            16384,
            &[[1; 20], [2; 20]],
            &tiers,
            "ringseed test",
        );
        let mut want = b"d8:announce8:http://a13:announce-listll8:http://a8:http://bel7:udp://cee\
            10:created by13:ringseed test4:infod5:filesld6:lengthi20000e4:pathl1:d3:oneeed6:lengthi0e\
            4:pathl5:emptyeee4:name3:set12:piece lengthi16384e6:pieces40:"
            .to_vec();
        want.extend([1; 20]);
        want.extend([2; 20]);
        want.extend(b"ee");
        assert_eq!(
            bytes.escape_ascii().to_string(),
            want.escape_ascii().to_string()
        );

        let bytes = build_torrent("f.iso", &[(vec![], 16384)], 16384, &[[9; 20]], None, "");
        let mut want =
            b"d4:infod6:lengthi16384e4:name5:f.iso12:piece lengthi16384e6:pieces20:".to_vec();
        want.extend([9; 20]);
        want.extend(b"ee");
        assert_eq!(bytes, want);
        // One tracker: `announce` only.
        let bytes = build_torrent("f", &[(vec![], 1)], 16384, &[[9; 20]], Some("http://t"), "");
        assert!(bytes.starts_with(b"d8:announce8:http://t4:infod6:lengthi1e"));
    }
}
