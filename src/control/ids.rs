//! Transmission's torrent ids, shared by its two front ends (the 0.80 IPC
//! and the RPC over HTTP, as one transmission-daemon's `uniqueId`): per
//! daemon process, from 1, never reused. A torrent gets the next id when a
//! client first sees it, in queue order; removed and added again, it gets a
//! new one. Ids of torrents that went are remembered for a while, for the
//! RPC's `recently-active` (`removed`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ringseed_proto::metainfo::InfoHash;

use crate::coordinator::view::{TorrentView, View};

/// IPC torrent ids: per daemon process, from 1, never reused. A torrent is
/// known by (info hash, queue position): removed and added again it has a
/// new queue position, so a new id.
#[derive(Default)]
pub(crate) struct Ids {
    last: i64,
    by_id: BTreeMap<i64, (InfoHash, u64)>,
    by_key: HashMap<(InfoHash, u64), i64>,
    /// The torrent map last synced with (skip when unchanged).
    seen: Option<Arc<BTreeMap<InfoHash, Arc<TorrentView>>>>,
    /// Ids whose torrent went, with the view's Unix time (seconds) when
    /// that was seen; at most [`MAX_REMOVED`], oldest first.
    removed: std::collections::VecDeque<(i64, u64)>,
}

/// Removed ids remembered (the RPC's `recently-active` asks for the last 60 s).
const MAX_REMOVED: usize = 4096;

impl Ids {
    /// Gives every torrent of `view` without an id the next ones, in
    /// queue order, and forgets torrents that are gone.
    pub(crate) fn sync(&mut self, view: &View) {
        if self
            .seen
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, &view.torrents))
        {
            return;
        }
        let here = |k: &(InfoHash, u64)| {
            view.torrents
                .get(&k.0)
                .is_some_and(|t| t.queue_position == k.1)
        };
        let removed = &mut self.removed;
        self.by_id.retain(|id, k| {
            let keep = here(k);
            if !keep {
                if removed.len() >= MAX_REMOVED {
                    removed.pop_front();
                }
                removed.push_back((*id, view.built_unix));
            }
            keep
        });
        self.by_key.retain(|k, _| here(k));
        let mut new: Vec<&Arc<TorrentView>> = view
            .torrents
            .values()
            .filter(|t| !self.by_key.contains_key(&(t.info_hash, t.queue_position)))
            .collect();
        new.sort_by_key(|t| t.queue_position);
        for t in new {
            self.last += 1;
            let k = (t.info_hash, t.queue_position);
            self.by_id.insert(self.last, k);
            self.by_key.insert(k, self.last);
        }
        self.seen = Some(view.torrents.clone());
    }

    /// The torrent of an id, if it still exists in `view`.
    pub(crate) fn torrent<'v>(&self, view: &'v View, id: i64) -> Option<&'v Arc<TorrentView>> {
        let (ih, qp) = self.by_id.get(&id)?;
        view.torrents.get(ih).filter(|t| t.queue_position == *qp)
    }

    pub(crate) fn id_of(&self, t: &TorrentView) -> Option<i64> {
        self.by_key.get(&(t.info_hash, t.queue_position)).copied()
    }

    /// Ids whose torrent went at or after Unix time `since` (seconds).
    pub(crate) fn removed_since(&self, since: u64) -> Vec<i64> {
        self.removed
            .iter()
            .filter(|(_, at)| *at >= since)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Every (id, torrent) of `view`, ascending id.
    pub(crate) fn all<'v>(&self, view: &'v View) -> Vec<(i64, &'v Arc<TorrentView>)> {
        self.by_id
            .keys()
            .filter_map(|id| self.torrent(view, *id).map(|t| (*id, t)))
            .collect()
    }
}
