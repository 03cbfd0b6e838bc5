//! The peer wire protocol as pure functions over bytes: no sockets, no clocks.
//!
//! - BEP 3: the 68-byte handshake and the length-prefixed messages
//!   (choke … cancel, plus `port` from BEP 5, parsed and ignored by a seed).
//! - BEP 6 (Fast extension): `suggest`, `have_all`, `have_none`,
//!   `reject_request`, `allowed_fast`, and the allowed-fast set generator.
//! - BEP 10 (extension protocol): the `extended` message and the extension
//!   handshake dictionary (`m`, `v`, `reqq`, `yourip`, `upload_only`, `p`).
//!
//! Decoding never allocates: messages borrow from the input buffer, and a
//! frame's length prefix is checked against a caller-chosen maximum before
//! anything waits for the payload, so a peer can never size an allocation.
//! The extension handshake is read by the lenient bencode reader (keys in
//! any order, bounded depth and value count) and written canonical (keys
//! sorted) by bendy.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;
use serde_bytes::ByteBuf;
use sha1::{Digest, Sha1};

use crate::bencode::lenient::{self, Ben};
use crate::bencode::{self, present};
use crate::info_hash::InfoHash;

/// The protocol string of the BEP 3 handshake (19 bytes).
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";
/// Length of the BEP 3 handshake in bytes: 1 + 19 + 8 reserved + 20 info hash + 20 peer id.
pub const HANDSHAKE_LEN: usize = 68;
/// Length of a `piece` message header in bytes: 4 length + 1 id + 4 index + 4 begin.
pub const PIECE_HEADER_LEN: usize = 13;
/// Extended message id of the BEP 10 extension handshake.
pub const EXTENDED_HANDSHAKE_ID: u8 = 0;

/// Message ids (BEP 3, BEP 5 `port`, BEP 6, BEP 10).
pub mod id {
    pub const CHOKE: u8 = 0;
    pub const UNCHOKE: u8 = 1;
    pub const INTERESTED: u8 = 2;
    pub const NOT_INTERESTED: u8 = 3;
    pub const HAVE: u8 = 4;
    pub const BITFIELD: u8 = 5;
    pub const REQUEST: u8 = 6;
    pub const PIECE: u8 = 7;
    pub const CANCEL: u8 = 8;
    pub const PORT: u8 = 9;
    pub const SUGGEST: u8 = 0x0D;
    pub const HAVE_ALL: u8 = 0x0E;
    pub const HAVE_NONE: u8 = 0x0F;
    pub const REJECT: u8 = 0x10;
    pub const ALLOWED_FAST: u8 = 0x11;
    pub const EXTENDED: u8 = 20;
}

/// Errors of the wire layer; each names the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The first 20 bytes of the handshake are not `\x13BitTorrent protocol`.
    #[error("not a BitTorrent handshake (first bytes {0:02x?})")]
    NotBitTorrent([u8; 20]),
    /// A frame's length prefix exceeds the receiver's limit.
    #[error("message length {len} exceeds the limit of {max} bytes")]
    TooLong { len: u32, max: u32 },
    /// A message's payload has the wrong size for its id.
    #[error("message id {id} has a {got}-byte payload, expected {expected}")]
    BadLength {
        id: u8,
        got: usize,
        expected: &'static str,
    },
    /// A bencoded extension message could not be decoded.
    #[error("bad extension message: {0}")]
    BadExtension(String),
}

/// BEP 3 handshake. Reserved bits: BEP 10 is `reserved[5] & 0x10`, BEP 6 is
/// `reserved[7] & 0x04`, BEP 5 (DHT) is `reserved[7] & 0x01`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshake {
    pub reserved: [u8; 8],
    pub info_hash: InfoHash,
    pub peer_id: [u8; 20],
}

impl Handshake {
    /// A handshake advertising the Fast extension (BEP 6) and the extension protocol (BEP 10).
    pub fn new(info_hash: InfoHash, peer_id: [u8; 20]) -> Self {
        let mut reserved = [0u8; 8];
        reserved[5] |= 0x10;
        reserved[7] |= 0x04;
        Handshake {
            reserved,
            info_hash,
            peer_id,
        }
    }

