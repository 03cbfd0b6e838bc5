//! The control surfaces against a real `ringseed seed` process: porla's
//! JSON-RPC over real HTTP on 127.0.0.1 (reference seed-systems.md §1: the
//! test vectors P1–P11 byte for byte, auth, `torrents.peers.list` with the
//! libtorrent 2.x bits of §2), ringseed's own `ringseed.getpeerinfo` (§4)
//! and `ringseed.disconnects` (§5) against raw wire peers whose every byte
//! the test counts, hostile HTTP clients, the control CLI and the
//! configuration file. Peers are real: raw peers, the verifying loadtest
//! swarm and Debian's python3-libtorrent.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use ringseed::control::rpc::auth::Auth;
use ringseed::metainfo::{InfoHash, Metainfo};
use ringseed::wire::{ExtHandshake, Handshake, Message};
use serde_json::{json, Value};

// ---------------------------------------------------------------- HTTP ----

/// A whole HTTP response (the server closes after each one: no keep-alive).
struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        assert_eq!(self.status, 200, "HTTP status; body {}", self.body);
        assert_eq!(self.header("content-type"), Some("application/json"));
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: body.to_string(),
    }
}

/// Sends `request` (written from another thread: the server may answer, 413,
/// before reading all of it) and reads the response to the server's close.
fn http_raw(addr: SocketAddr, request: Vec<u8>) -> HttpResponse {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&request);
    });
    let mut raw = Vec::new();
    // A reset after the response (unread body) still leaves the response read.
    let _ = s.read_to_end(&mut raw);
    let _ = s.shutdown(std::net::Shutdown::Both);
    writer.join().unwrap();
    parse_response(&raw)
}

fn post_request(host: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST /api/v1/jsonrpc HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// `POST /api/v1/jsonrpc` with `headers` and `body`.
fn post(addr: SocketAddr, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    http_raw(addr, post_request(&addr.to_string(), headers, body))
}

/// A JSON-RPC endpoint and a valid token for it.
struct Api {
    addr: SocketAddr,
    token: String,
}

impl Api {
    fn of(seeder: &Seeder) -> Api {
        Api {
            addr: seeder.rpc.expect("rpc address"),
            token: Auth::load_or_create(&seeder.state_dir).unwrap().issue(),
        }
    }

    /// Posts `body` with the token in `Authorization`.
    fn post(&self, body: &str) -> HttpResponse {
        let auth = format!("Bearer {}", self.token);
        post(self.addr, &[("Authorization", &auth)], body.as_bytes())
    }

    /// The raw response body of a request `{"jsonrpc","id":1,method,params}`.
    fn body(&self, method: &str, params: Value) -> String {
        let r = self.post(
            &json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string(),
        );
        r.json();
        r.body
    }

    /// The `result` of a call that must succeed.
    fn result(&self, method: &str, params: Value) -> Value {
        let body = self.body(method, params.clone());
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v.get("error").is_none(), "{method} {params}: {body}");
        v["result"].clone()
    }

    /// A valid call answers: the daemon is alive and serving.
    fn assert_alive(&self) {
        let r = self.result("sessions.list", json!({}));
        assert_eq!(r["sessions"][0]["name"], "default", "{r}");
    }
}

/// `GET /metrics` of the metrics server.
fn scrape(metrics: SocketAddr) -> String {
    let req = format!("GET /metrics HTTP/1.1\r\nHost: {metrics}\r\n\r\n");
    let r = http_raw(metrics, req.into_bytes());
    assert_eq!(r.status, 200);
    r.body
}

/// The value of the sample `name{…}` whose labels include every `labels` pair.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix('{')?;
        let (lab, value) = rest.split_once("} ")?;
        labels
            .iter()
            .all(|(k, v)| lab.split(',').any(|p| p == format!("{k}=\"{v}\"")))
            .then(|| value.trim().parse().ok())?
    })
}

/// The address of `metrics on http://ADDR/metrics` in the seeder's log.
fn metrics_addr(seeder: &Seeder) -> SocketAddr {
    let line = seeder.wait_log(&["metrics on http://"], Duration::from_secs(10));
    let rest = &line[line.find("metrics on http://").unwrap() + "metrics on http://".len()..];
    rest.split('/').next().unwrap().parse().unwrap()
}

/// Polls `f` every 100 ms until it returns `Ok`, for at most `secs`; panics with the last `Err`.
fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if Instant::now() > deadline => panic!("{what}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

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
    serde_json::from_str::<Value>(body).unwrap().to_string() == body
}

// ----------------------------------------------------------- fixtures ----

/// A one-file v1 torrent made by `ringseed create`: `DIR/data/NAME/x.bin`.
fn v1_torrent(dir: &Path, name: &str, len: usize, piece: u32) -> (std::path::PathBuf, Metainfo) {
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

fn start(dir: &Path, extra: &[&str], torrents: &[&Path]) -> Seeder {
    let a = seed_args(dir, extra, torrents);
    Seeder::start(&a.iter().map(String::as_str).collect::<Vec<_>>())
}

// ----------------------------------------------------------- raw peer ----

/// The `bytes*_per_msg` key of a frame payload (reference §4; MSG_NAMES).
fn msg_name(payload: &[u8]) -> &'static str {
    match payload.first() {
        None => "keep_alive",
        Some(0) => "choke",
        Some(1) => "unchoke",
        Some(2) => "interested",
        Some(3) => "not_interested",
        Some(4) => "have",
        Some(5) => "bitfield",
        Some(6) => "request",
        Some(7) => "piece",
        Some(8) => "cancel",
        Some(9) => "port",
        Some(13) => "suggest_piece",
        Some(14) => "have_all",
        Some(15) => "have_none",
        Some(16) => "reject_request",
        Some(17) => "allowed_fast",
        Some(20) => "extended",
        Some(_) => "*other*",
    }
}

/// A raw BitTorrent peer that counts every byte it sends and reads, by
/// message type, as `getpeerinfo` should (length prefix included).
struct RawPeer {
    s: TcpStream,
    sent: BTreeMap<String, u64>,
    got: BTreeMap<String, u64>,
}

impl RawPeer {
    /// Connects and sends our handshake; reads the seeder's when `expect_answer`.
    fn connect(
        addr: SocketAddr,
        ih: InfoHash,
        reserved: [u8; 8],
        peer_id: [u8; 20],
        expect_answer: bool,
    ) -> RawPeer {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut p = RawPeer {
            s,
            sent: BTreeMap::new(),
            got: BTreeMap::new(),
        };
        let mut hs = Handshake::new(ih, peer_id);
        hs.reserved = reserved;
        p.s.write_all(&hs.encode()).unwrap();
        *p.sent.entry("handshake".into()).or_default() += 68;
        if expect_answer {
            let mut theirs = [0u8; 68];
            p.s.read_exact(&mut theirs).unwrap();
            assert_eq!(
                &theirs[28..48],
                &ih.0,
                "the seeder's handshake names our torrent"
            );
            *p.got.entry("handshake".into()).or_default() += 68;
        }
        p
    }

