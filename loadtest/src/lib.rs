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
//! Several torrents in one run: [`run_swarm_multi`] spreads the peers over
//! the torrents (each peer downloads one torrent, all from the same seeder)
//! by a [`Popularity`], uniform or Zipf; the report then also carries
//! per-torrent totals ([`Report::torrents`]).
//!
//! [`testseed`] is a tiny tokio seeder (honest, lying, or closing) for tests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Zipf-distributed popularity over piece indexes (exponent
    /// [`SwarmConfig::zipf_exponent`], default s = 1.0): a few hot pieces and
    /// a long tail. Ranks are spread over the torrent by a fixed stride so
    /// hot pieces are not all adjacent.
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

/// How the peers of a multi-torrent run are spread over the torrents
/// ([`spread_peers`]). With one torrent it does not matter.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Popularity {
    /// As many peers on every torrent (±1).
    #[default]
    Uniform,
    /// Zipf with exponent s: the torrent of rank k (the k-th given, from 1)
    /// gets a share of the peers proportional to 1/k^s.
    Zipf(f64),
}

impl std::str::FromStr for Popularity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "uniform" | "random" => return Ok(Popularity::Uniform),
            "zipf" => return Ok(Popularity::Zipf(1.0)),
            _ => {}
        }
        if let Some(x) = t.strip_prefix("zipf:") {
            return match x.parse::<f64>() {
                Ok(e) if e.is_finite() && (0.0..=100.0).contains(&e) => Ok(Popularity::Zipf(e)),
                _ => Err(format!(
                    "bad Zipf exponent {x:?} in {s:?} (expected e.g. zipf:1.0)"
                )),
            };
        }
        Err(format!(
            "unknown popularity {s:?} (expected uniform, zipf or zipf:S)"
        ))
    }
}

impl std::fmt::Display for Popularity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Popularity::Uniform => f.write_str("uniform"),
            Popularity::Zipf(s) => write!(f, "zipf:{s}"),
        }
    }
}

