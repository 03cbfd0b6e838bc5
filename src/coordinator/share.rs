//! Share limits, enforced once a second after the view is built: a
//! seeding, unpaused torrent that reached its ratio, seeding-time or
//! inactive-seeding-time limit (its own, or the global one where its own is
//! -2) is stopped (paused, as `torrents.pause`) or removed (as
//! `torrents.remove`, with or without its data), with one log line and a
//! count in `ringseed_share_limit_actions_total{action}`.
//!
//! qBittorrent's rules (`SessionImpl::processTorrentShareLimits`, any limit
//! reached is enough), with three differences: times are seconds, not whole
//! minutes; a torrent never active counts as inactive since its seeding
//! began (qBittorrent never stops it for inactivity); and a paused torrent
//! is left alone (qBittorrent would still remove one).
//!
//! The pass walks the views built the same second (no peer is visited),
//! so 10,000 torrents cost a few hundred microseconds.

use ringseed_proto::metainfo::InfoHash;

use super::view::TorrentView;
use super::Coordinator;
use crate::messages::{GlobalShareLimits, ShareLimitAction, ShareLimits, USE_GLOBAL};
use crate::torrent::TorrentState;

/// qBittorrent's largest ratio (`Torrent::MAX_RATIO`): what a torrent that
/// uploaded without having anything shows.
pub(crate) const MAX_RATIO: f64 = 9999.0;

/// Which share limit a torrent reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShareLimitKind {
    Ratio,
    SeedingTime,
    InactiveSeedingTime,
}

impl ShareLimitKind {
    fn name(self) -> &'static str {
        match self {
            ShareLimitKind::Ratio => "ratio",
            ShareLimitKind::SeedingTime => "seeding_time_secs",
            ShareLimitKind::InactiveSeedingTime => "inactive_seeding_time_secs",
        }
    }
}

/// A limit reached: which, the torrent's value and the limit (a ratio, or
/// seconds).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Reached {
    pub(crate) which: ShareLimitKind,
    pub(crate) value: f64,
    pub(crate) limit: f64,
}

/// What the decision needs of a torrent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Seeding {
    /// Payload uploaded, all time, bytes.
    pub(crate) uploaded: u64,
    /// The torrent's size, bytes.
    pub(crate) size: u64,
    /// Seconds seeded, all runs together.
    pub(crate) seeding_secs: u64,
    /// Seconds since payload was last uploaded, or since seeding began when
    /// none was this spell.
    pub(crate) inactive_secs: u64,
}

impl Seeding {
    /// The facts of `t` at Unix time `now`; `None` unless it is seeding
    /// (ready, not paused, not checking).
    pub(crate) fn of(t: &TorrentView, now_unix: u64) -> Option<Seeding> {
        if t.state != TorrentState::Seeding || t.paused || t.seeding_started_unix == 0 {
            return None;
        }
        let since = t.last_activity_unix.max(t.seeding_started_unix);
        Some(Seeding {
            uploaded: t.uploaded_total,
            size: t.meta.lengths.total_length(),
            seeding_secs: t.seeding_secs,
            inactive_secs: now_unix.saturating_sub(since),
        })
    }

    /// qBittorrent's `realRatio` for a seeder (nothing downloaded):
    /// uploaded / size, at most [`MAX_RATIO`].
    pub(crate) fn ratio(&self) -> f64 {
        if self.size == 0 {
            return if self.uploaded == 0 { 0.0 } else { MAX_RATIO };
        }
        (self.uploaded as f64 / self.size as f64).min(MAX_RATIO)
    }
}

/// The limit in force: the torrent's own unless it says -2, then the
/// global one; `None` = no limit.
fn effective<T: PartialOrd + Copy + Default>(own: T, global: T, use_global: T) -> Option<T> {
    let v = if own == use_global { global } else { own };
    (v >= T::default()).then_some(v)
}

/// The first share limit `s` reached (ratio, then seeding time, then
/// inactive seeding time, qBittorrent's order), or `None`.
pub(crate) fn share_limit_reached(
    own: &ShareLimits,
    global: &GlobalShareLimits,
    s: &Seeding,
) -> Option<Reached> {
    if let Some(limit) = effective(own.ratio, global.max_ratio, USE_GLOBAL as f64) {
        let ratio = s.ratio();
        if ratio >= limit {
            return Some(Reached {
                which: ShareLimitKind::Ratio,
                value: ratio,
                limit,
            });
        }
    }
    let times = [
        (
            ShareLimitKind::SeedingTime,
            own.seeding_time_secs,
            global.max_seeding_time_secs,
            s.seeding_secs,
        ),
        (
            ShareLimitKind::InactiveSeedingTime,
            own.inactive_seeding_time_secs,
            global.max_inactive_seeding_time_secs,
            s.inactive_secs,
        ),
    ];
    for (which, own, global, value) in times {
        if let Some(limit) = effective(own, global, USE_GLOBAL) {
            if value >= limit as u64 {
                return Some(Reached {
                    which,
                    value: value as f64,
                    limit: limit as f64,
                });
            }
        }
    }
    None
}