    /// True when the peer set the BEP 6 bit.
    pub fn supports_fast(&self) -> bool {
        self.reserved[7] & 0x04 != 0
    }

    /// True when the peer set the BEP 10 bit.
    pub fn supports_extensions(&self) -> bool {
        self.reserved[5] & 0x10 != 0
    }

    /// The 68 bytes on the wire.
    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        out[0] = 19;
        out[1..20].copy_from_slice(PROTOCOL);
        out[20..28].copy_from_slice(&self.reserved);
        out[28..48].copy_from_slice(&self.info_hash.0);
        out[48..68].copy_from_slice(&self.peer_id);
        out
    }

    /// Only the first 48 bytes (protocol, reserved, info hash): a receiver
    /// checks the info hash before it sends its own handshake.
    ///
    /// Errors: [`WireError::NotBitTorrent`] when the protocol prefix is wrong.
    pub fn decode_prefix(buf: &[u8; 48]) -> Result<([u8; 8], InfoHash), WireError> {
        if buf[0] != 19 || &buf[1..20] != PROTOCOL {
            let mut first = [0u8; 20];
            first.copy_from_slice(&buf[..20]);
            return Err(WireError::NotBitTorrent(first));
        }
        let mut reserved = [0u8; 8];
        reserved.copy_from_slice(&buf[20..28]);
        let mut ih = [0u8; 20];
        ih.copy_from_slice(&buf[28..48]);
        Ok((reserved, InfoHash(ih)))
    }

    /// Decodes the full 68-byte handshake.
    ///
    /// Errors: [`WireError::NotBitTorrent`] when the protocol prefix is wrong.
    pub fn decode(buf: &[u8; HANDSHAKE_LEN]) -> Result<Self, WireError> {
        let prefix: &[u8; 48] = buf[..48].try_into().expect("48 bytes");
        let (reserved, info_hash) = Self::decode_prefix(prefix)?;
        let mut peer_id = [0u8; 20];
        peer_id.copy_from_slice(&buf[48..]);
        Ok(Handshake {
            reserved,
            info_hash,
            peer_id,
        })
    }
}

