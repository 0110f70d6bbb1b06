//! `segment::decode_header` and `segment::parse_file_name`: opening a store lists the segment
//! directory, parses every file name, and checks each file's sealed header block. Checks:
//! neither panics; an accepted header re-encodes to a block that decodes to the same creation
//! time, differs from the input only in reserved bytes, and is refused under another key or
//! for another segment id; every header built from fuzz bytes decodes back and any flipped bit
//! is refused; a file name parses only if it is exactly the name `file_name` gives that id, so
//! no two names can stand for one segment.
#![no_main]

use std::ops::Range;

use arbitrary::{Arbitrary, Unstructured};
use colossus_engine::codec::{get_u32, get_u64, put_u32, MAC_LEN};
use colossus_engine::record::BLOCK_LEN;
use colossus_engine::segment::{
    decode_header, encode_header, file_name, parse_file_name, SEGMENT_MAGIC, SEGMENT_VERSION,
};
use colossus_fuzz::{assert_same_except, flip_bit, Control, KEY, OTHER_KEY};
use libfuzzer_sys::fuzz_target;

// Segment header layout, docs/FORMAT.md "Segments" (the engine keeps these private).
const HEADER_LEN: usize = BLOCK_LEN as usize;
const G_VERSION: usize = 8;
const G_SEGMENT_ID: usize = 12;
const G_CREATED: usize = 16;
const G_MAC: usize = HEADER_LEN - MAC_LEN;
/// Written as zero, ignored by decode.
const ZERO_REGION: Range<usize> = G_CREATED + 8..G_MAC;

// Control bits: repairs applied to the fuzz bytes before decoding.
const FIT_LENGTH: u8 = 0;
const FIX_MAGIC: u8 = 1;
const SEAL: u8 = 2;

/// A header's fields (any values are legal) and a file name.
#[derive(Debug, Arbitrary)]
struct AnyHeader<'a> {
    segment_id: u32,
    created_unix_ms: u64,
    name: &'a str,
    flip: u64,
}

fuzz_target!(|data: &[u8]| {
    decode_fuzz_bytes(data);
    if let Ok(any) = AnyHeader::arbitrary(&mut Unstructured::new(data)) {
        encode_valid_header(&any);
        check_file_name(any.name);
    }
});

/// Decodes the fuzz bytes (after the asked-for repairs) as the header of the segment they name.
fn decode_fuzz_bytes(data: &[u8]) {
    let (control, bytes) = Control::split(data);
    if let Ok(name) = std::str::from_utf8(bytes) {
        check_file_name(name);
    }
    let mut block = bytes.to_vec();
    if control.wants(FIT_LENGTH) {
        block.resize(HEADER_LEN, 0);
    }
    if block.len() >= HEADER_LEN {
        if control.wants(FIX_MAGIC) {
            block[..SEGMENT_MAGIC.len()].copy_from_slice(&SEGMENT_MAGIC);
            put_u32(&mut block, G_VERSION, SEGMENT_VERSION);
        }
        if control.wants(SEAL) {
            KEY.seal(&mut block, G_MAC);
        }
    }
    let segment_id = if block.len() >= HEADER_LEN {
        get_u32(&block, G_SEGMENT_ID)
    } else {
        0
    };
    let Some(created_unix_ms) = decode_header(&KEY, &block, segment_id) else {
        return;
    };
    assert_eq!(created_unix_ms, get_u64(&block, G_CREATED));
    let encoded = encode_header(&KEY, segment_id, created_unix_ms);
    assert_eq!(encoded.len(), HEADER_LEN);
    assert_eq!(
        decode_header(&KEY, &encoded, segment_id),
        Some(created_unix_ms)
    );
    assert_same_except(&block, &encoded, G_MAC, &[ZERO_REGION]);
    assert_eq!(decode_header(&OTHER_KEY, &block, segment_id), None);
    assert_eq!(decode_header(&KEY, &block, segment_id ^ 1), None);
}

/// Encodes a header built from fuzz bytes; checks it decodes back, only for its segment.
fn encode_valid_header(any: &AnyHeader) {
    assert_eq!(
        parse_file_name(&file_name(any.segment_id)),
        Some(any.segment_id)
    );
    let block = encode_header(&KEY, any.segment_id, any.created_unix_ms);
    assert_eq!(block.len(), HEADER_LEN);
    assert_eq!(
        decode_header(&KEY, &block, any.segment_id),
        Some(any.created_unix_ms)
    );
    assert_eq!(
        decode_header(&KEY, &block[..HEADER_LEN - 1], any.segment_id),
        None
    );
    assert_eq!(decode_header(&OTHER_KEY, &block, any.segment_id), None);
    assert_eq!(
        decode_header(&KEY, &block, any.segment_id.wrapping_add(1)),
        None
    );
    let mut flipped = block;
    let at = flip_bit(&mut flipped, 0..HEADER_LEN, any.flip);
    assert_eq!(
        decode_header(&KEY, &flipped, any.segment_id),
        None,
        "a flipped bit in byte {at} went unnoticed"
    );
}

/// A name parses only if it is the one name `file_name` gives its id.
fn check_file_name(name: &str) {
    if let Some(parsed) = parse_file_name(name) {
        assert_eq!(
            file_name(parsed),
            name,
            "{name:?} parses as segment {parsed}, whose file is named otherwise"
        );
    }
}
