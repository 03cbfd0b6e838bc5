//! Why a peer connection closed: one enum with stable numbers.
//!
//! The first reasons follow the numbered list of Net::BitTorrent::Peer
//! (shared/seeds/004): remote close, self-connection, unknown info hash, bad
//! handshake, malformed message, duplicate peer, too many peers, torrent
//! being checked, both seeds, handshake timeout, idle. ringseed's own reasons
//! follow from 100. Numbers never change meaning; new reasons get new numbers.

/// A closed connection's reason. `as u16` is the stable number (metrics label,
/// logs, RPC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u16)]
pub enum DisconnectReason {
    /// The remote peer closed the connection (EOF or reset).
    RemoteClosed = 0,
    /// We connected to ourselves (peer id equals ours).
    SelfConnection = 1,
    /// The handshake names an info hash this daemon does not seed.
    UnknownInfoHash = 2,
    /// The handshake is not a BitTorrent handshake (non-BitTorrent bytes).
    BadHandshake = 4,
    /// A message after the handshake was malformed (bad length for its id,
    /// a frame longer than allowed, a bitfield of the wrong size…).
    MalformedMessage = 5,
    /// Another connection with the same peer id is open for this torrent.
    DuplicatePeer = 6,
    /// The per-shard connection or pending-handshake limit was reached.
    TooManyPeers = 7,
    /// The torrent is still being hash checked.
    TorrentChecking = 8,
    /// The peer says it is a seed too (have_all / full bitfield / upload_only).
    BothSeeds = 9,
    /// The handshake did not complete within the handshake timeout.
    HandshakeTimeout = 10,
    /// Neither side interested for the idle timeout.
    Idle = 11,
    /// A request outside the torrent: bad piece index, length 0 or over
    /// 16 KiB, or crossing the piece end, from a peer without BEP 6.
    InvalidRequest = 100,
    /// The peer queued far more requests than its `reqq` allows.
    RequestFlood = 101,
    /// A socket error other than a clean close.
    IoError = 102,
    /// The daemon is shutting down.
    Shutdown = 103,
    /// The torrent was removed while the peer was connected.
    TorrentRemoved = 104,
    /// Reading a block from disk failed.
    DiskError = 105,
    /// The peer sent a `piece` message to a seed that never requests.
    UnexpectedPiece = 106,
    /// A block write made no progress for the write timeout (peer not reading).
    WriteTimeout = 107,
}

impl DisconnectReason {
    /// Every reason, for metrics initialisation and docs.
    pub const ALL: [DisconnectReason; 19] = [
        Self::RemoteClosed,
        Self::SelfConnection,
        Self::UnknownInfoHash,
        Self::BadHandshake,
        Self::MalformedMessage,
        Self::DuplicatePeer,
        Self::TooManyPeers,
        Self::TorrentChecking,
        Self::BothSeeds,
        Self::HandshakeTimeout,
        Self::Idle,
        Self::InvalidRequest,
        Self::RequestFlood,
        Self::IoError,
        Self::Shutdown,
        Self::TorrentRemoved,
        Self::DiskError,
        Self::UnexpectedPiece,
        Self::WriteTimeout,
    ];

    /// Stable number of the reason.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// Stable snake_case name (metrics label value).
    pub fn name(self) -> &'static str {
        match self {
            Self::RemoteClosed => "remote_closed",
            Self::SelfConnection => "self_connection",
            Self::UnknownInfoHash => "unknown_info_hash",
            Self::BadHandshake => "bad_handshake",
            Self::MalformedMessage => "malformed_message",
            Self::DuplicatePeer => "duplicate_peer",
            Self::TooManyPeers => "too_many_peers",
            Self::TorrentChecking => "torrent_checking",
            Self::BothSeeds => "both_seeds",
            Self::HandshakeTimeout => "handshake_timeout",
            Self::Idle => "idle",
            Self::InvalidRequest => "invalid_request",
            Self::RequestFlood => "request_flood",
            Self::IoError => "io_error",
            Self::Shutdown => "shutdown",
            Self::TorrentRemoved => "torrent_removed",
            Self::DiskError => "disk_error",
            Self::UnexpectedPiece => "unexpected_piece",
            Self::WriteTimeout => "write_timeout",
        }
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_are_unique_and_stable() {
        let mut codes: Vec<u16> = DisconnectReason::ALL.iter().map(|r| r.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), DisconnectReason::ALL.len());
        assert_eq!(DisconnectReason::UnknownInfoHash.code(), 2);
        assert_eq!(DisconnectReason::Idle.code(), 11);
        assert_eq!(DisconnectReason::RequestFlood.code(), 101);
    }
}
