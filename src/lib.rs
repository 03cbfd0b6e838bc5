//! ringseed: a BitTorrent seeding engine.
//!
//! The crate root only names the parts; [`daemon`] starts and supervises
//! them. The folders are the threads: [`shard`] (one per core, io_uring),
//! [`coordinator`] (torrent list, choking, budgets, the view), [`control`]
//! (JSON-RPC, /metrics) and [`tracker`] (announces, on the control
//! thread), [`session`] (torrents, hash check, persistence),
//! [`storage`] (files, reads, hashes), [`torrent`] (a checked torrent and
//! the registry the shards read) and [`messages`] (what crosses between
//! them).

// Items are `pub(crate)` unless the binary, the tests or the benches use
// them; the compiler names any that drift.
#![warn(unreachable_pub)]
// serde_json's `json!` of the WebUI's widest objects (qBittorrent's preferences, 100+ keys).
#![recursion_limit = "512"]

pub(crate) mod accept;
pub(crate) mod ban;
pub mod config;
pub mod control;
pub mod coordinator;
pub mod create;
pub mod daemon;
pub(crate) mod disconnect;
pub(crate) mod listen;
pub(crate) mod messages;
pub mod rlimit;
pub mod session;
pub(crate) mod shard;
pub mod storage;
pub(crate) mod tally;
pub(crate) mod torrent;
pub(crate) mod tracker;

#[cfg(test)]
mod module_graph;

pub use daemon::{Daemon, DaemonError};
pub use messages::ThreadName;
pub use ringseed_proto::tracker as tracker_proto;
pub use ringseed_proto::{metainfo, wire};

/// Client name and version sent in the BEP 10 handshake `v`.
pub(crate) const CLIENT_NAME: &str = concat!("ringseed ", env!("CARGO_PKG_VERSION"));

/// Azureus-style peer id prefix (BEP 20): `-RG` and the version as four
/// digits (`-RG0100-` for 0.1.0), followed by 12 random bytes.
///
/// `RG` is in none of the client lists that decode peer ids (BEP 20's,
/// libtorrent's `identify_client`, Transmission's `clients.cc`); the `-RS`
/// used before is Rufus's, so Transmission showed ringseed as "Rufus".
/// libtorrent also matches `RS` at offset 2 of any peer id, which `-RG…`
/// avoids. Clients that read the BEP 10 `v` show [`CLIENT_NAME`].
pub(crate) const PEER_ID_PREFIX: &[u8; 8] = {
    const S: &str = concat!(
        "-RG",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        "0-"
    );
    // Each version part must be one digit for the prefix to stay 8 bytes.
    match S.as_bytes().first_chunk::<8>() {
        Some(p) if S.len() == 8 => p,
        _ => panic!("peer id prefix must be 8 bytes"),
    }
};
