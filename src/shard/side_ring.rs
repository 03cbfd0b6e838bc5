//! A second io_uring ring per shard for the operations tokio-uring 0.5 does
//! not offer: `IORING_OP_SPLICE` (file → pipe → socket, so piece data never
//! enters user memory) and `IORING_OP_SENDMSG_ZC` (zerocopy send from the
//! registered block buffers).
//!
//! The ring is driven from the shard's own runtime: its file descriptor is
//! readable while completions wait, so one task awaits it through tokio's
//! reactor (as tokio-uring does with its own ring) and wakes the operations
//! whose completions arrived. Submitting is one `io_uring_enter` per chain,
//! never waiting. Nothing blocks the shard thread.
//!
//! Memory safety: everything an operation points at (headers, iovecs, the
//! `msghdr`, buffers, pipes, the peer whose socket it writes) travels in the
//! chain's `keep` box, which the ring holds until the last completion of the
//! chain has arrived, even when the waiting future is dropped first.
//!
//! Source: io_uring_enter(2), io_uring_prep_splice(3), io_uring_prep_send_zc(3)
//! (a zerocopy send completes twice: the result, flagged `IORING_CQE_F_MORE`,
//! then a notification once the kernel no longer needs the memory).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use io_uring::{cqueue, opcode, squeue, IoUring, Probe};
use tokio::io::unix::AsyncFd;

/// `IORING_CQE_F_NOTIF` (io_uring.h): the completion is a zerocopy send's
/// notification (the `io-uring` crate 0.6 does not export it).
const CQE_F_NOTIF: u32 = 1 << 3;
/// Submission queue entries of the side ring.
const ENTRIES: u32 = 256;
/// Memory of the side ring's queues as RLIMIT_MEMLOCK may count it, bytes
/// (256 SQEs of 64 bytes, 2048 CQEs of 16 bytes, the index array, rounded up).
pub(crate) const RING_MEMORY: u64 = 128 * 1024;
/// Most pipes one shard holds at once: two per sending peer (one batch being
/// sent, the next being filled). Beyond them batches go through registered
/// buffers. A pipe costs two descriptors, its slot array (about 5 KiB) and
/// the pages it holds while a batch is in it.
pub(crate) const MAX_PIPES: usize = 128;

/// Pipes per shard under a descriptor limit of `nofile`: a sixteenth of the
/// limit (two descriptors each) shared by the shards, at least 2, at most
/// [`MAX_PIPES`]. `fit_descriptors` sets the same number aside.
pub(crate) fn pipes_per_shard(nofile: u64, shards: usize) -> usize {
    ((nofile / 32) as usize / shards.max(1)).clamp(2, MAX_PIPES)
}

/// Size asked of every pipe (`F_SETPIPE_SZ`), bytes: 256 slots, room for a
/// full batch (32 blocks of at most 6 slots each). The kernel may grant less
/// (`/proc/sys/fs/pipe-max-size`; an unprivileged user past
/// `pipe-user-pages-soft`, 16384 pages, gets one-page pipes): a batch that
/// would not fit goes through registered buffers instead.
const PIPE_BYTES: i32 = 1024 * 1024;
/// Operations one chain may hold (the ring's queue is shared by all chains).
pub(crate) const MAX_CHAIN: usize = 256;

/// One completion: the operation's result (bytes, or `-errno`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Cqe {
    pub(crate) result: i32,
}

struct Slot {
    /// Completions still expected (a zerocopy send adds one for its notification).
    pending: usize,
    /// Result completions still expected (notifications not counted).
    results_left: usize,
    /// Resolve the future once every result is in, before notifications
    /// (zerocopy: the socket took the data; the memory is freed later).
    early: bool,
    /// Per operation of the chain, its (first) completion.
    results: Vec<Cqe>,
    waker: Option<Waker>,
    keep: Option<Box<dyn Any>>,
    /// The waiting future was dropped: free the slot when the chain ends.
    orphan: bool,
}

