//! Who may use the qBittorrent WebUI API: the login's credentials, the
//! sessions (`SID` cookies) and the addresses banned after failed logins.
//!
//! - **Credentials** are a user name and a password hash in qBittorrent's
//!   own format (`WebUI\Password_PBKDF2`: `@ByteArray(SALT:KEY)`, base64 of
//!   a 16-byte salt and the 64-byte PBKDF2-HMAC-SHA512 key, 100,000
//!   iterations), so a hash can be copied from a qBittorrent.conf. They come
//!   from `[webui]` in the configuration, else from
//!   `STATE_DIR/webui.credentials` (written by `ringseed webui-password`,
//!   mode 0600, read again whenever it changes, so a password set while the
//!   daemon runs applies at the next login). With neither, the first start
//!   makes a random password, writes its hash there and prints the password
//!   once in the log (qBittorrent 4.6's behaviour).
//! - **Sessions**: a login gives a random 32-character `SID`; a session
//!   unused for `session_timeout_secs` ends; at most `max_sessions` (the
//!   least recently used goes).
//! - **Bans**: `max_auth_failures` failed logins from one address ban it for
//!   `ban_secs` (qBittorrent's 5 and 3600 s); a banned address's logins are
//!   refused with 403, even with the right password.
//!
//! ring does the hashing, the constant-time comparison and the randomness.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use parking_lot::Mutex;
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};

/// The credentials file inside the state directory.
pub const CREDENTIALS_FILE: &str = "webui.credentials";

/// qBittorrent's PBKDF2 iterations (`Utils::Password::PBKDF2`).
const ITERATIONS: u32 = 100_000;
const SALT_BYTES: usize = 16;
const KEY_BYTES: usize = 64;
/// The user name qBittorrent starts with.
pub const DEFAULT_USERNAME: &str = "admin";

/// A password hash in qBittorrent's `@ByteArray(SALT:KEY)` format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordHash {
    salt: Vec<u8>,
    key: Vec<u8>,
}

impl PasswordHash {
    /// Hashes `password` with a fresh random salt.
    pub fn new(password: &str) -> PasswordHash {
        let mut salt = vec![0u8; SALT_BYTES];
        ring::rand::SystemRandom::new()
            .fill(&mut salt)
            .expect("the OS random source works");
        let mut key = vec![0u8; KEY_BYTES];
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA512,
            NonZeroU32::new(ITERATIONS).expect("nonzero"),
            &salt,
            password.as_bytes(),
            &mut key,
        );
        PasswordHash { salt, key }
    }

    /// Reads `@ByteArray(SALT:KEY)` (the quotes of a qBittorrent.conf value
    /// and surrounding blanks are tolerated).
    ///
    /// Errors: `None` when it is not that format, or the key is not 64 bytes.
    pub fn parse(s: &str) -> Option<PasswordHash> {
        let s = s.trim().trim_matches('"');
        let inner = s.strip_prefix("@ByteArray(")?.strip_suffix(')')?;
        let (salt, key) = inner.split_once(':')?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = b64.decode(salt).ok()?;
        let key = b64.decode(key).ok()?;
        (key.len() == KEY_BYTES && !salt.is_empty()).then_some(PasswordHash { salt, key })
    }

    /// The `@ByteArray(SALT:KEY)` text.
    pub fn encode(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        format!(
            "@ByteArray({}:{})",
            b64.encode(&self.salt),
            b64.encode(&self.key)
        )
    }

    /// True when `password` is the one hashed (constant-time comparison).
    pub fn verify(&self, password: &str) -> bool {
        ring::pbkdf2::verify(
            ring::pbkdf2::PBKDF2_HMAC_SHA512,
            NonZeroU32::new(ITERATIONS).expect("nonzero"),
            &self.salt,
            password.as_bytes(),
            &self.key,
        )
        .is_ok()
    }
}

/// What `STATE_DIR/webui.credentials` holds (JSON).
#[derive(Debug, Serialize, Deserialize)]
struct CredentialsFile {
    username: String,
    password_pbkdf2: String,
}

/// Writes the credentials file (atomically, mode 0600): what
/// `ringseed webui-password` does. A running daemon reads it at its next
/// login.
///
/// Errors: the state directory cannot be created or written.
pub fn set_password(state_dir: &Path, username: &str, password: &str) -> std::io::Result<()> {
    write_credentials(state_dir, username, &PasswordHash::new(password))
}

