//! Counters of the control thread's own events — RPC, IPC and HTTP
//! refusals and requests, tracker announce results — kept in a
//! thread-local table and republished to the Prometheus exporter once a
//! second by the control runtime's metrics publisher. The exporter drops
//! any series not touched for its idle timeout, which is right for a
//! departed peer but would reset a rare event's total; republishing the
//! whole table keeps every total alive.
//!
//! Neutral on purpose: the tracker manager (which runs on the control
//! thread) counts here without importing the control runtime that
//! starts it.

use std::cell::RefCell;
use std::collections::BTreeMap;

use metrics::{counter, Label};

/// A counter name and up to two labels (an empty label name is left out).
type Key = (&'static str, [(&'static str, &'static str); 2]);

thread_local! {
    /// The control thread's counts, by counter and labels.
    static TALLY: RefCell<BTreeMap<Key, u64>> = const { RefCell::new(BTreeMap::new()) };
}

/// Counts one control-thread event of counter `name` with up to two labels
/// (an empty label name is left out).
pub(crate) fn tally(name: &'static str, labels: [(&'static str, &'static str); 2]) {
    TALLY.with(|t| *t.borrow_mut().entry((name, labels)).or_default() += 1);
}

/// Makes the series of counter `name` with `labels` exist (0 until
/// counted), so a dashboard's `rate()` has a series from the start.
pub(crate) fn register(name: &'static str, labels: [(&'static str, &'static str); 2]) {
    TALLY.with(|t| {
        t.borrow_mut().entry((name, labels)).or_default();
    });
}

/// Sets every counted series on the installed recorder to its total.
pub(crate) fn publish() {
    TALLY.with(|t| {
        for ((name, labels), n) in t.borrow().iter() {
            let l: Vec<Label> = labels
                .iter()
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| Label::new(*k, *v))
                .collect();
            counter!(*name, l).absolute(*n);
        }
    });
}
