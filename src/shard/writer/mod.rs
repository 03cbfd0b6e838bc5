//! The write side of a connection: control messages first, then blocks.
//!
//! Blocks leave in batches: every queued request the budget allows (at most
//! [`MAX_BATCH`], fewer when registered buffers run short) is prepared at
//! once and sent in one submission, so a burst leaves as few large segments
//! and, with `TCP_NODELAY`, its last byte is never held back by Nagle. While
//! one batch is being sent the next is prepared, so a single fast peer is not
//! limited by disk and socket taking turns. With a rate limit a block is
//! prepared only once the shard's budget allows it.
//!
//! Three ways to send (`[network] send_mode`):
//! - `fixed`: consecutive blocks of one file extent are read with one
//!   `readv` into registered buffers behind 13 bytes of headroom each, the
//!   `piece` headers are written into the headroom, and one `writev` sends
//!   the batch (no user-space copy).
//! - `splice`: the headers are written into a pipe and the blocks spliced
//!   from the file into the same pipe (one linked chain on the shard's side
//!   ring), then the pipe is spliced to the socket: page-cache data never
//!   enters user memory.
//! - `zc`: as `fixed`, sent with `IORING_OP_SENDMSG_ZC` from the same buffers.
//!
//! This file is the writer loop, batch selection and what the three modes
//! share; [`fixed`] reads into block buffers and sends them with
//! `writev`, [`splice`] fills and drains pipes on the side ring, [`zc`] is
//! the zerocopy send. The writer opens no file and walks no extent: reads
//! go through [`crate::storage::read::Disk`] (wire → reader → writer →
//! storage).

mod cached;
mod fixed;
mod splice;
mod zc;

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use ringseed_proto::wire::{Message, PIECE_HEADER_LEN};

use super::peer::{Overflow, Peer, QueuedRequest, OVERFLOW_PAUSE};
use super::ShardState;
use crate::config::SendMode;
use crate::disconnect::DisconnectReason;
use crate::messages::msg_slot;
use crate::storage::read::{Disk, TorrentFiles};
use crate::torrent::Torrent;
use cached::{CachedBlock, Way};
use fixed::ReadyBlock;
use splice::PipeBatch;

/// Outbox capacity kept between writes, bytes.
const OUTBOX_KEEP: usize = 64 * 1024;
/// Most blocks prepared and sent as one batch (512 KiB of 16 KiB blocks).
pub(crate) const MAX_BATCH: usize = 32;

/// A batch prepared for sending.
enum Ready {
    Bufs(Vec<ReadyBlock>),
    Pipe(PipeBatch),
    /// Blocks in read-cache extents (the cold path).
    Cached(Vec<CachedBlock>),
}

impl Ready {
    fn is_empty(&self) -> bool {
        match self {
            Ready::Bufs(b) => b.is_empty(),
            Ready::Pipe(p) => p.reqs.is_empty(),
            Ready::Cached(b) => b.is_empty(),
        }
    }
}

/// The next queued request, if the upload budget allows a block now; else
/// the writer is queued for the next grant and `None` is returned.
fn next_request(shard: &ShardState, peer: &Rc<Peer>, torrent: &Torrent) -> Option<QueuedRequest> {
    let mut st = peer.st.borrow_mut();
    let req = *st.requests.front()?;
    if !shard.budget.unlimited() && !shard.budget.try_take(&torrent.meta.info_hash, req.length) {
        drop(st);
        shard.budget.wait(peer);
        return None;
    }
    st.requests.pop_front()
}

/// Blocks a batch may hold now: one under a rate limit; else [`MAX_BATCH`], fewer when the shard's free
/// registered buffers run short (each block of a `fixed`/`zc` batch holds
/// one, and a peer holds two batches: one sending, one being read), or what
/// a pipe holds in `splice` mode.
fn batch_limit(shard: &ShardState) -> usize {
    // Under a rate limit writers take turns a block at a time, so the
    // period's allowance is shared by every waiting peer (a batch would let
    // the first one woken take it all).
    if !shard.budget.unlimited() {
        return 1;
    }
    if let (SendMode::Splice, Some(side)) = (shard.send_mode.get(), shard.side.as_ref()) {
        if side.pipe_available() {
            return (side.pipe_capacity() / 4096 / splice::SLOTS_PER_BLOCK).clamp(1, MAX_BATCH);
        }
        // No pipe free: this batch goes through buffers, sized like one.
    }
    let reg = shard.buffers.registered();
    if reg == 0 {
        return 4;
    }
    let free = reg.saturating_sub(shard.buffers.in_use());
    (free / 32).clamp(1, MAX_BATCH)
}

