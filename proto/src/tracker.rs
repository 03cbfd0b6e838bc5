//! Tracker protocol as pure functions over bytes: no I/O, no clock.
//!
//! - BEP 3 HTTP announce: [`http_announce_url`] builds the GET URL
//!   (`info_hash`, `peer_id`, `port`, `uploaded`, `downloaded`, `left`,
//!   `compact=1`, `numwant`, `key`, `event`, `trackerid`), and
//!   [`parse_http_announce`] reads the bencoded reply: `failure reason`,
//!   `warning message`, `interval`, `min interval`, `tracker id`,
//!   `complete`/`incomplete`/`downloaded`, and peers as BEP 23 compact
//!   strings (6 bytes each), BEP 7 `peers6` (18 bytes each) or the original
//!   list of `{ip, port}` dictionaries.
//! - BEP 48 HTTP scrape: [`scrape_url`] and [`parse_http_scrape`].
//! - BEP 15 UDP: connect, announce, scrape and error packets
//!   ([`udp_connect_request`], [`parse_udp_reply`], …). They are small
//!   fixed layouts of big-endian integers, so they are written by hand here
//!   rather than through a crate: every offset is in BEP 15's tables.
//!
//! Hostile input is refused with a reason, never trusted for a size: the
//! lenient bencode reader borrows from the body and never allocates by a
//! length it reads, nesting is capped at [`MAX_DEPTH`] and values at
//! [`MAX_VALUES`], and at most [`MAX_PEERS`] peers are kept from one reply
//! (the rest are counted in [`AnnounceReply::peers_dropped`]). Dictionary
//! keys may come in any order (BEP 3 asks for sorted keys, but libtorrent
//! and Transmission read any order, and so do we); a repeated key counts
//! once, the first.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::bencode::lenient::{self, Ben};

/// Most peers kept from one announce reply; the rest are dropped (counted).
pub const MAX_PEERS: usize = 500;

/// Deepest bencode nesting accepted in a tracker reply. An announce reply
/// needs 3 (reply dict → `peers` list → peer dict), a scrape reply 3
/// (reply → `files` → one torrent's dict); one more is slack. A "bencode
/// bomb" (`llllll…`) fails at this depth.
pub const MAX_DEPTH: usize = 4;

/// Most bencode values (keys not counted) read from one reply. A peer of
/// the original list costs 3 or 4 (its dictionary, `ip`, `port`, `peer
/// id`), so this reads some 16,000 of them, far more than the
/// [`MAX_PEERS`] kept and than a reply of `max_response_bytes` (256 KiB by
/// default) can hold.
pub const MAX_VALUES: usize = 1 << 16;

const LIMITS: lenient::Limits = lenient::Limits {
    max_depth: MAX_DEPTH,
    max_values: MAX_VALUES,
};

/// BEP 15's magic `protocol_id` of a connect request.
pub const UDP_PROTOCOL_ID: u64 = 0x0417_2710_1980;

/// Why a tracker exchange failed. Each variant names the offending value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TrackerError {
    /// The tracker refused (`failure reason`, or a BEP 15 error packet).
    #[error("tracker says: {0}")]
    Failure(String),
    /// The reply is not a tracker reply: not bencode, wrong types, a
    /// missing key, a UDP packet of the wrong size or action.
    #[error("invalid reply: {0}")]
    Invalid(String),
    /// A UDP reply for another request (transaction id mismatch).
    #[error("UDP reply with transaction id {got:#010x}, expected {want:#010x}")]
    Transaction { got: u32, want: u32 },
    /// The body went past the cap, bytes.
    #[error("reply larger than {0} bytes")]
    TooLarge(usize),
    /// No (complete) reply in time, seconds.
    #[error("no reply within {0} s")]
    Timeout(u64),
    /// Redirects followed before giving up.
    #[error("more than {0} redirects")]
    Redirects(usize),
    /// An HTTP status other than 200 (redirects aside).
    #[error("HTTP status {0}")]
    Status(u16),
    /// Resolving, connecting, sending or receiving failed.
    #[error("network: {0}")]
    Network(String),
    /// The URL cannot be announced to (scheme, host, port).
    #[error("unusable tracker URL: {0}")]
    Url(String),
}

