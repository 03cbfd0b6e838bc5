//! What the trackers said, as the rest of the control thread reads it: one
//! immutable [`TrackersView`] published once a second by the tracker
//! manager (porla's `torrents.trackers.list`, `torrents.list`, /metrics).

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use ringseed_proto::metainfo::InfoHash;
use ringseed_proto::tracker::ScrapeCounts;

/// What the trackers know, published once a second.
/// Readers `load_full()` a snapshot without a lock; the manager `store`s a
/// new one.
pub(crate) type SharedTrackers = Arc<ArcSwap<TrackersView>>;

/// Every announced torrent's trackers.
#[derive(Clone, Debug, Default)]
pub(crate) struct TrackersView {
    pub(crate) torrents: BTreeMap<InfoHash, Arc<TorrentTrackers>>,
}

/// One torrent's trackers and what they said about its swarm.
#[derive(Clone, Debug, Default)]
pub(crate) struct TorrentTrackers {
    /// In tier order (within a tier: the order they are tried).
    pub(crate) trackers: Vec<TrackerStatus>,
    /// The tracker that answered last.
    pub(crate) current: Option<String>,
    /// Unix time of the last successful announce, seconds (0: none yet).
    pub(crate) last_announce_unix: u64,
    /// Unix time of the next announce, seconds.
    pub(crate) next_announce_unix: u64,
    /// Seeders, leechers and completed downloads from the last announce
    /// reply or scrape that gave them.
    pub(crate) swarm: Option<ScrapeCounts>,
    /// An announce is in flight.
    pub(crate) updating: bool,
}

/// One tracker of a torrent (libtorrent's `announce_entry` and
/// `announce_infohash`).
#[derive(Clone, Debug, Default)]
pub(crate) struct TrackerStatus {
    pub(crate) url: String,
    pub(crate) tier: u32,
    /// Failures in a row.
    pub(crate) fails: u32,
    /// Why the last announce failed ("" after a success).
    pub(crate) last_error: String,
    /// The tracker's `warning message` or failure reason.
    pub(crate) message: String,
    pub(crate) tracker_id: Option<String>,
    /// Unix times, seconds (0: not scheduled / no limit).
    pub(crate) next_announce_unix: u64,
    pub(crate) min_announce_unix: u64,
    /// -1 = unknown.
    pub(crate) scrape_complete: i64,
    pub(crate) scrape_incomplete: i64,
    pub(crate) scrape_downloaded: i64,
    pub(crate) updating: bool,
    pub(crate) start_sent: bool,
    /// The tracker answered at least once.
    pub(crate) verified: bool,
}
