//! The peer answers: porla's `torrents.peers.list` (libtorrent 2.x's
//! `peer_info`, porla's `src/json/ltpeerinfo.hpp`) and ringseed's `ringseed.getpeerinfo`
//! (seed 003's fields as Bitcoin Core's `src/rpc/net.cpp` (`getpeerinfo`) maps them, plus seed 004's peer
//! state).

use std::net::SocketAddr;

use serde_json::{json, Map, Value};

use super::torrents::progress;
use crate::coordinator::view::PeerView;
use crate::messages::MSG_NAMES;

/// libtorrent `peer_flags_t` bits (libtorrent's `include/libtorrent/peer_info.hpp`).
pub(super) mod flags {
    pub(crate) const CHOKED: u32 = 1 << 1;
    pub(crate) const REMOTE_INTERESTED: u32 = 1 << 2;
    pub(crate) const REMOTE_CHOKED: u32 = 1 << 3;
    pub(crate) const SUPPORTS_EXTENSIONS: u32 = 1 << 4;
    pub(crate) const OUTGOING_CONNECTION: u32 = 1 << 5;
    pub(crate) const SEED: u32 = 1 << 10;
    pub(crate) const OPTIMISTIC_UNCHOKE: u32 = 1 << 11;
    pub(crate) const UPLOAD_ONLY: u32 = 1 << 13;
}

/// The `flags` of a peer (a seed is never interested, so `interesting` is never set).
pub(super) fn peer_flags(p: &PeerView) -> u32 {
    let mut f = 0;
    let mut set = |c: bool, bit: u32| {
        if c {
            f |= bit
        }
    };
    set(p.am_choking, flags::CHOKED);
    set(p.peer_interested, flags::REMOTE_INTERESTED);
    set(p.peer_choking, flags::REMOTE_CHOKED);
    set(p.extensions, flags::SUPPORTS_EXTENSIONS);
    set(p.outgoing, flags::OUTGOING_CONNECTION);
    set(
        p.have_count == p.num_pieces && p.num_pieces > 0,
        flags::SEED,
    );
    set(p.optimistic, flags::OPTIMISTIC_UNCHOKE);
    set(p.upload_only, flags::UPLOAD_ONLY);
    f
}

/// One peer of `torrents.peers.list`: porla's 17 keys in their sorted
/// order, libtorrent 2.x meanings (porla's `src/json/ltpeerinfo.hpp`).
#[derive(Debug, serde::Serialize)]
pub(super) struct PorlaPeer {
    pub(crate) busy_requests: u32,
    pub(crate) client: String,
    pub(crate) connection_type: u8,
    pub(crate) down_speed: u64,
    pub(crate) download_queue_length: u32,
    pub(crate) download_queue_time: u64,
    pub(crate) flags: u32,
    pub(crate) ip: (String, u16),
    pub(crate) last_active: u64,
    pub(crate) last_request: u64,
    pub(crate) local_endpoint: (String, u16),
    pub(crate) progress: f64,
    pub(crate) rtt: u32,
    pub(crate) source: u8,
    pub(crate) total_download: u64,
    pub(crate) total_upload: u64,
    pub(crate) up_speed: u64,
}

fn endpoint_pair(a: Option<SocketAddr>) -> (String, u16) {
    a.map_or((String::new(), 0), |a| (a.ip().to_string(), a.port()))
}

/// A connected peer as porla shows it; `now` is the view's Unix time.
pub(super) fn porla_peer(p: &PeerView, now: u64) -> PorlaPeer {
    PorlaPeer {
        busy_requests: 0,
        client: p.client.to_string(),
        // libtorrent 2.x connection_type_t: standard_bittorrent = 1.
        connection_type: 1,
        down_speed: p.down_speed,
        // A seed requests nothing, so its download queue is always empty.
        download_queue_length: 0,
        download_queue_time: 0,
        flags: peer_flags(p),
        ip: endpoint_pair(Some(p.addr)),
        last_active: now.saturating_sub(p.last_send_unix.max(p.last_recv_unix)),
        // Seconds since we last sent a request; a seed never does, and
        // libtorrent counts from the connection then.
        last_request: now.saturating_sub(p.connected_unix),
        local_endpoint: endpoint_pair(p.local_addr),
        progress: progress(p.have_count, p.num_pieces),
        // libtorrent 2.0 reports the mean request → block time, ms.
        rtt: p.serve_ms,
        source: p.source.bits(),
        total_download: p.downloaded,
        total_upload: p.uploaded,
        up_speed: p.up_speed,
    }
}

