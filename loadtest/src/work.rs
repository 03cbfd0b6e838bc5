//! Which piece a peer downloads next.
//!
//! - [`WorkQueue`] (download-once mode): one queue of piece indexes shared by
//!   the swarm. A peer takes a piece the seeder has (BEP 3 bitfield/`have`,
//!   BEP 6 `have_all`); a piece lost to a choke, a disconnect or a stop goes
//!   back to the front; a piece that fails SHA-1 goes to the back and is tried
//!   at most [`MAX_ATTEMPTS`] times in all.
//! - [`Picker`] (load modes): sequential wrap-around shared by the swarm,
//!   uniform random, or Zipf (exponent s, default 1.0) over piece indexes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rand::Rng;

use crate::Pattern;

/// Downloads of one piece allowed in download-once mode: the first try and
/// two retries after a failed SHA-1 check.
pub(crate) const MAX_ATTEMPTS: u8 = 3;

const PENDING: u8 = 0;
const TAKEN: u8 = 1;
const DONE: u8 = 2;
const FAILED: u8 = 3;

struct Inner {
    /// Candidates; an entry whose state is not PENDING is stale and skipped.
    queue: VecDeque<u32>,
    state: Vec<u8>,
    failures: Vec<u8>,
    ok: u32,
    failed_for_good: u32,
}

/// The shared work queue of download-once mode.
pub(crate) struct WorkQueue {
    inner: Mutex<Inner>,
    total: u32,
    /// Signalled when a piece becomes available again.
    pub available: tokio::sync::Notify,
}

