//! The cold path: reads sized for the disk, not the block.
//!
//! A seedbox serves far more data than its RAM, so most requests miss the
//! page cache. Spliced or read block by block, each 16 KiB miss is one small
//! read that parks a kernel worker (io-wq) until the disk answers: the disk
//! sees a few small reads at a time, well below what it delivers to larger
//! reads at a real queue depth (docs/benchmarks.md, "Cold cache").
//!
//! Per shard, this module keeps a bounded **read cache** of *extents*: the
//! aligned window of a piece (`[storage] read_window_kib`, 512 KiB by
//! default, never crossing a piece's end) that holds a requested block. On a
//! miss the whole window is read once into a page-aligned buffer of its own
//! and every request inside it — from any peer of the shard — is sent from
//! that buffer. The read is O_DIRECT (io_uring completes such reads
//! asynchronously, without io-wq, and the page cache is left alone) while
//! the torrents seeded are larger than half of what the page cache may hold;
//! otherwise it goes through the page cache (async buffered read, no
//! readahead), which then keeps the window for the warm path
//! (`[storage] cold_reads`: auto, direct, page_cache). A window already being read is waited for, not
//! read twice. Extents are kept least-recently-used within the cache's
//! budget (`[storage] read_cache_mib`, all shards together) and their
//! buffers are reused, so memory stays flat.
//!
//! **Hit or miss is decided before the path is chosen**: `cachestat(2)`
//! (Linux ≥ 6.5) says whether the page cache holds all of a window; if so
//! the block goes the warm way (splice or `readv`, no read at all). A
//! kernel without `cachestat` gets one warning and every request goes the
//! warm way (the behaviour before this cache).
//!
//! **Misses queue per device** (`st_dev` of the file): each device has its
//! own queue of at most `[storage] device_queue_depth` reads in flight (all
//! shards together, split between them), served in ascending (inode,
//! offset) order from where the last read started (C-SCAN), so a slow disk
//! fills only its own queue and never holds reads meant for another.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;
use std::rc::Rc;
use std::time::Instant;

use ringseed_proto::lengths::Lengths;
use ringseed_proto::metainfo::InfoHash;
use tokio::sync::Notify;
use tokio_uring::buf::{BoundedBuf, IoBuf, IoBufMut};
use tokio_uring::fs::File;

use super::read::{Disk, ReadTarget, Segment, DIRECT_ALIGN};

/// A zeroed, page-aligned heap buffer an O_DIRECT read can land in.
///
/// Hand-rolled: `Vec<u8>` cannot promise 4 KiB alignment, and the crates
/// that can (aligned-vec and the like) do not implement tokio-uring's
/// buffer traits; this is the allocation plus those two trait impls.
pub(crate) struct AlignedBuf {
    ptr: NonNull<u8>,
    cap: usize,
}

impl AlignedBuf {
    fn layout(cap: usize) -> std::alloc::Layout {
        std::alloc::Layout::from_size_align(cap.max(DIRECT_ALIGN), DIRECT_ALIGN)
            .expect("aligned buffer size")
    }

    /// A zeroed buffer of `cap` bytes, aligned to [`DIRECT_ALIGN`].
    pub(crate) fn new(cap: usize) -> Self {
        let layout = Self::layout(cap);
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout)
        };
        AlignedBuf {
            ptr,
            cap: layout.size(),
        }
    }

    /// The whole buffer.
    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: `cap` bytes were allocated and zeroed at creation; reads
        // only ever write into them.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.cap) }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as `as_slice`, with `&mut self` giving exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.cap) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), Self::layout(self.cap)) }
    }
}

// SAFETY: the heap allocation never moves while the value lives, and every
// byte of it is initialized (zeroed at creation).
unsafe impl IoBuf for AlignedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.cap
    }
    fn bytes_total(&self) -> usize {
        self.cap
    }
}

// SAFETY: as for IoBuf; the whole buffer is always initialized.
unsafe impl IoBufMut for AlignedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    unsafe fn set_init(&mut self, _pos: usize) {}
}

