//! The view: what the daemon knows of its torrents and peers, built by the
//! coordinator once a second (and after every change to the torrent list),
//! and the single source for `/metrics`, the JSON-RPC and the IPC. Each
//! fact has one owner: shards own the wire facts of their peers (sent in
//! snapshots), the coordinator owns choking, rates and the torrent list;
//! the view joins them, and readers never ask anyone else.
//!
//! Readers take an `Arc<View>` from [`SharedView`] (an `arc-swap` load: no
//! lock, and the coordinator's store never waits for a reader) and keep it
//! as long as they like.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use ringseed_proto::metainfo::{InfoHash, Metainfo};

use crate::disconnect::DisconnectReason;
use crate::messages::{IoFailure, PeerKey, PeerSource, ShardStats, MSG_SLOTS};
use crate::torrent::TorrentState;

/// The latest view, shared with readers; only the coordinator stores a new
/// one.
pub(crate) type SharedView = Arc<ArcSwap<View>>;

/// Reads the latest view.
pub(crate) fn latest(v: &SharedView) -> Arc<View> {
    v.load_full()
}

/// Everything readers see.
#[derive(Clone, Debug, Default)]
pub struct View {
    /// Unix time the view was built, seconds.
    pub built_unix: u64,
    /// Torrents of the session by info hash.
    pub torrents: Arc<BTreeMap<InfoHash, Arc<TorrentView>>>,
    /// Connected peers (handshake done) by torrent.
    pub peers: Arc<HashMap<InfoHash, Vec<Arc<PeerView>>>>,
    pub shards: Arc<Vec<ShardStats>>,
    /// Closed connections by reason since start.
    pub disconnects: Arc<BTreeMap<DisconnectReason, u64>>,
    /// The last closed connections, oldest first.
    pub recent_disconnects: Arc<VecDeque<DisconnectRecord>>,
    pub session: SessionView,
}

impl View {
    /// Every peer, in no particular order.
    pub fn all_peers(&self) -> impl Iterator<Item = &Arc<PeerView>> {
        self.peers.values().flatten()
    }
}

/// Session-wide facts.
#[derive(Clone, Debug, Default)]
pub struct SessionView {
    /// Global upload limit, bytes/s; -1 = unlimited.
    pub upload_limit: i64,
    /// Bytes hashed by piece verification since start.
    pub hashed_bytes: u64,
    /// Payload upload rate of all peers, bytes/s.
    pub upload_rate: u64,
    /// The TCP port the shards listen on.
    pub listen_port: u16,
    /// Choking rounds run since start.
    pub choke_rounds: u64,
    /// Download limit, bytes/s; -1 = unlimited (stored and reported only:
    /// a seeder downloads nothing).
    pub download_limit: i64,
    /// Save path of torrents added without one (empty: none).
    pub default_save_path: PathBuf,
    /// Torrents added through the IPC start seeding at once.
    pub autostart: bool,
}

/// One torrent.
#[derive(Clone, Debug)]
pub struct TorrentView {
    pub info_hash: InfoHash,
    pub meta: Arc<Metainfo>,
    pub save_path: PathBuf,
    /// Checking, seeding, paused or in error.
    pub state: TorrentState,
    pub paused: bool,
    /// Why the check failed (state `Error`).
    pub error: Option<IoFailure>,
    /// Verified pieces and total pieces.
    pub pieces_have: u32,
    pub pieces: u32,
    /// Bytes of verified pieces.
    pub bytes_have: u64,
    /// Payload uploaded: all time (saved across restarts) and this run.
    pub uploaded_total: u64,
    pub uploaded_session: u64,
    /// Payload upload rate, bytes/s; wire upload rate (headers included), bytes/s.
    pub upload_rate: u64,
    pub wire_upload_rate: u64,
    pub peers: u32,
    /// Connected peers that have every piece (they take nothing from us).
    pub seeds: u32,
    pub interested: u32,
    pub unchoked: u32,
    pub upload_limit: i64,
    pub max_connections: i64,
    pub max_uploads: i64,
    pub added_unix: u64,
    /// Seconds since the torrent was added to this run / has been seeding.
    pub active_secs: u64,
    pub seeding_secs: u64,
    pub queue_position: u64,
}

/// One connected peer: the shard's wire facts, the coordinator's choking
/// facts, and rates computed over the last second.
#[derive(Clone, Debug)]
pub struct PeerView {
    pub key: PeerKey,
    pub info_hash: InfoHash,
    pub addr: SocketAddr,
    pub local_addr: Option<SocketAddr>,
    pub peer_id: ringseed_proto::peer_id::PeerId,
    pub reserved: [u8; 8],
    /// Client name: BEP 10 `v`, else from the peer id.
    pub client: Arc<str>,
    pub outgoing: bool,
    pub source: PeerSource,
    pub connected_unix: u64,
    pub am_choking: bool,
    pub peer_choking: bool,
    pub peer_interested: bool,
    /// Holds the torrent's optimistic unchoke.
    pub optimistic: bool,
    pub upload_only: bool,
    pub extensions: bool,
    pub fast: bool,
    pub have_count: u32,
    pub num_pieces: u32,
    /// The peer's bitfield (BEP 3 wire order) once it told us anything.
    pub bitfield: Option<Arc<[u8]>>,
    /// Payload bytes sent / received.
    pub uploaded: u64,
    pub downloaded: u64,
    /// Wire bytes sent / received.
    pub bytes_sent: u64,
    pub bytes_recv: u64,
    /// Wire bytes/s over the last second (protocol overhead included).
    pub up_speed: u64,
    pub down_speed: u64,
    /// Payload bytes/s over the last second.
    pub upload_rate: u64,
    pub last_send_unix: u64,
    pub last_recv_unix: u64,
    pub queue_len: u32,
    pub inflight: Vec<u32>,
    /// Kernel smoothed / minimum RTT, µs (0 = unknown).
    pub rtt_us: u32,
    pub min_rtt_us: u32,
    /// Mean request → block-sent time, ms.
    pub serve_ms: u32,
    pub score: u32,
    pub whitelisted: bool,
    pub yourip: Option<IpAddr>,
    pub sent_per_msg: [u64; MSG_SLOTS],
    pub recv_per_msg: [u64; MSG_SLOTS],
}

/// A closed connection (`ringseed.disconnects`).
#[derive(Clone, Debug)]
pub struct DisconnectRecord {
    /// Unix time, seconds.
    pub unix: u64,
    pub addr: Option<SocketAddr>,
    pub client: Option<Arc<str>>,
    pub info_hash: Option<InfoHash>,
    pub reason: DisconnectReason,
    /// Where we learnt of the peer.
    pub source: Option<PeerSource>,
}
