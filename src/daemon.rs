//! The whole machine in one place: [`Daemon::start`] binds the listeners,
//! loads the session, then starts every thread by name —
//!
//! - `shard-NN` (one per core; a `tokio_uring` runtime each, see [`crate::shard`]),
//! - `coordinator` (torrent list, choking, budgets, the view),
//! - `hash-check` (verifies torrents one job at a time),
//! - `session-store` (writes the session atomically, in order),
//! - `control` (tokio: JSON-RPC, /metrics, the Transmission IPC socket,
//!   tracker announces) —
//!
//! and supervises them: [`run`] ends the process with the name and error of
//! any thread that stops before shutdown, and shuts down cleanly on
//! SIGINT/SIGTERM or when an IPC client sends `quit`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use ringseed_proto::metainfo::Metainfo;

use crate::config::Config;
use crate::control::rpc::auth::Auth;
use crate::coordinator::view::{latest, SharedView};
use crate::coordinator::{ChokeSettings, Coordinator, Initial, Links};
use crate::listen::{bind_listeners, ListenError};
use crate::messages::{
    ControlCommand, ShardCommand, ShardLink, ThreadEnd, ThreadExit, ThreadName, TorrentRecord,
};
use crate::session::store::Store;
use crate::torrent::{Registry, TorrentState};
use crate::{shard, CLIENT_NAME, PEER_ID_PREFIX};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start thread {name}: {source}")]
    Thread {
        name: ThreadName,
        source: std::io::Error,
    },
    #[error("state directory {path}: {source}")]
    State {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: no save path for it; give --data DIR (storage.data_dir)")]
    NoSavePath(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Ipc(#[from] crate::control::ipc::socket::SocketError),
}

impl From<ListenError> for DaemonError {
    fn from(e: ListenError) -> Self {
        DaemonError::Listen {
            addr: e.addr,
            source: e.source,
        }
    }
}

/// A running daemon; dropping it without [`Daemon::shutdown`] leaves the threads running.
pub struct Daemon {
    /// The address the shards listen on (port resolved when 0 was asked).
    pub listen_addr: SocketAddr,
    /// The JSON-RPC address, when on.
    pub(crate) rpc_addr: Option<SocketAddr>,
    /// The /metrics address, when on.
    pub(crate) metrics_addr: Option<SocketAddr>,
    /// The qBittorrent WebUI API's address, when on.
    pub(crate) webui_addr: Option<SocketAddr>,
    /// Transmission's RPC address, when on.
    pub(crate) transmission_rpc_addr: Option<SocketAddr>,
    /// The IPC socket, when on.
    pub(crate) ipc_socket: Option<PathBuf>,
    pub(crate) view: SharedView,
    /// A sender of the coordinator's command channel, held while the
    /// daemon lives (the channel stays open whatever the control thread does).
    _commands: Sender<ControlCommand>,
    /// Torrents the daemon started with.
    pub(crate) initial_torrents: usize,
    links: Vec<ShardLink>,
    coord_stop: Sender<()>,
    control_stop: Option<tokio::sync::oneshot::Sender<()>>,
    exits: Receiver<ThreadExit>,
    quit: Receiver<String>,
    threads: Vec<(ThreadName, JoinHandle<()>)>,
}

/// A non-blocking listener for the control runtime (tokio).
fn bind_control(addr: SocketAddr) -> Result<std::net::TcpListener, DaemonError> {
    let err = |source| DaemonError::Listen { addr, source };
    let l = std::net::TcpListener::bind(addr).map_err(err)?;
    l.set_nonblocking(true).map_err(err)?;
    Ok(l)
}

/// Starts thread `name` running `f`; when it ends (returns or panics) the
/// supervisor hears of it on `exits`.
fn spawn_named(
    name: ThreadName,
    exits: &Sender<ThreadExit>,
    f: impl FnOnce() -> Result<(), String> + Send + 'static,
) -> Result<(ThreadName, JoinHandle<()>), DaemonError> {
    let tx = exits.clone();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let end = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                Ok(Ok(())) => ThreadEnd::Returned,
                Ok(Err(e)) => ThreadEnd::Failed(e),
                Err(p) => ThreadEnd::Panicked(
                    p.downcast_ref::<&str>()
                        .copied()
                        .or(p.downcast_ref::<String>().map(|s| s.as_str()))
                        .unwrap_or("?")
                        .to_string(),
                ),
            };
            let _ = tx.send(ThreadExit { thread: name, end });
        })
        .map(|handle| (name, handle))
        .map_err(|source| DaemonError::Thread { name, source })
}

