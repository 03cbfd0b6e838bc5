//! Share limits on a real daemon (qBittorrent's, enforced once a second):
//! a global ratio limit (`--max-ratio`) stops a torrent once a verifying
//! swarm has taken about half of it, and a seeding-time limit
//! (`--max-seeding-time`, seconds) stops one after that long. Both show in
//! porla's `torrents.list` (the `paused` flag), the log and
//! `ringseed_share_limit_actions_total`; the all-time upload and the
//! seeding time survive a restart.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::http::torrents;
use common::*;
use ringseed::metainfo::Metainfo;

fn paused(row: &serde_json::Value) -> bool {
    row["flags"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x == "paused"))
}

/// A payload of `len` bytes under `dir/data/NAME` and its torrent.
fn payload(dir: &std::path::Path, name: &str, len: usize) -> (std::path::PathBuf, Metainfo) {
    let root = dir.join("data").join(name);
    write_tree(&root, &[("x.bin", len)]);
    let torrent = dir.join(format!("{name}.torrent"));
    ringseed_create(&root, &torrent, 256 * 1024);
    let meta = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    (torrent, meta)
}

#[test]
fn a_global_ratio_limit_stops_the_torrent_after_half_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let size = 8 * 1024 * 1024;
    let (torrent, meta) = payload(dir.path(), "r", size);
    let state = dir.path().join("state");
    let data = dir.path().join("data");
    let seeder = Seeder::start(&[
        "--data",
        data.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--metrics",
        "127.0.0.1:0",
        "--upload-slots",
        "0",
        // 1 MB/s: half the torrent takes about four seconds.
        "--upload-limit",
        "1MB/s",
        "--max-ratio",
        "0.5",
        torrent.to_str().unwrap(),
    ]);
    let ih = meta.info_hash.to_hex();
    let swarm = spawn_random_swarm(Arc::new(meta.clone()), seeder.addr, 4, 8, 12);
    let started = Instant::now();
    let mut crossed: Option<Instant> = None;
    let mut stopped: Option<(Instant, serde_json::Value)> = None;
    while started.elapsed() < Duration::from_secs(30) {
        let row = torrents(&seeder)[&ih].clone();
        let up = row["all_time_upload"].as_u64().unwrap();
        if crossed.is_none() && up as f64 >= 0.5 * size as f64 {
            crossed = Some(Instant::now());
        }
        if paused(&row) {
            stopped = Some((Instant::now(), row));
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (at, row) = stopped
        .unwrap_or_else(|| panic!("never stopped by its ratio; log:\n{}", seeder.log_text()));
    let up = row["all_time_upload"].as_u64().unwrap();
    eprintln!(
        "stopped {:.1} s after start, uploaded {up} of {size} (ratio {})",
        (at - started).as_secs_f64(),
        row["ratio"]
    );
    assert!(up as f64 >= 0.5 * size as f64, "stopped early: {up}");
    assert!(up < size as u64, "the limit came late: {up} of {size}");
    let crossed = crossed.expect("the list showed the ratio reached before the pause");
    assert!(
        at - crossed <= Duration::from_secs(3),
        "stopped {:?} after reaching the ratio",
        at - crossed
    );
    seeder.wait_log(
        &["share limit reached", "limit=\"ratio\""],
        Duration::from_secs(5),
    );
    wait::until("the action counted", Duration::from_secs(5), || {
        let m = common::metrics::scrape(seeder.metrics_addr());
        common::metrics::sample(
            &m,
            "ringseed_share_limit_actions_total",
            &[("action", "stop")],
        ) == Some(1.0)
    });
    let report = swarm.join().unwrap();
    assert_eq!(report.pieces_failed, 0);

    // All-time upload and the paused state survive a restart.
    let mut seeder = seeder;
    assert!(seeder.stop().success());
    let seeder = Seeder::start(&["--state-dir", state.to_str().unwrap()]);
    let row = torrents(&seeder)[&ih].clone();
    assert!(paused(&row), "{row}");
    assert!(
        row["all_time_upload"].as_u64().unwrap() >= up,
        "all-time upload lost: {row}"
    );
}

#[test]
fn a_seeding_time_limit_stops_the_torrent_after_that_long() {
    let dir = tempfile::tempdir().unwrap();
    let (torrent, meta) = payload(dir.path(), "s", 1024 * 1024);
    let state = dir.path().join("state");
    let seeder = Seeder::start(&[
        "--data",
        dir.path().join("data").to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
        "--max-seeding-time",
        "10",
        torrent.to_str().unwrap(),
    ]);
    // Seeding began when the check finished, just before the ready line.
    let ready = Instant::now();
    let ih = meta.info_hash.to_hex();
    let row = wait::wait_for("the torrent stopped", Duration::from_secs(30), || {
        torrents(&seeder).get(&ih).filter(|r| paused(r)).cloned()
    });
    let secs = ready.elapsed().as_secs_f64();
    eprintln!("stopped {secs:.1} s after the ready line: {row}");
    assert!((9.0..=13.5).contains(&secs), "stopped after {secs:.1} s");
    assert!(row["seeding_duration"].as_u64().unwrap() >= 10, "{row}");
    seeder.wait_log(
        &["share limit reached", "limit=\"seeding_time_secs\""],
        Duration::from_secs(5),
    );
    // The seeding time is kept: after a restart it is still at least 10 s.
    let mut seeder = seeder;
    assert!(seeder.stop().success());
    let seeder = Seeder::start(&["--state-dir", state.to_str().unwrap()]);
    let row = torrents(&seeder)[&ih].clone();
    assert!(paused(&row));
    assert!(row["seeding_duration"].as_u64().unwrap() >= 10, "{row}");
}
