//! qBittorrent's WebUI API v2 (`/api/v2/SCOPE/ACTION`), what cross-seed,
//! qui, qbit_manage, PeerBanHelper, Flood and the qBittorrent exporters
//! speak. ringseed presents itself as qBittorrent 5.1.0 (WebAPI 2.11.4):
//! qbit_manage refuses versions its client library does not list, and
//! 5.2 changed the login answer. A translator onto [`Api`], like the other
//! front ends; docs/webui.md lists every endpoint and where a seeder's
//! answer differs from qBittorrent's.
//!
//! Rules, as qBittorrent's `WebApplication`:
//!
//! - Every call but `auth/login` needs a session (`SID` cookie) or an API
//!   key (`Authorization: Bearer KEY`); without one: 403 `Forbidden`, before
//!   any of the body is read.
//! - A request whose `Origin` or `Referer` names another host than its
//!   `Host` is refused with 401 (qBittorrent's CSRF rule); while bound to
//!   loopback a `Host` that is not a loopback name is refused (the HTTP
//!   server's rule, DNS rebinding).
//! - Reads answer GET and POST (cross-seed POSTs everything); changes need
//!   POST (405 otherwise).
//! - Every refusal is counted in `ringseed_webui_refusals_total{reason}`.

mod auth;
mod ext;
mod form;
mod sync;
mod torrents;

pub(crate) use auth::{random_token, Auth, LoginRefused};
pub use auth::{set_password, PasswordHash, CREDENTIALS_FILE, DEFAULT_USERNAME};
pub(crate) use ext::{added_unix, completion_unix, last_activity_unix, tags};
pub(crate) use torrents::{magnet, progress, webseeds};

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Response, StatusCode};
use parking_lot::Mutex;
use serde_json::{json, Value};

use super::api::{AddOptions, Api, ApiError};
use super::http::{self, HttpRequest};
use crate::messages::{mins_to_secs, CommandError, TorrentProps};
use form::Params;
use ringseed_proto::metainfo::InfoHash;

/// What `app/version` says.
pub const QBT_VERSION: &str = "v5.1.0";
/// What `app/webapiVersion` says.
pub const WEBAPI_VERSION: &str = "2.11.4";

type Resp = Response<Full<Bytes>>;

fn refuse(reason: &'static str) {
    crate::tally::tally(
        "ringseed_webui_refusals_total",
        [("reason", reason), ("", "")],
    );
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    http::text(status, body)
}

fn ok() -> Resp {
    text(StatusCode::OK, "")
}

fn json_resp(v: &Value) -> Resp {
    Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(v.to_string())))
        .expect("static response")
}

/// Endpoints that only read: GET or POST.
const READS: &[&str] = &[
    "app/version",
    "app/webapiVersion",
    "app/buildInfo",
    "app/preferences",
    "app/defaultSavePath",
    "app/networkInterfaceList",
    "app/networkInterfaceAddressList",
    "log/main",
    "log/peers",
    "sync/maindata",
    "sync/torrentPeers",
    "transfer/info",
    "transfer/speedLimitsMode",
    "transfer/uploadLimit",
    "transfer/downloadLimit",
    "torrents/info",
    "torrents/count",
    "torrents/properties",
    "torrents/trackers",
    "torrents/webseeds",
    "torrents/files",
    "torrents/pieceStates",
    "torrents/pieceHashes",
    "torrents/export",
    "torrents/categories",
    "torrents/tags",
    "torrents/uploadLimit",
    "torrents/downloadLimit",
];

/// The WebUI server: its API, credentials, sessions and per-session sync state.
pub(crate) struct WebUi {
    api: Arc<Api>,
    auth: auth::Auth,
    config: crate::config::WebUi,
    trackers: Rc<crate::tracker::Manager>,
    /// `sync/*` state by session id (API-key clients share one).
    sync: Mutex<HashMap<String, sync::SyncState>>,
    /// The port the API is bound to: a `Host` naming another is refused
    /// (qBittorrent's host-header check).
    port: u16,
    /// Addresses banned through `transfer/banPeers` (`banned_IPs`), kept in
    /// STATE_DIR/webui.banned (one per line) and banned again at start.
    banned: Mutex<Vec<IpAddr>>,
}

/// The identity of an authenticated request: its session id, or "" for an API key.
struct Caller {
    sid: String,
}

fn cookie(head: &hyper::http::request::Parts, name: &str) -> Option<String> {
    // Cookie headers are `a=b; c=d`: split by hand (one well-defined
    // separator; a cookie crate would parse the same two characters).
    head.headers
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn header<'a>(head: &'a hyper::http::request::Parts, name: &str) -> Option<&'a str> {
    head.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The `host[:port]` of an `Origin` or `Referer` URL.
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    Some(rest.split(['/', '?', '#']).next().unwrap_or(rest))
}

