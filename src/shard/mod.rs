//! A shard: one thread, one `tokio_uring` runtime (its own ring), its own
//! SO_REUSEPORT listener on the shared port, its own peers, registered
//! buffers and open-file cache. A peer lives on exactly one shard; nothing
//! here is shared with other shards except the read-mostly torrent registry
//! (read at handshake) and the ban list (read at accept).
//!
//! Tasks on a shard: the accept loop, one reader ([`reader`]) and one writer
//! ([`writer`]) per peer, housekeeping (timeouts, keep-alives, the
//! per-second snapshot to the coordinator), and the command loop
//! (choke/unchoke, close, connect, budgets, shutdown from the coordinator,
//! woken through a `Notify`; never a blocking `recv`).

pub(crate) mod budget;
pub(crate) mod buffers;
pub(crate) mod peer;
pub(crate) mod reader;
pub(crate) mod side_ring;
pub(crate) mod writer;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use ringseed_proto::metainfo::InfoHash;
use ringseed_proto::wire::Message;
use tokio::sync::Notify;

use crate::ban::BanList;
use crate::config::{Cidr, Config, SendMode};
use crate::disconnect::DisconnectReason;
use crate::messages::{ClosedPeer, PeerKey, ShardCommand, ShardEvent, ShardStats};
use crate::storage::cache::ReadCache;
use crate::storage::files::FileCache;
use crate::torrent::Registry;
use budget::Budget;
use buffers::BlockBuffers;
use peer::Peer;

/// Submission queue entries per ring: generous, since a full queue whose
/// submit fails panics in tokio-uring 0.5, and every idle peer keeps a read
/// in flight.
const RING_ENTRIES: u32 = 4096;
/// A keep-alive goes out when nothing was sent for this long (BEP 3 peers
/// drop connections silent for ~2 minutes).
const KEEPALIVE: Duration = Duration::from_secs(90);
/// Block serve times kept per shard per second at most (a sample, enough
/// for the histogram's quantiles; the rest are counted but not timed).
const SERVE_SAMPLES: usize = 2048;

/// How often one shard reports the same unreadable file.
const UNREADABLE_REPORT: Duration = Duration::from_secs(5);

/// What a shard thread is handed at start.
pub(crate) struct ShardContext {
    pub(crate) id: usize,
    pub(crate) config: Arc<Config>,
    pub(crate) registry: Registry,
    pub(crate) bans: BanList,
    pub(crate) listener: std::net::TcpListener,
    pub(crate) listen_port: u16,
    pub(crate) peer_id: [u8; 20],
    pub(crate) client_name: String,
    /// The peer key counter shared by every shard.
    pub(crate) next_key: Arc<AtomicU64>,
    pub(crate) events: Sender<ShardEvent>,
    pub(crate) commands: Receiver<ShardCommand>,
    pub(crate) wake: Arc<Notify>,
    pub(crate) buffers: usize,
}

/// Per-shard state shared by the shard's tasks (single thread: `Rc`/`RefCell`).
pub(crate) struct ShardState {
    pub(crate) id: usize,
    pub(crate) config: Arc<Config>,
    pub(crate) registry: Registry,
    pub(crate) peer_id: [u8; 20],
    pub(crate) client_name: String,
    /// The port peers reach us on (BEP 10 `p`); changes with the IPC's `port`.
    pub(crate) listen_port: Cell<u16>,
    /// The current listener's descriptor and generation: a new listener
    /// shuts the old one down and bumps the generation, which ends the old
    /// accept loop (no cancellation of a pending accept, see STYLE.md).
    listener_fd: Cell<std::os::fd::RawFd>,
    listener_gen: Cell<u64>,
    pub(crate) events: Sender<ShardEvent>,
    pub(crate) buffers: BlockBuffers,
    pub(crate) files: FileCache,
    /// Extents read for misses (the cold path); `None` with
    /// `[storage] read_cache_mib = 0`.
    pub(crate) read_cache: Option<ReadCache>,
    pub(crate) budget: Budget,
    bans: BanList,
    whitelist: Vec<Cidr>,
    next_key: Arc<AtomicU64>,
    peers: RefCell<HashMap<PeerKey, Rc<Peer>>>,
    peer_ids: RefCell<HashSet<(InfoHash, [u8; 20])>>,
    /// Connections still in the handshake (kept as a count: the accept
    /// loop checks it per connection).
    pending_handshakes: Cell<usize>,
    /// Outgoing connects not yet answered (TCP half-open), capped at
    /// `trackers.max_half_open` (the coordinator keeps the same cap over
    /// all shards; this is the shard's own backstop).
    half_open: Cell<usize>,
    pub(crate) stats: RefCell<ShardStats>,
    /// How blocks reach the socket now: the configured mode, or `fixed`
    /// once the kernel refused the configured one.
    pub send_mode: Cell<SendMode>,
    /// The ring for splice and zerocopy sends (absent in `fixed` mode).
    pub(crate) side: Option<Rc<side_ring::SideRing>>,
    /// Files reported unreadable, and when (reported again at most every few seconds).
    unreadable_reported: RefCell<HashMap<(InfoHash, usize), Instant>>,
}

