//! The coordinator: one plain thread that owns the torrent list, the
//! choking decisions, the upload budgets and the view.
//!
//! - Shards send [`ShardEvent`]s (connect, interest changes and closes at
//!   once; a snapshot of every peer each second; budget use each period).
//! - The control runtime sends [`ControlCommand`]s (add, remove, pause…);
//!   the coordinator applies them to the torrent list and the shards'
//!   registry, queues hash checks and session writes, and answers once the
//!   session on disk agrees (the `session-store` thread sends the answer).
//! - It runs the seed choker per torrent every unchoke interval, rotates one
//!   optimistic unchoke per torrent, gives a newly interested peer a free
//!   slot at once, and splits rate limits into per-shard budgets every
//!   [`rates::PERIOD`].
//! - It publishes the [`view::View`] once a second and after every change.
//!
//! It never touches a socket or a file; commands to a shard are pushed then
//! `Notify::notify_one`, so no wake-up is lost.
//!
//! One file per role, each an `impl Coordinator` block over the state
//! declared here:
//!
//! - `peers`: shard events — connects, interest, closes, snapshots, bans.
//! - `commands`: control commands — add, remove, pause, recheck,
//!   properties, limits, session settings, the listen port.
//! - `labels`: categories, tags and share-limit settings (commands).
//! - `share`: share-limit enforcement once a second (the decision itself
//!   is the pure [`share::share_limit_reached`]).
//! - `dial`: dialling the peers trackers return, under the half-open and
//!   peer caps.
//! - `health`: hash-check results, and files that could not be read while
//!   serving (their pieces withheld, rechecked with backoff).
//! - `choking`: upload slots, the rechoke round and the optimistic unchoke
//!   (the algorithms themselves are in [`choker`]).
//! - `budgets`: rate limits split into per-shard budgets (the arithmetic is
//!   in [`rates`]).
//! - `publish`: building and publishing the [`view::View`], then sending
//!   the session writes queued since the last one.

mod budgets;
pub mod choker;
mod choking;
mod commands;
mod dial;
mod health;
mod labels;
mod peers;
mod publish;
pub(crate) mod rates;
pub(crate) mod share;
pub(crate) mod view;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use ringseed_proto::metainfo::{InfoHash, Metainfo};

use crate::ban::BanList;
use crate::config::ChokerAlgorithm;
use crate::disconnect::DisconnectReason;
use crate::messages::{
    CheckDone, CheckJob, GlobalShareLimits, IoFailure, SessionSettings, StoreJob, TorrentRecord,
};
use crate::messages::{
    ControlCommand, PeerHello, PeerKey, PeerSnapshot, ShardCommand, ShardEvent, ShardLink,
    ShardStats,
};
use crate::torrent::{Registry, Torrent, TorrentEntry, TorrentState};
pub(crate) use dial::DialLimits;
use health::Trouble;
use rates::ShardUse;
use view::{DisconnectRecord, PeerView, ShareLimitCounts, SharedView, TorrentView};

/// Choking settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChokeSettings {
    pub algorithm: ChokerAlgorithm,
    /// Upload slots per torrent unless the torrent sets its own (0 = unlimited).
    pub upload_slots: usize,
    pub(crate) unchoke_interval: Duration,
    pub(crate) optimistic_interval: Duration,
}

/// Session-wide settings the configuration gives; what was set at runtime
/// (`settings.json`) wins over them.
#[derive(Clone, Debug, Default)]
pub(crate) struct SessionDefaults {
    /// `limits.upload_limit`, bytes/s.
    pub upload_limit: i64,
    /// `storage.data_dir` (empty: none).
    pub data_dir: PathBuf,
    /// `[seeding]`: the global share limits.
    pub(crate) share_limits: GlobalShareLimits,
}

/// What the coordinator is connected to.
pub(crate) struct Links {
    pub shards: Vec<ShardLink>,
    pub(crate) registry: Registry,
    pub(crate) bans: BanList,
    pub(crate) ban_time: Duration,
    pub(crate) checks: Sender<CheckJob>,
    pub(crate) store: Sender<StoreJob>,
    pub(crate) view: SharedView,
    pub(crate) hashed_bytes: Arc<AtomicU64>,
    pub(crate) listen_port: u16,
    /// The address the shards listen on (tracker peers equal to it are us).
    pub(crate) listen_ip: IpAddr,
    /// Caps on dialling tracker peers.
    pub(crate) dial: DialLimits,
}

