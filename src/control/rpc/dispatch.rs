//! The method table: porla's methods (registered in porla's `src/main.cpp`, `src/methods/`) mapped onto a
//! seeder, and ringseed's own under `ringseed.`. Each method reads its
//! parameters ([`super::params`]), calls the control [`Api`], and builds
//! its answer ([`super::torrents`], [`super::peers`]); a torrent that is
//! not found is -1.

use serde_json::{json, Value};

use super::params::{self, array, boolean, find, int, key, lookup, opt, ListParams};
use super::peers::{getpeerinfo, porla_peer};
use super::torrents::{files, ih_json, list, properties, trackers_list};
use super::{MethodError, SESSION};
use crate::control::api::{AddOptions, Api};
use ringseed_proto::metainfo::InfoHash;

const METHODS: &[&str] = &[
    "sessions.list",
    "sys.versions",
    "torrents.add",
    "torrents.files.list",
    "torrents.list",
    "torrents.pause",
    "torrents.peers.add",
    "torrents.peers.list",
    "torrents.properties.get",
    "torrents.properties.set",
    "torrents.recheck",
    "torrents.remove",
    "torrents.resume",
    "torrents.trackers.list",
    "ringseed.disconnects",
    "ringseed.getpeerinfo",
    "ringseed.session.get",
    "ringseed.session.set",
];

/// True when `method` is served.
pub(super) fn exists(method: &str) -> bool {
    METHODS.contains(&method)
}

/// The method name as a static label (metrics).
pub(super) fn canonical(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

type R = Result<Value, MethodError>;

/// Runs `method`.
pub(crate) async fn dispatch(api: &Api, method: &str, params: &Value) -> R {
    let view = api.view();
    match method {
        "sessions.list" => Ok(json!({"sessions": [{
            "is_dht_running": false,
            "is_listening": true,
            "is_paused": false,
            "name": SESSION,
            "torrents_total": view.torrents.len(),
        }]})),
        "sys.versions" => Ok(json!({
            "ringseed": {"version": env!("CARGO_PKG_VERSION")},
            // autobrr reads porla's version; ringseed answers porla's API
            // as of its 0.4 series (seed-systems.md), its own build as the commit.
            "porla": {"branch": "ringseed", "commitish": concat!("ringseed-", env!("CARGO_PKG_VERSION")), "version": "0.4.0"},
            "porla_api": {"methods": METHODS},
        })),
        "torrents.add" => add(api, params).await,
        "torrents.remove" => {
            let hashes: Vec<InfoHash> = array(key(params, "info_hashes")?)?
                .iter()
                .filter_map(|v| lookup(&view, v).map(|t| t.info_hash))
                .collect();
            let remove_data = boolean(key(params, "remove_data")?)?;
            api.remove(hashes, remove_data).await?;
            Ok(Value::Null)
        }
        "torrents.pause" | "torrents.resume" | "torrents.recheck" => {
            let ih = find(&view, params)?.info_hash;
            match method {
                "torrents.pause" => api.pause(ih).await,
                "torrents.resume" => api.resume(ih).await,
                _ => api.recheck(ih).await,
            }?;
            Ok(Value::Null)
        }
        "torrents.list" => {
            let p = ListParams::read(params)?;
            list(&view, &api.trackers(), &p)
        }
        "torrents.trackers.list" => {
            let t = find(&view, params)?;
            let trackers = api.trackers();
            Ok(trackers_list(
                &t,
                trackers.torrents.get(&t.info_hash).map(|x| &**x),
                view.session.listen_port,
            ))
        }
        "torrents.files.list" => {
            let t = find(&view, params)?;
            Ok(json!({"files": files(&t)}))
        }
        "torrents.properties.get" => {
            let t = find(&view, params)?;
            Ok(properties(&t))
        }
        "torrents.properties.set" => {
            let t = find(&view, params)?;
            let props = params::props(params)?;
            let paused = match opt(params, "flags") {
                Some(f) => opt(f, "paused").map(boolean).transpose()?,
                None => None,
            };
            let ih = t.info_hash;
            api.set_props(ih, props).await?;
            match paused {
                Some(true) => api.pause(ih).await?,
                Some(false) => api.resume(ih).await?,
                None => {}
            }
            Ok(Value::Null)
        }
        "torrents.peers.add" => {
            let t = find(&view, params)?;
            let addrs = params::peer_addrs(params)?;
            api.add_peers(t.info_hash, addrs).await?;
            Ok(Value::Bool(true))
        }
        "torrents.peers.list" => {
            let t = find(&view, params)?;
            let peers: Vec<Value> = Api::torrent_peers(&view, t.info_hash)
                .iter()
                .map(|p| json!(porla_peer(p, view.built_unix)))
                .collect();
            Ok(json!({"peers": peers}))
        }
        "ringseed.getpeerinfo" => {
            let only = match opt(params, "info_hash") {
                Some(_) => Some(find(&view, params)?.info_hash),
                None => None,
            };
            Ok(Value::Array(
                Api::peers(&view, only)
                    .into_iter()
                    .map(|p| getpeerinfo(p))
                    .collect(),
            ))
        }
        "ringseed.disconnects" => {
            let since = opt(params, "since").map(int).transpose()?.unwrap_or(0);
            Ok(json!(Api::disconnects(&view, since)))
        }
        "ringseed.session.get" => Ok(json!(Api::session_stats(&view))),
        "ringseed.session.set" => {
            if let Some(v) = opt(params, "upload_limit") {
                api.set_upload_limit(int(v)?).await?;
            }
            Ok(Value::Null)
        }
        _ => Err(MethodError::rpc(-32601, "Method not found")),
    }
}

/// `torrents.add`, its checks in porla's order: `ti` (or `magnet_uri`),
/// the metainfo, `save_path`, the limits, `paused` (default false, whatever
/// the IPC's autostart says).
async fn add(api: &Api, params: &Value) -> R {
    let raw = params::torrent_bytes(params)?;
    let torrent = Api::parse_torrent(raw)?;
    let save_path = api.save_path(params::save_path(params)?)?;
    let props = params::props(params)?;
    let paused = opt(params, "paused")
        .map(boolean)
        .transpose()?
        .unwrap_or(false);
    let options = AddOptions {
        save_path: Some(save_path),
        paused: Some(paused),
        props,
        ..Default::default()
    };
    let added = api.add_torrent(torrent, options).await?;
    Ok(json!({"info_hash": ih_json(&added.meta)}))
}