fn write_credentials(state_dir: &Path, username: &str, hash: &PasswordHash) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(state_dir)?;
    let path = state_dir.join(CREDENTIALS_FILE);
    let body = serde_json::to_vec_pretty(&CredentialsFile {
        username: username.to_string(),
        password_pbkdf2: hash.encode(),
    })
    .expect("serialisable");
    let tmp = state_dir.join(format!("{CREDENTIALS_FILE}.tmp{}", std::process::id()));
    let r = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// A random token: `bytes` random bytes, URL-safe base64 without padding.
pub(crate) fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("the OS random source works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The credentials in force and where they came from.
#[derive(Debug)]
struct Current {
    username: String,
    hash: PasswordHash,
    /// The credentials file's modification time when read (`None`: from the config).
    file_mtime: Option<SystemTime>,
}

/// Why a login was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LoginRefused {
    /// Wrong user name or password (qBittorrent answers 200 `Fails.`).
    Wrong,
    /// The address is banned after too many failures (403).
    Banned,
}

/// The WebUI's credentials, sessions and bans.
#[derive(Debug)]
pub(crate) struct Auth {
    current: Mutex<Current>,
    /// `Some`: read from this file, again whenever it changes.
    file: Option<PathBuf>,
    /// An HMAC (per-run random key) of the last user name and password
    /// that verified: a client that logs in again and again (an exporter
    /// logs in on every scrape) costs one HMAC instead of 100,000 PBKDF2
    /// rounds (330–430 ms of a shared core each, measured). A wrong
    /// password still takes the full PBKDF2. Cleared when the credentials
    /// change.
    verified: Mutex<Option<ring::hmac::Tag>>,
    mac_key: ring::hmac::Key,
    api_keys: Vec<String>,
    sessions: Mutex<HashMap<String, Instant>>,
    failures: Mutex<HashMap<IpAddr, (u32, Option<Instant>)>>,
    session_timeout: Duration,
    max_sessions: usize,
    max_failures: u32,
    ban: Duration,
}

/// Addresses with failed logins remembered at once (the oldest bans that
/// have run out are forgotten first; past it, everything expired goes).
const MAX_FAILURE_RECORDS: usize = 10_000;

impl Auth {
    /// The credentials of `config` (`[webui]`), else of the state
    /// directory's file, else new ones made there with a random password
    /// that is logged once.
    ///
    /// Errors: the configured hash is not `@ByteArray(SALT:KEY)`, or the
    /// state directory's file cannot be read, parsed or written.
    pub(crate) fn load_or_create(
        config: &crate::config::WebUi,
        state_dir: &Path,
    ) -> Result<Auth, String> {
        let path = state_dir.join(CREDENTIALS_FILE);
        let (current, file) = if !config.password_pbkdf2.is_empty() {
            let hash = PasswordHash::parse(&config.password_pbkdf2).ok_or_else(|| {
                "webui.password_pbkdf2 is not @ByteArray(SALT:KEY) (base64 salt, base64 64-byte key)"
                    .to_string()
            })?;
            let username = if config.username.is_empty() {
                DEFAULT_USERNAME.to_string()
            } else {
                config.username.clone()
            };
            (
                Current {
                    username,
                    hash,
                    file_mtime: None,
                },
                None,
            )
        } else {
            if !path.exists() {
                let password = random_token(9);
                let username = if config.username.is_empty() {
                    DEFAULT_USERNAME
                } else {
                    &config.username
                };
                write_credentials(state_dir, username, &PasswordHash::new(&password))
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                tracing::warn!(
                    "webui: no password was set; a temporary one was made for user {username:?}: {password} (its hash is in {}; set yours with `ringseed webui-password`)",
                    path.display()
                );
            }
            let mut c = read_file(&path)?;
            if !config.username.is_empty() {
                c.username = config.username.clone();
            }
            (c, Some(path))
        };
        Ok(Auth {
            current: Mutex::new(current),
            file,
            verified: Mutex::new(None),
            mac_key: ring::hmac::Key::generate(
                ring::hmac::HMAC_SHA256,
                &ring::rand::SystemRandom::new(),
            )
            .map_err(|_| "the OS random source failed".to_string())?,
            api_keys: config.api_keys.clone(),
            sessions: Mutex::default(),
            failures: Mutex::default(),
            session_timeout: Duration::from_secs(config.session_timeout_secs.max(1)),
            max_sessions: config.max_sessions.max(1),
            max_failures: config.max_auth_failures.max(1),
            ban: Duration::from_secs(config.ban_secs),
        })
    }

