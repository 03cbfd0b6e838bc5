//! Shard ↔ coordinator: what a shard reports (a peer's handshake, its
//! interest, its close, per-second snapshots, budget use) and what the
//! coordinator tells a shard (choke, close, dial, budgets, a new listener).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crossbeam_channel::Sender;
use ringseed_proto::metainfo::InfoHash;
use ringseed_proto::peer_id::PeerId;
use tokio::sync::Notify;

use super::{IoFailure, PeerKey};
use crate::disconnect::DisconnectReason;

/// Where we learnt of a peer: libtorrent's `peer_source_flags_t` bits
/// (`peer_info::tracker` … `peer_info::incoming` in libtorrent's
/// `include/libtorrent/peer_info.hpp`); [`PeerSource::bits`] is the integer
/// porla's `source` field carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct PeerSource(u8);

impl PeerSource {
    /// From a tracker announce.
    pub(crate) const TRACKER: PeerSource = PeerSource(1);
    /// The peer connected to us.
    pub(crate) const INCOMING: PeerSource = PeerSource(32);
    /// Added by hand (`torrents.peers.add`): libtorrent's `connect_peer`
    /// default, which porla uses, is no source bit at all.
    pub(crate) const MANUAL: PeerSource = PeerSource(0);

    /// The bits as libtorrent numbers them.
    pub(crate) fn bits(self) -> u8 {
        self.0
    }

    /// The name `/metrics`, `ringseed.disconnects` and `torrents.peers.list`
    /// show: `incoming`, `tracker`, `manual`, or `other` for any other set.
    pub(crate) fn name(self) -> &'static str {
        match self {
            PeerSource::INCOMING => "incoming",
            PeerSource::TRACKER => "tracker",
            PeerSource::MANUAL => "manual",
            _ => "other",
        }
    }
}

/// Facts about a peer known once its handshake is done (BEP 3).
#[derive(Clone, Debug)]
pub(crate) struct PeerHello {
    pub(crate) key: PeerKey,
    /// Index of the shard that owns the connection.
    pub(crate) shard: usize,
    pub(crate) info_hash: InfoHash,
    /// The peer's address.
    pub(crate) addr: SocketAddr,
    /// Our end of the connection.
    pub(crate) local_addr: Option<SocketAddr>,
    pub(crate) peer_id: PeerId,
    /// The 8 reserved bytes of the peer's handshake.
    pub(crate) reserved: [u8; 8],
    /// We dialled the peer (`torrents.peers.add`, tracker peers).
    pub(crate) outgoing: bool,
    pub(crate) source: PeerSource,
    /// Unix time of the connection, seconds.
    pub(crate) connected_unix: u64,
    pub(crate) num_pieces: u32,
}

impl PeerHello {
    /// The peer supports BEP 6 (reserved bit 0x04 of byte 7).
    pub(crate) fn fast(&self) -> bool {
        self.reserved[7] & 0x04 != 0
    }
    /// The peer supports the BEP 10 extension protocol (0x10 of byte 5).
    pub(crate) fn extensions(&self) -> bool {
        self.reserved[5] & 0x10 != 0
    }
}

/// Slots of the per-message byte counters (getpeerinfo's
/// `bytessent_per_msg` / `bytesrecv_per_msg`): one per BitTorrent message
/// name, the 4-byte length prefix included.
pub(crate) const MSG_SLOTS: usize = 19;

/// Names of the [`MSG_SLOTS`] counters, in slot order.
pub(crate) const MSG_NAMES: [&str; MSG_SLOTS] = [
    "choke",
    "unchoke",
    "interested",
    "not_interested",
    "have",
    "bitfield",
    "request",
    "piece",
    "cancel",
    "port",
    "suggest_piece",
    "have_all",
    "have_none",
    "reject_request",
    "allowed_fast",
    "extended",
    "keep_alive",
    "handshake",
    "*other*",
];