    fn port(&self) -> u16 {
        self.s.local_addr().unwrap().port()
    }

    fn send_frame(&mut self, frame: &[u8]) {
        self.s.write_all(frame).unwrap();
        *self.sent.entry(msg_name(&frame[4..]).into()).or_default() += frame.len() as u64;
    }

    fn send(&mut self, m: Message<'_>) {
        let mut out = Vec::new();
        m.encode(&mut out);
        self.send_frame(&out);
    }

    /// One frame's payload (empty for a keep-alive); `None` on close or timeout.
    fn read(&mut self) -> Option<Vec<u8>> {
        let mut len = [0u8; 4];
        self.s.read_exact(&mut len).ok()?;
        let len = u32::from_be_bytes(len) as usize;
        assert!(len < 1 << 20, "frame of {len} bytes");
        let mut body = vec![0u8; len];
        self.s.read_exact(&mut body).ok()?;
        *self.got.entry(msg_name(&body).into()).or_default() += 4 + len as u64;
        Some(body)
    }

    fn read_until(&mut self, id: u8) -> Vec<u8> {
        loop {
            let m = self
                .read()
                .unwrap_or_else(|| panic!("closed before message id {id}"));
            if m.first() == Some(&id) {
                return m;
            }
        }
    }

    /// Reads whatever else the seeder sent until it is quiet for `quiet`.
    fn drain(&mut self, quiet: Duration) {
        self.s.set_read_timeout(Some(quiet)).unwrap();
        while self.read().is_some() {}
        self.s
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
    }

    fn closed_by_seeder(&mut self) -> bool {
        let mut buf = [0u8; 65536];
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.s.read(&mut buf) {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
        false
    }
}

fn peer_id(tag: &[u8; 12]) -> [u8; 20] {
    let mut id = *b"-ZZ0042-000000000000";
    id[8..].copy_from_slice(tag);
    id
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

// ------------------------------------------------- 1. porla vectors ----

const P1: &str = r#"{"error":{"code":-1,"data":null,"message":"Torrent not found in any session"},"id":1,"jsonrpc":"2.0"}"#;
const EMPTY_PEERS: &str = r#"{"id":1,"jsonrpc":"2.0","result":{"peers":[]}}"#;

#[test]
fn porla_vectors_p1_to_p9_answer_byte_for_byte_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let (torrent, meta) = v1_torrent(dir.path(), "plain", 200_000, 32 * 1024);
    let seeder = start(dir.path(), &[], &[&torrent]);
    let api = Api::of(&seeder);
    let ih = meta.info_hash.to_hex();

    // P1: an unknown torrent.
    let r = api.post(r#"{"jsonrpc":"2.0","id":1,"method":"torrents.peers.list","params":{"info_hash":["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",null]}}"#);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body, P1);
    // P2: the seed's 20-character example parses to all zeros.
    let r = api.post(r#"{"jsonrpc":"2.0","id":1,"method":"torrents.peers.list","params":{"info_hash":["abcdef0123456789abcd",null]}}"#);
    assert_eq!((r.status, r.body.as_str()), (200, P1));
    // P4: known torrent, no peers; [v1, null] and the bare v1 string (P11) alike.
    for h in [json!([ih, null]), json!(ih)] {
        let body =
            json!({"jsonrpc":"2.0","id":1,"method":"torrents.peers.list","params":{"info_hash":h}});
        let r = api.post(&body.to_string());
        assert_eq!((r.status, r.body.as_str()), (200, EMPTY_PEERS), "{h}");
    }
    // P5: unknown method.
    let r = api.post(r#"{"jsonrpc":"2.0","id":1,"method":"nope","params":{}}"#);
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            200,
            r#"{"error":{"code":-32601,"message":"Method not found"}}"#
        )
    );
    // P6: no params.
    let r = api.post(r#"{"jsonrpc":"2.0","id":1,"method":"torrents.peers.list"}"#);
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            200,
            r#"{"error":{"code":-32603,"data":"[json.exception.out_of_range.403] key 'params' not found","message":"Internal error"}}"#
        )
    );
    // P7: params without info_hash.
    let r = api.post(r#"{"jsonrpc":"2.0","id":1,"method":"torrents.peers.list","params":{}}"#);
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            200,
            r#"{"error":{"code":-32603,"data":"[json.exception.out_of_range.403] key 'info_hash' not found","message":"Internal error"}}"#
        )
    );
    // P8: not JSON: -32700 with the parser's message, and no id or jsonrpc.
    let r = api.post("{");
    let v = r.json();
    assert_eq!(v["error"]["code"], -32700, "{}", r.body);
    assert_eq!(v["error"]["message"], "Parse error");
    assert!(
        v["error"]["data"].as_str().is_some_and(|d| !d.is_empty()),
        "{}",
        r.body
    );
    assert_eq!(v.as_object().unwrap().len(), 1, "only `error`: {}", r.body);
    assert!(sorted_compact(&r.body), "{}", r.body);
    // P9: no id: answered with "id":null.
    let r = api.post(r#"{"jsonrpc":"2.0","method":"torrents.peers.list","params":{"info_hash":["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",null]}}"#);
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            200,
            r#"{"error":{"code":-1,"data":null,"message":"Torrent not found in any session"},"id":null,"jsonrpc":"2.0"}"#
        )
    );
    // The id comes back as sent, whatever its type; jsonrpc is not checked.
    let r = api.post(r#"{"jsonrpc":"1.0","id":"x-7","method":"torrents.peers.list","params":{"info_hash":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}"#);
    assert_eq!(r.body, P1.replace("\"id\":1", "\"id\":\"x-7\""));
    // Other methods' outputs are sorted and compact too.
    for (m, p) in [
        ("torrents.list", json!({})),
        ("sessions.list", json!({})),
        ("torrents.files.list", json!({"info_hash": ih})),
        ("torrents.properties.get", json!({"info_hash": ih})),
        ("ringseed.session.get", json!({})),
    ] {
        let body = api.body(m, p);
        assert!(sorted_compact(&body), "{m}: {body}");
    }
    let list = api.result("torrents.list", json!({}));
    assert_eq!(
        list["torrents"][0]["info_hash"],
        json!([ih, null]),
        "{list}"
    );
}

