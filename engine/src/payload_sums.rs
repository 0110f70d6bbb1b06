//! What an upload computes over its payload: the blake3 digest of the whole object and one
//! crc32c per chunk (the trailer's table).
//!
//! An upload's payload reaches the disk in write buffers of `write_buffer_bytes`, the first
//! one starting at object byte 0. When that length is a power of two of at least one BLAKE3
//! chunk (1 KiB) and a multiple of the record's chunk size, every buffer covers whole chunks
//! and is a whole BLAKE3 subtree: its length is a power of two of chunks and it starts at a
//! multiple of that length. Then a buffer's part of the digest (its chaining value) and its
//! crcs depend on nothing but its own bytes and offset, so they can be computed on any thread
//! and in any order ([`sum_buffer`], run off the cores by `hash_pool`), and are merged here
//! in object order. Otherwise (another buffer length, or an object that fits one buffer, whose
//! single buffer is the tree's root) the sums run over the bytes in order, as usual.

use blake3::hazmat::{merge_subtrees_non_root, merge_subtrees_root, ChainingValue, HasherExt};

/// Bytes hashed and checksummed per step of [`sum_buffer`]: small enough that the crc pass
/// finds the piece the hash pass just read still in the core's cache, large enough for the
/// hash to run its widest SIMD batches.
const PIECE_BYTES: usize = 64 << 10;

/// One write buffer's share of the sums: the chaining value of its subtree and the crcs of
/// its chunks (the last one may be short, if the buffer ends the object).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferSums {
    pub chaining_value: ChainingValue,
    pub chunk_crcs: Vec<u32>,
    pub len_bytes: u64,
}

/// Sums one buffer that starts `object_offset` bytes into its object, which must be a
/// multiple of the buffer length of the object's upload (see the module notes); `chunk_size`
/// must divide that offset too. The result is only meaningful as part of an object larger
/// than one buffer.
pub fn sum_buffer(data: &[u8], object_offset: u64, chunk_size: u32) -> BufferSums {
    assert!(
        !data.is_empty(),
        "an empty buffer is no subtree of the object"
    );
    debug_assert_eq!(object_offset % u64::from(chunk_size), 0);
    let chunk_size = chunk_size as usize;
    let mut hasher = blake3::Hasher::new();
    hasher.set_input_offset(object_offset);
    let mut chunk_crcs = Vec::with_capacity(data.len().div_ceil(chunk_size));
    // Pieces hold whole chunks (both are powers of two), except the short last one.
    let piece_len = PIECE_BYTES.max(chunk_size);
    for piece in data.chunks(piece_len) {
        hasher.update(piece);
        chunk_crcs.extend(piece.chunks(chunk_size).map(crc32c::crc32c));
    }
    BufferSums {
        chaining_value: hasher.finalize_non_root(),
        chunk_crcs,
        len_bytes: data.len() as u64,
    }
}

/// Whether `buffer_len` bytes at multiples of `buffer_len` are whole BLAKE3 subtrees holding
/// whole chunks of `chunk_size`.
fn buffers_are_subtrees(buffer_len: u64, chunk_size: u32) -> bool {
    buffer_len.is_power_of_two()
        && buffer_len >= blake3::CHUNK_LEN as u64
        && buffer_len % u64::from(chunk_size) == 0
}

/// Digest and chunk crcs of an object, fed its payload in order, one write buffer at a time.
pub struct PayloadSums {
    payload_len: u64,
    chunk_size: u32,
    /// Bytes summed so far.
    summed_bytes: u64,
    chunk_crcs: Vec<u32>,
    mode: Mode,
}

enum Mode {
    /// One running hasher; a chunk's crc may span buffers.
    InOrder {
        /// Boxed: a hasher is about 2 KiB, the other mode a few words.
        hasher: Box<blake3::Hasher>,
        chunk_crc: u32,
        chunk_filled_bytes: u64,
    },
    /// Whole buffers summed apart. `stack` holds the chaining values of complete subtrees
    /// (with their lengths), largest first, as BLAKE3's own hasher keeps them.
    Subtrees {
        buffer_len: u64,
        stack: Vec<(ChainingValue, u64)>,
    },
}

