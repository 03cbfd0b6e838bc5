//! ringseed-proto: the protocol types of ringseed as pure functions over
//! bytes, no I/O: bencode (a strict and a lenient reader, one canonical
//! writer), piece sets (the BEP 3 bitfield), metainfo, the info hash, piece and block lengths, peer ids, the
//! peer wire protocol and the tracker protocol.

pub mod bencode;
pub mod bitfield;
pub mod info_hash;
pub mod lengths;
pub mod metainfo;
pub mod peer_id;
pub mod tracker;
pub mod wire;
