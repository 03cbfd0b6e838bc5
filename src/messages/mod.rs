//! The typed messages that cross threads: shard ↔ coordinator (`shard.rs`),
//! control runtime → coordinator (`control.rs`), coordinator ↔ the session
//! threads (`session.rs`), and every thread → the supervisor (how it ended,
//! [`ThreadExit`], here); an I/O failure crosses as an [`IoFailure`]
//! (`failure.rs`), errno included. Every cross-thread edge is one of these types over a
//! channel, and every answer is a typed oneshot ([`Reply`]), never a
//! closure; the types are the contract. Shards, the coordinator, the
//! session threads and the control runtime all import this module and none
//! imports another's internals.

mod control;
mod failure;
mod session;
mod shard;

pub(crate) use control::{
    AddTorrent, CategoryChange, CommandError, ControlCommand, SessionChange, TagChange,
    TorrentProps,
};
pub(crate) use failure::IoFailure;
pub(crate) use session::{
    category_and_parents, in_category, parent_category, tag_name, valid_category_name, CheckDone,
    CheckJob, CheckOutcome, GlobalShareLimits, SessionSettings, ShareLimitAction, ShareLimits,
    StoreJob, StoreReply, TorrentRecord, USE_GLOBAL,
};
#[allow(unused_imports)] // The qBittorrent WebUI front end's conversions.
pub(crate) use session::{mins_to_secs, secs_to_mins, NO_LIMIT};
pub(crate) use shard::{
    msg_slot, BudgetGrant, BudgetUse, ClosedPeer, ListenerSlot, PeerHello, PeerSnapshot,
    PeerSource, ShardCommand, ShardEvent, ShardLink, ShardStats, HANDSHAKE_SLOT, MSG_NAMES,
    MSG_SLOTS,
};

/// A peer connection's identity across threads: a counter shared by all
/// shards, starting at 0, never reused in the process (getpeerinfo's `id`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct PeerKey(pub u64);

impl std::fmt::Display for PeerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Unix time now, seconds.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The answer channel of a control command (a tokio oneshot: the sender
/// works from any thread, the control runtime awaits the receiver).
pub(crate) type Reply<T> = tokio::sync::oneshot::Sender<T>;

/// Every thread the daemon starts by name and supervises. [`Display`](std::fmt::Display)
/// gives the OS thread name, which logs, panics and `top -H` show:
/// `shard-00`…, `coordinator`, `hash-check`, `session-store`, `control`,
/// `signals`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThreadName {
    /// One per core, by index (two digits in the name).
    Shard(usize),
    /// Torrent list, choking, budgets, the view.
    Coordinator,
    /// Verifies torrents one job at a time.
    HashCheck,
    /// Writes the session atomically, in order.
    SessionStore,
    /// The tokio runtime: JSON-RPC, /metrics, the IPC socket, tracker announces.
    Control,
    /// Waits for SIGINT/SIGTERM.
    Signals,
}

impl std::fmt::Display for ThreadName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ThreadName::Shard(id) => write!(f, "shard-{id:02}"),
            ThreadName::Coordinator => f.write_str("coordinator"),
            ThreadName::HashCheck => f.write_str("hash-check"),
            ThreadName::SessionStore => f.write_str("session-store"),
            ThreadName::Control => f.write_str("control"),
            ThreadName::Signals => f.write_str("signals"),
        }
    }
}

/// How a supervised thread ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ThreadEnd {
    /// Its function returned `Ok`.
    Returned,
    /// Its function returned this error.
    Failed(String),
    /// It panicked with this message (`?` when the payload is not text).
    Panicked(String),
}

/// A thread → the supervisor: this thread has ended. Before shutdown any
/// exit means the daemon is broken; `Display` is the line the daemon dies
/// with (`thread shard-03 failed: …`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ThreadExit {
    pub(crate) thread: ThreadName,
    pub(crate) end: ThreadEnd,
}

impl std::fmt::Display for ThreadExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.thread;
        match &self.end {
            ThreadEnd::Returned => write!(f, "thread {name} stopped unexpectedly"),
            ThreadEnd::Failed(e) => write!(f, "thread {name} failed: {e}"),
            ThreadEnd::Panicked(m) => write!(f, "thread {name} failed: panicked: {m}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_names_and_exits_read_as_before() {
        let names = [
            ThreadName::Shard(0),
            ThreadName::Shard(12),
            ThreadName::Coordinator,
            ThreadName::HashCheck,
            ThreadName::SessionStore,
            ThreadName::Control,
            ThreadName::Signals,
        ];
        let shown: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            shown,
            [
                "shard-00",
                "shard-12",
                "coordinator",
                "hash-check",
                "session-store",
                "control",
                "signals"
            ]
        );
        let exit = |end| ThreadExit {
            thread: ThreadName::Shard(3),
            end,
        };
        assert_eq!(
            exit(ThreadEnd::Returned).to_string(),
            "thread shard-03 stopped unexpectedly"
        );
        assert_eq!(
            exit(ThreadEnd::Failed("ring setup: EPERM".into())).to_string(),
            "thread shard-03 failed: ring setup: EPERM"
        );
        assert_eq!(
            exit(ThreadEnd::Panicked("boom".into())).to_string(),
            "thread shard-03 failed: panicked: boom"
        );
    }
}