impl ReadTarget for AlignedBuf {
    async fn read_at(
        self,
        file: &File,
        range: std::ops::Range<usize>,
        offset: u64,
    ) -> (std::io::Result<usize>, Self) {
        let (r, s) = file.read_at(self.slice(range), offset).await;
        (r, s.into_inner())
    }
    fn zero(&mut self, range: std::ops::Range<usize>) {
        self.as_mut_slice()[range].fill(0);
    }
}

/// Buffers of freed extents, kept for the next reads (no allocation, no
/// page faults in the steady state).
struct Pool {
    size: usize,
    free: RefCell<Vec<AlignedBuf>>,
    keep: usize,
    /// Buffers alive (cached, being read, being sent, or free), for RSS.
    allocated: Cell<usize>,
}

impl Pool {
    fn get(&self) -> AlignedBuf {
        if let Some(b) = self.free.borrow_mut().pop() {
            return b;
        }
        self.allocated.set(self.allocated.get() + 1);
        AlignedBuf::new(self.size)
    }
    fn put(&self, b: AlignedBuf) {
        let mut free = self.free.borrow_mut();
        if free.len() < self.keep {
            free.push(b);
        } else {
            self.allocated.set(self.allocated.get() - 1);
        }
    }
}

/// One window of a piece, read from disk: the bytes of torrent-wide range
/// `offset..offset+len` at `buf[start..start+len]`.
pub(crate) struct Extent {
    buf: Option<AlignedBuf>,
    start: usize,
    len: usize,
    pool: Rc<Pool>,
}

impl Extent {
    /// The extent's bytes (its window of the torrent).
    pub(crate) fn bytes(&self) -> &[u8] {
        let b = self.buf.as_ref().expect("buffer until drop");
        &b.as_slice()[self.start..self.start + self.len]
    }
}

impl Drop for Extent {
    fn drop(&mut self) {
        if let Some(b) = self.buf.take() {
            self.pool.put(b);
        }
    }
}

/// Where a request's block lies in the read cache's windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) key: Key,
    /// Torrent-wide offset and length of the window, bytes.
    pub(crate) offset: u64,
    pub(crate) len: u32,
    /// The block's offset inside the window, bytes.
    pub(crate) within: u32,
}

/// A window's identity: (torrent, piece, window index inside the piece).
pub(crate) type Key = (InfoHash, u32, u32);

/// A window being read; those who want it wait here.
struct Loading {
    done: Notify,
    result: RefCell<Option<Option<Rc<Extent>>>>,
}

enum Slot {
    Loading(Rc<Loading>),
    Ready(Rc<Extent>),
}

/// Reads queued for one device (see the module docs).
struct DeviceQueue {
    /// `major:minor`, for /metrics.
    name: String,
    depth: usize,
    in_flight: Cell<usize>,
    /// Waiting reads by (inode, file offset, arrival), each woken by its own notify.
    waiting: RefCell<BTreeMap<(u64, u64, u64), Rc<Notify>>>,
    /// Where the last dispatched read starts: the next one is the first at or after it.
    head: Cell<(u64, u64, u64)>,
    arrivals: Cell<u64>,
    reads: Cell<u64>,
    read_bytes: Cell<u64>,
}

impl DeviceQueue {
    /// An empty queue named `name` (`major:minor`) with `depth` slots.
    fn new(name: String, depth: usize) -> Self {
        DeviceQueue {
            name,
            depth,
            in_flight: Cell::new(0),
            waiting: RefCell::new(BTreeMap::new()),
            head: Cell::new((0, 0, 0)),
            arrivals: Cell::new(0),
            reads: Cell::new(0),
            read_bytes: Cell::new(0),
        }
    }

    /// Waits for a slot in the device's queue; the read at `pos` (inode,
    /// offset) then holds it until [`DeviceQueue::release`].
    async fn acquire(&self, pos: (u64, u64)) {
        if self.in_flight.get() < self.depth {
            self.in_flight.set(self.in_flight.get() + 1);
            return;
        }
        let seq = self.arrivals.get();
        self.arrivals.set(seq + 1);
        let n = Rc::new(Notify::new());
        self.waiting
            .borrow_mut()
            .insert((pos.0, pos.1, seq), n.clone());
        // `release` hands its slot over (in_flight unchanged) and notifies;
        // notify_one keeps the wake-up even if it comes before this await.
        n.notified().await;
    }

