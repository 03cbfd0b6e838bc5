//! `splice` mode: a batch's `piece` headers are written into a pipe and its
//! blocks spliced from the page cache behind them (one linked chain on the
//! shard's side ring), then the pipe is spliced to the socket. The files
//! and the pad zeros of each block come from [`crate::storage::read::Disk::segments`].

use std::os::fd::AsRawFd;
use std::rc::Rc;

use io_uring::{opcode, squeue, types::Fd};
use ringseed_proto::wire::{piece_header, PIECE_HEADER_LEN};

use super::{disk, offset_of};
use crate::config::SendMode;
use crate::disconnect::DisconnectReason;
use crate::shard::peer::{Peer, QueuedRequest};
use crate::shard::side_ring::{Pipe, SideRing, MAX_CHAIN};
use crate::shard::ShardState;
use crate::storage::read::Segment;
use crate::torrent::Torrent;

/// Pipe slots (pages) one block may take: its header, its pages, one more
/// when it starts inside a page.
pub(super) const SLOTS_PER_BLOCK: usize =
    1 + (ringseed_proto::lengths::BLOCK_LEN as usize / 4096) + 1;
/// Zeros for BEP 47 pad extents in the splice path.
static ZEROS: [u8; ringseed_proto::lengths::BLOCK_LEN as usize] =
    [0; ringseed_proto::lengths::BLOCK_LEN as usize];

/// Blocks spliced into a pipe (headers included), waiting for the socket.
pub(super) struct PipeBatch {
    pub(super) reqs: Vec<QueuedRequest>,
    pub(super) pipe: Pipe,
    /// Bytes in the pipe: headers and blocks.
    total: usize,
}

/// Pipe slots (pages) `len` bytes starting at `offset` take when spliced from the page cache.
fn pages(offset: u64, len: u32) -> usize {
    ((offset % 4096) as usize + len as usize).div_ceil(4096)
}

/// Writes every block's header into the pipe and splices the block from its
/// file behind it, as one linked chain. `None` when no pipe is free, the
/// batch would not fit, or a step fell short (the pipe is then discarded and
/// the caller reads the batch into buffers, which reports errors per block).
pub(super) async fn fill_pipe(
    shard: &ShardState,
    side: &Rc<SideRing>,
    torrent: &Torrent,
    reqs: &[QueuedRequest],
) -> Option<PipeBatch> {
    let pipe = side.pipe()?;
    let disk = disk(shard, torrent);
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
        for seg in disk.segments(offset_of(torrent, q), q.length) {
            match seg {
                Ok(Segment::Zeros(len)) => {
                    let mut left = len;
                    while left > 0 {
                        let n = left.min(ZEROS.len() as u32);
                        ops.push((opcode::Write::new(pw, ZEROS.as_ptr(), n).build(), n, false));
                        used += pages(0, n) + 1;
                        left -= n;
                    }
                }
                Ok(Segment::File { file, offset, len }) => {
                    // NONBLOCK: a pipe that is full anyway ends the chain
                    // instead of parking a kernel worker on it.
                    ops.push((
                        opcode::Splice::new(Fd(file.as_raw_fd()), offset as i64, pw, -1, len)
                            .flags(libc::SPLICE_F_NONBLOCK)
                            .build(),
                        len,
                        true,
                    ));
                    used += pages(offset, len);
                    files.push(file);
                }
                Err(e) => {
                    // Reported here with its cause (the read path that
                    // takes over sees only "open failed recently").
                    shard.unreadable(torrent, e.file, &e.error);
                    side.put_pipe(pipe);
                    return None;
                }
            }
        }
        total += PIECE_HEADER_LEN + q.length as usize;
    }
    if used > slots || ops.len() > MAX_CHAIN {
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

/// Splices the pipe to the socket (non-blocking; when the socket is full,
/// waits for `POLLOUT` in the same chain and continues).
pub(super) async fn drain_pipe(
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
