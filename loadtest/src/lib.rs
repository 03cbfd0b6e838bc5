//! `ringseed-loadtest`: a leecher-swarm load generator for any BitTorrent seeder.
//!
//! The swarm opens [`SwarmConfig::peers`] plain-tokio TCP connections to one
//! seeder and downloads from it as ordinary leechers would:
//!
//! - BEP 3: the handshake, `interested`, `bitfield`/`have`, `choke`/`unchoke`,
//!   `request`/`piece`, keep-alives every 90 s, SHA-1 verification of every
//!   completed piece.
//! - BEP 6 (Fast extension): `have_all`/`have_none`, `allowed_fast` (requested
//!   while choked), `reject_request` (the block goes back to be requested
//!   again); after a choke from a Fast seeder outstanding requests are kept
//!   until rejected or answered, from any other seeder they are dropped.
//! - BEP 10 (extension protocol): an extension handshake naming this client
//!   (`v`), and the seeder's `reqq` caps the requests kept in flight.
//!
//! Two modes: *download once* (neither [`SwarmConfig::duration`] nor
//! [`SwarmConfig::bytes`]) fetches every piece exactly once from one shared
//! work queue and ends when all pieces are verified or failed for good; the
//! *load* modes keep requesting pieces picked by a [`Pattern`] until the time
//! or byte budget is spent. [`run_swarm`] returns a [`Report`] with the
//! throughput, block latency percentiles, a per-second timeline, every error
//! by kind, and this process's CPU time (the swarm is meant to be light next
//! to the seeder it measures: no per-block allocation, SHA-1 streamed over
//! blocks as they arrive in order).
//!
//! [`testseed`] is a tiny tokio seeder (honest, lying, or closing) for tests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringseed_proto::metainfo::Metainfo;
use tokio::sync::watch;
use tokio::task::JoinSet;

mod peer;
mod stats;
pub mod testseed;
mod work;

use stats::Stats;
use work::{Picker, WorkQueue};

/// How a leecher keeps block requests in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pipeline {
    /// `queue_depth` requests in flight at all times, across pieces (a new
    /// request as soon as a block arrives; libtorrent's way).
    Depth,
    /// Ask for every block of one piece, wait until all of them arrived,
    /// then ask for the next piece (a common simple leecher; the tail of
    /// each burst is where Nagle and delayed ACKs show).
    Piece,
}

/// Which pieces the load modes (a duration or byte budget) ask for.
/// Download-once mode ignores it: every piece is fetched exactly once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pattern {
    /// Piece 0, 1, 2, … shared by the whole swarm, wrapping around at the end.
    #[default]
    Sequential,
    /// Uniformly random piece indexes.
    Random,
    /// Zipf-distributed (s = 1.0) popularity over piece indexes: a few hot
    /// pieces and a long tail. Ranks are spread over the torrent by a fixed
    /// stride so hot pieces are not all adjacent.
    Zipf,
}

impl std::str::FromStr for Pattern {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "sequential" | "seq" => Ok(Pattern::Sequential),
            "random" | "uniform" => Ok(Pattern::Random),
            "zipf" => Ok(Pattern::Zipf),
            other => Err(format!(
                "unknown pattern {other:?} (expected sequential, random or zipf)"
            )),
        }
    }
}

/// Settings of one swarm run.
#[derive(Clone, Debug)]
pub struct SwarmConfig {
    /// The seeder's address.
    pub target: SocketAddr,
    /// Number of TCP connections (leechers) to open.
    pub peers: usize,
    /// Block requests (16 KiB each) kept in flight per unchoked peer; capped by
    /// the seeder's BEP 10 `reqq` when that is smaller. Default 64.
    pub queue_depth: usize,
    /// Piece choice in the load modes.
    pub pattern: Pattern,
    /// How requests are kept in flight. Default [`Pipeline::Depth`].
    pub pipeline: Pipeline,
    /// Stop after this long (load mode).
    pub duration: Option<Duration>,
    /// Stop after this many payload bytes were received (load mode).
    pub bytes: Option<u64>,
    /// Connections opened per second; `None` opens all at once.
    pub connect_rate: Option<u32>,
    /// SHA-1 check every completed piece. Default true.
    pub verify: bool,
    /// Limit on the TCP connect, default 10 s.
    pub connect_timeout: Duration,
    /// Limit on receiving the seeder's 68-byte handshake after connecting, default 10 s.
    pub handshake_timeout: Duration,
    /// Give each peer its own loopback source address (127.0.0.2, 127.0.0.3, …)
    /// when the target is on loopback, for seeders that accept one
    /// connection per IP address (Transmission).
    pub spread_sources: bool,
}