impl TrackerError {
    /// A short stable name for metrics labels (`result`).
    pub fn kind(&self) -> &'static str {
        match self {
            TrackerError::Failure(_) => "failure_reason",
            TrackerError::Invalid(_) => "invalid_reply",
            TrackerError::Transaction { .. } => "invalid_reply",
            TrackerError::TooLarge(_) => "too_large",
            TrackerError::Timeout(_) => "timeout",
            TrackerError::Redirects(_) => "redirects",
            TrackerError::Status(_) => "http_status",
            TrackerError::Network(_) => "network",
            TrackerError::Url(_) => "bad_url",
        }
    }
}

/// The `event` of an announce (BEP 3; BEP 15 numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A regular re-announce.
    None,
    Completed,
    Started,
    Stopped,
}

impl Event {
    fn http(self) -> Option<&'static str> {
        match self {
            Event::None => None,
            Event::Completed => Some("completed"),
            Event::Started => Some("started"),
            Event::Stopped => Some("stopped"),
        }
    }

    fn udp(self) -> u32 {
        match self {
            Event::None => 0,
            Event::Completed => 1,
            Event::Started => 2,
            Event::Stopped => 3,
        }
    }
}

/// What an announce says about us. Byte counts are payload bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announce {
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    /// Our TCP listen port.
    pub port: u16,
    pub uploaded: u64,
    pub downloaded: u64,
    /// Bytes we still lack (a seed: 0).
    pub left: u64,
    pub event: Event,
    /// Peers wanted.
    pub numwant: u32,
    /// Our random key (identifies us across address changes).
    pub key: u32,
    /// The `tracker id` the tracker gave before, echoed.
    pub tracker_id: Option<Vec<u8>>,
}

/// What a tracker answered to an announce.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnnounceReply {
    /// Seconds until the next regular announce, as sent (may be 0 or
    /// negative: the caller clamps).
    pub interval: Option<i64>,
    /// Seconds before which we must not re-announce, as sent.
    pub min_interval: Option<i64>,
    pub tracker_id: Option<Vec<u8>>,
    /// `warning message`.
    pub warning: Option<String>,
    /// Seeders, leechers and completed downloads, when given.
    pub complete: Option<i64>,
    pub incomplete: Option<i64>,
    pub downloaded: Option<i64>,
    /// At most [`MAX_PEERS`] peers (IPv4 and IPv6), port 0 skipped.
    pub peers: Vec<SocketAddr>,
    /// Peers beyond [`MAX_PEERS`] and malformed entries, not kept.
    pub peers_dropped: usize,
}

/// Seeders, leechers and completed downloads of one torrent (scrape).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScrapeCounts {
    pub complete: i64,
    pub incomplete: i64,
    pub downloaded: i64,
}

/// Characters left as they are in a query value: RFC 3986 unreserved.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn enc(bytes: &[u8]) -> String {
    percent_encode(bytes, QUERY).to_string()
}

/// The BEP 3 announce URL: `base` (the tracker's announce URL, which may
/// already carry a query) with our parameters appended; binary values
/// percent-encoded; `compact=1` (BEP 23) and `no_peer_id=1` always.
pub fn http_announce_url(base: &str, a: &Announce) -> String {
    let mut u = String::with_capacity(base.len() + 300);
    u.push_str(base);
    u.push(if base.contains('?') { '&' } else { '?' });
    u.push_str("info_hash=");
    u.push_str(&enc(&a.info_hash));
    u.push_str("&peer_id=");
    u.push_str(&enc(&a.peer_id));
    u.push_str(&format!(
        "&port={}&uploaded={}&downloaded={}&left={}&compact=1&no_peer_id=1&numwant={}&key={:08x}",
        a.port, a.uploaded, a.downloaded, a.left, a.numwant, a.key
    ));
    if let Some(e) = a.event.http() {
        u.push_str("&event=");
        u.push_str(e);
    }
    if let Some(id) = &a.tracker_id {
        u.push_str("&trackerid=");
        u.push_str(&enc(id));
    }
    u
}

/// The BEP 48 scrape URL of an HTTP announce URL: the last path component
/// must start with `announce`, which becomes `scrape`; `None` otherwise
/// (the tracker does not support scrape). `info_hash` is appended.
pub fn scrape_url(announce: &str, info_hash: &[u8; 20]) -> Option<String> {
    let (path, query) = match announce.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (announce, None),
    };
    let slash = path.rfind('/')?;
    // "http://host" has no path: the slash found is the scheme's.
    if path[..slash].ends_with('/') {
        return None;
    }
    let last = &path[slash + 1..];
    let rest = last.strip_prefix("announce")?;
    let mut u = format!("{}/scrape{rest}", &path[..slash]);
    u.push('?');
    if let Some(q) = query {
        u.push_str(q);
        u.push('&');
    }
    u.push_str("info_hash=");
    u.push_str(&enc(info_hash));
    Some(u)
}

