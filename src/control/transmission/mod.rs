//! Transmission's RPC over HTTP (`POST /transmission/rpc`), what
//! transmission-remote, Transmission's GUIs (Tremotesf, transgui), Flood,
//! cross-seed, autobrr and Sonarr/Radarr speak. ringseed presents itself as
//! Transmission 4.0.6 (`rpc-version` 17, `rpc-version-minimum` 14): tools
//! read the version to pick their requests. A translator onto [`Api`], like
//! the other front ends; docs/transmission-rpc.md lists every method and
//! where a seeder's answer differs from transmission-daemon's.
//!
//! The rules, in transmission-daemon's order (its `handle_request`):
//!
//! 1. a client address outside `[transmission_rpc] whitelist` → 403;
//! 2. with `auth` on, no or wrong HTTP Basic credentials → 401 with
//!    `WWW-Authenticate: Basic realm="Transmission"`; an address that
//!    failed `[webui] max_auth_failures` times → 403 for `ban_secs`;
//! 3. a path outside `/transmission/` → 301 to `/transmission/web/`, other
//!    paths than `rpc` → 404;
//! 4. while bound to loopback, a `Host` that is not a loopback name → 421
//!    (its host whitelist, against DNS rebinding; the HTTP server's check);
//! 5. without the current `X-Transmission-Session-Id` (GET too) → 409
//!    carrying it (the CSRF handshake: a cross-site page cannot read it);
//! 6. then the body: JSON `{"method","arguments","tag"}`, answered
//!    `{"arguments":{…},"result":"success"|"<error>","tag":N}` with 200.
//!
//! All of that is judged before the body is read. Every refusal is counted
//! in `ringseed_transmission_rpc_refusals_total{reason}`.
//!
//! Torrent ids are Transmission's: small integers per daemon run, shared
//! with the 0.80 IPC ([`crate::control::ids`]).

mod args;
mod methods;
mod session;
mod torrent;

use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Response, StatusCode};
use serde_json::{Map, Value};

use super::api::{Api, ApiError};
use super::http::{self, HttpRequest};
use super::webui::{Auth, LoginRefused};

/// What `session-get` says of the version: tools parse the leading
/// number (≥ 2.40 for the label and queue features).
pub const VERSION: &str = concat!("4.0.6 (ringseed ", env!("CARGO_PKG_VERSION"), ")");
/// The protocol version spoken (Transmission 4.0's).
pub const RPC_VERSION: i64 = 17;
/// The oldest protocol version a client may assume (Transmission 4.0's).
pub const RPC_VERSION_MINIMUM: i64 = 14;
/// The header of the CSRF handshake.
pub const SESSION_ID_HEADER: &str = "x-transmission-session-id";

type Resp = Response<Full<Bytes>>;

/// The reasons of `ringseed_transmission_rpc_refusals_total` (each series
/// exists from the start).
const REFUSALS: &[&str] = &[
    "whitelist",
    "auth",
    "banned",
    "not_found",
    "session_id",
    "method",
    "json",
    "no_method",
    "arguments",
];

fn refuse(reason: &'static str) {
    crate::tally::tally(
        "ringseed_transmission_rpc_refusals_total",
        [("reason", reason), ("", "")],
    );
}

/// An HTML refusal as transmission-daemon words them.
fn html(status: StatusCode, text: &str) -> Resp {
    let code = status.as_u16();
    let reason = status.canonical_reason().unwrap_or("");
    Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=ISO-8859-1")
        .body(Full::new(Bytes::from(format!(
            "<h1>{code}: {reason}</h1>{text}"
        ))))
        .expect("static response")
}

