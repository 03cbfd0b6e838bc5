//! One peer connection on a shard: handshake, the read loop, and the writer
//! that serves blocks.
//!
//! The reader parses frames (BEP 3/6/10) from a small buffer that grows only
//! up to a limit set by the torrent (never by a length a peer sent) and
//! validates every request. The writer sends control messages first, then
//! serves queued requests one block at a time: the block is read from disk
//! into a registered buffer behind 13 bytes of headroom, the `piece` header
//! is written into the headroom and the same buffer goes to the socket.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use ringseed_proto::metainfo::RequestError;
use ringseed_proto::wire::{
    self, allowed_fast_set, parse_frame, piece_header, ExtHandshake, Handshake, Message,
    HANDSHAKE_LEN, PIECE_HEADER_LEN,
};
use tokio::sync::Notify;
use tokio_uring::buf::BoundedBuf;
use tokio_uring::net::TcpStream;

use super::buffers::{BlockBuf, BlockLayout, DIRECT_ALIGN};
use super::ShardState;
use crate::coordinator::{PeerHello, PeerKey, ShardEvent};
use crate::disconnect::DisconnectReason;
use crate::session::{Torrent, TorrentEntry};

/// Initial read buffer per connection, bytes. Leechers send small messages;
/// the buffer grows for a long legitimate frame (a bitfield) up to the
/// torrent's frame limit and shrinks back afterwards.
const READ_BUF: usize = 2048;
/// Allowed-fast pieces offered to a Fast peer (BEP 6 suggests 10).
const ALLOWED_FAST: usize = 10;
/// Misbehaviour score at which a Fast peer is closed for invalid requests.
const SCORE_LIMIT: u32 = 100;
/// Control bytes we may have queued for a peer that does not read, bytes.
const OUTBOX_LIMIT: usize = 64 * 1024;
/// Request-queue capacity kept by a peer whose queue emptied (entries);
/// a queue that grew past it for a burst gives the rest back.
const QUEUE_KEEP: usize = 64;

/// One connection, owned by exactly one shard.
pub struct Peer {
    pub key: PeerKey,
    pub addr: SocketAddr,
    pub stream: TcpStream,
    /// Wakes the writer (new requests, control messages, close).
    pub wake: Notify,
    pub st: RefCell<PeerState>,
}

/// A request waiting to be served.
#[derive(Clone, Copy, Debug)]
pub struct QueuedRequest {
    pub index: u32,
    pub begin: u32,
    pub length: u32,
    /// When it arrived (for the block serve time).
    pub at: Instant,
}

/// The overflow choke of a peer without BEP 6 (it cannot get `reject`).
///
/// A request that finds the queue full is not dropped in silence: the
/// queued blocks are served, then a `choke` follows them, which under BEP 3
/// tells the peer that every request still outstanding (the ones we could
/// not queue) is discarded; a moment later an `unchoke` invites it to ask
/// again. Every cycle serves a full queue, so even a peer that always asks
/// for more than `reqq` makes progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    None,
    /// The queue overflowed: later requests are not queued; once the queue
    /// is served, the writer sends the choke.
    Draining,
    /// The choke went out; the unchoke follows after [`OVERFLOW_PAUSE`].
    Choked,
}

/// How long an overflow choke lasts before the unchoke: long enough for
/// requests the peer sent before it saw the choke to arrive (and be
/// discarded) rather than be served twice.
pub const OVERFLOW_PAUSE: std::time::Duration = std::time::Duration::from_millis(250);

