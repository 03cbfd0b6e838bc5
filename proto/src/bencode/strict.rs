//! The strict bencode reader, for bytes that are hashed: a torrent's
//! metainfo, whose info hash (BEP 3) is SHA-1 over the exact bytes of its
//! `info` value as they appear in the file.
//!
//! Only canonical bencode is accepted: dictionary keys sorted and unique, no
//! leading zeros, no `-0`. A file that is not canonical would be hashed by
//! other clients after they re-read it their own way, so it is refused
//! rather than guessed at. This is bendy's pull decoder: it borrows from the
//! input, allocates nothing sized by it, and bounds nesting with the depth
//! each caller passes to [`decoder`]. Peer, tracker and client input goes
//! through [`lenient`](super::lenient) instead.

pub use bendy::decoding::{Decoder, DictDecoder, Error, ListDecoder, Object};

/// A strict decoder over `input` that refuses nesting deeper than
/// `max_depth` containers.
pub fn decoder(input: &[u8], max_depth: usize) -> Decoder<'_> {
    Decoder::new(input).with_max_depth(max_depth)
}

/// True when `e` says the input ended in the middle of a value (or was
/// empty), false for any other error.
pub fn is_truncation(e: &Error) -> bool {
    // bendy does not expose its error kind; its EOF message is stable text.
    e.to_string().contains("EOF")
}