    /// Frees a slot: the next waiting read in C-SCAN order takes it.
    fn release(&self) {
        let next = {
            let mut w = self.waiting.borrow_mut();
            let k = w
                .range(self.head.get()..)
                .next()
                .or_else(|| w.iter().next())
                .map(|(k, _)| *k);
            k.and_then(|k| w.remove(&k).map(|n| (k, n)))
        };
        match next {
            Some((k, n)) => {
                self.head.set(k);
                n.notify_one();
            }
            None => self.in_flight.set(self.in_flight.get() - 1),
        }
    }
}

/// One device's figures for /metrics (see [`CacheStats`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct DeviceStats {
    /// `major:minor` of the device.
    pub(crate) device: String,
    /// Reads in flight and waiting now.
    pub(crate) in_flight: u64,
    pub(crate) waiting: u64,
    /// Reads done and their bytes, since the shard started.
    pub(crate) reads: u64,
    pub(crate) read_bytes: u64,
}

/// Where a shard's blocks came from, and the cache's size.
#[derive(Clone, Debug, Default)]
pub(crate) struct CacheStats {
    /// Blocks sent from an extent already in the read cache.
    pub(crate) cache_blocks: u64,
    /// Blocks sent from an extent read (or being read) for them.
    pub(crate) disk_blocks: u64,
    /// Blocks `cachestat` found in the page cache (sent the warm way).
    pub(crate) page_blocks: u64,
    /// Bytes of extents held in the read cache, and of every buffer it
    /// has allocated (cached, in flight, being sent, free).
    pub(crate) cached_bytes: u64,
    pub(crate) allocated_bytes: u64,
    pub(crate) devices: Vec<DeviceStats>,
}

/// Consecutive cached windows after which a file is taken as cached
/// for [`WARM_SKIP`] (see [`ReadCache::resident`]).
const WARM_STREAK: u32 = 4;
const WARM_SKIP: std::time::Duration = std::time::Duration::from_millis(200);
/// Files with a warm streak tracked at once (the rest are checked every time).
const MAX_WARM_FILES: usize = 4096;

/// A file's recent residency checks.
struct WarmFile {
    streak: u32,
    skip_until: Instant,
}

/// What `cachestat(2)` is known to do on this kernel.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Residency {
    Unknown,
    Works,
    Missing,
}

/// A shard's read cache (see the module docs).
pub(crate) struct ReadCache {
    window: u32,
    direct: Cell<bool>,
    budget: usize,
    depth: usize,
    slots: RefCell<HashMap<Key, (Slot, u64)>>,
    /// Ready extents by last use (tick → key), oldest first.
    order: RefCell<BTreeMap<u64, Key>>,
    tick: Cell<u64>,
    bytes: Cell<usize>,
    pool: Rc<Pool>,
    devices: RefCell<HashMap<u64, Rc<DeviceQueue>>>,
    residency: Cell<Residency>,
    /// Warm streaks by descriptor (the file cache keeps files open; a
    /// reused number only skips a check, see [`ReadCache::resident`]).
    warm_files: RefCell<HashMap<i32, WarmFile>>,
    pub(crate) stats: RefCell<CacheStats>,
}