/// A connected peer (handshake done) as the coordinator sees it.
struct PeerEntry {
    hello: PeerHello,
    client: Arc<str>,
    interested: bool,
    interested_at: Instant,
    /// Unchoked by a regular slot or the optimistic unchoke.
    unchoked: bool,
    unchoked_at: Option<Instant>,
    uploaded_at_unchoke: u64,
    snap: PeerSnapshot,
    bitfield: Option<Arc<[u8]>>,
    last_snap_at: Instant,
    upload_rate: u64,
    up_speed: u64,
    down_speed: u64,
    whitelisted: bool,
}

/// A torrent of the session as the coordinator keeps it.
struct SessionTorrent {
    meta: Arc<Metainfo>,
    record: TorrentRecord,
    ready: Option<Arc<Torrent>>,
    checking: bool,
    generation: u64,
    error: Option<IoFailure>,
    peers: Vec<PeerKey>,
    optimistic: Option<PeerKey>,
    /// Payload sent to peers that have closed, this run.
    uploaded_closed: u64,
    added_at: Instant,
    seeding_since: Option<Instant>,
    /// Unix time of `seeding_since`, seconds.
    seeding_since_unix: u64,
    /// The record's category and tags as the view shows them (rebuilt when
    /// they change, not every second).
    category: Arc<str>,
    tags: Arc<[String]>,
    /// Unix time payload was last seen uploaded, seconds (0 = never this run).
    last_activity_unix: u64,
    /// This run's upload at the last full publish (activity detection).
    uploaded_seen: u64,
    /// Files that could not be read while serving: their pieces are not
    /// announced to new peers until a recheck finds them again.
    unreadable: BTreeMap<u32, Trouble>,
}

impl SessionTorrent {
    /// Starts the seeding clock (the torrent is ready, unpaused, not checking).
    fn start_seeding(&mut self) {
        self.seeding_since = Some(Instant::now());
        self.seeding_since_unix = crate::messages::unix_now();
    }

    /// Stops the seeding clock, adding the spell to the record's total.
    fn stop_seeding(&mut self) {
        if let Some(s) = self.seeding_since.take() {
            self.record.seeding_secs_before += s.elapsed().as_secs();
        }
        self.seeding_since_unix = 0;
    }

    /// Refreshes the view's copies of the record's category and tags.
    fn labels_changed(&mut self) {
        self.category = Arc::from(self.record.category.as_str());
        self.tags = self.record.tags.iter().cloned().collect();
    }

    fn entry(&self) -> Option<TorrentEntry> {
        if self.record.paused {
            return Some(TorrentEntry::Paused);
        }
        if self.checking {
            return Some(TorrentEntry::Checking);
        }
        self.ready.clone().map(TorrentEntry::Ready)
    }

    fn state(&self) -> TorrentState {
        if self.checking {
            TorrentState::Checking
        } else if self.record.paused {
            TorrentState::Paused
        } else if self.error.is_some() || self.ready.is_none() {
            TorrentState::Error
        } else {
            TorrentState::Seeding
        }
    }
}

/// Totals the coordinator keeps (for logs, metrics and tests).
#[derive(Clone, Debug, Default)]
pub(crate) struct Totals {
    pub(crate) disconnects: BTreeMap<DisconnectReason, u64>,
    pub(crate) choke_rounds: u64,
}

/// A torrent the daemon starts with.
pub(crate) struct Initial {
    pub(crate) record: TorrentRecord,
    pub(crate) meta: Arc<Metainfo>,
    /// Metainfo bytes to write to the session (new torrents); `None` when
    /// the session already holds them.
    pub(crate) save: Option<Arc<[u8]>>,
}

