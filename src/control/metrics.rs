//! Prometheus series, published by the control runtime once a second from
//! the coordinator's view: the hot path never touches a label or a shared
//! atomic per block, and /metrics shows the same facts as the RPC.
//!
//! Cardinality is bounded: per-peer series exist for at most `max_peers`
//! peers (the busiest by upload rate); the others count in the per-torrent
//! totals and in `ringseed_peers_not_shown`. A series that is not refreshed
//! for the exporter's idle timeout (10 s) disappears, so a departed peer's
//! series leave `/metrics` within seconds. Every other series is
//! republished each second so it never idles out.
//!
//! Per-torrent series carry a `category` label (qBittorrent's category, ""
//! for none), bounded too: a name is cut to [`MAX_CATEGORY_LABEL`] bytes,
//! and at most [`MAX_CATEGORIES`] distinct categories get their own value
//! (the first seen keep theirs while torrents use them), the rest
//! "other". A torrent moved to another category has its old series idle
//! out within the exporter's timeout.
//!
//! Names follow Prometheus conventions: `ringseed_` prefix, base units
//! (bytes, seconds), `_total` for counters, `_info` gauges for text facts.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, Label, Unit};

use crate::coordinator::view::View;
use crate::disconnect::DisconnectReason;
use crate::messages::PeerKey;
use crate::tracker::TrackersView;