fn invalid(what: impl Into<String>) -> TrackerError {
    TrackerError::Invalid(what.into())
}

fn bencode_err(e: lenient::Error) -> TrackerError {
    match e {
        lenient::Error::OutOfRange(at) => invalid(format!("number at byte {at} out of range")),
        e => invalid(format!("not bencode: {e}")),
    }
}

fn int(v: &Ben<'_>, key: &str) -> Result<i64, TrackerError> {
    v.as_int()
        .ok_or_else(|| invalid(format!("`{key}` is not an integer")))
}

fn text(b: &[u8], limit: usize) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(limit)]);
    s.chars().filter(|c| !c.is_control()).collect()
}

/// Compact peers (BEP 23: 4-byte address + 2-byte port; BEP 7: 16 + 2).
fn compact(bytes: &[u8], v6: bool, out: &mut AnnounceReply) -> Result<(), TrackerError> {
    let step = if v6 { 18 } else { 6 };
    if !bytes.len().is_multiple_of(step) {
        return Err(invalid(format!(
            "`{}` is {} bytes, not a multiple of {step}",
            if v6 { "peers6" } else { "peers" },
            bytes.len()
        )));
    }
    for c in bytes.chunks_exact(step) {
        let ip: IpAddr = if v6 {
            let mut a = [0u8; 16];
            a.copy_from_slice(&c[..16]);
            Ipv6Addr::from(a).into()
        } else {
            Ipv4Addr::new(c[0], c[1], c[2], c[3]).into()
        };
        let port = u16::from_be_bytes([c[step - 2], c[step - 1]]);
        push_peer(out, SocketAddr::new(ip, port));
    }
    Ok(())
}

fn push_peer(out: &mut AnnounceReply, a: SocketAddr) {
    if a.port() == 0 || a.ip().is_unspecified() || out.peers.len() >= MAX_PEERS {
        out.peers_dropped += 1;
    } else {
        out.peers.push(a);
    }
}

