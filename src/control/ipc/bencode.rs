//! Bencode for the IPC: the lenient reader for what clients send, and
//! bendy's canonical writer for what we answer, both from
//! [`ringseed_proto::bencode`], with the IPC's bounds.
//!
//! Why the lenient reader: the seed's own handshake
//! (`d7:versiond3:mini1e3:maxi2eee`, `min` before `max`) and every
//! pre-2007-06-29 Transmission client send unsorted keys, which canonical
//! bencode refuses. The reader accepts either key order (a repeated key:
//! the first one counts, as 0.80's `tr_bencDictFind`), keeps dictionary
//! pairs in wire order (v1 messages are processed in that order), and
//! otherwise stays strict: the payload must be exactly one value (no
//! leading junk, no trailing bytes, no unterminated list), integers fit in
//! 64 bits.
//!
//! Bounds (a payload is already capped by the frame limit): nesting at most
//! [`MAX_DEPTH`] deep, at most [`MAX_VALUES`] values; strings are slices of
//! the payload, so a length prefix is checked against the bytes present and
//! never allocates.
//!
//! Answers are built as [`Out`] values (dictionaries are `BTreeMap`s) and
//! encoded by bendy: keys sorted bytewise on output.

use ringseed_proto::bencode::lenient::{self, Limits};

pub use ringseed_proto::bencode::lenient::{Ben, Error as BencodeError};
pub use ringseed_proto::bencode::{bytes, dict, encode, int, list, text, Value as Out};

/// Deepest nesting accepted (a v2 message needs 3: list → dict → list).
pub(crate) const MAX_DEPTH: usize = 16;
/// Most values in one message (a list of 131,072 torrent ids is plenty).
pub(crate) const MAX_VALUES: usize = 1 << 17;

/// Decodes a payload that must be exactly one bencoded value.
///
/// Errors: [`BencodeError`] (syntax, truncation, trailing bytes, too deep, too many values).
pub fn decode(payload: &[u8]) -> Result<Ben<'_>, BencodeError> {
    lenient::decode(
        payload,
        Limits {
            max_depth: MAX_DEPTH,
            max_values: MAX_VALUES,
        },
    )
}