impl WebUi {
    /// The server; banned addresses saved by an earlier run are banned again.
    ///
    /// Errors: the credentials cannot be loaded or made.
    pub(crate) fn new(
        api: Arc<Api>,
        config: &crate::config::WebUi,
        trackers: Rc<crate::tracker::Manager>,
        port: u16,
    ) -> Result<WebUi, String> {
        let auth = auth::Auth::load_or_create(config, api.state_dir())?;
        let banned: Vec<IpAddr> = std::fs::read_to_string(api.state_dir().join(BANNED_FILE))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        Ok(WebUi {
            api,
            auth,
            config: config.clone(),
            trackers,
            port,
            sync: Mutex::default(),
            banned: Mutex::new(banned),
        })
    }

    /// Bans the addresses saved by an earlier run (once the coordinator runs).
    pub(crate) async fn restore_bans(&self) {
        let ips = self.banned.lock().clone();
        if !ips.is_empty() {
            let _ = self.api.ban_peers(ips).await;
        }
    }

    fn authenticated(&self, head: &hyper::http::request::Parts) -> Option<Caller> {
        let now = Instant::now();
        if let Some(sid) = cookie(head, "SID") {
            if self.auth.session(&sid, now) {
                return Some(Caller { sid });
            }
        }
        let bearer = header(head, "authorization")?.strip_prefix("Bearer ")?;
        self.auth
            .api_key(bearer.trim())
            .then(|| Caller { sid: String::new() })
    }

