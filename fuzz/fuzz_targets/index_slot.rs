//! `index::slot::decode` and the sequence-lock copy (`slot::read`/`write`) in front of it:
//! every index lookup decodes a slot straight out of the memory-mapped table. Checks: decode
//! never panics; it says Empty exactly for an all-zero slot and Damaged whenever the crc is
//! wrong; a live entry it returns is within the documented ranges and re-encodes to the same
//! slot up to reserved bits; copying through the atomics changes nothing; and every valid
//! slot built from fuzz bytes decodes back to what was written, while any flipped bit after
//! the lock word makes it Damaged.
#![no_main]

use std::sync::atomic::AtomicU64;

use arbitrary::{Arbitrary, Unstructured};
use colossus_engine::codec::{get_u32, put_u32};
use colossus_engine::index::slot::{
    self, IndexEntry, SlotState, SlotView, SLOT_FLAG_ACCEPTED, SLOT_LEN, SLOT_WORDS,
};
use colossus_engine::record::{BagName, BAG_LEN_MAX, CHUNK_SIZE_MAX, CHUNK_SIZE_MIN};
use colossus_fuzz::{flip_bit, truncate_str, Control};
use libfuzzer_sys::fuzz_target;

// Slot layout, docs/FORMAT.md "Index slot" (the engine keeps these private).
const S_CRC: usize = 4;
const S_STATE: usize = 8;
const S_FLAGS: usize = 9;
const S_BAG_LEN: usize = 11;
const S_BAG: usize = SLOT_LEN - BAG_LEN_MAX;
/// Flag bits the slot defines: accepted (bit 0) and log2(chunk size) - 12 (high nibble).
const DEFINED_FLAGS: u8 = SLOT_FLAG_ACCEPTED | 0xF0;

// Control bits: repairs applied to the fuzz bytes before decoding.
const KNOWN_STATE: u8 = 0;
const FIX_CRC: u8 = 1;

/// A valid slot: state and entry with every field in its legal range.
#[derive(Debug, Arbitrary)]
struct AnySlot<'a> {
    state: u8,
    object_id: u64,
    accepted: bool,
    content_type: u8,
    chunk_shift: u8,
    bag: &'a str,
    segment_id: u32,
    offset: u64,
    payload_len: u64,
    seq: u64,
    created_unix_ms: u64,
    digest: [u8; 32],
    lock: u32,
    flip: u64,
}

fuzz_target!(|data: &[u8]| {
    decode_fuzz_bytes(data);
    if let Ok(any) = AnySlot::arbitrary(&mut Unstructured::new(data)) {
        encode_valid_slot(&any);
    }
});

/// Decodes the fuzz bytes (after the asked-for repairs) as a slot.
fn decode_fuzz_bytes(data: &[u8]) {
    let (control, bytes) = Control::split(data);
    let mut buf = [0u8; SLOT_LEN];
    let len = bytes.len().min(SLOT_LEN);
    buf[..len].copy_from_slice(&bytes[..len]);
    if control.wants(KNOWN_STATE) {
        buf[S_STATE] %= 4;
    }
    if control.wants(FIX_CRC) {
        let crc = crc32c::crc32c(&buf[S_STATE..]);
        put_u32(&mut buf, S_CRC, crc);
    }

    let view = slot::decode(&buf);
    let all_zero = buf[S_CRC..].iter().all(|b| *b == 0);
    assert_eq!(
        view == SlotView::Empty,
        all_zero,
        "Empty is exactly the all-zero slot"
    );
    if !all_zero && get_u32(&buf, S_CRC) != crc32c::crc32c(&buf[S_STATE..]) {
        assert_eq!(view, SlotView::Damaged, "a wrong crc is damage");
    }
    if let SlotView::Live(entry) = view {
        check_live(&buf, &entry);
    }

    // The sequence-lock copy of a slot nobody is writing is the slot itself.
    let words = to_words(&buf);
    if !slot::is_mid_write(&words) {
        assert_eq!(slot::read(&words), Some(buf));
    }
}