impl serde::Serialize for Popularity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Which torrent each of `peers` peers downloads, for `torrents` torrents
/// (indexes `0..torrents`, rank order): the peers per torrent follow the
/// popularity's shares (largest remainders), every torrent gets at least one
/// peer when there are as many peers as torrents, and the list is
/// interleaved (one peer of each torrent that has one left, in rank order,
/// then again) so that a connect rate brings every torrent up together.
pub fn spread_peers(peers: usize, torrents: usize, popularity: Popularity) -> Vec<usize> {
    if torrents == 0 || peers == 0 {
        return Vec::new();
    }
    let weights: Vec<f64> = (0..torrents)
        .map(|k| match popularity {
            Popularity::Uniform => 1.0,
            Popularity::Zipf(s) => 1.0 / ((k + 1) as f64).powf(s),
        })
        .collect();
    let total: f64 = weights.iter().sum();
    let quota: Vec<f64> = weights.iter().map(|w| peers as f64 * w / total).collect();
    let mut counts: Vec<usize> = quota.iter().map(|q| q.floor() as usize).collect();
    let mut left = peers - counts.iter().sum::<usize>().min(peers);
    let mut order: Vec<usize> = (0..torrents).collect();
    // Largest fractional remainder first; ties to the more popular torrent.
    order.sort_by(|&a, &b| {
        let (ra, rb) = (quota[a] - quota[a].floor(), quota[b] - quota[b].floor());
        rb.partial_cmp(&ra)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.cmp(&b))
    });
    for &k in order.iter().cycle() {
        if left == 0 {
            break;
        }
        counts[k] += 1;
        left -= 1;
    }
    if peers >= torrents {
        for k in 0..torrents {
            if counts[k] == 0 {
                // Take one from the torrent with the most peers.
                let (most, _) = counts
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
                    .expect("torrents > 0");
                counts[most] -= 1;
                counts[k] = 1;
            }
        }
    }
    let mut out = Vec::with_capacity(peers);
    let mut round = 0;
    while out.len() < peers {
        for (k, &c) in counts.iter().enumerate() {
            if c > round {
                out.push(k);
            }
        }
        round += 1;
    }
    out
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
    /// Exponent s of [`Pattern::Zipf`] over the pieces of a torrent. Default 1.0.
    pub zipf_exponent: f64,
    /// How the peers are spread over several torrents ([`run_swarm_multi`]).
    /// Default [`Popularity::Uniform`].
    pub popularity: Popularity,
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
    /// Defaults: 8 peers, queue depth 64, sequential (Zipf exponent 1.0 when
    /// set to Zipf), uniform popularity over torrents, download-once mode
    /// (no duration, no byte budget), all connections at once, verify on,
    /// 10 s connect and handshake timeouts.
    pub fn new(target: SocketAddr) -> Self {
        SwarmConfig {
            target,
            peers: 8,
            queue_depth: 64,
            pattern: Pattern::Sequential,
            zipf_exponent: 1.0,
            popularity: Popularity::Uniform,
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
    /// Pieces in the torrent (all torrents together in a multi-torrent run).
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
    /// Pieces in the torrent (all torrents together in a multi-torrent run).
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
    /// Per-torrent totals, in the order the torrents were given; only in a
    /// run of several torrents (left out of the JSON otherwise). The
    /// swarm-wide fields above are the sums over all torrents.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub torrents: Vec<TorrentReport>,
}

/// One torrent's share of a multi-torrent run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct TorrentReport {
    /// The torrent's `name`.
    pub name: String,
    /// Its info hash, hex.
    pub info_hash: String,
    /// Peers assigned to it.
    pub peers: usize,
    /// Payload bytes received for it.
    pub bytes: u64,
    /// Its pieces whose SHA-1 matched.
    pub pieces_verified: u64,
    /// Its piece downloads that failed the SHA-1 check.
    pub pieces_failed: u64,
    /// Its pieces with every block received.
    pub pieces_completed: u64,
    /// Pieces in the torrent.
    pub pieces_total: u32,
    /// Download-once mode finished every piece of it.
    pub complete: bool,
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

/// One torrent of the run: its metainfo, piece choice and totals.
pub(crate) struct TorrentState {
    pub meta: Arc<Metainfo>,
    /// Download-once mode's work queue.
    pub work: Option<WorkQueue>,
    /// Load mode's piece picker.
    pub picker: Picker,
    /// Payload bytes received for this torrent.
    pub bytes: AtomicU64,
    pub verified: AtomicU64,
    pub failed: AtomicU64,
    pub completed: AtomicU64,
}

/// State shared by the supervisor and every peer task.
pub(crate) struct Shared {
    /// The torrents, in the order given (popularity rank order).
    pub torrents: Vec<Arc<TorrentState>>,
    /// Peer number → index in `torrents`.
    pub assignment: Vec<usize>,
    pub cfg: SwarmConfig,
    pub stats: Stats,
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
    cfg: SwarmConfig,
    on_progress: impl FnMut(&Progress) + Send + 'static,
    stop: impl std::future::Future<Output = ()> + Send,
) -> Report {
    run_swarm_multi(vec![meta], cfg, on_progress, stop).await
}

/// [`run_swarm_until`] over several torrents served by the same seeder: the
/// peers are spread over them by [`SwarmConfig::popularity`] (see
/// [`spread_peers`]; `metas` in rank order, the first the most popular), each
/// peer downloads its torrent with the run's pattern and pipeline. In
/// download-once mode every piece of every torrent is fetched once (give at
/// least as many peers as torrents, or the torrents left without a peer are
/// never finished). The report's counters are sums over the torrents, with
/// per-torrent totals in [`Report::torrents`] when there are several.
pub async fn run_swarm_multi(
    metas: Vec<Arc<Metainfo>>,
    mut cfg: SwarmConfig,
    mut on_progress: impl FnMut(&Progress) + Send + 'static,
    stop: impl std::future::Future<Output = ()> + Send,
) -> Report {
    cfg.queue_depth = cfg.queue_depth.max(1);
    let num_pieces: u32 = metas
        .iter()
        .map(|m| m.lengths.num_pieces())
        .fold(0u32, |a, n| a.saturating_add(n));
    let download_once = cfg.download_once();
    let max_frame = metas
        .iter()
        .map(|m| (m.lengths.num_pieces() / 8 + 16).clamp(32 * 1024, 64 << 20))
        .max()
        .unwrap_or(32 * 1024);
    let torrents: Vec<Arc<TorrentState>> = metas
        .into_iter()
        .map(|meta| {
            let n = meta.lengths.num_pieces();
            Arc::new(TorrentState {
                work: download_once.then(|| WorkQueue::new(n)),
                picker: Picker::new(cfg.pattern, n, cfg.zipf_exponent),
                bytes: AtomicU64::new(0),
                verified: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                completed: AtomicU64::new(0),
                meta,
            })
        })
        .collect();
    let assignment = spread_peers(cfg.peers, torrents.len(), cfg.popularity);
    let shared = Arc::new(Shared {
        torrents,
        assignment,
        stats: Stats::new(),
        wake: tokio::sync::Notify::new(),
        max_frame,
        cfg,
    });
    let all_finished = |sh: &Shared| {
        sh.torrents
            .iter()
            .all(|t| t.work.as_ref().is_some_and(|w| w.finished()))
    };
    let all_ok = |sh: &Shared| {
        sh.torrents
            .iter()
            .all(|t| t.work.as_ref().is_some_and(|w| w.all_ok()))
    };
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
        if download_once && all_finished(&shared) {
            break if all_ok(&shared) {
                "complete"
            } else {
                "all pieces done"
            };
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
    let complete = download_once && all_ok(&shared);
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
    if shared.torrents.len() > 1 {
        let mut peers = vec![0usize; shared.torrents.len()];
        for &t in &shared.assignment {
            peers[t] += 1;
        }
        report.torrents = shared
            .torrents
            .iter()
            .zip(peers)
            .map(|(t, peers)| TorrentReport {
                name: t.meta.name.clone(),
                info_hash: t.meta.info_hash.to_string(),
                peers,
                bytes: t.bytes.load(Ordering::Relaxed),
                pieces_verified: t.verified.load(Ordering::Relaxed),
                pieces_failed: t.failed.load(Ordering::Relaxed),
                pieces_completed: t.completed.load(Ordering::Relaxed),
                pieces_total: t.meta.lengths.num_pieces(),
                complete: t.work.as_ref().is_some_and(|w| w.all_ok()),
            })
            .collect();
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(v: &[usize], torrents: usize) -> Vec<usize> {
        let mut c = vec![0; torrents];
        for &t in v {
            c[t] += 1;
        }
        c
    }

    #[test]
    fn uniform_spread_is_even_and_interleaved() {
        let v = spread_peers(10, 4, Popularity::Uniform);
        assert_eq!(v.len(), 10);
        assert_eq!(counts(&v, 4), vec![3, 3, 2, 2]);
        assert_eq!(&v[..4], &[0, 1, 2, 3]);
        assert_eq!(spread_peers(3, 1, Popularity::Uniform), vec![0, 0, 0]);
        assert!(spread_peers(0, 4, Popularity::Uniform).is_empty());
        // Fewer peers than torrents: some torrents get none.
        assert_eq!(
            counts(&spread_peers(2, 4, Popularity::Uniform), 4)
                .iter()
                .sum::<usize>(),
            2
        );
    }

    #[test]
    fn zipf_spread_follows_the_shares_with_one_peer_each_at_least() {
        // s = 1, 16 torrents, 512 peers: H(16) ≈ 3.381, the first gets ≈ 151.
        let v = spread_peers(512, 16, Popularity::Zipf(1.0));
        let c = counts(&v, 16);
        assert_eq!(c.iter().sum::<usize>(), 512);
        assert!((150..=152).contains(&c[0]), "{c:?}");
        assert!((75..=76).contains(&c[1]), "{c:?}");
        assert!(c.windows(2).all(|w| w[0] >= w[1]), "{c:?}");
        // 16 peers for 16 torrents: one each, whatever the shares.
        assert_eq!(
            counts(&spread_peers(16, 16, Popularity::Zipf(1.0)), 16),
            vec![1; 16]
        );
        // Steep exponent: the tail still gets one peer each.
        let c = counts(&spread_peers(64, 16, Popularity::Zipf(3.0)), 16);
        assert!(
            c.iter().all(|&n| n >= 1) && c.iter().sum::<usize>() == 64,
            "{c:?}"
        );
        // s = 0 is uniform.
        assert_eq!(
            counts(&spread_peers(32, 4, Popularity::Zipf(0.0)), 4),
            vec![8; 4]
        );
    }
}
