//! Transmission RPC's `blocklist-update` (`--transmission-rpc-blocklist
//! FILE|URL`): the P2P-plain ranges of the file (or of an http URL) are
//! refused at accept and the connected peers inside them are closed, while
//! every other address is served; `session-get` shows the size. Real sockets: a raw peer bound to
//! 127.0.0.2 (in the range) and one on 127.0.0.1 (outside it).

mod common;

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use common::http::http_raw;
use common::wire::{handshake, handshake_stream};
use common::*;
use ringseed::metainfo::{InfoHash, Metainfo};
use serde_json::{json, Value};

/// True when the seeder closes `s` (EOF or reset) within `secs`; false
/// when it stays open that long.
fn closed_within(s: &mut TcpStream, secs: u64) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(Duration::from_secs(secs))).unwrap();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// One Transmission RPC call (auth off) with the session-id handshake.
fn call(addr: SocketAddr, method: &str, arguments: Value) -> Value {
    let body = json!({"method": method, "arguments": arguments}).to_string();
    let request = |sid: &str| {
        format!(
            "POST /transmission/rpc HTTP/1.1\r\nHost: {addr}\r\nX-Transmission-Session-Id: {sid}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    let first = http_raw(addr, request("none"));
    assert_eq!(first.status, 409, "the CSRF handshake comes first");
    let sid = first
        .header("x-transmission-session-id")
        .expect("409 carries the session id")
        .to_string();
    let r = http_raw(addr, request(&sid));
    assert_eq!(r.status, 200, "{}", r.body);
    // Transmission's content type (`charset=UTF-8`), not `HttpResponse::json`'s.
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=UTF-8")
    );
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
}

/// A handshake from `source` (bound first, so the seeder sees that address).
fn handshake_from(source: IpAddr, seeder: SocketAddr, ih: InfoHash) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::new(source, 0).into()).unwrap();
    sock.connect_timeout(&seeder.into(), Duration::from_secs(5))
        .unwrap();
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    handshake_stream(s, ih, true).0
}

/// The test's blocklist: two ranges (127.0.0.2-3 and one far away) and a
/// line that is not one.
const LIST: &str = "# test ranges\nlocal two:127.0.0.2-127.0.0.3\nnot a range\nfar away:203.0.113.0-203.0.113.255\n";

/// Serves `body` once over HTTP on a loopback port; returns the URL.
fn serve_once(body: &'static str) -> String {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/ranges.p2p", l.local_addr().unwrap());
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            let mut req = [0u8; 4096];
            let _ = s.read(&mut req);
            let _ = s.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    url
}

#[test]
fn blocklist_update_refuses_the_ranges_and_closes_their_peers() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("blocklist.p2p");
    std::fs::write(&list, LIST).unwrap();
    blocklist_from(dir.path(), list.to_str().unwrap());
}

#[test]
fn blocklist_update_reads_an_http_url() {
    let dir = tempfile::tempdir().unwrap();
    blocklist_from(dir.path(), &serve_once(LIST));
}

/// Seeds a torrent with `--transmission-rpc-blocklist SOURCE`, then checks
/// that `blocklist-update` closes and refuses 127.0.0.2 and serves 127.0.0.1.
fn blocklist_from(dir: &std::path::Path, source: &str) {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("f.bin"), bytes(300_000, 7)).unwrap();
    let torrent = dir.join("f.torrent");
    ringseed_create(&data.join("f.bin"), &torrent, 16384);
    let ih = Metainfo::from_bytes(&std::fs::read(&torrent).unwrap())
        .unwrap()
        .info_hash;
    let seeder = Seeder::start(&[
        torrent.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--transmission-rpc-auth",
        "false",
        "--transmission-rpc-blocklist",
        source,
    ]);
    let rpc = seeder.transmission_rpc.expect("transmission rpc on");
    let two: IpAddr = "127.0.0.2".parse().unwrap();
    let before = call(
        rpc,
        "session-get",
        json!({"fields": ["blocklist-size", "blocklist-enabled"]}),
    );
    assert_eq!(before["arguments"]["blocklist-size"], 0, "{before}");
    // Served from 127.0.0.2 before the update.
    let mut early = handshake_from(two, seeder.addr, ih);
    let update = call(rpc, "blocklist-update", json!({}));
    assert_eq!(update["result"], "success", "{update}");
    assert_eq!(update["arguments"]["blocklist-size"], 2, "{update}");
    let after = call(
        rpc,
        "session-get",
        json!({"fields": ["blocklist-size", "blocklist-enabled"]}),
    );
    assert_eq!(after["arguments"]["blocklist-size"], 2, "{after}");
    assert_eq!(after["arguments"]["blocklist-enabled"], true, "{after}");
    assert!(
        closed_within(&mut early, 10),
        "the peer inside a range is closed"
    );
    // Refused at accept from inside a range…
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::new(two, 0).into()).unwrap();
    sock.connect_timeout(&seeder.addr.into(), Duration::from_secs(5))
        .unwrap();
    let mut late: TcpStream = sock.into();
    late.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert!(
        closed_within(&mut late, 10),
        "a new peer inside a range is refused"
    );
    // …and served from outside it: still open after the handshake.
    let mut ok = handshake(seeder.addr, ih, true);
    assert!(
        !closed_within(&mut ok, 2),
        "a peer outside the ranges is served"
    );
}
