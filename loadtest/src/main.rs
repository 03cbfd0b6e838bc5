//! `ringseed-loadtest`: drives any BitTorrent seeder with a swarm of leechers
//! over TCP (BEP 3 wire protocol, BEP 6 Fast extension, BEP 10 extension
//! handshake) and reports throughput, block latency and errors.
//!
//! ```text
//! ringseed-loadtest --torrent T.torrent --target HOST:PORT [--peers N]
//!     [--duration SECS | --bytes N] [--queue-depth Q]
//!     [--pattern sequential|random|zipf] [--pipeline depth|piece] [--connect-rate PER_SEC]
//!     [--no-verify] [--json FILE]
//! ```
//!
//! Without `--duration` or `--bytes` every piece is downloaded once. Every
//! flag can also be set by an environment variable `RINGSEED_LOADTEST_<FLAG>`.
//! Exit status: 0 when no piece failed verification (and, downloading once,
//! every piece was completed), 1 otherwise (also when nothing at all was
//! received), 2 for bad input (unreadable or invalid torrent, bad target).

use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use ringseed_loadtest::{
    raise_nofile_limit, run_swarm_until, Pattern, Progress, Report, SwarmConfig,
};
use ringseed_proto::metainfo::Metainfo;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum PipelineArg {
    /// --queue-depth requests in flight at all times, across pieces.
    Depth,
    /// One piece's blocks at a time: ask for all, wait for all, next piece.
    Piece,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum PatternArg {
    Sequential,
    Random,
    Zipf,
}

/// A leecher-swarm load generator for any BitTorrent seeder.
#[derive(Parser, Debug)]
#[command(name = "ringseed-loadtest", version, about, long_about = None)]
struct Cli {
    /// The .torrent file of the data the seeder serves.
    #[arg(long, env = "RINGSEED_LOADTEST_TORRENT", value_name = "FILE")]
    torrent: PathBuf,
    /// The seeder's address, HOST:PORT.
    #[arg(long, env = "RINGSEED_LOADTEST_TARGET", value_name = "HOST:PORT")]
    target: String,
    /// TCP connections (leechers).
    #[arg(long, env = "RINGSEED_LOADTEST_PEERS", default_value_t = 8)]
    peers: usize,
    /// Stop after this long: seconds, or with a suffix s, m, h (e.g. 90, 2m).
    #[arg(long, env = "RINGSEED_LOADTEST_DURATION", value_parser = parse_duration, conflicts_with = "bytes")]
    duration: Option<Duration>,
    /// Stop after this many payload bytes; suffixes K, M, G, T (powers of 1024).
    #[arg(long, env = "RINGSEED_LOADTEST_BYTES", value_parser = parse_size)]
    bytes: Option<u64>,
    /// Block requests (16 KiB) in flight per unchoked peer.
    #[arg(long, env = "RINGSEED_LOADTEST_QUEUE_DEPTH", default_value_t = 64)]
    queue_depth: usize,
    /// Request pipelining: `depth` keeps --queue-depth requests in flight
    /// across pieces; `piece` asks for a whole piece and waits for it.
    #[arg(long, env = "RINGSEED_LOADTEST_PIPELINE", value_enum, default_value_t = PipelineArg::Depth)]
    pipeline: PipelineArg,
    /// Piece choice with --duration or --bytes.
    #[arg(long, env = "RINGSEED_LOADTEST_PATTERN", value_enum, default_value_t = PatternArg::Sequential)]
    pattern: PatternArg,
    /// Connections opened per second (default: all at once).
    #[arg(long, env = "RINGSEED_LOADTEST_CONNECT_RATE", value_name = "PER_SEC")]
    connect_rate: Option<u32>,
    /// Do not SHA-1 check completed pieces.
    #[arg(long, env = "RINGSEED_LOADTEST_NO_VERIFY")]
    no_verify: bool,
    /// Write the JSON report to this file.
    #[arg(long, env = "RINGSEED_LOADTEST_JSON", value_name = "FILE")]
    json: Option<PathBuf>,
    /// TCP connect timeout, seconds.
    #[arg(long, env = "RINGSEED_LOADTEST_CONNECT_TIMEOUT", value_parser = parse_duration, default_value = "10")]
    connect_timeout: Duration,
    /// Timeout for the seeder's handshake, seconds.
    #[arg(long, env = "RINGSEED_LOADTEST_HANDSHAKE_TIMEOUT", value_parser = parse_duration, default_value = "10")]
    handshake_timeout: Duration,
    /// Give each peer its own source address 127.0.0.2, 127.0.0.3, … when the
    /// target is on loopback (for seeders that accept one connection per IP).
    #[arg(long, env = "RINGSEED_LOADTEST_SPREAD_SOURCES")]
    spread_sources: bool,
}

/// A duration in humantime's notation (`90s`, `2m`, `1.5h`, `1h 30m`,
/// `500ms`), or a bare number of seconds (`90`, `2.5`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bare_seconds = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let text = if bare_seconds {
        format!("{s}s")
    } else {
        s.to_string()
    };
    let d = humantime::parse_duration(&text)
        .map_err(|_| format!("{s:?} is not a duration (e.g. 30, 2.5s, 5m)"))?;
    if d.is_zero() || d > Duration::from_secs(1_000_000_000) {
        return Err(format!("{s:?} is not a positive duration"));
    }
    Ok(d)
}