/// The ring, its completion slots and the shard's pipe pool.
pub(crate) struct SideRing {
    // Field order is drop order: the reactor forgets the descriptor before
    // the ring closes it.
    fd: AsyncFd<RawFd>,
    ring: RefCell<IoUring>,
    slots: RefCell<Vec<Option<Slot>>>,
    free: RefCell<Vec<usize>>,
    pipes: RefCell<Vec<Pipe>>,
    pipes_made: Cell<usize>,
    max_pipes: usize,
    pub(crate) splice: bool,
    pub(crate) send_zc: bool,
    pipe_capacity: Cell<usize>,
}

/// A pipe of the pool: read end, write end, capacity in bytes.
pub(crate) struct Pipe {
    pub(crate) read: OwnedFd,
    pub(crate) write: OwnedFd,
    pub(crate) capacity: usize,
}

/// True when the configuration makes shards create a side ring (`splice`
/// without `--direct-io`, or `zc`).
pub(crate) fn wanted(config: &crate::config::Config) -> bool {
    use crate::config::SendMode;
    match config.network.send_mode {
        SendMode::Fixed => false,
        SendMode::Splice => !config.storage.direct_io,
        SendMode::Zc => true,
    }
}

impl SideRing {
    /// Creates the ring; must run inside the shard's runtime. Reports which
    /// of the operations the kernel supports (`splice`, `send_zc`).
    ///
    /// Errors: the ring cannot be created or registered with the reactor.
    pub(crate) fn new(max_pipes: usize) -> io::Result<Rc<SideRing>> {
        // Completions of linked chains arrive in bursts: a completion queue
        // well beyond the submission queue (overflow is kept by the kernel
        // anyway, IORING_FEAT_NODROP, and flushed in `reap`).
        let ring = IoUring::builder()
            .setup_cqsize(ENTRIES * 8)
            .build(ENTRIES)?;
        let mut probe = Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        let splice = [
            opcode::Splice::CODE,
            opcode::Write::CODE,
            opcode::PollAdd::CODE,
        ]
        .iter()
        .all(|&c| probe.is_supported(c));
        let send_zc = probe.is_supported(opcode::SendMsgZc::CODE);
        // SAFETY: the descriptor is the ring's, which lives in the same
        // struct and is closed only after this registration is dropped.
        let fd = unsafe {
            AsyncFd::register_with_interest(ring.as_raw_fd(), tokio::io::Interest::READABLE)
        }
        .map_err(|e| io::Error::other(e.to_string()))?;
        let me = Rc::new(SideRing {
            ring: RefCell::new(ring),
            fd,
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            pipes: RefCell::new(Vec::new()),
            pipes_made: Cell::new(0),
            max_pipes,
            splice,
            send_zc,
            pipe_capacity: Cell::new(4096 * 16),
        });
        // The first pipe tells what the kernel grants every pipe.
        if let Some(p) = me.pipe() {
            me.pipe_capacity.set(p.capacity);
            me.put_pipe(p);
        }
        tokio_uring::spawn(me.clone().drive());
        Ok(me)
    }

    /// Reaps completions whenever the ring's descriptor is readable.
    async fn drive(self: Rc<Self>) {
        loop {
            let mut guard = match self.fd.readable().await {
                Ok(g) => g,
                Err(e) => {
                    tracing::error!(error = %e, "side ring: waiting for completions failed");
                    return;
                }
            };
            guard.clear_ready();
            self.reap();
        }
    }

    fn reap(&self) {
        let mut ring = self.ring.borrow_mut();
        let mut slots = self.slots.borrow_mut();
        let mut wake = Vec::new();
        loop {
            for cqe in ring.completion() {
                let ud = cqe.user_data();
                let (id, op) = ((ud >> 16) as usize, (ud & 0xffff) as usize);
                let Some(Some(slot)) = slots.get_mut(id) else {
                    continue;
                };
                let flags = cqe.flags();
                if flags & CQE_F_NOTIF == 0 {
                    slot.results_left = slot.results_left.saturating_sub(1);
                    if let Some(r) = slot.results.get_mut(op) {
                        *r = Cqe {
                            result: cqe.result(),
                        };
                    }
                }
                if !cqueue::more(flags) {
                    slot.pending -= 1;
                }
                if slot.pending == 0 && slot.orphan {
                    slots[id] = None;
                    self.free.borrow_mut().push(id);
                } else if slot.pending == 0 || (slot.early && slot.results_left == 0) {
                    if let Some(w) = slot.waker.take() {
                        wake.push(w);
                    }
                }
            }
            // Completions the kernel kept aside while the queue was full.
            if ring.submission().cq_overflow() {
                let _ = ring.submitter().submit_and_wait(0);
                continue;
            }
            break;
        }
        drop(slots);
        drop(ring);
        for w in wake {
            w.wake();
        }
    }

