//! The ban list: addresses whose misbehaviour score reached 100 or that the
//! operator banned, and until when they are refused; plus the blocklist's
//! address ranges (Transmission's `blocklist-update`), refused for good.
//! The coordinator writes it (on a shard's `ShardEvent::Ban`, on the
//! operator's commands); every shard reads it at accept. Neither owns the
//! other, so the type lives here, beside both.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::RwLock;

/// Banned addresses and blocked ranges, shared by all shards (written by
/// the coordinator, read at accept).
pub(crate) type BanList = Arc<RwLock<Bans>>;

/// Banned addresses (until when) and blocked ranges.
#[derive(Debug, Default)]
pub(crate) struct Bans {
    addrs: HashMap<IpAddr, Instant>,
    /// Inclusive ranges as IPv6 numbers (IPv4 as IPv4-mapped), sorted by
    /// start, overlaps merged.
    ranges: Vec<(u128, u128)>,
}

/// An address as a number: IPv4 as its IPv4-mapped IPv6 form, so one
/// ordered list holds both families.
fn number(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(v4.to_ipv6_mapped()),
            None => u128::from(v6),
        },
    }
}

impl Bans {
    /// Bans `ip` until `until`.
    pub(crate) fn insert(&mut self, ip: IpAddr, until: Instant) {
        self.addrs.insert(ip, until);
    }

    /// Keeps the banned addresses `keep` says to keep.
    pub(crate) fn retain(&mut self, keep: impl FnMut(&IpAddr, &mut Instant) -> bool) {
        self.addrs.retain(keep);
    }

    /// True when `ip` is banned at `now` or lies in a blocked range.
    pub(crate) fn refuses(&self, ip: IpAddr, now: Instant) -> bool {
        if self.addrs.get(&ip).is_some_and(|until| now < *until) {
            return true;
        }
        let n = number(ip);
        // The last range starting at or below n is the only candidate.
        let i = self.ranges.partition_point(|(first, _)| *first <= n);
        i > 0 && self.ranges[i - 1].1 >= n
    }

    /// Replaces the blocked ranges (inclusive; a range whose ends are of
    /// two families or reversed is skipped). Returns how many ranges are
    /// kept after merging overlaps.
    pub(crate) fn set_ranges(&mut self, ranges: &[(IpAddr, IpAddr)]) -> usize {
        let mut r: Vec<(u128, u128)> = ranges
            .iter()
            .filter(|(a, b)| a.is_ipv4() == b.is_ipv4())
            .map(|(a, b)| (number(*a), number(*b)))
            .filter(|(a, b)| a <= b)
            .collect();
        r.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(r.len());
        for (a, b) in r {
            match merged.last_mut() {
                Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        self.ranges = merged;
        self.ranges.len()
    }
}

/// Reads a P2P-plain blocklist (`description:first-last` per line, the
/// format Transmission and qBittorrent read; `#` comments and blank lines
/// skipped). Returns the ranges and the number of lines that were not one.
/// Hand-rolled: one line format of two addresses, no crate for it.
pub(crate) fn parse_p2p_plain(text: &str) -> (Vec<(IpAddr, IpAddr)>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // The description may hold ':' itself: the range follows the last one
        // before the dash (IPv6 ranges are not in P2P-plain files).
        let range = line.rsplit_once(':').map_or(line, |(_, r)| r);
        let parsed = range.split_once('-').and_then(|(a, b)| {
            Some((
                a.trim().parse::<IpAddr>().ok()?,
                b.trim().parse::<IpAddr>().ok()?,
            ))
        });
        match parsed {
            Some(r) => out.push(r),
            None => bad += 1,
        }
    }
    (out, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_refuse_their_addresses_only() {
        let (ranges, bad) = parse_p2p_plain(
            "# comment\nBad people:10.0.0.0-10.0.0.255\nX:y:192.168.1.5-192.168.1.5\nnonsense\n\nA:10.0.1.0-10.0.1.9\n",
        );
        assert_eq!(bad, 1);
        let mut b = Bans::default();
        assert_eq!(
            b.set_ranges(&ranges),
            2,
            "10.0.0.0-255 and 10.0.1.0-9 merge"
        );
        let now = Instant::now();
        for ip in [
            "10.0.0.0",
            "10.0.0.77",
            "10.0.1.9",
            "192.168.1.5",
            "::ffff:10.0.0.3",
        ] {
            assert!(b.refuses(ip.parse().unwrap(), now), "{ip}");
        }
        for ip in ["10.0.1.10", "9.255.255.255", "192.168.1.6", "::1"] {
            assert!(!b.refuses(ip.parse().unwrap(), now), "{ip}");
        }
        b.insert(
            "::1".parse().unwrap(),
            now + std::time::Duration::from_secs(60),
        );
        assert!(b.refuses("::1".parse().unwrap(), now));
    }
}
