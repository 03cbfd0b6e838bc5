//! The `ringseed` command line: the daemon (`seed`), its control commands
//! (`torrents`, `peers`, `add`, `remove`, `pause`, `resume`, `recheck`,
//! `limit`, `rpc`, `token`), the Transmission IPC client (`ipc`), `config`,
//! and the offline tools (`check`, `create`, `demo`).

mod cli;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use ringseed::config::{Config, Endpoint};
use ringseed::coordinator::choker::ChokerAlgorithm;
use ringseed::{session, storage};
use serde_json::{json, Value};

#[derive(Parser)]
#[command(
    name = "ringseed",
    version,
    about = "A BitTorrent seeding engine: per-core io_uring shards, zero-copy block reads"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Seed: the saved session plus any TORRENT given, until SIGINT/SIGTERM.
    Seed(SeedArgs),
    /// Print the default configuration, every key commented (TOML).
    Config,
    /// Print a bearer token for the JSON-RPC (signed with the state directory's secret).
    Token(StateArgs),
    /// List the daemon's torrents.
    Torrents(ClientArgs),
    /// List connected peers (all torrents, or one).
    Peers {
        #[command(flatten)]
        client: ClientArgs,
        /// Info hash (40 hex digits).
        info_hash: Option<String>,
    },
    /// Add a torrent to the running daemon.
    Add {
        #[command(flatten)]
        client: ClientArgs,
        /// The .torrent file.
        torrent: PathBuf,
        /// Folder holding the torrent's content [default: the daemon's storage.data_dir].
        #[arg(long)]
        save_path: Option<PathBuf>,
        /// Add it paused.
        #[arg(long)]
        paused: bool,
    },
    /// Remove a torrent (its data stays unless --remove-data).
    Remove {
        #[command(flatten)]
        client: ClientArgs,
        info_hash: String,
        /// Also delete the files the torrent names.
        #[arg(long)]
        remove_data: bool,
    },
    /// Pause a torrent (its peers are closed; new ones refused).
    Pause {
        #[command(flatten)]
        client: ClientArgs,
        info_hash: String,
    },
    /// Resume a paused torrent.
    Resume {
        #[command(flatten)]
        client: ClientArgs,
        info_hash: String,
    },
    /// Hash a torrent's data again.
    Recheck {
        #[command(flatten)]
        client: ClientArgs,
        info_hash: String,
    },
    /// Set the upload limit, global or of one torrent: `limit 50MB/s`,
    /// `limit INFO_HASH 1MiB/s`, `limit unlimited`.
    Limit {
        #[command(flatten)]
        client: ClientArgs,
        /// `[INFO_HASH] RATE`.
        #[arg(num_args = 1..=2, required = true)]
        args: Vec<String>,
    },
    /// Call any JSON-RPC method: `rpc torrents.list '{}'`.
    Rpc {
        #[command(flatten)]
        client: ClientArgs,
        method: String,
        /// Params as JSON [default: {}].
        params: Option<String>,
    },
    /// Send one Transmission IPC (v2) message and print the reply as JSON:
    /// `ipc get-status-all '["state","upload-speed"]'`, `ipc uplimit 500`.
    /// Exit 1 when the reply is failed, not-supported or bad-format.
    Ipc {
        /// The daemon's IPC socket [default: ipc.socket of --config, else STATE_DIR/daemon/socket].
        #[arg(long, env = "RINGSEED_IPC_SOCKET")]
        socket: Option<PathBuf>,
        #[command(flatten)]
        state: StateArgs,
        /// Seconds to wait for the reply.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        /// The message name (`get-info-all`, `start`, `port`…).
        message: String,
        /// Its value as JSON [default: ""].
        value: Option<String>,
    },
    /// Verify a torrent's data: exit 0 complete, 1 pieces missing or corrupt, 2 invalid torrent.
    Check {
        /// Directory holding the torrent's content.
        #[arg(long, env = "RINGSEED_DATA")]
        data: PathBuf,
        torrent: PathBuf,
    },
    /// Make a v1 torrent from a file or folder.
    Create {
        /// Piece length in bytes (power of two, >= 16384); default aims at ~1500 pieces.
        #[arg(long, env = "RINGSEED_PIECE_LENGTH")]
        piece_length: Option<u32>,
        /// Tracker announce URL (http, https or udp). Repeat for more tiers
        /// (BEP 12), in order; URLs of one tier separated by commas.
        #[arg(long, env = "RINGSEED_ANNOUNCE")]
        announce: Vec<String>,
        /// Output .torrent file.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        path: PathBuf,
    },
    /// Generate a sample payload, seed it, and download it back over loopback.
    Demo {
        /// Payload size in MiB.
        #[arg(long, default_value_t = 256, env = "RINGSEED_DEMO_SIZE_MIB")]
        size_mib: u64,
        /// Leecher connections.
        #[arg(long, default_value_t = 8, env = "RINGSEED_DEMO_PEERS")]
        peers: usize,
        /// Seeder shards (0 = one per core).
        #[arg(long, default_value_t = 0, env = "RINGSEED_SHARDS")]
        shards: usize,
    },
}