impl SwarmConfig {
    /// Defaults: 8 peers, queue depth 64, sequential, download-once mode
    /// (no duration, no byte budget), all connections at once, verify on,
    /// 10 s connect and handshake timeouts.
    pub fn new(target: SocketAddr) -> Self {
        SwarmConfig {
            target,
            peers: 8,
            queue_depth: 64,
            pattern: Pattern::Sequential,
            pipeline: Pipeline::Depth,
            duration: None,
            bytes: None,
            connect_rate: None,
            verify: true,
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            spread_sources: false,
        }
    }

    /// True when neither a duration nor a byte budget is set: every piece is
    /// downloaded exactly once.
    pub fn download_once(&self) -> bool {
        self.duration.is_none() && self.bytes.is_none()
    }
}

/// A snapshot handed to the progress callback about every 500 ms.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    /// Time since the run started.
    pub elapsed: Duration,
    /// Payload bytes received so far (block data only, no framing).
    pub bytes: u64,
    /// Receive rate over the last second or so, bytes per second.
    pub rate_bytes_per_sec: f64,
    /// Connections with a completed handshake right now.
    pub peers_connected: usize,
    /// Connections the seeder has unchoked right now.
    pub peers_unchoked: usize,
    /// Pieces whose SHA-1 matched.
    pub pieces_verified: u64,
    /// Piece downloads whose SHA-1 did not match (each attempt counts).
    pub pieces_failed: u64,
    /// Pieces with every block received (verified or not; equals
    /// `pieces_verified + pieces_failed` when verifying).
    pub pieces_completed: u64,
    /// Errors so far, all kinds.
    pub errors: u64,
    /// Pieces in the torrent.
    pub pieces_total: u32,
}

/// Percentiles of the block latency, milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
}

/// Percentiles of the time from TCP connect to the first unchoke, milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct UnchokePercentiles {
    pub p50: f64,
    pub p99: f64,
    /// The slowest peer.
    pub max: f64,
}

/// The result of a run (serialised as the `--json` report).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Report {
    /// `bytes / seconds`, bytes per second.
    pub throughput_bytes_per_sec: f64,
    /// Payload bytes received (block data only), repeats and pieces that
    /// failed verification included.
    pub bytes: u64,
    /// Length of the run, seconds (start to stop, before the peers are shut down).
    pub seconds: f64,
    /// Pieces whose SHA-1 matched.
    pub pieces_verified: u64,
    /// Piece downloads whose SHA-1 did not match (each attempt counts).
    pub pieces_failed: u64,
    /// Pieces with every block received (verified or not).
    pub pieces_completed: u64,
    /// Pieces in the torrent.
    pub pieces_total: u32,
    /// Peak number of connections with a completed handshake.
    pub peers_connected: usize,
    /// Peak number of connections unchoked at the same time.
    pub peers_unchoked: usize,
    /// Errors, all kinds.
    pub errors: u64,
    /// Errors by kind (`connect refused`, `wrong info hash`, `seeder closed`, …).
    pub error_kinds: BTreeMap<String, u64>,
    /// The first error message seen of each kind, with its details.
    pub error_examples: BTreeMap<String, String>,
    /// Block latency, request sent → block fully received, milliseconds.
    pub latency_ms: Percentiles,
    /// Number of block latencies measured.
    pub latency_samples: u64,
    /// TCP connected → first unchoke, milliseconds.
    pub time_to_unchoke_ms: UnchokePercentiles,
    /// First unchoke → first block received, milliseconds (how long an
    /// unchoked peer waits for data, e.g. under a rate limit).
    pub time_to_first_block_ms: UnchokePercentiles,
    /// Payload bytes received in each second of the run (the last entry may
    /// cover a partial second).
    pub timeline: Vec<u64>,
    /// Download-once mode ran: every piece was to be fetched once.
    pub download_once: bool,
    /// Download-once mode finished every piece (verified, or received when not verifying).
    pub complete: bool,
    /// Why the run stopped: `complete`, `duration`, `bytes`, `no peers left`,
    /// `stalled`, `all pieces done`, `interrupted`.
    pub stop_reason: String,
    /// This process's user + system CPU time during the run, seconds (getrusage).
    pub cpu_seconds: f64,
}

