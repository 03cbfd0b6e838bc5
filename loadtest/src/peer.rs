//! One leecher connection: the BEP 3 handshake and message loop, with the
//! BEP 6 Fast extension and the BEP 10 extension handshake.
//!
//! A peer is one tokio task owning its `TcpStream`. It reads into its own
//! buffer (64 KiB, grown only for an oversized bitfield), parses frames in
//! place with [`parse_frame`], and hashes block data straight out of that
//! buffer when blocks arrive in order; only out-of-order blocks are copied,
//! into recycled 16 KiB buffers. Requests are batched into one write per
//! read. Counters go to the shared [`crate::stats::Stats`] once per read.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::distributions::Alphanumeric;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use ringseed_proto::bitfield::Bitfield;
use ringseed_proto::lengths::BLOCK_LEN;
use ringseed_proto::wire::{
    parse_frame, ExtHandshake, Handshake, Message, WireError, HANDSHAKE_LEN,
};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::timeout;

use crate::{Shared, TorrentState};

/// Client name sent in the BEP 10 extension handshake (`v`).
const CLIENT: &str = "ringseed-loadtest 0.1";
/// Peer id prefix (Azureus style); 12 random characters follow.
const PEER_ID_PREFIX: &[u8; 8] = b"-RL0001-";
/// Send a keep-alive after this long without sending anything (BEP 3 peers drop after 2 min).
const KEEPALIVE: Duration = Duration::from_secs(90);
/// Give up on a seeder that sent nothing for this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Outstanding requests with no block received for this long are considered lost.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Limit on one write of our requests.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Initial read buffer size, bytes.
const READ_BUF: usize = 64 * 1024;
/// Compact the read buffer when less than this much room is left at its end.
const MIN_READ: usize = 16 * 1024 + 64;
/// Latency samples a peer keeps before merging them into the shared histogram.
const LAT_BATCH: usize = 1024;

const FREE: u8 = 0;
const REQUESTED: u8 = 1;
const RECEIVED: u8 = 2;

/// Why a connection ended: a kind (the key in `Report::error_kinds`) and details.
pub(crate) struct PeerError {
    kind: &'static str,
    detail: String,
}

fn err(kind: &'static str, detail: impl Into<String>) -> PeerError {
    PeerError {
        kind,
        detail: detail.into(),
    }
}

fn io_err(e: io::Error, during: &str) -> PeerError {
    let kind = match e.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe => "seeder closed",
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => "connection reset",
        _ => "io error",
    };
    err(kind, format!("{during}: {e}"))
}

/// The task of peer number `no`: runs the connection until it fails or the
/// swarm stops, then records its error and hands back its unfinished pieces.
pub(crate) async fn peer_task(shared: Arc<Shared>, no: usize, mut stop: watch::Receiver<bool>) {
    let mut peer = Peer::new(shared.clone(), no);
    let res = tokio::select! {
        r = peer.run() => r,
        _ = stop.wait_for(|s| *s) => Ok(()),
    };
    let stopping = *stop.borrow();
    if let Err(e) = res {
        if !stopping {
            shared.stats.error(e.kind, e.detail);
        }
    }
    peer.cleanup();
    shared.wake.notify_one();
}

/// The socket read buffer: `buf[start..end]` holds unparsed bytes.
struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    fn new() -> Self {
        ReadBuf {
            buf: vec![0; READ_BUF],
            start: 0,
            end: 0,
        }
    }

    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Makes room for the rest of the partial frame at `start` (the frame is
    /// known to be at most `max_frame` payload bytes: `parse_frame` checked).
    fn prepare(&mut self) {
        let pending = self.end - self.start;
        let need = if pending >= 4 {
            let b = &self.buf[self.start..];
            4 + u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        } else {
            4
        };
        if self.buf.len() - self.start < need || self.buf.len() - self.end < MIN_READ {
            self.buf.copy_within(self.start..self.end, 0);
            self.start = 0;
            self.end = pending;
            if self.buf.len() < need {
                self.buf.resize(need, 0);
            }
        }
    }

    /// One read from the socket (cancel safe: data is only taken when the read completes).
    async fn fill(&mut self, s: &mut TcpStream) -> io::Result<usize> {
        if self.end == self.buf.len() {
            self.prepare();
        }
        let n = s.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }
}

