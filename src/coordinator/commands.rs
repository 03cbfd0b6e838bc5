//! Control commands: add, remove, pause, resume, recheck, torrent
//! properties, manual peers, tracker peers (handed to [`super::dial`]), the
//! global upload limit, session settings and the listen port. Each applies
//! to the torrent list and the shards at once; the answer goes out once the
//! session on disk agrees (the `session-store` thread sends it).

use std::time::Instant;

use ringseed_proto::metainfo::InfoHash;

use super::Coordinator;
use crate::disconnect::DisconnectReason;
use crate::messages::{
    AddTorrent, CommandError, ControlCommand, SessionChange, ShardCommand, TorrentProps,
};
use crate::messages::{CheckJob, StoreJob, StoreReply, TorrentRecord};

fn reply<T>(r: crate::messages::Reply<T>, v: T) {
    let _ = r.send(v);
}

impl Coordinator {
    pub(super) fn command(&mut self, cmd: ControlCommand) {
        match cmd {
            ControlCommand::Add(add, r) => self.add(*add, r),
            ControlCommand::Remove {
                info_hashes,
                remove_data,
                reply: r,
            } => self.remove_torrents(info_hashes, remove_data, Some(r)),
            ControlCommand::Pause(ih, r) => self.set_paused(ih, true, Some(r)),
            ControlCommand::Resume(ih, r) => self.set_paused(ih, false, Some(r)),
            ControlCommand::Recheck(ih, r) => {
                if !self.torrents.contains_key(&ih) {
                    return reply(r, Err(CommandError::NotFound));
                }
                self.recheck(ih);
                reply(r, Ok(()));
            }
            ControlCommand::SetSavePath(ih, path, r) => {
                let Some(t) = self.torrents.get_mut(&ih) else {
                    return reply(r, Err(CommandError::NotFound));
                };
                tracing::info!(torrent = %t.meta.name, from = %t.record.save_path.display(), to = %path.display(), "save path changed; checking the data there");
                t.record.save_path = path;
                let record = t.record.clone();
                self.recheck(ih);
                self.store_jobs.push(StoreJob::Save {
                    record,
                    metainfo: None,
                    reply: Some(StoreReply::Done(r)),
                });
            }
            ControlCommand::SetProps(ih, props, r) => {
                let Some(t) = self.torrents.get_mut(&ih) else {
                    return reply(r, Err(CommandError::NotFound));
                };
                apply_props(&mut t.record, props);
                let record = t.record.clone();
                self.dirty.push(ih);
                self.store_jobs.push(StoreJob::Save {
                    record,
                    metainfo: None,
                    reply: Some(StoreReply::Done(r)),
                });
                // A smaller slot count or connection cap applies at the next round.
                self.rechoke_torrent(ih, Instant::now());
            }
            ControlCommand::AddPeers(ih, addrs, r) => {
                if !self.torrents.contains_key(&ih) {
                    return reply(r, Err(CommandError::NotFound));
                }
                let n = self.links.shards.len().max(1);
                for (i, addr) in addrs.into_iter().enumerate() {
                    let shard = (self.generation as usize + i) % n;
                    self.send(
                        shard,
                        ShardCommand::Connect {
                            info_hash: ih,
                            addr,
                            source: crate::messages::PeerSource::MANUAL,
                        },
                    );
                }
                reply(r, Ok(()));
            }
            ControlCommand::TrackerPeers { info_hash, peers } => {
                self.dial_tracker_peers(info_hash, peers, Instant::now())
            }
            ControlCommand::SetUploadLimit(limit, r) => {
                self.upload_limit = if limit > 0 { limit } else { -1 };
                tracing::info!(limit = self.upload_limit, "global upload limit set");
                self.saved.upload_limit = Some(self.upload_limit);
                self.save_settings(r);
            }
            ControlCommand::SetSession(change, r) => {
                match change {
                    SessionChange::DownloadLimit(l) => {
                        let l = if l > 0 { l } else { -1 };
                        tracing::info!(
                            limit = l,
                            "download limit set (stored only: a seeder downloads nothing)"
                        );
                        self.saved.download_limit = Some(l);
                    }
                    SessionChange::DefaultSavePath(p) => {
                        tracing::info!(save_path = %p.display(), "default save path set");
                        self.saved.default_save_path = Some(p);
                    }
                    SessionChange::Autostart(on) => {
                        tracing::info!(autostart = on, "autostart of added torrents set");
                        self.saved.autostart = Some(on);
                    }
                }
                self.save_settings(r);
            }
            ControlCommand::BanPeers(ips, r) => {
                let now = Instant::now();
                // "For good": until the daemon stops (a century, so the
                // Instant cannot overflow).
                let until = now + std::time::Duration::from_secs(100 * 365 * 86_400);
                {
                    let mut bans = self.links.bans.write();
                    for ip in &ips {
                        bans.insert(*ip, until);
                    }
                }
                for p in self.peers.values() {
                    if ips.contains(&p.hello.addr.ip()) {
                        self.send(
                            p.hello.shard,
                            ShardCommand::Close(p.hello.key, DisconnectReason::Banned),
                        );
                    }
                }
                tracing::info!(?ips, "addresses banned by the operator");
                reply(r, Ok(()));
            }
            ControlCommand::SetBlocklist(ranges, r) => {
                let now = Instant::now();
                let held = self.links.bans.write().set_ranges(&ranges);
                let blocked: Vec<_> = {
                    let bans = self.links.bans.read();
                    self.peers
                        .values()
                        .filter(|p| bans.refuses(p.hello.addr.ip(), now))
                        .map(|p| (p.hello.shard, p.hello.key))
                        .collect()
                };
                for (shard, key) in blocked {
                    self.send(shard, ShardCommand::Close(key, DisconnectReason::Banned));
                }
                tracing::info!(ranges = held, "blocklist set");
                reply(r, held);
            }
            ControlCommand::SetCategory(ihs, name, r) => self.set_category(ihs, name, r),
            ControlCommand::Categories(change, r) => self.change_categories(change, r),
            ControlCommand::Tags(change, r) => self.change_tags(change, r),
            ControlCommand::TorrentTags {
                info_hashes,
                tags,
                add,
                reply: r,
            } => self.torrent_tags(info_hashes, tags, add, r),
            ControlCommand::SetShareLimits(ihs, limits, r) => self.set_share_limits(ihs, limits, r),
            ControlCommand::SetGlobalShareLimits(limits, r) => {
                self.set_global_share_limits(limits, r)
            }
            ControlCommand::Listen {
                port,
                listeners,
                reply: r,
            } => {
                // One listener per shard, in shard order (the caller binds
                // as many as there are shards).
                for (i, l) in listeners.into_iter().enumerate() {
                    self.send(
                        i,
                        ShardCommand::Listen {
                            listener: crate::messages::ListenerSlot::new(l),
                            port,
                        },
                    );
                }
                tracing::info!(port, "peer listen port changed");
                self.links.listen_port = port;
                // The view shows the new port before the answer goes out:
                // a client's next `get-port` (or the tracker manager) reads it.
                self.publish(Instant::now(), false);
                reply(r, Ok(()));
            }
        }
    }