    /// Submits `ops` as one chain (the caller sets `IO_LINK` where order
    /// matters); `keep` holds what they point at until all completed.
    ///
    /// Errors (with `keep` handed back; nothing was queued): the chain is
    /// empty or longer than [`MAX_CHAIN`], or the queue could not be flushed
    /// to make room for it.
    #[allow(clippy::type_complexity)]
    pub(crate) fn submit(
        self: &Rc<Self>,
        ops: Vec<squeue::Entry>,
        keep: Box<dyn Any>,
    ) -> Result<Completion, (io::Error, Box<dyn Any>)> {
        self.submit_with(ops, keep, false)
    }

    /// [`SideRing::submit`] for zerocopy sends: the future resolves once
    /// every operation's result is in; `keep` comes back only when no
    /// notification is outstanding by then, else the ring drops it when the
    /// last notification arrives (put buffer release in its `Drop`).
    #[allow(clippy::type_complexity)]
    pub(crate) fn submit_early(
        self: &Rc<Self>,
        ops: Vec<squeue::Entry>,
        keep: Box<dyn Any>,
    ) -> Result<Completion, (io::Error, Box<dyn Any>)> {
        self.submit_with(ops, keep, true)
    }

    #[allow(clippy::type_complexity)]
    fn submit_with(
        self: &Rc<Self>,
        ops: Vec<squeue::Entry>,
        keep: Box<dyn Any>,
        early: bool,
    ) -> Result<Completion, (io::Error, Box<dyn Any>)> {
        if ops.is_empty() || ops.len() > MAX_CHAIN {
            return Err((
                io::Error::new(io::ErrorKind::InvalidInput, "chain length out of range"),
                keep,
            ));
        }
        let n = ops.len();
        let mut ring = self.ring.borrow_mut();
        // A chain must enter the queue whole: make room first.
        if room(&mut ring) < n {
            if let Err(e) = enter(&ring) {
                return Err((e, keep));
            }
            if room(&mut ring) < n {
                return Err((io::Error::other("side ring submission queue full"), keep));
            }
        }
        let id = {
            let mut slots = self.slots.borrow_mut();
            let slot = Slot {
                pending: ops.len(),
                results_left: ops.len(),
                early,
                results: vec![Cqe::default(); ops.len()],
                waker: None,
                keep: Some(keep),
                orphan: false,
            };
            match self.free.borrow_mut().pop() {
                Some(id) => {
                    slots[id] = Some(slot);
                    id
                }
                None => {
                    slots.push(Some(slot));
                    slots.len() - 1
                }
            }
        };
        {
            let mut sq = ring.submission();
            for (i, op) in ops.into_iter().enumerate() {
                let e = op.user_data(((id as u64) << 16) | i as u64);
                // SAFETY: every pointer in the entry stays valid: the
                // caller's data lives in `keep`, held by the slot until the
                // chain's last completion. Room was checked above.
                let _ = unsafe { sq.push(&e) };
            }
        }
        // Once queued, the chain is the kernel's: a failed enter leaves it in
        // the queue for the next one (the slot waits for its completions).
        if let Err(e) = enter(&ring) {
            tracing::warn!(error = %e, "side ring: io_uring_enter failed; the chain goes with the next one");
        }
        Ok(Completion {
            ring: self.clone(),
            id,
            done: false,
        })
    }

