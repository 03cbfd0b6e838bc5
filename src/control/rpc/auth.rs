//! porla's authentication (porla's `jwthandler.cpp`): an HS256 JWT whose `iss` is
//! "porla", signed with a secret the daemon creates at first start
//! (`STATE/rpc.secret`, mode 0600). The token is looked up, in order, in the
//! `x-porla-token` header, the `Authorization` header (both with their first
//! 7 characters — "Bearer " — dropped, as porla does, and absent when 7
//! characters or fewer), then the `porla-auth-token` cookie. Tokens carry no
//! expiry (`porla auth:token` issues none), but like porla's verifier
//! (jwt-cpp's defaults, leeway 0) a token that carries `exp`, `nbf` or `iat`
//! is refused once expired, before its `nbf`, or when issued in the future;
//! only `iss` is required. Signature checks compare in constant time (the
//! `jsonwebtoken` crate verifies with `ring`'s HMAC).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The secret's file name inside the state directory.
pub(crate) const SECRET_FILE: &str = "rpc.secret";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    /// Optional, as in porla (a token of `iss` alone verifies there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
}

/// Keys to sign and verify tokens.
#[derive(Clone)]
pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

/// Where the secret lives.
pub fn secret_path(state_dir: &Path) -> PathBuf {
    state_dir.join(SECRET_FILE)
}

impl Auth {
    /// Loads the secret from the state directory, creating it (32 random
    /// bytes, hex, mode 0600) when absent.
    ///
    /// Errors: the state directory or the file cannot be read or written.
    pub fn load_or_create(state_dir: &Path) -> std::io::Result<Auth> {
        let path = secret_path(state_dir);
        let secret = match std::fs::read_to_string(&path) {
            Ok(s) => s.trim().to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(state_dir)?;
                let mut bytes = [0u8; 32];
                rand::Rng::fill(&mut rand::thread_rng(), &mut bytes);
                let s = hex::encode(bytes);
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)?;
                f.write_all(s.as_bytes())?;
                f.sync_all()?;
                s
            }
            Err(e) => return Err(e),
        };
        if secret.len() < 32 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: secret too short", path.display()),
            ));
        }
        Ok(Auth::from_secret(secret.as_bytes()))
    }

    /// Keys for a given secret.
    pub fn from_secret(secret: &[u8]) -> Auth {
        let mut validation = Validation::new(Algorithm::HS256);
        // jwt-cpp checks `exp` and `nbf` when present, with no leeway; only
        // `iss` is required.
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["iss"]);
        validation.set_issuer(&["porla"]);
        Auth {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// A token as `porla auth:token` issues it: `iss` "porla", `iat`, header
    /// `typ` "JWS", no expiry.
    pub fn issue(&self) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("JWS".into());
        let claims = Claims {
            iss: "porla".into(),
            iat: Some(crate::messages::unix_now()),
        };
        jsonwebtoken::encode(&header, &claims, &self.encoding).expect("HS256 signing")
    }

    /// True when `token` is signed with our secret, says `iss` "porla", and
    /// its `exp`, `nbf` and `iat`, where present, hold now.
    pub(crate) fn verify(&self, token: &str) -> bool {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).is_ok_and(|d| {
            // jwt-cpp: a token issued in the future is refused.
            d.claims
                .iat
                .is_none_or(|iat| iat <= crate::messages::unix_now())
        })
    }

    /// Finds the token of a request (see the module docs) and verifies it.
    pub(crate) fn check(&self, headers: &hyper::HeaderMap) -> bool {
        token_of(headers).is_some_and(|t| self.verify(&t))
    }
}

/// The request's token, porla's way.
pub(crate) fn token_of(headers: &hyper::HeaderMap) -> Option<String> {
    for name in ["x-porla-token", "authorization"] {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            if v.len() > 7 {
                return v.get(7..).map(str::to_string);
            }
        }
    }
    for v in headers.get_all(hyper::header::COOKIE) {
        let Ok(v) = v.to_str() else { continue };
        for part in v.split(';') {
            if let Some(t) = part.trim().strip_prefix("porla-auth-token=") {
                return Some(t.to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_others_do_not() {
        let a = Auth::from_secret(b"0123456789abcdef0123456789abcdef");
        let b = Auth::from_secret(b"ffffffffffffffffffffffffffffffff");
        let t = a.issue();
        assert!(a.verify(&t));
        assert!(!b.verify(&t));
        assert!(!a.verify("not.a.token"));
        // A token for another issuer is refused.
        let other = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                iss: "someone".into(),
                iat: Some(0),
            },
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        assert!(!a.verify(&other));
    }

    #[test]
    fn time_claims_are_checked_when_present_as_porla_does() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let a = Auth::from_secret(secret);
        let now = crate::messages::unix_now() as i64;
        let sign = |claims: serde_json::Value| {
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(secret),
            )
            .unwrap()
        };
        assert!(!a.verify(&sign(serde_json::json!({"iss": "porla", "exp": now - 10}))));
        assert!(!a.verify(&sign(serde_json::json!({"iss": "porla", "nbf": now + 600}))));
        assert!(!a.verify(&sign(serde_json::json!({"iss": "porla", "iat": now + 600}))));
        assert!(a.verify(&sign(serde_json::json!({"iss": "porla", "exp": now + 600}))));
        assert!(a.verify(&sign(serde_json::json!({"iss": "porla"}))));
        assert!(a.verify(&sign(
            serde_json::json!({"iss": "porla", "iat": now, "nbf": now})
        )));
    }

    #[test]
    fn token_lookup_order_and_the_seven_character_prefix() {
        let mut h = hyper::HeaderMap::new();
        assert_eq!(token_of(&h), None);
        h.insert("cookie", "a=b; porla-auth-token=COOKIE".parse().unwrap());
        assert_eq!(token_of(&h).as_deref(), Some("COOKIE"));
        h.insert("authorization", "Bearer AUTH".parse().unwrap());
        assert_eq!(token_of(&h).as_deref(), Some("AUTH"));
        // x-porla-token also loses its first 7 characters (porla's handler does this).
        h.insert("x-porla-token", "Bearer XTOK".parse().unwrap());
        assert_eq!(token_of(&h).as_deref(), Some("XTOK"));
        // 7 characters or fewer count as absent.
        h.insert("x-porla-token", "Bearer ".parse().unwrap());
        assert_eq!(token_of(&h).as_deref(), Some("AUTH"));
    }
}