impl ReadCache {
    /// A cache of `budget` bytes of `window`-byte extents (window rounded up
    /// to 16 KiB, at least 16 KiB), reading at most `depth` windows at once
    /// per device, with O_DIRECT when `direct` (else through the page cache).
    pub(crate) fn new(budget: usize, window: u32, depth: usize, direct: bool) -> Self {
        let window = window.max(16 * 1024).div_ceil(16 * 1024) * 16 * 1024;
        // Room for an unaligned start and end (O_DIRECT reads whole pages).
        let size = window as usize + 2 * DIRECT_ALIGN;
        ReadCache {
            window,
            direct: Cell::new(direct),
            budget,
            depth: depth.max(1),
            slots: RefCell::new(HashMap::new()),
            order: RefCell::new(BTreeMap::new()),
            tick: Cell::new(0),
            bytes: Cell::new(0),
            pool: Rc::new(Pool {
                size,
                free: RefCell::new(Vec::new()),
                keep: (budget / size).max(4),
                allocated: Cell::new(0),
            }),
            devices: RefCell::new(HashMap::new()),
            residency: Cell::new(Residency::Unknown),
            warm_files: RefCell::new(HashMap::new()),
            stats: RefCell::new(CacheStats::default()),
        }
    }

    /// Misses are read with O_DIRECT from now on (`true`) or through the
    /// page cache (`[storage] cold_reads`).
    pub(crate) fn set_direct(&self, direct: bool) {
        if self.direct.replace(direct) != direct {
            if !direct {
                // The page cache keeps what is read from now on: extents
                // kept for O_DIRECT reads go (the warm path serves them).
                self.evict_to(0);
            }
            tracing::info!(
                direct,
                "read cache: misses now read {}",
                if direct {
                    "with O_DIRECT (seeded data is larger than half the page cache's room)"
                } else {
                    "through the page cache"
                }
            );
        }
    }

    /// The window holding block `begin..begin+length` of piece `index`, or
    /// `None` when the block crosses a window's end (then it goes the warm
    /// way, read as it is).
    pub(crate) fn window(
        &self,
        info_hash: InfoHash,
        lengths: &Lengths,
        index: u32,
        begin: u32,
        length: u32,
    ) -> Option<Window> {
        let w = self.window;
        let chunk = begin / w;
        let start = chunk * w;
        let len = (lengths.piece_len(index).checked_sub(start)?).min(w);
        let within = begin - start;
        if within.checked_add(length)? > len {
            return None;
        }
        Some(Window {
            key: (info_hash, index, chunk),
            offset: lengths.piece_offset(index) + start as u64,
            len,
            within,
        })
    }

    /// The extent of `key` if it is cached now (marked as just used).
    pub(crate) fn cached(&self, key: &Key) -> Option<Rc<Extent>> {
        let tick = self.next_tick();
        let mut slots = self.slots.borrow_mut();
        let (slot, used) = slots.get_mut(key)?;
        match slot {
            Slot::Ready(e) => {
                let e = e.clone();
                let mut order = self.order.borrow_mut();
                order.remove(used);
                order.insert(tick, *key);
                *used = tick;
                Some(e)
            }
            Slot::Loading(_) => None,
        }
    }

    /// True when the extent of `key` is cached now (its last use unchanged).
    pub(crate) fn holds(&self, key: &Key) -> bool {
        matches!(self.slots.borrow().get(key), Some((Slot::Ready(_), _)))
    }

    /// True while `key` is cached or being read (a request for it goes the cold way).
    pub(crate) fn known(&self, key: &Key) -> bool {
        self.slots.borrow().contains_key(key)
    }

    /// True when the page cache holds every page of the torrent-wide range
    /// (checked with `cachestat(2)`, per file). A kernel without it: one
    /// warning, then always true (every request goes the warm way). A file
    /// that cannot be opened: true (the warm path reports the error).
    ///
    /// A file whose last [`WARM_STREAK`] checks all found their windows
    /// cached is taken as cached for [`WARM_SKIP`] without asking: on a warm
    /// payload the check was ~5 % of the seeder's CPU (perf, 64 peers). A
    /// window that is not cached after all goes the warm way, which is
    /// correct, only slower — for that long at most.
    pub(crate) fn resident(&self, disk: &Disk<'_>, offset: u64, len: u32) -> bool {
        if self.residency.get() == Residency::Missing {
            return true;
        }
        let now = Instant::now();
        for seg in disk.segments(offset, len) {
            let Ok(Segment::File { file, offset, len }) = seg else {
                if seg.is_err() {
                    return true;
                }
                continue;
            };
            let fd = file.as_raw_fd();
            if let Some(w) = self.warm_files.borrow().get(&fd) {
                if w.skip_until > now {
                    continue;
                }
            }
            match cachestat(&file, offset, len as u64) {
                Ok(cached) => {
                    self.residency.set(Residency::Works);
                    let first = offset / 4096;
                    let last = (offset + len as u64).div_ceil(4096);
                    let resident = cached >= last - first;
                    self.note_file(fd, resident, now);
                    if !resident {
                        return false;
                    }
                }
                Err(e) => {
                    if self.residency.get() == Residency::Unknown {
                        tracing::warn!(error = %e, "cachestat(2) unavailable (Linux >= 6.5 has it): every block is read through the page cache, without the read cache");
                    }
                    self.residency.set(Residency::Missing);
                    return true;
                }
            }
        }
        true
    }

