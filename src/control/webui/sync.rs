//! `sync/maindata` and `sync/torrentPeers`: qBittorrent's incremental
//! reads. A client sends the `rid` of its last answer; when it is the one
//! this session was last given, the answer holds only what changed since
//! (changed keys of changed torrents, `torrents_removed`, new categories
//! and tags and the removed ones, changed `server_state` keys); any other
//! `rid` (0 on the first call) gets a full update. Each session keeps the
//! last state it was sent (one per session, dropped with the oldest
//! session), as qBittorrent's `SyncController` does.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::{json, Map, Value};

use super::{ext, torrents};
use crate::control::api::Api;
use crate::coordinator::view::{PeerView, View};
use crate::tracker::TrackersView;
use ringseed_proto::metainfo::InfoHash;

/// rids wrap here (qBittorrent's `MAX_RID`... it counts up; a bound keeps
/// it an exact JSON integer everywhere).
const MAX_RID: i64 = 1_000_000;

type Object = Map<String, Value>;

/// What one session was sent: its last [`KEPT`] answers by `rid` (as
/// qBittorrent's `SyncController` keeps the last answer and the last one
/// acknowledged). A client sending any of those `rid`s gets a delta
/// against that answer, so one that asks again with the same `rid`, or
/// two polls of one session that crossed, still get deltas.
#[derive(Default)]
pub(crate) struct SyncState {
    rid: i64,
    main: VecDeque<(i64, MainData)>,
    peers: VecDeque<(InfoHash, i64, HashMap<String, Object>)>,
}

/// Answers kept per session and kind.
const KEPT: usize = 3;

#[derive(Clone)]
struct MainData {
    torrents: HashMap<String, Object>,
    categories: BTreeMap<String, Value>,
    tags: Vec<String>,
    trackers: BTreeMap<String, Value>,
    server_state: Object,
}

fn next_rid(rid: i64) -> i64 {
    rid % MAX_RID + 1
}

