//! The messages of Transmission 0.80's IPC (seed 002, 0.80's `ipcparse.h`, `ipcparse.c` and the daemon's `server.c`):
//! their names, the version handshake, the v1 and v2 payload shapes, and
//! the replies. Pure: no I/O, no session.

use super::bencode::{self, Ben, Out};
use super::frame;

/// What the server sends on accept, before reading anything: the seed's
/// literal bytes (`min` before `max`, no `label`), which every transcript
/// of the seed shows (byte-exact vectors worked out from 0.80's `ipcparse.c` use them; 0.80 itself sent
/// sorted keys with a label). The one answer whose keys are not sorted.
pub(crate) const GREETING: &[u8] = b"0000001Dd7:versiond3:mini1e3:maxi2eee";

/// Protocol versions the server speaks.
pub(crate) const MIN_VERSION: i64 = 1;
pub(crate) const MAX_VERSION: i64 = 2;

/// Every message name of 0.80 (`enum ipc_msg`), with the version it
/// appeared in and whether ringseed serves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Msg {
    Addfiles,
    AddfileDetailed,
    Automap,
    Autostart,
    BadFormat,
    Directory,
    Downlimit,
    Failed,
    GetAutomap,
    GetAutostart,
    GetDirectory,
    GetDownlimit,
    GetInfo,
    GetInfoAll,
    GetPex,
    GetPort,
    GetStatus,
    GetStatusAll,
    GetSupported,
    GetUplimit,
    Lookup,
    Info,
    Noop,
    NotSupported,
    Pex,
    Port,
    Quit,
    Remove,
    RemoveAll,
    Start,
    StartAll,
    Status,
    Stop,
    StopAll,
    Succeeded,
    Supported,
    Uplimit,
    Version,
}

/// One row of the message table.
#[derive(Debug)]
pub(crate) struct Entry {
    pub name: &'static str,
    pub(crate) msg: Msg,
    /// The protocol version the message needs.
    pub(crate) min_version: i64,
    /// ringseed handles it. Not served: the reply-only names (`info`,
    /// `succeeded`… sent by a client), `version` (handshake only), and the
    /// features ringseed does not have: peer exchange (`pex`, `get-pex`)
    /// and port mapping (`automap`, `get-automap`).
    pub(crate) served: bool,
}

macro_rules! table {
    ($(($name:literal, $msg:ident, $v:literal, $served:literal)),* $(,)?) => {
        /// The table, alphabetical (0.80 puts `lookup` before `info`; ids are internal).
        pub(crate) const TABLE: &[Entry] = &[$(Entry { name: $name, msg: Msg::$msg, min_version: $v, served: $served }),*];
    };
}

table![
    ("addfiles", Addfiles, 1, true),
    ("addfile-detailed", AddfileDetailed, 2, true),
    ("automap", Automap, 2, false),
    ("autostart", Autostart, 2, true),
    ("bad-format", BadFormat, 2, false),
    ("directory", Directory, 2, true),
    ("downlimit", Downlimit, 2, true),
    ("failed", Failed, 2, false),
    ("get-automap", GetAutomap, 2, false),
    ("get-autostart", GetAutostart, 2, true),
    ("get-directory", GetDirectory, 2, true),
    ("get-downlimit", GetDownlimit, 2, true),
    ("get-info", GetInfo, 2, true),
    ("get-info-all", GetInfoAll, 2, true),
    ("get-pex", GetPex, 2, false),
    ("get-port", GetPort, 2, true),
    ("get-status", GetStatus, 2, true),
    ("get-status-all", GetStatusAll, 2, true),
    ("get-supported", GetSupported, 2, true),
    ("get-uplimit", GetUplimit, 2, true),
    ("lookup", Lookup, 2, true),
    ("info", Info, 2, false),
    ("noop", Noop, 2, true),
    ("not-supported", NotSupported, 2, false),
    ("pex", Pex, 2, false),
    ("port", Port, 2, true),
    ("quit", Quit, 1, true),
    ("remove", Remove, 2, true),
    ("remove-all", RemoveAll, 2, true),
    ("start", Start, 2, true),
    ("start-all", StartAll, 2, true),
    ("status", Status, 2, false),
    ("stop", Stop, 2, true),
    ("stop-all", StopAll, 2, true),
    ("succeeded", Succeeded, 2, false),
    ("supported", Supported, 2, false),
    ("uplimit", Uplimit, 2, true),
    ("version", Version, 1, false),
];

/// The table row of a message name.
pub(crate) fn lookup(name: &[u8]) -> Option<&'static Entry> {
    TABLE.iter().find(|e| e.name.as_bytes() == name)
}

/// True when `name` is served on a connection speaking `version`
/// (what `get-supported` lists).
pub(crate) fn supported(name: &[u8], version: i64) -> bool {
    lookup(name).is_some_and(|e| e.served && e.min_version <= version)
}

