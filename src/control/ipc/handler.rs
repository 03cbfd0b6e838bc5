//! The messages mapped onto the session (0.80's `ipcparse.h` and the daemon's `server.c`, the daemon's
//! handlers in `daemon/server.c` @ 0.80), with ringseed's meanings:
//!
//! - reads come from the coordinator's per-second view; changes go through
//!   the control [`Api`] and are answered once the session on disk agrees
//!   (as the JSON-RPC);
//! - IPC torrent ids are per daemon process, from 1, never reused
//!   ([`crate::control::ids::Ids`], shared with Transmission's RPC): a torrent gets the next id when an IPC client first sees
//!   it, in queue order; removed and added again, it gets a new one;
//! - `info` and `status` answers are built in [`super::answers`];
//! - reply rules: set/action messages answer `succeeded` only when tagged,
//!   get messages always answer, `addfiles`/`addfile-detailed` always
//!   answer `info` on success, `quit` never answers; `not-supported`,
//!   `bad-format` and `failed` (value `""`) only when tagged.

use std::cell::RefCell;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::Sender;
use ringseed_proto::metainfo::InfoHash;

use super::answers::{self, AllCache};
use super::bencode::{self, dict, int, list, text, Ben, Out};
use super::proto::{self, Msg, Request};
use crate::control::api::{AddOptions, Api, ApiError};
use crate::coordinator::view::{TorrentView, View};
use crate::messages::{CommandError, SessionChange};

/// Largest .torrent file `addfiles` / `addfile-detailed` read, bytes.
pub(crate) const MAX_TORRENT_FILE_BYTES: u64 = 16 << 20;

/// What to do after a message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Send these bytes (one framed message).
    Reply(Vec<u8>),
    /// Nothing to send.
    Silent,
    /// The client asked the daemon to quit (never answered).
    Quit,
}