fn random_peer_id() -> [u8; 20] {
    use rand::Rng;
    let mut id = [0u8; 20];
    id[..8].copy_from_slice(PEER_ID_PREFIX);
    let mut rng = rand::thread_rng();
    for b in &mut id[8..] {
        *b = rng.sample(rand::distributions::Alphanumeric);
    }
    id
}

/// Descriptors kept for everything but peers and data files: listeners,
/// rings, eventfds, the control servers and their clients, the state
/// directory, the hash check's workers. IPC clients come on top
/// (`ipc.max_clients`, lowered to an eighth of the limit at most).
const RESERVED_FDS: u64 = 128;

/// Fits peers and data files into RLIMIT_NOFILE: data files get at most a
/// quarter of it (`storage.max_open_files` is lowered to fit), peers the
/// rest after [`RESERVED_FDS`], split across shards
/// (`network.max_peers_per_shard` is lowered to fit). Past that a shard
/// refuses new peers (−17) while descriptors remain for storage, instead of
/// failing opens and accepts.
fn fit_descriptors(c: &mut Config, shards: usize) {
    let Some(nofile) = crate::rlimit::nofile() else {
        return;
    };
    let files = (c.storage.max_open_files as u64)
        .min(nofile / 4)
        .max(shards as u64 * 8);
    // IPC clients get at most an eighth of the limit, so a small limit
    // still leaves room for peers (`ipc.max_clients` is lowered to fit).
    let ipc_clients = match c.ipc_socket() {
        Some(_) => (c.ipc.max_clients as u64).min(nofile / 8).max(1),
        None => 0,
    };
    c.ipc.max_clients = c.ipc.max_clients.min(ipc_clients.max(1) as usize);
    // Splice pipes: two descriptors each, the shards' share of them.
    let pipe_fds = if crate::shard::side_ring::wanted(c) {
        2 * (crate::shard::side_ring::pipes_per_shard(nofile, shards) * shards) as u64
    } else {
        0
    };
    let peers = nofile
        .saturating_sub(RESERVED_FDS + ipc_clients + files + pipe_fds)
        .max(shards as u64);
    let per_shard = (peers / shards.max(1) as u64) as usize;
    if files < c.storage.max_open_files as u64 || per_shard < c.network.max_peers_per_shard {
        tracing::info!(
            nofile,
            max_open_files = files,
            max_peers = per_shard * shards,
            ipc_clients,
            pipe_fds,
            "fitting peers and data files into the descriptor limit (RLIMIT_NOFILE)"
        );
    }
    c.storage.max_open_files = files as usize;
    c.network.max_peers_per_shard = c.network.max_peers_per_shard.min(per_shard);
}

