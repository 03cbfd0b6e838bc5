//! Bencode for the IPC: a small reader for what clients send, and bendy's
//! encoder for what we answer.
//!
//! Why a reader of our own: bendy's decoder enforces canonical bencode and
//! refuses a dictionary whose keys are not sorted, but the seed's own
//! handshake (`d7:versiond3:mini1e3:maxi2eee`, `min` before `max`) and
//! every pre-2007-06-29 Transmission client send unsorted keys. The reader
//! accepts either key order (a repeated key: the first one counts, as
//! 0.80's `tr_bencDictFind`), keeps dictionary pairs in wire order (v1
//! messages are processed in that order), and otherwise stays strict: the
//! payload must be exactly one value (no leading junk, no trailing bytes,
//! no unterminated list), integers fit in 64 bits.
//!
//! Bounds (a payload is already capped by the frame limit): nesting at most
//! [`MAX_DEPTH`] deep, at most [`MAX_VALUES`] values; strings are slices of
//! the payload, so a length prefix is checked against the bytes present and
//! never allocates.
//!
//! Answers are built as [`bendy::value::Value`] (dictionaries are
//! `BTreeMap`s) and encoded by bendy: keys sorted bytewise on output.

use std::borrow::Cow;
use std::collections::BTreeMap;

/// Deepest nesting accepted (a v2 message needs 3: list → dict → list).
pub const MAX_DEPTH: usize = 16;
/// Most values in one message (a list of 131,072 torrent ids is plenty).
pub const MAX_VALUES: usize = 1 << 17;

/// A decoded value, borrowing its strings from the payload.
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
}

/// Why a payload is not one bencoded value (the connection is closed).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BencodeError {
    #[error("invalid bencode at byte {0}")]
    Syntax(usize),
    #[error("bencode ends early")]
    Truncated,
    #[error("{0} bytes after the value")]
    Trailing(usize),
    #[error("nested deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("more than {MAX_VALUES} values")]
    TooMany,
}

impl BencodeError {
    /// The `kind` label of `ringseed_ipc_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            BencodeError::TooDeep => "too_deep",
            BencodeError::TooMany => "too_many_values",
            _ => "bad_bencode",
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
    values: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Result<u8, BencodeError> {
        self.b.get(self.at).copied().ok_or(BencodeError::Truncated)
    }

    /// Digits (with an optional leading `-` when `signed`) up to `end`.
    fn number(&mut self, end: u8, signed: bool) -> Result<i64, BencodeError> {
        let start = self.at;
        let rest = &self.b[start..];
        let stop = rest
            .iter()
            .position(|&c| c == end)
            .ok_or(BencodeError::Truncated)?;
        let text = &rest[..stop];
        let digits = match text.split_first() {
            Some((b'-', d)) if signed => d,
            _ => text,
        };
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(BencodeError::Syntax(start));
        }
        let n = std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
            .ok_or(BencodeError::Syntax(start))?;
        self.at = start + stop + 1;
        Ok(n)
    }

    fn value(&mut self, depth: usize) -> Result<Ben<'a>, BencodeError> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(BencodeError::TooMany);
        }
        match self.peek()? {
            b'i' => {
                self.at += 1;
                Ok(Ben::Int(self.number(b'e', true)?))
            }
            b'0'..=b'9' => Ok(Ben::Str(self.string()?)),
            c @ (b'l' | b'd') => {
                if depth >= MAX_DEPTH {
                    return Err(BencodeError::TooDeep);
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
                            return Err(BencodeError::Syntax(self.at));
                        }
                        let k = self.string()?;
                        pairs.push((k, self.value(depth + 1)?));
                    }
                    self.at += 1;
                    Ok(Ben::Dict(pairs))
                }
            }
            _ => Err(BencodeError::Syntax(self.at)),
        }
    }

    fn string(&mut self) -> Result<&'a [u8], BencodeError> {
        let start = self.at;
        let len = self.number(b':', false)?;
        // The length is checked against the bytes present: never an allocation.
        let len = usize::try_from(len).map_err(|_| BencodeError::Syntax(start))?;
        let end = self
            .at
            .checked_add(len)
            .filter(|e| *e <= self.b.len())
            .ok_or(BencodeError::Truncated)?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
}

/// Decodes a payload that must be exactly one bencoded value.
///
/// Errors: [`BencodeError`] (syntax, truncation, trailing bytes, too deep, too many values).
pub fn decode(payload: &[u8]) -> Result<Ben<'_>, BencodeError> {
    let mut r = Reader {
        b: payload,
        at: 0,
        values: 0,
    };
    let v = r.value(0)?;
    if r.at != payload.len() {
        return Err(BencodeError::Trailing(payload.len() - r.at));
    }
    Ok(v)
}