    /// Counts a residency check of file `fd` towards its warm streak.
    fn note_file(&self, fd: i32, resident: bool, now: Instant) {
        let mut files = self.warm_files.borrow_mut();
        if !resident {
            files.remove(&fd);
            return;
        }
        if files.len() >= MAX_WARM_FILES && !files.contains_key(&fd) {
            files.retain(|_, w| w.skip_until > now);
            if files.len() >= MAX_WARM_FILES {
                return;
            }
        }
        let w = files.entry(fd).or_insert(WarmFile {
            streak: 0,
            skip_until: now,
        });
        w.streak += 1;
        if w.streak >= WARM_STREAK {
            w.streak = 0;
            w.skip_until = now + WARM_SKIP;
        }
    }

    /// The extent of window `w`: from the cache, from a read already in
    /// flight, or read now (queued on its device). `None` when it cannot be
    /// read (the caller reads the blocks the warm way, which reports the
    /// error per block). `on_read` is called per read submitted.
    pub(crate) async fn extent(
        &self,
        disk: Disk<'_>,
        w: Window,
        on_read: impl FnMut(),
    ) -> Option<Rc<Extent>> {
        if let Some(e) = self.cached(&w.key) {
            return Some(e);
        }
        let waiting = match self.slots.borrow().get(&w.key) {
            Some((Slot::Loading(l), _)) => Some(l.clone()),
            _ => None,
        };
        if let Some(l) = waiting {
            // Created before the result is checked: no wake-up is lost
            // (one thread, and notify_waiters reaches futures made before it).
            let notified = l.done.notified();
            if let Some(r) = l.result.borrow().clone() {
                return r;
            }
            notified.await;
            return l.result.borrow().clone().flatten();
        }
        let loading = Rc::new(Loading {
            done: Notify::new(),
            result: RefCell::new(None),
        });
        self.slots
            .borrow_mut()
            .insert(w.key, (Slot::Loading(loading.clone()), 0));
        let got = self.read(disk, w, on_read).await;
        {
            let mut slots = self.slots.borrow_mut();
            match &got {
                // Read through the page cache: it keeps the window, and the
                // next requests for it go the warm way (splice, no copy);
                // only those already waiting get this extent.
                Some(_) if !self.direct.get() => {
                    slots.remove(&w.key);
                }
                Some(e) => {
                    let tick = self.next_tick();
                    slots.insert(w.key, (Slot::Ready(e.clone()), tick));
                    self.order.borrow_mut().insert(tick, w.key);
                    self.bytes.set(self.bytes.get() + self.pool.size);
                }
                None => {
                    slots.remove(&w.key);
                }
            }
        }
        self.evict();
        *loading.result.borrow_mut() = Some(got.clone());
        loading.done.notify_waiters();
        got
    }

