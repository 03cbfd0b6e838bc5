//! The messages mapped onto the session (reference §3.4, the daemon's
//! handlers in `daemon/server.c` @ 0.80), with ringseed's meanings:
//!
//! - reads come from the coordinator's per-second view; changes go to the
//!   coordinator as [`ControlCommand`]s and are answered once the session
//!   on disk agrees (as the JSON-RPC);
//! - IPC torrent ids are per daemon process, from 1, never reused
//!   ([`Ids`]): a torrent gets the next id when an IPC client first sees
//!   it, in queue order; removed and added again, it gets a new one;
//! - reply rules: set/action messages answer `succeeded` only when tagged,
//!   get messages always answer, `addfiles`/`addfile-detailed` always
//!   answer `info` on success, `quit` never answers; `not-supported`,
//!   `bad-format` and `failed` (value `""`) only when tagged.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use crossbeam_channel::Sender;
use ringseed_proto::metainfo::{InfoHash, Metainfo};

use super::bencode::{self, dict, int, list, text, Ben, Out};
use super::proto::{self, Msg, Request};
use crate::config::Config;
use crate::coordinator::view::{latest, SharedView, TorrentView, View};
use crate::messages::{AddTorrent, CommandError, ControlCommand, Reply, SessionChange};
use crate::tracker::{SharedTrackers, TorrentTrackers, TrackersView};

/// Largest .torrent file `addfiles` / `addfile-detailed` read, bytes.
pub const MAX_TORRENT_FILE_BYTES: u64 = 16 << 20;

/// What to do after a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Send these bytes (one framed message).
    Reply(Vec<u8>),
    /// Nothing to send.
    Silent,
    /// The client asked the daemon to quit (never answered).
    Quit,
}

pub(super) fn count(kind: &'static str) {
    crate::control::metrics::tally("ringseed_ipc_errors_total", [("kind", kind), ("", "")]);
}

/// `name` with `""` when tagged, nothing otherwise.
fn tagged_only(name: &str, tag: Option<i64>) -> Action {
    match tag {
        Some(_) => Action::Reply(proto::status_reply(name, tag)),
        None => Action::Silent,
    }
}

fn ack(tag: Option<i64>) -> Action {
    tagged_only("succeeded", tag)
}

fn refuse(kind: &'static str, name: &str, tag: Option<i64>) -> Action {
    count(kind);
    tagged_only(name, tag)
}

fn bad_format(msg: &str, why: &str, tag: Option<i64>) -> Action {
    tracing::debug!(message = msg, "IPC bad-format: {why}");
    refuse("bad_format", "bad-format", tag)
}

fn failed(msg: &str, why: &str, tag: Option<i64>) -> Action {
    tracing::info!(message = msg, "IPC {msg} failed: {why}");
    refuse("failed", "failed", tag)
}

fn answer(name: &str, value: Out, tag: Option<i64>) -> Action {
    Action::Reply(proto::message(name, value, tag))
}

/// KiB/s from a client → bytes/s; 0 and negatives are unlimited (-1).
pub fn kib_to_bytes(kib: i64) -> i64 {
    if kib > 0 {
        kib.saturating_mul(1024)
    } else {
        -1
    }
}

/// bytes/s → KiB/s for a client, rounded up (a set limit never reads as 0,
/// which would mean unlimited); -1 stays unlimited.
pub fn bytes_to_kib(bytes: i64) -> i64 {
    if bytes > 0 {
        (bytes as u64).div_ceil(1024) as i64
    } else {
        -1
    }
}

/// IPC torrent ids: per daemon process, from 1, never reused. A torrent is
/// known by (info hash, queue position): removed and added again it has a
/// new queue position, so a new id.
#[derive(Default)]
pub struct Ids {
    last: i64,
    by_id: BTreeMap<i64, (InfoHash, u64)>,
    by_key: HashMap<(InfoHash, u64), i64>,
    /// The torrent map last synced with (skip when unchanged).
    seen: Option<Arc<BTreeMap<InfoHash, Arc<TorrentView>>>>,
}

