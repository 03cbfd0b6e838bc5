//! The persistent session: what survives a restart.
//!
//! `STATE/session/` holds, per torrent, its metainfo bytes (`<info hash>.torrent`)
//! and its record (`<info hash>.json`: save path, paused flag, limits, when it
//! was added, its all-time upload), plus `settings.json` for session-wide
//! settings changed at runtime (the global upload limit; the IPC's download
//! limit, default save path and autostart). Every file is
//! written atomically (temp file, fsync, rename, then an fsync of the
//! directory), so a kill at any moment leaves each torrent either in the
//! session or not, never half. The record is written last on add and
//! removed first on remove: a `.json` file is what makes a torrent part of
//! the session.
//!
//! The `session-store` thread ([`run`]) does the writes in the order the
//! coordinator queued them and only then answers the RPC that asked, so an
//! answered add survives `kill -9`. Jobs that pile up are written together
//! with one directory fsync.

use std::path::{Path, PathBuf};

use crossbeam_channel::Receiver;
use ringseed_proto::metainfo::{InfoHash, Metainfo};

use crate::messages::{IoFailure, SessionSettings, StoreJob, StoreReply, TorrentRecord};
use crate::storage;

/// Where the session keeps a torrent's metainfo bytes (`STATE/session/<info hash>.torrent`).
pub(crate) fn torrent_file_path(state_dir: &Path, ih: &InfoHash) -> PathBuf {
    state_dir
        .join("session")
        .join(format!("{}.torrent", ih.to_hex()))
}

/// A torrent read back from the session.
pub(crate) struct Loaded {
    pub(crate) record: TorrentRecord,
    pub(crate) meta: Metainfo,
}

/// The session directory.
#[derive(Clone, Debug)]
pub(crate) struct Store {
    dir: PathBuf,
}

