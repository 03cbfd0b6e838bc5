//! Dialling the peers trackers return: each torrent connects out to the
//! peers it is not connected to, round-robin over the shards, under the
//! half-open, per-torrent and global caps; an address is not dialled again
//! within `redial`.

use std::time::{Duration, Instant};

use ringseed_proto::metainfo::InfoHash;

use super::Coordinator;
use crate::messages::ShardCommand;

/// Caps on dialling tracker peers (`[trackers]` of the configuration).
#[derive(Clone, Copy, Debug)]
pub(crate) struct DialLimits {
    /// Outgoing connects in flight, all torrents together.
    pub(crate) max_half_open: usize,
    /// Connected (plus dialling) peers of a torrent past which it dials no more.
    pub(crate) max_peers_per_torrent: usize,
    /// Connected (plus dialling) peers in all past which nobody dials.
    pub max_peers: usize,
    /// A dialled address is not dialled again for this long.
    pub(crate) redial: Duration,
}

impl DialLimits {
    pub(crate) fn from_config(c: &crate::config::Trackers) -> DialLimits {
        DialLimits {
            max_half_open: c.max_half_open,
            max_peers_per_torrent: c.max_peers_per_torrent,
            max_peers: c.max_peers,
            redial: Duration::from_secs(c.redial_secs),
        }
    }
}

/// A dial that has not connected or failed after this long no longer
/// counts as half-open (the shard's own count still does until the kernel
/// gives up).
const DIAL_PENDING: Duration = Duration::from_secs(60);

impl Coordinator {
    /// Dials the tracker peers of a seeding torrent that we are not
    /// connected to and did not dial within `redial`, while the half-open,
    /// per-torrent and global caps allow; the rest wait for the next
    /// announce. Our own address is skipped.
    pub(super) fn dial_tracker_peers(
        &mut self,
        ih: InfoHash,
        peers: Vec<std::net::SocketAddr>,
        now: Instant,
    ) {
        let Some(t) = self.torrents.get(&ih) else {
            return;
        };
        if t.record.paused || t.checking || t.ready.is_none() {
            return;
        }
        let d = self.links.dial;
        self.dialled.retain(|_, (at, pending)| {
            let age = now.saturating_duration_since(*at);
            if age >= DIAL_PENDING {
                *pending = false;
            }
            age < d.redial || *pending
        });
        let mut half_open = self.dialled.values().filter(|v| v.1).count();
        let mut torrent_peers = t.peers.len()
            + self
                .dialled
                .iter()
                .filter(|((h, _), v)| *h == ih && v.1)
                .count();
        let mut total = self.peers.len() + half_open;
        let cap = match t.record.max_connections {
            m if m > 0 => d.max_peers_per_torrent.min(m as usize),
            _ => d.max_peers_per_torrent,
        };
        let connected: std::collections::HashSet<std::net::SocketAddr> = t
            .peers
            .iter()
            .filter_map(|k| self.peers.get(k))
            .map(|p| p.hello.addr)
            .collect();
        let port = self.links.listen_port;
        let ours = |a: &std::net::SocketAddr| {
            a.port() == port
                && (a.ip() == self.links.listen_ip
                    || (self.links.listen_ip.is_unspecified() && a.ip().is_loopback()))
        };
        let (mut dialled, mut capped) = (0usize, 0usize);
        let n = self.links.shards.len().max(1);
        for addr in peers {
            if ours(&addr) || connected.contains(&addr) || self.dialled.contains_key(&(ih, addr)) {
                continue;
            }
            if half_open >= d.max_half_open || torrent_peers >= cap || total >= d.max_peers {
                capped += 1;
                continue;
            }
            let shard = self.next_dial_shard % n;
            self.next_dial_shard = self.next_dial_shard.wrapping_add(1);
            self.send(
                shard,
                ShardCommand::Connect {
                    info_hash: ih,
                    addr,
                    source: crate::messages::PeerSource::TRACKER,
                },
            );
            self.dialled.insert((ih, addr), (now, true));
            half_open += 1;
            torrent_peers += 1;
            total += 1;
            dialled += 1;
        }
        if dialled > 0 || capped > 0 {
            tracing::debug!(info_hash = %ih, dialled, capped, half_open, "tracker peers");
        }
    }
}