impl Ids {
    /// Gives every torrent of `view` without an id the next ones, in
    /// queue order, and forgets torrents that are gone.
    pub fn sync(&mut self, view: &View) {
        if self
            .seen
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, &view.torrents))
        {
            return;
        }
        let here = |k: &(InfoHash, u64)| {
            view.torrents
                .get(&k.0)
                .is_some_and(|t| t.queue_position == k.1)
        };
        self.by_id.retain(|_, k| here(k));
        self.by_key.retain(|k, _| here(k));
        let mut new: Vec<&Arc<TorrentView>> = view
            .torrents
            .values()
            .filter(|t| !self.by_key.contains_key(&(t.info_hash, t.queue_position)))
            .collect();
        new.sort_by_key(|t| t.queue_position);
        for t in new {
            self.last += 1;
            let k = (t.info_hash, t.queue_position);
            self.by_id.insert(self.last, k);
            self.by_key.insert(k, self.last);
        }
        self.seen = Some(view.torrents.clone());
    }

    /// The torrent of an id, if it still exists in `view`.
    pub fn torrent<'v>(&self, view: &'v View, id: i64) -> Option<&'v Arc<TorrentView>> {
        let (ih, qp) = self.by_id.get(&id)?;
        view.torrents.get(ih).filter(|t| t.queue_position == *qp)
    }

    pub fn id_of(&self, t: &TorrentView) -> Option<i64> {
        self.by_key.get(&(t.info_hash, t.queue_position)).copied()
    }

    /// Every (id, torrent) of `view`, ascending id.
    pub fn all<'v>(&self, view: &'v View) -> Vec<(i64, &'v Arc<TorrentView>)> {
        self.by_id
            .keys()
            .filter_map(|id| self.torrent(view, *id).map(|t| (*id, t)))
            .collect()
    }
}

/// Info types (`get-info`), 0.80's `gl_inf`.
pub const INFO_KEYS: &[&str] = &[
    "comment", "creator", "date", "files", "hash", "id", "name", "path", "private", "saved",
    "size", "trackers",
];

/// Status types (`get-status`), 0.80's `gl_stat` (with `download-valid`,
/// which 0.80 has and the seed does not).
pub const STATUS_KEYS: &[&str] = &[
    "completed",
    "download-speed",
    "download-total",
    "download-valid",
    "error",
    "error-message",
    "eta",
    "id",
    "peers-downloading",
    "peers-from",
    "peers-total",
    "peers-uploading",
    "running",
    "scrape-completed",
    "scrape-leechers",
    "scrape-seeders",
    "state",
    "swarm-speed",
    "tracker",
    "upload-speed",
    "upload-total",
];

