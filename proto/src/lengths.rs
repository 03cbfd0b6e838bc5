//! Sizes and piece arithmetic (BEP 3): the one block length, the largest
//! piece a torrent may declare, and [`Lengths`], the type that maps piece
//! and block indexes to byte ranges so no caller multiplies indexes itself.

/// Size of a block in bytes (16 KiB): the unit peers request and the largest
/// request a seeder serves (the de-facto limit every client uses).
pub const BLOCK_LEN: u32 = 16384;

/// Largest accepted `piece length` in bytes (256 MiB = `1 << 28`).
///
/// A piece is the unit the seeder reads and hashes in one go when verifying
/// data, so this bounds the largest buffer a hostile torrent can make it
/// allocate. Real torrents use at most 16–64 MiB.
pub const MAX_PIECE_LENGTH: u32 = 1 << 28;

/// Why [`Lengths::new`] refused a torrent's sizes. The metainfo parser turns
/// each into the [`MetainfoError`](crate::metainfo::MetainfoError) variant of
/// the same name and message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LengthsError {
    /// `piece length` is 0.
    #[error("piece length is zero")]
    ZeroPieceLength,
    /// `piece length` exceeds [`MAX_PIECE_LENGTH`] (bytes).
    #[error("piece length {0} bytes exceeds the limit of {MAX_PIECE_LENGTH} bytes")]
    PieceLengthTooLarge(u64),
    /// The torrent's total length is 0 bytes.
    #[error("torrent has no data")]
    NoData,
    /// The total length and piece length imply more than `u32::MAX` pieces.
    #[error("{0} pieces is more than the protocol's 32-bit piece index can address")]
    TooManyPieces(u64),
}

/// Why a block request `(index, begin, length)` is invalid for a torrent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The piece index is `>= num_pieces`.
    #[error("piece index {0} out of range")]
    PieceOutOfRange(u32),
    /// The requested length is 0 bytes.
    #[error("block length is zero")]
    ZeroLength,
    /// The requested length exceeds [`BLOCK_LEN`] bytes.
    #[error("block length {0} exceeds 16384")]
    TooLong(u32),
    /// `begin + length` goes past the end of the piece.
    #[error("block {begin}+{length} crosses the end of piece {index} ({piece_len} bytes)")]
    CrossesPieceEnd {
        /// Piece index.
        index: u32,
        /// Byte offset of the block inside the piece.
        begin: u32,
        /// Block length in bytes.
        length: u32,
        /// Length of that piece in bytes.
        piece_len: u32,
    },
}

/// Piece arithmetic for one torrent; the only place that multiplies piece
/// indexes. All lengths and offsets are in bytes.
///
/// Invariants (enforced by [`Lengths::new`]): `total_length > 0`,
/// `0 < piece_length <= MAX_PIECE_LENGTH`, and
/// `num_pieces = ceil(total_length / piece_length)` fits in `u32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lengths {
    total_length: u64,
    piece_length: u32,
    num_pieces: u32,
}

impl Lengths {
    /// Builds the arithmetic for `total_length` bytes cut into pieces of
    /// `piece_length` bytes (the last one may be shorter).
    ///
    /// Errors: [`LengthsError::ZeroPieceLength`],
    /// [`LengthsError::PieceLengthTooLarge`] (over [`MAX_PIECE_LENGTH`]),
    /// [`LengthsError::NoData`] (`total_length == 0`),
    /// [`LengthsError::TooManyPieces`] (piece count does not fit `u32`).
    pub fn new(total_length: u64, piece_length: u32) -> Result<Self, LengthsError> {
        if piece_length == 0 {
            return Err(LengthsError::ZeroPieceLength);
        }
        if piece_length > MAX_PIECE_LENGTH {
            return Err(LengthsError::PieceLengthTooLarge(piece_length.into()));
        }
        if total_length == 0 {
            return Err(LengthsError::NoData);
        }
        let n = total_length.div_ceil(u64::from(piece_length));
        let num_pieces = u32::try_from(n).map_err(|_| LengthsError::TooManyPieces(n))?;
        Ok(Lengths {
            total_length,
            piece_length,
            num_pieces,
        })
    }

    /// Total length of the torrent's data in bytes (pad files included).
    pub fn total_length(&self) -> u64 {
        self.total_length
    }

    /// Nominal piece length in bytes (every piece but possibly the last).
    pub fn piece_length(&self) -> u32 {
        self.piece_length
    }

    /// Number of pieces (at least 1).
    pub fn num_pieces(&self) -> u32 {
        self.num_pieces
    }

    /// Torrent-wide byte offset of the first byte of piece `index`. Not
    /// range-checked: for `index >= num_pieces` the result is past the end.
    pub fn piece_offset(&self, index: u32) -> u64 {
        u64::from(index) * u64::from(self.piece_length)
    }

    /// Length of piece `index` in bytes: `piece_length`, except the last piece
    /// which may be shorter; 0 if `index >= num_pieces`.
    pub fn piece_len(&self, index: u32) -> u32 {
        if index >= self.num_pieces {
            return 0;
        }
        let rest = self.total_length - self.piece_offset(index);
        // rest > 0 because index < num_pieces; min with piece_length fits u32.
        rest.min(u64::from(self.piece_length)) as u32
    }

    /// Number of [`BLOCK_LEN`]-byte blocks in piece `index` (the last block may
    /// be short); 0 if `index >= num_pieces`.
    pub fn block_count(&self, index: u32) -> u32 {
        self.piece_len(index).div_ceil(BLOCK_LEN)
    }

