//! The control surfaces against a real `ringseed seed` process, one module
//! per surface:
//!
//! - [`envelope`]: porla's JSON-RPC over real HTTP on 127.0.0.1, byte for
//!   byte (seeds 000/001, porla's `torrents.peers.list` page, checked against
//!   porla's `src/http/jsonrpchandler.cpp`, `src/methods/method.hpp` and
//!   `src/json/ltinfohash.hpp`; the vectors P1–P11: P10 is in [`auth`]);
//! - [`auth`]: porla's token checks (`src/http/jwthandler.cpp`, jwt-cpp's
//!   defaults) and `ringseed token`;
//! - [`peers`]: `torrents.peers.list` with the libtorrent 2.x `peer_info`
//!   bits porla passes on (libtorrent `include/libtorrent/peer_info.hpp`,
//!   v2.0.11), ringseed's own `ringseed.getpeerinfo` (seed 003, the
//!   `getpeerinfo` of Bitcoin Core 0.15/0.16, `src/rpc/net.cpp`) against raw
//!   wire peers whose every byte the test counts, and `torrents.peers.add`;
//! - [`disconnects`]: `ringseed.disconnects` with Net::BitTorrent::Peer's
//!   reason numbers (seed 004, `lib/Net/BitTorrent/Peer.pm` at CPAN-0.052);
//! - [`errors`]: hostile bodies and slow or idle HTTP clients;
//! - [`cli`]: the control CLI driving a real daemon;
//! - [`config`]: `ringseed config` and the configuration file.
//!
//! Peers are real: raw peers, the verifying loadtest swarm and Debian's
//! python3-libtorrent.

#[path = "../common/mod.rs"]
mod common;

mod auth;
mod cli;
mod config;
mod disconnects;
mod envelope;
mod errors;
mod peers;

use std::path::{Path, PathBuf};

use common::*;
use ringseed::metainfo::Metainfo;
use serde_json::Value;

/// P1: porla's answer for a torrent in no session.
const P1: &str = r#"{"error":{"code":-1,"data":null,"message":"Torrent not found in any session"},"id":1,"jsonrpc":"2.0"}"#;
/// P4: a known torrent without peers.
const EMPTY_PEERS: &str = r#"{"id":1,"jsonrpc":"2.0","result":{"peers":[]}}"#;

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// True when `body` is serialised with every object's keys sorted bytewise
/// and no whitespace (porla's nlohmann `dump()`): re-serialising the parsed
/// value through serde_json's sorted map gives the same bytes.
fn sorted_compact(body: &str) -> bool {
    // The check means something only while serde_json's map sorts keys.
    assert_eq!(
        serde_json::from_str::<Value>(r#"{"b":1,"a":2}"#)
            .unwrap()
            .to_string(),
        r#"{"a":2,"b":1}"#
    );
    let parsed: Value = serde_json::from_str(body).unwrap();
    serde_json::to_string(&parsed).unwrap() == body
}

/// A one-file v1 torrent made by `ringseed create`: `DIR/data/NAME/x.bin`.
fn v1_torrent(dir: &Path, name: &str, len: usize, piece: u32) -> (PathBuf, Metainfo) {
    let root = dir.join("data").join(name);
    write_tree(&root, &[("x.bin", len)]);
    let torrent = dir.join(format!("{name}.torrent"));
    ringseed_create(&root, &torrent, piece);
    let meta = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap()).unwrap();
    (torrent, meta)
}

fn seed_args(dir: &Path, extra: &[&str], torrents: &[&Path]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "--data".into(),
        dir.join("data").display().to_string(),
        "--state-dir".into(),
        dir.join("state").display().to_string(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a.extend(torrents.iter().map(|t| t.display().to_string()));
    a
}

/// A seeder of `torrents` with `DIR/data` and `DIR/state`, plus `extra` flags.
fn start(dir: &Path, extra: &[&str], torrents: &[&Path]) -> Seeder {
    let a = seed_args(dir, extra, torrents);
    Seeder::start(&a.iter().map(String::as_str).collect::<Vec<_>>())
}