    /// Reads the credentials file again when it changed.
    fn refresh(&self) {
        let Some(path) = &self.file else { return };
        let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let mut cur = self.current.lock();
        if mtime.is_some() && mtime != cur.file_mtime {
            match read_file(path) {
                Ok(c) => {
                    tracing::info!(file = %path.display(), "webui: credentials read again");
                    *cur = c;
                    *self.verified.lock() = None;
                }
                Err(e) => tracing::warn!("webui: {e}; the previous credentials stay"),
            }
        }
    }

    /// True while `ip` is banned.
    pub(crate) fn banned(&self, ip: IpAddr, now: Instant) -> bool {
        self.failures
            .lock()
            .get(&ip)
            .and_then(|(_, until)| *until)
            .is_some_and(|u| u > now)
    }

    /// Checks a login; on success returns a new session id.
    ///
    /// Errors: [`LoginRefused`].
    pub(crate) fn login(
        &self,
        ip: IpAddr,
        username: &str,
        password: &str,
        now: Instant,
    ) -> Result<String, LoginRefused> {
        self.verify(ip, username, password, now)?;
        let sid = random_token(24);
        let mut s = self.sessions.lock();
        s.retain(|_, used| now.duration_since(*used) < self.session_timeout);
        if s.len() >= self.max_sessions {
            if let Some(oldest) = s.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone()) {
                s.remove(&oldest);
            }
        }
        s.insert(sid.clone(), now);
        Ok(sid)
    }

    /// Checks credentials without opening a session (HTTP Basic auth, sent
    /// with every request): a failure counts toward the address's ban as a
    /// failed login does.
    ///
    /// Errors: [`LoginRefused`].
    pub(crate) fn verify(
        &self,
        ip: IpAddr,
        username: &str,
        password: &str,
        now: Instant,
    ) -> Result<(), LoginRefused> {
        if self.banned(ip, now) {
            return Err(LoginRefused::Banned);
        }
        self.refresh();
        let attempt = format!("{username}\0{password}");
        let known = self.verified.lock().as_ref().is_some_and(|tag| {
            ring::hmac::verify(&self.mac_key, attempt.as_bytes(), tag.as_ref()).is_ok()
        });
        let ok = known || {
            let cur = self.current.lock();
            // Both checks run, so the time taken does not say which failed.
            let user_ok = same(&cur.username, username);
            cur.hash.verify(password) && user_ok
        };
        if ok && !known {
            *self.verified.lock() = Some(ring::hmac::sign(&self.mac_key, attempt.as_bytes()));
        }
        if !ok {
            let mut f = self.failures.lock();
            if f.len() >= MAX_FAILURE_RECORDS {
                f.retain(|_, (_, until)| until.is_some_and(|u| u > now));
                if f.len() >= MAX_FAILURE_RECORDS {
                    f.clear();
                }
            }
            let e = f.entry(ip).or_insert((0, None));
            if e.1.is_some_and(|u| u <= now) {
                *e = (0, None);
            }
            e.0 += 1;
            if e.0 >= self.max_failures {
                e.1 = Some(now + self.ban);
                tracing::warn!(%ip, failures = e.0, ban_secs = self.ban.as_secs(), "webui: address banned after failed logins");
                crate::tally::tally(
                    "ringseed_webui_refusals_total",
                    [("reason", "banned_now"), ("", "")],
                );
            }
            return Err(LoginRefused::Wrong);
        }
        self.failures.lock().remove(&ip);
        Ok(())
    }

    /// True when `sid` is a live session (its use time is refreshed).
    pub(crate) fn session(&self, sid: &str, now: Instant) -> bool {
        let mut s = self.sessions.lock();
        match s.get_mut(sid) {
            Some(used) if now.duration_since(*used) < self.session_timeout => {
                *used = now;
                true
            }
            Some(_) => {
                s.remove(sid);
                false
            }
            None => false,
        }
    }

    /// True when `key` is one of the configured API keys (constant time per key).
    pub(crate) fn api_key(&self, key: &str) -> bool {
        self.api_keys.iter().any(|k| !k.is_empty() && same(k, key))
    }

    /// Ends a session.
    pub(crate) fn logout(&self, sid: &str) {
        self.sessions.lock().remove(sid);
    }
}

