//! Tracker announces and scrapes, on the control runtime (tokio current
//! thread + `LocalSet`): every seeding torrent is announced to the trackers
//! its metainfo names — BEP 3 HTTP(S) ([`http`]) and BEP 15 UDP ([`udp`]),
//! the wire formats being pure functions in `ringseed_proto::tracker`.
//!
//! - **Which torrents.** The manager reads the coordinator's view once a
//!   second: a torrent in state `seeding` gets a task; one that is paused,
//!   rechecking or removed gets `event=stopped` and loses its task; at
//!   shutdown every task sends `stopped` and [`Manager::shutdown`] waits at
//!   most [`SHUTDOWN_WAIT`] for them.
//! - **Tiers (BEP 12).** Trackers are tried tier by tier, in an order
//!   shuffled once per tier; the first that answers is moved to the front of
//!   its tier and the announce stops there. A tracker that never got
//!   `started` gets it on its first announce; `stopped` goes to every
//!   tracker that got `started`.
//! - **Timing.** The next announce follows the tracker's `interval`, never
//!   sooner than its `min interval`, both clamped to
//!   `[min_interval_secs, max_interval_secs]`. When every tracker failed,
//!   the next try waits `retry_base_secs · 2^(fails-1)` (at most
//!   `retry_max_secs`) with ±25 % jitter. Announces take slots of a global
//!   rate (`announces_per_second`), so 10,000 torrents do not announce in
//!   the same second, and at most `max_concurrent` are in flight.
//! - **Port.** The listen port follows the view (the IPC's `port` moves it
//!   at runtime): on a change every task sends `stopped` with the old port,
//!   then `started` with the new one at once.
//! - **Peers** returned are handed to the coordinator
//!   ([`ControlCommand::TrackerPeers`]), which dials those it is not
//!   connected to within its caps (source = tracker).
//! - **Where it shows.** The manager publishes [`TrackersView`] once a
//!   second ([`SharedTrackers`]): porla's `torrents.trackers.list`, the
//!   tracker fields of `torrents.list`, and the Prometheus series.
//!
//! Failures (`failure reason`, timeouts, junk, huge bodies) are shown on the
//! tracker, counted in `ringseed_tracker_announces_total{result}`, logged,
//! and backed off; a task only ever waits on its own torrent's trackers.

pub(crate) mod http;
pub(crate) mod udp;
mod view;

pub(crate) use view::{SharedTrackers, TorrentTrackers, TrackerStatus, TrackersView};

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use rand::seq::SliceRandom;
use rand::Rng;
use ringseed_proto::metainfo::{InfoHash, Metainfo};
use ringseed_proto::tracker::{
    http_announce_url, parse_http_announce, parse_http_scrape, scrape_url, Announce, AnnounceReply,
    Event, ScrapeCounts, TrackerError,
};
use tokio::sync::{Notify, Semaphore};

use crate::config::Config;
use crate::coordinator::view::{latest, SharedView};
use crate::messages::{unix_now, ControlCommand};
use crate::tally::tally;

/// The longest shutdown waits for `stopped` announces.
pub(crate) const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

/// What the tracker manager is handed.
pub(crate) struct TrackerContext {
    pub(crate) config: Arc<Config>,
    pub(crate) view: SharedView,
    pub(crate) commands: Sender<ControlCommand>,
    /// Our peer id (the shards' handshake id) and TCP listen port.
    pub(crate) peer_id: [u8; 20],
    pub(crate) listen_port: u16,
    /// The peer listen address when it is a specific one: announces are
    /// sent from it, so trackers record the address peers can reach.
    pub(crate) bind_ip: Option<std::net::IpAddr>,
    pub(crate) shared: SharedTrackers,
}

/// Settings read once from the configuration.
struct Settings {
    numwant: u32,
    min_interval: Duration,
    max_interval: Duration,
    retry_base: Duration,
    retry_max: Duration,
    http: http::Limits,
    udp: udp::Retry,
    scrape_interval: Option<Duration>,
    /// Seconds between two announce slots.
    slot: Duration,
}

