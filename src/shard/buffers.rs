//! Block buffers of one shard: a pool registered with the shard's io_uring
//! (`FixedBufPool`), with plain reusable buffers as the fallback.
//!
//! Every buffer has the same layout: a `piece` header's 13 bytes of headroom
//! in front of the block, so a block is read from disk straight into the
//! buffer, its header is written in front, and the same buffer goes to the
//! socket. With O_DIRECT the disk transfer must land on a 4096-byte aligned
//! address, so buffers carry extra room and the data start is computed from
//! the buffer's address ([`BlockLayout`]).
//!
//! Registered memory counts against RLIMIT_MEMLOCK for users without
//! CAP_IPC_LOCK (all rings of a user together) and a ring takes at most 1024
//! buffers: the pool is sized from the limit, and when registration fails
//! the shard uses plain buffers, with a warning and a metric.

use std::cell::RefCell;

use tokio_uring::buf::fixed::{FixedBuf, FixedBufPool};
use wire::PIECE_HEADER_LEN;

use ringseed_proto::lengths::BLOCK_LEN;
use ringseed_proto::wire;

use crate::storage::read::DIRECT_ALIGN;

/// Memory of one ring's queues, bytes (SQ and CQ entries and the SQE array at 4096 entries).
const RING_MEMORY: u64 = 512 * 1024;
/// Most buffers one ring can register.
pub(crate) const MAX_REGISTERED: usize = 1024;

/// Size in bytes of one block buffer for the chosen mode.
pub(crate) fn buffer_size(direct_io: bool) -> usize {
    if direct_io {
        // Alignment slack + header room + block + up to one page before and after it.
        DIRECT_ALIGN + PIECE_HEADER_LEN + DIRECT_ALIGN + BLOCK_LEN as usize + DIRECT_ALIGN
    } else {
        PIECE_HEADER_LEN + BLOCK_LEN as usize
    }
}

/// Where the header and the data go inside a buffer at address `base`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlockLayout {
    /// First 4096-aligned index at or after the header room (direct I/O reads land here).
    pub(crate) aligned_start: usize,
}

impl BlockLayout {
    pub(crate) fn for_buffer(base: *const u8, direct_io: bool) -> Self {
        if direct_io {
            let addr = base as usize + PIECE_HEADER_LEN;
            let pad = (DIRECT_ALIGN - addr % DIRECT_ALIGN) % DIRECT_ALIGN;
            BlockLayout {
                aligned_start: PIECE_HEADER_LEN + pad,
            }
        } else {
            BlockLayout {
                aligned_start: PIECE_HEADER_LEN,
            }
        }
    }
}

/// A checked-out block buffer.
pub(crate) enum BlockBuf {
    Fixed(FixedBuf),
    Plain(Vec<u8>),
}

impl BlockBuf {
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        match self {
            BlockBuf::Fixed(b) => &mut b[..],
            BlockBuf::Plain(v) => &mut v[..],
        }
    }
    pub(crate) fn base(&self) -> *const u8 {
        match self {
            BlockBuf::Fixed(b) => b.as_ptr(),
            BlockBuf::Plain(v) => v.as_ptr(),
        }
    }
}

// SAFETY: both variants own heap memory that neither moves nor is freed
// while the buffer is owned by an operation; the whole length is
// initialised (`vec![0; n]`, and registered buffers are made from such).
unsafe impl tokio_uring::buf::IoBuf for BlockBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.base()
    }
    fn bytes_init(&self) -> usize {
        match self {
            BlockBuf::Fixed(b) => b.bytes_init(),
            BlockBuf::Plain(v) => v.len(),
        }
    }
    fn bytes_total(&self) -> usize {
        match self {
            BlockBuf::Fixed(b) => b.bytes_total(),
            BlockBuf::Plain(v) => v.len(),
        }
    }
}

// SAFETY: as above; `set_init` never shrinks what is initialised.
unsafe impl tokio_uring::buf::IoBufMut for BlockBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        match self {
            BlockBuf::Fixed(b) => b.stable_mut_ptr(),
            BlockBuf::Plain(v) => v.as_mut_ptr(),
        }
    }
    unsafe fn set_init(&mut self, pos: usize) {
        if let BlockBuf::Fixed(b) = self {
            b.set_init(pos);
        }
    }
}