impl PayloadSums {
    /// Sums for an object of `payload_len` bytes written in buffers of `buffer_len`.
    pub fn new(payload_len: u64, chunk_size: u32, buffer_len: u64) -> Self {
        let mode = if payload_len > buffer_len && buffers_are_subtrees(buffer_len, chunk_size) {
            Mode::Subtrees {
                buffer_len,
                stack: Vec::with_capacity(64),
            }
        } else {
            Mode::InOrder {
                hasher: Box::new(blake3::Hasher::new()),
                chunk_crc: 0,
                chunk_filled_bytes: 0,
            }
        };
        Self {
            payload_len,
            chunk_size,
            summed_bytes: 0,
            chunk_crcs: Vec::with_capacity(
                crate::record::chunk_count(payload_len, chunk_size).min(1 << 16) as usize,
            ),
            mode,
        }
    }

    /// Whether a full buffer may be summed apart with [`sum_buffer`] (at its offset in the
    /// object) and handed in, in order, with [`Self::add_summed`].
    pub fn sums_buffers_apart(&self) -> bool {
        matches!(self.mode, Mode::Subtrees { .. })
    }

    /// Sums the next bytes of the payload here. In buffer mode they must be one whole buffer,
    /// or the last bytes of the object.
    pub fn add(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        match &mut self.mode {
            Mode::InOrder {
                hasher,
                chunk_crc,
                chunk_filled_bytes,
            } => {
                let chunk_size = u64::from(self.chunk_size);
                let mut rest = data;
                while !rest.is_empty() {
                    let room = (chunk_size - *chunk_filled_bytes) as usize;
                    let (now, later) = rest.split_at(room.min(rest.len()));
                    hasher.update(now);
                    *chunk_crc = crc32c::crc32c_append(*chunk_crc, now);
                    *chunk_filled_bytes += now.len() as u64;
                    if *chunk_filled_bytes == chunk_size {
                        self.chunk_crcs.push(*chunk_crc);
                        *chunk_crc = 0;
                        *chunk_filled_bytes = 0;
                    }
                    rest = later;
                }
                self.summed_bytes += data.len() as u64;
                assert!(
                    self.summed_bytes <= self.payload_len,
                    "more bytes summed than the object has"
                );
            }
            Mode::Subtrees { .. } => {
                let sums = sum_buffer(data, self.summed_bytes, self.chunk_size);
                self.add_summed(sums);
            }
        }
    }

    /// Takes the sums of the next buffer, computed apart by [`sum_buffer`].
    pub fn add_summed(&mut self, sums: BufferSums) {
        let Mode::Subtrees { buffer_len, stack } = &mut self.mode else {
            panic!("buffers are summed apart only when they are whole subtrees");
        };
        let end = self.summed_bytes + sums.len_bytes;
        assert!(
            sums.len_bytes == *buffer_len || end == self.payload_len,
            "only the last buffer of an object may be short"
        );
        assert!(
            end <= self.payload_len,
            "more bytes summed than the object has"
        );
        self.summed_bytes = end;
        self.chunk_crcs.extend_from_slice(&sums.chunk_crcs);
        stack.push((sums.chaining_value, sums.len_bytes));
        // Two equal subtrees side by side make their parent, unless they may be the two
        // halves of the root (nothing follows them): the root is merged differently.
        while end < self.payload_len && stack.len() >= 2 {
            let (right, right_len) = stack[stack.len() - 1];
            let (left, left_len) = stack[stack.len() - 2];
            if left_len != right_len {
                break;
            }
            stack.truncate(stack.len() - 2);
            stack.push((
                merge_subtrees_non_root(&left, &right, blake3::hazmat::Mode::Hash),
                left_len + right_len,
            ));
        }
    }

