//! The daemon's configuration: one typed struct with documented defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::coordinator::choker::ChokerAlgorithm;

/// Everything `ringseed seed` can be told. Units are in the field names or docs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address every shard listens on (one SO_REUSEPORT listener per shard).
    /// Port 0 picks a free port once, shared by all shards.
    pub listen: SocketAddr,
    /// Number of shards (threads with their own io_uring); 0 = one per core.
    pub shards: usize,
    /// Directory holding each torrent's content (its `name` is a file or folder here).
    pub data_dir: PathBuf,
    /// Directory for resume data.
    pub state_dir: PathBuf,
    /// Prometheus exporter address (`/metrics`), off when `None`.
    pub metrics: Option<SocketAddr>,
    /// Set TCP_NODELAY on peer sockets (default off). Off, the kernel may
    /// coalesce a block with the next one still being written (Nagle only
    /// holds back a short segment while data is unacknowledged), which
    /// measured 7–14 % more throughput and 10 % less CPU per GiB on loopback;
    /// tiny control messages can then wait for an ACK (well under a
    /// millisecond on a LAN).
    pub tcp_nodelay: bool,
    /// Most peers with per-peer series on `/metrics` (the busiest by upload rate).
    pub metrics_max_peers: usize,
    /// Read blocks with O_DIRECT straight into the registered buffers.
    pub direct_io: bool,
    /// Handshake must complete within this long (default 30 s).
    pub handshake_timeout: Duration,
    /// A peer that is not interested for this long is closed (default 180 s);
    /// a seed is never interested, so this is "neither side interested".
    pub idle_timeout: Duration,
    /// A block write that makes no progress for this long closes the peer (default 60 s).
    pub write_timeout: Duration,
    /// Upload slots per torrent (peers unchoked by the choker, optimistic
    /// unchoke excluded); 0 = every interested peer is unchoked.
    pub upload_slots: usize,
    /// Seed choking algorithm.
    pub choker: ChokerAlgorithm,
    /// Rechoke interval (default 10 s).
    pub unchoke_interval: Duration,
    /// Optimistic unchoke interval (default 30 s).
    pub optimistic_interval: Duration,
    /// Requests a peer may have queued with us (`reqq` we advertise, BEP 10).
    pub reqq: usize,
    /// Connected peers per shard before new ones are refused.
    pub max_peers_per_shard: usize,
    /// Connections per shard still in the handshake before new ones are refused.
    pub max_pending_handshakes: usize,
    /// Hash-check threads; 0 = one per core.
    pub hash_threads: usize,
    /// Registered buffers per shard; `None` = sized from RLIMIT_MEMLOCK (max 1024).
    pub buffers_per_shard: Option<usize>,
}

impl Config {
    /// Defaults for a data directory; see each field for the value and why.
    pub fn new(data_dir: PathBuf) -> Self {
        Config {
            listen: "0.0.0.0:6881".parse().expect("literal"),
            shards: 0,
            data_dir,
            state_dir: default_state_dir(),
            metrics: None,
            metrics_max_peers: 1000,
            tcp_nodelay: false,
            direct_io: false,
            handshake_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(180),
            write_timeout: Duration::from_secs(60),
            upload_slots: DEFAULT_UPLOAD_SLOTS,
            choker: ChokerAlgorithm::RoundRobin,
            unchoke_interval: Duration::from_secs(10),
            optimistic_interval: Duration::from_secs(30),
            reqq: DEFAULT_REQQ,
            max_peers_per_shard: 20_000,
            max_pending_handshakes: 512,
            hash_threads: 0,
            buffers_per_shard: None,
        }
    }

    /// The shard count with 0 resolved to the number of cores.
    pub fn shard_count(&self) -> usize {
        if self.shards == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.shards
        }
    }
}

/// Default `reqq`: requests a peer may queue with us (advertised in the
/// BEP 10 handshake; past it a Fast peer gets `reject`, a peer without BEP 6
/// an overflow choke).
///
/// Why 2000: it is libtorrent's default `max_allowed_in_request_queue`, and
/// peers that refill their pipeline in batches (Transmission, once a
/// second, capped at our `reqq`) get at most `reqq` blocks a second: 250
/// held Transmission at 2–3 MB/s. A queued request is 32 bytes and holds no
/// block buffer, and a queue shrinks back when it empties, so a deep queue
/// costs memory only while a peer really has that many requests waiting.
pub const DEFAULT_REQQ: usize = 2000;

/// Default upload slots per torrent: 8.
///
/// Why 8: it is libtorrent's default `unchoke_slots_limit`; with 8 peers each
/// getting an eighth of a 1 Gbit/s uplink (about 15 MB/s), every unchoked peer
/// downloads fast enough to finish pieces quickly and pass them on, while
/// round-robin rotation every 10 s still reaches every interested peer.
/// Operators with fast uplinks and many leechers raise it (`--upload-slots`).
pub const DEFAULT_UPLOAD_SLOTS: usize = 8;

/// `$XDG_STATE_HOME/ringseed`, else `~/.local/state/ringseed`, else `./ringseed-state`.
pub fn default_state_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("ringseed");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h).join(".local/state/ringseed");
    }
    PathBuf::from("ringseed-state")
}