/// Where a client command finds the daemon.
#[derive(Args)]
struct ClientArgs {
    /// The daemon's JSON-RPC address [default: rpc.listen of --config, else 127.0.0.1:1337].
    #[arg(long, env = "RINGSEED_RPC")]
    rpc: Option<SocketAddr>,
    #[command(flatten)]
    state: StateArgs,
    /// Print the raw JSON result.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct StateArgs {
    /// Configuration file (for the state directory and the RPC address).
    #[arg(long, env = "RINGSEED_CONFIG")]
    config: Option<PathBuf>,
    /// The daemon's state directory (holds the RPC secret) [default: storage.state_dir].
    #[arg(long, env = "RINGSEED_STATE_DIR")]
    state_dir: Option<PathBuf>,
}

/// `ringseed seed`: every flag overrides the config key named in its help.
#[derive(Args)]
struct SeedArgs {
    /// TOML configuration file (`ringseed config` prints the default).
    #[arg(long, env = "RINGSEED_CONFIG")]
    config: Option<PathBuf>,
    /// [storage.data_dir] Default save path: each torrent's content (its `name`) is here.
    #[arg(long, env = "RINGSEED_DATA")]
    data: Option<PathBuf>,
    /// [storage.state_dir] Session, resume data and RPC secret.
    #[arg(long, env = "RINGSEED_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// [network.listen] Peer listen address; port 0 picks a free port.
    #[arg(long, env = "RINGSEED_LISTEN")]
    listen: Option<SocketAddr>,
    /// [network.shards] Shards (threads with their own io_uring); 0 = one per core.
    #[arg(long, env = "RINGSEED_SHARDS")]
    shards: Option<usize>,
    /// [network.tcp_nodelay] Set TCP_NODELAY on peer sockets.
    #[arg(long, env = "RINGSEED_TCP_NODELAY", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    tcp_nodelay: Option<bool>,
    /// [network.send_mode] How blocks reach the socket: fixed, splice or zc.
    #[arg(long, env = "RINGSEED_SEND_MODE")]
    send_mode: Option<ringseed::config::SendMode>,
    /// [network.reqq] Requests a peer may queue (reqq advertised in BEP 10).
    #[arg(long, env = "RINGSEED_REQQ")]
    reqq: Option<usize>,
    /// [network.handshake_timeout_secs] Handshake timeout, seconds.
    #[arg(long, env = "RINGSEED_HANDSHAKE_TIMEOUT")]
    handshake_timeout: Option<u64>,
    /// [network.idle_timeout_secs] Close peers not interested for this long, seconds.
    #[arg(long, env = "RINGSEED_IDLE_TIMEOUT")]
    idle_timeout: Option<u64>,
    /// [network.receive_timeout_secs] Close peers silent for this long, seconds.
    #[arg(long, env = "RINGSEED_RECEIVE_TIMEOUT")]
    receive_timeout: Option<u64>,
    /// [network.write_timeout_secs] Close peers that stop reading for this long, seconds.
    #[arg(long, env = "RINGSEED_WRITE_TIMEOUT")]
    write_timeout: Option<u64>,
    /// [network.max_peers_per_shard] Connected peers per shard.
    #[arg(long, env = "RINGSEED_MAX_PEERS_PER_SHARD")]
    max_peers_per_shard: Option<usize>,
    /// [network.max_pending_handshakes] Connections in the handshake per shard.
    #[arg(long, env = "RINGSEED_MAX_PENDING_HANDSHAKES")]
    max_pending_handshakes: Option<usize>,
    /// [network.whitelist] Network (CIDR) never banned; repeatable.
    #[arg(long, env = "RINGSEED_WHITELIST", value_delimiter = ',')]
    whitelist: Vec<String>,
    /// [network.ban_time_secs] Ban time of a misbehaving address, seconds.
    #[arg(long, env = "RINGSEED_BAN_TIME")]
    ban_time: Option<u64>,
    /// [choking.upload_slots] Upload slots per torrent (0 = unchoke every interested peer).
    #[arg(long, env = "RINGSEED_UPLOAD_SLOTS")]
    upload_slots: Option<usize>,
    /// [choking.algorithm] round_robin, fastest_upload or anti_leech.
    #[arg(long, env = "RINGSEED_CHOKER")]
    choker: Option<ChokerAlgorithm>,
    /// [choking.unchoke_interval_secs] Rechoke interval, seconds.
    #[arg(long, env = "RINGSEED_UNCHOKE_INTERVAL")]
    unchoke_interval: Option<u64>,
    /// [choking.optimistic_interval_secs] Optimistic unchoke interval, seconds.
    #[arg(long, env = "RINGSEED_OPTIMISTIC_INTERVAL")]
    optimistic_interval: Option<u64>,
    /// [limits.upload_limit] Global upload limit: bytes/s or with units (50MB/s); 0 = unlimited.
    #[arg(long, env = "RINGSEED_UPLOAD_LIMIT", value_parser = cli::client::parse_rate)]
    upload_limit: Option<i64>,
    /// [storage.direct_io] Read blocks with O_DIRECT into the registered buffers.
    #[arg(long, env = "RINGSEED_DIRECT_IO", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    direct_io: Option<bool>,
    /// [storage.buffers_per_shard] Registered buffers per shard (0 = from RLIMIT_MEMLOCK).
    #[arg(long, env = "RINGSEED_BUFFERS")]
    buffers: Option<usize>,
    /// [storage.hash_threads] Hash-check threads (0 = one per core).
    #[arg(long, env = "RINGSEED_HASH_THREADS")]
    hash_threads: Option<usize>,
    /// [storage.max_open_files] Data files open at once, all shards together.
    #[arg(long, env = "RINGSEED_MAX_OPEN_FILES")]
    max_open_files: Option<usize>,
    /// [metrics.listen] Prometheus /metrics address, or "off".
    #[arg(long, env = "RINGSEED_METRICS")]
    metrics: Option<Endpoint>,
    /// [metrics.max_peers] Peers with per-peer series (the busiest).
    #[arg(long, env = "RINGSEED_METRICS_MAX_PEERS")]
    metrics_max_peers: Option<usize>,
    /// [rpc.listen] JSON-RPC address (porla's API), or "off".
    #[arg(long, env = "RINGSEED_RPC")]
    rpc: Option<Endpoint>,
    /// [rpc.auth] Require a token on the JSON-RPC.
    #[arg(long, env = "RINGSEED_RPC_AUTH")]
    rpc_auth: Option<bool>,
    /// [rpc.max_body_bytes] Largest JSON-RPC request body, bytes.
    #[arg(long, env = "RINGSEED_RPC_MAX_BODY")]
    rpc_max_body: Option<usize>,
    /// [rpc.max_connections] Open control HTTP connections at once.
    #[arg(long, env = "RINGSEED_RPC_MAX_CONNECTIONS")]
    rpc_max_connections: Option<usize>,
    /// [rpc.header_timeout_secs] Seconds for a request's headers.
    #[arg(long, env = "RINGSEED_RPC_HEADER_TIMEOUT")]
    rpc_header_timeout: Option<u64>,
    /// [rpc.body_timeout_secs] Seconds for a request's body.
    #[arg(long, env = "RINGSEED_RPC_BODY_TIMEOUT")]
    rpc_body_timeout: Option<u64>,
    /// [ipc.socket] Transmission IPC socket path, or "off" [default: STATE_DIR/daemon/socket].
    #[arg(long, env = "RINGSEED_IPC_SOCKET")]
    ipc_socket: Option<ringseed::config::UnixSocket>,
    /// [ipc.max_message_bytes] Largest IPC message payload, bytes.
    #[arg(long, env = "RINGSEED_IPC_MAX_MESSAGE")]
    ipc_max_message: Option<usize>,
    /// [ipc.idle_timeout_secs] Close IPC clients silent for this long, seconds.
    #[arg(long, env = "RINGSEED_IPC_IDLE_TIMEOUT")]
    ipc_idle_timeout: Option<u64>,
    /// [ipc.max_clients] IPC clients served at once.
    #[arg(long, env = "RINGSEED_IPC_MAX_CLIENTS")]
    ipc_max_clients: Option<usize>,
    /// Torrent files to add to the session (their save path: --data).
    torrents: Vec<PathBuf>,
}

fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Ok(Config::from_file(p)?),
        None => Ok(Config::default()),
    }
}

impl SeedArgs {
    /// The configuration: file, then flags.
    fn config(&self) -> anyhow::Result<Config> {
        let mut c = load_config(self.config.as_ref())?;
        macro_rules! set {
            ($field:expr, $v:expr) => {
                if let Some(v) = $v.clone() {
                    $field = v;
                }
            };
        }
        set!(c.storage.data_dir, self.data);
        set!(c.storage.state_dir, self.state_dir);
        set!(c.network.listen, self.listen);
        set!(c.network.shards, self.shards);
        set!(c.network.tcp_nodelay, self.tcp_nodelay);
        set!(c.network.send_mode, self.send_mode);
        set!(c.network.reqq, self.reqq.map(|r| r.max(1)));
        set!(c.network.handshake_timeout_secs, self.handshake_timeout);
        set!(c.network.idle_timeout_secs, self.idle_timeout);
        set!(c.network.receive_timeout_secs, self.receive_timeout);
        set!(c.network.write_timeout_secs, self.write_timeout);
        set!(c.network.max_peers_per_shard, self.max_peers_per_shard);
        set!(
            c.network.max_pending_handshakes,
            self.max_pending_handshakes
        );
        if !self.whitelist.is_empty() {
            c.network.whitelist = self.whitelist.clone();
        }
        set!(c.network.ban_time_secs, self.ban_time);
        set!(c.choking.upload_slots, self.upload_slots);
        set!(c.choking.algorithm, self.choker);
        set!(c.choking.unchoke_interval_secs, self.unchoke_interval);
        set!(c.choking.optimistic_interval_secs, self.optimistic_interval);
        set!(c.limits.upload_limit, self.upload_limit);
        set!(c.storage.direct_io, self.direct_io);
        set!(c.storage.buffers_per_shard, self.buffers);
        set!(c.storage.hash_threads, self.hash_threads);
        set!(c.storage.max_open_files, self.max_open_files);
        set!(c.metrics.listen, self.metrics);
        set!(c.metrics.max_peers, self.metrics_max_peers);
        set!(c.rpc.listen, self.rpc);
        set!(c.rpc.auth, self.rpc_auth);
        set!(c.rpc.max_body_bytes, self.rpc_max_body);
        set!(c.rpc.max_connections, self.rpc_max_connections);
        set!(c.rpc.header_timeout_secs, self.rpc_header_timeout);
        set!(c.rpc.body_timeout_secs, self.rpc_body_timeout);
        set!(c.ipc.socket, self.ipc_socket);
        set!(c.ipc.max_message_bytes, self.ipc_max_message);
        set!(c.ipc.idle_timeout_secs, self.ipc_idle_timeout);
        set!(c.ipc.max_clients, self.ipc_max_clients);
        c.whitelist()?;
        Ok(c)
    }
}