    /// Length in bytes of block `block` of piece `index`: [`BLOCK_LEN`], except
    /// the piece's last block which may be shorter; 0 if either index is out
    /// of range.
    pub fn block_len(&self, index: u32, block: u32) -> u32 {
        let piece_len = u64::from(self.piece_len(index));
        let start = u64::from(block) * u64::from(BLOCK_LEN);
        if start >= piece_len {
            return 0;
        }
        (piece_len - start).min(u64::from(BLOCK_LEN)) as u32
    }

    /// Checks that `(index, begin, length)` (piece index, byte offset in the
    /// piece, byte count) is a request a seeder may serve: `index <
    /// num_pieces`, `0 < length <= BLOCK_LEN`, and `begin + length <=
    /// piece_len(index)` (computed without overflow). `begin` need not be
    /// block-aligned.
    ///
    /// Errors, checked in this order: [`RequestError::PieceOutOfRange`],
    /// [`RequestError::ZeroLength`], [`RequestError::TooLong`],
    /// [`RequestError::CrossesPieceEnd`].
    pub fn check_request(&self, index: u32, begin: u32, length: u32) -> Result<(), RequestError> {
        if index >= self.num_pieces {
            return Err(RequestError::PieceOutOfRange(index));
        }
        if length == 0 {
            return Err(RequestError::ZeroLength);
        }
        if length > BLOCK_LEN {
            return Err(RequestError::TooLong(length));
        }
        let piece_len = self.piece_len(index);
        if u64::from(begin) + u64::from(length) > u64::from(piece_len) {
            return Err(RequestError::CrossesPieceEnd {
                index,
                begin,
                length,
                piece_len,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_last_piece_short() {
        let l = Lengths::new(40000, 16384).unwrap();
        assert_eq!(l.num_pieces(), 3);
        assert_eq!(l.piece_offset(2), 32768);
        assert_eq!(l.piece_len(0), 16384);
        assert_eq!(l.piece_len(2), 40000 - 32768);
        assert_eq!(l.piece_len(3), 0);
        assert_eq!(l.block_count(2), 1);
        assert_eq!(l.block_len(2, 0), 7232);
        assert_eq!(l.block_len(2, 1), 0);
    }

    #[test]
    fn lengths_exact_multiple_and_blocks() {
        let l = Lengths::new(4 * 65536, 65536).unwrap();
        assert_eq!(l.num_pieces(), 4);
        assert_eq!(l.piece_len(3), 65536);
        assert_eq!(l.block_count(3), 4);
        assert_eq!(l.block_len(3, 3), BLOCK_LEN);
        assert_eq!(l.block_len(3, 4), 0);
        assert_eq!(l.block_len(3, u32::MAX), 0);
        assert_eq!(l.block_count(4), 0);

        let l = Lengths::new(65536 + 100, 65536).unwrap();
        assert_eq!(l.block_count(1), 1);
        assert_eq!(l.block_len(1, 0), 100);
        let l = Lengths::new(20000, 20000).unwrap();
        assert_eq!(l.block_count(0), 2);
        assert_eq!(l.block_len(0, 1), 20000 - 16384);
    }

    #[test]
    fn lengths_new_refuses_bad_inputs() {
        assert!(matches!(
            Lengths::new(1, 0),
            Err(LengthsError::ZeroPieceLength)
        ));
        assert!(matches!(Lengths::new(0, 16384), Err(LengthsError::NoData)));
        assert!(matches!(
            Lengths::new(1, MAX_PIECE_LENGTH + 1),
            Err(LengthsError::PieceLengthTooLarge(_))
        ));
        assert!(matches!(
            Lengths::new(u64::MAX, 1),
            Err(LengthsError::TooManyPieces(_))
        ));
        // The largest addressable torrent: u32::MAX full pieces of the largest size.
        let max = u64::from(u32::MAX) * u64::from(MAX_PIECE_LENGTH);
        let l = Lengths::new(max, MAX_PIECE_LENGTH).unwrap();
        let last = l.num_pieces() - 1;
        assert_eq!(last, u32::MAX - 1);
        assert_eq!(l.piece_offset(last) + u64::from(l.piece_len(last)), max);
        assert!(matches!(
            Lengths::new(max + 1, MAX_PIECE_LENGTH),
            Err(LengthsError::TooManyPieces(_))
        ));
    }

    #[test]
    fn check_request_accepts_valid_and_reports_each_error() {
        let l = Lengths::new(40000, 32768).unwrap(); // pieces of 32768 and 7232
        assert_eq!(l.check_request(0, 0, BLOCK_LEN), Ok(()));
        assert_eq!(l.check_request(0, 16384, BLOCK_LEN), Ok(()));
        assert_eq!(l.check_request(1, 7232 - 1, 1), Ok(()));
        assert_eq!(
            l.check_request(2, 0, 1),
            Err(RequestError::PieceOutOfRange(2))
        );
        assert_eq!(l.check_request(0, 0, 0), Err(RequestError::ZeroLength));
        assert_eq!(
            l.check_request(0, 0, BLOCK_LEN + 1),
            Err(RequestError::TooLong(BLOCK_LEN + 1))
        );
        assert_eq!(
            l.check_request(1, 7000, 300),
            Err(RequestError::CrossesPieceEnd {
                index: 1,
                begin: 7000,
                length: 300,
                piece_len: 7232
            })
        );
        // begin + length would overflow u32: must still be refused, not wrap.
        assert_eq!(
            l.check_request(0, u32::MAX, BLOCK_LEN),
            Err(RequestError::CrossesPieceEnd {
                index: 0,
                begin: u32::MAX,
                length: BLOCK_LEN,
                piece_len: 32768
            })
        );
    }
}