/// The coordinator's state; [`Coordinator::run`] is its thread's body.
pub(crate) struct Coordinator {
    settings: ChokeSettings,
    links: Links,
    peers: HashMap<PeerKey, PeerEntry>,
    torrents: HashMap<InfoHash, SessionTorrent>,
    totals: Totals,
    shard_stats: Vec<ShardStats>,
    recent: VecDeque<DisconnectRecord>,
    next_queue_position: u64,
    generation: u64,
    upload_limit: i64,
    /// Runtime settings as saved in `settings.json` (written whole on every change).
    saved: SessionSettings,
    defaults: SessionDefaults,
    global_use: Vec<ShardUse>,
    torrent_use: HashMap<InfoHash, Vec<ShardUse>>,
    last_grant: Instant,
    limits_were_on: bool,
    /// The torrents part of the view, kept up to date incrementally.
    torrent_views: BTreeMap<InfoHash, Arc<TorrentView>>,
    peer_views: Arc<HashMap<InfoHash, Vec<Arc<PeerView>>>>,
    /// Torrents whose view must be rebuilt before the next publish.
    dirty: Vec<InfoHash>,
    /// Session writes waiting for the next publish (sent after it, so an
    /// answered command is visible in the view).
    store_jobs: Vec<StoreJob>,
    whitelist: Vec<crate::config::Cidr>,
    /// (torrent, peer id) of every connected peer, all shards: a second
    /// connection with the same peer id for a torrent is closed (−16).
    peer_ids: HashMap<(InfoHash, ringseed_proto::peer_id::PeerId), PeerKey>,
    /// Tracker peers dialled within `redial`: when, and whether the connect
    /// is still pending (half-open).
    dialled: HashMap<(InfoHash, std::net::SocketAddr), (Instant, bool)>,
    /// Round-robin shard for the next dial.
    next_dial_shard: usize,
    /// Global share limits in force (`saved.share_limits`, else `[seeding]`).
    share_limits: GlobalShareLimits,
    /// The view's copies of `saved.categories` and `saved.tags`.
    categories: Arc<BTreeMap<String, PathBuf>>,
    tags: Arc<BTreeSet<String>>,
    share_actions: ShareLimitCounts,
}

impl Coordinator {
    /// `saved`: the runtime settings read from the session; they win over
    /// `defaults` (the configuration).
    pub(crate) fn new(
        settings: ChokeSettings,
        links: Links,
        saved: SessionSettings,
        defaults: SessionDefaults,
        whitelist: Vec<crate::config::Cidr>,
    ) -> Self {
        let n = links.shards.len();
        let upload_limit = saved.upload_limit.unwrap_or(defaults.upload_limit);
        let share_limits = saved
            .share_limits
            .map_or(defaults.share_limits, |s| s.normalized());
        let categories = Arc::new(saved.categories.clone());
        let tags = Arc::new(saved.tags.clone());
        Coordinator {
            settings,
            links,
            peers: HashMap::new(),
            torrents: HashMap::new(),
            totals: Totals::default(),
            shard_stats: Vec::new(),
            recent: VecDeque::new(),
            next_queue_position: 0,
            generation: 0,
            upload_limit,
            saved,
            defaults,
            global_use: vec![ShardUse::default(); n],
            torrent_use: HashMap::new(),
            last_grant: Instant::now(),
            limits_were_on: false,
            torrent_views: BTreeMap::new(),
            peer_views: Arc::new(HashMap::new()),
            dirty: Vec::new(),
            store_jobs: Vec::new(),
            whitelist,
            peer_ids: HashMap::new(),
            dialled: HashMap::new(),
            next_dial_shard: 0,
            share_limits,
            categories,
            tags,
            share_actions: ShareLimitCounts::default(),
        }
    }

    /// Registers the torrents the daemon starts with and queues their checks.
    pub(crate) fn add_initial(&mut self, initial: Vec<Initial>) {
        for i in initial {
            let ih = i.meta.info_hash;
            if self.torrents.contains_key(&ih) {
                continue;
            }
            self.next_queue_position = self.next_queue_position.max(i.record.queue_position + 1);
            if let Some(raw) = i.save {
                self.store_jobs.push(StoreJob::Save {
                    record: i.record.clone(),
                    metainfo: Some(raw),
                    reply: None,
                });
            }
            self.insert_torrent(i.meta, i.record, false);
        }
        self.publish(Instant::now(), false);
    }

    fn insert_torrent(&mut self, meta: Arc<Metainfo>, record: TorrentRecord, skip_checking: bool) {
        let ih = meta.info_hash;
        self.generation += 1;
        let mut t = SessionTorrent {
            meta: meta.clone(),
            record,
            ready: None,
            checking: true,
            generation: self.generation,
            error: None,
            peers: Vec::new(),
            optimistic: None,
            uploaded_closed: 0,
            added_at: Instant::now(),
            seeding_since: None,
            seeding_since_unix: 0,
            category: Arc::from(""),
            tags: Arc::from([]),
            last_activity_unix: 0,
            uploaded_seen: 0,
            unreadable: BTreeMap::new(),
        };
        t.labels_changed();
        let _ = self.links.checks.send(CheckJob {
            info_hash: ih,
            meta,
            save_path: t.record.save_path.clone(),
            force: false,
            generation: t.generation,
            pieces: None,
            skip_checking,
        });
        self.links
            .registry
            .write()
            .insert(ih, t.entry().expect("checking"));
        self.torrents.insert(ih, t);
        self.dirty.push(ih);
    }