    /// A pipe from the pool, or a new one while fewer than the shard's
    /// share exist; `None` when the pool is spent (the caller uses another path).
    pub(crate) fn pipe(&self) -> Option<Pipe> {
        if let Some(p) = self.pipes.borrow_mut().pop() {
            return Some(p);
        }
        if self.pipes_made.get() >= self.max_pipes {
            return None;
        }
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two descriptors into the array we own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return None;
        }
        // SAFETY: both descriptors were just created and are owned here only.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: fcntl on a descriptor we own.
        let cap = unsafe {
            libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_BYTES);
            libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ)
        };
        self.pipes_made.set(self.pipes_made.get() + 1);
        Some(Pipe {
            read,
            write,
            capacity: cap.max(4096) as usize,
        })
    }

    /// Pipes open now (pooled and lent out).
    pub(crate) fn pipes_open(&self) -> usize {
        self.pipes_made.get()
    }

    /// True when [`SideRing::pipe`] would give a pipe now.
    pub(crate) fn pipe_available(&self) -> bool {
        !self.pipes.borrow().is_empty() || self.pipes_made.get() < self.max_pipes
    }

    /// Bytes a pipe of the pool holds (what `F_SETPIPE_SZ` granted).
    pub(crate) fn pipe_capacity(&self) -> usize {
        self.pipe_capacity.get()
    }

    /// Returns an empty pipe to the pool.
    pub(crate) fn put_pipe(&self, p: Pipe) {
        self.pipes.borrow_mut().push(p);
    }

    /// Closes half of the idle pipes beyond two (called once a second: a
    /// pool grown by a burst of peers shrinks back within seconds).
    pub(crate) fn trim(&self) {
        let mut pipes = self.pipes.borrow_mut();
        let extra = pipes.len().saturating_sub(2);
        let close = extra.div_ceil(2);
        for _ in 0..close {
            pipes.pop();
        }
        self.pipes_made.set(self.pipes_made.get() - close);
    }

    /// Forgets a pipe that may hold data (it is closed).
    pub(crate) fn discard_pipe(&self, p: Pipe) {
        drop(p);
        self.pipes_made.set(self.pipes_made.get() - 1);
    }
}

/// Free entries in the submission queue.
fn room(ring: &mut IoUring) -> usize {
    let sq = ring.submission();
    sq.capacity() - sq.len()
}

/// `io_uring_enter` for what is queued, again after EINTR/EBUSY/EAGAIN (a
/// few times: completions are reaped by the shard's task, not here).
fn enter(ring: &IoUring) -> io::Result<usize> {
    let mut tries = 0;
    loop {
        match ring.submit() {
            Ok(n) => return Ok(n),
            Err(e)
                if tries < 3
                    && matches!(
                        e.raw_os_error(),
                        Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN)
                    ) =>
            {
                tries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

impl Drop for SideRing {
    fn drop(&mut self) {
        // Chains still in flight may point into their keep boxes: leak
        // those rather than free memory the kernel may still touch.
        for slot in self.slots.get_mut().iter_mut().flatten() {
            if slot.pending > 0 {
                if let Some(k) = slot.keep.take() {
                    std::mem::forget(k);
                }
            }
        }
    }
}

/// The completions of one chain: resolves to each operation's result and
/// the chain's `keep` box.
pub(crate) struct Completion {
    ring: Rc<SideRing>,
    id: usize,
    done: bool,
}

impl Future for Completion {
    /// Each operation's result, and the chain's `keep` unless a zerocopy
    /// notification is still outstanding (see [`SideRing::submit_early`]).
    type Output = (Vec<Cqe>, Option<Box<dyn Any>>);
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let id = self.id;
        let mut slots = self.ring.slots.borrow_mut();
        let slot = slots[id].as_mut().expect("live slot");
        if slot.pending > 0 && !(slot.early && slot.results_left == 0) {
            slot.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let results = std::mem::take(&mut slot.results);
        let keep = if slot.pending == 0 {
            let keep = slot.keep.take();
            slots[id] = None;
            self.ring.free.borrow_mut().push(id);
            keep
        } else {
            // Notifications outstanding: the ring frees the slot (and drops
            // `keep`) when the last one arrives.
            slot.orphan = true;
            None
        };
        drop(slots);
        self.done = true;
        Poll::Ready((results, keep))
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut slots = self.ring.slots.borrow_mut();
        if let Some(slot) = slots[self.id].as_mut() {
            if slot.pending == 0 {
                slots[self.id] = None;
                self.ring.free.borrow_mut().push(self.id);
            } else {
                slot.orphan = true;
            }
        }
    }
}