    /// Removes torrents (unknown ones are skipped), closing their peers;
    /// `remove_data` deletes their files. `r` is answered once the session
    /// on disk agrees.
    pub(super) fn remove_torrents(
        &mut self,
        info_hashes: Vec<InfoHash>,
        remove_data: bool,
        r: Option<crate::messages::Reply<Result<(), CommandError>>>,
    ) {
        let mut jobs = Vec::new();
        for ih in info_hashes {
            let Some(t) = self.torrents.remove(&ih) else {
                continue;
            };
            self.links.registry.write().remove(&ih);
            self.torrent_views.remove(&ih);
            self.torrent_use.remove(&ih);
            for k in &t.peers {
                if let Some(p) = self.peers.remove(k) {
                    self.peer_ids.remove(&(ih, p.hello.peer_id));
                }
            }
            self.broadcast(ShardCommand::CloseTorrent(
                ih,
                DisconnectReason::TorrentRemoved,
            ));
            tracing::info!(torrent = %t.meta.name, info_hash = %ih, remove_data, "torrent removed");
            jobs.push(StoreJob::Remove {
                info_hash: ih,
                data: remove_data.then(|| (t.meta.clone(), t.record.save_path.clone())),
                reply: None,
            });
        }
        // The answer goes with the last job: the store thread runs them in order.
        if let Some(r) = r {
            match jobs.last_mut() {
                Some(StoreJob::Remove { reply, .. }) => *reply = Some(StoreReply::Done(r)),
                _ => reply(r, Ok(())),
            }
        }
        self.store_jobs.extend(jobs);
    }