impl ShardStats {
    fn note_block(&mut self, bytes: u64, serve_time: Duration) {
        self.blocks_sent += 1;
        self.bytes_sent += bytes;
        if self.serve_time_us.len() < SERVE_SAMPLES {
            self.serve_time_us
                .push(serve_time.as_micros().min(u32::MAX as u128) as u32);
        }
    }
}

impl ShardState {
    fn count_op(&self) {
        self.count_ops(1);
    }

    fn count_ops(&self, n: usize) {
        self.stats.borrow_mut().uring_ops += n as u64;
    }

    fn remove_peer(&self, key: PeerKey) {
        if let Some(p) = self.peers.borrow_mut().remove(&key) {
            let st = p.st.borrow();
            if !st.handshake_done {
                self.pending_handshakes
                    .set(self.pending_handshakes.get() - 1);
            }
            if let Some(t) = &st.torrent {
                self.peer_ids
                    .borrow_mut()
                    .remove(&(t.meta.info_hash, st.peer_id));
            }
        }
    }

    fn has_peer_id(&self, ih: &InfoHash, id: &[u8; 20]) -> bool {
        self.peer_ids.borrow().contains(&(*ih, *id))
    }

    fn note_peer_id(&self, ih: InfoHash, id: [u8; 20]) {
        self.peer_ids.borrow_mut().insert((ih, id));
    }

    /// Marks a peer's handshake as done and takes it off the pending count.
    fn handshake_done(&self, st: &mut peer::PeerState) {
        if !st.handshake_done {
            st.handshake_done = true;
            self.pending_handshakes
                .set(self.pending_handshakes.get() - 1);
        }
    }

    fn whitelisted(&self, ip: IpAddr) -> bool {
        self.whitelist.iter().any(|c| c.contains(ip))
    }

    fn banned(&self, ip: IpAddr) -> bool {
        self.bans.read().refuses(ip, Instant::now())
    }

    /// Tells the coordinator about a connection refused before it got a key.
    fn refused(&self, addr: SocketAddr, reason: DisconnectReason) {
        tracing::debug!(peer = %addr, %reason, "peer closed");
        let _ = self.events.send(ShardEvent::Closed {
            key: None,
            reason,
            peer: Some(Box::new(ClosedPeer {
                addr,
                info_hash: None,
                client: None,
                source: crate::messages::PeerSource::INCOMING,
            })),
        });
    }

    /// Registers a new connection and starts its task.
    fn adopt(
        self: &Rc<Self>,
        stream: tokio_uring::net::TcpStream,
        addr: SocketAddr,
        outgoing: Option<(InfoHash, crate::messages::PeerSource)>,
    ) {
        if self.config.network.tcp_nodelay {
            let _ = stream.set_nodelay(true);
        }
        let key = PeerKey(self.next_key.fetch_add(1, Ordering::Relaxed));
        let source = outgoing.map_or(crate::messages::PeerSource::INCOMING, |o| o.1);
        let peer = Rc::new(Peer::new(
            key,
            addr,
            stream,
            outgoing.is_some(),
            source,
            self.whitelisted(addr.ip()),
        ));
        self.peers.borrow_mut().insert(key, peer.clone());
        self.pending_handshakes
            .set(self.pending_handshakes.get() + 1);
        self.stats.borrow_mut().connections += 1;
        tokio_uring::spawn(reader::serve(self.clone(), peer, outgoing.map(|o| o.0)));
    }