#[test]
fn p11_bare_hex_and_hybrid_pairs_match_both_halves_exactly() {
    let Some(py) = libtorrent_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (plain, plain_meta) = v1_torrent(dir.path(), "plain", 100_000, 16 * 1024);
    let root = dir.path().join("data/hyb");
    write_tree(&root, &[("a.bin", 70_000), ("b.bin", 5)]);
    let hybrid = dir.path().join("hyb.torrent");
    lt_make(&py, &hybrid, &root, true, 16 * 1024);
    let meta = Metainfo::from_bytes(&std::fs::read(&hybrid).unwrap()).unwrap();
    assert!(meta.hybrid, "libtorrent made a hybrid torrent");
    let v1 = meta.info_hash.to_hex();
    let v2 = hex::encode(meta.info_hash_v2.expect("v2 hash"));
    let seeder = start(dir.path(), &[], &[&plain, &hybrid]);
    let api = Api::of(&seeder);
    let peers = |h: Value| api.body("torrents.peers.list", json!({ "info_hash": h }));

    // Exact match of both halves (porla keys torrents by the whole info_hash_t).
    assert_eq!(peers(json!([v1, v2])), EMPTY_PEERS);
    assert_eq!(
        peers(json!([v1, null])),
        P1,
        "[v1, null] is v1-only: not the hybrid"
    );
    assert_eq!(peers(json!(v1)), P1, "a bare v1 string is v1-only");
    assert_eq!(peers(json!([null, v2])), P1, "[null, v2] is v2-only");
    assert_eq!(peers(json!(v2)), P1, "a bare 64-hex string is v2-only");
    assert_eq!(
        peers(json!([v1.to_uppercase(), v2.to_uppercase()])),
        EMPTY_PEERS
    );
    // Shapes porla cannot parse are all zeros: not found, never an error.
    for bad in [
        json!([v1]),
        json!([v1, v2, null]),
        json!([v2, v1]),
        json!(7),
    ] {
        assert_eq!(peers(bad.clone()), P1, "{bad}");
    }
    // The v1-only torrent: bare string and [v1, null] both find it.
    let p1 = plain_meta.info_hash.to_hex();
    assert_eq!(peers(json!(p1)), EMPTY_PEERS);
    assert_eq!(peers(json!([p1, null])), EMPTY_PEERS);
    // torrents.list reports [v1, v2] for the hybrid, [v1, null] for the other.
    let list = api.result("torrents.list", json!({}));
    let hashes: BTreeSet<String> = list["torrents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["info_hash"].to_string())
        .collect();
    assert_eq!(
        hashes,
        BTreeSet::from([json!([v1, v2]).to_string(), json!([p1, null]).to_string()])
    );
    // Other methods look torrents up the same way.
    let props = |h: Value| api.body("torrents.properties.get", json!({ "info_hash": h }));
    assert_eq!(props(json!([v1, null])), P1);
    assert!(props(json!([v1, v2])).contains("\"result\""));
}

#[test]
fn p10_auth_refuses_missing_wrong_and_foreign_tokens_and_finds_tokens_in_porla_order() {
    let dir = tempfile::tempdir().unwrap();
    let (torrent, _) = v1_torrent(dir.path(), "plain", 50_000, 16 * 1024);
    let seeder = start(dir.path(), &[], &[&torrent]);
    let api = Api::of(&seeder);
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"sessions.list","params":{}}"#;
    let unauthorized = |r: HttpResponse, what: &str| {
        assert_eq!((r.status, r.body.as_str()), (401, "Unauthorized"), "{what}");
    };
    // P10: no token at all.
    unauthorized(post(api.addr, &[], body), "no token");
    // A token signed with another secret.
    let other = Auth::from_secret(b"ffffffffffffffffffffffffffffffffffffffff").issue();
    unauthorized(
        post(
            api.addr,
            &[("Authorization", &format!("Bearer {other}"))],
            body,
        ),
        "another secret",
    );
    // Our secret but another issuer.
    let secret = std::fs::read_to_string(seeder.state_dir.join("rpc.secret")).unwrap();
    let foreign = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"iss": "someone", "iat": unix_now()}),
        &jsonwebtoken::EncodingKey::from_secret(secret.trim().as_bytes()),
    )
    .unwrap();
    unauthorized(
        post(
            api.addr,
            &[("Authorization", &format!("Bearer {foreign}"))],
            body,
        ),
        "iss someone",
    );
    // No iss at all.
    let no_iss = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"iat": unix_now()}),
        &jsonwebtoken::EncodingKey::from_secret(secret.trim().as_bytes()),
    )
    .unwrap();
    unauthorized(
        post(
            api.addr,
            &[("Authorization", &format!("Bearer {no_iss}"))],
            body,
        ),
        "no iss",
    );
    // Garbage, and a header of 7 characters (absent).
    unauthorized(
        post(api.addr, &[("Authorization", "Bearer not.a.jwt")], body),
        "garbage",
    );
    unauthorized(
        post(api.addr, &[("Authorization", "Bearer ")], body),
        "7 chars",
    );
    // porla verifies with jwt-cpp's defaults: HS256 only, and `exp`, `nbf`
    // and `iat` are checked when present (leeway 0); none is required.
    let sign = |alg: jsonwebtoken::Algorithm, claims: Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(alg),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.trim().as_bytes()),
        )
        .unwrap()
    };
    let bearer = |t: &str| post(api.addr, &[("Authorization", &format!("Bearer {t}"))], body);
    let now = unix_now();
    use jsonwebtoken::Algorithm::{HS256, HS512};
    for (claims, what) in [
        (
            json!({"iss": "porla", "iat": now - 7200, "exp": now - 3600}),
            "expired",
        ),
        (
            json!({"iss": "porla", "iat": now, "nbf": now + 3600}),
            "not valid before an hour",
        ),
        (
            json!({"iss": "porla", "iat": now + 3600}),
            "issued in an hour",
        ),
    ] {
        unauthorized(bearer(&sign(HS256, claims)), what);
    }
    unauthorized(
        bearer(&sign(HS512, json!({"iss": "porla", "iat": now}))),
        "HS512",
    );
    for (claims, what) in [
        // A login token (`POST /api/v1/auth/login` issues one for a day).
        (
            json!({"iss": "porla", "iat": now, "exp": now + 86400}),
            "login token",
        ),
        (json!({"iss": "porla"}), "iss only"),
        (
            json!({"iss": "porla", "iat": now - 60, "nbf": now - 60, "sub": "x"}),
            "more claims",
        ),
    ] {
        let r = bearer(&sign(HS256, claims));
        assert_eq!(r.status, 200, "{what}: {}", r.body);
    }
    // porla's own token (iss porla, typ JWS, made with our secret) is accepted;
    // so is `ringseed token`'s.
    let printed = Command::new(RINGSEED)
        .args(["token", "--state-dir"])
        .arg(&seeder.state_dir)
        .output()
        .unwrap();
    assert!(printed.status.success());
    let cli_token = String::from_utf8(printed.stdout)
        .unwrap()
        .trim()
        .to_string();
    let ok = |r: HttpResponse, what: &str| {
        assert_eq!(r.status, 200, "{what}: {}", r.body);
        assert!(r.body.contains("\"result\""), "{what}: {}", r.body);
    };
    for t in [&api.token, &cli_token] {
        // Each place porla looks: x-porla-token (its first 7 characters are
        // dropped too), Authorization, the porla-auth-token cookie.
        ok(
            post(api.addr, &[("x-porla-token", &format!("Bearer {t}"))], body),
            "x-porla-token",
        );
        ok(
            post(api.addr, &[("Authorization", &format!("Bearer {t}"))], body),
            "Authorization",
        );
        ok(
            post(
                api.addr,
                &[("Cookie", &format!("theme=dark; porla-auth-token={t}"))],
                body,
            ),
            "cookie",
        );
    }
    let t = &api.token;
    // The order: the first place present is the one used.
    unauthorized(
        post(
            api.addr,
            &[
                ("x-porla-token", "Bearer wrong.token.here"),
                ("Authorization", &format!("Bearer {t}")),
            ],
            body,
        ),
        "a bad x-porla-token wins over a good Authorization",
    );
    unauthorized(
        post(
            api.addr,
            &[
                ("Authorization", "Bearer wrong.token.here"),
                ("Cookie", &format!("porla-auth-token={t}")),
            ],
            body,
        ),
        "a bad Authorization wins over a good cookie",
    );
    ok(
        post(
            api.addr,
            &[
                ("x-porla-token", "short"),
                ("Authorization", &format!("Bearer {t}")),
            ],
            body,
        ),
        "an x-porla-token of 7 characters or fewer counts as absent",
    );
    // Unauthenticated requests learn nothing, even of unknown methods.
    unauthorized(
        post(
            api.addr,
            &[],
            br#"{"jsonrpc":"2.0","id":1,"method":"nope","params":{}}"#,
        ),
        "unknown method without a token",
    );
    // With auth off, no token is needed.
    let dir2 = tempfile::tempdir().unwrap();
    let (torrent2, _) = v1_torrent(dir2.path(), "plain", 50_000, 16 * 1024);
    let open = start(dir2.path(), &["--rpc-auth", "false"], &[&torrent2]);
    ok(post(open.rpc.unwrap(), &[], body), "auth off");
}

