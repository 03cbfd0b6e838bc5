//! The `ringseed` command line: the daemon (`seed`), its control commands
//! (`torrents`, `peers`, `add`, `remove`, `pause`, `resume`, `recheck`,
//! `limit`, `rpc`, `token`), the Transmission IPC client (`ipc`), `config`,
//! and the offline tools (`check`, `create`, `demo`).
//!
//! This file is the command line and the dispatch; each command's work is in
//! `cli/`.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cli::control::{ClientArgs, StateArgs};
use cli::seed::SeedArgs;
use ringseed::config::Config;

#[derive(Parser)]
#[command(
    name = "ringseed",
    version,
    about = "A BitTorrent seeding engine: per-core io_uring shards, zero-copy block reads"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Seed: the saved session plus any TORRENT given, until SIGINT/SIGTERM.
    Seed(Box<SeedArgs>),
    /// Print the default configuration, every key commented (TOML).
    Config,
    /// Print a bearer token for the JSON-RPC (signed with the state directory's secret).
    Token(StateArgs),
    /// Set the qBittorrent WebUI API's login (STATE_DIR/webui.credentials,
    /// mode 0600; a running daemon uses it from its next login).
    WebuiPassword {
        #[command(flatten)]
        state: StateArgs,
        /// Login name.
        #[arg(long, default_value = ringseed::control::webui::DEFAULT_USERNAME)]
        username: String,
        /// The password (read from stdin when "-").
        password: String,
    },
    /// List the daemon's torrents.
    Torrents(ClientArgs),
    /// List connected peers (all torrents, or one).
    Peers {
        #[command(flatten)]
        client: ClientArgs,
        /// Info hash (40 hex digits).
        info_hash: Option<String>,
    },
    /// Add a torrent to the running daemon.
    Add {
        #[command(flatten)]
        client: ClientArgs,
        /// The .torrent file.
        torrent: PathBuf,
        /// Folder holding the torrent's content [default: the daemon's storage.data_dir].
        #[arg(long)]
        save_path: Option<PathBuf>,
        /// Add it paused.
        #[arg(long)]
        paused: bool,
    },
    /// Remove a torrent (its data stays unless --remove-data).
    Remove {
        #[command(flatten)]
        client: ClientArgs,
        info_hash: String,
        /// Also delete the files the torrent names.
        #[arg(long)]
        remove_data: bool,
    },
    /// Pause a torrent (its peers are closed; new ones refused).
    Pause {
        #[command(flatten)]
        client: ClientArgs,
        info_hash: String,
    },
    /// Resume a paused torrent.
    Resume {
        #[command(flatten)]
        client: ClientArgs,
        info_hash: String,
    },
    /// Hash a torrent's data again.
    Recheck {
        #[command(flatten)]
        client: ClientArgs,
        info_hash: String,
    },
    /// Set the upload limit, global or of one torrent: `limit 50MB/s`,
    /// `limit INFO_HASH 1MiB/s`, `limit unlimited`.
    Limit {
        #[command(flatten)]
        client: ClientArgs,
        /// `[INFO_HASH] RATE`.
        #[arg(num_args = 1..=2, required = true)]
        args: Vec<String>,
    },
    /// Call any JSON-RPC method: `rpc torrents.list '{}'`.
    Rpc {
        #[command(flatten)]
        client: ClientArgs,
        method: String,
        /// Params as JSON [default: {}].
        params: Option<String>,
    },
    /// Send one Transmission IPC (v2) message and print the reply as JSON:
    /// `ipc get-status-all '["state","upload-speed"]'`, `ipc uplimit 500`.
    /// Exit 1 when the reply is failed, not-supported or bad-format.
    Ipc {
        /// The daemon's IPC socket [default: ipc.socket of --config, else STATE_DIR/daemon/socket].
        #[arg(long, env = "RINGSEED_IPC_SOCKET")]
        socket: Option<PathBuf>,
        #[command(flatten)]
        state: StateArgs,
        /// Seconds to wait for the reply.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        /// The message name (`get-info-all`, `start`, `port`…).
        message: String,
        /// Its value as JSON [default: ""].
        value: Option<String>,
    },
    /// Verify a torrent's data: exit 0 complete, 1 pieces missing or corrupt, 2 invalid torrent.
    Check {
        /// Directory holding the torrent's content.
        #[arg(long, env = "RINGSEED_DATA")]
        data: PathBuf,
        torrent: PathBuf,
    },
    /// Make a v1 torrent from a file or folder.
    Create {
        /// Piece length in bytes (power of two, >= 16384); default aims at ~1500 pieces.
        #[arg(long, env = "RINGSEED_PIECE_LENGTH")]
        piece_length: Option<u32>,
        /// Tracker announce URL (http, https or udp). Repeat for more tiers
        /// (BEP 12), in order; URLs of one tier separated by commas.
        #[arg(long, env = "RINGSEED_ANNOUNCE")]
        announce: Vec<String>,
        /// Output .torrent file.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        path: PathBuf,
    },
    /// Generate a sample payload, seed it, and download it back over loopback.
    Demo {
        /// Payload size in MiB.
        #[arg(long, default_value_t = 256, env = "RINGSEED_DEMO_SIZE_MIB")]
        size_mib: u64,
        /// Leecher connections.
        #[arg(long, default_value_t = 8, env = "RINGSEED_DEMO_PEERS")]
        peers: usize,
        /// Seeder shards (0 = one per core).
        #[arg(long, default_value_t = 0, env = "RINGSEED_SHARDS")]
        shards: usize,
    },
}