impl Daemon {
    /// Starts the daemon: the saved session, plus `torrents` (path, parsed
    /// metainfo, its bytes) added to it with the configured data directory
    /// as save path. Listens at once and checks torrents in the background:
    /// peers of a torrent still being checked are refused (−18).
    ///
    /// Errors: an address cannot be bound, the state directory is unusable,
    /// a new torrent has no save path, or a thread cannot start.
    pub fn start(
        config: Config,
        torrents: Vec<(PathBuf, Metainfo, Vec<u8>)>,
    ) -> Result<Daemon, DaemonError> {
        let whitelist = config
            .whitelist()
            .map_err(|e| DaemonError::Config(e.to_string()))?;
        // The IPC socket's lock first: a second daemon on the same socket
        // stops here, before it touches the session or binds the peer port
        // (SO_REUSEPORT would let it share the first one's).
        let ipc = config
            .ipc_socket()
            .map(|p| crate::control::ipc::socket::IpcSocket::bind(&p))
            .transpose()?;
        let ipc_socket = ipc.as_ref().map(|s| s.path.clone());
        let mut config = config;
        let shards = config.shard_count();
        fit_descriptors(&mut config, shards);
        let config = Arc::new(config);
        let state_dir = config.state_dir();
        let state_err = |source| DaemonError::State {
            path: state_dir.clone(),
            source,
        };
        let store = Store::open(&state_dir).map_err(state_err)?;
        let loaded = store.load();
        let settings = store.load_settings();
        let mut initial: Vec<Initial> = Vec::with_capacity(loaded.len() + torrents.len());
        let mut queue = 0;
        for l in loaded {
            queue = queue.max(l.record.queue_position + 1);
            initial.push(Initial {
                record: l.record,
                meta: Arc::new(l.meta),
                save: None,
            });
        }
        let from_session = initial.len();
        for (path, meta, raw) in torrents {
            if initial.iter().any(|i| i.meta.info_hash == meta.info_hash) {
                continue;
            }
            let save_path = crate::coordinator::default_save_path(&config)
                .ok_or_else(|| DaemonError::NoSavePath(path.display().to_string()))?;
            let save_path = std::path::absolute(&save_path).unwrap_or(save_path);
            let record = TorrentRecord::new(&meta, save_path, false, queue);
            queue += 1;
            initial.push(Initial {
                record,
                meta: Arc::new(meta),
                save: Some(Arc::from(raw)),
            });
        }
        tracing::info!(
            "session: {from_session} torrent(s) from {}, {} added from the command line",
            store.dir().display(),
            initial.len() - from_session
        );
        let initial_torrents = initial.len();

        let n = config.shard_count();
        let (listeners, listen_addr) = bind_listeners(config.network.listen, n)?;
        tracing::info!(addr = %listen_addr, shards = n, "listening on {listen_addr}");
        let rpc = config.rpc.listen.addr().map(bind_control).transpose()?;
        let rpc_addr = rpc.as_ref().and_then(|l| l.local_addr().ok());
        let metrics = config.metrics.listen.addr().map(bind_control).transpose()?;
        let metrics_addr = metrics.as_ref().and_then(|l| l.local_addr().ok());
        let webui = config.webui.listen.addr().map(bind_control).transpose()?;
        let webui_addr = webui.as_ref().and_then(|l| l.local_addr().ok());
        let transmission_rpc = config
            .transmission_rpc
            .listen
            .addr()
            .map(bind_control)
            .transpose()?;
        let transmission_rpc_addr = transmission_rpc.as_ref().and_then(|l| l.local_addr().ok());
        let auth = if config.rpc.auth && rpc.is_some() {
            Some(Auth::load_or_create(&state_dir).map_err(state_err)?)
        } else {
            None
        };

        let registry: Registry = Default::default();
        let bans: crate::ban::BanList = Default::default();
        let view: SharedView = Default::default();
        let hashed_bytes = Arc::new(AtomicU64::new(0));
        let (exit_tx, exits) = crossbeam_channel::unbounded();
        let (event_tx, event_rx) = crossbeam_channel::unbounded();
        let (cmd_tx, cmd_rx) = crossbeam_channel::unbounded();
        let (check_tx, check_rx) = crossbeam_channel::unbounded();
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let (store_tx, store_rx) = crossbeam_channel::unbounded();
        let mut threads = Vec::new();
        let mut links = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..n {
            let (tx, rx) = crossbeam_channel::unbounded();
            links.push(ShardLink {
                tx,
                wake: Arc::new(tokio::sync::Notify::new()),
            });
            receivers.push(rx);
        }
        let buffers = match config.storage.buffers_per_shard {
            0 => shard::buffers::pool_size_from_memlock(
                n,
                config.storage.direct_io,
                shard::side_ring::wanted(&config),
            ),
            b => b,
        };
        let peer_id = random_peer_id();
        let next_key = Arc::new(AtomicU64::new(0));
        for (id, (listener, commands)) in listeners.into_iter().zip(receivers).enumerate() {
            let ctx = shard::ShardContext {
                id,
                config: config.clone(),
                registry: registry.clone(),
                bans: bans.clone(),
                listener,
                listen_port: listen_addr.port(),
                peer_id,
                client_name: CLIENT_NAME.to_string(),
                next_key: next_key.clone(),
                events: event_tx.clone(),
                commands,
                wake: links[id].wake.clone(),
                buffers,
            };
            threads.push(spawn_named(ThreadName::Shard(id), &exit_tx, move || {
                shard::run(ctx).map_err(|e| e.to_string())
            })?);
        }
        drop(event_tx);

        {
            let (state_dir, hashed, threads_n) = (
                state_dir.clone(),
                hashed_bytes.clone(),
                config.storage.hash_threads,
            );
            threads.push(spawn_named(ThreadName::HashCheck, &exit_tx, move || {
                crate::session::checker::run(check_rx, done_tx, state_dir, threads_n, hashed);
                Ok(())
            })?);
        }
        {
            let state_dir = state_dir.clone();
            threads.push(spawn_named(
                ThreadName::SessionStore,
                &exit_tx,
                move || {
                    crate::session::store::run(store, state_dir, store_rx);
                    Ok(())
                },
            )?);
        }

        let settings_c = ChokeSettings {
            algorithm: config.choking.algorithm,
            upload_slots: config.choking.upload_slots,
            unchoke_interval: Duration::from_secs(config.choking.unchoke_interval_secs),
            optimistic_interval: Duration::from_secs(config.choking.optimistic_interval_secs),
        };
        if let Some(upload_limit) = settings.upload_limit {
            tracing::info!(
                upload_limit,
                "global upload limit from the session (set at runtime)"
            );
        }
        let (coord_stop, stop_rx) = crossbeam_channel::bounded(1);
        let mut coord = Coordinator::new(
            settings_c,
            Links {
                shards: links.clone(),
                registry: registry.clone(),
                bans,
                ban_time: Duration::from_secs(config.network.ban_time_secs),
                checks: check_tx,
                store: store_tx,
                view: view.clone(),
                hashed_bytes: hashed_bytes.clone(),
                listen_port: listen_addr.port(),
                listen_ip: listen_addr.ip(),
                dial: crate::coordinator::DialLimits::from_config(&config.trackers),
            },
            settings,
            crate::coordinator::SessionDefaults {
                upload_limit: config.limits.upload_limit,
                data_dir: config.storage.data_dir.clone(),
                share_limits: (&config.seeding).into(),
            },
            whitelist,
        );
        coord.add_initial(initial);
        threads.push(spawn_named(ThreadName::Coordinator, &exit_tx, move || {
            let totals = coord.run(event_rx, cmd_rx, done_rx, stop_rx);
            tracing::info!(disconnects = ?totals.disconnects, rounds = totals.choke_rounds, "coordinator stopped");
            Ok(())
        })?);

        let (control_stop, control_stop_rx) = tokio::sync::oneshot::channel();
        let (quit_tx, quit) = crossbeam_channel::bounded(1);
        {
            let ctx = crate::control::ControlContext {
                config: config.clone(),
                view: view.clone(),
                commands: cmd_tx.clone(),
                state_dir: state_dir.clone(),
                rpc,
                metrics,
                webui,
                transmission_rpc,
                auth,
                ipc,
                quit: quit_tx,
                stop: control_stop_rx,
                peer_id,
                listen_addr,
            };
            threads.push(spawn_named(ThreadName::Control, &exit_tx, move || {
                crate::control::run(ctx)
            })?);
        }
        if let Some(a) = rpc_addr {
            tracing::info!("rpc on http://{a}{}", crate::control::rpc::PATH);
        }

        Ok(Daemon {
            listen_addr,
            rpc_addr,
            metrics_addr,
            webui_addr,
            transmission_rpc_addr,
            ipc_socket,
            view,
            _commands: cmd_tx,
            initial_torrents,
            links,
            coord_stop,
            control_stop: Some(control_stop),
            exits,
            quit,
            threads,
        })
    }