fn seed(a: SeedArgs) -> anyhow::Result<ExitCode> {
    let config = a.config()?;
    let mut torrents = Vec::new();
    for p in &a.torrents {
        match session::read_metainfo(p) {
            Ok((m, raw)) => torrents.push((p.clone(), m, raw)),
            Err(e) => tracing::error!("{e}; not seeded"),
        }
    }
    raise_nofile();
    ringseed::daemon::run(config, torrents).map_err(|e| anyhow::anyhow!(e))?;
    Ok(ExitCode::SUCCESS)
}

fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn check(data: PathBuf, torrent: PathBuf) -> ExitCode {
    let meta = match session::read_metainfo(&torrent) {
        Ok((m, _)) => m,
        Err(e) => {
            eprintln!("ringseed check: {e}");
            return ExitCode::from(2);
        }
    };
    let files = match storage::resolve_files(&meta, &data) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ringseed check: {}: {e}", torrent.display());
            return ExitCode::from(2);
        }
    };
    let meta = std::sync::Arc::new(meta);
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = std::time::Instant::now();
    let r = storage::check::verify_all(&meta, &data, &std::sync::Arc::new(files), 0, &progress);
    let secs = started.elapsed().as_secs_f64();
    let n = meta.lengths.num_pieces();
    println!(
        "{}: info_hash={} verified {}/{} pieces, {} missing, {} corrupt; hashed {} bytes in {:.2} s ({:.2} GB/s)",
        meta.name,
        meta.info_hash,
        r.verified_count(),
        n,
        r.unreadable,
        r.corrupt,
        r.bytes_hashed,
        secs,
        r.bytes_hashed as f64 / secs.max(1e-9) / 1e9
    );
    if r.verified_count() == n {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

impl StateArgs {
    fn resolve(&self) -> anyhow::Result<(Config, PathBuf)> {
        let mut c = load_config(self.config.as_ref())?;
        if let Some(s) = &self.state_dir {
            c.storage.state_dir = s.clone();
        }
        let state = c.state_dir();
        Ok((c, state))
    }
}

impl ClientArgs {
    fn client(&self) -> anyhow::Result<cli::client::Client> {
        let (c, state) = self.state.resolve()?;
        let rpc = match (self.rpc, c.rpc.listen) {
            (Some(a), _) => a,
            (None, Endpoint::On(a)) => a,
            (None, Endpoint::Off) => {
                anyhow::bail!("the configuration turns the RPC off; give --rpc ADDR:PORT")
            }
        };
        cli::client::Client::new(rpc, &state)
    }

    /// Prints `result` raw with --json, else through `table`.
    fn print(&self, result: &Value, table: impl FnOnce(&Value) -> String) {
        if self.json {
            println!("{result}");
        } else {
            println!("{}", table(result));
        }
    }
}

fn ih(s: &str) -> anyhow::Result<Value> {
    ringseed::metainfo::InfoHash::from_hex(s)
        .map(|h| json!(h.to_hex()))
        .ok_or_else(|| anyhow::anyhow!("{s:?} is not an info hash (40 hex digits)"))
}

fn done(client: &ClientArgs, what: &str, result: Value) -> anyhow::Result<ExitCode> {
    client.print(&result, |_| what.to_string());
    Ok(ExitCode::SUCCESS)
}

fn control(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Torrents(c) => {
            let r = c
                .client()?
                .call("torrents.list", json!({"page_size": 1_000_000}))?;
            c.print(&r, cli::client::torrents_table);
        }
        Command::Peers { client, info_hash } => {
            let params = match &info_hash {
                Some(h) => json!({"info_hash": ih(h)?}),
                None => json!({}),
            };
            let r = client.client()?.call("ringseed.getpeerinfo", params)?;
            client.print(&r, cli::client::peers_table);
        }
        Command::Add {
            client,
            torrent,
            save_path,
            paused,
        } => {
            use base64::Engine;
            let bytes = std::fs::read(&torrent).with_context(|| torrent.display().to_string())?;
            let mut params = json!({
                "ti": base64::engine::general_purpose::STANDARD.encode(&bytes),
                "paused": paused,
            });
            if let Some(p) = save_path {
                let p = std::path::absolute(&p).unwrap_or(p);
                params["save_path"] = json!(p.display().to_string());
            }
            let r = client.client()?.call("torrents.add", params)?;
            let h = r["info_hash"][0].as_str().unwrap_or("").to_string();
            return done(&client, &format!("added {h}"), r);
        }
        Command::Remove {
            client,
            info_hash,
            remove_data,
        } => {
            let r = client.client()?.call(
                "torrents.remove",
                json!({"info_hashes": [ih(&info_hash)?], "remove_data": remove_data}),
            )?;
            return done(&client, &format!("removed {info_hash}"), r);
        }
        Command::Limit { client, args } => {
            let (hash, rate) = match args.as_slice() {
                [rate] => (None, rate),
                [h, rate] => (Some(ih(h)?), rate),
                _ => unreachable!("clap: 1..=2 values"),
            };
            let limit = cli::client::parse_rate(rate).map_err(|e| anyhow::anyhow!(e))?;
            let c = client.client()?;
            let r = match &hash {
                Some(h) => c.call(
                    "torrents.properties.set",
                    json!({"info_hash": h, "upload_limit": limit}),
                )?,
                None => c.call("ringseed.session.set", json!({"upload_limit": limit}))?,
            };
            let what = match limit {
                -1 => "unlimited".to_string(),
                l => format!("{} B/s ({}/s)", l, cli::client::bytes(l as u64)),
            };
            return done(&client, &format!("upload limit: {what}"), r);
        }
        Command::Rpc {
            client,
            method,
            params,
        } => {
            let params: Value = match params {
                Some(p) => serde_json::from_str(&p).context("params are not JSON")?,
                None => json!({}),
            };
            let r = client.client()?.call(&method, params)?;
            println!("{r}");
        }
        _ => unreachable!("not a control command"),
    }
    Ok(ExitCode::SUCCESS)
}