fn main() -> ExitCode {
    {
        use tracing_subscriber::prelude::*;
        let filter =
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_filter(filter),
            )
            // The WebUI's `log/main` (the last lines at INFO and above).
            .with(ringseed::control::log::RecentLines)
            .init();
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Seed(a) => cli::seed::run(*a),
        Command::Config => {
            print!("{}", Config::commented_default());
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(s) => cli::control::token(&s),
        Command::WebuiPassword {
            state,
            username,
            password,
        } => cli::control::webui_password(&state, &username, &password),
        Command::Torrents(c) => cli::control::torrents(&c),
        Command::Peers { client, info_hash } => cli::control::peers(&client, info_hash.as_deref()),
        Command::Add {
            client,
            torrent,
            save_path,
            paused,
        } => cli::control::add(&client, &torrent, save_path, paused),
        Command::Remove {
            client,
            info_hash,
            remove_data,
        } => cli::control::remove(&client, &info_hash, remove_data),
        Command::Pause { client, info_hash } => {
            cli::control::simple(&client, "torrents.pause", &info_hash, "paused")
        }
        Command::Resume { client, info_hash } => {
            cli::control::simple(&client, "torrents.resume", &info_hash, "resumed")
        }
        Command::Recheck { client, info_hash } => {
            cli::control::simple(&client, "torrents.recheck", &info_hash, "rechecking")
        }
        Command::Limit { client, args } => cli::control::limit(&client, &args),
        Command::Rpc {
            client,
            method,
            params,
        } => cli::control::rpc(&client, &method, params.as_deref()),
        Command::Ipc {
            socket,
            state,
            timeout,
            message,
            value,
        } => cli::ipc::run(socket, &state, timeout, &message, value.as_deref()),
        Command::Check { data, torrent } => return cli::offline::check(&data, &torrent),
        Command::Create {
            piece_length,
            announce,
            output,
            path,
        } => cli::offline::create(&path, piece_length, &announce, &output),
        Command::Demo {
            size_mib,
            peers,
            shards,
        } => cli::demo::command(&cli::demo::DemoOptions {
            size_mib,
            peers,
            shards,
            ..Default::default()
        }),
    };
    match result {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ringseed: {e:#}");
            ExitCode::from(1)
        }
    }
}