impl Settings {
    fn from(c: &crate::config::Trackers) -> Settings {
        Settings {
            numwant: c.numwant,
            min_interval: Duration::from_secs(c.min_interval_secs),
            max_interval: Duration::from_secs(c.max_interval_secs.max(c.min_interval_secs)),
            retry_base: Duration::from_secs(c.retry_base_secs.max(1)),
            retry_max: Duration::from_secs(c.retry_max_secs.max(1)),
            http: http::Limits {
                timeout: Duration::from_secs(c.http_timeout_secs.max(1)),
                max_body: c.max_response_bytes,
                max_redirects: c.max_redirects,
            },
            udp: udp::Retry {
                base: Duration::from_secs(c.udp_timeout_secs.max(1)),
                retries: c.udp_retries.min(8),
            },
            scrape_interval: (c.scrape_interval_secs > 0)
                .then(|| Duration::from_secs(c.scrape_interval_secs)),
            slot: Duration::from_secs(1) / c.announces_per_second.max(1),
        }
    }

    /// The wait before the next announce after a reply: `interval`, not
    /// below `min interval`, both clamped.
    fn interval(&self, r: &AnnounceReply) -> (Duration, Duration) {
        let clamp = |v: i64| {
            Duration::from_secs(v.max(0) as u64).clamp(self.min_interval, self.max_interval)
        };
        let min = r.min_interval.map_or(self.min_interval, clamp);
        let interval = r.interval.map_or(self.max_interval, clamp).max(min);
        (interval, min)
    }

    /// The wait after `fails` failed rounds in a row (≥ 1), with ±25 % jitter.
    fn backoff(&self, fails: u32, jitter: f64) -> Duration {
        let exp = self
            .retry_base
            .saturating_mul(1u32 << (fails.saturating_sub(1)).min(20));
        exp.min(self.retry_max).mul_f64(jitter.clamp(0.75, 1.25))
    }
}

/// Gives out announce start times `slot` apart (a token bucket of one).
struct Limiter {
    next: Cell<Instant>,
    slot: Duration,
}

impl Limiter {
    /// The start time of the next announce (now, or after the ones given out).
    fn take(&self, now: Instant) -> Instant {
        let at = self.next.get().max(now);
        self.next.set(at + self.slot);
        at
    }
}

struct Tracker {
    url: String,
    tier: u32,
    fails: u32,
    last_error: String,
    message: String,
    tracker_id: Option<Vec<u8>>,
    next_announce_unix: u64,
    min_announce: Option<Instant>,
    scrape: Option<ScrapeCounts>,
    updating: bool,
    start_sent: bool,
    verified: bool,
}

struct TorrentState {
    trackers: Vec<Tracker>,
    current: Option<String>,
    /// Failed rounds in a row (every tracker failed).
    fails: u32,
    next_announce: Instant,
    next_scrape: Option<Instant>,
    last_announce_unix: u64,
    swarm: Option<ScrapeCounts>,
    /// `uploaded_total` when this task started: `uploaded` counts from here.
    uploaded_base: Option<u64>,
}

/// One torrent's task handle.
struct Task {
    info_hash: InfoHash,
    state: RefCell<TorrentState>,
    /// Wakes the task: stop asked.
    wake: Notify,
    stop: Cell<bool>,
    /// The torrent's all-time upload, from the view.
    uploaded: Cell<u64>,
    /// The listen port this torrent's trackers were told.
    port: Cell<u16>,
    dirty: Cell<bool>,
    snapshot: RefCell<Arc<TorrentTrackers>>,
}

/// The tracker manager (one per daemon, on the control thread).
pub(crate) struct Manager {
    commands: Sender<ControlCommand>,
    peer_id: [u8; 20],
    /// The peer listen port (follows the view: the IPC's `port` changes it
    /// at runtime).
    listen_port: Cell<u16>,
    /// Our random announce key (BEP 3 `key`, BEP 15 `key`).
    key: u32,
    settings: Settings,
    http: http::Client,
    udp: udp::Client,
    limiter: Limiter,
    inflight: Semaphore,
    tasks: RefCell<HashMap<InfoHash, Rc<Task>>>,
    shutting_down: Cell<bool>,
    /// At shutdown: when `stopped` announces must have finished.
    stop_deadline: Cell<Option<tokio::time::Instant>>,
    shared: SharedTrackers,
}

