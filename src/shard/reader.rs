//! The read side of a connection: the BEP 3 handshake (incoming or
//! outgoing), then the message loop, with one function per message.
//!
//! Frames are parsed from a small buffer that grows only up to a limit set
//! by the torrent (never by a length a peer sent). Every request is
//! validated; the rules for bending peers (late bitfields, deep pipelines)
//! are in the message functions and in [`super::peer`].

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use ringseed_proto::metainfo::{InfoHash, RequestError};
use ringseed_proto::wire::{
    self, allowed_fast_set, parse_frame, ExtHandshake, Handshake, Message, HANDSHAKE_LEN,
};
use tokio_uring::buf::BoundedBuf;

use super::peer::{message_id, Overflow, Peer, PeerState, QueuedRequest};
use super::writer;
use super::ShardState;
use crate::disconnect::DisconnectReason;
use crate::listen::is_loopback;
use crate::messages::{msg_slot, ClosedPeer, PeerHello, ShardEvent, HANDSHAKE_SLOT};
use crate::torrent::{Torrent, TorrentEntry};
use ringseed_proto::bitfield::Bitfield;

/// Initial read buffer per connection, bytes. Leechers send small messages;
/// the buffer grows for a long legitimate frame (a bitfield) up to the
/// torrent's frame limit and shrinks back afterwards.
const READ_BUF: usize = 2048;
/// Allowed-fast pieces offered to a Fast peer (BEP 6 suggests 10).
const ALLOWED_FAST: usize = 10;
/// Control bytes we may have queued for a peer that does not read, bytes.
const OUTBOX_LIMIT: usize = 64 * 1024;
/// Misbehaviour points of one invalid request.
const INVALID_REQUEST_POINTS: u32 = 10;

/// Runs a connection to its end, then reports the close. `outgoing` names
/// the torrent when we dialled the peer.
pub(crate) async fn serve(shard: Rc<ShardState>, peer: Rc<Peer>, outgoing: Option<InfoHash>) {
    let result = run(&shard, &peer, outgoing).await;
    let (reason, info_hash, client) = {
        let mut st = peer.st.borrow_mut();
        let reason = *st.close.get_or_insert(result);
        (
            reason,
            st.torrent
                .as_ref()
                .map(|t| t.meta.info_hash)
                .or(st.asked_info_hash)
                .or(outgoing),
            st.client.clone(),
        )
    };
    let _ = peer.stream.shutdown(std::net::Shutdown::Both);
    peer.wake.notify_one();
    shard.remove_peer(peer.key);
    tracing::debug!(peer = %peer.addr, %reason, "peer closed");
    let _ = shard.events.send(ShardEvent::Closed {
        key: Some(peer.key),
        reason,
        peer: Some(Box::new(ClosedPeer {
            addr: peer.addr,
            info_hash,
            client,
            source: peer.source,
        })),
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
            Ok(n) => {
                let mut st = peer.st.borrow_mut();
                st.bytes_recv += n as u64;
                st.last_recv = Instant::now();
            }
            Err(e) => return (Err(DisconnectReason::from_io(&e)), buf),
        }
    }
    (Ok(()), buf)
}

/// The torrent a handshake may join, or why not.
fn lookup(shard: &ShardState, info_hash: &InfoHash) -> Result<Arc<Torrent>, DisconnectReason> {
    match shard.registry.read().get(info_hash) {
        None | Some(TorrentEntry::Paused) => Err(DisconnectReason::UnknownInfoHash),
        Some(TorrentEntry::Checking) => Err(DisconnectReason::TorrentChecking),
        Some(TorrentEntry::Ready(t)) => Ok(t.clone()),
    }
}

async fn write_handshake(
    shard: &ShardState,
    peer: &Peer,
    info_hash: InfoHash,
) -> Result<(), DisconnectReason> {
    let ours = Handshake::new(info_hash, shard.peer_id);
    shard.count_op();
    let (res, _) = peer.stream.write_all(ours.encode().to_vec()).await;
    res.map_err(|e| DisconnectReason::from_io(&e))?;
    let mut st = peer.st.borrow_mut();
    st.bytes_sent += HANDSHAKE_LEN as u64;
    st.sent_per_msg[HANDSHAKE_SLOT] += HANDSHAKE_LEN as u64;
    st.last_send = Instant::now();
    Ok(())
}

