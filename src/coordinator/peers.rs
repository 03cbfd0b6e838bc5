//! Shard events: a peer connects (torrent, connection cap and duplicate
//! peer id checked), becomes interested or not, is snapshotted each second
//! (rates computed here) or closes (its slot refilled at once); shard
//! statistics, budget use, unreadable files and bans arrive here too.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use super::view::DisconnectRecord;
use super::{Coordinator, PeerEntry};
use crate::disconnect::DisconnectReason;
use crate::messages::{
    unix_now, PeerHello, PeerKey, PeerSnapshot, ShardCommand, ShardEvent, ShardStats,
};

/// Closed connections kept for `ringseed.disconnects`.
const RECENT_DISCONNECTS: usize = 1000;

impl Coordinator {
    pub(super) fn handle(&mut self, ev: ShardEvent, now: Instant) {
        match ev {
            ShardEvent::Connected(hello) => self.connected(*hello, now),
            ShardEvent::Interest { key, interested } => self.interest(key, interested, now),
            ShardEvent::Closed { key, reason, peer } => {
                *self.totals.disconnects.entry(reason).or_default() += 1;
                if let Some(p) = peer.as_ref() {
                    if let Some(ih) = p.info_hash {
                        if let Some(d) = self.dialled.get_mut(&(ih, p.addr)) {
                            d.1 = false;
                        }
                    }
                }
                let mut rec = DisconnectRecord {
                    unix: unix_now(),
                    addr: peer.as_ref().map(|p| p.addr),
                    client: peer.as_ref().and_then(|p| p.client.clone()),
                    info_hash: peer.as_ref().and_then(|p| p.info_hash),
                    reason,
                    source: peer.as_ref().map(|p| p.source),
                };
                if let Some(p) = key.and_then(|k| self.peers.remove(&k)) {
                    rec.client = Some(p.client.clone());
                    self.peer_gone(key.expect("key"), p, now);
                }
                if self.recent.len() == RECENT_DISCONNECTS {
                    self.recent.pop_front();
                }
                self.recent.push_back(rec);
            }
            ShardEvent::Snapshot { mut stats, peers } => {
                let i = stats.shard;
                if self.shard_stats.len() <= i {
                    self.shard_stats.resize_with(i + 1, ShardStats::default);
                }
                let serve = metrics::histogram!("ringseed_block_serve_duration_seconds");
                for us in stats.serve_time_us.drain(..) {
                    serve.record(us as f64 / 1e6);
                }
                self.shard_stats[i] = stats;
                for s in peers {
                    if let Some(p) = self.peers.get_mut(&s.key) {
                        let dt = now.saturating_duration_since(p.last_snap_at).as_secs_f64();
                        if dt > 0.0 {
                            let rate =
                                |new: u64, old: u64| (new.saturating_sub(old) as f64 / dt) as u64;
                            p.upload_rate = rate(s.uploaded, p.snap.uploaded);
                            p.up_speed = rate(s.bytes_sent, p.snap.bytes_sent);
                            p.down_speed = rate(s.bytes_recv, p.snap.bytes_recv);
                        }
                        p.last_snap_at = now;
                        if let Some(c) = &s.client {
                            if **c != *p.client {
                                p.client = c.clone();
                            }
                        }
                        if let Some(bf) = &s.bitfield {
                            p.bitfield = Some(bf.clone());
                        }
                        p.snap = s;
                    }
                }
            }
            ShardEvent::Budget(used) => self.budget_used(used),
            ShardEvent::Unreadable {
                info_hash,
                file,
                error,
            } => self.file_unreadable(info_hash, file, error, now),
            ShardEvent::Ban(ip) => self.ban(ip, now),
        }
    }

    fn connected(&mut self, hello: PeerHello, now: Instant) {
        if hello.outgoing {
            if let Some(d) = self.dialled.get_mut(&(hello.info_hash, hello.addr)) {
                d.1 = false;
            }
        }
        let key = hello.key;
        let shard = hello.shard;
        let Some(t) = self.torrents.get_mut(&hello.info_hash) else {
            self.send(
                shard,
                ShardCommand::Close(key, DisconnectReason::TorrentRemoved),
            );
            return;
        };
        if t.record.max_connections > 0 && t.peers.len() as i64 >= t.record.max_connections {
            self.send(
                shard,
                ShardCommand::Close(key, DisconnectReason::TooManyPeers),
            );
            return;
        }
        // Shards catch a duplicate on their own; one on another shard is caught here.
        let id = (hello.info_hash, hello.peer_id);
        if self.peer_ids.contains_key(&id) {
            self.send(
                shard,
                ShardCommand::Close(key, DisconnectReason::DuplicatePeer),
            );
            return;
        }
        self.peer_ids.insert(id, key);
        t.peers.push(key);
        let whitelisted = self.whitelist.iter().any(|c| c.contains(hello.addr.ip()));
        self.peers.insert(
            key,
            PeerEntry {
                client: Arc::from(hello.peer_id.client()),
                hello,
                interested: false,
                interested_at: now,
                unchoked: false,
                unchoked_at: None,
                uploaded_at_unchoke: 0,
                snap: PeerSnapshot {
                    key,
                    am_choking: true,
                    peer_choking: true,
                    ..Default::default()
                },
                bitfield: None,
                last_snap_at: now,
                upload_rate: 0,
                up_speed: 0,
                down_speed: 0,
                whitelisted,
            },
        );
    }

    fn interest(&mut self, key: PeerKey, interested: bool, now: Instant) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        if p.interested == interested {
            return;
        }
        p.interested = interested;
        p.interested_at = now;
        let ih = p.hello.info_hash;
        let unchoked = p.unchoked;
        if interested {
            // A free slot goes to a newly interested peer at once, not at the next tick.
            if self.free_slots(ih) > 0 {
                self.set_unchoked(key, true, now);
            }
        } else if unchoked {
            self.set_unchoked(key, false, now);
            if let Some(t) = self.torrents.get_mut(&ih) {
                if t.optimistic == Some(key) {
                    t.optimistic = None;
                }
            }
            self.fill_free_slots(ih, now);
        }
    }

    fn peer_gone(&mut self, key: PeerKey, p: PeerEntry, now: Instant) {
        let ih = p.hello.info_hash;
        if self.peer_ids.get(&(ih, p.hello.peer_id)) == Some(&key) {
            self.peer_ids.remove(&(ih, p.hello.peer_id));
        }
        if let Some(t) = self.torrents.get_mut(&ih) {
            t.uploaded_closed += p.snap.uploaded;
            t.peers.retain(|k| *k != key);
            if t.optimistic == Some(key) {
                t.optimistic = None;
            }
            if p.unchoked {
                self.fill_free_slots(ih, now);
            }
        }
    }

    fn ban(&mut self, ip: IpAddr, now: Instant) {
        let mut bans = self.links.bans.write();
        bans.retain(|_, until| *until > now);
        bans.insert(ip, now + self.links.ban_time);
        tracing::warn!(%ip, secs = self.links.ban_time.as_secs(), "address banned (misbehaviour score reached 100)");
    }
}
