//! The peers of a torrent through the RPC: porla's `torrents.peers.list`
//! (seed 000: its 17 keys, with the `peer_info` bits of libtorrent 2.x that
//! porla passes on, `include/libtorrent/peer_info.hpp` at v2.0.11),
//! ringseed's `ringseed.getpeerinfo` (seed 003: the fields of Bitcoin Core
//! 0.15/0.16's `getpeerinfo`, `src/rpc/net.cpp`, over BitTorrent
//! connections: per-message byte counts with the length prefix, Unix-second
//! times) and `torrents.peers.add`, which dials out.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::http::Rpc;
use crate::common::wait::eventually;
use crate::common::wire::{peer_id, RawPeer};
use crate::common::*;
use crate::{sorted_compact, start, unix_now, v1_torrent, P1};
use ringseed::metainfo::InfoHash;
use ringseed::wire::{ExtHandshake, Handshake, Message};

// ------------------------------------------------ torrents.peers.list ----

const PORLA_PEER_KEYS: [&str; 17] = [
    "busy_requests",
    "client",
    "connection_type",
    "down_speed",
    "download_queue_length",
    "download_queue_time",
    "flags",
    "ip",
    "last_active",
    "last_request",
    "local_endpoint",
    "progress",
    "rtt",
    "source",
    "total_download",
    "total_upload",
    "up_speed",
];

/// libtorrent `peer_flags_t` bits (`include/libtorrent/peer_info.hpp`,
/// identical in v1.2.20 and v2.0.11).
const CHOKED: u64 = 1 << 1;
const REMOTE_INTERESTED: u64 = 1 << 2;
const SUPPORTS_EXTENSIONS: u64 = 1 << 4;
const OUTGOING_CONNECTION: u64 = 1 << 5;

fn by_port(peers: &Value) -> BTreeMap<u16, Value> {
    peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["ip"][1].as_u64().unwrap() as u16, p.clone()))
        .collect()
}

/// Local ports of process `pid`'s established TCP connections to `port`
/// (from /proc: its socket descriptors, then the kernel's connection table).
fn ports_connected_to(pid: u32, port: u16) -> BTreeSet<u16> {
    let mut inodes = BTreeSet::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if let Ok(l) = std::fs::read_link(e.path()) {
            let l = l.to_string_lossy().into_owned();
            if let Some(i) = l.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                inodes.insert(i.to_string());
            }
        }
    }
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
    let port_of = |a: &str| u16::from_str_radix(a.rsplit(':').next().unwrap(), 16).unwrap();
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 9 && f[3] == "01" && inodes.contains(f[9]) && port_of(f[2]) == port)
                .then(|| port_of(f[1]))
        })
        .collect()
}

#[test]
fn peers_list_reports_swarm_libtorrent_and_raw_peers_with_porla_keys_and_libtorrent_bits() {
    let Some(py) = libtorrent_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (torrent, meta) = v1_torrent(dir.path(), "big", 24 << 20, 256 * 1024);
    let meta = Arc::new(meta);
    // Every interested peer unchoked; a global limit keeps libtorrent
    // downloading (about 750 kB/s each) while the test looks.
    let seeder = start(
        dir.path(),
        &["--upload-slots", "0", "--upload-limit", "3MB/s"],
        &[&torrent],
    );
    let api = Rpc::of(&seeder);
    let ih = json!(meta.info_hash.to_hex());

    let swarm = spawn_random_swarm(meta.clone(), seeder.addr, 3, 4, 10);
    let mut lt = libtorrent_downloading(&py, &torrent, dir.path(), seeder.addr);
    // A raw peer without extensions, interested, requesting nothing.
    let mut raw = RawPeer::connect(
        seeder.addr,
        meta.info_hash,
        [0; 8],
        peer_id(b"peerslist001"),
        true,
    );
    raw.send(Message::Interested);

    let (first, lt_port) = listed_are_exactly_the_test_peers(&seeder, &api, &ih, &lt, &raw);
    let info = api.result("ringseed.getpeerinfo", json!({ "info_hash": ih }));
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    let body = api.body("torrents.peers.list", json!({ "info_hash": ih }));
    let second: Value = serde_json::from_str(&body).unwrap();
    assert!(sorted_compact(&body), "keys sorted, no whitespace: {body}");

    let a = by_port(&first);
    let b = by_port(&second["result"]);
    let (lt_a, lt_b) = (&a[&lt_port], &b[&lt_port]);
    assert!(t0.elapsed() >= Duration::from_millis(1500));
    for (port, p) in &b {
        has_porla_keys_and_an_incoming_seeds_values(p, *port, seeder.addr);
        flags_are_libtorrents_and_agree_with_getpeerinfo(p, *port, &info);
        let flags = p["flags"].as_u64().unwrap();
        if *port == raw.port() {
            the_raw_peer_shows_no_extensions_and_no_upload(p, flags);
        } else {
            a_downloading_peer_shows_extensions_and_rising_upload(p, &a[port], flags);
        }
    }
    libtorrent_names_itself_and_is_still_downloading(lt_a, lt_b);

    let _ = lt.kill();
    let _ = lt.wait();
    drop(raw);
    let report = swarm.join().unwrap();
    assert_eq!(report.pieces_failed, 0);
    assert!(report.pieces_verified > 0);
}

