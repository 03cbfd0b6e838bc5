//! Categories, tags and share-limit settings (qBittorrent's): the session's
//! lists live in `settings.json` ([`crate::messages::SessionSettings`]),
//! each torrent's own in its record. Every command is answered once the
//! session on disk agrees: the settings first, then the records, the
//! answer with the last write (the store thread writes in order).
//!
//! A category is a label and the save path of torrents added in it
//! without one; setting or editing it never moves data (a seeder serves
//! its files where they are).

use std::sync::Arc;

use ringseed_proto::metainfo::InfoHash;

use super::Coordinator;
use crate::messages::{
    category_and_parents, in_category, parent_category, tag_name, valid_category_name,
    CategoryChange, CommandError, GlobalShareLimits, Reply, ShareLimits, StoreJob, TagChange,
    TorrentRecord,
};

type Answer = Reply<Result<(), CommandError>>;

/// Trimmed, valid tag names, or the first invalid one.
fn tag_names(tags: &[String]) -> Result<Vec<String>, CommandError> {
    tags.iter()
        .map(|t| {
            tag_name(t)
                .map(str::to_string)
                .ok_or_else(|| CommandError::InvalidName(t.clone()))
        })
        .collect()
}

impl Coordinator {
    /// The session's categories or tags changed: refresh the view's copies
    /// and queue the settings' write (no answer: the caller's goes with its
    /// last job).
    fn labels_saved(&mut self) {
        self.categories = Arc::new(self.saved.categories.clone());
        self.tags = Arc::new(self.saved.tags.clone());
        self.store_jobs.push(StoreJob::Settings {
            settings: self.saved.clone(),
            reply: None,
        });
    }

    /// Puts an added torrent's category and tags on `record`, creating
    /// those the session lacks and dropping invalid ones, as qBittorrent
    /// does on add. Returns whether the session's lists changed (the
    /// caller writes the settings).
    pub(super) fn labels_for_add(
        &mut self,
        record: &mut TorrentRecord,
        category: &str,
        tags: &[String],
    ) -> bool {
        let mut created = false;
        if !category.is_empty() {
            if valid_category_name(category) {
                for c in category_and_parents(category) {
                    if !self.saved.categories.contains_key(c) {
                        self.saved
                            .categories
                            .insert(c.to_string(), Default::default());
                        tracing::info!(category = c, "category created (on add)");
                        created = true;
                    }
                }
                record.category = category.to_string();
            } else {
                tracing::warn!(
                    category,
                    torrent = %record.name,
                    "invalid category name; torrent added without a category"
                );
            }
        }
        for t in tags {
            match tag_name(t) {
                Some(t) => {
                    if self.saved.tags.insert(t.to_string()) {
                        tracing::info!(tag = t, "tag created (on add)");
                        created = true;
                    }
                    record.tags.insert(t.to_string());
                }
                None => {
                    tracing::warn!(tag = %t, torrent = %record.name, "invalid tag name; left out")
                }
            }
        }
        if created {
            self.categories = Arc::new(self.saved.categories.clone());
            self.tags = Arc::new(self.saved.tags.clone());
        }
        created
    }

    /// `SetCategory`: "" clears; an unknown category is refused.
    pub(super) fn set_category(&mut self, ihs: Vec<InfoHash>, name: String, r: Answer) {
        if !name.is_empty() && !self.saved.categories.contains_key(&name) {
            let _ = r.send(Err(CommandError::UnknownCategory));
            return;
        }
        let mut changed = Vec::new();
        for ih in ihs {
            if let Some(t) = self.torrents.get_mut(&ih) {
                if t.record.category != name {
                    t.record.category = name.clone();
                    t.labels_changed();
                    changed.push(ih);
                }
            }
        }
        if !changed.is_empty() {
            tracing::info!(category = %name, torrents = changed.len(), "category set");
        }
        self.save_records(changed, Some(r));
    }

