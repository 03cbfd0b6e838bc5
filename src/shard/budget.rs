//! Upload budgets of one shard: what the coordinator's rate limits allow
//! this shard to send in the current period (global limit, and each
//! rate-limited torrent). A writer takes a block's worth before it reads the
//! block from disk (no read without budget); when none is left it queues
//! itself and waits for the next grant, which wakes waiters in arrival order
//! so every limited peer gets its turn.
//!
//! An allowance may go negative by less than one block (a block is taken
//! while any allowance is left); the debt is paid from the next grant, and up
//! to one block of unused allowance carries over, so small limits are met
//! on average without rounding away a block each period.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use ringseed_proto::metainfo::InfoHash;

use super::peer::Peer;
use crate::messages::{BudgetGrant, BudgetUse};

/// Unused allowance carried into the next period, bytes (one block).
const CARRY: i64 = 16 * 1024;

/// One limited scope's allowance and its use in the current period.
#[derive(Clone, Copy, Debug, Default)]
struct Scope {
    allowance: i64,
    used: u64,
    starved: bool,
}

impl Scope {
    fn refill(&mut self, grant: u64) {
        self.allowance = self.allowance.min(CARRY) + grant as i64;
        self.used = 0;
        self.starved = false;
    }
}

/// The budgets of one shard.
#[derive(Default)]
pub(crate) struct Budget {
    /// `None`: no global limit.
    global: Cell<Option<Scope>>,
    /// Rate-limited torrents; a torrent not here is not limited.
    torrents: RefCell<HashMap<InfoHash, Scope>>,
    waiters: RefCell<VecDeque<Rc<Peer>>>,
}

impl Budget {
    /// True when nothing is limited (the writer skips the budget entirely).
    pub(crate) fn unlimited(&self) -> bool {
        self.global.get().is_none() && self.torrents.borrow().is_empty()
    }

    /// Takes `len` bytes for a block of `info_hash` if every scope that
    /// limits it has allowance left; false (and the scope marked starved)
    /// otherwise.
    pub(crate) fn try_take(&self, info_hash: &InfoHash, len: u32) -> bool {
        let mut torrents = self.torrents.borrow_mut();
        let mut global = self.global.get();
        let g_ok = global.is_none_or(|g| g.allowance > 0);
        let t_ok = torrents.get(info_hash).is_none_or(|t| t.allowance > 0);
        if !(g_ok && t_ok) {
            if let Some(g) = global.as_mut().filter(|_| !g_ok) {
                g.starved = true;
            }
            if let Some(t) = torrents.get_mut(info_hash).filter(|_| !t_ok) {
                t.starved = true;
            }
            self.global.set(global);
            return false;
        }
        if let Some(g) = global.as_mut() {
            g.allowance -= len as i64;
            g.used += len as u64;
        }
        if let Some(t) = torrents.get_mut(info_hash) {
            t.allowance -= len as i64;
            t.used += len as u64;
        }
        self.global.set(global);
        true
    }

    /// Gives back what [`Budget::try_take`] took for a block that was not sent.
    pub(crate) fn refund(&self, info_hash: &InfoHash, len: u32) {
        if let Some(mut g) = self.global.get() {
            g.allowance += len as i64;
            g.used = g.used.saturating_sub(len as u64);
            self.global.set(Some(g));
        }
        if let Some(t) = self.torrents.borrow_mut().get_mut(info_hash) {
            t.allowance += len as i64;
            t.used = t.used.saturating_sub(len as u64);
        }
    }

    /// Queues a writer to be woken by the next grant (once).
    pub(crate) fn wait(&self, peer: &Rc<Peer>) {
        let mut st = peer.st.borrow_mut();
        if !st.waiting_budget {
            st.waiting_budget = true;
            self.waiters.borrow_mut().push_back(peer.clone());
        }
    }

    /// Applies a grant for the next period; returns the use of the period
    /// that ended, and wakes every waiting writer in arrival order.
    pub(crate) fn apply(&self, shard: usize, grant: BudgetGrant) -> BudgetUse {
        let mut report = BudgetUse {
            shard,
            ..Default::default()
        };
        let global = match (self.global.get(), grant.global) {
            (_, None) => None,
            (old, Some(g)) => {
                let mut s = old.unwrap_or_default();
                report.global_used = s.used;
                report.global_starved = s.starved;
                s.refill(g);
                Some(s)
            }
        };
        self.global.set(global);
        {
            let mut torrents = self.torrents.borrow_mut();
            let mut next = HashMap::with_capacity(grant.torrents.len());
            for (ih, g) in grant.torrents {
                let mut s = torrents.remove(&ih).unwrap_or_default();
                if s.used > 0 || s.starved {
                    report.torrents.push((ih, s.used, s.starved));
                }
                s.refill(g);
                next.insert(ih, s);
            }
            *torrents = next;
        }
        let waiters: Vec<Rc<Peer>> = self.waiters.borrow_mut().drain(..).collect();
        for p in waiters {
            p.st.borrow_mut().waiting_budget = false;
            p.wake.notify_one();
        }
        report
    }
}