/// The original BEP 3 peer list: `[{ip, port, peer id}, …]`.
fn dict_peers(list: &[Ben<'_>], out: &mut AnnounceReply) {
    for item in list {
        let (ip, port) = match item {
            Ben::Dict(_) => (
                item.get(b"ip")
                    .and_then(Ben::as_str)
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .and_then(|s| s.parse::<IpAddr>().ok()),
                item.get(b"port")
                    .and_then(Ben::as_int)
                    .and_then(|p| u16::try_from(p).ok()),
            ),
            _ => (None, None),
        };
        match (ip, port) {
            (Some(ip), Some(port)) => push_peer(out, SocketAddr::new(ip, port)),
            // Not a dictionary, a host name or a bad port: never resolved,
            // never dialled.
            _ => out.peers_dropped += 1,
        }
    }
}

/// Reads an HTTP announce reply (BEP 3, 23, 7).
///
/// Errors: [`TrackerError::Failure`] with the tracker's `failure reason`;
/// [`TrackerError::Invalid`] for anything that is not one bencoded
/// dictionary with an integer `interval` (bad bencode, nesting past
/// [`MAX_DEPTH`], more than [`MAX_VALUES`] values, trailing bytes, a
/// `peers` string whose length is not a multiple of 6).
pub fn parse_http_announce(body: &[u8]) -> Result<AnnounceReply, TrackerError> {
    if body.is_empty() {
        return Err(invalid("empty body"));
    }
    let top = lenient::decode(body, LIMITS).map_err(bencode_err)?;
    if top.as_dict().is_none() {
        return Err(invalid("not a dictionary"));
    }
    let mut out = AnnounceReply::default();
    // Keys in sorted order: a canonical reply's first fault is reported,
    // as when replies were read in wire order.
    if let Some(v) = top.get(b"complete") {
        out.complete = Some(int(v, "complete")?);
    }
    if let Some(v) = top.get(b"downloaded") {
        out.downloaded = Some(int(v, "downloaded")?);
    }
    let failure = match top.get(b"failure reason") {
        Some(Ben::Str(b)) => Some(text(b, 1024)),
        Some(_) => return Err(invalid("`failure reason` is not a string")),
        None => None,
    };
    if let Some(v) = top.get(b"incomplete") {
        out.incomplete = Some(int(v, "incomplete")?);
    }
    if let Some(v) = top.get(b"interval") {
        out.interval = Some(int(v, "interval")?);
    }
    if let Some(v) = top.get(b"min interval") {
        out.min_interval = Some(int(v, "min interval")?);
    }
    match top.get(b"peers") {
        Some(Ben::Str(b)) => compact(b, false, &mut out)?,
        Some(Ben::List(l)) => dict_peers(l, &mut out),
        Some(_) => return Err(invalid("`peers` is neither a string nor a list")),
        None => {}
    }
    match top.get(b"peers6") {
        Some(Ben::Str(b)) => compact(b, true, &mut out)?,
        Some(_) => return Err(invalid("`peers6` is not a string")),
        None => {}
    }
    if let Some(Ben::Str(b)) = top.get(b"tracker id") {
        // Echoed in every URL: keep it short.
        if b.len() <= 256 {
            out.tracker_id = Some(b.to_vec());
        }
    }
    if let Some(Ben::Str(b)) = top.get(b"warning message") {
        out.warning = Some(text(b, 1024));
    }
    if let Some(f) = failure {
        return Err(TrackerError::Failure(f));
    }
    if out.interval.is_none() {
        return Err(invalid("no `interval`"));
    }
    Ok(out)
}

/// Reads an HTTP scrape reply (BEP 48) for `info_hash`. Bytes after the
/// reply's dictionary are ignored.
///
/// Errors: [`TrackerError::Failure`] (`failure reason`),
/// [`TrackerError::Invalid`] (not bencode, no `files`, the torrent absent,
/// counts not integers).
pub fn parse_http_scrape(body: &[u8], info_hash: &[u8; 20]) -> Result<ScrapeCounts, TrackerError> {
    let top = match lenient::decode_prefix(body, LIMITS) {
        Ok((top, _)) if top.as_dict().is_some() => top,
        Ok(_) => return Err(invalid("not a dictionary")),
        Err(_) if body.is_empty() => return Err(invalid("not a dictionary")),
        Err(e) => return Err(bencode_err(e)),
    };
    let found = match top.get(b"files").and_then(|f| f.get(info_hash)) {
        Some(entry @ Ben::Dict(_)) => {
            let mut c = ScrapeCounts::default();
            if let Some(v) = entry.get(b"complete") {
                c.complete = int(v, "complete")?;
            }
            if let Some(v) = entry.get(b"downloaded") {
                c.downloaded = int(v, "downloaded")?;
            }
            if let Some(v) = entry.get(b"incomplete") {
                c.incomplete = int(v, "incomplete")?;
            }
            Some(c)
        }
        Some(_) => return Err(invalid("scrape entry is not a dictionary")),
        None => None,
    };
    if let Some(Ben::Str(b)) = top.get(b"failure reason") {
        return Err(TrackerError::Failure(text(b, 1024)));
    }
    found.ok_or_else(|| invalid("torrent not in the scrape reply"))
}

// ---- BEP 15 ----

/// A connect request: protocol id, action 0, transaction id (16 bytes).
pub fn udp_connect_request(transaction: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&UDP_PROTOCOL_ID.to_be_bytes());
    b[8..12].copy_from_slice(&0u32.to_be_bytes());
    b[12..16].copy_from_slice(&transaction.to_be_bytes());
    b
}

/// An announce request (98 bytes): connection id, action 1, transaction
/// id, info hash, peer id, downloaded, left, uploaded, event, IP 0 (the
/// sender's), key, num_want, port.
pub fn udp_announce_request(connection: u64, transaction: u32, a: &Announce) -> [u8; 98] {
    let mut b = [0u8; 98];
    b[0..8].copy_from_slice(&connection.to_be_bytes());
    b[8..12].copy_from_slice(&1u32.to_be_bytes());
    b[12..16].copy_from_slice(&transaction.to_be_bytes());
    b[16..36].copy_from_slice(&a.info_hash);
    b[36..56].copy_from_slice(&a.peer_id);
    b[56..64].copy_from_slice(&a.downloaded.to_be_bytes());
    b[64..72].copy_from_slice(&a.left.to_be_bytes());
    b[72..80].copy_from_slice(&a.uploaded.to_be_bytes());
    b[80..84].copy_from_slice(&a.event.udp().to_be_bytes());
    // 84..88: IP address 0 = the packet's source address.
    b[88..92].copy_from_slice(&a.key.to_be_bytes());
    b[92..96].copy_from_slice(&(a.numwant.min(i32::MAX as u32)).to_be_bytes());
    b[96..98].copy_from_slice(&a.port.to_be_bytes());
    b
}