/// `server_state` (also `transfer/info`'s figures): a seeder's session.
pub(crate) fn server_state(view: &View) -> Object {
    let alltime_ul: u64 = view.torrents.values().map(|t| t.uploaded_total).sum();
    let session_ul: u64 = view.torrents.values().map(|t| t.uploaded_session).sum();
    let size: u64 = view
        .torrents
        .values()
        .map(|t| t.meta.lengths.total_length())
        .sum();
    let free = rustix::fs::statvfs(&view.session.default_save_path)
        .map(|s| s.f_bavail * s.f_frsize)
        .unwrap_or(0);
    let up_limit = view.session.upload_limit.max(0);
    let v = json!({
        "alltime_dl": 0,
        "alltime_ul": alltime_ul,
        "average_time_queue": 0,
        "connection_status": if view.session.listen_port != 0 { "connected" } else { "disconnected" },
        "dht_nodes": 0,
        "dl_info_data": 0,
        "dl_info_speed": 0,
        "dl_rate_limit": view.session.download_limit.max(0),
        "free_space_on_disk": free,
        "global_ratio": format!("{:.2}", alltime_ul as f64 / size.max(1) as f64),
        "last_external_address_v4": "",
        "last_external_address_v6": "",
        "queued_io_jobs": 0,
        "queueing": false,
        "read_cache_hits": "0",
        "read_cache_overload": "0",
        "refresh_interval": 1500,
        "total_buffers_size": 0,
        "total_peer_connections": view.all_peers().count(),
        "total_queued_size": 0,
        "total_wasted_session": 0,
        "up_info_data": session_ul,
        "up_info_speed": view.session.upload_rate,
        "up_rate_limit": up_limit,
        "use_alt_speed_limits": false,
        "use_subcategories": false,
        "write_cache_overload": "0",
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("an object literal"),
    }
}

fn categories(view: &View) -> BTreeMap<String, Value> {
    ext::categories(view)
        .into_iter()
        .map(|(name, path)| {
            let v = json!({"name": name, "savePath": path.display().to_string()});
            (name, v)
        })
        .collect()
}

fn main_data(view: &View, trackers: &TrackersView) -> MainData {
    let mut by_url: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let torrents = view
        .torrents
        .values()
        .map(|t| {
            let tr = trackers.torrents.get(&t.info_hash).map(|a| &**a);
            let hash = t.info_hash.to_hex();
            for tier in crate::tracker::tiers(&t.meta) {
                for url in tier {
                    by_url.entry(url).or_default().push(json!(hash));
                }
            }
            // The map's key is the hash: qBittorrent leaves it out of the item.
            let mut item = torrents::item(view, t, tr);
            item.remove("hash");
            (hash, item)
        })
        .collect();
    MainData {
        torrents,
        categories: categories(view),
        tags: ext::all_tags(view).into_iter().collect(),
        trackers: by_url
            .into_iter()
            .map(|(k, v)| (k, Value::Array(v)))
            .collect(),
        server_state: server_state(view),
    }
}

/// Keys of `new` whose values differ from `old`'s.
fn changed(old: &Object, new: &Object) -> Object {
    new.iter()
        .filter(|(k, v)| old.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The keyed maps of a sync answer: torrents by hash, peers by `ip:port`,
/// categories by name, trackers by URL.
trait Entries {
    type V;
    fn value(&self, key: &str) -> Option<&Self::V>;
    fn pairs(&self) -> impl Iterator<Item = (&String, &Self::V)>;
}

impl<V> Entries for HashMap<String, V> {
    type V = V;
    fn value(&self, key: &str) -> Option<&V> {
        self.get(key)
    }
    fn pairs(&self) -> impl Iterator<Item = (&String, &V)> {
        self.iter()
    }
}

impl<V> Entries for BTreeMap<String, V> {
    type V = V;
    fn value(&self, key: &str) -> Option<&V> {
        self.get(key)
    }
    fn pairs(&self) -> impl Iterator<Item = (&String, &V)> {
        self.iter()
    }
}

/// Puts into `o` what changed from `prev` to `now`: under `key` every new
/// entry (`whole`) and every changed one (`delta`, `None` when unchanged),
/// under `removed_key` the keys `now` no longer has; neither when empty.
fn put_delta<M: Entries>(
    o: &mut Object,
    (key, removed_key): (&str, &str),
    prev: &M,
    now: &M,
    delta: impl Fn(&M::V, &M::V) -> Option<Value>,
    whole: impl Fn(&M::V) -> Value,
) {
    let entries: Object = now
        .pairs()
        .filter_map(|(k, v)| {
            let d = match prev.value(k) {
                Some(p) => delta(p, v)?,
                None => whole(v),
            };
            Some((k.clone(), d))
        })
        .collect();
    if !entries.is_empty() {
        o.insert(key.into(), Value::Object(entries));
    }
    let removed: Vec<&String> = prev
        .pairs()
        .map(|(k, _)| k)
        .filter(|k| now.value(k).is_none())
        .collect();
    if !removed.is_empty() {
        o.insert(removed_key.into(), json!(removed));
    }
}

/// A changed torrent or peer: only its changed keys (qBittorrent's deltas).
fn object_delta(prev: &Object, now: &Object) -> Option<Value> {
    let c = changed(prev, now);
    (!c.is_empty()).then_some(Value::Object(c))
}

fn object_whole(v: &Object) -> Value {
    Value::Object(v.clone())
}

/// A changed category or tracker: sent whole.
fn value_delta(prev: &Value, now: &Value) -> Option<Value> {
    (prev != now).then(|| now.clone())
}

/// `sync/maindata?rid=`.
pub(crate) fn maindata(state: &mut SyncState, api: &Api, rid: i64) -> Value {
    let view = api.view();
    let trackers = api.trackers();
    let now = main_data(&view, &trackers);
    let rid_out = next_rid(state.rid);
    let base = state
        .main
        .iter()
        .find(|(r, _)| rid != 0 && *r == rid)
        .map(|(_, d)| d);
    let out = match base {
        Some(prev) => {
            let mut o = Object::new();
            o.insert("rid".into(), json!(rid_out));
            put_delta(
                &mut o,
                ("torrents", "torrents_removed"),
                &prev.torrents,
                &now.torrents,
                object_delta,
                object_whole,
            );
            put_delta(
                &mut o,
                ("categories", "categories_removed"),
                &prev.categories,
                &now.categories,
                value_delta,
                Value::clone,
            );
            let tags: Vec<&String> = now.tags.iter().filter(|t| !prev.tags.contains(t)).collect();
            if !tags.is_empty() {
                o.insert("tags".into(), json!(tags));
            }
            let tags_removed: Vec<&String> =
                prev.tags.iter().filter(|t| !now.tags.contains(t)).collect();
            if !tags_removed.is_empty() {
                o.insert("tags_removed".into(), json!(tags_removed));
            }
            put_delta(
                &mut o,
                ("trackers", "trackers_removed"),
                &prev.trackers,
                &now.trackers,
                value_delta,
                Value::clone,
            );
            let ss = changed(&prev.server_state, &now.server_state);
            if !ss.is_empty() {
                o.insert("server_state".into(), Value::Object(ss));
            }
            Value::Object(o)
        }
        _ => json!({
            "rid": rid_out,
            "full_update": true,
            "torrents": now.torrents,
            "categories": now.categories,
            "tags": now.tags,
            "trackers": now.trackers,
            "server_state": now.server_state,
        }),
    };
    state.rid = rid_out;
    if state.main.len() >= KEPT {
        state.main.pop_front();
    }
    state.main.push_back((rid_out, now));
    out
}

/// qBittorrent's peer flags: (letter, description) in its order.
fn flags(p: &PeerView) -> Vec<(char, &'static str)> {
    let mut f = Vec::new();
    if p.peer_interested && !p.am_choking {
        f.push(('U', "Interested (peer) and unchoked (local)"));
    }
    if p.peer_interested && p.am_choking {
        f.push(('u', "Interested (peer) and choked (local)"));
    }
    if !p.peer_choking {
        f.push(('K', "Not interested (local) and unchoked (peer)"));
    }
    if !p.peer_interested && !p.am_choking {
        f.push(('?', "Not interested (peer) and unchoked (local)"));
    }
    if p.optimistic {
        f.push(('O', "Optimistic unchoke"));
    }
    if !p.outgoing {
        f.push(('I', "Incoming connection"));
    }
    f
}

/// One peer of `sync/torrentPeers`.
pub(crate) fn peer(p: &PeerView) -> Object {
    let fl = flags(p);
    let progress = if p.num_pieces == 0 {
        0.0
    } else {
        p.have_count as f64 / p.num_pieces as f64
    };
    let v = json!({
        "client": &*p.client,
        "connection": "BT",
        "country": "",
        "country_code": "",
        "dl_speed": 0,
        "downloaded": 0,
        "files": "",
        "flags": fl.iter().map(|(c, _)| c.to_string()).collect::<Vec<_>>().join(" "),
        "flags_desc": fl.iter().map(|(c, d)| format!("{c} = {d}")).collect::<Vec<_>>().join("\n"),
        "ip": p.addr.ip().to_string(),
        "peer_id_client": p.peer_id.prefix(),
        "port": p.addr.port(),
        "progress": progress,
        "relevance": if progress < 1.0 { 1.0 } else { 0.0 },
        "up_speed": p.upload_rate,
        "uploaded": p.uploaded,
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("an object literal"),
    }
}

/// The key of a peer in `peers`: `ip:port`, `[ip]:port` for IPv6 (qBittorrent's).
fn peer_key(p: &PeerView) -> String {
    p.addr.to_string()
}

/// `sync/torrentPeers?hash=&rid=`; `None` when the torrent is unknown.
pub(crate) fn torrent_peers(
    state: &mut SyncState,
    api: &Api,
    info_hash: InfoHash,
    rid: i64,
) -> Option<Value> {
    let view = api.view();
    view.torrents.get(&info_hash)?;
    let now: HashMap<String, Object> = Api::torrent_peers(&view, info_hash)
        .iter()
        .map(|p| (peer_key(p), peer(p)))
        .collect();
    let prev = state
        .peers
        .iter()
        .find(|(ih, r, _)| *ih == info_hash && rid != 0 && *r == rid);
    let rid_out = next_rid(state.rid);
    let out = match prev {
        Some((_, _, old)) => {
            let mut o = Object::new();
            o.insert("rid".into(), json!(rid_out));
            o.insert("show_flags".into(), json!(true));
            put_delta(
                &mut o,
                ("peers", "peers_removed"),
                old,
                &now,
                object_delta,
                object_whole,
            );
            Value::Object(o)
        }
        None => json!({"rid": rid_out, "full_update": true, "show_flags": true, "peers": now}),
    };
    state.rid = rid_out;
    if state.peers.len() >= KEPT {
        state.peers.pop_front();
    }
    state.peers.push_back((info_hash, rid_out, now));
    Some(out)
}
