//! Reading a method's `params`, porla style: a missing key or a wrong type
//! is an "exception" (-32603 with nlohmann's message); `null` counts as
//! absent for optional keys; integers are read from any JSON number. Also
//! porla's `info_hash` shapes (porla's `src/json/ltinfohash.hpp`) and the torrent they name.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Value};

use super::MethodError;
use crate::coordinator::view::{TorrentView, View};
use crate::messages::TorrentProps;
use ringseed_proto::metainfo::{InfoHash, Metainfo};

// ---- Parameters, nlohmann style ----

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_error(expected: &str, v: &Value) -> MethodError {
    MethodError::Internal(format!(
        "[json.exception.type_error.302] type must be {expected}, but is {}",
        type_name(v)
    ))
}

/// A required key (`params.at(k)` in porla).
pub(crate) fn key<'a>(params: &'a Value, k: &str) -> Result<&'a Value, MethodError> {
    match params {
        Value::Object(m) => m.get(k).ok_or_else(|| {
            MethodError::Internal(format!(
                "[json.exception.out_of_range.403] key '{k}' not found"
            ))
        }),
        other => Err(MethodError::Internal(format!(
            "[json.exception.type_error.304] cannot use at() with {}",
            type_name(other)
        ))),
    }
}

/// An optional key; `null` counts as absent.
pub(crate) fn opt<'a>(params: &'a Value, k: &str) -> Option<&'a Value> {
    params.get(k).filter(|v| !v.is_null())
}

pub(crate) fn string(v: &Value) -> Result<&str, MethodError> {
    v.as_str().ok_or_else(|| type_error("string", v))
}

/// An integer, as nlohmann's `get<int64_t>()` reads any JSON number: a
/// float is truncated toward zero (out-of-range values saturate here).
pub(crate) fn int(v: &Value) -> Result<i64, MethodError> {
    v.as_i64()
        .or_else(|| v.as_f64().map(|f| f as i64))
        .ok_or_else(|| type_error("number", v))
}

pub(crate) fn boolean(v: &Value) -> Result<bool, MethodError> {
    v.as_bool().ok_or_else(|| type_error("boolean", v))
}

pub(crate) fn array(v: &Value) -> Result<&Vec<Value>, MethodError> {
    v.as_array().ok_or_else(|| type_error("array", v))
}

// ---- What the methods read ----

/// The metainfo bytes of `torrents.add`: `ti` (base64) wins over
/// `magnet_uri`, which a seeder cannot use.
pub(crate) fn torrent_bytes(params: &Value) -> Result<Vec<u8>, MethodError> {
    let ti = opt(params, "ti").map(string).transpose()?;
    let magnet = opt(params, "magnet_uri").map(string).transpose()?;
    match (ti, magnet) {
        (Some(ti), _) => base64::engine::general_purpose::STANDARD
            .decode(ti.trim())
            .map_err(|e| {
                MethodError::with_data(
                    -1,
                    "Failed to bdecode 'ti' parameter",
                    format!("base64: {e}"),
                )
            }),
        (None, Some(_)) => Err(MethodError::with_data(
            -5,
            "Failed to add torrent to session",
            "magnet links are not supported: a seeder needs the metainfo ('ti')",
        )),
        (None, None) => Err(MethodError::rpc(
            -4,
            "Either 'ti' or 'magnet_uri' must be set",
        )),
    }
}

/// The optional `save_path` (empty: none).
pub(crate) fn save_path(params: &Value) -> Result<Option<PathBuf>, MethodError> {
    Ok(opt(params, "save_path")
        .map(string)
        .transpose()?
        .filter(|p| !p.is_empty())
        .map(PathBuf::from))
}

/// The per-torrent limits of `torrents.add` and `torrents.properties.set`.
pub(crate) fn props(params: &Value) -> Result<TorrentProps, MethodError> {
    let get = |k: &str| opt(params, k).map(int).transpose();
    Ok(TorrentProps {
        upload_limit: get("upload_limit")?,
        max_connections: get("max_connections")?,
        max_uploads: get("max_uploads")?,
    })
}

