//! `ringseed ipc`: one v2 message to the daemon's IPC socket and its reply,
//! for operators and scripts. The value is given as JSON and sent as
//! bencode (string → string, integer → integer, true/false → 1/0, array →
//! list, object → dictionary); the reply is printed as one JSON line,
//! `[NAME, VALUE]`, bencode strings shown as UTF-8 (invalid bytes replaced).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use ringseed::control::ipc::bencode::{self, Ben, Out};
use ringseed::control::ipc::{frame, proto};
use serde_json::{json, Value};

use super::control::StateArgs;

/// `ringseed ipc MESSAGE [VALUE]`: sends one message to `socket` (default:
/// the configuration's IPC socket) and prints the reply as `[NAME, VALUE]`.
/// Exit 1 when the reply is failed, not-supported or bad-format.
pub fn run(
    socket: Option<PathBuf>,
    state: &StateArgs,
    timeout: u64,
    message: &str,
    value: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let socket = match socket {
        Some(s) => s,
        None => {
            let (c, _) = state.resolve()?;
            c.ipc_socket()
                .ok_or_else(|| anyhow!("the configuration turns the IPC off; give --socket PATH"))?
        }
    };
    let value = match value {
        Some(v) => {
            let json: Value = serde_json::from_str(v).context("the value is not JSON")?;
            json_to_bencode(&json)?
        }
        None => bencode::text(""),
    };
    let reply = call(&socket, message, value, Duration::from_secs(timeout))?;
    match reply {
        None => {
            println!("quit sent; the daemon closed the connection");
            Ok(ExitCode::SUCCESS)
        }
        Some((name, v)) => {
            println!("{}", json!([name, v]));
            Ok(match name.as_str() {
                "failed" | "not-supported" | "bad-format" => ExitCode::from(1),
                _ => ExitCode::SUCCESS,
            })
        }
    }
}

/// JSON → bencode. Errors: a float or null (bencode has neither).
pub fn json_to_bencode(v: &Value) -> anyhow::Result<Out> {
    Ok(match v {
        Value::Null => bail!("null has no bencode form"),
        Value::Bool(b) => bencode::int(*b as i64),
        Value::Number(n) => bencode::int(
            n.as_i64()
                .ok_or_else(|| anyhow!("{n}: bencode integers are whole 64-bit numbers"))?,
        ),
        Value::String(s) => bencode::text(s),
        Value::Array(a) => bencode::list(a.iter().map(json_to_bencode).collect::<Result<_, _>>()?),
        Value::Object(o) => bencode::dict(
            o.iter()
                .map(|(k, v)| Ok((k.as_bytes().to_vec(), json_to_bencode(v)?)))
                .collect::<anyhow::Result<Vec<_>>>()?,
        ),
    })
}

/// Bencode → JSON (strings as UTF-8, lossy).
pub fn bencode_to_json(b: &Ben<'_>) -> Value {
    match b {
        Ben::Int(i) => Value::from(*i),
        Ben::Str(s) => Value::from(String::from_utf8_lossy(s).into_owned()),
        Ben::List(l) => Value::Array(l.iter().map(bencode_to_json).collect()),
        Ben::Dict(d) => {
            let mut m = serde_json::Map::new();
            for (k, v) in d {
                m.entry(String::from_utf8_lossy(k).into_owned())
                    .or_insert_with(|| bencode_to_json(v));
            }
            Value::Object(m)
        }
    }
}

/// Reads the next frame, waiting at most until `deadline`; `None` when the
/// daemon closed the connection.
fn next_frame(
    s: &mut UnixStream,
    frames: &mut frame::FrameReader,
    deadline: Instant,
) -> anyhow::Result<Option<Vec<u8>>> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(f) = frames.next_frame()? {
            return Ok(Some(f));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("no reply from the daemon in time");
        }
        s.set_read_timeout(Some(left))?;
        match s.read(&mut buf) {
            Ok(0) => return Ok(None),
            Ok(n) => frames.push(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                bail!("no reply from the daemon in time")
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Sends `[message, value, 1]` after the handshake and returns the reply
/// tagged 1 as `(name, value)`; `None` for `quit` once the daemon closed
/// the connection (0.80 never answers it).
///
/// Errors: no daemon on `socket`, a daemon without protocol version 2, no
/// reply within `timeout`, or a reply that is not the protocol.
pub fn call(
    socket: &Path,
    message: &str,
    value: Out,
    timeout: Duration,
) -> anyhow::Result<Option<(String, Value)>> {
    let mut s = UnixStream::connect(socket)
        .with_context(|| format!("no daemon on the IPC socket {}", socket.display()))?;
    let deadline = Instant::now() + timeout;
    let hello = bencode::dict([(
        "version",
        bencode::dict([
            (
                "label",
                bencode::text(&format!("ringseed ipc {}", env!("CARGO_PKG_VERSION"))),
            ),
            ("max", bencode::int(2)),
            ("min", bencode::int(2)),
        ]),
    )]);
    s.write_all(&frame::encode(&bencode::encode(&hello)))?;
    let mut frames = frame::FrameReader::new(usize::MAX >> 1);
    let greeting = next_frame(&mut s, &mut frames, deadline)?
        .ok_or_else(|| anyhow!("the daemon closed the connection before its version"))?;
    let greeting =
        bencode::decode(&greeting).map_err(|e| anyhow!("daemon's version message: {e}"))?;
    let v = proto::negotiate(&greeting).map_err(|e| anyhow!("daemon's version message: {e}"))?;
    if v < 2 {
        bail!("the daemon speaks only protocol version {v}; this client needs 2");
    }
    s.write_all(&proto::message(message, value, Some(1)))?;
    loop {
        let Some(f) = next_frame(&mut s, &mut frames, deadline)? else {
            if message == "quit" {
                return Ok(None);
            }
            bail!("the daemon closed the connection without a reply");
        };
        let b = bencode::decode(&f).map_err(|e| anyhow!("reply: {e}"))?;
        let req = proto::parse_v2(&b).map_err(|e| anyhow!("reply: {e}"))?;
        if req.tag == Some(1) {
            let name = String::from_utf8_lossy(req.name).into_owned();
            return Ok(Some((name, bencode_to_json(req.value))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_become_bencode_and_back() {
        let v = json!({"id": [1, 2], "type": ["hash", "name"], "on": true});
        let b = bencode::encode(&json_to_bencode(&v).unwrap());
        assert_eq!(b, b"d2:idli1ei2ee2:oni1e4:typel4:hash4:nameee".to_vec());
        let back = bencode_to_json(&bencode::decode(&b).unwrap());
        assert_eq!(
            back,
            json!({"id": [1, 2], "type": ["hash", "name"], "on": 1})
        );
        assert!(json_to_bencode(&json!(1.5)).is_err());
        assert!(json_to_bencode(&json!(null)).is_err());
    }
}