/// BEP 3 handshake. Incoming: the info hash is checked before we answer;
/// outgoing: we speak first and the peer must answer for the same torrent.
async fn handshake(
    shard: &ShardState,
    peer: &Peer,
    outgoing: Option<InfoHash>,
) -> Result<(Arc<Torrent>, Handshake, Vec<u8>), DisconnectReason> {
    let buf = Vec::with_capacity(READ_BUF);
    let torrent = match outgoing {
        Some(ih) => {
            let t = lookup(shard, &ih)?;
            write_handshake(shard, peer, ih).await?;
            Some(t)
        }
        None => None,
    };
    let (r, buf) = fill(peer, shard, buf, 48).await;
    r?;
    let prefix: &[u8; 48] = buf[..48].try_into().expect("48 bytes");
    let (reserved, info_hash) =
        Handshake::decode_prefix(prefix).map_err(|_| DisconnectReason::BadHandshake)?;
    peer.st.borrow_mut().asked_info_hash = Some(info_hash);
    let torrent = match torrent {
        Some(t) if t.meta.info_hash == info_hash => t,
        Some(_) => return Err(DisconnectReason::UnknownInfoHash),
        None => {
            let t = lookup(shard, &info_hash)?;
            write_handshake(shard, peer, info_hash).await?;
            t
        }
    };
    let (r, mut buf) = fill(peer, shard, buf, HANDSHAKE_LEN).await;
    r?;
    let theirs = Handshake {
        reserved,
        info_hash,
        peer_id: buf[48..68].try_into().expect("20 bytes"),
    };
    buf.drain(..HANDSHAKE_LEN);
    peer.st.borrow_mut().recv_per_msg[HANDSHAKE_SLOT] += HANDSHAKE_LEN as u64;
    if theirs.peer_id == shard.peer_id {
        return Err(DisconnectReason::SelfConnection);
    }
    if shard.has_peer_id(&info_hash, &theirs.peer_id) {
        return Err(DisconnectReason::DuplicatePeer);
    }
    Ok((torrent, theirs, buf))
}

/// After the handshake: our BEP 10 handshake, what we have (`have_all`,
/// `have_none` or a bitfield), the allowed-fast set; then tell the coordinator.
fn greet(shard: &ShardState, peer: &Peer, torrent: &Arc<Torrent>, theirs: &Handshake) {
    let num_pieces = torrent.meta.lengths.num_pieces();
    let info_hash = torrent.meta.info_hash;
    {
        let mut guard = peer.st.borrow_mut();
        let st = &mut *guard;
        shard.handshake_done(st);
        st.fast = theirs.supports_fast();
        st.peer_id = theirs.peer_id;
        st.torrent = Some(torrent.clone());
        st.peer_pieces = Bitfield::new(num_pieces);
        if theirs.supports_extensions() {
            let ext = ExtHandshake {
                extensions: Vec::new(),
                client: Some(shard.client_name.clone()),
                reqq: Some(shard.config.network.reqq as u32),
                yourip: Some(peer.addr.ip()),
                upload_only: true,
                listen_port: Some(shard.listen_port.get()),
            };
            st.queue(Message::Extended {
                id: wire::EXTENDED_HANDSHAKE_ID,
                payload: &ext.encode(),
            });
        }
        if theirs.supports_fast() && torrent.is_complete() {
            st.queue(Message::HaveAll);
        } else if theirs.supports_fast() && torrent.pieces.count() == 0 {
            st.queue(Message::HaveNone);
        } else {
            st.queue(Message::Bitfield(torrent.pieces.as_bytes()));
        }
        if theirs.supports_fast() {
            let set: Vec<u32> =
                allowed_fast_set(peer.addr.ip(), &info_hash, num_pieces, ALLOWED_FAST)
                    .into_iter()
                    .filter(|i| torrent.pieces.get(*i))
                    .collect();
            for &i in &set {
                st.queue(Message::AllowedFast(i));
            }
            st.allowed_fast = set;
        }
    }
    shard.note_peer_id(info_hash, theirs.peer_id);
    let _ = shard.events.send(ShardEvent::Connected(Box::new(PeerHello {
        key: peer.key,
        shard: shard.id,
        info_hash,
        addr: peer.addr,
        local_addr: peer.local_addr,
        peer_id: ringseed_proto::peer_id::PeerId(theirs.peer_id),
        reserved: theirs.reserved,
        outgoing: peer.outgoing,
        source: peer.source,
        connected_unix: crate::messages::unix_now(),
        num_pieces,
    })));
}

