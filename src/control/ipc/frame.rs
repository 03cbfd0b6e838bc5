//! IPC framing (seed 002, 0.80's `ipc_parse` in `ipcparse.c`): every message is its payload
//! length as exactly 8 ASCII hex digits, then the payload.
//!
//! - A header is `[0-9A-Fa-f]{8}`, any case; nothing else (0.80's `strtol`
//!   also took spaces, a sign or `0x`: we refuse those).
//! - A length above the cap (`ipc.max_message_bytes`) is refused as soon as
//!   its header arrives: no payload byte is buffered for it, and nothing is
//!   ever allocated from the length a client sent.
//! - Frames may be split across reads, and one read may hold several.
//! - Outgoing headers are upper-case (0.80's `"%0*X"`).
//!
//! Pure: no I/O, so it is tested byte by byte next to the code.

/// Bytes of a header.
pub(crate) const HEADER_LEN: usize = 8;

/// Why a stream of frames cannot go on (the connection is closed).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The header is not 8 hex digits; carries the 8 bytes, escaped.
    #[error("header \"{0}\" is not 8 hex digits")]
    BadHeader(String),
    /// The announced payload is longer than the cap, bytes.
    #[error("payload of {len} bytes is over the limit of {max} bytes")]
    TooLong { len: u32, max: usize },
}

impl FrameError {
    /// The `kind` label of `ringseed_ipc_errors_total`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            FrameError::BadHeader(_) => "bad_header",
            FrameError::TooLong { .. } => "too_long",
        }
    }
}

/// The length a header announces; `None` unless it is exactly 8 hex digits.
pub(crate) fn parse_header(h: &[u8]) -> Option<u32> {
    if h.len() != HEADER_LEN || !h.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    // Eight hex digits always fit in a u32.
    u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
}

/// A frame: the upper-case header, then `payload`.
///
/// Panics if `payload` is longer than `u32::MAX` bytes (no reply is).
pub fn encode(payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("IPC payload over 4 GiB");
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(format!("{len:08X}").as_bytes());
    out.extend_from_slice(payload);
    out
}

/// Splits a byte stream into payloads.
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    start: usize,
    max: usize,
}

impl FrameReader {
    /// A reader refusing payloads longer than `max` bytes.
    pub fn new(max: usize) -> Self {
        FrameReader {
            buf: Vec::new(),
            start: 0,
            max,
        }
    }

    /// Appends bytes as they arrived. The buffer holds at most one
    /// incomplete frame (≤ 8 + `max` bytes) plus what the caller pushes at
    /// once, since [`FrameReader::next_frame`] refuses an over-long header
    /// before its payload is kept.
    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes received and not yet returned as a frame.
    pub(crate) fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete payload, `None` until one has fully arrived.
    ///
    /// Errors: [`FrameError::BadHeader`] or [`FrameError::TooLong`]; the
    /// stream cannot be resynchronised after either.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let rest = &self.buf[self.start..];
        if rest.len() < HEADER_LEN {
            return Ok(None);
        }
        let header = &rest[..HEADER_LEN];
        let len = parse_header(header)
            .ok_or_else(|| FrameError::BadHeader(header.escape_ascii().to_string()))?;
        if len as usize > self.max {
            return Err(FrameError::TooLong { len, max: self.max });
        }
        let end = HEADER_LEN + len as usize;
        if rest.len() < end {
            return Ok(None);
        }
        let payload = rest[HEADER_LEN..end].to_vec();
        self.start += end;
        Ok(Some(payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(r: &mut FrameReader) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut out = Vec::new();
        while let Some(f) = r.next_frame()? {
            out.push(f);
        }
        Ok(out)
    }

    #[test]
    fn headers_are_eight_hex_digits_in_any_case() {
        assert_eq!(parse_header(b"0000001D"), Some(29));
        assert_eq!(parse_header(b"0000001d"), Some(29));
        assert_eq!(parse_header(b"7FFFFFF8"), Some(0x7FFF_FFF8));
        assert_eq!(parse_header(b"ffffffff"), Some(u32::MAX));
        for bad in [
            &b" 000001D"[..],
            b"+000001D",
            b"0x00001D",
            b"0000001G",
            b"-0000001",
            b"0000001",
            b"000000001",
        ] {
            assert_eq!(parse_header(bad), None, "{}", bad.escape_ascii());
        }
    }

    #[test]
    fn outgoing_headers_are_upper_case() {
        assert_eq!(encode(b"l4:noop0:e"), b"0000000Al4:noop0:e");
        assert_eq!(encode(&[b'x'; 0xAB]).len(), 8 + 0xAB);
        assert_eq!(&encode(&[b'x'; 0xAB])[..8], b"000000AB");
    }

    #[test]
    fn frames_split_across_reads_and_several_in_one_read() {
        let stream = b"0000000El5:startli8eee0000000el5:startli8eee0000000Al4:noop0:e";
        // One byte at a time.
        let mut r = FrameReader::new(1 << 20);
        let mut got = Vec::new();
        for b in stream {
            r.push(&[*b]);
            got.extend(all(&mut r).unwrap());
        }
        assert_eq!(
            got,
            vec![
                b"l5:startli8eee".to_vec(),
                b"l5:startli8eee".to_vec(),
                b"l4:noop0:e".to_vec()
            ]
        );
        assert_eq!(r.pending(), 0);
        // All at once.
        let mut r = FrameReader::new(1 << 20);
        r.push(stream);
        assert_eq!(all(&mut r).unwrap(), got);
    }

    #[test]
    fn over_long_and_malformed_headers_are_refused_before_any_payload() {
        let mut r = FrameReader::new(1 << 20);
        r.push(b"7FFFFFF8");
        assert_eq!(
            r.next_frame(),
            Err(FrameError::TooLong {
                len: 0x7FFF_FFF8,
                max: 1 << 20
            })
        );
        assert_eq!(r.pending(), 8, "nothing buffered beyond the header");
        let mut r = FrameReader::new(16);
        r.push(b"00000011");
        assert_eq!(r.next_frame().unwrap_err().kind(), "too_long");
        let mut r = FrameReader::new(16);
        r.push(b"00000010xxxxxxxxxxxxxxxx");
        assert_eq!(
            r.next_frame().unwrap().unwrap().len(),
            16,
            "the cap itself is allowed"
        );
        let mut r = FrameReader::new(16);
        r.push(b"GET / HTTP/1.1\r\n");
        assert_eq!(
            r.next_frame(),
            Err(FrameError::BadHeader("GET / HT".into()))
        );
    }
}