fn per_msg(counts: &[u64]) -> Value {
    let mut m = Map::new();
    for (name, n) in MSG_NAMES.iter().zip(counts) {
        if *n > 0 {
            m.insert((*name).into(), json!(n));
        }
    }
    Value::Object(m)
}

/// One peer of `ringseed.getpeerinfo`: seed 003's fields as Bitcoin Core's `src/rpc/net.cpp` (`getpeerinfo`)
/// maps them, plus seed 004's Net::BitTorrent::Peer state.
pub(crate) fn getpeerinfo(p: &PeerView) -> Value {
    let mut o = json!({
        "id": p.key.0,
        "addr": p.addr.to_string(),
        "services": hex::encode(p.reserved),
        "lastsend": p.last_send_unix,
        "lastrecv": p.last_recv_unix,
        "bytessent": p.bytes_sent,
        "bytesrecv": p.bytes_recv,
        "conntime": p.connected_unix,
        "subver": &*p.client,
        "inbound": !p.outgoing,
        "banscore": p.score,
        "whitelisted": p.whitelisted,
        "inflight": p.inflight,
        "bytessent_per_msg": per_msg(&p.sent_per_msg),
        "bytesrecv_per_msg": per_msg(&p.recv_per_msg),
        "am_choking": p.am_choking,
        "am_interested": false,
        "peer_choking": p.peer_choking,
        "peer_interested": p.peer_interested,
        "bitfield": p.bitfield.as_deref().map(hex::encode).unwrap_or_default(),
        "peerid": hex::encode(p.peer_id.0),
        "reserved_bytes": hex::encode(p.reserved),
        "incoming": !p.outgoing,
        "source": p.source.name(),
        "host": p.addr.ip().to_string(),
        "port": p.addr.port(),
        "info_hash": p.info_hash.to_hex(),
        // ringseed's additions, for `ringseed peers`.
        "up_speed": p.up_speed,
        "total_upload": p.uploaded,
        "progress": progress(p.have_count, p.num_pieces),
        "optimistic": p.optimistic,
        "fast": p.fast,
        "extensions": p.extensions,
    });
    let m = o.as_object_mut().expect("object");
    if let Some(ip) = p.yourip {
        m.insert("addrlocal".into(), json!(ip.to_string()));
    }
    if let Some(a) = p.local_addr {
        m.insert("addrbind".into(), json!(a.to_string()));
    }
    if p.rtt_us > 0 {
        m.insert("pingtime".into(), json!(p.rtt_us as f64 / 1e6));
    }
    if p.min_rtt_us > 0 {
        m.insert("minping".into(), json!(p.min_rtt_us as f64 / 1e6));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vector P3: the seed document's peer, byte for byte.
    #[test]
    fn porla_peer_serialises_like_vector_p3() {
        let peer = PorlaPeer {
            busy_requests: 0,
            client: "Transmission 2.94".into(),
            connection_type: 1,
            down_speed: 41856,
            download_queue_length: 25,
            download_queue_time: 0,
            flags: 668689,
            ip: ("1.2.3.4".into(), 51415),
            last_active: 0,
            last_request: 3,
            local_endpoint: ("192.168.1.16".into(), 6881),
            progress: 1.0,
            rtt: 336,
            source: 6,
            total_download: 395821,
            total_upload: 0,
            up_speed: 3093,
        };
        let body = json!({"id": 1, "jsonrpc": "2.0", "result": {"peers": [peer]}}).to_string();
        assert_eq!(
            body,
            r#"{"id":1,"jsonrpc":"2.0","result":{"peers":[{"busy_requests":0,"client":"Transmission 2.94","connection_type":1,"down_speed":41856,"download_queue_length":25,"download_queue_time":0,"flags":668689,"ip":["1.2.3.4",51415],"last_active":0,"last_request":3,"local_endpoint":["192.168.1.16",6881],"progress":1.0,"rtt":336,"source":6,"total_download":395821,"total_upload":0,"up_speed":3093}]}}"#
        );
    }
}
