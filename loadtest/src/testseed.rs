//! A tiny tokio seeder for tests: honest, lying, or hanging up.
//!
//! It speaks just enough of the peer wire protocol to be downloaded from:
//! BEP 3 (handshake, `bitfield`, `unchoke` on `interested`, `piece` for each
//! `request`), BEP 6 (`have_all` instead of a bitfield and `reject_request`
//! for invalid requests when the leecher is Fast) and BEP 10 (an extension
//! handshake with `v` and `reqq`). It sends its handshake first, without
//! waiting for the leecher's, so a leecher asking for another torrent sees the
//! wrong info hash; it then closes such connections. Not for production use.
//!
//! [`spawn_test_seeder_multi`] serves several torrents on one port: it reads
//! the leecher's handshake first and answers for the torrent asked for (and
//! closes connections asking for any other).

use std::net::SocketAddr;
use std::sync::Arc;

use ringseed_proto::bitfield::Bitfield;
use ringseed_proto::metainfo::Metainfo;
use ringseed_proto::wire::{ExtHandshake, Handshake, Message, HANDSHAKE_LEN};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};

/// How the test seeder behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeederMode {
    /// Serves the payload as it is.
    Honest,
    /// Serves every block with its bytes inverted, so every piece fails SHA-1.
    Lying,
    /// Exchanges handshakes, then closes the connection.
    CloseAfterHandshake,
}

/// `reqq` announced in the test seeder's extension handshake (requests per peer).
pub const TEST_SEEDER_REQQ: u32 = 250;

/// Starts a seeder of `meta` on 127.0.0.1 (a free port) serving `data`, the
/// whole payload (`meta.lengths.total_length()` bytes), and returns its address.
/// It runs on the current tokio runtime until the runtime shuts down.
///
/// Errors: binding the listener.
pub async fn spawn_test_seeder(
    meta: Arc<Metainfo>,
    data: Arc<Vec<u8>>,
    mode: SeederMode,
) -> std::io::Result<SocketAddr> {
    spawn(vec![(meta, data)], mode, true).await
}

/// Starts a seeder of several torrents, each `(metainfo, whole payload)`, on
/// 127.0.0.1 (a free port) and returns its address. Unlike
/// [`spawn_test_seeder`] it waits for the leecher's handshake and answers
/// with the torrent named there (closing the connection when it has no such
/// torrent). It runs on the current tokio runtime until the runtime shuts down.
///
/// Errors: binding the listener.
pub async fn spawn_test_seeder_multi(
    torrents: Vec<(Arc<Metainfo>, Arc<Vec<u8>>)>,
    mode: SeederMode,
) -> std::io::Result<SocketAddr> {
    spawn(torrents, mode, false).await
}

type Torrents = Arc<Vec<(Arc<Metainfo>, Arc<Vec<u8>>)>>;

async fn spawn(
    torrents: Vec<(Arc<Metainfo>, Arc<Vec<u8>>)>,
    mode: SeederMode,
    handshake_first: bool,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let torrents: Torrents = Arc::new(torrents);
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let torrents = torrents.clone();
            tokio::spawn(async move {
                let _ = serve(sock, torrents, mode, handshake_first).await;
            });
        }
    });
    Ok(addr)
}

fn handshake_of(meta: &Metainfo) -> [u8; HANDSHAKE_LEN] {
    let mut peer_id = *b"-RT0001-000000000000";
    peer_id[8..].copy_from_slice(&meta.info_hash.0[..12]);
    Handshake::new(meta.info_hash, peer_id).encode()
}

async fn serve(
    sock: TcpStream,
    torrents: Torrents,
    mode: SeederMode,
    handshake_first: bool,
) -> std::io::Result<()> {
    let _ = sock.set_nodelay(true);
    let (r, w) = sock.into_split();
    let mut r = BufReader::with_capacity(64 * 1024, r);
    let mut w = BufWriter::with_capacity(256 * 1024, w);
    if handshake_first {
        w.write_all(&handshake_of(&torrents[0].0)).await?;
        w.flush().await?;
    }
    let mut hs = [0u8; HANDSHAKE_LEN];
    r.read_exact(&mut hs).await?;
    let Ok(theirs) = Handshake::decode(&hs) else {
        return Ok(());
    };
    let Some((meta, data)) = torrents
        .iter()
        .find(|(m, _)| m.info_hash == theirs.info_hash)
        .cloned()
    else {
        return Ok(());
    };
    if !handshake_first {
        w.write_all(&handshake_of(&meta)).await?;
        w.flush().await?;
    }
    if mode == SeederMode::CloseAfterHandshake {
        return Ok(());
    }
    let fast = theirs.supports_fast();
    let lengths = meta.lengths;
    let mut out = Vec::with_capacity(32 * 1024);
    if theirs.supports_extensions() {
        let ext = ExtHandshake {
            client: Some("ringseed-testseed".into()),
            reqq: Some(TEST_SEEDER_REQQ),
            upload_only: true,
            ..Default::default()
        };
        Message::Extended {
            id: 0,
            payload: &ext.encode(),
        }
        .encode(&mut out);
    }
    if fast {
        Message::HaveAll.encode(&mut out);
    } else {
        let mut bits = Bitfield::new(lengths.num_pieces());
        bits.fill();
        Message::Bitfield(bits.as_bytes()).encode(&mut out);
    }
    w.write_all(&out).await?;
    w.flush().await?;
    let mut payload = Vec::with_capacity(64);
    let mut block = Vec::with_capacity(16 * 1024);
    loop {
        let mut len = [0u8; 4];
        r.read_exact(&mut len).await?;
        let len = u32::from_be_bytes(len) as usize;
        if len > 1 << 20 {
            return Ok(());
        }
        payload.resize(len, 0);
        r.read_exact(&mut payload).await?;
        out.clear();
        match Message::decode(&payload) {
            Ok(Message::Interested) => Message::Unchoke.encode(&mut out),
            Ok(Message::Request {
                index,
                begin,
                length,
            }) => {
                if lengths.check_request(index, begin, length).is_err() {
                    if !fast {
                        return Ok(());
                    }
                    Message::Reject {
                        index,
                        begin,
                        length,
                    }
                    .encode(&mut out);
                } else {
                    let start = (lengths.piece_offset(index) + begin as u64) as usize;
                    let src = &data[start..start + length as usize];
                    let block: &[u8] = if mode == SeederMode::Lying {
                        block.clear();
                        block.extend(src.iter().map(|b| !b));
                        &block
                    } else {
                        src
                    };
                    Message::Piece {
                        index,
                        begin,
                        block,
                    }
                    .encode(&mut out);
                }
            }
            Ok(_) => {}
            Err(_) => return Ok(()),
        }
        w.write_all(&out).await?;
        if r.buffer().is_empty() {
            w.flush().await?;
        }
    }
}
