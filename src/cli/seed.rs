//! `ringseed seed`: the daemon's command line. Each flag overrides one key
//! of the configuration; the table in [`config_flags!`] names each flag's key
//! once, and that one mention gives both the `[section.key]` its help shows
//! and the field it sets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use ringseed::config::{
    ChokerAlgorithm, ColdReads, Config, Endpoint, SendMode, ShareLimitAction, UnixSocket,
};
use ringseed::session;

/// `ringseed seed`: every flag overrides the config key named in its help.
#[derive(Args)]
pub struct SeedArgs {
    /// TOML configuration file (`ringseed config` prints the default).
    #[arg(long, env = "RINGSEED_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    keys: ConfigFlags,
    /// Torrent files to add to the session (their save path: --data).
    torrents: Vec<PathBuf>,
}

/// How a flag's value replaces a key's: a given value replaces it, a
/// non-empty list replaces the whole list; an absent flag leaves the key.
trait Override<T> {
    fn apply(self, key: &mut T);
}

impl<T> Override<T> for Option<T> {
    fn apply(self, key: &mut T) {
        if let Some(v) = self {
            *key = v;
        }
    }
}

impl<T> Override<Vec<T>> for Vec<T> {
    fn apply(self, key: &mut Vec<T>) {
        if !self.is_empty() {
            *key = self;
        }
    }
}

/// Declares the flags that override configuration keys, one line each:
///
/// ```text
/// /// HELP
/// FLAG: TYPE => SECTION.KEY, env = "RINGSEED_…"[, map = FN][, arg(MORE CLAP ARGS)];
/// ```
///
/// The flag is `--FLAG` (underscores as dashes); its help is `[SECTION.KEY]`
/// and HELP (written as `--help` shows it, without a closing full stop);
/// given, its value (through FN, when there is one) replaces `c.SECTION.KEY`.
macro_rules! config_flags {
    ($(
        #[doc = $help:literal]
        $flag:ident: $ty:ty => $section:ident.$key:ident, env = $env:literal
            $(, map = $map:expr)? $(, arg($($arg:tt)*))?;
    )*) => {
        /// The flags of `ringseed seed` that each override one configuration key.
        #[derive(Args)]
        struct ConfigFlags {
            $(
                #[arg(
                    long,
                    env = $env,
                    help = concat!("[", stringify!($section), ".", stringify!($key), "]", $help)
                    $(, $($arg)*)?
                )]
                $flag: $ty,
            )*
        }

        impl ConfigFlags {
            /// Sets the key of every flag given.
            fn apply(&self, c: &mut Config) {
                $(
                    Override::apply(self.$flag.clone() $(.map($map))?, &mut c.$section.$key);
                )*
            }
        }
    };
}