    /// `Categories`: create, edit, remove.
    pub(super) fn change_categories(&mut self, change: CategoryChange, r: Answer) {
        match change {
            CategoryChange::Create { name, save_path } => {
                if !valid_category_name(&name) {
                    let _ = r.send(Err(CommandError::InvalidName(name)));
                    return;
                }
                if self.saved.categories.contains_key(&name) {
                    let _ = r.send(Err(CommandError::CategoryExists));
                    return;
                }
                for parent in category_and_parents(&name) {
                    self.saved.categories.entry(parent.to_string()).or_default();
                }
                tracing::info!(category = %name, save_path = %save_path.display(), "category created");
                self.saved.categories.insert(name, save_path);
                self.labels_saved();
                self.save_records([], Some(r));
            }
            CategoryChange::Edit { name, save_path } => {
                let Some(p) = self.saved.categories.get_mut(&name) else {
                    let _ = r.send(Err(CommandError::UnknownCategory));
                    return;
                };
                tracing::info!(category = %name, save_path = %save_path.display(), "category edited (its torrents stay where they are)");
                *p = save_path;
                self.labels_saved();
                self.save_records([], Some(r));
            }
            CategoryChange::Remove(names) => {
                let mut changed = Vec::new();
                for name in names.iter().filter(|n| !n.is_empty()) {
                    let before = self.saved.categories.len();
                    self.saved.categories.retain(|c, _| !in_category(c, name));
                    if self.saved.categories.len() == before {
                        continue;
                    }
                    tracing::info!(category = %name, "category removed");
                    // Its torrents go to its parent (qBittorrent's
                    // `SessionImpl::removeCategory`), when that still exists.
                    let parent = parent_category(name);
                    let parent = if self.saved.categories.contains_key(parent) {
                        parent.to_string()
                    } else {
                        String::new()
                    };
                    for (ih, t) in self.torrents.iter_mut() {
                        if in_category(&t.record.category, name) {
                            t.record.category = parent.clone();
                            t.labels_changed();
                            changed.push(*ih);
                        }
                    }
                }
                self.labels_saved();
                self.save_records(changed, Some(r));
            }
        }
    }

    /// `Tags`: create, delete (also from every torrent).
    pub(super) fn change_tags(&mut self, change: TagChange, r: Answer) {
        let (TagChange::Create(names) | TagChange::Delete(names)) = &change;
        let names = match tag_names(names) {
            Ok(n) => n,
            Err(e) => {
                let _ = r.send(Err(e));
                return;
            }
        };
        let mut changed = Vec::new();
        match change {
            TagChange::Create(_) => {
                for n in names {
                    if self.saved.tags.insert(n.clone()) {
                        tracing::info!(tag = %n, "tag created");
                    }
                }
            }
            TagChange::Delete(_) => {
                for n in &names {
                    if self.saved.tags.remove(n) {
                        tracing::info!(tag = %n, "tag deleted");
                    }
                }
                for (ih, t) in self.torrents.iter_mut() {
                    let before = t.record.tags.len();
                    t.record.tags.retain(|x| !names.contains(x));
                    if t.record.tags.len() != before {
                        t.labels_changed();
                        changed.push(*ih);
                    }
                }
            }
        }
        self.labels_saved();
        self.save_records(changed, Some(r));
    }

    /// `TorrentTags`: add (creating unknown tags in the session, as
    /// qBittorrent's `addTorrentTags` does) or remove (the session keeps them).
    pub(super) fn torrent_tags(
        &mut self,
        ihs: Vec<InfoHash>,
        tags: Vec<String>,
        add: bool,
        r: Answer,
    ) {
        let names = match tag_names(&tags) {
            Ok(n) => n,
            Err(e) => {
                let _ = r.send(Err(e));
                return;
            }
        };
        if add {
            let before = self.saved.tags.len();
            self.saved.tags.extend(names.iter().cloned());
            if self.saved.tags.len() != before {
                self.labels_saved();
            }
        }
        let mut changed = Vec::new();
        for ih in ihs {
            let Some(t) = self.torrents.get_mut(&ih) else {
                continue;
            };
            let before = t.record.tags.clone();
            if add {
                t.record.tags.extend(names.iter().cloned());
            } else {
                t.record.tags.retain(|x| !names.contains(x));
            }
            if t.record.tags != before {
                t.labels_changed();
                changed.push(ih);
            }
        }
        self.save_records(changed, Some(r));
    }

    /// `SetShareLimits`: the torrents' own limits (-2 = global, -1 = none).
    pub(super) fn set_share_limits(&mut self, ihs: Vec<InfoHash>, limits: ShareLimits, r: Answer) {
        let limits = limits.normalized();
        let mut changed = Vec::new();
        for ih in ihs {
            if let Some(t) = self.torrents.get_mut(&ih) {
                t.record.share_limits = limits;
                changed.push(ih);
            }
        }
        tracing::info!(
            torrents = changed.len(),
            ratio = limits.ratio,
            seeding_time_secs = limits.seeding_time_secs,
            inactive_seeding_time_secs = limits.inactive_seeding_time_secs,
            "torrent share limits set"
        );
        self.save_records(changed, Some(r));
    }

    /// `SetGlobalShareLimits`: kept in the settings, over `[seeding]`.
    pub(super) fn set_global_share_limits(&mut self, limits: GlobalShareLimits, r: Answer) {
        let limits = limits.normalized();
        self.share_limits = limits;
        self.saved.share_limits = Some(limits);
        tracing::info!(
            max_ratio = limits.max_ratio,
            max_seeding_time_secs = limits.max_seeding_time_secs,
            max_inactive_seeding_time_secs = limits.max_inactive_seeding_time_secs,
            action = limits.action.name(),
            "global share limits set"
        );
        self.store_jobs.push(StoreJob::Settings {
            settings: self.saved.clone(),
            reply: Some(crate::messages::StoreReply::Done(r)),
        });
    }
}

