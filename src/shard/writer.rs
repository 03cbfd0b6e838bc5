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

use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use io_uring::{opcode, squeue, types::Fd};
use ringseed_proto::wire::{piece_header, Message, PIECE_HEADER_LEN};
use tokio_uring::buf::BoundedBuf;
use tokio_uring::net::TcpStream;

use super::buffers::{BlockBuf, BlockLayout, DIRECT_ALIGN};
use super::peer::{Overflow, Peer, QueuedRequest, OVERFLOW_PAUSE};
use super::side_ring::{Pipe, SideRing};
use super::ShardState;
use crate::config::SendMode;
use crate::disconnect::DisconnectReason;
use crate::messages::msg_slot;
use crate::session::Torrent;
use crate::storage::read::{read_range, RangeError, ReadError, ReadTarget, TorrentFiles};

/// Outbox capacity kept between writes, bytes.
const OUTBOX_KEEP: usize = 64 * 1024;
/// Most blocks prepared and sent as one batch (512 KiB of 16 KiB blocks).
pub const MAX_BATCH: usize = 32;
/// Pipe slots (pages) one block may take: its header, its pages, one more
/// when it starts inside a page.
const SLOTS_PER_BLOCK: usize = 1 + (ringseed_proto::lengths::BLOCK_LEN as usize / 4096) + 1;
/// Zeros for BEP 47 pad extents in the splice path.
static ZEROS: [u8; 16 * 1024] = [0; 16 * 1024];

/// A block read from disk, waiting to be sent.
struct ReadyBlock {
    req: QueuedRequest,
    buf: BlockBuf,
    data_start: usize,
}

/// Blocks spliced into a pipe (headers included), waiting for the socket.
struct PipeBatch {
    reqs: Vec<QueuedRequest>,
    pipe: Pipe,
    /// Bytes in the pipe: headers and blocks.
    total: usize,
}

/// A batch prepared for sending.
enum Ready {
    Bufs(Vec<ReadyBlock>),
    Pipe(PipeBatch),
}

