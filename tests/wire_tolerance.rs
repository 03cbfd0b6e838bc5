//! Real clients bend BEP 3; a seeder must still give them all their data.
//! Raw-wire peers against a real `ringseed seed` process:
//! - a `bitfield`, `have_all` or `have_none` after the first message is
//!   merged into what the seeder knows of the peer (aria2 sends a second
//!   bitfield, then `have_all` on completion), while a bitfield of the wrong
//!   length is still refused;
//! - a peer without BEP 6 that queues 1,300 requests gets every block: all
//!   queued under the default `reqq`, and past a small `reqq` the seeder
//!   chokes (cancelling the queue, BEP 3) and unchokes again instead of
//!   dropping requests in silence.

mod common;

use std::collections::HashSet;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::wire::*;
use common::*;
use ringseed::metainfo::Metainfo;
use ringseed::wire::Message;

const PIECE: u32 = 64 * 1024;
const BLOCK: u32 = 16 * 1024;

struct Fixture {
    dir: tempfile::TempDir,
    meta: Metainfo,
    torrent: std::path::PathBuf,
    payload: Vec<u8>,
}

/// A one-file torrent of `len` bytes; with `missing_tail`, the file on disk
/// is cut short so the seeder does not have the last pieces (not a seed).
fn fixture(len: usize, missing_tail: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data/payload");
    write_tree(&root, &[("x.bin", len)]);
    let torrent = dir.path().join("p.torrent");
    ringseed_create(&root, &torrent, PIECE);
    let payload = std::fs::read(root.join("x.bin")).unwrap();
    if missing_tail {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(root.join("x.bin"))
            .unwrap();
        f.set_len((len - PIECE as usize) as u64).unwrap();
    }
    let meta = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    Fixture {
        dir,
        meta,
        torrent,
        payload,
    }
}

impl Fixture {
    fn seed(&self, extra: &[&str]) -> Seeder {
        let data = self.dir.path().join("data");
        let state = self.dir.path().join("state");
        let mut args = vec![
            "--data",
            data.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
            "--upload-slots",
            "0",
        ];
        args.extend(extra);
        args.push(self.torrent.to_str().unwrap());
        Seeder::start(&args)
    }
}

/// A full bitfield of `n` pieces with only the pieces in `have` set.
fn bitfield(n: u32, have: &[u32]) -> Vec<u8> {
    let mut bf = vec![0u8; (n as usize).div_ceil(8)];
    for &i in have {
        bf[(i / 8) as usize] |= 0x80 >> (i % 8);
    }
    bf
}

/// Requests one block and reads until it arrives; checks its bytes.
fn fetch_block(s: &mut TcpStream, payload: &[u8], index: u32, begin: u32) {
    send(
        s,
        Message::Request {
            index,
            begin,
            length: BLOCK,
        },
    );
    let m = read_until(s, 7).expect("seeder closed instead of sending the block");
    let Ok(Message::Piece {
        index: i,
        begin: b,
        block,
    }) = Message::decode(&m)
    else {
        panic!("not a piece message");
    };
    assert_eq!((i, b), (index, begin));
    let off = (index * PIECE + begin) as usize;
    assert!(block == &payload[off..off + BLOCK as usize], "wrong bytes");
}

fn unchoked(s: &mut TcpStream) {
    send(s, Message::Interested);
    read_until(s, 1).expect("unchoke");
}

#[test]
fn late_bitfields_and_have_messages_are_merged_and_blocks_keep_flowing() {
    let fx = fixture(4 * 1024 * 1024, false);
    let n = fx.meta.lengths.num_pieces();
    let seeder = fx.seed(&[]);

    for fast in [false, true] {
        let mut s = handshake(seeder.addr, fx.meta.info_hash, fast);
        // interested first, then the "first" bitfield, then more bitfields:
        // all after the first message.
        unchoked(&mut s);
        fetch_block(&mut s, &fx.payload, 0, 0);
        send(&mut s, Message::Bitfield(&bitfield(n, &[1])));
        fetch_block(&mut s, &fx.payload, 2, BLOCK);
        send(&mut s, Message::Bitfield(&bitfield(n, &[1, 2, 3])));
        send(&mut s, Message::Have(5));
        if fast {
            send(&mut s, Message::HaveNone);
        }
        fetch_block(&mut s, &fx.payload, n - 2, 0);
        // Still a wrong-length bitfield is refused, late or not.
        send(&mut s, Message::Bitfield(&[0u8; 3]));
        assert!(closed_by_seeder(&mut s));
        assert_reason(&seeder, &s, "malformed_message");
    }

    // A late have_all from a peer that completed: both seeds now, closed as
    // such — not as a malformed message.
    let mut s = handshake(seeder.addr, fx.meta.info_hash, true);
    unchoked(&mut s);
    fetch_block(&mut s, &fx.payload, 1, 0);
    send(&mut s, Message::HaveAll);
    assert!(closed_by_seeder(&mut s));
    assert_reason(&seeder, &s, "both_seeds");
}

