//! `ringseed-loadtest`: drives any BitTorrent seeder with a swarm of leechers
//! over TCP (BEP 3 wire protocol, BEP 6 Fast extension, BEP 10 extension
//! handshake) and reports throughput, block latency and errors.
//!
//! ```text
//! ringseed-loadtest --torrent T.torrent [--torrent T2.torrent …] [--torrents-dir DIR]
//!     --target HOST:PORT [--peers N] [--popularity uniform|zipf[:S]]
//!     [--duration SECS | --bytes N] [--queue-depth Q]
//!     [--pattern sequential|random|zipf[:S]] [--pipeline depth|piece] [--connect-rate PER_SEC]
//!     [--no-verify] [--json FILE]
//! ```
//!
//! Several torrents (`--torrent` repeated, and/or every `*.torrent` of
//! `--torrents-dir` by name) are downloaded in one run from the same seeder:
//! each peer downloads one of them, the peers spread over the torrents by
//! `--popularity` (uniform, or Zipf with exponent S, default 1.0, the first
//! torrent the most popular; at least one peer per torrent when there are
//! enough peers). The report then adds per-torrent totals.
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
    raise_nofile_limit, run_swarm_multi, Pattern, Popularity, Progress, Report, SwarmConfig,
};
use ringseed_proto::metainfo::Metainfo;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum PipelineArg {
    /// --queue-depth requests in flight at all times, across pieces.
    Depth,
    /// One piece's blocks at a time: ask for all, wait for all, next piece.
    Piece,
}

/// `--pattern`: sequential, random, or zipf with an optional exponent (`zipf:1.2`).
#[derive(Clone, Copy, Debug)]
struct PatternArg(Pattern, f64);

fn parse_pattern(s: &str) -> Result<PatternArg, String> {
    let t = s.trim().to_ascii_lowercase();
    if let Some(x) = t.strip_prefix("zipf:") {
        return match x.parse::<f64>() {
            Ok(e) if e.is_finite() && (0.0..=100.0).contains(&e) => {
                Ok(PatternArg(Pattern::Zipf, e))
            }
            _ => Err(format!("bad Zipf exponent {x:?} (expected e.g. zipf:1.0)")),
        };
    }
    match t.as_str() {
        "sequential" => Ok(PatternArg(Pattern::Sequential, 1.0)),
        "random" => Ok(PatternArg(Pattern::Random, 1.0)),
        "zipf" => Ok(PatternArg(Pattern::Zipf, 1.0)),
        _ => Err(format!(
            "{s:?} is not a pattern (sequential, random, zipf or zipf:S)"
        )),
    }
}

/// A leecher-swarm load generator for any BitTorrent seeder.
#[derive(Parser, Debug)]
#[command(name = "ringseed-loadtest", version, about, long_about = None)]
struct Cli {
    /// The .torrent file of the data the seeder serves; repeat for several
    /// torrents (the first the most popular with --popularity zipf).
    #[arg(
        long,
        env = "RINGSEED_LOADTEST_TORRENT",
        value_name = "FILE",
        required_unless_present = "torrents_dir"
    )]
    torrent: Vec<PathBuf>,
    /// Also every *.torrent file in this directory, by name (after any --torrent).
    #[arg(long, env = "RINGSEED_LOADTEST_TORRENTS_DIR", value_name = "DIR")]
    torrents_dir: Option<PathBuf>,
    /// How the peers spread over several torrents: uniform, or zipf[:S]
    /// (the k-th torrent gets a share ∝ 1/k^S; S defaults to 1.0).
    #[arg(long, env = "RINGSEED_LOADTEST_POPULARITY", value_parser = parse_popularity, default_value = "uniform")]
    popularity: Popularity,
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
    /// Piece choice with --duration or --bytes: sequential, random, or
    /// zipf[:S] (piece popularity ∝ 1/rank^S; S defaults to 1.0).
    #[arg(long, env = "RINGSEED_LOADTEST_PATTERN", value_parser = parse_pattern, default_value = "sequential")]
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

fn parse_popularity(s: &str) -> Result<Popularity, String> {
    s.parse()
}

/// The torrent files of the run: every --torrent, then --torrents-dir's
/// *.torrent files sorted by name.
fn torrent_paths(cli: &Cli) -> Result<Vec<PathBuf>, String> {
    let mut paths = cli.torrent.clone();
    if let Some(dir) = &cli.torrents_dir {
        let rd = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read --torrents-dir {}: {e}", dir.display()))?;
        let mut found: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "torrent") && p.is_file())
            .collect();
        if found.is_empty() {
            return Err(format!("no *.torrent file in {}", dir.display()));
        }
        found.sort();
        paths.extend(found);
    }
    if paths.is_empty() {
        return Err("no torrent given (--torrent FILE or --torrents-dir DIR)".into());
    }
    Ok(paths)
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

