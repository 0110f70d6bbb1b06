//! Helpers shared by the fuzz targets: the test keys, the control byte that says how a target
//! repairs its input before decoding, and the checks every round trip repeats.

use std::ops::Range;

use colossus_engine::codec::StoreKey;

/// The key every target seals and decodes with.
pub const KEY: StoreKey = StoreKey([0x5a; 32]);
/// Another store's key: nothing sealed with [`KEY`] may decode under it.
pub const OTHER_KEY: StoreKey = StoreKey([0xa5; 32]);

/// The first input byte of a target: bit `n` asks for repair `n` (each target documents its
/// repairs). Raw bytes almost never pass a MAC or checksum, so without repairs a fuzzer would
/// only ever exercise the first few checks of a decoder.
#[derive(Clone, Copy, Debug)]
pub struct Control(pub u8);

impl Control {
    /// Splits `data` into the control byte and the rest.
    pub fn split(data: &[u8]) -> (Control, &[u8]) {
        match data.split_first() {
            Some((first, rest)) => (Control(*first), rest),
            None => (Control(0), data),
        }
    }

    /// Whether repair `bit` is asked for.
    pub fn wants(self, bit: u8) -> bool {
        self.0 & (1 << bit) != 0
    }
}

/// Asserts that `decoded` and `canonical` agree on every byte of `0..len` outside `ignored`:
/// whatever a decoder reads must be exactly what the encoder writes back, so a decoder that
/// accepts a block can only have ignored the bytes the format reserves.
pub fn assert_same_except(decoded: &[u8], canonical: &[u8], len: usize, ignored: &[Range<usize>]) {
    let mut checked = vec![true; len];
    for range in ignored {
        checked[range.start.min(len)..range.end.min(len)].fill(false);
    }
    for (at, check) in checked.iter().enumerate() {
        if *check {
            assert_eq!(
                decoded[at], canonical[at],
                "byte {at} was accepted by decode but differs from its re-encoding"
            );
        }
    }
}

/// Flips one bit of `buf[range]`, chosen by `pick`; returns its byte position.
pub fn flip_bit(buf: &mut [u8], range: Range<usize>, pick: u64) -> usize {
    let bits = (range.len() * 8) as u64;
    assert!(bits > 0, "flip_bit needs a non-empty range");
    let bit = (pick % bits) as usize;
    let at = range.start + bit / 8;
    buf[at] ^= 1 << (bit % 8);
    at
}

/// Keeps the longest prefix of `text` that fits in `max_bytes` without cutting a character.
pub fn truncate_str(text: &str, max_bytes: usize) -> &str {
    let mut end = text.len().min(max_bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
