//! The lenient bencode reader, for whatever peers, trackers and clients
//! send: BEP 10 extension handshakes, tracker replies, Transmission IPC
//! messages.
//!
//! Canonical bencode (BEP 3) sorts dictionary keys, but real senders do not
//! all do so: Transmission's IPC seed writes its own handshake with `min`
//! before `max`, every pre-2007-06-29 Transmission client sends unsorted
//! keys, and libtorrent and Transmission read peers' and trackers'
//! dictionaries in any order. So this reader accepts either key order and
//! repeated keys (lookups return the first, as libtorrent's `dict_find` and
//! Transmission 0.80's `tr_bencDictFind` do), and keeps dictionary pairs in
//! wire order (the IPC's v1 messages are processed in that order). It stays
//! strict otherwise: [`decode`] takes exactly one value (no leading junk, no
//! trailing bytes, no unterminated list), integers fit in 64 bits.
//!
//! Bounds, chosen by each caller ([`Limits`]): nesting depth and the number
//! of values. Strings are slices of the input, so a length prefix is checked
//! against the bytes present and never sizes an allocation.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::Value;

/// How much a caller lets one input hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of lists and dictionaries accepted (the top-level
    /// container is depth 1).
    pub max_depth: usize,
    /// Most values (integers, strings, lists, dictionaries; keys not
    /// counted) in one input.
    pub max_values: usize,
}

/// A decoded value, borrowing its strings from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ben<'a> {
    Int(i64),
    Str(&'a [u8]),
    List(Vec<Ben<'a>>),
    /// Pairs in wire order (keys may be unsorted or repeated).
    Dict(Vec<(&'a [u8], Ben<'a>)>),
}

impl<'a> Ben<'a> {
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Ben::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&'a [u8]> {
        match self {
            Ben::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_list(&self) -> Option<&[Ben<'a>]> {
        match self {
            Ben::List(l) => Some(l),
            _ => None,
        }
    }
    /// The pairs of a dictionary, in wire order.
    pub fn as_dict(&self) -> Option<&[(&'a [u8], Ben<'a>)]> {
        match self {
            Ben::Dict(d) => Some(d),
            _ => None,
        }
    }
    /// The value of `key` in a dictionary (the first, if repeated).
    pub fn get(&self, key: &[u8]) -> Option<&Ben<'a>> {
        match self {
            Ben::Dict(d) => d.iter().find(|(k, _)| *k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    /// Short name of the type, for log lines.
    pub fn type_name(&self) -> &'static str {
        match self {
            Ben::Int(_) => "integer",
            Ben::Str(_) => "string",
            Ben::List(_) => "list",
            Ben::Dict(_) => "dictionary",
        }
    }
    /// An owned copy to write back out (dictionaries sorted; a repeated key
    /// keeps its first value).
    pub fn to_value(&self) -> Value {
        match self {
            Ben::Int(i) => Value::Integer(*i),
            Ben::Str(s) => Value::Bytes(Cow::Owned(s.to_vec())),
            Ben::List(l) => Value::List(l.iter().map(Ben::to_value).collect()),
            Ben::Dict(d) => {
                let mut m = BTreeMap::new();
                for (k, v) in d {
                    m.entry(Cow::Owned(k.to_vec()))
                        .or_insert_with(|| v.to_value());
                }
                Value::Dict(m)
            }
        }
    }
}

/// Why an input is not one bencoded value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A byte that cannot start or continue a value, at this offset.
    #[error("invalid bencode at byte {0}")]
    Syntax(usize),
    /// An integer or string length at this offset is well formed but does
    /// not fit 64 bits. Shown as a syntax error (the IPC's log lines say
    /// so); a caller may name it more precisely.
    #[error("invalid bencode at byte {0}")]
    OutOfRange(usize),
    #[error("bencode ends early")]
    Truncated,
    #[error("{0} bytes after the value")]
    Trailing(usize),
    /// Nested deeper than the limit (the limit).
    #[error("nested deeper than {0}")]
    TooDeep(usize),
    /// More values than the limit (the limit).
    #[error("more than {0} values")]
    TooMany(usize),
}

impl Error {
    /// A short stable name for metrics labels (the IPC's
    /// `ringseed_ipc_errors_total{kind}`).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::TooDeep(_) => "too_deep",
            Error::TooMany(_) => "too_many_values",
            _ => "bad_bencode",
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
    values: usize,
    limits: Limits,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Result<u8, Error> {
        self.b.get(self.at).copied().ok_or(Error::Truncated)
    }

    /// Digits (with an optional leading `-` when `signed`) up to `end`.
    fn number(&mut self, end: u8, signed: bool) -> Result<i64, Error> {
        let start = self.at;
        let rest = &self.b[start..];
        let stop = rest
            .iter()
            .position(|&c| c == end)
            .ok_or(Error::Truncated)?;
        let text = &rest[..stop];
        let digits = match text.split_first() {
            Some((b'-', d)) if signed => d,
            _ => text,
        };
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(Error::Syntax(start));
        }
        let n = std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
            .ok_or(Error::OutOfRange(start))?;
        self.at = start + stop + 1;
        Ok(n)
    }

    fn value(&mut self, depth: usize) -> Result<Ben<'a>, Error> {
        self.values += 1;
        if self.values > self.limits.max_values {
            return Err(Error::TooMany(self.limits.max_values));
        }
        match self.peek()? {
            b'i' => {
                self.at += 1;
                Ok(Ben::Int(self.number(b'e', true)?))
            }
            b'0'..=b'9' => Ok(Ben::Str(self.string()?)),
            c @ (b'l' | b'd') => {
                if depth >= self.limits.max_depth {
                    return Err(Error::TooDeep(self.limits.max_depth));
                }
                self.at += 1;
                if c == b'l' {
                    let mut items = Vec::new();
                    while self.peek()? != b'e' {
                        items.push(self.value(depth + 1)?);
                    }
                    self.at += 1;
                    Ok(Ben::List(items))
                } else {
                    let mut pairs = Vec::new();
                    while self.peek()? != b'e' {
                        if !self.peek()?.is_ascii_digit() {
                            return Err(Error::Syntax(self.at));
                        }
                        let k = self.string()?;
                        pairs.push((k, self.value(depth + 1)?));
                    }
                    self.at += 1;
                    Ok(Ben::Dict(pairs))
                }
            }
            _ => Err(Error::Syntax(self.at)),
        }
    }

    fn string(&mut self) -> Result<&'a [u8], Error> {
        let start = self.at;
        let len = self.number(b':', false)?;
        // The length is checked against the bytes present: never an allocation.
        let len = usize::try_from(len).map_err(|_| Error::Syntax(start))?;
        let end = self
            .at
            .checked_add(len)
            .filter(|e| *e <= self.b.len())
            .ok_or(Error::Truncated)?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
}

