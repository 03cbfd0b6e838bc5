//! The daemon's configuration: one typed [`Config`] with nested sections,
//! read from a TOML file (`--config FILE`) and overridden by command-line
//! flags. Defaults live here and nowhere else; `ringseed config` prints them
//! as a commented TOML file, the comments taken from these doc comments.
//!
//! Units are in the key names (`_secs`, `_bytes`) or the docs; rates are
//! bytes/s. Unknown keys are refused, so a typo never goes unnoticed.
//!
//! The types of keys spelled as text (an address or "off", the send mode,
//! the choker, a CIDR network) are in `values`; `commented` writes the file
//! `ringseed config` prints.

mod commented;
mod values;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use values::{
    ChokerAlgorithm, Cidr, ColdReads, Endpoint, SendMode, ShareLimitAction, UnixSocket,
};

/// Everything the daemon can be told.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Peer connections: the listener, timeouts and connection limits.
    pub network: Network,
    /// Choking: who gets an upload slot.
    pub choking: Choking,
    /// Upload rate limits.
    pub limits: Limits,
    /// Share limits: when a torrent has seeded enough (ratio, seeding time,
    /// inactive seeding time) and what happens then.
    pub seeding: Seeding,
    /// Where data, state and open files live.
    pub storage: Storage,
    /// The Prometheus exporter.
    pub metrics: Metrics,
    /// porla's JSON-RPC over HTTP (the control API).
    pub rpc: Rpc,
    /// Tracker announces and scrapes (BEP 3, 12, 15, 48) and dialling the
    /// peers trackers return.
    pub(crate) trackers: Trackers,
    /// Transmission 0.80's legacy IPC: bencoded messages on a Unix socket (docs/ipc.md).
    pub ipc: Ipc,
    /// qBittorrent's WebUI API v2 (docs/webui.md): what cross-seed, qui,
    /// qbit_manage, Flood and the qBittorrent exporters speak.
    pub webui: WebUi,
    /// Transmission's RPC over HTTP (docs/transmission-rpc.md): what
    /// transmission-remote, Transmission's GUIs, Flood and autobrr speak.
    pub transmission_rpc: TransmissionRpc,
}

/// Peer connections.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Network {
    /// Address every shard listens on (one SO_REUSEPORT listener per shard).
    /// Port 0 picks a free port once, shared by all shards.
    #[schemars(with = "String")]
    pub listen: SocketAddr,
    /// Shards: threads with their own io_uring ring and listener; 0 = one per core.
    pub shards: usize,
    /// Set TCP_NODELAY on peer sockets (default on). The writer coalesces
    /// itself (every block ready goes out in one `writev` or one splice), so
    /// Nagle only delays the last segment of a burst: a leecher that asks
    /// for a whole piece and waits for it got 37–38 MB/s with Nagle on and
    /// one write per block, 638 MB/s now with `fixed`, 1125–1363 MB/s with
    /// `splice` (docs/benchmarks.md, "Send path").
    pub tcp_nodelay: bool,
    /// How block data reaches the socket: `fixed` (read into registered
    /// buffers, then `writev`), `splice` (file → pipe → socket through
    /// io_uring: page-cache data never enters user memory) or `zc`
    /// (registered buffers sent with `IORING_OP_SENDMSG_ZC`). A kernel that
    /// refuses the chosen operation falls back to `fixed` with one warning.
    /// `--direct-io` always reads into registered buffers (`splice` then
    /// means `fixed`). Measurements: docs/benchmarks.md, "Send path".
    pub send_mode: SendMode,
    /// Requests a peer may queue with us (`reqq`, advertised in the BEP 10
    /// handshake). Past it a BEP 6 peer gets `reject`, a peer without BEP 6
    /// is choked once its queue is served, then unchoked (it asks again).
    pub reqq: usize,
    /// A connection must finish the BEP 3 handshake within this long, seconds.
    pub handshake_timeout_secs: u64,
    /// A peer that stays not interested this long is closed (useless peer), seconds.
    pub idle_timeout_secs: u64,
    /// A peer from which nothing (not even a keep-alive) arrives this long is
    /// closed, seconds. BEP 3 peers send a keep-alive about every 2 minutes.
    pub receive_timeout_secs: u64,
    /// A write that makes no progress this long closes the peer, seconds.
    pub write_timeout_secs: u64,
    /// Connected peers per shard before new ones are refused.
    pub max_peers_per_shard: usize,
    /// Connections per shard still in the handshake before new ones are refused.
    pub max_pending_handshakes: usize,
    /// Networks (CIDR, e.g. "10.0.0.0/8") whose peers are never disconnected
    /// or banned for misbehaviour (getpeerinfo's `whitelisted`).
    pub whitelist: Vec<String>,
    /// A peer whose misbehaviour score reaches 100 is disconnected and its
    /// address refused for this long, seconds (loopback and whitelisted
    /// addresses are never banned).
    pub ban_time_secs: u64,
}

