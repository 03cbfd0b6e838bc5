//! Choking: upload slots per torrent, a free slot given to a newly
//! interested peer at once, the rechoke round every unchoke interval and
//! the optimistic unchoke rotation. The decisions come from [`choker`]
//! (deterministic: peer snapshots and time in, keys to unchoke out); this
//! file gathers the candidates and sends the choke/unchoke commands.

use std::time::Instant;

use ringseed_proto::metainfo::InfoHash;

use super::choker::{self, Candidate};
use super::Coordinator;
use crate::messages::{PeerKey, ShardCommand};

impl Coordinator {
    fn slots(&self, ih: InfoHash) -> usize {
        match self.torrents.get(&ih).map(|t| t.record.max_uploads) {
            Some(m) if m >= 0 => m as usize,
            _ => self.settings.upload_slots,
        }
    }

    fn regular_unchoked(&self, ih: InfoHash) -> usize {
        let Some(t) = self.torrents.get(&ih) else {
            return 0;
        };
        t.peers
            .iter()
            .filter(|k| Some(**k) != t.optimistic && self.peers.get(k).is_some_and(|p| p.unchoked))
            .count()
    }

    pub(super) fn free_slots(&self, ih: InfoHash) -> usize {
        let slots = self.slots(ih);
        if slots == 0 {
            return usize::MAX;
        }
        slots.saturating_sub(self.regular_unchoked(ih))
    }

    /// Unchokes interested, choked peers (longest waiting first) into free slots.
    pub(super) fn fill_free_slots(&mut self, ih: InfoHash, now: Instant) {
        let mut free = self.free_slots(ih);
        if free == 0 {
            return;
        }
        let Some(t) = self.torrents.get(&ih) else {
            return;
        };
        let mut waiting: Vec<(Instant, PeerKey)> = t
            .peers
            .iter()
            .filter_map(|k| {
                self.peers
                    .get(k)
                    .filter(|p| p.interested && !p.unchoked)
                    .map(|p| (p.interested_at, *k))
            })
            .collect();
        waiting.sort();
        for (_, k) in waiting {
            if free == 0 {
                break;
            }
            self.set_unchoked(k, true, now);
            free -= 1;
        }
    }

    fn candidates(&self, ih: InfoHash) -> Vec<Candidate> {
        let Some(t) = self.torrents.get(&ih) else {
            return Vec::new();
        };
        t.peers
            .iter()
            .filter(|k| Some(**k) != t.optimistic)
            .filter_map(|k| self.peers.get(k))
            .map(|p| Candidate {
                key: p.hello.key.0,
                interested: p.interested,
                unchoked: p.unchoked,
                unchoked_at: p.unchoked_at,
                interested_at: p.interested_at,
                uploaded_since_unchoke: p.snap.uploaded.saturating_sub(p.uploaded_at_unchoke),
                upload_rate: p.upload_rate,
                progress_permille: (p.snap.have_count as u64 * 1000
                    / p.hello.num_pieces.max(1) as u64) as u32,
            })
            .collect()
    }

    pub(super) fn rechoke_torrent(&mut self, ih: InfoHash, now: Instant) {
        let cands = self.candidates(ih);
        let Some(t) = self.torrents.get(&ih) else {
            return;
        };
        if cands.is_empty() {
            return;
        }
        let keep = choker::rechoke(
            self.settings.algorithm,
            self.slots(ih),
            &cands,
            now,
            self.settings.unchoke_interval,
            t.meta.lengths.piece_length(),
        );
        for c in &cands {
            let want = keep.binary_search(&c.key).is_ok();
            if want != c.unchoked {
                self.set_unchoked(PeerKey(c.key), want, now);
            }
        }
    }

    pub(super) fn rotate_optimistic(&mut self, ih: InfoHash, now: Instant) {
        let cands = self.candidates(ih);
        let regular: Vec<u64> = {
            let mut v: Vec<u64> = cands.iter().filter(|c| c.unchoked).map(|c| c.key).collect();
            v.sort_unstable();
            v
        };
        let old = self.torrents.get(&ih).and_then(|t| t.optimistic);
        let new = choker::pick_optimistic(&cands, &regular).map(PeerKey);
        if let Some(t) = self.torrents.get_mut(&ih) {
            t.optimistic = new;
        }
        if let Some(o) = old {
            if Some(o) != new {
                self.set_unchoked(o, false, now);
            }
        }
        if let Some(n) = new {
            self.set_unchoked(n, true, now);
        }
    }

    pub(super) fn set_unchoked(&mut self, key: PeerKey, unchoke: bool, now: Instant) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        if p.unchoked == unchoke {
            return;
        }
        p.unchoked = unchoke;
        if unchoke {
            p.unchoked_at = Some(now);
            p.uploaded_at_unchoke = p.snap.uploaded;
        }
        let shard = p.hello.shard;
        self.send(
            shard,
            if unchoke {
                ShardCommand::Unchoke(key)
            } else {
                ShardCommand::Choke(key)
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use ringseed_proto::metainfo::InfoHash;
    use tokio::sync::Notify;

    use super::super::Coordinator;
    use crate::disconnect::DisconnectReason;
    use crate::messages::{PeerHello, PeerKey, ShardCommand, ShardEvent, ShardLink};

    fn hello(key: u64) -> PeerHello {
        PeerHello {
            key: PeerKey(key),
            shard: 0,
            info_hash: InfoHash([1; 20]),
            addr: "127.0.0.1:1".parse().unwrap(),
            local_addr: None,
            // Distinct ids: a repeated peer id is closed as a duplicate.
            peer_id: ringseed_proto::peer_id::PeerId([key as u8; 20]),
            reserved: [0, 0, 0, 0, 0, 0x10, 0, 0x04],
            outgoing: false,
            source: crate::messages::PeerSource::INCOMING,
            connected_unix: 0,
            num_pieces: 10,
        }
    }

    #[test]
    fn newly_interested_peer_gets_a_free_slot_at_once_and_never_when_uninterested() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let link = ShardLink {
            tx,
            wake: Arc::new(Notify::new()),
        };
        let (mut c, _, _check_rx, _store_rx) = Coordinator::with_one_torrent(vec![link]);
        let now = Instant::now();
        for k in 1..=3 {
            c.handle(ShardEvent::Connected(Box::new(hello(k))), now);
        }
        assert!(
            rx.try_recv().is_err(),
            "nobody is interested: nobody is unchoked"
        );
        let interest = |c: &mut Coordinator, k, interested| {
            c.handle(
                ShardEvent::Interest {
                    key: PeerKey(k),
                    interested,
                },
                now,
            )
        };
        interest(&mut c, 1, true);
        assert_eq!(rx.try_recv(), Ok(ShardCommand::Unchoke(PeerKey(1))));
        interest(&mut c, 2, true);
        interest(&mut c, 3, true);
        assert_eq!(rx.try_recv(), Ok(ShardCommand::Unchoke(PeerKey(2))));
        assert!(rx.try_recv().is_err(), "two slots only");
        // Peer 1 leaves: its slot goes to peer 3 at once.
        c.handle(
            ShardEvent::Closed {
                key: Some(PeerKey(1)),
                reason: DisconnectReason::RemoteClosed,
                peer: None,
            },
            now,
        );
        assert_eq!(rx.try_recv(), Ok(ShardCommand::Unchoke(PeerKey(3))));
        // Peer 2 loses interest: it is choked.
        interest(&mut c, 2, false);
        assert_eq!(rx.try_recv(), Ok(ShardCommand::Choke(PeerKey(2))));
    }
}
