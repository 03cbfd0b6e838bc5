//! Why a peer connection closed: one enum, one stable number per reason.
//!
//! The numbers are Net::BitTorrent::Peer's (seed 004; Net::BitTorrent 0.052's `lib/Net/BitTorrent/Peer.pm` has the
//! real values read from its source): 0 = closed by the remote, positive =
//! the OS error (errno), negative = a library reason (−10 connected to
//! ourselves, −11 torrent not served, −13 bad handshake, −16 already
//! connected, −17 too many peers, −18 hash checking, −22 malformed packet,
//! −25 both seeds, −26 unrequested piece, −30 handshake timeout, −40 idle,
//! −41 useless peer). ringseed's own reasons, which Net::BitTorrent has no
//! number for, use −200 to −299. Numbers never change meaning; new reasons
//! get new numbers. /metrics, the logs and the RPC show the same codes.

/// A closed connection's reason; [`DisconnectReason::code`] is its number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum DisconnectReason {
    /// 0: the remote peer closed the connection (EOF).
    RemoteClosed,
    /// Positive: an OS error on the socket (the errno, e.g. 104 ECONNRESET).
    Os(i32),
    /// −10: the peer id in the handshake is our own.
    SelfConnection,
    /// −11: the handshake names an info hash we do not serve (unknown or paused).
    UnknownInfoHash,
    /// −13: the handshake is not a BitTorrent handshake.
    BadHandshake,
    /// −16: another connection with the same peer id is open for this torrent.
    DuplicatePeer,
    /// −17: a connection limit was reached (per shard, per torrent).
    TooManyPeers,
    /// −18: the torrent is being hash checked.
    TorrentChecking,
    /// −22: a message after the handshake was malformed (bad length for its
    /// id, a frame longer than allowed, a bitfield of the wrong size…).
    MalformedMessage,
    /// −25: the peer is a seed too (have_all / full bitfield / upload_only).
    BothSeeds,
    /// −26: the peer sent a `piece` message to a seed that never requests.
    UnexpectedPiece,
    /// −30: the handshake did not complete within the handshake timeout.
    HandshakeTimeout,
    /// −40: nothing received from the peer for the receive timeout.
    Idle,
    /// −41: the peer stayed not interested for the idle timeout (a seed is
    /// never interested: "not interested and not interesting").
    UselessPeer,
    /// −200: a request outside the torrent (bad index, length 0 or over
    /// 16 KiB, crossing the piece end) from a peer without BEP 6.
    InvalidRequest,
    /// −201: far more requests than `reqq` that we could not queue.
    RequestFlood,
    /// −202: the daemon is shutting down.
    Shutdown,
    /// −203: the torrent was removed.
    TorrentRemoved,
    /// −204: reading a block from disk failed.
    DiskError,
    /// −205: a write made no progress for the write timeout (peer not reading).
    WriteTimeout,
    /// −206: the torrent was paused.
    TorrentPaused,
    /// −207: the misbehaviour score crossed the ban score (100).
    Banned,
    /// −208: a socket error without an errno.
    IoError,
    /// −209: connecting to the peer failed or timed out (outgoing).
    ConnectFailed,
}

impl DisconnectReason {
    /// Every reason with a fixed number (OS errors excluded), for metrics and docs.
    pub(crate) const ALL: [DisconnectReason; 23] = [
        Self::RemoteClosed,
        Self::SelfConnection,
        Self::UnknownInfoHash,
        Self::BadHandshake,
        Self::DuplicatePeer,
        Self::TooManyPeers,
        Self::TorrentChecking,
        Self::MalformedMessage,
        Self::BothSeeds,
        Self::UnexpectedPiece,
        Self::HandshakeTimeout,
        Self::Idle,
        Self::UselessPeer,
        Self::InvalidRequest,
        Self::RequestFlood,
        Self::Shutdown,
        Self::TorrentRemoved,
        Self::DiskError,
        Self::WriteTimeout,
        Self::TorrentPaused,
        Self::Banned,
        Self::IoError,
        Self::ConnectFailed,
    ];

    /// Stable number of the reason (see the module docs).
    pub(crate) fn code(self) -> i32 {
        match self {
            Self::RemoteClosed => 0,
            Self::Os(errno) => errno,
            Self::SelfConnection => -10,
            Self::UnknownInfoHash => -11,
            Self::BadHandshake => -13,
            Self::DuplicatePeer => -16,
            Self::TooManyPeers => -17,
            Self::TorrentChecking => -18,
            Self::MalformedMessage => -22,
            Self::BothSeeds => -25,
            Self::UnexpectedPiece => -26,
            Self::HandshakeTimeout => -30,
            Self::Idle => -40,
            Self::UselessPeer => -41,
            Self::InvalidRequest => -200,
            Self::RequestFlood => -201,
            Self::Shutdown => -202,
            Self::TorrentRemoved => -203,
            Self::DiskError => -204,
            Self::WriteTimeout => -205,
            Self::TorrentPaused => -206,
            Self::Banned => -207,
            Self::IoError => -208,
            Self::ConnectFailed => -209,
        }
    }

