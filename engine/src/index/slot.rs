//! One index slot: 128 bytes in the memory-mapped table, read lock-free under a per-slot
//! sequence lock and sealed with a crc32c, so a torn or flipped slot is detected, never
//! trusted. Layout in docs/FORMAT.md, "Index slot".

use std::sync::atomic::{fence, AtomicU64, Ordering};

use crate::codec::{get_u32, get_u64, put_u32, put_u64};
use crate::record::{BagName, BAG_LEN_MAX};

/// Bytes per slot.
pub const SLOT_LEN: usize = 128;
/// 64-bit words per slot.
pub const SLOT_WORDS: usize = SLOT_LEN / 8;

// Word 0 holds the sequence lock (low half) and the crc of bytes 8..128 (high half).
const S_STATE: usize = 8;
const S_FLAGS: usize = S_STATE + 1;
const S_CONTENT_TYPE: usize = S_FLAGS + 1;
const S_BAG_LEN: usize = S_CONTENT_TYPE + 1;
const S_SEGMENT_ID: usize = S_BAG_LEN + 1;
const S_OBJECT_ID: usize = S_SEGMENT_ID + 4;
const S_OFFSET: usize = S_OBJECT_ID + 8;
const S_PAYLOAD_LEN: usize = S_OFFSET + 8;
const S_SEQ: usize = S_PAYLOAD_LEN + 8;
const S_CREATED: usize = S_SEQ + 8;
const S_DIGEST: usize = S_CREATED + 8;
const S_BAG: usize = S_DIGEST + 32;
const _: () = assert!(S_BAG + BAG_LEN_MAX == SLOT_LEN);

/// Slot state byte.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotState {
    /// Never used: ends a probe.
    Empty = 0,
    /// Holds an object.
    Live = 1,
    /// Held an object that was deleted; keeps probe chains intact until the next rehash.
    Vacated = 2,
    /// Found damaged; whatever it held is unknown until the index is rebuilt.
    Quarantined = 3,
}

/// Slot flag: the object is accepted.
pub const SLOT_FLAG_ACCEPTED: u8 = 1;
/// The flags byte's high nibble holds log2(chunk size) - 12.
const CHUNK_SHIFT_BASE: u32 = 12;

/// A decoded live slot: everything the index knows about an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// Data object id.
    pub object_id: u64,
    /// Whether the object is accepted.
    pub accepted: bool,
    /// Sniffed content type code.
    pub content_type: u8,
    /// Bytes per checksummed chunk of the record (a power of two, 4 KiB to 32 MiB).
    pub chunk_size: u32,
    /// The object's bag.
    pub bag: BagName,
    /// Segment holding the record.
    pub segment_id: u32,
    /// Offset of the record's head block in the segment.
    pub offset: u64,
    /// Payload bytes.
    pub payload_len: u64,
    /// Sequence number of the record.
    pub seq: u64,
    /// Creation time, ms since the Unix epoch.
    pub created_unix_ms: u64,
    /// blake3 digest of the payload.
    pub digest: [u8; 32],
}

/// What a slot read found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotView {
    /// Unused.
    Empty,
    /// A live object.
    Live(IndexEntry),
    /// A deleted object's slot.
    Vacated,
    /// Damaged (crc mismatch, unknown state, or quarantined earlier).
    Damaged,
}

/// Encodes slot bytes 8..128 (word 0 is left for the lock and crc); returns the bytes and crc.
pub fn encode(state: SlotState, entry: Option<&IndexEntry>) -> ([u8; SLOT_LEN], u32) {
    let mut buf = [0u8; SLOT_LEN];
    buf[S_STATE] = state as u8;
    if let Some(e) = entry {
        assert!(
            e.chunk_size.is_power_of_two() && (12..=25).contains(&e.chunk_size.trailing_zeros())
        );
        let chunk_nibble = (e.chunk_size.trailing_zeros() - CHUNK_SHIFT_BASE) as u8;
        buf[S_FLAGS] = (if e.accepted { SLOT_FLAG_ACCEPTED } else { 0 }) | (chunk_nibble << 4);
        buf[S_CONTENT_TYPE] = e.content_type;
        let bag = e.bag.as_bytes();
        buf[S_BAG_LEN] = bag.len() as u8;
        put_u32(&mut buf, S_SEGMENT_ID, e.segment_id);
        put_u64(&mut buf, S_OBJECT_ID, e.object_id);
        put_u64(&mut buf, S_OFFSET, e.offset);
        put_u64(&mut buf, S_PAYLOAD_LEN, e.payload_len);
        put_u64(&mut buf, S_SEQ, e.seq);
        put_u64(&mut buf, S_CREATED, e.created_unix_ms);
        buf[S_DIGEST..S_DIGEST + 32].copy_from_slice(&e.digest);
        buf[S_BAG..S_BAG + bag.len()].copy_from_slice(bag);
    }
    let crc = body_crc(&buf);
    put_u32(&mut buf, 4, crc);
    (buf, crc)
}