config_flags! {
    /// Default save path: each torrent's content (its `name`) is here
    data: Option<PathBuf> => storage.data_dir, env = "RINGSEED_DATA";
    /// Session, resume data and RPC secret
    state_dir: Option<PathBuf> => storage.state_dir, env = "RINGSEED_STATE_DIR";
    /// Peer listen address; port 0 picks a free port
    listen: Option<SocketAddr> => network.listen, env = "RINGSEED_LISTEN";
    /// Shards (threads with their own io_uring); 0 = one per core
    shards: Option<usize> => network.shards, env = "RINGSEED_SHARDS";
    /// Set TCP_NODELAY on peer sockets
    tcp_nodelay: Option<bool> => network.tcp_nodelay, env = "RINGSEED_TCP_NODELAY",
        arg(num_args = 0..=1, require_equals = true, default_missing_value = "true");
    /// How blocks reach the socket: fixed, splice or zc
    send_mode: Option<SendMode> => network.send_mode, env = "RINGSEED_SEND_MODE";
    /// Requests a peer may queue (reqq advertised in BEP 10)
    reqq: Option<usize> => network.reqq, env = "RINGSEED_REQQ", map = |r: usize| r.max(1);
    /// Handshake timeout, seconds
    handshake_timeout: Option<u64> => network.handshake_timeout_secs,
        env = "RINGSEED_HANDSHAKE_TIMEOUT";
    /// Close peers not interested for this long, seconds
    idle_timeout: Option<u64> => network.idle_timeout_secs, env = "RINGSEED_IDLE_TIMEOUT";
    /// Close peers silent for this long, seconds
    receive_timeout: Option<u64> => network.receive_timeout_secs,
        env = "RINGSEED_RECEIVE_TIMEOUT";
    /// Close peers that stop reading for this long, seconds
    write_timeout: Option<u64> => network.write_timeout_secs, env = "RINGSEED_WRITE_TIMEOUT";
    /// Connected peers per shard
    max_peers_per_shard: Option<usize> => network.max_peers_per_shard,
        env = "RINGSEED_MAX_PEERS_PER_SHARD";
    /// Connections in the handshake per shard
    max_pending_handshakes: Option<usize> => network.max_pending_handshakes,
        env = "RINGSEED_MAX_PENDING_HANDSHAKES";
    /// Network (CIDR) never banned; repeatable
    whitelist: Vec<String> => network.whitelist, env = "RINGSEED_WHITELIST",
        arg(value_delimiter = ',');
    /// Ban time of a misbehaving address, seconds
    ban_time: Option<u64> => network.ban_time_secs, env = "RINGSEED_BAN_TIME";
    /// Upload slots per torrent (0 = unchoke every interested peer)
    upload_slots: Option<usize> => choking.upload_slots, env = "RINGSEED_UPLOAD_SLOTS";
    /// round_robin, fastest_upload or anti_leech
    choker: Option<ChokerAlgorithm> => choking.algorithm, env = "RINGSEED_CHOKER";
    /// Rechoke interval, seconds
    unchoke_interval: Option<u64> => choking.unchoke_interval_secs,
        env = "RINGSEED_UNCHOKE_INTERVAL";
    /// Optimistic unchoke interval, seconds
    optimistic_interval: Option<u64> => choking.optimistic_interval_secs,
        env = "RINGSEED_OPTIMISTIC_INTERVAL";
    /// Global upload limit: bytes/s or with units (50MB/s); 0 = unlimited
    upload_limit: Option<i64> => limits.upload_limit, env = "RINGSEED_UPLOAD_LIMIT",
        arg(value_parser = super::client::parse_rate);
    /// Share ratio at which a torrent stops (or is removed); -1 = none
    max_ratio: Option<f64> => seeding.max_ratio, env = "RINGSEED_MAX_RATIO",
        arg(allow_negative_numbers = true);
    /// Seeding time at which a torrent stops (or is removed), seconds; -1 = none
    max_seeding_time: Option<i64> => seeding.max_seeding_time_secs,
        env = "RINGSEED_MAX_SEEDING_TIME", arg(allow_negative_numbers = true);
    /// Time without uploading at which a torrent stops (or is removed), seconds; -1 = none
    max_inactive_seeding_time: Option<i64> => seeding.max_inactive_seeding_time_secs,
        env = "RINGSEED_MAX_INACTIVE_SEEDING_TIME", arg(allow_negative_numbers = true);
    /// What a reached share limit does: stop, remove or remove-with-content
    share_limit_action: Option<ShareLimitAction> => seeding.share_limit_action,
        env = "RINGSEED_SHARE_LIMIT_ACTION";
    /// Read blocks with O_DIRECT into the registered buffers
    direct_io: Option<bool> => storage.direct_io, env = "RINGSEED_DIRECT_IO",
        arg(num_args = 0..=1, require_equals = true, default_missing_value = "true");
    /// Registered buffers per shard (0 = from RLIMIT_MEMLOCK)
    buffers: Option<usize> => storage.buffers_per_shard, env = "RINGSEED_BUFFERS";
    /// Hash-check threads (0 = one per core)
    hash_threads: Option<usize> => storage.hash_threads, env = "RINGSEED_HASH_THREADS";
    /// Data files open at once, all shards together
    max_open_files: Option<usize> => storage.max_open_files, env = "RINGSEED_MAX_OPEN_FILES";
    /// Read cache for page-cache misses, MiB, all shards (0 = off)
    read_cache_mib: Option<usize> => storage.read_cache_mib, env = "RINGSEED_READ_CACHE_MIB";
    /// Read window of a miss, KiB
    read_window_kib: Option<u32> => storage.read_window_kib, env = "RINGSEED_READ_WINDOW_KIB";
    /// Read-cache reads in flight per device, all shards
    device_queue_depth: Option<usize> => storage.device_queue_depth,
        env = "RINGSEED_DEVICE_QUEUE_DEPTH";
    /// How read-cache misses are read: page_cache or direct (O_DIRECT)
    cold_reads: Option<ColdReads> => storage.cold_reads, env = "RINGSEED_COLD_READS";
    /// Prometheus /metrics address, or "off"
    metrics: Option<Endpoint> => metrics.listen, env = "RINGSEED_METRICS";
    /// Peers with per-peer series (the busiest)
    metrics_max_peers: Option<usize> => metrics.max_peers, env = "RINGSEED_METRICS_MAX_PEERS";
    /// JSON-RPC address (porla's API), or "off"
    rpc: Option<Endpoint> => rpc.listen, env = "RINGSEED_RPC";
    /// Require a token on the JSON-RPC
    rpc_auth: Option<bool> => rpc.auth, env = "RINGSEED_RPC_AUTH";
    /// Largest JSON-RPC request body, bytes
    rpc_max_body: Option<usize> => rpc.max_body_bytes, env = "RINGSEED_RPC_MAX_BODY";
    /// Open control HTTP connections at once
    rpc_max_connections: Option<usize> => rpc.max_connections,
        env = "RINGSEED_RPC_MAX_CONNECTIONS";
    /// Seconds for a request's headers
    rpc_header_timeout: Option<u64> => rpc.header_timeout_secs,
        env = "RINGSEED_RPC_HEADER_TIMEOUT";
    /// Seconds for a request's body
    rpc_body_timeout: Option<u64> => rpc.body_timeout_secs, env = "RINGSEED_RPC_BODY_TIMEOUT";
    /// qBittorrent WebUI API address, or "off"
    webui: Option<Endpoint> => webui.listen, env = "RINGSEED_WEBUI";
    /// Largest qBittorrent WebUI request body, bytes
    webui_max_body: Option<usize> => webui.max_body_bytes, env = "RINGSEED_WEBUI_MAX_BODY";
    /// Transmission RPC address (/transmission/rpc), or "off"
    transmission_rpc: Option<Endpoint> => transmission_rpc.listen,
        env = "RINGSEED_TRANSMISSION_RPC";
    /// Require HTTP Basic auth on the Transmission RPC (the WebUI's login)
    transmission_rpc_auth: Option<bool> => transmission_rpc.auth,
        env = "RINGSEED_TRANSMISSION_RPC_AUTH";
    /// P2P-plain blocklist (file or http URL) read by the Transmission RPC's blocklist-update
    transmission_rpc_blocklist: Option<String> => transmission_rpc.blocklist,
        env = "RINGSEED_TRANSMISSION_RPC_BLOCKLIST";
    /// Transmission IPC socket path, or "off" [default: STATE_DIR/daemon/socket]
    ipc_socket: Option<UnixSocket> => ipc.socket, env = "RINGSEED_IPC_SOCKET";
    /// Largest IPC message payload, bytes
    ipc_max_message: Option<usize> => ipc.max_message_bytes, env = "RINGSEED_IPC_MAX_MESSAGE";
    /// Close IPC clients silent for this long, seconds
    ipc_idle_timeout: Option<u64> => ipc.idle_timeout_secs, env = "RINGSEED_IPC_IDLE_TIMEOUT";
    /// IPC clients served at once
    ipc_max_clients: Option<usize> => ipc.max_clients, env = "RINGSEED_IPC_MAX_CLIENTS";
}

impl SeedArgs {
    /// The configuration: file, then flags.
    fn config(&self) -> anyhow::Result<Config> {
        let mut c = super::load_config(self.config.as_ref())?;
        self.keys.apply(&mut c);
        c.whitelist()?;
        Ok(c)
    }
}

/// Seeds until SIGINT/SIGTERM; a torrent file that cannot be read is logged
/// and left out.
pub fn run(a: SeedArgs) -> anyhow::Result<ExitCode> {
    let config = a.config()?;
    let mut torrents = Vec::new();
    for p in &a.torrents {
        match session::read_metainfo(p) {
            Ok((m, raw)) => torrents.push((p.clone(), m, raw)),
            // The binary's log target, as when this was in main.rs.
            Err(e) => tracing::error!(target: "ringseed", "{e}; not seeded"),
        }
    }
    ringseed::rlimit::raise_nofile();
    ringseed::daemon::run(config, torrents).map_err(|e| anyhow::anyhow!(e))?;
    Ok(ExitCode::SUCCESS)
}
