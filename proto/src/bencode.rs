//! Bencode (BEP 3): two readers, each named for what it reads, and one
//! writer.
//!
//! - [`strict`]: canonical bencode only, for bytes that are hashed (a
//!   torrent's metainfo: the info hash depends on the exact bytes).
//! - [`lenient`]: for whatever peers, trackers and clients send: unsorted
//!   or repeated dictionary keys accepted (the first one wins), with
//!   bounded depth and value count.
//! - Writing is bendy's and always canonical (dictionary keys sorted
//!   bytewise): our own types derive `Serialize` and go through
//!   [`to_bytes`] (bendy's serde serializer sorts struct fields and map
//!   keys); free-form values ([`Value`], built with [`int`], [`bytes`],
//!   [`text`], [`list`] and [`dict`]) go through [`encode`].

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

pub mod lenient;
pub mod strict;

/// A value to write. Dictionaries are `BTreeMap`s, so keys come out sorted.
pub type Value = bendy::value::Value<'static>;

/// An integer value.
pub fn int(i: i64) -> Value {
    Value::Integer(i)
}

/// A byte-string value.
pub fn bytes(b: impl Into<Vec<u8>>) -> Value {
    Value::Bytes(Cow::Owned(b.into()))
}

/// A byte-string value holding UTF-8 text.
pub fn text(s: &str) -> Value {
    bytes(s.as_bytes())
}

/// A list value.
pub fn list(items: Vec<Value>) -> Value {
    Value::List(items)
}

/// A dictionary value (kept sorted by key; a repeated key keeps its last
/// value).
pub fn dict<K: Into<Vec<u8>>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
    Value::Dict(
        pairs
            .into_iter()
            .map(|(k, v)| (Cow::Owned(k.into()), v))
            .collect::<BTreeMap<_, _>>(),
    )
}

/// Canonical bencode of `v` (dictionary keys sorted bytewise), by bendy.
///
/// Panics if `v` nests deeper than bendy's default limit of 2048
/// containers; values built here and values read by [`lenient`] (whose
/// depth its caller bounds) are far shallower.
pub fn encode(v: &Value) -> Vec<u8> {
    let mut e = bendy::encoding::Encoder::new();
    e.emit(v).expect("values are shallower than 2048");
    e.get_output().expect("values are shallower than 2048")
}

/// Canonical bencode of one of our own types, by bendy's serde serializer
/// (struct fields and map keys sorted bytewise).
///
/// Two things to know when deriving `Serialize` for bencode: bendy writes
/// `Some(x)` as a one-element list, so optional keys use
/// `#[serde(skip_serializing_if = "Option::is_none", serialize_with =
/// "present")]` (see [`present`]); and byte strings need `serde_bytes`, or
/// they become lists of integers.
///
/// Panics on a type bencode cannot express (a float, a map with non-string
/// keys or a repeated key): those are bugs in the type, not bad input.
pub fn to_bytes<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    bendy::serde::to_bytes(v).expect("the type has a bencode form")
}

/// Writes the value of an `Option` that `skip_serializing_if =
/// "Option::is_none"` already skips when absent, as the value itself.
pub fn present<T: Serialize, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => v.serialize(s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Sample<'a> {
        zeta: u32,
        #[serde(skip_serializing_if = "Option::is_none", serialize_with = "present")]
        alpha: Option<&'a str>,
        #[serde(rename = "m i d", with = "serde_bytes")]
        mid: &'a [u8],
        #[serde(skip_serializing_if = "Option::is_none", serialize_with = "present")]
        absent: Option<u8>,
    }

    #[test]
    fn serde_output_is_canonical_and_options_are_plain_values() {
        let s = Sample {
            zeta: 7,
            alpha: Some("a"),
            mid: b"\x00\x01",
            absent: None,
        };
        assert_eq!(to_bytes(&s), b"d5:alpha1:a5:m i d2:\x00\x014:zetai7ee");
    }

    #[test]
    fn values_are_written_sorted() {
        let v = dict([("b", int(-1)), ("a", list(vec![text("x"), bytes(vec![0])]))]);
        assert_eq!(encode(&v), b"d1:al1:x1:\x00e1:bi-1ee");
    }
}