/// Decodes slot bytes (as copied out under the lock).
pub fn decode(buf: &[u8; SLOT_LEN]) -> SlotView {
    // Word by word, not byte by byte: this runs on every slot a lookup passes.
    let nonzero = (1..SLOT_WORDS).fold(u64::from(get_u32(buf, 4)), |any, i| {
        any | get_u64(buf, i * 8)
    });
    if nonzero == 0 {
        return SlotView::Empty;
    }
    if body_crc(buf) != get_u32(buf, 4) {
        return SlotView::Damaged;
    }
    match buf[S_STATE] {
        1 => {}
        2 => return SlotView::Vacated,
        _ => return SlotView::Damaged,
    }
    let bag_len = usize::from(buf[S_BAG_LEN]).min(BAG_LEN_MAX);
    let Some(bag) = BagName::from_bytes(&buf[S_BAG..S_BAG + bag_len]) else {
        return SlotView::Damaged;
    };
    // Chunk sizes run from 4 KiB (nibble 0) to 32 MiB (nibble 13); more is damage.
    let chunk_nibble = u32::from(buf[S_FLAGS] >> 4);
    if chunk_nibble > 13 {
        return SlotView::Damaged;
    }
    let chunk_size = 1 << (CHUNK_SHIFT_BASE + chunk_nibble);
    let mut digest = [0u8; 32];
    digest.copy_from_slice(&buf[S_DIGEST..S_DIGEST + 32]);
    SlotView::Live(IndexEntry {
        object_id: get_u64(buf, S_OBJECT_ID),
        accepted: buf[S_FLAGS] & SLOT_FLAG_ACCEPTED != 0,
        content_type: buf[S_CONTENT_TYPE],
        chunk_size,
        bag,
        segment_id: get_u32(buf, S_SEGMENT_ID),
        offset: get_u64(buf, S_OFFSET),
        payload_len: get_u64(buf, S_PAYLOAD_LEN),
        seq: get_u64(buf, S_SEQ),
        created_unix_ms: get_u64(buf, S_CREATED),
        digest,
    })
}

/// crc32c of bytes 8..128. The same value as `crc32c::crc32c(&buf[8..])` (a unit test holds
/// them together), computed inline with the SSE 4.2 instruction where the CPU has it: a lookup
/// checks one or two slots, and the library call's dispatch was a tenth of a batched lookup.
pub fn body_crc(buf: &[u8; SLOT_LEN]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("sse4.2") {
            // SAFETY: the CPU supports SSE 4.2 (checked just above), which is all
            // `body_crc_sse42` needs.
            return unsafe { body_crc_sse42(buf) };
        }
    }
    crc32c::crc32c(&buf[8..])
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
fn body_crc_sse42(buf: &[u8; SLOT_LEN]) -> u32 {
    use std::arch::x86_64::_mm_crc32_u64;
    // CRC-32C starts from all ones and ends inverted; the instruction consumes each word's
    // bytes in little-endian order, i.e. in memory order.
    let crc = (1..SLOT_WORDS).fold(u64::from(u32::MAX), |crc, i| {
        _mm_crc32_u64(crc, get_u64(buf, i * 8))
    });
    !(crc as u32)
}

/// How many times a reader retries a slot a writer keeps changing before it reports damage;
/// a slot left mid-write by a killed process is repaired at open, so this only bounds spinning.
const READ_RETRIES_MAX: u32 = 1 << 20;