/// Compares two secrets by their SHA-1 digests: the time a comparison
/// takes then says nothing about how much of the secret matched.
fn same(a: &str, b: &str) -> bool {
    use sha1::Digest;
    sha1::Sha1::digest(a.as_bytes()) == sha1::Sha1::digest(b.as_bytes())
}

fn read_file(path: &Path) -> Result<Current, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let f: CredentialsFile =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let hash = PasswordHash::parse(&f.password_pbkdf2).ok_or_else(|| {
        format!(
            "{}: password_pbkdf2 is not @ByteArray(SALT:KEY)",
            path.display()
        )
    })?;
    Ok(Current {
        username: f.username,
        hash,
        file_mtime: meta.modified().ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_round_trip_and_verify() {
        let h = PasswordHash::new("adminadmin");
        let text = h.encode();
        assert!(text.starts_with("@ByteArray(") && text.ends_with(')'));
        let back = PasswordHash::parse(&format!("\"{text}\"")).unwrap();
        assert_eq!(back, h);
        assert!(back.verify("adminadmin"));
        assert!(!back.verify("adminadmim"));
        assert!(PasswordHash::parse("@ByteArray(AAAA:AAAA)").is_none());
        assert!(PasswordHash::parse("plain").is_none());
    }

    #[test]
    fn five_failures_ban_the_address_and_a_good_login_gives_a_session() {
        let dir = tempfile::tempdir().unwrap();
        set_password(dir.path(), "admin", "secret").unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join(CREDENTIALS_FILE))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let auth = Auth::load_or_create(&Default::default(), dir.path()).unwrap();
        let now = Instant::now();
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        let sid = auth.login(ip, "admin", "secret", now).unwrap();
        assert!(auth.session(&sid, now));
        auth.logout(&sid);
        assert!(!auth.session(&sid, now));
        for _ in 0..5 {
            assert_eq!(
                auth.login(ip, "admin", "nope", now),
                Err(LoginRefused::Wrong)
            );
        }
        assert_eq!(
            auth.login(ip, "admin", "secret", now),
            Err(LoginRefused::Banned)
        );
        // Another address is not affected; the ban ends.
        let other: IpAddr = "127.0.0.3".parse().unwrap();
        assert!(auth.login(other, "admin", "secret", now).is_ok());
        assert!(auth
            .login(ip, "admin", "secret", now + Duration::from_secs(3601))
            .is_ok());
    }

    #[test]
    fn the_first_start_makes_a_private_credentials_file_and_a_config_hash_wins() {
        let dir = tempfile::tempdir().unwrap();
        let auth = Auth::load_or_create(&Default::default(), dir.path()).unwrap();
        let path = dir.path().join(CREDENTIALS_FILE);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        // The random password is only in the log: a guess fails.
        assert_eq!(
            auth.login(ip, "admin", "adminadmin", Instant::now()),
            Err(LoginRefused::Wrong)
        );
        // A hash in the configuration is used instead of the file.
        let config = crate::config::WebUi {
            username: "ops".into(),
            password_pbkdf2: PasswordHash::new("from config").encode(),
            ..Default::default()
        };
        let auth = Auth::load_or_create(&config, dir.path()).unwrap();
        assert!(auth.login(ip, "ops", "from config", Instant::now()).is_ok());
        let bad = crate::config::WebUi {
            password_pbkdf2: "plain text".into(),
            ..Default::default()
        };
        assert!(Auth::load_or_create(&bad, dir.path()).is_err());
    }

    #[test]
    fn a_password_set_while_running_applies_at_the_next_login() {
        let dir = tempfile::tempdir().unwrap();
        let auth = Auth::load_or_create(&Default::default(), dir.path()).unwrap();
        let now = Instant::now();
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        set_password(dir.path(), "ops", "new one").unwrap();
        // The mtime must differ from the first write's.
        let f = std::fs::File::options()
            .append(true)
            .open(dir.path().join(CREDENTIALS_FILE))
            .unwrap();
        f.set_modified(SystemTime::now() + Duration::from_secs(1))
            .unwrap();
        assert!(auth.login(ip, "ops", "new one", now).is_ok());
    }
}