#[test]
fn a_late_have_all_is_merged_while_the_seeder_is_not_complete() {
    // The last piece is missing on disk: the seeder is not a seed, so a
    // peer's late have_all is news, not a reason to part.
    let fx = fixture(2 * 1024 * 1024, true);
    let seeder = fx.seed(&[]);
    let (mut s, first) = handshake_first(seeder.addr, fx.meta.info_hash, true);
    assert_eq!(first[0], 5, "a bitfield: the seeder lacks the last piece");
    unchoked(&mut s);
    fetch_block(&mut s, &fx.payload, 0, 0);
    send(&mut s, Message::HaveAll);
    send(
        &mut s,
        Message::Bitfield(&bitfield(fx.meta.lengths.num_pieces(), &[0])),
    );
    fetch_block(&mut s, &fx.payload, 3, 2 * BLOCK);
    assert!(!seeder.log_text().contains("reason=malformed_message"));
}

/// A BEP 3 leecher (no Fast extension) that keeps `count` requests queued:
/// on `choke` every outstanding request is gone (BEP 3), on `unchoke` it
/// asks again for what is still missing. Returns (blocks received, chokes seen).
fn bep3_leecher(s: &mut TcpStream, payload: &[u8], count: u32, timeout: Duration) -> (usize, u32) {
    let all: Vec<(u32, u32)> = (0..count)
        .map(|i| (i / (PIECE / BLOCK), (i % (PIECE / BLOCK)) * BLOCK))
        .collect();
    let mut got: HashSet<(u32, u32)> = HashSet::new();
    let mut chokes = 0;
    let request_missing = |s: &mut TcpStream, got: &HashSet<(u32, u32)>| {
        let mut out = Vec::new();
        for &(index, begin) in all.iter().filter(|b| !got.contains(b)) {
            Message::Request {
                index,
                begin,
                length: BLOCK,
            }
            .encode(&mut out);
        }
        std::io::Write::write_all(s, &out).unwrap();
    };
    request_missing(s, &got);
    let deadline = Instant::now() + timeout;
    while got.len() < all.len() && Instant::now() < deadline {
        let Some(m) = read_msg(s) else { break };
        match Message::decode(&m) {
            Ok(Message::Piece {
                index,
                begin,
                block,
            }) => {
                let off = (index * PIECE + begin) as usize;
                assert!(block == &payload[off..off + block.len()], "wrong bytes");
                got.insert((index, begin));
            }
            Ok(Message::Choke) => chokes += 1,
            Ok(Message::Unchoke) => request_missing(s, &got),
            _ => {}
        }
    }
    (got.len(), chokes)
}

fn seeder_log_has_no_flood(seeder: &Seeder) {
    let log = seeder.log_text();
    assert!(!log.contains("reason=request_flood"), "{log}");
}

#[test]
fn thirteen_hundred_requests_from_a_peer_without_bep6_are_all_answered() {
    let fx = fixture(24 * 1024 * 1024, false);
    let seeder = fx.seed(&[]);
    let mut s = handshake(seeder.addr, fx.meta.info_hash, false);
    unchoked(&mut s);
    let (got, chokes) = bep3_leecher(&mut s, &fx.payload, 1300, Duration::from_secs(60));
    assert_eq!(got, 1300, "blocks received");
    assert_eq!(chokes, 0, "the default reqq holds 1,300 requests");
    seeder_log_has_no_flood(&seeder);
}

#[test]
fn past_a_small_reqq_a_peer_without_bep6_is_choked_and_unchoked_not_ignored() {
    let fx = fixture(24 * 1024 * 1024, false);
    let seeder = fx.seed(&["--reqq", "500"]);
    let mut s = handshake(seeder.addr, fx.meta.info_hash, false);
    unchoked(&mut s);
    let (got, chokes) = bep3_leecher(&mut s, &fx.payload, 1300, Duration::from_secs(60));
    assert_eq!(got, 1300, "blocks received");
    assert!(chokes >= 1, "the overflow was answered with a choke");
    seeder_log_has_no_flood(&seeder);
}