    /// Refusals judged from the head alone (no body read yet).
    pub(crate) fn check(&self, head: &hyper::http::request::Parts) -> Option<Resp> {
        let Some(endpoint) = head.uri.path().strip_prefix("/api/v2/") else {
            refuse("not_found");
            return Some(text(StatusCode::NOT_FOUND, "Not Found"));
        };
        // CSRF (qBittorrent's rule): Origin/Referer must name the Host.
        let host = header(head, "host").unwrap_or("");
        // The Host's port, when it names one, must be ours (qBittorrent's
        // host-header check; the name is checked by the HTTP server).
        if let Some((_, port)) = host.rsplit_once(':').filter(|(n, _)| !n.ends_with(':')) {
            if port.parse::<u16>().ok() != Some(self.port) && !host.ends_with(']') {
                refuse("host_port");
                return Some(text(StatusCode::UNAUTHORIZED, "Unauthorized"));
            }
        }
        for h in ["origin", "referer"] {
            if let Some(v) = header(head, h) {
                if url_host(v).is_none_or(|o| !o.eq_ignore_ascii_case(host)) {
                    refuse("cross_site");
                    return Some(text(StatusCode::UNAUTHORIZED, "Unauthorized"));
                }
            }
        }
        if endpoint != "auth/login" && self.authenticated(head).is_none() {
            refuse("no_session");
            return Some(text(StatusCode::FORBIDDEN, "Forbidden"));
        }
        let read = READS.contains(&endpoint) || endpoint == "auth/login";
        if head.method != Method::POST && !(read && head.method == Method::GET) {
            refuse("method");
            return Some(text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"));
        }
        None
    }

    /// Answers one request (its head passed [`WebUi::check`]).
    pub(crate) async fn handle(self: Rc<Self>, req: HttpRequest, peer: SocketAddr) -> Resp {
        let endpoint = req
            .head
            .uri
            .path()
            .strip_prefix("/api/v2/")
            .unwrap_or("")
            .to_string();
        let params = match Params::read(&req.head, req.body, self.config.max_form_parts).await {
            Ok(p) => p,
            Err(e) => {
                refuse("form");
                tracing::info!(%peer, %endpoint, error = %e, "webui: form refused");
                return text(StatusCode::BAD_REQUEST, e.to_string());
            }
        };
        if endpoint == "auth/login" {
            return self.login(&req.head, &params, peer.ip());
        }
        let caller = match self.authenticated(&req.head) {
            Some(c) => c,
            None => return text(StatusCode::FORBIDDEN, "Forbidden"),
        };
        match self.route(&endpoint, &params, &caller).await {
            Ok(r) => r,
            Err(e) => e.response(),
        }
    }

    fn login(&self, head: &hyper::http::request::Parts, p: &Params, ip: IpAddr) -> Resp {
        let _ = head;
        let user = p.get("username").unwrap_or("");
        let pass = p.get("password").unwrap_or("");
        match self.auth.login(ip, user, pass, Instant::now()) {
            Ok(sid) => Response::builder()
                .header("content-type", "text/plain; charset=UTF-8")
                .header(
                    "set-cookie",
                    format!("SID={sid}; HttpOnly; SameSite=Strict; path=/"),
                )
                .body(Full::new(Bytes::from_static(b"Ok.")))
                .expect("static response"),
            Err(auth::LoginRefused::Wrong) => {
                refuse("login_failed");
                tracing::info!(%ip, "webui: failed login");
                text(StatusCode::OK, "Fails.")
            }
            Err(auth::LoginRefused::Banned) => {
                refuse("banned");
                text(
                    StatusCode::FORBIDDEN,
                    "Your IP address has been banned after too many failed authentication attempts.",
                )
            }
        }
    }

    async fn route(&self, endpoint: &str, p: &Params, caller: &Caller) -> Result<Resp, WebError> {
        let api = &*self.api;
        let (scope, action) = endpoint.split_once('/').unwrap_or((endpoint, ""));
        match (scope, action) {
            ("auth", "logout") => {
                self.auth.logout(&caller.sid);
                self.sync.lock().remove(&caller.sid);
                Ok(ok())
            }
            ("app", "version") => Ok(text(StatusCode::OK, QBT_VERSION)),
            ("app", "webapiVersion") => Ok(text(StatusCode::OK, WEBAPI_VERSION)),
            ("app", "buildInfo") => Ok(json_resp(&json!({
                "bitness": 64,
                "boost": "",
                "libtorrent": concat!("ringseed ", env!("CARGO_PKG_VERSION")),
                "openssl": "",
                "qt": "",
                "zlib": "",
                "platform": "linux",
            }))),
            ("app", "preferences") => Ok(json_resp(&self.preferences())),
            ("app", "setPreferences") => self.set_preferences(p).await,
            ("app", "defaultSavePath") => Ok(text(
                StatusCode::OK,
                api.view().session.default_save_path.display().to_string(),
            )),
            ("app", "networkInterfaceList" | "networkInterfaceAddressList") => {
                Ok(json_resp(&json!([])))
            }
            ("log", "main") => Ok(json_resp(&log_main(p))),
            ("log", "peers") => Ok(json_resp(&json!([]))),
            ("sync", "maindata") => {
                let rid = p.int("rid").unwrap_or(0);
                let mut states = self.sync.lock();
                let st = self.sync_state(&mut states, &caller.sid);
                Ok(json_resp(&sync::maindata(st, api, rid)))
            }
            ("sync", "torrentPeers") => {
                let ih = self.one_hash(p)?;
                let rid = p.int("rid").unwrap_or(0);
                let mut states = self.sync.lock();
                let st = self.sync_state(&mut states, &caller.sid);
                sync::torrent_peers(st, api, ih, rid)
                    .map(|v| json_resp(&v))
                    .ok_or(WebError::NotFound)
            }
            ("transfer", _) => self.transfer(action, p).await,
            ("torrents", _) => self.torrents(action, p).await,
            _ => Err(WebError::NotFound),
        }
    }

    fn sync_state<'a>(
        &self,
        states: &'a mut HashMap<String, sync::SyncState>,
        sid: &str,
    ) -> &'a mut sync::SyncState {
        if !states.contains_key(sid) && states.len() >= self.config.max_sessions.max(1) {
            // Sessions that ended leave their state: drop one (a client
            // whose state goes gets a full update next).
            if let Some(k) = states.keys().next().cloned() {
                states.remove(&k);
            }
        }
        states.entry(sid.to_string()).or_default()
    }

    /// The one torrent `hash` names.
    ///
    /// Errors: 400 when `hash` is missing, 404 when unknown.
    fn one_hash(&self, p: &Params) -> Result<InfoHash, WebError> {
        let h = p.get("hash").ok_or(WebError::Missing("hash"))?;
        let ih = InfoHash::from_hex(h.trim()).ok_or(WebError::NotFound)?;
        self.api
            .view()
            .torrents
            .contains_key(&ih)
            .then_some(ih)
            .ok_or(WebError::NotFound)
    }

    /// The torrents `hashes` names (`a|b` or `all`).
    ///
    /// Errors: 400 when `hashes` is missing.
    fn hashes(&self, p: &Params) -> Result<Vec<InfoHash>, WebError> {
        let h = p.get("hashes").ok_or(WebError::Missing("hashes"))?;
        Ok(torrents::select(&self.api.view(), Some(h)))
    }

    async fn transfer(&self, action: &str, p: &Params) -> Result<Resp, WebError> {
        let api = &*self.api;
        let view = api.view();
        match action {
            "info" => {
                let s = sync::server_state(&view);
                let keys = [
                    "connection_status",
                    "dht_nodes",
                    "dl_info_data",
                    "dl_info_speed",
                    "dl_rate_limit",
                    "up_info_data",
                    "up_info_speed",
                    "up_rate_limit",
                    "last_external_address_v4",
                    "last_external_address_v6",
                ];
                let o: serde_json::Map<String, Value> = keys
                    .iter()
                    .filter_map(|k| s.get(*k).map(|v| (k.to_string(), v.clone())))
                    .collect();
                Ok(json_resp(&Value::Object(o)))
            }
            "speedLimitsMode" => Ok(text(StatusCode::OK, "0")),
            "toggleSpeedLimitsMode" => Ok(ok()),
            "uploadLimit" => Ok(text(
                StatusCode::OK,
                view.session.upload_limit.max(0).to_string(),
            )),
            "downloadLimit" => Ok(text(
                StatusCode::OK,
                view.session.download_limit.max(0).to_string(),
            )),
            "setUploadLimit" => {
                let l = p.int("limit").ok_or(WebError::Missing("limit"))?;
                api.set_upload_limit(l).await?;
                Ok(ok())
            }
            "setDownloadLimit" => {
                let l = p.int("limit").ok_or(WebError::Missing("limit"))?;
                api.set_session(crate::messages::SessionChange::DownloadLimit(l))
                    .await?;
                Ok(ok())
            }
            "banPeers" => {
                let peers = p.get("peers").ok_or(WebError::Missing("peers"))?;
                let ips: Vec<IpAddr> = peers
                    .split('|')
                    .filter_map(|s| {
                        let s = s.trim();
                        s.parse::<SocketAddr>()
                            .map(|a| a.ip())
                            .or_else(|_| s.parse::<IpAddr>())
                            .ok()
                    })
                    .collect();
                self.ban(ips).await?;
                Ok(ok())
            }
            _ => Err(WebError::NotFound),
        }
    }

    /// Bans `ips` for good and keeps them in `banned_IPs`.
    async fn ban(&self, ips: Vec<IpAddr>) -> Result<(), WebError> {
        if ips.is_empty() {
            return Ok(());
        }
        self.api.ban_peers(ips.clone()).await?;
        let text = {
            let mut b = self.banned.lock();
            for ip in ips {
                if !b.contains(&ip) {
                    b.push(ip);
                }
            }
            b.iter().map(|ip| format!("{ip}\n")).collect::<String>()
        };
        crate::storage::write_atomically(&self.api.state_dir().join(BANNED_FILE), text.as_bytes())
            .map_err(|e| WebError::Conflict(format!("cannot save the ban list: {e}")))?;
        Ok(())
    }

    async fn torrents(&self, action: &str, p: &Params) -> Result<Resp, WebError> {
        let api = &*self.api;
        match action {
            "info" => {
                let view = api.view();
                let trackers = api.trackers();
                torrents::info(&view, &trackers, p)
                    .map(|v| json_resp(&Value::Array(v)))
                    .ok_or_else(|| WebError::BadRequest("unknown sort key".into()))
            }
            "count" => Ok(text(StatusCode::OK, api.view().torrents.len().to_string())),
            "properties" | "trackers" | "webseeds" | "files" | "pieceStates" | "pieceHashes"
            | "export" | "uploadLimit" | "downloadLimit"
                if p.get("hash").is_some()
                    || !matches!(action, "uploadLimit" | "downloadLimit") =>
            {
                self.torrent_read(action, p)
            }
            "uploadLimit" | "downloadLimit" => {
                let view = api.view();
                let mut o = serde_json::Map::new();
                for ih in self.hashes(p)? {
                    if let Some(t) = view.torrents.get(&ih) {
                        let v = if action == "uploadLimit" {
                            t.upload_limit.max(0)
                        } else {
                            0
                        };
                        o.insert(ih.to_hex(), json!(v));
                    }
                }
                Ok(json_resp(&Value::Object(o)))
            }
            "add" => self.add(p).await,
            "stop" | "pause" | "start" | "resume" | "recheck" | "reannounce" => {
                for ih in self.hashes(p)? {
                    match action {
                        "stop" | "pause" => api.pause(ih).await?,
                        "start" | "resume" => api.resume(ih).await?,
                        "recheck" => api.recheck(ih).await?,
                        _ => {
                            self.trackers.reannounce(&ih);
                        }
                    }
                }
                Ok(ok())
            }
            "setForceStart" => {
                // Nothing is queued, so a forced start is a start.
                if p.flag("value") == Some(true) {
                    for ih in self.hashes(p)? {
                        api.resume(ih).await?;
                    }
                }
                Ok(ok())
            }
            "delete" => {
                let hashes = self.hashes(p)?;
                let delete_files = p.flag("deleteFiles").unwrap_or(false);
                api.remove(hashes, delete_files).await?;
                Ok(ok())
            }
            "increasePrio" | "decreasePrio" | "topPrio" | "bottomPrio" => Err(WebError::Conflict(
                "Torrent queueing must be enabled".into(),
            )),
            "setUploadLimit" => {
                let limit = p.int("limit").ok_or(WebError::Missing("limit"))?;
                for ih in self.hashes(p)? {
                    api.set_props(
                        ih,
                        TorrentProps {
                            upload_limit: Some(limit),
                            ..Default::default()
                        },
                    )
                    .await?;
                }
                Ok(ok())
            }
            "setDownloadLimit"
            | "setSuperSeeding"
            | "toggleSequentialDownload"
            | "toggleFirstLastPiecePrio"
            | "setAutoManagement"
            | "filePrio" => {
                // Download-side settings: nothing to do for a seeder.
                self.hashes(p)
                    .or_else(|_| self.one_hash(p).map(|h| vec![h]))?;
                Ok(ok())
            }
            "setShareLimits" => {
                let hashes = self.hashes(p)?;
                let ratio = p
                    .float("ratioLimit")
                    .ok_or(WebError::Missing("ratioLimit"))?;
                let mins = p
                    .int("seedingTimeLimit")
                    .ok_or(WebError::Missing("seedingTimeLimit"))?;
                let inactive = p.int("inactiveSeedingTimeLimit").unwrap_or(-2);
                let limits = (ratio, mins_to_secs(mins), mins_to_secs(inactive));
                ext::set_share_limits(api, hashes, limits).await?;
                Ok(ok())
            }
            "categories" => {
                let view = api.view();
                let o: serde_json::Map<String, Value> = ext::categories(&view)
                    .into_iter()
                    .map(|(n, path)| {
                        let v = json!({"name": n, "savePath": path.display().to_string()});
                        (n, v)
                    })
                    .collect();
                Ok(json_resp(&Value::Object(o)))
            }
            "setCategory" => {
                let hashes = self.hashes(p)?;
                let cat = p.get("category").ok_or(WebError::Missing("category"))?;
                ext::set_category(api, hashes, cat.to_string()).await?;
                Ok(ok())
            }
            "createCategory" | "editCategory" => {
                let name = p.get("category").ok_or(WebError::Missing("category"))?;
                let path = PathBuf::from(p.get("savePath").unwrap_or(""));
                ext::create_category(api, name.to_string(), path, action == "editCategory").await?;
                Ok(ok())
            }
            "removeCategories" => {
                let names = p.get("categories").ok_or(WebError::Missing("categories"))?;
                let names: Vec<String> = names
                    .split('\n')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                ext::remove_categories(api, names).await?;
                Ok(ok())
            }
            "tags" => Ok(json_resp(&json!(ext::all_tags(&api.view())))),
            "createTags" | "deleteTags" => {
                let tags = split_tags(p.get("tags").ok_or(WebError::Missing("tags"))?);
                ext::edit_tags(api, tags, action == "createTags").await?;
                Ok(ok())
            }
            "addTags" | "removeTags" => {
                let hashes = self.hashes(p)?;
                let tags = split_tags(p.get("tags").unwrap_or(""));
                ext::torrent_tags(api, hashes, tags, action == "addTags").await?;
                Ok(ok())
            }
            "setLocation" => {
                let hashes = self.hashes(p)?;
                let to = p
                    .get("location")
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .ok_or(WebError::Missing("location"))?;
                for ih in hashes {
                    api.set_location(ih, PathBuf::from(to), true).await?;
                }
                Ok(ok())
            }
            "rename" | "renameFile" | "renameFolder" => Err(WebError::Conflict(
                "ringseed serves the names the metainfo gives; renaming is not supported".into(),
            )),
            "addTrackers" | "editTracker" | "removeTrackers" | "addWebSeeds" | "editWebSeed"
            | "removeWebSeeds" => Err(WebError::Conflict(
                "ringseed announces to the trackers of the metainfo only".into(),
            )),
            "addPeers" => {
                let hashes = self.hashes(p)?;
                let peers: Vec<SocketAddr> = p
                    .get("peers")
                    .unwrap_or("")
                    .split('|')
                    .filter_map(|s| s.trim().parse().ok())
                    .collect();
                if peers.is_empty() {
                    return Err(WebError::BadRequest("no valid peer given".into()));
                }
                for ih in hashes {
                    api.add_peers(ih, peers.clone()).await?;
                }
                Ok(ok())
            }
            _ => Err(WebError::NotFound),
        }
    }

    fn torrent_read(&self, action: &str, p: &Params) -> Result<Resp, WebError> {
        let ih = self.one_hash(p)?;
        let view = self.api.view();
        let trackers = self.api.trackers();
        let t = view.torrents.get(&ih).ok_or(WebError::NotFound)?;
        let tr = trackers.torrents.get(&ih).map(|a| &**a);
        let v = match action {
            "properties" => torrents::properties(&view, t, tr),
            "trackers" => json!(torrents::trackers(t, tr)),
            "webseeds" => {
                let path = crate::session::store::torrent_file_path(self.api.state_dir(), &ih);
                json!(torrents::webseeds(&std::fs::read(path).unwrap_or_default()))
            }
            "files" => json!(torrents::files(t, p.get("indexes"))),
            "pieceStates" => json!(torrents::piece_states(t)),
            "pieceHashes" => json!(torrents::piece_hashes(t)),
            "uploadLimit" => json!({ ih.to_hex(): t.upload_limit.max(0) }),
            "downloadLimit" => json!({ ih.to_hex(): 0 }),
            "export" => {
                let path = crate::session::store::torrent_file_path(self.api.state_dir(), &ih);
                let bytes = std::fs::read(&path)
                    .map_err(|e| WebError::Conflict(format!("cannot read the metainfo: {e}")))?;
                return Ok(Response::builder()
                    .header("content-type", "application/x-bittorrent")
                    .header(
                        "content-disposition",
                        format!("attachment; filename=\"{}.torrent\"", ih.to_hex()),
                    )
                    .body(Full::new(Bytes::from(bytes)))
                    .expect("static response"));
            }
            _ => return Err(WebError::NotFound),
        };
        Ok(json_resp(&v))
    }

    /// `torrents/add`: every `torrents` file part; URLs and magnets are
    /// refused (a seeder has no metadata to fetch them with).
    async fn add(&self, p: &Params) -> Result<Resp, WebError> {
        let api = &*self.api;
        let urls = p.get("urls").map(str::trim).unwrap_or("");
        if p.files.is_empty() {
            if !urls.is_empty() {
                tracing::info!(
                    "webui: torrents/add with urls refused: a seeder cannot fetch metadata"
                );
            }
            return Ok(text(StatusCode::OK, "Fails."));
        }
        let stopped = p.flag("stopped").or(p.flag("paused"));
        let skip_checking = p.flag("skip_checking").unwrap_or(false);
        let category = p.get("category").unwrap_or("").trim().to_string();
        let tags = split_tags(p.get("tags").unwrap_or(""));
        let auto_tmm = p.flag("autoTMM").unwrap_or(false);
        let layout = match (p.get("contentLayout"), p.flag("root_folder")) {
            (Some(l), _) => l.to_string(),
            (None, Some(true)) => "Subfolder".into(),
            (None, Some(false)) => "NoSubfolder".into(),
            (None, None) => "Original".into(),
        };
        let share_limits = p.float("ratioLimit").map(|r| {
            (
                r,
                mins_to_secs(p.int("seedingTimeLimit").unwrap_or(-2)),
                mins_to_secs(p.int("inactiveSeedingTimeLimit").unwrap_or(-2)),
            )
        });
        let up_limit = p.int("upLimit").filter(|l| *l > 0);
        let mut added = 0usize;
        let mut invalid: Option<String> = None;
        for f in &p.files {
            let torrent = match Api::parse_torrent(f.bytes.to_vec()) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(file = %f.filename, error = %e, "webui: torrents/add: not a valid torrent");
                    // qBittorrent's answer (4.5 and 5.1).
                    invalid = Some(format!(
                        "Error: '{}' is not a valid torrent file.",
                        f.filename
                    ));
                    continue;
                }
            };
            let mut save_path = p
                .get("savepath")
                .filter(|s| !s.trim().is_empty() && !auto_tmm)
                .map(PathBuf::from);
            match layout.as_str() {
                "Subfolder" if !torrent.meta.multi_file => {
                    // qBittorrent's subfolder for a single file: its name
                    // without the extension.
                    let stem = std::path::Path::new(&torrent.meta.name)
                        .file_stem()
                        .map(|s| s.to_owned())
                        .unwrap_or_default();
                    let base = match save_path.take() {
                        Some(b) => b,
                        None => api.save_path(None)?,
                    };
                    save_path = Some(base.join(stem));
                }
                "NoSubfolder" if torrent.meta.multi_file => {
                    tracing::warn!(torrent = %torrent.meta.name, "webui: torrents/add: contentLayout NoSubfolder is not supported for a multi-file torrent (ringseed reads SAVEPATH/NAME/…)");
                    continue;
                }
                _ => {}
            }
            let options = AddOptions {
                save_path,
                paused: stopped,
                props: TorrentProps {
                    upload_limit: up_limit,
                    ..Default::default()
                },
                ..Default::default()
            };
            let extras = ext::AddExtras {
                category: category.clone(),
                tags: tags.clone(),
                share_limits,
                skip_checking,
            };
            let name = torrent.meta.name.clone();
            match ext::add(api, torrent, options, extras).await {
                Ok(_) => added += 1,
                Err(ApiError::Command(CommandError::Duplicate)) => {
                    tracing::info!(torrent = %name, "webui: torrents/add: already in the session");
                }
                Err(e) => {
                    tracing::warn!(torrent = %name, error = %e, "webui: torrents/add failed");
                    if matches!(e, ApiError::Stopping) {
                        return Err(e.into());
                    }
                }
            }
        }
        if added > 0 {
            Ok(text(StatusCode::OK, "Ok."))
        } else if let Some(why) = invalid {
            Ok(text(StatusCode::UNSUPPORTED_MEDIA_TYPE, why))
        } else {
            Ok(text(StatusCode::OK, "Fails."))
        }
    }

    fn preferences(&self) -> Value {
        let view = self.api.view();
        let config = self.api.config();
        let max_peers = config.network.max_peers_per_shard * config.shard_count();
        let (ratio, seeding, inactive, act) = ext::global_limits(&view);
        let mins = |s: i64| if s < 0 { -1 } else { s / 60 };
        let banned: Vec<String> = self.banned.lock().iter().map(|ip| ip.to_string()).collect();
        let (addr, port) = match self.config.listen {
            crate::config::Endpoint::On(a) => (a.ip().to_string(), a.port()),
            crate::config::Endpoint::Off => (String::new(), 0),
        };
        let ours = json!({
            "add_stopped_enabled": !view.session.autostart,
            "add_to_top_of_queue": false,
            "add_trackers": "",
            "add_trackers_enabled": false,
            "alt_dl_limit": 0,
            "alt_up_limit": 0,
            "alternative_webui_enabled": false,
            "alternative_webui_path": "",
            "announce_ip": "",
            "announce_to_all_tiers": true,
            "announce_to_all_trackers": false,
            "anonymous_mode": false,
            "auto_delete_mode": 0,
            "auto_tmm_enabled": false,
            "autorun_enabled": false,
            "banned_IPs": banned.join("\n"),
            "bypass_auth_subnet_whitelist": "",
            "bypass_auth_subnet_whitelist_enabled": false,
            "bypass_local_auth": false,
            "category_changed_tmm_enabled": false,
            "connection_speed": 30,
            "dht": false,
            "dl_limit": view.session.download_limit.max(0),
            "dont_count_slow_torrents": false,
            "dyndns_enabled": false,
            "enable_piece_extent_affinity": false,
            "encryption": 0,
            "excluded_file_names": "",
            "excluded_file_names_enabled": false,
            "export_dir": "",
            "export_dir_fin": "",
            "incomplete_files_ext": false,
            "ip_filter_enabled": false,
            "ip_filter_path": "",
            "ip_filter_trackers": false,
            "limit_lan_peers": true,
            "limit_tcp_overhead": false,
            "limit_utp_rate": true,
            "listen_port": view.session.listen_port,
            "locale": "en",
            "lsd": false,
            "max_active_checking_torrents": 1,
            "max_active_downloads": -1,
            "max_active_torrents": -1,
            "max_active_uploads": -1,
            "max_connec": max_peers,
            "max_connec_per_torrent": -1,
            "max_inactive_seeding_time": mins(inactive),
            "max_inactive_seeding_time_enabled": inactive >= 0,
            "max_ratio": ratio,
            "max_ratio_act": act,
            "max_ratio_enabled": ratio >= 0.0,
            "max_seeding_time": mins(seeding),
            "max_seeding_time_enabled": seeding >= 0,
            "max_uploads": -1,
            "max_uploads_per_torrent": crate::config::DEFAULT_UPLOAD_SLOTS,
            "pex": false,
            "preallocate_all": false,
            "proxy_type": "None",
            "refresh_interval": 1500,
            "resolve_peer_countries": false,
            "upload_choking_algorithm": 1,
            "upload_slots_behavior": 0,
            "queueing_enabled": false,
            "random_port": false,
            "save_path": view.session.default_save_path.display().to_string(),
            "scan_dirs": {},
            "temp_path": "",
            "temp_path_enabled": false,
            "torrent_content_layout": "Original",
            "torrent_stop_condition": "None",
            "up_limit": view.session.upload_limit.max(0),
            "upnp": false,
            "use_https": false,
            "use_subcategories": false,
            "utp_tcp_mixed_mode": 0,
            "web_ui_address": addr,
            "web_ui_ban_duration": self.config.ban_secs,
            "web_ui_clickjacking_protection_enabled": true,
            "web_ui_csrf_protection_enabled": true,
            "web_ui_host_header_validation_enabled": true,
            "web_ui_max_auth_fail_count": self.config.max_auth_failures,
            "web_ui_port": port,
            "web_ui_secure_cookie_enabled": true,
            "web_ui_session_timeout": self.config.session_timeout_secs,
            "web_ui_upnp": false,
            "web_ui_use_custom_http_headers_enabled": false,
            "web_ui_username": "",
        });
        // Every key qBittorrent sends, neutral values (a download setting
        // means nothing to a seeder), then ours over them.
        let mut all: serde_json::Map<String, Value> =
            serde_json::from_str(include_str!("preferences-base.json")).expect("valid JSON");
        if let Value::Object(o) = ours {
            all.extend(o);
        }
        Value::Object(all)
    }

    /// `app/setPreferences` (`json=` an object): the keys a seeder honours
    /// are applied; the rest are accepted and ignored, as qBittorrent
    /// ignores unknown keys.
    async fn set_preferences(&self, p: &Params) -> Result<Resp, WebError> {
        let api = &*self.api;
        let body = p.get("json").ok_or(WebError::Missing("json"))?;
        let prefs: serde_json::Map<String, Value> =
            serde_json::from_str(body).map_err(|e| WebError::BadRequest(format!("json: {e}")))?;
        let view = api.view();
        let (mut ratio, mut seeding, mut inactive, mut act) = ext::global_limits(&view);
        let mut limits_changed = false;
        let num = |v: &Value| {
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        };
        for (k, v) in &prefs {
            match k.as_str() {
                "up_limit" => {
                    if let Some(l) = num(v) {
                        api.set_upload_limit(l as i64).await?;
                    }
                }
                "dl_limit" => {
                    if let Some(l) = num(v) {
                        api.set_session(crate::messages::SessionChange::DownloadLimit(l as i64))
                            .await?;
                    }
                }
                "save_path" => {
                    if let Some(s) = v.as_str().filter(|s| !s.is_empty()) {
                        let p = std::path::absolute(s).unwrap_or_else(|_| s.into());
                        api.set_session(crate::messages::SessionChange::DefaultSavePath(p))
                            .await?;
                    }
                }
                "add_stopped_enabled" | "start_paused_enabled" => {
                    if let Some(b) = v.as_bool() {
                        api.set_session(crate::messages::SessionChange::Autostart(!b))
                            .await?;
                    }
                }
                "listen_port" => {
                    if let Some(port) = num(v).filter(|p| (1.0..=65535.0).contains(p)) {
                        api.set_listen_port(port as u16).await?;
                    }
                }
                "banned_IPs" => {
                    let ips: Vec<IpAddr> = v
                        .as_str()
                        .unwrap_or("")
                        .split(['\n', ',', ';'])
                        .filter_map(|s| s.trim().parse().ok())
                        .collect();
                    self.ban(ips).await?;
                }
                "max_ratio_act" => {
                    if let Some(a) = num(v) {
                        act = a as i64;
                        limits_changed = true;
                    }
                }
                _ => {}
            }
        }
        // A limit whose `_enabled` is false is off (-1), whatever its value.
        let limit = |value: &str, enabled: &str| -> Option<f64> {
            if prefs.get(enabled).and_then(Value::as_bool) == Some(false) {
                return Some(-1.0);
            }
            prefs.get(value).and_then(num)
        };
        if let Some(r) = limit("max_ratio", "max_ratio_enabled") {
            ratio = r;
            limits_changed = true;
        }
        if let Some(m) = limit("max_seeding_time", "max_seeding_time_enabled") {
            seeding = mins_to_secs(m.floor() as i64);
            limits_changed = true;
        }
        if let Some(m) = limit(
            "max_inactive_seeding_time",
            "max_inactive_seeding_time_enabled",
        ) {
            inactive = mins_to_secs(m.floor() as i64);
            limits_changed = true;
        }
        if limits_changed {
            ext::set_global_limits(api, (ratio, seeding, inactive, act)).await?;
        }
        Ok(ok())
    }
}

