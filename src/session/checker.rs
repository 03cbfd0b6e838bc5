//! The `hash-check` thread: verifies torrents (or applies their resume
//! data) one job at a time, in the order they were queued, and reports each
//! result to the coordinator. Hashing itself runs on every core
//! ([`crate::storage::check`]); this thread only sequences the jobs so a
//! burst of adds does not start thousands of checks at once.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use super::{prepare, CheckSource};
use crate::messages::{CheckDone, CheckJob, CheckOutcome};

/// Runs jobs until `jobs` closes. `hashed` counts hashed bytes (metrics).
pub(crate) fn run(
    jobs: Receiver<CheckJob>,
    done: Sender<CheckDone>,
    state_dir: PathBuf,
    hash_threads: usize,
    hashed: Arc<AtomicU64>,
) {
    for job in jobs {
        let started = Instant::now();
        if let Some((torrent, list)) = &job.pieces {
            let r = crate::storage::check::verify_pieces(
                &torrent.meta,
                &torrent.root,
                &torrent.files,
                Some(list),
                hash_threads,
                &hashed,
            );
            let outcome =
                CheckOutcome::Pieces(list.iter().map(|&i| (i, r.verified[i as usize])).collect());
            if done
                .send(CheckDone {
                    info_hash: job.info_hash,
                    generation: job.generation,
                    outcome,
                })
                .is_err()
            {
                return;
            }
            continue;
        }
        let result = prepare(
            job.meta.clone(),
            &job.save_path,
            Some(&state_dir),
            hash_threads,
            job.force,
            job.skip_checking,
            &hashed,
        )
        .map(|(t, s)| (Arc::new(t), s));
        let seconds = started.elapsed().as_secs_f64();
        match &result {
            Ok((t, source)) => {
                let how = match source {
                    CheckSource::Resume => "from resume data, nothing hashed".to_string(),
                    CheckSource::Trusted => {
                        "skip_checking: every file has its length, nothing hashed".to_string()
                    }
                    CheckSource::Hashed { bytes } => format!(
                        "hashed {bytes} bytes in {seconds:.2} s ({:.2} GB/s)",
                        *bytes as f64 / seconds.max(1e-9) / 1e9
                    ),
                };
                tracing::info!(
                    "torrent {} info_hash={} verified {}/{} pieces ({how})",
                    t.meta.name,
                    job.info_hash,
                    t.pieces.count(),
                    t.meta.lengths.num_pieces()
                );
            }
            Err(e) => tracing::error!("torrent {}: {e}; not seeded", job.meta.name),
        }
        if done
            .send(CheckDone {
                info_hash: job.info_hash,
                generation: job.generation,
                outcome: CheckOutcome::Full(result),
            })
            .is_err()
        {
            return;
        }
    }
}
