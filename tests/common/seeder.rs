//! A real `ringseed seed` process for the tests: [`Seed`] says how to start
//! it, [`Seeder::spawn`] starts it and waits for its ready line (the one JSON
//! line `ringseed seed` prints on stdout once its listeners are bound and its
//! starting torrents checked), and [`Seeder`] holds its addresses and its log.
//!
//! stdout and stderr share one pipe, read by one thread: the daemon writes
//! its log before the ready line, so every log line written before it is in
//! [`Seeder::log`] when `spawn` returns (two pipes would race).

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::wait;

pub const RINGSEED: &str = env!("CARGO_BIN_EXE_ringseed");

/// How long a seeder may take to become ready (torrents checked).
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// How to start `ringseed seed`: the arguments, what the test adds to them,
/// and the command that runs it.
pub struct Seed {
    cmd: Command,
    args: Vec<OsString>,
    /// Add `--listen 127.0.0.1:0` and, when the arguments lack it, `--rpc
    /// 127.0.0.1:0` (parallel tests must not share the default RPC port).
    test_addresses: bool,
    /// Add a private temp `--state-dir` when the arguments name none.
    private_state: bool,
    /// The state directory when the arguments cannot say (a `--config` file names it).
    state_dir: Option<PathBuf>,
}

impl Seed {
    /// `ringseed seed ARGS` on free loopback ports (`--listen 127.0.0.1:0`,
    /// `--rpc 127.0.0.1:0` unless ARGS give `--rpc`) with a private state
    /// directory unless ARGS give `--state-dir`.
    pub fn args(args: &[&str]) -> Seed {
        let mut cmd = Command::new(RINGSEED);
        cmd.arg("seed");
        Seed {
            cmd,
            args: args.iter().map(OsString::from).collect(),
            test_addresses: true,
            private_state: true,
            state_dir: None,
        }
    }

    /// `ringseed seed ARGS` with nothing added (no `--listen`, `--rpc` or
    /// `--state-dir`, so a `--config` file decides them); `state_dir` is the
    /// one the arguments or the file name.
    pub fn exact(args: &[&str], state_dir: &Path) -> Seed {
        Seed {
            test_addresses: false,
            private_state: false,
            state_dir: Some(state_dir.to_owned()),
            ..Seed::args(args)
        }
    }

    /// A prepared `ringseed seed …` command whose binary, `--listen` address
    /// and other arguments the caller chose (another build, another network
    /// namespace). It must run ringseed itself (not a wrapper that forks), so
    /// SIGTERM reaches it, and print the ready line (this build or a later
    /// one). Adds `--state-dir` (a private temp dir) when the command has
    /// none, but never `--rpc`: choose the RPC address yourself.
    pub fn command(cmd: Command) -> Seed {
        Seed {
            cmd,
            args: Vec::new(),
            test_addresses: false,
            private_state: true,
            state_dir: None,
        }
    }

    /// Runs ringseed through a wrapper command that execs it (e.g. `prlimit
    /// --memlock=… setpriv …`), so the pid is still ringseed's.
    pub fn wrapped(mut self, wrapper: &[&str]) -> Seed {
        if let Some((first, rest)) = wrapper.split_first() {
            let mut cmd = Command::new(first);
            cmd.args(rest)
                .arg(self.cmd.get_program())
                .args(self.cmd.get_args());
            self.cmd = cmd;
        }
        self
    }

    /// The arguments as they will run: the command's, then ARGS.
    fn all_args(&self) -> Vec<OsString> {
        let mut all: Vec<OsString> = self.cmd.get_args().map(OsString::from).collect();
        all.extend(self.args.iter().cloned());
        all
    }
}

/// A running `ringseed seed` child process; SIGTERM on drop.
pub struct Seeder {
    pub child: Child,
    /// The peer listen address, from the ready line.
    pub addr: SocketAddr,
    /// The JSON-RPC address, from the ready line (`None` when off).
    pub rpc: Option<SocketAddr>,
    /// The /metrics address, from the ready line (`None` when off).
    pub metrics: Option<SocketAddr>,
    /// The qBittorrent WebUI API address (`--webui`), from the ready line (`None` when off).
    pub webui: Option<SocketAddr>,
    /// Transmission's RPC address (`--transmission-rpc`), from the ready line (`None` when off).
    pub transmission_rpc: Option<SocketAddr>,
    /// The IPC socket, from the ready line (`None` when off).
    pub ipc: Option<PathBuf>,
    /// The state directory (a private temp dir unless the args name one).
    pub state_dir: PathBuf,
    /// Every log line (stderr), ANSI codes stripped.
    pub log: Arc<Mutex<Vec<String>>>,
    _state: Option<tempfile::TempDir>,
}

/// The surfaces of a ready line,
/// `{"ready":{"listen":…,"rpc":…,"metrics":…,"webui":…,"transmission_rpc":…,"ipc":…}}`.
struct Ready {
    listen: SocketAddr,
    rpc: Option<SocketAddr>,
    metrics: Option<SocketAddr>,
    webui: Option<SocketAddr>,
    transmission_rpc: Option<SocketAddr>,
    ipc: Option<PathBuf>,
}

