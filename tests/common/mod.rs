//! Shared parts of the integration tests: payload and torrent builders,
//! real clients and tools (libtorrent, the loadtest swarm), and the modules
//! below — a real `ringseed seed` process ([`seeder`]), HTTP and JSON-RPC
//! clients ([`http`]), `/metrics` ([`metrics`]), raw wire peers ([`wire`]),
//! polling with deadlines ([`wait`]) and Debian's opentracker ([`opentracker`]).
#![allow(dead_code)]

pub mod http;
pub mod metrics;
pub mod opentracker;
pub mod seeder;
pub mod wait;
pub mod wire;

// Not every test binary uses every one of them.
#[allow(unused_imports)]
pub use seeder::{ipc_socket, set_webui_password, Seed, Seeder, RINGSEED};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// Deterministic bytes for test payloads.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Writes files (relative path, length) under `root` with deterministic content.
pub fn write_tree(root: &Path, files: &[(&str, usize)]) {
    for (i, (p, len)) in files.iter().enumerate() {
        let path = root.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes(*len, i as u64 + 1)).unwrap();
    }
}

/// Makes a torrent with `ringseed create`.
pub fn ringseed_create(path: &Path, out: &Path, piece_length: u32) {
    let st = Command::new(RINGSEED)
        .args(["create", "--piece-length", &piece_length.to_string(), "-o"])
        .arg(out)
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

/// Python with the libtorrent binding: Debian's `/usr/bin/python3` when it has it.
/// Returns `None` (test skipped) only outside CI; under `CI=true` a missing
/// client fails the test.
pub fn libtorrent_python() -> Option<PathBuf> {
    for py in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(py)
            .args(["-c", "import libtorrent"])
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            return Some(PathBuf::from(py));
        }
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("python3-libtorrent is required in CI (apt-get install python3-libtorrent)");
    }
    eprintln!("SKIP: python3-libtorrent not installed");
    None
}

pub fn lt_client() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/lt_client.py")
}

/// Asserts that every file below `a` equals the same file below `b`.
pub fn assert_trees_equal(a: &Path, b: &Path) {
    let mut n = 0;
    for entry in walk(a) {
        let rel = entry.strip_prefix(a).unwrap();
        let other = b.join(rel);
        let x = std::fs::read(&entry).unwrap();
        let y = std::fs::read(&other).unwrap_or_else(|e| panic!("{}: {e}", other.display()));
        assert!(
            x == y,
            "{} differs ({} vs {} bytes)",
            rel.display(),
            x.len(),
            y.len()
        );
        n += 1;
    }
    assert!(n > 0, "no files compared");
}

fn walk(p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if p.is_file() {
        out.push(p.to_owned());
    } else {
        for e in std::fs::read_dir(p).unwrap() {
            out.extend(walk(&e.unwrap().path()));
        }
    }
    out
}

/// Runs a ringseed-loadtest swarm to its end on a one-worker tokio runtime.
pub fn run_swarm(
    meta: Arc<ringseed::metainfo::Metainfo>,
    cfg: ringseed_loadtest::SwarmConfig,
) -> ringseed_loadtest::Report {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(ringseed_loadtest::run_swarm(meta, cfg, |_| {}))
}

/// A verifying swarm of `peers` leechers choosing pieces at random for `secs`
/// seconds with `queue_depth` requests in flight each, run in its own thread.
pub fn spawn_random_swarm(
    meta: Arc<ringseed::metainfo::Metainfo>,
    target: SocketAddr,
    peers: usize,
    queue_depth: usize,
    secs: u64,
) -> std::thread::JoinHandle<ringseed_loadtest::Report> {
    std::thread::spawn(move || {
        let mut cfg = ringseed_loadtest::SwarmConfig::new(target);
        cfg.peers = peers;
        cfg.queue_depth = queue_depth;
        cfg.pattern = ringseed_loadtest::Pattern::Random;
        cfg.duration = Some(Duration::from_secs(secs));
        run_swarm(meta, cfg)
    })
}

/// Makes a torrent of `root` with libtorrent (`lt_client.py make`): v1 only,
/// or hybrid v1+v2 with BEP 47 pad files.
pub fn lt_make(py: &Path, torrent: &Path, root: &Path, hybrid: bool, piece_size: u32) {
    let mut cmd = Command::new(py);
    cmd.arg(lt_client())
        .arg("make")
        .arg(torrent)
        .arg(root)
        .args(["--piece-size", &piece_size.to_string()]);
    if hybrid {
        cmd.arg("--hybrid");
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "libtorrent make failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes a torrent with `ringseed create --announce URL`.
pub fn ringseed_create_with_announce(path: &Path, out: &Path, piece_length: u32, announce: &str) {
    let st = Command::new(RINGSEED)
        .args(["create", "--piece-length", &piece_length.to_string()])
        .args(["--announce", announce, "-o"])
        .arg(out)
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

/// Under `CI=true` (what `.ci/run` sets), a test whose real client is missing fails.
pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// A real part a test needs: outside CI a missing one prints SKIP and
/// gives `None`; under `CI=true` it panics with `test` and the reason.
pub fn required<T>(what: Result<T, String>, test: &str) -> Option<T> {
    match what {
        Ok(v) => Some(v),
        Err(e) if in_ci() => panic!("{test}: {e} (required under CI=true)"),
        Err(e) => {
            eprintln!("SKIP {test}: {e}");
            None
        }
    }
}

/// The last `n` lines of a text.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A free TCP port on 127.0.0.1 (also free for UDP in practice).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    let u = std::net::UdpSocket::bind(("127.0.0.1", p));
    drop(u);
    p
}
