//! `fixed` (and `zc`) mode's blocks: read from disk into the shard's block
//! buffers (registered when the pool has them) behind 13 bytes of headroom,
//! consecutive blocks of one file with one `readv`, then sent with
//! `write`/`writev` (`WRITE_FIXED` for one registered buffer) or handed to
//! [`super::zc`]. Files and extents come from [`crate::storage::read::Disk`].

use std::rc::Rc;

use ringseed_proto::wire::{piece_header, Message, PIECE_HEADER_LEN};
use tokio_uring::buf::BoundedBuf;
use tokio_uring::net::TcpStream;

use super::{disk, offset_of, zc};
use crate::config::SendMode;
use crate::disconnect::DisconnectReason;
use crate::shard::buffers::{BlockBuf, BlockLayout};
use crate::shard::peer::{Peer, QueuedRequest};
use crate::shard::ShardState;
use crate::storage::read::Disk;
use crate::torrent::Torrent;

/// A block read from disk, waiting to be sent.
pub(super) struct ReadyBlock {
    pub(super) req: QueuedRequest,
    pub(super) buf: BlockBuf,
    pub(super) data_start: usize,
}

/// Reads a batch into block buffers: runs of requests that follow each
/// other inside one file extent with one `readv`, the rest (and whatever a
/// `readv` left short) block by block.
pub(super) async fn read_bufs(
    shard: &ShardState,
    peer: &Peer,
    torrent: &Torrent,
    reqs: Vec<QueuedRequest>,
) -> Result<Vec<ReadyBlock>, DisconnectReason> {
    let direct = shard.config.storage.direct_io;
    let disk = disk(shard, torrent);
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
            let got = readv_run(shard, disk, torrent, &reqs[i..j]).await;
            k += got.len();
            out.extend(got);
        }
        for q in &reqs[k..j] {
            match read_request(shard, disk, peer, torrent, *q).await {
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
    disk: Disk<'_>,
    torrent: &Torrent,
    reqs: &[QueuedRequest],
) -> Vec<ReadyBlock> {
    let off = offset_of(torrent, &reqs[0]);
    let total: u64 = reqs.iter().map(|q| q.length as u64).sum();
    let Ok(total) = u32::try_from(total) else {
        return Vec::new();
    };
    let Some(run) = disk.contiguous(off, total, false) else {
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
    let (res, bufs) = run.readv(bufs).await;
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
    disk: Disk<'_>,
    peer: &Peer,
    torrent: &Torrent,
    req: QueuedRequest,
) -> Result<ReadyBlock, Option<DisconnectReason>> {
    let buf = shard.buffers.get();
    // The header goes in the 13 bytes before the data; O_DIRECT reads land
    // on the buffer's first aligned page.
    let direct = shard.config.storage.direct_io;
    let at = BlockLayout::for_buffer(buf.base(), direct).aligned_start;
    let (res, buf) = disk
        .read_block(
            offset_of(torrent, &req),
            req.length,
            buf,
            at,
            direct,
            || shard.count_op(),
        )
        .await;
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

/// Writes each block's `piece` header into its headroom and sends the
/// batch: one write for one block, one `writev` (continued while short) for
/// several, or one `SENDMSG_ZC` in `zc` mode.
pub(super) async fn send_bufs(
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
            let (res, back) = zc::send_zc(shard, side, peer, slices).await;
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
