//! Raw BitTorrent peers for wire-level tests: blocking std sockets, one
//! message at a time, nothing hidden (BEP 3 framing, BEP 6 bits) — free
//! functions over a `TcpStream`, and [`RawPeer`], which also counts every
//! byte it sends and reads by message type.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ringseed::metainfo::InfoHash;
use ringseed::wire::{Handshake, Message};

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Handshake as a peer with or without BEP 6; returns the stream after the
/// seeder's handshake and its first message (bitfield / have_all) were read.
pub fn handshake(addr: SocketAddr, ih: InfoHash, fast: bool) -> TcpStream {
    handshake_first(addr, ih, fast).0
}

/// Like [`handshake`], also returning the seeder's first message (id + body).
pub fn handshake_first(addr: SocketAddr, ih: InfoHash, fast: bool) -> (TcpStream, Vec<u8>) {
    handshake_stream(connect(addr), ih, fast)
}

/// [`handshake_first`] on a stream the caller connected (from a chosen
/// source address, say).
pub fn handshake_stream(mut s: TcpStream, ih: InfoHash, fast: bool) -> (TcpStream, Vec<u8>) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let mut id = *b"-XX0001-rawpeer00000";
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    id[15..].copy_from_slice(format!("{n:05}").as_bytes());
    let mut hs = Handshake::new(ih, id);
    hs.reserved = [0; 8];
    if fast {
        hs.reserved[7] |= 0x04;
    }
    s.write_all(&hs.encode()).unwrap();
    let mut theirs = [0u8; 68];
    s.read_exact(&mut theirs).unwrap();
    let first = read_msg(&mut s).expect("first message");
    assert!(
        first[0] == 5 || first[0] == 0x0E,
        "bitfield or have_all first, got id {}",
        first[0]
    );
    (s, first)
}

/// One message payload (id + body); `None` when the connection closed.
pub fn read_msg(s: &mut TcpStream) -> Option<Vec<u8>> {
    loop {
        let mut len = [0u8; 4];
        s.read_exact(&mut len).ok()?;
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 {
            continue;
        }
        assert!(len < 1 << 20);
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).ok()?;
        return Some(body);
    }
}

pub fn send(s: &mut TcpStream, m: Message<'_>) {
    let mut out = Vec::new();
    m.encode(&mut out);
    s.write_all(&out).unwrap();
}

/// Reads until a message with id `id` arrives (others are skipped); `None` on close.
pub fn read_until(s: &mut TcpStream, id: u8) -> Option<Vec<u8>> {
    loop {
        let m = read_msg(s)?;
        if m[0] == id {
            return Some(m);
        }
    }
}

/// True once the seeder closed the connection (EOF or reset) within 10 s.
pub fn closed_by_seeder(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return true,
            Ok(_) => {}
        }
    }
    false
}

/// Waits for the seeder's log line saying this connection closed for `reason`.
pub fn assert_reason(seeder: &super::Seeder, s: &TcpStream, reason: &str) {
    let me = s.local_addr().unwrap().to_string();
    seeder.wait_log(
        &[
            "peer closed",
            &format!("peer={me} "),
            &format!("reason={reason}"),
        ],
        Duration::from_secs(10),
    );
}

/// The `bytes*_per_msg` key of a frame payload: the message's name
/// (`messages::MSG_NAMES`, BEP 3, 6 and 10 ids), `*other*` for an unknown id
/// (as Bitcoin Core's `getpeerinfo` counts unknown commands, seed 003).
pub fn msg_name(payload: &[u8]) -> &'static str {
    match payload.first() {
        None => "keep_alive",
        Some(0) => "choke",
        Some(1) => "unchoke",
        Some(2) => "interested",
        Some(3) => "not_interested",
        Some(4) => "have",
        Some(5) => "bitfield",
        Some(6) => "request",
        Some(7) => "piece",
        Some(8) => "cancel",
        Some(9) => "port",
        Some(13) => "suggest_piece",
        Some(14) => "have_all",
        Some(15) => "have_none",
        Some(16) => "reject_request",
        Some(17) => "allowed_fast",
        Some(20) => "extended",
        Some(_) => "*other*",
    }
}

/// A peer id `-ZZ0042-` + `tag` (Azureus style: client `ZZ` 0.0.4.2).
pub fn peer_id(tag: &[u8; 12]) -> [u8; 20] {
    let mut id = *b"-ZZ0042-000000000000";
    id[8..].copy_from_slice(tag);
    id
}

/// A raw BitTorrent peer that counts every byte it sends and reads, by
/// message type, as `getpeerinfo` should (length prefix included).
pub struct RawPeer {
    pub s: TcpStream,
    pub sent: BTreeMap<String, u64>,
    pub got: BTreeMap<String, u64>,
}

impl RawPeer {
    /// Connects and sends our handshake; reads the seeder's when `expect_answer`.
    pub fn connect(
        addr: SocketAddr,
        ih: InfoHash,
        reserved: [u8; 8],
        peer_id: [u8; 20],
        expect_answer: bool,
    ) -> RawPeer {
        let mut p = RawPeer {
            s: connect(addr),
            sent: BTreeMap::new(),
            got: BTreeMap::new(),
        };
        let mut hs = Handshake::new(ih, peer_id);
        hs.reserved = reserved;
        p.s.write_all(&hs.encode()).unwrap();
        *p.sent.entry("handshake".into()).or_default() += 68;
        if expect_answer {
            let mut theirs = [0u8; 68];
            p.s.read_exact(&mut theirs).unwrap();
            assert_eq!(
                &theirs[28..48],
                &ih.0,
                "the seeder's handshake names our torrent"
            );
            *p.got.entry("handshake".into()).or_default() += 68;
        }
        p
    }

    pub fn port(&self) -> u16 {
        self.s.local_addr().unwrap().port()
    }

    pub fn send_frame(&mut self, frame: &[u8]) {
        self.s.write_all(frame).unwrap();
        *self.sent.entry(msg_name(&frame[4..]).into()).or_default() += frame.len() as u64;
    }

    pub fn send(&mut self, m: Message<'_>) {
        let mut out = Vec::new();
        m.encode(&mut out);
        self.send_frame(&out);
    }

    /// One frame's payload (empty for a keep-alive); `None` on close or timeout.
    pub fn read(&mut self) -> Option<Vec<u8>> {
        let mut len = [0u8; 4];
        self.s.read_exact(&mut len).ok()?;
        let len = u32::from_be_bytes(len) as usize;
        assert!(len < 1 << 20, "frame of {len} bytes");
        let mut body = vec![0u8; len];
        self.s.read_exact(&mut body).ok()?;
        *self.got.entry(msg_name(&body).into()).or_default() += 4 + len as u64;
        Some(body)
    }

    pub fn read_until(&mut self, id: u8) -> Vec<u8> {
        loop {
            let m = self
                .read()
                .unwrap_or_else(|| panic!("closed before message id {id}"));
            if m.first() == Some(&id) {
                return m;
            }
        }
    }

    /// Reads whatever else the seeder sent until it is quiet for `quiet`.
    pub fn drain(&mut self, quiet: Duration) {
        self.s.set_read_timeout(Some(quiet)).unwrap();
        while self.read().is_some() {}
        self.s
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
    }

    /// True once the seeder closed the connection (EOF or reset) within 10 s.
    pub fn closed_by_seeder(&mut self) -> bool {
        closed_by_seeder(&mut self.s)
    }
}