/// A byte count in bytesize's notation, where a bare K, M, G or T (any case)
/// means a power of 1024 as `Ki`, `Mi`, `Gi`, `Ti` do: `512M`, `1.5k`,
/// `10GiB`, `3 MB` (10⁶ bytes), `1000000`.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let binary = t.ends_with(|c: char| "KMGTkmgt".contains(c));
    let text = if binary {
        format!("{t}i")
    } else if t.ends_with(|c: char| c.is_ascii_digit()) {
        // bytesize wants a unit after a fraction (`1.5`).
        format!("{t}B")
    } else {
        t.to_string()
    };
    let bytes = text
        .parse::<bytesize::ByteSize>()
        .map_err(|_| format!("{s:?} is not a byte count (e.g. 1000000, 512M, 10G)"))?
        .as_u64();
    if bytes == 0 {
        return Err(format!("{s:?} is not a positive byte count"));
    }
    Ok(bytes)
}

fn bad_input(msg: String) -> ExitCode {
    eprintln!("ringseed-loadtest: {msg}");
    ExitCode::from(2)
}

fn resolve(target: &str) -> Result<SocketAddr, String> {
    let mut addrs = target
        .to_socket_addrs()
        .map_err(|e| format!("bad target {target:?}: {e} (expected HOST:PORT)"))?;
    addrs
        .next()
        .ok_or_else(|| format!("bad target {target:?}: resolves to no address"))
}

fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.2} {}", UNITS[u])
}

fn progress_line(p: &Progress) -> String {
    format!(
        "{:>6.1} s  {:>8.1} MB/s  {}  peers {}/{} unchoked  pieces {}/{} verified, {} failed  errors {}",
        p.elapsed.as_secs_f64(),
        p.rate_bytes_per_sec / 1e6,
        human_bytes(p.bytes as f64),
        p.peers_unchoked,
        p.peers_connected,
        p.pieces_verified,
        p.pieces_total,
        p.pieces_failed,
        p.errors
    )
}