/// Where `transfer/banPeers` bans are kept.
const BANNED_FILE: &str = "webui.banned";

/// Tags of a `tags` parameter: comma-separated, trimmed, empty ones dropped.
fn split_tags(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// `log/main`: the kept lines, filtered by kind (`normal`, `info`,
/// `warning`, `critical`, all on by default) after `last_known_id`.
/// qBittorrent's types: 1 normal, 2 info, 4 warning, 8 critical.
fn log_main(p: &Params) -> Value {
    let after = p.int("last_known_id").filter(|i| *i >= 0).map(|i| i as u64);
    let on = |k: &str| p.flag(k).unwrap_or(true);
    let lines: Vec<Value> = super::log::recent(after)
        .into_iter()
        .filter_map(|l| {
            let kind = match l.level {
                tracing::Level::ERROR => 8,
                tracing::Level::WARN => 4,
                _ => 1,
            };
            let wanted = match kind {
                8 => on("critical"),
                4 => on("warning"),
                _ => on("normal") || on("info"),
            };
            wanted.then(
                || json!({"id": l.id, "message": l.message, "timestamp": l.unix_ms, "type": kind}),
            )
        })
        .collect();
    Value::Array(lines)
}

/// An endpoint's failure, in qBittorrent's status codes.
#[derive(Debug)]
enum WebError {
    /// 400 `Missing required parameter`.
    Missing(&'static str),
    BadRequest(String),
    NotFound,
    Conflict(String),
    Api(ApiError),
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        WebError::Api(e)
    }
}

impl WebError {
    fn response(self) -> Resp {
        match self {
            WebError::Missing(what) => {
                refuse("bad_request");
                text(
                    StatusCode::BAD_REQUEST,
                    format!("Missing required parameter: {what}"),
                )
            }
            WebError::BadRequest(m) => {
                refuse("bad_request");
                text(StatusCode::BAD_REQUEST, m)
            }
            WebError::NotFound => text(StatusCode::NOT_FOUND, "Not Found"),
            WebError::Conflict(m) => text(StatusCode::CONFLICT, m),
            WebError::Api(ApiError::Command(CommandError::NotFound)) => {
                text(StatusCode::NOT_FOUND, "Not Found")
            }
            // qbit_manage reads this 409 and creates the category.
            WebError::Api(ApiError::Command(CommandError::UnknownCategory)) => {
                text(StatusCode::CONFLICT, "Incorrect category name")
            }
            WebError::Api(ApiError::Stopping) => {
                text(StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping")
            }
            WebError::Api(e) => text(StatusCode::CONFLICT, e.to_string()),
        }
    }
}

/// Starts the WebUI on `listener` (bound by the daemon).
///
/// Errors: the credentials cannot be loaded or made.
pub(crate) fn start(
    listener: std::net::TcpListener,
    api: Arc<Api>,
    config: &crate::config::Config,
    trackers: Rc<crate::tracker::Manager>,
) -> Result<(), String> {
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let server = Rc::new(WebUi::new(api, &config.webui, trackers, port)?);
    let limits = http::Limits::from_config(&config.rpc, config.webui.max_body_bytes);
    let addr = listener.local_addr().ok();
    let l = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
    {
        let server = server.clone();
        tokio::task::spawn_local(async move { server.restore_bans().await });
    }
    let check: http::Check = {
        let server = server.clone();
        Rc::new(move |head, _peer| server.check(head))
    };
    tokio::task::spawn_local(http::serve("webui", l, limits, check, move |req, peer| {
        server.clone().handle(req, peer)
    }));
    if let Some(a) = addr {
        tracing::info!("webui (qBittorrent WebUI API v2) on http://{a}/api/v2/");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_hosts_and_tags() {
        assert_eq!(
            url_host("http://127.0.0.1:8080/x?y"),
            Some("127.0.0.1:8080")
        );
        assert_eq!(url_host("https://evil.example"), Some("evil.example"));
        assert_eq!(url_host("nonsense"), None);
        assert_eq!(split_tags(" a, b ,,c"), vec!["a", "b", "c"]);
    }
}