/// One peer wire message, borrowing its variable-length parts from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    KeepAlive,
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Have(u32),
    /// Raw bitfield bytes, high bit of byte 0 = piece 0 (BEP 3).
    Bitfield(&'a [u8]),
    Request {
        index: u32,
        begin: u32,
        length: u32,
    },
    Piece {
        index: u32,
        begin: u32,
        block: &'a [u8],
    },
    Cancel {
        index: u32,
        begin: u32,
        length: u32,
    },
    /// BEP 5 DHT port; a seed without DHT ignores it.
    Port(u16),
    Suggest(u32),
    HaveAll,
    HaveNone,
    Reject {
        index: u32,
        begin: u32,
        length: u32,
    },
    AllowedFast(u32),
    /// BEP 10: extended message id and its payload.
    Extended {
        id: u8,
        payload: &'a [u8],
    },
    /// A message id this implementation does not know (ignored, as BEP 3 asks).
    Unknown {
        id: u8,
        payload: &'a [u8],
    },
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn expect_len(id: u8, body: &[u8], n: usize, expected: &'static str) -> Result<(), WireError> {
    if body.len() != n {
        return Err(WireError::BadLength {
            id,
            got: body.len(),
            expected,
        });
    }
    Ok(())
}

impl<'a> Message<'a> {
    /// Decodes one message from its frame payload: everything after the
    /// 4-byte length prefix (an empty payload is a keep-alive).
    ///
    /// Errors: [`WireError::BadLength`] when the payload does not fit its id.
    pub fn decode(payload: &'a [u8]) -> Result<Self, WireError> {
        let Some((&mid, body)) = payload.split_first() else {
            return Ok(Message::KeepAlive);
        };
        let triple = |body: &[u8]| -> Result<(u32, u32, u32), WireError> {
            expect_len(mid, body, 12, "12")?;
            Ok((be32(body), be32(&body[4..]), be32(&body[8..])))
        };
        Ok(match mid {
            id::CHOKE
            | id::UNCHOKE
            | id::INTERESTED
            | id::NOT_INTERESTED
            | id::HAVE_ALL
            | id::HAVE_NONE => {
                expect_len(mid, body, 0, "0")?;
                match mid {
                    id::CHOKE => Message::Choke,
                    id::UNCHOKE => Message::Unchoke,
                    id::INTERESTED => Message::Interested,
                    id::NOT_INTERESTED => Message::NotInterested,
                    id::HAVE_ALL => Message::HaveAll,
                    _ => Message::HaveNone,
                }
            }
            id::HAVE | id::SUGGEST | id::ALLOWED_FAST => {
                expect_len(mid, body, 4, "4")?;
                let v = be32(body);
                match mid {
                    id::HAVE => Message::Have(v),
                    id::SUGGEST => Message::Suggest(v),
                    _ => Message::AllowedFast(v),
                }
            }
            id::BITFIELD => Message::Bitfield(body),
            id::REQUEST => {
                let (index, begin, length) = triple(body)?;
                Message::Request {
                    index,
                    begin,
                    length,
                }
            }
            id::CANCEL => {
                let (index, begin, length) = triple(body)?;
                Message::Cancel {
                    index,
                    begin,
                    length,
                }
            }
            id::REJECT => {
                let (index, begin, length) = triple(body)?;
                Message::Reject {
                    index,
                    begin,
                    length,
                }
            }
            id::PIECE => {
                if body.len() < 8 {
                    return Err(WireError::BadLength {
                        id: mid,
                        got: body.len(),
                        expected: ">= 8",
                    });
                }
                Message::Piece {
                    index: be32(body),
                    begin: be32(&body[4..]),
                    block: &body[8..],
                }
            }
            id::PORT => {
                expect_len(mid, body, 2, "2")?;
                Message::Port(u16::from_be_bytes([body[0], body[1]]))
            }
            id::EXTENDED => {
                let Some((&ext, payload)) = body.split_first() else {
                    return Err(WireError::BadLength {
                        id: mid,
                        got: 0,
                        expected: ">= 1",
                    });
                };
                Message::Extended { id: ext, payload }
            }
            _ => Message::Unknown {
                id: mid,
                payload: body,
            },
        })
    }

    /// Appends the message, with its 4-byte length prefix, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let put_triple = |out: &mut Vec<u8>, mid: u8, a: u32, b: u32, c: u32| {
            out.extend_from_slice(&13u32.to_be_bytes());
            out.push(mid);
            out.extend_from_slice(&a.to_be_bytes());
            out.extend_from_slice(&b.to_be_bytes());
            out.extend_from_slice(&c.to_be_bytes());
        };
        let put_simple = |out: &mut Vec<u8>, mid: u8| {
            out.extend_from_slice(&1u32.to_be_bytes());
            out.push(mid);
        };
        let put_u32 = |out: &mut Vec<u8>, mid: u8, v: u32| {
            out.extend_from_slice(&5u32.to_be_bytes());
            out.push(mid);
            out.extend_from_slice(&v.to_be_bytes());
        };
        match *self {
            Message::KeepAlive => out.extend_from_slice(&0u32.to_be_bytes()),
            Message::Choke => put_simple(out, id::CHOKE),
            Message::Unchoke => put_simple(out, id::UNCHOKE),
            Message::Interested => put_simple(out, id::INTERESTED),
            Message::NotInterested => put_simple(out, id::NOT_INTERESTED),
            Message::HaveAll => put_simple(out, id::HAVE_ALL),
            Message::HaveNone => put_simple(out, id::HAVE_NONE),
            Message::Have(i) => put_u32(out, id::HAVE, i),
            Message::Suggest(i) => put_u32(out, id::SUGGEST, i),
            Message::AllowedFast(i) => put_u32(out, id::ALLOWED_FAST, i),
            Message::Bitfield(b) => {
                out.extend_from_slice(&(1 + b.len() as u32).to_be_bytes());
                out.push(id::BITFIELD);
                out.extend_from_slice(b);
            }
            Message::Request {
                index,
                begin,
                length,
            } => put_triple(out, id::REQUEST, index, begin, length),
            Message::Cancel {
                index,
                begin,
                length,
            } => put_triple(out, id::CANCEL, index, begin, length),
            Message::Reject {
                index,
                begin,
                length,
            } => put_triple(out, id::REJECT, index, begin, length),
            Message::Piece {
                index,
                begin,
                block,
            } => {
                out.extend_from_slice(&piece_header(index, begin, block.len() as u32));
                out.extend_from_slice(block);
            }
            Message::Port(p) => {
                out.extend_from_slice(&3u32.to_be_bytes());
                out.push(id::PORT);
                out.extend_from_slice(&p.to_be_bytes());
            }
            Message::Extended { id: ext, payload } => {
                out.extend_from_slice(&(2 + payload.len() as u32).to_be_bytes());
                out.push(id::EXTENDED);
                out.push(ext);
                out.extend_from_slice(payload);
            }
            Message::Unknown { id: mid, payload } => {
                out.extend_from_slice(&(1 + payload.len() as u32).to_be_bytes());
                out.push(mid);
                out.extend_from_slice(payload);
            }
        }
    }
}

