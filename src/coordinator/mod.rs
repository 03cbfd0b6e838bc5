//! The coordinator: one plain thread that owns the choking decisions.
//!
//! Shards send [`ShardEvent`]s over a crossbeam channel (connect, interest
//! changes and closes at once; a snapshot of every peer each second). The
//! coordinator runs the seed choker per torrent every unchoke interval,
//! rotates one optimistic unchoke per torrent every optimistic interval,
//! gives a newly interested peer a free slot at once, and sends
//! [`ShardCommand`]s back to the shard that owns the peer (push, then
//! `Notify::notify_one`, so no wake-up is lost). It never touches a socket.

pub mod choker;
mod publish;

pub use publish::{
    describe as describe_metrics, DURATION_BUCKETS, IDLE_TIMEOUT as METRICS_IDLE_TIMEOUT,
};

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use ringseed_proto::metainfo::InfoHash;
use tokio::sync::Notify;

use crate::disconnect::DisconnectReason;
use crate::session::Registry;
use choker::{Candidate, ChokerAlgorithm};

/// A peer's identity across threads: shard index in the top 16 bits, a
/// per-shard counter below.
pub type PeerKey = u64;

/// Shard index of a peer key.
pub fn shard_of(key: PeerKey) -> usize {
    (key >> 48) as usize
}

/// Facts about a peer known once its handshake is done.
#[derive(Clone, Debug)]
pub struct PeerHello {
    pub key: PeerKey,
    pub info_hash: InfoHash,
    pub addr: SocketAddr,
    pub peer_id: [u8; 20],
    /// Peer supports BEP 6.
    pub fast: bool,
    /// The torrent's piece length in bytes (for round-robin turns).
    pub piece_length: u32,
    pub num_pieces: u32,
}

/// Per-peer counters a shard reports every second.
#[derive(Clone, Debug, Default)]
pub struct PeerSnapshot {
    pub key: PeerKey,
    /// The shard is choking the peer.
    pub am_choking: bool,
    /// Payload bytes sent to the peer since it connected.
    pub uploaded: u64,
    /// Payload bytes received from the peer since it connected (a seed receives none).
    pub downloaded: u64,
    /// Requests queued with us, not yet served.
    pub queue_len: u32,
    /// Pieces the peer says it has.
    pub have_count: u32,
    /// Kernel-measured smoothed RTT, microseconds (`TCP_INFO`).
    pub rtt_us: u32,
    /// Misbehaviour score (invalid requests, overflow…).
    pub score: u32,
    /// Client name from the BEP 10 handshake `v`.
    pub client: Option<Arc<str>>,
}

/// Per-shard counters reported every second (totals since the shard started).
#[derive(Clone, Debug, Default)]
pub struct ShardStats {
    pub shard: usize,
    pub connections: u64,
    pub bytes_sent: u64,
    pub blocks_sent: u64,
    pub registered_buffers: u64,
    pub registered_buffers_in_use: u64,
    pub plain_buffer_blocks: u64,
    /// io_uring operations submitted by the shard (reads, writes, accepts excluded).
    pub uring_ops: u64,
    /// Block serve times since the last snapshot, microseconds (request
    /// received → last byte handed to the kernel; a bounded sample).
    pub serve_time_us: Vec<u32>,
}

/// Shard → coordinator.
#[derive(Debug)]
pub enum ShardEvent {
    Connected(Box<PeerHello>),
    Interest {
        key: PeerKey,
        interested: bool,
    },
    Closed {
        key: PeerKey,
        reason: DisconnectReason,
    },
    Snapshot {
        stats: ShardStats,
        peers: Vec<PeerSnapshot>,
    },
}

/// Coordinator → shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardCommand {
    Choke(PeerKey),
    Unchoke(PeerKey),
    /// Close every peer and stop.
    Shutdown,
}

/// The sending end to one shard: a channel and the shard's wake-up.
#[derive(Clone)]
pub struct ShardLink {
    pub tx: Sender<ShardCommand>,
    pub wake: Arc<Notify>,
}

impl ShardLink {
    /// Queues a command and wakes the shard.
    pub fn send(&self, cmd: ShardCommand) {
        if self.tx.send(cmd).is_ok() {
            self.wake.notify_one();
        }
    }
}

/// Choking settings.
#[derive(Clone, Copy, Debug)]
pub struct ChokeSettings {
    pub algorithm: ChokerAlgorithm,
    pub upload_slots: usize,
    pub unchoke_interval: Duration,
    pub optimistic_interval: Duration,
}