/// Mutable state of a peer; never borrowed across an `.await`.
pub struct PeerState {
    pub connected_at: Instant,
    pub handshake_done: bool,
    pub torrent: Option<Arc<Torrent>>,
    pub fast: bool,
    pub peer_id: [u8; 20],
    pub client: Option<Arc<str>>,
    /// The peer's `reqq` from its BEP 10 handshake: requests it lets us queue.
    pub peer_reqq: Option<u32>,
    pub am_choking: bool,
    pub peer_interested: bool,
    pub interest_changed_at: Instant,
    /// Queued requests, oldest first.
    pub requests: VecDeque<QueuedRequest>,
    pub allowed_fast: Vec<u32>,
    /// Encoded control messages waiting for the writer.
    pub outbox: Vec<u8>,
    /// Set once the connection is closing, with why.
    pub close: Option<DisconnectReason>,
    /// Payload bytes sent.
    pub uploaded: u64,
    /// Payload bytes received (a seed receives none; kept for symmetry with porla).
    pub downloaded: u64,
    pub have_count: u32,
    peer_bitfield: Vec<u8>,
    pub score: u32,
    /// The coordinator wants the peer unchoked (the wire state is
    /// `am_choking`; the two differ while an overflow choke lasts).
    pub want_unchoked: bool,
    /// Where a peer without BEP 6 stands after overflowing its queue.
    pub overflow: Overflow,
    /// Requests we could not queue (queue full, or sent while choked):
    /// decays by `reqq` each second; past 4 × `reqq` the peer is a flood.
    pub flood: u32,
    /// When the current block write started (for the write timeout).
    pub write_started: Option<Instant>,
    pub last_send: Instant,
}

impl Peer {
    pub fn new(key: PeerKey, addr: SocketAddr, stream: TcpStream) -> Self {
        let now = Instant::now();
        Peer {
            key,
            addr,
            stream,
            wake: Notify::new(),
            st: RefCell::new(PeerState {
                connected_at: now,
                handshake_done: false,
                torrent: None,
                fast: false,
                peer_id: [0; 20],
                client: None,
                peer_reqq: None,
                am_choking: true,
                peer_interested: false,
                interest_changed_at: now,
                requests: VecDeque::new(),
                allowed_fast: Vec::new(),
                outbox: Vec::new(),
                close: None,
                uploaded: 0,
                downloaded: 0,
                have_count: 0,
                peer_bitfield: Vec::new(),
                score: 0,
                want_unchoked: false,
                overflow: Overflow::None,
                flood: 0,
                write_started: None,
                last_send: now,
            }),
        }
    }

    /// Starts closing the connection for `reason` (the first reason wins):
    /// shuts the socket down so pending reads and writes end, and wakes the writer.
    pub fn close(&self, reason: DisconnectReason) {
        {
            let mut st = self.st.borrow_mut();
            if st.close.is_none() {
                st.close = Some(reason);
            }
        }
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        self.wake.notify_one();
    }

    /// Queues a control message for the writer and wakes it.
    pub fn send(&self, m: Message<'_>) {
        m.encode(&mut self.st.borrow_mut().outbox);
        self.wake.notify_one();
    }

    /// Coordinator decision: choke.
    pub fn choke(&self) {
        {
            let mut st = self.st.borrow_mut();
            st.want_unchoked = false;
            // Our choke covers whatever the overflow was waiting to cancel.
            st.overflow = Overflow::None;
            if st.am_choking || st.close.is_some() {
                return;
            }
            st.choke_wire();
        }
        self.wake.notify_one();
    }

    /// Coordinator decision: unchoke (deferred while an overflow choke lasts).
    pub fn unchoke(&self) {
        {
            let mut st = self.st.borrow_mut();
            st.want_unchoked = true;
            if !st.am_choking || st.close.is_some() || st.overflow == Overflow::Choked {
                return;
            }
            st.am_choking = false;
            Message::Unchoke.encode(&mut st.outbox);
        }
        self.wake.notify_one();
    }

    /// Ends an overflow choke: unchoke again if the coordinator still wants
    /// the peer unchoked.
    fn end_overflow_choke(&self) {
        let mut st = self.st.borrow_mut();
        if st.overflow != Overflow::Choked {
            return;
        }
        st.overflow = Overflow::None;
        if st.want_unchoked && st.am_choking && st.close.is_none() {
            st.am_choking = false;
            Message::Unchoke.encode(&mut st.outbox);
            drop(st);
            self.wake.notify_one();
        }
    }

    /// Housekeeping, once a second: the flood counter decays by `reqq`.
    pub fn tick(&self, reqq: u32) {
        let mut st = self.st.borrow_mut();
        st.flood = st.flood.saturating_sub(reqq);
    }
}