/// How long a series may go unrefreshed before the exporter drops it.
pub(crate) const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Longest `category` label value, bytes (a longer name is cut at a
/// character boundary).
pub(crate) const MAX_CATEGORY_LABEL: usize = 64;
/// Most distinct `category` label values; categories past it are "other".
pub(crate) const MAX_CATEGORIES: usize = 1000;

/// Buckets of the two duration histograms, seconds.
pub(crate) const DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Registers help text and units for every series (promtool wants HELP).
pub(crate) fn describe() {
    describe_counter!(
        "ringseed_peer_uploaded_bytes_total",
        Unit::Bytes,
        "Payload bytes sent to the peer."
    );
    describe_counter!(
        "ringseed_peer_downloaded_bytes_total",
        Unit::Bytes,
        "Payload bytes received from the peer."
    );
    describe_gauge!(
        "ringseed_peer_upload_rate_bytes_per_second",
        Unit::Bytes,
        "Payload upload rate to the peer over the last second."
    );
    describe_gauge!(
        "ringseed_peer_request_queue_length",
        Unit::Count,
        "Requests the peer has queued with us."
    );
    describe_gauge!("ringseed_peer_am_choking", "1 when we choke the peer.");
    describe_gauge!("ringseed_peer_interested", "1 when the peer is interested.");
    describe_gauge!(
        "ringseed_peer_rtt_seconds",
        Unit::Seconds,
        "Smoothed round-trip time from the kernel (TCP_INFO)."
    );
    describe_gauge!(
        "ringseed_peer_connection_age_seconds",
        Unit::Seconds,
        "Time since the handshake completed."
    );
    describe_gauge!(
        "ringseed_peer_misbehaviour_score",
        Unit::Count,
        "Invalid or excess requests, weighted."
    );
    describe_gauge!(
        "ringseed_peer_info",
        "Facts about a peer in labels: client, peer id prefix, direction, source."
    );
    describe_gauge!(
        "ringseed_peers",
        Unit::Count,
        "Connected peers (handshake done)."
    );
    describe_gauge!(
        "ringseed_peers_not_shown",
        Unit::Count,
        "Connected peers without per-peer series (over --metrics-max-peers)."
    );
    describe_gauge!(
        "ringseed_torrents",
        Unit::Count,
        "Torrents known to the daemon."
    );
    describe_gauge!(
        "ringseed_torrent_info",
        "Facts about a torrent in labels: name and state (checking, seeding)."
    );
    describe_gauge!(
        "ringseed_torrent_peers_connected",
        Unit::Count,
        "Connected peers of the torrent."
    );
    describe_gauge!(
        "ringseed_torrent_peers_interested",
        Unit::Count,
        "Interested peers of the torrent."
    );
    describe_gauge!(
        "ringseed_torrent_peers_unchoked",
        Unit::Count,
        "Unchoked peers of the torrent."
    );
    describe_counter!(
        "ringseed_torrent_uploaded_bytes_total",
        Unit::Bytes,
        "Payload bytes sent for the torrent."
    );
    describe_gauge!(
        "ringseed_torrent_pieces_verified",
        Unit::Count,
        "Verified pieces of the torrent."
    );
    describe_gauge!(
        "ringseed_torrent_pieces",
        Unit::Count,
        "Pieces of the torrent."
    );
    describe_gauge!(
        "ringseed_shard_connections",
        Unit::Count,
        "Connections owned by the shard (handshaking included)."
    );
    describe_counter!(
        "ringseed_shard_sent_bytes_total",
        Unit::Bytes,
        "Bytes of piece messages the shard sent."
    );
    describe_counter!(
        "ringseed_shard_blocks_sent_total",
        Unit::Count,
        "Blocks the shard sent."
    );
    describe_counter!(
        "ringseed_shard_spliced_blocks_total",
        Unit::Count,
        "Blocks spliced from the page cache to the socket (never in user memory)."
    );
    describe_counter!(
        "ringseed_shard_read_blocks_total",
        Unit::Count,
        "Blocks by where their bytes came from: source=read_cache (an extent already read), disk (an extent read for them), page_cache (cachestat found them cached; sent by splice or readv). Absent while the read cache is off."
    );
    describe_gauge!(
        "ringseed_shard_read_cache_bytes",
        Unit::Bytes,
        "Bytes of extents the shard's read cache holds."
    );
    describe_gauge!(
        "ringseed_shard_read_cache_allocated_bytes",
        Unit::Bytes,
        "Bytes of every read-cache buffer the shard has allocated (cached, being read or sent, free): its share of RSS."
    );
    describe_counter!(
        "ringseed_device_reads_total",
        Unit::Count,
        "Read-cache reads done on the device (major:minor), all shards."
    );
    describe_counter!(
        "ringseed_device_read_bytes_total",
        Unit::Bytes,
        "Bytes of the read-cache reads done on the device."
    );
    describe_histogram!(
        "ringseed_device_read_duration_seconds",
        Unit::Seconds,
        "Time each read-cache read spent in flight on the device (major:minor)."
    );
    describe_histogram!(
        "ringseed_device_queue_wait_duration_seconds",
        Unit::Seconds,
        "Time each read-cache read waited for a slot in its device's queue."
    );
    describe_gauge!(
        "ringseed_device_reads_in_flight",
        Unit::Count,
        "Read-cache reads in flight on the device now (its queue depth)."
    );
    describe_gauge!(
        "ringseed_device_reads_waiting",
        Unit::Count,
        "Read-cache reads waiting for a slot in the device's queue now."
    );
    describe_gauge!(
        "ringseed_shard_splice_pipes",
        Unit::Count,
        "Splice pipes the shard holds open (two descriptors each)."
    );
    describe_gauge!(
        "ringseed_shard_registered_buffers",
        Unit::Count,
        "Buffers registered with the shard's io_uring."
    );
    describe_gauge!(
        "ringseed_shard_registered_buffers_in_use",
        Unit::Count,
        "Registered buffers holding a block."
    );
    describe_counter!(
        "ringseed_shard_plain_buffer_blocks_total",
        Unit::Count,
        "Blocks read into plain buffers (registered pool empty or unregistered)."
    );
    describe_counter!(
        "ringseed_shard_uring_submissions_total",
        Unit::Count,
        "io_uring operations the shard submitted for peers and disk."
    );
    describe_counter!(
        "ringseed_disconnects_total",
        Unit::Count,
        "Closed connections by reason (stable reason enum)."
    );
    describe_counter!(
        "ringseed_hash_check_bytes_total",
        Unit::Bytes,
        "Bytes read and hashed by piece verification."
    );
    describe_histogram!(
        "ringseed_choke_round_duration_seconds",
        Unit::Seconds,
        "Time of one choking round over all torrents."
    );
    describe_histogram!(
        "ringseed_block_serve_duration_seconds",
        Unit::Seconds,
        "Request received to the block's last byte handed to the kernel."
    );
    describe_gauge!(
        "ringseed_torrent_upload_rate_bytes_per_second",
        Unit::Bytes,
        "Payload upload rate of the torrent over the last second."
    );
    describe_gauge!(
        "ringseed_upload_limit_bytes_per_second",
        Unit::Bytes,
        "Global upload limit (-1: unlimited)."
    );
    describe_counter!(
        "ringseed_rpc_requests_total",
        Unit::Count,
        "JSON-RPC requests answered, by method."
    );
    describe_counter!(
        "ringseed_rpc_errors_total",
        Unit::Count,
        "Refused or failed control requests, by kind."
    );
    describe_counter!(
        "ringseed_accept_errors_total",
        Unit::Count,
        "Failed accepts of peer connections (descriptor exhaustion), all shards."
    );
    describe_gauge!(
        "ringseed_buffer_registration_failed_shards",
        Unit::Count,
        "Shards whose block buffers could not be registered (RLIMIT_MEMLOCK): they use plain buffers."
    );
    describe_counter!(
        "ringseed_tracker_announces_total",
        Unit::Count,
        "Tracker announces by result: ok, or why not (failure_reason, timeout, invalid_reply, too_large, redirects, http_status, network, bad_url)."
    );
    describe_counter!(
        "ringseed_tracker_scrapes_total",
        Unit::Count,
        "Tracker scrapes (BEP 48, BEP 15) by result, as the announces."
    );
    describe_counter!(
        "ringseed_tracker_udp_discarded_total",
        Unit::Count,
        "UDP tracker replies discarded (transaction id of no request in flight)."
    );
    describe_gauge!(
        "ringseed_tracker_last_announce_seconds",
        Unit::Seconds,
        "Unix time of the torrent's last successful announce (0: none yet)."
    );
    describe_gauge!(
        "ringseed_tracker_next_announce_seconds",
        Unit::Seconds,
        "Unix time of the torrent's next announce."
    );
    describe_gauge!(
        "ringseed_tracker_failing",
        Unit::Count,
        "Trackers of the torrent whose last announce failed."
    );
    describe_gauge!(
        "ringseed_torrent_swarm_seeders",
        Unit::Count,
        "Seeders in the swarm, as the tracker reports (announce reply or scrape)."
    );
    describe_gauge!(
        "ringseed_torrent_swarm_leechers",
        Unit::Count,
        "Leechers in the swarm, as the tracker reports."
    );
    describe_gauge!(
        "ringseed_torrent_swarm_downloaded",
        Unit::Count,
        "Completed downloads the tracker counted (scrape `downloaded`)."
    );
    describe_counter!(
        "ringseed_http_errors_total",
        Unit::Count,
        "Refused HTTP connections and requests of the control servers, by kind."
    );
    describe_counter!(
        "ringseed_transmission_rpc_refusals_total",
        Unit::Count,
        "Transmission RPC requests refused (whitelist, auth, banned, session id, method, JSON…), by reason."
    );
    describe_counter!(
        "ringseed_webui_refusals_total",
        Unit::Count,
        "qBittorrent WebUI API requests refused (no session, CSRF, host, failed or banned logins…), by reason."
    );
    describe_counter!(
        "ringseed_ipc_errors_total",
        Unit::Count,
        "IPC connections closed for bad input or timeouts, and refused IPC messages, by kind."
    );
    describe_counter!(
        "ringseed_ipc_requests_total",
        Unit::Count,
        "IPC v2 messages handled, by message."
    );
    describe_counter!(
        "ringseed_ipc_connections_total",
        Unit::Count,
        "IPC clients accepted."
    );
    describe_counter!(
        "ringseed_share_limit_actions_total",
        Unit::Count,
        "Torrents stopped or removed on reaching a share limit (ratio, seeding time, inactive seeding time), by action."
    );
}

/// `name` cut to at most `max` bytes at a character boundary.
fn cut(name: &str, max: usize) -> &str {
    if name.len() <= max {
        return name;
    }
    let mut end = max;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// The bounded `category` label values ([`MAX_CATEGORIES`]).
#[derive(Default)]
struct CategoryLabels {
    /// Categories with their own value (cut), kept while torrents use them.
    own: HashMap<String, String>,
}

impl CategoryLabels {
    /// Forgets categories no torrent of `view` uses any more.
    fn retain_used(&mut self, view: &View) {
        let used: HashSet<&str> = view.torrents.values().map(|t| &*t.category).collect();
        self.own.retain(|c, _| used.contains(c.as_str()));
    }

    /// The label value of `category`.
    fn label(&mut self, category: &str) -> String {
        if category.is_empty() {
            return String::new();
        }
        if let Some(v) = self.own.get(category) {
            return v.clone();
        }
        if self.own.len() >= MAX_CATEGORIES {
            return "other".to_string();
        }
        let v = cut(category, MAX_CATEGORY_LABEL).to_string();
        self.own.insert(category.to_string(), v.clone());
        v
    }
}

/// Publishes the view's series once a second, keeping per-peer series to
/// the busiest `max_peers` peers.
pub(crate) struct Publisher {
    max_peers: usize,
    /// Peers whose series are (or may still be) on /metrics: last publish time.
    exposed: HashMap<PeerKey, Instant>,
    /// Label sets of shown peers, built once per peer.
    labels: HashMap<PeerKey, Vec<Label>>,
    categories: CategoryLabels,
}

fn bool_gauge(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

impl Publisher {
    pub(crate) fn new(max_peers: usize) -> Self {
        Publisher {
            max_peers,
            exposed: HashMap::new(),
            labels: HashMap::new(),
            categories: CategoryLabels::default(),
        }
    }

    /// Publishes every series of `view` and of the trackers.
    pub(crate) fn publish(&mut self, view: &View, trackers: &TrackersView, now: Instant) {
        let max_peers = self.max_peers;
        // Series of a peer that is no longer refreshed linger in the exporter
        // for IDLE_TIMEOUT (+ 1 s: the control thread renders once a second,
        // which is when idle series are dropped): count them against the cap
        // until they are surely gone, so /metrics never holds more than
        // `max_peers` peers.
        let linger = IDLE_TIMEOUT + std::time::Duration::from_secs(3);
        self.exposed
            .retain(|_, t| now.saturating_duration_since(*t) < linger);
        // Busiest peers first; ties by key so the shown set is stable.
        let mut order: Vec<(u64, PeerKey)> =
            view.all_peers().map(|p| (p.upload_rate, p.key)).collect();
        order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut shown = std::collections::HashSet::with_capacity(order.len().min(max_peers));
        for &(_, key) in order.iter().take(max_peers) {
            if self.exposed.contains_key(&key) || self.exposed.len() < max_peers {
                self.exposed.insert(key, now);
                shown.insert(key);
            }
        }
        self.labels.retain(|k, _| shown.contains(k));
        gauge!("ringseed_peers").set(order.len() as f64);
        gauge!("ringseed_peers_not_shown").set((order.len() - shown.len()) as f64);
        for p in view.all_peers().filter(|p| shown.contains(&p.key)) {
            let l = self.labels.entry(p.key).or_insert_with(|| {
                vec![
                    Label::new("info_hash", p.info_hash.to_hex()),
                    Label::new("peer", p.addr.to_string()),
                ]
            });
            counter!("ringseed_peer_uploaded_bytes_total", l.iter()).absolute(p.uploaded);
            counter!("ringseed_peer_downloaded_bytes_total", l.iter()).absolute(p.downloaded);
            gauge!("ringseed_peer_upload_rate_bytes_per_second", l.iter())
                .set(p.upload_rate as f64);
            gauge!("ringseed_peer_request_queue_length", l.iter()).set(p.queue_len as f64);
            gauge!("ringseed_peer_am_choking", l.iter()).set(bool_gauge(p.am_choking));
            gauge!("ringseed_peer_interested", l.iter()).set(bool_gauge(p.peer_interested));
            gauge!("ringseed_peer_rtt_seconds", l.iter()).set(p.rtt_us as f64 / 1e6);
            gauge!("ringseed_peer_connection_age_seconds", l.iter())
                .set(view.built_unix.saturating_sub(p.connected_unix) as f64);
            gauge!("ringseed_peer_misbehaviour_score", l.iter()).set(p.score as f64);
            let mut info = l.clone();
            info.push(Label::new("client", p.client.to_string()));
            info.push(Label::new("peer_id_prefix", p.peer_id.prefix()));
            info.push(Label::new(
                "direction",
                if p.outgoing { "outgoing" } else { "incoming" },
            ));
            info.push(Label::new("source", p.source.name()));
            gauge!("ringseed_peer_info", info).set(1.0);
        }

        gauge!("ringseed_torrents").set(view.torrents.len() as f64);
        self.categories.retain_used(view);
        for (ih, t) in view.torrents.iter() {
            let hex = ih.to_hex();
            let category = self.categories.label(&t.category);
            let l = [
                Label::new("info_hash", hex.clone()),
                Label::new("category", category.clone()),
            ];
            gauge!("ringseed_torrent_peers_connected", l.iter()).set(t.peers as f64);
            gauge!("ringseed_torrent_peers_interested", l.iter()).set(t.interested as f64);
            gauge!("ringseed_torrent_peers_unchoked", l.iter()).set(t.unchoked as f64);
            counter!("ringseed_torrent_uploaded_bytes_total", l.iter())
                .absolute(t.uploaded_session);
            gauge!("ringseed_torrent_upload_rate_bytes_per_second", l.iter())
                .set(t.upload_rate as f64);
            gauge!("ringseed_torrent_pieces_verified", l.iter()).set(t.pieces_have as f64);
            gauge!("ringseed_torrent_pieces", l.iter()).set(t.pieces as f64);
            gauge!(
                "ringseed_torrent_info",
                vec![
                    Label::new("info_hash", hex),
                    Label::new("category", category),
                    Label::new("name", t.meta.name.clone()),
                    Label::new("state", t.state.as_str())
                ]
            )
            .set(1.0);
        }
        gauge!("ringseed_upload_limit_bytes_per_second").set(view.session.upload_limit as f64);
        let a = view.session.share_limit_actions;
        for (action, n) in [
            ("stop", a.stop),
            ("remove", a.remove),
            ("remove_with_content", a.remove_with_content),
        ] {
            counter!("ringseed_share_limit_actions_total", "action" => action).absolute(n);
        }
        for (ih, t) in trackers.torrents.iter() {
            let l = [Label::new("info_hash", ih.to_hex())];
            gauge!("ringseed_tracker_last_announce_seconds", l.iter())
                .set(t.last_announce_unix as f64);
            gauge!("ringseed_tracker_next_announce_seconds", l.iter())
                .set(t.next_announce_unix as f64);
            gauge!("ringseed_tracker_failing", l.iter())
                .set(t.trackers.iter().filter(|x| x.fails > 0).count() as f64);
            if let Some(s) = t.swarm {
                gauge!("ringseed_torrent_swarm_seeders", l.iter()).set(s.complete as f64);
                gauge!("ringseed_torrent_swarm_leechers", l.iter()).set(s.incomplete as f64);
                if s.downloaded >= 0 {
                    gauge!("ringseed_torrent_swarm_downloaded", l.iter()).set(s.downloaded as f64);
                }
            }
        }
        // The announce results always exist (0 until counted), so a
        // dashboard's rate() has a series from the start.
        for r in [
            "ok",
            "failure_reason",
            "timeout",
            "invalid_reply",
            "network",
        ] {
            crate::tally::register(
                "ringseed_tracker_announces_total",
                [("result", r), ("", "")],
            );
        }

        for s in view.shards.iter() {
            let l = [Label::new("shard", s.shard.to_string())];
            gauge!("ringseed_shard_connections", l.iter()).set(s.connections as f64);
            counter!("ringseed_shard_sent_bytes_total", l.iter()).absolute(s.bytes_sent);
            counter!("ringseed_shard_blocks_sent_total", l.iter()).absolute(s.blocks_sent);
            gauge!("ringseed_shard_registered_buffers", l.iter()).set(s.registered_buffers as f64);
            gauge!("ringseed_shard_registered_buffers_in_use", l.iter())
                .set(s.registered_buffers_in_use as f64);
            counter!("ringseed_shard_plain_buffer_blocks_total", l.iter())
                .absolute(s.plain_buffer_blocks);
            counter!("ringseed_shard_uring_submissions_total", l.iter()).absolute(s.uring_ops);
            counter!("ringseed_shard_spliced_blocks_total", l.iter()).absolute(s.spliced_blocks);
            gauge!("ringseed_shard_splice_pipes", l.iter()).set(s.splice_pipes as f64);
            if let Some(c) = &s.read_cache {
                for (source, n) in [
                    ("read_cache", c.cache_blocks),
                    ("disk", c.disk_blocks),
                    ("page_cache", c.page_blocks),
                ] {
                    counter!("ringseed_shard_read_blocks_total", "shard" => s.shard.to_string(), "source" => source)
                        .absolute(n);
                }
                gauge!("ringseed_shard_read_cache_bytes", l.iter()).set(c.cached_bytes as f64);
                gauge!("ringseed_shard_read_cache_allocated_bytes", l.iter())
                    .set(c.allocated_bytes as f64);
            }
        }
        // Devices: one series each (bounded by the machine's disks), all shards summed.
        let mut devices: std::collections::BTreeMap<&str, crate::storage::cache::DeviceStats> =
            std::collections::BTreeMap::new();
        for c in view.shards.iter().filter_map(|s| s.read_cache.as_ref()) {
            for d in &c.devices {
                let t = devices.entry(d.device.as_str()).or_default();
                t.in_flight += d.in_flight;
                t.waiting += d.waiting;
                t.reads += d.reads;
                t.read_bytes += d.read_bytes;
            }
        }
        for (dev, d) in devices {
            let l = [Label::new("device", dev.to_string())];
            counter!("ringseed_device_reads_total", l.iter()).absolute(d.reads);
            counter!("ringseed_device_read_bytes_total", l.iter()).absolute(d.read_bytes);
            gauge!("ringseed_device_reads_in_flight", l.iter()).set(d.in_flight as f64);
            gauge!("ringseed_device_reads_waiting", l.iter()).set(d.waiting as f64);
        }
        let mut os_errors = 0;
        for (r, n) in view.disconnects.iter() {
            if let DisconnectReason::Os(_) = r {
                os_errors += n;
            }
        }
        for r in DisconnectReason::ALL {
            let n = view.disconnects.get(&r).copied().unwrap_or(0);
            counter!("ringseed_disconnects_total", "reason" => r.name(), "code" => r.code().to_string()).absolute(n);
        }
        // OS errors carry their errno as the code; one series for all keeps
        // the label set bounded (the RPC lists them one by one).
        counter!("ringseed_disconnects_total", "reason" => "os_error", "code" => "errno")
            .absolute(os_errors);
        counter!("ringseed_hash_check_bytes_total").absolute(view.session.hashed_bytes);
        let accept_errors: u64 = view.shards.iter().map(|s| s.accept_errors).sum();
        counter!("ringseed_accept_errors_total").absolute(accept_errors);
        let failed = view.shards.iter().filter(|s| s.registration_failed).count();
        gauge!("ringseed_buffer_registration_failed_shards").set(failed as f64);
        crate::tally::publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_labels_are_cut_and_bounded() {
        let mut c = CategoryLabels::default();
        assert_eq!(c.label(""), "");
        let long = "é".repeat(40); // 80 bytes
        let v = c.label(&long);
        assert!(v.len() <= MAX_CATEGORY_LABEL && v.len() >= MAX_CATEGORY_LABEL - 1);
        assert!(long.starts_with(&v));
        for i in 1..MAX_CATEGORIES {
            assert_eq!(c.label(&format!("c{i}")), format!("c{i}"));
        }
        assert_eq!(c.label("one too many"), "other");
        // Those already labelled keep their value.
        assert_eq!(c.label("c1"), "c1");
    }
}
