//! Peer ids (BEP 3: the 20 bytes a client names itself with in the
//! handshake and at trackers) and the one decoder of what they say about
//! the client: the Azureus-style `-XX1234-` convention of BEP 20, plus the
//! few other shapes that matter. Used for peers that send no BEP 10 `v`
//! and for the short `peer_id_prefix` label of /metrics.

use std::fmt;

/// A 20-byte peer id (BEP 3). `Debug` prints it as escaped ASCII.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub [u8; 20]);

impl PeerId {
    /// The Azureus-style prefix (BEP 20) `-XX1234-`: bytes 0 and 7 are `-`
    /// and bytes 1..7 ASCII letters or digits. Returns the two-letter client
    /// code and the four version characters, `None` for any other shape.
    pub fn azureus(&self) -> Option<(&str, &[u8])> {
        let id = &self.0;
        if id[0] == b'-' && id[7] == b'-' && id[1..7].iter().all(|b| b.is_ascii_alphanumeric()) {
            let code = std::str::from_utf8(&id[1..3]).unwrap_or("??");
            return Some((code, &id[3..7]));
        }
        None
    }

    /// A client name and version, e.g. `qBittorrent 4.5.2.0`.
    ///
    /// Azureus-style ids name their client by the widely used codes (BEP 20's
    /// list; unknown codes show as the code) and their version as four
    /// numbers, each character a digit or a letter (`A` = 10); aria2's
    /// `A2-` ids show as `aria2`; anything else as `Unknown [..]` with the
    /// first 8 bytes (non-printable ones as `.`).
    pub fn client(&self) -> String {
        if let Some((code, version)) = self.azureus() {
            let name = match code {
                "AZ" => "Azureus",
                "BC" => "BitComet",
                "BI" => "BiglyBT",
                "BT" => "BitTorrent",
                "DE" => "Deluge",
                "KT" => "KTorrent",
                "LT" => "libtorrent",
                "lt" => "rTorrent",
                "qB" => "qBittorrent",
                "TR" => "Transmission",
                "UT" => "µTorrent",
                "UM" => "µTorrent Mac",
                "RG" => "ringseed",
                "RL" => "ringseed-loadtest",
                "WW" => "WebTorrent",
                "XL" => "Xunlei",
                other => other,
            };
            let digits: Vec<String> = version
                .iter()
                .map(|b| match b {
                    b'0'..=b'9' => (b - b'0').to_string(),
                    b'A'..=b'Z' => (b - b'A' + 10).to_string(),
                    b'a'..=b'z' => (b - b'a' + 10).to_string(),
                    _ => "?".into(),
                })
                .collect();
            return format!("{name} {}", digits.join("."));
        }
        if self.0.starts_with(b"A2-") {
            return "aria2".into();
        }
        let printable: String = self.0[..8]
            .iter()
            .map(|&b| if b.is_ascii_graphic() { b as char } else { '.' })
            .collect();
        format!("Unknown [{printable}]")
    }

    /// A short label for the client: the Azureus-style prefix as it is
    /// (`-qB4520-`), anything else as the hex of its first 4 bytes.
    pub fn prefix(&self) -> String {
        if self.azureus().is_some() {
            String::from_utf8_lossy(&self.0[..8]).into_owned()
        } else {
            hex::encode(&self.0[..4])
        }
    }
}

impl From<[u8; 20]> for PeerId {
    fn from(id: [u8; 20]) -> Self {
        PeerId(id)
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId(\"{}\")", self.0.escape_ascii())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: &[u8; 20]) -> String {
        PeerId(*id).client()
    }

    #[test]
    fn azureus_style_ids_name_their_client() {
        let mut id = *b"-TR3000-xxxxxxxxxxxx";
        assert_eq!(client(&id), "Transmission 3.0.0.0");
        id[..8].copy_from_slice(b"-qB4520-");
        assert_eq!(client(&id), "qBittorrent 4.5.2.0");
        id[..8].copy_from_slice(b"-ZZ0100-");
        assert_eq!(client(&id), "ZZ 0.1.0.0");
        assert_eq!(client(b"A2-1-36-0-xxxxxxxxxx"), "aria2");
        assert!(client(&[0u8; 20]).starts_with("Unknown"));
    }

    #[test]
    fn prefix_is_the_azureus_prefix_or_four_bytes_of_hex() {
        assert_eq!(PeerId(*b"-qB4520-xxxxxxxxxxxx").prefix(), "-qB4520-");
        assert_eq!(PeerId(*b"A2-1-36-0-xxxxxxxxxx").prefix(), "41322d31");
        assert_eq!(PeerId([0xff; 20]).prefix(), "ffffffff");
        assert_eq!(
            format!("{:?}", PeerId(*b"-RG0100-\x00bcdefghijkl")),
            "PeerId(\"-RG0100-\\x00bcdefghijkl\")"
        );
    }
}