struct PeerEntry {
    hello: PeerHello,
    connected_at: Instant,
    labels: Option<publish::PeerLabels>,
    interested: bool,
    interested_at: Instant,
    /// Unchoked by a regular slot or the optimistic unchoke.
    unchoked: bool,
    unchoked_at: Option<Instant>,
    uploaded_at_unchoke: u64,
    snap: PeerSnapshot,
    last_snap_at: Instant,
    upload_rate: u64,
}

#[derive(Default)]
struct TorrentPeers {
    peers: Vec<PeerKey>,
    optimistic: Option<PeerKey>,
}

/// Totals the coordinator keeps (for logs, metrics and tests).
#[derive(Clone, Debug, Default)]
pub struct Totals {
    pub disconnects: BTreeMap<DisconnectReason, u64>,
    pub choke_rounds: u64,
}

/// The coordinator's state; [`Coordinator::run`] is its thread's body.
pub struct Coordinator {
    settings: ChokeSettings,
    shards: Vec<ShardLink>,
    peers: HashMap<PeerKey, PeerEntry>,
    torrents: HashMap<InfoHash, TorrentPeers>,
    totals: Totals,
    // Metrics (published once a second when `metrics_max_peers` is set).
    metrics_max_peers: Option<usize>,
    registry: Option<Registry>,
    hashed_bytes: Option<Arc<AtomicU64>>,
    /// Payload bytes of closed peers, per torrent (torrent totals outlive peers).
    closed_uploaded: HashMap<InfoHash, u64>,
    shard_stats: Vec<ShardStats>,
    /// Peers whose series are (or may still be) on /metrics: last publish time.
    exposed: HashMap<PeerKey, Instant>,
}

impl Coordinator {
    pub fn new(settings: ChokeSettings, shards: Vec<ShardLink>) -> Self {
        Coordinator {
            settings,
            shards,
            peers: HashMap::new(),
            torrents: HashMap::new(),
            totals: Totals::default(),
            metrics_max_peers: None,
            registry: None,
            hashed_bytes: None,
            closed_uploaded: HashMap::new(),
            shard_stats: Vec::new(),
            exposed: HashMap::new(),
        }
    }

    /// Turns on the once-a-second metrics: per-peer series for at most
    /// `max_peers` peers, torrents from `registry`, hash-check bytes.
    pub fn with_metrics(
        mut self,
        max_peers: usize,
        registry: Registry,
        hashed_bytes: Arc<AtomicU64>,
    ) -> Self {
        self.metrics_max_peers = Some(max_peers);
        self.registry = Some(registry);
        self.hashed_bytes = Some(hashed_bytes);
        self
    }

    /// Runs until `events` is closed (every shard gone) or `stop` fires.
    pub fn run(mut self, events: Receiver<ShardEvent>, stop: Receiver<()>) -> Totals {
        let tick = crossbeam_channel::tick(Duration::from_millis(200));
        // The first round runs at once (it finds nobody), so the round-time
        // histogram exists from the start.
        let mut next_rechoke = Instant::now();
        let mut next_optimistic = Instant::now() + self.settings.optimistic_interval;
        let mut next_publish = Instant::now();
        loop {
            crossbeam_channel::select! {
                recv(events) -> ev => match ev {
                    Ok(ev) => self.handle(ev, Instant::now()),
                    Err(_) => break,
                },
                recv(stop) -> _ => break,
                recv(tick) -> _ => {
                    let now = Instant::now();
                    if now >= next_rechoke {
                        next_rechoke = now + self.settings.unchoke_interval;
                        let started = Instant::now();
                        let hashes: Vec<InfoHash> = self.torrents.keys().copied().collect();
                        for ih in hashes {
                            self.rechoke_torrent(ih, now);
                        }
                        self.totals.choke_rounds += 1;
                        metrics::histogram!("ringseed_choke_round_duration_seconds").record(started.elapsed().as_secs_f64());
                    }
                    if now >= next_publish {
                        next_publish = now + Duration::from_secs(1);
                        self.publish(now);
                    }
                    if now >= next_optimistic {
                        next_optimistic = now + self.settings.optimistic_interval;
                        let hashes: Vec<InfoHash> = self.torrents.keys().copied().collect();
                        for ih in hashes {
                            self.rotate_optimistic(ih, now);
                        }
                    }
                }
            }
        }
        self.totals
    }