/// Choking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Choking {
    /// Seed choking algorithm: "round_robin", "fastest_upload" or "anti_leech".
    #[schemars(with = "String")]
    pub algorithm: ChokerAlgorithm,
    /// Upload slots per torrent: peers unchoked by the choker, optimistic
    /// unchoke excluded; 0 = every interested peer is unchoked.
    pub upload_slots: usize,
    /// Rechoke interval, seconds.
    pub unchoke_interval_secs: u64,
    /// Optimistic unchoke interval, seconds.
    pub optimistic_interval_secs: u64,
}

/// Upload rate limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Global upload limit, bytes/s of piece payload; 0 or -1 = unlimited.
    /// Per-torrent limits are set through the RPC (`upload_limit`).
    pub upload_limit: i64,
}

/// Global share limits (qBittorrent's `max_ratio`, `max_seeding_time`,
/// `max_inactive_seeding_time`, `max_ratio_act`, with times in seconds).
/// These are the defaults: limits set at runtime (through the control API)
/// are kept in the session's settings and win over them. A torrent's own
/// limits win over both. -1 = no limit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Seeding {
    /// Share ratio (payload uploaded / torrent size) at which a seeding
    /// torrent is stopped or removed; -1 = no limit.
    pub max_ratio: f64,
    /// Seeding time (all runs together) at which a torrent is stopped or
    /// removed, seconds; -1 = no limit.
    pub max_seeding_time_secs: i64,
    /// Time without uploading (since the last payload sent, or since seeding
    /// started when nothing was) at which a torrent is stopped or removed,
    /// seconds; -1 = no limit.
    pub max_inactive_seeding_time_secs: i64,
    /// What reaching a limit does: "stop" (pause), "remove" (keep the
    /// data) or "remove_with_content" (delete the data too).
    pub share_limit_action: ShareLimitAction,
}

/// Storage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Storage {
    /// Default save path of new torrents: the folder holding each torrent's
    /// content (its `name` is a file or folder there). Empty = none: every
    /// added torrent must name its save path.
    pub data_dir: PathBuf,
    /// State directory: the session (each torrent's metainfo, save path,
    /// paused flag, limits), resume data and the RPC secret.
    /// Empty = $XDG_STATE_HOME/ringseed (or ~/.local/state/ringseed).
    pub state_dir: PathBuf,
    /// Read blocks with O_DIRECT straight into the registered buffers
    /// (bypasses the page cache).
    pub direct_io: bool,
    /// Registered block buffers per shard; 0 = sized from RLIMIT_MEMLOCK (max 1024).
    pub buffers_per_shard: usize,
    /// Hash-check threads; 0 = one per core.
    pub hash_threads: usize,
    /// Data files kept open at once, all shards together (a per-shard LRU
    /// cache closes the least recently used beyond its share).
    pub max_open_files: usize,
    /// Read cache for blocks the page cache does not hold, MiB, all shards
    /// together: on a miss the block's whole window is read once (O_DIRECT)
    /// and every request inside it is served from memory. 0 = off (every
    /// block is read through the page cache).
    pub read_cache_mib: usize,
    /// Read window of the read cache, KiB: the aligned part of a piece read
    /// at once on a miss (rounded up to 16 KiB; never past the piece's end).
    pub read_window_kib: u32,
    /// Read-cache reads in flight per device (st_dev), all shards together;
    /// more wait in offset order.
    pub device_queue_depth: usize,
    /// How a window the page cache does not hold is read: `auto` (direct
    /// while the seeded torrents exceed half the memory the page cache may
    /// use, else page_cache), `page_cache` (buffered; the page cache keeps
    /// it while memory allows) or `direct` (O_DIRECT).
    pub cold_reads: ColdReads,
}

