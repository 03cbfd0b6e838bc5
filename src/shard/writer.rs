//! The write side of a connection: control messages first, then blocks.
//!
//! A block is read from disk into a registered buffer behind 13 bytes of
//! headroom, the `piece` header is written into the headroom and the same
//! buffer goes to the socket (no user-space copy). While one block is being
//! written the next queued one is read, so a single fast peer is not limited
//! by one disk read and one socket write taking turns. With a rate limit a
//! block is read only once the shard's budget allows it.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use ringseed_proto::wire::{piece_header, Message, PIECE_HEADER_LEN};
use tokio_uring::net::TcpStream;

use super::buffers::{BlockBuf, BlockLayout, DIRECT_ALIGN};
use super::peer::{Overflow, Peer, QueuedRequest, OVERFLOW_PAUSE};
use super::ShardState;
use crate::disconnect::DisconnectReason;
use crate::messages::msg_slot;
use crate::session::Torrent;
use crate::storage::read::{read_range, RangeError, ReadError, ReadTarget, TorrentFiles};

/// Outbox capacity kept between writes, bytes.
const OUTBOX_KEEP: usize = 64 * 1024;

/// A block read from disk, waiting to be sent.
struct ReadyBlock {
    at: Instant,
    index: u32,
    begin: u32,
    length: u32,
    buf: BlockBuf,
    data_start: usize,
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

/// Runs until the connection closes.
pub async fn run(shard: Rc<ShardState>, peer: Rc<Peer>, torrent: Arc<Torrent>) {
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
                let Some(req) = next_request(&shard, &peer, &torrent) else {
                    if overflow_choke_due(&peer) {
                        continue;
                    }
                    peer.wake.notified().await;
                    continue;
                };
                match read_request(&shard, &peer, &torrent, req).await {
                    Ok(b) => b,
                    Err(None) => continue,
                    Err(Some(reason)) => {
                        peer.close(reason);
                        break;
                    }
                }
            }
        };
        if !still_wanted(&peer, &cur) {
            if !shard.budget.unlimited() {
                shard.budget.refund(&torrent.meta.info_hash, cur.length);
            }
            shard.buffers.put(cur.buf);
            continue;
        }
        let next = next_request(&shard, &peer, &torrent);
        let read_next = async {
            match next {
                Some(req) => Some(read_request(&shard, &peer, &torrent, req).await),
                None => None,
            }
        };
        let (sent, read) = tokio::join!(send_block(&shard, &peer, cur), read_next);
        match read {
            Some(Ok(b)) => ahead = Some(b),
            Some(Err(Some(reason))) => {
                peer.close(reason);
                break;
            }
            Some(Err(None)) | None => {}
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
        st.queue(Message::Reject {
            index: b.index,
            begin: b.begin,
            length: b.length,
        });
    }
    false
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
    QueuedRequest {
        index,
        begin,
        length,
        at,
    }: QueuedRequest,
) -> Result<ReadyBlock, Option<DisconnectReason>> {
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
            shard.buffers.put(buf);
            shard.unreadable(torrent, e.file, &e.error);
            let mut st = peer.st.borrow_mut();
            if st.fast {
                st.queue(Message::Reject {
                    index,
                    begin,
                    length,
                });
                Err(None)
            } else {
                Err(Some(DisconnectReason::DiskError))
            }
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
    res.map_err(|e| DisconnectReason::from_io(&e))?;
    let wire = length as u64 + PIECE_HEADER_LEN as u64;
    st.uploaded += length as u64;
    st.bytes_sent += wire;
    st.sent_per_msg[msg_slot(Some(ringseed_proto::wire::id::PIECE))] += wire;
    st.last_send = Instant::now();
    let served = at.elapsed();
    st.note_served(served);
    shard.stats.borrow_mut().note_block(wire, served);
    Ok(())
}

async fn write_all(
    shard: &ShardState,
    stream: &TcpStream,
    buf: BlockBuf,
    range: std::ops::Range<usize>,
) -> (std::io::Result<()>, BlockBuf) {
    use tokio_uring::buf::BoundedBuf;
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

/// Reads block `(index, begin, length)` into `buf`; returns where the data starts
/// (the header goes in the 13 bytes before it).
async fn read_block(
    shard: &ShardState,
    torrent: &Torrent,
    index: u32,
    begin: u32,
    length: u32,
    buf: BlockBuf,
) -> (Result<usize, RangeError>, BlockBuf) {
    let direct = shard.config.storage.direct_io;
    let a = BlockLayout::for_buffer(buf.base(), direct).aligned_start;
    let offset = torrent.meta.lengths.piece_offset(index) + begin as u64;
    let t = TorrentFiles {
        info_hash: torrent.meta.info_hash,
        root: &torrent.root,
        slots: &torrent.files,
        layout: &torrent.layout,
    };
    // O_DIRECT: one extent read as whole aligned pages, landing in the buffer
    // itself. Files O_DIRECT cannot open (tmpfs) are read through the page cache.
    if direct {
        let mut ext = torrent.layout.extents(offset, length);
        if let (Some(e), None) = (ext.next(), ext.next()) {
            if !e.pad {
                if let Ok(file) = shard.files.get(t.info_hash, t.root, t.slots, e.file, true) {
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
            }
        }
    }
    let (res, buf) = read_range(&shard.files, t, offset, length, buf, a, || shard.count_op()).await;
    (res.map(|()| a), buf)
}