impl Report {
    /// True for a successful run: no piece failed verification, something was
    /// downloaded, and in download-once mode every piece was completed.
    pub fn success(&self) -> bool {
        self.pieces_failed == 0 && self.bytes > 0 && (!self.download_once || self.complete)
    }
}

/// Raises this process's `RLIMIT_NOFILE` soft limit to `min(want, hard limit)`
/// (never lowers it) and returns the soft limit in force afterwards.
pub fn raise_nofile_limit(want: u64) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    // `None` is RLIM_INFINITY.
    let soft = lim.current.unwrap_or(u64::MAX);
    let target = want.min(lim.maximum.unwrap_or(u64::MAX));
    if target <= soft {
        return soft;
    }
    let raised = Rlimit {
        current: Some(target),
        maximum: lim.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => target,
        Err(_) => soft,
    }
}

/// User + system CPU time of this process, seconds.
fn cpu_time() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct passed by pointer.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut ru) != 0 {
            return 0.0;
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }
}

/// State shared by the supervisor and every peer task.
pub(crate) struct Shared {
    pub meta: Arc<Metainfo>,
    pub cfg: SwarmConfig,
    pub stats: Stats,
    /// Download-once mode's work queue.
    pub work: Option<WorkQueue>,
    /// Load mode's piece picker.
    pub picker: Picker,
    /// Wakes the supervisor (all pieces done, byte budget reached, a peer ended).
    pub wake: tokio::sync::Notify,
    /// Largest frame payload accepted from the seeder, bytes.
    pub max_frame: u32,
}

/// Downloads from the seeder at `cfg.target` with a swarm of leechers and
/// returns the report; see [`SwarmConfig`] for the modes. `on_progress` is
/// called about every 500 ms. Must run inside a tokio runtime (multi-thread
/// recommended); the peers are spawned tasks. Never fails: every problem is
/// counted in [`Report::errors`] by kind.
pub async fn run_swarm(
    meta: Arc<Metainfo>,
    cfg: SwarmConfig,
    on_progress: impl FnMut(&Progress) + Send + 'static,
) -> Report {
    run_swarm_until(meta, cfg, on_progress, std::future::pending::<()>()).await
}

