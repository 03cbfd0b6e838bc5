//! The control CLI (`ringseed torrents | peers | add | remove | pause |
//! resume | recheck | limit | rpc`) driving a real daemon over its JSON-RPC,
//! and without one.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::common::http::Rpc;
use crate::common::wait::eventually;
use crate::common::wire::{peer_id, RawPeer};
use crate::common::*;
use crate::{start, v1_torrent};
use ringseed::control::rpc::auth::Auth;
use ringseed::metainfo::Metainfo;

fn cli(args: &[&str], rpc: SocketAddr, state: &Path) -> Output {
    Command::new(RINGSEED)
        .args(args)
        .arg("--rpc")
        .arg(rpc.to_string())
        .arg("--state-dir")
        .arg(state)
        .output()
        .unwrap()
}

fn cli_ok(args: &[&str], rpc: SocketAddr, state: &Path) -> String {
    let out = cli(args, rpc, state);
    assert!(
        out.status.success(),
        "ringseed {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A daemon seeding "alpha" from its data directory, and "beta", whose
/// content lives outside it (in `save`), for the CLI to add.
struct Daemon {
    seeder: Seeder,
    dir: tempfile::TempDir,
    _other: tempfile::TempDir,
    rpc: SocketAddr,
    state: PathBuf,
    api: Rpc,
    a_torrent: PathBuf,
    b_torrent: PathBuf,
    b: Metainfo,
    /// Where beta's content is: its save path.
    save: PathBuf,
    ha: String,
    hb: String,
}

impl Daemon {
    fn start() -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let (a_torrent, a) = v1_torrent(dir.path(), "alpha", 300_000, 16 * 1024);
        // B's content lives outside the daemon's data directory.
        let other = tempfile::tempdir().unwrap();
        let (b_torrent, b) = v1_torrent(other.path(), "beta", 200_000, 16 * 1024);
        let seeder = start(dir.path(), &[], &[&a_torrent]);
        let (rpc, state) = (seeder.rpc.unwrap(), seeder.state_dir.clone());
        let api = Rpc::of(&seeder);
        let (ha, hb) = (a.info_hash.to_hex(), b.info_hash.to_hex());
        let save = other.path().join("data");
        Daemon {
            seeder,
            dir,
            _other: other,
            rpc,
            state,
            api,
            a_torrent,
            b_torrent,
            b,
            save,
            ha,
            hb,
        }
    }

    fn cli(&self, args: &[&str]) -> Output {
        cli(args, self.rpc, &self.state)
    }

    fn ok(&self, args: &[&str]) -> String {
        cli_ok(args, self.rpc, &self.state)
    }

    /// Waits until `torrents` lists `hash` seeding and complete.
    fn wait_seeding(&self, what: &str, hash: &str) {
        eventually(20, what, || {
            let out = self.ok(&["torrents"]);
            let l = out
                .lines()
                .find(|l| l.contains(hash))
                .unwrap_or("")
                .to_string();
            if l.contains("seeding") && l.contains("100.0%") {
                Ok(())
            } else {
                Err(out)
            }
        });
    }
}

#[test]
fn control_cli_drives_a_real_daemon() {
    let d = Daemon::start();
    torrents_lists_the_seeding_torrent(&d);
    add_with_a_save_path_and_paused(&d);
    resume_checks_and_seeds(&d);
    peers_lists_a_raw_peer_under_its_torrent_only(&d);
    pause_closes_peers_and_refuses_new_ones(&d);
    recheck_ends_seeding(&d);
    limit_sets_the_global_then_a_torrents_upload_limit(&d);
    rpc_calls_any_method_and_errors_exit_non_zero(&d);
    remove_keeps_the_data_unless_asked(&d);
    a_client_configuration_file_names_the_daemon(&d);
    a_wrong_state_directory_is_refused_with_401(&d);
}

fn torrents_lists_the_seeding_torrent(d: &Daemon) {
    let out = d.ok(&["torrents"]);
    assert!(
        out.contains(&d.ha) && out.contains("alpha") && out.contains("seeding"),
        "{out}"
    );
    assert!(out.contains("1 torrent(s)"), "{out}");
}

fn add_with_a_save_path_and_paused(d: &Daemon) {
    // add --save-path --paused.
    let out = d.ok(&[
        "add",
        d.b_torrent.to_str().unwrap(),
        "--save-path",
        d.save.to_str().unwrap(),
        "--paused",
    ]);
    assert_eq!(out.trim(), format!("added {}", d.hb));
    let out = eventually(10, "beta listed paused", || {
        let out = d.ok(&["torrents"]);
        let line = out.lines().find(|l| l.contains(&d.hb)).map(str::to_string);
        match line {
            Some(l) if l.contains("paused") && l.contains("beta") => Ok(out),
            _ => Err(out),
        }
    });
    assert!(out.contains("2 torrent(s)"), "{out}");
    let props = d
        .api
        .result("torrents.properties.get", json!({ "info_hash": d.hb }));
    assert_eq!(props["flags"]["paused"], true);
    let listed = d.api.result("torrents.list", json!({}));
    let beta = listed["torrents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "beta")
        .unwrap()
        .clone();
    assert_eq!(beta["save_path"], d.save.display().to_string());
    // --json prints the raw result.
    let out = d.ok(&["torrents", "--json"]);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["torrents_total"], 2, "{v}");
}

fn resume_checks_and_seeds(d: &Daemon) {
    // resume: B gets checked and seeds.
    assert_eq!(d.ok(&["resume", &d.hb]).trim(), format!("resumed {}", d.hb));
    d.wait_seeding("beta seeding after resume", &d.hb);
}

fn peers_lists_a_raw_peer_under_its_torrent_only(d: &Daemon) {
    // A peer on B shows in `peers` (and `peers INFO_HASH`).
    let mut p = RawPeer::connect(
        d.seeder.addr,
        d.b.info_hash,
        [0; 8],
        peer_id(b"cli-peer-001"),
        true,
    );
    p.read_until(5);
    let me = p.s.local_addr().unwrap().to_string();
    eventually(10, "peers lists the raw peer", || {
        let out = d.ok(&["peers"]);
        let one = d.ok(&["peers", &d.hb]);
        let none = d.ok(&["peers", &d.ha]);
        if out.contains(&me)
            && one.contains(&me)
            && !none.contains(&me)
            && none.contains("0 peer(s)")
        {
            Ok(())
        } else {
            Err(format!("{out}\n{one}\n{none}"))
        }
    });
    let out = d.ok(&["peers", "--json"]);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|g| g["addr"] == me.as_str()),
        "{v}"
    );
    drop(p);
}