fn summary(
    r: &Report,
    metas: &[Arc<Metainfo>],
    popularity: Popularity,
    target: SocketAddr,
) -> String {
    let mut s = String::new();
    use std::fmt::Write as _;
    if let [meta] = metas {
        let _ = writeln!(
            s,
            "ringseed-loadtest: {} ({}) from {target}",
            meta.name, meta.info_hash
        );
    } else {
        let _ = writeln!(
            s,
            "ringseed-loadtest: {} torrents, {popularity} popularity, from {target}",
            metas.len()
        );
    }
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
    for t in &r.torrents {
        let _ = writeln!(
            s,
            "  torrent    {} ({}): {} peers, {}, pieces {} verified, {} failed, {} completed of {}",
            t.name,
            t.info_hash,
            t.peers,
            human_bytes(t.bytes as f64),
            t.pieces_verified,
            t.pieces_failed,
            t.pieces_completed,
            t.pieces_total
        );
    }
    let _ = write!(s, "  stopped    {}", r.stop_reason);
    s
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let paths = match torrent_paths(&cli) {
        Ok(p) => p,
        Err(e) => return bad_input(e),
    };
    let mut metas: Vec<Arc<Metainfo>> = Vec::with_capacity(paths.len());
    for path in &paths {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => return bad_input(format!("cannot read torrent {}: {e}", path.display())),
        };
        let meta = match Metainfo::from_bytes(&bytes) {
            Ok(m) => m,
            Err(e) => return bad_input(format!("invalid torrent {}: {e}", path.display())),
        };
        if let Some(dup) = metas.iter().position(|m| m.info_hash == meta.info_hash) {
            return bad_input(format!(
                "{} and {} are the same torrent ({})",
                paths[dup].display(),
                path.display(),
                meta.info_hash
            ));
        }
        metas.push(Arc::new(meta));
    }
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
    cfg.pattern = cli.pattern.0;
    cfg.zipf_exponent = cli.pattern.1;
    cfg.popularity = cli.popularity;
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
    if cfg.download_once() && cfg.peers < metas.len() {
        return bad_input(format!(
            "downloading every piece once needs at least one peer per torrent: {} peers for {} torrents",
            cfg.peers,
            metas.len()
        ));
    }

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
    let what = if let [meta] = metas.as_slice() {
        format!(
            "{} ({} pieces of {} KiB, {})",
            meta.info_hash,
            meta.lengths.num_pieces(),
            meta.lengths.piece_length() / 1024,
            human_bytes(meta.lengths.total_length() as f64)
        )
    } else {
        format!(
            "{} torrents ({} pieces, {}, {} popularity)",
            metas.len(),
            metas
                .iter()
                .map(|m| m.lengths.num_pieces() as u64)
                .sum::<u64>(),
            human_bytes(metas.iter().map(|m| m.lengths.total_length() as f64).sum()),
            cfg.popularity
        )
    };
    let popularity = cfg.popularity;
    eprintln!(
        "ringseed-loadtest: {what} from {target} with {} peers, {}",
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
    let report = rt.block_on(run_swarm_multi(metas.clone(), cfg, on_progress, stop));
    if tty {
        eprintln!();
    }
    println!("{}", summary(&report, &metas, popularity, target));
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

    #[test]
    fn patterns_and_popularities_parse() {
        let p = parse_pattern("zipf:1.5").unwrap();
        assert_eq!((p.0, p.1), (Pattern::Zipf, 1.5));
        let p = parse_pattern("Random").unwrap();
        assert_eq!((p.0, p.1), (Pattern::Random, 1.0));
        assert_eq!(parse_pattern("zipf").unwrap().0, Pattern::Zipf);
        assert!(parse_pattern("zipf:x").is_err());
        assert!(parse_pattern("hot").is_err());
        assert_eq!(parse_popularity("uniform").unwrap(), Popularity::Uniform);
        assert_eq!(parse_popularity("zipf").unwrap(), Popularity::Zipf(1.0));
        assert_eq!(parse_popularity("zipf:0.8").unwrap(), Popularity::Zipf(0.8));
        assert!(parse_popularity("zipf:-1").is_err());
        assert!(parse_popularity("pareto").is_err());
        assert_eq!(Popularity::Zipf(1.0).to_string(), "zipf:1");
    }
}