/// Why a handshake failed; the connection is closed without a word (the
/// greeting was already sent).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The first message is not a dictionary with a `version` key.
    #[error("the first message is not a version message ({0})")]
    NotVersion(&'static str),
    /// `min` or `max` missing, not positive, or `min > max` (0.80's EINVAL).
    #[error("invalid version range min {min}, max {max}")]
    Invalid { min: i64, max: i64 },
    /// No version in common with 1..=2 (0.80's EPERM).
    #[error("no common protocol version: client speaks {min}..={max}, server {MIN_VERSION}..={MAX_VERSION}")]
    NoCommon { min: i64, max: i64 },
}

impl VersionError {
    /// The `kind` label of `ringseed_ipc_errors_total`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            VersionError::NotVersion(_) => "not_version",
            VersionError::Invalid { .. } => "bad_version",
            VersionError::NoCommon { .. } => "no_common_version",
        }
    }
}

/// The version to speak after the client's first message: a dictionary
/// whose `version` is an int N (deprecated form: min = max = N) or a
/// dictionary of int `min` and `max` (missing or not an int: -1). Other
/// keys are ignored.
pub fn negotiate(first: &Ben<'_>) -> Result<i64, VersionError> {
    let Ben::Dict(_) = first else {
        return Err(VersionError::NotVersion(first.type_name()));
    };
    let v = first
        .get(b"version")
        .ok_or(VersionError::NotVersion("no version key"))?;
    let (min, max) = match v {
        Ben::Int(n) => (*n, *n),
        Ben::Dict(_) => {
            let get = |k: &[u8]| v.get(k).and_then(Ben::as_int).unwrap_or(-1);
            (get(b"min"), get(b"max"))
        }
        other => return Err(VersionError::NotVersion(other.type_name())),
    };
    if min <= 0 || max <= 0 || min > i32::MAX as i64 || max > i32::MAX as i64 || min > max {
        return Err(VersionError::Invalid { min, max });
    }
    if min > MAX_VERSION || max < MIN_VERSION {
        return Err(VersionError::NoCommon { min, max });
    }
    Ok(max.min(MAX_VERSION))
}

/// A v2 message: `[name, value]` or `[name, value, tag]`.
#[derive(Debug)]
pub struct Request<'p, 'a> {
    pub name: &'a [u8],
    pub value: &'p Ben<'a>,
    /// The tag when positive; a tag ≤ 0 counts as untagged.
    pub tag: Option<i64>,
}

/// Why a v2 payload is not a message (the connection is closed).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("a v2 message must be a list, not a {0}")]
    NotAList(&'static str),
    #[error("a v2 message needs a name and a value")]
    TooShort,
    #[error("the message name must be a string, not a {0}")]
    NameNotString(&'static str),
    #[error("the tag must be an integer, not a {0}")]
    TagNotInt(&'static str),
}

impl ShapeError {
    /// The `kind` label of `ringseed_ipc_errors_total`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ShapeError::NotAList(_) => "not_a_list",
            ShapeError::TooShort => "short_message",
            ShapeError::NameNotString(_) => "name_not_string",
            ShapeError::TagNotInt(_) => "tag_not_int",
        }
    }
}

/// Reads a v2 payload; elements after the tag are ignored (as 0.80).
pub fn parse_v2<'p, 'a>(payload: &'p Ben<'a>) -> Result<Request<'p, 'a>, ShapeError> {
    let Ben::List(items) = payload else {
        return Err(ShapeError::NotAList(payload.type_name()));
    };
    if items.len() < 2 {
        return Err(ShapeError::TooShort);
    }
    let name = items[0]
        .as_str()
        .ok_or(ShapeError::NameNotString(items[0].type_name()))?;
    let tag = match items.get(2) {
        None => None,
        Some(Ben::Int(t)) => (*t > 0).then_some(*t),
        Some(other) => return Err(ShapeError::TagNotInt(other.type_name())),
    };
    Ok(Request {
        name,
        value: &items[1],
        tag,
    })
}

/// A framed v2 message `[name, value]`, with `tag` appended when there is one.
pub fn message(name: &str, value: Out, tag: Option<i64>) -> Vec<u8> {
    let mut items = vec![bencode::text(name), value];
    if let Some(t) = tag {
        items.push(bencode::int(t));
    }
    frame::encode(&bencode::encode(&bencode::list(items)))
}

/// A framed v2 message `[name, value]` (+ `tag`) whose value is already
/// bencoded: the same bytes as [`message`] with the decoded value.
pub(crate) fn message_raw(name: &str, value: &[u8], tag: Option<i64>) -> Vec<u8> {
    let mut payload = Vec::with_capacity(value.len() + name.len() + 32);
    payload.push(b'l');
    payload.extend_from_slice(&bencode::encode(&bencode::text(name)));
    payload.extend_from_slice(value);
    if let Some(t) = tag {
        payload.extend_from_slice(&bencode::encode(&bencode::int(t)));
    }
    payload.push(b'e');
    frame::encode(&payload)
}