/// The 13-byte header of a `piece` message carrying `block_len` bytes
/// (length prefix = 9 + block_len, id 7, index, begin), written in front of
/// a block that is already in its send buffer.
pub fn piece_header(index: u32, begin: u32, block_len: u32) -> [u8; PIECE_HEADER_LEN] {
    let mut h = [0u8; PIECE_HEADER_LEN];
    h[..4].copy_from_slice(&(9 + block_len).to_be_bytes());
    h[4] = id::PIECE;
    h[5..9].copy_from_slice(&index.to_be_bytes());
    h[9..13].copy_from_slice(&begin.to_be_bytes());
    h
}

/// Looks for one complete frame at the start of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed, or `Ok(Some((payload_range_end, message)))`
/// where the first value is the number of bytes the frame occupies (prefix included).
/// The length prefix is checked against `max_len` (bytes, payload only) as soon as its
/// 4 bytes are in, so a hostile 2 GiB prefix is refused without waiting or allocating.
///
/// Errors: [`WireError::TooLong`], or whatever [`Message::decode`] reports.
pub fn parse_frame(buf: &[u8], max_len: u32) -> Result<Option<(usize, Message<'_>)>, WireError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = be32(buf);
    if len > max_len {
        return Err(WireError::TooLong { len, max: max_len });
    }
    let total = 4 + len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    Message::decode(&buf[4..total]).map(|m| Some((total, m)))
}

/// The BEP 6 allowed-fast set: `k` piece indexes derived from the peer's IPv4
/// address (masked to /24) and the info hash by repeated SHA-1, as BEP 6 specifies.
///
/// BEP 6 defines the set for IPv4 only; IPv4-mapped IPv6 addresses are treated as
/// IPv4 and other IPv6 peers get an empty set (libtorrent does the same).
/// `k` is capped at `num_pieces` so the loop always ends.
pub fn allowed_fast_set(ip: IpAddr, info_hash: &InfoHash, num_pieces: u32, k: usize) -> Vec<u32> {
    let v4 = match ip {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4,
            None => return Vec::new(),
        },
    };
    let k = k.min(num_pieces as usize);
    let mut set = Vec::with_capacity(k);
    if k == 0 {
        return set;
    }
    let masked = u32::from(v4) & 0xFFFF_FF00;
    let mut x = [0u8; 24];
    x[..4].copy_from_slice(&masked.to_be_bytes());
    x[4..].copy_from_slice(&info_hash.0);
    let mut digest: [u8; 20] = Sha1::digest(x).into();
    loop {
        for i in 0..5 {
            if set.len() >= k {
                return set;
            }
            let y = be32(&digest[i * 4..]);
            let index = y % num_pieces;
            if !set.contains(&index) {
                set.push(index);
            }
        }
        digest = Sha1::digest(digest).into();
    }
}