/// Copies a slot out consistently (sequence lock read side).
pub fn read(words: &[AtomicU64]) -> Option<[u8; SLOT_LEN]> {
    debug_assert_eq!(words.len(), SLOT_WORDS);
    for _ in 0..READ_RETRIES_MAX {
        let before = words[0].load(Ordering::Acquire);
        if before & 1 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let mut buf = [0u8; SLOT_LEN];
        for (i, word) in words.iter().enumerate().skip(1) {
            buf[i * 8..i * 8 + 8].copy_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
        }
        fence(Ordering::Acquire);
        let after = words[0].load(Ordering::Relaxed);
        if before == after {
            buf[..8].copy_from_slice(&before.to_le_bytes());
            return Some(buf);
        }
    }
    None
}

/// Whether the slot's lock is odd: a writer was interrupted in the middle of it.
pub fn is_mid_write(words: &[AtomicU64]) -> bool {
    words[0].load(Ordering::Acquire) & 1 == 1
}

/// Overwrites a slot (sequence lock write side). Callers hold the shard's writer lock.
pub fn write(words: &[AtomicU64], bytes: &[u8; SLOT_LEN], crc: u32) {
    debug_assert_eq!(words.len(), SLOT_WORDS);
    let lock = words[0].load(Ordering::Relaxed) as u32;
    let odd = lock.wrapping_add(1) | 1;
    let even = odd.wrapping_add(1);
    words[0].store(u64::from(odd) | (u64::from(crc) << 32), Ordering::Relaxed);
    fence(Ordering::Release);
    for (i, word) in words.iter().enumerate().skip(1) {
        word.store(get_u64(bytes, i * 8), Ordering::Relaxed);
    }
    words[0].store(u64::from(even) | (u64::from(crc) << 32), Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_entry() -> impl Strategy<Value = IndexEntry> {
        (
            any::<u64>(),
            any::<bool>(),
            any::<u8>(),
            "[a-z:0-9]{0,40}",
            any::<u32>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<[u8; 32]>(),
        )
            .prop_map(
                |(
                    object_id,
                    accepted,
                    content_type,
                    bag,
                    segment_id,
                    offset,
                    payload_len,
                    seq,
                    created_unix_ms,
                    digest,
                )| IndexEntry {
                    object_id,
                    accepted,
                    content_type,
                    chunk_size: 1 << (12 + created_unix_ms % 14),
                    bag: BagName::new(&bag).unwrap(),
                    segment_id,
                    offset,
                    payload_len,
                    seq,
                    created_unix_ms,
                    digest,
                },
            )
    }

    fn words() -> Vec<AtomicU64> {
        (0..SLOT_WORDS).map(|_| AtomicU64::new(0)).collect()
    }

    proptest! {
        #[test]
        fn body_crc_is_crc32c_of_the_body(bytes in proptest::collection::vec(any::<u8>(), SLOT_LEN)) {
            let mut buf = [0u8; SLOT_LEN];
            buf.copy_from_slice(&bytes);
            prop_assert_eq!(body_crc(&buf), crc32c::crc32c(&buf[8..]));
        }

        #[test]
        fn live_round_trips_through_atomics(entry in any_entry()) {
            let slot = words();
            let (bytes, crc) = encode(SlotState::Live, Some(&entry));
            write(&slot, &bytes, crc);
            prop_assert!(!is_mid_write(&slot));
            let read_back = read(&slot).unwrap();
            prop_assert_eq!(decode(&read_back), SlotView::Live(entry));
        }

        #[test]
        fn any_bit_flip_is_detected(entry in any_entry(), bit in 32usize..SLOT_LEN * 8) {
            let (mut bytes, _) = encode(SlotState::Live, Some(&entry));
            bytes[bit / 8] ^= 1 << (bit % 8);
            prop_assert_eq!(decode(&bytes), SlotView::Damaged);
        }

        #[test]
        fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), SLOT_LEN)) {
            let mut bytes = [0u8; SLOT_LEN];
            bytes.copy_from_slice(&raw);
            let _ = decode(&bytes);
        }
    }

    #[test]
    fn zero_slot_is_empty_and_vacated_round_trips() {
        assert_eq!(decode(&[0u8; SLOT_LEN]), SlotView::Empty);
        let (bytes, _) = encode(SlotState::Vacated, None);
        assert_eq!(decode(&bytes), SlotView::Vacated);
        let (bytes, _) = encode(SlotState::Quarantined, None);
        assert_eq!(decode(&bytes), SlotView::Damaged);
    }
}
