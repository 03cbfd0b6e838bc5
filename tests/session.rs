//! The runtime session on a real daemon: torrents added, paused, resumed,
//! rechecked and removed through the JSON-RPC while another torrent's
//! verifying swarm keeps downloading; the session survives a restart
//! without a rehash and a `kill -9` in the middle of a burst of adds.

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::http::{call, ti, torrents, wait_torrent, Rpc};
use common::wire::*;
use common::*;
use ringseed::metainfo::Metainfo;
use ringseed::wire::Message;
use serde_json::json;

const PIECE: u32 = 64 * 1024;

/// A payload folder `data/NAME` with one file and its torrent.
fn payload(dir: &Path, name: &str, len: usize) -> (PathBuf, Metainfo) {
    let root = dir.join("data").join(name);
    write_tree(&root, &[("x.bin", len)]);
    let torrent = dir.join(format!("{name}.torrent"));
    ringseed_create(&root, &torrent, PIECE);
    let meta = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    (torrent, meta)
}

/// Handshakes for `meta` and fetches block 0 of piece 0.
fn fetch_one_block(seeder: &Seeder, meta: &Metainfo) -> TcpStream {
    let mut s = handshake(seeder.addr, meta.info_hash, true);
    send(&mut s, Message::Interested);
    read_until(&mut s, 1).expect("unchoke");
    send(
        &mut s,
        Message::Request {
            index: 0,
            begin: 0,
            length: 16384,
        },
    );
    read_until(&mut s, 7).expect("block");
    s
}

/// A handshake for `meta` is answered by a close (refused).
fn refused(seeder: &Seeder, meta: &Metainfo) -> bool {
    let mut s = connect(seeder.addr);
    std::io::Write::write_all(
        &mut s,
        &ringseed::wire::Handshake::new(meta.info_hash, *b"-XX0001-refusedpeer1").encode(),
    )
    .unwrap();
    closed_by_seeder(&mut s)
}

#[test]
fn torrents_change_at_runtime_while_another_torrents_peers_keep_downloading() {
    let dir = tempfile::tempdir().unwrap();
    let (busy_t, busy) = payload(dir.path(), "busy", 16 * 1024 * 1024 + 7);
    let (other_t, other) = payload(dir.path(), "other", 3 * 1024 * 1024 + 5);
    let data = dir.path().join("data");
    let seeder = Seeder::start(&[
        "--data",
        data.to_str().unwrap(),
        "--upload-slots",
        "0",
        busy_t.to_str().unwrap(),
    ]);
    let swarm = spawn_random_swarm(Arc::new(busy.clone()), seeder.addr, 4, 16, 14);
    let ih = other.info_hash.to_hex();

    // Add: hashed (no resume data yet), then seeding.
    let r = call(
        &seeder,
        "torrents.add",
        json!({"ti": ti(&other_t), "save_path": data.to_str().unwrap()}),
    );
    assert_eq!(r["info_hash"], json!([ih, null]));
    let t = wait_torrent(&seeder, &ih, "seeded", |t| {
        t["state"] == 5 && t["progress"] == 1.0
    });
    assert_eq!(t["name"], "other");
    seeder.wait_log(&["torrent other", "hashed"], Duration::from_secs(5));
    // Adding it twice is porla's -3.
    let dup = Rpc::of(&seeder).response(
        "torrents.add",
        json!({"ti": ti(&other_t), "save_path": data.to_str().unwrap()}),
    );
    assert_eq!(dup["error"]["code"], -3, "{dup}");
    let mut peer = fetch_one_block(&seeder, &other);

    // Pause: its peer is closed with torrent_paused; new handshakes are refused (-11).
    call(&seeder, "torrents.pause", json!({"info_hash": ih}));
    assert!(closed_by_seeder(&mut peer));
    assert_reason(&seeder, &peer, "torrent_paused");
    assert!(refused(&seeder, &other));
    seeder.wait_log(&["reason=unknown_info_hash (-11)"], Duration::from_secs(5));
    let t = wait_torrent(&seeder, &ih, "paused", |t| t["flags"] == json!(["paused"]));
    assert_eq!(t["progress"], 1.0);

    // Resume: served again, without a recheck.
    call(&seeder, "torrents.resume", json!({"info_hash": ih}));
    wait_torrent(&seeder, &ih, "resumed", |t| t["flags"] == json!([]));
    let peer = fetch_one_block(&seeder, &other);

    // Recheck: peers closed, pieces hashed again (forced, resume data ignored).
    let hashed_before = seeder.log_text().matches("torrent other").count();
    call(&seeder, "torrents.recheck", json!({"info_hash": ih}));
    let mut peer = peer;
    assert!(closed_by_seeder(&mut peer));
    assert_reason(&seeder, &peer, "torrent_checking");
    wait_torrent(&seeder, &ih, "rechecked", |t| t["state"] == 5);
    let deadline = Instant::now() + Duration::from_secs(10);
    while seeder.log_text().matches("torrent other").count() == hashed_before {
        assert!(Instant::now() < deadline, "no second check logged");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(seeder
        .log_text()
        .lines()
        .filter(|l| l.contains("torrent other"))
        .all(|l| l.contains("hashed")));

    // Remove with its data: the files go, the torrent goes, handshakes are refused.
    let _peer = fetch_one_block(&seeder, &other);
    call(
        &seeder,
        "torrents.remove",
        json!({"info_hashes": [ih], "remove_data": true}),
    );
    assert!(!data.join("other").exists(), "data removed");
    assert!(
        data.join("busy/x.bin").exists(),
        "other torrents' data kept"
    );
    assert!(!torrents(&seeder).contains_key(&ih));
    assert!(refused(&seeder, &other));

    // The busy torrent's swarm downloaded verified data the whole time.
    let report = swarm.join().unwrap();
    assert_eq!(report.pieces_failed, 0);
    assert!(report.pieces_verified > 0);
    let busy_seconds = report.timeline.iter().filter(|b| **b > 0).count();
    assert!(
        busy_seconds + 2 >= report.timeline.len(),
        "swarm stalled while torrents changed: {:?}",
        report.timeline
    );
    assert_eq!(report.errors, 0, "{:?}", report.error_kinds);
}

#[test]
fn a_restart_restores_the_session_without_rehashing() {
    let dir = tempfile::tempdir().unwrap();
    let (a_t, a) = payload(dir.path(), "a", 2 * 1024 * 1024 + 1);
    let (b_t, b) = payload(dir.path(), "b", 1024 * 1024 + 3);
    let data = dir.path().join("data");
    let state = dir.path().join("state");
    let args = [
        "--data",
        data.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ];
    let mut seeder = Seeder::start(&args);
    for (t, paused) in [(&a_t, false), (&b_t, true)] {
        call(
            &seeder,
            "torrents.add",
            json!({"ti": ti(t), "paused": paused, "save_path": data.to_str().unwrap()}),
        );
    }
    let (ha, hb) = (a.info_hash.to_hex(), b.info_hash.to_hex());
    call(
        &seeder,
        "torrents.properties.set",
        json!({"info_hash": ha, "upload_limit": 123456, "max_uploads": 3}),
    );
    wait_torrent(&seeder, &ha, "checked", |t| t["state"] == 5);
    wait_torrent(&seeder, &hb, "checked", |t| t["state"] == 5);
    assert!(seeder.stop().success());

    // No torrent arguments: everything comes from the state directory.
    let seeder = Seeder::start(&args);
    let list = torrents(&seeder);
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[&hb]["flags"], json!(["paused"]));
    assert_eq!(list[&ha]["flags"], json!([]));
    let props = call(&seeder, "torrents.properties.get", json!({"info_hash": ha}));
    assert_eq!(props["upload_limit"], 123456);
    assert_eq!(props["max_uploads"], 3);
    let log = seeder.log_text();
    for name in ["torrent a ", "torrent b "] {
        let line = log.lines().find(|l| l.contains(name)).expect(name);
        assert!(line.contains("from resume data, nothing hashed"), "{line}");
    }
    assert!(log.contains("session: 2 torrent(s)"), "{log}");
    fetch_one_block(&seeder, &a);
    assert!(refused(&seeder, &b), "paused stays paused");
}