/// The Transmission RPC server.
pub(crate) struct TransmissionRpc {
    api: Arc<Api>,
    /// `None`: auth off.
    auth: Option<Auth>,
    config: crate::config::TransmissionRpc,
    trackers: Rc<crate::tracker::Manager>,
    /// The current CSRF token (one per daemon run).
    session_id: String,
    /// Unix time the server started (session-stats' `secondsActive`).
    started_unix: u64,
    /// Upload limits set while not enabled, bytes/s, by torrent:
    /// Transmission keeps a limit's value apart from its switch, ringseed's
    /// session only the limit in force.
    parked_limits:
        parking_lot::Mutex<std::collections::HashMap<ringseed_proto::metainfo::InfoHash, i64>>,
    /// Blocked ranges after the last `blocklist-update`.
    blocklist_ranges: std::cell::Cell<usize>,
    /// Each torrent's web seeds, read from its kept .torrent once: a
    /// torrent's metainfo never changes, and Tremotesf asks for `webseeds`
    /// of every torrent on every poll.
    webseeds: std::cell::RefCell<
        std::collections::HashMap<ringseed_proto::metainfo::InfoHash, Arc<[String]>>,
    >,
}

/// An [`ApiError`] as a call's `result` text (transmission-daemon's
/// wording for a bad torrent).
fn api_error(e: ApiError) -> String {
    match e {
        ApiError::InvalidTorrent(_) => "invalid or corrupt torrent file".into(),
        e => e.to_string(),
    }
}