    /// Tells the coordinator that a file of a torrent cannot be read (once
    /// per file every [`UNREADABLE_REPORT`]).
    fn unreadable(
        &self,
        torrent: &crate::torrent::Torrent,
        file: usize,
        error: &crate::storage::read::ReadError,
    ) {
        let key = (torrent.meta.info_hash, file);
        let now = Instant::now();
        let mut reported = self.unreadable_reported.borrow_mut();
        if reported
            .get(&key)
            .is_some_and(|t| now - *t < UNREADABLE_REPORT)
        {
            return;
        }
        reported.retain(|_, t| now - *t < UNREADABLE_REPORT);
        reported.insert(key, now);
        let _ = self.events.send(ShardEvent::Unreadable {
            info_hash: torrent.meta.info_hash,
            file: file as u32,
            error: crate::messages::IoFailure::of(error),
        });
    }

    fn at_capacity(&self) -> bool {
        self.peers.borrow().len() >= self.config.network.max_peers_per_shard
            || self.pending_handshakes.get() >= self.config.network.max_pending_handshakes
    }
}

/// Runs a shard until the coordinator says `Shutdown`. Call on the shard's own thread.
///
/// The shard's share of the read cache (`[storage] read_cache_mib` and
/// `device_queue_depth` are for all shards together), or `None` when it is off.
fn read_cache_for(config: &Config, shards: usize) -> Option<ReadCache> {
    let s = &config.storage;
    if s.read_cache_mib == 0 {
        return None;
    }
    Some(ReadCache::new(
        (s.read_cache_mib << 20) / shards,
        s.read_window_kib.saturating_mul(1024),
        s.device_queue_depth.div_ceil(shards),
        s.cold_reads != crate::config::ColdReads::PageCache,
    ))
}

/// Whether read-cache misses bypass the page cache now (`[storage]
/// cold_reads`): `auto` says yes while the torrents seeded are larger than
/// half of what the page cache may hold.
fn cold_reads_direct(shard: &ShardState, room: u64) -> bool {
    match shard.config.storage.cold_reads {
        crate::config::ColdReads::Direct => true,
        crate::config::ColdReads::PageCache => false,
        crate::config::ColdReads::Auto => {
            let seeded: u64 = shard
                .registry
                .read()
                .values()
                .filter_map(|e| match e {
                    crate::torrent::TorrentEntry::Ready(t) => Some(t.meta.lengths.total_length()),
                    _ => None,
                })
                .sum();
            seeded > room / 2
        }
    }
}

/// Errors: the ring cannot be created (io_uring unavailable or disabled).
pub(crate) fn run(ctx: ShardContext) -> std::io::Result<()> {
    // A ring's own memory may count against RLIMIT_MEMLOCK too: if the full
    // size cannot be had, try smaller rings before giving up.
    let mut entries = RING_ENTRIES;
    let rt = loop {
        match tokio_uring::Runtime::new(tokio_uring::builder().entries(entries)) {
            Ok(rt) => break rt,
            Err(e) if entries > 16 => {
                tracing::warn!(shard = ctx.id, entries, error = %e, "cannot create io_uring ring; trying a smaller one");
                entries /= 4;
            }
            Err(e) => return Err(e),
        }
    };
    rt.block_on(async move {
        let buffers = BlockBuffers::new(ctx.id, ctx.buffers, ctx.config.storage.direct_io);
        let shards = ctx.config.shard_count().max(1);
        let whitelist = ctx.config.whitelist().unwrap_or_default();
        let (send_mode, side) = side_ring_for(ctx.id, &ctx.config);
        tracing::debug!(
            shard = ctx.id,
            registered = buffers.registered(),
            ?send_mode,
            pipe_bytes = side.as_ref().map_or(0, |s| s.pipe_capacity()),
            "shard started"
        );
        let shard = Rc::new(ShardState {
            send_mode: Cell::new(send_mode),
            side,
            id: ctx.id,
            files: FileCache::new((ctx.config.storage.max_open_files / shards).max(8))
                .random_access(),
            read_cache: read_cache_for(&ctx.config, shards),
            config: ctx.config,
            registry: ctx.registry,
            peer_id: ctx.peer_id,
            client_name: ctx.client_name,
            listen_port: Cell::new(ctx.listen_port),
            listener_fd: Cell::new(-1),
            listener_gen: Cell::new(0),
            events: ctx.events,
            stats: RefCell::new(ShardStats {
                shard: ctx.id,
                registered_buffers: buffers.registered() as u64,
                registration_failed: ctx.buffers > 0 && buffers.registered() == 0,
                ..Default::default()
            }),
            buffers,
            budget: Budget::default(),
            bans: ctx.bans,
            whitelist,
            next_key: ctx.next_key,
            peers: RefCell::new(HashMap::new()),
            peer_ids: RefCell::new(HashSet::new()),
            pending_handshakes: Cell::new(0),
            half_open: Cell::new(0),
            unreadable_reported: RefCell::new(HashMap::new()),
        });
        start_accepting(&shard, ctx.listener);
        tokio_uring::spawn(housekeeping(shard.clone()));
        // Command loop.
        loop {
            ctx.wake.notified().await;
            while let Ok(cmd) = ctx.commands.try_recv() {
                if let ShardCommand::Shutdown = cmd {
                    close_all(&shard, |_| true, DisconnectReason::Shutdown).await;
                    return Ok(());
                }
                command(&shard, cmd).await;
            }
        }
    })
}

