//! porla's JSON-RPC envelope and info-hash lookup, byte for byte: the
//! vectors P1–P9 and P11 (P10, auth, is in `auth`). porla answers every
//! outcome with 200 and `application/json`, keys sorted, no whitespace
//! (nlohmann `dump()`); parse, method and internal errors carry no `id` or
//! `jsonrpc` (`src/http/jsonrpchandler.cpp`); an `info_hash` it cannot parse
//! is all zeros, so not found (`src/json/ltinfohash.hpp`), and a lookup
//! matches both halves of a hybrid's hash (`std::map<lt::info_hash_t, …>`,
//! `src/sessions.hpp`).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::common::http::Rpc;
use crate::common::*;
use crate::{sorted_compact, start, v1_torrent, EMPTY_PEERS, P1};
use ringseed::metainfo::Metainfo;

#[test]
fn porla_vectors_p1_to_p9_answer_byte_for_byte_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let (torrent, meta) = v1_torrent(dir.path(), "plain", 200_000, 32 * 1024);
    let seeder = start(dir.path(), &[], &[&torrent]);
    let api = Rpc::of(&seeder);
    let ih = meta.info_hash.to_hex();

    p1_p2_an_unknown_or_unparsable_hash_is_not_found(&api);
    p4_p11_a_known_torrent_without_peers_by_pair_or_bare_string(&api, &ih);
    p5_to_p7_unknown_method_and_missing_members_are_internal_errors(&api);
    p8_not_json_is_a_parse_error_with_only_error(&api);
    p9_the_id_comes_back_as_sent_or_null(&api);
    other_methods_answer_sorted_and_compact(&api, &ih);
}

fn p1_p2_an_unknown_or_unparsable_hash_is_not_found(api: &Rpc) {
    // P1: an unknown torrent.
    let r = api.post(r#"{"jsonrpc":"2.0","id":1,"method":"torrents.peers.list","params":{"info_hash":["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",null]}}"#);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body, P1);
    // P2: the seed's 20-character example parses to all zeros.
    let r = api.post(r#"{"jsonrpc":"2.0","id":1,"method":"torrents.peers.list","params":{"info_hash":["abcdef0123456789abcd",null]}}"#);
    assert_eq!((r.status, r.body.as_str()), (200, P1));
}

fn p4_p11_a_known_torrent_without_peers_by_pair_or_bare_string(api: &Rpc, ih: &str) {
    // P4: known torrent, no peers; [v1, null] and the bare v1 string (P11) alike.
    for h in [json!([ih, null]), json!(ih)] {
        let body =
            json!({"jsonrpc":"2.0","id":1,"method":"torrents.peers.list","params":{"info_hash":h}});
        let r = api.post(&body.to_string());
        assert_eq!((r.status, r.body.as_str()), (200, EMPTY_PEERS), "{h}");
    }
}

fn p5_to_p7_unknown_method_and_missing_members_are_internal_errors(api: &Rpc) {
    // P5: unknown method.
    let r = api.post(r#"{"jsonrpc":"2.0","id":1,"method":"nope","params":{}}"#);
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            200,
            r#"{"error":{"code":-32601,"message":"Method not found"}}"#
        )
    );
    // P6: no params.
    let r = api.post(r#"{"jsonrpc":"2.0","id":1,"method":"torrents.peers.list"}"#);
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            200,
            r#"{"error":{"code":-32603,"data":"[json.exception.out_of_range.403] key 'params' not found","message":"Internal error"}}"#
        )
    );
    // P7: params without info_hash.
    let r = api.post(r#"{"jsonrpc":"2.0","id":1,"method":"torrents.peers.list","params":{}}"#);
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            200,
            r#"{"error":{"code":-32603,"data":"[json.exception.out_of_range.403] key 'info_hash' not found","message":"Internal error"}}"#
        )
    );
}

fn p8_not_json_is_a_parse_error_with_only_error(api: &Rpc) {
    // P8: not JSON: -32700 with the parser's message, and no id or jsonrpc.
    let r = api.post("{");
    let v = r.json();
    assert_eq!(v["error"]["code"], -32700, "{}", r.body);
    assert_eq!(v["error"]["message"], "Parse error");
    assert!(
        v["error"]["data"].as_str().is_some_and(|d| !d.is_empty()),
        "{}",
        r.body
    );
    assert_eq!(v.as_object().unwrap().len(), 1, "only `error`: {}", r.body);
    assert!(sorted_compact(&r.body), "{}", r.body);
}

fn p9_the_id_comes_back_as_sent_or_null(api: &Rpc) {
    // P9: no id: answered with "id":null.
    let r = api.post(r#"{"jsonrpc":"2.0","method":"torrents.peers.list","params":{"info_hash":["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",null]}}"#);
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            200,
            r#"{"error":{"code":-1,"data":null,"message":"Torrent not found in any session"},"id":null,"jsonrpc":"2.0"}"#
        )
    );
    // The id comes back as sent, whatever its type; jsonrpc is not checked.
    let r = api.post(r#"{"jsonrpc":"1.0","id":"x-7","method":"torrents.peers.list","params":{"info_hash":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}"#);
    assert_eq!(r.body, P1.replace("\"id\":1", "\"id\":\"x-7\""));
}

