//! `ringseed create`: make a v1 .torrent (BEP 3) from a file or a folder.
//!
//! Files of a folder are taken in byte order of their relative paths, so the
//! same folder always gives the same info hash. Symlinks are not followed
//! (a torrent made here never points outside the folder).

use std::io::Read;
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

/// Why a torrent could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: not valid UTF-8; torrents need UTF-8 names")]
    NotUtf8(PathBuf),
    #[error("{0}: nothing to put in a torrent (no data)")]
    Empty(PathBuf),
    #[error("piece length {0} must be a power of two of at least 16384 bytes")]
    BadPieceLength(u32),
}

/// Piece length for `total` bytes when none is given: a power of two from
/// 16 KiB to 16 MiB aiming at about 1500 pieces.
pub(crate) fn auto_piece_length(total: u64) -> u32 {
    let mut pl: u64 = 16 * 1024;
    while total / pl > 1500 && pl < 16 * 1024 * 1024 {
        pl *= 2;
    }
    pl as u32
}

fn walk(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(Vec<String>, PathBuf, u64)>,
) -> Result<(), CreateError> {
    let io = |source| CreateError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let ft = e.file_type().map_err(|source| CreateError::Io {
            path: path.clone(),
            source,
        })?;
        if ft.is_dir() {
            walk(root, &path, out)?;
        } else if ft.is_file() {
            let rel = path.strip_prefix(root).expect("below root");
            let comps = rel
                .components()
                .map(|c| {
                    c.as_os_str()
                        .to_str()
                        .map(str::to_owned)
                        .ok_or_else(|| CreateError::NotUtf8(path.clone()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let len = e
                .metadata()
                .map_err(|source| CreateError::Io {
                    path: path.clone(),
                    source,
                })?
                .len();
            out.push((comps, path, len));
        }
    }
    Ok(())
}

/// BEP 12 tiers from `--announce` values: each value is one tier, its
/// comma-separated URLs the tier's trackers; blanks are dropped.
pub fn announce_tiers(values: &[String]) -> Vec<Vec<String>> {
    values
        .iter()
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// Builds the bencoded torrent for `path` (a file or a folder) announcing
/// to `tiers` (`announce` = the first URL; `announce-list` when there is
/// more than one URL).
///
/// Errors: unreadable files, non-UTF-8 names, no data, a bad piece length.
pub fn create_torrent(
    path: &Path,
    piece_length: Option<u32>,
    tiers: &[Vec<String>],
) -> Result<Vec<u8>, CreateError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| CreateError::NotUtf8(path.to_owned()))?
        .to_owned();
    let md = std::fs::metadata(path).map_err(|source| CreateError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut files = Vec::new();
    if md.is_dir() {
        walk(path, path, &mut files)?;
    } else {
        files.push((Vec::new(), path.to_owned(), md.len()));
    }
    let total: u64 = files.iter().map(|f| f.2).sum();
    if total == 0 {
        return Err(CreateError::Empty(path.to_owned()));
    }
    let pl = piece_length.unwrap_or_else(|| auto_piece_length(total));
    if pl < 16384 || !pl.is_power_of_two() {
        return Err(CreateError::BadPieceLength(pl));
    }
    let mut hashes = Vec::with_capacity(total.div_ceil(pl as u64) as usize);
    let mut hasher = Sha1::new();
    let mut in_piece = 0usize;
    let mut buf = vec![0u8; 1 << 20];
    for (_, p, len) in &files {
        let mut f = std::fs::File::open(p).map_err(|source| CreateError::Io {
            path: p.clone(),
            source,
        })?;
        let mut left = *len;
        while left > 0 {
            let want = (buf.len() as u64)
                .min(left)
                .min((pl as usize - in_piece) as u64) as usize;
            f.read_exact(&mut buf[..want])
                .map_err(|source| CreateError::Io {
                    path: p.clone(),
                    source,
                })?;
            hasher.update(&buf[..want]);
            in_piece += want;
            left -= want as u64;
            if in_piece == pl as usize {
                hashes.push(hasher.finalize_reset().into());
                in_piece = 0;
            }
        }
    }
    if in_piece > 0 {
        hashes.push(hasher.finalize().into());
    }
    let list: Vec<(Vec<String>, u64)> = files.into_iter().map(|(c, _, l)| (c, l)).collect();
    Ok(ringseed_proto::metainfo::build_torrent_with_tiers(
        &name,
        &list,
        pl,
        &hashes,
        tiers,
        crate::CLIENT_NAME,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_announce_flags_make_tiers_and_commas_share_a_tier() {
        let t = announce_tiers(&[
            "http://a/announce, udp://b:1".into(),
            "".into(),
            "http://c/x".into(),
        ]);
        assert_eq!(
            t,
            vec![
                vec!["http://a/announce".to_string(), "udp://b:1".into()],
                vec!["http://c/x".into()]
            ]
        );
        let dir = std::env::temp_dir().join(format!("ringseed-create-{}", std::process::id()));
        std::fs::write(&dir, b"hello").unwrap();
        let bytes = create_torrent(&dir, None, &t).unwrap();
        let _ = std::fs::remove_file(&dir);
        let m = ringseed_proto::metainfo::Metainfo::from_bytes(&bytes).unwrap();
        assert_eq!(m.announce.as_deref(), Some("http://a/announce"));
        assert_eq!(m.announce_list, t);
    }
}