/// The requested keys as a bit set over `keys`; unknown names and
/// non-strings are ignored.
pub fn type_mask(types: &[Ben<'_>], keys: &[&str]) -> u32 {
    let mut m = 0;
    for t in types {
        if let Some(i) = t
            .as_str()
            .and_then(|s| keys.iter().position(|k| k.as_bytes() == s))
        {
            m |= 1 << i;
        }
    }
    m
}

fn has(mask: u32, keys: &[&str], key: &str) -> bool {
    keys.iter()
        .position(|k| *k == key)
        .is_some_and(|i| mask & (1 << i) != 0)
}

/// A tracker URL as 0.80's `trackers` entries show it: `address`, `port`,
/// `announce`, and `scrape` when the last path component starts with
/// "announce" (the scrape convention).
fn tracker_dict(url: &str) -> Out {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let hostport = authority.rsplit('@').next().unwrap_or("");
    let (host, port) = if let Some(r) = hostport.strip_prefix('[') {
        let (h, p) = r.split_once(']').unwrap_or((r, ""));
        (h, p.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let default_port = match scheme {
        "https" => 443,
        _ => 80,
    };
    let port = port
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(default_port);
    let mut pairs = vec![
        ("address", text(host)),
        ("announce", text(url)),
        ("port", int(port as i64)),
    ];
    let path_end = url.find('?').unwrap_or(url.len());
    if let Some(slash) = url[..path_end].rfind('/') {
        if url[slash + 1..].starts_with("announce") && slash > scheme.len() + 2 {
            let scrape = format!(
                "{}/scrape{}",
                &url[..slash],
                &url[slash + 1 + "announce".len()..]
            );
            pairs.push(("scrape", text(&scrape)));
        }
    }
    dict(pairs)
}

/// The torrent's tracker tiers as the tracker manager tries them (BEP 12:
/// each tier shuffled once, the tracker that answered moved to its front)
/// while the torrent announces; otherwise the metainfo's (`announce-list`,
/// else `announce`, duplicates dropped).
fn tiers(meta: &Metainfo, tr: Option<&TorrentTrackers>) -> Vec<Vec<String>> {
    match tr {
        Some(tr) if !tr.trackers.is_empty() => {
            let mut out: Vec<Vec<String>> = Vec::new();
            let mut last = None;
            for s in &tr.trackers {
                if last != Some(s.tier) {
                    out.push(Vec::new());
                    last = Some(s.tier);
                }
                if let Some(tier) = out.last_mut() {
                    tier.push(s.url.clone());
                }
            }
            out
        }
        _ => crate::tracker::tiers(meta),
    }
}

/// 0.80's current tracker (`tr_stat.tracker`): the one that answered last;
/// before any answer, the first one to be tried. `None` without trackers.
fn current_tracker(meta: &Metainfo, tr: Option<&TorrentTrackers>) -> Option<String> {
    tr.and_then(|x| x.current.clone())
        .or_else(|| tiers(meta, tr).into_iter().flatten().next())
}

/// The torrent's error as 0.80 names it: its own (a failed check) first;
/// then `tracker-error` when every tracker's last announce failed (the
/// message: the first tracker's error, e.g. "tracker says: …"), or
/// `tracker-warning` when the current tracker answered with a `warning
/// message`.
fn error_of(t: &TorrentView, tr: Option<&TorrentTrackers>) -> (&'static str, String) {
    if let Some(e) = t.error.as_deref() {
        return (error_name(e), e.to_string());
    }
    let Some(tr) = tr.filter(|x| !x.trackers.is_empty()) else {
        return ("", String::new());
    };
    if tr.trackers.iter().all(|s| s.fails > 0) {
        let first = tr.trackers.iter().find(|s| !s.last_error.is_empty());
        return (
            "tracker-error",
            first.map(|s| s.last_error.clone()).unwrap_or_default(),
        );
    }
    let warning = tr
        .current
        .as_deref()
        .and_then(|c| tr.trackers.iter().find(|s| s.url == c))
        .filter(|s| s.fails == 0 && !s.message.is_empty());
    match warning {
        Some(s) => ("tracker-warning", s.message.clone()),
        None => ("", String::new()),
    }
}

/// One torrent of an `info` answer (reference §3.5; `comment` and
/// `creator` always present, `""` when absent, as 0.80; `date` left out
/// when unknown).
pub fn info_dict(
    t: &TorrentView,
    id: i64,
    mask: u32,
    state_dir: &Path,
    tr: Option<&TorrentTrackers>,
) -> Out {
    let m = &t.meta;
    let on = |k| has(mask, INFO_KEYS, k);
    let mut p: Vec<(&str, Out)> = vec![("id", int(id))];
    if on("comment") {
        p.push(("comment", text(m.comment.as_deref().unwrap_or(""))));
    }
    if on("creator") {
        p.push(("creator", text(m.created_by.as_deref().unwrap_or(""))));
    }
    if on("date") {
        if let Some(d) = m.creation_date.filter(|d| *d > 0) {
            p.push(("date", int(d)));
        }
    }
    if on("files") {
        // Content files as a client shows them (name/… for a multi-file
        // torrent); BEP 47 pad files are not content and are left out.
        let files = m
            .files
            .iter()
            .filter(|f| !f.pad)
            .map(|f| {
                dict([
                    ("name", text(&f.path.join("/"))),
                    ("size", int(f.length as i64)),
                ])
            })
            .collect();
        p.push(("files", list(files)));
    }
    if on("hash") {
        p.push(("hash", text(&t.info_hash.to_hex())));
    }
    if on("name") {
        p.push(("name", text(&m.name)));
    }
    if on("path") {
        // The session keeps the metainfo as added: that copy is the path.
        let path = crate::session::store::torrent_file_path(state_dir, &t.info_hash);
        p.push(("path", bencode::bytes(path.into_os_string().into_vec())));
    }
    if on("private") {
        p.push(("private", int(m.private as i64)));
    }
    if on("saved") {
        p.push(("saved", int(1)));
    }
    if on("size") {
        p.push(("size", int(m.lengths.total_length() as i64)));
    }
    if on("trackers") {
        let tiers = tiers(m, tr)
            .iter()
            .map(|tier| list(tier.iter().map(|u| tracker_dict(u)).collect()))
            .collect();
        p.push(("trackers", list(tiers)));
    }
    dict(p)
}

/// 0.80's error names from the errno of a failed check
/// (`tr_ioErrorFromErrno`); "other" when there is no errno.
pub fn error_name(message: &str) -> &'static str {
    let errno = message.rfind("os error ").and_then(|i| {
        let rest = &message[i + "os error ".len()..];
        rest[..rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len())]
            .parse::<i32>()
            .ok()
    });
    match errno {
        Some(libc::ENOENT | libc::ENOTDIR) => "io-parent",
        Some(libc::EACCES | libc::EROFS | libc::EPERM) => "io-permissions",
        Some(libc::ENOSPC) => "io-space",
        Some(libc::EFBIG) => "io-file-too-big",
        Some(libc::EMFILE | libc::ENFILE) => "io-open-files",
        Some(_) => "io-other",
        None => "other",
    }
}

/// One torrent of a `status` answer (reference §3.5 with ringseed's
/// meanings: a seed downloads nothing, so download speeds, totals and
/// `peers-uploading` are 0 and `eta` is -1). `tr` is the torrent's tracker
/// state: `tracker` is the current tracker's dict (`{}` without trackers),
/// the scrape counts are the swarm as the trackers last reported it (-1
/// unknown), and tracker failures show in `error`.
pub fn status_dict(
    t: &TorrentView,
    id: i64,
    mask: u32,
    view: &View,
    tr: Option<&TorrentTrackers>,
) -> Out {
    let on = |k| has(mask, STATUS_KEYS, k);
    let peers = view.peers.get(&t.info_hash);
    let peers = peers.map(|v| v.as_slice()).unwrap_or(&[]);
    let stopped = t.paused || t.state == "error";
    let mut p: Vec<(&str, Out)> = vec![("id", int(id))];
    let mut put = |k: &'static str, v: &dyn Fn() -> Out| {
        if on(k) {
            p.push((k, v()));
        }
    };
    put("completed", &|| int(t.bytes_have as i64));
    put("download-speed", &|| int(0));
    put("download-total", &|| {
        int(peers.iter().map(|p| p.downloaded).sum::<u64>() as i64)
    });
    put("download-valid", &|| int(0));
    put("error", &|| text(error_of(t, tr).0));
    put("error-message", &|| text(&error_of(t, tr).1));
    put("eta", &|| int(-1));
    put("peers-downloading", &|| int(t.unchoked as i64));
    put("peers-from", &|| {
        use crate::messages::source;
        let n = |s: u8| int(peers.iter().filter(|p| p.source == s).count() as i64);
        dict([
            ("cache", int(0)),
            ("incoming", n(source::INCOMING)),
            ("pex", int(0)),
            ("tracker", n(source::TRACKER)),
        ])
    });
    put("peers-total", &|| int(t.peers as i64));
    put("peers-uploading", &|| int(0));
    put("running", &|| int(!stopped as i64));
    let swarm = tr.and_then(|x| x.swarm);
    put("scrape-completed", &|| {
        int(swarm.map_or(-1, |s| s.downloaded))
    });
    put("scrape-leechers", &|| {
        int(swarm.map_or(-1, |s| s.incomplete))
    });
    put("scrape-seeders", &|| int(swarm.map_or(-1, |s| s.complete)));
    put("state", &|| {
        text(match t.state {
            "checking" => "checking",
            _ if stopped => "paused",
            _ => "seeding",
        })
    });
    put("swarm-speed", &|| int(t.upload_rate as i64));
    put("tracker", &|| match current_tracker(&t.meta, tr) {
        Some(url) => tracker_dict(&url),
        None => dict(Vec::<(&str, Out)>::new()),
    });
    put("upload-speed", &|| int(t.upload_rate as i64));
    put("upload-total", &|| int(t.uploaded_total as i64));
    dict(p)
}

