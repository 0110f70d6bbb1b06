//! Deterministic object content: every byte of an object the tool uploads is a function of
//! (seed, offset), so any range read back can be checked without keeping the object around.
//! Each 4 KiB block starts with a 16-byte stamp of the seed and the block number, the rest is
//! a pseudo-random pattern shifted by the seed: a misplaced block, a range served from the
//! wrong offset or another object's bytes all compare unequal.

use std::sync::OnceLock;

/// Bytes between two stamps.
pub const BLOCK_BYTES: u64 = 4096;
/// Bytes of the stamp at the start of each block.
const STAMP_BYTES: usize = 16;
/// Period of the pattern (a prime, so it never lines up with blocks or powers of two).
const PATTERN_PERIOD: usize = 1_048_573;
/// The pattern is stored one block longer than its period, so one block never wraps.
const PATTERN_STORED: usize = PATTERN_PERIOD + BLOCK_BYTES as usize;

fn pattern() -> &'static [u8] {
    static PATTERN: OnceLock<Vec<u8>> = OnceLock::new();
    PATTERN.get_or_init(|| {
        let mut out = vec![0u8; PATTERN_STORED];
        let mut xof =
            blake3::Hasher::new_derive_key("colossus-bench content pattern v1").finalize_xof();
        xof.fill(&mut out[..PATTERN_PERIOD]);
        let (head, tail) = out.split_at_mut(PATTERN_PERIOD);
        tail.copy_from_slice(&head[..tail.len()]);
        out
    })
}

/// The content of one object: `size_bytes` bytes derived from `seed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Content {
    /// Distinguishes objects.
    pub seed: u64,
    /// Object length.
    pub size_bytes: u64,
}

fn stamp(seed: u64, block: u64) -> [u8; STAMP_BYTES] {
    let mut out = [0u8; STAMP_BYTES];
    let a = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ block;
    let b = block.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ seed.rotate_left(29);
    out[..8].copy_from_slice(&a.to_le_bytes());
    out[8..].copy_from_slice(&b.to_le_bytes());
    out
}

impl Content {
    /// Content of `size_bytes` for `seed`.
    pub fn new(seed: u64, size_bytes: u64) -> Self {
        Self { seed, size_bytes }
    }

    /// Hands the bytes at `offset..offset + len` (which must lie inside the object) to `piece`
    /// in order, at most a block at a time, as the part of the block's stamp they cover and
    /// then the part of the pattern: every byte is produced once.
    fn pieces(&self, offset: u64, len: usize, mut piece: impl FnMut(&[u8], &[u8])) {
        assert!(
            offset + len as u64 <= self.size_bytes,
            "content past the end of the object"
        );
        let pattern = pattern();
        let shift = self.seed % PATTERN_PERIOD as u64;
        let mut done = 0usize;
        while done < len {
            let at = offset + done as u64;
            let block = at / BLOCK_BYTES;
            let within = (at % BLOCK_BYTES) as usize;
            let take = (BLOCK_BYTES as usize - within).min(len - done);
            let start = ((block * BLOCK_BYTES + shift) % PATTERN_PERIOD as u64) as usize + within;
            let stamped = STAMP_BYTES.saturating_sub(within).min(take);
            let stamp = stamp(self.seed, block);
            let stamp = &stamp[within.min(STAMP_BYTES)..][..stamped];
            piece(stamp, &pattern[start + stamped..start + take]);
            done += take;
        }
    }

    /// Writes the bytes at `offset..offset + out.len()` (which must lie inside the object).
    pub fn fill(&self, offset: u64, out: &mut [u8]) {
        let mut rest = out;
        self.pieces(offset, rest.len(), |stamp, pattern| {
            for part in [stamp, pattern] {
                let (head, tail) = std::mem::take(&mut rest).split_at_mut(part.len());
                head.copy_from_slice(part);
                rest = tail;
            }
        });
    }

    /// Appends the `len` bytes at `offset` to `out` (no zeroing first, unlike resize + fill).
    pub fn extend(&self, offset: u64, len: usize, out: &mut Vec<u8>) {
        out.reserve(len);
        self.pieces(offset, len, |stamp, pattern| {
            out.extend_from_slice(stamp);
            out.extend_from_slice(pattern);
        });
    }

    /// True when `bytes` are the object's bytes at `offset`; `scratch` is reused.
    pub fn matches(&self, offset: u64, bytes: &[u8], scratch: &mut Vec<u8>) -> bool {
        if offset + bytes.len() as u64 > self.size_bytes {
            return false;
        }
        scratch.resize(bytes.len(), 0);
        self.fill(offset, scratch);
        scratch.as_slice() == bytes
    }

    /// The blake3 digest of the whole object.
    pub fn digest(&self) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut offset = 0u64;
        while offset < self.size_bytes {
            let n = (self.size_bytes - offset).min(buf.len() as u64) as usize;
            self.fill(offset, &mut buf[..n]);
            hasher.update(&buf[..n]);
            offset += n as u64;
        }
        *hasher.finalize().as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_agree_with_the_whole() {
        let c = Content::new(42, 3 * BLOCK_BYTES + 100);
        let mut whole = vec![0u8; c.size_bytes as usize];
        c.fill(0, &mut whole);
        let mut scratch = Vec::new();
        for (start, len) in [(0, 1), (5, 30), (4090, 20), (8192, 4096), (12000, 388)] {
            let mut piece = vec![0u8; len];
            c.fill(start, &mut piece);
            assert_eq!(piece, whole[start as usize..start as usize + len]);
            assert!(c.matches(start, &piece, &mut scratch));
            let mut appended = b"head".to_vec();
            c.extend(start, len, &mut appended);
            assert_eq!(appended[..4], *b"head");
            assert_eq!(appended[4..], piece);
        }
    }

    #[test]
    fn other_offsets_and_seeds_differ() {
        let c = Content::new(7, 1 << 22);
        let mut a = vec![0u8; 4096];
        c.fill(0, &mut a);
        let mut scratch = Vec::new();
        assert!(!c.matches(4096, &a, &mut scratch));
        assert!(!c.matches(PATTERN_PERIOD as u64, &a, &mut scratch));
        assert!(!Content::new(8, 1 << 22).matches(0, &a, &mut scratch));
        assert!(!c.matches((1 << 22) - 100, &a, &mut scratch));
        assert_ne!(c.digest(), Content::new(8, 1 << 22).digest());
    }
}