// ------------------------------------------ 2. torrents.peers.list ----

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

/// libtorrent `peer_flags_t` bits (reference §2.1).
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
    let api = Api::of(&seeder);
    let ih = json!(meta.info_hash.to_hex());

    let swarm = spawn_random_swarm(meta.clone(), seeder.addr, 3, 4, 10);
    let mut lt = Command::new(&py)
        .arg(lt_client())
        .arg("download")
        .arg(&torrent)
        .arg(dir.path().join("lt-save"))
        .arg(seeder.addr.to_string())
        .args(["--timeout", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // A raw peer without extensions, interested, requesting nothing.
    let mut raw = RawPeer::connect(
        seeder.addr,
        meta.info_hash,
        [0; 8],
        peer_id(b"peerslist001"),
        true,
    );
    raw.send(Message::Interested);

    // `ip` is each test peer's own socket: the ports the test process and the
    // libtorrent process hold to the seeder (read from /proc), and no other.
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
        let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, PORLA_PEER_KEYS, "all 17 keys: {p}");
        assert_eq!(p["ip"], json!(["127.0.0.1", port]));
        assert_eq!(
            p["local_endpoint"],
            json!(["127.0.0.1", seeder.addr.port()]),
            "the seeder's listen address: {p}"
        );
        assert_eq!(p["source"], 32, "incoming: {p}");
        assert_eq!(
            p["connection_type"], 1,
            "standard_bittorrent (libtorrent 2.x): {p}"
        );
        let progress = p["progress"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&progress), "{p}");
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
        assert_eq!(p["total_download"], 0, "a seed downloads nothing: {p}");
        assert_eq!(p["download_queue_length"], 0);
        assert_eq!(p["busy_requests"], 0);
        // The flags agree with getpeerinfo's view of the same peer.
        let g = info
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["port"] == *port)
            .unwrap_or_else(|| panic!("getpeerinfo lists port {port}: {info}"));
        assert_eq!(
            g["extensions"] == true,
            flags & SUPPORTS_EXTENSIONS != 0,
            "{p} vs {g}"
        );
        if *port == raw.port() {
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
        } else {
            // libtorrent and the loadtest leechers download the whole time.
            assert_ne!(flags & SUPPORTS_EXTENSIONS, 0, "{p}");
            let (up_a, up_b) = (
                a[port]["total_upload"].as_u64().unwrap(),
                p["total_upload"].as_u64().unwrap(),
            );
            assert!(
                up_b > up_a,
                "total_upload rises over 1.5 s: {up_a} -> {up_b} ({p})"
            );
            assert!(
                p["up_speed"].as_u64().unwrap() > 0 || a[port]["up_speed"].as_u64().unwrap() > 0,
                "up_speed while downloading: {p}"
            );
        }
    }
    assert!(
        lt_b["client"].as_str().unwrap().contains("libtorrent"),
        "libtorrent's BEP 10 v: {lt_b}"
    );
    assert!(lt_b["progress"].as_f64() >= lt_a["progress"].as_f64());
    assert!(
        lt_b["progress"].as_f64().unwrap() < 1.0,
        "still downloading while measured: {lt_b}"
    );

    let _ = lt.kill();
    let _ = lt.wait();
    drop(raw);
    let report = swarm.join().unwrap();
    assert_eq!(report.pieces_failed, 0);
    assert!(report.pieces_verified > 0);
}

// ------------------------------------------ 3. ringseed.getpeerinfo ----