    /// The reason for a socket error: its errno when it has one.
    pub(crate) fn from_io(e: &std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(errno) if errno > 0 => Self::Os(errno),
            _ => Self::IoError,
        }
    }

    /// Stable snake_case name (metrics label value, logs, RPC).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::RemoteClosed => "remote_closed",
            Self::Os(_) => "os_error",
            Self::SelfConnection => "self_connection",
            Self::UnknownInfoHash => "unknown_info_hash",
            Self::BadHandshake => "bad_handshake",
            Self::DuplicatePeer => "duplicate_peer",
            Self::TooManyPeers => "too_many_peers",
            Self::TorrentChecking => "torrent_checking",
            Self::MalformedMessage => "malformed_message",
            Self::BothSeeds => "both_seeds",
            Self::UnexpectedPiece => "unexpected_piece",
            Self::HandshakeTimeout => "handshake_timeout",
            Self::Idle => "idle",
            Self::UselessPeer => "useless_peer",
            Self::InvalidRequest => "invalid_request",
            Self::RequestFlood => "request_flood",
            Self::Shutdown => "shutdown",
            Self::TorrentRemoved => "torrent_removed",
            Self::DiskError => "disk_error",
            Self::WriteTimeout => "write_timeout",
            Self::TorrentPaused => "torrent_paused",
            Self::Banned => "banned",
            Self::IoError => "io_error",
            Self::ConnectFailed => "connect_failed",
        }
    }

    /// A one-line human explanation (our own words).
    pub(crate) fn message(self) -> String {
        match self {
            Self::RemoteClosed => "the peer closed the connection".into(),
            Self::Os(errno) => {
                format!("socket error: {}", std::io::Error::from_raw_os_error(errno))
            }
            Self::SelfConnection => "the peer is this daemon itself".into(),
            Self::UnknownInfoHash => "this torrent is not being seeded here".into(),
            Self::BadHandshake => "not a BitTorrent handshake".into(),
            Self::DuplicatePeer => "a connection with this peer id is already open".into(),
            Self::TooManyPeers => "connection limit reached".into(),
            Self::TorrentChecking => "the torrent is being hash checked".into(),
            Self::MalformedMessage => "malformed message".into(),
            Self::BothSeeds => "both sides are seeds".into(),
            Self::UnexpectedPiece => "sent a piece we never requested".into(),
            Self::HandshakeTimeout => "the handshake did not complete in time".into(),
            Self::Idle => "nothing received for too long".into(),
            Self::UselessPeer => "not interested for too long".into(),
            Self::InvalidRequest => "requested a block outside the torrent".into(),
            Self::RequestFlood => "kept sending requests we could not queue".into(),
            Self::Shutdown => "the daemon is shutting down".into(),
            Self::TorrentRemoved => "the torrent was removed".into(),
            Self::DiskError => "reading the data from disk failed".into(),
            Self::WriteTimeout => "the peer stopped reading".into(),
            Self::TorrentPaused => "the torrent was paused".into(),
            Self::Banned => "misbehaviour score reached the ban score".into(),
            Self::IoError => "socket error".into(),
            Self::ConnectFailed => "could not connect to the peer".into(),
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
    fn numbers_are_net_bittorrents_and_unique() {
        let mut codes: Vec<i32> = DisconnectReason::ALL.iter().map(|r| r.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), DisconnectReason::ALL.len());
        let fixed = [
            (DisconnectReason::RemoteClosed, 0),
            (DisconnectReason::SelfConnection, -10),
            (DisconnectReason::UnknownInfoHash, -11),
            (DisconnectReason::BadHandshake, -13),
            (DisconnectReason::DuplicatePeer, -16),
            (DisconnectReason::TooManyPeers, -17),
            (DisconnectReason::TorrentChecking, -18),
            (DisconnectReason::MalformedMessage, -22),
            (DisconnectReason::BothSeeds, -25),
            (DisconnectReason::UnexpectedPiece, -26),
            (DisconnectReason::HandshakeTimeout, -30),
            (DisconnectReason::Idle, -40),
            (DisconnectReason::UselessPeer, -41),
        ];
        for (r, c) in fixed {
            assert_eq!(r.code(), c, "{r:?}");
        }
        // ringseed's own reasons stay in their range.
        for r in DisconnectReason::ALL {
            let c = r.code();
            assert!(c >= -41 || (-299..=-200).contains(&c), "{r:?} = {c}");
        }
    }

    #[test]
    fn os_errors_are_positive_errnos() {
        let e = std::io::Error::from_raw_os_error(libc::ECONNRESET);
        assert_eq!(DisconnectReason::from_io(&e).code(), libc::ECONNRESET);
        let e = std::io::Error::other("x");
        assert_eq!(DisconnectReason::from_io(&e), DisconnectReason::IoError);
    }
}