    fn handle(&mut self, ev: ShardEvent, now: Instant) {
        match ev {
            ShardEvent::Connected(hello) => {
                let key = hello.key;
                self.torrents
                    .entry(hello.info_hash)
                    .or_default()
                    .peers
                    .push(key);
                self.peers.insert(
                    key,
                    PeerEntry {
                        hello: *hello,
                        connected_at: now,
                        labels: None,
                        interested: false,
                        interested_at: now,
                        unchoked: false,
                        unchoked_at: None,
                        uploaded_at_unchoke: 0,
                        snap: PeerSnapshot {
                            key,
                            ..Default::default()
                        },
                        last_snap_at: now,
                        upload_rate: 0,
                    },
                );
            }
            ShardEvent::Interest { key, interested } => {
                let Some(p) = self.peers.get_mut(&key) else {
                    return;
                };
                if p.interested == interested {
                    return;
                }
                p.interested = interested;
                p.interested_at = now;
                let ih = p.hello.info_hash;
                if interested {
                    // A free slot goes to a newly interested peer at once, not at the next tick.
                    if self.free_slots(ih) > 0 {
                        self.set_unchoked(key, true, now);
                    }
                } else if p.unchoked {
                    self.set_unchoked(key, false, now);
                    if let Some(t) = self.torrents.get_mut(&ih) {
                        if t.optimistic == Some(key) {
                            t.optimistic = None;
                        }
                    }
                    self.fill_free_slots(ih, now);
                }
            }
            ShardEvent::Closed { key, reason } => {
                *self.totals.disconnects.entry(reason).or_default() += 1;
                if let Some(p) = self.peers.remove(&key) {
                    let ih = p.hello.info_hash;
                    *self.closed_uploaded.entry(ih).or_default() += p.snap.uploaded;
                    if let Some(t) = self.torrents.get_mut(&ih) {
                        t.peers.retain(|k| *k != key);
                        if t.optimistic == Some(key) {
                            t.optimistic = None;
                        }
                        if t.peers.is_empty() {
                            self.torrents.remove(&ih);
                        } else if p.unchoked {
                            self.fill_free_slots(ih, now);
                        }
                    }
                }
            }
            ShardEvent::Snapshot { mut stats, peers } => {
                let i = stats.shard;
                if self.shard_stats.len() <= i {
                    self.shard_stats.resize_with(i + 1, ShardStats::default);
                }
                // Serve-time samples accumulate until published (bounded per shard).
                let mut samples = std::mem::take(&mut self.shard_stats[i].serve_time_us);
                if self.metrics_max_peers.is_some() && samples.len() < 8192 {
                    samples.append(&mut stats.serve_time_us);
                }
                stats.serve_time_us = samples;
                self.shard_stats[i] = stats;
                for s in peers {
                    if let Some(p) = self.peers.get_mut(&s.key) {
                        let dt = now.saturating_duration_since(p.last_snap_at).as_secs_f64();
                        if dt > 0.0 {
                            p.upload_rate =
                                ((s.uploaded.saturating_sub(p.snap.uploaded)) as f64 / dt) as u64;
                        }
                        p.last_snap_at = now;
                        p.snap = s;
                    }
                }
            }
        }
    }

    fn regular_unchoked(&self, ih: InfoHash) -> usize {
        let Some(t) = self.torrents.get(&ih) else {
            return 0;
        };
        t.peers
            .iter()
            .filter(|k| Some(**k) != t.optimistic && self.peers.get(k).is_some_and(|p| p.unchoked))
            .count()
    }

    fn free_slots(&self, ih: InfoHash) -> usize {
        if self.settings.upload_slots == 0 {
            return usize::MAX;
        }
        self.settings
            .upload_slots
            .saturating_sub(self.regular_unchoked(ih))
    }

    /// Unchokes interested, choked peers (longest waiting first) into free slots.
    fn fill_free_slots(&mut self, ih: InfoHash, now: Instant) {
        let mut free = self.free_slots(ih);
        if free == 0 {
            return;
        }
        let Some(t) = self.torrents.get(&ih) else {
            return;
        };
        let mut waiting: Vec<(Instant, PeerKey)> = t
            .peers
            .iter()
            .filter_map(|k| {
                self.peers
                    .get(k)
                    .filter(|p| p.interested && !p.unchoked)
                    .map(|p| (p.interested_at, *k))
            })
            .collect();
        waiting.sort();
        for (_, k) in waiting {
            if free == 0 {
                break;
            }
            self.set_unchoked(k, true, now);
            free -= 1;
        }
    }