/// A live entry decoded from `buf` is in range and re-encodes to `buf` up to reserved bits.
fn check_live(buf: &[u8; SLOT_LEN], entry: &IndexEntry) {
    assert!(
        entry.chunk_size.is_power_of_two()
            && (CHUNK_SIZE_MIN..=CHUNK_SIZE_MAX).contains(&entry.chunk_size),
        "decoded chunk size {} is outside {CHUNK_SIZE_MIN}..={CHUNK_SIZE_MAX} (flags {:#04x})",
        entry.chunk_size,
        buf[S_FLAGS]
    );
    assert!(entry.bag.as_bytes().len() <= BAG_LEN_MAX);

    let (encoded, crc) = slot::encode(SlotState::Live, Some(entry));
    assert_eq!(get_u32(&encoded, S_CRC), crc);
    assert_eq!(slot::decode(&encoded), SlotView::Live(*entry));
    let mut canonical = *buf;
    canonical[..S_CRC].fill(0);
    canonical[S_FLAGS] &= DEFINED_FLAGS;
    canonical[S_BAG_LEN] = canonical[S_BAG_LEN].min(BAG_LEN_MAX as u8);
    let bag_end = S_BAG + usize::from(canonical[S_BAG_LEN]);
    canonical[bag_end..].fill(0);
    let crc = crc32c::crc32c(&canonical[S_STATE..]);
    put_u32(&mut canonical, S_CRC, crc);
    assert_eq!(
        encoded, canonical,
        "decode ignored a byte the encoder writes"
    );

    // Written through the sequence lock and read back, the entry is unchanged.
    let words = to_words(buf);
    slot::write(&words, &encoded, crc);
    assert!(!slot::is_mid_write(&words));
    let copied = slot::read(&words).expect("no writer is active");
    assert_eq!(copied[S_CRC..], encoded[S_CRC..]);
    assert_eq!(slot::decode(&copied), SlotView::Live(*entry));
}

/// Encodes a valid slot, passes it through the atomics, and checks what decode makes of it.
fn encode_valid_slot(any: &AnySlot) {
    let shifts = CHUNK_SIZE_MAX.trailing_zeros() - CHUNK_SIZE_MIN.trailing_zeros() + 1;
    let entry = IndexEntry {
        object_id: any.object_id,
        accepted: any.accepted,
        content_type: any.content_type,
        chunk_size: CHUNK_SIZE_MIN << (u32::from(any.chunk_shift) % shifts),
        bag: BagName::new(truncate_str(any.bag, BAG_LEN_MAX)).expect("fits"),
        segment_id: any.segment_id,
        offset: any.offset,
        payload_len: any.payload_len,
        seq: any.seq,
        created_unix_ms: any.created_unix_ms,
        digest: any.digest,
    };
    // Empty slots are never encoded: a fresh table is zero-filled.
    let (state, expected) = match any.state % 3 {
        0 => (SlotState::Live, SlotView::Live(entry)),
        1 => (SlotState::Vacated, SlotView::Vacated),
        _ => (SlotState::Quarantined, SlotView::Damaged),
    };
    let written = (state == SlotState::Live).then_some(&entry);
    let (bytes, crc) = slot::encode(state, written);
    assert_eq!(slot::decode(&bytes), expected);

    let mut start = [0u8; SLOT_LEN];
    put_u32(&mut start, 0, any.lock & !1);
    let words = to_words(&start);
    slot::write(&words, &bytes, crc);
    assert!(!slot::is_mid_write(&words));
    let copied = slot::read(&words).expect("no writer is active");
    assert_eq!(copied[S_CRC..], bytes[S_CRC..]);
    assert_ne!(get_u32(&copied, 0), any.lock & !1, "the lock moved on");
    assert_eq!(slot::decode(&copied), expected);

    let mut flipped = copied;
    flip_bit(&mut flipped, 0..S_CRC, any.flip);
    assert_eq!(
        slot::decode(&flipped),
        expected,
        "the lock word is not slot content"
    );
    let mut flipped = copied;
    let at = flip_bit(&mut flipped, S_CRC..SLOT_LEN, any.flip);
    assert_eq!(
        slot::decode(&flipped),
        SlotView::Damaged,
        "a flipped bit in byte {at} went unnoticed"
    );
}

/// The slot as the 64-bit words of the mapped table.
fn to_words(buf: &[u8; SLOT_LEN]) -> Vec<AtomicU64> {
    (0..SLOT_WORDS)
        .map(|i| {
            let word: [u8; 8] = buf[i * 8..i * 8 + 8].try_into().expect("8 bytes");
            AtomicU64::new(u64::from_le_bytes(word))
        })
        .collect()
}
