//! Hostile JSON-RPC bodies and hostile HTTP clients: each gets porla's
//! error (`src/http/jsonrpchandler.cpp`: -32700, -32603 with nlohmann's
//! exception text, …) or an HTTP status, is counted in `/metrics`, and the
//! daemon keeps answering; slow and idle clients time out and never lock
//! the RPC out.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::http::{http_raw, post, post_request, Rpc};
use crate::common::metrics::{sample, scrape};
use crate::common::wait::eventually;
use crate::{start, v1_torrent, EMPTY_PEERS, P1};

#[test]
fn hostile_rpc_bodies_get_errors_or_http_statuses_and_the_daemon_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let (torrent, meta) = v1_torrent(dir.path(), "h", 100_000, 16 * 1024);
    let seeder = start(
        dir.path(),
        &["--rpc-max-body", "12000000", "--metrics", "127.0.0.1:0"],
        &[&torrent],
    );
    let metrics = seeder.metrics_addr();
    let api = Rpc::of(&seeder);
    let ih = meta.info_hash.to_hex();

    not_json_batches_strings_and_deep_nesting_are_refused(&api);
    porlas_type_quirks_are_kept(&api, &ih);
    bodies_over_the_cap_are_413_with_or_without_a_length(&api);
    http_level_refusals_come_before_auth_and_methods(&api);
    every_refusal_is_counted_by_kind(metrics);
}

/// Posts `body`; asserts an `error` answer and returns it.
fn error(api: &Rpc, body: &str) -> Value {
    let r = api.post(body);
    let v = r.json();
    assert!(v.get("error").is_some(), "{}", r.body);
    v
}

fn not_json_batches_strings_and_deep_nesting_are_refused(api: &Rpc) {
    // Not JSON.
    let v = error(api, "hello there");
    assert_eq!(v["error"]["code"], -32700);
    api.assert_alive();
    // A batch: porla supports none; ringseed answers -32600 (docs/control.md).
    let v = error(api, "[]");
    assert_eq!(v["error"]["code"], -32600);
    assert_eq!(v["error"]["message"], "Invalid Request");
    assert!(v.get("id").is_none());
    api.assert_alive();
    // A JSON string.
    let v = error(api, r#""torrents.list""#);
    assert_eq!(v["error"]["code"], -32600);
    api.assert_alive();
    // 100,000 nested arrays: a parse error (depth limit), no stack overflow.
    let v = error(api, &"[".repeat(100_000));
    assert_eq!(v["error"]["code"], -32700, "{v}");
    api.assert_alive();
}

fn porlas_type_quirks_are_kept(api: &Rpc, ih: &str) {
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
}

fn bodies_over_the_cap_are_413_with_or_without_a_length(api: &Rpc) {
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
}

fn http_level_refusals_come_before_auth_and_methods(api: &Rpc) {
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
}

fn every_refusal_is_counted_by_kind(metrics: SocketAddr) {
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
    let metrics = seeder.metrics_addr();
    let api = Rpc::of(&seeder);

    dripped_headers_are_cut_at_the_header_timeout(&api);
    idle_sockets_holding_every_slot_cannot_lock_a_request_out(&api);
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

fn dripped_headers_are_cut_at_the_header_timeout(api: &Rpc) {
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
}

fn idle_sockets_holding_every_slot_cannot_lock_a_request_out(api: &Rpc) {
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
}
