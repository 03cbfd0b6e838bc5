//! Publishing the view: once a second every peer and torrent view is
//! rebuilt (rates and per-torrent sums over peers); after a change only the
//! torrents that changed. The new [`View`] is stored in the shared view,
//! then the session writes queued since the last publish are sent (so an
//! answered command is already visible to readers).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use ringseed_proto::metainfo::InfoHash;

use super::view::{PeerView, SessionView, TorrentView, View};
use super::{Coordinator, PeerEntry};
use crate::messages::unix_now;

impl Coordinator {
    fn torrent_view(
        &self,
        ih: InfoHash,
        now: Instant,
        agg: Option<&Agg>,
    ) -> Option<Arc<TorrentView>> {
        let t = self.torrents.get(&ih)?;
        let default = Agg::default();
        let a = agg.unwrap_or(&default);
        let (pieces_have, bytes_have) = match &t.ready {
            Some(r) => (
                r.pieces.count(),
                r.pieces
                    .ones()
                    .map(|i| r.meta.lengths.piece_len(i) as u64)
                    .sum(),
            ),
            None => (0, 0),
        };
        let uploaded_session = t.uploaded_closed + a.uploaded;
        Some(Arc::new(TorrentView {
            info_hash: ih,
            meta: t.meta.clone(),
            save_path: t.record.save_path.clone(),
            state: t.state(),
            paused: t.record.paused,
            error: t.error.clone(),
            pieces_have,
            pieces: t.meta.lengths.num_pieces(),
            bytes_have,
            uploaded_total: t.record.uploaded_before + uploaded_session,
            uploaded_session,
            upload_rate: a.upload_rate,
            wire_upload_rate: a.up_speed,
            peers: a.peers,
            seeds: a.seeds,
            interested: a.interested,
            unchoked: a.unchoked,
            upload_limit: t.record.upload_limit,
            max_connections: t.record.max_connections,
            max_uploads: t.record.max_uploads,
            active_secs: now.saturating_duration_since(t.added_at).as_secs(),
            seeding_secs: t.record.seeding_secs_before
                + t.seeding_since
                    .map_or(0, |s| now.saturating_duration_since(s).as_secs()),
            seeding_started_unix: t.seeding_since_unix,
            queue_position: t.record.queue_position,
            category: t.category.clone(),
            tags: t.tags.clone(),
            share_limits: t.record.share_limits,
            added_unix: t.record.added_unix,
            completion_unix: t.record.completion_unix,
            last_activity_unix: t.last_activity_unix,
            skip_checked: t.record.skip_checked,
        }))
    }

