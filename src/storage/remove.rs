//! Deleting a torrent's data (`torrents.remove` with `remove_data: true`):
//! only the files its metainfo names, resolved beneath the save path, never
//! following a symlink. Each file's parent folder is opened with `openat2`
//! (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`) and the file is unlinked by
//! name in it; a symlink in a file's place is removed itself, never its
//! target. Then the torrent's folders are removed if they are empty.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use ringseed_proto::metainfo::Metainfo;
use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};

fn open_dir(root: &OwnedFd, rel: &Path) -> std::io::Result<OwnedFd> {
    if rel.as_os_str().is_empty() {
        return Ok(rustix::fs::openat(
            root,
            ".",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?);
    }
    Ok(rustix::fs::openat2(
        root,
        rel,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
    )?)
}

fn split(rel: &Path) -> (PathBuf, &OsStr) {
    (
        rel.parent().map(Path::to_path_buf).unwrap_or_default(),
        rel.file_name().unwrap_or_default(),
    )
}

/// Deletes the torrent's files below `save_path`; returns how many were removed.
/// Missing files are not an error.
///
/// Errors: the save path cannot be opened, or a file cannot be unlinked
/// (a folder on its path that is a symlink is refused this way).
pub(crate) fn remove_data(meta: &Metainfo, save_path: &Path) -> std::io::Result<usize> {
    let root = rustix::fs::open(
        save_path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut removed = 0;
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for f in meta.files.iter().filter(|f| !f.pad) {
        let rel = meta.file_path(f);
        let (parent, name) = split(&rel);
        let mut p = parent.as_path();
        while !p.as_os_str().is_empty() {
            dirs.insert(p.to_path_buf());
            p = p.parent().unwrap_or(Path::new(""));
        }
        let dir = match open_dir(&root, &parent) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
            Ok(()) => removed += 1,
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // Deepest folders first; a folder that still holds other files stays.
    let mut dirs: Vec<PathBuf> = dirs.into_iter().collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in dirs {
        let (parent, name) = split(&d);
        if let Ok(pd) = open_dir(&root, &parent) {
            let _ = rustix::fs::unlinkat(&pd, name, AtFlags::REMOVEDIR);
        }
    }
    Ok(removed)
}

/// Moves a torrent's files from beneath `from` to the same places beneath
/// `to` (qBittorrent's `setLocation`) with rename(2): one filesystem only
/// (another gives EXDEV; nothing is copied). A file already at its new
/// place with its length is left as it is; a file missing at the old place
/// is skipped (the check that follows finds it missing). Emptied folders
/// of a multi-file torrent are removed. Returns how many files moved.
///
/// Errors: the first rename or folder creation that failed (files moved
/// before it stay moved; the check that follows sees where each one is).
pub(crate) fn move_data(meta: &Metainfo, from: &Path, to: &Path) -> std::io::Result<usize> {
    let mut moved = 0;
    for f in meta.files.iter().filter(|f| !f.pad) {
        let rel = meta.file_path(f);
        let (src, dst) = (from.join(&rel), to.join(&rel));
        if std::fs::symlink_metadata(&dst).is_ok_and(|m| m.is_file() && m.len() == f.length) {
            continue;
        }
        if std::fs::symlink_metadata(&src).is_err() {
            continue;
        }
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::rename(&src, &dst)?;
        moved += 1;
    }
    if meta.multi_file {
        // Deepest folders first; a folder that is not empty stays.
        let mut dirs: Vec<PathBuf> = meta
            .files
            .iter()
            .filter_map(|f| meta.file_path(f).parent().map(Path::to_path_buf))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in dirs {
            let _ = std::fs::remove_dir(from.join(d));
        }
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringseed_proto::metainfo::build_torrent;

    #[test]
    fn removes_only_named_files_and_never_follows_links_out() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), b"k").unwrap();
        std::fs::create_dir(outside.path().join("sub")).unwrap();
        std::fs::write(outside.path().join("sub/b"), b"b").unwrap();
        let save = tempfile::tempdir().unwrap();
        let t = save.path().join("t");
        std::fs::create_dir_all(&t).unwrap();
        std::fs::write(t.join("a"), b"a").unwrap();
        std::fs::write(t.join("other"), b"not in the torrent").unwrap();
        // `c` is a symlink to a file outside, `sub` a symlink to a folder outside.
        std::os::unix::fs::symlink(outside.path().join("keep"), t.join("c")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("sub"), t.join("sub")).unwrap();
        let bytes = build_torrent(
            "t",
            &[
                (vec!["a".into()], 1),
                (vec!["c".into()], 1),
                (vec!["sub".into(), "b".into()], 1),
            ],
            16384,
            &[[0; 20]],
            None,
            "x",
        );
        let meta = Metainfo::from_bytes(&bytes).unwrap();
        // The file under the symlinked folder cannot be reached: an error, and nothing outside goes.
        assert!(remove_data(&meta, save.path()).is_err());
        assert!(!t.join("a").exists());
        assert!(t.join("other").exists());
        assert!(outside.path().join("keep").exists(), "symlink target kept");
        assert!(!t.join("c").exists(), "the link itself is gone");
        assert!(outside.path().join("sub/b").exists());
        // Without the hostile folder link it completes and cleans empty folders.
        std::fs::remove_file(t.join("sub")).unwrap();
        std::fs::remove_file(t.join("other")).unwrap();
        assert_eq!(remove_data(&meta, save.path()).unwrap(), 0);
        assert!(!t.exists());
    }

    #[test]
    fn move_data_renames_every_file_and_removes_emptied_folders() {
        let from = tempfile::tempdir().unwrap();
        let to = tempfile::tempdir().unwrap();
        let t = from.path().join("t");
        std::fs::create_dir_all(t.join("sub")).unwrap();
        std::fs::write(t.join("a"), b"a").unwrap();
        std::fs::write(t.join("sub/b"), b"bb").unwrap();
        let bytes = build_torrent(
            "t",
            &[(vec!["a".into()], 1), (vec!["sub".into(), "b".into()], 2)],
            16384,
            &[[0; 20]],
            None,
            "x",
        );
        let meta = Metainfo::from_bytes(&bytes).unwrap();
        assert_eq!(move_data(&meta, from.path(), to.path()).unwrap(), 2);
        assert_eq!(std::fs::read(to.path().join("t/a")).unwrap(), b"a");
        assert_eq!(std::fs::read(to.path().join("t/sub/b")).unwrap(), b"bb");
        assert!(!t.exists(), "emptied folders go");
        // Already there: nothing moves.
        assert_eq!(move_data(&meta, from.path(), to.path()).unwrap(), 0);
    }
}