#[test]
fn kill_9_during_a_burst_of_adds_loses_no_answered_add() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let state = dir.path().join("state");
    let mut torrents_made = Vec::new();
    for i in 0..300 {
        let (t, m) = payload(dir.path(), &format!("t{i:03}"), 1000 + i);
        torrents_made.push((ti(&t), m.info_hash.to_hex()));
    }
    let args = [
        "--data",
        data.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ];
    let mut seeder = Seeder::start(&args);
    let rpc = seeder.rpc.unwrap();
    let answered = Arc::new(Mutex::new(Vec::<String>::new()));
    let work = Arc::new(Mutex::new(torrents_made));
    let mut threads = Vec::new();
    for _ in 0..4 {
        let (answered, work, state, data) =
            (answered.clone(), work.clone(), state.clone(), data.clone());
        threads.push(std::thread::spawn(move || loop {
            let Some((ti, ih)) = work.lock().unwrap().pop() else {
                return;
            };
            let token = ringseed::control::rpc::auth::Auth::load_or_create(&state)
                .unwrap()
                .issue();
            let r = ureq::post(&format!("http://{rpc}/api/v1/jsonrpc"))
                .set("Authorization", &format!("Bearer {token}"))
                .send_json(json!({"jsonrpc": "2.0", "id": 1, "method": "torrents.add",
                    "params": {"ti": ti, "save_path": data.to_str().unwrap()}}));
            match r.ok().and_then(|r| r.into_json::<serde_json::Value>().ok()) {
                Some(v) if v.get("result").is_some() => answered.lock().unwrap().push(ih),
                _ => return, // the daemon is gone
            }
        }));
    }
    // Kill it mid-burst.
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.lock().unwrap().len() < 100 {
        assert!(Instant::now() < deadline, "adds too slow");
        std::thread::sleep(Duration::from_millis(5));
    }
    seeder.child.kill().unwrap();
    let _ = seeder.child.wait();
    for t in threads {
        t.join().unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    assert!(answered.len() < 300, "the kill came after the burst");

    let seeder = Seeder::start(&args);
    let list = torrents(&seeder);
    let lost: Vec<&String> = answered.iter().filter(|h| !list.contains_key(*h)).collect();
    assert!(
        lost.is_empty(),
        "{} answered adds lost: {lost:?}",
        lost.len()
    );
    eprintln!(
        "kill -9 after {} answered adds: {} torrents in the session after restart",
        answered.len(),
        list.len()
    );
}