/// The Prometheus exporter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Metrics {
    /// Address of `/metrics` ("ADDR:PORT"), or "off". Bind it to loopback or a
    /// private interface.
    #[schemars(with = "String")]
    pub listen: Endpoint,
    /// Peers with per-peer series (the busiest by upload rate); the rest are
    /// counted in `ringseed_peers_not_shown`.
    pub max_peers: usize,
}

/// porla's JSON-RPC (`POST /api/v1/jsonrpc`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Rpc {
    /// Address ("ADDR:PORT", porla's default 127.0.0.1:1337), or "off".
    #[schemars(with = "String")]
    pub listen: Endpoint,
    /// Require a token (HS256 JWT with `iss` "porla", signed with the secret
    /// in the state directory; `ringseed token` prints one).
    pub auth: bool,
    /// Largest request body, bytes (a base64 `ti` of a 100,000-piece torrent
    /// is about 2.7 MB).
    pub max_body_bytes: usize,
    /// Open HTTP connections at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// A request's headers must arrive within this long, seconds.
    pub header_timeout_secs: u64,
    /// A request's body must arrive within this long, seconds.
    pub body_timeout_secs: u64,
}

/// qBittorrent's WebUI API v2 (`/api/v2/…`, presented as qBittorrent 5.1.0,
/// WebAPI 2.11.4; docs/webui.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct WebUi {
    /// Address ("ADDR:PORT", qBittorrent's default 127.0.0.1:8080), or "off".
    /// Bound to loopback, the `Host` header must name loopback and a
    /// cross-site `Origin`/`Referer` is refused.
    #[schemars(with = "String")]
    pub listen: Endpoint,
    /// Login name. "" = the one in STATE_DIR/webui.credentials (set by
    /// `ringseed webui-password`), else "admin".
    pub username: String,
    /// The password as qBittorrent stores it (`WebUI\Password_PBKDF2`):
    /// `@ByteArray(SALT:KEY)`, base64 of a 16-byte salt and of the 64-byte
    /// PBKDF2-HMAC-SHA512 key (100,000 iterations). "" = the one in
    /// STATE_DIR/webui.credentials; with none there either, a random
    /// password is made at first start, its hash written there (mode 0600)
    /// and the password printed once in the log.
    pub password_pbkdf2: String,
    /// API keys accepted as `Authorization: Bearer KEY` (qBittorrent 5.2's
    /// API keys), in place of a login.
    pub api_keys: Vec<String>,
    /// Failed logins from one address before it is banned (qBittorrent's
    /// `WebUI\MaxAuthenticationFailCount`).
    pub max_auth_failures: u32,
    /// How long such an address is banned, seconds (qBittorrent's
    /// `WebUI\BanDuration`).
    pub ban_secs: u64,
    /// A session unused this long ends, seconds (qBittorrent's
    /// `WebUI\SessionTimeout`).
    pub session_timeout_secs: u64,
    /// Sessions at once; past it the least recently used one ends.
    pub max_sessions: usize,
    /// Largest request body, bytes (a multipart add of many .torrent
    /// files); past it 413.
    pub max_body_bytes: usize,
    /// Parts of one multipart form; past it the form is refused.
    pub max_form_parts: usize,
}

/// Transmission's RPC (`POST /transmission/rpc`, presented as Transmission
/// 4.0.6, rpc-version 17; docs/transmission-rpc.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TransmissionRpc {
    /// Address ("ADDR:PORT", Transmission's default 127.0.0.1:9091), or
    /// "off". Bound to loopback, a `Host` that is not a loopback name gets
    /// 421 (Transmission's host whitelist).
    #[schemars(with = "String")]
    pub listen: Endpoint,
    /// Require HTTP Basic auth, with the WebUI's login (`[webui]`
    /// username/password_pbkdf2, else STATE_DIR/webui.credentials, set by
    /// `ringseed webui-password`); failures count toward the same ban as
    /// the WebUI's (`max_auth_failures`, `ban_secs` of `[webui]`).
    pub auth: bool,
    /// Client addresses allowed (Transmission's `rpc-whitelist`: IPv4/IPv6
    /// addresses, `*` and `?` wildcards); others get 403. Empty = any.
    pub whitelist: Vec<String>,
    /// Largest request body, bytes (a `torrent-add` carries the metainfo
    /// in base64: 4/3 of the .torrent file); past it 413.
    pub max_body_bytes: usize,
    /// Where `blocklist-update` reads the blocklist: a file path or an
    /// http(s) URL of P2P-plain ranges (`name:first-last` per line). "" =
    /// none (the update answers an error). Addresses in a range are
    /// refused at accept.
    pub blocklist: String,
}