/// A value of an answer.
pub type Out = bendy::value::Value<'static>;

pub fn int(i: i64) -> Out {
    Out::Integer(i)
}

pub fn bytes(b: impl Into<Vec<u8>>) -> Out {
    Out::Bytes(Cow::Owned(b.into()))
}

pub fn text(s: &str) -> Out {
    bytes(s.as_bytes())
}

pub fn list(items: Vec<Out>) -> Out {
    Out::List(items)
}

/// A dictionary (bendy keeps keys sorted).
pub fn dict<K: Into<Vec<u8>>>(pairs: impl IntoIterator<Item = (K, Out)>) -> Out {
    Out::Dict(
        pairs
            .into_iter()
            .map(|(k, v)| (Cow::Owned(k.into()), v))
            .collect::<BTreeMap<_, _>>(),
    )
}

/// Canonical bencode of `v` (dictionary keys sorted bytewise), by bendy.
pub fn encode(v: &Out) -> Vec<u8> {
    let mut e = bendy::encoding::Encoder::new().with_max_depth(MAX_DEPTH + 4);
    e.emit(v).expect("answers are shallow");
    e.get_output().expect("answers are shallow")
}

/// An owned copy of a decoded value as an answer value (dictionaries
/// sorted; a repeated key keeps its first value).
pub fn to_out(b: &Ben<'_>) -> Out {
    match b {
        Ben::Int(i) => int(*i),
        Ben::Str(s) => bytes(*s),
        Ben::List(l) => list(l.iter().map(to_out).collect()),
        Ben::Dict(d) => {
            let mut m = BTreeMap::new();
            for (k, v) in d {
                m.entry(Cow::Owned(k.to_vec())).or_insert_with(|| to_out(v));
            }
            Out::Dict(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_key_order_is_read_and_output_is_sorted() {
        let a = decode(b"d7:versiond3:mini1e3:maxi2eee").unwrap();
        let b = decode(b"d7:versiond3:maxi2e3:mini1eee").unwrap();
        for v in [&a, &b] {
            let ver = v.get(b"version").unwrap();
            assert_eq!(ver.get(b"min"), Some(&Ben::Int(1)));
            assert_eq!(ver.get(b"max"), Some(&Ben::Int(2)));
        }
        assert_eq!(encode(&to_out(&a)), b"d7:versiond3:maxi2e3:mini1eee");
        // Wire order is kept for v1 processing.
        let v1 = decode(b"d4:quit0:8:addfileslee").unwrap();
        match v1 {
            Ben::Dict(d) => assert_eq!(d[0].0, b"quit"),
            _ => panic!(),
        }
        // A repeated key: the first counts.
        assert_eq!(
            decode(b"d1:ai1e1:ai2ee").unwrap().get(b"a"),
            Some(&Ben::Int(1))
        );
    }

    #[test]
    fn values_decode() {
        assert_eq!(
            decode(b"l5:startli8eei15ee").unwrap(),
            Ben::List(vec![
                Ben::Str(b"start"),
                Ben::List(vec![Ben::Int(8)]),
                Ben::Int(15)
            ])
        );
        assert_eq!(decode(b"i-42e").unwrap(), Ben::Int(-42));
        assert_eq!(decode(b"0:").unwrap(), Ben::Str(b""));
        assert_eq!(
            decode(b"i9223372036854775807e").unwrap(),
            Ben::Int(i64::MAX)
        );
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
            let e = decode(bad).unwrap_err();
            assert_eq!(e.kind(), kind, "{}: {e}", bad.escape_ascii());
        }
        let deep = format!("{}{}", "l".repeat(MAX_DEPTH + 1), "e".repeat(MAX_DEPTH + 1));
        assert_eq!(decode(deep.as_bytes()), Err(BencodeError::TooDeep));
        let ok = format!("{}{}", "l".repeat(MAX_DEPTH), "e".repeat(MAX_DEPTH));
        assert!(decode(ok.as_bytes()).is_ok());
        // A million-deep bomb fails fast, without recursing that deep.
        let bomb = "l".repeat(1_000_000);
        assert_eq!(decode(bomb.as_bytes()), Err(BencodeError::TooDeep));
        let many = format!("l{}e", "le".repeat(MAX_VALUES));
        assert_eq!(decode(many.as_bytes()), Err(BencodeError::TooMany));
    }
}
