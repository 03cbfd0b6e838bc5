//! The configuration's value types: what a key holds when it is more than a
//! number, a flag or a path. Each one reads from and writes to the text an
//! operator types (`FromStr`/`Display`), and that same text is its TOML and
//! JSON form (serde through `serde_with`), so a flag, a config file and
//! `ringseed config` all spell it alike.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::{DeserializeFromStr, SerializeDisplay};

/// Where the IPC socket is: the default path, a path, or off.
#[derive(Clone, Debug, PartialEq, Eq, SerializeDisplay, DeserializeFromStr)]
pub enum UnixSocket {
    /// STATE_DIR/daemon/socket.
    Default,
    Off,
    Path(PathBuf),
}

impl std::str::FromStr for UnixSocket {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(if s.is_empty() {
            UnixSocket::Default
        } else if s.eq_ignore_ascii_case("off") {
            UnixSocket::Off
        } else {
            UnixSocket::Path(PathBuf::from(s))
        })
    }
}

impl std::fmt::Display for UnixSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UnixSocket::Default => Ok(()),
            UnixSocket::Off => f.write_str("off"),
            UnixSocket::Path(p) => p.display().fmt(f),
        }
    }
}

/// A listen address or "off".
#[derive(Clone, Copy, Debug, PartialEq, Eq, SerializeDisplay, DeserializeFromStr)]
pub enum Endpoint {
    Off,
    On(SocketAddr),
}

impl Endpoint {
    pub(crate) fn addr(self) -> Option<SocketAddr> {
        match self {
            Endpoint::Off => None,
            Endpoint::On(a) => Some(a),
        }
    }
}

impl std::str::FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(Endpoint::Off);
        }
        s.parse()
            .map(Endpoint::On)
            .map_err(|e| format!("{s:?}: expected ADDR:PORT or \"off\" ({e})"))
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Off => f.write_str("off"),
            Endpoint::On(a) => a.fmt(f),
        }
    }
}

/// How block data reaches the socket (`[network] send_mode`, `--send-mode`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum SendMode {
    /// Read into registered buffers (`IORING_OP_READ_FIXED`/`READV`), send with `writev`.
    Fixed,
    /// `IORING_OP_SPLICE` file → pipe → socket, headers written into the pipe.
    /// The default: fastest and cheapest measured here at 1, 8, 64 and 512
    /// peers with both request patterns (docs/benchmarks.md, "Send path").
    #[default]
    Splice,
    /// Read into registered buffers, send with `IORING_OP_SENDMSG_ZC`.
    Zc,
}

/// What happens to a torrent that reached a share limit (`[seeding]
/// share_limit_action`, `--share-limit-action`): qBittorrent's
/// `ShareLimitAction` without super seeding (a seeder of verified data has
/// nothing to gain from it).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum ShareLimitAction {
    /// Pause the torrent (its peers are closed), as `torrents.pause` does.
    #[default]
    Stop,
    /// Remove the torrent from the session; its data stays.
    Remove,
    /// Remove the torrent and delete the files its metainfo names.
    RemoveWithContent,
}

impl ShareLimitAction {
    /// From qBittorrent's `max_ratio_act` (WebUI API v2 preferences): 0 =
    /// stop, 1 = remove, 3 = remove with content; 2 (enable super seeding)
    /// and anything else: `None`.
    pub fn from_qbt(v: i64) -> Option<ShareLimitAction> {
        match v {
            0 => Some(ShareLimitAction::Stop),
            1 => Some(ShareLimitAction::Remove),
            3 => Some(ShareLimitAction::RemoveWithContent),
            _ => None,
        }
    }

    /// qBittorrent's `max_ratio_act` value of this action (0, 1 or 3).
    pub fn to_qbt(self) -> i64 {
        match self {
            ShareLimitAction::Stop => 0,
            ShareLimitAction::Remove => 1,
            ShareLimitAction::RemoveWithContent => 3,
        }
    }

    /// The action's name, as in the configuration (`stop`, `remove`,
    /// `remove_with_content`): the `action` label of
    /// `ringseed_share_limit_actions_total`.
    pub fn name(self) -> &'static str {
        match self {
            ShareLimitAction::Stop => "stop",
            ShareLimitAction::Remove => "remove",
            ShareLimitAction::RemoveWithContent => "remove_with_content",
        }
    }
}

