//! The `info` and `status` answers (0.80's `ipc_addinfo`/`ipc_addstat` in `ipcparse.c`, 0.80's `gl_inf` and
//! `gl_stat`): one dictionary per torrent holding the keys a client asked
//! for, built from the view and the trackers' state, and the cache of the
//! last `get-info-all` / `get-status-all` answer.

use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use ringseed_proto::metainfo::Metainfo;

use super::bencode::{self, dict, int, list, text, Ben, Out};
use crate::coordinator::view::{TorrentView, View};
use crate::messages::IoFailure;
use crate::torrent::TorrentState;
use crate::tracker::{TorrentTrackers, TrackersView};

/// Info types (`get-info`), 0.80's `gl_inf`.
pub(crate) const INFO_KEYS: &[&str] = &[
    "comment", "creator", "date", "files", "hash", "id", "name", "path", "private", "saved",
    "size", "trackers",
];

/// Status types (`get-status`), 0.80's `gl_stat` (with `download-valid`,
/// which 0.80 has and the seed does not).
pub(crate) const STATUS_KEYS: &[&str] = &[
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
pub(crate) fn type_mask(types: &[Ben<'_>], keys: &[&str]) -> u32 {
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
    if let Some(e) = &t.error {
        return (error_name(e), e.message.clone());
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

/// One torrent of an `info` answer (0.80's `ipc_addinfo`/`ipc_addstat` in `ipcparse.c`; `comment` and
/// `creator` always present, `""` when absent, as 0.80; `date` left out
/// when unknown).
pub(crate) fn info_dict(
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
pub(crate) fn error_name(error: &IoFailure) -> &'static str {
    match error.errno {
        Some(libc::ENOENT | libc::ENOTDIR) => "io-parent",
        Some(libc::EACCES | libc::EROFS | libc::EPERM) => "io-permissions",
        Some(libc::ENOSPC) => "io-space",
        Some(libc::EFBIG) => "io-file-too-big",
        Some(libc::EMFILE | libc::ENFILE) => "io-open-files",
        Some(_) => "io-other",
        None => "other",
    }
}

/// One torrent of a `status` answer (0.80's `ipc_addinfo`/`ipc_addstat` in `ipcparse.c` with ringseed's
/// meanings: a seed downloads nothing, so download speeds, totals and
/// `peers-uploading` are 0 and `eta` is -1). `tr` is the torrent's tracker
/// state: `tracker` is the current tracker's dict (`{}` without trackers),
/// the scrape counts are the swarm as the trackers last reported it (-1
/// unknown), and tracker failures show in `error`.
pub(crate) fn status_dict(
    t: &TorrentView,
    id: i64,
    mask: u32,
    view: &View,
    tr: Option<&TorrentTrackers>,
) -> Out {
    let on = |k| has(mask, STATUS_KEYS, k);
    let peers = view.peers.get(&t.info_hash);
    let peers = peers.map(|v| v.as_slice()).unwrap_or(&[]);
    let stopped = t.paused || t.state == TorrentState::Error;
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
        use crate::messages::PeerSource;
        let n = |s| int(peers.iter().filter(|p| p.source == s).count() as i64);
        dict([
            ("cache", int(0)),
            ("incoming", n(PeerSource::INCOMING)),
            ("pex", int(0)),
            ("tracker", n(PeerSource::TRACKER)),
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
            TorrentState::Checking => "checking",
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

/// The requested keys of an `info` (`info`) or `status` answer as a bit set.
pub(crate) fn mask_of(info: bool, types: &[Ben<'_>]) -> u32 {
    if info {
        type_mask(types, INFO_KEYS)
    } else {
        type_mask(types, STATUS_KEYS)
    }
}

/// The list of info (`info`) or status dictionaries of `chosen`, in that
/// order, with the keys in `mask`; `state_dir` is the session's (the
/// `path` of a torrent).
pub(crate) fn items(
    info: bool,
    chosen: &[(i64, &Arc<TorrentView>)],
    mask: u32,
    view: &View,
    trackers: &TrackersView,
    state_dir: &Path,
) -> Out {
    let tr = |t: &TorrentView| trackers.torrents.get(&t.info_hash).map(|x| &**x);
    list(if info {
        chosen
            .iter()
            .map(|(id, t)| info_dict(t, *id, mask, state_dir, tr(t)))
            .collect()
    } else {
        chosen
            .iter()
            .map(|(id, t)| status_dict(t, *id, mask, view, tr(t)))
            .collect()
    })
}

/// The last `get-info-all` / `get-status-all` answer value, encoded, with
/// the view and key mask it was built from: every client polling the same
/// keys within a view's second gets these bytes instead of a fresh
/// encoding (16 ms for 1,000 torrents with every status key).
#[derive(Default)]
pub(crate) struct AllCache {
    last: Option<AllAnswer>,
}

/// An encoded `get-*-all` answer value and what it was built from.
struct AllAnswer {
    view: Arc<View>,
    /// The tracker state it was built from (published once a second too).
    trackers: Arc<TrackersView>,
    info: bool,
    mask: u32,
    value: Rc<Vec<u8>>,
}

impl AllCache {
    /// The encoded answer value for (`view`, `trackers`, `info`, `mask`):
    /// the cached one when it was built from the same, else `build`'s,
    /// encoded and kept.
    pub(crate) fn get_or_build(
        &mut self,
        view: &Arc<View>,
        trackers: &Arc<TrackersView>,
        info: bool,
        mask: u32,
        build: impl FnOnce() -> Out,
    ) -> Rc<Vec<u8>> {
        let cached = self.last.as_ref().and_then(|c| {
            (Arc::ptr_eq(&c.view, view)
                && Arc::ptr_eq(&c.trackers, trackers)
                && c.info == info
                && c.mask == mask)
                .then(|| c.value.clone())
        });
        cached.unwrap_or_else(|| {
            let value = Rc::new(bencode::encode(&build()));
            self.last = Some(AllAnswer {
                view: view.clone(),
                trackers: trackers.clone(),
                info,
                mask,
                value: value.clone(),
            });
            value
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let os = |n| IoFailure::from(&std::io::Error::from_raw_os_error(n));
        assert_eq!(error_name(&os(2)), "io-parent");
        assert_eq!(error_name(&os(13)), "io-permissions");
        assert_eq!(error_name(&os(28)), "io-space");
        assert_eq!(error_name(&os(24)), "io-open-files");
        assert_eq!(error_name(&os(5)), "io-other");
        let plain = IoFailure {
            errno: None,
            message: "size mismatch".into(),
        };
        assert_eq!(error_name(&plain), "other");
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