impl WorkQueue {
    pub fn new(num_pieces: u32) -> Self {
        WorkQueue {
            inner: Mutex::new(Inner {
                queue: (0..num_pieces).collect(),
                state: vec![PENDING; num_pieces as usize],
                failures: vec![0; num_pieces as usize],
                ok: 0,
                failed_for_good: 0,
            }),
            total: num_pieces,
            available: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the first pending piece for which `usable` holds.
    pub fn take(&self, mut usable: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut g = self.lock();
        let inner = &mut *g;
        // Drop stale entries at the front, then look for a usable one.
        while let Some(&i) = inner.queue.front() {
            if inner.state[i as usize] == PENDING {
                break;
            }
            inner.queue.pop_front();
        }
        let pos = inner
            .queue
            .iter()
            .position(|&i| inner.state[i as usize] == PENDING && usable(i))?;
        let i = inner.queue.remove(pos)?;
        inner.state[i as usize] = TAKEN;
        Some(i)
    }

    /// Takes piece `i` if it is pending (an allowed-fast piece while choked).
    pub fn take_specific(&self, i: u32) -> bool {
        let mut g = self.lock();
        match g.state.get_mut(i as usize) {
            Some(s) if *s == PENDING => {
                *s = TAKEN;
                true
            }
            _ => false,
        }
    }

    /// Gives an unfinished piece back (choke, reject, disconnect).
    pub fn release(&self, i: u32) {
        {
            let mut g = self.lock();
            if g.state.get(i as usize) != Some(&TAKEN) {
                return;
            }
            g.state[i as usize] = PENDING;
            g.queue.push_front(i);
        }
        self.available.notify_waiters();
    }

    /// Records a verified (or, without verification, complete) piece;
    /// returns true when every piece is now finished.
    pub fn finish_ok(&self, i: u32) -> bool {
        let mut g = self.lock();
        if g.state.get(i as usize) == Some(&TAKEN) {
            g.state[i as usize] = DONE;
            g.ok += 1;
        }
        g.ok + g.failed_for_good >= self.total
    }

    /// Records a piece that failed its SHA-1 check; it is queued again unless
    /// it has failed [`MAX_ATTEMPTS`] times. Returns true when every piece is
    /// now finished.
    pub fn finish_bad(&self, i: u32) -> bool {
        let (requeued, finished) = {
            let mut g = self.lock();
            if g.state.get(i as usize) != Some(&TAKEN) {
                return g.ok + g.failed_for_good >= self.total;
            }
            g.failures[i as usize] += 1;
            let requeued = if g.failures[i as usize] >= MAX_ATTEMPTS {
                g.state[i as usize] = FAILED;
                g.failed_for_good += 1;
                false
            } else {
                g.state[i as usize] = PENDING;
                g.queue.push_back(i);
                true
            };
            (requeued, g.ok + g.failed_for_good >= self.total)
        };
        if requeued {
            self.available.notify_waiters();
        }
        finished
    }

    /// Every piece is verified or failed for good.
    pub fn finished(&self) -> bool {
        let g = self.lock();
        g.ok + g.failed_for_good >= self.total
    }

    /// Every piece is verified.
    pub fn all_ok(&self) -> bool {
        self.lock().ok >= self.total
    }
}

/// Piece choice of the load modes.
pub(crate) enum Picker {
    /// Shared cursor, wrapping around.
    Sequential(AtomicU64),
    Random,
    /// Cumulative weights 1/k^s for ranks k = 1..=n, and a stride coprime with n
    /// mapping rank r to piece `r * stride mod n`.
    Zipf {
        cdf: Vec<f64>,
        stride: u64,
    },
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Picker {
    /// `zipf_s` is the exponent of [`Pattern::Zipf`] (1.0 is the classic Zipf).
    pub fn new(pattern: Pattern, num_pieces: u32, zipf_s: f64) -> Self {
        match pattern {
            Pattern::Sequential => Picker::Sequential(AtomicU64::new(0)),
            Pattern::Random => Picker::Random,
            Pattern::Zipf => {
                let n = num_pieces.max(1) as u64;
                let mut acc = 0.0;
                let cdf = (1..=n)
                    .map(|k| {
                        acc += if zipf_s == 1.0 {
                            1.0 / k as f64
                        } else {
                            (k as f64).powf(-zipf_s)
                        };
                        acc
                    })
                    .collect();
                // About n / golden ratio, moved until coprime with n.
                let mut stride = ((n as f64 * 0.618_033_988_7) as u64).max(1);
                while gcd(stride, n) != 1 {
                    stride += 1;
                }
                Picker::Zipf { cdf, stride }
            }
        }
    }

    /// A piece index below `n` for which `usable` holds, or `None` after a few
    /// tries (the seeder has few of the pieces).
    pub fn pick(
        &self,
        rng: &mut impl Rng,
        n: u32,
        mut usable: impl FnMut(u32) -> bool,
    ) -> Option<u32> {
        if n == 0 {
            return None;
        }
        for _ in 0..64 {
            let i = match self {
                Picker::Sequential(c) => (c.fetch_add(1, Ordering::Relaxed) % n as u64) as u32,
                Picker::Random => rng.gen_range(0..n),
                Picker::Zipf { cdf, stride } => {
                    let total = *cdf.last().unwrap_or(&1.0);
                    let u = rng.gen::<f64>() * total;
                    let rank = cdf.partition_point(|&c| c < u).min(cdf.len() - 1) as u64;
                    ((rank * stride) % n as u64) as u32
                }
            };
            if usable(i) {
                return Some(i);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_retries_failed_pieces_twice_and_requeues_released_ones_first() {
        let q = WorkQueue::new(3);
        assert_eq!(q.take(|_| true), Some(0));
        assert_eq!(q.take(|i| i != 1), Some(2));
        q.release(0);
        assert_eq!(q.take(|_| true), Some(0));
        for _ in 0..MAX_ATTEMPTS - 1 {
            q.finish_bad(0);
            assert!(!q.finished());
            assert_eq!(q.take(|i| i == 0), Some(0));
        }
        q.finish_bad(0);
        assert_eq!(q.take(|i| i == 0), None);
        q.finish_ok(2);
        assert!(q.take_specific(1));
        assert!(!q.take_specific(1));
        q.finish_ok(1);
        assert!(q.finished());
        assert!(!q.all_ok());
    }

    #[test]
    fn zipf_prefers_low_ranks_and_stays_in_range() {
        let p = Picker::new(Pattern::Zipf, 1000, 1.0);
        let mut rng = rand::thread_rng();
        let mut hits = vec![0u32; 1000];
        for _ in 0..20_000 {
            hits[p.pick(&mut rng, 1000, |_| true).unwrap() as usize] += 1;
        }
        // Rank 0 is piece 0 and takes about 1/H(1000) ≈ 13% of the picks.
        assert!(hits[0] > 1500, "{}", hits[0]);
        let s = Picker::new(Pattern::Sequential, 3, 1.0);
        let seq: Vec<u32> = (0..4)
            .map(|_| s.pick(&mut rng, 3, |_| true).unwrap())
            .collect();
        assert_eq!(seq, vec![0, 1, 2, 0]);
        // A steeper exponent concentrates more on the top rank (1/ζ(2) ≈ 61%).
        let steep = Picker::new(Pattern::Zipf, 1000, 2.0);
        let top = (0..10_000)
            .filter(|_| steep.pick(&mut rng, 1000, |_| true) == Some(0))
            .count();
        assert!((5_500..6_700).contains(&top), "{top}");
    }
}
