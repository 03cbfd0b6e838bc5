//! A set of pieces in BEP 3 wire order: piece 0 is the high bit of the
//! first byte, and the spare bits past the last piece are zero. The one
//! type for every piece set ringseed keeps — the pieces a seeder has (and
//! its resume data records), the pieces a peer says it has — so the bytes
//! sent in a `bitfield` message are the bytes kept, and no other module
//! shifts bits.

/// A set of `len` pieces, stored as BEP 3 bitfield bytes (`len` rounded up
/// to whole bytes), with the number of pieces set kept alongside.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bitfield {
    bytes: Vec<u8>,
    len: u32,
    ones: u32,
}

/// A `bitfield` message that does not fit the torrent (BEP 3): the wrong
/// number of bytes, or a spare bit past the last piece set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bitfield does not fit the torrent's pieces")]
pub struct BitfieldMismatch;

impl Bitfield {
    /// `len` pieces, none set.
    pub fn new(len: u32) -> Bitfield {
        Bitfield {
            bytes: vec![0; (len as usize).div_ceil(8)],
            len,
            ones: 0,
        }
    }

    /// One piece per flag, set where the flag is true.
    pub fn from_bools(flags: &[bool]) -> Bitfield {
        let mut b = Bitfield::new(flags.len() as u32);
        for (i, _) in flags.iter().enumerate().filter(|(_, f)| **f) {
            b.set(i as u32, true);
        }
        b
    }

    /// `len` pieces from BEP 3 bytes (exactly `len` rounded up to whole
    /// bytes; `None` otherwise). Bits past the last piece are ignored.
    pub fn from_bytes(bytes: &[u8], len: u32) -> Option<Bitfield> {
        let mut b = Bitfield::new(len);
        if bytes.len() != b.bytes.len() {
            return None;
        }
        b.bytes.copy_from_slice(bytes);
        let spare = b.spare();
        if let Some(last) = b.bytes.last_mut() {
            *last &= 0xffu8 << spare;
        }
        b.ones = b.bytes.iter().map(|x| x.count_ones()).sum();
        Some(b)
    }

    /// Number of pieces in the set's range (set or not).
    pub fn len(&self) -> u32 {
        self.len
    }

    /// True when the range holds no piece at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of pieces set.
    pub fn count(&self) -> u32 {
        self.ones
    }

    /// True when every piece is set.
    pub fn is_full(&self) -> bool {
        self.ones == self.len
    }

    /// Whether piece `i` is set (false past the end).
    pub fn get(&self, i: u32) -> bool {
        i < self.len && self.bytes[(i / 8) as usize] & mask(i) != 0
    }

    /// Sets or clears piece `i` (ignored past the end); true when it changed.
    pub fn set(&mut self, i: u32, on: bool) -> bool {
        if i >= self.len || self.get(i) == on {
            return false;
        }
        let byte = &mut self.bytes[(i / 8) as usize];
        if on {
            *byte |= mask(i);
            self.ones += 1;
        } else {
            *byte &= !mask(i);
            self.ones -= 1;
        }
        true
    }

    /// Sets every piece (`have_all`, BEP 6); spare bits stay zero.
    pub fn fill(&mut self) {
        let spare = self.spare();
        self.bytes.iter_mut().for_each(|b| *b = 0xff);
        if let Some(last) = self.bytes.last_mut() {
            *last &= 0xffu8 << spare;
        }
        self.ones = self.len;
    }

    /// Adds the pieces of a `bitfield` message (the union: pieces are never
    /// lost). It must have exactly this set's number of bytes and no spare
    /// bit set; otherwise nothing changes.
    pub fn merge(&mut self, wire: &[u8]) -> Result<(), BitfieldMismatch> {
        if wire.len() != self.bytes.len() {
            return Err(BitfieldMismatch);
        }
        let spare = self.spare();
        if spare > 0 && wire[wire.len() - 1] & ((1u8 << spare) - 1) != 0 {
            return Err(BitfieldMismatch);
        }
        for (a, b) in self.bytes.iter_mut().zip(wire) {
            *a |= b;
        }
        self.ones = self.bytes.iter().map(|b| b.count_ones()).sum();
        Ok(())
    }

    /// The set as BEP 3 bitfield bytes (what a `bitfield` message carries).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The pieces set, in order.
    pub fn ones(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len).filter(|&i| self.get(i))
    }

    /// Bits past the last piece in the last byte.
    fn spare(&self) -> u32 {
        (self.bytes.len() * 8) as u32 - self.len
    }
}

/// Piece `i`'s bit within its byte: the high bit is the lowest piece.
fn mask(i: u32) -> u8 {
    0x80 >> (i % 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_in_bep3_order_with_a_count() {
        let mut b =
            Bitfield::from_bools(&[true, false, false, false, false, false, false, false, true]);
        assert_eq!(b.as_bytes(), &[0x80, 0x80]);
        assert_eq!((b.len(), b.count()), (9, 2));
        assert!(b.get(8) && !b.get(1) && !b.get(9));
        assert!(b.set(1, true) && !b.set(1, true) && !b.set(9, true));
        assert_eq!(b.as_bytes(), &[0xc0, 0x80]);
        assert!(b.set(0, false));
        assert_eq!(b.ones().collect::<Vec<_>>(), vec![1, 8]);
        b.fill();
        assert_eq!(b.as_bytes(), &[0xff, 0x80]);
        assert!(b.is_full());
    }

    #[test]
    fn merges_take_the_union_and_refuse_what_does_not_fit() {
        let mut b = Bitfield::new(10);
        assert_eq!(b.merge(&[0x80, 0x00]), Ok(()));
        assert_eq!(b.merge(&[0x01, 0x40]), Ok(()));
        assert_eq!((b.as_bytes(), b.count()), (&[0x81u8, 0x40][..], 3));
        assert_eq!(b.merge(&[0x00]), Err(BitfieldMismatch));
        assert_eq!(b.merge(&[0x00, 0x20]), Err(BitfieldMismatch));
        assert_eq!(b.count(), 3);
        assert!(Bitfield::new(0).as_bytes().is_empty());
    }

    #[test]
    fn bytes_of_the_right_length_load_with_spare_bits_ignored() {
        let b = Bitfield::from_bytes(&[0x81, 0x7f], 10).unwrap();
        assert_eq!((b.as_bytes(), b.count()), (&[0x81u8, 0x40][..], 3));
        assert_eq!(Bitfield::from_bytes(&[0x81], 10), None);
        assert_eq!(Bitfield::from_bytes(&[0x81, 0, 0], 10), None);
    }
}
