//! Hostile peers against a real `ringseed seed` process: each is refused
//! (closed with the right reason from the log, or answered with a BEP 6
//! reject) while a well-behaved leecher swarm keeps downloading verified
//! pieces the whole time.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use common::wire::*;
use common::*;
use ringseed::metainfo::{InfoHash, Metainfo};
use ringseed::wire::{Handshake, Message};

const PIECE: u32 = 64 * 1024;

#[test]
fn hostile_peers_are_refused_while_a_real_peer_keeps_downloading() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_tree(
        &data.join("payload"),
        &[("x.bin", 24 * 1024 * 1024 + 12_345)],
    );
    let torrent = dir.path().join("p.torrent");
    ringseed_create(&data.join("payload"), &torrent, PIECE);
    let meta = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    let ih = meta.info_hash;
    let n = meta.lengths.num_pieces();
    let last_len = meta.lengths.piece_len(n - 1);
    let seeder = Seeder::start(&[
        "--data",
        data.to_str().unwrap(),
        "--state-dir",
        dir.path().join("state").to_str().unwrap(),
        "--shards",
        "2",
        "--handshake-timeout",
        "3",
        "--reqq",
        "50",
        "--upload-slots",
        "0",
        torrent.to_str().unwrap(),
    ]);

    // The well-behaved swarm: 4 verifying leechers for the whole test.
    let target = seeder.addr;
    let swarm = spawn_random_swarm(Arc::new(meta.clone()), target, 4, 16, 12);
    std::thread::sleep(Duration::from_millis(500));
    let rss_before = seeder.rss_bytes();

    // Unknown info hash.
    let mut s = connect(seeder.addr);
    s.write_all(&Handshake::new(InfoHash([0xee; 20]), [1; 20]).encode())
        .unwrap();
    assert!(closed_by_seeder(&mut s));
    assert_reason(&seeder, &s, "unknown_info_hash");

    // Not BitTorrent at all.
    let mut s = connect(seeder.addr);
    s.write_all(b"GET /announce?info_hash=xyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    assert!(closed_by_seeder(&mut s));
    assert_reason(&seeder, &s, "bad_handshake");

    // A 2 GiB length prefix: refused at once, nothing allocated for it.
    let mut s = handshake(seeder.addr, ih, true);
    s.write_all(&0x8000_0000u32.to_be_bytes()).unwrap();
    assert!(closed_by_seeder(&mut s));
    assert_reason(&seeder, &s, "malformed_message");

    // A Fast peer's invalid requests are each answered with reject_request.
    let mut s = handshake(seeder.addr, ih, true);
    let bad = [
        (n, 0, 16384),                  // piece out of range
        (0, 0, 16385),                  // longer than 16 KiB
        (n - 1, last_len - 100, 16384), // crosses the (short) last piece's end
        (0, 0, 0),                      // length 0
    ];
    for &(index, begin, length) in &bad {
        send(
            &mut s,
            Message::Request {
                index,
                begin,
                length,
            },
        );
    }
    let mut rejects = Vec::new();
    while rejects.len() < bad.len() {
        let m = read_msg(&mut s).expect("seeder keeps the Fast peer and rejects");
        if let Ok(Message::Reject {
            index,
            begin,
            length,
        }) = Message::decode(&m)
        {
            rejects.push((index, begin, length));
        }
    }
    assert_eq!(rejects, bad.to_vec());

    // Without BEP 6 there is no reject: an invalid request closes the connection.
    let mut s = handshake(seeder.addr, ih, false);
    send(
        &mut s,
        Message::Request {
            index: 0,
            begin: PIECE - 10,
            length: 16384,
        },
    );
    assert!(closed_by_seeder(&mut s));
    assert_reason(&seeder, &s, "invalid_request");

    // A bitfield of the wrong length.
    let mut s = handshake(seeder.addr, ih, false);
    send(&mut s, Message::Bitfield(&[0u8; 3]));
    assert!(closed_by_seeder(&mut s));
    assert_reason(&seeder, &s, "malformed_message");

    // A request flood far beyond reqq (50) from a peer that never reads.
    let mut s = handshake(seeder.addr, ih, true);
    send(&mut s, Message::Interested);
    let mut flood = Vec::new();
    for i in 0..20_000u32 {
        Message::Request {
            index: i % (n - 1), // full-size pieces only: every request is valid
            begin: 0,
            length: 16384,
        }
        .encode(&mut flood);
    }
    let _ = s.write_all(&flood);
    let me = s.local_addr().unwrap().to_string();
    seeder.wait_log(
        &[
            "peer closed",
            &format!("peer={me} "),
            "reason=request_flood",
        ],
        Duration::from_secs(10),
    );

    // Hundreds of idle connections: closed by the handshake timeout (3 s).
    let idle: Vec<TcpStream> = (0..300).map(|_| connect(seeder.addr)).collect();
    std::thread::sleep(Duration::from_secs(5));
    for mut s in idle {
        assert!(
            closed_by_seeder(&mut s),
            "idle connection still open after the handshake timeout"
        );
    }
    let timeouts = seeder
        .log_text()
        .matches("reason=handshake_timeout")
        .count();
    assert!(timeouts >= 300, "{timeouts} handshake timeouts logged");

    let rss_after = seeder.rss_bytes();
    assert!(
        rss_after < rss_before + 64 * 1024 * 1024,
        "seeder memory grew from {rss_before} to {rss_after} bytes under hostile peers"
    );

    // Meanwhile the real swarm kept downloading verified pieces every second.
    let report = swarm.join().unwrap();
    assert_eq!(report.pieces_failed, 0);
    assert!(report.pieces_verified > 0);
    let busy_seconds = report.timeline.iter().filter(|b| **b > 0).count();
    assert!(
        busy_seconds >= 10,
        "swarm idle during the attack: timeline {:?}",
        report.timeline
    );
}