impl Ready {
    /// `None` when `line` is not a ready line.
    fn parse(line: &str) -> Option<Ready> {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        let r = v.get("ready")?;
        let addr = |k: &str| -> Option<SocketAddr> {
            r[k].as_str()
                .map(|a| a.parse().unwrap_or_else(|e| panic!("ready {k} {a}: {e}")))
        };
        Some(Ready {
            listen: addr("listen").unwrap_or_else(|| panic!("no listen address: {line}")),
            rpc: addr("rpc"),
            metrics: addr("metrics"),
            webui: addr("webui"),
            transmission_rpc: addr("transmission_rpc"),
            ipc: r["ipc"].as_str().map(PathBuf::from),
        })
    }
}

impl Seeder {
    /// The usual test seeder: `Seeder::spawn(Seed::args(args))`.
    pub fn start(args: &[&str]) -> Seeder {
        Seeder::spawn(Seed::args(args))
    }

    /// Starts `seed` and waits (120 s at most) for its ready line: listening,
    /// every starting torrent checked. Panics with the log when the daemon
    /// exits or is not ready in time.
    pub fn spawn(seed: Seed) -> Seeder {
        let given = seed.all_args();
        let has = |flag: &str| given.iter().position(|a| a == flag);
        let Seed {
            mut cmd,
            args,
            test_addresses,
            private_state,
            state_dir,
        } = seed;
        if test_addresses {
            cmd.args(["--listen", "127.0.0.1:0"]);
            if has("--rpc").is_none() {
                cmd.args(["--rpc", "127.0.0.1:0"]);
            }
            // qBittorrent's 8080 is the default: tests run side by side.
            if has("--webui").is_none() {
                cmd.args(["--webui", "127.0.0.1:0"]);
            }
            // And Transmission's 9091.
            if has("--transmission-rpc").is_none() {
                cmd.args(["--transmission-rpc", "127.0.0.1:0"]);
            }
        }
        let mut temp_state = None;
        let state_dir = match (state_dir, has("--state-dir")) {
            (Some(d), _) => d,
            (None, Some(i)) => PathBuf::from(&given[i + 1]),
            (None, None) => {
                assert!(private_state, "no state directory");
                let t = tempfile::tempdir().unwrap();
                let p = t.path().to_owned();
                cmd.arg("--state-dir").arg(&p);
                temp_state = Some(t);
                p
            }
        };
        let (reader, writer) = std::io::pipe().expect("pipe");
        let mut child = cmd
            .args(&args)
            .env("RUST_LOG", "info,ringseed::shard=debug")
            .env("NO_COLOR", "1")
            .stdout(writer.try_clone().expect("pipe"))
            .stderr(writer)
            .spawn()
            .expect("spawn ringseed");
        // The command keeps the write ends: drop them, so the pipe ends when the child does.
        drop(cmd);
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut tx = Some(tx);
                for line in BufReader::new(reader).lines().map_while(Result::ok) {
                    let line = strip_ansi(&line);
                    match Ready::parse(&line) {
                        Some(r) => {
                            if let Some(tx) = tx.take() {
                                let _ = tx.send(r);
                            }
                        }
                        None => log.lock().unwrap().push(line),
                    }
                }
            });
        }
        let Ok(ready) = rx.recv_timeout(READY_TIMEOUT) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "ringseed did not become ready; log:\n{}",
                log.lock().unwrap().join("\n")
            );
        };
        Seeder {
            child,
            addr: ready.listen,
            rpc: ready.rpc,
            metrics: ready.metrics,
            webui: ready.webui,
            transmission_rpc: ready.transmission_rpc,
            ipc: ready.ipc,
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
        let found = wait::poll(timeout, Duration::from_millis(20), || {
            self.log
                .lock()
                .unwrap()
                .iter()
                .find(|l| needles.iter().all(|n| l.contains(n)))
                .cloned()
                .ok_or_else(String::new)
        });
        found.unwrap_or_else(|_| panic!("no log line with {needles:?}; log:\n{}", self.log_text()))
    }

    /// The /metrics address; panics when the seeder serves none.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics.expect("metrics on (--metrics ADDR)")
    }

    /// SIGTERM, then wait; returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let child = &mut self.child;
        let exited = wait::poll(Duration::from_secs(10), Duration::from_millis(20), || {
            child.try_wait().unwrap().ok_or_else(String::new)
        });
        exited.unwrap_or_else(|_| {
            let _ = self.child.kill();
            panic!("ringseed did not stop within 10 s of SIGTERM");
        })
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

/// The seeder's Transmission IPC socket: the default path in its state
/// directory (whether or not it serves one; its ready line says, [`Seeder::ipc`]).
pub fn ipc_socket(seeder: &Seeder) -> PathBuf {
    seeder.state_dir.join("daemon/socket")
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

/// `ringseed webui-password --state-dir STATE --username USER PASSWORD`:
/// the qBittorrent WebUI API's login, set before the daemon starts. Panics
/// with the command's output unless it succeeds.
pub fn set_webui_password(state: &Path, user: &str, password: &str) {
    let out = Command::new(RINGSEED)
        .args(["webui-password", "--state-dir"])
        .arg(state)
        .args(["--username", user, password])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ringseed webui-password failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
