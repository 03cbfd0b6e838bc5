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

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use ringseed_proto::metainfo::{InfoHash, Metainfo};

use crate::disconnect::DisconnectReason;
use crate::messages::{
    GlobalShareLimits, IoFailure, PeerKey, PeerSource, ShardStats, ShareLimits, MSG_SLOTS,
};
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
pub(crate) struct View {
    /// Unix time the view was built, seconds.
    pub(crate) built_unix: u64,
    /// Torrents of the session by info hash.
    pub(crate) torrents: Arc<BTreeMap<InfoHash, Arc<TorrentView>>>,
    /// Connected peers (handshake done) by torrent.
    pub(crate) peers: Arc<HashMap<InfoHash, Vec<Arc<PeerView>>>>,
    pub shards: Arc<Vec<ShardStats>>,
    /// Closed connections by reason since start.
    pub(crate) disconnects: Arc<BTreeMap<DisconnectReason, u64>>,
    /// The last closed connections, oldest first.
    pub(crate) recent_disconnects: Arc<VecDeque<DisconnectRecord>>,
    pub(crate) session: SessionView,
}

impl View {
    /// Every peer, in no particular order.
    pub(crate) fn all_peers(&self) -> impl Iterator<Item = &Arc<PeerView>> {
        self.peers.values().flatten()
    }
}

/// Session-wide facts.
#[derive(Clone, Debug, Default)]
pub(crate) struct SessionView {
    /// Global upload limit, bytes/s; -1 = unlimited.
    pub upload_limit: i64,
    /// Bytes hashed by piece verification since start.
    pub(crate) hashed_bytes: u64,
    /// Payload upload rate of all peers, bytes/s.
    pub(crate) upload_rate: u64,
    /// The TCP port the shards listen on.
    pub(crate) listen_port: u16,
    /// Download limit, bytes/s; -1 = unlimited (stored and reported only:
    /// a seeder downloads nothing).
    pub(crate) download_limit: i64,
    /// Save path of torrents added without one (empty: none).
    pub(crate) default_save_path: PathBuf,
    /// Torrents added through the IPC start seeding at once.
    pub(crate) autostart: bool,
    /// Categories: name → save path for adds ("" = the default save path).
    pub(crate) categories: Arc<BTreeMap<String, PathBuf>>,
    /// The session's tags.
    #[allow(dead_code)] // Read by the qBittorrent WebUI front end (control/webui).
    pub(crate) tags: Arc<BTreeSet<String>>,
    /// The global share limits in force (runtime setting, else `[seeding]`).
    #[allow(dead_code)] // Read by the qBittorrent WebUI front end (control/webui).
    pub(crate) share_limits: GlobalShareLimits,
    /// Share-limit actions taken since start, by action.
    pub(crate) share_limit_actions: ShareLimitCounts,
}

/// Share-limit actions taken since start (`ringseed_share_limit_actions_total`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ShareLimitCounts {
    pub(crate) stop: u64,
    pub(crate) remove: u64,
    pub(crate) remove_with_content: u64,
}

