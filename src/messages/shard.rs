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
pub struct PeerSource(u8);

impl PeerSource {
    /// From a tracker announce.
    pub const TRACKER: PeerSource = PeerSource(1);
    /// The peer connected to us.
    pub const INCOMING: PeerSource = PeerSource(32);
    /// Added by hand (`torrents.peers.add`): libtorrent's `connect_peer`
    /// default, which porla uses, is no source bit at all.
    pub const MANUAL: PeerSource = PeerSource(0);

    /// The bits as libtorrent numbers them.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// The name `/metrics`, `ringseed.disconnects` and `torrents.peers.list`
    /// show: `incoming`, `tracker`, `manual`, or `other` for any other set.
    pub fn name(self) -> &'static str {
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
pub struct PeerHello {
    pub key: PeerKey,
    /// Index of the shard that owns the connection.
    pub shard: usize,
    pub info_hash: InfoHash,
    /// The peer's address.
    pub addr: SocketAddr,
    /// Our end of the connection.
    pub local_addr: Option<SocketAddr>,
    pub peer_id: PeerId,
    /// The 8 reserved bytes of the peer's handshake.
    pub reserved: [u8; 8],
    /// We dialled the peer (`torrents.peers.add`, tracker peers).
    pub outgoing: bool,
    pub source: PeerSource,
    /// Unix time of the connection, seconds.
    pub connected_unix: u64,
    /// The torrent's piece length in bytes (for round-robin turns).
    pub piece_length: u32,
    pub num_pieces: u32,
}

impl PeerHello {
    /// The peer supports BEP 6 (reserved bit 0x04 of byte 7).
    pub fn fast(&self) -> bool {
        self.reserved[7] & 0x04 != 0
    }
    /// The peer supports the BEP 10 extension protocol (0x10 of byte 5).
    pub fn extensions(&self) -> bool {
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
pub struct PeerSnapshot {
    pub key: PeerKey,
    /// We choke the peer (wire state).
    pub am_choking: bool,
    /// The peer chokes us (its last choke/unchoke; a seed never asks).
    pub peer_choking: bool,
    pub peer_interested: bool,
    /// Payload bytes sent to the peer since it connected.
    pub uploaded: u64,
    /// Payload bytes received (a seed receives none; porla's `total_download`).
    pub downloaded: u64,
    /// Wire bytes sent and received (headers, handshake and keep-alives included).
    pub bytes_sent: u64,
    pub bytes_recv: u64,
    /// Unix time of the last socket write / read, seconds (0: never).
    pub last_send_unix: u64,
    pub last_recv_unix: u64,
    /// Requests queued with us, not yet served.
    pub queue_len: u32,
    /// Distinct piece indices of the queued requests (at most 256).
    pub inflight: Vec<u32>,
    /// Pieces the peer says it has.
    pub have_count: u32,
    /// The peer's bitfield (BEP 3 wire order), sent only when it changed.
    pub bitfield: Option<Arc<[u8]>>,
    /// Kernel smoothed RTT and minimum RTT, microseconds (`TCP_INFO`; 0 = unknown).
    pub rtt_us: u32,
    pub min_rtt_us: u32,
    /// Mean time from a request's arrival to its block handed to the
    /// kernel, milliseconds (0 until a block was served).
    pub serve_ms: u32,
    /// Misbehaviour score (getpeerinfo's `banscore`).
    pub score: u32,
    /// Client name from the BEP 10 handshake `v`.
    pub client: Option<Arc<str>>,
    /// Our address as the peer sees it (BEP 10 `yourip`).
    pub yourip: Option<IpAddr>,
    /// The peer said `upload_only` in its BEP 10 handshake.
    pub upload_only: bool,
    pub sent_per_msg: [u64; MSG_SLOTS],
    pub recv_per_msg: [u64; MSG_SLOTS],
}

/// Per-shard counters reported every second (totals since the shard started).
#[derive(Clone, Debug, Default)]
pub struct ShardStats {
    pub shard: usize,
    pub connections: u64,
    pub bytes_sent: u64,
    pub blocks_sent: u64,
    pub registered_buffers: u64,
    pub registered_buffers_in_use: u64,
    pub plain_buffer_blocks: u64,
    /// Blocks spliced from the page cache to the socket (`--send-mode splice`).
    pub spliced_blocks: u64,
    /// Splice pipes the shard holds open (pooled and in use).
    pub splice_pipes: u64,
    /// io_uring operations submitted by the shard (reads, writes; accepts excluded).
    pub uring_ops: u64,
    /// Failed accepts (descriptor exhaustion and the like).
    pub accept_errors: u64,
    /// Registering the block buffers failed: plain buffers only.
    pub registration_failed: bool,
    /// Block serve times since the last snapshot, microseconds (request
    /// received → last byte handed to the kernel; a bounded sample).
    pub serve_time_us: Vec<u32>,
}

/// The facts of a closed connection kept for `ringseed.disconnects`.
#[derive(Clone, Debug)]
pub struct ClosedPeer {
    pub addr: SocketAddr,
    pub info_hash: Option<InfoHash>,
    pub client: Option<Arc<str>>,
    /// Where we learnt of the peer.
    pub source: PeerSource,
}

/// Upload budget used by a shard in the last period, per scope.
#[derive(Clone, Debug, Default)]
pub struct BudgetUse {
    pub shard: usize,
    /// Bytes taken from the global budget, and whether a block had to wait for it.
    pub global_used: u64,
    pub global_starved: bool,
    /// The same for each rate-limited torrent with demand on this shard.
    pub torrents: Vec<(InfoHash, u64, bool)>,
}

/// Shard → coordinator.
#[derive(Debug)]
pub enum ShardEvent {
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
pub struct BudgetGrant {
    /// Bytes of the global upload limit this shard may send.
    pub global: Option<u64>,
    /// Rate-limited torrents and the bytes each may send on this shard;
    /// torrents not listed are not limited.
    pub torrents: Vec<(InfoHash, u64)>,
}

/// Coordinator → shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardCommand {
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
pub struct ListenerSlot(Arc<parking_lot::Mutex<Option<std::net::TcpListener>>>);

impl ListenerSlot {
    pub fn new(l: std::net::TcpListener) -> Self {
        ListenerSlot(Arc::new(parking_lot::Mutex::new(Some(l))))
    }
    /// The listener, the first time only.
    pub fn take(&self) -> Option<std::net::TcpListener> {
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
pub struct ShardLink {
    pub tx: Sender<ShardCommand>,
    pub wake: Arc<Notify>,
}

impl ShardLink {
    /// Queues a command and wakes the shard (`notify_one` keeps a permit, so
    /// no wake-up is lost).
    pub fn send(&self, cmd: ShardCommand) {
        if self.tx.send(cmd).is_ok() {
            self.wake.notify_one();
        }
    }
}