/// The BEP 10 extension handshake (extended message id 0), the fields a seed
/// sends and reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtHandshake {
    /// `m`: extension name → the sender's message id (none are offered by ringseed yet).
    pub extensions: Vec<(String, u8)>,
    /// `v`: client name and version, e.g. `ringseed 0.1.0`.
    pub client: Option<String>,
    /// `reqq`: how many outstanding requests the sender accepts per peer.
    pub reqq: Option<u32>,
    /// `yourip`: the receiver's address as the sender sees it (4 or 16 bytes).
    pub yourip: Option<IpAddr>,
    /// `upload_only`: the sender only uploads (it is a seed), BEP 21.
    pub upload_only: bool,
    /// `p`: the sender's listen port.
    pub listen_port: Option<u16>,
}

/// Bounds of the lenient reader on an extension handshake: BEP 10 keeps it
/// shallow (`m` is the one nested dictionary), and the frame limit already
/// caps its size.
const EXT_LIMITS: lenient::Limits = lenient::Limits {
    max_depth: 8,
    max_values: 1 << 12,
};

/// Most `m` entries kept from a peer's handshake.
const MAX_EXTENSIONS: usize = 64;

/// How an [`ExtHandshake`] goes on the wire: keys (and the names in `m`)
/// sorted, absent fields left out.
#[derive(Serialize)]
struct ExtHandshakeOut<'a> {
    m: BTreeMap<&'a str, u8>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "present")]
    p: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "present")]
    reqq: Option<u32>,
    /// Written only when set, as `1`.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "present")]
    upload_only: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "present")]
    v: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "present")]
    yourip: Option<ByteBuf>,
}

impl ExtHandshake {
    /// Bencodes the handshake dictionary (the payload after the extended id
    /// byte), canonical: keys sorted, and the names in `m` too (a name listed
    /// twice keeps its first id).
    pub fn encode(&self) -> Vec<u8> {
        let mut m = BTreeMap::new();
        for (name, mid) in &self.extensions {
            m.entry(name.as_str()).or_insert(*mid);
        }
        bencode::to_bytes(&ExtHandshakeOut {
            m,
            p: self.listen_port,
            reqq: self.reqq,
            upload_only: self.upload_only.then_some(1),
            v: self.client.as_deref(),
            yourip: self.yourip.map(|ip| {
                ByteBuf::from(match ip {
                    IpAddr::V4(a) => a.octets().to_vec(),
                    IpAddr::V6(a) => a.octets().to_vec(),
                })
            }),
        })
    }

