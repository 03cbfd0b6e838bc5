//! `ringseed demo`: the main job on a built-in sample, end to end.
//!
//! Generates a payload (a folder of a few files with awkward sizes, about
//! 256 MiB, deterministic bytes) in a cache directory, makes its torrent,
//! seeds it on 127.0.0.1 with a free port, and downloads it back with the
//! leecher swarm of `ringseed-loadtest` using several peers, each piece
//! verified by SHA-1. Ends with the throughput and the piece counts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringseed_loadtest::{run_swarm, Pattern, Report, SwarmConfig};

use ringseed::config::{Config, Endpoint};
use ringseed::metainfo::Metainfo;
use ringseed::Daemon;

/// Demo settings.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Payload size, MiB.
    pub size_mib: u64,
    /// Leecher connections.
    pub peers: usize,
    /// Shards of the seeder (0 = one per core).
    pub shards: usize,
    /// Where the payload, torrent and state go.
    pub cache_dir: PathBuf,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            size_mib: 256,
            peers: 8,
            shards: 0,
            cache_dir: default_cache_dir(),
        }
    }
}

/// `$XDG_CACHE_HOME/ringseed/demo`, else `~/.cache/ringseed/demo`, else `./ringseed-demo-cache`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("ringseed/demo");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h).join(".cache/ringseed/demo");
    }
    PathBuf::from("ringseed-demo-cache")
}

/// Writes `len` deterministic pseudo-random bytes (xorshift64, seeded) to `path`
/// unless a file of that size is already there.
fn ensure_file(path: &Path, len: u64, seed: u64) -> std::io::Result<()> {
    if std::fs::metadata(path)
        .map(|m| m.len() == len)
        .unwrap_or(false)
    {
        return Ok(());
    }
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut x = seed | 1;
    let mut left = len;
    let mut chunk = vec![0u8; 1 << 16];
    while left > 0 {
        for w in chunk.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes());
        }
        let k = (chunk.len() as u64).min(left) as usize;
        f.write_all(&chunk[..k])?;
        left -= k as u64;
    }
    f.flush()
}

/// `ringseed demo`: exit 0 when the whole payload came back and every piece
/// verified, 1 otherwise.
pub fn command(opts: &DemoOptions) -> anyhow::Result<ExitCode> {
    run(opts).map(|r| {
        if r.complete && r.pieces_failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    })
}

/// Runs the demo; returns the swarm's report.
///
/// Errors: the payload cannot be written, the daemon cannot start.
pub fn run(opts: &DemoOptions) -> anyhow::Result<Report> {
    let data = opts.cache_dir.join("data");
    let root = data.join("ringseed-demo");
    std::fs::create_dir_all(root.join("videos"))?;
    let total = opts.size_mib << 20;
    // Awkward sizes: nothing aligned to pieces, an empty file, a tiny file.
    let sizes = [
        ("videos/big.bin", total * 3 / 4 + 12_345),
        ("videos/empty.bin", 0),
        ("small.txt", 1_000),
        ("rest.bin", total - total * 3 / 4 - 13_345),
    ];
    eprintln!(
        "demo: preparing a {} MiB payload in {}",
        opts.size_mib,
        data.display()
    );
    for (i, (name, len)) in sizes.iter().enumerate() {
        ensure_file(&root.join(name), *len, 0x9E37_79B9_7F4A_7C15 ^ i as u64)?;
    }
    let torrent_path = opts.cache_dir.join("ringseed-demo.torrent");
    let bytes = ringseed::create::create_torrent(&root, Some(1 << 20), &[])?;
    std::fs::write(&torrent_path, &bytes)?;
    let meta = Metainfo::from_bytes(&bytes)?;

    // The demo's session holds only this payload's torrent: a demo run
    // earlier with another --size-mib left its own, whose files are now
    // different.
    let session = opts.cache_dir.join("state/session");
    if let Ok(entries) = std::fs::read_dir(&session) {
        let keep = meta.info_hash.to_hex();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let a_torrent = name.len() > 40 && name[..40].bytes().all(|b| b.is_ascii_hexdigit());
            if a_torrent && !name.starts_with(&keep) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    let mut config = Config::new(data.clone());
    config.network.listen = "127.0.0.1:0".parse()?;
    config.network.shards = opts.shards;
    config.storage.state_dir = opts.cache_dir.join("state");
    config.choking.upload_slots = opts.peers.max(ringseed::config::DEFAULT_UPLOAD_SLOTS);
    // The demo needs no control API.
    config.rpc.listen = Endpoint::Off;
    config.webui.listen = Endpoint::Off;
    config.transmission_rpc.listen = Endpoint::Off;
    config.ipc.socket = ringseed::config::UnixSocket::Off;
    let daemon = Daemon::start(config, vec![(torrent_path.clone(), meta.clone(), bytes)])?;
    if !daemon.wait_checked(Duration::from_secs(600)) {
        anyhow::bail!("hash check did not finish in 10 minutes");
    }
    eprintln!(
        "demo: seeding {} ({} pieces of {} KiB) on {}; downloading it back with {} peers",
        meta.info_hash,
        meta.lengths.num_pieces(),
        meta.lengths.piece_length() / 1024,
        daemon.listen_addr,
        opts.peers
    );
    let mut cfg = SwarmConfig::new(daemon.listen_addr);
    cfg.peers = opts.peers;
    cfg.pattern = Pattern::Sequential;
    cfg.verify = true;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let report = rt.block_on(run_swarm(Arc::new(meta), cfg, |p| {
        eprint!(
            "\rdemo: {:>5.1} s  {:>7.1} MB/s  {}/{} pieces verified  {} failed  peers {}/{} unchoked   ",
            p.elapsed.as_secs_f64(),
            p.rate_bytes_per_sec / 1e6,
            p.pieces_verified,
            p.pieces_total,
            p.pieces_failed,
            p.peers_unchoked,
            p.peers_connected
        );
    }));
    eprintln!();
    daemon.shutdown();
    println!(
        "demo: downloaded {:.1} MiB in {:.2} s: {:.1} MB/s; pieces verified {}, failed {}; {}",
        report.bytes as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64(),
        report.throughput_bytes_per_sec / 1e6,
        report.pieces_verified,
        report.pieces_failed,
        if report.complete && report.pieces_failed == 0 {
            "complete"
        } else {
            "INCOMPLETE"
        }
    );
    Ok(report)
}