impl Ready {
    fn is_empty(&self) -> bool {
        match self {
            Ready::Bufs(b) => b.is_empty(),
            Ready::Pipe(p) => p.reqs.is_empty(),
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
            return (side.pipe_capacity() / 4096 / SLOTS_PER_BLOCK).clamp(1, MAX_BATCH);
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
pub async fn run(shard: Rc<ShardState>, peer: Rc<Peer>, torrent: Arc<Torrent>) {
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

/// Prepares a batch: spliced into a pipe in `splice` mode (when a pipe is
/// free and the kernel does it), else read into block buffers.
///
/// Errors: a block cannot be read and the peer has no BEP 6 `reject`.
async fn prepare(
    shard: &ShardState,
    peer: &Peer,
    torrent: &Torrent,
    reqs: Vec<QueuedRequest>,
) -> Result<Ready, DisconnectReason> {
    // (`--direct-io` never runs in splice mode: see side_ring::wanted.)
    if shard.send_mode.get() == SendMode::Splice {
        if let Some(side) = &shard.side {
            if let Some(p) = fill_pipe(shard, side, torrent, &reqs).await {
                return Ok(Ready::Pipe(p));
            }
        }
    }
    read_bufs(shard, peer, torrent, reqs).await.map(Ready::Bufs)
}

/// File `index` of the torrent from the shard's cache (`direct`: O_DIRECT).
fn open_file(
    shard: &ShardState,
    torrent: &Torrent,
    index: usize,
    direct: bool,
) -> Result<Rc<tokio_uring::fs::File>, crate::storage::files::OpenError> {
    shard.files.get(
        torrent.meta.info_hash,
        &torrent.root,
        &torrent.files,
        index,
        direct,
    )
}

/// The file extent holding all of `offset..offset+len`, if one file (not a
/// BEP 47 pad file) does.
fn single_extent(torrent: &Torrent, offset: u64, len: u32) -> Option<crate::storage::Extent> {
    let mut ext = torrent.layout.extents(offset, len);
    match (ext.next(), ext.next()) {
        (Some(e), None) if !e.pad => Some(e),
        _ => None,
    }
}

/// Torrent-wide byte offset of a request.
fn offset_of(torrent: &Torrent, q: &QueuedRequest) -> u64 {
    torrent.meta.lengths.piece_offset(q.index) + q.begin as u64
}

/// Reads a batch into block buffers: runs of requests that follow each
/// other inside one file extent with one `readv`, the rest (and whatever a
/// `readv` left short) block by block.
async fn read_bufs(
    shard: &ShardState,
    peer: &Peer,
    torrent: &Torrent,
    reqs: Vec<QueuedRequest>,
) -> Result<Vec<ReadyBlock>, DisconnectReason> {
    let direct = shard.config.storage.direct_io;
    let mut out: Vec<ReadyBlock> = Vec::with_capacity(reqs.len());
    let mut i = 0;
    while i < reqs.len() {
        let mut j = i + 1;
        let mut end = offset_of(torrent, &reqs[i]) + reqs[i].length as u64;
        while j < reqs.len() && offset_of(torrent, &reqs[j]) == end {
            end += reqs[j].length as u64;
            j += 1;
        }
        let mut k = i;
        if !direct && j - i > 1 {
            let got = readv_run(shard, torrent, &reqs[i..j]).await;
            k += got.len();
            out.extend(got);
        }
        for q in &reqs[k..j] {
            match read_request(shard, peer, torrent, *q).await {
                Ok(b) => out.push(b),
                Err(None) => {}
                Err(Some(reason)) => {
                    for b in out {
                        shard.buffers.put(b.buf);
                    }
                    return Err(reason);
                }
            }
        }
        i = j;
    }
    Ok(out)
}

/// One `readv` for requests that follow each other inside one file extent;
/// returns the blocks read whole, from the first (the caller reads the
/// rest one by one, which reports errors per block).
async fn readv_run(
    shard: &ShardState,
    torrent: &Torrent,
    reqs: &[QueuedRequest],
) -> Vec<ReadyBlock> {
    let off = offset_of(torrent, &reqs[0]);
    let total: u64 = reqs.iter().map(|q| q.length as u64).sum();
    let Ok(total) = u32::try_from(total) else {
        return Vec::new();
    };
    let Some(e) = single_extent(torrent, off, total) else {
        return Vec::new();
    };
    let Ok(file) = open_file(shard, torrent, e.file, false) else {
        return Vec::new();
    };
    let bufs: Vec<_> = reqs
        .iter()
        .map(|q| {
            let b = shard.buffers.get();
            let a = BlockLayout::for_buffer(b.base(), false).aligned_start;
            b.slice(a..a + q.length as usize)
        })
        .collect();
    shard.count_op();
    let (res, bufs) = file.readv_at(bufs, e.file_offset).await;
    let mut got = res.unwrap_or(0);
    let mut out = Vec::with_capacity(reqs.len());
    for (q, s) in reqs.iter().zip(bufs) {
        let data_start = s.begin();
        let buf = s.into_inner();
        if got >= q.length as usize {
            got -= q.length as usize;
            out.push(ReadyBlock {
                req: *q,
                buf,
                data_start,
            });
        } else {
            got = 0;
            shard.buffers.put(buf);
        }
    }
    out
}

/// Reads a queued request's block. A block that cannot be read (a file
/// gone, unreadable, short) is reported to the coordinator, which stops
/// announcing that file's pieces until a recheck finds them again; a Fast
/// peer gets a `reject` for it and keeps its connection (`Err(None)`), any
/// other peer is closed (`disk_error`: BEP 3 has no way to refuse one request).
async fn read_request(
    shard: &ShardState,
    peer: &Peer,
    torrent: &Torrent,
    req: QueuedRequest,
) -> Result<ReadyBlock, Option<DisconnectReason>> {
    let buf = shard.buffers.get();
    let (res, buf) = read_block(shard, torrent, &req, buf).await;
    match res {
        Ok(data_start) => Ok(ReadyBlock {
            req,
            buf,
            data_start,
        }),
        Err(e) => {
            shard.buffers.put(buf);
            shard.unreadable(torrent, e.file, &e.error);
            let mut st = peer.st.borrow_mut();
            if st.fast {
                st.queue(Message::Reject {
                    index: req.index,
                    begin: req.begin,
                    length: req.length,
                });
                Err(None)
            } else {
                Err(Some(DisconnectReason::DiskError))
            }
        }
    }
}

/// Pipe slots (pages) `len` bytes starting at `offset` take when spliced from the page cache.
fn pages(offset: u64, len: u32) -> usize {
    ((offset % 4096) as usize + len as usize).div_ceil(4096)
}

/// Writes every block's header into the pipe and splices the block from its
/// file behind it, as one linked chain. `None` when no pipe is free, the
/// batch would not fit, or a step fell short (the pipe is then discarded and
/// the caller reads the batch into buffers, which reports errors per block).
async fn fill_pipe(
    shard: &ShardState,
    side: &Rc<SideRing>,
    torrent: &Torrent,
    reqs: &[QueuedRequest],
) -> Option<PipeBatch> {
    let pipe = side.pipe()?;
    let slots = pipe.capacity / 4096;
    let pw = Fd(pipe.write.as_raw_fd());
    let headers: Vec<[u8; PIECE_HEADER_LEN]> = reqs
        .iter()
        .map(|q| piece_header(q.index, q.begin, q.length))
        .collect();
    let mut files = Vec::new();
    let mut ops: Vec<(squeue::Entry, u32, bool)> = Vec::new();
    let mut used = 0usize;
    let mut total = 0usize;
    for (q, h) in reqs.iter().zip(&headers) {
        ops.push((
            opcode::Write::new(pw, h.as_ptr(), PIECE_HEADER_LEN as u32).build(),
            PIECE_HEADER_LEN as u32,
            false,
        ));
        used += 1;
        for e in torrent.layout.extents(offset_of(torrent, q), q.length) {
            if e.pad {
                let mut left = e.len;
                while left > 0 {
                    let n = left.min(ZEROS.len() as u32);
                    ops.push((opcode::Write::new(pw, ZEROS.as_ptr(), n).build(), n, false));
                    used += pages(0, n) + 1;
                    left -= n;
                }
                continue;
            }
            let file = match open_file(shard, torrent, e.file, false) {
                Ok(f) => f,
                Err(err) => {
                    // Reported here with its cause (the read path that
                    // takes over sees only "open failed recently").
                    shard.unreadable(torrent, e.file, &ReadError::Open(err));
                    side.put_pipe(pipe);
                    return None;
                }
            };
            // NONBLOCK: a pipe that is full anyway ends the chain instead of
            // parking a kernel worker on it.
            ops.push((
                opcode::Splice::new(Fd(file.as_raw_fd()), e.file_offset as i64, pw, -1, e.len)
                    .flags(libc::SPLICE_F_NONBLOCK)
                    .build(),
                e.len,
                true,
            ));
            used += pages(e.file_offset, e.len);
            files.push(file);
        }
        total += PIECE_HEADER_LEN + q.length as usize;
    }
    if used > slots || ops.len() > super::side_ring::MAX_CHAIN {
        side.put_pipe(pipe);
        return None;
    }
    let n = ops.len();
    let expect: Vec<(u32, bool)> = ops.iter().map(|o| (o.1, o.2)).collect();
    let entries: Vec<squeue::Entry> = ops
        .into_iter()
        .enumerate()
        .map(|(i, (e, _, _))| {
            if i + 1 < n {
                e.flags(squeue::Flags::IO_LINK)
            } else {
                e
            }
        })
        .collect();
    shard.count_ops(n);
    let keep: Box<dyn std::any::Any> = Box::new((headers, files));
    let done = match side.submit(entries, keep) {
        Ok(c) => c,
        Err((e, _)) => {
            side.put_pipe(pipe);
            shard.send_path_failed(SendMode::Splice, &e);
            return None;
        }
    };
    let (res, _keep) = done.await;
    let mut ok = true;
    for (r, (want, is_splice)) in res.iter().zip(&expect) {
        if r.result == *want as i32 {
            continue;
        }
        ok = false;
        let errno = -r.result;
        if *is_splice && (errno == libc::EINVAL || errno == libc::EOPNOTSUPP) {
            shard.send_path_failed(SendMode::Splice, &std::io::Error::from_raw_os_error(errno));
        }
        break;
    }
    if !ok {
        side.discard_pipe(pipe);
        return None;
    }
    Some(PipeBatch {
        reqs: reqs.to_vec(),
        pipe,
        total,
    })
}

/// Sends a prepared batch and accounts every block.
async fn send(shard: &Rc<ShardState>, peer: &Rc<Peer>, r: Ready) -> Result<(), DisconnectReason> {
    peer.st.borrow_mut().write_started = Some(Instant::now());
    let res = match r {
        Ready::Bufs(blocks) => send_bufs(shard, peer, blocks).await,
        Ready::Pipe(p) => {
            let n = p.reqs.len() as u64;
            let r = drain_pipe(shard, peer, p).await;
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

/// Writes each block's `piece` header into its headroom and sends the
/// batch: one write for one block, one `writev` (continued while short) for
/// several, or one `SENDMSG_ZC` in `zc` mode.
async fn send_bufs(
    shard: &Rc<ShardState>,
    peer: &Rc<Peer>,
    blocks: Vec<ReadyBlock>,
) -> Result<Vec<QueuedRequest>, DisconnectReason> {
    let mut meta = Vec::with_capacity(blocks.len());
    let mut slices = Vec::with_capacity(blocks.len());
    for mut b in blocks {
        let h = b.data_start - PIECE_HEADER_LEN;
        let q = b.req;
        b.buf.as_mut_slice()[h..b.data_start]
            .copy_from_slice(&piece_header(q.index, q.begin, q.length));
        meta.push(q);
        slices.push((b.buf, h..b.data_start + q.length as usize));
    }
    let mut skip = 0;
    if shard.send_mode.get() == SendMode::Zc {
        if let Some(side) = &shard.side {
            let (res, back) = send_zc(shard, side, peer, slices).await;
            slices = back;
            match res {
                Ok(n) => skip = n,
                Err(e) => {
                    for (b, _) in slices {
                        shard.buffers.put(b);
                    }
                    return Err(DisconnectReason::from_io(&e));
                }
            }
        }
    }
    let (res, bufs) = writev_all(shard, &peer.stream, slices, skip).await;
    for b in bufs {
        shard.buffers.put(b);
    }
    res.map_err(|e| DisconnectReason::from_io(&e))?;
    Ok(meta)
}

/// Sends `ranges` of the buffers, skipping the first `skip` bytes (already
/// sent): `write` for one range, `writev` for several, continued while short.
async fn writev_all(
    shard: &ShardState,
    stream: &TcpStream,
    ranges: Vec<(BlockBuf, std::ops::Range<usize>)>,
    mut skip: usize,
) -> (std::io::Result<()>, Vec<BlockBuf>) {
    let mut done = Vec::with_capacity(ranges.len());
    let mut pending: Vec<tokio_uring::buf::Slice<BlockBuf>> =
        ranges.into_iter().map(|(b, r)| b.slice(r)).collect();
    loop {
        let mut rest = Vec::with_capacity(pending.len());
        for s in pending {
            let (b, e) = (s.begin(), s.end());
            let buf = s.into_inner();
            if skip >= e - b {
                skip -= e - b;
                done.push(buf);
            } else {
                rest.push(buf.slice(b + skip..e));
                skip = 0;
            }
        }
        if rest.is_empty() {
            return (Ok(()), done);
        }
        shard.count_op();
        if rest.len() == 1 {
            let s = rest.pop().expect("one range");
            let (b, e) = (s.begin(), s.end());
            let (r, buf) = match s.into_inner() {
                // Registered buffer: WRITE_FIXED, no page pinning per write.
                BlockBuf::Fixed(f) => {
                    let (r, s) = stream.write_fixed_all(f.slice(b..e)).await;
                    (r, BlockBuf::Fixed(s.into_inner()))
                }
                BlockBuf::Plain(v) => {
                    let (r, s) = stream.write_all(v.slice(b..e)).await;
                    (r, BlockBuf::Plain(s.into_inner()))
                }
            };
            done.push(buf);
            return (r, done);
        }
        let (res, back) = stream.writev(rest).await;
        match res {
            Ok(0) => {
                done.extend(back.into_iter().map(|s| s.into_inner()));
                return (Err(std::io::ErrorKind::WriteZero.into()), done);
            }
            Ok(n) => {
                skip = n;
                pending = back;
            }
            Err(e) => {
                done.extend(back.into_iter().map(|s| s.into_inner()));
                return (Err(e), done);
            }
        }
    }
}

/// Buffers a zerocopy send lent the kernel: back to the shard's pool when
/// dropped (after the send's notification).
struct ZcBufs {
    shard: Rc<ShardState>,
    ranges: Vec<(BlockBuf, std::ops::Range<usize>)>,
}

impl Drop for ZcBufs {
    fn drop(&mut self) {
        for (b, _) in self.ranges.drain(..) {
            self.shard.buffers.put(b);
        }
    }
}

/// What a zerocopy send must keep alive until its notification.
type ZcKeep = (Vec<libc::iovec>, Box<libc::msghdr>, ZcBufs, Rc<Peer>);

/// The buffers of a zerocopy send's keep box, taken back for more sending.
fn take_ranges(keep: Box<dyn std::any::Any>) -> Vec<(BlockBuf, std::ops::Range<usize>)> {
    let (_, _, mut bufs, _) = *keep.downcast::<ZcKeep>().expect("zc keep");
    std::mem::take(&mut bufs.ranges)
}

/// Sends the ranges with one `SENDMSG_ZC` (`MSG_WAITALL`); returns the bytes
/// sent (the caller sends any rest with `writev`). A kernel or socket that
/// refuses zerocopy switches the shard to `fixed` (0 bytes sent).
async fn send_zc(
    shard: &Rc<ShardState>,
    side: &Rc<SideRing>,
    peer: &Rc<Peer>,
    ranges: Vec<(BlockBuf, std::ops::Range<usize>)>,
) -> (
    std::io::Result<usize>,
    Vec<(BlockBuf, std::ops::Range<usize>)>,
) {
    let iovs: Vec<libc::iovec> = ranges
        .iter()
        .map(|(b, r)| libc::iovec {
            // SAFETY: the range lies inside the buffer (a block and its headroom).
            iov_base: unsafe { b.base().add(r.start) } as *mut libc::c_void,
            iov_len: r.len(),
        })
        .collect();
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: Box<libc::msghdr> = Box::new(unsafe { std::mem::zeroed() });
    msg.msg_iov = iovs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = iovs.len() as _;
    let op = opcode::SendMsgZc::new(Fd(peer.stream.as_raw_fd()), &*msg as *const libc::msghdr)
        .flags(libc::MSG_WAITALL as u32)
        .build();
    shard.count_op();
    let total: usize = ranges.iter().map(|(_, r)| r.len()).sum();
    let bufs = ZcBufs {
        shard: shard.clone(),
        ranges,
    };
    let keep: Box<dyn std::any::Any> = Box::new((iovs, msg, bufs, peer.clone()) as ZcKeep);
    let (res, keep) = match side.submit_early(vec![op], keep) {
        Ok(c) => c.await,
        Err((e, keep)) => {
            // Nothing was queued: send it all with writev.
            shard.send_path_failed(SendMode::Zc, &e);
            return (Ok(0), take_ranges(keep));
        }
    };
    let r = res[0].result;
    let Some(keep) = keep else {
        // The kernel still holds the memory: the buffers go back to the
        // pool when its notification arrives (ZcBufs' Drop). The send
        // took everything (MSG_WAITALL) or the connection is broken.
        return if r >= 0 && r as usize == total {
            (Ok(total), Vec::new())
        } else {
            (Err(std::io::ErrorKind::BrokenPipe.into()), Vec::new())
        };
    };
    let ranges = take_ranges(keep);
    if r >= 0 {
        return (Ok(r as usize), ranges);
    }
    let e = std::io::Error::from_raw_os_error(-r);
    if -r == libc::EOPNOTSUPP || -r == libc::EINVAL {
        shard.send_path_failed(SendMode::Zc, &e);
        return (Ok(0), ranges);
    }
    (Err(e), ranges)
}

/// Splices the pipe to the socket (non-blocking; when the socket is full,
/// waits for `POLLOUT` in the same chain and continues).
async fn drain_pipe(
    shard: &ShardState,
    peer: &Rc<Peer>,
    p: PipeBatch,
) -> Result<Vec<QueuedRequest>, DisconnectReason> {
    let side = shard
        .side
        .as_ref()
        .expect("pipe batches come from the side ring");
    let sock = Fd(peer.stream.as_raw_fd());
    let pr = Fd(p.pipe.read.as_raw_fd());
    let mut left = p.total;
    let mut poll_first = false;
    let fail = |side: &Rc<SideRing>, pipe: Pipe, e: std::io::Error| {
        side.discard_pipe(pipe);
        Err(DisconnectReason::from_io(&e))
    };
    while left > 0 {
        let splice = opcode::Splice::new(pr, -1, sock, -1, left as u32)
            .flags(libc::SPLICE_F_NONBLOCK)
            .build();
        let ops = if poll_first {
            vec![
                opcode::PollAdd::new(sock, libc::POLLOUT as u32)
                    .build()
                    .flags(squeue::Flags::IO_LINK),
                splice,
            ]
        } else {
            vec![splice]
        };
        shard.count_ops(ops.len());
        let c = match side.submit(ops, Box::new(peer.clone())) {
            Ok(c) => c,
            Err((e, _)) => return fail(side, p.pipe, e),
        };
        let (res, _) = c.await;
        if poll_first && res[0].result < 0 {
            return fail(
                side,
                p.pipe,
                std::io::Error::from_raw_os_error(-res[0].result),
            );
        }
        let r = res[res.len() - 1].result;
        if r > 0 {
            left -= r as usize;
            poll_first = left > 0;
        } else if r == -libc::EAGAIN {
            poll_first = true;
        } else if r == 0 {
            return fail(side, p.pipe, std::io::ErrorKind::WriteZero.into());
        } else {
            return fail(side, p.pipe, std::io::Error::from_raw_os_error(-r));
        }
    }
    side.put_pipe(p.pipe);
    Ok(p.reqs)
}

/// Reads the block `req` asks for into `buf`; returns where the data starts
/// (the header goes in the 13 bytes before it).
async fn read_block(
    shard: &ShardState,
    torrent: &Torrent,
    req: &QueuedRequest,
    buf: BlockBuf,
) -> (Result<usize, RangeError>, BlockBuf) {
    let direct = shard.config.storage.direct_io;
    let a = BlockLayout::for_buffer(buf.base(), direct).aligned_start;
    let (offset, length) = (offset_of(torrent, req), req.length);
    let t = TorrentFiles {
        info_hash: torrent.meta.info_hash,
        root: &torrent.root,
        slots: &torrent.files,
        layout: &torrent.layout,
    };
    // O_DIRECT: one extent read as whole aligned pages, landing in the buffer
    // itself. Files O_DIRECT cannot open (tmpfs) are read through the page cache.
    let direct_extent = if direct {
        single_extent(torrent, offset, length)
            .and_then(|e| Some((e, open_file(shard, torrent, e.file, true).ok()?)))
    } else {
        None
    };
    if let Some((e, file)) = direct_extent {
        let aligned = e.file_offset & !(DIRECT_ALIGN as u64 - 1);
        let r = (e.file_offset - aligned) as usize;
        let rlen = (r + e.len as usize).div_ceil(DIRECT_ALIGN) * DIRECT_ALIGN;
        shard.count_op();
        let (res, b) = buf.read_at(&file, a..a + rlen, aligned).await;
        let fail = |error| RangeError {
            file: e.file,
            error,
        };
        return match res {
            Ok(n) if n >= r + e.len as usize => (Ok(a + r), b),
            Ok(_) => (Err(fail(ReadError::Short)), b),
            Err(err) => (Err(fail(err.into())), b),
        };
    }
    let (res, buf) = read_range(&shard.files, t, offset, length, buf, a, || shard.count_op()).await;
    (res.map(|()| a), buf)
}
