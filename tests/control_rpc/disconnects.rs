//! `ringseed.disconnects`: closed peers with their reason's name and
//! Net::BitTorrent::Peer's number for it (seed 004; the numbers of
//! `lib/Net/BitTorrent/Peer.pm` at CPAN-0.052: 0 closed by the remote, −11 a
//! torrent we do not serve, −13 a bad handshake, −22 a bad packet).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::http::Rpc;
use crate::common::wait::eventually;
use crate::common::wire::{peer_id, RawPeer};
use crate::common::*;
use crate::{start, unix_now, v1_torrent};
use ringseed::metainfo::InfoHash;
use ringseed::wire::Message;

/// A closed connection the list must show: our address, reason, code and
/// the torrent when it had one.
type Closed = (String, &'static str, i64, Option<InfoHash>);

#[test]
fn disconnects_list_closed_raw_peers_with_reason_name_and_code() {
    let dir = tempfile::tempdir().unwrap();
    let (torrent, meta) = v1_torrent(dir.path(), "dc", 20 * 16384 + 7, 16384);
    let seeder = start(dir.path(), &[], &[&torrent]);
    let api = Rpc::of(&seeder);
    let since = unix_now();

    // The connections stay open (as the seeder left them) until the end.
    let (want, _conns) = four_connections_closed_four_ways(&seeder, meta.info_hash);
    let list = eventually(10, "every closed peer is listed", || {
        let list = api.result("ringseed.disconnects", json!({ "since": since }));
        let ok = want.iter().all(|(addr, ..)| {
            list.as_array()
                .unwrap()
                .iter()
                .any(|d| d["peer"] == addr.as_str())
        });
        if ok {
            Ok(list)
        } else {
            Err(list.to_string())
        }
    });
    each_is_listed_with_its_reason_code_message_time_and_torrent(&list, &want, since);
    since_filters_by_time_and_a_wrong_type_is_porlas_exception(&api);
}

/// A malformed message (−22), an unknown info hash (−11), not BitTorrent
/// (−13) and a peer that leaves (0); the connections, kept open by the caller.
fn four_connections_closed_four_ways(
    seeder: &Seeder,
    ih: InfoHash,
) -> (Vec<Closed>, (RawPeer, RawPeer, TcpStream)) {
    // A bitfield one byte too long: malformed_message, -22.
    let mut bad = RawPeer::connect(seeder.addr, ih, [0; 8], peer_id(b"disconnect01"), true);
    let first = bad.read_until(5);
    bad.send(Message::Bitfield(&vec![0u8; first.len()]));
    assert!(bad.closed_by_seeder());
    // An info hash the seeder does not serve: unknown_info_hash, -11.
    let mut unknown = RawPeer::connect(
        seeder.addr,
        InfoHash([0xee; 20]),
        [0; 8],
        peer_id(b"disconnect02"),
        false,
    );
    assert!(unknown.closed_by_seeder());
    // Not BitTorrent: bad_handshake, -13.
    let mut http = TcpStream::connect(seeder.addr).unwrap();
    http.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    http.write_all(b"GET /announce?info_hash=xyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let _ = http.read(&mut [0u8; 16]);
    // A peer that simply leaves: remote_closed, 0.
    let mut gone = RawPeer::connect(seeder.addr, ih, [0; 8], peer_id(b"disconnect03"), true);
    gone.read_until(5);
    let gone_addr = gone.s.local_addr().unwrap().to_string();
    // Everything read, so the close is a FIN (unread data would make it a reset).
    gone.drain(Duration::from_millis(200));
    drop(gone);

    let want = vec![
        (
            bad.s.local_addr().unwrap().to_string(),
            "malformed_message",
            -22,
            Some(ih),
        ),
        (
            unknown.s.local_addr().unwrap().to_string(),
            "unknown_info_hash",
            -11,
            None,
        ),
        (
            http.local_addr().unwrap().to_string(),
            "bad_handshake",
            -13,
            None,
        ),
        (gone_addr, "remote_closed", 0, Some(ih)),
    ];
    (want, (bad, unknown, http))
}

fn each_is_listed_with_its_reason_code_message_time_and_torrent(
    list: &Value,
    want: &[Closed],
    since: i64,
) {
    for (addr, reason, code, info_hash) in want {
        let d = list
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["peer"] == addr.as_str())
            .unwrap();
        assert_eq!(d["reason"], *reason, "{d}");
        assert_eq!(d["code"], *code, "{d}");
        assert!(d["message"].as_str().is_some_and(|m| !m.is_empty()), "{d}");
        let t = d["time"].as_i64().unwrap();
        assert!((since..=unix_now() + 1).contains(&t), "{d}");
        if let Some(ih) = info_hash {
            assert_eq!(d["info_hash"], ih.to_hex(), "{d}");
        }
    }
}

fn since_filters_by_time_and_a_wrong_type_is_porlas_exception(api: &Rpc) {
    // `since` filters by time.
    let later = api.result("ringseed.disconnects", json!({"since": unix_now() + 3600}));
    assert_eq!(later, json!([]));
    // A wrong type for `since` is an exception, porla style.
    let r = api.body("ringseed.disconnects", json!({"since": "yesterday"}));
    assert_eq!(
        r,
        r#"{"error":{"code":-32603,"data":"[json.exception.type_error.302] type must be number, but is string","message":"Internal error"}}"#
    );
}
