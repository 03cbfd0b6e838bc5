//! One peer's state on its shard: choke and interest on both sides, the
//! request queue, what the peer has, and its counters (wire bytes per
//! message name, payload bytes, times). Owned by exactly one shard
//! (`Rc`/`RefCell`, single thread); never borrowed across an `.await`.
//!
//! The choke rules live here: BEP 3 (a choke discards the peer's queued
//! requests), BEP 6 (a Fast peer gets `reject` for each), and the overflow
//! choke for peers without BEP 6 (see [`Overflow`]).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringseed_proto::wire::Message;
use tokio::sync::Notify;
use tokio_uring::net::TcpStream;

use crate::disconnect::DisconnectReason;
use crate::messages::{msg_slot, PeerKey, PeerSnapshot, PeerSource, MSG_SLOTS};
use crate::torrent::Torrent;
use ringseed_proto::bitfield::{Bitfield, BitfieldMismatch};

/// Request-queue capacity kept by a peer whose queue emptied (entries);
/// a queue that grew past it for a burst gives the rest back.
const QUEUE_KEEP: usize = 64;
/// Misbehaviour score at which a peer is disconnected and banned
/// (getpeerinfo's default `-banscore`).
pub(crate) const BAN_SCORE: u32 = 100;

/// How long an overflow choke lasts before the unchoke: long enough for
/// requests the peer sent before it saw the choke to arrive (and be
/// discarded) rather than be served twice.
pub(crate) const OVERFLOW_PAUSE: Duration = Duration::from_millis(250);

/// One connection, owned by exactly one shard.
pub(crate) struct Peer {
    pub(crate) key: PeerKey,
    pub(crate) addr: SocketAddr,
    pub(crate) local_addr: Option<SocketAddr>,
    pub(crate) stream: TcpStream,
    /// We dialled the peer.
    pub(crate) outgoing: bool,
    /// Where we learnt of the peer.
    pub(crate) source: PeerSource,
    /// Misbehaviour never disconnects or bans this peer (`network.whitelist`).
    pub(crate) whitelisted: bool,
    /// Wakes the writer (new requests, control messages, budget, close).
    pub(crate) wake: Notify,
    pub(crate) st: RefCell<PeerState>,
}

/// A request waiting to be served.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueuedRequest {
    pub(crate) index: u32,
    pub(crate) begin: u32,
    pub(crate) length: u32,
    /// When it arrived (for the block serve time).
    pub(crate) at: Instant,
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
pub(crate) enum Overflow {
    None,
    /// The queue overflowed: later requests are not queued; once the queue
    /// is served, the writer sends the choke.
    Draining,
    /// The choke went out; the unchoke follows after [`OVERFLOW_PAUSE`].
    Choked,
}

/// Mutable state of a peer.
pub(crate) struct PeerState {
    pub(crate) connected_at: Instant,
    pub(crate) handshake_done: bool,
    pub(crate) torrent: Option<Arc<Torrent>>,
    /// The info hash the peer's handshake named (known even when refused).
    pub(crate) asked_info_hash: Option<ringseed_proto::metainfo::InfoHash>,
    pub(crate) fast: bool,
    pub(crate) peer_id: [u8; 20],
    pub(crate) client: Option<Arc<str>>,
    /// The peer's `reqq` from its BEP 10 handshake: requests it lets us queue.
    pub(crate) peer_reqq: Option<u32>,
    /// Our address as the peer sees it (its BEP 10 `yourip`).
    pub(crate) yourip: Option<IpAddr>,
    pub(crate) upload_only: bool,
    pub(crate) am_choking: bool,
    /// The peer's last choke/unchoke to us (a seed never asks, so only shown).
    pub(crate) peer_choking: bool,
    pub(crate) peer_interested: bool,
    pub(crate) interest_changed_at: Instant,
    /// Queued requests, oldest first.
    pub(crate) requests: VecDeque<QueuedRequest>,
    pub(crate) allowed_fast: Vec<u32>,
    /// Encoded control messages waiting for the writer.
    pub(crate) outbox: Vec<u8>,
    /// Set once the connection is closing, with why.
    pub(crate) close: Option<DisconnectReason>,
    /// Payload bytes sent / received.
    pub(crate) uploaded: u64,
    pub(crate) downloaded: u64,
    /// Wire bytes sent / received (everything, handshake included).
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_recv: u64,
    /// Wire bytes per message name (`messages::MSG_NAMES`), length prefix included.
    pub(crate) sent_per_msg: [u64; MSG_SLOTS],
    pub(crate) recv_per_msg: [u64; MSG_SLOTS],
    /// The pieces the peer says it has (sized at the handshake by our
    /// torrent's piece count; empty before).
    pub(crate) peer_pieces: Bitfield,
    /// The peer's pieces changed since the last snapshot.
    pub(crate) bitfield_dirty: bool,
    pub(crate) score: u32,
    /// The coordinator wants the peer unchoked (the wire state is
    /// `am_choking`; the two differ while an overflow choke lasts).
    pub(crate) want_unchoked: bool,
    /// Where a peer without BEP 6 stands after overflowing its queue.
    pub(crate) overflow: Overflow,
    /// Requests we could not queue (queue full, or sent while choked):
    /// decays by `reqq` each second; past 4 × `reqq` the peer is a flood.
    pub(crate) flood: u32,
    /// Mean request → block-sent time, ms (exponentially weighted).
    pub(crate) serve_ms: f32,
    /// The writer is waiting for upload budget.
    pub(crate) waiting_budget: bool,
    /// When the current write started (for the write timeout).
    pub(crate) write_started: Option<Instant>,
    pub(crate) last_send: Instant,
    pub(crate) last_recv: Instant,
}