/// The `peers` of `torrents.peers.add`: `[ip, port]` pairs; unparsable
/// addresses are skipped (porla logs and skips).
pub(crate) fn peer_addrs(params: &Value) -> Result<Vec<SocketAddr>, MethodError> {
    let mut addrs = Vec::new();
    for p in array(key(params, "peers")?)? {
        let (Some(ip), Some(port)) = (
            p.get(0).and_then(Value::as_str),
            p.get(1).and_then(Value::as_u64),
        ) else {
            continue;
        };
        match (ip.parse::<std::net::IpAddr>(), u16::try_from(port)) {
            (Ok(ip), Ok(port)) => addrs.push(SocketAddr::new(ip, port)),
            _ => tracing::info!(ip, port, "torrents.peers.add: unparsable address skipped"),
        }
    }
    Ok(addrs)
}

/// What `torrents.list` asks for, read in porla's order.
pub(crate) struct ListParams {
    pub(crate) page: usize,
    pub(crate) page_size: usize,
    pub(crate) order_by: String,
    pub(crate) order_by_dir: String,
    /// Only torrents saved here (`filters.save_path`).
    pub(crate) save_path: Option<String>,
    /// Only torrents of this category (`filters.category`).
    pub(crate) category: Option<String>,
    /// Only torrents with every one of these tags (`filters.tags`).
    pub(crate) tags: Vec<String>,
    /// `filters.query`: porla's query language, the part autobrr sends.
    pub(crate) query: Option<Query>,
}

/// A porla query (PQL) as autobrr sends it: `is:STATE` terms joined with
/// `not`, `and`, `or` and parentheses. States: `downloading` (never, for a
/// seeder), `seeding`, `paused`, `checking`, `finished`/`complete`, `error`.
/// Hand-written: porla's grammar is its own (no crate parses it), and only
/// this corner of it is taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Query {
    Is(String),
    Not(Box<Query>),
    And(Box<Query>, Box<Query>),
    Or(Box<Query>, Box<Query>),
}

/// The states a query can test.
pub(crate) const QUERY_STATES: &[&str] = &[
    "downloading",
    "seeding",
    "paused",
    "checking",
    "finished",
    "complete",
    "error",
];

impl Query {
    /// Parses a query (at most 256 tokens).
    ///
    /// Errors: the position of the first token that does not fit.
    pub(crate) fn parse(text: &str) -> Result<Query, usize> {
        let tokens: Vec<(usize, String)> = tokenize(text);
        if tokens.len() > 256 {
            return Err(0);
        }
        let mut at = 0;
        let q = parse_or(&tokens, &mut at)?;
        if at != tokens.len() {
            return Err(tokens[at].0);
        }
        Ok(q)
    }

    /// Evaluates the query with `is(state)`.
    pub(crate) fn eval(&self, is: &dyn Fn(&str) -> bool) -> bool {
        match self {
            Query::Is(s) => is(s),
            Query::Not(q) => !q.eval(is),
            Query::And(a, b) => a.eval(is) && b.eval(is),
            Query::Or(a, b) => a.eval(is) || b.eval(is),
        }
    }
}

fn tokenize(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() || c == '(' || c == ')' {
            if !cur.is_empty() {
                out.push((start, std::mem::take(&mut cur)));
            }
            if c != ' ' && !c.is_whitespace() {
                out.push((i, c.to_string()));
            }
        } else {
            if cur.is_empty() {
                start = i;
            }
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push((start, cur));
    }
    out
}

fn parse_or(t: &[(usize, String)], at: &mut usize) -> Result<Query, usize> {
    let mut q = parse_and(t, at)?;
    while t
        .get(*at)
        .is_some_and(|(_, w)| w.eq_ignore_ascii_case("or"))
    {
        *at += 1;
        q = Query::Or(Box::new(q), Box::new(parse_and(t, at)?));
    }
    Ok(q)
}