#[test]
fn getpeerinfo_counts_exactly_the_bytes_a_raw_peer_sent_and_received_per_message_type() {
    let dir = tempfile::tempdir().unwrap();
    let piece = 64 * 1024;
    let (torrent, meta) = v1_torrent(dir.path(), "gpi", 8 * piece as usize + 1000, piece);
    let seeder = start(dir.path(), &[], &[&torrent]);
    let api = Api::of(&seeder);
    let ih = meta.info_hash;

    // Arbitrary reserved bits besides BEP 10 (byte 5, 0x10) and BEP 6 (byte 7, 0x04).
    let reserved = [0x01, 0x23, 0x00, 0x00, 0x00, 0x10, 0x00, 0x04];
    let id = peer_id(b"getpeerinfo1");
    let before = unix_now();
    let mut p = RawPeer::connect(seeder.addr, ih, reserved, id, true);
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
    let payload = std::fs::read(dir.path().join("data/gpi/x.bin")).unwrap();
    for (index, begin) in blocks {
        let m = p.read_until(7);
        assert_eq!(m.len(), 9 + 16384);
        let off = (index * piece + begin) as usize;
        assert_eq!(&m[9..], &payload[off..off + 16384], "block {index}/{begin}");
    }
    p.send(Message::Have(5));
    p.send_frame(&[0, 0, 0, 0]); // keep-alive
    p.drain(Duration::from_millis(300));
    let after = unix_now();

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
    let me = p.s.local_addr().unwrap().to_string();
    let find = |v: &Value| -> Option<Value> {
        v.as_array()?
            .iter()
            .find(|g| g["addr"] == me.as_str())
            .cloned()
    };
    // The view is rebuilt about once a second: wait for the last messages.
    let g = eventually(10, "getpeerinfo counts every message", || {
        let all = api.result("ringseed.getpeerinfo", json!({}));
        let g = find(&all).ok_or_else(|| format!("{me} not listed: {all}"))?;
        let recv: BTreeMap<String, u64> =
            serde_json::from_value(g["bytesrecv_per_msg"].clone()).unwrap();
        if recv == expected_recv && g["bytessent_per_msg"]["piece"] == 5 * (16384 + 13) {
            Ok(g)
        } else {
            Err(g.to_string())
        }
    });
    let sent: BTreeMap<String, u64> =
        serde_json::from_value(g["bytessent_per_msg"].clone()).unwrap();
    // Every byte the test read, by type; only types with bytes are listed.
    assert_eq!(
        sent, p.got,
        "bytessent_per_msg = what the raw peer read: {g}"
    );
    assert_eq!(sent["piece"], 5 * (16384 + 13));
    assert_eq!(sent["handshake"], 68);
    assert_eq!(sent["unchoke"], 5);
    assert_eq!(sent["have_all"], 5);
    assert_eq!(g["bytessent"], p.got.values().sum::<u64>());
    assert_eq!(g["bytesrecv"], 68 + 5 + 85 + 9 + 4 + 6 + ours.len() as u64);
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
    let id1 = g["id"].as_u64().unwrap();

    // A second connection gets a larger id, and its own counters.
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
    // An unknown torrent: -1.
    assert_eq!(
        api.body(
            "ringseed.getpeerinfo",
            json!({"info_hash": "aa".repeat(20)})
        ),
        P1
    );
}

#[test]
fn peers_add_dials_out_and_the_outgoing_peer_shows_as_such_in_both_lists() {
    let dir = tempfile::tempdir().unwrap();
    let (torrent, meta) = v1_torrent(dir.path(), "out", 100_000, 16 * 1024);
    let seeder = start(dir.path(), &[], &[&torrent]);
    let api = Api::of(&seeder);
    let ih = meta.info_hash.to_hex();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ours = listener.local_addr().unwrap();
    // Unparsable entries are skipped (porla logs and skips); the call is `true`.
    let r = api.result(
        "torrents.peers.add",
        json!({"info_hash": ih, "peers": [["not an ip", 1], ["127.0.0.1", 70000], ["127.0.0.1", ours.port()]]}),
    );
    assert_eq!(r, true);
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The seeder dialled: it speaks first.
    let mut theirs = [0u8; 68];
    s.read_exact(&mut theirs).unwrap();
    assert_eq!(&theirs[28..48], &meta.info_hash.0);
    let mut hs = Handshake::new(meta.info_hash, peer_id(b"outgoing0001"));
    hs.reserved = [0; 8];
    s.write_all(&hs.encode()).unwrap();
    let seeder_side = s.peer_addr().unwrap();
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
    assert_eq!(info["am_choking"], true);
    assert_eq!(info["inbound"], false);
    assert_eq!(info["incoming"], false);
    assert_eq!(info["source"], "manual");
    assert_eq!(info["addr"], ours.to_string());
    assert_eq!(info["addrbind"], seeder_side.to_string());
    assert_eq!(info["bytessent_per_msg"]["handshake"], 68, "{info}");
    assert_eq!(info["bytesrecv_per_msg"], json!({"handshake": 68}));
    // An unknown torrent: -1, nothing dialled.
    let r = api.body(
        "torrents.peers.add",
        json!({"info_hash": "ab".repeat(20), "peers": [["127.0.0.1", ours.port()]]}),
    );
    assert_eq!(r, P1);
}

// ------------------------------------------ 4. ringseed.disconnects ----

#[test]
fn disconnects_list_closed_raw_peers_with_reason_name_and_code() {
    let dir = tempfile::tempdir().unwrap();
    let (torrent, meta) = v1_torrent(dir.path(), "dc", 20 * 16384 + 7, 16384);
    let seeder = start(dir.path(), &[], &[&torrent]);
    let api = Api::of(&seeder);
    let ih = meta.info_hash;
    let since = unix_now();

    // A bitfield one byte too long: malformed_message, -22.
    let mut bad = RawPeer::connect(seeder.addr, ih, [0; 8], peer_id(b"disconnect01"), true);
    let first = bad.read_until(5);
    bad.send(Message::Bitfield(&vec![0u8; first.len()]));
    assert!(bad.closed_by_seeder());
    // An info hash the seeder does not serve: unknown_info_hash, -11.
    let mut unknown = RawPeer::connect(
        seeder.addr,
        InfoHash([0xee; 20]),
        [0; 8],
        peer_id(b"disconnect02"),
        false,
    );
    assert!(unknown.closed_by_seeder());
    // Not BitTorrent: bad_handshake, -13.
    let mut http = TcpStream::connect(seeder.addr).unwrap();
    http.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    http.write_all(b"GET /announce?info_hash=xyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let _ = http.read(&mut [0u8; 16]);
    // A peer that simply leaves: remote_closed, 0.
    let mut gone = RawPeer::connect(seeder.addr, ih, [0; 8], peer_id(b"disconnect03"), true);
    gone.read_until(5);
    let gone_addr = gone.s.local_addr().unwrap().to_string();
    // Everything read, so the close is a FIN (unread data would make it a reset).
    gone.drain(Duration::from_millis(200));
    drop(gone);

    let want = [
        (
            bad.s.local_addr().unwrap().to_string(),
            "malformed_message",
            -22,
            Some(ih),
        ),
        (
            unknown.s.local_addr().unwrap().to_string(),
            "unknown_info_hash",
            -11,
            None,
        ),
        (
            http.local_addr().unwrap().to_string(),
            "bad_handshake",
            -13,
            None,
        ),
        (gone_addr, "remote_closed", 0, Some(ih)),
    ];
    let list = eventually(10, "every closed peer is listed", || {
        let list = api.result("ringseed.disconnects", json!({ "since": since }));
        let ok = want.iter().all(|(addr, ..)| {
            list.as_array()
                .unwrap()
                .iter()
                .any(|d| d["peer"] == addr.as_str())
        });
        if ok {
            Ok(list)
        } else {
            Err(list.to_string())
        }
    });
    for (addr, reason, code, info_hash) in &want {
        let d = list
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["peer"] == addr.as_str())
            .unwrap();
        assert_eq!(d["reason"], *reason, "{d}");
        assert_eq!(d["code"], *code, "{d}");
        assert!(d["message"].as_str().is_some_and(|m| !m.is_empty()), "{d}");
        let t = d["time"].as_i64().unwrap();
        assert!((since..=unix_now() + 1).contains(&t), "{d}");
        if let Some(ih) = info_hash {
            assert_eq!(d["info_hash"], ih.to_hex(), "{d}");
        }
    }
    // `since` filters by time.
    let later = api.result("ringseed.disconnects", json!({"since": unix_now() + 3600}));
    assert_eq!(later, json!([]));
    // A wrong type for `since` is an exception, porla style.
    let r = api.body("ringseed.disconnects", json!({"since": "yesterday"}));
    assert_eq!(
        r,
        r#"{"error":{"code":-32603,"data":"[json.exception.type_error.302] type must be number, but is string","message":"Internal error"}}"#
    );
}