/// A piece being downloaded.
struct Active {
    index: u32,
    nblocks: u32,
    /// Per block: FREE, REQUESTED or RECEIVED.
    state: Vec<u8>,
    /// When each block was requested.
    sent: Vec<Instant>,
    /// No FREE block below this index.
    next_free: u32,
    requested: u32,
    received: u32,
    hasher: Sha1,
    /// Blocks below this index are hashed.
    hashed: u32,
    /// Blocks received ahead of `hashed`, waiting their turn.
    pending: Vec<(u32, Vec<u8>)>,
}

impl Active {
    fn new() -> Self {
        Active {
            index: 0,
            nblocks: 0,
            state: Vec::new(),
            sent: Vec::new(),
            next_free: 0,
            requested: 0,
            received: 0,
            hasher: Sha1::new(),
            hashed: 0,
            pending: Vec::new(),
        }
    }

    fn reset(&mut self, index: u32, nblocks: u32, now: Instant) {
        self.index = index;
        self.nblocks = nblocks;
        self.state.clear();
        self.state.resize(nblocks as usize, FREE);
        self.sent.clear();
        self.sent.resize(nblocks as usize, now);
        self.next_free = 0;
        self.requested = 0;
        self.received = 0;
        Digest::reset(&mut self.hasher);
        self.hashed = 0;
    }

    fn has_free(&self) -> bool {
        self.requested + self.received < self.nblocks
    }

    fn next_free_block(&mut self) -> Option<u32> {
        while self.next_free < self.nblocks {
            if self.state[self.next_free as usize] == FREE {
                return Some(self.next_free);
            }
            self.next_free += 1;
        }
        None
    }

    /// Returns a requested block to FREE (choke, reject, timeout).
    fn free(&mut self, b: u32) {
        self.state[b as usize] = FREE;
        self.requested -= 1;
        self.next_free = self.next_free.min(b);
    }

    /// Every REQUESTED block back to FREE; returns how many.
    fn free_all_requested(&mut self) -> u32 {
        let n = self.requested;
        if n > 0 {
            for b in 0..self.nblocks {
                if self.state[b as usize] == REQUESTED {
                    self.free(b);
                }
            }
        }
        n
    }
}

struct Peer {
    sh: Arc<Shared>,
    /// The torrent this peer downloads.
    tor: Arc<TorrentState>,
    no: usize,
    rng: StdRng,
    num_pieces: u32,
    verify: bool,
    /// The seeder set the BEP 6 bit.
    fast: bool,
    has_all: bool,
    /// The pieces the seeder's bitfield and `have`s announced.
    has: Bitfield,
    /// BEP 6 allowed-fast pieces the seeder offered.
    allowed_fast: Vec<u32>,
    choked: bool,
    /// Requests to keep in flight: queue_depth, capped by the seeder's reqq.
    depth: usize,
    /// The seeder's BEP 10 `reqq` (unbounded until it says one).
    reqq_cap: usize,
    outstanding: usize,
    active: Vec<Active>,
    spare: Vec<Active>,
    /// Recycled 16 KiB buffers for out-of-order blocks.
    pool: Vec<Vec<u8>>,
    /// Block latencies not yet merged, µs.
    lat: Vec<u32>,
    /// Payload bytes not yet added to the shared counter.
    batch_bytes: u64,
    /// Outgoing messages, written once per loop turn.
    out: Vec<u8>,
    counted_connected: bool,
    counted_unchoked: bool,
    got_unchoke: bool,
    /// First unchoke, until the first block arrives.
    waiting_first_block: Option<Instant>,
    connected_at: Instant,
    last_send: Instant,
    last_recv: Instant,
    /// Last block received, or when requests started after an idle spell.
    last_block: Instant,
    /// No piece could be acquired; wait for the work queue.
    idle: bool,
    /// Too many rejects while unchoked: hold new requests until the next tick.
    throttled: bool,
    rejects: usize,
}