impl PeerState {
    /// Sends `choke` and drops the queued requests: BEP 3 says a choke
    /// discards them, and a Fast peer gets a `reject` for each one that is
    /// not allowed-fast (BEP 6); allowed-fast requests stay queued.
    fn choke_wire(&mut self) {
        self.am_choking = true;
        Message::Choke.encode(&mut self.outbox);
        let (fast, allowed, outbox) = (self.fast, &self.allowed_fast, &mut self.outbox);
        self.requests.retain(|r| {
            let keep = allowed.contains(&r.index);
            if !keep && fast {
                Message::Reject {
                    index: r.index,
                    begin: r.begin,
                    length: r.length,
                }
                .encode(outbox);
            }
            keep
        });
        if self.requests.is_empty() {
            // A queue that once held thousands of requests gives its memory back.
            self.requests.shrink_to(QUEUE_KEEP);
        }
    }

    /// Counts a request we could not queue; `Err` once the peer floods.
    fn note_unqueued(&mut self, reqq: u32) -> Result<(), DisconnectReason> {
        self.flood = self.flood.saturating_add(1);
        if self.flood > 4 * reqq {
            return Err(DisconnectReason::RequestFlood);
        }
        Ok(())
    }

    /// Merges what the peer says it has (a bitfield, possibly late) into
    /// what we know: pieces are never lost, so the result is the union.
    fn merge_bitfield(&mut self, bits: &[u8]) {
        for (a, b) in self.peer_bitfield.iter_mut().zip(bits) {
            *a |= b;
        }
        self.have_count = self.peer_bitfield.iter().map(|b| b.count_ones()).sum();
    }

    /// The peer has every piece (`have_all`, BEP 6): spare bits stay zero.
    fn set_all(&mut self, num_pieces: u32) {
        self.peer_bitfield.iter_mut().for_each(|b| *b = 0xff);
        let spare = (self.peer_bitfield.len() * 8) as u32 - num_pieces;
        if let Some(last) = self.peer_bitfield.last_mut() {
            *last &= 0xffu8 << spare;
        }
        self.have_count = num_pieces;
    }
}

/// Runs a connection to its end, then reports the close.
pub async fn serve(shard: Rc<ShardState>, peer: Rc<Peer>) {
    let result = run(&shard, &peer).await;
    let reason = {
        let mut st = peer.st.borrow_mut();
        *st.close.get_or_insert(result)
    };
    let _ = peer.stream.shutdown(std::net::Shutdown::Both);
    peer.wake.notify_one();
    shard.remove_peer(peer.key);
    tracing::debug!(peer = %peer.addr, %reason, "peer closed");
    let _ = shard.events.send(ShardEvent::Closed {
        key: peer.key,
        reason,
    });
}

/// Reads until at least `need` bytes are buffered. Never grows `buf` beyond
/// its capacity: callers reserve what the torrent allows first.
async fn fill(
    peer: &Peer,
    shard: &ShardState,
    mut buf: Vec<u8>,
    need: usize,
) -> (Result<(), DisconnectReason>, Vec<u8>) {
    while buf.len() < need {
        if buf.len() == buf.capacity() {
            return (Err(DisconnectReason::MalformedMessage), buf);
        }
        let start = buf.len();
        shard.count_op();
        let (res, slice) = peer.stream.read(buf.slice(start..)).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => return (Err(DisconnectReason::RemoteClosed), buf),
            Ok(_) => {}
            Err(_) => return (Err(DisconnectReason::IoError), buf),
        }
    }
    (Ok(()), buf)
}

