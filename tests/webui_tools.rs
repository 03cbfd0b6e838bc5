//! ringseed's qBittorrent WebUI API v2 (`--webui`) driven by real seedbox
//! tools: the scripts of tests/webui/ (validated against Debian's
//! qbittorrent-nox 4.5.2 with tests/webui/against_qbittorrent.py) run against
//! a real `ringseed seed` and must exit 0:
//! - qbit_manage_run.py: qbit_manage (PyPI) tags by tracker, categorizes by
//!   save path, applies share limits and resumes a paused torrent; the
//!   script adds the 3 torrents itself (torrents/add, skip_checking);
//! - exporter_prometheus.py: prometheus-qbittorrent-exporter and a real
//!   Prometheus see one series per torrent, and the upload counter move
//!   while a libtorrent leecher downloads;
//! - flood_ui.py: Flood 4.9.5 lists the torrents and, in headless Chromium,
//!   shows a real libtorrent leecher in a torrent's Peers tab; its
//!   screenshots are kept in target/test-artefacts/.
//!
//! The tools come from tests/webui/setup-tools.sh (.venv-tests,
//! tests/webui/node_modules) and apt (prometheus, chromium,
//! python3-libtorrent): missing, a test fails under CI=true and is skipped
//! otherwise. The tests run one at a time (each starts a browser or a
//! Python tool chain).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;

const USER: &str = "admin";
const PASS: &str = "webui-tools-pass";

/// (name, announce URL): a different tracker host each (qbit_manage tags by host).
const TORRENTS: [(&str, &str); 3] = [
    ("alpha", "http://alpha.tracker.invalid:6969/announce"),
    ("beta", "http://beta.tracker.invalid/announce"),
    ("gamma", "udp://gamma.tracker.invalid:1337/announce"),
];

/// How long one script may run.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

/// One tool test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What one script runs besides the venv's Python (with python3-libtorrent,
/// requests, websocket-client, prometheus_client): files under the repo
/// root and commands on PATH (with their Debian package).
struct Needs {
    files: &'static [&'static str],
    commands: &'static [(&'static str, &'static str)],
}

const QBIT_MANAGE: Needs = Needs {
    files: &[".venv-tests/bin/qbit-manage"],
    commands: &[],
};
const EXPORTER: Needs = Needs {
    files: &[".venv-tests/bin/qbittorrent-exporter"],
    commands: &[("prometheus", "prometheus")],
};
const FLOOD: Needs = Needs {
    files: &["tests/webui/node_modules/.bin/flood"],
    commands: &[("node", "nodejs"), ("chromium", "chromium")],
};

