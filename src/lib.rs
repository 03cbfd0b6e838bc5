//! ringseed: a BitTorrent seeding engine.
//!
//! [`Daemon::start`] shows the whole machine: it binds one SO_REUSEPORT
//! listener per shard, then starts by name
//! - `shard-NN` threads (one `tokio_uring` runtime each, see [`shard`]),
//! - the `coordinator` thread (choking, see [`coordinator`]),
//! - the `hash-check` thread (verifies or resumes each torrent, then
//!   publishes it in the registry),
//! - the `control` thread (tokio; the Prometheus exporter when enabled),
//!
//! and the caller supervises them with [`Daemon::next_exit`]: a shard or the
//! coordinator that returns or panics before shutdown is an error naming it.

pub mod config;
pub mod coordinator;
pub mod create;
pub mod demo;
pub mod disconnect;
pub mod session;
pub mod shard;
pub mod storage;

pub use ringseed_proto::{metainfo, wire};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use metainfo::Metainfo;
use parking_lot::RwLock;

use config::Config;
use coordinator::{ChokeSettings, Coordinator, ShardCommand, ShardLink};
use session::{CheckSource, Registry, TorrentEntry};

/// Client name and version sent in the BEP 10 handshake `v`.
pub const CLIENT_NAME: &str = concat!("ringseed ", env!("CARGO_PKG_VERSION"));
/// Azureus-style peer id prefix (BEP 20): `-RG` and the version as four
/// digits (`-RG0100-` for 0.1.0), followed by 12 random bytes.
///
/// `RG` is in none of the client lists that decode peer ids (BEP 20's,
/// libtorrent's `identify_client`, Transmission's `clients.cc`); the `-RS`
/// used before is Rufus's, so Transmission showed ringseed as "Rufus".
/// libtorrent also matches `RS` at offset 2 of any peer id, which `-RG…`
/// avoids. Clients that read the BEP 10 `v` show [`CLIENT_NAME`].
pub const PEER_ID_PREFIX: &[u8; 8] = {
    const S: &str = concat!(
        "-RG",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        "0-"
    );
    // Each version part must be one digit for the prefix to stay 8 bytes.
    match S.as_bytes().first_chunk::<8>() {
        Some(p) if S.len() == 8 => p,
        _ => panic!("peer id prefix must be 8 bytes"),
    }
};

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
        name: String,
        source: std::io::Error,
    },
    #[error("no torrent to seed")]
    NoTorrents,
}

/// A running daemon; dropping it without [`Daemon::shutdown`] leaves the threads running.
pub struct Daemon {
    /// The address the shards listen on (port resolved when 0 was asked).
    pub listen_addr: SocketAddr,
    pub registry: Registry,
    /// Bytes hashed by the startup check (0 when resume data applied).
    pub hashed_bytes: Arc<AtomicU64>,
    /// Torrents whose check has finished.
    pub checked: Arc<AtomicUsize>,
    torrent_count: usize,
    links: Vec<ShardLink>,
    coord_stop: Sender<()>,
    exits: Receiver<(String, Result<(), String>)>,
    threads: Vec<JoinHandle<()>>,
}

/// Binds one listener per shard on the same address with SO_REUSEPORT; the
/// first resolves port 0. Sockets stay blocking (tokio-uring needs that).
fn bind_listeners(
    addr: SocketAddr,
    n: usize,
) -> Result<(Vec<std::net::TcpListener>, SocketAddr), DaemonError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let mut out = Vec::with_capacity(n);
    let mut bound = addr;
    for _ in 0..n {
        let err = |source| DaemonError::Listen {
            addr: bound,
            source,
        };
        let s = Socket::new(
            Domain::for_address(bound),
            Type::STREAM,
            Some(Protocol::TCP),
        )
        .map_err(err)?;
        s.set_reuse_address(true).map_err(err)?;
        s.set_reuse_port(true).map_err(err)?;
        s.bind(&bound.into()).map_err(err)?;
        s.listen(1024).map_err(err)?;
        let l: std::net::TcpListener = s.into();
        bound = l.local_addr().map_err(err)?;
        out.push(l);
    }
    Ok((out, bound))
}