async fn run(shard: &Rc<ShardState>, peer: &Rc<Peer>) -> DisconnectReason {
    // --- Handshake (BEP 3): check the info hash before answering.
    let buf = Vec::with_capacity(READ_BUF);
    let (r, buf) = fill(peer, shard, buf, 48).await;
    if let Err(e) = r {
        return e;
    }
    let prefix: &[u8; 48] = buf[..48].try_into().expect("48 bytes");
    let (reserved, info_hash) = match Handshake::decode_prefix(prefix) {
        Ok(x) => x,
        Err(_) => return DisconnectReason::BadHandshake,
    };
    let torrent = match shard.registry.read().get(&info_hash).cloned() {
        None => return DisconnectReason::UnknownInfoHash,
        Some(TorrentEntry::Checking) => return DisconnectReason::TorrentChecking,
        Some(TorrentEntry::Ready(t)) => t,
    };
    let ours = Handshake::new(info_hash, shard.peer_id);
    shard.count_op();
    let (res, _) = peer.stream.write_all(ours.encode().to_vec()).await;
    if res.is_err() {
        return DisconnectReason::IoError;
    }
    let (r, mut buf) = fill(peer, shard, buf, HANDSHAKE_LEN).await;
    if let Err(e) = r {
        return e;
    }
    let theirs = Handshake {
        reserved,
        info_hash,
        peer_id: buf[48..68].try_into().expect("20 bytes"),
    };
    buf.drain(..HANDSHAKE_LEN);
    if theirs.peer_id == shard.peer_id {
        return DisconnectReason::SelfConnection;
    }
    if shard.has_peer_id(&info_hash, &theirs.peer_id) {
        return DisconnectReason::DuplicatePeer;
    }
    let num_pieces = torrent.meta.lengths.num_pieces();
    {
        let mut st = peer.st.borrow_mut();
        shard.handshake_done(&mut st);
        st.fast = theirs.supports_fast();
        st.peer_id = theirs.peer_id;
        st.torrent = Some(torrent.clone());
        st.peer_bitfield = vec![0u8; (num_pieces as usize).div_ceil(8)];
        let out = &mut st.outbox;
        if theirs.supports_extensions() {
            let ext = ExtHandshake {
                extensions: Vec::new(),
                client: Some(shard.client_name.clone()),
                reqq: Some(shard.config.reqq as u32),
                yourip: Some(peer.addr.ip()),
                upload_only: true,
                listen_port: Some(shard.listen_port),
            };
            Message::Extended {
                id: wire::EXTENDED_HANDSHAKE_ID,
                payload: &ext.encode(),
            }
            .encode(out);
        }
        if theirs.supports_fast() && torrent.is_complete() {
            Message::HaveAll.encode(out);
        } else if theirs.supports_fast() && torrent.have_count == 0 {
            Message::HaveNone.encode(out);
        } else {
            Message::Bitfield(&torrent.bitfield).encode(out);
        }
        if theirs.supports_fast() {
            let set: Vec<u32> =
                allowed_fast_set(peer.addr.ip(), &info_hash, num_pieces, ALLOWED_FAST)
                    .into_iter()
                    .filter(|i| torrent.have[*i as usize])
                    .collect();
            for &i in &set {
                Message::AllowedFast(i).encode(out);
            }
            st.allowed_fast = set;
        }
    }
    shard.note_peer_id(info_hash, theirs.peer_id);
    let _ = shard.events.send(ShardEvent::Connected(Box::new(PeerHello {
        key: peer.key,
        info_hash,
        addr: peer.addr,
        peer_id: theirs.peer_id,
        fast: theirs.supports_fast(),
        piece_length: torrent.meta.lengths.piece_length(),
        num_pieces,
    })));
    tokio_uring::spawn(writer(shard.clone(), peer.clone(), torrent.clone()));
    peer.wake.notify_one();

    // --- Message loop.
    // Longest frame we accept: a full bitfield or a BEP 10 message, whichever is larger.
    let max_frame = (torrent.bitfield.len() as u32 + 1).max(64 * 1024);
    loop {
        // Parse every complete frame in the buffer.
        let mut used = 0;
        let mut wake_writer = false;
        loop {
            match parse_frame(&buf[used..], max_frame) {
                Ok(Some((n, msg))) => {
                    used += n;
                    match handle_message(shard, peer, &torrent, msg) {
                        Ok(w) => wake_writer |= w,
                        Err(reason) => return reason,
                    }
                }
                Ok(None) => break,
                Err(_) => return DisconnectReason::MalformedMessage,
            }
        }
        buf.drain(..used);
        if wake_writer {
            peer.wake.notify_one();
        }
        if peer.st.borrow().outbox.len() > OUTBOX_LIMIT {
            return DisconnectReason::RequestFlood;
        }
        if peer.st.borrow().close.is_some() {
            return DisconnectReason::Shutdown;
        }
        // Make room: a frame whose (already limit-checked) length exceeds the
        // buffer gets exactly the room it needs; an idle buffer shrinks back.
        let need = if buf.len() >= 4 {
            4 + u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize
        } else {
            4
        };
        if need > buf.capacity() {
            buf.reserve_exact(need - buf.len());
        } else if buf.is_empty() && buf.capacity() > 4 * READ_BUF {
            buf = Vec::with_capacity(READ_BUF);
        }
        let target = buf.len() + 1;
        let (r, b) = fill(peer, shard, buf, target).await;
        buf = b;
        if let Err(e) = r {
            return e;
        }
    }
}

