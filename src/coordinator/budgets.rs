//! Upload budgets: the shards report what they used of their last grant
//! (and whether they ran short), and every [`rates::PERIOD`] the global and
//! per-torrent limits are split into per-shard grants.

use std::time::Instant;

use ringseed_proto::metainfo::InfoHash;

use super::rates::{self, ShardUse};
use super::Coordinator;
use crate::messages::{BudgetGrant, BudgetUse, ShardCommand};

impl Coordinator {
    pub(super) fn budget_used(&mut self, u: BudgetUse) {
        if let Some(g) = self.global_use.get_mut(u.shard) {
            *g = ShardUse {
                used: u.global_used,
                starved: u.global_starved,
            };
        }
        let n = self.links.shards.len();
        for (ih, used, starved) in u.torrents {
            if let Some(v) = self.torrent_use.get_mut(&ih) {
                if let Some(s) = v.get_mut(u.shard) {
                    *s = ShardUse { used, starved };
                }
            } else if self.torrents.contains_key(&ih) {
                let mut v = vec![ShardUse::default(); n];
                v[u.shard] = ShardUse { used, starved };
                self.torrent_use.insert(ih, v);
            }
        }
    }

    pub(super) fn grant_budgets(&mut self, now: Instant) {
        let secs = now
            .saturating_duration_since(self.last_grant)
            .as_secs_f64()
            .min(0.5);
        self.last_grant = now;
        let global = rates::budget(self.upload_limit, secs);
        let limited: Vec<(InfoHash, u64)> = self
            .torrents
            .iter()
            .filter_map(|(ih, t)| rates::budget(t.record.upload_limit, secs).map(|b| (*ih, b)))
            .collect();
        let on = global.is_some() || !limited.is_empty();
        if !on && !self.limits_were_on {
            return;
        }
        self.limits_were_on = on;
        let n = self.links.shards.len();
        let mut grants: Vec<BudgetGrant> = vec![BudgetGrant::default(); n];
        if let Some(b) = global {
            for (g, x) in grants.iter_mut().zip(rates::split(b, &self.global_use)) {
                g.global = Some(x);
            }
        }
        self.torrent_use
            .retain(|ih, _| limited.iter().any(|l| l.0 == *ih));
        for (ih, b) in limited {
            let uses = self
                .torrent_use
                .entry(ih)
                .or_insert_with(|| vec![ShardUse::default(); n]);
            for (g, x) in grants.iter_mut().zip(rates::split(b, uses)) {
                g.torrents.push((ih, x));
            }
        }
        for (i, g) in grants.into_iter().enumerate() {
            self.send(i, ShardCommand::Budget(g));
        }
    }
}