/// python3-libtorrent downloading `torrent` from `seeder` (60 s at most).
fn libtorrent_downloading(py: &Path, torrent: &Path, dir: &Path, seeder: SocketAddr) -> Child {
    Command::new(py)
        .arg(lt_client())
        .arg("download")
        .arg(torrent)
        .arg(dir.join("lt-save"))
        .arg(seeder.to_string())
        .args(["--timeout", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// `ip` is each test peer's own socket: the ports the test process and the
/// libtorrent process hold to the seeder (read from /proc), and no other.
/// Returns the first full list and libtorrent's port.
fn listed_are_exactly_the_test_peers(
    seeder: &Seeder,
    api: &Rpc,
    ih: &Value,
    lt: &Child,
    raw: &RawPeer,
) -> (Value, u16) {
    let me = std::process::id();
    let (first, ports) = eventually(20, "peers.list shows exactly the test's peers", || {
        let ours = ports_connected_to(me, seeder.addr.port());
        let theirs = ports_connected_to(lt.id(), seeder.addr.port());
        let want: BTreeSet<u16> = ours.union(&theirs).copied().collect();
        let v = api.result("torrents.peers.list", json!({ "info_hash": ih }));
        let got: BTreeSet<u16> = by_port(&v).keys().copied().collect();
        if want.len() == 5 && theirs.len() == 1 && got == want {
            Ok((v, (ours, theirs)))
        } else {
            Err(format!(
                "ours {ours:?} libtorrent {theirs:?} listed {got:?}"
            ))
        }
    });
    assert!(ports.0.contains(&raw.port()));
    let lt_port = *ports.1.iter().next().unwrap();
    (first, lt_port)
}

fn has_porla_keys_and_an_incoming_seeds_values(p: &Value, port: u16, seeder: SocketAddr) {
    let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, PORLA_PEER_KEYS, "all 17 keys: {p}");
    assert_eq!(p["ip"], json!(["127.0.0.1", port]));
    assert_eq!(
        p["local_endpoint"],
        json!(["127.0.0.1", seeder.port()]),
        "the seeder's listen address: {p}"
    );
    assert_eq!(p["source"], 32, "incoming: {p}");
    assert_eq!(
        p["connection_type"], 1,
        "standard_bittorrent (libtorrent 2.x): {p}"
    );
    let progress = p["progress"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&progress), "{p}");
    assert_eq!(p["total_download"], 0, "a seed downloads nothing: {p}");
    assert_eq!(p["download_queue_length"], 0);
    assert_eq!(p["busy_requests"], 0);
}

fn flags_are_libtorrents_and_agree_with_getpeerinfo(p: &Value, port: u16, info: &Value) {
    let flags = p["flags"].as_u64().unwrap();
    assert_eq!(flags & OUTGOING_CONNECTION, 0, "{p}");
    assert_ne!(
        flags & REMOTE_INTERESTED,
        0,
        "every test peer is interested: {p}"
    );
    assert_eq!(
        flags & CHOKED,
        0,
        "--upload-slots 0 unchokes every interested peer: {p}"
    );
    // The flags agree with getpeerinfo's view of the same peer.
    let g = info
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["port"] == port)
        .unwrap_or_else(|| panic!("getpeerinfo lists port {port}: {info}"));
    assert_eq!(
        g["extensions"] == true,
        flags & SUPPORTS_EXTENSIONS != 0,
        "{p} vs {g}"
    );
}