#[cfg(test)]
mod tests {
    use ringseed_proto::metainfo::InfoHash;

    use super::super::Coordinator;
    use crate::messages::{CategoryChange, CommandError, ControlCommand, StoreJob, TagChange};

    /// A coordinator without shards holding one torrent, and its store channel.
    fn coordinator() -> (Coordinator, InfoHash, crossbeam_channel::Receiver<StoreJob>) {
        let (c, ih, check_rx, store_rx) = Coordinator::with_one_torrent(Vec::new());
        std::mem::forget(check_rx);
        (c, ih, store_rx)
    }

    /// Runs `cmd`, writes what it queued (as the store thread would, minus
    /// the disk) and returns its answer.
    fn run(
        c: &mut Coordinator,
        store: &crossbeam_channel::Receiver<StoreJob>,
        cmd: impl FnOnce(crate::messages::Reply<Result<(), CommandError>>) -> ControlCommand,
    ) -> Result<(), CommandError> {
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        c.command(cmd(tx));
        c.publish(std::time::Instant::now(), false);
        while let Ok(mut job) = store.try_recv() {
            if let Some(r) = job.reply_slot().take() {
                r.send(Ok(()));
            }
        }
        rx.try_recv().expect("answered once the writes are done")
    }

    #[test]
    fn categories_and_tags_follow_qbittorrents_rules() {
        let (mut c, ih, store) = coordinator();
        let create = |name: &str| {
            let change = CategoryChange::Create {
                name: name.into(),
                save_path: "/srv/x".into(),
            };
            move |r| ControlCommand::Categories(change, r)
        };
        assert_eq!(
            run(&mut c, &store, |r| ControlCommand::SetCategory(
                vec![ih],
                "tv".into(),
                r
            )),
            Err(CommandError::UnknownCategory)
        );
        assert_eq!(run(&mut c, &store, create("tv/hd")), Ok(()));
        // The parent came with it.
        assert!(c.saved.categories.contains_key("tv"));
        assert_eq!(
            run(&mut c, &store, create("tv")),
            Err(CommandError::CategoryExists)
        );
        assert_eq!(
            run(&mut c, &store, create("a//b")),
            Err(CommandError::InvalidName("a//b".into()))
        );
        assert_eq!(
            run(&mut c, &store, |r| ControlCommand::SetCategory(
                vec![ih, InfoHash([9; 20])],
                "tv/hd".into(),
                r
            )),
            Ok(())
        );
        assert_eq!(&*c.torrent_views[&ih].category, "tv/hd");
        // Removing the subcategory puts its torrents in the parent.
        assert_eq!(
            run(&mut c, &store, |r| ControlCommand::Categories(
                CategoryChange::Remove(vec!["tv/hd".into()]),
                r
            )),
            Ok(())
        );
        assert_eq!(c.torrents[&ih].record.category, "tv");
        assert_eq!(
            run(&mut c, &store, |r| ControlCommand::Categories(
                CategoryChange::Edit {
                    name: "nope".into(),
                    save_path: "/x".into()
                },
                r
            )),
            Err(CommandError::UnknownCategory)
        );

        // Tags: adding to a torrent creates them; deleting removes them everywhere.
        assert_eq!(
            run(&mut c, &store, |reply| ControlCommand::TorrentTags {
                info_hashes: vec![ih],
                tags: vec![" a ".into(), "b".into()],
                add: true,
                reply
            }),
            Ok(())
        );
        assert_eq!(&*c.torrent_views[&ih].tags, ["a", "b"]);
        assert!(c.saved.tags.contains("a") && c.saved.tags.contains("b"));
        assert_eq!(
            run(&mut c, &store, |r| ControlCommand::Tags(
                TagChange::Create(vec!["x,y".into()]),
                r
            )),
            Err(CommandError::InvalidName("x,y".into()))
        );
        assert_eq!(
            run(&mut c, &store, |r| ControlCommand::Tags(
                TagChange::Delete(vec!["a".into()]),
                r
            )),
            Ok(())
        );
        assert_eq!(&*c.torrent_views[&ih].tags, ["b"]);
        assert!(!c.saved.tags.contains("a"));
        // Removing a tag from a torrent keeps it in the session.
        assert_eq!(
            run(&mut c, &store, |reply| ControlCommand::TorrentTags {
                info_hashes: vec![ih],
                tags: vec!["b".into()],
                add: false,
                reply
            }),
            Ok(())
        );
        assert!(c.torrent_views[&ih].tags.is_empty());
        assert!(c.saved.tags.contains("b"));
    }
}
