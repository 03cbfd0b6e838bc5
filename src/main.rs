//! The `ringseed` command line: seed, check, create, demo.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use ringseed::config::{Config, DEFAULT_REQQ, DEFAULT_UPLOAD_SLOTS};
use ringseed::coordinator::choker::ChokerAlgorithm;
use ringseed::session;
use ringseed::storage;

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
    /// Seed torrents until SIGINT/SIGTERM.
    Seed(SeedArgs),
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
        /// Tracker announce URL.
        #[arg(long, env = "RINGSEED_ANNOUNCE")]
        announce: Option<String>,
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

#[derive(clap::Args)]
struct SeedArgs {
    /// Directory holding each torrent's content (its `name` is a file or folder here).
    #[arg(long, env = "RINGSEED_DATA")]
    data: PathBuf,
    /// Listen address; port 0 picks a free port.
    #[arg(long, default_value = "0.0.0.0:6881", env = "RINGSEED_LISTEN")]
    listen: SocketAddr,
    /// Shards (threads with their own io_uring); 0 = one per core.
    #[arg(long, default_value_t = 0, env = "RINGSEED_SHARDS")]
    shards: usize,
    /// Prometheus /metrics address (off by default).
    #[arg(long, env = "RINGSEED_METRICS")]
    metrics: Option<SocketAddr>,
    /// Set TCP_NODELAY on peer sockets (off: let the kernel coalesce blocks).
    #[arg(long, env = "RINGSEED_TCP_NODELAY")]
    tcp_nodelay: bool,
    /// Most peers with per-peer series on /metrics (the busiest by upload rate).
    #[arg(long, default_value_t = 1000, env = "RINGSEED_METRICS_MAX_PEERS")]
    metrics_max_peers: usize,
    /// Resume data directory [default: $XDG_STATE_HOME/ringseed].
    #[arg(long, env = "RINGSEED_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Read blocks with O_DIRECT into the registered buffers (bypasses the page cache).
    #[arg(long, env = "RINGSEED_DIRECT_IO")]
    direct_io: bool,
    /// Upload slots per torrent (0 = unchoke every interested peer).
    #[arg(long, default_value_t = DEFAULT_UPLOAD_SLOTS, env = "RINGSEED_UPLOAD_SLOTS")]
    upload_slots: usize,
    /// Seed choking algorithm: round_robin, fastest_upload or anti_leech.
    #[arg(long, default_value = "round_robin", env = "RINGSEED_CHOKER")]
    choker: ChokerAlgorithm,
    /// Handshake timeout, seconds.
    #[arg(long, default_value_t = 30, env = "RINGSEED_HANDSHAKE_TIMEOUT")]
    handshake_timeout: u64,
    /// Close peers not interested for this long, seconds.
    #[arg(long, default_value_t = 180, env = "RINGSEED_IDLE_TIMEOUT")]
    idle_timeout: u64,
    /// Requests a peer may queue (reqq advertised in BEP 10).
    #[arg(long, default_value_t = DEFAULT_REQQ, env = "RINGSEED_REQQ")]
    reqq: usize,
    /// Registered buffers per shard (default: sized from RLIMIT_MEMLOCK, at most 1024).
    #[arg(long, env = "RINGSEED_BUFFERS")]
    buffers: Option<usize>,
    /// Torrent files to seed.
    #[arg(required = true)]
    torrents: Vec<PathBuf>,
}

fn seed(a: SeedArgs) -> anyhow::Result<ExitCode> {
    let mut c = Config::new(a.data);
    c.listen = a.listen;
    c.shards = a.shards;
    c.metrics = a.metrics;
    c.metrics_max_peers = a.metrics_max_peers;
    c.tcp_nodelay = a.tcp_nodelay;
    if let Some(s) = a.state_dir {
        c.state_dir = s;
    }
    c.direct_io = a.direct_io;
    c.upload_slots = a.upload_slots;
    c.choker = a.choker;
    c.handshake_timeout = Duration::from_secs(a.handshake_timeout);
    c.idle_timeout = Duration::from_secs(a.idle_timeout);
    c.reqq = a.reqq.max(1);
    c.buffers_per_shard = a.buffers;
    let mut torrents = Vec::new();
    for p in &a.torrents {
        match session::read_metainfo(p) {
            Ok(m) => torrents.push((p.clone(), m)),
            Err(e) => tracing::error!("{e}; not seeded"),
        }
    }
    raise_nofile();
    // Signal handlers go in before anything starts, so a SIGTERM that arrives
    // while the daemon starts is handled, not fatal.
    let (sig_tx, sig_rx) = crossbeam_channel::bounded::<&'static str>(1);
    let (installed_tx, installed_rx) = crossbeam_channel::bounded::<std::io::Result<()>>(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            rt.block_on(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let (mut term, mut int) = match (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                ) {
                    (Ok(t), Ok(i)) => (t, i),
                    (Err(e), _) | (_, Err(e)) => {
                        let _ = installed_tx.send(Err(e));
                        return;
                    }
                };
                let _ = installed_tx.send(Ok(()));
                let name =
                    tokio::select! { _ = term.recv() => "SIGTERM", _ = int.recv() => "SIGINT" };
                let _ = sig_tx.send(name);
            })
        })?;
    installed_rx.recv()??;
    let daemon = ringseed::Daemon::start(c, torrents)?;
    loop {
        if let Ok(sig) = sig_rx.recv_timeout(Duration::from_millis(100)) {
            tracing::info!("{sig}: closing peers and stopping");
            daemon.shutdown();
            tracing::info!("stopped cleanly");
            return Ok(ExitCode::SUCCESS);
        }
        if let Some((name, result)) = daemon.next_exit(Duration::from_millis(0)) {
            match (name.as_str(), result) {
                ("hash-check", Ok(())) => {}
                (name, Ok(())) => anyhow::bail!("thread {name} stopped unexpectedly"),
                (name, Err(e)) => anyhow::bail!("thread {name} failed: {e}"),
            }
        }
    }
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
        Ok(m) => m,
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
    let r = storage::check::verify_all(&meta, &std::sync::Arc::new(files), 0, &progress);
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
        Command::Check { data, torrent } => return check(data, torrent),
        Command::Create {
            piece_length,
            announce,
            output,
            path,
        } => match ringseed::create::create_torrent(&path, piece_length, announce.as_deref()) {
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
            let opts = ringseed::demo::DemoOptions {
                size_mib,
                peers,
                shards,
                ..Default::default()
            };
            ringseed::demo::run(&opts).map(|r| {
                if r.complete && r.pieces_failed == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            })
        }
    };
    match result {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ringseed: {e:#}");
            ExitCode::from(1)
        }
    }
}