/// Trackers (docs/trackers.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Trackers {
    /// Announce torrents to the trackers their metainfo names.
    pub(crate) enabled: bool,
    /// Peers asked for in each announce (`numwant`).
    pub(crate) numwant: u32,
    /// Announces (not counting `stopped`) started per second, all torrents
    /// together: 10,000 torrents added at once take 10,000 / this seconds
    /// to announce, instead of all in the same second.
    pub(crate) announces_per_second: u32,
    /// Tracker exchanges in flight at once.
    pub(crate) max_concurrent: usize,
    /// A tracker's `interval` (and `min interval`) is clamped to at least
    /// this, seconds: 0 or a negative interval never makes us hammer it.
    pub(crate) min_interval_secs: u64,
    /// ...and to at most this, seconds.
    pub(crate) max_interval_secs: u64,
    /// After every tracker of a torrent failed, the next try waits this
    /// long, doubled on each further failure (±25 % jitter), seconds.
    pub(crate) retry_base_secs: u64,
    /// Longest wait between failed tries, seconds.
    pub(crate) retry_max_secs: u64,
    /// An HTTP announce or scrape (resolve, connect, TLS, redirects, body)
    /// must finish within this long, seconds.
    pub(crate) http_timeout_secs: u64,
    /// Largest HTTP reply body, bytes; past it the reply is refused.
    pub(crate) max_response_bytes: usize,
    /// HTTP redirects followed before the announce fails.
    pub(crate) max_redirects: usize,
    /// BEP 15: first wait for a UDP reply, seconds; doubled on each
    /// retransmission (15 · 2^n).
    pub(crate) udp_timeout_secs: u64,
    /// BEP 15 retransmissions after the first send (2: waits of 15, 30 and
    /// 60 s, 105 s in all).
    pub(crate) udp_retries: u32,
    /// Scrape (BEP 48 / BEP 15) for seeders, leechers and downloads this
    /// often, seconds; 0 = never (the announce replies' counts are used).
    pub(crate) scrape_interval_secs: u64,
    /// Dial tracker peers only while fewer than this many outgoing
    /// connects are in flight, all torrents together (half-open cap).
    pub(crate) max_half_open: usize,
    /// Dial tracker peers for a torrent only while it has fewer connected
    /// peers than this (its own `max_connections` also applies).
    pub(crate) max_peers_per_torrent: usize,
    /// Dial tracker peers only while fewer than this many peers are
    /// connected, all torrents together.
    pub max_peers: usize,
    /// A tracker peer we dialled is not dialled again for this long, seconds.
    pub(crate) redial_secs: u64,
}

/// Transmission 0.80's legacy IPC on a Unix socket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Ipc {
    /// Path of the Unix socket, "" for STATE_DIR/daemon/socket (as
    /// ~/.transmission/daemon/socket), or "off". Created mode 0600 (its
    /// directory 0700 when created); PATH.lock keeps a second daemon off it.
    #[schemars(with = "String")]
    pub socket: UnixSocket,
    /// Largest message payload a client may send, bytes; a longer frame
    /// closes the connection (0.80 allowed 2 GiB).
    pub max_message_bytes: usize,
    /// A client that sends nothing for this long is closed, seconds (0.80: 60;
    /// clients send "noop" to stay).
    pub idle_timeout_secs: u64,
    /// Clients served at once; more wait in the socket's backlog.
    pub max_clients: usize,
}

/// Default `reqq`: requests a peer may queue with us.
///
/// Why 2000: it is libtorrent's default `max_allowed_in_request_queue`, and
/// peers that refill their pipeline in batches (Transmission, once a
/// second, capped at our `reqq`) get at most `reqq` blocks a second: 250
/// held Transmission at 2–3 MB/s. A queued request is 32 bytes and holds no
/// block buffer, and a queue shrinks back when it empties, so a deep queue
/// costs memory only while a peer really has that many requests waiting.
pub(crate) const DEFAULT_REQQ: usize = 2000;

