//! The configuration: `ringseed config` prints TOML that parses back to the
//! defaults; a `--config` file decides what no flag overrides; unknown keys
//! and sections are refused.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use crate::common::http::post;
use crate::common::wire::{peer_id, RawPeer};
use crate::common::*;
use crate::v1_torrent;
use ringseed::metainfo::InfoHash;
use ringseed::wire::ExtHandshake;

/// The reqq of the seeder's BEP 10 handshake to a raw peer with the BEP 10 bit.
fn advertised_reqq(addr: SocketAddr, ih: InfoHash) -> Option<u32> {
    let mut reserved = [0u8; 8];
    reserved[5] = 0x10;
    let mut p = RawPeer::connect(addr, ih, reserved, peer_id(b"config-reqq1"), true);
    let m = p.read_until(20);
    assert_eq!(m[1], 0, "extended handshake");
    ExtHandshake::decode(&m[2..]).unwrap().reqq
}

#[test]
fn config_prints_toml_that_parses_back_to_the_defaults() {
    let out = Command::new(RINGSEED).arg("config").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let parsed: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for section in ["network", "choking", "limits", "storage", "metrics", "rpc"] {
        assert!(parsed.get(section).is_some(), "[{section}] in\n{text}");
    }
    assert_eq!(parsed["rpc"]["listen"].as_str(), Some("127.0.0.1:1337"));
    let config: ringseed::config::Config = toml::from_str(&text).unwrap();
    assert_eq!(config, ringseed::config::Config::default());
}

#[test]
fn config_file_is_honoured_flags_override_it_and_unknown_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (torrent, meta) = v1_torrent(dir.path(), "cfg", 100_000, 16 * 1024);
    let state = dir.path().join("state");
    let file = dir.path().join("ringseed.toml");
    std::fs::write(
        &file,
        format!(
            "[network]\nlisten = \"127.0.0.1:0\"\nreqq = 77\n\n[rpc]\nlisten = \"127.0.0.1:0\"\nauth = false\n\n[metrics]\nlisten = \"127.0.0.1:0\"\n\n[storage]\ndata_dir = \"{}\"\nstate_dir = \"{}\"\n",
            dir.path().join("data").display(),
            state.display()
        ),
    )
    .unwrap();
    let (file, torrent) = (file.to_str().unwrap(), torrent.to_str().unwrap());

    the_file_alone_decides_ports_auth_metrics_and_reqq(file, torrent, &state, meta.info_hash);
    a_flag_overrides_the_file(file, torrent, &state, meta.info_hash);
    unknown_keys_and_sections_are_refused_by_name(dir.path(), &state);
}

const SESSIONS_LIST: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"sessions.list","params":{}}"#;

fn the_file_alone_decides_ports_auth_metrics_and_reqq(
    file: &str,
    torrent: &str,
    state: &Path,
    ih: InfoHash,
) {
    // The file alone decides: peer port, RPC (on a free port, without auth),
    // metrics, reqq.
    let s = Seeder::spawn(Seed::exact(&["--config", file, torrent], state));
    let rpc = s.rpc.expect("rpc from the file's [rpc] listen");
    assert_ne!(rpc.port(), 1337);
    s.metrics.expect("metrics from the file's [metrics] listen");
    assert_eq!(advertised_reqq(s.addr, ih), Some(77));
    let r = post(rpc, &[], SESSIONS_LIST);
    assert_eq!(r.status, 200, "[rpc] auth = false: {}", r.body);
}

fn a_flag_overrides_the_file(file: &str, torrent: &str, state: &Path, ih: InfoHash) {
    let s = Seeder::spawn(Seed::exact(
        &[
            "--config",
            file,
            "--reqq",
            "55",
            "--rpc-auth",
            "true",
            torrent,
        ],
        state,
    ));
    assert_eq!(advertised_reqq(s.addr, ih), Some(55));
    let rpc = s.rpc.unwrap();
    let r = post(rpc, &[], SESSIONS_LIST);
    assert_eq!(r.status, 401);
}

fn unknown_keys_and_sections_are_refused_by_name(dir: &Path, state: &Path) {
    // An unknown key: `ringseed seed` exits non-zero naming it.
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[network]\nreqq = 77\nreqqq = 5\n").unwrap();
    let out = Command::new(RINGSEED)
        .args(["seed", "--config", bad.to_str().unwrap(), "--state-dir"])
        .arg(state)
        .args(["--listen", "127.0.0.1:0", "--rpc", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("reqqq"), "{err}");
    // So does an unknown section.
    std::fs::write(&bad, "[rpcc]\nlisten = \"off\"\n").unwrap();
    let out = Command::new(RINGSEED)
        .args(["seed", "--config", bad.to_str().unwrap(), "--state-dir"])
        .arg(state)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("rpcc"));
}
