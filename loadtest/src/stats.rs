//! Swarm-wide counters and histograms, shared by every peer task.
//!
//! Hot counters are atomics updated once per socket read (not per block);
//! block latencies are batched per peer and merged into a few sharded
//! hdrhistograms so that thousands of peers neither contend on one lock nor
//! each hold a histogram of their own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::{Percentiles, Progress, Report, UnchokePercentiles};

/// Histogram shards for block latencies.
const SHARDS: usize = 8;

fn new_hist() -> Histogram<u64> {
    // 1 µs … 1 hour, 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

pub(crate) struct Stats {
    /// Payload bytes received.
    pub bytes: AtomicU64,
    pub connected: AtomicUsize,
    pub connected_peak: AtomicUsize,
    pub unchoked: AtomicUsize,
    pub unchoked_peak: AtomicUsize,
    pub verified: AtomicU64,
    pub failed: AtomicU64,
    pub completed: AtomicU64,
    pub errors: AtomicU64,
    /// kind → (count, first message).
    kinds: Mutex<BTreeMap<&'static str, (u64, String)>>,
    /// Block latency in µs.
    latency: Vec<Mutex<Histogram<u64>>>,
    /// Connect → first unchoke in µs.
    unchoke: Mutex<Histogram<u64>>,
    /// First unchoke → first block in µs.
    first_block: Mutex<Histogram<u64>>,
}

impl Stats {
    pub fn new() -> Self {
        Stats {
            bytes: AtomicU64::new(0),
            connected: AtomicUsize::new(0),
            connected_peak: AtomicUsize::new(0),
            unchoked: AtomicUsize::new(0),
            unchoked_peak: AtomicUsize::new(0),
            verified: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            kinds: Mutex::new(BTreeMap::new()),
            latency: (0..SHARDS).map(|_| Mutex::new(new_hist())).collect(),
            unchoke: Mutex::new(new_hist()),
            first_block: Mutex::new(new_hist()),
        }
    }

    /// Counts one error of `kind`; `detail` is kept for the first of each kind.
    pub fn error(&self, kind: &'static str, detail: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut k = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        let e = k.entry(kind).or_insert((0, detail));
        e.0 += 1;
    }

    pub fn inc_connected(&self) {
        let n = self.connected.fetch_add(1, Ordering::Relaxed) + 1;
        self.connected_peak.fetch_max(n, Ordering::Relaxed);
    }

    pub fn inc_unchoked(&self) {
        let n = self.unchoked.fetch_add(1, Ordering::Relaxed) + 1;
        self.unchoked_peak.fetch_max(n, Ordering::Relaxed);
    }

    /// Merges a peer's batch of block latencies (µs) and empties it.
    pub fn add_latencies(&self, shard: usize, samples: &mut Vec<u32>) {
        if samples.is_empty() {
            return;
        }
        let mut h = self.latency[shard % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for &s in samples.iter() {
            h.saturating_record(s.max(1) as u64);
        }
        samples.clear();
    }

    pub fn add_unchoke(&self, d: Duration) {
        let us = (d.as_micros() as u64).max(1);
        self.unchoke
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .saturating_record(us);
    }

    pub fn add_first_block(&self, d: Duration) {
        let us = (d.as_micros() as u64).max(1);
        self.first_block
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .saturating_record(us);
    }

    pub fn progress(&self, elapsed: Duration, rate: f64, pieces_total: u32) -> Progress {
        Progress {
            elapsed,
            bytes: self.bytes.load(Ordering::Relaxed),
            rate_bytes_per_sec: rate,
            peers_connected: self.connected.load(Ordering::Relaxed),
            peers_unchoked: self.unchoked.load(Ordering::Relaxed),
            pieces_verified: self.verified.load(Ordering::Relaxed),
            pieces_failed: self.failed.load(Ordering::Relaxed),
            pieces_completed: self.completed.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            pieces_total,
        }
    }

    /// The counters and percentiles part of the report.
    pub fn report(&self) -> Report {
        let mut lat = new_hist();
        for h in &self.latency {
            let h = h.lock().unwrap_or_else(|e| e.into_inner());
            let _ = lat.add(&*h);
        }
        let ms = |h: &Histogram<u64>, q: f64| {
            if h.is_empty() {
                0.0
            } else {
                h.value_at_quantile(q) as f64 / 1000.0
            }
        };
        let unchoke = self.unchoke.lock().unwrap_or_else(|e| e.into_inner());
        let kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        Report {
            pieces_verified: self.verified.load(Ordering::Relaxed),
            pieces_failed: self.failed.load(Ordering::Relaxed),
            pieces_completed: self.completed.load(Ordering::Relaxed),
            peers_connected: self.connected_peak.load(Ordering::Relaxed),
            peers_unchoked: self.unchoked_peak.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            error_kinds: kinds
                .iter()
                .map(|(k, (n, _))| (k.to_string(), *n))
                .collect(),
            error_examples: kinds
                .iter()
                .map(|(k, (_, d))| (k.to_string(), d.clone()))
                .collect(),
            latency_ms: Percentiles {
                p50: ms(&lat, 0.5),
                p90: ms(&lat, 0.9),
                p99: ms(&lat, 0.99),
                p999: ms(&lat, 0.999),
            },
            latency_samples: lat.len(),
            time_to_unchoke_ms: UnchokePercentiles {
                p50: ms(&unchoke, 0.5),
                p99: ms(&unchoke, 0.99),
                max: unchoke.max() as f64 / 1000.0,
            },
            time_to_first_block_ms: {
                let h = self.first_block.lock().unwrap_or_else(|e| e.into_inner());
                UnchokePercentiles {
                    p50: ms(&h, 0.5),
                    p99: ms(&h, 0.99),
                    max: h.max() as f64 / 1000.0,
                }
            },
            ..Report::default()
        }
    }
}