    /// The object's blake3 digest and its chunk crcs, once every byte was summed.
    pub fn finish(self) -> ([u8; 32], Vec<u32>) {
        assert_eq!(
            self.summed_bytes, self.payload_len,
            "the whole payload is summed before the digest is taken"
        );
        let mut chunk_crcs = self.chunk_crcs;
        let digest = match self.mode {
            Mode::InOrder {
                hasher,
                chunk_crc,
                chunk_filled_bytes,
            } => {
                if chunk_filled_bytes > 0 {
                    chunk_crcs.push(chunk_crc);
                }
                *hasher.finalize().as_bytes()
            }
            Mode::Subtrees { mut stack, .. } => {
                // The right edge: each subtree joins the one to its left, the last join is
                // the root. An object larger than one buffer leaves at least two.
                assert!(stack.len() >= 2, "a multi-buffer object has two subtrees");
                loop {
                    let (right, right_len) = stack.pop().expect("checked above");
                    let (left, left_len) = stack.pop().expect("checked above");
                    if stack.is_empty() {
                        break *merge_subtrees_root(&left, &right, blake3::hazmat::Mode::Hash)
                            .as_bytes();
                    }
                    stack.push((
                        merge_subtrees_non_root(&left, &right, blake3::hazmat::Mode::Hash),
                        left_len + right_len,
                    ));
                }
            }
        };
        debug_assert_eq!(
            chunk_crcs.len() as u64,
            crate::record::chunk_count(self.payload_len, self.chunk_size)
        );
        (digest, chunk_crcs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn expected(data: &[u8], chunk_size: u32) -> ([u8; 32], Vec<u32>) {
        let crcs = data
            .chunks(chunk_size as usize)
            .map(crc32c::crc32c)
            .collect();
        (*blake3::hash(data).as_bytes(), crcs)
    }

    fn content(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
            .collect()
    }

    /// Feeds `data` buffer by buffer, each buffer summed apart when the mode allows.
    fn by_buffers(data: &[u8], chunk_size: u32, buffer_len: usize) -> ([u8; 32], Vec<u32>) {
        let mut sums = PayloadSums::new(data.len() as u64, chunk_size, buffer_len as u64);
        for (i, buffer) in data.chunks(buffer_len).enumerate() {
            if sums.sums_buffers_apart() {
                let apart = sum_buffer(buffer, (i * buffer_len) as u64, chunk_size);
                sums.add_summed(apart);
            } else {
                sums.add(buffer);
            }
        }
        sums.finish()
    }

    #[test]
    fn buffer_trees_of_every_shape_give_blake3_digest() {
        // 1 to 9 whole buffers, with and without a short last one: every stack shape up to
        // a depth of four.
        let buffer_len = 4096;
        for buffers in 1..=9 {
            for extra in [0, 1, 1023, 1024, 1025, 4095] {
                let len = buffers * buffer_len + extra;
                let data = content(len, buffers as u8);
                assert_eq!(
                    by_buffers(&data, 1024, buffer_len),
                    expected(&data, 1024),
                    "{buffers} buffers + {extra} bytes"
                );
            }
        }
    }

    #[test]
    fn subtree_mode_only_where_buffers_are_subtrees() {
        assert!(PayloadSums::new(1 << 21, 256 << 10, 1 << 20).sums_buffers_apart());
        // One buffer or less: that buffer is the root.
        assert!(!PayloadSums::new(1 << 20, 256 << 10, 1 << 20).sums_buffers_apart());
        // Not a power of two; chunks larger than buffers; below one BLAKE3 chunk.
        assert!(!PayloadSums::new(1 << 22, 4096, 3 << 12).sums_buffers_apart());
        assert!(!PayloadSums::new(1 << 22, 1 << 21, 1 << 20).sums_buffers_apart());
        assert!(!PayloadSums::new(1 << 22, 4096, 512).sums_buffers_apart());
    }

    #[test]
    fn empty_payload_sums_to_blake3_of_nothing() {
        let sums = PayloadSums::new(0, 4096, 1 << 20);
        assert_eq!(sums.finish(), (*blake3::hash(b"").as_bytes(), Vec::new()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_split_gives_blake3_digest_and_chunk_crcs(
            len in 0usize..70_000,
            buffer_shift in 10u32..15,
            chunk_shift in 12u32..15,
            seed in any::<u8>(),
        ) {
            let data = content(len, seed);
            let chunk_size = 1u32 << chunk_shift;
            let buffer_len = 1usize << buffer_shift;
            prop_assert_eq!(by_buffers(&data, chunk_size, buffer_len), expected(&data, chunk_size));
        }

        #[test]
        fn in_order_sums_take_any_pieces(
            len in 0usize..40_000,
            piece in 1usize..5000,
            seed in any::<u8>(),
        ) {
            let data = content(len, seed);
            // A buffer length that is no power of two keeps the sums in order.
            let mut sums = PayloadSums::new(len as u64, 4096, 3 * 4096);
            prop_assert!(!sums.sums_buffers_apart());
            for p in data.chunks(piece) {
                sums.add(p);
            }
            prop_assert_eq!(sums.finish(), expected(&data, 4096));
        }
    }
}