/// A scrape request for one torrent (36 bytes): connection id, action 2,
/// transaction id, info hash.
pub fn udp_scrape_request(connection: u64, transaction: u32, info_hash: &[u8; 20]) -> [u8; 36] {
    let mut b = [0u8; 36];
    b[0..8].copy_from_slice(&connection.to_be_bytes());
    b[8..12].copy_from_slice(&2u32.to_be_bytes());
    b[12..16].copy_from_slice(&transaction.to_be_bytes());
    b[16..36].copy_from_slice(info_hash);
    b
}

/// A BEP 15 reply, by action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UdpReply {
    /// action 0: the connection id to use for 60 s.
    Connect(u64),
    /// action 1: interval, leechers, seeders and peers (6 bytes each, or
    /// 18 when the tracker was reached over IPv6).
    Announce(AnnounceReply),
    /// action 2: seeders, completed, leechers.
    Scrape(ScrapeCounts),
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads a BEP 15 reply to the request with `transaction` and `action`
/// (0 connect, 1 announce, 2 scrape). `v6`: the tracker was reached over
/// IPv6, so announce peers are 18 bytes each.
///
/// Errors: [`TrackerError::Transaction`] (another request's reply: the
/// caller keeps waiting), [`TrackerError::Failure`] (action 3 with the
/// tracker's message), [`TrackerError::Invalid`] (shorter than its layout,
/// another action, a peer list not a multiple of the peer size).
pub fn parse_udp_reply(
    b: &[u8],
    transaction: u32,
    action: u32,
    v6: bool,
) -> Result<UdpReply, TrackerError> {
    if b.len() < 8 {
        return Err(invalid(format!("UDP reply of {} bytes", b.len())));
    }
    let got_action = be32(b, 0);
    let got = be32(b, 4);
    if got != transaction {
        return Err(TrackerError::Transaction {
            got,
            want: transaction,
        });
    }
    if got_action == 3 {
        return Err(TrackerError::Failure(text(&b[8..], 1024)));
    }
    if got_action != action {
        return Err(invalid(format!(
            "UDP reply with action {got_action}, expected {action}"
        )));
    }
    let short = |need: usize| invalid(format!("UDP reply of {} bytes, need {need}", b.len()));
    match action {
        0 => {
            if b.len() < 16 {
                return Err(short(16));
            }
            let mut id = [0u8; 8];
            id.copy_from_slice(&b[8..16]);
            Ok(UdpReply::Connect(u64::from_be_bytes(id)))
        }
        1 => {
            if b.len() < 20 {
                return Err(short(20));
            }
            let mut r = AnnounceReply {
                interval: Some(be32(b, 8) as i64),
                incomplete: Some(be32(b, 12) as i64),
                complete: Some(be32(b, 16) as i64),
                ..Default::default()
            };
            compact(&b[20..], v6, &mut r)?;
            Ok(UdpReply::Announce(r))
        }
        2 => {
            if b.len() < 20 {
                return Err(short(20));
            }
            Ok(UdpReply::Scrape(ScrapeCounts {
                complete: be32(b, 8) as i64,
                downloaded: be32(b, 12) as i64,
                incomplete: be32(b, 16) as i64,
            }))
        }
        _ => Err(invalid(format!("unknown action {action}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn announce() -> Announce {
        Announce {
            info_hash: [0xab; 20],
            peer_id: *b"-RG0100-abc def~_.xy",
            port: 6881,
            uploaded: 5,
            downloaded: 0,
            left: 0,
            event: Event::Started,
            numwant: 50,
            key: 0xdead_beef,
            tracker_id: Some(b"t 1".to_vec()),
        }
    }

    #[test]
    fn announce_url_carries_every_parameter_encoded() {
        let u = http_announce_url("http://t:1/announce", &announce());
        assert_eq!(
            u,
            "http://t:1/announce?info_hash=%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB\
             &peer_id=-RG0100-abc%20def~_.xy&port=6881&uploaded=5&downloaded=0&left=0&compact=1\
             &no_peer_id=1&numwant=50&key=deadbeef&event=started&trackerid=t%201"
        );
        let mut a = announce();
        a.event = Event::None;
        a.tracker_id = None;
        let u = http_announce_url("http://t/a?passkey=x", &a);
        assert!(u.starts_with("http://t/a?passkey=x&info_hash="), "{u}");
        assert!(!u.contains("event="), "{u}");
    }

    #[test]
    fn scrape_url_follows_bep_48() {
        let h = [1u8; 20];
        let e = "%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01";
        assert_eq!(
            scrape_url("http://t/announce", &h).unwrap(),
            format!("http://t/scrape?info_hash={e}")
        );
        assert_eq!(
            scrape_url("http://t/x/announce.php?k=1", &h).unwrap(),
            format!("http://t/x/scrape.php?k=1&info_hash={e}")
        );
        assert_eq!(scrape_url("http://t/a", &h), None);
        assert_eq!(scrape_url("http://t/announce/x", &h), None);
        assert_eq!(scrape_url("http://announce", &h), None);
    }

    #[test]
    fn compact_v4_v6_and_dict_peers_are_read() {
        let mut body = b"d8:completei3e10:downloadedi7e10:incompletei2e8:intervali1800e12:min intervali60e5:peers12:".to_vec();
        body.extend([10, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0, 0]); // second has port 0
        body.extend(b"6:peers618:");
        body.extend([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 80]);
        body.extend(b"10:tracker id2:ide");
        let r = parse_http_announce(&body).unwrap();
        assert_eq!(r.interval, Some(1800));
        assert_eq!(r.min_interval, Some(60));
        assert_eq!(
            (r.complete, r.incomplete, r.downloaded),
            (Some(3), Some(2), Some(7))
        );
        assert_eq!(
            r.peers,
            vec![
                "10.0.0.1:6881".parse().unwrap(),
                "[::1]:80".parse().unwrap()
            ]
        );
        assert_eq!(r.peers_dropped, 1, "port 0 dropped");
        assert_eq!(r.tracker_id.as_deref(), Some(&b"id"[..]));
        let dicts = b"d8:intervali5e5:peersld2:ip8:10.0.0.74:porti99eed2:ip9:some.host4:porti1eeee";
        let r = parse_http_announce(dicts).unwrap();
        assert_eq!(r.peers, vec!["10.0.0.7:99".parse().unwrap()]);
        assert_eq!(r.peers_dropped, 1, "host names are never resolved");
    }

    #[test]
    fn hostile_replies_are_refused_with_a_reason() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "empty"),
            (b"<html>nope</html>", "not bencode"),
            (b"i5e", "not a dictionary"),
            (b"d8:intervali5e5:peers7:abcdefge", "multiple of 6"),
            (b"d5:peers0:e", "no `interval`"),
            (b"d8:intervali99999999999999999999999ee", "out of range"),
            (b"d8:interval3:abce", "not an integer"),
            (b"d8:intervali5eexyz", "not bencode"),
            (b"d8:intervali5e99999999999:", "not bencode"),
        ];
        for (body, why) in cases {
            match parse_http_announce(body) {
                Err(TrackerError::Invalid(m)) => {
                    assert!(m.contains(why), "{:?}: {m}", String::from_utf8_lossy(body))
                }
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
        // A bencode bomb: nesting far past MAX_DEPTH.
        let mut bomb = b"d8:intervali5e5:peers".to_vec();
        bomb.extend(std::iter::repeat_n(b'l', 1_000_000));
        assert!(matches!(
            parse_http_announce(&bomb),
            Err(TrackerError::Invalid(_))
        ));
        assert_eq!(
            parse_http_announce(b"d14:failure reason9:not today8:intervali5ee"),
            Err(TrackerError::Failure("not today".into()))
        );
    }

    #[test]
    fn unsorted_and_repeated_keys_are_read_the_first_wins() {
        // Refused while replies were read with the strict decoder.
        let r = parse_http_announce(b"d8:intervali1e5:abcdei2ee").unwrap();
        assert_eq!(r.interval, Some(1));
        let r = parse_http_announce(b"d5:peers6:\x0a\0\0\x01\0\x508:intervali30e8:intervali9ee")
            .unwrap();
        assert_eq!(r.interval, Some(30));
        assert_eq!(r.peers, vec!["10.0.0.1:80".parse().unwrap()]);
        let h = [7u8; 20];
        let mut body = b"d5:filesd20:".to_vec();
        body.extend(h);
        body.extend(b"d10:incompletei1e8:completei4eee14:failure reason0:e");
        assert_eq!(
            parse_http_scrape(&body, &h),
            Err(TrackerError::Failure(String::new()))
        );
    }

    #[test]
    fn oversized_peer_lists_are_cut_at_max_peers() {
        let n = MAX_PEERS + 100;
        let mut body = format!("d8:intervali5e5:peers{}:", n * 6).into_bytes();
        for i in 0..n {
            body.extend([10, 1, (i >> 8) as u8, i as u8, 0, 1]);
        }
        body.push(b'e');
        let r = parse_http_announce(&body).unwrap();
        assert_eq!(r.peers.len(), MAX_PEERS);
        assert_eq!(r.peers_dropped, 100);
    }

    #[test]
    fn scrape_reply_picks_our_torrent() {
        let h = [7u8; 20];
        let mut body = b"d5:filesd20:".to_vec();
        body.extend(h);
        body.extend(b"d8:completei4e10:downloadedi9e10:incompletei1eeee");
        assert_eq!(
            parse_http_scrape(&body, &h).unwrap(),
            ScrapeCounts {
                complete: 4,
                incomplete: 1,
                downloaded: 9
            }
        );
        assert!(parse_http_scrape(b"d5:filesdee", &h).is_err());
    }

    #[test]
    fn udp_packets_follow_bep_15_layouts() {
        let c = udp_connect_request(0x01020304);
        assert_eq!(&c[..8], &[0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80]);
        assert_eq!(&c[8..], &[0, 0, 0, 0, 1, 2, 3, 4]);
        let a = udp_announce_request(9, 7, &announce());
        assert_eq!(&a[8..12], &[0, 0, 0, 1]);
        assert_eq!(&a[16..36], &[0xab; 20]);
        assert_eq!(&a[80..84], &[0, 0, 0, 2], "started = 2");
        assert_eq!(&a[88..92], &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(&a[92..96], &[0, 0, 0, 50]);
        assert_eq!(&a[96..98], &6881u16.to_be_bytes());
        let s = udp_scrape_request(9, 7, &[1; 20]);
        assert_eq!(&s[8..12], &[0, 0, 0, 2]);

        let mut conn = vec![0, 0, 0, 0, 0, 0, 0, 5];
        conn.extend(42u64.to_be_bytes());
        assert_eq!(
            parse_udp_reply(&conn, 5, 0, false),
            Ok(UdpReply::Connect(42))
        );
        assert_eq!(
            parse_udp_reply(&conn, 6, 0, false),
            Err(TrackerError::Transaction { got: 5, want: 6 })
        );
        assert!(matches!(
            parse_udp_reply(&conn, 5, 1, false),
            Err(TrackerError::Invalid(_))
        ));
        let mut ann = vec![0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 60, 0, 0, 0, 2, 0, 0, 0, 3];
        ann.extend([127, 0, 0, 1, 0x1a, 0xe1]);
        match parse_udp_reply(&ann, 5, 1, false).unwrap() {
            UdpReply::Announce(r) => {
                assert_eq!(r.interval, Some(60));
                assert_eq!((r.incomplete, r.complete), (Some(2), Some(3)));
                assert_eq!(r.peers, vec!["127.0.0.1:6881".parse().unwrap()]);
            }
            other => panic!("{other:?}"),
        }
        ann.push(0);
        assert!(parse_udp_reply(&ann, 5, 1, false).is_err(), "ragged peers");
        let mut err = vec![0, 0, 0, 3, 0, 0, 0, 5];
        err.extend(b"go away");
        assert_eq!(
            parse_udp_reply(&err, 5, 1, false),
            Err(TrackerError::Failure("go away".into()))
        );
        assert!(parse_udp_reply(&[0, 0, 0], 5, 1, false).is_err());
        let scrape = [0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        assert_eq!(
            parse_udp_reply(&scrape, 5, 2, false),
            Ok(UdpReply::Scrape(ScrapeCounts {
                complete: 1,
                downloaded: 2,
                incomplete: 3
            }))
        );
    }
}