/// How the read cache reads a window the page cache does not hold
/// (`[storage] cold_reads`, `--cold-reads`; see `storage::cache`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum ColdReads {
    /// `direct` while the torrents being seeded are larger than half the
    /// memory the page cache may use (the smaller of RAM and the process's
    /// memory cgroup limit), else `page_cache`; looked at again every
    /// second. The default.
    #[default]
    Auto,
    /// O_DIRECT: the page cache is bypassed; what was read stays only in
    /// the read cache. For payloads far larger than RAM, where the page
    /// cache would only churn (and costs about twice the CPU per byte:
    /// docs/benchmarks.md, "Cold cache").
    Direct,
    /// Buffered: the window is read through the page cache (asynchronously
    /// where the file system allows, without readahead), which then keeps
    /// it for later requests (the warm path) while memory allows.
    PageCache,
}

/// Which seed choking algorithm to run (`[choking] algorithm`, `--choker`):
/// libtorrent's names, described in `coordinator::choker`, which runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, SerializeDisplay, DeserializeFromStr)]
pub enum ChokerAlgorithm {
    #[default]
    RoundRobin,
    FastestUpload,
    AntiLeech,
}

impl std::str::FromStr for ChokerAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "round_robin" => Ok(Self::RoundRobin),
            "fastest_upload" => Ok(Self::FastestUpload),
            "anti_leech" => Ok(Self::AntiLeech),
            other => Err(format!(
                "unknown choker {other:?}; expected round_robin, fastest_upload or anti_leech"
            )),
        }
    }
}

impl std::fmt::Display for ChokerAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::RoundRobin => "round_robin",
            Self::FastestUpload => "fastest_upload",
            Self::AntiLeech => "anti_leech",
        })
    }
}

/// An IP network in CIDR notation (`10.0.0.0/8`, `::1/128`); an address
/// without `/BITS` is that one host. Spaces around the address and the bit
/// count are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr(IpNet);

impl std::str::FromStr for Cidr {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let net = match s.split_once('/') {
            Some((addr, bits)) => IpNet::new(
                addr.trim().parse().map_err(|_| ())?,
                bits.trim().parse().map_err(|_| ())?,
            )
            .map_err(|_| ())?,
            None => IpNet::from(s.trim().parse::<IpAddr>().map_err(|_| ())?),
        };
        Ok(Cidr(net))
    }
}

impl Cidr {
    /// True when `ip` is inside the network (IPv4-mapped IPv6 counts as IPv4).
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.contains(&ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_membership() {
        let n: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(n.contains("10.1.200.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one: Cidr = "::1".parse().unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("x/8".parse::<Cidr>().is_err());
    }

    #[test]
    fn cidr_spellings() {
        // A host address, spaces, a network address with host bits set, /0.
        let host: Cidr = " 192.0.2.7 ".parse().unwrap();
        assert!(host.contains("192.0.2.7".parse().unwrap()));
        assert!(!host.contains("192.0.2.8".parse().unwrap()));
        let n: Cidr = "10.1.2.3 / 8".parse().unwrap();
        assert!(n.contains("10.200.0.1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.1".parse().unwrap()));
        assert!(!all.contains("2001:db8::1".parse().unwrap()));
        assert!("::/129".parse::<Cidr>().is_err());
        assert!("10.0.0.0/".parse::<Cidr>().is_err());
    }

    #[test]
    fn string_values_round_trip_through_serde() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct T {
            e: Endpoint,
            u: UnixSocket,
            c: ChokerAlgorithm,
        }
        let t: T = toml::from_str("e = \"off\"\nu = \"\"\nc = \"anti_leech\"\n").unwrap();
        assert_eq!(
            t,
            T {
                e: Endpoint::Off,
                u: UnixSocket::Default,
                c: ChokerAlgorithm::AntiLeech
            }
        );
        assert_eq!(
            toml::to_string(&t).unwrap(),
            "e = \"off\"\nu = \"\"\nc = \"anti_leech\"\n"
        );
        let err = toml::from_str::<T>("e = \"off\"\nu = \"\"\nc = \"fastest\"\n").unwrap_err();
        assert!(
            err.to_string().contains("unknown choker \"fastest\""),
            "{err}"
        );
    }
}
