//! The offline tools, which need no daemon: `check` hashes a torrent's data
//! and says how much of it is there; `create` makes a v1 torrent.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use ringseed::{session, storage};

/// `ringseed check`: exit 0 complete, 1 pieces missing or corrupt, 2 invalid torrent.
pub fn check(data: &Path, torrent: &Path) -> ExitCode {
    let meta = match session::read_metainfo(torrent) {
        Ok((m, _)) => m,
        Err(e) => {
            eprintln!("ringseed check: {e}");
            return ExitCode::from(2);
        }
    };
    let files = match storage::resolve_files(&meta, data) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ringseed check: {}: {e}", torrent.display());
            return ExitCode::from(2);
        }
    };
    let meta = Arc::new(meta);
    let progress = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let r = storage::check::verify_all(&meta, data, &Arc::new(files), 0, &progress);
    let secs = started.elapsed().as_secs_f64();
    let n = meta.lengths.num_pieces();
    println!(
        "{}: info_hash={} verified {}/{} pieces, {} missing, {} corrupt; hashed {} bytes in {:.2} s ({:.2} GB/s)",
        meta.name,
        meta.info_hash,
        r.verified_count(),
        n,
        r.unreadable,
        r.corrupt,
        r.bytes_hashed,
        secs,
        r.bytes_hashed as f64 / secs.max(1e-9) / 1e9
    );
    if r.verified_count() == n {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `ringseed create`: writes the torrent of `path` to `output`.
pub fn create(
    path: &Path,
    piece_length: Option<u32>,
    announce: &[String],
    output: &Path,
) -> anyhow::Result<ExitCode> {
    let bytes = ringseed::create::create_torrent(
        path,
        piece_length,
        &ringseed::create::announce_tiers(announce),
    )?;
    std::fs::write(output, bytes).map_err(|e| anyhow::anyhow!("{}: {e}", output.display()))?;
    println!("wrote {}", output.display());
    Ok(ExitCode::SUCCESS)
}