    /// Reads window `w` into a buffer of its own: O_DIRECT when one file
    /// holds it (page cache otherwise, or where O_DIRECT cannot open).
    async fn read(&self, disk: Disk<'_>, w: Window, on_read: impl FnMut()) -> Option<Rc<Extent>> {
        let (dev, pos) = match disk.segments(w.offset, w.len).find_map(|s| match s {
            Ok(Segment::File { file, offset, .. }) => Some(Ok((file, offset))),
            Ok(Segment::Zeros(_)) => None,
            Err(e) => Some(Err(e)),
        }) {
            Some(Ok((file, offset))) => {
                let (dev, ino) = identity(&file).unwrap_or((0, 0));
                (dev, (ino, offset))
            }
            Some(Err(_)) => return None,
            // All zeros (pad files): no device.
            None => (0, (0, 0)),
        };
        let queue = self.device(dev);
        let asked = Instant::now();
        queue.acquire(pos).await;
        let started = Instant::now();
        let buf = self.pool.get();
        let (res, buf) = disk
            .read_block(w.offset, w.len, buf, 0, self.direct.get(), on_read)
            .await;
        let done = Instant::now();
        queue.release();
        queue.reads.set(queue.reads.get() + 1);
        queue.read_bytes.set(queue.read_bytes.get() + w.len as u64);
        let device = [metrics::Label::new("device", queue.name.clone())];
        metrics::histogram!("ringseed_device_read_duration_seconds", device.iter())
            .record((done - started).as_secs_f64());
        metrics::histogram!("ringseed_device_queue_wait_duration_seconds", device.iter())
            .record((started - asked).as_secs_f64());
        match res {
            Ok(start) => Some(Rc::new(Extent {
                buf: Some(buf),
                start,
                len: w.len as usize,
                pool: self.pool.clone(),
            })),
            Err(_) => {
                self.pool.put(buf);
                None
            }
        }
    }

    /// The queue of device `dev` (made on first use).
    fn device(&self, dev: u64) -> Rc<DeviceQueue> {
        self.devices
            .borrow_mut()
            .entry(dev)
            .or_insert_with(|| {
                Rc::new(DeviceQueue::new(
                    format!("{}:{}", rustix::fs::major(dev), rustix::fs::minor(dev)),
                    self.depth,
                ))
            })
            .clone()
    }

    fn next_tick(&self) -> u64 {
        let t = self.tick.get() + 1;
        self.tick.set(t);
        t
    }

    /// Drops the least recently used extents beyond the budget (their
    /// buffers return to the pool once no send holds them).
    fn evict(&self) {
        self.evict_to(self.budget);
    }

    /// Drops the least recently used extents until at most `limit` bytes are kept.
    fn evict_to(&self, limit: usize) {
        while self.bytes.get() > limit {
            let Some((_, key)) = self.order.borrow_mut().pop_first() else {
                break;
            };
            // A key no longer held ready has nothing to free.
            if !matches!(self.slots.borrow().get(&key), Some((Slot::Ready(_), _))) {
                continue;
            }
            self.slots.borrow_mut().remove(&key);
            self.bytes.set(self.bytes.get() - self.pool.size);
        }
    }

    /// Forgets every extent of a torrent (removed, rechecked, paused).
    pub(crate) fn forget(&self, info_hash: &InfoHash) {
        let mut slots = self.slots.borrow_mut();
        let mut order = self.order.borrow_mut();
        slots.retain(|k, (slot, used)| {
            if &k.0 != info_hash {
                return true;
            }
            if let Slot::Ready(_) = slot {
                order.remove(used);
                self.bytes.set(self.bytes.get() - self.pool.size);
            }
            false
        });
    }

    /// A copy of the counters, with the cache's size and each device's queue now.
    pub(crate) fn snapshot(&self) -> CacheStats {
        let mut s = self.stats.borrow().clone();
        s.cached_bytes = self.bytes.get() as u64;
        s.allocated_bytes = (self.pool.allocated.get() * self.pool.size) as u64;
        s.devices = self
            .devices
            .borrow()
            .values()
            .map(|q| DeviceStats {
                device: q.name.clone(),
                in_flight: q.in_flight.get() as u64,
                waiting: q.waiting.borrow().len() as u64,
                reads: q.reads.get(),
                read_bytes: q.read_bytes.get(),
            })
            .collect();
        s
    }
}