fn the_raw_peer_shows_no_extensions_and_no_upload(p: &Value, flags: u64) {
    assert_eq!(
        flags & SUPPORTS_EXTENSIONS,
        0,
        "the raw peer set no BEP 10 bit"
    );
    assert_eq!(p["total_upload"], 0, "the raw peer requested nothing");
    assert_eq!(
        p["client"], "ZZ 0.0.4.2",
        "from the peer id (no BEP 10 v): {p}"
    );
}

/// libtorrent and the loadtest leechers download the whole time: `before`
/// is the same peer 1.5 s earlier.
fn a_downloading_peer_shows_extensions_and_rising_upload(p: &Value, before: &Value, flags: u64) {
    assert_ne!(flags & SUPPORTS_EXTENSIONS, 0, "{p}");
    let (up_a, up_b) = (
        before["total_upload"].as_u64().unwrap(),
        p["total_upload"].as_u64().unwrap(),
    );
    assert!(
        up_b > up_a,
        "total_upload rises over 1.5 s: {up_a} -> {up_b} ({p})"
    );
    assert!(
        p["up_speed"].as_u64().unwrap() > 0 || before["up_speed"].as_u64().unwrap() > 0,
        "up_speed while downloading: {p}"
    );
}

fn libtorrent_names_itself_and_is_still_downloading(lt_a: &Value, lt_b: &Value) {
    assert!(
        lt_b["client"].as_str().unwrap().contains("libtorrent"),
        "libtorrent's BEP 10 v: {lt_b}"
    );
    assert!(lt_b["progress"].as_f64() >= lt_a["progress"].as_f64());
    assert!(
        lt_b["progress"].as_f64().unwrap() < 1.0,
        "still downloading while measured: {lt_b}"
    );
}

// ---------------------------------------------- ringseed.getpeerinfo ----

/// What the raw peer of the getpeerinfo test sent: the byte counts by
/// message type, and its BEP 10 handshake payload.
struct Sent {
    recv: BTreeMap<String, u64>,
    ext_payload_len: u64,
}

#[test]
fn getpeerinfo_counts_exactly_the_bytes_a_raw_peer_sent_and_received_per_message_type() {
    let dir = tempfile::tempdir().unwrap();
    let piece = 64 * 1024;
    let (torrent, meta) = v1_torrent(dir.path(), "gpi", 8 * piece as usize + 1000, piece);
    let seeder = start(dir.path(), &[], &[&torrent]);
    let api = Rpc::of(&seeder);
    let ih = meta.info_hash;

    // Arbitrary reserved bits besides BEP 10 (byte 5, 0x10) and BEP 6 (byte 7, 0x04).
    let reserved = [0x01, 0x23, 0x00, 0x00, 0x00, 0x10, 0x00, 0x04];
    let id = peer_id(b"getpeerinfo1");
    let before = unix_now();
    let mut p = RawPeer::connect(seeder.addr, ih, reserved, id, true);
    let (sent, ext) = exchange_known_traffic(&mut p, &dir.path().join("data/gpi/x.bin"), piece);
    let after = unix_now();

    let g = getpeerinfo_counts_every_message(&api, &p, &sent);
    byte_counts_are_exactly_the_wire_bytes(&g, &p, &sent);
    fields_describe_the_connection(&g, &p, &seeder, ih, id, &ext);
    times_are_unix_seconds_of_the_connection(&g, before, after);
    let id1 = g["id"].as_u64().unwrap();
    each_connection_gets_a_larger_id(&seeder, &api, ih, id1);
    // An unknown torrent: -1.
    assert_eq!(
        api.body(
            "ringseed.getpeerinfo",
            json!({"info_hash": "aa".repeat(20)})
        ),
        P1
    );
}

