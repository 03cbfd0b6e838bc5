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
            } => {
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
                match jobs.last_mut() {
                    Some(StoreJob::Remove { reply, .. }) => *reply = Some(StoreReply::Done(r)),
                    _ => reply(r, Ok(())),
                }
                self.store_jobs.extend(jobs);
            }
            ControlCommand::Pause(ih, r) => self.set_paused(ih, true, r),
            ControlCommand::Resume(ih, r) => self.set_paused(ih, false, r),
            ControlCommand::Recheck(ih, r) => {
                let Some(t) = self.torrents.get_mut(&ih) else {
                    return reply(r, Err(CommandError::NotFound));
                };
                self.generation += 1;
                t.generation = self.generation;
                t.checking = true;
                t.seeding_since = None;
                t.unreadable.clear();
                let _ = self.links.checks.send(CheckJob {
                    info_hash: ih,
                    meta: t.meta.clone(),
                    save_path: t.record.save_path.clone(),
                    force: true,
                    generation: t.generation,
                    pieces: None,
                });
                self.sync_registry(ih);
                self.broadcast(ShardCommand::CloseTorrent(
                    ih,
                    DisconnectReason::TorrentChecking,
                ));
                self.dirty.push(ih);
                reply(r, Ok(()));
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
        tracing::info!(torrent = %add.meta.name, info_hash = %ih, save_path = %record.save_path.display(), paused = add.paused, "torrent added");
        self.store_jobs.push(StoreJob::Save {
            record: record.clone(),
            metainfo: Some(add.raw),
            reply: Some(StoreReply::Added(ih, r)),
        });
        self.insert_torrent(add.meta, record);
    }

    fn set_paused(
        &mut self,
        ih: InfoHash,
        paused: bool,
        r: crate::messages::Reply<Result<(), CommandError>>,
    ) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return reply(r, Err(CommandError::NotFound));
        };
        if t.record.paused == paused {
            return reply(r, Ok(()));
        }
        t.record.paused = paused;
        t.seeding_since = (!paused && t.ready.is_some() && !t.checking).then(Instant::now);
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
            reply: Some(StoreReply::Done(r)),
        });
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
