//! `Trailer::decode` and the chunk table behind it: recovery and the reader decode the trailer
//! of every record they trust. Checks: decode never panics; an accepted trailer has a valid
//! chunk size and a chunk count that matches its payload, re-encodes (with the table found
//! behind it) to bytes that decode to the same trailer and differ from the input only in
//! reserved bytes, and is refused under another key or for another record; every valid
//! trailer built from fuzz bytes encodes to bytes that decode back to it and its table.
#![no_main]

use std::ops::Range;

use arbitrary::{Arbitrary, Unstructured};
use colossus_engine::codec::{get_u32, get_u64, put_u16, put_u32, put_u64, MAC_LEN};
use colossus_engine::record::{
    chunk_count, decode_table, trailer_len, valid_chunk_size, BagName, RecordError, RecordHead,
    RecordKind, Trailer, BLOCK_LEN, CHUNK_SIZE_MAX, CHUNK_SIZE_MIN, RECORD_VERSION,
    TRAILER_FIXED_LEN, TRAILER_MAGIC,
};
use colossus_fuzz::{assert_same_except, flip_bit, Control, KEY, OTHER_KEY};
use libfuzzer_sys::fuzz_target;

// Trailer layout, docs/FORMAT.md "Records" (the engine keeps these private).
const T_VERSION: usize = 4;
const T_SEGMENT_ID: usize = 24;
const T_CHUNK_SIZE: usize = 28;
const T_OFFSET: usize = 32;
const T_PAYLOAD_LEN: usize = 40;
const T_CHUNK_COUNT: usize = 48;
const T_TABLE_CRC: usize = 88;
const T_MAC: usize = TRAILER_FIXED_LEN - MAC_LEN;
/// Written as zero, ignored by decode.
const ZERO_REGION: Range<usize> = T_TABLE_CRC + 4..T_MAC;

/// Largest table the target re-encodes (bigger ones cannot be in a fuzz input anyway).
const TABLE_ENTRIES_MAX: u64 = 1024;

// Control bits: repairs applied to the fuzz bytes before decoding.
const FIX_MAGIC: u8 = 0;
const FIT_PAYLOAD: u8 = 1;
const FIX_CHUNK_COUNT: u8 = 2;
const FIX_TABLE_CRC: u8 = 3;
const SEAL: u8 = 4;

/// A valid trailer: every field mapped into its legal range; its table follows in the input.
#[derive(Debug, Arbitrary)]
struct AnyTrailer {
    content_type: u8,
    flags: u8,
    object_id: u64,
    seq: u64,
    segment_id: u32,
    block: u64,
    chunk_shift: u8,
    payload_len: u64,
    digest: [u8; 32],
    flip: u64,
}

fuzz_target!(|data: &[u8]| {
    decode_fuzz_bytes(data);
    let mut u = Unstructured::new(data);
    if let Ok(any) = AnyTrailer::arbitrary(&mut u) {
        encode_valid_trailer(&any, &mut u);
    }
});

/// Decodes the fuzz bytes (after the asked-for repairs) for the record they claim to end.
fn decode_fuzz_bytes(data: &[u8]) {
    let (control, bytes) = Control::split(data);
    let mut buf = bytes.to_vec();
    if buf.len() >= TRAILER_FIXED_LEN {
        repair(control, &mut buf);
    }
    // Callers decode at the record's head offset, a block boundary.
    let (segment_id, offset) = if buf.len() >= TRAILER_FIXED_LEN {
        (
            get_u32(&buf, T_SEGMENT_ID),
            get_u64(&buf, T_OFFSET) & !(BLOCK_LEN - 1),
        )
    } else {
        (0, 0)
    };
    let Ok(trailer) = Trailer::decode(&buf, &KEY, segment_id, offset) else {
        return;
    };

    assert_eq!((trailer.segment_id, trailer.offset), (segment_id, offset));
    assert!(valid_chunk_size(trailer.chunk_size));
    assert_eq!(
        trailer.chunk_count,
        chunk_count(trailer.payload_len, trailer.chunk_size)
    );
    assert_refused_elsewhere(&buf, &trailer);

    // Re-encoding needs the table; it is there when the input holds it and its crc matches.
    if trailer.chunk_count > TABLE_ENTRIES_MAX {
        return;
    }
    let table_end = TRAILER_FIXED_LEN + 4 * trailer.chunk_count as usize;
    let Some(table) = buf
        .get(TRAILER_FIXED_LEN..table_end)
        .and_then(|bytes| decode_table(bytes, trailer.table_crc))
    else {
        return;
    };
    let encoded = trailer.encode(&KEY, &table);
    assert_eq!(encoded.len() as u64, trailer_len(trailer.chunk_count));
    assert_eq!(
        Trailer::decode(&encoded, &KEY, segment_id, offset),
        Ok(trailer)
    );
    assert_eq!(
        decode_table(&encoded[TRAILER_FIXED_LEN..table_end], trailer.table_crc),
        Some(table)
    );
    // Everything but the reserved bytes before the MAC is read back.
    assert_same_except(&buf, &encoded, T_MAC, &[ZERO_REGION]);
    assert_eq!(
        buf[TRAILER_FIXED_LEN..table_end],
        encoded[TRAILER_FIXED_LEN..table_end]
    );
}

