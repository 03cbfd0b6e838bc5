//! HTTP clients for tests: raw requests over a plain `TcpStream` (every byte
//! of the request chosen by the test, the whole response read back), and
//! the JSON-RPC client on top of them — porla's envelope, with a token
//! signed by the seeder's state-directory secret.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use ringseed::control::rpc::auth::Auth;
use serde_json::{json, Value};

use super::seeder::Seeder;
use super::wait;

/// A whole HTTP response (the server closes after each one: no keep-alive).
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; asserts 200 and `Content-Type: application/json`.
    pub fn json(&self) -> Value {
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
pub fn http_raw(addr: SocketAddr, request: Vec<u8>) -> HttpResponse {
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

/// `GET PATH` with only a `Host` header.
pub fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    http_raw(addr, req.into_bytes())
}

/// The bytes of `POST /api/v1/jsonrpc` with `Host: host`, `headers` and `body`.
pub fn post_request(host: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
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
pub fn post(addr: SocketAddr, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    http_raw(addr, post_request(&addr.to_string(), headers, body))
}

/// A JSON-RPC endpoint and a valid token for it.
pub struct Rpc {
    pub addr: SocketAddr,
    pub token: String,
}

impl Rpc {
    /// The seeder's JSON-RPC, with a token from its state directory's secret.
    pub fn of(seeder: &Seeder) -> Rpc {
        Rpc {
            addr: seeder.rpc.expect("rpc address"),
            token: Auth::load_or_create(&seeder.state_dir).unwrap().issue(),
        }
    }

    /// Posts `body` with the token in `Authorization`.
    pub fn post(&self, body: &str) -> HttpResponse {
        let auth = format!("Bearer {}", self.token);
        post(self.addr, &[("Authorization", &auth)], body.as_bytes())
    }

    /// The raw response body of a request `{"jsonrpc","id":1,method,params}`.
    pub fn body(&self, method: &str, params: Value) -> String {
        let r = self.post(
            &json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string(),
        );
        r.json();
        r.body
    }

    /// The whole response of a call (`result` or `error`).
    pub fn response(&self, method: &str, params: Value) -> Value {
        serde_json::from_str(&self.body(method, params)).unwrap()
    }

    /// The `result` of a call that must succeed.
    pub fn result(&self, method: &str, params: Value) -> Value {
        let body = self.body(method, params.clone());
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v.get("error").is_none(), "{method} {params}: {body}");
        v["result"].clone()
    }

    /// A valid call answers: the daemon is alive and serving.
    pub fn assert_alive(&self) {
        let r = self.result("sessions.list", json!({}));
        assert_eq!(r["sessions"][0]["name"], "default", "{r}");
    }
}

/// Calls `method` on the seeder; panics on a JSON-RPC error, returns `result`.
pub fn call(seeder: &Seeder, method: &str, params: Value) -> Value {
    Rpc::of(seeder).result(method, params)
}

/// `torrents.list` rows by v1 info hash hex.
pub fn torrents(seeder: &Seeder) -> BTreeMap<String, Value> {
    call(seeder, "torrents.list", json!({"page_size": 100000}))["torrents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["info_hash"][0].as_str().unwrap().to_string(), t.clone()))
        .collect()
}

/// Waits (30 s at most) until `pred` holds for the torrent's `torrents.list` row.
pub fn wait_torrent(seeder: &Seeder, ih: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let row = wait::poll(Duration::from_secs(30), Duration::from_millis(50), || {
        torrents(seeder)
            .get(ih)
            .filter(|t| pred(t))
            .cloned()
            .ok_or_else(String::new)
    });
    row.unwrap_or_else(|_| panic!("torrent {ih} never {what}; log:\n{}", seeder.log_text()))
}

/// A torrent file's bytes as porla's `ti` (base64).
pub fn ti(torrent: &Path) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(torrent).unwrap())
}