fn other_methods_answer_sorted_and_compact(api: &Rpc, ih: &str) {
    // Other methods' outputs are sorted and compact too.
    for (m, p) in [
        ("torrents.list", json!({})),
        ("sessions.list", json!({})),
        ("torrents.files.list", json!({"info_hash": ih})),
        ("torrents.properties.get", json!({"info_hash": ih})),
        ("ringseed.session.get", json!({})),
    ] {
        let body = api.body(m, p);
        assert!(sorted_compact(&body), "{m}: {body}");
    }
    let list = api.result("torrents.list", json!({}));
    assert_eq!(
        list["torrents"][0]["info_hash"],
        json!([ih, null]),
        "{list}"
    );
}

#[test]
fn p11_bare_hex_and_hybrid_pairs_match_both_halves_exactly() {
    let Some(py) = libtorrent_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (plain, plain_meta) = v1_torrent(dir.path(), "plain", 100_000, 16 * 1024);
    let root = dir.path().join("data/hyb");
    write_tree(&root, &[("a.bin", 70_000), ("b.bin", 5)]);
    let hybrid = dir.path().join("hyb.torrent");
    lt_make(&py, &hybrid, &root, true, 16 * 1024);
    let meta = Metainfo::from_bytes(&std::fs::read(&hybrid).unwrap()).unwrap();
    assert!(meta.hybrid, "libtorrent made a hybrid torrent");
    let v1 = meta.info_hash.to_hex();
    let v2 = hex::encode(meta.info_hash_v2.expect("v2 hash"));
    let seeder = start(dir.path(), &[], &[&plain, &hybrid]);
    let api = Rpc::of(&seeder);
    let p1 = plain_meta.info_hash.to_hex();

    a_hybrid_is_found_only_by_both_halves(&api, &v1, &v2);
    shapes_porla_cannot_parse_are_not_found(&api, &v1, &v2);
    a_v1_only_torrent_is_found_by_bare_string_and_pair(&api, &p1);
    torrents_list_reports_both_halves(&api, &v1, &v2, &p1);
    other_methods_look_torrents_up_the_same_way(&api, &v1, &v2);
}

/// `torrents.peers.list` of `h`: the whole response body.
fn peers(api: &Rpc, h: Value) -> String {
    api.body("torrents.peers.list", json!({ "info_hash": h }))
}

fn a_hybrid_is_found_only_by_both_halves(api: &Rpc, v1: &str, v2: &str) {
    // Exact match of both halves (porla keys torrents by the whole info_hash_t).
    assert_eq!(peers(api, json!([v1, v2])), EMPTY_PEERS);
    assert_eq!(
        peers(api, json!([v1, null])),
        P1,
        "[v1, null] is v1-only: not the hybrid"
    );
    assert_eq!(peers(api, json!(v1)), P1, "a bare v1 string is v1-only");
    assert_eq!(peers(api, json!([null, v2])), P1, "[null, v2] is v2-only");
    assert_eq!(peers(api, json!(v2)), P1, "a bare 64-hex string is v2-only");
    assert_eq!(
        peers(api, json!([v1.to_uppercase(), v2.to_uppercase()])),
        EMPTY_PEERS
    );
}

fn shapes_porla_cannot_parse_are_not_found(api: &Rpc, v1: &str, v2: &str) {
    // Shapes porla cannot parse are all zeros: not found, never an error.
    for bad in [
        json!([v1]),
        json!([v1, v2, null]),
        json!([v2, v1]),
        json!(7),
    ] {
        assert_eq!(peers(api, bad.clone()), P1, "{bad}");
    }
}

fn a_v1_only_torrent_is_found_by_bare_string_and_pair(api: &Rpc, p1: &str) {
    // The v1-only torrent: bare string and [v1, null] both find it.
    assert_eq!(peers(api, json!(p1)), EMPTY_PEERS);
    assert_eq!(peers(api, json!([p1, null])), EMPTY_PEERS);
}

fn torrents_list_reports_both_halves(api: &Rpc, v1: &str, v2: &str, p1: &str) {
    // torrents.list reports [v1, v2] for the hybrid, [v1, null] for the other.
    let list = api.result("torrents.list", json!({}));
    let hashes: BTreeSet<String> = list["torrents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["info_hash"].to_string())
        .collect();
    assert_eq!(
        hashes,
        BTreeSet::from([json!([v1, v2]).to_string(), json!([p1, null]).to_string()])
    );
}

fn other_methods_look_torrents_up_the_same_way(api: &Rpc, v1: &str, v2: &str) {
    let props = |h: Value| api.body("torrents.properties.get", json!({ "info_hash": h }));
    assert_eq!(props(json!([v1, null])), P1);
    assert!(props(json!([v1, v2])).contains("\"result\""));
}