/// The venv's Python when everything `needs` names is installed.
fn tools(needs: &Needs) -> Result<PathBuf, String> {
    let py = root().join(".venv-tests/bin/python");
    let setup = "run tests/webui/setup-tools.sh";
    for f in std::iter::once(&".venv-tests/bin/python").chain(needs.files) {
        let p = root().join(f);
        if !p.exists() {
            return Err(format!("{} missing ({setup})", p.display()));
        }
    }
    let imports = Command::new(&py)
        .args([
            "-c",
            "import libtorrent, websocket, requests, prometheus_client",
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

/// Three torrents (a folder of two files each, ~1 MiB) made with `ringseed
/// create --announce`: `dir/data/NAME/…`, `dir/torrents/NAME.torrent`.
struct Payload {
    dir: tempfile::TempDir,
}

impl Payload {
    fn new() -> Payload {
        let dir = tempfile::tempdir().unwrap();
        let p = Payload { dir };
        std::fs::create_dir_all(p.torrents()).unwrap();
        for (i, (name, announce)) in TORRENTS.iter().enumerate() {
            let content = p.data().join(name);
            std::fs::create_dir_all(&content).unwrap();
            let seed = 10 * i as u64;
            std::fs::write(
                content.join(format!("{name}.bin")),
                bytes(1024 * 1024 + 4099 * i, seed + 1),
            )
            .unwrap();
            std::fs::write(
                content.join(format!("notes-{name}.txt")),
                bytes(30_000 + i, seed + 2),
            )
            .unwrap();
            let t = p.torrents().join(format!("{name}.torrent"));
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

    fn torrent_files(&self) -> Vec<String> {
        TORRENTS
            .iter()
            .map(|(n, _)| {
                self.torrents()
                    .join(format!("{n}.torrent"))
                    .display()
                    .to_string()
            })
            .collect()
    }
}

/// `ringseed seed --webui 127.0.0.1:0` with USER/PASS set beforehand by
/// `ringseed webui-password`, seeding the payload's torrents when `seeding`
/// (else none: the script adds them). Returns the seeder and the WebUI URL.
fn webui_seeder(p: &Payload, seeding: bool) -> (Seeder, String) {
    let state = p.dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    set_webui_password(&state, USER, PASS);
    let data = p.data().display().to_string();
    let state = state.display().to_string();
    let mut args = vec![
        "--data",
        data.as_str(),
        "--state-dir",
        state.as_str(),
        "--webui",
        "127.0.0.1:0",
    ];
    let files = p.torrent_files();
    if seeding {
        args.extend(files.iter().map(String::as_str));
    }
    let seeder = Seeder::start(&args);
    let webui = seeder.webui.unwrap_or_else(|| {
        panic!(
            "no \"webui\" address in the ready line; log:\n{}",
            seeder.log_text()
        )
    });
    (seeder, format!("http://{webui}"))
}

/// Runs `tests/webui/SCRIPT ARGS` with the venv's Python; panics (with its
/// output and the seeder's log) unless it exits 0 within SCRIPT_TIMEOUT.
fn run_script(py: &Path, seeder: &Seeder, p: &Payload, script: &str, args: &[&str]) {
    let out_path = p.dir.path().join(format!("{script}.out"));
    let out_file = std::fs::File::create(&out_path).unwrap();
    let mut child = Command::new(py)
        .arg(root().join("tests/webui").join(script))
        .args(args)
        // The scripts' leecher finds the peer port and the .torrent files here.
        .env("WEBUI_PEER_PORT", seeder.addr.port().to_string())
        .env("WEBUI_TORRENT_DIR", p.torrents())
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
    let out = std::fs::read_to_string(&out_path).unwrap_or_default();
    eprintln!("--- {script}:\n{out}");
    match status {
        Some(st) if st.success() => {}
        Some(st) => panic!(
            "{script} failed ({st}):\n{}\n--- ringseed log (tail):\n{}",
            tail(&out, 80),
            tail(&seeder.log_text(), 60)
        ),
        None => panic!(
            "{script} still running after {SCRIPT_TIMEOUT:?}:\n{}\n--- ringseed log (tail):\n{}",
            tail(&out, 80),
            tail(&seeder.log_text(), 60)
        ),
    }
}

#[test]
fn qbit_manage_tags_categorizes_limits_and_resumes() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(py) = required(
        tools(&QBIT_MANAGE),
        "qbit_manage_tags_categorizes_limits_and_resumes",
    ) else {
        return;
    };
    let p = Payload::new();
    let (seeder, url) = webui_seeder(&p, false);
    let (torrents, data) = (p.torrents(), p.data());
    run_script(
        &py,
        &seeder,
        &p,
        "qbit_manage_run.py",
        &[
            &url,
            USER,
            PASS,
            torrents.to_str().unwrap(),
            data.to_str().unwrap(),
        ],
    );
}

#[test]
fn prometheus_exporter_and_prometheus_see_every_torrent() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(py) = required(
        tools(&EXPORTER),
        "prometheus_exporter_and_prometheus_see_every_torrent",
    ) else {
        return;
    };
    let p = Payload::new();
    let (seeder, url) = webui_seeder(&p, true);
    run_script(
        &py,
        &seeder,
        &p,
        "exporter_prometheus.py",
        &[&url, USER, PASS],
    );
}

#[test]
fn flood_lists_the_torrents_and_shows_a_real_peer() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(py) = required(
        tools(&FLOOD),
        "flood_lists_the_torrents_and_shows_a_real_peer",
    ) else {
        return;
    };
    let p = Payload::new();
    let (seeder, url) = webui_seeder(&p, true);
    // target/test-artefacts/flood.png (and flood-peers.png), kept after the test.
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artefacts");
    std::fs::create_dir_all(&out).unwrap();
    run_script(
        &py,
        &seeder,
        &p,
        "flood_ui.py",
        &[&url, USER, PASS, out.to_str().unwrap()],
    );
    assert!(
        out.join("flood.png").exists(),
        "no {}",
        out.join("flood.png").display()
    );
}
