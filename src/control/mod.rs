//! The control runtime: one thread with a tokio current-thread runtime that
//! always runs and serves everything slow or external — porla's JSON-RPC
//! ([`rpc`]), Prometheus `/metrics` ([`metrics`]), Transmission 0.80's IPC
//! on a Unix socket ([`ipc`]), Transmission's RPC over HTTP
//! ([`transmission`]), qBittorrent's WebUI API ([`webui`]), and tracker
//! announces ([`crate::tracker`]).
//! The front ends are translators of their wire formats onto one facade,
//! `api::Api` (the view, the coordinator's command channel, the trackers'
//! state): a new front end starts there. The control thread reads the
//! coordinator's view and sends commands over a channel; it never touches
//! a peer. At shutdown it waits at most 2 s for the trackers'
//! `stopped`, then lets the IPC socket go.

pub(crate) mod api;
pub(crate) mod http;
pub(crate) mod ids;
pub mod ipc;
pub mod log;
pub(crate) mod metrics;
pub mod rpc;
pub mod transmission;
pub mod webui;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use crate::config::Config;
use crate::coordinator::view::{latest, SharedView};
use crate::messages::ControlCommand;

/// What the control thread is handed at start. Listeners are bound by the
/// daemon before it starts, so an address in use fails the start.
pub(crate) struct ControlContext {
    pub(crate) config: Arc<Config>,
    pub(crate) view: SharedView,
    pub(crate) commands: Sender<ControlCommand>,
    pub state_dir: PathBuf,
    pub rpc: Option<std::net::TcpListener>,
    pub metrics: Option<std::net::TcpListener>,
    /// The qBittorrent WebUI API's listener, when on.
    pub webui: Option<std::net::TcpListener>,
    /// Transmission's RPC listener, when on.
    pub transmission_rpc: Option<std::net::TcpListener>,
    pub auth: Option<rpc::auth::Auth>,
    /// The IPC socket, when on (bound and locked by the daemon).
    pub ipc: Option<ipc::socket::IpcSocket>,
    /// Asks the supervisor to shut the daemon down (the IPC's `quit`).
    pub(crate) quit: Sender<String>,
    /// Fires when the daemon stops.
    pub(crate) stop: tokio::sync::oneshot::Receiver<()>,
    /// Our peer id and TCP listen port (what trackers are told).
    pub(crate) peer_id: [u8; 20],
    pub listen_addr: SocketAddr,
}