/// Takes up to a batch of queued requests the budget allows.
fn gather(shard: &ShardState, peer: &Rc<Peer>, torrent: &Torrent) -> Vec<QueuedRequest> {
    let limit = batch_limit(shard);
    let mut v = Vec::new();
    while v.len() < limit {
        match next_request(shard, peer, torrent) {
            Some(r) => v.push(r),
            None => break,
        }
    }
    v
}

/// Runs until the connection closes.
pub(crate) async fn run(shard: Rc<ShardState>, peer: Rc<Peer>, torrent: Arc<Torrent>) {
    let mut spare: Vec<u8> = Vec::new();
    let mut ahead: Option<Ready> = None;
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
            let n = bytes.len() as u64;
            peer.st.borrow_mut().write_started = Some(Instant::now());
            let (res, mut bytes) = peer.stream.write_all(bytes).await;
            {
                let mut st = peer.st.borrow_mut();
                st.write_started = None;
                st.last_send = Instant::now();
                st.bytes_sent += n;
            }
            if let Err(e) = res {
                peer.close(DisconnectReason::from_io(&e));
                break;
            }
            bytes.clear();
            if bytes.capacity() <= OUTBOX_KEEP {
                spare = bytes;
            }
            continue;
        }
        let cur = match ahead.take() {
            Some(b) => b,
            None => {
                let reqs = gather(&shard, &peer, &torrent);
                if reqs.is_empty() {
                    if overflow_choke_due(&peer) {
                        continue;
                    }
                    peer.wake.notified().await;
                    continue;
                }
                match prepare(&shard, &peer, &torrent, reqs).await {
                    Ok(b) => b,
                    Err(reason) => {
                        peer.close(reason);
                        break;
                    }
                }
            }
        };
        let cur = match keep_wanted(&shard, &peer, &torrent, cur).await {
            Ok(c) if !c.is_empty() => c,
            Ok(c) => {
                release(&shard, c);
                continue;
            }
            Err(reason) => {
                peer.close(reason);
                break;
            }
        };
        let next = gather(&shard, &peer, &torrent);
        let read_next = async {
            if next.is_empty() {
                None
            } else {
                Some(prepare(&shard, &peer, &torrent, next).await)
            }
        };
        let (sent, read) = tokio::join!(send(&shard, &peer, cur), read_next);
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
        release(&shard, b);
    }
}