// ----------------------------------------------- 5. hostile bodies ----

#[test]
fn hostile_rpc_bodies_get_errors_or_http_statuses_and_the_daemon_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let (torrent, meta) = v1_torrent(dir.path(), "h", 100_000, 16 * 1024);
    let seeder = start(
        dir.path(),
        &["--rpc-max-body", "12000000", "--metrics", "127.0.0.1:0"],
        &[&torrent],
    );
    let metrics = metrics_addr(&seeder);
    let api = Api::of(&seeder);
    let ih = meta.info_hash.to_hex();
    let error = |body: &str| -> Value {
        let r = api.post(body);
        let v = r.json();
        assert!(v.get("error").is_some(), "{}", r.body);
        v
    };

    // Not JSON.
    let v = error("hello there");
    assert_eq!(v["error"]["code"], -32700);
    api.assert_alive();
    // A batch: porla supports none; ringseed answers -32600 (docs/control.md).
    let v = error("[]");
    assert_eq!(v["error"]["code"], -32600);
    assert_eq!(v["error"]["message"], "Invalid Request");
    assert!(v.get("id").is_none());
    api.assert_alive();
    // A JSON string.
    let v = error(r#""torrents.list""#);
    assert_eq!(v["error"]["code"], -32600);
    api.assert_alive();
    // 100,000 nested arrays: a parse error (depth limit), no stack overflow.
    let v = error(&"[".repeat(100_000));
    assert_eq!(v["error"]["code"], -32700, "{v}");
    api.assert_alive();
    // info_hash a number: all zeros, not found (porla).
    let r = api.post(&json!({"jsonrpc":"2.0","id":1,"method":"torrents.peers.list","params":{"info_hash":12345}}).to_string());
    assert_eq!(r.body, P1);
    // torrents.remove without remove_data; remove_data a string.
    let r = api.post(
        &json!({"jsonrpc":"2.0","id":1,"method":"torrents.remove","params":{"info_hashes":[ih]}})
            .to_string(),
    );
    assert_eq!(
        r.body,
        r#"{"error":{"code":-32603,"data":"[json.exception.out_of_range.403] key 'remove_data' not found","message":"Internal error"}}"#
    );
    let r = api.post(&json!({"jsonrpc":"2.0","id":1,"method":"torrents.remove","params":{"info_hashes":[ih],"remove_data":"yes"}}).to_string());
    assert_eq!(
        r.body,
        r#"{"error":{"code":-32603,"data":"[json.exception.type_error.302] type must be boolean, but is string","message":"Internal error"}}"#
    );
    // A float where porla reads an integer: nlohmann's get<int>() truncates it.
    let r = api.result(
        "torrents.properties.set",
        json!({"info_hash": ih, "upload_limit": 1_500_000.9}),
    );
    assert_eq!(r, Value::Null);
    let props = api.result("torrents.properties.get", json!({ "info_hash": ih }));
    assert_eq!(props["upload_limit"], 1_500_000, "{props}");
    // The torrent is still there.
    assert_eq!(
        api.body("torrents.peers.list", json!({ "info_hash": ih })),
        EMPTY_PEERS
    );
    // A 10 MB string value under a 12 MB cap: parsed and answered.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"torrents.peers.list","params":{{"info_hash":"{}"}}}}"#,
        "a".repeat(10_000_000)
    );
    assert_eq!(api.post(&big).body, P1);
    api.assert_alive();
    // Over --rpc-max-body: 413.
    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"torrents.peers.list","params":{{"info_hash":"{}"}}}}"#,
        "a".repeat(13_000_000)
    );
    let r = api.post(&huge);
    assert_eq!(r.status, 413, "{}", r.body);
    api.assert_alive();
    // The cap holds for a chunked body too (no Content-Length to trust).
    let mut chunked = format!(
        "POST /api/v1/jsonrpc HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        api.addr, api.token
    )
    .into_bytes();
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..13 {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(&chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let r = http_raw(api.addr, chunked);
    assert_eq!(r.status, 413, "{}", r.body);
    api.assert_alive();
    // 500 header lines: refused by the HTTP parser, the daemon carries on.
    let many: Vec<(String, String)> = (0..500).map(|i| (format!("X-H{i}"), "v".into())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = post(api.addr, &many, b"{}");
    assert!(r.status >= 400, "{}", r.status);
    api.assert_alive();
    // A Host that is not loopback (DNS rebinding): 403, before auth.
    let auth = format!("Bearer {}", api.token);
    let r = http_raw(
        api.addr,
        post_request(
            "evil.example",
            &[("Authorization", &auth)],
            br#"{"jsonrpc":"2.0","id":1,"method":"sessions.list","params":{}}"#,
        ),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    api.assert_alive();
    // Without a token: 401.
    let r = post(api.addr, &[], b"{}");
    assert_eq!(r.status, 401);
    // Another path, another method.
    let r = http_raw(
        api.addr,
        format!("GET /api/v1/jsonrpc HTTP/1.1\r\nHost: {}\r\n\r\n", api.addr).into_bytes(),
    );
    assert_eq!(r.status, 405);
    let r = http_raw(
        api.addr,
        format!(
            "POST /api/v2 HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\n\r\n",
            api.addr
        )
        .into_bytes(),
    );
    assert_eq!(r.status, 404);
    api.assert_alive();

    // Every refusal counted by kind (read before the exporter's idle timeout).
    let rpc = |kind: &'static str| ("ringseed_rpc_errors_total", vec![("kind", kind)]);
    let http = |kind: &'static str| {
        (
            "ringseed_http_errors_total",
            vec![("server", "rpc"), ("kind", kind)],
        )
    };
    let expected = [
        (rpc("parse"), 2.0),
        (rpc("invalid_request"), 2.0),
        (rpc("internal"), 2.0),
        (rpc("method_error"), 2.0),
        (rpc("unauthorized"), 1.0),
        (rpc("method"), 1.0),
        (rpc("not_found"), 1.0),
        (http("body_too_large"), 2.0),
        (http("host"), 1.0),
    ];
    eventually(5, "/metrics counts each refusal", || {
        let text = scrape(metrics);
        for ((name, labels), want) in &expected {
            let got = sample(&text, name, labels);
            if got != Some(*want) {
                return Err(format!("{name}{labels:?} = {got:?}, want {want}\n{text}"));
            }
        }
        Ok(())
    });
}

// ------------------------------------- 5b. slow and idle HTTP clients ----

#[test]
fn slow_and_idle_http_clients_time_out_and_never_lock_the_rpc_out() {
    let dir = tempfile::tempdir().unwrap();
    let (torrent, _) = v1_torrent(dir.path(), "s", 50_000, 16 * 1024);
    let seeder = start(
        dir.path(),
        &[
            "--rpc-header-timeout",
            "2",
            "--rpc-max-connections",
            "4",
            "--metrics",
            "127.0.0.1:0",
        ],
        &[&torrent],
    );
    let metrics = metrics_addr(&seeder);
    let api = Api::of(&seeder);

    // Headers dripped one line every 250 ms: closed at about 2 s.
    let mut s = TcpStream::connect(api.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut w = s.try_clone().unwrap();
    let start = Instant::now();
    let drip = std::thread::spawn(move || {
        if w.write_all(b"POST /api/v1/jsonrpc HTTP/1.1\r\n").is_err() {
            return;
        }
        for i in 0..60 {
            std::thread::sleep(Duration::from_millis(250));
            if w.write_all(format!("X-Slow-{i}: y\r\n").as_bytes())
                .is_err()
            {
                return;
            }
        }
    });
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(8),
        "closed after {took:?}"
    );
    assert!(
        !String::from_utf8_lossy(&rest).contains("200 OK"),
        "no answer to half a request"
    );
    drop(s);
    drip.join().unwrap();
    api.assert_alive();

    // --rpc-max-connections 4: four idle sockets hold every slot; a fifth,
    // real request waits in the backlog and is answered once the idle ones
    // time out (header timeout), not refused and not left hanging.
    let idle: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(api.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let auth = format!("Bearer {}", api.token);
    let r = post(
        api.addr,
        &[("Authorization", &auth)],
        br#"{"jsonrpc":"2.0","id":1,"method":"sessions.list","params":{}}"#,
    );
    let took = start.elapsed();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("\"sessions\""), "{}", r.body);
    assert!(
        took >= Duration::from_millis(1000),
        "the fifth waited for a slot ({took:?})"
    );
    assert!(took < Duration::from_secs(10), "answered at {took:?}");
    // The idle sockets were closed by the server.
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf);
        assert!(
            matches!(n, Ok(0) | Err(_)) || String::from_utf8_lossy(&buf).contains("408"),
            "idle connection closed: {n:?}"
        );
    }
    api.assert_alive();
    eventually(5, "/metrics counts the header timeouts", || {
        let text = scrape(metrics);
        let n = sample(
            &text,
            "ringseed_http_errors_total",
            &[("server", "rpc"), ("kind", "header_timeout")],
        );
        match n {
            Some(n) if n >= 5.0 => Ok(()),
            _ => Err(format!("header_timeout = {n:?}\n{text}")),
        }
    });
}