/// Handles one message; `Ok(true)` when the writer has new work.
fn handle_message(
    shard: &ShardState,
    peer: &Peer,
    torrent: &Torrent,
    msg: Message<'_>,
) -> Result<bool, DisconnectReason> {
    let mut st = peer.st.borrow_mut();
    let n = torrent.meta.lengths.num_pieces();
    match msg {
        Message::KeepAlive
        | Message::Choke
        | Message::Unchoke
        | Message::Port(_)
        | Message::Suggest(_) => {}
        Message::Reject { .. } | Message::AllowedFast(_) | Message::Unknown { .. } => {}
        Message::Interested | Message::NotInterested => {
            let interested = matches!(msg, Message::Interested);
            if st.peer_interested != interested {
                st.peer_interested = interested;
                st.interest_changed_at = Instant::now();
                let _ = shard.events.send(ShardEvent::Interest {
                    key: peer.key,
                    interested,
                });
            }
        }
        // A bitfield, have_all or have_none may come late, and more than once
        // (aria2 sends a second bitfield, then have_all on completion):
        // libtorrent and Transmission merge them, and so do we. A bitfield of
        // the wrong length, and have_all/have_none without BEP 6, are refused.
        Message::Bitfield(bits) => {
            if bits.len() != st.peer_bitfield.len() {
                return Err(DisconnectReason::MalformedMessage);
            }
            // Spare bits past the last piece must be zero (BEP 3).
            let spare = (st.peer_bitfield.len() * 8) as u32 - n;
            if spare > 0 && bits[bits.len() - 1] & ((1u8 << spare) - 1) != 0 {
                return Err(DisconnectReason::MalformedMessage);
            }
            st.merge_bitfield(bits);
            if st.have_count == n && torrent.is_complete() {
                return Err(DisconnectReason::BothSeeds);
            }
        }
        Message::HaveAll => {
            if !st.fast {
                return Err(DisconnectReason::MalformedMessage);
            }
            st.set_all(n);
            if torrent.is_complete() {
                return Err(DisconnectReason::BothSeeds);
            }
        }
        Message::HaveNone => {
            if !st.fast {
                return Err(DisconnectReason::MalformedMessage);
            }
        }
        Message::Have(i) => {
            if i >= n {
                return Err(DisconnectReason::MalformedMessage);
            }
            let (byte, bit) = ((i / 8) as usize, 0x80u8 >> (i % 8));
            if st.peer_bitfield[byte] & bit == 0 {
                st.peer_bitfield[byte] |= bit;
                st.have_count += 1;
            }
            if st.have_count == n && torrent.is_complete() {
                return Err(DisconnectReason::BothSeeds);
            }
        }
        Message::Request {
            index,
            begin,
            length,
        } => {
            let valid = torrent
                .meta
                .lengths
                .check_request(index, begin, length)
                .and_then(|()| {
                    if torrent.have[index as usize] {
                        Ok(())
                    } else {
                        Err(RequestError::PieceOutOfRange(index))
                    }
                });
            if valid.is_err() {
                st.score += 10;
                if !st.fast || st.score >= SCORE_LIMIT {
                    return Err(DisconnectReason::InvalidRequest);
                }
                Message::Reject {
                    index,
                    begin,
                    length,
                }
                .encode(&mut st.outbox);
                return Ok(true);
            }
            let reqq = shard.config.reqq as u32;
            let reject = Message::Reject {
                index,
                begin,
                length,
            };
            if st.am_choking && !st.allowed_fast.contains(&index) {
                // BEP 3: requests while choked are discarded (the peer knows
                // from our choke); BEP 6: rejected. Either way they count
                // towards the flood limit: a peer keeps asking after a choke
                // only for what was already in flight.
                st.note_unqueued(reqq)?;
                if st.fast {
                    reject.encode(&mut st.outbox);
                    return Ok(true);
                }
                return Ok(false);
            }
            if st.overflow == Overflow::Draining {
                // The choke that follows the queued blocks cancels it (BEP 3).
                st.note_unqueued(reqq)?;
                return Ok(false);
            }
            if st.requests.len() >= reqq as usize {
                st.score += 1;
                st.note_unqueued(reqq)?;
                if st.fast {
                    // BEP 6: a request we will not serve gets a reject.
                    reject.encode(&mut st.outbox);
                    return Ok(true);
                }
                // A peer without BEP 6 cannot be told "no" for one request,
                // and a silently dropped request leaves it waiting forever:
                // serve the queue, then choke and unchoke (see `Overflow`).
                st.overflow = Overflow::Draining;
                return Ok(false);
            }
            st.requests.push_back(QueuedRequest {
                index,
                begin,
                length,
                at: Instant::now(),
            });
            return Ok(true);
        }
        Message::Cancel {
            index,
            begin,
            length,
        } => {
            if let Some(pos) = st
                .requests
                .iter()
                .position(|r| (r.index, r.begin, r.length) == (index, begin, length))
            {
                st.requests.remove(pos);
                // BEP 6: a cancelled request is answered with a reject.
                if st.fast {
                    Message::Reject {
                        index,
                        begin,
                        length,
                    }
                    .encode(&mut st.outbox);
                    return Ok(true);
                }
            }
        }
        Message::Piece { block, .. } => {
            st.downloaded += block.len() as u64;
            return Err(DisconnectReason::UnexpectedPiece);
        }
        Message::Extended { id, payload } => {
            if id == wire::EXTENDED_HANDSHAKE_ID {
                match ExtHandshake::decode(payload) {
                    Ok(h) => {
                        if let Some(v) = h.client {
                            st.client = Some(Arc::from(v.as_str()));
                        }
                        st.peer_reqq = h.reqq;
                        if h.upload_only && torrent.is_complete() {
                            return Err(DisconnectReason::BothSeeds);
                        }
                    }
                    Err(_) => return Err(DisconnectReason::MalformedMessage),
                }
            }
        }
    }
    Ok(false)
}