impl crate::storage::read::ReadTarget for BlockBuf {
    async fn read_at(
        self,
        file: &tokio_uring::fs::File,
        range: std::ops::Range<usize>,
        offset: u64,
    ) -> (std::io::Result<usize>, Self) {
        use tokio_uring::buf::BoundedBuf;
        match self {
            BlockBuf::Fixed(b) => {
                let (r, s) = file.read_fixed_at(b.slice(range), offset).await;
                (r, BlockBuf::Fixed(s.into_inner()))
            }
            BlockBuf::Plain(v) => {
                let (r, s) = file.read_at(v.slice(range), offset).await;
                (r, BlockBuf::Plain(s.into_inner()))
            }
        }
    }
    fn zero(&mut self, range: std::ops::Range<usize>) {
        self.as_mut_slice()[range].fill(0);
    }
}

/// The shard's buffers: registered pool (if registration worked) and a free
/// list of plain buffers used when the pool is empty or unregistered.
pub(crate) struct BlockBuffers {
    pool: Option<FixedBufPool<Vec<u8>>>,
    registered: usize,
    plain: RefCell<Vec<Vec<u8>>>,
    size: usize,
    in_use: std::cell::Cell<usize>,
    /// Plain buffers handed out (blocks that did not get a registered one).
    plain_given: std::cell::Cell<u64>,
}

/// How many buffers a shard may register: the memlock budget shared by
/// `shards` rings (three quarters of the limit, leaving room for the rings
/// themselves, and for each shard's side ring when `side_ring`), at most
/// [`MAX_REGISTERED`].
pub(crate) fn pool_size_from_memlock(shards: usize, direct_io: bool, side_ring: bool) -> usize {
    let per_buf = (buffer_size(direct_io).div_ceil(4096) + 1) * 4096;
    // Each ring's own queues (about 400 KiB at 4096 entries) may be charged too.
    let per_shard_rings = RING_MEMORY
        + if side_ring {
            super::side_ring::RING_MEMORY
        } else {
            0
        };
    let rings = per_shard_rings * shards.max(1) as u64;
    let budget = match crate::rlimit::memlock() {
        None => u64::MAX,
        Some(limit) => limit.saturating_sub(rings) / 4 * 3,
    };
    let per_shard = budget / shards.max(1) as u64 / per_buf as u64;
    (per_shard as usize).min(MAX_REGISTERED)
}

impl BlockBuffers {
    /// Allocates `count` buffers and registers them with the current ring.
    /// Must run inside the shard's `tokio_uring` runtime. On failure, logs a
    /// warning and returns plain buffers only.
    pub(crate) fn new(shard: usize, count: usize, direct_io: bool) -> Self {
        let size = buffer_size(direct_io);
        let mut pool = None;
        let mut registered = 0;
        if count > 0 {
            // `vec![0; n]` has len == capacity: the whole buffer is initialised and usable.
            let p = FixedBufPool::new((0..count).map(|_| vec![0u8; size]));
            match p.register() {
                Ok(()) => {
                    pool = Some(p);
                    registered = count;
                }
                Err(e) => {
                    tracing::warn!(shard, count, error = %e, "registering block buffers failed (RLIMIT_MEMLOCK?); using plain buffers");
                }
            }
        }
        BlockBuffers {
            pool,
            registered,
            plain: RefCell::new(Vec::new()),
            size,
            in_use: std::cell::Cell::new(0),
            plain_given: std::cell::Cell::new(0),
        }
    }

    /// Number of registered buffers (0 when registration failed).
    pub(crate) fn registered(&self) -> usize {
        self.registered
    }

    /// Plain buffers handed out so far.
    pub(crate) fn plain_given(&self) -> u64 {
        self.plain_given.get()
    }

    /// Registered buffers currently checked out.
    pub(crate) fn in_use(&self) -> usize {
        self.in_use.get()
    }

    /// A buffer: a registered one when free, else a reused plain one.
    pub(crate) fn get(&self) -> BlockBuf {
        if let Some(b) = self.pool.as_ref().and_then(|p| p.try_next(self.size)) {
            self.in_use.set(self.in_use.get() + 1);
            return BlockBuf::Fixed(b);
        }
        self.plain_given.set(self.plain_given.get() + 1);
        BlockBuf::Plain(
            self.plain
                .borrow_mut()
                .pop()
                .unwrap_or_else(|| vec![0u8; self.size]),
        )
    }

    /// Returns a buffer (registered ones go back to the pool on drop).
    pub(crate) fn put(&self, b: BlockBuf) {
        match b {
            BlockBuf::Fixed(_) => self.in_use.set(self.in_use.get() - 1),
            BlockBuf::Plain(v) => {
                let mut plain = self.plain.borrow_mut();
                // Keep a bounded free list; extra buffers are freed.
                if plain.len() < 256 {
                    plain.push(v);
                }
            }
        }
    }
}