/// The send mode a shard starts with and its side ring: `fixed` needs no
/// ring; `splice` (page-cache reads only) and `zc` need one whose kernel
/// supports their operations, else the shard falls back to `fixed` with a
/// warning.
fn side_ring_for(id: usize, config: &Config) -> (SendMode, Option<Rc<side_ring::SideRing>>) {
    if !side_ring::wanted(config) {
        return (SendMode::Fixed, None);
    }
    let want = config.network.send_mode;
    let pipes = side_ring::pipes_per_shard(
        crate::rlimit::nofile().unwrap_or(u64::MAX),
        config.shard_count().max(1),
    );
    match side_ring::SideRing::new(pipes) {
        Ok(r) => {
            let ok = match want {
                SendMode::Splice => r.splice,
                _ => r.send_zc,
            };
            if ok {
                (want, Some(r))
            } else {
                tracing::warn!(shard = id, mode = ?want, "the kernel does not support this send mode's io_uring operations; sending with fixed");
                (SendMode::Fixed, None)
            }
        }
        Err(e) => {
            tracing::warn!(shard = id, mode = ?want, error = %e, "cannot create the side io_uring ring; sending with fixed");
            (SendMode::Fixed, None)
        }
    }
}

impl ShardState {
    /// The configured send path failed in a way that will not get better
    /// (the kernel or file system refuses the operation): warn once and
    /// send with `fixed` from now on.
    pub(crate) fn send_path_failed(&self, mode: SendMode, error: &std::io::Error) {
        if self.send_mode.get() == mode {
            tracing::warn!(shard = self.id, ?mode, %error, "send path refused; falling back to fixed");
            self.send_mode.set(SendMode::Fixed);
        }
    }
}

fn peer_of(shard: &ShardState, key: PeerKey) -> Option<Rc<Peer>> {
    shard.peers.borrow().get(&key).cloned()
}

