//! `RecordHead::decode`: recovery runs it on every block of every segment it scans, so it sees
//! payload bytes, torn writes and stale blocks. Checks: decode never panics; whatever it
//! accepts re-encodes to a block that decodes to the same head, differs from the input only in
//! reserved bytes, and is refused anywhere else or under another key; and every valid head
//! built from fuzz bytes encodes to a block that decodes back to it.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use colossus_engine::codec::{get_u32, get_u64, put_u16, put_u32, MAC_LEN};
use colossus_engine::record::{
    valid_chunk_size, BagName, RecordError, RecordHead, RecordKind, BAG_LEN_MAX, BLOCK_LEN,
    CHUNK_SIZE_MAX, CHUNK_SIZE_MIN, HEAD_LEN, HEAD_MAGIC, RECORD_VERSION,
};
use colossus_fuzz::{assert_same_except, flip_bit, truncate_str, Control, KEY, OTHER_KEY};
use libfuzzer_sys::fuzz_target;

// Head block layout, docs/FORMAT.md "Records" (the engine keeps these private).
const H_VERSION: usize = 4;
const H_FLAGS: usize = 7;
const H_SEGMENT_ID: usize = 24;
const H_BAG_LEN: usize = 28;
const H_OFFSET: usize = 32;
const H_BAG: usize = 56;
const H_CHUNK_SIZE: usize = 96;
const H_MAC: usize = HEAD_LEN - MAC_LEN;

// Control bits: repairs applied to the fuzz bytes before decoding.
const FIX_MAGIC: u8 = 0;
const SEAL: u8 = 1;

/// A valid head: every field mapped into its legal range.
#[derive(Debug, Arbitrary)]
struct AnyHead<'a> {
    kind: u8,
    object_id: u64,
    seq: u64,
    segment_id: u32,
    block: u64,
    payload_len: u64,
    created_unix_ms: u64,
    bag: &'a str,
    chunk_shift: u8,
    flip: u64,
}

impl AnyHead<'_> {
    fn head(&self) -> RecordHead {
        let kind = match self.kind % 3 {
            0 => RecordKind::Object,
            1 => RecordKind::Tombstone,
            _ => RecordKind::Accept,
        };
        let object = kind == RecordKind::Object;
        let shifts = CHUNK_SIZE_MAX.trailing_zeros() - CHUNK_SIZE_MIN.trailing_zeros() + 1;
        RecordHead {
            kind,
            object_id: self.object_id,
            seq: self.seq,
            segment_id: self.segment_id,
            offset: self.block.wrapping_mul(BLOCK_LEN),
            payload_len: if object { self.payload_len } else { 0 },
            created_unix_ms: self.created_unix_ms,
            bag: BagName::new(truncate_str(self.bag, BAG_LEN_MAX)).expect("fits"),
            chunk_size: if object {
                CHUNK_SIZE_MIN << (u32::from(self.chunk_shift) % shifts)
            } else {
                0
            },
        }
    }
}

fuzz_target!(|data: &[u8]| {
    decode_fuzz_bytes(data);
    if let Ok(any) = AnyHead::arbitrary(&mut Unstructured::new(data)) {
        encode_valid_head(&any);
    }
});

/// Decodes the fuzz bytes (after the asked-for repairs) where they claim to live.
fn decode_fuzz_bytes(data: &[u8]) {
    let (control, bytes) = Control::split(data);
    let mut buf = bytes.to_vec();
    if buf.len() >= HEAD_LEN {
        if control.wants(FIX_MAGIC) {
            put_u32(&mut buf, 0, HEAD_MAGIC);
            put_u16(&mut buf, H_VERSION, RECORD_VERSION);
        }
        if control.wants(SEAL) {
            KEY.seal(&mut buf, H_MAC);
        }
    }
    // Callers only ever decode at block boundaries (recovery steps block by block).
    let (segment_id, offset) = if buf.len() >= HEAD_LEN {
        (
            get_u32(&buf, H_SEGMENT_ID),
            get_u64(&buf, H_OFFSET) & !(BLOCK_LEN - 1),
        )
    } else {
        (0, 0)
    };
    let Ok(head) = RecordHead::decode(&buf, &KEY, segment_id, offset) else {
        return;
    };

    assert_eq!((head.segment_id, head.offset), (segment_id, offset));
    assert!(head.bag.as_bytes().len() <= BAG_LEN_MAX);
    assert_eq!(
        head.bag.as_str().as_bytes(),
        head.bag.as_bytes(),
        "bag is UTF-8"
    );
    match head.kind {
        RecordKind::Object => assert!(valid_chunk_size(head.chunk_size)),
        _ => assert_eq!((head.payload_len, head.chunk_size), (0, 0)),
    }

    let block = head.encode(&KEY);
    assert_eq!(block.len() as u64, BLOCK_LEN);
    assert_eq!(
        RecordHead::decode(&block, &KEY, segment_id, offset),
        Ok(head)
    );
    let bag_end = H_BAG + head.bag.as_bytes().len();
    assert_same_except(
        &buf,
        &block,
        H_MAC,
        &[
            H_FLAGS..H_FLAGS + 1,
            H_BAG_LEN + 1..H_OFFSET,
            bag_end..H_BAG + BAG_LEN_MAX,
            H_CHUNK_SIZE + 4..H_MAC,
        ],
    );
    assert_refused_elsewhere(&buf, &head);
}

/// Encodes a valid head and checks it decodes back, and nowhere else.
fn encode_valid_head(any: &AnyHead) {
    let head = any.head();
    let block = head.encode(&KEY);
    assert_eq!(block.len() as u64, BLOCK_LEN);
    assert!(block[HEAD_LEN..].iter().all(|b| *b == 0), "padding is zero");
    assert_eq!(
        RecordHead::decode(&block, &KEY, head.segment_id, head.offset),
        Ok(head)
    );
    assert_eq!(
        RecordHead::decode(&block[..HEAD_LEN], &KEY, head.segment_id, head.offset),
        Ok(head),
        "the fields fit in HEAD_LEN bytes"
    );
    assert_eq!(
        RecordHead::decode(&block[..HEAD_LEN - 1], &KEY, head.segment_id, head.offset),
        Err(RecordError::Short)
    );
    assert_refused_elsewhere(&block, &head);
    let mut flipped = block.clone();
    let at = flip_bit(&mut flipped, 0..HEAD_LEN, any.flip);
    assert!(
        RecordHead::decode(&flipped, &KEY, head.segment_id, head.offset).is_err(),
        "a flipped bit in byte {at} went unnoticed"
    );
}

/// A head that decodes where it was sealed must not decode under another key or elsewhere.
fn assert_refused_elsewhere(block: &[u8], head: &RecordHead) {
    let (segment_id, offset) = (head.segment_id, head.offset);
    assert_eq!(
        RecordHead::decode(block, &OTHER_KEY, segment_id, offset),
        Err(RecordError::Mac)
    );
    assert_eq!(
        RecordHead::decode(block, &KEY, segment_id ^ 1, offset),
        Err(RecordError::Misplaced)
    );
    assert_eq!(
        RecordHead::decode(block, &KEY, segment_id, offset.wrapping_add(BLOCK_LEN)),
        Err(RecordError::Misplaced)
    );
}