/// The trackers of a metainfo in tier order: `announce-list` (BEP 12) when
/// present, else `announce`. Duplicate URLs are dropped.
pub(crate) fn tiers(meta: &Metainfo) -> Vec<Vec<String>> {
    let mut seen = std::collections::HashSet::new();
    let src: Vec<Vec<String>> = if meta.announce_list.is_empty() {
        meta.announce.iter().map(|u| vec![u.clone()]).collect()
    } else {
        meta.announce_list.clone()
    };
    src.into_iter()
        .map(|t| {
            t.into_iter()
                .map(|u| u.trim().to_string())
                .filter(|u| !u.is_empty() && seen.insert(u.clone()))
                .collect::<Vec<_>>()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// Starts the manager: a task that follows the view once a second.
pub(crate) fn start(ctx: TrackerContext) -> Rc<Manager> {
    let settings = Settings::from(&ctx.config.trackers);
    let m = Rc::new(Manager {
        commands: ctx.commands,
        peer_id: ctx.peer_id,
        listen_port: Cell::new(ctx.listen_port),
        key: rand::thread_rng().gen(),
        limiter: Limiter {
            next: Cell::new(Instant::now()),
            slot: settings.slot,
        },
        inflight: Semaphore::new(ctx.config.trackers.max_concurrent.max(1)),
        settings,
        http: http::Client::new(ctx.bind_ip),
        udp: udp::Client::new(ctx.bind_ip),
        tasks: RefCell::new(HashMap::new()),
        shutting_down: Cell::new(false),
        stop_deadline: Cell::new(None),
        shared: ctx.shared,
    });
    let enabled = ctx.config.trackers.enabled;
    let view = ctx.view;
    let mgr = m.clone();
    tokio::task::spawn_local(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            if mgr.shutting_down.get() {
                return;
            }
            if enabled {
                mgr.follow(&latest(&view));
            }
            mgr.publish();
        }
    });
    m
}

impl Manager {
    /// Starts tasks for torrents that began seeding; stops those that
    /// stopped (paused, rechecking, removed).
    fn follow(self: &Rc<Self>, view: &crate::coordinator::view::View) {
        let mut tasks = self.tasks.borrow_mut();
        let port = view.session.listen_port;
        if port != 0 && port != self.listen_port.get() {
            // Every task re-announces: `stopped` with the old port, then
            // `started` with the new one (see `run_torrent`).
            tracing::info!(port, "trackers: listen port changed; re-announcing");
            self.listen_port.set(port);
            for task in tasks.values() {
                task.wake.notify_one();
            }
        }
        for (ih, t) in view.torrents.iter() {
            let seeding = t.state == crate::torrent::TorrentState::Seeding;
            match tasks.get(ih) {
                Some(task) => {
                    task.uploaded.set(t.uploaded_total);
                    if !seeding && !task.stop.get() {
                        task.stop.set(true);
                        task.wake.notify_one();
                    }
                }
                None if seeding => {
                    let tiers = tiers(&t.meta);
                    if tiers.is_empty() {
                        continue;
                    }
                    let task = Rc::new(Task::new(
                        *ih,
                        tiers,
                        t.uploaded_total,
                        self.listen_port.get(),
                    ));
                    tasks.insert(*ih, task.clone());
                    tokio::task::spawn_local(self.clone().run_torrent(task));
                }
                None => {}
            }
        }
        for (ih, task) in tasks.iter() {
            if !view.torrents.contains_key(ih) && !task.stop.get() {
                task.stop.set(true);
                task.wake.notify_one();
            }
        }
    }

    /// Announces a torrent at once (the WebUI's `torrents/reannounce`),
    /// cancelling an announce in flight; false when it has no announce task
    /// (paused, checking, no trackers, trackers off).
    pub(crate) fn reannounce(&self, info_hash: &InfoHash) -> bool {
        let tasks = self.tasks.borrow();
        let Some(task) = tasks.get(info_hash) else {
            return false;
        };
        task.state.borrow_mut().next_announce = Instant::now();
        task.wake.notify_one();
        true
    }

    /// Publishes every task's snapshot (rebuilt only for tasks that changed).
    fn publish(&self) {
        let tasks = self.tasks.borrow();
        let mut out = BTreeMap::new();
        for (ih, t) in tasks.iter() {
            if t.dirty.replace(false) {
                *t.snapshot.borrow_mut() = Arc::new(t.status());
            }
            out.insert(*ih, t.snapshot.borrow().clone());
        }
        self.shared.store(Arc::new(TrackersView { torrents: out }));
    }

    /// Sends `stopped` for every torrent that announced and waits at most
    /// [`SHUTDOWN_WAIT`] for them; then the tasks are dropped with the runtime.
    pub(crate) async fn shutdown(&self) {
        let deadline = tokio::time::Instant::now() + SHUTDOWN_WAIT;
        self.stop_deadline.set(Some(deadline));
        self.shutting_down.set(true);
        for t in self.tasks.borrow().values() {
            t.stop.set(true);
            t.wake.notify_one();
        }
        while !self.tasks.borrow().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let left = self.tasks.borrow().len();
        if left > 0 {
            tracing::warn!(
                torrents = left,
                "trackers: stopped announces unfinished after {} s; not waiting longer",
                SHUTDOWN_WAIT.as_secs()
            );
        }
    }

    fn announce_of(&self, task: &Task, event: Event, tracker_id: Option<Vec<u8>>) -> Announce {
        let base = task.state.borrow().uploaded_base.unwrap_or(0);
        Announce {
            info_hash: task.info_hash.0,
            peer_id: self.peer_id,
            port: task.port.get(),
            uploaded: task.uploaded.get().saturating_sub(base),
            downloaded: 0,
            left: 0,
            event,
            numwant: if event == Event::Stopped {
                0
            } else {
                self.settings.numwant
            },
            key: self.key,
            tracker_id,
        }
    }

    /// One announce to one tracker.
    async fn announce_one(&self, url: &str, a: &Announce) -> Result<AnnounceReply, TrackerError> {
        if url.starts_with("udp://") {
            self.udp.announce(url, a, self.settings.udp).await
        } else if url.starts_with("http://") || url.starts_with("https://") {
            let body = self
                .http
                .get(&http_announce_url(url, a), &self.settings.http)
                .await?;
            parse_http_announce(&body)
        } else {
            Err(TrackerError::Url(format!(
                "{url}: only http, https and udp trackers are supported"
            )))
        }
    }

    async fn scrape_one(&self, url: &str, ih: &InfoHash) -> Result<ScrapeCounts, TrackerError> {
        if url.starts_with("udp://") {
            self.udp.scrape(url, &ih.0, self.settings.udp).await
        } else {
            let Some(s) = scrape_url(url, &ih.0) else {
                return Err(TrackerError::Url(format!("{url}: no scrape URL (BEP 48)")));
            };
            let body = self.http.get(&s, &self.settings.http).await?;
            parse_http_scrape(&body, &ih.0)
        }
    }

    /// Announces tier by tier until one tracker answers (BEP 12). Returns
    /// the reply, or `None` when every tracker failed.
    async fn announce_tiers(&self, task: &Task) -> Option<AnnounceReply> {
        let n = task.state.borrow().trackers.len();
        let mut i = 0;
        while i < n {
            let (url, event, tid) = {
                let st = task.state.borrow();
                let t = &st.trackers[i];
                let event = if t.start_sent {
                    Event::None
                } else {
                    Event::Started
                };
                (t.url.clone(), event, t.tracker_id.clone())
            };
            let a = self.announce_of(task, event, tid);
            task.set(i, |t| t.updating = true);
            let r = self.announce_one(&url, &a).await;
            let now_unix = unix_now();
            match r {
                Ok(reply) => {
                    tally(
                        "ringseed_tracker_announces_total",
                        [("result", "ok"), ("", "")],
                    );
                    let (interval, min) = self.settings.interval(&reply);
                    let mut st = task.state.borrow_mut();
                    let t = &mut st.trackers[i];
                    t.updating = false;
                    t.fails = 0;
                    t.last_error.clear();
                    t.message = reply.warning.clone().unwrap_or_default();
                    if reply.tracker_id.is_some() {
                        t.tracker_id = reply.tracker_id.clone();
                    }
                    t.start_sent = true;
                    t.verified = true;
                    t.min_announce = Some(Instant::now() + min);
                    t.next_announce_unix = now_unix + interval.as_secs();
                    if let (Some(c), Some(ic)) = (reply.complete, reply.incomplete) {
                        t.scrape = Some(ScrapeCounts {
                            complete: c,
                            incomplete: ic,
                            downloaded: reply
                                .downloaded
                                .or(t.scrape.map(|s| s.downloaded))
                                .unwrap_or(-1),
                        });
                        st.swarm = st.trackers[i].scrape;
                    }
                    st.current = Some(url.clone());
                    st.fails = 0;
                    st.last_announce_unix = now_unix;
                    st.next_announce = Instant::now() + interval;
                    // BEP 12: the tracker that answered goes first in its tier.
                    let tier = st.trackers[i].tier;
                    let first = st.trackers.iter().position(|t| t.tier == tier).unwrap_or(i);
                    st.trackers[first..=i].rotate_right(1);
                    task.dirty.set(true);
                    if reply.peers_dropped > 0 {
                        tracing::debug!(tracker = %url, dropped = reply.peers_dropped, "tracker peers dropped (over the cap or malformed)");
                    }
                    return Some(reply);
                }
                Err(e) => {
                    tally(
                        "ringseed_tracker_announces_total",
                        [("result", e.kind()), ("", "")],
                    );
                    let fails = task.set(i, |t| {
                        t.updating = false;
                        t.fails += 1;
                        t.last_error = e.to_string();
                        if let TrackerError::Failure(m) = &e {
                            t.message = m.clone();
                        }
                        t.fails
                    });
                    if fails == 1 {
                        tracing::warn!(info_hash = %task.info_hash, tracker = %url, error = %e, "announce failed");
                    } else {
                        tracing::debug!(info_hash = %task.info_hash, tracker = %url, fails, error = %e, "announce failed again");
                    }
                }
            }
            i += 1;
        }
        None
    }

    /// A torrent's task: announce, re-announce, scrape, until stopped.
    async fn run_torrent(self: Rc<Self>, task: Rc<Task>) {
        loop {
            if task.stop.get() {
                break;
            }
            let port = self.listen_port.get();
            if task.port.get() != port {
                // The trackers know us by the old port: take that entry out
                // (`stopped` carries the old port), then announce the new
                // one at once (`started`).
                self.send_stopped(&task).await;
                task.port.set(port);
                task.state.borrow_mut().next_announce = Instant::now();
                task.dirty.set(true);
                continue;
            }
            let (next_announce, next_scrape) = {
                let st = task.state.borrow();
                (st.next_announce, st.next_scrape)
            };
            let next = next_scrape.map_or(next_announce, |s| s.min(next_announce));
            tokio::select! {
                _ = tokio::time::sleep_until(next.into()) => {}
                _ = task.wake.notified() => continue,
            }
            if task.stop.get() {
                break;
            }
            let now = Instant::now();
            if now >= next_announce {
                // Wait for a slot and a permit, then announce; a stop
                // cancels all of it.
                let round = async {
                    tokio::time::sleep_until(self.limiter.take(Instant::now()).into()).await;
                    let _permit = self.inflight.acquire().await.expect("never closed");
                    self.announce_tiers(&task).await
                };
                let reply = tokio::select! {
                    r = round => r,
                    _ = task.wake.notified() => {
                        task.clear_updating();
                        continue;
                    }
                };
                match reply {
                    Some(r) => {
                        if task.state.borrow().next_scrape.is_none() {
                            // The first scrape follows the first answer.
                            task.state.borrow_mut().next_scrape =
                                self.settings.scrape_interval.map(|_| Instant::now());
                        }
                        if !r.peers.is_empty() {
                            let _ = self.commands.send(ControlCommand::TrackerPeers {
                                info_hash: task.info_hash,
                                peers: r.peers,
                            });
                        }
                    }
                    None => {
                        let mut st = task.state.borrow_mut();
                        st.fails += 1;
                        let wait = self
                            .settings
                            .backoff(st.fails, rand::thread_rng().gen_range(0.75..=1.25));
                        st.next_announce = Instant::now() + wait;
                        let unix = unix_now() + wait.as_secs();
                        for t in st.trackers.iter_mut() {
                            t.next_announce_unix = unix;
                        }
                        task.dirty.set(true);
                    }
                }
            } else if next_scrape.is_some_and(|s| now >= s) {
                self.scrape(&task).await;
            }
        }
        self.send_stopped(&task).await;
        let mut tasks = self.tasks.borrow_mut();
        if tasks
            .get(&task.info_hash)
            .is_some_and(|t| Rc::ptr_eq(t, &task))
        {
            tasks.remove(&task.info_hash);
        }
    }

    async fn scrape(&self, task: &Task) {
        let url = {
            let mut st = task.state.borrow_mut();
            st.next_scrape = self.settings.scrape_interval.map(|d| Instant::now() + d);
            st.current.clone()
        };
        let Some(url) = url else {
            return;
        };
        let r = tokio::select! {
            r = self.scrape_one(&url, &task.info_hash) => r,
            _ = task.wake.notified() => return,
        };
        match r {
            Ok(c) => {
                tally(
                    "ringseed_tracker_scrapes_total",
                    [("result", "ok"), ("", "")],
                );
                let mut st = task.state.borrow_mut();
                st.swarm = Some(c);
                if let Some(t) = st.trackers.iter_mut().find(|t| t.url == url) {
                    t.scrape = Some(c);
                }
                task.dirty.set(true);
            }
            Err(e) => {
                tally(
                    "ringseed_tracker_scrapes_total",
                    [("result", e.kind()), ("", "")],
                );
                tracing::debug!(info_hash = %task.info_hash, tracker = %url, error = %e, "scrape failed");
            }
        }
    }

    /// `event=stopped` to every tracker that got `started`, bounded by the
    /// shutdown deadline (or the HTTP timeout when only this torrent stops).
    async fn send_stopped(&self, task: &Task) {
        let started: Vec<(String, Option<Vec<u8>>)> = task
            .state
            .borrow()
            .trackers
            .iter()
            .filter(|t| t.start_sent)
            .map(|t| (t.url.clone(), t.tracker_id.clone()))
            .collect();
        let deadline = self.stop_deadline.get().unwrap_or_else(|| {
            tokio::time::Instant::now() + self.settings.http.timeout.max(self.settings.udp.total())
        });
        for (url, tid) in started {
            let a = self.announce_of(task, Event::Stopped, tid);
            let r = tokio::time::timeout_at(deadline, async {
                let _permit = self.inflight.acquire().await.expect("never closed");
                self.announce_one(&url, &a).await
            })
            .await;
            let result = match &r {
                Ok(Ok(_)) => "ok",
                Ok(Err(e)) => e.kind(),
                Err(_) => "timeout",
            };
            tally(
                "ringseed_tracker_announces_total",
                [("result", result), ("", "")],
            );
            tracing::info!(info_hash = %task.info_hash, tracker = %url, result, "announced stopped");
            task.set_by_url(&url, |t| t.start_sent = false);
        }
    }
}

impl Task {
    fn new(info_hash: InfoHash, tiers: Vec<Vec<String>>, uploaded: u64, port: u16) -> Task {
        let mut rng = rand::thread_rng();
        let mut trackers = Vec::new();
        for (i, mut tier) in tiers.into_iter().enumerate() {
            // BEP 12: the URLs of a tier are shuffled once.
            tier.shuffle(&mut rng);
            for url in tier {
                trackers.push(Tracker {
                    url,
                    tier: i as u32,
                    fails: 0,
                    last_error: String::new(),
                    message: String::new(),
                    tracker_id: None,
                    next_announce_unix: 0,
                    min_announce: None,
                    scrape: None,
                    updating: false,
                    start_sent: false,
                    verified: false,
                });
            }
        }
        Task {
            info_hash,
            state: RefCell::new(TorrentState {
                trackers,
                current: None,
                fails: 0,
                next_announce: Instant::now(),
                next_scrape: None,
                last_announce_unix: 0,
                swarm: None,
                uploaded_base: Some(uploaded),
            }),
            wake: Notify::new(),
            stop: Cell::new(false),
            uploaded: Cell::new(uploaded),
            port: Cell::new(port),
            dirty: Cell::new(true),
            snapshot: RefCell::new(Arc::default()),
        }
    }

    fn set<T>(&self, i: usize, f: impl FnOnce(&mut Tracker) -> T) -> T {
        self.dirty.set(true);
        f(&mut self.state.borrow_mut().trackers[i])
    }

    fn set_by_url(&self, url: &str, f: impl FnOnce(&mut Tracker)) {
        self.dirty.set(true);
        if let Some(t) = self
            .state
            .borrow_mut()
            .trackers
            .iter_mut()
            .find(|t| t.url == url)
        {
            f(t);
        }
    }

    fn clear_updating(&self) {
        self.dirty.set(true);
        for t in self.state.borrow_mut().trackers.iter_mut() {
            t.updating = false;
        }
    }

    fn status(&self) -> TorrentTrackers {
        let st = self.state.borrow();
        let now = Instant::now();
        let now_unix = unix_now();
        let next_announce_unix =
            now_unix + st.next_announce.saturating_duration_since(now).as_secs();
        TorrentTrackers {
            trackers: st
                .trackers
                .iter()
                .map(|t| TrackerStatus {
                    url: t.url.clone(),
                    tier: t.tier,
                    fails: t.fails,
                    last_error: t.last_error.clone(),
                    message: t.message.clone(),
                    tracker_id: t
                        .tracker_id
                        .as_ref()
                        .map(|b| String::from_utf8_lossy(b).into_owned()),
                    next_announce_unix: if t.next_announce_unix > 0 {
                        t.next_announce_unix
                    } else {
                        next_announce_unix
                    },
                    min_announce_unix: t
                        .min_announce
                        .map_or(0, |m| now_unix + m.saturating_duration_since(now).as_secs()),
                    scrape_complete: t.scrape.map_or(-1, |s| s.complete),
                    scrape_incomplete: t.scrape.map_or(-1, |s| s.incomplete),
                    scrape_downloaded: t.scrape.map_or(-1, |s| s.downloaded),
                    updating: t.updating,
                    start_sent: t.start_sent,
                    verified: t.verified,
                })
                .collect(),
            current: st.current.clone(),
            last_announce_unix: st.last_announce_unix,
            next_announce_unix,
            swarm: st.swarm,
            updating: st.trackers.iter().any(|t| t.updating),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::from(&crate::config::Trackers::default())
    }

    #[test]
    fn intervals_are_clamped_and_honour_min_interval() {
        let s = settings();
        let r = |interval, min| AnnounceReply {
            interval: Some(interval),
            min_interval: min,
            ..Default::default()
        };
        let secs = |(a, b): (Duration, Duration)| (a.as_secs(), b.as_secs());
        assert_eq!(secs(s.interval(&r(0, None))), (60, 60), "0 clamped");
        assert_eq!(secs(s.interval(&r(-5, None))), (60, 60), "negative clamped");
        assert_eq!(secs(s.interval(&r(1800, Some(900)))), (1800, 900));
        assert_eq!(
            secs(s.interval(&r(100, Some(600)))),
            (600, 600),
            "never sooner than min interval"
        );
        assert_eq!(secs(s.interval(&r(i64::MAX, None))).0, 4 * 3600);
    }

    #[test]
    fn failures_back_off_exponentially_with_jitter_up_to_the_cap() {
        let s = settings();
        assert_eq!(s.backoff(1, 1.0), Duration::from_secs(30));
        assert_eq!(s.backoff(3, 1.0), Duration::from_secs(120));
        assert_eq!(s.backoff(40, 1.0), Duration::from_secs(3600));
        assert_eq!(s.backoff(1, 0.75), Duration::from_millis(22_500));
        assert_eq!(s.backoff(1, 5.0), Duration::from_millis(37_500));
    }

    /// 10,000 torrents asking for a slot at the same instant start at most
    /// `announces_per_second` announces in any one second.
    #[test]
    fn ten_thousand_torrents_do_not_announce_in_the_same_second() {
        let s = settings();
        let t0 = Instant::now();
        let l = Limiter {
            next: Cell::new(t0),
            slot: s.slot,
        };
        let mut per_second: BTreeMap<u64, u32> = BTreeMap::new();
        for _ in 0..10_000 {
            let at = l.take(t0);
            *per_second.entry((at - t0).as_secs()).or_default() += 1;
        }
        let busiest = *per_second.values().max().unwrap();
        assert_eq!(busiest, 20, "{per_second:?}");
        assert_eq!(per_second.len(), 500);
    }

    #[test]
    fn tiers_come_from_announce_list_else_announce_without_duplicates() {
        let bytes = ringseed_proto::metainfo::build_torrent_with_tiers(
            "t",
            &[(vec![], 5)],
            16384,
            &[[0; 20]],
            &[
                vec!["http://a/announce".into(), "udp://b:1".into()],
                vec!["http://a/announce".into()],
                vec!["http://c/announce".into()],
            ],
            "x",
        );
        let m = Metainfo::from_bytes(&bytes).unwrap();
        assert_eq!(m.announce.as_deref(), Some("http://a/announce"));
        assert_eq!(
            tiers(&m),
            vec![
                vec!["http://a/announce".to_string(), "udp://b:1".into()],
                vec!["http://c/announce".into()]
            ]
        );
    }
}