impl Peer {
    pub(crate) fn new(
        key: PeerKey,
        addr: SocketAddr,
        stream: TcpStream,
        outgoing: bool,
        source: PeerSource,
        whitelisted: bool,
    ) -> Self {
        let now = Instant::now();
        let local_addr = local_addr_of(&stream);
        Peer {
            key,
            addr,
            local_addr,
            stream,
            outgoing,
            source,
            whitelisted,
            wake: Notify::new(),
            st: RefCell::new(PeerState {
                connected_at: now,
                handshake_done: false,
                torrent: None,
                asked_info_hash: None,
                fast: false,
                peer_id: [0; 20],
                client: None,
                peer_reqq: None,
                yourip: None,
                upload_only: false,
                am_choking: true,
                peer_choking: true,
                peer_interested: false,
                interest_changed_at: now,
                requests: VecDeque::new(),
                allowed_fast: Vec::new(),
                outbox: Vec::new(),
                close: None,
                uploaded: 0,
                downloaded: 0,
                bytes_sent: 0,
                bytes_recv: 0,
                sent_per_msg: [0; MSG_SLOTS],
                recv_per_msg: [0; MSG_SLOTS],
                peer_pieces: Bitfield::default(),
                bitfield_dirty: false,
                score: 0,
                want_unchoked: false,
                overflow: Overflow::None,
                flood: 0,
                serve_ms: 0.0,
                waiting_budget: false,
                write_started: None,
                last_send: now,
                last_recv: now,
            }),
        }
    }