/// A block read from disk, waiting to be sent.
struct ReadyBlock {
    at: Instant,
    index: u32,
    begin: u32,
    length: u32,
    buf: BlockBuf,
    data_start: usize,
}

/// The writer: control messages first, then blocks. While one block is
/// being written to the socket the next queued one is read from disk, so a
/// single fast peer is not limited by one disk read and one socket write
/// taking turns.
async fn writer(shard: Rc<ShardState>, peer: Rc<Peer>, torrent: Arc<Torrent>) {
    let mut spare: Vec<u8> = Vec::new();
    let mut ahead: Option<ReadyBlock> = None;
    loop {
        if peer.st.borrow().close.is_some() {
            break;
        }
        let out = {
            let mut st = peer.st.borrow_mut();
            if st.outbox.is_empty() {
                None
            } else {
                Some(std::mem::replace(
                    &mut st.outbox,
                    std::mem::take(&mut spare),
                ))
            }
        };
        if let Some(bytes) = out {
            shard.count_op();
            peer.st.borrow_mut().write_started = Some(Instant::now());
            let (res, mut bytes) = peer.stream.write_all(bytes).await;
            {
                let mut st = peer.st.borrow_mut();
                st.write_started = None;
                st.last_send = Instant::now();
            }
            if res.is_err() {
                peer.close(DisconnectReason::IoError);
                break;
            }
            bytes.clear();
            if bytes.capacity() <= OUTBOX_LIMIT {
                spare = bytes;
            }
            continue;
        }
        let cur = match ahead.take() {
            Some(b) => b,
            None => {
                let next = peer.st.borrow_mut().requests.pop_front();
                let Some(req) = next else {
                    if overflow_choke_due(&peer) {
                        continue;
                    }
                    peer.wake.notified().await;
                    continue;
                };
                match read_request(&shard, &torrent, req).await {
                    Ok(b) => b,
                    Err(reason) => {
                        peer.close(reason);
                        break;
                    }
                }
            }
        };
        if !still_wanted(&peer, &cur) {
            shard.buffers.put(cur.buf);
            continue;
        }
        let next = peer.st.borrow_mut().requests.pop_front();
        let read_next = async {
            match next {
                Some(req) => Some(read_request(&shard, &torrent, req).await),
                None => None,
            }
        };
        let (sent, read) = tokio::join!(send_block(&shard, &peer, cur), read_next);
        match read {
            Some(Ok(b)) => ahead = Some(b),
            Some(Err(reason)) => {
                peer.close(reason);
                break;
            }
            None => {}
        }
        if let Err(reason) = sent {
            peer.close(reason);
            break;
        }
    }
    if let Some(b) = ahead {
        shard.buffers.put(b.buf);
    }
}