fn spawn_named(
    name: String,
    exits: &Sender<(String, Result<(), String>)>,
    f: impl FnOnce() -> Result<(), String> + Send + 'static,
) -> Result<JoinHandle<()>, DaemonError> {
    let tx = exits.clone();
    let n = name.clone();
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
                Err(format!(
                    "panicked: {}",
                    p.downcast_ref::<&str>()
                        .copied()
                        .or(p.downcast_ref::<String>().map(|s| s.as_str()))
                        .unwrap_or("?")
                ))
            });
            let _ = tx.send((n, r));
        })
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

impl Daemon {
    /// Starts listening at once and checks the torrents in the background:
    /// peers of a torrent still being checked are refused with
    /// `torrent_checking`. `torrents` are (path, parsed metainfo) pairs.
    ///
    /// Errors: the address cannot be bound, a thread cannot start, or no torrents.
    pub fn start(
        config: Config,
        torrents: Vec<(PathBuf, Metainfo)>,
    ) -> Result<Daemon, DaemonError> {
        if torrents.is_empty() {
            return Err(DaemonError::NoTorrents);
        }
        let config = Arc::new(config);
        let n = config.shard_count();
        let (listeners, listen_addr) = bind_listeners(config.listen, n)?;
        tracing::info!(addr = %listen_addr, shards = n, "listening on {listen_addr}");

        let registry: Registry = Arc::new(RwLock::new(HashMap::new()));
        for (_, m) in &torrents {
            registry.write().insert(m.info_hash, TorrentEntry::Checking);
        }
        let (exit_tx, exits) = crossbeam_channel::unbounded();
        let (event_tx, event_rx) = crossbeam_channel::unbounded();
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
        let buffers = config
            .buffers_per_shard
            .unwrap_or_else(|| shard::buffers::pool_size_from_memlock(n, config.direct_io));
        let peer_id = random_peer_id();
        for (id, (listener, commands)) in listeners.into_iter().zip(receivers).enumerate() {
            let ctx = shard::ShardContext {
                id,
                config: config.clone(),
                registry: registry.clone(),
                listener,
                listen_port: listen_addr.port(),
                peer_id,
                client_name: CLIENT_NAME.to_string(),
                events: event_tx.clone(),
                commands,
                wake: links[id].wake.clone(),
                buffers,
            };
            threads.push(spawn_named(
                format!("shard-{id:02}"),
                &exit_tx,
                move || shard::run(ctx).map_err(|e| e.to_string()),
            )?);
        }
        drop(event_tx);

        let settings = ChokeSettings {
            algorithm: config.choker,
            upload_slots: config.upload_slots,
            unchoke_interval: config.unchoke_interval,
            optimistic_interval: config.optimistic_interval,
        };
        let (coord_stop, stop_rx) = crossbeam_channel::bounded(1);
        let hashed_bytes = Arc::new(AtomicU64::new(0));
        let mut coord = Coordinator::new(settings, links.clone());
        if config.metrics.is_some() {
            coord = coord.with_metrics(
                config.metrics_max_peers,
                registry.clone(),
                hashed_bytes.clone(),
            );
        }
        threads.push(spawn_named("coordinator".into(), &exit_tx, move || {
            let totals = coord.run(event_rx, stop_rx);
            tracing::info!(disconnects = ?totals.disconnects, rounds = totals.choke_rounds, "coordinator stopped");
            Ok(())
        })?);

        let checked = Arc::new(AtomicUsize::new(0));
        let torrent_count = torrents.len();
        {
            let (config, registry, hashed, checked) = (
                config.clone(),
                registry.clone(),
                hashed_bytes.clone(),
                checked.clone(),
            );
            threads.push(spawn_named("hash-check".into(), &exit_tx, move || {
                for (path, meta) in torrents {
                    let started = Instant::now();
                    let ih = meta.info_hash;
                    let name = meta.name.clone();
                    match session::prepare(
                        meta,
                        &path,
                        &config.data_dir,
                        Some(&config.state_dir),
                        config.hash_threads,
                        &hashed,
                    ) {
                        Ok((t, source)) => {
                            let total = t.meta.lengths.num_pieces();
                            let how = match source {
                                CheckSource::Resume => {
                                    "from resume data, nothing hashed".to_string()
                                }
                                CheckSource::Hashed { bytes } => {
                                    let s = started.elapsed().as_secs_f64();
                                    format!(
                                        "hashed {bytes} bytes in {s:.2} s ({:.2} GB/s)",
                                        bytes as f64 / s.max(1e-9) / 1e9
                                    )
                                }
                            };
                            tracing::info!(
                                "torrent {name} info_hash={} verified {}/{} pieces ({how})",
                                ih,
                                t.have_count,
                                total
                            );
                            registry
                                .write()
                                .insert(ih, TorrentEntry::Ready(Arc::new(t)));
                        }
                        Err(e) => {
                            tracing::error!("torrent {name}: {e}; not seeded");
                            registry.write().remove(&ih);
                        }
                    }
                    checked.fetch_add(1, Ordering::SeqCst);
                }
                tracing::info!(
                    "ready: {} torrent(s) checked",
                    checked.load(Ordering::SeqCst)
                );
                Ok(())
            })?);
        }

        if let Some(addr) = config.metrics {
            threads.push(spawn_named("control".into(), &exit_tx, move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                rt.block_on(async move {
                    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
                    use metrics_util::MetricKindMask;
                    let (recorder, exporter) = PrometheusBuilder::new()
                        .with_http_listener(addr)
                        .idle_timeout(
                            MetricKindMask::COUNTER | MetricKindMask::GAUGE,
                            Some(coordinator::METRICS_IDLE_TIMEOUT),
                        )
                        .set_buckets_for_metric(
                            Matcher::Suffix("duration_seconds".into()),
                            coordinator::DURATION_BUCKETS,
                        )
                        .and_then(|b| b.build())
                        .map_err(|e| format!("metrics exporter on {addr}: {e}"))?;
                    let handle = recorder.handle();
                    metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
                    coordinator::describe_metrics();
                    // The exporter drops idle series only while rendering: render
                    // once a second so a departed peer's series go within
                    // IDLE_TIMEOUT + 1 s, whatever the scrape interval.
                    tokio::spawn(async move {
                        let mut tick = tokio::time::interval(Duration::from_secs(1));
                        loop {
                            tick.tick().await;
                            drop(handle.render());
                        }
                    });
                    tracing::info!("metrics on http://{addr}/metrics");
                    exporter
                        .await
                        .map_err(|e| format!("metrics exporter: {e:?}"))
                })
            })?);
        }

        Ok(Daemon {
            listen_addr,
            registry,
            hashed_bytes,
            checked,
            torrent_count,
            links,
            coord_stop,
            exits,
            threads,
        })
    }

    /// Waits until every torrent's check has finished; false on timeout.
    pub fn wait_checked(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.checked.load(Ordering::SeqCst) < self.torrent_count {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    /// The next thread to stop, with its result; `None` on timeout. The
    /// `hash-check` thread stopping with `Ok` is normal; anything else before
    /// shutdown means the daemon is broken.
    pub fn next_exit(&self, timeout: Duration) -> Option<(String, Result<(), String>)> {
        self.exits.recv_timeout(timeout).ok()
    }

    /// Closes every peer (reason `shutdown`), stops the shards and the
    /// coordinator, and joins them (the control thread is left to the process exit).
    pub fn shutdown(self) {
        for l in &self.links {
            l.send(ShardCommand::Shutdown);
        }
        let _ = self.coord_stop.send(());
        for t in self.threads {
            let name = t.thread().name().unwrap_or("").to_string();
            if name == "control" || name == "hash-check" {
                continue;
            }
            let _ = t.join();
        }
    }
}
