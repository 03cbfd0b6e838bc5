//! The session's categories, tags and share limits as the WebUI reads and
//! changes them: qBittorrent speaks minutes and `max_ratio_act` numbers,
//! the session keeps seconds and [`ShareLimitAction`]s.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use ringseed_proto::metainfo::InfoHash;

use crate::control::api::{Api, ApiError};
use crate::coordinator::view::{TorrentView, View};
use crate::messages::{
    CategoryChange, GlobalShareLimits, ShareLimitAction, ShareLimits, TagChange,
};

/// A torrent's category ("" = none).
pub(crate) fn category(t: &TorrentView) -> &str {
    &t.category
}

/// A torrent's tags, sorted.
pub(crate) fn tags(t: &TorrentView) -> &[String] {
    &t.tags
}

/// A torrent's own share limits: ratio, seeding time and inactive seeding
/// time in seconds; -2 = the global limit, -1 = none.
pub(crate) fn share_limits(t: &TorrentView) -> (f64, i64, i64) {
    let l = t.share_limits;
    (l.ratio, l.seeding_time_secs, l.inactive_seeding_time_secs)
}

/// Unix seconds the torrent was added.
pub(crate) fn added_unix(_view: &View, t: &TorrentView) -> u64 {
    t.added_unix
}

/// Unix seconds the torrent was first complete, 0 = not yet.
pub(crate) fn completion_unix(_view: &View, t: &TorrentView) -> u64 {
    t.completion_unix
}

/// Unix seconds of the last upload of payload; never: when it was added
/// (qBittorrent's `last_activity` of an idle torrent).
pub(crate) fn last_activity_unix(_view: &View, t: &TorrentView) -> u64 {
    if t.last_activity_unix == 0 {
        t.added_unix
    } else {
        t.last_activity_unix
    }
}

/// Categories: name → save path ("" = the default save path).
pub(crate) fn categories(view: &View) -> BTreeMap<String, PathBuf> {
    (*view.session.categories).clone()
}

/// Every tag of the session.
pub(crate) fn all_tags(view: &View) -> BTreeSet<String> {
    (*view.session.tags).clone()
}

/// Global share limits: ratio (-1 off), seeding and inactive seeding time
/// in seconds (-1 off), and qBittorrent's `max_ratio_act` (0 stop, 1
/// remove, 3 remove with content).
pub(crate) fn global_limits(view: &View) -> (f64, i64, i64, i64) {
    let g = view.session.share_limits;
    (
        g.max_ratio,
        g.max_seeding_time_secs,
        g.max_inactive_seeding_time_secs,
        g.action.to_qbt(),
    )
}

pub(crate) async fn set_category(
    api: &Api,
    hashes: Vec<InfoHash>,
    name: String,
) -> Result<(), ApiError> {
    api.set_category(hashes, name).await
}

/// Creates (or, `edit`, changes the save path of) a category.
pub(crate) async fn create_category(
    api: &Api,
    name: String,
    save_path: PathBuf,
    edit: bool,
) -> Result<(), ApiError> {
    api.edit_categories(if edit {
        CategoryChange::Edit { name, save_path }
    } else {
        CategoryChange::Create { name, save_path }
    })
    .await
}

pub(crate) async fn remove_categories(api: &Api, names: Vec<String>) -> Result<(), ApiError> {
    api.edit_categories(CategoryChange::Remove(names)).await
}

/// Creates (`create`) or deletes tags.
pub(crate) async fn edit_tags(api: &Api, tags: Vec<String>, create: bool) -> Result<(), ApiError> {
    api.edit_tags(if create {
        TagChange::Create(tags)
    } else {
        TagChange::Delete(tags)
    })
    .await
}

pub(crate) async fn torrent_tags(
    api: &Api,
    hashes: Vec<InfoHash>,
    tags: Vec<String>,
    add: bool,
) -> Result<(), ApiError> {
    api.torrent_tags(hashes, tags, add).await
}

/// Ratio, seeding time and inactive seeding time (seconds), -2/-1 sentinels.
pub(crate) async fn set_share_limits(
    api: &Api,
    hashes: Vec<InfoHash>,
    limits: (f64, i64, i64),
) -> Result<(), ApiError> {
    api.set_share_limits(hashes, to_limits(limits)).await
}

fn to_limits((ratio, seeding, inactive): (f64, i64, i64)) -> ShareLimits {
    ShareLimits {
        ratio,
        seeding_time_secs: seeding,
        inactive_seeding_time_secs: inactive,
    }
    .normalized()
}

/// Ratio (-1 off), seeding and inactive seeding time in seconds (-1 off),
/// `max_ratio_act` (an unknown one keeps Stop).
pub(crate) async fn set_global_limits(
    api: &Api,
    (ratio, seeding, inactive, act): (f64, i64, i64, i64),
) -> Result<(), ApiError> {
    let off = |v: i64| if v < 0 { -1 } else { v };
    api.set_global_share_limits(GlobalShareLimits {
        max_ratio: if ratio < 0.0 { -1.0 } else { ratio },
        max_seeding_time_secs: off(seeding),
        max_inactive_seeding_time_secs: off(inactive),
        action: ShareLimitAction::from_qbt(act).unwrap_or(ShareLimitAction::Stop),
    })
    .await
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
    options.save_path = options.save_path.filter(|p| !p.as_os_str().is_empty());
    options.category = extras.category;
    options.tags = extras.tags;
    if let Some(l) = extras.share_limits {
        options.share_limits = to_limits(l);
    }
    options.skip_checking = extras.skip_checking;
    api.add_torrent(torrent, options).await
}