/// `succeeded`, `failed`, `not-supported` or `bad-format` with the empty
/// string as value (0.80 sends `failed` with `""`, never a reason).
pub(crate) fn status_reply(name: &str, tag: Option<i64>) -> Vec<u8> {
    message(name, bencode::text(""), tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::ipc::bencode::decode;

    fn neg(payload: &[u8]) -> Result<i64, VersionError> {
        negotiate(&decode(payload).unwrap())
    }

    #[test]
    fn a_pre_encoded_value_frames_like_a_decoded_one() {
        let v = bencode::list(vec![bencode::int(7), bencode::text("x")]);
        for tag in [None, Some(5), Some(-2)] {
            assert_eq!(
                message_raw("status", &bencode::encode(&v), tag),
                message("status", v.clone(), tag)
            );
        }
    }

    #[test]
    fn version_negotiation_follows_0_80() {
        assert_eq!(neg(b"d7:versiond3:mini1e3:maxi2eee"), Ok(2));
        assert_eq!(neg(b"d7:versiond3:maxi2e3:mini1eee"), Ok(2));
        assert_eq!(neg(b"d7:versiond3:mini1e3:maxi1eee"), Ok(1));
        assert_eq!(neg(b"d7:versiond3:mini1e3:maxi9eee"), Ok(2));
        assert_eq!(neg(b"d7:versioni2ee"), Ok(2), "T3: deprecated int form");
        assert_eq!(
            neg(b"d5:label1:x7:versioni1ee"),
            Ok(1),
            "other keys ignored"
        );
        // T4: no overlap (EPERM); T5: min > max (EINVAL).
        assert_eq!(
            neg(b"d7:versiond3:mini3e3:maxi5eee").unwrap_err().kind(),
            "no_common_version"
        );
        assert_eq!(
            neg(b"d7:versiond3:mini2e3:maxi1eee").unwrap_err().kind(),
            "bad_version"
        );
        assert_eq!(
            neg(b"d7:versiond3:maxi2eee").unwrap_err().kind(),
            "bad_version"
        );
        assert_eq!(neg(b"d7:versioni0ee").unwrap_err().kind(), "bad_version");
        assert_eq!(
            neg(b"d7:versiond3:min1:13:maxi2eee").unwrap_err().kind(),
            "bad_version"
        );
        assert_eq!(
            neg(b"d7:versioni4294967296ee").unwrap_err().kind(),
            "bad_version"
        );
        // T6: a v2 message first.
        assert_eq!(neg(b"l4:noop0:i1ee").unwrap_err().kind(), "not_version");
        assert_eq!(neg(b"d4:quit0:e").unwrap_err().kind(), "not_version");
        assert_eq!(neg(b"d7:version3:twoe").unwrap_err().kind(), "not_version");
    }

    #[test]
    fn v2_shapes_and_tags() {
        let p = decode(b"l5:startli8eei15ee").unwrap();
        let r = parse_v2(&p).unwrap();
        assert_eq!((r.name, r.tag), (&b"start"[..], Some(15)));
        for (payload, tag) in [
            (&b"l4:noop0:i0ee"[..], None),
            (b"l4:noop0:i-3ee", None),
            (b"l4:noop0:e", None),
            (b"l4:noop0:i1e3:xyze", Some(1)),
        ] {
            assert_eq!(parse_v2(&decode(payload).unwrap()).unwrap().tag, tag);
        }
        for (payload, kind) in [
            (&b"d4:porti9090ee"[..], "not_a_list"),
            (b"i5e", "not_a_list"),
            (b"l4:noope", "short_message"),
            (b"le", "short_message"),
            (b"li5e0:e", "name_not_string"),
            (b"l4:noop0:3:tage", "tag_not_int"),
        ] {
            assert_eq!(
                parse_v2(&decode(payload).unwrap()).unwrap_err().kind(),
                kind
            );
        }
    }

    #[test]
    fn replies_are_byte_exact() {
        // T10, T16, T18, T21 of the byte-exact vectors worked out from 0.80's `ipcparse.c`.
        assert_eq!(
            status_reply("succeeded", Some(15)),
            b"00000013l9:succeeded0:i15ee"
        );
        assert_eq!(
            status_reply("succeeded", Some(1)),
            b"00000012l9:succeeded0:i1ee"
        );
        assert_eq!(
            status_reply("not-supported", Some(9)),
            b"00000017l13:not-supported0:i9ee"
        );
        assert_eq!(
            status_reply("bad-format", Some(3)),
            b"00000014l10:bad-format0:i3ee"
        );
        assert_eq!(
            status_reply("failed", Some(20)),
            b"00000010l6:failed0:i20ee"
        );
        assert_eq!(
            message("uplimit", bencode::int(20), None),
            b"0000000Fl7:uplimiti20ee"
        );
    }

    #[test]
    fn the_table_knows_every_0_80_message_and_serves_what_ringseed_has() {
        assert_eq!(TABLE.len(), 38);
        assert!(supported(b"lookup", 2) && supported(b"addfile-detailed", 2));
        assert!(!supported(b"info", 2) && !supported(b"version", 2) && !supported(b"bogus", 2));
        assert!(!supported(b"pex", 2) && !supported(b"automap", 2) && !supported(b"get-pex", 2));
        assert!(supported(b"addfiles", 1) && supported(b"quit", 1) && !supported(b"noop", 1));
    }
}
