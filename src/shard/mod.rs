//! A shard: one thread, one `tokio_uring` runtime (its own ring), its own
//! SO_REUSEPORT listener on the shared port, its own peers and registered
//! buffers. A peer lives on exactly one shard; nothing here is shared with
//! other shards except the read-mostly torrent registry (read at handshake).
//!
//! Tasks on a shard: the accept loop, one reader and one writer per peer,
//! housekeeping (timeouts, keep-alives, the per-second snapshot to the
//! coordinator), and the command loop (choke/unchoke/shutdown from the
//! coordinator, woken through a `Notify`; never a blocking `recv`).

pub mod buffers;
pub mod conn;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use ringseed_proto::metainfo::InfoHash;
use ringseed_proto::wire::Message;
use tokio::sync::Notify;

use crate::config::Config;
use crate::coordinator::{PeerKey, PeerSnapshot, ShardCommand, ShardEvent, ShardStats};
use crate::disconnect::DisconnectReason;
use crate::session::{Registry, Torrent};
use buffers::BlockBuffers;
use conn::Peer;

/// Submission queue entries per ring: generous, since a full queue whose
/// submit fails panics in tokio-uring 0.5, and every idle peer keeps a read
/// in flight.
const RING_ENTRIES: u32 = 4096;
/// A keep-alive goes out when nothing was sent for this long (BEP 3 peers
/// drop connections silent for ~2 minutes).
const KEEPALIVE: Duration = Duration::from_secs(90);

/// A cached open file: (torrent, file index, opened with O_DIRECT).
type FileKey = (InfoHash, usize, bool);

/// What a shard thread is handed at start.
pub struct ShardContext {
    pub id: usize,
    pub config: Arc<Config>,
    pub registry: Registry,
    pub listener: std::net::TcpListener,
    pub listen_port: u16,
    pub peer_id: [u8; 20],
    pub client_name: String,
    pub events: Sender<ShardEvent>,
    pub commands: Receiver<ShardCommand>,
    pub wake: Arc<Notify>,
    pub buffers: usize,
}

/// Per-shard state shared by the shard's tasks (single thread: `Rc`/`RefCell`).
pub struct ShardState {
    pub id: usize,
    pub config: Arc<Config>,
    pub registry: Registry,
    pub peer_id: [u8; 20],
    pub client_name: String,
    pub listen_port: u16,
    pub events: Sender<ShardEvent>,
    pub buffers: BlockBuffers,
    peers: RefCell<HashMap<PeerKey, Rc<Peer>>>,
    peer_ids: RefCell<HashSet<(InfoHash, [u8; 20])>>,
    /// Open files per (torrent, file index, O_DIRECT); `None` remembers a failed open.
    files: RefCell<HashMap<FileKey, Option<Rc<tokio_uring::fs::File>>>>,
    next_key: Cell<u64>,
    /// Connections still in the handshake (kept as a count: the accept
    /// loop checks it per connection).
    pending_handshakes: Cell<usize>,
    pub stats: RefCell<ShardStats>,
}

/// Block serve times kept per shard per second at most (a sample, enough
/// for the histogram's quantiles; the rest are counted but not timed).
const SERVE_SAMPLES: usize = 2048;

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
        self.stats.borrow_mut().uring_ops += 1;
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

    /// An open file of a torrent, cached per shard (`direct`: opened with O_DIRECT).
    fn file(
        &self,
        torrent: &Torrent,
        index: usize,
        direct: bool,
    ) -> Option<Rc<tokio_uring::fs::File>> {
        let key = (torrent.meta.info_hash, index, direct);
        if let Some(f) = self.files.borrow().get(&key) {
            return f.clone();
        }
        let path = torrent.files.get(index)?.path.as_ref()?;
        let mut opts = std::fs::OpenOptions::new();
        opts.read(true);
        if direct {
            use std::os::unix::fs::OpenOptionsExt;
            opts.custom_flags(libc::O_DIRECT);
        }
        let f = match opts.open(path) {
            Ok(f) => Some(Rc::new(tokio_uring::fs::File::from_std(f))),
            Err(e) => {
                // Logged once per shard and file: the failure is remembered. For
                // O_DIRECT (unsupported by some filesystems, tmpfs among them)
                // blocks of this file are read through the page cache instead.
                tracing::warn!(shard = self.id, file = %path.display(), error = %e, direct, "cannot open file");
                None
            }
        };
        self.files.borrow_mut().insert(key, f.clone());
        f
    }

    /// Marks a peer's handshake as done and takes it off the pending count.
    fn handshake_done(&self, st: &mut conn::PeerState) {
        if !st.handshake_done {
            st.handshake_done = true;
            self.pending_handshakes
                .set(self.pending_handshakes.get() - 1);
        }
    }
}

