//! The control CLI's side of the JSON-RPC: one request per call over HTTP
//! (ureq), with the token made from the state directory's secret, and the
//! tables `ringseed torrents` and `ringseed peers` print.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

/// A connection to a running daemon's JSON-RPC.
pub struct Client {
    url: String,
    token: Option<String>,
}

impl Client {
    /// `rpc` is the daemon's ADDR:PORT; the token is signed with the secret
    /// in `state_dir` (none when the daemon runs without auth).
    pub fn new(rpc: std::net::SocketAddr, state_dir: &Path) -> anyhow::Result<Client> {
        let secret = ringseed::control::rpc::auth::secret_path(state_dir);
        let token = match std::fs::read_to_string(&secret) {
            Ok(s) => {
                Some(ringseed::control::rpc::auth::Auth::from_secret(s.trim().as_bytes()).issue())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(anyhow!("{}: {e}", secret.display())),
        };
        Ok(Client {
            url: format!("http://{rpc}{}", ringseed::control::rpc::PATH),
            token,
        })
    }

    /// Calls `method` with `params`; returns the `result`.
    ///
    /// Errors: no daemon answering, 401, or a JSON-RPC error (with its code and message).
    pub fn call(&self, method: &str, params: Value) -> anyhow::Result<Value> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let mut req = ureq::post(&self.url).timeout(std::time::Duration::from_secs(60));
        if let Some(t) = &self.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let resp = match req.send_json(body) {
            Ok(r) => r,
            Err(ureq::Error::Status(401, _)) => bail!(
                "the daemon at {} refused our token (401): is --state-dir the daemon's?",
                self.url
            ),
            Err(ureq::Error::Status(code, r)) => {
                bail!("HTTP {code} from {}: {}", self.url, r.into_string().unwrap_or_default())
            }
            Err(ureq::Error::Transport(t)) => bail!(
                "no ringseed daemon is answering at {} ({t}); start one with `ringseed seed`, or give --rpc ADDR:PORT",
                self.url
            ),
        };
        let v: Value = resp
            .into_json()
            .context("the daemon's answer is not JSON")?;
        if let Some(e) = v.get("error") {
            let code = e.get("code").and_then(Value::as_i64).unwrap_or(0);
            let msg = e.get("message").and_then(Value::as_str).unwrap_or("error");
            match e.get("data").filter(|d| !d.is_null()) {
                Some(d) => bail!(
                    "{method}: {msg} ({code}): {}",
                    d.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| d.to_string())
                ),
                None => bail!("{method}: {msg} ({code})"),
            }
        }
        Ok(v.get("result").cloned().unwrap_or(Value::Null))
    }
}

/// Parses a rate: bytes/s with an optional unit and `/s` (`50MB/s`,
/// `1.5 MiB/s`, `800k`); `0`, `-1`, `unlimited`, `off` = unlimited (-1).
/// Units are bytesize's (k/M/G = 1000ⁿ, KiB/MiB/GiB = 1024ⁿ).
///
/// Errors: not a number with a known unit.
pub fn parse_rate(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if ["unlimited", "off", "none", "-1", "0"].contains(&t.to_ascii_lowercase().as_str()) {
        return Ok(-1);
    }
    let t = t.strip_suffix("/s").unwrap_or(t).trim();
    let b: bytesize::ByteSize = t
        .parse()
        .map_err(|e| format!("{s:?} is not a rate like 50MB/s or 800KiB/s ({e})"))?;
    i64::try_from(b.as_u64()).map_err(|_| format!("{s:?} is too large"))
}

/// Human-readable bytes (`12.3 MB`).
pub fn bytes(n: u64) -> String {
    const U: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < U.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

fn num(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_f64).unwrap_or(0.0) as u64
}

fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The `torrents.list` table.
pub fn torrents_table(result: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<40}  {:<9} {:>6} {:>10} {:>5} {:>11} {:>10} {:>6}  NAME",
        "INFO HASH", "STATE", "DONE", "SIZE", "PEERS", "UP", "UPLOADED", "RATIO"
    );
    for t in result["torrents"].as_array().into_iter().flatten() {
        let state = if t["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "paused"))
        {
            "paused"
        } else if !t["error"].is_null() {
            "error"
        } else if t["state"] == 1 {
            "checking"
        } else {
            "seeding"
        };
        let _ = writeln!(
            out,
            "{:<40}  {:<9} {:>5.1}% {:>10} {:>5} {:>9}/s {:>10} {:>6.2}  {}",
            t["info_hash"][0].as_str().unwrap_or(""),
            state,
            t["progress"].as_f64().unwrap_or(0.0) * 100.0,
            bytes(num(t, "size")),
            num(t, "num_peers"),
            bytes(num(t, "upload_rate")),
            bytes(num(t, "all_time_upload")),
            t["ratio"].as_f64().unwrap_or(0.0),
            text(t, "name"),
        );
    }
    let _ = write!(out, "{} torrent(s)", num(result, "torrents_total"));
    out
}

/// The peers table, like `transmission-remote -t N -pi`.
pub fn peers_table(peers: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:<22} {:>11} {:>10} {:>7} {:>6}  FLAGS",
        "ADDRESS", "CLIENT", "UP", "UPLOADED", "RTT", "DONE"
    );
    let list = peers.as_array().cloned().unwrap_or_default();
    for p in &list {
        let mut flags = Vec::new();
        flags.push(if p["am_choking"] == true {
            "choked"
        } else {
            "unchoked"
        });
        if p["peer_interested"] == true {
            flags.push("interested");
        }
        if p["optimistic"] == true {
            flags.push("optimistic");
        }
        flags.push(if p["incoming"] == true {
            "incoming"
        } else {
            "outgoing"
        });
        if p["fast"] == true {
            flags.push("fast");
        }
        if p["extensions"] == true {
            flags.push("extensions");
        }
        if p["progress"].as_f64() == Some(1.0) {
            flags.push("seed");
        }
        let rtt = match p.get("pingtime").and_then(Value::as_f64) {
            Some(s) => format!("{:.1}ms", s * 1000.0),
            None => "-".into(),
        };
        let client: String = text(p, "subver").chars().take(22).collect();
        let _ = writeln!(
            out,
            "{:<22} {:<22} {:>9}/s {:>10} {:>7} {:>5.1}%  {}",
            text(p, "addr"),
            client,
            bytes(num(p, "up_speed")),
            bytes(num(p, "total_upload")),
            rtt,
            p["progress"].as_f64().unwrap_or(0.0) * 100.0,
            flags.join(", "),
        );
    }
    let _ = write!(out, "{} peer(s)", list.len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_with_units() {
        assert_eq!(parse_rate("50MB/s"), Ok(50_000_000));
        assert_eq!(parse_rate("1 MiB/s"), Ok(1 << 20));
        assert_eq!(parse_rate("800"), Ok(800));
        assert_eq!(parse_rate("0"), Ok(-1));
        assert_eq!(parse_rate("unlimited"), Ok(-1));
        assert!(parse_rate("fast").is_err());
    }
}