/// Connects to `target`; with `spread` and a loopback IPv4 target, peer
/// number `no` binds its own source address 127.0.0.2 + `no` first, so a
/// seeder that accepts one connection per IP address (Transmission) sees
/// every peer as a distinct host. The whole 127.0.0.0/8 range is local.
async fn connect(target: std::net::SocketAddr, no: usize, spread: bool) -> io::Result<TcpStream> {
    match target {
        std::net::SocketAddr::V4(t) if spread && t.ip().is_loopback() => {
            let base = u32::from(std::net::Ipv4Addr::new(127, 0, 0, 2));
            let src = std::net::Ipv4Addr::from(base + (no as u32 % 0x00FF_FFF0));
            let sock = tokio::net::TcpSocket::new_v4()?;
            sock.bind(std::net::SocketAddr::from((src, 0)))?;
            sock.connect(target).await
        }
        _ => TcpStream::connect(target).await,
    }
}

impl Peer {
    fn new(sh: Arc<Shared>, no: usize) -> Self {
        let t = sh.assignment.get(no).copied().unwrap_or(0);
        let tor = sh.torrents[t.min(sh.torrents.len() - 1)].clone();
        let num_pieces = tor.meta.lengths.num_pieces();
        let now = Instant::now();
        Peer {
            num_pieces,
            verify: sh.cfg.verify,
            depth: sh.cfg.queue_depth.max(1),
            reqq_cap: usize::MAX,
            sh,
            tor,
            no,
            rng: StdRng::from_entropy(),
            fast: false,
            has_all: false,
            has: Bitfield::new(num_pieces),
            allowed_fast: Vec::new(),
            choked: true,
            outstanding: 0,
            active: Vec::new(),
            spare: Vec::new(),
            pool: Vec::new(),
            lat: Vec::new(),
            batch_bytes: 0,
            out: Vec::with_capacity(1024),
            counted_connected: false,
            counted_unchoked: false,
            got_unchoke: false,
            waiting_first_block: None,
            connected_at: now,
            last_send: now,
            last_recv: now,
            last_block: now,
            idle: false,
            throttled: false,
            rejects: 0,
        }
    }

    fn peer_id(&mut self) -> [u8; 20] {
        let mut id = [0u8; 20];
        id[..8].copy_from_slice(PEER_ID_PREFIX);
        for b in &mut id[8..] {
            *b = self.rng.sample(Alphanumeric);
        }
        id
    }