fn parse_and(t: &[(usize, String)], at: &mut usize) -> Result<Query, usize> {
    let mut q = parse_not(t, at)?;
    while t
        .get(*at)
        .is_some_and(|(_, w)| w.eq_ignore_ascii_case("and"))
    {
        *at += 1;
        q = Query::And(Box::new(q), Box::new(parse_not(t, at)?));
    }
    Ok(q)
}

fn parse_not(t: &[(usize, String)], at: &mut usize) -> Result<Query, usize> {
    let end = t.last().map_or(0, |(p, w)| p + w.len());
    let Some((pos, w)) = t.get(*at) else {
        return Err(end);
    };
    *at += 1;
    if w.eq_ignore_ascii_case("not") {
        return Ok(Query::Not(Box::new(parse_not(t, at)?)));
    }
    if w == "(" {
        let q = parse_or(t, at)?;
        return match t.get(*at) {
            Some((_, c)) if c == ")" => {
                *at += 1;
                Ok(q)
            }
            Some((p, _)) => Err(*p),
            None => Err(end),
        };
    }
    match w.split_once(':') {
        Some((k, v)) if k.eq_ignore_ascii_case("is") && QUERY_STATES.contains(&v) => {
            Ok(Query::Is(v.to_string()))
        }
        _ => Err(*pos),
    }
}

impl ListParams {
    /// Errors: a wrong type (an exception), a PQL query (-1000).
    pub(crate) fn read(params: &Value) -> Result<Self, MethodError> {
        let page = opt(params, "page")
            .map(int)
            .transpose()?
            .unwrap_or(0)
            .max(0) as usize;
        let page_size = opt(params, "page_size")
            .map(int)
            .transpose()?
            .unwrap_or(50)
            .max(1) as usize;
        let order_by = opt(params, "order_by")
            .map(string)
            .transpose()?
            .unwrap_or("queue_position")
            .to_string();
        let order_by_dir = opt(params, "order_by_dir")
            .map(string)
            .transpose()?
            .unwrap_or("asc")
            .to_string();
        let filters = opt(params, "filters");
        let query = match filters.and_then(|f| opt(f, "query")) {
            Some(q) => Some(Query::parse(string(q)?).map_err(|pos| {
                MethodError::with_data(
                    -1000,
                    "Only is:downloading|seeding|paused|checking|finished|complete|error with not, and, or and parentheses are supported",
                    json!({ "pos": pos }),
                )
            })?),
            None => None,
        };
        let save_path = match filters {
            Some(f) => opt(f, "save_path")
                .map(string)
                .transpose()?
                .map(str::to_string),
            None => None,
        };
        let category = match filters.and_then(|f| opt(f, "category")) {
            Some(c) => Some(string(c)?.to_string()),
            None => None,
        };
        let tags = match filters.and_then(|f| opt(f, "tags")) {
            Some(Value::Array(a)) => a
                .iter()
                .map(|t| string(t).map(str::to_string))
                .collect::<Result<Vec<_>, _>>()?,
            Some(t) => vec![string(t)?.to_string()],
            None => Vec::new(),
        };
        Ok(ListParams {
            page,
            page_size,
            order_by,
            order_by_dir,
            save_path,
            category,
            tags,
            query,
        })
    }
}

// ---- Info hashes (porla's `src/json/ltinfohash.hpp`) ----

/// A parsed `info_hash`: v1 and v2 halves, all zeros when absent. Anything
/// porla cannot parse is all zeros, which matches no torrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct IhKey {
    pub(crate) v1: [u8; 20],
    pub(crate) v2: [u8; 32],
}