fn summary(r: &Report, meta: &Metainfo, target: SocketAddr) -> String {
    let mut s = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        s,
        "ringseed-loadtest: {} ({}) from {target}",
        meta.name, meta.info_hash
    );
    let _ = writeln!(
        s,
        "  received   {} in {:.2} s = {:.1} MB/s ({:.2} Gbit/s)",
        human_bytes(r.bytes as f64),
        r.seconds,
        r.throughput_bytes_per_sec / 1e6,
        r.throughput_bytes_per_sec * 8.0 / 1e9
    );
    let _ = writeln!(
        s,
        "  pieces     {} verified, {} failed, {} completed of {}{}",
        r.pieces_verified,
        r.pieces_failed,
        r.pieces_completed,
        r.pieces_total,
        if r.download_once {
            if r.complete {
                "  (complete)"
            } else {
                "  (INCOMPLETE)"
            }
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "  peers      {} connected, {} unchoked (peak)",
        r.peers_connected, r.peers_unchoked
    );
    let _ = writeln!(
        s,
        "  latency    block p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms ({} blocks)",
        r.latency_ms.p50, r.latency_ms.p90, r.latency_ms.p99, r.latency_ms.p999, r.latency_samples
    );
    let _ = writeln!(
        s,
        "  unchoke    after p50 {:.1} ms, p99 {:.1} ms; first block after unchoke p50 {:.1} ms, max {:.1} ms",
        r.time_to_unchoke_ms.p50,
        r.time_to_unchoke_ms.p99,
        r.time_to_first_block_ms.p50,
        r.time_to_first_block_ms.max
    );
    let _ = writeln!(
        s,
        "  cpu        {:.2} s ({:.0}% of one core)",
        r.cpu_seconds,
        if r.seconds > 0.0 {
            100.0 * r.cpu_seconds / r.seconds
        } else {
            0.0
        }
    );
    let _ = writeln!(s, "  errors     {}", r.errors);
    for (kind, n) in &r.error_kinds {
        let example = r.error_examples.get(kind).map(String::as_str).unwrap_or("");
        let _ = writeln!(s, "    {n:>8}  {kind}: {example}");
    }
    let _ = write!(s, "  stopped    {}", r.stop_reason);
    s
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let bytes = match std::fs::read(&cli.torrent) {
        Ok(b) => b,
        Err(e) => {
            return bad_input(format!(
                "cannot read torrent {}: {e}",
                cli.torrent.display()
            ))
        }
    };
    let meta = match Metainfo::from_bytes(&bytes) {
        Ok(m) => m,
        Err(e) => return bad_input(format!("invalid torrent {}: {e}", cli.torrent.display())),
    };
    let target = match resolve(&cli.target) {
        Ok(t) => t,
        Err(e) => return bad_input(e),
    };
    if cli.peers == 0 {
        return bad_input("--peers must be at least 1".into());
    }
    if cli.queue_depth == 0 {
        return bad_input("--queue-depth must be at least 1".into());
    }
    let limit = raise_nofile_limit(cli.peers as u64 + 256);
    if limit < cli.peers as u64 + 64 {
        eprintln!(
            "ringseed-loadtest: warning: open-file limit is {limit}, too low for {} peers",
            cli.peers
        );
    }

    let mut cfg = SwarmConfig::new(target);
    cfg.peers = cli.peers;
    cfg.queue_depth = cli.queue_depth;
    cfg.pattern = match cli.pattern {
        PatternArg::Sequential => Pattern::Sequential,
        PatternArg::Random => Pattern::Random,
        PatternArg::Zipf => Pattern::Zipf,
    };
    cfg.pipeline = match cli.pipeline {
        PipelineArg::Depth => ringseed_loadtest::Pipeline::Depth,
        PipelineArg::Piece => ringseed_loadtest::Pipeline::Piece,
    };
    cfg.duration = cli.duration;
    cfg.bytes = cli.bytes;
    cfg.connect_rate = cli.connect_rate;
    cfg.verify = !cli.no_verify;
    cfg.connect_timeout = cli.connect_timeout;
    cfg.handshake_timeout = cli.handshake_timeout;
    cfg.spread_sources = cli.spread_sources;

    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ringseed-loadtest: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let meta = Arc::new(meta);
    eprintln!(
        "ringseed-loadtest: {} ({} pieces of {} KiB, {}) from {target} with {} peers, {}",
        meta.info_hash,
        meta.lengths.num_pieces(),
        meta.lengths.piece_length() / 1024,
        human_bytes(meta.lengths.total_length() as f64),
        cfg.peers,
        match (cfg.duration, cfg.bytes) {
            (Some(d), _) => format!("{:?} pattern for {:.1} s", cfg.pattern, d.as_secs_f64()),
            (None, Some(b)) => format!("{:?} pattern for {}", cfg.pattern, human_bytes(b as f64)),
            (None, None) => "downloading every piece once".to_string(),
        }
    );
    let tty = std::io::stderr().is_terminal();
    let mut last_line: Option<Instant> = None;
    let on_progress = move |p: &Progress| {
        let line = progress_line(p);
        let mut err = std::io::stderr().lock();
        if tty {
            let _ = write!(err, "\r{line}\x1b[K");
            let _ = err.flush();
        } else if last_line.is_none_or(|t| t.elapsed() >= Duration::from_secs(2)) {
            last_line = Some(Instant::now());
            let _ = writeln!(err, "{line}");
        }
    };
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let report = rt.block_on(run_swarm_until(meta.clone(), cfg, on_progress, stop));
    if tty {
        eprintln!();
    }
    println!("{}", summary(&report, &meta, target));
    if let Some(path) = &cli.json {
        let json = serde_json::to_string_pretty(&report).expect("the report serialises");
        if let Err(e) = std::fs::write(path, json + "\n") {
            eprintln!("ringseed-loadtest: cannot write {}: {e}", path.display());
            return ExitCode::from(1);
        }
    }
    rt.shutdown_timeout(Duration::from_secs(1));
    if report.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert!(parse_size("abc").is_err());
        assert!(parse_size("0").is_err());
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("x").is_err());
    }

    #[test]
    fn more_spellings_of_sizes_and_durations() {
        assert_eq!(parse_size(" 10G ").unwrap(), 10 << 30);
        assert_eq!(parse_size("2t").unwrap(), 2 << 40);
        assert_eq!(parse_size("4 MiB").unwrap(), 4 << 20);
        assert_eq!(parse_size("3MB").unwrap(), 3_000_000);
        assert_eq!(parse_size("1.5").unwrap(), 1);
        assert!(parse_size("").is_err());
        assert!(parse_size("0.2").is_err());
        assert!(parse_size("12X").is_err());
        assert_eq!(parse_duration("2.5").unwrap(), Duration::from_millis(2500));
        assert_eq!(parse_duration(" 1h ").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("0.5m").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("2e9").is_err());
    }
}