    async fn run(&mut self) -> Result<(), PeerError> {
        let sh = self.sh.clone();
        let tor = self.tor.clone();
        let cfg = &sh.cfg;
        let target = cfg.target;
        let mut stream = match timeout(
            cfg.connect_timeout,
            connect(target, self.no, cfg.spread_sources),
        )
        .await
        {
            Err(_) => {
                return Err(err(
                    "connect timeout",
                    format!(
                        "no TCP connection to {target} within {:?}",
                        cfg.connect_timeout
                    ),
                ))
            }
            Ok(Err(e)) => {
                let kind = match e.kind() {
                    io::ErrorKind::ConnectionRefused => "connect refused",
                    io::ErrorKind::TimedOut => "connect timeout",
                    _ => "connect error",
                };
                return Err(err(kind, format!("connecting to {target}: {e}")));
            }
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        self.connected_at = Instant::now();
        let mut rb = ReadBuf::new();

        // BEP 3 handshake: send ours, read theirs (68 bytes).
        let ours = Handshake::new(tor.meta.info_hash, self.peer_id());
        let hs = timeout(cfg.handshake_timeout, async {
            stream.write_all(&ours.encode()).await.map_err(|e| io_err(e, "sending the handshake"))?;
            while rb.data().len() < HANDSHAKE_LEN {
                let n = rb.fill(&mut stream).await.map_err(|e| io_err(e, "reading the handshake"))?;
                if n == 0 {
                    return Err(err(
                        "seeder closed",
                        format!(
                            "the seeder closed the connection during the handshake after {} bytes (does it serve info hash {}?)",
                            rb.data().len(),
                            tor.meta.info_hash
                        ),
                    ));
                }
            }
            Ok(())
        })
        .await;
        match hs {
            Err(_) => {
                return Err(err(
                    "handshake timeout",
                    format!(
                        "no complete handshake from {target} within {:?}",
                        cfg.handshake_timeout
                    ),
                ))
            }
            Ok(r) => r?,
        }
        let bytes: [u8; HANDSHAKE_LEN] = rb.data()[..HANDSHAKE_LEN].try_into().expect("68 bytes");
        rb.consume(HANDSHAKE_LEN);
        let theirs = Handshake::decode(&bytes).map_err(|e| err("not bittorrent", e.to_string()))?;
        if theirs.info_hash != tor.meta.info_hash {
            return Err(err(
                "wrong info hash",
                format!(
                    "the seeder answered with info hash {} instead of {}",
                    theirs.info_hash, tor.meta.info_hash
                ),
            ));
        }
        self.fast = theirs.supports_fast();
        sh.stats.inc_connected();
        self.counted_connected = true;
        if theirs.supports_extensions() {
            let ext = ExtHandshake {
                client: Some(CLIENT.to_string()),
                ..Default::default()
            };
            Message::Extended {
                id: 0,
                payload: &ext.encode(),
            }
            .encode(&mut self.out);
        }
        Message::Interested.encode(&mut self.out);
        // Whatever arrived with the handshake (bitfield, unchoke…).
        let now = Instant::now();
        self.process(&mut rb, now)?;
        self.after_batch(now);

        let notify = tor.work.as_ref().map(|w| &w.available);
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + Duration::from_secs(1),
            Duration::from_secs(1),
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.flush(&mut stream).await?;
            let want_work = self.idle && notify.is_some();
            tokio::select! {
                r = rb.fill(&mut stream) => {
                    let n = r.map_err(|e| io_err(e, "reading"))?;
                    if n == 0 {
                        return Err(err("seeder closed", "the seeder closed the connection"));
                    }
                    let now = Instant::now();
                    self.last_recv = now;
                    self.process(&mut rb, now)?;
                    self.after_batch(now);
                }
                _ = tick.tick() => self.housekeeping()?,
                _ = async {
                    match notify {
                        Some(n) => n.notified().await,
                        None => std::future::pending().await,
                    }
                }, if want_work => self.fill_requests(),
            }
        }
    }

    async fn flush(&mut self, stream: &mut TcpStream) -> Result<(), PeerError> {
        if self.out.is_empty() {
            return Ok(());
        }
        match timeout(WRITE_TIMEOUT, stream.write_all(&self.out)).await {
            Err(_) => Err(err(
                "write timeout",
                format!(
                    "the seeder took more than {WRITE_TIMEOUT:?} to accept {} bytes",
                    self.out.len()
                ),
            )),
            Ok(Err(e)) => Err(io_err(e, "sending requests")),
            Ok(Ok(())) => {
                self.out.clear();
                self.last_send = Instant::now();
                Ok(())
            }
        }
    }

    /// Handles every complete frame in the buffer.
    fn process(&mut self, rb: &mut ReadBuf, now: Instant) -> Result<(), PeerError> {
        let max = self.sh.max_frame;
        loop {
            match parse_frame(rb.data(), max) {
                Ok(Some((n, msg))) => {
                    self.on_message(msg, now)?;
                    rb.consume(n);
                }
                Ok(None) => break,
                Err(e @ WireError::TooLong { .. }) => {
                    return Err(err("message too long", e.to_string()))
                }
                Err(e) => return Err(err("malformed message", e.to_string())),
            }
        }
        rb.prepare();
        Ok(())
    }

