//! ringseed's Transmission RPC (`--transmission-rpc`, issue 19) driven by real
//! seedbox tools: the scripts of tests/transmission_rpc/tools_*.py (each
//! validated against Debian's transmission-daemon 3.00 with
//! tests/transmission_rpc/tools_against_daemon.py) run against a real
//! `ringseed seed` and must exit 0. Each script adds the payload's torrents
//! itself (torrent-add with `download-dir`), then:
//! - tools_remote.py: Debian's transmission-remote 3.00 (-a -w, -l, -i, -pi
//!   with a libtorrent leecher, -S/-s, -v of a flipped byte, -u/-U, -L, -si,
//!   -st, -r, --remove-and-delete), asserted on its parsed output;
//! - tools_pylib.py: the transmission-rpc PyPI library, every Client method
//!   of the issue and every property of its Torrent/Session objects;
//! - tools_ctrl.py: @ctrl/transmission (npm) lists the torrents;
//! - tools_flood.py: Flood 4.9.5 in its Transmission mode lists them (its
//!   API, and its page in headless Chromium; screenshot in
//!   target/test-artefacts/flood-transmission.png).
//!
//! The tools come from tests/webui/setup.sh and setup-tools.sh (.venv-tests,
//! tests/webui/node_modules) and apt (transmission-cli, chromium,
//! python3-libtorrent, nodejs): missing, a test fails under CI=true and is
//! skipped otherwise. The tests run one at a time.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;

const USER: &str = "admin";
const PASS: &str = "trpc-tools-pass";

/// How long one script may run.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

/// One tool test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What one script needs besides the venv's Python with python3-libtorrent
/// and requests: a module it imports, files under the repo root, commands
/// on PATH (with their Debian package).
struct Needs {
    import: &'static str,
    files: &'static [&'static str],
    commands: &'static [(&'static str, &'static str)],
}

const REMOTE: Needs = Needs {
    import: "requests",
    files: &[],
    commands: &[("transmission-remote", "transmission-cli")],
};
const PYLIB: Needs = Needs {
    import: "transmission_rpc",
    files: &[],
    commands: &[],
};
const CTRL: Needs = Needs {
    import: "requests",
    files: &["tests/webui/node_modules/@ctrl/transmission/package.json"],
    commands: &[("node", "nodejs")],
};
const FLOOD: Needs = Needs {
    import: "websocket",
    files: &["tests/webui/node_modules/.bin/flood"],
    commands: &[("node", "nodejs"), ("chromium", "chromium")],
};

/// The venv's Python when everything `needs` names is installed.
fn tools(needs: &Needs) -> Result<PathBuf, String> {
    let py = root().join(".venv-tests/bin/python");
    let setup = "run tests/webui/setup.sh and tests/webui/setup-tools.sh";
    for f in std::iter::once(&".venv-tests/bin/python").chain(needs.files) {
        let p = root().join(f);
        if !p.exists() {
            return Err(format!("{} missing ({setup})", p.display()));
        }
    }
    let imports = Command::new(&py)
        .args([
            "-c",
            &format!("import libtorrent, requests, {}", needs.import),
        ])
        .output()
        .map_err(|e| format!("{}: {e}", py.display()))?;
    if !imports.status.success() {
        return Err(format!(
            "the venv lacks a module (python3-libtorrent from apt, the rest: {setup}): {}",
            String::from_utf8_lossy(&imports.stderr).trim()
        ));
    }
    for (tool, pkg) in needs.commands {
        if Command::new(tool).arg("--version").output().is_err() {
            return Err(format!("{tool} not installed (apt-get install {pkg})"));
        }
    }
    Ok(py)
}

/// Four torrents made with `ringseed create` (16 KiB pieces): folders
/// `alpha`, `beta` (two files each, alpha's a little over 1 MiB) and
/// `gamma` (one file in a subfolder), and the single file `delta.bin`,
/// each with its own announce URL: `dir/data/NAME`, `dir/torrents/NAME.torrent`.
struct Payload {
    dir: tempfile::TempDir,
}

