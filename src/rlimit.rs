//! The process's resource limits, read and raised without `unsafe` (rustix's
//! getrlimit/setrlimit): RLIMIT_NOFILE bounds the peers, pipes and data files
//! open at once; RLIMIT_MEMLOCK bounds the registered buffers and rings
//! io_uring may pin. A raise the kernel refuses is logged, never ignored.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// The RLIMIT_NOFILE soft limit: descriptors this process may hold; `None`
/// when unlimited.
pub(crate) fn nofile() -> Option<u64> {
    getrlimit(Resource::Nofile).current
}

/// The RLIMIT_MEMLOCK soft limit, bytes; `None` when unlimited.
pub(crate) fn memlock() -> Option<u64> {
    getrlimit(Resource::Memlock).current
}

/// Raises the RLIMIT_NOFILE soft limit to the hard limit (the daemon holds a
/// descriptor per peer and per open file, more than the usual 1024 soft
/// limit allows). When the kernel refuses, logs a warning and leaves the
/// limit as it was.
pub fn raise_nofile() {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    let below_hard = match (current, maximum) {
        (Some(soft), Some(hard)) => soft < hard,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if !below_hard {
        return;
    }
    let raised = Rlimit {
        current: maximum,
        maximum,
    };
    if let Err(e) = setrlimit(Resource::Nofile, raised) {
        tracing::warn!(
            soft = current.map_or("unlimited".into(), |n| n.to_string()),
            hard = maximum.map_or("unlimited".into(), |n| n.to_string()),
            error = %e,
            "cannot raise the open-file limit (RLIMIT_NOFILE) to its hard limit"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_nofile_leaves_the_soft_limit_at_the_hard_limit() {
        raise_nofile();
        let lim = getrlimit(Resource::Nofile);
        assert_eq!(lim.current, lim.maximum);
        assert_eq!(nofile(), lim.current);
        // Whatever the limit, reading it is no failure.
        let _ = memlock();
    }
}