pub(super) fn count(kind: &'static str) {
    crate::tally::tally("ringseed_ipc_errors_total", [("kind", kind), ("", "")]);
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
pub(crate) fn kib_to_bytes(kib: i64) -> i64 {
    if kib > 0 {
        kib.saturating_mul(1024)
    } else {
        -1
    }
}

/// bytes/s → KiB/s for a client, rounded up (a set limit never reads as 0,
/// which would mean unlimited); -1 stays unlimited.
pub(crate) fn bytes_to_kib(bytes: i64) -> i64 {
    if bytes > 0 {
        (bytes as u64).div_ceil(1024) as i64
    } else {
        -1
    }
}

/// Everything the IPC handlers reach; one per daemon, shared by every
/// connection (the control thread is single-threaded).
pub(crate) struct Ipc {
    /// The session, its view and the trackers' state (the `trackers`,
    /// `tracker`, `scrape-*` and tracker `error` keys).
    api: Arc<Api>,
    /// Asks the supervisor to shut the daemon down (`quit`).
    pub(super) quit: Sender<String>,
    /// The last `get-info-all` / `get-status-all` answer, encoded.
    all_cache: RefCell<AllCache>,
}

/// The IPC's text of a failed operation (logged; the client gets `failed`).
fn why(e: ApiError) -> String {
    match e {
        ApiError::NoSavePath => {
            "no directory to save into: send \"directory\" first or set storage.data_dir".into()
        }
        e => e.to_string(),
    }
}

impl Ipc {
    /// Serves the IPC over `api`; `quit` reaches the supervisor.
    pub(crate) fn new(api: Arc<Api>, quit: Sender<String>) -> Self {
        Ipc {
            api,
            quit,
            all_cache: Default::default(),
        }
    }

    /// The latest view with ids synced.
    fn view(&self) -> Arc<View> {
        let v = self.api.view();
        self.api.ids().sync(&v);
        v
    }

    /// The info hashes of the listed ids that exist (non-integers, ids ≤ 0
    /// and unknown ids are skipped).
    fn hashes(&self, ids: &[Ben<'_>]) -> Vec<InfoHash> {
        let view = self.view();
        let known = self.api.ids();
        ids.iter()
            .filter_map(Ben::as_int)
            .filter(|i| *i > 0)
            .filter_map(|i| known.torrent(&view, i).map(|t| t.info_hash))
            .collect()
    }

    fn all_hashes(&self) -> Vec<InfoHash> {
        let view = self.view();
        let known = self.api.ids();
        known
            .all(&view)
            .into_iter()
            .map(|(_, t)| t.info_hash)
            .collect()
    }

    /// Adds a torrent (metainfo bytes) to the session; its IPC id.
    /// `directory` (non-empty) or the session's default save path;
    /// `autostart` or the session's.
    async fn add(
        &self,
        raw: Vec<u8>,
        directory: Option<PathBuf>,
        autostart: Option<bool>,
    ) -> Result<i64, String> {
        let torrent = Api::parse_torrent(raw).map_err(why)?;
        let options = AddOptions {
            save_path: directory,
            paused: autostart.map(|a| !a),
            ..Default::default()
        };
        let added = self.api.add_torrent(torrent, options).await.map_err(why)?;
        // The coordinator publishes the view before it answers.
        let view = self.view();
        let id = view
            .torrents
            .get(&added.info_hash)
            .and_then(|t| self.api.ids().id_of(t));
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
    pub(crate) async fn v1(&self, name: &[u8], value: &Ben<'_>) -> Action {
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
    pub(crate) async fn v2(&self, req: &Request<'_, '_>, version: i64) -> Action {
        let tag = req.tag;
        let Some(entry) = proto::lookup(req.name).filter(|e| e.served && e.min_version <= version)
        else {
            tracing::debug!(message = %req.name.escape_ascii(), "IPC message not supported");
            return refuse("not_supported", "not-supported", tag);
        };
        let name = entry.name;
        crate::tally::tally("ringseed_ipc_requests_total", [("message", name), ("", "")]);
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
                Some(k) => match self.api.set_upload_limit(kib_to_bytes(k)).await {
                    Ok(()) => ack(tag),
                    Err(e) => failed(name, &why(e), tag),
                },
                None => bad_format(name, "needs an integer", tag),
            },
            Msg::Port => match v.as_int() {
                Some(p) => self.port(p, tag).await,
                None => bad_format(name, "needs an integer", tag),
            },
            Msg::GetAutostart => answer(
                "autostart",
                int(self.api.view().session.autostart as i64),
                tag,
            ),
            Msg::GetDirectory => {
                let d = self.api.view().session.default_save_path.clone();
                answer(
                    "directory",
                    bencode::bytes(d.into_os_string().into_vec()),
                    tag,
                )
            }
            Msg::GetDownlimit => answer(
                "downlimit",
                int(bytes_to_kib(self.api.view().session.download_limit)),
                tag,
            ),
            Msg::GetUplimit => answer(
                "uplimit",
                int(bytes_to_kib(self.api.view().session.upload_limit)),
                tag,
            ),
            Msg::GetPort => answer("port", int(self.api.view().session.listen_port as i64), tag),
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
                let known = self.api.ids();
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
                let mask = answers::mask_of(info, types);
                let trackers = self.api.trackers();
                let value =
                    self.all_cache
                        .borrow_mut()
                        .get_or_build(&view, &trackers, info, mask, || {
                            let known = self.api.ids();
                            answers::items(
                                info,
                                &known.all(&view),
                                mask,
                                &view,
                                &trackers,
                                self.api.state_dir(),
                            )
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
                let known = self.api.ids();
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
        match self.api.set_session(change).await {
            Ok(()) => ack(tag),
            Err(e) => failed(name, &why(e), tag),
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
                self.api.remove(hashes, false).await.map_err(why)
            }
        } else {
            let mut r = Ok(());
            for ih in hashes {
                let out = match m {
                    Msg::Start => self.api.resume(ih).await,
                    _ => self.api.pause(ih).await,
                };
                match out {
                    // Removed meanwhile: as an unknown id, a no-op.
                    Err(ApiError::Command(CommandError::NotFound)) | Ok(()) => {}
                    Err(e @ ApiError::Stopping) => {
                        r = Err(why(e));
                        break;
                    }
                    Err(e) => r = Err(why(e)),
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
    /// bound like at start ([`Api::set_listen_port`]); a bind failure answers `failed`.
    async fn port(&self, port: i64, tag: Option<i64>) -> Action {
        if !(1..65535).contains(&port) {
            tracing::info!(port, "IPC port out of range 1..65534: ignored");
            return ack(tag);
        }
        match self.api.set_listen_port(port as u16).await {
            Ok(()) => ack(tag),
            Err(e) => failed("port", &why(e), tag),
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
        let mask = answers::mask_of(info, types);
        let trackers = self.api.trackers();
        let items = answers::items(info, chosen, mask, view, &trackers, self.api.state_dir());
        answer(if info { "info" } else { "status" }, items, tag)
    }
}

/// Reads a .torrent file named by a client: a regular file of at most
/// [`MAX_TORRENT_FILE_BYTES`] (a FIFO or device is refused before it is
/// opened, so a read cannot hang), off the control thread.
pub(crate) async fn read_torrent_file(path: &Path) -> Result<Vec<u8>, String> {
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
}
