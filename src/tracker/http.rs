//! HTTP(S) GET for announces and scrapes (BEP 3, BEP 48) with hyper's
//! HTTP/1 client connection over a tokio socket (TLS: rustls with Mozilla's
//! roots). One connection per request, `Connection: close`: a tracker is
//! asked at most once per interval per torrent, so pooling buys nothing.
//!
//! Bounded everywhere a hostile tracker could hold us: one deadline for
//! the whole exchange (resolve, connect, TLS, redirects, body), at most
//! `max_redirects` redirects, a body cap checked against `Content-Length`
//! before reading and against the bytes read while reading (the buffer
//! grows with what arrived, never with what a header announced).

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use ringseed_proto::tracker::TrackerError;
use tokio::io::{AsyncRead, AsyncWrite};

/// Limits of one GET.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// The whole exchange, redirects included.
    pub(crate) timeout: Duration,
    /// Largest body, bytes.
    pub(crate) max_body: usize,
    /// Redirects followed before giving up.
    pub(crate) max_redirects: usize,
}

/// An HTTP client for trackers (cheap to clone: the TLS setup is shared).
#[derive(Clone)]
pub(crate) struct Client {
    tls: tokio_rustls::TlsConnector,
    user_agent: String,
    /// Local address to connect from (the peer listen address, so the
    /// tracker records the address peers can reach).
    bind: Option<std::net::IpAddr>,
}

enum Hop {
    Body(Vec<u8>),
    Redirect(String),
}

impl Client {
    /// A client connecting from `bind` when given.
    pub(crate) fn new(bind: Option<std::net::IpAddr>) -> Client {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Client {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            user_agent: crate::CLIENT_NAME.replace(' ', "/"),
            bind,
        }
    }

    /// GETs `url` (http or https) and returns the body of the final 200
    /// reply, following redirects.
    ///
    /// Errors: [`TrackerError::Url`] (not http/https, no host),
    /// [`TrackerError::Timeout`], [`TrackerError::Redirects`],
    /// [`TrackerError::Status`], [`TrackerError::TooLarge`],
    /// [`TrackerError::Network`].
    pub(crate) async fn get(&self, url: &str, limits: &Limits) -> Result<Vec<u8>, TrackerError> {
        let exchange = async {
            let mut url = url.to_string();
            for _ in 0..=limits.max_redirects {
                match self.once(&url, limits).await? {
                    Hop::Body(b) => return Ok(b),
                    Hop::Redirect(next) => url = next,
                }
            }
            Err(TrackerError::Redirects(limits.max_redirects))
        };
        tokio::time::timeout(limits.timeout, exchange)
            .await
            .map_err(|_| TrackerError::Timeout(limits.timeout.as_secs()))?
    }

    async fn once(&self, url: &str, limits: &Limits) -> Result<Hop, TrackerError> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| TrackerError::Url(format!("{url}: {e}")))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            other => {
                return Err(TrackerError::Url(format!(
                    "{url}: scheme {other:?} is not http or https"
                )))
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| TrackerError::Url(format!("{url}: no host")))?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let net = |e: std::io::Error| TrackerError::Network(format!("{host}:{port}: {e}"));
        let tcp = match self.bind {
            None => tokio::net::TcpStream::connect((bare, port))
                .await
                .map_err(net)?,
            Some(ip) => {
                let addr = tokio::net::lookup_host((bare, port))
                    .await
                    .map_err(net)?
                    .find(|a| a.is_ipv4() == ip.is_ipv4())
                    .ok_or_else(|| {
                        TrackerError::Network(format!("{host}: no address of the family of {ip}"))
                    })?;
                let sock = if ip.is_ipv4() {
                    tokio::net::TcpSocket::new_v4()
                } else {
                    tokio::net::TcpSocket::new_v6()
                }
                .map_err(net)?;
                sock.bind(std::net::SocketAddr::new(ip, 0)).map_err(net)?;
                sock.connect(addr).await.map_err(net)?
            }
        };
        let _ = tcp.set_nodelay(true);
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or(host);
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let req = hyper::Request::get(path)
            .header(hyper::header::HOST, authority)
            .header(hyper::header::USER_AGENT, &self.user_agent)
            .header(hyper::header::CONNECTION, "close")
            .body(Empty::<Bytes>::new())
            .map_err(|e| TrackerError::Url(format!("{url}: {e}")))?;
        let resp = if https {
            let name = rustls::pki_types::ServerName::try_from(bare.to_string())
                .map_err(|e| TrackerError::Url(format!("{url}: {e}")))?;
            let tls = self.tls.connect(name, tcp).await.map_err(net)?;
            send(tls, req, limits).await?
        } else {
            send(tcp, req, limits).await?
        };
        let status = resp.status();
        if status.is_redirection() {
            let loc = resp
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or(TrackerError::Status(status.as_u16()))?;
            return Ok(Hop::Redirect(resolve(&uri, loc)?));
        }
        if status != hyper::StatusCode::OK {
            return Err(TrackerError::Status(status.as_u16()));
        }
        let announced = resp
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|n| n > limits.max_body as u64) {
            return Err(TrackerError::TooLarge(limits.max_body));
        }
        let mut body = resp.into_body();
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| TrackerError::Network(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                if out.len() + data.len() > limits.max_body {
                    return Err(TrackerError::TooLarge(limits.max_body));
                }
                out.extend_from_slice(&data);
            }
        }
        Ok(Hop::Body(out))
    }
}

async fn send<S>(
    io: S,
    req: hyper::Request<Empty<Bytes>>,
    limits: &Limits,
) -> Result<hyper::Response<hyper::body::Incoming>, TrackerError>
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| TrackerError::Network(e.to_string()))?;
    // The connection task ends with the exchange, or at the deadline when
    // a slow tracker holds it open.
    let deadline = limits.timeout + Duration::from_secs(1);
    tokio::task::spawn_local(async move {
        let _ = tokio::time::timeout(deadline, conn).await;
    });
    sender
        .send_request(req)
        .await
        .map_err(|e| TrackerError::Network(e.to_string()))
}

/// The absolute URL of a redirect's `Location` (absolute, or a path on the
/// same host). Errors: anything else.
fn resolve(base: &hyper::Uri, loc: &str) -> Result<String, TrackerError> {
    if loc.starts_with("http://") || loc.starts_with("https://") {
        return Ok(loc.to_string());
    }
    if loc.starts_with('/') && !loc.starts_with("//") {
        let scheme = base.scheme_str().unwrap_or("http");
        let authority = base.authority().map(|a| a.as_str()).unwrap_or("");
        return Ok(format!("{scheme}://{authority}{loc}"));
    }
    Err(TrackerError::Invalid(format!(
        "redirect to {:?}",
        loc.chars().take(200).collect::<String>()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve_against_the_base() {
        let base: hyper::Uri = "http://t:8/a/announce?x=1".parse().unwrap();
        assert_eq!(resolve(&base, "/b?y").unwrap(), "http://t:8/b?y");
        assert_eq!(resolve(&base, "https://u/c").unwrap(), "https://u/c");
        assert!(resolve(&base, "ftp://x").is_err());
        assert!(resolve(&base, "//evil/x").is_err());
    }
}