fn hex_exact<const N: usize>(s: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    (s.len() == 2 * N).then_some(())?;
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// porla's `info_hash` shapes: "40 hex", "64 hex", [v1, null], [null, v2], [v1, v2].
pub(super) fn parse_info_hash(v: &Value) -> IhKey {
    let zero = IhKey {
        v1: [0; 20],
        v2: [0; 32],
    };
    match v {
        Value::String(s) => {
            if let Some(v1) = hex_exact::<20>(s) {
                return IhKey { v1, ..zero };
            }
            if let Some(v2) = hex_exact::<32>(s) {
                return IhKey { v2, ..zero };
            }
            zero
        }
        Value::Array(a) if a.len() == 2 => {
            let v1 = match &a[0] {
                Value::Null => Some([0; 20]),
                Value::String(s) => hex_exact::<20>(s),
                _ => None,
            };
            let v2 = match &a[1] {
                Value::Null => Some([0; 32]),
                Value::String(s) => hex_exact::<32>(s),
                _ => None,
            };
            match (v1, v2) {
                (Some(v1), Some(v2)) => IhKey { v1, v2 },
                _ => zero,
            }
        }
        _ => zero,
    }
}

fn key_of(meta: &Metainfo) -> IhKey {
    IhKey {
        v1: meta.info_hash.0,
        v2: meta.info_hash_v2.unwrap_or([0; 32]),
    }
}

/// The torrent an `info_hash` value names: an exact match of both halves.
pub(crate) fn lookup<'v>(view: &'v View, v: &Value) -> Option<&'v Arc<TorrentView>> {
    let k = parse_info_hash(v);
    view.torrents
        .get(&InfoHash(k.v1))
        .filter(|t| key_of(&t.meta) == k)
}

/// The torrent the `info_hash` parameter names.
///
/// Errors: the key is missing (an exception); no such torrent (-1).
pub(crate) fn find(view: &View, params: &Value) -> Result<Arc<TorrentView>, MethodError> {
    lookup(view, key(params, "info_hash")?)
        .cloned()
        .ok_or_else(MethodError::not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_read_from_any_json_number() {
        assert_eq!(int(&json!(7)).unwrap(), 7);
        assert_eq!(int(&json!(1_500_000.9)).unwrap(), 1_500_000);
        assert_eq!(int(&json!(-2.5)).unwrap(), -2);
        assert_eq!(int(&json!(u64::MAX)).unwrap(), i64::MAX);
        match int(&json!("7")) {
            Err(MethodError::Internal(m)) => {
                assert_eq!(
                    m,
                    "[json.exception.type_error.302] type must be number, but is string"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn info_hash_shapes_follow_porla() {
        let v1 = "0f16ea6965ee5133ea4dbb1e7f516e9fcf3d899e";
        let v2 = "a".repeat(64);
        let k = parse_info_hash(&json!(v1));
        assert_eq!(hex::encode(k.v1), v1);
        assert_eq!(k.v2, [0; 32]);
        assert_eq!(parse_info_hash(&json!([v1, null])), k);
        let h = parse_info_hash(&json!([v1, v2]));
        assert_eq!(hex::encode(h.v2), v2);
        let only2 = parse_info_hash(&json!([null, v2]));
        assert_eq!(only2.v1, [0; 20]);
        let zero = IhKey {
            v1: [0; 20],
            v2: [0; 32],
        };
        for bad in [
            json!("abcdef0123456789abcd"),
            json!([v1]),
            json!(5),
            json!([v1, null, null]),
            json!(["zz", null]),
        ] {
            assert_eq!(parse_info_hash(&bad), zero, "{bad}");
        }
    }
}

#[cfg(test)]
mod query_tests {
    use super::Query;

    #[test]
    fn autobrr_queries_parse_and_evaluate() {
        let q = Query::parse("is:downloading and not is:paused").unwrap();
        let paused = |s: &str| s == "paused";
        let seeding = |s: &str| s == "seeding";
        assert!(!q.eval(&paused) && !q.eval(&seeding));
        let q = Query::parse("(is:seeding or is:paused) and not is:checking").unwrap();
        assert!(q.eval(&paused) && q.eval(&seeding));
        assert_eq!(Query::parse("is:nonsense"), Err(0));
        assert_eq!(Query::parse("is:paused and"), Err(13));
        assert!(Query::parse("name:x").is_err());
    }
}