/// Default upload slots per torrent: 8.
///
/// Why 8: it is libtorrent's default `unchoke_slots_limit`; with 8 peers each
/// getting an eighth of a 1 Gbit/s uplink (about 15 MB/s), every unchoked peer
/// downloads fast enough to finish pieces quickly and pass them on, while
/// round-robin rotation every 10 s still reaches every interested peer.
/// Operators with fast uplinks and many leechers raise it (`--upload-slots`).
pub const DEFAULT_UPLOAD_SLOTS: usize = 8;

impl Default for Network {
    fn default() -> Self {
        Network {
            listen: "0.0.0.0:6881".parse().expect("literal"),
            shards: 0,
            tcp_nodelay: true,
            send_mode: SendMode::default(),
            reqq: DEFAULT_REQQ,
            handshake_timeout_secs: 30,
            idle_timeout_secs: 180,
            receive_timeout_secs: 300,
            write_timeout_secs: 60,
            max_peers_per_shard: 20_000,
            max_pending_handshakes: 512,
            whitelist: Vec::new(),
            // getpeerinfo's default -bantime.
            ban_time_secs: 86_400,
        }
    }
}

impl Default for Choking {
    fn default() -> Self {
        Choking {
            algorithm: ChokerAlgorithm::RoundRobin,
            upload_slots: DEFAULT_UPLOAD_SLOTS,
            unchoke_interval_secs: 10,
            optimistic_interval_secs: 30,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits { upload_limit: -1 }
    }
}

impl Default for Seeding {
    fn default() -> Self {
        Seeding {
            max_ratio: -1.0,
            max_seeding_time_secs: -1,
            max_inactive_seeding_time_secs: -1,
            share_limit_action: ShareLimitAction::Stop,
        }
    }
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            data_dir: PathBuf::new(),
            state_dir: PathBuf::new(),
            direct_io: false,
            buffers_per_shard: 0,
            hash_threads: 0,
            max_open_files: 512,
            read_cache_mib: 256,
            read_window_kib: 512,
            device_queue_depth: 64,
            cold_reads: ColdReads::default(),
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            listen: Endpoint::Off,
            max_peers: 1000,
        }
    }
}

impl Default for Rpc {
    fn default() -> Self {
        Rpc {
            listen: Endpoint::On("127.0.0.1:1337".parse().expect("literal")),
            auth: true,
            max_body_bytes: 8 << 20,
            max_connections: 64,
            header_timeout_secs: 10,
            body_timeout_secs: 30,
        }
    }
}

impl Default for WebUi {
    fn default() -> Self {
        WebUi {
            listen: Endpoint::On("127.0.0.1:8080".parse().expect("literal")),
            username: String::new(),
            password_pbkdf2: String::new(),
            api_keys: Vec::new(),
            max_auth_failures: 5,
            ban_secs: 3600,
            session_timeout_secs: 3600,
            max_sessions: 256,
            max_body_bytes: 32 << 20,
            max_form_parts: 1000,
        }
    }
}

impl Default for TransmissionRpc {
    fn default() -> Self {
        TransmissionRpc {
            listen: Endpoint::On("127.0.0.1:9091".parse().expect("literal")),
            auth: true,
            whitelist: vec!["127.0.0.1".into(), "::1".into()],
            max_body_bytes: 32 << 20,
            blocklist: String::new(),
        }
    }
}

impl Default for Trackers {
    fn default() -> Self {
        Trackers {
            enabled: true,
            numwant: 50,
            announces_per_second: 20,
            max_concurrent: 64,
            min_interval_secs: 60,
            max_interval_secs: 4 * 3600,
            retry_base_secs: 30,
            retry_max_secs: 3600,
            http_timeout_secs: 30,
            max_response_bytes: 256 * 1024,
            max_redirects: 3,
            udp_timeout_secs: 15,
            udp_retries: 2,
            scrape_interval_secs: 1800,
            max_half_open: 32,
            max_peers_per_torrent: 50,
            max_peers: 2000,
            redial_secs: 300,
        }
    }
}

impl Default for Ipc {
    fn default() -> Self {
        Ipc {
            socket: UnixSocket::Default,
            max_message_bytes: 1 << 20,
            idle_timeout_secs: 60,
            max_clients: 256,
        }
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("network.whitelist: {0:?} is not a CIDR network (ADDR/BITS)")]
    Whitelist(String),
}

