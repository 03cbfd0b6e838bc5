//! The binary's own modules, one per program or command group: `seed` (the
//! daemon's flags), `control` (the JSON-RPC commands and `token`), `client`
//! (their HTTP client and tables), `ipc` (the Transmission IPC client),
//! `offline` (`check`, `create`) and `demo` (which links the load generator;
//! the daemon's library does not). `main.rs` holds the command line and
//! dispatches to them.

pub mod client;
pub mod control;
pub mod demo;
pub mod ipc;
pub mod offline;
pub mod seed;

use std::path::PathBuf;

use ringseed::config::Config;

/// The configuration file at `path`, or the defaults without one.
fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Ok(Config::from_file(p)?),
        None => Ok(Config::default()),
    }
}