fn pause_closes_peers_and_refuses_new_ones(d: &Daemon) {
    // pause closes B's peers and refuses new ones.
    assert_eq!(d.ok(&["pause", &d.hb]).trim(), format!("paused {}", d.hb));
    let mut refused = RawPeer::connect(
        d.seeder.addr,
        d.b.info_hash,
        [0; 8],
        peer_id(b"cli-peer-002"),
        false,
    );
    assert!(refused.closed_by_seeder());
    assert_eq!(d.ok(&["resume", &d.hb]).trim(), format!("resumed {}", d.hb));
}

fn recheck_ends_seeding(d: &Daemon) {
    // recheck A.
    assert_eq!(
        d.ok(&["recheck", &d.ha]).trim(),
        format!("rechecking {}", d.ha)
    );
    d.wait_seeding("alpha seeding after recheck", &d.ha);
}

fn limit_sets_the_global_then_a_torrents_upload_limit(d: &Daemon) {
    // limit: global, then per torrent.
    let out = d.ok(&["limit", "50MB/s"]);
    assert_eq!(out.trim(), "upload limit: 50000000 B/s (50.0 MB/s)");
    let session = d.api.result("ringseed.session.get", json!({}));
    assert_eq!(session["upload_limit"], 50_000_000, "{session}");
    let out = d.ok(&["limit", &d.ha, "1MiB/s"]);
    assert!(out.contains("1048576 B/s"), "{out}");
    let props = d
        .api
        .result("torrents.properties.get", json!({ "info_hash": d.ha }));
    assert_eq!(props["upload_limit"], 1_048_576, "{props}");
    let out = d.ok(&["limit", "unlimited"]);
    assert_eq!(out.trim(), "upload limit: unlimited");
    assert_eq!(
        d.api.result("ringseed.session.get", json!({}))["upload_limit"],
        -1
    );
}