/// Gives a batch's buffers or pipe back (nothing of it is sent).
fn release(shard: &ShardState, r: Ready) {
    match r {
        Ready::Bufs(blocks) => {
            for b in blocks {
                shard.buffers.put(b.buf);
            }
        }
        // Extents go back to the read cache's pool when no one holds them.
        Ready::Cached(_) => {}
        // A prepared pipe holds its batch: it is closed, not pooled.
        Ready::Pipe(p) => {
            if let Some(side) = &shard.side {
                side.discard_pipe(p.pipe);
            }
        }
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

/// A block prepared ahead may have lost its request to a choke meanwhile:
/// then it is not sent (a Fast peer gets the reject BEP 6 asks for).
fn still_wanted(peer: &Peer, q: &QueuedRequest) -> bool {
    let mut st = peer.st.borrow_mut();
    if !st.am_choking || st.allowed_fast.contains(&q.index) {
        return true;
    }
    if st.fast {
        st.queue(Message::Reject {
            index: q.index,
            begin: q.begin,
            length: q.length,
        });
    }
    false
}

fn refund(shard: &ShardState, torrent: &Torrent, length: u32) {
    if !shard.budget.unlimited() {
        shard.budget.refund(&torrent.meta.info_hash, length);
    }
}

/// Drops the blocks of a prepared batch that are no longer wanted. A pipe
/// cannot lose a block from its middle: it is discarded and the wanted
/// blocks prepared again.
async fn keep_wanted(
    shard: &ShardState,
    peer: &Rc<Peer>,
    torrent: &Torrent,
    r: Ready,
) -> Result<Ready, DisconnectReason> {
    match r {
        Ready::Bufs(blocks) => {
            let mut keep = Vec::with_capacity(blocks.len());
            for b in blocks {
                if still_wanted(peer, &b.req) {
                    keep.push(b);
                } else {
                    refund(shard, torrent, b.req.length);
                    shard.buffers.put(b.buf);
                }
            }
            Ok(Ready::Bufs(keep))
        }
        Ready::Cached(blocks) => {
            let keep = blocks
                .into_iter()
                .filter(|b| {
                    let w = still_wanted(peer, &b.req);
                    if !w {
                        refund(shard, torrent, b.req.length);
                    }
                    w
                })
                .collect();
            Ok(Ready::Cached(keep))
        }
        Ready::Pipe(p) => {
            let wanted: Vec<QueuedRequest> = p
                .reqs
                .iter()
                .filter(|q| {
                    let w = still_wanted(peer, q);
                    if !w {
                        refund(shard, torrent, q.length);
                    }
                    w
                })
                .copied()
                .collect();
            if wanted.len() == p.reqs.len() {
                return Ok(Ready::Pipe(p));
            }
            if let Some(side) = &shard.side {
                side.discard_pipe(p.pipe);
            }
            if wanted.is_empty() {
                return Ok(Ready::Bufs(Vec::new()));
            }
            prepare(shard, peer, torrent, wanted).await
        }
    }
}

/// Prepares a batch. With the read cache on, the batch's leading requests
/// are classified first (see [`cached::classify`]): those not in the page
/// cache are served from read-cache extents, and the rest of the batch goes
/// back to the front of the peer's queue for the next batch (a batch takes
/// one way). The warm way: spliced into a pipe in `splice` mode (when a pipe
/// is free and the kernel does it), else read into block buffers.
///
/// Errors: a block cannot be read and the peer has no BEP 6 `reject`.
async fn prepare(
    shard: &ShardState,
    peer: &Peer,
    torrent: &Torrent,
    mut reqs: Vec<QueuedRequest>,
) -> Result<Ready, DisconnectReason> {
    if let Some(cache) = &shard.read_cache {
        let (way, n) = cached::classify(shard, cache, torrent, &reqs);
        if n < reqs.len() {
            // Synchronous since the requests were taken (no await): no
            // choke came in between, so they are still wanted.
            let rest = reqs.split_off(n);
            let mut st = peer.st.borrow_mut();
            for q in rest.into_iter().rev() {
                st.requests.push_front(q);
            }
        }
        if let Way::Cold(windows) = way {
            if let Some(blocks) = cached::from_extents(shard, cache, torrent, &reqs, windows).await
            {
                return Ok(Ready::Cached(blocks));
            }
        } else {
            cache.stats.borrow_mut().page_blocks += reqs.len() as u64;
        }
    }
    // (`--direct-io` never runs in splice mode: see side_ring::wanted.)
    if shard.send_mode.get() == SendMode::Splice {
        if let Some(side) = &shard.side {
            if let Some(p) = splice::fill_pipe(shard, side, torrent, &reqs).await {
                return Ok(Ready::Pipe(p));
            }
        }
    }
    fixed::read_bufs(shard, peer, torrent, reqs)
        .await
        .map(Ready::Bufs)
}

/// Torrent-wide byte offset of a request.
fn offset_of(torrent: &Torrent, q: &QueuedRequest) -> u64 {
    torrent.meta.lengths.piece_offset(q.index) + q.begin as u64
}

/// The torrent's files as the shard reads them (its file cache).
fn disk<'a>(shard: &'a ShardState, torrent: &'a Torrent) -> Disk<'a> {
    Disk::new(
        &shard.files,
        TorrentFiles {
            info_hash: torrent.meta.info_hash,
            root: &torrent.root,
            slots: &torrent.files,
            layout: &torrent.layout,
        },
    )
}

/// Sends a prepared batch and accounts every block.
async fn send(shard: &Rc<ShardState>, peer: &Rc<Peer>, r: Ready) -> Result<(), DisconnectReason> {
    peer.st.borrow_mut().write_started = Some(Instant::now());
    let res = match r {
        Ready::Bufs(blocks) => fixed::send_bufs(shard, peer, blocks).await,
        Ready::Cached(blocks) => cached::send_cached(shard, peer, blocks).await,
        Ready::Pipe(p) => {
            let n = p.reqs.len() as u64;
            let r = splice::drain_pipe(shard, peer, p).await;
            if r.is_ok() {
                shard.stats.borrow_mut().spliced_blocks += n;
            }
            r
        }
    };
    peer.st.borrow_mut().write_started = None;
    let sent = res?;
    let now = Instant::now();
    let mut st = peer.st.borrow_mut();
    let mut stats = shard.stats.borrow_mut();
    for q in sent {
        let wire = q.length as u64 + PIECE_HEADER_LEN as u64;
        st.uploaded += q.length as u64;
        st.bytes_sent += wire;
        st.sent_per_msg[msg_slot(Some(ringseed_proto::wire::id::PIECE))] += wire;
        let served = now.saturating_duration_since(q.at);
        st.note_served(served);
        stats.note_block(wire, served);
    }
    st.last_send = now;
    Ok(())
}
