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

pub mod choker;
pub mod rates;
pub mod view;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use ringseed_proto::metainfo::{InfoHash, Metainfo};

use crate::disconnect::DisconnectReason;
use crate::messages::{
    unix_now, AddTorrent, BudgetGrant, BudgetUse, CommandError, ControlCommand, PeerHello, PeerKey,
    PeerSnapshot, SessionChange, ShardCommand, ShardEvent, ShardLink, ShardStats, TorrentProps,
};
use crate::messages::{
    CheckDone, CheckJob, CheckOutcome, SessionSettings, StoreJob, StoreReply, TorrentRecord,
};
use crate::torrent::{Registry, Torrent, TorrentEntry};
use crate::shard::BanList;
use choker::{Candidate, ChokerAlgorithm};
use rates::ShardUse;
use view::{DisconnectRecord, PeerView, SessionView, SharedView, TorrentView, View};

/// Closed connections kept for `ringseed.disconnects`.
const RECENT_DISCONNECTS: usize = 1000;

/// Choking settings.
#[derive(Clone, Copy, Debug)]
pub struct ChokeSettings {
    pub algorithm: ChokerAlgorithm,
    /// Upload slots per torrent unless the torrent sets its own (0 = unlimited).
    pub upload_slots: usize,
    pub unchoke_interval: Duration,
    pub optimistic_interval: Duration,
}

/// Session-wide settings the configuration gives; what was set at runtime
/// (`settings.json`) wins over them.
#[derive(Clone, Debug, Default)]
pub struct SessionDefaults {
    /// `limits.upload_limit`, bytes/s.
    pub upload_limit: i64,
    /// `storage.data_dir` (empty: none).
    pub data_dir: PathBuf,
}

/// What the coordinator is connected to.
pub struct Links {
    pub shards: Vec<ShardLink>,
    pub registry: Registry,
    pub bans: BanList,
    pub ban_time: Duration,
    pub checks: Sender<CheckJob>,
    pub store: Sender<StoreJob>,
    pub view: SharedView,
    pub hashed_bytes: Arc<AtomicU64>,
    pub listen_port: u16,
    /// The address the shards listen on (tracker peers equal to it are us).
    pub listen_ip: IpAddr,
    /// Caps on dialling tracker peers.
    pub dial: DialLimits,
}

/// Caps on dialling tracker peers (`[trackers]` of the configuration).
#[derive(Clone, Copy, Debug)]
pub struct DialLimits {
    /// Outgoing connects in flight, all torrents together.
    pub max_half_open: usize,
    /// Connected (plus dialling) peers of a torrent past which it dials no more.
    pub max_peers_per_torrent: usize,
    /// Connected (plus dialling) peers in all past which nobody dials.
    pub max_peers: usize,
    /// A dialled address is not dialled again for this long.
    pub redial: Duration,
}

impl DialLimits {
    pub fn from_config(c: &crate::config::Trackers) -> DialLimits {
        DialLimits {
            max_half_open: c.max_half_open,
            max_peers_per_torrent: c.max_peers_per_torrent,
            max_peers: c.max_peers,
            redial: Duration::from_secs(c.redial_secs),
        }
    }
}

/// A dial that has not connected or failed after this long no longer
/// counts as half-open (the shard's own count still does until the kernel
/// gives up).
const DIAL_PENDING: Duration = Duration::from_secs(60);

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

struct TorrentState {
    meta: Arc<Metainfo>,
    record: TorrentRecord,
    ready: Option<Arc<Torrent>>,
    checking: bool,
    generation: u64,
    error: Option<String>,
    peers: Vec<PeerKey>,
    optimistic: Option<PeerKey>,
    /// Payload sent to peers that have closed, this run.
    uploaded_closed: u64,
    added_at: Instant,
    seeding_since: Option<Instant>,
    /// Files that could not be read while serving: their pieces are not
    /// announced to new peers until a recheck finds them again.
    unreadable: BTreeMap<u32, Trouble>,
}

/// A file that could not be read, and when it is rechecked.
struct Trouble {
    error: String,
    retry_at: Instant,
    backoff: Duration,
    /// A recheck of its pieces is queued.
    probing: bool,
}

/// First recheck of an unreadable file; doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);

impl TorrentState {
    fn entry(&self) -> Option<TorrentEntry> {
        if self.record.paused {
            return Some(TorrentEntry::Paused);
        }
        if self.checking {
            return Some(TorrentEntry::Checking);
        }
        self.ready.clone().map(TorrentEntry::Ready)
    }

    fn state(&self) -> &'static str {
        if self.checking {
            "checking"
        } else if self.record.paused {
            "paused"
        } else if self.error.is_some() || self.ready.is_none() {
            "error"
        } else {
            "seeding"
        }
    }
}

/// Totals the coordinator keeps (for logs, metrics and tests).
#[derive(Clone, Debug, Default)]
pub struct Totals {
    pub disconnects: BTreeMap<DisconnectReason, u64>,
    pub choke_rounds: u64,
}

/// A torrent the daemon starts with.
pub struct Initial {
    pub record: TorrentRecord,
    pub meta: Arc<Metainfo>,
    /// Metainfo bytes to write to the session (new torrents); `None` when
    /// the session already holds them.
    pub save: Option<Arc<[u8]>>,
}