    /// Starts closing the connection for `reason` (the first reason wins):
    /// shuts the socket down so pending reads and writes end, and wakes the writer.
    pub(crate) fn close(&self, reason: DisconnectReason) {
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
    pub(crate) fn send(&self, m: Message<'_>) {
        self.st.borrow_mut().queue(m);
        self.wake.notify_one();
    }

    /// Coordinator decision: choke.
    pub(crate) fn choke(&self) {
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
    pub(crate) fn unchoke(&self) {
        {
            let mut st = self.st.borrow_mut();
            st.want_unchoked = true;
            if !st.am_choking || st.close.is_some() || st.overflow == Overflow::Choked {
                return;
            }
            st.am_choking = false;
            st.queue(Message::Unchoke);
        }
        self.wake.notify_one();
    }

    /// Ends an overflow choke: unchoke again if the coordinator still wants
    /// the peer unchoked.
    pub(crate) fn end_overflow_choke(&self) {
        let mut st = self.st.borrow_mut();
        if st.overflow != Overflow::Choked {
            return;
        }
        st.overflow = Overflow::None;
        if st.want_unchoked && st.am_choking && st.close.is_none() {
            st.am_choking = false;
            st.queue(Message::Unchoke);
            drop(st);
            self.wake.notify_one();
        }
    }

    /// Housekeeping, once a second: the flood counter decays by `reqq`.
    pub(crate) fn tick(&self, reqq: u32) {
        let mut st = self.st.borrow_mut();
        st.flood = st.flood.saturating_sub(reqq);
    }

    /// This second's snapshot for the coordinator. `rtt` is the kernel's
    /// (srtt, min_rtt) in µs when wanted.
    pub(crate) fn snapshot(&self, rtt: (u32, u32), now: Instant, now_unix: u64) -> PeerSnapshot {
        let mut st = self.st.borrow_mut();
        let unix = |t: Instant| now_unix.saturating_sub(now.saturating_duration_since(t).as_secs());
        let mut inflight: Vec<u32> = Vec::new();
        for r in &st.requests {
            if inflight.last() != Some(&r.index) && !inflight.contains(&r.index) {
                if inflight.len() == 256 {
                    break;
                }
                inflight.push(r.index);
            }
        }
        inflight.sort_unstable();
        let bitfield = if st.bitfield_dirty {
            st.bitfield_dirty = false;
            Some(Arc::from(st.peer_pieces.as_bytes()))
        } else {
            None
        };
        PeerSnapshot {
            key: self.key,
            am_choking: st.am_choking,
            peer_choking: st.peer_choking,
            peer_interested: st.peer_interested,
            uploaded: st.uploaded,
            downloaded: st.downloaded,
            bytes_sent: st.bytes_sent,
            bytes_recv: st.bytes_recv,
            last_send_unix: unix(st.last_send),
            last_recv_unix: unix(st.last_recv),
            queue_len: st.requests.len() as u32,
            inflight,
            have_count: st.peer_pieces.count(),
            bitfield,
            rtt_us: rtt.0,
            min_rtt_us: rtt.1,
            serve_ms: st.serve_ms.round() as u32,
            score: st.score,
            client: st.client.clone(),
            yourip: st.yourip,
            upload_only: st.upload_only,
            sent_per_msg: st.sent_per_msg,
            recv_per_msg: st.recv_per_msg,
        }
    }
}

fn local_addr_of(stream: &TcpStream) -> Option<SocketAddr> {
    use std::os::fd::{AsRawFd, BorrowedFd};
    // SAFETY: the descriptor is open for the stream's lifetime; we only borrow it.
    let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
    socket2::SockRef::from(&fd).local_addr().ok()?.as_socket()
}

impl PeerState {
    /// Encodes a control message into the outbox and counts its bytes.
    pub(crate) fn queue(&mut self, m: Message<'_>) {
        let before = self.outbox.len();
        let id = message_id(&m);
        m.encode(&mut self.outbox);
        let n = (self.outbox.len() - before) as u64;
        self.sent_per_msg[msg_slot(id)] += n;
    }

    /// Sends `choke` and drops the queued requests: BEP 3 says a choke
    /// discards them, and a Fast peer gets a `reject` for each one that is
    /// not allowed-fast (BEP 6); allowed-fast requests stay queued.
    pub(crate) fn choke_wire(&mut self) {
        self.am_choking = true;
        self.queue(Message::Choke);
        let mut requests = std::mem::take(&mut self.requests);
        requests.retain(|r| {
            let keep = self.allowed_fast.contains(&r.index);
            if !keep && self.fast {
                self.queue(Message::Reject {
                    index: r.index,
                    begin: r.begin,
                    length: r.length,
                });
            }
            keep
        });
        if requests.is_empty() {
            // A queue that once held thousands of requests gives its memory back.
            requests.shrink_to(QUEUE_KEEP);
        }
        self.requests = requests;
    }

    /// Counts a request we could not queue; `Err` once the peer floods.
    pub(crate) fn note_unqueued(&mut self, reqq: u32) -> Result<(), DisconnectReason> {
        self.flood = self.flood.saturating_add(1);
        if self.flood > 4 * reqq {
            return Err(DisconnectReason::RequestFlood);
        }
        Ok(())
    }

    /// Adds misbehaviour points; true when the score just reached [`BAN_SCORE`]
    /// (getpeerinfo: the crossing, not every point past it, triggers the ban).
    pub(crate) fn add_score(&mut self, points: u32) -> bool {
        let before = self.score;
        self.score = self.score.saturating_add(points);
        before < BAN_SCORE && self.score >= BAN_SCORE
    }

    /// Merges what the peer says it has (a bitfield, possibly late) into
    /// what we know: pieces are never lost, so the result is the union.
    ///
    /// Errors: the bitfield does not fit the torrent (its length, or a
    /// spare bit set); nothing changes then.
    pub(crate) fn merge_bitfield(&mut self, bits: &[u8]) -> Result<(), BitfieldMismatch> {
        self.peer_pieces.merge(bits)?;
        self.bitfield_dirty = true;
        Ok(())
    }

    /// The peer has every piece (`have_all`, BEP 6): spare bits stay zero.
    pub(crate) fn set_all(&mut self) {
        self.peer_pieces.fill();
        self.bitfield_dirty = true;
    }

    /// Records one more served block's request → sent time.
    pub(crate) fn note_served(&mut self, d: Duration) {
        let ms = d.as_secs_f32() * 1000.0;
        self.serve_ms = if self.serve_ms == 0.0 {
            ms
        } else {
            self.serve_ms * 0.9 + ms * 0.1
        };
    }
}

/// The wire id of a message (`None` for a keep-alive).
pub(crate) fn message_id(m: &Message<'_>) -> Option<u8> {
    use ringseed_proto::wire::id;
    Some(match m {
        Message::KeepAlive => return None,
        Message::Choke => id::CHOKE,
        Message::Unchoke => id::UNCHOKE,
        Message::Interested => id::INTERESTED,
        Message::NotInterested => id::NOT_INTERESTED,
        Message::Have(_) => id::HAVE,
        Message::Bitfield(_) => id::BITFIELD,
        Message::Request { .. } => id::REQUEST,
        Message::Piece { .. } => id::PIECE,
        Message::Cancel { .. } => id::CANCEL,
        Message::Port(_) => id::PORT,
        Message::Suggest(_) => id::SUGGEST,
        Message::HaveAll => id::HAVE_ALL,
        Message::HaveNone => id::HAVE_NONE,
        Message::Reject { .. } => id::REJECT,
        Message::AllowedFast(_) => id::ALLOWED_FAST,
        Message::Extended { .. } => id::EXTENDED,
        Message::Unknown { id, .. } => *id,
    })
}