async fn command(shard: &Rc<ShardState>, cmd: ShardCommand) {
    match cmd {
        ShardCommand::Choke(k) => {
            if let Some(p) = peer_of(shard, k) {
                p.choke();
            }
        }
        ShardCommand::Unchoke(k) => {
            if let Some(p) = peer_of(shard, k) {
                p.unchoke();
            }
        }
        ShardCommand::Close(k, reason) => {
            if let Some(p) = peer_of(shard, k) {
                p.close(reason);
            }
        }
        ShardCommand::CloseTorrent(ih, reason) => {
            let all: Vec<Rc<Peer>> = shard.peers.borrow().values().cloned().collect();
            for p in all {
                let of_torrent =
                    p.st.borrow()
                        .torrent
                        .as_ref()
                        .is_some_and(|t| t.meta.info_hash == ih);
                if of_torrent {
                    p.close(reason);
                }
            }
            shard.files.forget(&ih);
            if let Some(c) = &shard.read_cache {
                c.forget(&ih);
            }
        }
        ShardCommand::Connect {
            info_hash,
            addr,
            source,
        } => {
            if shard.at_capacity()
                || shard.half_open.get() >= shard.config.trackers.max_half_open.max(1)
            {
                let _ = shard.events.send(ShardEvent::Closed {
                    key: None,
                    reason: DisconnectReason::TooManyPeers,
                    peer: Some(Box::new(ClosedPeer {
                        addr,
                        info_hash: Some(info_hash),
                        client: None,
                        source,
                    })),
                });
                return;
            }
            shard.half_open.set(shard.half_open.get() + 1);
            let shard = shard.clone();
            tokio_uring::spawn(async move {
                // The kernel gives up on an unanswered SYN after its own
                // retries (net.ipv4.tcp_syn_retries, about 2 minutes by
                // default); the slot is held until then. A connect is never
                // dropped mid-flight (tokio-uring would leak its descriptor).
                let r = tokio_uring::net::TcpStream::connect(addr).await;
                shard.half_open.set(shard.half_open.get() - 1);
                match r {
                    Ok(stream) => shard.adopt(stream, addr, Some((info_hash, source))),
                    Err(e) => {
                        tracing::debug!(peer = %addr, error = %e, "connect failed");
                        let _ = shard.events.send(ShardEvent::Closed {
                            key: None,
                            reason: DisconnectReason::ConnectFailed,
                            peer: Some(Box::new(ClosedPeer {
                                addr,
                                info_hash: Some(info_hash),
                                client: None,
                                source,
                            })),
                        });
                    }
                }
            });
        }
        ShardCommand::Budget(grant) => {
            let used = shard.budget.apply(shard.id, grant);
            let _ = shard.events.send(ShardEvent::Budget(used));
        }
        ShardCommand::Listen { listener, port } => {
            if let Some(l) = listener.take() {
                shard.listen_port.set(port);
                start_accepting(shard, l);
                tracing::debug!(shard = shard.id, port, "shard listening on port {port}");
            }
        }
        ShardCommand::Shutdown => {}
    }
}

/// Accepts on `listener` from now on: the previous listener (if any) is
/// shut down, so its pending accept completes with an error and its loop,
/// seeing a newer generation, ends and closes it. Connected peers stay.
fn start_accepting(shard: &Rc<ShardState>, listener: std::net::TcpListener) {
    let old = shard.listener_fd.replace(listener.as_raw_fd());
    let generation = shard.listener_gen.get() + 1;
    shard.listener_gen.set(generation);
    if old >= 0 {
        // SAFETY: `old` belongs to the previous accept loop's listener,
        // which stays open until that loop ends; shutdown(2) only wakes it.
        unsafe { libc::shutdown(old, libc::SHUT_RDWR) };
    }
    let listener = tokio_uring::net::TcpListener::from_std(listener);
    tokio_uring::spawn(accept_loop(shard.clone(), listener, generation));
}

