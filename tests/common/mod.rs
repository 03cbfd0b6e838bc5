//! Shared parts of the integration tests: a real `ringseed seed` process on
//! 127.0.0.1, its log lines, payload and torrent builders, and real peers.
#![allow(dead_code)]

pub mod opentracker;
pub mod rpc;
pub mod wire;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const RINGSEED: &str = env!("CARGO_BIN_EXE_ringseed");

/// A running `ringseed seed` child process; SIGTERM on drop.
pub struct Seeder {
    pub child: Child,
    pub addr: SocketAddr,
    /// The JSON-RPC address (`--rpc 127.0.0.1:0` unless the args say otherwise).
    pub rpc: Option<SocketAddr>,
    /// The state directory (a private temp dir unless the args name one).
    pub state_dir: PathBuf,
    pub log: Arc<Mutex<Vec<String>>>,
    _state: Option<tempfile::TempDir>,
}

impl Seeder {
    /// Starts `ringseed seed` with `args` (data dir, torrents…) on a free
    /// loopback port and waits until every torrent is checked.
    pub fn start(args: &[&str]) -> Seeder {
        Self::start_wrapped(&[], args)
    }

    /// Like [`Seeder::start`], run through a wrapper command that execs it
    /// (e.g. `prlimit --memlock=… setpriv …`), so the pid is still ringseed's.
    pub fn start_wrapped(wrapper: &[&str], args: &[&str]) -> Seeder {
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(RINGSEED);
                c
            }
            None => Command::new(RINGSEED),
        };
        // Parallel tests must not share the default RPC port or state directory.
        let mut extra: Vec<String> = Vec::new();
        if !args.contains(&"--rpc") {
            extra.extend(["--rpc".into(), "127.0.0.1:0".into()]);
        }
        let mut temp_state = None;
        let state_dir = match args.iter().position(|a| *a == "--state-dir") {
            Some(i) => PathBuf::from(args[i + 1]),
            None => {
                let t = tempfile::tempdir().unwrap();
                let p = t.path().to_owned();
                extra.extend(["--state-dir".into(), p.display().to_string()]);
                temp_state = Some(t);
                p
            }
        };
        let mut child = cmd
            .arg("seed")
            .args(["--listen", "127.0.0.1:0"])
            .args(&extra)
            .args(args)
            .env("RUST_LOG", "info,ringseed::shard=debug")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ringseed");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let line = strip_ansi(&line);
                    let _ = tx.send(line.clone());
                    log.lock().unwrap().push(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut addr = None;
        let mut rpc = None;
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| {
                    panic!(
                        "ringseed did not become ready; log:\n{}",
                        log.lock().unwrap().join("\n")
                    )
                });
            if let Some(i) = line.find("listening on ") {
                let rest = &line[i + "listening on ".len()..];
                addr = Some(rest.split_whitespace().next().unwrap().parse().unwrap());
            }
            if let Some(i) = line.find("rpc on http://") {
                let rest = &line[i + "rpc on http://".len()..];
                rpc = rest.split('/').next().and_then(|a| a.parse().ok());
            }
            if line.contains("ready:") {
                break;
            }
        }
        Seeder {
            child,
            addr: addr.expect("listening line"),
            rpc,
            state_dir,
            log,
            _state: temp_state,
        }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits until a log line contains every needle.
    pub fn wait_log(&self, needles: &[&str], timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self
                .log
                .lock()
                .unwrap()
                .iter()
                .find(|l| needles.iter().all(|n| l.contains(n)))
            {
                return l.clone();
            }
            if Instant::now() > deadline {
                panic!("no log line with {needles:?}; log:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then wait; returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("ringseed did not stop within 10 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Resident set size of the seeder, bytes (from /proc).
    pub fn rss_bytes(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kb: u64 = s
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        kb * 1024
    }
}

impl Drop for Seeder {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            let _ = self.child.wait();
        }
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

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

/// Runs `ringseed seed` with exactly `args` (nothing added: no `--listen`,
/// `--rpc` or `--state-dir`, so a `--config` file decides them) and waits
/// for `ready:`. `state_dir` is the one the args or the file name.
pub fn start_seed_exact(args: &[&str], state_dir: &Path) -> Seeder {
    let mut child = Command::new(RINGSEED)
        .arg("seed")
        .args(args)
        .env("RUST_LOG", "info,ringseed::shard=debug")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ringseed");
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log.lock().unwrap().push(strip_ansi(&line));
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let after = |needle: &str| -> Option<String> {
        let log = log.lock().unwrap();
        log.iter()
            .find_map(|l| l.find(needle).map(|i| l[i + needle.len()..].to_string()))
    };
    while after("ready:").is_none() {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            panic!(
                "ringseed did not become ready; log:\n{}",
                log.lock().unwrap().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let addr = after("listening on ")
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .expect("listening line");
    let rpc = after("rpc on http://").and_then(|r| r.split('/').next()?.parse().ok());
    Seeder {
        child,
        addr,
        rpc,
        state_dir: state_dir.to_owned(),
        log,
        _state: None,
    }
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

impl Seeder {
    /// Starts a prepared `ringseed seed …` command whose binary, `--listen`
    /// address and other arguments the caller chose (another build, another
    /// network namespace) and waits until every torrent is checked. Same log
    /// capture and environment as [`Seeder::start`]; the command must run
    /// ringseed itself (not a wrapper that forks), so SIGTERM reaches it.
    /// Adds `--state-dir` (a private temp dir) when the command has none, but
    /// never `--rpc` (older builds lack it): choose the RPC address yourself.
    pub fn start_command(mut cmd: Command) -> Seeder {
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let mut temp_state = None;
        let state_dir = match args.iter().position(|a| a == "--state-dir") {
            Some(i) => PathBuf::from(&args[i + 1]),
            None => {
                let t = tempfile::tempdir().unwrap();
                let p = t.path().to_owned();
                cmd.arg("--state-dir").arg(&p);
                temp_state = Some(t);
                p
            }
        };
        let mut child = cmd
            .env("RUST_LOG", "info,ringseed::shard=debug")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ringseed");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    let line = strip_ansi(&line);
                    let _ = tx.send(line.clone());
                    log.lock().unwrap().push(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut addr = None;
        let mut rpc = None;
        loop {
            let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            else {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "ringseed did not become ready; log:\n{}",
                    log.lock().unwrap().join("\n")
                );
            };
            if let Some(i) = line.find("listening on ") {
                let rest = &line[i + "listening on ".len()..];
                addr = Some(rest.split_whitespace().next().unwrap().parse().unwrap());
            }
            if let Some(i) = line.find("rpc on http://") {
                let rest = &line[i + "rpc on http://".len()..];
                rpc = rest.split('/').next().and_then(|a| a.parse().ok());
            }
            if line.contains("ready:") {
                break;
            }
        }
        Seeder {
            child,
            addr: addr.expect("listening line"),
            rpc,
            state_dir,
            log,
            _state: temp_state,
        }
    }
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

/// The seeder's Transmission IPC socket (the default path in its state directory).
pub fn ipc_socket(seeder: &Seeder) -> PathBuf {
    seeder.state_dir.join("daemon/socket")
}

/// The seeder's /metrics address, from its log (`--metrics 127.0.0.1:0`).
pub fn metrics_addr(seeder: &Seeder) -> SocketAddr {
    let line = seeder.wait_log(&["metrics on http://"], Duration::from_secs(10));
    let rest = &line[line.find("metrics on http://").unwrap() + "metrics on http://".len()..];
    rest.split('/').next().unwrap().parse().unwrap()
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