    /// Hashes every piece of a torrent again; its peers are closed while
    /// it checks.
    pub(super) fn recheck(&mut self, ih: InfoHash) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        self.generation += 1;
        t.generation = self.generation;
        t.checking = true;
        t.stop_seeding();
        t.unreadable.clear();
        let _ = self.links.checks.send(CheckJob {
            info_hash: ih,
            meta: t.meta.clone(),
            save_path: t.record.save_path.clone(),
            force: true,
            generation: t.generation,
            pieces: None,
            skip_checking: false,
        });
        self.sync_registry(ih);
        self.broadcast(ShardCommand::CloseTorrent(
            ih,
            DisconnectReason::TorrentChecking,
        ));
        self.dirty.push(ih);
    }

    /// Writes the records of `ihs` (those still in the session); `r` is
    /// answered with the last write, or at once when there is none.
    pub(super) fn save_records(
        &mut self,
        ihs: impl IntoIterator<Item = InfoHash>,
        r: Option<crate::messages::Reply<Result<(), CommandError>>>,
    ) {
        let mut jobs: Vec<StoreJob> = Vec::new();
        for ih in ihs {
            if let Some(t) = self.torrents.get(&ih) {
                jobs.push(StoreJob::Save {
                    record: t.record.clone(),
                    metainfo: None,
                    reply: None,
                });
                self.dirty.push(ih);
            }
        }
        self.store_jobs.extend(jobs);
        if let Some(r) = r {
            // The answer goes with the last write queued (the settings, when
            // no record changed), or out at once when nothing waits.
            match self.store_jobs.last_mut().map(StoreJob::reply_slot) {
                Some(slot @ None) => *slot = Some(StoreReply::Done(r)),
                _ => reply(r, Ok(())),
            }
        }
    }

    /// Writes the runtime settings whole; answers `r` once durable.
    fn save_settings(&mut self, r: crate::messages::Reply<Result<(), CommandError>>) {
        self.store_jobs.push(StoreJob::Settings {
            settings: self.saved.clone(),
            reply: Some(StoreReply::Done(r)),
        });
    }

    fn add(&mut self, add: AddTorrent, r: crate::messages::Reply<Result<InfoHash, CommandError>>) {
        let ih = add.meta.info_hash;
        if self.torrents.contains_key(&ih) {
            return reply(r, Err(CommandError::Duplicate));
        }
        let mut record = TorrentRecord::new(
            &add.meta,
            add.save_path,
            add.paused,
            self.next_queue_position,
        );
        self.next_queue_position += 1;
        apply_props(&mut record, add.props);
        record.share_limits = add.share_limits.normalized();
        record.skip_checked = add.skip_checking;
        // Unknown categories and tags are created, invalid ones dropped
        // (qBittorrent's `SessionImpl::addTorrent_impl`).
        let created = self.labels_for_add(&mut record, &add.category, &add.tags);
        tracing::info!(torrent = %add.meta.name, info_hash = %ih, save_path = %record.save_path.display(), paused = add.paused, category = %record.category, skip_checking = add.skip_checking, "torrent added");
        if created {
            self.store_jobs.push(StoreJob::Settings {
                settings: self.saved.clone(),
                reply: None,
            });
        }
        self.store_jobs.push(StoreJob::Save {
            record: record.clone(),
            metainfo: Some(add.raw),
            reply: Some(StoreReply::Added(ih, r)),
        });
        self.insert_torrent(add.meta, record, add.skip_checking);
    }

    /// Pauses or resumes a torrent; `r` (when any) is answered once the
    /// session on disk agrees.
    pub(super) fn set_paused(
        &mut self,
        ih: InfoHash,
        paused: bool,
        r: Option<crate::messages::Reply<Result<(), CommandError>>>,
    ) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return r.map_or((), |r| reply(r, Err(CommandError::NotFound)));
        };
        if t.record.paused == paused {
            return r.map_or((), |r| reply(r, Ok(())));
        }
        t.record.paused = paused;
        t.stop_seeding();
        if !paused && t.ready.is_some() && !t.checking {
            t.start_seeding();
        }
        let record = t.record.clone();
        self.sync_registry(ih);
        if paused {
            self.broadcast(ShardCommand::CloseTorrent(
                ih,
                DisconnectReason::TorrentPaused,
            ));
        }
        tracing::info!(info_hash = %ih, paused, "torrent {}", if paused { "paused" } else { "resumed" });
        self.dirty.push(ih);
        self.store_jobs.push(StoreJob::Save {
            record,
            metainfo: None,
            reply: r.map(StoreReply::Done),
        });
    }

    /// The daemon stops: every record gets this run's upload and seeding
    /// time (so all-time upload and the seeding-time limit survive the
    /// restart), written before the store thread ends.
    pub(super) fn save_on_stop(&mut self) {
        let ihs: Vec<InfoHash> = self.torrents.keys().copied().collect();
        for ih in &ihs {
            let live: u64 = self.torrents[ih]
                .peers
                .iter()
                .filter_map(|k| self.peers.get(k))
                .map(|p| p.snap.uploaded)
                .sum();
            let t = self.torrents.get_mut(ih).expect("listed");
            t.record.uploaded_before += t.uploaded_closed + live;
            t.uploaded_closed = 0;
            t.stop_seeding();
        }
        let records = ihs
            .iter()
            .filter_map(|ih| self.torrents.get(ih))
            .map(|t| t.record.clone())
            .collect();
        self.store_jobs.push(StoreJob::SaveAll {
            records,
            reply: None,
        });
        for job in self.store_jobs.drain(..) {
            let _ = self.links.store.send(job);
        }
    }
}

fn apply_props(r: &mut TorrentRecord, p: TorrentProps) {
    let norm = |v: i64| if v > 0 { v } else { -1 };
    if let Some(v) = p.upload_limit {
        r.upload_limit = norm(v);
    }
    if let Some(v) = p.max_connections {
        r.max_connections = norm(v);
    }
    if let Some(v) = p.max_uploads {
        // 0 upload slots is a real setting (every interested peer unchoked).
        r.max_uploads = if v >= 0 { v } else { -1 };
    }
}