/// Decodes one value at the start of `input` and returns it with the number
/// of bytes it took; what follows is left to the caller.
///
/// Errors: [`Error`] (syntax, out of range, truncation, too deep, too many
/// values).
pub fn decode_prefix(input: &[u8], limits: Limits) -> Result<(Ben<'_>, usize), Error> {
    let mut r = Reader {
        b: input,
        at: 0,
        values: 0,
        limits,
    };
    let v = r.value(0)?;
    Ok((v, r.at))
}

/// Decodes an input that must be exactly one bencoded value.
///
/// Errors: [`Error`] (syntax, out of range, truncation, trailing bytes, too
/// deep, too many values).
pub fn decode(input: &[u8], limits: Limits) -> Result<Ben<'_>, Error> {
    let (v, used) = decode_prefix(input, limits)?;
    if used != input.len() {
        return Err(Error::Trailing(input.len() - used));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bencode::encode;

    /// The Transmission IPC's bounds (src/control/ipc/bencode.rs).
    const MAX_DEPTH: usize = 16;
    const MAX_VALUES: usize = 1 << 17;
    const IPC: Limits = Limits {
        max_depth: MAX_DEPTH,
        max_values: MAX_VALUES,
    };

    fn dec(b: &[u8]) -> Result<Ben<'_>, Error> {
        decode(b, IPC)
    }

    #[test]
    fn either_key_order_is_read_and_output_is_sorted() {
        let a = dec(b"d7:versiond3:mini1e3:maxi2eee").unwrap();
        let b = dec(b"d7:versiond3:maxi2e3:mini1eee").unwrap();
        for v in [&a, &b] {
            let ver = v.get(b"version").unwrap();
            assert_eq!(ver.get(b"min"), Some(&Ben::Int(1)));
            assert_eq!(ver.get(b"max"), Some(&Ben::Int(2)));
        }
        assert_eq!(encode(&a.to_value()), b"d7:versiond3:maxi2e3:mini1eee");
        // Wire order is kept for v1 processing.
        let v1 = dec(b"d4:quit0:8:addfileslee").unwrap();
        match v1 {
            Ben::Dict(d) => assert_eq!(d[0].0, b"quit"),
            _ => panic!(),
        }
        // A repeated key: the first counts.
        assert_eq!(
            dec(b"d1:ai1e1:ai2ee").unwrap().get(b"a"),
            Some(&Ben::Int(1))
        );
    }

    #[test]
    fn values_decode() {
        assert_eq!(
            dec(b"l5:startli8eei15ee").unwrap(),
            Ben::List(vec![
                Ben::Str(b"start"),
                Ben::List(vec![Ben::Int(8)]),
                Ben::Int(15)
            ])
        );
        assert_eq!(dec(b"i-42e").unwrap(), Ben::Int(-42));
        assert_eq!(dec(b"0:").unwrap(), Ben::Str(b""));
        assert_eq!(dec(b"i9223372036854775807e").unwrap(), Ben::Int(i64::MAX));
    }

    #[test]
    fn malformed_input_is_refused_with_its_kind() {
        for (bad, kind) in [
            (&b""[..], "bad_bencode"),
            (b"x", "bad_bencode"),
            (b"l4:noop0:", "bad_bencode"),
            (b"l4:noop0:ee", "bad_bencode"),
            (b"junkl4:noop0:e", "bad_bencode"),
            (b"i12", "bad_bencode"),
            (b"ie", "bad_bencode"),
            (b"i1x2e", "bad_bencode"),
            (b"i-e", "bad_bencode"),
            (b"i9223372036854775808e", "bad_bencode"),
            (b"4294967296:x", "bad_bencode"),
            (b"99999999999999999999:x", "bad_bencode"),
            (b"5:abc", "bad_bencode"),
            (b"di1ei2ee", "bad_bencode"),
            (b"d1:a", "bad_bencode"),
        ] {
            let e = dec(bad).unwrap_err();
            assert_eq!(e.kind(), kind, "{}: {e}", bad.escape_ascii());
        }
        let deep = format!("{}{}", "l".repeat(MAX_DEPTH + 1), "e".repeat(MAX_DEPTH + 1));
        assert_eq!(dec(deep.as_bytes()), Err(Error::TooDeep(MAX_DEPTH)));
        let ok = format!("{}{}", "l".repeat(MAX_DEPTH), "e".repeat(MAX_DEPTH));
        assert!(dec(ok.as_bytes()).is_ok());
        // A million-deep bomb fails fast, without recursing that deep.
        let bomb = "l".repeat(1_000_000);
        assert_eq!(dec(bomb.as_bytes()), Err(Error::TooDeep(MAX_DEPTH)));
        let many = format!("l{}e", "le".repeat(MAX_VALUES));
        assert_eq!(dec(many.as_bytes()), Err(Error::TooMany(MAX_VALUES)));
    }

    #[test]
    fn messages_name_the_limits_and_an_out_of_range_number_reads_as_syntax() {
        assert_eq!(Error::TooDeep(16).to_string(), "nested deeper than 16");
        assert_eq!(
            Error::TooMany(131072).to_string(),
            "more than 131072 values"
        );
        let e = dec(b"i9223372036854775808e").unwrap_err();
        assert_eq!(e, Error::OutOfRange(1));
        assert_eq!(e.to_string(), "invalid bencode at byte 1");
    }

    #[test]
    fn prefix_leaves_what_follows_to_the_caller() {
        let (v, used) = decode_prefix(b"d1:ai1eexyz", IPC).unwrap();
        assert_eq!((v.get(b"a"), used), (Some(&Ben::Int(1)), 8));
        assert_eq!(dec(b"d1:ai1eexyz"), Err(Error::Trailing(3)));
    }
}