impl Coordinator {
    /// Applies the share limits to every seeding torrent (after a full
    /// publish: the views are this second's). Returns whether any torrent
    /// was stopped or removed (the caller publishes again).
    pub(super) fn enforce_share_limits(&mut self) -> bool {
        let now = crate::messages::unix_now();
        let global = self.share_limits;
        let mut hits: Vec<(InfoHash, Reached)> = Vec::new();
        for (ih, v) in &self.torrent_views {
            let Some(s) = Seeding::of(v, now) else {
                continue;
            };
            if let Some(r) = share_limit_reached(&v.share_limits, &global, &s) {
                hits.push((*ih, r));
            }
        }
        if hits.is_empty() {
            return false;
        }
        let action = global.action;
        let mut remove = Vec::new();
        for (ih, r) in hits {
            let Some(t) = self.torrents.get(&ih) else {
                continue;
            };
            tracing::info!(
                torrent = %t.meta.name,
                info_hash = %ih,
                limit = r.which.name(),
                value = r.value,
                max = r.limit,
                action = action.name(),
                "share limit reached"
            );
            match action {
                ShareLimitAction::Stop => {
                    self.share_actions.stop += 1;
                    self.set_paused(ih, true, None);
                }
                ShareLimitAction::Remove => {
                    self.share_actions.remove += 1;
                    remove.push(ih);
                }
                ShareLimitAction::RemoveWithContent => {
                    self.share_actions.remove_with_content += 1;
                    remove.push(ih);
                }
            }
        }
        if !remove.is_empty() {
            let data = action == ShareLimitAction::RemoveWithContent;
            self.remove_torrents(remove, data, None);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeding(uploaded: u64, seeding_secs: u64, inactive_secs: u64) -> Seeding {
        Seeding {
            uploaded,
            size: 1000,
            seeding_secs,
            inactive_secs,
        }
    }

    fn global(ratio: f64, secs: i64, inactive: i64) -> GlobalShareLimits {
        GlobalShareLimits {
            max_ratio: ratio,
            max_seeding_time_secs: secs,
            max_inactive_seeding_time_secs: inactive,
            action: ShareLimitAction::Stop,
        }
    }

    #[test]
    fn the_global_ratio_applies_to_torrents_that_defer_to_it() {
        let own = ShareLimits::default();
        let g = global(0.5, -1, -1);
        assert_eq!(share_limit_reached(&own, &g, &seeding(499, 0, 0)), None);
        let r = share_limit_reached(&own, &g, &seeding(500, 0, 0)).unwrap();
        assert_eq!(r.which, ShareLimitKind::Ratio);
        assert_eq!((r.value, r.limit), (0.5, 0.5));
    }

    #[test]
    fn a_torrents_own_limit_wins_and_minus_one_means_none() {
        let g = global(0.5, 10, 10);
        let none = ShareLimits {
            ratio: -1.0,
            seeding_time_secs: -1,
            inactive_seeding_time_secs: -1,
        };
        assert_eq!(
            share_limit_reached(&none, &g, &seeding(5000, 100, 100)),
            None
        );
        let own = ShareLimits { ratio: 2.0, ..none };
        assert_eq!(share_limit_reached(&own, &g, &seeding(1999, 0, 0)), None);
        assert!(share_limit_reached(&own, &g, &seeding(2000, 0, 0)).is_some());
        // A ratio limit of 0 is reached at once (qBittorrent's too).
        let zero = ShareLimits { ratio: 0.0, ..none };
        assert!(share_limit_reached(&zero, &g, &seeding(0, 0, 0)).is_some());
    }

    #[test]
    fn seeding_and_inactive_times_are_seconds() {
        let own = ShareLimits::default();
        let g = global(-1.0, 10, -1);
        assert_eq!(share_limit_reached(&own, &g, &seeding(0, 9, 9)), None);
        let r = share_limit_reached(&own, &g, &seeding(0, 10, 0)).unwrap();
        assert_eq!(r.which, ShareLimitKind::SeedingTime);
        let g = global(-1.0, -1, 60);
        assert_eq!(share_limit_reached(&own, &g, &seeding(0, 500, 59)), None);
        let r = share_limit_reached(&own, &g, &seeding(0, 500, 60)).unwrap();
        assert_eq!(
            (r.which, r.value),
            (ShareLimitKind::InactiveSeedingTime, 60.0)
        );
    }

    #[test]
    fn nothing_limits_by_default() {
        let g = GlobalShareLimits::default();
        let s = seeding(u64::MAX / 2, u64::MAX / 2, u64::MAX / 2);
        assert_eq!(share_limit_reached(&ShareLimits::default(), &g, &s), None);
    }

    #[test]
    fn ratio_is_qbittorrents_for_a_seeder() {
        assert_eq!(seeding(250, 0, 0).ratio(), 0.25);
        let empty = Seeding {
            size: 0,
            ..seeding(0, 0, 0)
        };
        assert_eq!(empty.ratio(), 0.0);
        assert_eq!(
            Seeding {
                uploaded: 1,
                ..empty
            }
            .ratio(),
            MAX_RATIO
        );
    }
}