/// The queue of a peer that overflowed it has been served: choke now (every
/// request it still has outstanding was one we did not queue), and unchoke
/// after [`OVERFLOW_PAUSE`]. True when the choke was queued.
fn overflow_choke_due(peer: &Rc<Peer>) -> bool {
    {
        let mut st = peer.st.borrow_mut();
        if st.overflow != Overflow::Draining || st.close.is_some() {
            return false;
        }
        st.overflow = Overflow::Choked;
        st.choke_wire();
    }
    let peer = peer.clone();
    tokio_uring::spawn(async move {
        tokio::time::sleep(OVERFLOW_PAUSE).await;
        peer.end_overflow_choke();
    });
    true
}

/// A block read ahead may have lost its request to a choke meanwhile: then
/// it is not sent (a Fast peer gets the reject BEP 6 asks for).
fn still_wanted(peer: &Peer, b: &ReadyBlock) -> bool {
    let mut st = peer.st.borrow_mut();
    if !st.am_choking || st.allowed_fast.contains(&b.index) {
        return true;
    }
    if st.fast {
        Message::Reject {
            index: b.index,
            begin: b.begin,
            length: b.length,
        }
        .encode(&mut st.outbox);
    }
    false
}

async fn read_request(
    shard: &ShardState,
    torrent: &Torrent,
    QueuedRequest {
        index,
        begin,
        length,
        at,
    }: QueuedRequest,
) -> Result<ReadyBlock, DisconnectReason> {
    let buf = shard.buffers.get();
    let (res, buf) = read_block(shard, torrent, index, begin, length, buf).await;
    match res {
        Ok(data_start) => Ok(ReadyBlock {
            at,
            index,
            begin,
            length,
            buf,
            data_start,
        }),
        Err(e) => {
            tracing::warn!(torrent = %torrent.meta.name, index, begin, error = %e, "block read failed");
            shard.buffers.put(buf);
            Err(DisconnectReason::DiskError)
        }
    }
}

/// Writes the `piece` header into the headroom and sends header and block
/// from the same buffer.
async fn send_block(
    shard: &ShardState,
    peer: &Peer,
    b: ReadyBlock,
) -> Result<(), DisconnectReason> {
    let ReadyBlock {
        at,
        index,
        begin,
        length,
        mut buf,
        data_start,
    } = b;
    let h = data_start - PIECE_HEADER_LEN;
    buf.as_mut_slice()[h..data_start].copy_from_slice(&piece_header(index, begin, length));
    peer.st.borrow_mut().write_started = Some(Instant::now());
    let (res, buf) = write_all(shard, &peer.stream, buf, h..data_start + length as usize).await;
    shard.buffers.put(buf);
    let mut st = peer.st.borrow_mut();
    st.write_started = None;
    res.map_err(|_| DisconnectReason::IoError)?;
    st.uploaded += length as u64;
    st.last_send = Instant::now();
    shard
        .stats
        .borrow_mut()
        .note_block(length as u64 + PIECE_HEADER_LEN as u64, at.elapsed());
    Ok(())
}