    /// Runs until `stop` fires or every event sender is gone.
    pub(crate) fn run(
        mut self,
        events: Receiver<ShardEvent>,
        commands: Receiver<ControlCommand>,
        checks: Receiver<CheckDone>,
        stop: Receiver<()>,
    ) -> Totals {
        let tick = crossbeam_channel::tick(rates::PERIOD);
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
                recv(commands) -> cmd => {
                    if let Ok(cmd) = cmd {
                        self.command(cmd);
                        // Apply every command already queued, then publish once.
                        while let Ok(cmd) = commands.try_recv() {
                            self.command(cmd);
                        }
                        self.publish(Instant::now(), false);
                    }
                }
                recv(checks) -> done => {
                    if let Ok(done) = done {
                        self.check_done(done);
                        self.publish(Instant::now(), false);
                    }
                }
                recv(stop) -> _ => break,
                recv(tick) -> _ => {
                    let now = Instant::now();
                    self.grant_budgets(now);
                    self.recheck_unreadable(now);
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
                    if now >= next_optimistic {
                        next_optimistic = now + self.settings.optimistic_interval;
                        let hashes: Vec<InfoHash> = self.torrents.keys().copied().collect();
                        for ih in hashes {
                            self.rotate_optimistic(ih, now);
                        }
                    }
                    if now >= next_publish {
                        next_publish = now + Duration::from_secs(1);
                        self.publish(now, true);
                        if self.enforce_share_limits() {
                            self.publish(now, false);
                        }
                    }
                }
            }
        }
        self.save_on_stop();
        self.totals
    }

    fn send(&self, shard: usize, cmd: ShardCommand) {
        if let Some(link) = self.links.shards.get(shard) {
            link.send(cmd);
        }
    }

    fn broadcast(&self, cmd: ShardCommand) {
        for l in &self.links.shards {
            l.send(cmd.clone());
        }
    }

    fn sync_registry(&self, ih: InfoHash) {
        let mut reg = self.links.registry.write();
        match self.torrents.get(&ih).and_then(|t| t.entry()) {
            Some(e) => {
                reg.insert(ih, e);
            }
            None => {
                reg.remove(&ih);
            }
        }
    }
}

/// The save path a torrent added without one gets (the configured data dir).
pub(crate) fn default_save_path(c: &crate::config::Config) -> Option<PathBuf> {
    (!c.storage.data_dir.as_os_str().is_empty()).then(|| c.storage.data_dir.clone())
}

#[cfg(test)]
impl Coordinator {
    /// A coordinator for unit tests, no threads behind it: these shard
    /// links, round robin with 2 upload slots, no upload limit, and one
    /// 5-byte torrent whose info hash is `[1; 20]`. Returns it, that info
    /// hash, and the receivers of the check and store jobs it queues.
    pub(super) fn with_one_torrent(
        shards: Vec<ShardLink>,
    ) -> (
        Coordinator,
        InfoHash,
        Receiver<CheckJob>,
        Receiver<StoreJob>,
    ) {
        let (checks, check_rx) = crossbeam_channel::unbounded();
        let (store, store_rx) = crossbeam_channel::unbounded();
        let links = Links {
            shards,
            registry: Default::default(),
            bans: Default::default(),
            ban_time: Duration::from_secs(1),
            checks,
            store,
            view: Default::default(),
            hashed_bytes: Default::default(),
            listen_port: 1,
            listen_ip: std::net::Ipv4Addr::LOCALHOST.into(),
            dial: DialLimits::from_config(&crate::config::Trackers::default()),
        };
        let settings = ChokeSettings {
            algorithm: ChokerAlgorithm::RoundRobin,
            upload_slots: 2,
            unchoke_interval: Duration::from_secs(10),
            optimistic_interval: Duration::from_secs(30),
        };
        let defaults = SessionDefaults {
            upload_limit: -1,
            ..Default::default()
        };
        let mut c = Coordinator::new(
            settings,
            links,
            SessionSettings::default(),
            defaults,
            Vec::new(),
        );
        let bytes = ringseed_proto::metainfo::build_torrent(
            "t",
            &[(vec![], 5)],
            16384,
            &[[0; 20]],
            None,
            "x",
        );
        let mut meta = Metainfo::from_bytes(&bytes).expect("a valid torrent");
        meta.info_hash = InfoHash([1; 20]);
        let record = TorrentRecord::new(&meta, "/d".into(), false, 0);
        c.add_initial(vec![Initial {
            record,
            meta: Arc::new(meta),
            save: None,
        }]);
        (c, InfoHash([1; 20]), check_rx, store_rx)
    }
}