/// Transmission's `rpc-whitelist` match: `*` any run of characters, `?`
/// one, on the address's text. Hand-rolled: a dozen lines for a pattern
/// language of two characters, where a glob crate would bring path rules.
fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi].eq_ignore_ascii_case(&t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

/// The user name and password of an `Authorization: Basic` header.
fn basic_credentials(head: &hyper::http::request::Parts) -> Option<(String, String)> {
    let v = head
        .headers
        .get(hyper::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, b64) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

impl TransmissionRpc {
    /// The server.
    ///
    /// Errors: the credentials cannot be loaded or made.
    pub(crate) fn new(
        api: Arc<Api>,
        config: &crate::config::Config,
        trackers: Rc<crate::tracker::Manager>,
    ) -> Result<TransmissionRpc, String> {
        let c = &config.transmission_rpc;
        let auth = if c.auth {
            Some(Auth::load_or_create(&config.webui, api.state_dir())?)
        } else {
            None
        };
        Ok(TransmissionRpc {
            api,
            auth,
            config: c.clone(),
            trackers,
            session_id: super::webui::random_token(36),
            started_unix: crate::messages::unix_now(),
            parked_limits: Default::default(),
            blocklist_ranges: Default::default(),
            webseeds: Default::default(),
        })
    }

    /// `t`'s web seeds, read once from its kept .torrent. Entries of
    /// torrents that went are dropped once the map outgrows the session.
    fn webseeds(&self, t: &crate::coordinator::view::TorrentView) -> Arc<[String]> {
        let mut cache = self.webseeds.borrow_mut();
        if let Some(w) = cache.get(&t.info_hash) {
            return w.clone();
        }
        let view = self.api.view();
        if cache.len() > view.torrents.len() + 1024 {
            cache.retain(|ih, _| view.torrents.contains_key(ih));
        }
        let w = torrent::read_webseeds(self.api.state_dir(), t);
        cache.insert(t.info_hash, w.clone());
        w
    }

    /// Blocked ranges held now (`blocklist-size`).
    fn blocklist_size(&self) -> usize {
        self.blocklist_ranges.get()
    }

    /// `blocklist-update`: reads `[transmission_rpc] blocklist` (a file, or
    /// an http(s) URL fetched with the trackers' HTTP client: 60 s, 64 MiB,
    /// 5 redirects at most) of P2P-plain ranges and makes the shards refuse
    /// those addresses.
    ///
    /// Errors: no blocklist configured, the file or URL unreadable, or no
    /// range in it.
    async fn update_blocklist(&self) -> Result<usize, String> {
        let source = self.config.blocklist.trim();
        if source.is_empty() {
            return Err("no blocklist configured ([transmission_rpc] blocklist)".into());
        }
        let bytes = if source.starts_with("http://") || source.starts_with("https://") {
            let limits = crate::tracker::http::Limits {
                timeout: std::time::Duration::from_secs(60),
                max_body: 64 << 20,
                max_redirects: 5,
            };
            crate::tracker::http::Client::new(None)
                .get(source, &limits)
                .await
                .map_err(|e| format!("{source}: {e}"))?
        } else {
            std::fs::read(source).map_err(|e| format!("{source}: {e}"))?
        };
        let text = String::from_utf8_lossy(&bytes);
        let (ranges, bad) = crate::ban::parse_p2p_plain(&text);
        if ranges.is_empty() {
            return Err(format!(
                "{source}: no P2P-plain range in it ({bad} lines unreadable)"
            ));
        }
        if bad > 0 {
            tracing::warn!(
                source,
                lines = bad,
                "blocklist: lines that are not a range were skipped"
            );
        }
        let held = self
            .api
            .set_blocklist(ranges)
            .await
            .map_err(|e| e.to_string())?;
        self.blocklist_ranges.set(held);
        tracing::info!(source, ranges = held, "blocklist updated");
        Ok(held)
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let text = ip.to_string();
        self.config.whitelist.is_empty()
            || self
                .config
                .whitelist
                .iter()
                .any(|p| wildcard(p.trim(), &text))
    }

    /// Refusals judged from the head and the client's address alone.
    pub(crate) fn check(
        &self,
        head: &hyper::http::request::Parts,
        peer: SocketAddr,
    ) -> Option<Resp> {
        if !self.allowed(peer.ip()) {
            refuse("whitelist");
            tracing::info!(%peer, "transmission-rpc: address not in the whitelist");
            return Some(html(
                StatusCode::FORBIDDEN,
                "<p>Unauthorized IP Address.</p><p>Either disable the IP address whitelist or add your address to it.</p>",
            ));
        }
        if let Some(auth) = &self.auth {
            let now = Instant::now();
            let refused = match basic_credentials(head) {
                _ if auth.banned(peer.ip(), now) => Some(LoginRefused::Banned),
                None => Some(LoginRefused::Wrong),
                Some((u, p)) => auth.verify(peer.ip(), &u, &p, now).err(),
            };
            match refused {
                None => {}
                Some(LoginRefused::Banned) => {
                    refuse("banned");
                    return Some(html(
                        StatusCode::FORBIDDEN,
                        "<p>Too many unsuccessful login attempts from your address; try again later.</p>",
                    ));
                }
                Some(LoginRefused::Wrong) => {
                    refuse("auth");
                    let mut r = html(StatusCode::UNAUTHORIZED, "Unauthorized User");
                    r.headers_mut().insert(
                        hyper::header::WWW_AUTHENTICATE,
                        hyper::header::HeaderValue::from_static("Basic realm=\"Transmission\""),
                    );
                    return Some(r);
                }
            }
        }
        let path = head.uri.path();
        let Some(rest) = path.strip_prefix("/transmission/") else {
            refuse("not_found");
            return Some(
                Response::builder()
                    .status(StatusCode::MOVED_PERMANENTLY)
                    .header(hyper::header::LOCATION, "/transmission/web/")
                    .body(Full::new(Bytes::new()))
                    .expect("static response"),
            );
        };
        if rest != "rpc" && rest != "rpc/" {
            refuse("not_found");
            return Some(html(StatusCode::NOT_FOUND, "<p>Not Found</p>"));
        }
        let sent = head
            .headers
            .get(SESSION_ID_HEADER)
            .and_then(|v| v.to_str().ok());
        if sent != Some(self.session_id.as_str()) {
            refuse("session_id");
            let mut r = html(
                StatusCode::CONFLICT,
                &format!(
                    "<p>Your request had an invalid session-id header.</p><p>To fix this, follow these steps:<ol><li> When reading a response, get its X-Transmission-Session-Id header and remember it<li> Add the updated header to your outgoing requests<li> When you get this 409 error message, resend your request with the updated header</ol></p><p>This requirement has been added to help prevent <a href=\"https://en.wikipedia.org/wiki/Cross-site_request_forgery\">CSRF</a> attacks.</p><p><code>X-Transmission-Session-Id: {}</code></p>",
                    self.session_id
                ),
            );
            r.headers_mut().insert(
                SESSION_ID_HEADER,
                hyper::header::HeaderValue::from_str(&self.session_id).expect("token is ASCII"),
            );
            return Some(r);
        }
        if head.method != Method::POST {
            refuse("method");
            return Some(html(
                StatusCode::METHOD_NOT_ALLOWED,
                "<p>Method Not Allowed</p>",
            ));
        }
        None
    }

    /// Answers one request (its head passed [`TransmissionRpc::check`]).
    pub(crate) async fn handle(self: Rc<Self>, req: HttpRequest, peer: SocketAddr) -> Resp {
        let parsed: Result<Value, _> = serde_json::from_slice(&req.body);
        let (answer, tag) = match parsed {
            Ok(Value::Object(request)) => {
                let tag = request
                    .get("tag")
                    .filter(|t| t.is_i64() || t.is_u64())
                    .cloned();
                (self.call(&request).await, tag)
            }
            Ok(_) => {
                refuse("json");
                (Err("request is not a JSON object".into()), None)
            }
            Err(e) => {
                refuse("json");
                tracing::info!(%peer, error = %e, "transmission-rpc: request is not JSON");
                (Err(format!("JSON parse error: {e}").into()), None)
            }
        };
        let mut out = Map::new();
        match answer {
            Ok(arguments) => {
                out.insert("arguments".into(), Value::Object(arguments));
                out.insert("result".into(), "success".into());
            }
            Err(e) => {
                out.insert("arguments".into(), Value::Object(e.arguments));
                out.insert("result".into(), Value::String(e.result));
            }
        }
        if let Some(t) = tag {
            out.insert("tag".into(), t);
        }
        Response::builder()
            .header("content-type", "application/json; charset=UTF-8")
            .header(SESSION_ID_HEADER, self.session_id.as_str())
            .body(Full::new(Bytes::from(
                serde_json::to_vec(&Value::Object(out)).expect("JSON values serialize"),
            )))
            .expect("static response")
    }

    /// One method call: its arguments, or the error text for `result`.
    async fn call(
        &self,
        request: &Map<String, Value>,
    ) -> Result<Map<String, Value>, methods::Failure> {
        let Some(method) = request.get("method").and_then(Value::as_str) else {
            refuse("no_method");
            return Err("no method name".into());
        };
        let empty = Map::new();
        let a = match request.get("arguments") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(m)) => m,
            Some(_) => {
                refuse("arguments");
                return Err("\"arguments\" must be an object".into());
            }
        };
        let r = methods::dispatch(self, method, a).await;
        if let Err(e) = &r {
            tracing::debug!(method, error = %e.result, "transmission-rpc: call failed");
        }
        r
    }
}