fn rpc_calls_any_method_and_errors_exit_non_zero(d: &Daemon) {
    // rpc METHOD [PARAMS].
    let out = d.ok(&["rpc", "sessions.list"]);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["sessions"][0]["name"], "default");
    assert_eq!(v["sessions"][0]["torrents_total"], 2);
    let out = d.ok(&[
        "rpc",
        "torrents.files.list",
        &json!({ "info_hash": d.hb }).to_string(),
    ]);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["files"][0]["size"], 200_000, "{v}");
    // Adding a torrent twice: porla's -3.
    let out = d.cli(&["add", d.a_torrent.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Torrent already in session 'default' (-3)"),
        "{err}"
    );
    // A JSON-RPC error: non-zero with the code and message.
    let out = d.cli(&["rpc", "torrents.pause", r#"{"info_hash":"00"}"#]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Torrent not found in any session") && err.contains("-1"),
        "{err}"
    );
}

fn remove_keeps_the_data_unless_asked(d: &Daemon) {
    // remove: gone from the list, data kept.
    assert_eq!(d.ok(&["remove", &d.hb]).trim(), format!("removed {}", d.hb));
    eventually(10, "beta removed", || {
        let out = d.ok(&["torrents"]);
        if !out.contains(&d.hb) && out.contains("1 torrent(s)") {
            Ok(())
        } else {
            Err(out)
        }
    });
    assert!(
        d.save.join("beta/x.bin").exists(),
        "data stays without --remove-data"
    );
    // Again, with --remove-data: the files go too.
    d.ok(&[
        "add",
        d.b_torrent.to_str().unwrap(),
        "--save-path",
        d.save.to_str().unwrap(),
    ]);
    assert_eq!(
        d.ok(&["remove", &d.hb, "--remove-data"]).trim(),
        format!("removed {}", d.hb)
    );
    eventually(10, "beta's data removed", || {
        if d.save.join("beta/x.bin").exists() {
            Err("still there".into())
        } else {
            Ok(())
        }
    });
    assert!(
        d.dir.path().join("data/alpha/x.bin").exists(),
        "alpha untouched"
    );
}

fn a_client_configuration_file_names_the_daemon(d: &Daemon) {
    // A client configuration file names the address and the state directory.
    let client_conf = d.dir.path().join("client.toml");
    std::fs::write(
        &client_conf,
        format!(
            "[rpc]\nlisten = \"{}\"\n\n[storage]\nstate_dir = \"{}\"\n",
            d.rpc,
            d.state.display()
        ),
    )
    .unwrap();
    let out = Command::new(RINGSEED)
        .args(["torrents", "--config"])
        .arg(&client_conf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&d.ha));
}

fn a_wrong_state_directory_is_refused_with_401(d: &Daemon) {
    // A wrong state directory: the token is refused (401) and the CLI says so.
    let wrong = tempfile::tempdir().unwrap();
    Auth::load_or_create(wrong.path()).unwrap();
    let out = cli(&["torrents"], d.rpc, wrong.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
}

#[test]
fn control_cli_without_a_daemon_exits_non_zero_saying_so() {
    let state = tempfile::tempdir().unwrap();
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    for args in [
        vec!["torrents"],
        vec!["peers"],
        vec!["pause", "0123456789012345678901234567890123456789"],
        vec!["limit", "1MB/s"],
        vec!["rpc", "sessions.list"],
    ] {
        let out = cli(&args, port, state.path());
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no ringseed daemon"), "{args:?}: {err}");
    }
}