/// The coordinator's state; [`Coordinator::run`] is its thread's body.
pub struct Coordinator {
    settings: ChokeSettings,
    links: Links,
    peers: HashMap<PeerKey, PeerEntry>,
    torrents: HashMap<InfoHash, TorrentState>,
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
    peer_ids: HashMap<(InfoHash, [u8; 20]), PeerKey>,
    /// Tracker peers dialled within `redial`: when, and whether the connect
    /// is still pending (half-open).
    dialled: HashMap<(InfoHash, std::net::SocketAddr), (Instant, bool)>,
    /// Round-robin shard for the next dial.
    next_dial_shard: usize,
}

fn reply<T>(r: crate::messages::Reply<T>, v: T) {
    let _ = r.send(v);
}

impl Coordinator {
    /// `saved`: the runtime settings read from the session; they win over
    /// `defaults` (the configuration).
    pub fn new(
        settings: ChokeSettings,
        links: Links,
        saved: SessionSettings,
        defaults: SessionDefaults,
        whitelist: Vec<crate::config::Cidr>,
    ) -> Self {
        let n = links.shards.len();
        let upload_limit = saved.upload_limit.unwrap_or(defaults.upload_limit);
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
        }
    }

    /// Registers the torrents the daemon starts with and queues their checks.
    pub fn add_initial(&mut self, initial: Vec<Initial>) {
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
            self.insert_torrent(i.meta, i.record);
        }
        self.publish(Instant::now(), false);
    }

    fn insert_torrent(&mut self, meta: Arc<Metainfo>, record: TorrentRecord) {
        let ih = meta.info_hash;
        self.generation += 1;
        let t = TorrentState {
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
            unreadable: BTreeMap::new(),
        };
        let _ = self.links.checks.send(CheckJob {
            info_hash: ih,
            meta,
            save_path: t.record.save_path.clone(),
            force: false,
            generation: t.generation,
            pieces: None,
        });
        self.links
            .registry
            .write()
            .insert(ih, t.entry().expect("checking"));
        self.torrents.insert(ih, t);
        self.dirty.push(ih);
    }

    /// Runs until `stop` fires or every event sender is gone.
    pub fn run(
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
                    }
                }
            }
        }
        self.totals
    }

    // ---- Shard events ----

    fn handle(&mut self, ev: ShardEvent, now: Instant) {
        match ev {
            ShardEvent::Connected(hello) => self.connected(*hello, now),
            ShardEvent::Interest { key, interested } => self.interest(key, interested, now),
            ShardEvent::Closed { key, reason, peer } => {
                *self.totals.disconnects.entry(reason).or_default() += 1;
                if let Some(p) = peer.as_ref() {
                    if let Some(ih) = p.info_hash {
                        if let Some(d) = self.dialled.get_mut(&(ih, p.addr)) {
                            d.1 = false;
                        }
                    }
                }
                let mut rec = DisconnectRecord {
                    unix: unix_now(),
                    addr: peer.as_ref().map(|p| p.addr),
                    client: peer.as_ref().and_then(|p| p.client.clone()),
                    info_hash: peer.as_ref().and_then(|p| p.info_hash),
                    reason,
                    source: peer.as_ref().map(|p| p.source),
                };
                if let Some(p) = key.and_then(|k| self.peers.remove(&k)) {
                    rec.client = Some(p.client.clone());
                    self.peer_gone(key.expect("key"), p, now);
                }
                if self.recent.len() == RECENT_DISCONNECTS {
                    self.recent.pop_front();
                }
                self.recent.push_back(rec);
            }
            ShardEvent::Snapshot { mut stats, peers } => {
                let i = stats.shard;
                if self.shard_stats.len() <= i {
                    self.shard_stats.resize_with(i + 1, ShardStats::default);
                }
                let serve = metrics::histogram!("ringseed_block_serve_duration_seconds");
                for us in stats.serve_time_us.drain(..) {
                    serve.record(us as f64 / 1e6);
                }
                self.shard_stats[i] = stats;
                for s in peers {
                    if let Some(p) = self.peers.get_mut(&s.key) {
                        let dt = now.saturating_duration_since(p.last_snap_at).as_secs_f64();
                        if dt > 0.0 {
                            let rate =
                                |new: u64, old: u64| (new.saturating_sub(old) as f64 / dt) as u64;
                            p.upload_rate = rate(s.uploaded, p.snap.uploaded);
                            p.up_speed = rate(s.bytes_sent, p.snap.bytes_sent);
                            p.down_speed = rate(s.bytes_recv, p.snap.bytes_recv);
                        }
                        p.last_snap_at = now;
                        if let Some(c) = &s.client {
                            if **c != *p.client {
                                p.client = c.clone();
                            }
                        }
                        if let Some(bf) = &s.bitfield {
                            p.bitfield = Some(bf.clone());
                        }
                        p.snap = s;
                    }
                }
            }
            ShardEvent::Budget(used) => self.budget_used(used),
            ShardEvent::Unreadable {
                info_hash,
                file,
                error,
            } => self.file_unreadable(info_hash, file, error, now),
            ShardEvent::Ban(ip) => self.ban(ip, now),
        }
    }

    fn connected(&mut self, hello: PeerHello, now: Instant) {
        if hello.outgoing {
            if let Some(d) = self.dialled.get_mut(&(hello.info_hash, hello.addr)) {
                d.1 = false;
            }
        }
        let key = hello.key;
        let shard = hello.shard;
        let Some(t) = self.torrents.get_mut(&hello.info_hash) else {
            self.send(
                shard,
                ShardCommand::Close(key, DisconnectReason::TorrentRemoved),
            );
            return;
        };
        if t.record.max_connections > 0 && t.peers.len() as i64 >= t.record.max_connections {
            self.send(
                shard,
                ShardCommand::Close(key, DisconnectReason::TooManyPeers),
            );
            return;
        }
        // Shards catch a duplicate on their own; one on another shard is caught here.
        let id = (hello.info_hash, hello.peer_id);
        if self.peer_ids.contains_key(&id) {
            self.send(
                shard,
                ShardCommand::Close(key, DisconnectReason::DuplicatePeer),
            );
            return;
        }
        self.peer_ids.insert(id, key);
        t.peers.push(key);
        let whitelisted = self.whitelist.iter().any(|c| c.contains(hello.addr.ip()));
        self.peers.insert(
            key,
            PeerEntry {
                client: Arc::from(view::client_from_peer_id(&hello.peer_id)),
                hello,
                interested: false,
                interested_at: now,
                unchoked: false,
                unchoked_at: None,
                uploaded_at_unchoke: 0,
                snap: PeerSnapshot {
                    key,
                    am_choking: true,
                    peer_choking: true,
                    ..Default::default()
                },
                bitfield: None,
                last_snap_at: now,
                upload_rate: 0,
                up_speed: 0,
                down_speed: 0,
                whitelisted,
            },
        );
    }

    fn interest(&mut self, key: PeerKey, interested: bool, now: Instant) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        if p.interested == interested {
            return;
        }
        p.interested = interested;
        p.interested_at = now;
        let ih = p.hello.info_hash;
        let unchoked = p.unchoked;
        if interested {
            // A free slot goes to a newly interested peer at once, not at the next tick.
            if self.free_slots(ih) > 0 {
                self.set_unchoked(key, true, now);
            }
        } else if unchoked {
            self.set_unchoked(key, false, now);
            if let Some(t) = self.torrents.get_mut(&ih) {
                if t.optimistic == Some(key) {
                    t.optimistic = None;
                }
            }
            self.fill_free_slots(ih, now);
        }
    }

    fn peer_gone(&mut self, key: PeerKey, p: PeerEntry, now: Instant) {
        let ih = p.hello.info_hash;
        if self.peer_ids.get(&(ih, p.hello.peer_id)) == Some(&key) {
            self.peer_ids.remove(&(ih, p.hello.peer_id));
        }
        if let Some(t) = self.torrents.get_mut(&ih) {
            t.uploaded_closed += p.snap.uploaded;
            t.peers.retain(|k| *k != key);
            if t.optimistic == Some(key) {
                t.optimistic = None;
            }
            if p.unchoked {
                self.fill_free_slots(ih, now);
            }
        }
    }

    /// A file could not be read while serving: stop announcing its pieces
    /// to new peers (connected ones get `reject` or are closed by the shard)
    /// and recheck them after a backoff.
    fn file_unreadable(&mut self, ih: InfoHash, file: u32, error: String, now: Instant) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        let Some(ready) = &t.ready else {
            return;
        };
        if t.unreadable.contains_key(&file) || t.checking {
            return;
        }
        let pieces = ready.pieces_of_file(file as usize);
        let path = ready
            .files
            .get(file as usize)
            .and_then(|f| f.path.clone())
            .unwrap_or_default();
        tracing::warn!(
            torrent = %t.meta.name,
            file = %path.display(),
            %error,
            pieces = pieces.len(),
            "file cannot be read; its pieces are not announced to new peers until a recheck finds them"
        );
        t.ready = Some(Arc::new(ready.with_pieces(pieces.map(|p| (p, false)))));
        t.unreadable.insert(
            file,
            Trouble {
                error,
                retry_at: now + FIRST_RETRY,
                backoff: FIRST_RETRY,
                probing: false,
            },
        );
        self.sync_registry(ih);
        self.dirty.push(ih);
    }

    /// Queues rechecks of unreadable files whose time has come.
    fn recheck_unreadable(&mut self, now: Instant) {
        for (ih, t) in self.torrents.iter_mut() {
            let Some(ready) = &t.ready else {
                continue;
            };
            for (file, tr) in t.unreadable.iter_mut() {
                if tr.probing || now < tr.retry_at {
                    continue;
                }
                tr.probing = true;
                let _ = self.links.checks.send(CheckJob {
                    info_hash: *ih,
                    meta: t.meta.clone(),
                    save_path: t.record.save_path.clone(),
                    force: true,
                    generation: t.generation,
                    pieces: Some((
                        ready.clone(),
                        ready.pieces_of_file(*file as usize).collect(),
                    )),
                });
            }
        }
    }

    /// A recheck of an unreadable file's pieces came back.
    fn pieces_checked(&mut self, ih: InfoHash, results: Vec<(u32, bool)>, now: Instant) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        let Some(ready) = &t.ready else {
            return;
        };
        let ok: Vec<u32> = results.iter().filter(|r| r.1).map(|r| r.0).collect();
        let mut changed = false;
        for (file, tr) in t.unreadable.iter_mut() {
            let pieces = ready.pieces_of_file(*file as usize);
            if !tr.probing || !results.iter().any(|r| pieces.contains(&r.0)) {
                continue;
            }
            tr.probing = false;
            if pieces.clone().all(|p| ok.contains(&p)) {
                tr.backoff = Duration::ZERO;
            } else {
                tr.backoff = (tr.backoff * 2).min(MAX_RETRY);
                tr.retry_at = now + tr.backoff;
                tracing::info!(torrent = %t.meta.name, file, error = %tr.error, retry_secs = tr.backoff.as_secs(), "file still unreadable");
            }
        }
        let back: Vec<u32> = t
            .unreadable
            .iter()
            .filter(|(_, tr)| tr.backoff.is_zero())
            .map(|(f, _)| *f)
            .collect();
        for f in back {
            t.unreadable.remove(&f);
            tracing::info!(torrent = %t.meta.name, file = f, "file readable again; its pieces are announced again");
            changed = true;
        }
        if !ok.is_empty() {
            // Pieces of files still unreadable stay out even if they verified.
            let blocked: Vec<std::ops::Range<u32>> = t
                .unreadable
                .keys()
                .map(|f| ready.pieces_of_file(*f as usize))
                .collect();
            let add = ok
                .into_iter()
                .filter(|p| !blocked.iter().any(|r| r.contains(p)));
            t.ready = Some(Arc::new(ready.with_pieces(add.map(|p| (p, true)))));
            changed = true;
        }
        if changed {
            self.sync_registry(ih);
            self.dirty.push(ih);
        }
    }

    fn ban(&mut self, ip: IpAddr, now: Instant) {
        let mut bans = self.links.bans.write();
        bans.retain(|_, until| *until > now);
        bans.insert(ip, now + self.links.ban_time);
        tracing::warn!(%ip, secs = self.links.ban_time.as_secs(), "address banned (misbehaviour score reached 100)");
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

    // ---- Control commands ----

    fn command(&mut self, cmd: ControlCommand) {
        match cmd {
            ControlCommand::Add(add, r) => self.add(*add, r),
            ControlCommand::Remove {
                info_hashes,
                remove_data,
                reply: r,
            } => {
                let mut jobs = Vec::new();
                for ih in info_hashes {
                    let Some(t) = self.torrents.remove(&ih) else {
                        continue;
                    };
                    self.links.registry.write().remove(&ih);
                    self.torrent_views.remove(&ih);
                    self.torrent_use.remove(&ih);
                    for k in &t.peers {
                        if let Some(p) = self.peers.remove(k) {
                            self.peer_ids.remove(&(ih, p.hello.peer_id));
                        }
                    }
                    self.broadcast(ShardCommand::CloseTorrent(
                        ih,
                        DisconnectReason::TorrentRemoved,
                    ));
                    tracing::info!(torrent = %t.meta.name, info_hash = %ih, remove_data, "torrent removed");
                    jobs.push(StoreJob::Remove {
                        info_hash: ih,
                        data: remove_data.then(|| (t.meta.clone(), t.record.save_path.clone())),
                        reply: None,
                    });
                }
                // The answer goes with the last job: the store thread runs them in order.
                match jobs.last_mut() {
                    Some(StoreJob::Remove { reply, .. }) => *reply = Some(StoreReply::Done(r)),
                    _ => reply(r, Ok(())),
                }
                self.store_jobs.extend(jobs);
            }
            ControlCommand::Pause(ih, r) => self.set_paused(ih, true, r),
            ControlCommand::Resume(ih, r) => self.set_paused(ih, false, r),
            ControlCommand::Recheck(ih, r) => {
                let Some(t) = self.torrents.get_mut(&ih) else {
                    return reply(r, Err(CommandError::NotFound));
                };
                self.generation += 1;
                t.generation = self.generation;
                t.checking = true;
                t.seeding_since = None;
                t.unreadable.clear();
                let _ = self.links.checks.send(CheckJob {
                    info_hash: ih,
                    meta: t.meta.clone(),
                    save_path: t.record.save_path.clone(),
                    force: true,
                    generation: t.generation,
                    pieces: None,
                });
                self.sync_registry(ih);
                self.broadcast(ShardCommand::CloseTorrent(
                    ih,
                    DisconnectReason::TorrentChecking,
                ));
                self.dirty.push(ih);
                reply(r, Ok(()));
            }
            ControlCommand::SetProps(ih, props, r) => {
                let Some(t) = self.torrents.get_mut(&ih) else {
                    return reply(r, Err(CommandError::NotFound));
                };
                apply_props(&mut t.record, props);
                let record = t.record.clone();
                self.dirty.push(ih);
                self.store_jobs.push(StoreJob::Save {
                    record,
                    metainfo: None,
                    reply: Some(StoreReply::Done(r)),
                });
                // A smaller slot count or connection cap applies at the next round.
                self.rechoke_torrent(ih, Instant::now());
            }
            ControlCommand::AddPeers(ih, addrs, r) => {
                if !self.torrents.contains_key(&ih) {
                    return reply(r, Err(CommandError::NotFound));
                }
                let n = self.links.shards.len().max(1);
                for (i, addr) in addrs.into_iter().enumerate() {
                    let shard = (self.generation as usize + i) % n;
                    self.send(
                        shard,
                        ShardCommand::Connect {
                            info_hash: ih,
                            addr,
                            source: crate::messages::source::MANUAL,
                        },
                    );
                }
                reply(r, Ok(()));
            }
            ControlCommand::TrackerPeers { info_hash, peers } => {
                self.dial_tracker_peers(info_hash, peers, Instant::now())
            }
            ControlCommand::SetUploadLimit(limit, r) => {
                self.upload_limit = if limit > 0 { limit } else { -1 };
                tracing::info!(limit = self.upload_limit, "global upload limit set");
                self.saved.upload_limit = Some(self.upload_limit);
                self.save_settings(r);
            }
            ControlCommand::SetSession(change, r) => {
                match change {
                    SessionChange::DownloadLimit(l) => {
                        let l = if l > 0 { l } else { -1 };
                        tracing::info!(
                            limit = l,
                            "download limit set (stored only: a seeder downloads nothing)"
                        );
                        self.saved.download_limit = Some(l);
                    }
                    SessionChange::DefaultSavePath(p) => {
                        tracing::info!(save_path = %p.display(), "default save path set");
                        self.saved.default_save_path = Some(p);
                    }
                    SessionChange::Autostart(on) => {
                        tracing::info!(autostart = on, "autostart of added torrents set");
                        self.saved.autostart = Some(on);
                    }
                }
                self.save_settings(r);
            }
            ControlCommand::Listen {
                port,
                listeners,
                reply: r,
            } => {
                // One listener per shard, in shard order (the caller binds
                // as many as there are shards).
                for (i, l) in listeners.into_iter().enumerate() {
                    self.send(
                        i,
                        ShardCommand::Listen {
                            listener: crate::messages::ListenerSlot::new(l),
                            port,
                        },
                    );
                }
                tracing::info!(port, "peer listen port changed");
                self.links.listen_port = port;
                // The view shows the new port before the answer goes out:
                // a client's next `get-port` (or the tracker manager) reads it.
                self.publish(Instant::now(), false);
                reply(r, Ok(()));
            }
        }
    }

    /// Dials the tracker peers of a seeding torrent that we are not
    /// connected to and did not dial within `redial`, while the half-open,
    /// per-torrent and global caps allow; the rest wait for the next
    /// announce. Our own address is skipped.
    fn dial_tracker_peers(&mut self, ih: InfoHash, peers: Vec<std::net::SocketAddr>, now: Instant) {
        let Some(t) = self.torrents.get(&ih) else {
            return;
        };
        if t.record.paused || t.checking || t.ready.is_none() {
            return;
        }
        let d = self.links.dial;
        self.dialled.retain(|_, (at, pending)| {
            let age = now.saturating_duration_since(*at);
            if age >= DIAL_PENDING {
                *pending = false;
            }
            age < d.redial || *pending
        });
        let mut half_open = self.dialled.values().filter(|v| v.1).count();
        let mut torrent_peers = t.peers.len()
            + self
                .dialled
                .iter()
                .filter(|((h, _), v)| *h == ih && v.1)
                .count();
        let mut total = self.peers.len() + half_open;
        let cap = match t.record.max_connections {
            m if m > 0 => d.max_peers_per_torrent.min(m as usize),
            _ => d.max_peers_per_torrent,
        };
        let connected: std::collections::HashSet<std::net::SocketAddr> = t
            .peers
            .iter()
            .filter_map(|k| self.peers.get(k))
            .map(|p| p.hello.addr)
            .collect();
        let port = self.links.listen_port;
        let ours = |a: &std::net::SocketAddr| {
            a.port() == port
                && (a.ip() == self.links.listen_ip
                    || (self.links.listen_ip.is_unspecified() && a.ip().is_loopback()))
        };
        let (mut dialled, mut capped) = (0usize, 0usize);
        let n = self.links.shards.len().max(1);
        for addr in peers {
            if ours(&addr) || connected.contains(&addr) || self.dialled.contains_key(&(ih, addr)) {
                continue;
            }
            if half_open >= d.max_half_open || torrent_peers >= cap || total >= d.max_peers {
                capped += 1;
                continue;
            }
            let shard = self.next_dial_shard % n;
            self.next_dial_shard = self.next_dial_shard.wrapping_add(1);
            self.send(
                shard,
                ShardCommand::Connect {
                    info_hash: ih,
                    addr,
                    source: crate::messages::source::TRACKER,
                },
            );
            self.dialled.insert((ih, addr), (now, true));
            half_open += 1;
            torrent_peers += 1;
            total += 1;
            dialled += 1;
        }
        if dialled > 0 || capped > 0 {
            tracing::debug!(info_hash = %ih, dialled, capped, half_open, "tracker peers");
        }
    }

    /// Writes the runtime settings whole; answers `r` once durable.
    fn save_settings(&mut self, r: crate::messages::Reply<Result<(), CommandError>>) {
        self.store_jobs.push(StoreJob::Settings {
            settings: self.saved.clone(),
            reply: Some(StoreReply::Done(r)),
        });
    }

    fn add(&mut self, add: AddTorrent, r: crate::messages::Reply<Result<InfoHash, CommandError>>) {
        let ih = add.meta.info_hash;
        if self.torrents.contains_key(&ih) {
            return reply(r, Err(CommandError::Duplicate));
        }
        let mut record = TorrentRecord::new(
            &add.meta,
            add.save_path,
            add.paused,
            self.next_queue_position,
        );
        self.next_queue_position += 1;
        apply_props(&mut record, add.props);
        tracing::info!(torrent = %add.meta.name, info_hash = %ih, save_path = %record.save_path.display(), paused = add.paused, "torrent added");
        self.store_jobs.push(StoreJob::Save {
            record: record.clone(),
            metainfo: Some(add.raw),
            reply: Some(StoreReply::Added(ih, r)),
        });
        self.insert_torrent(add.meta, record);
    }

    fn set_paused(
        &mut self,
        ih: InfoHash,
        paused: bool,
        r: crate::messages::Reply<Result<(), CommandError>>,
    ) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return reply(r, Err(CommandError::NotFound));
        };
        if t.record.paused == paused {
            return reply(r, Ok(()));
        }
        t.record.paused = paused;
        t.seeding_since = (!paused && t.ready.is_some() && !t.checking).then(Instant::now);
        let record = t.record.clone();
        self.sync_registry(ih);
        if paused {
            self.broadcast(ShardCommand::CloseTorrent(
                ih,
                DisconnectReason::TorrentPaused,
            ));
        }
        tracing::info!(info_hash = %ih, paused, "torrent {}", if paused { "paused" } else { "resumed" });
        self.dirty.push(ih);
        self.store_jobs.push(StoreJob::Save {
            record,
            metainfo: None,
            reply: Some(StoreReply::Done(r)),
        });
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

    fn check_done(&mut self, done: CheckDone) {
        let Some(t) = self.torrents.get_mut(&done.info_hash) else {
            return;
        };
        if t.generation != done.generation {
            return;
        }
        let result = match done.outcome {
            CheckOutcome::Pieces(results) => {
                return self.pieces_checked(done.info_hash, results, Instant::now())
            }
            CheckOutcome::Full(r) => r,
        };
        t.checking = false;
        match result {
            Ok((torrent, _)) => {
                t.ready = Some(torrent);
                t.error = None;
                if !t.record.paused {
                    t.seeding_since = Some(Instant::now());
                }
            }
            Err(e) => {
                t.ready = None;
                t.error = Some(e.to_string());
            }
        }
        self.sync_registry(done.info_hash);
        self.dirty.push(done.info_hash);
    }

    // ---- Budgets ----

    fn budget_used(&mut self, u: BudgetUse) {
        if let Some(g) = self.global_use.get_mut(u.shard) {
            *g = ShardUse {
                used: u.global_used,
                starved: u.global_starved,
            };
        }
        let n = self.links.shards.len();
        for (ih, used, starved) in u.torrents {
            if let Some(v) = self.torrent_use.get_mut(&ih) {
                if let Some(s) = v.get_mut(u.shard) {
                    *s = ShardUse { used, starved };
                }
            } else if self.torrents.contains_key(&ih) {
                let mut v = vec![ShardUse::default(); n];
                v[u.shard] = ShardUse { used, starved };
                self.torrent_use.insert(ih, v);
            }
        }
    }

    fn grant_budgets(&mut self, now: Instant) {
        let secs = now
            .saturating_duration_since(self.last_grant)
            .as_secs_f64()
            .min(0.5);
        self.last_grant = now;
        let global = rates::budget(self.upload_limit, secs);
        let limited: Vec<(InfoHash, u64)> = self
            .torrents
            .iter()
            .filter_map(|(ih, t)| rates::budget(t.record.upload_limit, secs).map(|b| (*ih, b)))
            .collect();
        let on = global.is_some() || !limited.is_empty();
        if !on && !self.limits_were_on {
            return;
        }
        self.limits_were_on = on;
        let n = self.links.shards.len();
        let mut grants: Vec<BudgetGrant> = vec![BudgetGrant::default(); n];
        if let Some(b) = global {
            for (g, x) in grants.iter_mut().zip(rates::split(b, &self.global_use)) {
                g.global = Some(x);
            }
        }
        self.torrent_use
            .retain(|ih, _| limited.iter().any(|l| l.0 == *ih));
        for (ih, b) in limited {
            let uses = self
                .torrent_use
                .entry(ih)
                .or_insert_with(|| vec![ShardUse::default(); n]);
            for (g, x) in grants.iter_mut().zip(rates::split(b, uses)) {
                g.torrents.push((ih, x));
            }
        }
        for (i, g) in grants.into_iter().enumerate() {
            self.send(i, ShardCommand::Budget(g));
        }
    }

    // ---- Choking ----

    fn slots(&self, ih: InfoHash) -> usize {
        match self.torrents.get(&ih).map(|t| t.record.max_uploads) {
            Some(m) if m >= 0 => m as usize,
            _ => self.settings.upload_slots,
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
        let slots = self.slots(ih);
        if slots == 0 {
            return usize::MAX;
        }
        slots.saturating_sub(self.regular_unchoked(ih))
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
                key: p.hello.key.0,
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
        let Some(t) = self.torrents.get(&ih) else {
            return;
        };
        if cands.is_empty() {
            return;
        }
        let keep = choker::rechoke(
            self.settings.algorithm,
            self.slots(ih),
            &cands,
            now,
            self.settings.unchoke_interval,
            t.meta.lengths.piece_length(),
        );
        for c in &cands {
            let want = keep.binary_search(&c.key).is_ok();
            if want != c.unchoked {
                self.set_unchoked(PeerKey(c.key), want, now);
            }
        }
    }

    fn rotate_optimistic(&mut self, ih: InfoHash, now: Instant) {
        let cands = self.candidates(ih);
        let regular: Vec<u64> = {
            let mut v: Vec<u64> = cands.iter().filter(|c| c.unchoked).map(|c| c.key).collect();
            v.sort_unstable();
            v
        };
        let old = self.torrents.get(&ih).and_then(|t| t.optimistic);
        let new = choker::pick_optimistic(&cands, &regular).map(PeerKey);
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
        let shard = p.hello.shard;
        self.send(
            shard,
            if unchoke {
                ShardCommand::Unchoke(key)
            } else {
                ShardCommand::Choke(key)
            },
        );
    }

    // ---- The view ----

    fn torrent_view(
        &self,
        ih: InfoHash,
        now: Instant,
        agg: Option<&Agg>,
    ) -> Option<Arc<TorrentView>> {
        let t = self.torrents.get(&ih)?;
        let default = Agg::default();
        let a = agg.unwrap_or(&default);
        let (pieces_have, bytes_have) = match &t.ready {
            Some(r) => (
                r.have_count,
                r.have
                    .iter()
                    .enumerate()
                    .filter(|(_, h)| **h)
                    .map(|(i, _)| r.meta.lengths.piece_len(i as u32) as u64)
                    .sum(),
            ),
            None => (0, 0),
        };
        let uploaded_session = t.uploaded_closed + a.uploaded;
        Some(Arc::new(TorrentView {
            info_hash: ih,
            meta: t.meta.clone(),
            save_path: t.record.save_path.clone(),
            state: t.state(),
            paused: t.record.paused,
            error: t.error.clone(),
            pieces_have,
            pieces: t.meta.lengths.num_pieces(),
            bytes_have,
            uploaded_total: t.record.uploaded_before + uploaded_session,
            uploaded_session,
            upload_rate: a.upload_rate,
            wire_upload_rate: a.up_speed,
            peers: a.peers,
            seeds: a.seeds,
            interested: a.interested,
            unchoked: a.unchoked,
            upload_limit: t.record.upload_limit,
            max_connections: t.record.max_connections,
            max_uploads: t.record.max_uploads,
            added_unix: t.record.added_unix,
            active_secs: now.saturating_duration_since(t.added_at).as_secs(),
            seeding_secs: t
                .seeding_since
                .map_or(0, |s| now.saturating_duration_since(s).as_secs()),
            queue_position: t.record.queue_position,
        }))
    }

    /// Publishes the view; `full` rebuilds every peer and torrent (once a
    /// second), otherwise only the torrents that changed. Then sends the
    /// session writes queued since the last publish.
    fn publish(&mut self, now: Instant, full: bool) {
        if full {
            let mut aggs: HashMap<InfoHash, Agg> = HashMap::new();
            let mut peers: HashMap<InfoHash, Vec<Arc<PeerView>>> = HashMap::new();
            for p in self.peers.values() {
                let ih = p.hello.info_hash;
                let optimistic =
                    self.torrents.get(&ih).and_then(|t| t.optimistic) == Some(p.hello.key);
                let a = aggs.entry(ih).or_default();
                a.peers += 1;
                a.seeds += (p.snap.have_count == p.hello.num_pieces) as u32;
                a.interested += p.interested as u32;
                a.unchoked += p.unchoked as u32;
                a.uploaded += p.snap.uploaded;
                a.upload_rate += p.upload_rate;
                a.up_speed += p.up_speed;
                peers
                    .entry(ih)
                    .or_default()
                    .push(Arc::new(peer_view(p, optimistic)));
            }
            self.peer_views = Arc::new(peers);
            let all: Vec<InfoHash> = self.torrents.keys().copied().collect();
            for ih in all {
                if let Some(v) = self.torrent_view(ih, now, aggs.get(&ih)) {
                    self.torrent_views.insert(ih, v);
                }
            }
            self.dirty.clear();
        } else {
            let dirty = std::mem::take(&mut self.dirty);
            for ih in dirty {
                match self.torrents.contains_key(&ih) {
                    true => {
                        // Keep the last second's peer aggregates.
                        let agg = self.torrent_views.get(&ih).map(|v| Agg::from_view(v));
                        if let Some(v) = self.torrent_view(ih, now, agg.as_ref()) {
                            self.torrent_views.insert(ih, v);
                        }
                    }
                    false => {
                        self.torrent_views.remove(&ih);
                    }
                }
            }
        }
        let upload_rate = self.peers.values().map(|p| p.upload_rate).sum();
        let view = View {
            built_unix: unix_now(),
            torrents: Arc::new(self.torrent_views.clone()),
            peers: self.peer_views.clone(),
            shards: Arc::new(self.shard_stats.clone()),
            disconnects: Arc::new(self.totals.disconnects.clone()),
            recent_disconnects: Arc::new(self.recent.clone()),
            session: SessionView {
                upload_limit: self.upload_limit,
                hashed_bytes: self.links.hashed_bytes.load(Ordering::Relaxed),
                upload_rate,
                listen_port: self.links.listen_port,
                choke_rounds: self.totals.choke_rounds,
                download_limit: self.saved.download_limit.unwrap_or(-1),
                default_save_path: self
                    .saved
                    .default_save_path
                    .clone()
                    .unwrap_or_else(|| self.defaults.data_dir.clone()),
                autostart: self.saved.autostart.unwrap_or(true),
            },
        };
        *self.links.view.write() = Arc::new(view);
        for job in self.store_jobs.drain(..) {
            let _ = self.links.store.send(job);
        }
    }
}