/// Everything the IPC handlers reach; one per daemon, shared by every
/// connection (the control thread is single-threaded).
pub struct Ipc {
    pub config: Arc<Config>,
    pub view: SharedView,
    pub commands: Sender<ControlCommand>,
    pub state_dir: PathBuf,
    /// Asks the supervisor to shut the daemon down (`quit`).
    pub quit: Sender<String>,
    pub ids: RefCell<Ids>,
    /// The tracker manager's state (the `trackers`, `tracker`, `scrape-*`
    /// and tracker `error` keys).
    pub trackers: SharedTrackers,
    /// The last `get-info-all` / `get-status-all` answer value, encoded,
    /// with the view and key mask it was built from: every client polling
    /// the same keys within a view's second gets these bytes instead of a
    /// fresh encoding (16 ms for 1,000 torrents with every status key).
    pub all_cache: RefCell<Option<AllAnswer>>,
}

/// An encoded `get-*-all` answer value and what it was built from.
pub struct AllAnswer {
    view: Arc<View>,
    /// The tracker state it was built from (published once a second too).
    trackers: Arc<TrackersView>,
    info: bool,
    mask: u32,
    value: Rc<Vec<u8>>,
}

/// The daemon is stopping: the coordinator is gone.
const STOPPING: &str = "the daemon is stopping";