// -------------------------------------------------- 6. control CLI ----

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

#[test]
fn control_cli_drives_a_real_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let (a_torrent, a) = v1_torrent(dir.path(), "alpha", 300_000, 16 * 1024);
    // B's content lives outside the daemon's data directory.
    let other = tempfile::tempdir().unwrap();
    let (b_torrent, b) = v1_torrent(other.path(), "beta", 200_000, 16 * 1024);
    let seeder = start(dir.path(), &[], &[&a_torrent]);
    let (rpc, state) = (seeder.rpc.unwrap(), seeder.state_dir.clone());
    let api = Api::of(&seeder);
    let (ha, hb) = (a.info_hash.to_hex(), b.info_hash.to_hex());

    let out = cli_ok(&["torrents"], rpc, &state);
    assert!(
        out.contains(&ha) && out.contains("alpha") && out.contains("seeding"),
        "{out}"
    );
    assert!(out.contains("1 torrent(s)"), "{out}");

    // add --save-path --paused.
    let save = other.path().join("data");
    let out = cli_ok(
        &[
            "add",
            b_torrent.to_str().unwrap(),
            "--save-path",
            save.to_str().unwrap(),
            "--paused",
        ],
        rpc,
        &state,
    );
    assert_eq!(out.trim(), format!("added {hb}"));
    let out = eventually(10, "beta listed paused", || {
        let out = cli_ok(&["torrents"], rpc, &state);
        let line = out.lines().find(|l| l.contains(&hb)).map(str::to_string);
        match line {
            Some(l) if l.contains("paused") && l.contains("beta") => Ok(out),
            _ => Err(out),
        }
    });
    assert!(out.contains("2 torrent(s)"), "{out}");
    let props = api.result("torrents.properties.get", json!({ "info_hash": hb }));
    assert_eq!(props["flags"]["paused"], true);
    let listed = api.result("torrents.list", json!({}));
    let beta = listed["torrents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "beta")
        .unwrap()
        .clone();
    assert_eq!(beta["save_path"], save.display().to_string());
    // --json prints the raw result.
    let out = cli_ok(&["torrents", "--json"], rpc, &state);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["torrents_total"], 2, "{v}");

    // resume: B gets checked and seeds.
    assert_eq!(
        cli_ok(&["resume", &hb], rpc, &state).trim(),
        format!("resumed {hb}")
    );
    eventually(20, "beta seeding after resume", || {
        let out = cli_ok(&["torrents"], rpc, &state);
        let l = out
            .lines()
            .find(|l| l.contains(&hb))
            .unwrap_or("")
            .to_string();
        if l.contains("seeding") && l.contains("100.0%") {
            Ok(())
        } else {
            Err(out)
        }
    });
    // A peer on B shows in `peers` (and `peers INFO_HASH`).
    let mut p = RawPeer::connect(
        seeder.addr,
        b.info_hash,
        [0; 8],
        peer_id(b"cli-peer-001"),
        true,
    );
    p.read_until(5);
    let me = p.s.local_addr().unwrap().to_string();
    eventually(10, "peers lists the raw peer", || {
        let out = cli_ok(&["peers"], rpc, &state);
        let one = cli_ok(&["peers", &hb], rpc, &state);
        let none = cli_ok(&["peers", &ha], rpc, &state);
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
    let out = cli_ok(&["peers", "--json"], rpc, &state);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|g| g["addr"] == me.as_str()),
        "{v}"
    );
    drop(p);

    // pause closes B's peers and refuses new ones.
    assert_eq!(
        cli_ok(&["pause", &hb], rpc, &state).trim(),
        format!("paused {hb}")
    );
    let mut refused = RawPeer::connect(
        seeder.addr,
        b.info_hash,
        [0; 8],
        peer_id(b"cli-peer-002"),
        false,
    );
    assert!(refused.closed_by_seeder());
    assert_eq!(
        cli_ok(&["resume", &hb], rpc, &state).trim(),
        format!("resumed {hb}")
    );

    // recheck A.
    assert_eq!(
        cli_ok(&["recheck", &ha], rpc, &state).trim(),
        format!("rechecking {ha}")
    );
    eventually(20, "alpha seeding after recheck", || {
        let out = cli_ok(&["torrents"], rpc, &state);
        let l = out
            .lines()
            .find(|l| l.contains(&ha))
            .unwrap_or("")
            .to_string();
        if l.contains("seeding") && l.contains("100.0%") {
            Ok(())
        } else {
            Err(out)
        }
    });

    // limit: global, then per torrent.
    let out = cli_ok(&["limit", "50MB/s"], rpc, &state);
    assert_eq!(out.trim(), "upload limit: 50000000 B/s (50.0 MB/s)");
    let session = api.result("ringseed.session.get", json!({}));
    assert_eq!(session["upload_limit"], 50_000_000, "{session}");
    let out = cli_ok(&["limit", &ha, "1MiB/s"], rpc, &state);
    assert!(out.contains("1048576 B/s"), "{out}");
    let props = api.result("torrents.properties.get", json!({ "info_hash": ha }));
    assert_eq!(props["upload_limit"], 1_048_576, "{props}");
    let out = cli_ok(&["limit", "unlimited"], rpc, &state);
    assert_eq!(out.trim(), "upload limit: unlimited");
    assert_eq!(
        api.result("ringseed.session.get", json!({}))["upload_limit"],
        -1
    );

    // rpc METHOD [PARAMS].
    let out = cli_ok(&["rpc", "sessions.list"], rpc, &state);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["sessions"][0]["name"], "default");
    assert_eq!(v["sessions"][0]["torrents_total"], 2);
    let out = cli_ok(
        &[
            "rpc",
            "torrents.files.list",
            &json!({ "info_hash": hb }).to_string(),
        ],
        rpc,
        &state,
    );
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["files"][0]["size"], 200_000, "{v}");
    // Adding a torrent twice: porla's -3.
    let out = cli(&["add", a_torrent.to_str().unwrap()], rpc, &state);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Torrent already in session 'default' (-3)"),
        "{err}"
    );
    // A JSON-RPC error: non-zero with the code and message.
    let out = cli(
        &["rpc", "torrents.pause", r#"{"info_hash":"00"}"#],
        rpc,
        &state,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Torrent not found in any session") && err.contains("-1"),
        "{err}"
    );

    // remove: gone from the list, data kept.
    assert_eq!(
        cli_ok(&["remove", &hb], rpc, &state).trim(),
        format!("removed {hb}")
    );
    eventually(10, "beta removed", || {
        let out = cli_ok(&["torrents"], rpc, &state);
        if !out.contains(&hb) && out.contains("1 torrent(s)") {
            Ok(())
        } else {
            Err(out)
        }
    });
    assert!(
        save.join("beta/x.bin").exists(),
        "data stays without --remove-data"
    );
    // Again, with --remove-data: the files go too.
    cli_ok(
        &[
            "add",
            b_torrent.to_str().unwrap(),
            "--save-path",
            save.to_str().unwrap(),
        ],
        rpc,
        &state,
    );
    assert_eq!(
        cli_ok(&["remove", &hb, "--remove-data"], rpc, &state).trim(),
        format!("removed {hb}")
    );
    eventually(10, "beta's data removed", || {
        if save.join("beta/x.bin").exists() {
            Err("still there".into())
        } else {
            Ok(())
        }
    });
    assert!(
        dir.path().join("data/alpha/x.bin").exists(),
        "alpha untouched"
    );
    // A client configuration file names the address and the state directory.
    let client_conf = dir.path().join("client.toml");
    std::fs::write(
        &client_conf,
        format!(
            "[rpc]\nlisten = \"{rpc}\"\n\n[storage]\nstate_dir = \"{}\"\n",
            state.display()
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
    assert!(String::from_utf8_lossy(&out.stdout).contains(&ha));

    // A wrong state directory: the token is refused (401) and the CLI says so.
    let wrong = tempfile::tempdir().unwrap();
    Auth::load_or_create(wrong.path()).unwrap();
    let out = cli(&["torrents"], rpc, wrong.path());
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

// ------------------------------------------------- 7. configuration ----

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

    // The file alone decides: peer port, RPC (on a free port, without auth),
    // metrics, reqq.
    let s = start_seed_exact(
        &[
            "--config",
            file.to_str().unwrap(),
            torrent.to_str().unwrap(),
        ],
        &state,
    );
    let rpc = s.rpc.expect("rpc from the file's [rpc] listen");
    assert_ne!(rpc.port(), 1337);
    metrics_addr(&s);
    assert_eq!(advertised_reqq(s.addr, meta.info_hash), Some(77));
    let r = post(
        rpc,
        &[],
        br#"{"jsonrpc":"2.0","id":1,"method":"sessions.list","params":{}}"#,
    );
    assert_eq!(r.status, 200, "[rpc] auth = false: {}", r.body);
    drop(s);

    // A flag overrides the file.
    let s = start_seed_exact(
        &[
            "--config",
            file.to_str().unwrap(),
            "--reqq",
            "55",
            "--rpc-auth",
            "true",
            torrent.to_str().unwrap(),
        ],
        &state,
    );
    assert_eq!(advertised_reqq(s.addr, meta.info_hash), Some(55));
    let rpc = s.rpc.unwrap();
    let r = post(
        rpc,
        &[],
        br#"{"jsonrpc":"2.0","id":1,"method":"sessions.list","params":{}}"#,
    );
    assert_eq!(r.status, 401);
    drop(s);

    // An unknown key: `ringseed seed` exits non-zero naming it.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[network]\nreqq = 77\nreqqq = 5\n").unwrap();
    let out = Command::new(RINGSEED)
        .args(["seed", "--config", bad.to_str().unwrap(), "--state-dir"])
        .arg(&state)
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
        .arg(&state)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("rpcc"));
}