/// [`run_swarm`] that also stops early, with a report of what was done, when
/// `stop` completes (for example on Ctrl-C).
pub async fn run_swarm_until(
    meta: Arc<Metainfo>,
    mut cfg: SwarmConfig,
    mut on_progress: impl FnMut(&Progress) + Send + 'static,
    stop: impl std::future::Future<Output = ()> + Send,
) -> Report {
    cfg.queue_depth = cfg.queue_depth.max(1);
    let num_pieces = meta.lengths.num_pieces();
    let download_once = cfg.download_once();
    let max_frame = (num_pieces / 8 + 16).clamp(32 * 1024, 64 << 20);
    let shared = Arc::new(Shared {
        work: download_once.then(|| WorkQueue::new(num_pieces)),
        picker: Picker::new(cfg.pattern, num_pieces),
        stats: Stats::new(),
        wake: tokio::sync::Notify::new(),
        max_frame,
        meta,
        cfg,
    });
    let cfg = &shared.cfg;
    let (stop_tx, stop_rx) = watch::channel(false);
    let cpu0 = cpu_time();
    let start = Instant::now();

    let mut peers = JoinSet::new();
    let mut spawned = 0usize;
    let spawn_one = |peers: &mut JoinSet<()>, no: usize| {
        peers.spawn(peer::peer_task(shared.clone(), no, stop_rx.clone()));
    };
    let rate = cfg.connect_rate.filter(|r| *r > 0);
    if rate.is_none() {
        while spawned < cfg.peers {
            spawn_one(&mut peers, spawned);
            spawned += 1;
        }
    }
    let spawn_period =
        rate.map(|r| Duration::from_secs_f64(1.0 / r as f64).max(Duration::from_millis(5)));
    let mut spawn_tick = tokio::time::interval(spawn_period.unwrap_or(Duration::from_secs(3600)));
    spawn_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut progress_tick = tokio::time::interval(Duration::from_millis(500));
    progress_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    progress_tick.tick().await;

    let mut timeline: Vec<u64> = Vec::new();
    let mut timeline_base = 0u64;
    let mut samples: std::collections::VecDeque<(Instant, u64)> = std::collections::VecDeque::new();
    samples.push_back((start, 0));
    let mut last_bytes = 0u64;
    let mut last_change = start;
    const STALL: Duration = Duration::from_secs(30);
    tokio::pin!(stop);
    let deadline = cfg
        .duration
        .map(|d| tokio::time::Instant::from_std(start + d));
    let sleep_deadline = tokio::time::sleep_until(
        deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(86400 * 365)),
    );
    tokio::pin!(sleep_deadline);

    let reason: &str = loop {
        tokio::select! {
            _ = &mut stop => break "interrupted",
            _ = &mut sleep_deadline, if deadline.is_some() => break "duration",
            _ = spawn_tick.tick(), if rate.is_some() && spawned < cfg.peers => {
                let r = rate.unwrap_or(1) as f64;
                let due = ((start.elapsed().as_secs_f64() * r) as usize + 1).min(cfg.peers);
                while spawned < due {
                    spawn_one(&mut peers, spawned);
                    spawned += 1;
                }
            }
            Some(_) = peers.join_next(), if !peers.is_empty() => {}
            _ = shared.wake.notified() => {}
            _ = progress_tick.tick() => {
                let now = Instant::now();
                let bytes = shared.stats.bytes.load(Ordering::Relaxed);
                let elapsed = now - start;
                while elapsed >= Duration::from_secs(timeline.len() as u64 + 1) {
                    timeline.push(bytes - timeline_base);
                    timeline_base = bytes;
                }
                samples.push_back((now, bytes));
                while samples.len() > 3 {
                    samples.pop_front();
                }
                let (t0, b0) = samples[0];
                let dt = (now - t0).as_secs_f64();
                let rate = if dt > 0.0 { (bytes - b0) as f64 / dt } else { 0.0 };
                on_progress(&shared.stats.progress(elapsed, rate, num_pieces));
                if bytes != last_bytes {
                    last_bytes = bytes;
                    last_change = now;
                } else if cfg.duration.is_none() && now - last_change >= STALL {
                    shared.stats.error("stalled", format!("no payload received for {} s; giving up", STALL.as_secs()));
                    break "stalled";
                }
            }
        }
        if let Some(w) = &shared.work {
            if w.finished() {
                break if w.all_ok() {
                    "complete"
                } else {
                    "all pieces done"
                };
            }
        }
        if let Some(limit) = cfg.bytes {
            if shared.stats.bytes.load(Ordering::Relaxed) >= limit {
                break "bytes";
            }
        }
        if spawned >= cfg.peers && peers.is_empty() {
            break "no peers left";
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    let bytes = shared.stats.bytes.load(Ordering::Relaxed);
    on_progress(&shared.stats.progress(
        start.elapsed(),
        bytes as f64 / seconds.max(1e-9),
        num_pieces,
    ));
    let _ = stop_tx.send(true);
    // Peers see the stop signal at once; give them a moment to flush their
    // statistics, then abort whatever is left.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while peers.join_next().await.is_some() {}
    })
    .await;
    peers.abort_all();
    while peers.join_next().await.is_some() {}
    let cpu_seconds = (cpu_time() - cpu0).max(0.0);

    let bytes = shared.stats.bytes.load(Ordering::Relaxed);
    if bytes > timeline_base || timeline.is_empty() {
        timeline.push(bytes - timeline_base);
    }
    let complete = shared.work.as_ref().map(|w| w.all_ok()).unwrap_or(false);
    let mut report = shared.stats.report();
    report.throughput_bytes_per_sec = if seconds > 0.0 {
        bytes as f64 / seconds
    } else {
        0.0
    };
    report.bytes = bytes;
    report.seconds = seconds;
    report.pieces_total = num_pieces;
    report.timeline = timeline;
    report.download_once = download_once;
    report.complete = complete;
    report.stop_reason = reason.to_string();
    report.cpu_seconds = cpu_seconds;
    report
}