async fn run(
    shard: &Rc<ShardState>,
    peer: &Rc<Peer>,
    outgoing: Option<InfoHash>,
) -> DisconnectReason {
    let (torrent, theirs, mut buf) = match handshake(shard, peer, outgoing).await {
        Ok(x) => x,
        Err(reason) => return reason,
    };
    greet(shard, peer, &torrent, &theirs);
    tokio_uring::spawn(writer::run(shard.clone(), peer.clone(), torrent.clone()));
    peer.wake.notify_one();

    // Longest frame we accept: a full bitfield or a BEP 10 message, whichever is larger.
    let max_frame = (torrent.pieces.as_bytes().len() as u32 + 1).max(64 * 1024);
    loop {
        // Handle every complete frame in the buffer.
        let mut used = 0;
        let mut wake_writer = false;
        loop {
            match parse_frame(&buf[used..], max_frame) {
                Ok(Some((n, msg))) => {
                    used += n;
                    peer.st.borrow_mut().recv_per_msg[msg_slot(message_id(&msg))] += n as u64;
                    match handle(shard, peer, &torrent, msg) {
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
        if let Some(reason) = peer.st.borrow().close {
            return reason;
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

/// What a message handler needs besides the peer's state.
struct Ctx<'a> {
    shard: &'a ShardState,
    peer: &'a Peer,
    torrent: &'a Torrent,
}

/// Handles one message; `Ok(true)` when the writer has new work.
fn handle(
    shard: &ShardState,
    peer: &Peer,
    torrent: &Torrent,
    msg: Message<'_>,
) -> Result<bool, DisconnectReason> {
    let cx = Ctx {
        shard,
        peer,
        torrent,
    };
    let mut guard = peer.st.borrow_mut();
    let st = &mut *guard;
    match msg {
        Message::KeepAlive
        | Message::Port(_)
        | Message::Suggest(_)
        | Message::Reject { .. }
        | Message::AllowedFast(_)
        | Message::Unknown { .. } => Ok(false),
        Message::Choke => {
            st.peer_choking = true;
            Ok(false)
        }
        Message::Unchoke => {
            st.peer_choking = false;
            Ok(false)
        }
        Message::Interested => on_interest(&cx, st, true),
        Message::NotInterested => on_interest(&cx, st, false),
        Message::Bitfield(bits) => on_bitfield(&cx, st, bits),
        Message::HaveAll => on_have_all(&cx, st),
        Message::HaveNone => on_have_none(st),
        Message::Have(i) => on_have(&cx, st, i),
        Message::Request {
            index,
            begin,
            length,
        } => on_request(&cx, st, index, begin, length),
        Message::Cancel {
            index,
            begin,
            length,
        } => on_cancel(st, index, begin, length),
        Message::Piece { block, .. } => {
            st.downloaded += block.len() as u64;
            Err(DisconnectReason::UnexpectedPiece)
        }
        Message::Extended { id, payload } => on_extended(&cx, st, id, payload),
    }
}

fn on_interest(cx: &Ctx, st: &mut PeerState, interested: bool) -> Result<bool, DisconnectReason> {
    if st.peer_interested != interested {
        st.peer_interested = interested;
        st.interest_changed_at = Instant::now();
        let _ = cx.shard.events.send(ShardEvent::Interest {
            key: cx.peer.key,
            interested,
        });
    }
    Ok(false)
}

// A bitfield, have_all or have_none may come late, and more than once
// (aria2 sends a second bitfield, then have_all on completion): libtorrent
// and Transmission merge them, and so do we. A bitfield of the wrong length,
// and have_all/have_none without BEP 6, are refused.
fn on_bitfield(cx: &Ctx, st: &mut PeerState, bits: &[u8]) -> Result<bool, DisconnectReason> {
    // The length must fit and spare bits past the last piece be zero (BEP 3).
    st.merge_bitfield(bits)
        .map_err(|_| DisconnectReason::MalformedMessage)?;
    both_seeds(cx, st)
}

fn on_have_all(cx: &Ctx, st: &mut PeerState) -> Result<bool, DisconnectReason> {
    if !st.fast {
        return Err(DisconnectReason::MalformedMessage);
    }
    st.set_all();
    both_seeds(cx, st)
}

fn on_have_none(st: &mut PeerState) -> Result<bool, DisconnectReason> {
    if !st.fast {
        return Err(DisconnectReason::MalformedMessage);
    }
    Ok(false)
}

fn on_have(cx: &Ctx, st: &mut PeerState, i: u32) -> Result<bool, DisconnectReason> {
    if i >= cx.torrent.meta.lengths.num_pieces() {
        return Err(DisconnectReason::MalformedMessage);
    }
    if st.peer_pieces.set(i, true) {
        st.bitfield_dirty = true;
    }
    both_seeds(cx, st)
}

/// A peer with every piece has nothing to get from a seed.
fn both_seeds(cx: &Ctx, st: &PeerState) -> Result<bool, DisconnectReason> {
    if st.peer_pieces.count() == cx.torrent.meta.lengths.num_pieces() && cx.torrent.is_complete() {
        return Err(DisconnectReason::BothSeeds);
    }
    Ok(false)
}

fn on_request(
    cx: &Ctx,
    st: &mut PeerState,
    index: u32,
    begin: u32,
    length: u32,
) -> Result<bool, DisconnectReason> {
    let torrent = cx.torrent;
    let reject = Message::Reject {
        index,
        begin,
        length,
    };
    let valid = torrent
        .meta
        .lengths
        .check_request(index, begin, length)
        .and_then(|()| {
            if torrent.pieces.get(index) {
                Ok(())
            } else {
                Err(RequestError::PieceOutOfRange(index))
            }
        });
    if valid.is_err() {
        if !st.fast {
            return Err(DisconnectReason::InvalidRequest);
        }
        misbehaved(cx, st, INVALID_REQUEST_POINTS)?;
        st.queue(reject);
        return Ok(true);
    }
    let reqq = cx.shard.config.network.reqq as u32;
    if st.am_choking && !st.allowed_fast.contains(&index) {
        // BEP 3: requests while choked are discarded (the peer knows from our
        // choke); BEP 6: rejected. Either way they count towards the flood
        // limit: a peer keeps asking after a choke only for what was in flight.
        st.note_unqueued(reqq)?;
        if st.fast {
            st.queue(reject);
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
        st.note_unqueued(reqq)?;
        if st.fast {
            // BEP 6: a request we will not serve gets a reject.
            st.queue(reject);
            return Ok(true);
        }
        // A peer without BEP 6 cannot be told "no" for one request, and a
        // silently dropped request leaves it waiting forever: serve the
        // queue, then choke and unchoke (see `Overflow`).
        st.overflow = Overflow::Draining;
        return Ok(false);
    }
    st.requests.push_back(QueuedRequest {
        index,
        begin,
        length,
        at: Instant::now(),
    });
    Ok(true)
}

fn on_cancel(
    st: &mut PeerState,
    index: u32,
    begin: u32,
    length: u32,
) -> Result<bool, DisconnectReason> {
    if let Some(pos) = st
        .requests
        .iter()
        .position(|r| (r.index, r.begin, r.length) == (index, begin, length))
    {
        st.requests.remove(pos);
        // BEP 6: a cancelled request is answered with a reject.
        if st.fast {
            st.queue(Message::Reject {
                index,
                begin,
                length,
            });
            return Ok(true);
        }
    }
    Ok(false)
}

fn on_extended(
    cx: &Ctx,
    st: &mut PeerState,
    id: u8,
    payload: &[u8],
) -> Result<bool, DisconnectReason> {
    if id != wire::EXTENDED_HANDSHAKE_ID {
        return Ok(false);
    }
    let h = ExtHandshake::decode(payload).map_err(|_| DisconnectReason::MalformedMessage)?;
    if let Some(v) = h.client {
        st.client = Some(Arc::from(v.as_str()));
    }
    st.peer_reqq = h.reqq;
    st.yourip = h.yourip;
    st.upload_only = h.upload_only;
    if h.upload_only && cx.torrent.is_complete() {
        return Err(DisconnectReason::BothSeeds);
    }
    Ok(false)
}

/// Adds misbehaviour points. When the score first reaches the ban score
/// (100): a whitelisted peer is only logged; any other is disconnected, and
/// its address banned unless it is loopback (getpeerinfo's rules).
fn misbehaved(cx: &Ctx, st: &mut PeerState, points: u32) -> Result<(), DisconnectReason> {
    if !st.add_score(points) {
        return Ok(());
    }
    let ip = cx.peer.addr.ip();
    if cx.peer.whitelisted {
        tracing::info!(peer = %cx.peer.addr, score = st.score, "whitelisted peer reached the ban score; kept");
        return Ok(());
    }
    if !is_loopback(ip) {
        let _ = cx.shard.events.send(ShardEvent::Ban(ip));
    }
    Err(DisconnectReason::Banned)
}