/// Serves Transmission's RPC on `listener` (its address is logged).
///
/// Errors: the credentials cannot be loaded or made.
pub(crate) fn start(
    listener: std::net::TcpListener,
    api: Arc<Api>,
    config: &crate::config::Config,
    trackers: Rc<crate::tracker::Manager>,
) -> Result<(), String> {
    let server = Rc::new(TransmissionRpc::new(api, config, trackers)?);
    for reason in REFUSALS {
        crate::tally::register(
            "ringseed_transmission_rpc_refusals_total",
            [("reason", reason), ("", "")],
        );
    }
    let mut limits = http::Limits::from_config(&config.rpc, config.transmission_rpc.max_body_bytes);
    limits.host_refused = StatusCode::MISDIRECTED_REQUEST;
    let addr = listener.local_addr().ok();
    let l = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
    let check: http::Check = {
        let server = server.clone();
        Rc::new(move |head, peer| server.check(head, peer))
    };
    tokio::task::spawn_local(http::serve(
        "transmission_rpc",
        l,
        limits,
        check,
        move |req, peer| server.clone().handle(req, peer),
    ));
    if let Some(a) = addr {
        tracing::info!("transmission-rpc (Transmission RPC 17) on http://{a}/transmission/rpc");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitelist_wildcards() {
        assert!(wildcard("127.0.0.1", "127.0.0.1"));
        assert!(wildcard("192.168.*.*", "192.168.1.20"));
        assert!(wildcard("10.0.0.?", "10.0.0.7"));
        assert!(!wildcard("10.0.0.?", "10.0.0.17"));
        assert!(!wildcard("127.0.0.1", "127.0.0.10"));
        assert!(wildcard("*", "::1"));
        assert!(!wildcard("192.168.*", "10.192.168.1"));
    }
}