/// Closes every peer matching `pred` and lets their tasks report (≤ 0.5 s).
async fn close_all(shard: &ShardState, pred: impl Fn(&Peer) -> bool, reason: DisconnectReason) {
    let all: Vec<Rc<Peer>> = shard.peers.borrow().values().cloned().collect();
    for p in all.iter().filter(|p| pred(p)) {
        p.close(reason);
    }
    for _ in 0..50 {
        if shard.peers.borrow().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn accept_loop(
    shard: Rc<ShardState>,
    listener: tokio_uring::net::TcpListener,
    generation: u64,
) {
    // No timeout or select! around accept: a cancelled accept can leak its
    // descriptor. A newer listener ends this loop by shutting this one down.
    let mut backoff = crate::accept::AcceptBackoff::default();
    loop {
        let accepted = listener.accept().await;
        let superseded = shard.listener_gen.get() != generation;
        let (stream, addr) = match accepted {
            Ok(x) => {
                backoff.accepted();
                x
            }
            Err(_) if superseded => return,
            Err(e) => {
                // Descriptor exhaustion fails every accept: back off, and log
                // once per 10 s with the count of the ones not logged.
                shard.stats.borrow_mut().accept_errors += 1;
                let (wait, log) = backoff.failed();
                if let Some(suppressed) = log {
                    tracing::warn!(shard = shard.id, error = %e, suppressed, "accept failed; backing off");
                }
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        if shard.at_capacity() {
            drop(stream);
            shard.refused(addr, DisconnectReason::TooManyPeers);
            continue;
        }
        if shard.banned(addr.ip()) {
            drop(stream);
            shard.refused(addr, DisconnectReason::Banned);
            continue;
        }
        shard.adopt(stream, addr, None);
        if superseded {
            // Accepted just before the switch: served; this loop ends.
            return;
        }
    }
}

/// Smoothed and minimum RTT of a socket in microseconds from the kernel
/// (`TCP_INFO`); (0, 0) when unknown.
pub(crate) fn tcp_rtt_us(fd: std::os::fd::RawFd) -> (u32, u32) {
    // SAFETY: TCP_INFO fills a `tcp_info` we own; len tells the kernel its size.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let r = libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            &mut info as *mut _ as *mut libc::c_void,
            &mut len,
        );
        if r == 0 {
            (info.tcpi_rtt, info.tcpi_min_rtt)
        } else {
            (0, 0)
        }
    }
}

/// Every second: timeouts, keep-alives, and the snapshot to the coordinator.
async fn housekeeping(shard: Rc<ShardState>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let cfg = shard.config.clone();
    let (handshake_timeout, idle_timeout, receive_timeout, write_timeout) = (
        cfg.handshake_timeout(),
        cfg.idle_timeout(),
        cfg.receive_timeout(),
        cfg.write_timeout(),
    );
    let reqq = cfg.network.reqq as u32;
    let room = crate::storage::cache::page_cache_room();
    loop {
        tick.tick().await;
        if let Some(side) = &shard.side {
            side.trim();
        }
        if let Some(c) = &shard.read_cache {
            c.set_direct(cold_reads_direct(&shard, room));
        }
        let now = Instant::now();
        let now_unix = crate::messages::unix_now();
        let peers: Vec<Rc<Peer>> = shard.peers.borrow().values().cloned().collect();
        let mut snaps = Vec::with_capacity(peers.len());
        for p in &peers {
            let (reason, keepalive, done) = {
                let st = p.st.borrow();
                let reason = if st.close.is_some() {
                    None
                } else if !st.handshake_done && now - st.connected_at > handshake_timeout {
                    Some(DisconnectReason::HandshakeTimeout)
                } else if st.handshake_done
                    && !st.peer_interested
                    && now - st.interest_changed_at > idle_timeout
                {
                    Some(DisconnectReason::UselessPeer)
                } else if st.handshake_done && now - st.last_recv > receive_timeout {
                    Some(DisconnectReason::Idle)
                } else if st.write_started.is_some_and(|t| now - t > write_timeout) {
                    Some(DisconnectReason::WriteTimeout)
                } else {
                    None
                };
                (
                    reason,
                    st.handshake_done && now - st.last_send > KEEPALIVE && st.outbox.is_empty(),
                    st.handshake_done,
                )
            };
            if let Some(r) = reason {
                p.close(r);
                continue;
            }
            if keepalive {
                p.send(Message::KeepAlive);
            }
            p.tick(reqq);
            if done {
                snaps.push(p.snapshot(tcp_rtt_us(p.stream.as_raw_fd()), now, now_unix));
            }
        }
        let stats = {
            let mut s = shard.stats.borrow_mut();
            s.registered_buffers_in_use = shard.buffers.in_use() as u64;
            s.plain_buffer_blocks = shard.buffers.plain_given();
            s.splice_pipes = shard.side.as_ref().map_or(0, |r| r.pipes_open() as u64);
            s.connections = peers.len() as u64;
            s.read_cache = shard.read_cache.as_ref().map(|c| c.snapshot());
            let samples = std::mem::take(&mut s.serve_time_us);
            ShardStats {
                serve_time_us: samples,
                ..s.clone()
            }
        };
        let _ = shard.events.send(ShardEvent::Snapshot {
            stats,
            peers: snaps,
        });
    }
}
