//! Upload rate limits on a real daemon, measured by verifying leecher swarms:
//! the global limit (`--upload-limit`, then changed at runtime through the
//! RPC), and a per-torrent limit (`upload_limit` of
//! `torrents.properties.set`). Every unchoked, interested peer must get a
//! block within 2 s even when the limit leaves each of 64 peers about one
//! block a second. (Accuracy at 1 MB/s … 1 GB/s is measured by
//! `loadtest/ratelimit` and reported in docs/benchmarks.md; this test keeps
//! a wider tolerance so a busy CI machine does not fail it.)

mod common;

use std::sync::Arc;

use common::http::call;
use common::*;
use ringseed::metainfo::Metainfo;
use serde_json::json;

/// Bytes/s over the run's timeline, skipping the first second (connect and handshakes).
fn steady_rate(r: &ringseed_loadtest::Report) -> f64 {
    let t = &r.timeline;
    assert!(t.len() >= 4, "{t:?}");
    // The last entry may cover a partial second.
    let full = &t[1..t.len() - 1];
    full.iter().sum::<u64>() as f64 / full.len() as f64
}

fn swarm(meta: &Metainfo, seeder: &Seeder, peers: usize, secs: u64) -> ringseed_loadtest::Report {
    spawn_random_swarm(Arc::new(meta.clone()), seeder.addr, peers, 8, secs)
        .join()
        .unwrap()
}

fn within(rate: f64, limit: f64, tol: f64) -> bool {
    (rate - limit).abs() <= limit * tol
}

#[test]
fn the_global_limit_holds_and_changes_at_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data/p");
    write_tree(&root, &[("x.bin", 64 * 1024 * 1024)]);
    let torrent = dir.path().join("p.torrent");
    ringseed_create(&root, &torrent, 256 * 1024);
    let meta = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    let seeder = Seeder::start(&[
        "--data",
        dir.path().join("data").to_str().unwrap(),
        "--upload-slots",
        "0",
        "--upload-limit",
        "1MB/s",
        torrent.to_str().unwrap(),
    ]);

    // 1 MB/s over 64 peers: each gets about four blocks a second, all of them soon.
    let r = swarm(&meta, &seeder, 64, 6);
    let rate = steady_rate(&r);
    eprintln!(
        "limit 1 MB/s, 64 peers: {rate:.0} B/s; first block after unchoke max {:.0} ms",
        r.time_to_first_block_ms.max
    );
    assert!(
        within(rate, 1e6, 0.10),
        "{rate} B/s; timeline {:?}",
        r.timeline
    );
    assert_eq!(r.peers_unchoked, 64);
    assert!(
        r.time_to_first_block_ms.max < 2000.0,
        "an unchoked peer waited {} ms for its first block",
        r.time_to_first_block_ms.max
    );
    assert_eq!(r.pieces_failed, 0);

    // Changed at runtime through the RPC: 4 MB/s.
    call(
        &seeder,
        "ringseed.session.set",
        json!({"upload_limit": 4_000_000}),
    );
    let r = swarm(&meta, &seeder, 16, 6);
    let rate = steady_rate(&r);
    eprintln!("limit 4 MB/s, 16 peers: {rate:.0} B/s");
    assert!(
        within(rate, 4e6, 0.10),
        "{rate} B/s; timeline {:?}",
        r.timeline
    );
    let s = call(&seeder, "ringseed.session.get", json!({}));
    assert_eq!(s["upload_limit"], 4_000_000);

    // Unlimited again (0 and -1 both mean no limit): far above the old limit.
    call(&seeder, "ringseed.session.set", json!({"upload_limit": 0}));
    let r = swarm(&meta, &seeder, 16, 4);
    assert!(steady_rate(&r) > 20e6, "{:?}", r.timeline);
}

#[test]
fn a_torrent_limit_holds_without_slowing_other_torrents() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut metas = Vec::new();
    let mut args = vec![
        "--data".to_string(),
        data.display().to_string(),
        "--upload-slots".into(),
        "0".into(),
    ];
    for name in ["slow", "fast"] {
        let root = data.join(name);
        write_tree(&root, &[("x.bin", 48 * 1024 * 1024)]);
        let torrent = dir.path().join(format!("{name}.torrent"));
        ringseed_create(&root, &torrent, 256 * 1024);
        metas.push(Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap());
        args.push(torrent.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let seeder = Seeder::start(&args);
    call(
        &seeder,
        "torrents.properties.set",
        json!({"info_hash": metas[0].info_hash.to_hex(), "upload_limit": 2_000_000}),
    );
    let slow = spawn_random_swarm(Arc::new(metas[0].clone()), seeder.addr, 16, 8, 6);
    let fast = spawn_random_swarm(Arc::new(metas[1].clone()), seeder.addr, 8, 8, 6);
    let (slow, fast) = (slow.join().unwrap(), fast.join().unwrap());
    let (rs, rf) = (steady_rate(&slow), steady_rate(&fast));
    eprintln!("torrent limit 2 MB/s: limited {rs:.0} B/s, unlimited neighbour {rf:.0} B/s");
    assert!(within(rs, 2e6, 0.10), "{rs} B/s; {:?}", slow.timeline);
    assert!(rf > 10e6, "the unlimited torrent was held back: {rf} B/s");
    let props = call(
        &seeder,
        "torrents.properties.get",
        json!({"info_hash": metas[0].info_hash.to_hex()}),
    );
    assert_eq!(props["upload_limit"], 2_000_000);
}
