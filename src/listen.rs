//! Binding the peer listeners: one TCP listener per shard on the same
//! address (SO_REUSEPORT), at start ([`crate::daemon`]) and when a control
//! front end moves the listen port (the control API); and what
//! counts as a loopback address (the ban list spares it, the control HTTP
//! server guards its `Host` header with it).

use std::net::{IpAddr, SocketAddr};

/// A listener could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub(crate) struct ListenError {
    /// The address that was being bound (port resolved after the first
    /// listener when 0 was asked).
    pub(crate) addr: SocketAddr,
    pub(crate) source: std::io::Error,
}

/// Binds one listener per shard on the same address with SO_REUSEPORT; the
/// first resolves port 0. Sockets stay blocking (tokio-uring needs that).
/// Used at start and by the IPC's `port` (a new port for every shard).
///
/// Errors: [`ListenError`] with the address (in use, no permission).
pub(crate) fn bind_listeners(
    addr: SocketAddr,
    n: usize,
) -> Result<(Vec<std::net::TcpListener>, SocketAddr), ListenError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let mut out = Vec::with_capacity(n);
    let mut bound = addr;
    for _ in 0..n {
        let err = |source| ListenError {
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

/// Loopback, IPv4-mapped loopback included.
pub(crate) fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}
