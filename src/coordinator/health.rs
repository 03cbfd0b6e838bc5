//! File health: the results of hash checks (a torrent becomes ready or
//! errored), and files that could not be read while serving — their pieces
//! are withheld from new peers and rechecked with a doubling backoff until
//! a recheck finds them again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ringseed_proto::metainfo::InfoHash;

use super::Coordinator;
use crate::messages::{CheckDone, CheckJob, CheckOutcome, IoFailure};
use crate::torrent::CheckSource;

/// A file that could not be read, and when it is rechecked.
pub(super) struct Trouble {
    error: IoFailure,
    retry_at: Instant,
    backoff: Duration,
    /// A recheck of its pieces is queued.
    probing: bool,
}

/// First recheck of an unreadable file; doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);

impl Coordinator {
    /// A file could not be read while serving: stop announcing its pieces
    /// to new peers (connected ones get `reject` or are closed by the shard)
    /// and recheck them after a backoff.
    pub(super) fn file_unreadable(
        &mut self,
        ih: InfoHash,
        file: u32,
        error: IoFailure,
        now: Instant,
    ) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        let Some(ready) = &t.ready else {
            return;
        };
        if t.unreadable.contains_key(&file) || t.checking {
            return;
        }
        if t.record.skip_checked {
            // Added without a check: nothing proved any of its data, so a
            // read failure has the whole torrent hashed again rather than
            // serving what might be garbage.
            tracing::warn!(
                torrent = %t.meta.name,
                file,
                %error,
                "file of a torrent added with skip_checking cannot be read; rechecking the whole torrent"
            );
            return self.recheck(ih);
        }
        let pieces = ready.pieces_of_file(file as usize);
        let path = ready
            .files
            .get(file as usize)
            .and_then(|f| f.path.clone())
            .unwrap_or_default();
        tracing::warn!(
            torrent = %t.meta.name,
            file = %path.display(),
            %error,
            pieces = pieces.len(),
            "file cannot be read; its pieces are not announced to new peers until a recheck finds them"
        );
        t.ready = Some(Arc::new(ready.with_pieces(pieces.map(|p| (p, false)))));
        t.unreadable.insert(
            file,
            Trouble {
                error,
                retry_at: now + FIRST_RETRY,
                backoff: FIRST_RETRY,
                probing: false,
            },
        );
        self.sync_registry(ih);
        self.dirty.push(ih);
    }

    /// Queues rechecks of unreadable files whose time has come.
    pub(super) fn recheck_unreadable(&mut self, now: Instant) {
        for (ih, t) in self.torrents.iter_mut() {
            let Some(ready) = &t.ready else {
                continue;
            };
            for (file, tr) in t.unreadable.iter_mut() {
                if tr.probing || now < tr.retry_at {
                    continue;
                }
                tr.probing = true;
                let _ = self.links.checks.send(CheckJob {
                    info_hash: *ih,
                    meta: t.meta.clone(),
                    save_path: t.record.save_path.clone(),
                    force: true,
                    generation: t.generation,
                    pieces: Some((
                        ready.clone(),
                        ready.pieces_of_file(*file as usize).collect(),
                    )),
                    skip_checking: false,
                });
            }
        }
    }

    /// A recheck of an unreadable file's pieces came back.
    fn pieces_checked(&mut self, ih: InfoHash, results: Vec<(u32, bool)>, now: Instant) {
        let Some(t) = self.torrents.get_mut(&ih) else {
            return;
        };
        let Some(ready) = &t.ready else {
            return;
        };
        let ok: Vec<u32> = results.iter().filter(|r| r.1).map(|r| r.0).collect();
        let mut changed = false;
        for (file, tr) in t.unreadable.iter_mut() {
            let pieces = ready.pieces_of_file(*file as usize);
            if !tr.probing || !results.iter().any(|r| pieces.contains(&r.0)) {
                continue;
            }
            tr.probing = false;
            if pieces.clone().all(|p| ok.contains(&p)) {
                tr.backoff = Duration::ZERO;
            } else {
                tr.backoff = (tr.backoff * 2).min(MAX_RETRY);
                tr.retry_at = now + tr.backoff;
                tracing::info!(torrent = %t.meta.name, file, error = %tr.error, retry_secs = tr.backoff.as_secs(), "file still unreadable");
            }
        }
        let back: Vec<u32> = t
            .unreadable
            .iter()
            .filter(|(_, tr)| tr.backoff.is_zero())
            .map(|(f, _)| *f)
            .collect();
        for f in back {
            t.unreadable.remove(&f);
            tracing::info!(torrent = %t.meta.name, file = f, "file readable again; its pieces are announced again");
            changed = true;
        }
        if !ok.is_empty() {
            // Pieces of files still unreadable stay out even if they verified.
            let blocked: Vec<std::ops::Range<u32>> = t
                .unreadable
                .keys()
                .map(|f| ready.pieces_of_file(*f as usize))
                .collect();
            let add = ok
                .into_iter()
                .filter(|p| !blocked.iter().any(|r| r.contains(p)));
            t.ready = Some(Arc::new(ready.with_pieces(add.map(|p| (p, true)))));
            changed = true;
        }
        if changed {
            self.sync_registry(ih);
            self.dirty.push(ih);
        }
    }

    pub(super) fn check_done(&mut self, done: CheckDone) {
        let Some(t) = self.torrents.get_mut(&done.info_hash) else {
            return;
        };
        if t.generation != done.generation {
            return;
        }
        let result = match done.outcome {
            CheckOutcome::Pieces(results) => {
                return self.pieces_checked(done.info_hash, results, Instant::now())
            }
            CheckOutcome::Full(r) => r,
        };
        t.checking = false;
        let mut save = false;
        match result {
            Ok((torrent, source)) => {
                if torrent.pieces.count() == torrent.meta.lengths.num_pieces()
                    && t.record.completion_unix == 0
                {
                    t.record.completion_unix = crate::messages::unix_now();
                    save = true;
                }
                if matches!(source, CheckSource::Hashed { .. }) && t.record.skip_checked {
                    // Hashed now (the files did not match, or a recheck):
                    // read failures go back to the per-file handling.
                    t.record.skip_checked = false;
                    save = true;
                }
                t.ready = Some(torrent);
                t.error = None;
                t.stop_seeding();
                if !t.record.paused {
                    t.start_seeding();
                }
            }
            Err(e) => {
                t.ready = None;
                t.error = Some(IoFailure::of(&e));
            }
        }
        self.sync_registry(done.info_hash);
        self.dirty.push(done.info_hash);
        if save {
            self.save_records([done.info_hash], None);
        }
    }
}