/// Applies the repairs `control` asks for, so inputs reach the checks behind the MAC.
fn repair(control: Control, buf: &mut [u8]) {
    if control.wants(FIX_MAGIC) {
        put_u32(buf, 0, TRAILER_MAGIC);
        put_u16(buf, T_VERSION, RECORD_VERSION);
    }
    let chunk_size = u64::from(get_u32(buf, T_CHUNK_SIZE));
    if control.wants(FIT_PAYLOAD) && chunk_size > 0 {
        // A payload whose table fits in the rest of the input.
        let entries = ((buf.len() - TRAILER_FIXED_LEN) / 4) as u64;
        let payload_len = get_u64(buf, T_PAYLOAD_LEN) % (chunk_size * entries + 1);
        put_u64(buf, T_PAYLOAD_LEN, payload_len);
    }
    if control.wants(FIX_CHUNK_COUNT) && chunk_size > 0 {
        let count = get_u64(buf, T_PAYLOAD_LEN).div_ceil(chunk_size);
        put_u64(buf, T_CHUNK_COUNT, count);
    }
    if control.wants(FIX_TABLE_CRC) {
        let count = get_u64(buf, T_CHUNK_COUNT);
        let end = count
            .checked_mul(4)
            .and_then(|len| usize::try_from(len).ok())
            .and_then(|len| len.checked_add(TRAILER_FIXED_LEN))
            .filter(|end| *end <= buf.len());
        if let Some(end) = end {
            let crc = crc32c::crc32c(&buf[TRAILER_FIXED_LEN..end]);
            put_u32(buf, T_TABLE_CRC, crc);
        }
    }
    if control.wants(SEAL) {
        KEY.seal(buf, T_MAC);
    }
}

/// Encodes a valid trailer with a table read from the input; checks it decodes back.
fn encode_valid_trailer(any: &AnyTrailer, u: &mut Unstructured) {
    let shifts = CHUNK_SIZE_MAX.trailing_zeros() - CHUNK_SIZE_MIN.trailing_zeros() + 1;
    let chunk_size = CHUNK_SIZE_MIN << (u32::from(any.chunk_shift) % shifts);
    let payload_len = any.payload_len % (u64::from(chunk_size) * TABLE_ENTRIES_MAX + 1);
    let count = chunk_count(payload_len, chunk_size);
    let table: Vec<u32> = (0..count).map(|_| u.arbitrary().unwrap_or(0)).collect();
    let table_bytes: Vec<u8> = table.iter().flat_map(|crc| crc.to_le_bytes()).collect();
    let trailer = Trailer {
        content_type: any.content_type,
        flags: any.flags,
        object_id: any.object_id,
        seq: any.seq,
        segment_id: any.segment_id,
        chunk_size,
        offset: any.block.wrapping_mul(BLOCK_LEN),
        payload_len,
        chunk_count: count,
        digest: any.digest,
        table_crc: crc32c::crc32c(&table_bytes),
    };
    let (segment_id, offset) = (trailer.segment_id, trailer.offset);

    let buf = trailer.encode(&KEY, &table);
    assert_eq!(buf.len() as u64, trailer_len(count));
    assert_eq!(buf.len() as u64 % BLOCK_LEN, 0);
    let table_end = TRAILER_FIXED_LEN + table_bytes.len();
    assert_eq!(buf[TRAILER_FIXED_LEN..table_end], table_bytes[..]);
    assert!(buf[table_end..].iter().all(|b| *b == 0), "padding is zero");
    assert_eq!(Trailer::decode(&buf, &KEY, segment_id, offset), Ok(trailer));
    assert_eq!(
        Trailer::decode(&buf[..TRAILER_FIXED_LEN], &KEY, segment_id, offset),
        Ok(trailer)
    );
    assert_eq!(
        Trailer::decode(&buf[..TRAILER_FIXED_LEN - 1], &KEY, segment_id, offset),
        Err(RecordError::Short)
    );
    assert_eq!(
        decode_table(&buf[TRAILER_FIXED_LEN..table_end], trailer.table_crc),
        Some(table)
    );
    assert_refused_elsewhere(&buf, &trailer);

    let head = RecordHead {
        kind: RecordKind::Object,
        object_id: trailer.object_id,
        seq: trailer.seq,
        segment_id,
        offset,
        payload_len,
        created_unix_ms: 0,
        bag: BagName::EMPTY,
        chunk_size,
    };
    assert!(trailer.matches(&head));
    assert!(!trailer.matches(&RecordHead {
        seq: head.seq ^ 1,
        ..head
    }));
    assert!(!trailer.matches(&RecordHead {
        payload_len: payload_len + 1,
        ..head
    }));

    let mut flipped = buf.clone();
    let at = flip_bit(&mut flipped, 0..TRAILER_FIXED_LEN, any.flip);
    assert!(
        Trailer::decode(&flipped, &KEY, segment_id, offset).is_err(),
        "a flipped bit in byte {at} went unnoticed"
    );
    if count > 0 {
        let mut flipped = buf;
        flip_bit(&mut flipped, TRAILER_FIXED_LEN..table_end, any.flip);
        assert_eq!(
            decode_table(&flipped[TRAILER_FIXED_LEN..table_end], trailer.table_crc),
            None,
            "a flipped table bit went unnoticed"
        );
    }
}

/// A trailer that decodes for its record must not decode under another key or for another.
fn assert_refused_elsewhere(buf: &[u8], trailer: &Trailer) {
    let (segment_id, offset) = (trailer.segment_id, trailer.offset);
    assert_eq!(
        Trailer::decode(buf, &OTHER_KEY, segment_id, offset),
        Err(RecordError::Mac)
    );
    assert_eq!(
        Trailer::decode(buf, &KEY, segment_id ^ 1, offset),
        Err(RecordError::Misplaced)
    );
    assert_eq!(
        Trailer::decode(buf, &KEY, segment_id, offset.wrapping_add(BLOCK_LEN)),
        Err(RecordError::Misplaced)
    );
}
