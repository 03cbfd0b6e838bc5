//! The control commands: `torrents`, `peers`, `add`, `remove`, `pause`,
//! `resume`, `recheck`, `limit` and `rpc` call a running daemon's JSON-RPC
//! (through [`super::client`]); `token` prints a bearer token for it. Each
//! prints a table or a line, or the raw JSON result with `--json`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use ringseed::config::{Config, Endpoint};
use serde_json::{json, Value};

use super::client::{self, Client};

/// Where a client command finds the daemon.
#[derive(Args)]
pub struct ClientArgs {
    /// The daemon's JSON-RPC address [default: rpc.listen of --config, else 127.0.0.1:1337].
    #[arg(long, env = "RINGSEED_RPC")]
    rpc: Option<SocketAddr>,
    #[command(flatten)]
    state: StateArgs,
    /// Print the raw JSON result.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct StateArgs {
    /// Configuration file (for the state directory and the RPC address).
    #[arg(long, env = "RINGSEED_CONFIG")]
    config: Option<PathBuf>,
    /// The daemon's state directory (holds the RPC secret) [default: storage.state_dir].
    #[arg(long, env = "RINGSEED_STATE_DIR")]
    state_dir: Option<PathBuf>,
}

impl StateArgs {
    /// The configuration (--config or the defaults, --state-dir applied) and
    /// its state directory with the default resolved.
    pub fn resolve(&self) -> anyhow::Result<(Config, PathBuf)> {
        let mut c = super::load_config(self.config.as_ref())?;
        if let Some(s) = &self.state_dir {
            c.storage.state_dir = s.clone();
        }
        let state = c.state_dir();
        Ok((c, state))
    }
}

impl ClientArgs {
    fn client(&self) -> anyhow::Result<Client> {
        let (c, state) = self.state.resolve()?;
        let rpc = match (self.rpc, c.rpc.listen) {
            (Some(a), _) => a,
            (None, Endpoint::On(a)) => a,
            (None, Endpoint::Off) => {
                anyhow::bail!("the configuration turns the RPC off; give --rpc ADDR:PORT")
            }
        };
        Client::new(rpc, &state)
    }

    /// Prints `result` raw with --json, else through `table`.
    fn print(&self, result: &Value, table: impl FnOnce(&Value) -> String) {
        if self.json {
            println!("{result}");
        } else {
            println!("{}", table(result));
        }
    }
}

fn ih(s: &str) -> anyhow::Result<Value> {
    ringseed::metainfo::InfoHash::from_hex(s)
        .map(|h| json!(h.to_hex()))
        .ok_or_else(|| anyhow::anyhow!("{s:?} is not an info hash (40 hex digits)"))
}

fn done(client: &ClientArgs, what: &str, result: Value) -> anyhow::Result<ExitCode> {
    client.print(&result, |_| what.to_string());
    Ok(ExitCode::SUCCESS)
}

/// `ringseed token`: a bearer token signed with the state directory's secret
/// (made there when missing).
pub fn token(state: &StateArgs) -> anyhow::Result<ExitCode> {
    let (_, state) = state.resolve()?;
    let auth = ringseed::control::rpc::auth::Auth::load_or_create(&state)
        .with_context(|| format!("state directory {}", state.display()))?;
    println!("{}", auth.issue());
    Ok(ExitCode::SUCCESS)
}