    /// Decodes a peer's handshake dictionary with the lenient reader: keys
    /// in any order, a repeated key counts once (the first); unknown keys and
    /// keys of the wrong type are ignored (BEP 10 allows any key), but the
    /// payload must be one well-formed bencoded dictionary.
    ///
    /// Errors: [`WireError::BadExtension`] with the decoder's reason.
    pub fn decode(payload: &[u8]) -> Result<Self, WireError> {
        let bad = |e: lenient::Error| WireError::BadExtension(e.to_string());
        let dict = lenient::decode(payload, EXT_LIMITS).map_err(bad)?;
        if dict.as_dict().is_none() {
            return Err(WireError::BadExtension("not a dictionary".into()));
        }
        let mut out = ExtHandshake::default();
        if let Some(Ben::Dict(m)) = dict.get(b"m") {
            for (name, v) in m {
                if let (Ok(name), Ben::Int(i)) = (std::str::from_utf8(name), v) {
                    if let Ok(i) = u8::try_from(*i) {
                        let known = out.extensions.iter().any(|(n, _)| n == name);
                        if !known && out.extensions.len() < MAX_EXTENSIONS {
                            out.extensions.push((name.to_owned(), i));
                        }
                    }
                }
            }
        }
        if let Some(Ben::Str(v)) = dict.get(b"v") {
            // Bounded: a hostile peer cannot make us keep a long name.
            let v = &v[..v.len().min(64)];
            out.client = Some(String::from_utf8_lossy(v).into_owned());
        }
        if let Some(Ben::Int(i)) = dict.get(b"reqq") {
            out.reqq = u32::try_from(*i).ok();
        }
        if let Some(Ben::Int(i)) = dict.get(b"p") {
            out.listen_port = u16::try_from(*i).ok();
        }
        if let Some(Ben::Int(i)) = dict.get(b"upload_only") {
            out.upload_only = *i != 0;
        }
        if let Some(Ben::Str(b)) = dict.get(b"yourip") {
            out.yourip = match b.len() {
                4 => Some(IpAddr::from(<[u8; 4]>::try_from(*b).expect("4 bytes"))),
                16 => Some(IpAddr::from(<[u8; 16]>::try_from(*b).expect("16 bytes"))),
                _ => None,
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn roundtrip(m: Message<'_>) {
        let mut out = Vec::new();
        m.encode(&mut out);
        let (n, back) = parse_frame(&out, 1 << 20).unwrap().unwrap();
        assert_eq!(n, out.len());
        assert_eq!(back, m);
    }

    #[test]
    fn every_message_round_trips() {
        for m in [
            Message::KeepAlive,
            Message::Choke,
            Message::Unchoke,
            Message::Interested,
            Message::NotInterested,
            Message::Have(7),
            Message::Bitfield(&[0xff, 0x80]),
            Message::Request {
                index: 1,
                begin: 16384,
                length: 16384,
            },
            Message::Piece {
                index: 3,
                begin: 0,
                block: b"hello",
            },
            Message::Cancel {
                index: 1,
                begin: 2,
                length: 3,
            },
            Message::Port(6881),
            Message::Suggest(9),
            Message::HaveAll,
            Message::HaveNone,
            Message::Reject {
                index: 4,
                begin: 5,
                length: 6,
            },
            Message::AllowedFast(11),
            Message::Extended {
                id: 0,
                payload: b"de",
            },
            Message::Unknown {
                id: 99,
                payload: b"xyz",
            },
        ] {
            roundtrip(m);
        }
    }

    #[test]
    fn huge_length_prefix_is_refused_before_the_payload_arrives() {
        let buf = 0x8000_0000u32.to_be_bytes();
        assert_eq!(
            parse_frame(&buf, 1 << 17),
            Err(WireError::TooLong {
                len: 0x8000_0000,
                max: 1 << 17
            })
        );
    }

    #[test]
    fn partial_frame_asks_for_more() {
        let mut out = Vec::new();
        Message::Request {
            index: 1,
            begin: 0,
            length: 16384,
        }
        .encode(&mut out);
        for cut in 0..out.len() {
            assert_eq!(parse_frame(&out[..cut], 1 << 17), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn request_with_wrong_payload_size_is_malformed() {
        let buf = [0, 0, 0, 5, id::REQUEST, 0, 0, 0, 1];
        assert!(matches!(
            parse_frame(&buf, 100),
            Err(WireError::BadLength { id: 6, got: 4, .. })
        ));
        let buf = [0, 0, 0, 2, id::CHOKE, 0];
        assert!(matches!(
            parse_frame(&buf, 100),
            Err(WireError::BadLength { id: 0, .. })
        ));
    }

    #[test]
    fn handshake_round_trips_and_reports_reserved_bits() {
        let hs = Handshake::new(InfoHash([7; 20]), *b"-RS0100-abcdefghijkl");
        let bytes = hs.encode();
        assert_eq!(bytes[0], 19);
        let back = Handshake::decode(&bytes).unwrap();
        assert_eq!(back, hs);
        assert!(back.supports_fast() && back.supports_extensions());
        let mut bad = bytes;
        bad[1] = b'b';
        assert!(matches!(
            Handshake::decode(&bad),
            Err(WireError::NotBitTorrent(_))
        ));
    }

    #[test]
    fn piece_header_matches_encoded_piece() {
        let block = [1u8; 100];
        let mut out = Vec::new();
        Message::Piece {
            index: 5,
            begin: 32768,
            block: &block,
        }
        .encode(&mut out);
        assert_eq!(&out[..PIECE_HEADER_LEN], &piece_header(5, 32768, 100));
    }

    /// The worked example of BEP 6: IP 80.4.4.200, info hash 0xaa × 20,
    /// 1313 pieces, k = 7 → 1059,431,808,1217,287,376,1188 (and 9 → +353,508).
    #[test]
    fn allowed_fast_set_matches_the_bep6_example() {
        let ip = IpAddr::V4(Ipv4Addr::new(80, 4, 4, 200));
        let ih = InfoHash([0xaa; 20]);
        assert_eq!(
            allowed_fast_set(ip, &ih, 1313, 7),
            vec![1059, 431, 808, 1217, 287, 376, 1188]
        );
        assert_eq!(
            allowed_fast_set(ip, &ih, 1313, 9),
            vec![1059, 431, 808, 1217, 287, 376, 1188, 353, 508]
        );
    }

    #[test]
    fn allowed_fast_set_is_capped_by_piece_count() {
        let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let set = allowed_fast_set(ip, &InfoHash([1; 20]), 3, 10);
        assert_eq!(set.len(), 3);
        assert!(allowed_fast_set("::1".parse().unwrap(), &InfoHash([1; 20]), 100, 10).is_empty());
    }

    #[test]
    fn ext_handshake_round_trips() {
        let hs = ExtHandshake {
            extensions: vec![("ut_metadata".into(), 3)],
            client: Some("ringseed 0.1.0".into()),
            reqq: Some(500),
            yourip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            upload_only: true,
            listen_port: Some(6881),
        };
        let bytes = hs.encode();
        assert_eq!(ExtHandshake::decode(&bytes).unwrap(), hs);
    }

    #[test]
    fn ext_handshake_refuses_garbage_and_bounds_client_name() {
        assert!(ExtHandshake::decode(b"not bencode").is_err());
        assert!(ExtHandshake::decode(b"li1ee").is_err());
        let long = format!("d1:v200:{}e", "x".repeat(200));
        assert_eq!(
            ExtHandshake::decode(long.as_bytes())
                .unwrap()
                .client
                .unwrap()
                .len(),
            64
        );
    }

    /// What ringseed sends, byte for byte as the closure encoder wrote it
    /// before bendy's serde did (names in `m` sorted both times).
    #[test]
    fn ext_handshake_bytes_are_canonical() {
        let ours = ExtHandshake {
            extensions: Vec::new(),
            client: Some("ringseed 0.1.0".into()),
            reqq: Some(500),
            yourip: Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1))),
            upload_only: true,
            listen_port: Some(6881),
        };
        assert_eq!(
            ours.encode(),
            b"d1:mde1:pi6881e4:reqqi500e11:upload_onlyi1e1:v14:ringseed 0.1.06:yourip4:\x7f\0\0\x01e"
        );
        let m = ExtHandshake {
            extensions: vec![("ut_pex".into(), 1), ("ut_metadata".into(), 2)],
            ..Default::default()
        };
        assert_eq!(m.encode(), b"d1:md11:ut_metadatai2e6:ut_pexi1eee");
    }

    #[test]
    fn unsorted_ext_handshake_is_accepted_and_the_first_key_wins() {
        // `v` before `m`, `reqq` after `p`, `ut_pex` before `ut_metadata`,
        // `reqq` and `ut_pex` repeated: as libtorrent and Transmission read it.
        let hs = ExtHandshake::decode(
            b"d1:v6:peer 11:pi7000e4:reqqi250e4:reqqi9e1:md6:ut_pexi1e11:ut_metadatai2e6:ut_pexi5eee",
        )
        .unwrap();
        assert_eq!(
            hs,
            ExtHandshake {
                extensions: vec![("ut_pex".into(), 1), ("ut_metadata".into(), 2)],
                client: Some("peer 1".into()),
                reqq: Some(250),
                yourip: None,
                upload_only: false,
                listen_port: Some(7000),
            }
        );
    }
}
