//! Unit tests of [`Metainfo::from_bytes`](super::Metainfo::from_bytes): the
//! info hash, file layouts, every refusal, BEP 12/47/52 keys. Inputs are
//! written with tiny hand-rolled bencode builders, so a test can write
//! exactly the (possibly hostile) bytes it means.

use std::path::PathBuf;

use sha1::{Digest, Sha1};

use super::*;

// --- tiny hand-rolled bencode builders for test inputs ---

fn bs(s: &[u8]) -> Vec<u8> {
    let mut v = format!("{}:", s.len()).into_bytes();
    v.extend_from_slice(s);
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