    fn on_message(&mut self, msg: Message<'_>, now: Instant) -> Result<(), PeerError> {
        match msg {
            Message::Piece {
                index,
                begin,
                block,
            } => {
                if let Some(t) = self.waiting_first_block.take() {
                    self.sh
                        .stats
                        .add_first_block(now.saturating_duration_since(t));
                }
                return self.on_block(index, begin, block, now);
            }
            Message::Choke if !self.choked => {
                self.choked = true;
                if self.counted_unchoked {
                    self.counted_unchoked = false;
                    self.sh.stats.unchoked.fetch_sub(1, Ordering::Relaxed);
                }
                // BEP 3: a choke discards our requests. BEP 6: a Fast seeder
                // rejects each one explicitly, so keep them until then.
                if !self.fast {
                    for p in &mut self.active {
                        p.free_all_requested();
                    }
                    self.outstanding = 0;
                }
            }
            Message::Unchoke if self.choked => {
                self.choked = false;
                if !self.counted_unchoked {
                    self.counted_unchoked = true;
                    self.sh.stats.inc_unchoked();
                }
                if !self.got_unchoke {
                    self.got_unchoke = true;
                    self.waiting_first_block = Some(now);
                    self.sh
                        .stats
                        .add_unchoke(now.saturating_duration_since(self.connected_at));
                }
            }
            Message::Have(i) => {
                if i >= self.num_pieces {
                    return Err(err(
                        "malformed message",
                        format!("have({i}) but the torrent has {} pieces", self.num_pieces),
                    ));
                }
                self.has.set(i, true);
            }
            Message::Bitfield(b) => {
                let Some(has) = Bitfield::from_bytes(b, self.num_pieces) else {
                    return Err(err(
                        "malformed message",
                        format!(
                            "bitfield of {} bytes, expected {} for {} pieces",
                            b.len(),
                            self.has.as_bytes().len(),
                            self.num_pieces
                        ),
                    ));
                };
                self.has = has;
            }
            Message::HaveAll => self.has_all = true,
            Message::HaveNone => {
                self.has_all = false;
                self.has = Bitfield::new(self.num_pieces);
            }
            Message::AllowedFast(i)
                if i < self.num_pieces
                    && self.allowed_fast.len() < 256
                    && !self.allowed_fast.contains(&i) =>
            {
                self.allowed_fast.push(i)
            }
            Message::Reject {
                index,
                begin,
                length,
            } => self.on_reject(index, begin, length),
            Message::Extended { id: 0, payload } => match ExtHandshake::decode(payload) {
                Ok(h) => {
                    if let Some(q) = h.reqq {
                        self.depth = self.sh.cfg.queue_depth.min(q.max(1) as usize).max(1);
                        self.reqq_cap = q.max(1) as usize;
                    }
                }
                Err(e) => self
                    .sh
                    .stats
                    .error("bad extension handshake", e.to_string()),
            },
            // We upload nothing: requests, interest and the rest are ignored.
            _ => {}
        }
        Ok(())
    }

    fn unrequested(&self, index: u32, begin: u32, len: usize) {
        self.sh.stats.error(
            "unrequested block",
            format!(
                "piece {index} offset {begin} ({len} bytes) does not match an outstanding request"
            ),
        );
    }

    fn on_block(
        &mut self,
        index: u32,
        begin: u32,
        block: &[u8],
        now: Instant,
    ) -> Result<(), PeerError> {
        let lengths = self.tor.meta.lengths;
        let Some(k) = self.active.iter().position(|p| p.index == index) else {
            self.unrequested(index, begin, block.len());
            return Ok(());
        };
        let b = begin / BLOCK_LEN;
        let p = &mut self.active[k];
        if !begin.is_multiple_of(BLOCK_LEN)
            || b >= p.nblocks
            || p.state[b as usize] != REQUESTED
            || block.len() != lengths.block_len(index, b) as usize
        {
            self.unrequested(index, begin, block.len());
            return Ok(());
        }
        p.state[b as usize] = RECEIVED;
        p.requested -= 1;
        p.received += 1;
        self.outstanding -= 1;
        self.rejects = 0;
        self.last_block = now;
        self.batch_bytes += block.len() as u64;
        let us = now
            .saturating_duration_since(p.sent[b as usize])
            .as_micros()
            .min(u32::MAX as u128) as u32;
        self.lat.push(us);
        if self.verify {
            if b == p.hashed {
                p.hasher.update(block);
                p.hashed += 1;
                while let Some(pos) = p.pending.iter().position(|(x, _)| *x == p.hashed) {
                    let (_, buf) = p.pending.swap_remove(pos);
                    p.hasher.update(&buf);
                    p.hashed += 1;
                    self.pool.push(buf);
                }
            } else {
                let mut buf = self
                    .pool
                    .pop()
                    .unwrap_or_else(|| Vec::with_capacity(BLOCK_LEN as usize));
                buf.clear();
                buf.extend_from_slice(block);
                p.pending.push((b, buf));
            }
        }
        if p.received == p.nblocks {
            self.complete_piece(k);
        }
        Ok(())
    }