impl Store {
    /// Opens (creating) `STATE/session` and removes temp files a killed
    /// process left there.
    ///
    /// Errors: the directory cannot be created.
    pub(crate) fn open(state_dir: &Path) -> std::io::Result<Store> {
        let dir = state_dir.join("session");
        std::fs::create_dir_all(&dir)?;
        let n = storage::remove_temp_files(&dir) + storage::remove_temp_files(state_dir);
        if n > 0 {
            tracing::info!(dir = %dir.display(), files = n, "removed temp files left by an interrupted write");
        }
        Ok(Store { dir })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn torrent_path(&self, ih: &InfoHash) -> PathBuf {
        self.dir.join(format!("{}.torrent", ih.to_hex()))
    }

    fn record_path(&self, ih: &InfoHash) -> PathBuf {
        self.dir.join(format!("{}.json", ih.to_hex()))
    }

    /// Every torrent of the session, in queue order. A record whose metainfo
    /// is missing or invalid is skipped with an error in the log.
    pub(crate) fn load(&self) -> Vec<Loaded> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return out;
        };
        for e in rd.flatten() {
            let path = e.path();
            if path.extension().and_then(|x| x.to_str()) != Some("json") {
                continue;
            }
            let record: TorrentRecord = match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %e, "session record unreadable; torrent skipped");
                    continue;
                }
            };
            let tpath = path.with_extension("torrent");
            let meta = match std::fs::read(&tpath)
                .map_err(|e| e.to_string())
                .and_then(|b| Metainfo::from_bytes(&b).map_err(|e| e.to_string()))
            {
                Ok(m) if m.info_hash.to_hex() == record.info_hash => m,
                Ok(_) => {
                    tracing::error!(file = %tpath.display(), "metainfo does not match its record; torrent skipped");
                    continue;
                }
                Err(e) => {
                    tracing::error!(file = %tpath.display(), error = %e, "metainfo unreadable; torrent skipped");
                    continue;
                }
            };
            out.push(Loaded { record, meta });
        }
        out.sort_by_key(|l| (l.record.queue_position, l.record.added_unix));
        out
    }

    /// Saved runtime settings (defaults when none or unreadable).
    pub(crate) fn load_settings(&self) -> SessionSettings {
        std::fs::read(self.dir.join("settings.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn save(&self, record: &TorrentRecord, metainfo: Option<&[u8]>) -> std::io::Result<()> {
        let ih = InfoHash::from_hex(&record.info_hash).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad info hash in record")
        })?;
        if let Some(bytes) = metainfo {
            storage::write_atomically(&self.torrent_path(&ih), bytes)?;
        }
        storage::write_atomically(
            &self.record_path(&ih),
            &serde_json::to_vec_pretty(record).expect("serialisable"),
        )
    }

    /// [`Store::save`] of a record alone, renamed into place without an
    /// fsync of its own (the caller syncs the filesystem once after many).
    fn save_unsynced(&self, record: &TorrentRecord) -> std::io::Result<()> {
        let ih = InfoHash::from_hex(&record.info_hash).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad info hash in record")
        })?;
        let path = self.record_path(&ih);
        let tmp = path.with_extension(format!("json.tmp{}", std::process::id()));
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(record).expect("serialisable"),
        )
        .and_then(|()| std::fs::rename(&tmp, &path))
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }

    fn remove(&self, ih: &InfoHash, state_dir: &Path) -> std::io::Result<()> {
        for p in [
            self.record_path(ih),
            self.torrent_path(ih),
            state_dir.join(format!("{}.resume.json", ih.to_hex())),
        ] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The `session-store` thread: runs until `jobs` closes.
pub(crate) fn run(store: Store, state_dir: PathBuf, jobs: Receiver<StoreJob>) {
    while let Ok(first) = jobs.recv() {
        // Write everything queued, then one directory fsync, then answer.
        let mut batch = vec![first];
        while batch.len() < 256 {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let mut replies: Vec<(StoreReply, Result<(), IoFailure>)> = Vec::new();
        for job in batch {
            let (result, reply) = match job {
                StoreJob::Save {
                    record,
                    metainfo,
                    reply,
                } => (
                    store
                        .save(&record, metainfo.as_deref())
                        .map_err(|e| IoFailure::context("cannot save the session", &e)),
                    reply,
                ),
                StoreJob::SaveAll { records, reply } => {
                    let mut r = Ok(());
                    for record in &records {
                        if let Err(e) = store.save_unsynced(record) {
                            r = Err(IoFailure::context("cannot save the session", &e));
                        }
                    }
                    if r.is_ok() {
                        r = std::fs::File::open(&store.dir)
                            .and_then(|d| rustix::fs::syncfs(&d).map_err(std::io::Error::from))
                            .map_err(|e| IoFailure::context("cannot sync the session", &e));
                    }
                    (r, reply)
                }
                StoreJob::Remove {
                    info_hash,
                    data,
                    reply,
                } => {
                    let mut r = store
                        .remove(&info_hash, &state_dir)
                        .map_err(|e| IoFailure::context("cannot update the session", &e));
                    if let (Ok(()), Some((meta, save_path))) = (&r, data) {
                        r = storage::remove::remove_data(&meta, &save_path)
                            .map(|n| {
                                tracing::info!(torrent = %meta.name, files = n, "data removed");
                            })
                            .map_err(|e| IoFailure::context("cannot remove data", &e));
                    }
                    (r, reply)
                }
                StoreJob::Settings { settings, reply } => (
                    storage::write_atomically(
                        &store.dir.join("settings.json"),
                        &serde_json::to_vec_pretty(&settings).expect("serialisable"),
                    )
                    .map_err(|e| IoFailure::context("cannot save settings", &e)),
                    reply,
                ),
            };
            if let Err(e) = &result {
                tracing::error!("{e}");
            }
            if let Some(reply) = reply {
                replies.push((reply, result));
            }
        }
        let synced = storage::sync_dir(&store.dir)
            .map_err(|e| IoFailure::context("cannot sync the session", &e));
        for (reply, r) in replies {
            reply.send(r.and(synced.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringseed_proto::metainfo::build_torrent;

    #[test]
    fn settings_of_an_older_daemon_still_load_and_new_ones_round_trip() {
        let old: SessionSettings = serde_json::from_str(r#"{"upload_limit": 5000}"#).unwrap();
        assert_eq!(old.upload_limit, Some(5000));
        assert_eq!((old.download_limit, old.autostart), (None, None));
        let new = SessionSettings {
            upload_limit: None,
            download_limit: Some(102400),
            default_save_path: Some("/srv/new".into()),
            autostart: Some(false),
            ..Default::default()
        };
        let text = serde_json::to_string(&new).unwrap();
        assert_eq!(serde_json::from_str::<SessionSettings>(&text).unwrap(), new);
    }

    #[test]
    fn records_round_trip_and_temp_files_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = build_torrent("t", &[(vec![], 5)], 16384, &[[1; 20]], None, "x");
        let meta = Metainfo::from_bytes(&bytes).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut rec = TorrentRecord::new(&meta, "/data".into(), true, 7);
        rec.upload_limit = 1000;
        store.save(&rec, Some(&bytes)).unwrap();
        std::fs::write(store.dir().join("x.json.tmp123"), b"half").unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(!store.dir().join("x.json.tmp123").exists());
        let loaded = store.load();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].record, rec);
        assert_eq!(loaded[0].meta.info_hash, meta.info_hash);
        store.remove(&meta.info_hash, dir.path()).unwrap();
        assert!(store.load().is_empty());
    }

    #[test]
    fn records_and_settings_without_the_label_and_share_keys_still_load() {
        let old = r#"{"format":1,"info_hash":"0000000000000000000000000000000000000000",
            "name":"t","save_path":"/d","paused":false,"upload_limit":-1,
            "max_connections":-1,"max_uploads":-1,"added_unix":5,"queue_position":0,
            "uploaded_before":7}"#;
        let r: TorrentRecord = serde_json::from_str(old).unwrap();
        assert_eq!(r.category, "");
        assert!(r.tags.is_empty());
        assert_eq!(r.share_limits, crate::messages::ShareLimits::default());
        assert_eq!((r.seeding_secs_before, r.completion_unix), (0, 0));
        assert!(!r.skip_checked);
        let s: SessionSettings = serde_json::from_str(r#"{"upload_limit": 5}"#).unwrap();
        assert!(s.categories.is_empty() && s.tags.is_empty() && s.share_limits.is_none());
    }

    #[test]
    fn categories_tags_and_share_limits_survive_a_restart_of_the_store() {
        use crate::messages::{GlobalShareLimits, ShareLimitAction, ShareLimits};
        let dir = tempfile::tempdir().unwrap();
        let bytes = build_torrent("t", &[(vec![], 5)], 16384, &[[1; 20]], None, "x");
        let meta = Metainfo::from_bytes(&bytes).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut rec = TorrentRecord::new(&meta, "/data".into(), false, 0);
        rec.category = "tv/hd".into();
        rec.tags = ["a".to_string(), "b".to_string()].into();
        rec.share_limits = ShareLimits::from_qbt_minutes(1.5, 2, -1);
        rec.seeding_secs_before = 99;
        rec.skip_checked = true;
        store.save(&rec, Some(&bytes)).unwrap();
        let mut settings = SessionSettings::default();
        settings.categories.insert("tv".into(), "".into());
        settings.categories.insert("tv/hd".into(), "/srv/hd".into());
        settings.tags.insert("a".into());
        settings.share_limits = Some(GlobalShareLimits {
            max_ratio: 0.5,
            max_seeding_time_secs: 10,
            max_inactive_seeding_time_secs: -1,
            action: ShareLimitAction::RemoveWithContent,
        });
        let text = serde_json::to_vec_pretty(&settings).unwrap();
        assert!(String::from_utf8_lossy(&text).contains("\"remove_with_content\""));
        storage::write_atomically(&store.dir().join("settings.json"), &text).unwrap();

        let store = Store::open(dir.path()).unwrap();
        let loaded = store.load();
        assert_eq!(loaded[0].record, rec);
        assert_eq!(loaded[0].record.share_limits.seeding_time_secs, 120);
        assert_eq!(store.load_settings(), settings);
    }
}