/// `ringseed webui-password`: writes the WebUI login (hashed) to the state
/// directory; "-" reads the password from stdin's first line.
pub fn webui_password(
    state: &StateArgs,
    username: &str,
    password: &str,
) -> anyhow::Result<ExitCode> {
    let (_, state) = state.resolve()?;
    let password = if password == "-" {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        password.to_string()
    };
    anyhow::ensure!(!password.is_empty(), "the password is empty");
    anyhow::ensure!(!username.is_empty(), "the user name is empty");
    ringseed::control::webui::set_password(&state, username, &password)
        .with_context(|| format!("state directory {}", state.display()))?;
    println!(
        "webui login set for {username:?} in {}",
        state
            .join(ringseed::control::webui::CREDENTIALS_FILE)
            .display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `ringseed torrents`.
pub fn torrents(c: &ClientArgs) -> anyhow::Result<ExitCode> {
    let r = c
        .client()?
        .call("torrents.list", json!({"page_size": 1_000_000}))?;
    c.print(&r, client::torrents_table);
    Ok(ExitCode::SUCCESS)
}

/// `ringseed peers [INFO_HASH]`.
pub fn peers(c: &ClientArgs, info_hash: Option<&str>) -> anyhow::Result<ExitCode> {
    let params = match info_hash {
        Some(h) => json!({"info_hash": ih(h)?}),
        None => json!({}),
    };
    let r = c.client()?.call("ringseed.getpeerinfo", params)?;
    c.print(&r, client::peers_table);
    Ok(ExitCode::SUCCESS)
}

/// `ringseed add TORRENT [--save-path DIR] [--paused]`.
pub fn add(
    client: &ClientArgs,
    torrent: &Path,
    save_path: Option<PathBuf>,
    paused: bool,
) -> anyhow::Result<ExitCode> {
    use base64::Engine;
    let bytes = std::fs::read(torrent).with_context(|| torrent.display().to_string())?;
    let mut params = json!({
        "ti": base64::engine::general_purpose::STANDARD.encode(&bytes),
        "paused": paused,
    });
    if let Some(p) = save_path {
        let p = std::path::absolute(&p).unwrap_or(p);
        params["save_path"] = json!(p.display().to_string());
    }
    let r = client.client()?.call("torrents.add", params)?;
    let h = r["info_hash"][0].as_str().unwrap_or("").to_string();
    done(client, &format!("added {h}"), r)
}

/// `ringseed remove INFO_HASH [--remove-data]`.
pub fn remove(client: &ClientArgs, info_hash: &str, remove_data: bool) -> anyhow::Result<ExitCode> {
    let r = client.client()?.call(
        "torrents.remove",
        json!({"info_hashes": [ih(info_hash)?], "remove_data": remove_data}),
    )?;
    done(client, &format!("removed {info_hash}"), r)
}

/// `ringseed limit [INFO_HASH] RATE`: `args` holds one or two values (clap).
pub fn limit(client: &ClientArgs, args: &[String]) -> anyhow::Result<ExitCode> {
    let (hash, rate) = match args {
        [rate] => (None, rate),
        [h, rate] => (Some(ih(h)?), rate),
        _ => unreachable!("clap: 1..=2 values"),
    };
    let limit = client::parse_rate(rate).map_err(|e| anyhow::anyhow!(e))?;
    let c = client.client()?;
    let r = match &hash {
        Some(h) => c.call(
            "torrents.properties.set",
            json!({"info_hash": h, "upload_limit": limit}),
        )?,
        None => c.call("ringseed.session.set", json!({"upload_limit": limit}))?,
    };
    let what = match limit {
        -1 => "unlimited".to_string(),
        l => format!("{} B/s ({}/s)", l, client::bytes(l as u64)),
    };
    done(client, &format!("upload limit: {what}"), r)
}

/// `ringseed rpc METHOD [PARAMS]`: prints the result as JSON.
pub fn rpc(client: &ClientArgs, method: &str, params: Option<&str>) -> anyhow::Result<ExitCode> {
    let params: Value = match params {
        Some(p) => serde_json::from_str(p).context("params are not JSON")?,
        None => json!({}),
    };
    let r = client.client()?.call(method, params)?;
    println!("{r}");
    Ok(ExitCode::SUCCESS)
}

/// A command on one torrent (`pause`, `resume`, `recheck`): calls `method`
/// and says "`past` INFO_HASH".
pub fn simple(
    client: &ClientArgs,
    method: &str,
    info_hash: &str,
    past: &str,
) -> anyhow::Result<ExitCode> {
    let r = client
        .client()?
        .call(method, json!({"info_hash": ih(info_hash)?}))?;
    done(client, &format!("{past} {info_hash}"), r)
}
