//! ringseed's qBittorrent WebUI API v2 (`--webui ADDR`), driven by the
//! Python scripts of `tests/webui/` (validated against Debian's
//! qbittorrent-nox 4.5.2; see `tests/webui/*.py`):
//!
//! - `shapes.py` + `compare_shapes.py`: every endpoint's status, content type
//!   and JSON shape equal the committed qBittorrent 4.5.2 reference
//!   (`reference-qbittorrent-4.5.2.json`) but for the differences
//!   `allowed-4.5.2-to-5.1.json` lists (keys 5.x added, the 5.0 renames) and
//!   `allowed-ringseed.json` (a seeder refuses magnets and renames);
//! - `qbt_api_all.py`: every endpoint through the `qbittorrent-api` library
//!   (qbit_manage's client), asserting behaviour;
//! - `cross_seed_replay.py`: cross-seed v7.0.0-14's injection, request by request;
//! - `hostile.py --strict-host`: multipart bombs, invalid fields, cross-site
//!   requests, foreign Host headers, the login ban (run last: it bans 127.0.0.2);
//! - the differential test: qbittorrent-nox and ringseed on the same torrents
//!   in the same run, their live shapes compared.
//!
//! What this assumes of ringseed: `ringseed webui-password --state-dir DIR
//! --username admin PASSWORD` sets the WebUI credentials before start;
//! `ringseed seed --webui 127.0.0.1:0` serves the API and names the bound
//! address in its JSON ready line as `"webui":"IP:PORT"` (beside "listen",
//! "rpc", "metrics"); torrents are added through the API (`torrents/add`
//! with `savepath`), none given on the command line; `app/preferences`
//! reports the peer port as `listen_port`.
//!
//! Needs `.venv-tests` (`tests/webui/setup.sh`: python3 with
//! python3-libtorrent, requests, qbittorrent-api) and, for the differential
//! test, `qbittorrent-nox`: missing ones skip the tests outside CI and fail
//! them under `CI=true`.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::*;

const USER: &str = "admin";
const PASSWORD: &str = "webui-test-pass";

fn webui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webui")
}

/// The tests' Python (`.venv-tests/bin/python`), if it imports what the scripts need.
fn venv_python() -> Result<PathBuf, String> {
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-tests/bin/python");
    if !py.exists() {
        return Err(format!(
            "{} missing (run tests/webui/setup.sh)",
            py.display()
        ));
    }
    let ok = Command::new(&py)
        .args(["-c", "import qbittorrentapi, requests, libtorrent"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        return Err(format!(
            "{} cannot import qbittorrentapi, requests, libtorrent (run tests/webui/setup.sh)",
            py.display()
        ));
    }
    Ok(py)
}

fn qbittorrent_nox() -> Result<(), String> {
    match Command::new("qbittorrent-nox").arg("--version").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err("qbittorrent-nox not installed (apt-get install qbittorrent-nox)".into()),
    }
}

/// DIR/data with a multi-file, two single-file and a two-file torrent's content,
/// complete, and DIR/torrents with their .torrent files (`ringseed create`).
struct Payload {
    _dir: tempfile::TempDir,
    data: PathBuf,
    torrents: PathBuf,
}

fn payload() -> Payload {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let torrents = dir.path().join("torrents");
    std::fs::create_dir_all(&torrents).unwrap();
    write_tree(
        &data.join("alpha"),
        &[
            ("a.bin", 1_500_000),
            ("b.txt", 20_000),
            ("sub/c.bin", 700_001),
            ("z.dat", 33),
        ],
    );
    write_tree(
        &data.join("gamma"),
        &[("one.bin", 400_000), ("two.bin", 123_457)],
    );
    write_tree(&data, &[("beta.bin", 1_048_593), ("delta.bin", 300_000)]);
    ringseed_create_with_announce(
        &data.join("alpha"),
        &torrents.join("alpha.torrent"),
        65536,
        "http://127.0.0.1:9/announce",
    );
    for (name, path) in [
        ("beta", "beta.bin"),
        ("gamma", "gamma"),
        ("delta", "delta.bin"),
    ] {
        ringseed_create(
            &data.join(path),
            &torrents.join(format!("{name}.torrent")),
            65536,
        );
    }
    Payload {
        _dir: dir,
        data,
        torrents,
    }
}

/// `ringseed seed --webui 127.0.0.1:0` with admin/PASSWORD set by `ringseed webui-password`.
fn ringseed_webui(p: &Payload) -> (Seeder, String) {
    let state = p.data.parent().unwrap().join("state");
    std::fs::create_dir_all(&state).unwrap();
    set_webui_password(&state, USER, PASSWORD);
    let data = p.data.display().to_string();
    let state = state.display().to_string();
    let seeder = Seeder::start(&[
        "--data",
        &data,
        "--state-dir",
        &state,
        "--webui",
        "127.0.0.1:0",
    ]);
    let addr: SocketAddr = seeder.webui.unwrap_or_else(|| {
        panic!(
            "no \"webui\" address in the ready line; log:\n{}",
            tail(&seeder.log_text(), 40)
        )
    });
    (seeder, format!("http://{addr}"))
}