    /// Publishes the view; `full` rebuilds every peer and torrent (once a
    /// second), otherwise only the torrents that changed. Then sends the
    /// session writes queued since the last publish.
    pub(super) fn publish(&mut self, now: Instant, full: bool) {
        if full {
            let mut aggs: HashMap<InfoHash, Agg> = HashMap::new();
            let mut peers: HashMap<InfoHash, Vec<Arc<PeerView>>> = HashMap::new();
            for p in self.peers.values() {
                let ih = p.hello.info_hash;
                let optimistic =
                    self.torrents.get(&ih).and_then(|t| t.optimistic) == Some(p.hello.key);
                let a = aggs.entry(ih).or_default();
                a.peers += 1;
                a.seeds += (p.snap.have_count == p.hello.num_pieces) as u32;
                a.interested += p.interested as u32;
                a.unchoked += p.unchoked as u32;
                a.uploaded += p.snap.uploaded;
                a.upload_rate += p.upload_rate;
                a.up_speed += p.up_speed;
                peers
                    .entry(ih)
                    .or_default()
                    .push(Arc::new(peer_view(p, optimistic)));
            }
            self.peer_views = Arc::new(peers);
            // Upload activity (the inactive-seeding-time limit, qBittorrent's
            // `last_activity`): this run's upload grew since the last second.
            let unix = unix_now();
            for (ih, t) in self.torrents.iter_mut() {
                let up = t.uploaded_closed + aggs.get(ih).map_or(0, |a| a.uploaded);
                if up > t.uploaded_seen {
                    t.last_activity_unix = unix;
                }
                t.uploaded_seen = up;
            }
            let all: Vec<InfoHash> = self.torrents.keys().copied().collect();
            for ih in all {
                if let Some(v) = self.torrent_view(ih, now, aggs.get(&ih)) {
                    self.torrent_views.insert(ih, v);
                }
            }
            self.dirty.clear();
        } else {
            let dirty = std::mem::take(&mut self.dirty);
            for ih in dirty {
                match self.torrents.contains_key(&ih) {
                    true => {
                        // Keep the last second's peer aggregates.
                        let agg = self.torrent_views.get(&ih).map(|v| Agg::from_view(v));
                        if let Some(v) = self.torrent_view(ih, now, agg.as_ref()) {
                            self.torrent_views.insert(ih, v);
                        }
                    }
                    false => {
                        self.torrent_views.remove(&ih);
                    }
                }
            }
        }
        let upload_rate = self.peers.values().map(|p| p.upload_rate).sum();
        let view = View {
            built_unix: unix_now(),
            torrents: Arc::new(self.torrent_views.clone()),
            peers: self.peer_views.clone(),
            shards: Arc::new(self.shard_stats.clone()),
            disconnects: Arc::new(self.totals.disconnects.clone()),
            recent_disconnects: Arc::new(self.recent.clone()),
            session: SessionView {
                upload_limit: self.upload_limit,
                hashed_bytes: self.links.hashed_bytes.load(Ordering::Relaxed),
                upload_rate,
                listen_port: self.links.listen_port,
                download_limit: self.saved.download_limit.unwrap_or(-1),
                default_save_path: self
                    .saved
                    .default_save_path
                    .clone()
                    .unwrap_or_else(|| self.defaults.data_dir.clone()),
                autostart: self.saved.autostart.unwrap_or(true),
                categories: self.categories.clone(),
                tags: self.tags.clone(),
                share_limits: self.share_limits,
                share_limit_actions: self.share_actions,
            },
        };
        self.links.view.store(Arc::new(view));
        for job in self.store_jobs.drain(..) {
            let _ = self.links.store.send(job);
        }
    }
}

/// Per-torrent sums over its peers.
#[derive(Default)]
struct Agg {
    peers: u32,
    seeds: u32,
    interested: u32,
    unchoked: u32,
    uploaded: u64,
    upload_rate: u64,
    up_speed: u64,
}

impl Agg {
    fn from_view(v: &TorrentView) -> Agg {
        Agg {
            peers: v.peers,
            seeds: v.seeds,
            interested: v.interested,
            unchoked: v.unchoked,
            uploaded: v.uploaded_session,
            upload_rate: v.upload_rate,
            up_speed: v.wire_upload_rate,
        }
    }
}

fn peer_view(p: &PeerEntry, optimistic: bool) -> PeerView {
    let s = &p.snap;
    PeerView {
        key: p.hello.key,
        info_hash: p.hello.info_hash,
        addr: p.hello.addr,
        local_addr: p.hello.local_addr,
        peer_id: p.hello.peer_id,
        reserved: p.hello.reserved,
        client: p.client.clone(),
        outgoing: p.hello.outgoing,
        source: p.hello.source,
        connected_unix: p.hello.connected_unix,
        am_choking: s.am_choking,
        peer_choking: s.peer_choking,
        peer_interested: s.peer_interested,
        optimistic,
        upload_only: s.upload_only,
        extensions: p.hello.extensions(),
        fast: p.hello.fast(),
        have_count: s.have_count,
        num_pieces: p.hello.num_pieces,
        bitfield: p.bitfield.clone(),
        uploaded: s.uploaded,
        downloaded: s.downloaded,
        bytes_sent: s.bytes_sent,
        bytes_recv: s.bytes_recv,
        up_speed: p.up_speed,
        down_speed: p.down_speed,
        upload_rate: p.upload_rate,
        last_send_unix: s.last_send_unix,
        last_recv_unix: s.last_recv_unix,
        queue_len: s.queue_len,
        inflight: s.inflight.clone(),
        rtt_us: s.rtt_us,
        min_rtt_us: s.min_rtt_us,
        serve_ms: s.serve_ms,
        score: s.score,
        whitelisted: p.whitelisted,
        yourip: s.yourip,
        sent_per_msg: s.sent_per_msg,
        recv_per_msg: s.recv_per_msg,
    }
}