    /// A clean shutdown asked from inside (the IPC's `quit`): who asked.
    /// [`run`] watches it next to the signals.
    pub(crate) fn quit_requests(&self) -> &Receiver<String> {
        &self.quit
    }

    /// True once every torrent the daemon started with has been checked.
    pub(crate) fn checked(&self) -> bool {
        let v = latest(&self.view);
        v.torrents.len() >= self.initial_torrents
            && v.torrents
                .values()
                .all(|t| t.state != TorrentState::Checking)
    }

    /// Waits until every starting torrent is checked; false on timeout.
    pub fn wait_checked(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.checked() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// The next thread to stop, and how it ended; `None` on timeout.
    /// Anything before shutdown means the daemon is broken.
    pub(crate) fn next_exit(&self, timeout: Duration) -> Option<ThreadExit> {
        self.exits.recv_timeout(timeout).ok()
    }

    /// Closes every peer (reason `shutdown`), stops the shards, the
    /// coordinator and the control runtime, and joins them.
    pub fn shutdown(mut self) {
        for l in &self.links {
            l.send(ShardCommand::Shutdown);
        }
        let _ = self.coord_stop.send(());
        if let Some(s) = self.control_stop.take() {
            let _ = s.send(());
        }
        for (name, t) in self.threads {
            // The checker and the store end when the coordinator's channels
            // close; a long hash check is not waited for.
            if name == ThreadName::HashCheck {
                continue;
            }
            let _ = t.join();
        }
    }
}

/// Runs the daemon until SIGINT/SIGTERM (clean exit) or until a thread
/// stops on its own (an error naming it). Logs `ready:` once the starting
/// torrents are checked, then prints the ready line on stdout ([`print_ready_line`]).
///
/// Errors: the daemon cannot start, a signal handler cannot be installed,
/// or a thread died.
pub fn run(config: Config, torrents: Vec<(PathBuf, Metainfo, Vec<u8>)>) -> Result<(), String> {
    // Signal handlers go in before anything starts, so a SIGTERM that
    // arrives while the daemon starts is handled, not fatal.
    let (sig_tx, sig_rx) = crossbeam_channel::bounded::<&'static str>(1);
    let (installed_tx, installed_rx) = crossbeam_channel::bounded::<std::io::Result<()>>(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name(ThreadName::Signals.to_string())
        .spawn(move || {
            rt.block_on(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let (mut term, mut int) = match (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                ) {
                    (Ok(t), Ok(i)) => (t, i),
                    (Err(e), _) | (_, Err(e)) => {
                        let _ = installed_tx.send(Err(e));
                        return;
                    }
                };
                let _ = installed_tx.send(Ok(()));
                let name =
                    tokio::select! { _ = term.recv() => "SIGTERM", _ = int.recv() => "SIGINT" };
                let _ = sig_tx.send(name);
            })
        })
        .map_err(|e| e.to_string())?;
    installed_rx
        .recv()
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("signal handlers: {e}"))?;
    let daemon = Daemon::start(config, torrents).map_err(|e| e.to_string())?;
    let mut ready = false;
    loop {
        let why = crossbeam_channel::select! {
            recv(sig_rx) -> sig => sig.ok().map(str::to_string),
            recv(daemon.quit_requests()) -> who => who.ok(),
            default(Duration::from_millis(100)) => None,
        };
        if let Some(why) = why {
            tracing::info!("{why}: closing peers and stopping");
            daemon.shutdown();
            tracing::info!("stopped cleanly");
            return Ok(());
        }
        if !ready && daemon.checked() {
            ready = true;
            tracing::info!(
                "ready: {} torrent(s) checked",
                latest(&daemon.view).torrents.len()
            );
            print_ready_line(&daemon);
        }
        if let Some(exit) = daemon.next_exit(Duration::from_millis(0)) {
            return Err(exit.to_string());
        }
    }
}

/// The machine-readable ready signal, printed once on stdout right after the
/// `ready:` log line (the log stays on stderr): one JSON line,
/// `{"ready":{"ipc":PATH|null,"listen":"IP:PORT","metrics":"IP:PORT"|null,"rpc":"IP:PORT"|null,"webui":"IP:PORT"|null,"transmission_rpc":"IP:PORT"|null}}`,
/// every address as bound (ports resolved), null for a surface that is off.
/// A closed or broken stdout is ignored: the daemon seeds on.
fn print_ready_line(daemon: &Daemon) {
    use std::io::Write;
    let line = serde_json::json!({ "ready": {
        "listen": daemon.listen_addr.to_string(),
        "rpc": daemon.rpc_addr.map(|a| a.to_string()),
        "metrics": daemon.metrics_addr.map(|a| a.to_string()),
        "webui": daemon.webui_addr.map(|a| a.to_string()),
        "transmission_rpc": daemon.transmission_rpc_addr.map(|a| a.to_string()),
        "ipc": daemon.ipc_socket.as_ref().map(|p| p.display().to_string()),
    }});
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}