/// Runs `tests/webui/SCRIPT ARGS` with the venv's python; panics with its
/// output (and `log`'s tail) unless it exits 0. Returns its stdout.
fn script(py: &Path, name: &str, args: &[&str], log: &dyn Fn() -> String) -> String {
    let out = Command::new(py)
        .arg(webui_dir().join(name))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} {args:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}\n--- server log\n{}",
        out.status,
        tail(&stdout, 60),
        tail(&String::from_utf8_lossy(&out.stderr), 60),
        tail(&log(), 60)
    );
    eprintln!(
        "{name}: ok\n{}",
        tail(&String::from_utf8_lossy(&out.stderr), 5)
    );
    stdout
}

fn shapes(py: &Path, url: &str, p: &Payload, out: &Path, log: &dyn Fn() -> String) {
    let json = script(
        py,
        "shapes.py",
        &[
            url,
            USER,
            PASSWORD,
            &p.torrents.display().to_string(),
            &p.data.display().to_string(),
        ],
        log,
    );
    std::fs::write(out, json).unwrap();
}

fn compare(py: &Path, reference: &Path, live: &Path, log: &dyn Fn() -> String) {
    // What 5.x changed since 4.5.2, then ringseed's own differences (a seeder).
    let allowed = webui_dir().join("allowed-4.5.2-to-5.1.json");
    let ours = webui_dir().join("allowed-ringseed.json");
    let out = script(
        py,
        "compare_shapes.py",
        &[
            &reference.display().to_string(),
            &live.display().to_string(),
            &allowed.display().to_string(),
            &ours.display().to_string(),
        ],
        log,
    );
    eprintln!("{out}");
}

#[test]
fn webui_api_against_qbittorrent_scripts() {
    let Some(py) = required(venv_python(), "webui_api_against_qbittorrent_scripts") else {
        return;
    };
    let p = payload();
    let (seeder, url) = ringseed_webui(&p);
    let log = || seeder.log_text();
    let torrents = p.torrents.display().to_string();
    let data = p.data.display().to_string();

    let live = p.data.parent().unwrap().join("ringseed-shapes.json");
    shapes(&py, &url, &p, &live, &log);
    compare(
        &py,
        &webui_dir().join("reference-qbittorrent-4.5.2.json"),
        &live,
        &log,
    );
    script(
        &py,
        "qbt_api_all.py",
        &[&url, USER, PASSWORD, &torrents, &data],
        &log,
    );
    for t in ["alpha", "beta"] {
        let torrent = p
            .torrents
            .join(format!("{t}.torrent"))
            .display()
            .to_string();
        script(
            &py,
            "cross_seed_replay.py",
            &[&url, USER, PASSWORD, &torrent, &data],
            &log,
        );
    }
    // Last: it bans 127.0.0.2 for the rest of the daemon's life.
    script(
        &py,
        "hostile.py",
        &[&url, USER, PASSWORD, "--strict-host"],
        &log,
    );
}

/// `qbt_nox.py serve`: a qbittorrent-nox in a temp profile; stopped when dropped.
struct Nox {
    child: Child,
    url: String,
}

impl Nox {
    fn start(py: &Path, save: &Path) -> Nox {
        let mut child = Command::new(py)
            .arg(webui_dir().join("qbt_nox.py"))
            .args(["serve", "--password", PASSWORD, "--save-path"])
            .arg(save)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("qbt_nox.py serve printed {line:?}: {e}"));
        let url = v["url"].as_str().expect("url").to_string();
        Nox { child, url }
    }
}

impl Drop for Nox {
    fn drop(&mut self) {
        // Closing stdin stops it (qbt_nox.py stops qbittorrent-nox and removes the profile).
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

#[test]
fn webui_shapes_differential_with_qbittorrent_nox() {
    let test = "webui_shapes_differential_with_qbittorrent_nox";
    let Some(py) = required(venv_python(), test) else {
        return;
    };
    if required(qbittorrent_nox(), test).is_none() {
        return;
    }
    let p = payload();
    let nox = Nox::start(&py, &p.data);
    let (seeder, url) = ringseed_webui(&p);
    let log = || seeder.log_text();
    let dir = p.data.parent().unwrap().to_owned();
    let (a, b) = (
        dir.join("nox-shapes.json"),
        dir.join("ringseed-shapes.json"),
    );
    shapes(&py, &nox.url, &p, &a, &|| "(qbittorrent-nox)".to_string());
    shapes(&py, &url, &p, &b, &log);
    compare(&py, &a, &b, &log);
}