/// One torrent.
#[derive(Clone, Debug)]
pub(crate) struct TorrentView {
    pub(crate) info_hash: InfoHash,
    pub(crate) meta: Arc<Metainfo>,
    pub(crate) save_path: PathBuf,
    /// Checking, seeding, paused or in error.
    pub(crate) state: TorrentState,
    pub(crate) paused: bool,
    /// Why the check failed (state `Error`).
    pub(crate) error: Option<IoFailure>,
    /// Verified pieces and total pieces.
    pub(crate) pieces_have: u32,
    pub(crate) pieces: u32,
    /// Bytes of verified pieces.
    pub(crate) bytes_have: u64,
    /// Payload uploaded: all time (saved across restarts) and this run.
    pub(crate) uploaded_total: u64,
    pub(crate) uploaded_session: u64,
    /// Payload upload rate, bytes/s; wire upload rate (headers included), bytes/s.
    pub(crate) upload_rate: u64,
    pub(crate) wire_upload_rate: u64,
    pub(crate) peers: u32,
    /// Connected peers that have every piece (they take nothing from us).
    pub(crate) seeds: u32,
    pub(crate) interested: u32,
    pub(crate) unchoked: u32,
    pub upload_limit: i64,
    pub max_connections: i64,
    pub(crate) max_uploads: i64,
    /// Seconds since the torrent was added to this run.
    pub(crate) active_secs: u64,
    /// Seconds seeded, all runs together (libtorrent's `seeding_duration`,
    /// what qBittorrent's seeding-time limit counts).
    pub(crate) seeding_secs: u64,
    /// Unix time the current seeding spell began, seconds; 0 = not seeding.
    pub(crate) seeding_started_unix: u64,
    pub(crate) queue_position: u64,
    /// Category, "" = none.
    pub(crate) category: Arc<str>,
    /// Tags, sorted.
    pub(crate) tags: Arc<[String]>,
    /// The torrent's own share limits (-2 = global, -1 = none; seconds).
    pub(crate) share_limits: ShareLimits,
    /// Unix time the torrent was added to the session, seconds.
    #[allow(dead_code)] // Read by the qBittorrent WebUI front end (control/webui).
    pub(crate) added_unix: u64,
    /// Unix time it was first complete (its first check found every
    /// piece), seconds; 0 = never.
    #[allow(dead_code)] // Read by the qBittorrent WebUI front end (control/webui).
    pub(crate) completion_unix: u64,
    /// Unix time payload was last uploaded (seen at the once-a-second
    /// snapshot), seconds; 0 = never in this run.
    pub(crate) last_activity_unix: u64,
    /// Added with `skip_checking` and not hashed since.
    #[allow(dead_code)] // Read by the qBittorrent WebUI front end (control/webui).
    pub(crate) skip_checked: bool,
}

/// One connected peer: the shard's wire facts, the coordinator's choking
/// facts, and rates computed over the last second.
#[derive(Clone, Debug)]
pub(crate) struct PeerView {
    pub(crate) key: PeerKey,
    pub(crate) info_hash: InfoHash,
    pub(crate) addr: SocketAddr,
    pub(crate) local_addr: Option<SocketAddr>,
    pub(crate) peer_id: ringseed_proto::peer_id::PeerId,
    pub(crate) reserved: [u8; 8],
    /// Client name: BEP 10 `v`, else from the peer id.
    pub(crate) client: Arc<str>,
    pub(crate) outgoing: bool,
    pub(crate) source: PeerSource,
    pub(crate) connected_unix: u64,
    pub(crate) am_choking: bool,
    pub(crate) peer_choking: bool,
    pub(crate) peer_interested: bool,
    /// Holds the torrent's optimistic unchoke.
    pub(crate) optimistic: bool,
    pub(crate) upload_only: bool,
    pub(crate) extensions: bool,
    pub(crate) fast: bool,
    pub(crate) have_count: u32,
    pub(crate) num_pieces: u32,
    /// The peer's bitfield (BEP 3 wire order) once it told us anything.
    pub(crate) bitfield: Option<Arc<[u8]>>,
    /// Payload bytes sent / received.
    pub(crate) uploaded: u64,
    pub(crate) downloaded: u64,
    /// Wire bytes sent / received.
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_recv: u64,
    /// Wire bytes/s over the last second (protocol overhead included).
    pub(crate) up_speed: u64,
    pub(crate) down_speed: u64,
    /// Payload bytes/s over the last second.
    pub(crate) upload_rate: u64,
    pub(crate) last_send_unix: u64,
    pub(crate) last_recv_unix: u64,
    pub(crate) queue_len: u32,
    pub(crate) inflight: Vec<u32>,
    /// Kernel smoothed / minimum RTT, µs (0 = unknown).
    pub(crate) rtt_us: u32,
    pub(crate) min_rtt_us: u32,
    /// Mean request → block-sent time, ms.
    pub(crate) serve_ms: u32,
    pub(crate) score: u32,
    pub(crate) whitelisted: bool,
    pub(crate) yourip: Option<IpAddr>,
    pub(crate) sent_per_msg: [u64; MSG_SLOTS],
    pub(crate) recv_per_msg: [u64; MSG_SLOTS],
}

/// A closed connection (`ringseed.disconnects`).
#[derive(Clone, Debug)]
pub(crate) struct DisconnectRecord {
    /// Unix time, seconds.
    pub(crate) unix: u64,
    pub(crate) addr: Option<SocketAddr>,
    pub(crate) client: Option<Arc<str>>,
    pub(crate) info_hash: Option<InfoHash>,
    pub(crate) reason: DisconnectReason,
    /// Where we learnt of the peer.
    pub(crate) source: Option<PeerSource>,
}
