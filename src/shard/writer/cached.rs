//! Blocks served from the read cache (the cold path, see
//! [`crate::storage::cache`]): a batch whose windows are not in the page
//! cache gets each window once (from the shard's read cache, a read in
//! flight, or a new read queued on its device), and every block is sent
//! straight from the extent's buffer: one `writev` of header, block,
//! header, block… with no copy in user space.

use std::rc::Rc;

use ringseed_proto::wire::{piece_header, PIECE_HEADER_LEN};
use tokio_uring::buf::{BoundedBuf, IoBuf};

use super::{disk, offset_of};
use crate::disconnect::DisconnectReason;
use crate::shard::peer::{Peer, QueuedRequest};
use crate::shard::ShardState;
use crate::storage::cache::{Extent, ReadCache, Window};
use crate::torrent::Torrent;

/// A block waiting to be sent from a read-cache extent.
pub(super) struct CachedBlock {
    pub(super) req: QueuedRequest,
    extent: Rc<Extent>,
    /// Where the block starts in the extent's bytes.
    within: usize,
}

/// How a batch goes: the warm way (page cache: splice or `readv`) or the
/// cold way (read-cache extents).
pub(super) enum Way {
    Warm,
    Cold(Vec<Window>),
}

/// Decides the way of the batch's leading requests and how many of them
/// take it: a request whose window is cached or being read, or not wholly
/// in the page cache (`cachestat`), goes cold; one in the page cache, or
/// crossing a window's end, goes warm. One residency check per window.
pub(super) fn classify(
    shard: &ShardState,
    cache: &ReadCache,
    torrent: &Torrent,
    reqs: &[QueuedRequest],
) -> (Way, usize) {
    let disk = disk(shard, torrent);
    let mut windows: Vec<Window> = Vec::new();
    let mut checked: Vec<(Window, bool)> = Vec::new();
    for (i, q) in reqs.iter().enumerate() {
        let cold = match cache.window(
            torrent.meta.info_hash,
            &torrent.meta.lengths,
            q.index,
            q.begin,
            q.length,
        ) {
            None => None,
            Some(w) if cache.known(&w.key) => Some(w),
            Some(w) => {
                let seen = checked.iter().find(|(c, _)| c.key == w.key).map(|c| c.1);
                let resident = seen.unwrap_or_else(|| {
                    let r = cache.resident(&disk, w.offset, w.len);
                    checked.push((w, r));
                    r
                });
                (!resident).then_some(w)
            }
        };
        match cold {
            Some(w) if i == windows.len() => windows.push(w),
            None if windows.is_empty() => {}
            // The way changes here: the run so far is the batch.
            _ => return (way(windows), i),
        }
    }
    (way(windows), reqs.len())
}

fn way(windows: Vec<Window>) -> Way {
    if windows.is_empty() {
        Way::Warm
    } else {
        Way::Cold(windows)
    }
}

/// Gets every window of the batch (each distinct one once, all at the same
/// time) and makes its blocks. `None` when a window cannot be read: the
/// caller reads the batch the warm way, which reports the error per block.
pub(super) async fn from_extents(
    shard: &ShardState,
    cache: &ReadCache,
    torrent: &Torrent,
    reqs: &[QueuedRequest],
    windows: Vec<Window>,
) -> Option<Vec<CachedBlock>> {
    let disk = disk(shard, torrent);
    let mut distinct: Vec<Window> = Vec::new();
    for w in &windows {
        if !distinct.iter().any(|d| d.key == w.key) {
            distinct.push(*w);
        }
    }
    let hits: Vec<bool> = distinct.iter().map(|w| cache.holds(&w.key)).collect();
    let loads: Vec<_> = distinct
        .iter()
        .map(|w| cache.extent(disk, *w, || shard.count_op()))
        .collect();
    let extents = futures_util::future::join_all(loads).await;
    let mut out = Vec::with_capacity(reqs.len());
    for (q, w) in reqs.iter().zip(&windows) {
        let i = distinct.iter().position(|d| d.key == w.key)?;
        let e = extents[i].clone()?;
        debug_assert_eq!(w.offset + w.within as u64, offset_of(torrent, q));
        out.push(CachedBlock {
            req: *q,
            extent: e,
            within: w.within as usize,
        });
    }
    let mut st = cache.stats.borrow_mut();
    for (w, hit) in distinct.iter().zip(hits) {
        let n = windows.iter().filter(|x| x.key == w.key).count() as u64;
        if hit {
            st.cache_blocks += n;
        } else {
            st.disk_blocks += n;
        }
    }
    Some(out)
}

/// A part of a `writev`: a block's header or its bytes in an extent.
enum Part {
    Header(Rc<[u8]>, std::ops::Range<usize>),
    Data(Rc<Extent>, std::ops::Range<usize>),
}

impl Part {
    fn range(&self) -> &std::ops::Range<usize> {
        match self {
            Part::Header(_, r) | Part::Data(_, r) => r,
        }
    }
    fn advance(self, n: usize) -> Part {
        match self {
            Part::Header(b, r) => Part::Header(b, r.start + n..r.end),
            Part::Data(e, r) => Part::Data(e, r.start + n..r.end),
        }
    }
}

// SAFETY: both owners are reference-counted heap allocations that do not
// move or change while a part (holding an `Rc`) lives; the range lies
// inside them.
unsafe impl IoBuf for Part {
    fn stable_ptr(&self) -> *const u8 {
        match self {
            Part::Header(b, r) => b[r.start..].as_ptr(),
            Part::Data(e, r) => e.bytes()[r.start..].as_ptr(),
        }
    }
    fn bytes_init(&self) -> usize {
        self.range().len()
    }
    fn bytes_total(&self) -> usize {
        self.range().len()
    }
}

/// Sends a batch of read-cache blocks with `writev` (continued while short).
pub(super) async fn send_cached(
    shard: &ShardState,
    peer: &Rc<Peer>,
    blocks: Vec<CachedBlock>,
) -> Result<Vec<QueuedRequest>, DisconnectReason> {
    let mut headers = Vec::with_capacity(blocks.len() * PIECE_HEADER_LEN);
    for b in &blocks {
        headers.extend_from_slice(&piece_header(b.req.index, b.req.begin, b.req.length));
    }
    let headers: Rc<[u8]> = headers.into();
    let mut parts = Vec::with_capacity(blocks.len() * 2);
    let mut sent = Vec::with_capacity(blocks.len());
    for (i, b) in blocks.into_iter().enumerate() {
        let h = i * PIECE_HEADER_LEN;
        parts.push(Part::Header(headers.clone(), h..h + PIECE_HEADER_LEN));
        parts.push(Part::Data(
            b.extent,
            b.within..b.within + b.req.length as usize,
        ));
        sent.push(b.req);
    }
    while !parts.is_empty() {
        shard.count_op();
        let (res, back) = peer
            .stream
            .writev(parts.into_iter().map(|p| p.slice_full()).collect())
            .await;
        let mut n = match res {
            Ok(0) => {
                return Err(DisconnectReason::from_io(
                    &std::io::ErrorKind::WriteZero.into(),
                ))
            }
            Ok(n) => n,
            Err(e) => return Err(DisconnectReason::from_io(&e)),
        };
        parts = Vec::with_capacity(back.len());
        for s in back {
            let p = s.into_inner();
            let len = p.range().len();
            if n >= len {
                n -= len;
            } else {
                parts.push(p.advance(n));
                n = 0;
            }
        }
    }
    Ok(sent)
}
