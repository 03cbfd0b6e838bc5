//! Resume data: the verified-piece bitfield of a torrent, kept in the state
//! directory so that a restart on unchanged files does not rehash.
//!
//! One JSON file per torrent, `<info hash hex>.resume.json`, holding the
//! bitfield (BEP 3 bit order, hex) and each file's size and mtime at the time
//! of the check. It is trusted only when every file's size and mtime are
//! unchanged; it is written atomically (temp file, fsync, rename, fsync of the
//! directory) so a crash leaves the old or the new copy, never half of one.

use std::path::{Path, PathBuf};

use ringseed_proto::bitfield::Bitfield;
use ringseed_proto::metainfo::Metainfo;
use serde::{Deserialize, Serialize};

use super::{FileSlot, FileStat};

const FORMAT: u32 = 1;

/// The on-disk resume record of one torrent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ResumeData {
    pub(crate) format: u32,
    /// Info hash, 40 hex chars.
    pub(crate) info_hash: String,
    pub(crate) num_pieces: u32,
    /// Per file, in torrent order: size and mtime when checked (`None`: pad or missing).
    pub(crate) files: Vec<Option<FileStat>>,
    /// Verified pieces as a BEP 3 bitfield, hex-encoded.
    pub(crate) verified: String,
}

/// Path of a torrent's resume file inside `state_dir`.
pub(crate) fn path_for(state_dir: &Path, meta: &Metainfo) -> PathBuf {
    state_dir.join(format!("{}.resume.json", meta.info_hash.to_hex()))
}

/// Packs a verified list into a BEP 3 bitfield (high bit of byte 0 = piece 0).
pub(crate) fn to_bitfield(verified: &[bool]) -> Vec<u8> {
    Bitfield::from_bools(verified).as_bytes().to_vec()
}

/// Builds the record for a finished check.
pub(crate) fn record(meta: &Metainfo, slots: &[FileSlot], verified: &[bool]) -> ResumeData {
    ResumeData {
        format: FORMAT,
        info_hash: meta.info_hash.to_hex(),
        num_pieces: meta.lengths.num_pieces(),
        files: slots.iter().map(|s| s.stat).collect(),
        verified: hex::encode(to_bitfield(verified)),
    }
}

/// Loads the resume record and returns the verified list when it still
/// applies: same info hash and piece count, every file's size and mtime
/// unchanged. `None` (with the reason logged at debug) otherwise.
pub(crate) fn load(state_dir: &Path, meta: &Metainfo, slots: &[FileSlot]) -> Option<Vec<bool>> {
    let path = path_for(state_dir, meta);
    let bytes = std::fs::read(&path).ok()?;
    let rec: ResumeData = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "resume data unreadable; rehashing");
            return None;
        }
    };
    let current: Vec<Option<FileStat>> = slots.iter().map(|s| s.stat).collect();
    if rec.format != FORMAT
        || rec.info_hash != meta.info_hash.to_hex()
        || rec.num_pieces != meta.lengths.num_pieces()
        || rec.files != current
    {
        tracing::info!(torrent = %meta.name, "files changed since the last check; rehashing");
        return None;
    }
    let bf = hex::decode(&rec.verified).ok()?;
    let n = meta.lengths.num_pieces();
    let pieces = Bitfield::from_bytes(&bf, n)?;
    Some((0..n).map(|i| pieces.get(i)).collect())
}

/// Writes `rec` atomically (see [`super::write_atomically`]) and fsyncs the directory.
///
/// Errors: any I/O error on the state directory.
pub(crate) fn save(state_dir: &Path, meta: &Metainfo, rec: &ResumeData) -> std::io::Result<()> {
    std::fs::create_dir_all(state_dir)?;
    let path = path_for(state_dir, meta);
    super::write_atomically(
        &path,
        &serde_json::to_vec_pretty(rec).expect("serialisable"),
    )?;
    super::sync_dir(state_dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringseed_proto::metainfo::build_torrent;

    #[test]
    fn resume_applies_only_while_files_are_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::write(dir.path().join("f"), vec![1u8; 20_000]).unwrap();
        let meta = Metainfo::from_bytes(&build_torrent(
            "f",
            &[(vec![], 20_000)],
            16384,
            &[[0; 20]; 2],
            None,
            "t",
        ))
        .unwrap();
        let slots = super::super::resolve_files(&meta, dir.path()).unwrap();
        save(&state, &meta, &record(&meta, &slots, &[true, false])).unwrap();
        assert_eq!(load(&state, &meta, &slots), Some(vec![true, false]));
        // No temp file is left behind.
        assert_eq!(std::fs::read_dir(&state).unwrap().count(), 1);

        std::fs::write(dir.path().join("f"), vec![1u8; 20_001]).unwrap();
        let slots = super::super::resolve_files(&meta, dir.path()).unwrap();
        assert_eq!(load(&state, &meta, &slots), None);
    }

    #[test]
    fn bitfield_uses_bep3_bit_order() {
        assert_eq!(
            to_bitfield(&[true, false, false, false, false, false, false, false, true]),
            vec![0x80, 0x80]
        );
    }
}