/// Runs a shard until the coordinator says `Shutdown`. Call on the shard's own thread.
///
/// Errors: the ring cannot be created (io_uring unavailable or disabled).
pub fn run(ctx: ShardContext) -> std::io::Result<()> {
    // A ring's own memory may count against RLIMIT_MEMLOCK too: if the full
    // size cannot be had, try smaller rings before giving up.
    let mut entries = RING_ENTRIES;
    let rt = loop {
        match tokio_uring::Runtime::new(tokio_uring::builder().entries(entries)) {
            Ok(rt) => break rt,
            Err(e) if entries > 256 => {
                tracing::warn!(shard = ctx.id, entries, error = %e, "cannot create io_uring ring; trying a smaller one");
                entries /= 4;
            }
            Err(e) => return Err(e),
        }
    };
    rt.block_on(async move {
        let buffers = BlockBuffers::new(ctx.id, ctx.buffers, ctx.config.direct_io);
        tracing::debug!(
            shard = ctx.id,
            registered = buffers.registered(),
            "shard started"
        );
        let shard = Rc::new(ShardState {
            id: ctx.id,
            config: ctx.config,
            registry: ctx.registry,
            peer_id: ctx.peer_id,
            client_name: ctx.client_name,
            listen_port: ctx.listen_port,
            events: ctx.events,
            stats: RefCell::new(ShardStats {
                shard: ctx.id,
                registered_buffers: buffers.registered() as u64,
                ..Default::default()
            }),
            buffers,
            peers: RefCell::new(HashMap::new()),
            peer_ids: RefCell::new(HashSet::new()),
            files: RefCell::new(HashMap::new()),
            next_key: Cell::new(0),
            pending_handshakes: Cell::new(0),
        });
        let listener = tokio_uring::net::TcpListener::from_std(ctx.listener);
        tokio_uring::spawn(accept_loop(shard.clone(), listener));
        tokio_uring::spawn(housekeeping(shard.clone()));
        // Command loop.
        loop {
            ctx.wake.notified().await;
            while let Ok(cmd) = ctx.commands.try_recv() {
                match cmd {
                    ShardCommand::Choke(k) | ShardCommand::Unchoke(k) => {
                        let peer = shard.peers.borrow().get(&k).cloned();
                        if let Some(p) = peer {
                            if matches!(cmd, ShardCommand::Choke(_)) {
                                p.choke()
                            } else {
                                p.unchoke()
                            }
                        }
                    }
                    ShardCommand::Shutdown => {
                        let all: Vec<Rc<Peer>> = shard.peers.borrow().values().cloned().collect();
                        for p in &all {
                            p.close(DisconnectReason::Shutdown);
                        }
                        // Let the peer tasks see their sockets close and report.
                        for _ in 0..50 {
                            if shard.peers.borrow().is_empty() {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        return Ok(());
                    }
                }
            }
        }
    })
}

async fn accept_loop(shard: Rc<ShardState>, listener: tokio_uring::net::TcpListener) {
    // No timeout or select! around accept: a cancelled accept can leak its descriptor.
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(shard = shard.id, error = %e, "accept failed");
                metrics::counter!("ringseed_accept_errors_total").increment(1);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let n = shard.peers.borrow().len();
        if n >= shard.config.max_peers_per_shard
            || shard.pending_handshakes.get() >= shard.config.max_pending_handshakes
        {
            drop(stream);
            let _ = shard.events.send(ShardEvent::Closed {
                key: u64::MAX,
                reason: DisconnectReason::TooManyPeers,
            });
            continue;
        }
        if shard.config.tcp_nodelay {
            let _ = stream.set_nodelay(true);
        }
        let key = ((shard.id as u64) << 48) | shard.next_key.get();
        shard.next_key.set(shard.next_key.get() + 1);
        let peer = Rc::new(Peer::new(key, addr, stream));
        shard.peers.borrow_mut().insert(key, peer.clone());
        shard
            .pending_handshakes
            .set(shard.pending_handshakes.get() + 1);
        shard.stats.borrow_mut().connections += 1;
        tokio_uring::spawn(conn::serve(shard.clone(), peer));
    }
}

/// Smoothed RTT of a socket in microseconds from the kernel (`TCP_INFO`).
pub fn tcp_rtt_us(fd: std::os::fd::RawFd) -> u32 {
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
            info.tcpi_rtt
        } else {
            0
        }
    }
}

/// Every second: timeouts, keep-alives, and the snapshot to the coordinator.
async fn housekeeping(shard: Rc<ShardState>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = Instant::now();
        let peers: Vec<Rc<Peer>> = shard.peers.borrow().values().cloned().collect();
        let mut snaps = Vec::with_capacity(peers.len());
        for p in &peers {
            let (reason, keepalive) = {
                let st = p.st.borrow();
                let reason = if st.close.is_some() {
                    None
                } else if !st.handshake_done
                    && now - st.connected_at > shard.config.handshake_timeout
                {
                    Some(DisconnectReason::HandshakeTimeout)
                } else if st.handshake_done
                    && !st.peer_interested
                    && now - st.interest_changed_at > shard.config.idle_timeout
                {
                    Some(DisconnectReason::Idle)
                } else if st
                    .write_started
                    .is_some_and(|t| now - t > shard.config.write_timeout)
                {
                    Some(DisconnectReason::WriteTimeout)
                } else {
                    None
                };
                (
                    reason,
                    st.handshake_done && now - st.last_send > KEEPALIVE && st.outbox.is_empty(),
                )
            };
            if let Some(r) = reason {
                p.close(r);
                continue;
            }
            if keepalive {
                p.send(Message::KeepAlive);
            }
            p.tick(shard.config.reqq as u32);
            let st = p.st.borrow();
            if st.handshake_done {
                snaps.push(PeerSnapshot {
                    key: p.key,
                    am_choking: st.am_choking,
                    uploaded: st.uploaded,
                    downloaded: st.downloaded,
                    queue_len: st.requests.len() as u32,
                    have_count: st.have_count,
                    // Only the metrics use the RTT: no syscall per peer otherwise.
                    rtt_us: if shard.config.metrics.is_some() {
                        tcp_rtt_us(p.stream.as_raw_fd())
                    } else {
                        0
                    },
                    score: st.score,
                    client: st.client.clone(),
                });
            }
        }
        let stats = {
            let mut s = shard.stats.borrow_mut();
            s.registered_buffers_in_use = shard.buffers.in_use() as u64;
            s.connections = peers.len() as u64;
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
