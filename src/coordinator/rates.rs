//! Upload rate limits: each period the coordinator turns a limit (bytes/s)
//! into a budget (bytes for the period) and splits it across the shards by
//! demand, so a shard with no peers wanting data does not strand budget
//! while another's writers wait.
//!
//! Demand of a shard for the next period = what it used in the last one,
//! plus a full share when it was starved (a block had to wait). A shard
//! with no demand still gets a small floor, so a peer that just arrived is
//! served within a period or two. Pure functions: the coordinator keeps the
//! state and the clock.

/// How often budgets are handed out.
pub(crate) const PERIOD: std::time::Duration = std::time::Duration::from_millis(100);

/// Usage of one scope (global, or one torrent) on one shard in the last period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ShardUse {
    pub(crate) used: u64,
    pub(crate) starved: bool,
}

/// Splits `budget` bytes across shards in proportion to their demand.
/// Every shard gets at least `budget / (16 × shards)` (the floor); the sum of
/// the grants never exceeds `budget` by more than rounding.
pub(crate) fn split(budget: u64, uses: &[ShardUse]) -> Vec<u64> {
    let n = uses.len().max(1) as u64;
    if uses.is_empty() {
        return Vec::new();
    }
    let floor = budget / (16 * n);
    let share = budget / n;
    let demand: Vec<u64> = uses
        .iter()
        .map(|u| u.used + if u.starved { share } else { 0 })
        .collect();
    let total: u64 = demand.iter().sum();
    let spread = budget.saturating_sub(floor * n);
    if total == 0 {
        return vec![share; uses.len()];
    }
    demand
        .iter()
        .map(|d| floor + ((*d as u128 * spread as u128) / total as u128) as u64)
        .collect()
}

/// A limit's budget for a period of `secs` seconds; `None` when unlimited
/// (`limit` ≤ 0, libtorrent's and porla's convention: 0 and -1 mean no limit).
pub(crate) fn budget(limit: i64, secs: f64) -> Option<u64> {
    (limit > 0).then(|| (limit as f64 * secs).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(used: u64, starved: bool) -> ShardUse {
        ShardUse { used, starved }
    }

    #[test]
    fn an_idle_shard_does_not_strand_budget() {
        let g = split(1_000_000, &[u(500_000, true), u(0, false)]);
        assert_eq!(g.len(), 2);
        assert!(g[0] > 900_000, "{g:?}");
        assert!(g[1] >= 1_000_000 / 32, "a floor remains: {g:?}");
        assert!(g.iter().sum::<u64>() <= 1_000_000);
    }

    #[test]
    fn equal_demand_splits_evenly_and_nothing_is_lost() {
        let g = split(1_000_000, &[u(400_000, true), u(400_000, true)]);
        assert_eq!(g[0], g[1]);
        assert!(g.iter().sum::<u64>() >= 999_990);
        assert_eq!(split(900, &[u(0, false); 3]), vec![300, 300, 300]);
    }

    #[test]
    fn zero_and_negative_limits_are_unlimited() {
        assert_eq!(budget(0, 0.1), None);
        assert_eq!(budget(-1, 0.1), None);
        assert_eq!(budget(1_000_000, 0.1), Some(100_000));
    }
}
