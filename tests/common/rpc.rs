//! A JSON-RPC client for tests: porla's envelope over real HTTP, with a
//! token signed by the seeder's state-directory secret.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::{json, Value};

/// Calls `method` on the daemon at `rpc`; returns the whole response body.
pub fn call_raw(rpc: SocketAddr, state_dir: &Path, method: &str, params: Value) -> Value {
    let token = ringseed::control::rpc::auth::Auth::load_or_create(state_dir)
        .unwrap()
        .issue();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    ureq::post(&format!("http://{rpc}/api/v1/jsonrpc"))
        .set("Authorization", &format!("Bearer {token}"))
        .send_json(body)
        .unwrap_or_else(|e| panic!("{method}: {e}"))
        .into_json()
        .unwrap()
}

/// Calls `method`; panics on a JSON-RPC error, returns `result`.
pub fn call(seeder: &super::Seeder, method: &str, params: Value) -> Value {
    let r = call_raw(
        seeder.rpc.expect("rpc on"),
        &seeder.state_dir,
        method,
        params,
    );
    if let Some(e) = r.get("error") {
        panic!("{method}: {e}");
    }
    r["result"].clone()
}

/// `torrents.list` rows by v1 info hash hex.
pub fn torrents(seeder: &super::Seeder) -> std::collections::BTreeMap<String, Value> {
    call(seeder, "torrents.list", json!({"page_size": 100000}))["torrents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["info_hash"][0].as_str().unwrap().to_string(), t.clone()))
        .collect()
}

/// Waits until `pred` holds for the torrent's `torrents.list` row.
pub fn wait_torrent(
    seeder: &super::Seeder,
    ih: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(t) = torrents(seeder).get(ih) {
            if pred(t) {
                return t.clone();
            }
        }
        if std::time::Instant::now() > deadline {
            panic!("torrent {ih} never {what}; log:\n{}", seeder.log_text());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A torrent file's bytes as porla's `ti` (base64).
pub fn ti(torrent: &Path) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(torrent).unwrap())
}