/// A torrent of the payload: its name, its files (relative path, bytes)
/// and its announce URL.
type TorrentSpec = (&'static str, &'static [(&'static str, usize)], &'static str);

const TORRENTS: [TorrentSpec; 4] = [
    (
        "alpha",
        &[
            ("alpha.bin", 1024 * 1024 + 4099),
            ("notes-alpha.txt", 30_000),
        ],
        "http://alpha.tracker.invalid:6969/announce",
    ),
    (
        "beta",
        &[("beta.bin", 300_001), ("notes-beta.txt", 20_000)],
        "http://beta.tracker.invalid/announce",
    ),
    (
        "gamma",
        &[("sub/gamma.bin", 200_003)],
        "udp://gamma.tracker.invalid:1337/announce",
    ),
    ("delta.bin", &[], "http://delta.tracker.invalid/announce"),
];

impl Payload {
    fn new() -> Payload {
        let p = Payload {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(p.torrents()).unwrap();
        for (name, files, announce) in TORRENTS {
            let content = p.data().join(name);
            if files.is_empty() {
                std::fs::create_dir_all(p.data()).unwrap();
                std::fs::write(&content, bytes(150_007, 77)).unwrap();
            } else {
                write_tree(&content, files);
            }
            let stem = name.split('.').next().unwrap();
            let t = p.torrents().join(format!("{stem}.torrent"));
            ringseed_create_with_announce(&content, &t, 16384, announce);
        }
        p
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn torrents(&self) -> PathBuf {
        self.dir.path().join("torrents")
    }
}

/// `ringseed seed --transmission-rpc 127.0.0.1:0` with no torrents, USER/PASS
/// set beforehand by `ringseed webui-password` (the Transmission RPC's Basic
/// auth shares the WebUI's credentials), `[transmission_rpc] blocklist` a
/// file of two P2P-plain ranges. Returns the seeder and the RPC URL.
fn trpc_seeder(p: &Payload) -> (Seeder, String) {
    let state = p.dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    set_webui_password(&state, USER, PASS);
    // blocklist-update reads a local file named by the config (two ranges).
    let blocklist = p.dir.path().join("blocklist.p2p");
    std::fs::write(
        &blocklist,
        "test range:10.9.8.1-10.9.8.20\nother range:192.0.2.0-192.0.2.255\n",
    )
    .unwrap();
    let config = p.dir.path().join("ringseed.toml");
    std::fs::write(
        &config,
        format!(
            "[transmission_rpc]\nblocklist = {:?}\n",
            blocklist.display().to_string()
        ),
    )
    .unwrap();
    let (state, config) = (state.display().to_string(), config.display().to_string());
    let seeder = Seeder::start(&[
        "--config",
        config.as_str(),
        "--state-dir",
        state.as_str(),
        "--transmission-rpc",
        "127.0.0.1:0",
    ]);
    let addr = seeder.transmission_rpc.unwrap_or_else(|| {
        panic!(
            "no \"transmission_rpc\" address in the ready line; log:\n{}",
            seeder.log_text()
        )
    });
    (seeder, format!("http://{addr}/transmission/rpc"))
}

/// Runs `tests/transmission_rpc/SCRIPT URL USER PASS TORRENTS DATA OUT` with
/// the venv's Python; panics (with its output and the seeder's log) unless
/// it exits 0 within SCRIPT_TIMEOUT.
fn run_script(py: &Path, script: &str) {
    let p = Payload::new();
    let (seeder, url) = trpc_seeder(&p);
    // target/test-artefacts: Flood's screenshot, kept after the test.
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artefacts");
    std::fs::create_dir_all(&out).unwrap();
    let out_path = p.dir.path().join(format!("{script}.out"));
    let out_file = std::fs::File::create(&out_path).unwrap();
    let mut child = Command::new(py)
        .arg(root().join("tests/transmission_rpc").join(script))
        .args([&url, USER, PASS])
        .args([p.torrents(), p.data(), out.clone()])
        // The leechers connect here (and `-si` Listenport must say it).
        .env("TRPC_PEER_PORT", seeder.addr.port().to_string())
        .stdout(out_file.try_clone().unwrap())
        .stderr(out_file)
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if start.elapsed() > SCRIPT_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    eprintln!("--- {script}:\n{text}");
    match status {
        Some(st) if st.success() => {}
        Some(st) => panic!(
            "{script} failed ({st}):\n{}\n--- ringseed log (tail):\n{}",
            tail(&text, 80),
            tail(&seeder.log_text(), 60)
        ),
        None => panic!(
            "{script} still running after {SCRIPT_TIMEOUT:?}:\n{}\n--- ringseed log (tail):\n{}",
            tail(&text, 80),
            tail(&seeder.log_text(), 60)
        ),
    }
}

/// Runs `script` when the tools `needs` are there; false when skipped.
fn tool_test(needs: &Needs, test: &str, script: &str) -> bool {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(py) = required(tools(needs), test) else {
        return false;
    };
    run_script(&py, script);
    true
}

#[test]
fn transmission_remote_drives_ringseed() {
    tool_test(
        &REMOTE,
        "transmission_remote_drives_ringseed",
        "tools_remote.py",
    );
}

#[test]
fn transmission_rpc_library_every_method() {
    tool_test(
        &PYLIB,
        "transmission_rpc_library_every_method",
        "tools_pylib.py",
    );
}

#[test]
fn ctrl_transmission_lists_the_torrents() {
    tool_test(
        &CTRL,
        "ctrl_transmission_lists_the_torrents",
        "tools_ctrl.py",
    );
}

#[test]
fn flood_transmission_mode_lists_the_torrents() {
    let png = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artefacts/flood-transmission.png");
    let _ = std::fs::remove_file(&png);
    if tool_test(
        &FLOOD,
        "flood_transmission_mode_lists_the_torrents",
        "tools_flood.py",
    ) {
        assert!(png.exists(), "no {}", png.display());
    }
}