fn simple(
    client: ClientArgs,
    method: &str,
    info_hash: &str,
    past: &str,
) -> anyhow::Result<ExitCode> {
    let r = client
        .client()?
        .call(method, json!({"info_hash": ih(info_hash)?}))?;
    done(&client, &format!("{past} {info_hash}"), r)
}

fn ipc(
    socket: Option<PathBuf>,
    state: &StateArgs,
    timeout: u64,
    message: &str,
    value: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let socket = match socket {
        Some(s) => s,
        None => {
            let (c, _) = state.resolve()?;
            c.ipc_socket().ok_or_else(|| {
                anyhow::anyhow!("the configuration turns the IPC off; give --socket PATH")
            })?
        }
    };
    let value = match value {
        Some(v) => {
            let json: Value = serde_json::from_str(v).context("the value is not JSON")?;
            cli::ipc::json_to_bencode(&json)?
        }
        None => ringseed::control::ipc::bencode::text(""),
    };
    let reply = cli::ipc::call(
        &socket,
        message,
        value,
        std::time::Duration::from_secs(timeout),
    )?;
    match reply {
        None => {
            println!("quit sent; the daemon closed the connection");
            Ok(ExitCode::SUCCESS)
        }
        Some((name, v)) => {
            println!("{}", json!([name, v]));
            Ok(match name.as_str() {
                "failed" | "not-supported" | "bad-format" => ExitCode::from(1),
                _ => ExitCode::SUCCESS,
            })
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Seed(a) => seed(a),
        Command::Config => {
            print!("{}", Config::commented_default());
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(s) => s.resolve().and_then(|(_, state)| {
            let auth = ringseed::control::rpc::auth::Auth::load_or_create(&state)
                .with_context(|| format!("state directory {}", state.display()))?;
            println!("{}", auth.issue());
            Ok(ExitCode::SUCCESS)
        }),
        Command::Check { data, torrent } => return check(data, torrent),
        Command::Ipc {
            socket,
            state,
            timeout,
            message,
            value,
        } => ipc(socket, &state, timeout, &message, value.as_deref()),
        Command::Create {
            piece_length,
            announce,
            output,
            path,
        } => match ringseed::create::create_torrent(
            &path,
            piece_length,
            &ringseed::create::announce_tiers(&announce),
        ) {
            Ok(bytes) => match std::fs::write(&output, bytes) {
                Ok(()) => {
                    println!("wrote {}", output.display());
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Err(anyhow::anyhow!("{}: {e}", output.display())),
            },
            Err(e) => Err(e.into()),
        },
        Command::Demo {
            size_mib,
            peers,
            shards,
        } => {
            let opts = cli::demo::DemoOptions {
                size_mib,
                peers,
                shards,
                ..Default::default()
            };
            cli::demo::run(&opts).map(|r| {
                if r.complete && r.pieces_failed == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            })
        }
        Command::Pause { client, info_hash } => {
            simple(client, "torrents.pause", &info_hash, "paused")
        }
        Command::Resume { client, info_hash } => {
            simple(client, "torrents.resume", &info_hash, "resumed")
        }
        Command::Recheck { client, info_hash } => {
            simple(client, "torrents.recheck", &info_hash, "rechecking")
        }
        other => control(other),
    };
    match result {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ringseed: {e:#}");
            ExitCode::from(1)
        }
    }
}
