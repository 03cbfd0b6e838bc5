//! An I/O failure as it crosses threads: the text every reader shows and,
//! when the OS gave one, the errno, so front ends that name errors by errno
//! (the IPC's `io-parent`, `io-space`…) read the number instead of parsing
//! it back out of the text.

use std::error::Error;

/// An I/O failure: `message` is the text as logged and shown (unchanged
/// from the error it was built from), `errno` the OS error number of the
/// first [`std::io::Error`] that carries one (the error itself, then its
/// sources), `None` when no OS error is behind it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct IoFailure {
    pub(crate) errno: Option<i32>,
    pub(crate) message: String,
}

impl IoFailure {
    /// Of any error: its text and the errno found in its source chain.
    pub(crate) fn of(e: &(dyn Error + 'static)) -> IoFailure {
        IoFailure {
            errno: errno_of(e),
            message: e.to_string(),
        }
    }

    /// Of `e`, its text prefixed with `what` (`"{what}: {e}"`).
    pub(crate) fn context(what: &str, e: &(dyn Error + 'static)) -> IoFailure {
        IoFailure {
            errno: errno_of(e),
            message: format!("{what}: {e}"),
        }
    }
}

impl From<&std::io::Error> for IoFailure {
    fn from(e: &std::io::Error) -> IoFailure {
        IoFailure::of(e)
    }
}

/// The errno of the first I/O error in `e`'s chain (an I/O error made
/// from another error is looked into as well).
fn errno_of(e: &(dyn Error + 'static)) -> Option<i32> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(n) = io.raw_os_error() {
                return Some(n);
            }
            if let Some(inner) = io.get_ref() {
                if let Some(n) = errno_of(inner) {
                    return Some(n);
                }
            }
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{path}: cannot read: {source}")]
    struct Wrapped {
        path: String,
        source: std::io::Error,
    }

    #[test]
    fn the_errno_comes_from_the_io_error_and_the_text_is_kept() {
        let io = std::io::Error::from_raw_os_error(libc::ENOENT);
        let f = IoFailure::from(&io);
        assert_eq!(f.errno, Some(libc::ENOENT));
        assert_eq!(f.message, io.to_string());
        let w = Wrapped {
            path: "x.bin".into(),
            source: std::io::Error::from_raw_os_error(libc::ENOSPC),
        };
        let f = IoFailure::of(&w);
        assert_eq!(f.errno, Some(libc::ENOSPC));
        assert_eq!(f.to_string(), w.to_string());
        let f = IoFailure::context("cannot save", &w);
        assert_eq!(f.message, format!("cannot save: {w}"));
        assert_eq!(f.errno, Some(libc::ENOSPC));
    }

    #[test]
    fn errors_without_an_os_error_have_no_errno() {
        let e = std::io::Error::new(std::io::ErrorKind::InvalidInput, "bad info hash in record");
        assert_eq!(IoFailure::from(&e).errno, None);
        let inner = std::io::Error::from_raw_os_error(libc::EMFILE);
        let e = std::io::Error::other(inner);
        assert_eq!(IoFailure::from(&e).errno, Some(libc::EMFILE));
    }
}