/// Counter slot of a message: `None` for a keep-alive (length 0), else its id.
pub(crate) fn msg_slot(id: Option<u8>) -> usize {
    match id {
        None => 16,
        Some(i @ 0..=9) => i as usize,
        Some(13) => 10,
        Some(14) => 11,
        Some(15) => 12,
        Some(16) => 13,
        Some(17) => 14,
        Some(20) => 15,
        Some(_) => 18,
    }
}

/// Counter slot of the 68-byte handshake.
pub(crate) const HANDSHAKE_SLOT: usize = 17;

/// Per-peer counters a shard reports every second.
#[derive(Clone, Debug, Default)]
pub(crate) struct PeerSnapshot {
    pub(crate) key: PeerKey,
    /// We choke the peer (wire state).
    pub(crate) am_choking: bool,
    /// The peer chokes us (its last choke/unchoke; a seed never asks).
    pub(crate) peer_choking: bool,
    pub(crate) peer_interested: bool,
    /// Payload bytes sent to the peer since it connected.
    pub(crate) uploaded: u64,
    /// Payload bytes received (a seed receives none; porla's `total_download`).
    pub(crate) downloaded: u64,
    /// Wire bytes sent and received (headers, handshake and keep-alives included).
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_recv: u64,
    /// Unix time of the last socket write / read, seconds (0: never).
    pub(crate) last_send_unix: u64,
    pub(crate) last_recv_unix: u64,
    /// Requests queued with us, not yet served.
    pub(crate) queue_len: u32,
    /// Distinct piece indices of the queued requests (at most 256).
    pub(crate) inflight: Vec<u32>,
    /// Pieces the peer says it has.
    pub(crate) have_count: u32,
    /// The peer's bitfield (BEP 3 wire order), sent only when it changed.
    pub(crate) bitfield: Option<Arc<[u8]>>,
    /// Kernel smoothed RTT and minimum RTT, microseconds (`TCP_INFO`; 0 = unknown).
    pub(crate) rtt_us: u32,
    pub(crate) min_rtt_us: u32,
    /// Mean time from a request's arrival to its block handed to the
    /// kernel, milliseconds (0 until a block was served).
    pub(crate) serve_ms: u32,
    /// Misbehaviour score (getpeerinfo's `banscore`).
    pub(crate) score: u32,
    /// Client name from the BEP 10 handshake `v`.
    pub(crate) client: Option<Arc<str>>,
    /// Our address as the peer sees it (BEP 10 `yourip`).
    pub(crate) yourip: Option<IpAddr>,
    /// The peer said `upload_only` in its BEP 10 handshake.
    pub(crate) upload_only: bool,
    pub(crate) sent_per_msg: [u64; MSG_SLOTS],
    pub(crate) recv_per_msg: [u64; MSG_SLOTS],
}

/// Per-shard counters reported every second (totals since the shard started).
#[derive(Clone, Debug, Default)]
pub(crate) struct ShardStats {
    pub(crate) shard: usize,
    pub(crate) connections: u64,
    pub(crate) bytes_sent: u64,
    pub(crate) blocks_sent: u64,
    pub(crate) registered_buffers: u64,
    pub(crate) registered_buffers_in_use: u64,
    pub(crate) plain_buffer_blocks: u64,
    /// Blocks spliced from the page cache to the socket (`--send-mode splice`).
    pub(crate) spliced_blocks: u64,
    /// Splice pipes the shard holds open (pooled and in use).
    pub(crate) splice_pipes: u64,
    /// io_uring operations submitted by the shard (reads, writes; accepts excluded).
    pub(crate) uring_ops: u64,
    /// Failed accepts (descriptor exhaustion and the like).
    pub(crate) accept_errors: u64,
    /// Registering the block buffers failed: plain buffers only.
    pub(crate) registration_failed: bool,
    /// The read cache's figures (`None` when it is off).
    pub(crate) read_cache: Option<crate::storage::cache::CacheStats>,
    /// Block serve times since the last snapshot, microseconds (request
    /// received → last byte handed to the kernel; a bounded sample).
    pub(crate) serve_time_us: Vec<u32>,
}

