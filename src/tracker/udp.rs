//! BEP 15 UDP tracker client: connect, announce and scrape over a
//! connected UDP socket per exchange (so an ICMP "port unreachable" fails
//! it at once instead of after every retransmit).
//!
//! - A connection id is kept per tracker address and reused for 60 s
//!   (BEP 15: a client may use it until one minute after it received it).
//! - A request not answered in `base · 2^n` seconds is sent again, for
//!   n = 0..=retries (BEP 15's 15 · 2^n with `base` = 15 s).
//! - Every reply's transaction id is checked: one for another request is
//!   discarded (counted in `ringseed_tracker_udp_discarded_total`) and the
//!   wait goes on; an action 3 reply is the tracker's error message.
//! - Replies are read into a fixed 8 KiB buffer: a tracker's numbers never
//!   size an allocation, and 8,172 bytes of peers is a whole number of
//!   6- and 18-byte entries, so a cut list still parses.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;
use ringseed_proto::tracker::{
    parse_udp_reply, udp_announce_request, udp_connect_request, udp_scrape_request, Announce,
    AnnounceReply, ScrapeCounts, TrackerError, UdpReply,
};
use tokio::net::UdpSocket;

/// How long a connection id may be used (BEP 15).
const CONNECTION_TTL: Duration = Duration::from_secs(60);
/// Receive buffer, bytes.
const BUF: usize = 8192;

/// Retransmission settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Retry {
    /// First wait; doubled on each retransmission.
    pub(crate) base: Duration,
    /// Retransmissions after the first send.
    pub(crate) retries: u32,
}

impl Retry {
    /// The longest one request can wait in all.
    pub(crate) fn total(&self) -> Duration {
        (0..=self.retries)
            .map(|n| self.base * (1 << n.min(16)))
            .sum()
    }
}

/// The UDP tracker client of the control thread.
#[derive(Default)]
pub(crate) struct Client {
    connections: RefCell<HashMap<SocketAddr, (u64, Instant)>>,
    /// Local address to send from (the peer listen address).
    bind: Option<std::net::IpAddr>,
}

/// `udp://host:port[/anything]` → host and port.
///
/// Errors: not `udp://`, no port.
pub(crate) fn host_port(url: &str) -> Result<(String, u16), TrackerError> {
    let bad = |why: &str| TrackerError::Url(format!("{url}: {why}"));
    let rest = url
        .strip_prefix("udp://")
        .ok_or_else(|| bad("not udp://"))?;
    let hostport = rest.split(['/', '?']).next().unwrap_or("");
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, p) = v6.split_once("]:").ok_or_else(|| bad("no port"))?;
        (h, p)
    } else {
        hostport.rsplit_once(':').ok_or_else(|| bad("no port"))?
    };
    let port: u16 = port.parse().map_err(|_| bad("bad port"))?;
    if host.is_empty() || port == 0 {
        return Err(bad("no host or port 0"));
    }
    Ok((host.to_string(), port))
}

impl Client {
    /// A client sending from `bind` when given.
    pub(crate) fn new(bind: Option<std::net::IpAddr>) -> Client {
        Client {
            connections: Default::default(),
            bind,
        }
    }

    async fn socket(&self, url: &str) -> Result<(UdpSocket, SocketAddr), TrackerError> {
        let (host, port) = host_port(url)?;
        let net = |e: std::io::Error| TrackerError::Network(format!("{host}:{port}: {e}"));
        let addr = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(net)?
            .find(|a| self.bind.is_none_or(|b| b.is_ipv4() == a.is_ipv4()))
            .ok_or_else(|| TrackerError::Network(format!("{host}: no usable address")))?;
        let local: SocketAddr = match self.bind {
            Some(ip) => SocketAddr::new(ip, 0),
            None if addr.is_ipv6() => "[::]:0".parse().expect("literal"),
            None => "0.0.0.0:0".parse().expect("literal"),
        };
        let sock = UdpSocket::bind(local).await.map_err(net)?;
        sock.connect(addr).await.map_err(net)?;
        Ok((sock, addr))
    }