    fn candidates(&self, ih: InfoHash) -> Vec<Candidate> {
        let Some(t) = self.torrents.get(&ih) else {
            return Vec::new();
        };
        t.peers
            .iter()
            .filter(|k| Some(**k) != t.optimistic)
            .filter_map(|k| self.peers.get(k))
            .map(|p| Candidate {
                key: p.hello.key,
                interested: p.interested,
                unchoked: p.unchoked,
                unchoked_at: p.unchoked_at,
                interested_at: p.interested_at,
                uploaded_since_unchoke: p.snap.uploaded.saturating_sub(p.uploaded_at_unchoke),
                upload_rate: p.upload_rate,
                progress_permille: (p.snap.have_count as u64 * 1000
                    / p.hello.num_pieces.max(1) as u64) as u32,
            })
            .collect()
    }

    fn rechoke_torrent(&mut self, ih: InfoHash, now: Instant) {
        let cands = self.candidates(ih);
        let Some(first) = self.peers.get(&cands.first().map_or(0, |c| c.key)) else {
            return;
        };
        let piece_length = first.hello.piece_length;
        let keep = choker::rechoke(
            self.settings.algorithm,
            self.settings.upload_slots,
            &cands,
            now,
            self.settings.unchoke_interval,
            piece_length,
        );
        for c in &cands {
            let want = keep.binary_search(&c.key).is_ok();
            if want != c.unchoked {
                self.set_unchoked(c.key, want, now);
            }
        }
    }

    fn rotate_optimistic(&mut self, ih: InfoHash, now: Instant) {
        let cands = self.candidates(ih);
        let regular: Vec<PeerKey> = {
            let mut v: Vec<PeerKey> = cands.iter().filter(|c| c.unchoked).map(|c| c.key).collect();
            v.sort_unstable();
            v
        };
        let old = self.torrents.get(&ih).and_then(|t| t.optimistic);
        let new = choker::pick_optimistic(&cands, &regular);
        if let Some(t) = self.torrents.get_mut(&ih) {
            t.optimistic = new;
        }
        if let Some(o) = old {
            if Some(o) != new {
                self.set_unchoked(o, false, now);
            }
        }
        if let Some(n) = new {
            self.set_unchoked(n, true, now);
        }
    }

    fn set_unchoked(&mut self, key: PeerKey, unchoke: bool, now: Instant) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        if p.unchoked == unchoke {
            return;
        }
        p.unchoked = unchoke;
        if unchoke {
            p.unchoked_at = Some(now);
            p.uploaded_at_unchoke = p.snap.uploaded;
        }
        if let Some(link) = self.shards.get(shard_of(key)) {
            link.send(if unchoke {
                ShardCommand::Unchoke(key)
            } else {
                ShardCommand::Choke(key)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(key: PeerKey) -> Box<PeerHello> {
        Box::new(PeerHello {
            key,
            info_hash: InfoHash([1; 20]),
            addr: "127.0.0.1:1".parse().unwrap(),
            peer_id: [0; 20],
            fast: true,
            piece_length: 16384,
            num_pieces: 10,
        })
    }

    #[test]
    fn newly_interested_peer_gets_a_free_slot_at_once_and_never_when_uninterested() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let link = ShardLink {
            tx,
            wake: Arc::new(Notify::new()),
        };
        let settings = ChokeSettings {
            algorithm: ChokerAlgorithm::RoundRobin,
            upload_slots: 2,
            unchoke_interval: Duration::from_secs(10),
            optimistic_interval: Duration::from_secs(30),
        };
        let mut c = Coordinator::new(settings, vec![link]);
        let now = Instant::now();
        for k in 1..=3 {
            c.handle(ShardEvent::Connected(hello(k)), now);
        }
        assert!(
            rx.try_recv().is_err(),
            "nobody is interested: nobody is unchoked"
        );
        c.handle(
            ShardEvent::Interest {
                key: 1,
                interested: true,
            },
            now,
        );
        assert_eq!(rx.try_recv(), Ok(ShardCommand::Unchoke(1)));
        c.handle(
            ShardEvent::Interest {
                key: 2,
                interested: true,
            },
            now,
        );
        c.handle(
            ShardEvent::Interest {
                key: 3,
                interested: true,
            },
            now,
        );
        assert_eq!(rx.try_recv(), Ok(ShardCommand::Unchoke(2)));
        assert!(rx.try_recv().is_err(), "two slots only");
        // Peer 1 leaves: its slot goes to peer 3 at once.
        c.handle(
            ShardEvent::Closed {
                key: 1,
                reason: DisconnectReason::RemoteClosed,
            },
            now,
        );
        assert_eq!(rx.try_recv(), Ok(ShardCommand::Unchoke(3)));
        // Peer 2 loses interest: it is choked.
        c.handle(
            ShardEvent::Interest {
                key: 2,
                interested: false,
            },
            now,
        );
        assert_eq!(rx.try_recv(), Ok(ShardCommand::Choke(2)));
    }
}