/// The facts of a closed connection kept for `ringseed.disconnects`.
#[derive(Clone, Debug)]
pub(crate) struct ClosedPeer {
    pub(crate) addr: SocketAddr,
    pub(crate) info_hash: Option<InfoHash>,
    pub(crate) client: Option<Arc<str>>,
    /// Where we learnt of the peer.
    pub(crate) source: PeerSource,
}

/// Upload budget used by a shard in the last period, per scope.
#[derive(Clone, Debug, Default)]
pub(crate) struct BudgetUse {
    pub(crate) shard: usize,
    /// Bytes taken from the global budget, and whether a block had to wait for it.
    pub(crate) global_used: u64,
    pub(crate) global_starved: bool,
    /// The same for each rate-limited torrent with demand on this shard.
    pub(crate) torrents: Vec<(InfoHash, u64, bool)>,
}

/// Shard → coordinator.
#[derive(Debug)]
pub(crate) enum ShardEvent {
    Connected(Box<PeerHello>),
    Interest {
        key: PeerKey,
        interested: bool,
    },
    /// A connection ended. `key` is `None` for one refused before it got a key.
    Closed {
        key: Option<PeerKey>,
        reason: DisconnectReason,
        peer: Option<Box<ClosedPeer>>,
    },
    Snapshot {
        stats: ShardStats,
        peers: Vec<PeerSnapshot>,
    },
    Budget(BudgetUse),
    /// A file of a torrent could not be opened or read while serving.
    Unreadable {
        info_hash: InfoHash,
        /// Index in the torrent's file list.
        file: u32,
        error: IoFailure,
    },
    /// A misbehaving peer's address crossed the ban score (see `network.ban_time_secs`).
    Ban(IpAddr),
}

/// Upload allowances for one period, from the coordinator to one shard.
/// `None` / absent = unlimited.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct BudgetGrant {
    /// Bytes of the global upload limit this shard may send.
    pub(crate) global: Option<u64>,
    /// Rate-limited torrents and the bytes each may send on this shard;
    /// torrents not listed are not limited.
    pub(crate) torrents: Vec<(InfoHash, u64)>,
}

/// Coordinator → shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ShardCommand {
    Choke(PeerKey),
    Unchoke(PeerKey),
    /// Close one peer.
    Close(PeerKey, DisconnectReason),
    /// Close every peer of a torrent (removed, paused, rechecked).
    CloseTorrent(InfoHash, DisconnectReason),
    /// Dial a peer for a torrent (BEP 3 handshake from our side).
    Connect {
        info_hash: InfoHash,
        addr: SocketAddr,
        source: PeerSource,
    },
    Budget(BudgetGrant),
    /// Accept on this listener from now on (`port` of the IPC): the old
    /// listener is shut down, connected peers stay. `port` is what the
    /// BEP 10 handshake advertises (`p`) from then on.
    Listen {
        listener: ListenerSlot,
        port: u16,
    },
    /// Close every peer and stop.
    Shutdown,
}

/// A bound listener handed to one shard, taken once (commands are `Clone`
/// for broadcasts; a listener is not, so it travels in a shared slot).
#[derive(Clone, Debug)]
pub(crate) struct ListenerSlot(Arc<parking_lot::Mutex<Option<std::net::TcpListener>>>);

impl ListenerSlot {
    pub(crate) fn new(l: std::net::TcpListener) -> Self {
        ListenerSlot(Arc::new(parking_lot::Mutex::new(Some(l))))
    }
    /// The listener, the first time only.
    pub(crate) fn take(&self) -> Option<std::net::TcpListener> {
        self.0.lock().take()
    }
}

impl PartialEq for ListenerSlot {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ListenerSlot {}

/// The sending end to one shard: a channel and the shard's wake-up.
#[derive(Clone)]
pub(crate) struct ShardLink {
    pub(crate) tx: Sender<ShardCommand>,
    pub(crate) wake: Arc<Notify>,
}

impl ShardLink {
    /// Queues a command and wakes the shard (`notify_one` keeps a permit, so
    /// no wake-up is lost).
    pub(crate) fn send(&self, cmd: ShardCommand) {
        if self.tx.send(cmd).is_ok() {
            self.wake.notify_one();
        }
    }
}