impl Config {
    /// A configuration for tests and the demo: defaults with a data directory.
    pub fn new(data_dir: PathBuf) -> Self {
        let mut c = Config::default();
        c.storage.data_dir = data_dir;
        c
    }

    /// Reads a TOML file (missing keys take their defaults).
    ///
    /// Errors: unreadable file, bad TOML, unknown key, wrong type.
    pub fn from_file(path: &std::path::Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let c: Config = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        c.whitelist()?;
        Ok(c)
    }

    /// The shard count with 0 resolved to the number of cores.
    pub(crate) fn shard_count(&self) -> usize {
        if self.network.shards == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.network.shards
        }
    }

    /// The state directory with "" resolved to the default.
    pub fn state_dir(&self) -> PathBuf {
        if self.storage.state_dir.as_os_str().is_empty() {
            default_state_dir()
        } else {
            self.storage.state_dir.clone()
        }
    }

    /// The IPC socket's path with the default resolved; `None` when off.
    pub fn ipc_socket(&self) -> Option<PathBuf> {
        match &self.ipc.socket {
            UnixSocket::Default => Some(self.state_dir().join("daemon").join("socket")),
            UnixSocket::Off => None,
            UnixSocket::Path(p) => Some(p.clone()),
        }
    }

    /// The parsed whitelist. Errors: an entry is not ADDR/BITS.
    pub fn whitelist(&self) -> Result<Vec<Cidr>, ConfigError> {
        self.network
            .whitelist
            .iter()
            .map(|s| s.parse().map_err(|_| ConfigError::Whitelist(s.clone())))
            .collect()
    }

    pub(crate) fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.network.handshake_timeout_secs)
    }
    pub(crate) fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.network.idle_timeout_secs)
    }
    pub(crate) fn receive_timeout(&self) -> Duration {
        Duration::from_secs(self.network.receive_timeout_secs)
    }
    pub(crate) fn write_timeout(&self) -> Duration {
        Duration::from_secs(self.network.write_timeout_secs)
    }
}

/// `$XDG_STATE_HOME/ringseed`, else `~/.local/state/ringseed`, else `./ringseed-state`.
pub(crate) fn default_state_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("ringseed");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h).join(".local/state/ringseed");
    }
    PathBuf::from("ringseed-state")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commented_default_parses_back_to_the_default() {
        let text = Config::commented_default();
        let parsed: Config = toml::from_str(&text).unwrap();
        assert_eq!(parsed, Config::default());
        // Every key carries its doc comment.
        assert!(
            text.contains("# Requests a peer may queue with us"),
            "{text}"
        );
        assert!(text.contains("[network]\n") && text.contains("[rpc]\n"));
        let keys = text
            .lines()
            .filter(|l| l.contains(" = ") && !l.starts_with('#'))
            .count();
        let comments_before_keys = text
            .lines()
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| w[1].contains(" = ") && !w[1].starts_with('#') && w[0].starts_with('#'))
            .count();
        assert_eq!(
            keys, comments_before_keys,
            "a key without a comment:\n{text}"
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(toml::from_str::<Config>("[network]\nlisten_port = 1\n").is_err());
        assert!(toml::from_str::<Config>("[rpc]\nlisten = \"nowhere\"\n").is_err());
        let c: Config = toml::from_str("[rpc]\nlisten = \"off\"\n[network]\nreqq = 9\n").unwrap();
        assert_eq!(c.rpc.listen, Endpoint::Off);
        assert_eq!(c.network.reqq, 9);
        assert_eq!(c.choking, Choking::default());
        let c: Config = toml::from_str("[ipc]\nsocket = \"off\"\n").unwrap();
        assert_eq!(c.ipc_socket(), None);
        let c: Config =
            toml::from_str("[ipc]\nsocket = \"/run/x.sock\"\n[storage]\nstate_dir = \"/s\"\n")
                .unwrap();
        assert_eq!(c.ipc_socket(), Some(PathBuf::from("/run/x.sock")));
        let c: Config = toml::from_str("[storage]\nstate_dir = \"/s\"\n").unwrap();
        assert_eq!(c.ipc_socket(), Some(PathBuf::from("/s/daemon/socket")));
        assert!(toml::from_str::<Config>("[ipc]\nmax_message = 1\n").is_err());
    }
}
