//! The coordinator's choking seen from real leechers on real sockets:
//! upload slots cap how many peers are unchoked at once, a newly interested
//! peer with a free slot is unchoked within a second (not at the 10 s
//! rechoke), and every piece still verifies.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use ringseed::metainfo::Metainfo;

fn seed_and_swarm(slots: &str, peers: usize) -> ringseed_loadtest::Report {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_tree(&data.join("c"), &[("x.bin", 8 * 1024 * 1024 + 3)]);
    let torrent = dir.path().join("c.torrent");
    ringseed_create(&data.join("c"), &torrent, 65536);
    let meta = Arc::new(Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap());
    let seeder = Seeder::start(&[
        "--data",
        data.to_str().unwrap(),
        "--state-dir",
        dir.path().join("state").to_str().unwrap(),
        "--upload-slots",
        slots,
        torrent.to_str().unwrap(),
    ]);
    let mut cfg = ringseed_loadtest::SwarmConfig::new(seeder.addr);
    cfg.peers = peers;
    cfg.queue_depth = 8;
    cfg.pattern = ringseed_loadtest::Pattern::Random;
    cfg.duration = Some(Duration::from_secs(4));
    run_swarm(meta, cfg)
}

#[test]
fn upload_slots_cap_unchoked_peers() {
    let r = seed_and_swarm("2", 6);
    assert_eq!(r.peers_connected, 6);
    // Two regular slots; the optimistic unchoke (every 30 s) may add one.
    assert!(
        r.peers_unchoked >= 2 && r.peers_unchoked <= 3,
        "peak unchoked {}",
        r.peers_unchoked
    );
    assert_eq!(r.pieces_failed, 0);
    assert!(r.pieces_verified > 0);
}

#[test]
fn interested_peers_with_free_slots_are_unchoked_within_a_second() {
    let r = seed_and_swarm("0", 8);
    assert_eq!(r.peers_unchoked, 8);
    assert!(
        r.time_to_unchoke_ms.p99 < 1000.0,
        "time to unchoke {:?}",
        r.time_to_unchoke_ms
    );
    assert_eq!(r.pieces_failed, 0);
}