    fn complete_piece(&mut self, k: usize) {
        let mut p = self.active.swap_remove(k);
        let index = p.index;
        let stats = &self.sh.stats;
        let tor = &self.tor;
        stats.completed.fetch_add(1, Ordering::Relaxed);
        tor.completed.fetch_add(1, Ordering::Relaxed);
        let ok = if self.verify {
            let digest: [u8; 20] = p.hasher.finalize_reset().into();
            let ok = tor.meta.piece_hashes.get(index as usize) == Some(&digest);
            if ok {
                stats.verified.fetch_add(1, Ordering::Relaxed);
                tor.verified.fetch_add(1, Ordering::Relaxed);
            } else {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                tor.failed.fetch_add(1, Ordering::Relaxed);
            }
            ok
        } else {
            true
        };
        if let Some(w) = &tor.work {
            let finished = if ok {
                w.finish_ok(index)
            } else {
                w.finish_bad(index)
            };
            if finished {
                self.sh.wake.notify_one();
            }
        }
        self.recycle(&mut p);
        if self.spare.len() < 8 {
            self.spare.push(p);
        }
    }

    fn recycle(&mut self, p: &mut Active) {
        for (_, buf) in p.pending.drain(..) {
            if self.pool.len() < 1024 {
                self.pool.push(buf);
            }
        }
    }

    fn on_reject(&mut self, index: u32, begin: u32, length: u32) {
        let lengths = self.tor.meta.lengths;
        let b = begin / BLOCK_LEN;
        let hit = self
            .active
            .iter_mut()
            .find(|p| p.index == index)
            .filter(|p| {
                begin.is_multiple_of(BLOCK_LEN)
                    && b < p.nblocks
                    && p.state[b as usize] == REQUESTED
                    && length == lengths.block_len(index, b)
            });
        match hit {
            Some(p) => {
                p.free(b);
                self.outstanding -= 1;
                if !self.choked {
                    self.rejects += 1;
                    if self.rejects > 2 * self.depth {
                        self.throttled = true;
                    }
                }
            }
            None => self.sh.stats.error(
                "unexpected reject",
                format!("reject for piece {index} offset {begin} length {length}, which is not outstanding"),
            ),
        }
    }

    /// After each read: publish counters, give back pieces a choke took away,
    /// top up the requests.
    fn after_batch(&mut self, _now: Instant) {
        if self.batch_bytes > 0 {
            let b = std::mem::take(&mut self.batch_bytes);
            self.tor.bytes.fetch_add(b, Ordering::Relaxed);
            let total = self.sh.stats.bytes.fetch_add(b, Ordering::Relaxed) + b;
            if let Some(limit) = self.sh.cfg.bytes {
                if total >= limit && total - b < limit {
                    self.sh.wake.notify_one();
                }
            }
        }
        if self.lat.len() >= LAT_BATCH {
            self.sh.stats.add_latencies(self.no, &mut self.lat);
        }
        self.release_choked();
        self.fill_requests();
    }

    /// While choked, gives back every piece that has no request in flight and
    /// is not allowed-fast (the blocks received so far are dropped).
    fn release_choked(&mut self) {
        if !self.choked {
            return;
        }
        let mut i = 0;
        while i < self.active.len() {
            let p = &self.active[i];
            if p.requested == 0 && !self.allowed_fast.contains(&p.index) {
                let mut p = self.active.swap_remove(i);
                if let Some(w) = &self.tor.work {
                    w.release(p.index);
                }
                self.recycle(&mut p);
                if self.spare.len() < 8 {
                    self.spare.push(p);
                }
            } else {
                i += 1;
            }
        }
    }