/// BEP 10 handshakes both ways, interested, five block requests (their
/// bytes checked against `payload_file`), a have and a keep-alive; returns
/// what the peer sent and the seeder's BEP 10 handshake.
fn exchange_known_traffic(
    p: &mut RawPeer,
    payload_file: &Path,
    piece: u32,
) -> (Sent, ExtHandshake) {
    // The seeder's BEP 10 handshake, have_all, allowed_fast…
    let ext = p.read_until(20);
    assert_eq!(ext[1], 0);
    let ext = ExtHandshake::decode(&ext[2..]).unwrap();
    // Ours: a client name and the address we see the seeder at (BEP 10 `yourip`).
    let ours = ExtHandshake {
        client: Some("RawPeer 1.0".into()),
        yourip: Some("10.1.2.3".parse().unwrap()),
        reqq: Some(10),
        ..Default::default()
    }
    .encode();
    p.send(Message::Extended {
        id: 0,
        payload: &ours,
    });
    p.send(Message::Interested);
    p.read_until(1); // unchoke
    let blocks = [(0, 0), (0, 16384), (0, 32768), (0, 49152), (3, 16384)];
    for (index, begin) in blocks {
        p.send(Message::Request {
            index,
            begin,
            length: 16384,
        });
    }
    let payload = std::fs::read(payload_file).unwrap();
    for (index, begin) in blocks {
        let m = p.read_until(7);
        assert_eq!(m.len(), 9 + 16384);
        let off = (index * piece + begin) as usize;
        assert_eq!(&m[9..], &payload[off..off + 16384], "block {index}/{begin}");
    }
    p.send(Message::Have(5));
    p.send_frame(&[0, 0, 0, 0]); // keep-alive
    p.drain(Duration::from_millis(300));

    let expected_recv: BTreeMap<String, u64> = [
        ("handshake", 68),
        ("interested", 5),
        ("request", 5 * 17),
        ("have", 9),
        ("keep_alive", 4),
        ("extended", 6 + ours.len() as u64),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(p.sent, expected_recv, "what the test believes it sent");
    let sent = Sent {
        recv: expected_recv,
        ext_payload_len: ours.len() as u64,
    };
    (sent, ext)
}

/// The peer's getpeerinfo entry once it counts every message (the view is
/// rebuilt about once a second).
fn getpeerinfo_counts_every_message(api: &Rpc, p: &RawPeer, sent: &Sent) -> Value {
    let me = p.s.local_addr().unwrap().to_string();
    let find = |v: &Value| -> Option<Value> {
        v.as_array()?
            .iter()
            .find(|g| g["addr"] == me.as_str())
            .cloned()
    };
    eventually(10, "getpeerinfo counts every message", || {
        let all = api.result("ringseed.getpeerinfo", json!({}));
        let g = find(&all).ok_or_else(|| format!("{me} not listed: {all}"))?;
        let recv: BTreeMap<String, u64> =
            serde_json::from_value(g["bytesrecv_per_msg"].clone()).unwrap();
        if recv == sent.recv && g["bytessent_per_msg"]["piece"] == 5 * (16384 + 13) {
            Ok(g)
        } else {
            Err(g.to_string())
        }
    })
}

fn byte_counts_are_exactly_the_wire_bytes(g: &Value, p: &RawPeer, sent: &Sent) {
    let by_type: BTreeMap<String, u64> =
        serde_json::from_value(g["bytessent_per_msg"].clone()).unwrap();
    // Every byte the test read, by type; only types with bytes are listed.
    assert_eq!(
        by_type, p.got,
        "bytessent_per_msg = what the raw peer read: {g}"
    );
    assert_eq!(by_type["piece"], 5 * (16384 + 13));
    assert_eq!(by_type["handshake"], 68);
    assert_eq!(by_type["unchoke"], 5);
    assert_eq!(by_type["have_all"], 5);
    assert_eq!(g["bytessent"], p.got.values().sum::<u64>());
    assert_eq!(
        g["bytesrecv"],
        68 + 5 + 85 + 9 + 4 + 6 + sent.ext_payload_len
    );
}

fn fields_describe_the_connection(
    g: &Value,
    p: &RawPeer,
    seeder: &Seeder,
    ih: InfoHash,
    id: [u8; 20],
    ext: &ExtHandshake,
) {
    assert_eq!(g["inbound"], true);
    assert_eq!(g["incoming"], true);
    assert_eq!(g["services"], "0123000000100004");
    assert_eq!(g["reserved_bytes"], "0123000000100004");
    assert_eq!(g["peerid"], hex::encode(id));
    assert_eq!(g["addrbind"], seeder.addr.to_string());
    assert_eq!(g["host"], "127.0.0.1");
    assert_eq!(g["port"], p.port());
    assert_eq!(g["info_hash"], ih.to_hex());
    assert_eq!(g["am_choking"], false);
    assert_eq!(g["peer_interested"], true);
    assert_eq!(g["fast"], true);
    assert_eq!(g["extensions"], true);
    assert_eq!(g["addrlocal"], "10.1.2.3", "the yourip the peer reported");
    assert_eq!(g["subver"], "RawPeer 1.0", "the peer's BEP 10 v");
    assert_eq!(
        ext.yourip,
        Some("127.0.0.1".parse().unwrap()),
        "the seeder's yourip for us"
    );
    // The peer's have(5): bitfield hex with only piece 5 set.
    assert_eq!(g["bitfield"], "0400");
}

fn times_are_unix_seconds_of_the_connection(g: &Value, before: i64, after: i64) {
    // Unix seconds, now-ish.
    let conntime = g["conntime"].as_i64().unwrap();
    assert!(
        (before - 1..=after + 1).contains(&conntime),
        "conntime {conntime}"
    );
    for k in ["lastrecv", "lastsend"] {
        let t = g[k].as_i64().unwrap();
        assert!(
            (conntime..=after + 1).contains(&t),
            "{k} {t} in [{conntime}, {after}]"
        );
    }
}

/// A second connection gets a larger id than `id1`, and its own counters;
/// closed, then reconnected, a larger one again.
fn each_connection_gets_a_larger_id(seeder: &Seeder, api: &Rpc, ih: InfoHash, id1: u64) {
    let mut q = RawPeer::connect(seeder.addr, ih, [0; 8], peer_id(b"getpeerinfo2"), true);
    q.read_until(5); // bitfield: no BEP 6
    let me2 = q.s.local_addr().unwrap().to_string();
    let g2 = eventually(10, "the second peer is listed", || {
        let all = api.result("ringseed.getpeerinfo", json!({ "info_hash": ih.to_hex() }));
        all.as_array()
            .unwrap()
            .iter()
            .find(|g| g["addr"] == me2.as_str())
            .cloned()
            .ok_or_else(|| all.to_string())
    });
    assert!(
        g2["id"].as_u64().unwrap() > id1,
        "ids increase: {id1} then {}",
        g2["id"]
    );
    assert_eq!(g2["bytesrecv_per_msg"], json!({"handshake": 68}));
    assert_eq!(g2["services"], "0000000000000000");
    assert_eq!(g2["fast"], false);
    // Closed, then reconnected: a new id again.
    drop(q);
    let mut r = RawPeer::connect(seeder.addr, ih, [0; 8], peer_id(b"getpeerinfo3"), true);
    r.read_until(5);
    let me3 = r.s.local_addr().unwrap().to_string();
    let g3 = eventually(10, "the third peer is listed", || {
        let all = api.result("ringseed.getpeerinfo", json!({}));
        all.as_array()
            .unwrap()
            .iter()
            .find(|g| g["addr"] == me3.as_str())
            .cloned()
            .ok_or_else(|| all.to_string())
    });
    assert!(g3["id"].as_u64().unwrap() > g2["id"].as_u64().unwrap());
}

// ------------------------------------------------ torrents.peers.add ----

#[test]
fn peers_add_dials_out_and_the_outgoing_peer_shows_as_such_in_both_lists() {
    let dir = tempfile::tempdir().unwrap();
    let (torrent, meta) = v1_torrent(dir.path(), "out", 100_000, 16 * 1024);
    let seeder = start(dir.path(), &[], &[&torrent]);
    let api = Rpc::of(&seeder);
    let ih = meta.info_hash.to_hex();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ours = listener.local_addr().unwrap();
    // Unparsable entries are skipped (porla logs and skips); the call is `true`.
    let r = api.result(
        "torrents.peers.add",
        json!({"info_hash": ih, "peers": [["not an ip", 1], ["127.0.0.1", 70000], ["127.0.0.1", ours.port()]]}),
    );
    assert_eq!(r, true);
    let (_s, seeder_side) = the_seeder_dials_and_speaks_first(&listener, meta.info_hash);
    let (list, info) = eventually(10, "the outgoing peer is listed", || {
        let list = api.result("torrents.peers.list", json!({ "info_hash": ih }));
        let info = api.result("ringseed.getpeerinfo", json!({}));
        // The first per-second snapshot carries the byte counts.
        if list["peers"].as_array().unwrap().len() == 1
            && info.as_array().unwrap().len() == 1
            && info[0]["bytesrecv_per_msg"]["handshake"] == 68
        {
            Ok((list["peers"][0].clone(), info[0].clone()))
        } else {
            Err(format!("{list} {info}"))
        }
    });
    peers_list_shows_an_outgoing_choked_peer(&list, ours, seeder_side);
    getpeerinfo_shows_a_manual_outgoing_peer(&info, ours, seeder_side);
    // An unknown torrent: -1, nothing dialled.
    let r = api.body(
        "torrents.peers.add",
        json!({"info_hash": "ab".repeat(20), "peers": [["127.0.0.1", ours.port()]]}),
    );
    assert_eq!(r, P1);
}

/// Accepts the seeder's connection, reads its handshake and answers it;
/// returns the stream and the seeder's end of it.
fn the_seeder_dials_and_speaks_first(
    listener: &std::net::TcpListener,
    ih: InfoHash,
) -> (TcpStream, SocketAddr) {
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The seeder dialled: it speaks first.
    let mut theirs = [0u8; 68];
    s.read_exact(&mut theirs).unwrap();
    assert_eq!(&theirs[28..48], &ih.0);
    let mut hs = Handshake::new(ih, peer_id(b"outgoing0001"));
    hs.reserved = [0; 8];
    s.write_all(&hs.encode()).unwrap();
    let seeder_side = s.peer_addr().unwrap();
    (s, seeder_side)
}

fn peers_list_shows_an_outgoing_choked_peer(
    list: &Value,
    ours: SocketAddr,
    seeder_side: SocketAddr,
) {
    assert_eq!(list["ip"], json!(["127.0.0.1", ours.port()]));
    // Our end of an outgoing connection is its own socket, not the listen port.
    assert_eq!(
        list["local_endpoint"],
        json!(["127.0.0.1", seeder_side.port()])
    );
    assert_ne!(
        list["flags"].as_u64().unwrap() & OUTGOING_CONNECTION,
        0,
        "{list}"
    );
    assert_eq!(list["source"], 0, "connect_peer's default source: {list}");
    // Not interested, so still choked: the `choked` bit, not `remote_interested`.
    let flags = list["flags"].as_u64().unwrap();
    assert_ne!(flags & CHOKED, 0, "{list}");
    assert_eq!(flags & REMOTE_INTERESTED, 0, "{list}");
}

fn getpeerinfo_shows_a_manual_outgoing_peer(
    info: &Value,
    ours: SocketAddr,
    seeder_side: SocketAddr,
) {
    assert_eq!(info["am_choking"], true);
    assert_eq!(info["inbound"], false);
    assert_eq!(info["incoming"], false);
    assert_eq!(info["source"], "manual");
    assert_eq!(info["addr"], ours.to_string());
    assert_eq!(info["addrbind"], seeder_side.to_string());
    assert_eq!(info["bytessent_per_msg"]["handshake"], 68, "{info}");
    assert_eq!(info["bytesrecv_per_msg"], json!({"handshake": 68}));
}
