//! Reading a call's `arguments` leniently, as transmission-daemon's variant
//! getters do: a boolean may come as `true`/`false`, `0`/`1` or the strings
//! "true"/"false"; a number as an integer, a float or a numeric string. Any
//! other type is an error naming the key (the call's `result`), never a
//! guess.

use serde_json::{Map, Value};

use ringseed_proto::metainfo::InfoHash;

/// A call's arguments.
pub(super) struct Args<'a>(pub(super) &'a Map<String, Value>);

fn wrong(key: &str, want: &str) -> String {
    format!("invalid argument \"{key}\": expected {want}")
}

impl Args<'_> {
    /// A boolean (`true`, 1, "true"…).
    pub(super) fn bool(&self, key: &str) -> Result<Option<bool>, String> {
        Ok(match self.0.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::Number(n)) => Some(n.as_f64().is_some_and(|f| f != 0.0)),
            Some(Value::String(s)) => match s.trim() {
                "true" | "1" => Some(true),
                "false" | "0" | "" => Some(false),
                _ => return Err(wrong(key, "a boolean")),
            },
            Some(_) => return Err(wrong(key, "a boolean")),
        })
    }

    /// A number (integer, float or numeric string).
    pub(super) fn f64(&self, key: &str) -> Result<Option<f64>, String> {
        Ok(match self.0.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::Bool(b)) => Some(f64::from(u8::from(*b))),
            Some(Value::String(s)) => Some(
                s.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| wrong(key, "a number"))?,
            ),
            Some(_) => return Err(wrong(key, "a number")),
        })
    }

    /// An integer (a float is truncated; out of i64's range is an error).
    pub(super) fn int(&self, key: &str) -> Result<Option<i64>, String> {
        match self.0.get(key) {
            Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            _ => match self.f64(key)? {
                None => Ok(None),
                Some(f) if f.abs() < 9.0e18 => Ok(Some(f as i64)),
                Some(_) => Err(wrong(key, "an integer")),
            },
        }
    }

    pub(super) fn str(&self, key: &str) -> Result<Option<&str>, String> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(wrong(key, "a string")),
        }
    }

    /// A list of strings (a single string is a list of one).
    pub(super) fn strings(&self, key: &str) -> Result<Option<Vec<String>>, String> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| wrong(key, "a list of strings")),
            Some(_) => Err(wrong(key, "a list of strings")),
        }
    }
}

/// Which torrents `ids` names (`torrent-*` methods).
#[derive(Debug, PartialEq)]
pub(super) enum Ids {
    /// No `ids`: every torrent.
    All,
    /// `"recently-active"`: torrents active in the last 60 s, plus the ids
    /// removed in that time (`removed`).
    RecentlyActive,
    /// Ids and info hashes, in the order given.
    Some(Vec<Id>),
}

#[derive(Debug, PartialEq)]
pub(super) enum Id {
    Number(i64),
    Hash(InfoHash),
}

/// Reads `ids`: a number, a hash string, `"recently-active"`, or a list of
/// numbers and hash strings. A string that is neither a 40-digit hex info
/// hash nor `recently-active` names no torrent (transmission-daemon skips
/// what it does not find).
///
/// Errors: another type.
pub(super) fn ids(args: &Args<'_>) -> Result<Ids, String> {
    fn one(v: &Value) -> Result<Option<Id>, String> {
        match v {
            Value::Number(n) => Ok(n.as_i64().map(Id::Number)),
            Value::String(s) => Ok(InfoHash::from_hex(s.trim()).map(Id::Hash)),
            _ => Err(wrong("ids", "numbers or info hash strings")),
        }
    }
    match args.0.get("ids") {
        None | Some(Value::Null) => Ok(Ids::All),
        Some(Value::String(s)) if s == "recently-active" => Ok(Ids::RecentlyActive),
        Some(Value::Array(list)) => {
            let mut out = Vec::new();
            for v in list {
                if let Some(id) = one(v)? {
                    out.push(id);
                }
            }
            Ok(Ids::Some(out))
        }
        Some(v) => Ok(Ids::Some(one(v)?.into_iter().collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lenient_types() {
        let m = json!({"a": 1, "b": "true", "c": "2.5", "d": {}, "e": 2.9, "f": "x"});
        let m = m.as_object().unwrap();
        let a = Args(m);
        assert_eq!(a.bool("a"), Ok(Some(true)));
        assert_eq!(a.bool("b"), Ok(Some(true)));
        assert_eq!(a.f64("c"), Ok(Some(2.5)));
        assert!(a.int("d").is_err());
        assert_eq!(a.int("e"), Ok(Some(2)));
        assert!(a.int("f").is_err());
        assert_eq!(a.int("missing"), Ok(None));
    }

    #[test]
    fn ids_forms() {
        let h = "0123456789abcdef0123456789abcdef01234567";
        let m = json!({"ids": [1, h, "nonsense"]});
        let got = ids(&Args(m.as_object().unwrap())).unwrap();
        assert_eq!(
            got,
            Ids::Some(vec![
                Id::Number(1),
                Id::Hash(InfoHash::from_hex(h).unwrap())
            ])
        );
        let m = json!({"ids": "recently-active"});
        assert_eq!(ids(&Args(m.as_object().unwrap())), Ok(Ids::RecentlyActive));
        let m = json!({"ids": {"x": 1}});
        assert!(ids(&Args(m.as_object().unwrap())).is_err());
        let m = json!({});
        assert_eq!(ids(&Args(m.as_object().unwrap())), Ok(Ids::All));
    }
}
