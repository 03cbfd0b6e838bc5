//! A small HTTP/1.1 server for the control surfaces (JSON-RPC, /metrics),
//! built on hyper and hardened against slow or hostile clients:
//!
//! - at most `max_connections` connections at once: the accept loop waits
//!   for a free slot, so the rest wait in the kernel's backlog and never
//!   cost a descriptor of ours;
//! - headers must arrive within the header timeout, the body within the
//!   body timeout, and the body is capped in size (the cap is checked
//!   while reading, never trusted from `Content-Length`);
//! - one request per connection (no keep-alive), so an idle client cannot
//!   hold a slot;
//! - while bound to loopback, a `Host` header that is not a loopback name
//!   is refused (DNS rebinding from a browser);
//! - accept errors (descriptor exhaustion) back off instead of spinning,
//!   and their log line is rate-limited.
//!
//! Every refusal is counted in `ringseed_http_errors_total{server,kind}`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

/// Limits of one server.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    pub max_connections: usize,
    pub max_body_bytes: usize,
    pub(crate) header_timeout: Duration,
    pub(crate) body_timeout: Duration,
    /// The answer to a `Host` that is not a loopback name while bound to
    /// loopback: 403 for ours, 421 Misdirected Request for Transmission's
    /// RPC (its host whitelist).
    pub(crate) host_refused: StatusCode,
}

impl Limits {
    /// The control surfaces' limits from `[rpc]` (connections, body size,
    /// timeouts); `host_refused` 403.
    pub(crate) fn from_config(rpc: &crate::config::Rpc, max_body_bytes: usize) -> Limits {
        Limits {
            max_connections: rpc.max_connections,
            max_body_bytes,
            header_timeout: Duration::from_secs(rpc.header_timeout_secs),
            body_timeout: Duration::from_secs(rpc.body_timeout_secs),
            host_refused: StatusCode::FORBIDDEN,
        }
    }
}

/// A request as handlers see it: its whole body (the head was judged by
/// the server's check before the body was read).
pub(crate) struct HttpRequest {
    /// Method, URI and headers.
    pub(crate) head: hyper::http::request::Parts,
    pub(crate) body: Bytes,
}

/// A plain-text response.
pub(crate) fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(body.into()))
        .expect("static response")
}

fn count(server: &'static str, kind: &'static str) {
    crate::tally::tally(
        "ringseed_http_errors_total",
        [("server", server), ("kind", kind)],
    );
}

/// True for `localhost`, `127.x.x.x`, `[::1]`, with or without a port.
fn loopback_host(host: &str) -> bool {
    let h = host.trim();
    let name = if let Some(rest) = h.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        h.rsplit_once(':').map_or(h, |(n, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                n
            } else {
                h
            }
        })
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .is_ok_and(crate::listen::is_loopback)
}

/// Answers a request from its head and the client's address alone (wrong
/// path, method, no token) before any of its body is read; `None` lets it
/// through.
pub(crate) type Check =
    std::rc::Rc<dyn Fn(&hyper::http::request::Parts, SocketAddr) -> Option<Response<Full<Bytes>>>>;

/// Serves `handler` on `listener` until the runtime stops; `check` sees
/// each request's head first.
pub(crate) async fn serve<H, F>(
    server: &'static str,
    listener: tokio::net::TcpListener,
    limits: Limits,
    check: Check,
    handler: H,
) where
    H: Fn(HttpRequest, SocketAddr) -> F + Clone + 'static,
    F: Future<Output = Response<Full<Bytes>>> + 'static,
{
    let local = listener.local_addr().ok();
    let guard_host = local.is_some_and(|a| a.ip().is_loopback());
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut backoff = crate::accept::AcceptBackoff::default();
    loop {
        let permit = slots.clone().acquire_owned().await.expect("never closed");
        let (stream, peer) = match listener.accept().await {
            Ok(x) => {
                backoff.accepted();
                x
            }
            Err(e) => {
                count(server, "accept");
                let (wait, log) = backoff.failed();
                if let Some(suppressed) = log {
                    tracing::warn!(server, error = %e, suppressed, "accept failed; backing off");
                }
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        let handler = handler.clone();
        let limits = limits.clone();
        let check = check.clone();
        let (header_timeout, deadline) = (
            limits.header_timeout,
            limits.header_timeout + limits.body_timeout + Duration::from_secs(30),
        );
        tokio::task::spawn_local(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let handler = handler.clone();
                let limits = limits.clone();
                let check = check.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(
                        respond(server, req, peer, &limits, guard_host, &*check, handler).await,
                    )
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            // A last bound (`deadline`) for anything slower than the two timeouts allow.
            match tokio::time::timeout(deadline, conn).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    count(
                        server,
                        if e.is_timeout() {
                            "header_timeout"
                        } else {
                            "connection"
                        },
                    );
                    tracing::debug!(server, %peer, error = %e, "HTTP connection error");
                }
                Err(_) => count(server, "deadline"),
            }
        });
    }
}

async fn respond<H, F>(
    server: &'static str,
    req: Request<Incoming>,
    peer: SocketAddr,
    limits: &Limits,
    guard_host: bool,
    check: &dyn Fn(&hyper::http::request::Parts, SocketAddr) -> Option<Response<Full<Bytes>>>,
    handler: H,
) -> Response<Full<Bytes>>
where
    H: Fn(HttpRequest, SocketAddr) -> F,
    F: Future<Output = Response<Full<Bytes>>>,
{
    let (head, body) = req.into_parts();
    if guard_host {
        let host = head
            .headers
            .get(hyper::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !loopback_host(host) {
            count(server, "host");
            return text(limits.host_refused, "Host is not a loopback name");
        }
    }
    // Refusals that need no body (no token above all) happen before a byte
    // of it is read: an unauthenticated client cannot make us buffer bodies.
    if let Some(r) = check(&head, peer) {
        return r;
    }
    // A body announced past the cap is refused before a byte of it is read.
    let announced = head
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > limits.max_body_bytes as u64) {
        count(server, "body_too_large");
        return text(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large");
    }
    let collected = tokio::time::timeout(
        limits.body_timeout,
        Limited::new(body, limits.max_body_bytes).collect(),
    )
    .await;
    let body = match collected {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                count(server, "body_too_large");
                return text(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large");
            }
            count(server, "body");
            return text(StatusCode::BAD_REQUEST, "Bad Request");
        }
        Err(_) => {
            count(server, "body_timeout");
            return text(StatusCode::REQUEST_TIMEOUT, "Request Timeout");
        }
    };
    handler(HttpRequest { head, body }, peer).await
}

#[cfg(test)]
mod tests {
    use super::loopback_host;

    #[test]
    fn loopback_hosts_only() {
        for h in [
            "localhost",
            "localhost:1337",
            "127.0.0.1:1337",
            "[::1]:80",
            "127.9.9.9",
            "LOCALHOST",
        ] {
            assert!(loopback_host(h), "{h}");
        }
        for h in [
            "evil.example",
            "evil.example:1337",
            "10.0.0.1",
            "",
            "localhost.evil.example",
        ] {
            assert!(!loopback_host(h), "{h}");
        }
    }
}