impl Ipc {
    /// The latest view with ids synced.
    fn view(&self) -> Arc<View> {
        let v = latest(&self.view);
        self.ids.borrow_mut().sync(&v);
        v
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> ControlCommand) -> Result<T, String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.commands
            .send(make(tx))
            .map_err(|_| STOPPING.to_string())?;
        rx.await.map_err(|_| STOPPING.to_string())
    }

    async fn command(
        &self,
        make: impl FnOnce(Reply<Result<(), CommandError>>) -> ControlCommand,
    ) -> Result<(), String> {
        self.ask(make).await?.map_err(|e| e.to_string())
    }

    /// The info hashes of the listed ids that exist (non-integers, ids ≤ 0
    /// and unknown ids are skipped).
    fn hashes(&self, ids: &[Ben<'_>]) -> Vec<InfoHash> {
        let view = self.view();
        let known = self.ids.borrow();
        ids.iter()
            .filter_map(Ben::as_int)
            .filter(|i| *i > 0)
            .filter_map(|i| known.torrent(&view, i).map(|t| t.info_hash))
            .collect()
    }

    fn all_hashes(&self) -> Vec<InfoHash> {
        let view = self.view();
        let known = self.ids.borrow();
        known
            .all(&view)
            .into_iter()
            .map(|(_, t)| t.info_hash)
            .collect()
    }

    /// Adds a torrent (metainfo bytes) to the session; its IPC id.
    async fn add(
        &self,
        raw: Vec<u8>,
        directory: Option<PathBuf>,
        autostart: Option<bool>,
    ) -> Result<i64, String> {
        let meta = Metainfo::from_bytes(&raw).map_err(|e| format!("invalid torrent: {e}"))?;
        let view = latest(&self.view);
        let save = directory.unwrap_or_else(|| view.session.default_save_path.clone());
        if save.as_os_str().is_empty() {
            return Err(
                "no directory to save into: send \"directory\" first or set storage.data_dir"
                    .into(),
            );
        }
        let save = std::path::absolute(&save).unwrap_or(save);
        let paused = !autostart.unwrap_or(view.session.autostart);
        let add = AddTorrent {
            meta: Arc::new(meta),
            raw: Arc::from(raw),
            save_path: save,
            paused,
            props: Default::default(),
        };
        let ih = self
            .ask(|r| ControlCommand::Add(Box::new(add), r))
            .await?
            .map_err(|e| e.to_string())?;
        // The coordinator publishes the view before it answers.
        let view = self.view();
        let id = view
            .torrents
            .get(&ih)
            .and_then(|t| self.ids.borrow().id_of(t));
        id.ok_or_else(|| "added, then removed at once".into())
    }

    /// `addfiles` (v1 and v2): each path added; the ids of those added.
    async fn add_paths(&self, paths: &[Ben<'_>]) -> Vec<i64> {
        let mut ids = Vec::new();
        for p in paths {
            let Some(p) = p.as_str() else { continue };
            let path = PathBuf::from(std::ffi::OsStr::from_bytes(p));
            let r = match read_torrent_file(&path).await {
                Ok(raw) => self.add(raw, None, None).await,
                Err(e) => Err(e),
            };
            match r {
                Ok(id) => ids.push(id),
                Err(e) => {
                    count("add_failed");
                    tracing::info!(path = %path.display(), "IPC addfiles: not added: {e}");
                }
            }
        }
        ids
    }

    /// A v1 message (one key of the dictionary): only `addfiles` (added,
    /// never answered: a v1 connection gets no replies) and `quit` do anything.
    pub async fn v1(&self, name: &[u8], value: &Ben<'_>) -> Action {
        match proto::lookup(name).map(|e| e.msg) {
            Some(Msg::Addfiles) => {
                if let Some(paths) = value.as_list() {
                    self.add_paths(paths).await;
                }
                Action::Silent
            }
            Some(Msg::Quit) => Action::Quit,
            _ => Action::Silent,
        }
    }

    /// A v2 message.
    pub async fn v2(&self, req: &Request<'_, '_>, version: i64) -> Action {
        let tag = req.tag;
        let Some(entry) = proto::lookup(req.name).filter(|e| e.served && e.min_version <= version)
        else {
            tracing::debug!(message = %req.name.escape_ascii(), "IPC message not supported");
            return refuse("not_supported", "not-supported", tag);
        };
        let name = entry.name;
        crate::control::metrics::tally(
            "ringseed_ipc_requests_total",
            [("message", name), ("", "")],
        );
        let v = req.value;
        match entry.msg {
            Msg::Addfiles => {
                let Some(paths) = v.as_list() else {
                    return bad_format(name, "needs a list of paths", tag);
                };
                let ids = self.add_paths(paths).await;
                answer(
                    "info",
                    list(ids.into_iter().map(|i| dict([("id", int(i))])).collect()),
                    tag,
                )
            }
            Msg::AddfileDetailed => {
                if !matches!(v, Ben::Dict(_)) {
                    return bad_format(name, "needs a dictionary", tag);
                }
                let raw = match (
                    v.get(b"data").and_then(Ben::as_str),
                    v.get(b"file").and_then(Ben::as_str),
                ) {
                    (Some(data), _) => Ok(data.to_vec()),
                    (None, Some(file)) => {
                        read_torrent_file(Path::new(std::ffi::OsStr::from_bytes(file))).await
                    }
                    (None, None) => {
                        return bad_format(name, "needs \"file\" or \"data\" (a string)", tag)
                    }
                };
                let directory = v
                    .get(b"directory")
                    .and_then(Ben::as_str)
                    .filter(|d| !d.is_empty())
                    .map(|d| PathBuf::from(std::ffi::OsStr::from_bytes(d)));
                let autostart = v.get(b"autostart").and_then(Ben::as_int).map(|a| a != 0);
                let r = match raw {
                    Ok(raw) => self.add(raw, directory, autostart).await,
                    Err(e) => Err(e),
                };
                match r {
                    Ok(id) => answer("info", list(vec![dict([("id", int(id))])]), tag),
                    Err(e) => failed(name, &e, tag),
                }
            }
            Msg::Autostart => match v.as_int() {
                Some(a) => self.set(name, SessionChange::Autostart(a != 0), tag).await,
                None => bad_format(name, "needs an integer", tag),
            },
            Msg::Directory => match v.as_str().filter(|d| !d.is_empty()) {
                Some(d) => {
                    let d = PathBuf::from(std::ffi::OsStr::from_bytes(d));
                    let d = std::path::absolute(&d).unwrap_or(d);
                    self.set(name, SessionChange::DefaultSavePath(d), tag).await
                }
                None => bad_format(name, "needs a non-empty string", tag),
            },
            Msg::Downlimit => match v.as_int() {
                Some(k) => {
                    self.set(name, SessionChange::DownloadLimit(kib_to_bytes(k)), tag)
                        .await
                }
                None => bad_format(name, "needs an integer", tag),
            },
            Msg::Uplimit => match v.as_int() {
                Some(k) => {
                    let limit = kib_to_bytes(k);
                    match self
                        .command(|r| ControlCommand::SetUploadLimit(limit, r))
                        .await
                    {
                        Ok(()) => ack(tag),
                        Err(e) => failed(name, &e, tag),
                    }
                }
                None => bad_format(name, "needs an integer", tag),
            },
            Msg::Port => match v.as_int() {
                Some(p) => self.port(p, tag).await,
                None => bad_format(name, "needs an integer", tag),
            },
            Msg::GetAutostart => answer(
                "autostart",
                int(latest(&self.view).session.autostart as i64),
                tag,
            ),
            Msg::GetDirectory => {
                let d = latest(&self.view).session.default_save_path.clone();
                answer(
                    "directory",
                    bencode::bytes(d.into_os_string().into_vec()),
                    tag,
                )
            }
            Msg::GetDownlimit => answer(
                "downlimit",
                int(bytes_to_kib(latest(&self.view).session.download_limit)),
                tag,
            ),
            Msg::GetUplimit => answer(
                "uplimit",
                int(bytes_to_kib(latest(&self.view).session.upload_limit)),
                tag,
            ),
            Msg::GetPort => answer(
                "port",
                int(latest(&self.view).session.listen_port as i64),
                tag,
            ),
            Msg::GetInfo | Msg::GetStatus => {
                let Some(ids) = v.get(b"id").and_then(Ben::as_list) else {
                    return bad_format(name, "needs \"id\": a list of ids", tag);
                };
                // Spec, not 0.80: a missing "type" returns the ids alone.
                let types = match v.get(b"type") {
                    None => &[][..],
                    Some(Ben::List(t)) => t.as_slice(),
                    Some(_) => return bad_format(name, "\"type\" must be a list", tag),
                };
                let view = self.view();
                let known = self.ids.borrow();
                let chosen: Vec<(i64, &Arc<TorrentView>)> = ids
                    .iter()
                    .filter_map(Ben::as_int)
                    .filter(|i| *i > 0)
                    .filter_map(|i| known.torrent(&view, i).map(|t| (i, t)))
                    .collect();
                self.describe(entry.msg == Msg::GetInfo, &chosen, types, &view, tag)
            }
            Msg::GetInfoAll | Msg::GetStatusAll => {
                let Some(types) = v.as_list() else {
                    return bad_format(name, "needs a list of types", tag);
                };
                let view = self.view();
                let info = entry.msg == Msg::GetInfoAll;
                let mask = if info {
                    type_mask(types, INFO_KEYS)
                } else {
                    type_mask(types, STATUS_KEYS)
                };
                let trackers = self.trackers.read().clone();
                let cached = self.all_cache.borrow().as_ref().and_then(|c| {
                    (Arc::ptr_eq(&c.view, &view)
                        && Arc::ptr_eq(&c.trackers, &trackers)
                        && c.info == info
                        && c.mask == mask)
                        .then(|| c.value.clone())
                });
                let value = cached.unwrap_or_else(|| {
                    let known = self.ids.borrow();
                    let value = Rc::new(bencode::encode(&self.items(
                        info,
                        &known.all(&view),
                        mask,
                        &view,
                        &trackers,
                    )));
                    *self.all_cache.borrow_mut() = Some(AllAnswer {
                        view: view.clone(),
                        trackers: trackers.clone(),
                        info,
                        mask,
                        value: value.clone(),
                    });
                    value
                });
                Action::Reply(proto::message_raw(
                    if info { "info" } else { "status" },
                    &value,
                    tag,
                ))
            }
            Msg::Lookup => {
                let Some(hashes) = v.as_list() else {
                    return bad_format(name, "needs a list of info hashes", tag);
                };
                if !hashes
                    .iter()
                    .all(|h| h.as_str().is_some_and(|s| s.len() == 40))
                {
                    return bad_format(name, "every info hash must be a 40-character string", tag);
                }
                let view = self.view();
                let known = self.ids.borrow();
                let found = hashes
                    .iter()
                    .filter_map(|h| std::str::from_utf8(h.as_str()?).ok())
                    .filter_map(InfoHash::from_hex)
                    .filter_map(|ih| view.torrents.get(&ih))
                    .filter_map(|t| {
                        known.id_of(t).map(|id| {
                            dict([("hash", text(&t.info_hash.to_hex())), ("id", int(id))])
                        })
                    })
                    .collect();
                answer("info", list(found), tag)
            }
            Msg::GetSupported => {
                let Some(names) = v.as_list() else {
                    return bad_format(name, "needs a list of message names", tag);
                };
                if !names.iter().all(|n| n.as_str().is_some()) {
                    return bad_format(name, "every message name must be a string", tag);
                }
                let served = names
                    .iter()
                    .filter_map(Ben::as_str)
                    .filter(|n| proto::supported(n, version))
                    .map(|n| bencode::bytes(n))
                    .collect();
                answer("supported", list(served), tag)
            }
            Msg::Noop => ack(tag),
            Msg::Quit => Action::Quit,
            Msg::Remove | Msg::Start | Msg::Stop => {
                let Some(ids) = v.as_list() else {
                    return bad_format(name, "needs a list of torrent ids", tag);
                };
                let hashes = self.hashes(ids);
                self.apply(entry.msg, hashes, tag).await
            }
            Msg::RemoveAll | Msg::StartAll | Msg::StopAll => {
                let hashes = self.all_hashes();
                let m = match entry.msg {
                    Msg::RemoveAll => Msg::Remove,
                    Msg::StartAll => Msg::Start,
                    _ => Msg::Stop,
                };
                self.apply(m, hashes, tag).await
            }
            _ => refuse("not_supported", "not-supported", tag),
        }
    }

    async fn set(&self, name: &str, change: SessionChange, tag: Option<i64>) -> Action {
        match self
            .command(|r| ControlCommand::SetSession(change, r))
            .await
        {
            Ok(()) => ack(tag),
            Err(e) => failed(name, &e, tag),
        }
    }

    /// `start`, `stop` or `remove` of torrents (data stays on remove).
    async fn apply(&self, m: Msg, hashes: Vec<InfoHash>, tag: Option<i64>) -> Action {
        let name = match m {
            Msg::Remove => "remove",
            Msg::Start => "start",
            _ => "stop",
        };
        let r = if m == Msg::Remove {
            if hashes.is_empty() {
                Ok(())
            } else {
                self.command(|r| ControlCommand::Remove {
                    info_hashes: hashes,
                    remove_data: false,
                    reply: r,
                })
                .await
            }
        } else {
            let mut r = Ok(());
            for ih in hashes {
                let out = self
                    .ask(|reply| match m {
                        Msg::Start => ControlCommand::Resume(ih, reply),
                        _ => ControlCommand::Pause(ih, reply),
                    })
                    .await;
                match out {
                    // Removed meanwhile: as an unknown id, a no-op.
                    Ok(Err(CommandError::NotFound)) | Ok(Ok(())) => {}
                    Ok(Err(e)) => r = Err(e.to_string()),
                    Err(e) => {
                        r = Err(e);
                        break;
                    }
                }
            }
            r
        };
        match r {
            Ok(()) => ack(tag),
            Err(e) => failed(name, &e, tag),
        }
    }

    /// `port`: applied when 0 < port < 65535 (others are ignored and still
    /// acknowledged, as 0.80); every shard gets a listener on the new port,
    /// bound here like at start; a bind failure answers `failed`.
    async fn port(&self, port: i64, tag: Option<i64>) -> Action {
        if !(1..65535).contains(&port) {
            tracing::info!(port, "IPC port out of range 1..65534: ignored");
            return ack(tag);
        }
        let port = port as u16;
        if latest(&self.view).session.listen_port == port {
            return ack(tag);
        }
        let addr = std::net::SocketAddr::new(self.config.network.listen.ip(), port);
        let listeners = match crate::daemon::bind_listeners(addr, self.config.shard_count()) {
            Ok((l, _)) => l,
            Err(e) => return failed("port", &e.to_string(), tag),
        };
        match self
            .command(|r| ControlCommand::Listen {
                port,
                listeners,
                reply: r,
            })
            .await
        {
            Ok(()) => ack(tag),
            Err(e) => failed("port", &e, tag),
        }
    }

    /// An `info` or `status` answer for `chosen`, in that order.
    fn describe(
        &self,
        info: bool,
        chosen: &[(i64, &Arc<TorrentView>)],
        types: &[Ben<'_>],
        view: &View,
        tag: Option<i64>,
    ) -> Action {
        let mask = if info {
            type_mask(types, INFO_KEYS)
        } else {
            type_mask(types, STATUS_KEYS)
        };
        let trackers = self.trackers.read().clone();
        let items = self.items(info, chosen, mask, view, &trackers);
        answer(if info { "info" } else { "status" }, items, tag)
    }

    /// The list of info or status dictionaries of `chosen` (keys in `mask`).
    fn items(
        &self,
        info: bool,
        chosen: &[(i64, &Arc<TorrentView>)],
        mask: u32,
        view: &View,
        trackers: &TrackersView,
    ) -> Out {
        let tr = |t: &TorrentView| trackers.torrents.get(&t.info_hash).map(|x| &**x);
        list(if info {
            chosen
                .iter()
                .map(|(id, t)| info_dict(t, *id, mask, &self.state_dir, tr(t)))
                .collect()
        } else {
            chosen
                .iter()
                .map(|(id, t)| status_dict(t, *id, mask, view, tr(t)))
                .collect()
        })
    }
}

/// Reads a .torrent file named by a client: a regular file of at most
/// [`MAX_TORRENT_FILE_BYTES`] (a FIFO or device is refused before it is
/// opened, so a read cannot hang), off the control thread.
pub async fn read_torrent_file(path: &Path) -> Result<Vec<u8>, String> {
    use tokio::io::AsyncReadExt;
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let md = tokio::fs::metadata(path).await.map_err(err)?;
    if !md.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    if md.len() > MAX_TORRENT_FILE_BYTES {
        return Err(format!(
            "{}: {} bytes, over the {MAX_TORRENT_FILE_BYTES}-byte limit of a .torrent",
            path.display(),
            md.len()
        ));
    }
    let f = tokio::fs::File::open(path).await.map_err(err)?;
    let mut raw = Vec::new();
    f.take(MAX_TORRENT_FILE_BYTES + 1)
        .read_to_end(&mut raw)
        .await
        .map_err(err)?;
    if raw.len() as u64 > MAX_TORRENT_FILE_BYTES {
        return Err(format!("{}: over the .torrent size limit", path.display()));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_convert_between_kib_and_bytes() {
        assert_eq!(kib_to_bytes(20), 20480);
        assert_eq!(kib_to_bytes(0), -1);
        assert_eq!(kib_to_bytes(-5), -1);
        assert_eq!(kib_to_bytes(i64::MAX), i64::MAX);
        assert_eq!(bytes_to_kib(20480), 20);
        assert_eq!(bytes_to_kib(50_000_000), 48829);
        assert_eq!(bytes_to_kib(1), 1);
        assert_eq!(bytes_to_kib(-1), -1);
    }

    #[test]
    fn tracker_urls_become_0_80_tracker_dicts() {
        let e = |u| String::from_utf8(bencode::encode(&tracker_dict(u))).unwrap();
        let s = |t: &str| format!("{}:{t}", t.len());
        let url = "http://tracker.example:6969/announce";
        assert_eq!(
            e(url),
            format!(
                "d7:address{}8:announce{}4:porti6969e6:scrape{}e",
                s("tracker.example"),
                s(url),
                s("http://tracker.example:6969/scrape")
            )
        );
        let url = "https://t.example/x/announce.php?k=1";
        assert_eq!(
            e(url),
            format!(
                "d7:address{}8:announce{}4:porti443e6:scrape{}e",
                s("t.example"),
                s(url),
                s("https://t.example/x/scrape.php?k=1")
            )
        );
        let url = "udp://[::1]:1337";
        assert_eq!(
            e(url),
            format!("d7:address{}8:announce{}4:porti1337ee", s("::1"), s(url))
        );
    }

    #[test]
    fn errors_get_0_80_names_from_their_errno() {
        assert_eq!(
            error_name("x.bin: No such file or directory (os error 2)"),
            "io-parent"
        );
        assert_eq!(
            error_name("Permission denied (os error 13)"),
            "io-permissions"
        );
        assert_eq!(
            error_name("No space left on device (os error 28)"),
            "io-space"
        );
        assert_eq!(
            error_name("Too many open files (os error 24)"),
            "io-open-files"
        );
        assert_eq!(error_name("Input/output error (os error 5)"), "io-other");
        assert_eq!(error_name("size mismatch"), "other");
    }

    #[test]
    fn types_outside_the_table_and_non_strings_are_ignored() {
        let types = [
            Ben::Str(b"hash"),
            Ben::Str(b"bogus"),
            Ben::Int(7),
            Ben::Str(b"name"),
        ];
        let m = type_mask(&types, INFO_KEYS);
        assert!(has(m, INFO_KEYS, "hash") && has(m, INFO_KEYS, "name"));
        assert_eq!(m.count_ones(), 2);
    }
}
