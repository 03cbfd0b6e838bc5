//! The IPC's Unix socket on disk: created mode 0600 (in a directory created
//! mode 0700 when missing), guarded by a lock file so that a second daemon
//! refuses to start instead of stealing a live daemon's socket, and a stale
//! socket (left by a killed daemon) replaced.
//!
//! The lock is `PATH.lock`, held with `flock(2)` for the life of the
//! process (the kernel drops it when the process dies, however it dies),
//! and holds the holder's pid for the error message. Under the lock, a
//! socket at PATH is stale unless something still answers on it (another
//! program's socket, never replaced). The socket is bound under a
//! temporary name, set to 0600, then renamed over PATH: it is never
//! reachable with a wider mode, and a stale one is replaced atomically.

use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

/// Longest socket path Linux takes (`sun_path` is 108 bytes with its NUL).
const MAX_PATH: usize = 107;

/// Why the IPC socket could not be set up (the daemon does not start).
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("IPC socket {path}: another ringseed daemon{} holds {lock}; stop it, or give this one another --ipc-socket PATH (or off)", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Busy {
        path: PathBuf,
        lock: PathBuf,
        pid: Option<u32>,
    },
    #[error(
        "IPC socket {0}: something is listening on it; give another --ipc-socket PATH (or off)"
    )]
    InUse(PathBuf),
    #[error(
        "IPC socket {0}: exists and is not a socket; remove it or give another --ipc-socket PATH"
    )]
    NotASocket(PathBuf),
    #[error("IPC socket {0}: path longer than {MAX_PATH} bytes")]
    TooLong(PathBuf),
    #[error("IPC socket {path}: {what}: {source}")]
    Io {
        path: PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
}

/// The bound socket and its lock (released when dropped).
#[derive(Debug)]
pub(crate) struct IpcSocket {
    pub(crate) path: PathBuf,
    pub(crate) listener: UnixListener,
    lock: std::fs::File,
}

fn lock_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

impl IpcSocket {
    /// Creates the socket at `path` (non-blocking, for tokio).
    ///
    /// Errors: another daemon holds the lock ([`SocketError::Busy`]),
    /// another program listens there, the path is not a socket, too long,
    /// or a file operation failed (each names the path).
    pub(crate) fn bind(path: &Path) -> Result<IpcSocket, SocketError> {
        let io = |what| {
            let path = path.to_owned();
            move |source| SocketError::Io { path, what, source }
        };
        let name = path
            .file_name()
            .ok_or_else(|| SocketError::NotASocket(path.to_owned()))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        if path.as_os_str().len() > MAX_PATH || tmp.as_os_str().len() > MAX_PATH {
            return Err(SocketError::TooLong(path.to_owned()));
        }
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(io("cannot create its directory"))?;
        } else if let Ok(md) = std::fs::metadata(&dir) {
            if md.permissions().mode() & 0o077 != 0 {
                tracing::warn!(dir = %dir.display(), mode = format!("{:o}", md.permissions().mode() & 0o777), "the IPC socket's directory is open to other users (the socket itself is 0600)");
            }
        }

        let lock = lock_path(path);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock)
            .map_err(io("cannot open its lock file"))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(SocketError::Busy {
                    path: path.to_owned(),
                    lock,
                    pid: text.trim().parse().ok(),
                });
            }
            Err(e) => return Err(io("cannot lock its lock file")(e.into())),
        }
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = writeln!(file, "{}", std::process::id());

        match std::fs::symlink_metadata(path) {
            Ok(md) if md.file_type().is_socket() => {
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    return Err(SocketError::InUse(path.to_owned()));
                }
                tracing::info!(path = %path.display(), "replacing a stale IPC socket");
            }
            Ok(_) => return Err(SocketError::NotASocket(path.to_owned())),
            Err(_) => {}
        }
        let _ = std::fs::remove_file(&tmp);
        let listener = UnixListener::bind(&tmp).map_err(io("cannot bind"))?;
        let placed = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(io("cannot set its mode"))
            .and_then(|()| std::fs::rename(&tmp, path).map_err(io("cannot move it in place")));
        if let Err(e) = placed {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        listener
            .set_nonblocking(true)
            .map_err(io("cannot make it non-blocking"))?;
        Ok(IpcSocket {
            path: path.to_owned(),
            listener,
            lock: file,
        })
    }

    /// Splits off the lock (hold it until the socket file is gone).
    pub(crate) fn into_parts(self) -> (PathBuf, UnixListener, std::fs::File) {
        (self.path, self.listener, self.lock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_is_0600_in_a_new_0700_dir_and_a_second_bind_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("daemon/socket");
        let s = IpcSocket::bind(&path).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&t.path().join("daemon")), 0o700);
        match IpcSocket::bind(&path) {
            Err(SocketError::Busy { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("{other:?}"),
        }
        drop(s);
        // Stale (lock released, socket file left): replaced.
        assert!(path.exists());
        let s = IpcSocket::bind(&path).unwrap();
        assert!(std::os::unix::net::UnixStream::connect(&path).is_ok());
        drop(s);
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"not a socket").unwrap();
        assert!(matches!(
            IpcSocket::bind(&path),
            Err(SocketError::NotASocket(_))
        ));
        let long = t.path().join("x".repeat(120));
        assert!(matches!(
            IpcSocket::bind(&long),
            Err(SocketError::TooLong(_))
        ));
    }

    #[test]
    fn a_live_socket_of_another_program_is_never_replaced() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("socket");
        let _other = UnixListener::bind(&path).unwrap();
        assert!(matches!(IpcSocket::bind(&path), Err(SocketError::InUse(_))));
    }
}
