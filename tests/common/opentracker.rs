//! Debian's `opentracker` as a real tracker for the tests: HTTP and UDP on
//! one port, whitelist-only (the Debian build), so the info hashes are
//! written to a whitelist before it starts.
//!
//! Facts that bite: it chroots to `tracker.rootdir` and drops to
//! `tracker.user` (nobody) *before* reading the whitelist, so the whitelist
//! path is given inside the chroot (`/whitelist`), and the folder and file
//! are world-readable.

use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running opentracker; killed on drop.
pub struct Opentracker {
    pub child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

/// `opentracker` on PATH, or why not. Under `CI=true` a missing tracker
/// fails the calling test (callers go through their `required`).
pub fn available() -> Result<(), String> {
    match Command::new("opentracker")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "opentracker not found ({e}); apt-get install opentracker"
        )),
    }
}

impl Opentracker {
    /// Starts `cmd` (an `opentracker` command, e.g. made to run inside a
    /// network namespace) on `addr` for the given info hashes (40 hex
    /// digits each) and waits until its TCP port answers.
    pub fn start_command(mut cmd: Command, addr: SocketAddr, hashes: &[String]) -> Opentracker {
        let dir = tempfile::Builder::new()
            .prefix("opentracker")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        std::fs::write(d.join("whitelist"), hashes.join("\n") + "\n").unwrap();
        std::fs::write(
            d.join("opentracker.conf"),
            format!(
                "listen.tcp_udp {addr}\naccess.whitelist /whitelist\ntracker.rootdir {}\ntracker.user nobody\n",
                d.display()
            ),
        )
        .unwrap();
        for (p, mode) in [
            (d.to_path_buf(), 0o755),
            (d.join("whitelist"), 0o644),
            (d.join("opentracker.conf"), 0o644),
        ] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let log = std::fs::File::create(d.join("log")).unwrap();
        let child = cmd
            .arg("-f")
            .arg(d.join("opentracker.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn opentracker");
        Opentracker {
            child,
            addr,
            _dir: dir,
        }
    }

    /// What opentracker printed.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("log")).unwrap_or_default()
    }

    /// Starts opentracker on `addr` (this network namespace).
    pub fn start(addr: SocketAddr, hashes: &[String]) -> Opentracker {
        let ot = Self::start_command(Command::new("opentracker"), addr, hashes);
        ot.wait_ready(|a| {
            std::net::TcpStream::connect_timeout(a, Duration::from_millis(200)).is_ok()
        });
        ot.wait_whitelist(hashes);
        ot
    }

    /// Waits (10 s at most) until opentracker answers an announce for the
    /// first of `hashes` without a failure: it loads its whitelist after
    /// it starts listening, and until then refuses every info hash with
    /// "Requested download is not authorized". The probe is a `stopped`
    /// announce, so it leaves no peer in the swarm.
    pub fn wait_whitelist(&self, hashes: &[String]) {
        let Some(ih) = hashes.first().and_then(|h| hex::decode(h).ok()) else {
            return;
        };
        let ih: [u8; 20] = ih.try_into().expect("20-byte info hash");
        super::wait::poll(
            Duration::from_secs(10),
            Duration::from_millis(50),
            || match self.announce(&ih, b"-PROBE0-000000000000", 1, 1, "stopped") {
                Ok(body) if !body.windows(14).any(|w| w == b"failure reason") => Ok(()),
                Ok(body) => Err(String::from_utf8_lossy(&body).into_owned()),
                Err(e) => Err(e),
            },
        )
        .unwrap_or_else(|e| panic!("opentracker did not accept {} within 10 s: {e}", hashes[0]));
    }

    /// Waits until `probe(addr)` is true (10 s at most).
    pub fn wait_ready(&self, probe: impl Fn(&SocketAddr) -> bool) {
        super::wait::poll(Duration::from_secs(10), Duration::from_millis(50), || {
            probe(&self.addr).then_some(()).ok_or_else(String::new)
        })
        .unwrap_or_else(|_| panic!("opentracker did not answer on {} within 10 s", self.addr));
    }

    /// The HTTP announce URL.
    pub fn http_url(&self) -> String {
        format!("http://{}/announce", self.addr)
    }

    /// The UDP announce URL (BEP 15).
    pub fn udp_url(&self) -> String {
        format!("udp://{}/announce", self.addr)
    }

    /// Seeders, leechers and downloads of `info_hash` by HTTP scrape (from
    /// this namespace).
    pub fn scrape(&self, info_hash: &[u8; 20]) -> Option<(i64, i64, i64)> {
        let url = ringseed::tracker_proto::scrape_url(&self.http_url(), info_hash)?;
        let body = ureq::get(&url)
            .timeout(Duration::from_secs(5))
            .call()
            .ok()?;
        let mut bytes = Vec::new();
        body.into_reader()
            .take(1 << 20)
            .read_to_end(&mut bytes)
            .ok()?;
        let c = ringseed::tracker_proto::parse_http_scrape(&bytes, info_hash).ok()?;
        Some((c.complete, c.incomplete, c.downloaded))
    }

    /// One HTTP announce from this namespace as the peer `peer_id` on
    /// `port` with `left` bytes to go and `event` ("" for none); the raw
    /// reply body.
    ///
    /// Errors: the tracker did not answer.
    pub fn announce(
        &self,
        info_hash: &[u8; 20],
        peer_id: &[u8; 20],
        port: u16,
        left: u64,
        event: &str,
    ) -> Result<Vec<u8>, String> {
        let enc = |b: &[u8]| {
            percent_encoding::percent_encode(b, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let mut url = format!(
            "{}?info_hash={}&peer_id={}&port={port}&uploaded=0&downloaded=0&left={left}&compact=1&numwant=50",
            self.http_url(),
            enc(info_hash),
            enc(peer_id),
        );
        if !event.is_empty() {
            url += &format!("&event={event}");
        }
        let r = ureq::get(&url)
            .timeout(Duration::from_secs(5))
            .call()
            .map_err(|e| format!("announce: {e}"))?;
        let mut body = Vec::new();
        r.into_reader()
            .take(1 << 20)
            .read_to_end(&mut body)
            .map_err(|e| e.to_string())?;
        Ok(body)
    }

    /// The peers opentracker hands a leecher of `info_hash` (compact IPv4
    /// and IPv6), asked by a probe announce from this namespace (its own
    /// peer id, port 1, `left=1`) that is taken out again at once with
    /// `event=stopped`. The probe itself (port 1) is not in the list.
    ///
    /// Errors: the tracker did not answer or the reply does not parse.
    pub fn probe_peers(&self, info_hash: &[u8; 20]) -> Result<Vec<SocketAddr>, String> {
        let probe = b"-PROBE0-000000000000";
        let body = self.announce(info_hash, probe, 1, 1, "started")?;
        let _ = self.announce(info_hash, probe, 1, 1, "stopped");
        let reply = ringseed::tracker_proto::parse_http_announce(&body).map_err(|e| {
            format!(
                "probe announce reply {:?}: {e}",
                String::from_utf8_lossy(&body)
            )
        })?;
        // opentracker may hand the probe back to itself: leave it out.
        Ok(reply.peers.into_iter().filter(|p| p.port() != 1).collect())
    }

    /// The exit status when it died.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Opentracker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