async fn read_at(
    shard: &ShardState,
    file: &tokio_uring::fs::File,
    buf: BlockBuf,
    range: Range<usize>,
    off: u64,
) -> (std::io::Result<usize>, BlockBuf) {
    shard.count_op();
    match buf {
        BlockBuf::Fixed(b) => {
            let (r, s) = file.read_fixed_at(b.slice(range), off).await;
            (r, BlockBuf::Fixed(s.into_inner()))
        }
        BlockBuf::Plain(v) => {
            shard.stats.borrow_mut().plain_buffer_blocks += 1;
            let (r, s) = file.read_at(v.slice(range), off).await;
            (r, BlockBuf::Plain(s.into_inner()))
        }
    }
}

async fn write_all(
    shard: &ShardState,
    stream: &TcpStream,
    buf: BlockBuf,
    range: Range<usize>,
) -> (std::io::Result<()>, BlockBuf) {
    shard.count_op();
    match buf {
        BlockBuf::Fixed(b) => {
            let (r, s) = stream.write_fixed_all(b.slice(range)).await;
            (r, BlockBuf::Fixed(s.into_inner()))
        }
        BlockBuf::Plain(v) => {
            let (r, s) = stream.write_all(v.slice(range)).await;
            (r, BlockBuf::Plain(s.into_inner()))
        }
    }
}

fn short_read() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "file shorter than the torrent says",
    )
}

/// Reads block `(index, begin, length)` into `buf`; returns where the data starts
/// (the header goes in the 13 bytes before it).
async fn read_block(
    shard: &ShardState,
    torrent: &Torrent,
    index: u32,
    begin: u32,
    length: u32,
    mut buf: BlockBuf,
) -> (std::io::Result<usize>, BlockBuf) {
    let layout = BlockLayout::for_buffer(buf.base(), shard.config.direct_io);
    let a = layout.aligned_start;
    let offset = torrent.meta.lengths.piece_offset(index) + begin as u64;
    let extents = torrent.layout.extents(offset, length);
    // O_DIRECT: one extent read as whole aligned pages, landing in the buffer itself.
    if shard.config.direct_io && extents.len() == 1 && !extents[0].pad {
        let e = extents[0];
        if let Some(file) = shard.file(torrent, e.file, true) {
            let aligned = e.file_offset & !(DIRECT_ALIGN as u64 - 1);
            let r = (e.file_offset - aligned) as usize;
            let rlen = (r + e.len as usize).div_ceil(DIRECT_ALIGN) * DIRECT_ALIGN;
            let (res, b) = read_at(shard, &file, buf, a..a + rlen, aligned).await;
            return match res {
                Ok(n) if n >= r + e.len as usize => (Ok(a + r), b),
                Ok(_) => (Err(short_read()), b),
                Err(err) => (Err(err), b),
            };
        }
    }
    let mut pos = a;
    for e in extents {
        let end = pos + e.len as usize;
        if e.pad {
            buf.as_mut_slice()[pos..end].fill(0);
            pos = end;
            continue;
        }
        let Some(file) = shard.file(torrent, e.file, false) else {
            return (
                Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "cannot open file",
                )),
                buf,
            );
        };
        let mut off = e.file_offset;
        while pos < end {
            let (res, b) = read_at(shard, &file, buf, pos..end, off).await;
            buf = b;
            match res {
                Ok(0) => return (Err(short_read()), buf),
                Ok(n) => {
                    pos += n;
                    off += n as u64;
                }
                Err(err) => return (Err(err), buf),
            }
        }
    }
    (Ok(a), buf)
}
