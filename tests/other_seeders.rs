//! ringseed-loadtest against other seeders: libtorrent 2.0 (Debian's
//! python3-libtorrent, high_performance_seed settings) and Transmission
//! (transmission-daemon). Both must give verified pieces only. Under CI=true
//! a missing seeder fails the test.

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ringseed::metainfo::Metainfo;

struct Other(Child);

impl Drop for Other {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

fn have(cmd: &str, args: &[&str]) -> bool {
    let ok = Command::new(cmd)
        .args(args)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok && std::env::var("CI").as_deref() == Ok("true") {
        panic!("{cmd} is required in CI");
    }
    ok
}

fn serve(kind: &str, torrent: &Path, data: &Path, work: &Path) -> (Other, std::net::SocketAddr) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ready = work.join(format!("{kind}.ready"));
    let compare = Path::new(env!("CARGO_MANIFEST_DIR")).join("loadtest/compare");
    let child = Command::new("/usr/bin/python3")
        .arg(compare)
        .args(["--serve", kind])
        .arg(torrent)
        .arg(data)
        .arg(port.to_string())
        .arg(&ready)
        .spawn()
        .unwrap();
    let other = Other(child);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "{kind} seeder not ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    (other, format!("127.0.0.1:{port}").parse().unwrap())
}

fn payload(dir: &Path, size: usize) -> (std::path::PathBuf, std::path::PathBuf, Arc<Metainfo>) {
    let data = dir.join("data");
    write_tree(&data.join("other"), &[("a.bin", size), ("b.bin", 1234)]);
    let torrent = dir.join("other.torrent");
    ringseed_create(&data.join("other"), &torrent, 65536);
    let meta = Arc::new(Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap());
    (data, torrent, meta)
}

fn download_once(
    meta: Arc<Metainfo>,
    target: std::net::SocketAddr,
    peers: usize,
) -> ringseed_loadtest::Report {
    let mut cfg = ringseed_loadtest::SwarmConfig::new(target);
    cfg.peers = peers;
    // Transmission accepts one connection per IP address: one loopback address per peer.
    cfg.spread_sources = true;
    run_swarm(meta, cfg)
}

#[test]
fn loadtest_downloads_verified_pieces_from_libtorrent() {
    if libtorrent_python().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (data, torrent, meta) = payload(dir.path(), 16 * 1024 * 1024);
    let (_lt, addr) = serve("libtorrent", &torrent, &data, dir.path());
    let r = download_once(meta.clone(), addr, 4);
    assert!(r.complete, "{r:?}");
    assert_eq!(r.pieces_failed, 0);
    assert_eq!(r.pieces_verified, meta.lengths.num_pieces() as u64);
}

#[test]
fn loadtest_downloads_verified_pieces_from_transmission() {
    if !have("transmission-daemon", &["--version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (data, torrent, meta) = payload(dir.path(), 2 * 1024 * 1024);
    let (_tr, addr) = serve("transmission", &torrent, &data, dir.path());
    let r = download_once(meta.clone(), addr, 4);
    assert!(r.complete, "{r:?}");
    assert_eq!(r.pieces_failed, 0);
    assert_eq!(r.pieces_verified, meta.lengths.num_pieces() as u64);
}