/// Per-torrent sums over its peers.
#[derive(Default)]
struct Agg {
    peers: u32,
    seeds: u32,
    interested: u32,
    unchoked: u32,
    uploaded: u64,
    upload_rate: u64,
    up_speed: u64,
}

impl Agg {
    fn from_view(v: &TorrentView) -> Agg {
        Agg {
            peers: v.peers,
            seeds: v.seeds,
            interested: v.interested,
            unchoked: v.unchoked,
            uploaded: v.uploaded_session,
            upload_rate: v.upload_rate,
            up_speed: v.wire_upload_rate,
        }
    }
}

fn apply_props(r: &mut TorrentRecord, p: TorrentProps) {
    let norm = |v: i64| if v > 0 { v } else { -1 };
    if let Some(v) = p.upload_limit {
        r.upload_limit = norm(v);
    }
    if let Some(v) = p.max_connections {
        r.max_connections = norm(v);
    }
    if let Some(v) = p.max_uploads {
        // 0 upload slots is a real setting (every interested peer unchoked).
        r.max_uploads = if v >= 0 { v } else { -1 };
    }
}

fn peer_view(p: &PeerEntry, optimistic: bool) -> PeerView {
    let s = &p.snap;
    PeerView {
        key: p.hello.key,
        info_hash: p.hello.info_hash,
        addr: p.hello.addr,
        local_addr: p.hello.local_addr,
        peer_id: p.hello.peer_id,
        reserved: p.hello.reserved,
        client: p.client.clone(),
        outgoing: p.hello.outgoing,
        source: p.hello.source,
        connected_unix: p.hello.connected_unix,
        am_choking: s.am_choking,
        peer_choking: s.peer_choking,
        peer_interested: s.peer_interested,
        optimistic,
        upload_only: s.upload_only,
        extensions: p.hello.extensions(),
        fast: p.hello.fast(),
        have_count: s.have_count,
        num_pieces: p.hello.num_pieces,
        bitfield: p.bitfield.clone(),
        uploaded: s.uploaded,
        downloaded: s.downloaded,
        bytes_sent: s.bytes_sent,
        bytes_recv: s.bytes_recv,
        up_speed: p.up_speed,
        down_speed: p.down_speed,
        upload_rate: p.upload_rate,
        last_send_unix: s.last_send_unix,
        last_recv_unix: s.last_recv_unix,
        queue_len: s.queue_len,
        inflight: s.inflight.clone(),
        rtt_us: s.rtt_us,
        min_rtt_us: s.min_rtt_us,
        serve_ms: s.serve_ms,
        score: s.score,
        whitelisted: p.whitelisted,
        yourip: s.yourip,
        sent_per_msg: s.sent_per_msg,
        recv_per_msg: s.recv_per_msg,
    }
}

