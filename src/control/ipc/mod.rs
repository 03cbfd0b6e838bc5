//! Transmission 0.80's legacy IPC (seed 002, `ipcproto.txt`) on a Unix
//! socket, served by the control runtime: bencoded messages in hex-length
//! frames, the version handshake, v1 dictionaries and v2 tagged lists,
//! every message mapped onto the session. Choices where the seed and 0.80
//! disagree are written down in docs/ipc.md.
//!
//! - [`socket`]: the socket file (0600), its lock, stale sockets;
//! - [`frame`]: 8-hex-digit framing with a payload cap;
//! - [`bencode`]: a key-order-tolerant reader, bendy's encoder for answers;
//! - [`proto`]: message names, handshake, payload shapes, replies;
//! - [`handler`]: the messages on the session (through the control API);
//! - [`ids`]: the IPC's torrent ids;
//! - [`answers`]: the `info` and `status` answers and their cache.
//!
//! Each client is one task on the control thread with its own negotiated
//! version. A client waits for nothing but its own requests: reads and
//! writes are bounded by the idle timeout, so a slow or stuck client only
//! holds its own task, and nothing here ever touches a shard. Bad input
//! (a malformed frame, undecodable bencode, a payload of the wrong shape)
//! closes that connection only, with a log line and a count in
//! `ringseed_ipc_errors_total{kind}`.

pub(crate) mod answers;
pub mod bencode;
pub mod frame;
pub(crate) mod handler;
pub mod proto;
pub mod socket;

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use handler::{count, Action, Ipc};

/// Limits of the IPC server (`[ipc]` of the configuration).
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest payload a client may send, bytes.
    pub max_message_bytes: usize,
    /// A client that sends nothing (or reads nothing of an answer) this long is closed.
    pub(crate) idle_timeout: Duration,
    /// Clients served at once; more wait in the socket's backlog.
    pub max_clients: usize,
}

/// Bytes read from a client at once.
const READ_CHUNK: usize = 16 * 1024;

/// Serves clients until the runtime stops.
pub(crate) async fn serve(listener: tokio::net::UnixListener, ipc: Rc<Ipc>, limits: Limits) {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_clients.max(1)));
    let mut backoff = crate::accept::AcceptBackoff::default();
    loop {
        let permit = slots.clone().acquire_owned().await.expect("never closed");
        let stream = match listener.accept().await {
            Ok((s, _)) => {
                backoff.accepted();
                s
            }
            Err(e) => {
                count("accept");
                let (wait, log) = backoff.failed();
                if let Some(suppressed) = log {
                    tracing::warn!(error = %e, suppressed, "IPC accept failed; backing off");
                }
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        crate::tally::tally("ringseed_ipc_connections_total", [("", ""), ("", "")]);
        let (ipc, limits) = (ipc.clone(), limits.clone());
        tokio::task::spawn_local(async move {
            let id = CLIENTS.with(|c| {
                c.set(c.get() + 1);
                c.get()
            });
            match client(&ipc, stream, &limits).await {
                Ok(End::Closed) => tracing::debug!(client = id, "IPC client closed the connection"),
                Ok(End::Quit) => {
                    tracing::info!(client = id, "IPC quit: shutting down");
                    // A quit already asked for is enough (the channel holds one).
                    let _ = ipc.quit.try_send("IPC quit".into());
                }
                Err((kind, why)) => {
                    count(kind);
                    tracing::info!(client = id, kind, "IPC connection closed: {why}");
                }
            }
            drop(permit);
        });
    }
}

thread_local! {
    /// Connection numbers for log lines.
    static CLIENTS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How a connection ended well.
enum End {
    Closed,
    Quit,
}

/// Why a connection was closed: the counter's kind and a reason for the log.
type Close = (&'static str, String);

async fn send(
    w: &mut (impl AsyncWriteExt + Unpin),
    bytes: &[u8],
    limit: Duration,
) -> Result<(), Close> {
    match tokio::time::timeout(limit, w.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(("write", format!("write failed: {e}"))),
        Err(_) => Err((
            "write_timeout",
            format!("answer not read within {} s", limit.as_secs()),
        )),
    }
}

/// One client: greeting, handshake, then messages until it leaves, idles
/// out, sends something that is not the protocol, or asks to quit.
async fn client(ipc: &Ipc, stream: UnixStream, limits: &Limits) -> Result<End, Close> {
    let (mut rd, mut wr) = stream.into_split();
    // The greeting goes out at once, before anything is read.
    send(&mut wr, proto::GREETING, limits.idle_timeout).await?;
    let mut frames = frame::FrameReader::new(limits.max_message_bytes);
    let mut version: Option<i64> = None;
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        while let Some(payload) = frames.next_frame().map_err(|e| (e.kind(), e.to_string()))? {
            let msg = bencode::decode(&payload).map_err(|e| (e.kind(), e.to_string()))?;
            let Some(v) = version else {
                let v = proto::negotiate(&msg).map_err(|e| (e.kind(), e.to_string()))?;
                tracing::debug!(version = v, "IPC client speaks version {v}");
                version = Some(v);
                continue;
            };
            let actions = if v == 1 {
                // v1: every key of the dictionary is a message, in wire order.
                let bencode::Ben::Dict(pairs) = &msg else {
                    return Err((
                        "not_a_dict",
                        format!(
                            "a v1 message must be a dictionary, not a {}",
                            msg.type_name()
                        ),
                    ));
                };
                let mut out = Vec::new();
                for (name, value) in pairs {
                    let a = ipc.v1(name, value).await;
                    let quit = a == Action::Quit;
                    out.push(a);
                    if quit {
                        break;
                    }
                }
                out
            } else {
                let req = proto::parse_v2(&msg).map_err(|e| (e.kind(), e.to_string()))?;
                vec![ipc.v2(&req, v).await]
            };
            for a in actions {
                match a {
                    Action::Reply(bytes) => send(&mut wr, &bytes, limits.idle_timeout).await?,
                    Action::Silent => {}
                    Action::Quit => return Ok(End::Quit),
                }
            }
        }
        let n = match tokio::time::timeout(limits.idle_timeout, rd.read(&mut chunk)).await {
            Ok(Ok(0)) if frames.pending() == 0 => return Ok(End::Closed),
            Ok(Ok(0)) => {
                return Err((
                    "truncated",
                    format!(
                        "closed in the middle of a message ({} bytes pending)",
                        frames.pending()
                    ),
                ))
            }
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(("read", format!("read failed: {e}"))),
            Err(_) => {
                return Err((
                    "idle_timeout",
                    format!("nothing received for {} s", limits.idle_timeout.as_secs()),
                ))
            }
        };
        frames.push(&chunk[..n]);
    }
}