/// Runs the control runtime until `stop` fires.
///
/// Errors: the runtime cannot start, or the metrics recorder cannot be installed.
pub(crate) fn run(ctx: ControlContext) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let limits = http::Limits::from_config(&ctx.config.rpc, ctx.config.rpc.max_body_bytes);
        let trackers: crate::tracker::SharedTrackers = Default::default();
        let manager = crate::tracker::start(crate::tracker::TrackerContext {
            config: ctx.config.clone(),
            view: ctx.view.clone(),
            commands: ctx.commands.clone(),
            peer_id: ctx.peer_id,
            listen_port: ctx.listen_addr.port(),
            bind_ip: Some(ctx.listen_addr.ip()).filter(|ip| !ip.is_unspecified()),
            shared: trackers.clone(),
        });
        if let Some(l) = ctx.metrics {
            start_metrics(
                l,
                &ctx.config,
                ctx.view.clone(),
                trackers.clone(),
                limits.clone(),
            )?;
        }
        let api = Arc::new(api::Api::new(
            ctx.config.clone(),
            ctx.view.clone(),
            ctx.commands.clone(),
            ctx.state_dir.clone(),
            trackers.clone(),
        ));
        if let Some(l) = ctx.webui {
            webui::start(l, api.clone(), &ctx.config, manager.clone())?;
        }
        if let Some(l) = ctx.transmission_rpc {
            transmission::start(l, api.clone(), &ctx.config, manager.clone())?;
        }
        if let Some(l) = ctx.rpc {
            let l = tokio::net::TcpListener::from_std(l).map_err(|e| e.to_string())?;
            let server = Arc::new(rpc::Rpc {
                api: api.clone(),
                auth: ctx.auth.clone(),
            });
            let check: http::Check = {
                let server = server.clone();
                std::rc::Rc::new(move |head, _peer| server.check(head))
            };
            tokio::task::spawn_local(http::serve("rpc", l, limits, check, move |req, _peer| {
                server.clone().handle(req)
            }));
        }
        let mut ipc_path = None;
        if let Some(sock) = ctx.ipc {
            let (path, listener, lock) = sock.into_parts();
            let l = tokio::net::UnixListener::from_std(listener)
                .map_err(|e| format!("IPC socket {}: {e}", path.display()))?;
            tracing::info!("ipc on {}", path.display());
            ipc_path = Some((path, lock));
            let server = Rc::new(ipc::handler::Ipc::new(api.clone(), ctx.quit.clone()));
            let c = &ctx.config.ipc;
            let limits = ipc::Limits {
                max_message_bytes: c.max_message_bytes,
                idle_timeout: Duration::from_secs(c.idle_timeout_secs.max(1)),
                max_clients: c.max_clients,
            };
            tokio::task::spawn_local(ipc::serve(l, server, limits));
        }
        let _ = ctx.stop.await;
        // `stopped` first (at most 2 s): a new daemon that starts once the
        // lock below is free must not have its `started` undone by ours.
        manager.shutdown().await;
        // Clients are closed with the runtime; the socket file goes, and
        // the lock last (a new daemon may start as soon as it is free).
        if let Some((path, lock)) = ipc_path {
            let _ = std::fs::remove_file(&path);
            drop(lock);
        }
        Ok(())
    })
}

/// Installs the Prometheus recorder, publishes the view every second and
/// serves `/metrics` from the last rendering (so a scrape costs a copy, not
/// a render, however many clients scrape).
fn start_metrics(
    listener: std::net::TcpListener,
    config: &Config,
    view: SharedView,
    trackers: crate::tracker::SharedTrackers,
    limits: http::Limits,
) -> Result<(), String> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    use metrics_util::MetricKindMask;
    let recorder = PrometheusBuilder::new()
        .idle_timeout(
            MetricKindMask::COUNTER | MetricKindMask::GAUGE,
            Some(metrics::IDLE_TIMEOUT),
        )
        .set_buckets_for_metric(
            Matcher::Suffix("duration_seconds".into()),
            metrics::DURATION_BUCKETS,
        )
        .map_err(|e| format!("metrics: {e}"))?
        .build_recorder();
    let handle = recorder.handle();
    ::metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
    metrics::describe();
    let rendered: Rc<RefCell<Arc<str>>> = Rc::new(RefCell::new(Arc::from("")));
    {
        let rendered = rendered.clone();
        let mut publisher = metrics::Publisher::new(config.metrics.max_peers);
        tokio::task::spawn_local(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let t = trackers.load_full();
                publisher.publish(&latest(&view), &t, Instant::now());
                // Rendering also drops series idle past IDLE_TIMEOUT: once a
                // second, so a departed peer's series go on time.
                *rendered.borrow_mut() = Arc::from(handle.render());
            }
        });
    }
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    let l = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
    let check: http::Check = std::rc::Rc::new(|head, _peer| {
        (head.uri.path() != "/metrics")
            .then(|| http::text(hyper::StatusCode::NOT_FOUND, "Not Found"))
    });
    tokio::task::spawn_local(http::serve(
        "metrics",
        l,
        limits,
        check,
        move |_req, _peer| {
            let body = rendered.borrow().clone();
            async move {
                hyper::Response::builder()
                    .header("content-type", "text/plain; version=0.0.4")
                    .body(http_body_util::Full::new(hyper::body::Bytes::from(
                        body.as_bytes().to_vec(),
                    )))
                    .expect("static response")
            }
        },
    ));
    if let Some(a) = addr {
        tracing::info!("metrics on http://{a}/metrics");
    }
    Ok(())
}