    /// Sends `req` and waits for its reply, retransmitting per `retry`.
    async fn exchange(
        sock: &UdpSocket,
        req: &[u8],
        transaction: u32,
        action: u32,
        v6: bool,
        retry: Retry,
    ) -> Result<UdpReply, TrackerError> {
        let mut buf = [0u8; BUF];
        let net = |e: std::io::Error| TrackerError::Network(e.to_string());
        for n in 0..=retry.retries {
            sock.send(req).await.map_err(net)?;
            let deadline = tokio::time::Instant::now() + retry.base * (1 << n.min(16));
            loop {
                let len = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                    Err(_) => break,
                    Ok(r) => r.map_err(net)?,
                };
                match parse_udp_reply(&buf[..len], transaction, action, v6) {
                    Err(TrackerError::Transaction { .. }) => {
                        crate::tally::tally(
                            "ringseed_tracker_udp_discarded_total",
                            [("reason", "transaction_id"), ("", "")],
                        );
                        continue;
                    }
                    other => return other,
                }
            }
        }
        Err(TrackerError::Timeout(retry.total().as_secs()))
    }

    /// A connection id for `addr`: the cached one while younger than 60 s,
    /// else a fresh connect.
    async fn connection(
        &self,
        sock: &UdpSocket,
        addr: SocketAddr,
        retry: Retry,
    ) -> Result<u64, TrackerError> {
        if let Some((id, at)) = self.connections.borrow().get(&addr) {
            if at.elapsed() < CONNECTION_TTL {
                return Ok(*id);
            }
        }
        let tid: u32 = rand::thread_rng().gen();
        let at = Instant::now();
        match Self::exchange(
            sock,
            &udp_connect_request(tid),
            tid,
            0,
            addr.is_ipv6(),
            retry,
        )
        .await?
        {
            UdpReply::Connect(id) => {
                let mut c = self.connections.borrow_mut();
                c.retain(|_, (_, t)| t.elapsed() < CONNECTION_TTL);
                c.insert(addr, (id, at));
                Ok(id)
            }
            other => Err(TrackerError::Invalid(format!("{other:?}"))),
        }
    }

    /// Announces to a `udp://` tracker.
    ///
    /// Errors: as [`parse_udp_reply`], plus [`TrackerError::Timeout`] after
    /// every retransmission and [`TrackerError::Network`].
    pub(crate) async fn announce(
        &self,
        url: &str,
        a: &Announce,
        retry: Retry,
    ) -> Result<AnnounceReply, TrackerError> {
        let (sock, addr) = self.socket(url).await?;
        let conn = self.connection(&sock, addr, retry).await?;
        let tid: u32 = rand::thread_rng().gen();
        let req = udp_announce_request(conn, tid, a);
        match Self::exchange(&sock, &req, tid, 1, addr.is_ipv6(), retry).await {
            Ok(UdpReply::Announce(r)) => Ok(r),
            Ok(other) => Err(TrackerError::Invalid(format!("{other:?}"))),
            Err(e) => {
                // A stale or refused connection id: connect afresh next time.
                self.connections.borrow_mut().remove(&addr);
                Err(e)
            }
        }
    }

    /// Scrapes one torrent from a `udp://` tracker.
    ///
    /// Errors: as [`Client::announce`].
    pub(crate) async fn scrape(
        &self,
        url: &str,
        info_hash: &[u8; 20],
        retry: Retry,
    ) -> Result<ScrapeCounts, TrackerError> {
        let (sock, addr) = self.socket(url).await?;
        let conn = self.connection(&sock, addr, retry).await?;
        let tid: u32 = rand::thread_rng().gen();
        let req = udp_scrape_request(conn, tid, info_hash);
        match Self::exchange(&sock, &req, tid, 2, addr.is_ipv6(), retry).await {
            Ok(UdpReply::Scrape(c)) => Ok(c),
            Ok(other) => Err(TrackerError::Invalid(format!("{other:?}"))),
            Err(e) => {
                self.connections.borrow_mut().remove(&addr);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_urls_give_host_and_port() {
        assert_eq!(
            host_port("udp://t.example:6969/announce").unwrap(),
            ("t.example".into(), 6969)
        );
        assert_eq!(host_port("udp://[::1]:80").unwrap(), ("::1".into(), 80));
        assert!(host_port("udp://t.example/announce").is_err());
        assert!(host_port("http://t:1").is_err());
        assert!(host_port("udp://:5").is_err());
    }

    #[test]
    fn retransmits_follow_15_times_2_to_the_n() {
        let r = Retry {
            base: Duration::from_secs(15),
            retries: 2,
        };
        assert_eq!(r.total(), Duration::from_secs(15 + 30 + 60));
    }
}