/// Bytes the page cache may hold for this process: the smaller of RAM
/// (`MemTotal`) and its memory cgroup's limit (v2 `memory.max`, v1
/// `memory.limit_in_bytes`), read once.
pub(crate) fn page_cache_room() -> u64 {
    let ram = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let l = m.lines().find(|l| l.starts_with("MemTotal:"))?;
            l.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(u64::MAX, |kib| kib * 1024);
    let cgroup = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                let mut f = l.splitn(3, ':');
                let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
                let file = match controllers {
                    "" => format!("/sys/fs/cgroup{path}/memory.max"),
                    c if c.split(',').any(|c| c == "memory") => {
                        format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes")
                    }
                    _ => return None,
                };
                std::fs::read_to_string(file)
                    .ok()?
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        })
        .unwrap_or(u64::MAX);
    ram.min(cgroup)
}

/// (device, inode) of an open file.
fn identity(file: &File) -> std::io::Result<(u64, u64)> {
    // SAFETY: the caller holds the file open for the duration of the call.
    let fd = unsafe { BorrowedFd::borrow_raw(file.as_raw_fd()) };
    let st = rustix::fs::fstat(fd)?;
    Ok((st.st_dev, st.st_ino))
}

/// `cachestat`'s number: 451 on every architecture (numbers from 424 on
/// are shared by all of them); the libc crate lacks it for x86_64 glibc.
const SYS_CACHESTAT: libc::c_long = 451;

/// Pages of `offset..offset+len` of `file` in the page cache
/// (`cachestat(2)`, Linux ≥ 6.5).
///
/// Errors: the kernel has no `cachestat` (`ENOSYS`), or refuses the file.
fn cachestat(file: &File, offset: u64, len: u64) -> std::io::Result<u64> {
    #[repr(C)]
    struct Range {
        off: u64,
        len: u64,
    }
    #[repr(C)]
    #[derive(Default)]
    struct Stat {
        nr_cache: u64,
        nr_dirty: u64,
        nr_writeback: u64,
        nr_evicted: u64,
        nr_recently_evicted: u64,
    }
    let range = Range { off: offset, len };
    let mut st = Stat::default();
    // SAFETY: both pointers are to live, correctly laid out structs (the
    // kernel's `struct cachestat_range` and `struct cachestat`); the
    // descriptor is held open by the caller. No other memory is touched.
    let r = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            file.as_raw_fd(),
            &range as *const Range,
            &mut st as *mut Stat,
            0u32,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st.nr_cache)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_stay_inside_their_piece() {
        let c = ReadCache::new(1 << 20, 256 * 1024, 4, true);
        let ih = InfoHash([7; 20]);
        // 600 KiB pieces, last piece 100 KiB.
        let l = Lengths::new(600 * 1024 * 2 + 100 * 1024, 600 * 1024).unwrap();
        let w = c.window(ih, &l, 1, 512 * 1024, 16384).unwrap();
        assert_eq!(w.key, (ih, 1, 2));
        assert_eq!(w.offset, 600 * 1024 + 512 * 1024);
        assert_eq!(w.len, 88 * 1024, "the third window ends with the piece");
        assert_eq!(w.within, 0);
        let w = c.window(ih, &l, 2, 16384, 16384).unwrap();
        assert_eq!((w.len, w.within), (100 * 1024, 16384));
        // A block across a window's end is not the cache's.
        assert_eq!(c.window(ih, &l, 0, 256 * 1024 - 8192, 16384), None);
    }

    #[test]
    fn device_queue_serves_waiters_in_cscan_order() {
        let q = DeviceQueue::new("0:0".into(), 1);
        q.in_flight.set(1);
        q.head.set((1, 500, 0));
        for (i, off) in [100u64, 900, 600].into_iter().enumerate() {
            q.waiting
                .borrow_mut()
                .insert((1, off, i as u64), Rc::new(Notify::new()));
        }
        let mut order = Vec::new();
        for _ in 0..3 {
            q.release();
            order.push(q.head.get().1);
        }
        assert_eq!(order, [600, 900, 100]);
        q.release();
        assert_eq!(q.in_flight.get(), 0);
    }
}