/// The save path a torrent added without one gets (the configured data dir).
pub fn default_save_path(c: &crate::config::Config) -> Option<PathBuf> {
    (!c.storage.data_dir.as_os_str().is_empty()).then(|| c.storage.data_dir.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::Notify;

    fn hello(key: u64) -> PeerHello {
        PeerHello {
            key: PeerKey(key),
            shard: 0,
            info_hash: InfoHash([1; 20]),
            addr: "127.0.0.1:1".parse().unwrap(),
            local_addr: None,
            // Distinct ids: a repeated peer id is closed as a duplicate.
            peer_id: [key as u8; 20],
            reserved: [0, 0, 0, 0, 0, 0x10, 0, 0x04],
            outgoing: false,
            source: crate::messages::source::INCOMING,
            connected_unix: 0,
            piece_length: 16384,
            num_pieces: 10,
        }
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
        let (checks, _check_rx) = crossbeam_channel::unbounded();
        let (store, _store_rx) = crossbeam_channel::unbounded();
        let links = Links {
            shards: vec![link],
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
        let mut c = Coordinator::new(
            settings,
            links,
            SessionSettings::default(),
            SessionDefaults {
                upload_limit: -1,
                data_dir: PathBuf::new(),
            },
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
        let mut meta = Metainfo::from_bytes(&bytes).unwrap();
        meta.info_hash = InfoHash([1; 20]);
        let record = TorrentRecord::new(&meta, "/d".into(), false, 0);
        c.add_initial(vec![Initial {
            record,
            meta: Arc::new(meta),
            save: None,
        }]);
        let now = Instant::now();
        for k in 1..=3 {
            c.handle(ShardEvent::Connected(Box::new(hello(k))), now);
        }
        assert!(
            rx.try_recv().is_err(),
            "nobody is interested: nobody is unchoked"
        );
        let interest = |c: &mut Coordinator, k, interested| {
            c.handle(
                ShardEvent::Interest {
                    key: PeerKey(k),
                    interested,
                },
                now,
            )
        };
        interest(&mut c, 1, true);
        assert_eq!(rx.try_recv(), Ok(ShardCommand::Unchoke(PeerKey(1))));
        interest(&mut c, 2, true);
        interest(&mut c, 3, true);
        assert_eq!(rx.try_recv(), Ok(ShardCommand::Unchoke(PeerKey(2))));
        assert!(rx.try_recv().is_err(), "two slots only");
        // Peer 1 leaves: its slot goes to peer 3 at once.
        c.handle(
            ShardEvent::Closed {
                key: Some(PeerKey(1)),
                reason: DisconnectReason::RemoteClosed,
                peer: None,
            },
            now,
        );
        assert_eq!(rx.try_recv(), Ok(ShardCommand::Unchoke(PeerKey(3))));
        // Peer 2 loses interest: it is choked.
        interest(&mut c, 2, false);
        assert_eq!(rx.try_recv(), Ok(ShardCommand::Choke(PeerKey(2))));
    }
}