    /// Picks a new piece the seeder has (allowed-fast only while choked) and
    /// makes it active; returns its position in `active`.
    fn acquire(&mut self, now: Instant) -> Option<usize> {
        if self.active.len() >= self.depth + 2 {
            return None;
        }
        let has_all = self.has_all;
        let has = &self.has;
        let active = &self.active;
        let usable = |i: u32| (has_all || has.get(i)) && !active.iter().any(|p| p.index == i);
        let index = if self.choked {
            let work = self.tor.work.as_ref();
            self.allowed_fast
                .iter()
                .copied()
                .find(|&i| usable(i) && work.is_none_or(|w| w.take_specific(i)))?
        } else if let Some(w) = &self.tor.work {
            w.take(usable)?
        } else {
            self.tor
                .picker
                .pick(&mut self.rng, self.num_pieces, usable)?
        };
        let mut a = self.spare.pop().unwrap_or_else(Active::new);
        a.reset(index, self.tor.meta.lengths.block_count(index), now);
        self.active.push(a);
        Some(self.active.len() - 1)
    }

    /// Keeps `depth` block requests in flight; with [`Pipeline::Piece`],
    /// once nothing is outstanding, requests every block of one piece
    /// (capped by the seeder's `reqq`).
    fn fill_requests(&mut self) {
        if self.throttled {
            return;
        }
        let piece_mode = self.sh.cfg.pipeline == crate::Pipeline::Piece;
        if piece_mode && self.outstanding > 0 {
            return;
        }
        let now = Instant::now();
        let lengths = self.tor.meta.lengths;
        self.idle = false;
        if self.outstanding == 0 {
            self.last_block = now;
        }
        let depth = if piece_mode {
            self.reqq_cap
        } else {
            self.depth
        };
        while self.outstanding < depth {
            let choked = self.choked;
            let af = &self.allowed_fast;
            let k = match self
                .active
                .iter()
                .position(|p| p.has_free() && (!choked || af.contains(&p.index)))
            {
                Some(k) => k,
                None => match self.acquire(now) {
                    Some(k) => k,
                    None => {
                        self.idle = true;
                        break;
                    }
                },
            };
            let p = &mut self.active[k];
            while self.outstanding < depth {
                let Some(b) = p.next_free_block() else { break };
                p.state[b as usize] = REQUESTED;
                p.sent[b as usize] = now;
                p.requested += 1;
                self.outstanding += 1;
                Message::Request {
                    index: p.index,
                    begin: b * BLOCK_LEN,
                    length: lengths.block_len(p.index, b),
                }
                .encode(&mut self.out);
            }
            if piece_mode {
                break;
            }
        }
    }

    /// Once a second: keep-alive, timeouts, latency merge, retry when idle.
    fn housekeeping(&mut self) -> Result<(), PeerError> {
        let now = Instant::now();
        self.sh.stats.add_latencies(self.no, &mut self.lat);
        if now.saturating_duration_since(self.last_recv) >= IDLE_TIMEOUT {
            return Err(err(
                "idle timeout",
                format!("nothing received for {} s", IDLE_TIMEOUT.as_secs()),
            ));
        }
        if now.saturating_duration_since(self.last_send) >= KEEPALIVE {
            Message::KeepAlive.encode(&mut self.out);
        }
        if self.outstanding > 0 && now.saturating_duration_since(self.last_block) >= REQUEST_TIMEOUT
        {
            let mut lost = 0;
            for p in &mut self.active {
                lost += p.free_all_requested();
            }
            self.outstanding = 0;
            self.sh.stats.error(
                "request timeout",
                format!(
                    "{lost} requests unanswered for {} s; requesting again",
                    REQUEST_TIMEOUT.as_secs()
                ),
            );
            self.release_choked();
        }
        self.throttled = false;
        self.rejects = 0;
        self.fill_requests();
        Ok(())
    }

    /// Publishes what is left and gives unfinished pieces back to the queue.
    fn cleanup(&mut self) {
        let stats = &self.sh.stats;
        if self.batch_bytes > 0 {
            let b = std::mem::take(&mut self.batch_bytes);
            self.tor.bytes.fetch_add(b, Ordering::Relaxed);
            stats.bytes.fetch_add(b, Ordering::Relaxed);
        }
        stats.add_latencies(self.no, &mut self.lat);
        if self.counted_connected {
            self.counted_connected = false;
            stats.connected.fetch_sub(1, Ordering::Relaxed);
        }
        if self.counted_unchoked {
            self.counted_unchoked = false;
            stats.unchoked.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(w) = &self.tor.work {
            for p in self.active.drain(..) {
                w.release(p.index);
            }
        }
    }
}
