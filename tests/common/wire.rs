//! A raw BitTorrent peer for wire-level tests: blocking std sockets, one
//! message at a time, nothing hidden (BEP 3 framing, BEP 6 bits).

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
    let mut s = connect(addr);
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
