//! `Checkpoint::decode`: read at every open to decide how much of each segment to replay; a
//! damaged file must come back as None (the store then rebuilds), never as a panic or a huge
//! allocation. Checks: decode never panics; an accepted version 2 checkpoint re-encodes to the
//! same bytes, an accepted version 1 checkpoint (the fuzz bytes can ask for that version) to
//! version 2 bytes that decode to the same value, and either is refused under another key;
//! every checkpoint built from fuzz bytes encodes to bytes that decode back to it, and any
//! truncation, extension or flipped bit is refused.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use colossus_engine::checkpoint::{
    Checkpoint, OutstandingRecord, SegmentCheckpoint, CHECKPOINT_FIXED_LEN, CHECKPOINT_MAGIC,
    CHECKPOINT_VERSION, CHECKPOINT_VERSION_1, LIST_LEN_MAX, OUTSTANDING_ENTRY_LEN,
    SEGMENT_ENTRY_LEN,
};
use colossus_engine::codec::{get_u32, put_u32, MAC_LEN};
use colossus_engine::segment::ReservedFor;
use colossus_fuzz::{flip_bit, Control, KEY, OTHER_KEY};
use libfuzzer_sys::fuzz_target;

// Checkpoint layout, docs/FORMAT.md "Checkpoint" (the engine keeps these private).
const C_VERSION: usize = 8;
const C_SEGMENT_COUNT: usize = 24;
const C_RETIRED_COUNT: usize = 28;
const C_SHARD_COUNT: usize = 32;
const C_OUTSTANDING_COUNT: usize = 36;

// Control bits: repairs applied to the fuzz bytes before decoding.
const FIX_MAGIC: u8 = 0;
const FIT_COUNTS: u8 = 1;
const SEAL: u8 = 2;
/// With FIX_MAGIC: version 1 instead of the current one.
const OLD_VERSION: u8 = 3;

/// A segment entry: any values are legal.
#[derive(Debug, Arbitrary)]
struct AnySegment {
    segment_id: u32,
    flags: u32,
    end_offset: u64,
    append_offset: u64,
    live_objects: u64,
    live_payload_bytes: u64,
    live_record_bytes: u64,
    pending_objects: u64,
    pending_payload_bytes: u64,
}

/// A checkpoint: any values are legal; list lengths are bounded by the input's size.
#[derive(Debug, Arbitrary)]
struct AnyCheckpoint {
    flags: u32,
    next_seq: u64,
    segments: Vec<AnySegment>,
    retired: Vec<u32>,
    shard_used_slots: Vec<u64>,
    outstanding: Vec<(u32, u64, bool)>,
    flip: u64,
}

fuzz_target!(|data: &[u8]| {
    decode_fuzz_bytes(data);
    if let Ok(any) = AnyCheckpoint::arbitrary(&mut Unstructured::new(data)) {
        encode_valid_checkpoint(any);
    }
});

/// Decodes the fuzz bytes after the asked-for repairs.
fn decode_fuzz_bytes(data: &[u8]) {
    let (control, bytes) = Control::split(data);
    let mut buf = bytes.to_vec();
    if buf.len() >= CHECKPOINT_FIXED_LEN + MAC_LEN {
        repair(control, &mut buf);
    }
    let Some(checkpoint) = Checkpoint::decode(&buf, &KEY) else {
        return;
    };

    for list_len in [
        checkpoint.segments.len(),
        checkpoint.retired.len(),
        checkpoint.shard_used_slots.len(),
        checkpoint.outstanding.len(),
    ] {
        assert!(list_len <= LIST_LEN_MAX as usize);
    }
    let encoded = checkpoint.encode(&KEY);
    assert_eq!(
        Checkpoint::decode(&encoded, &KEY).as_ref(),
        Some(&checkpoint)
    );
    if get_u32(&buf, C_VERSION) == CHECKPOINT_VERSION_1 {
        // Version 1 has no outstanding list and reads each append offset as the frontier.
        assert!(checkpoint.outstanding.is_empty());
        assert!(checkpoint
            .segments
            .iter()
            .all(|s| s.append_offset == s.end_offset));
        assert_eq!(encoded.len(), buf.len());
    } else {
        assert_eq!(encoded, buf, "version 2 has no reserved bytes");
    }
    assert_eq!(Checkpoint::decode(&buf, &OTHER_KEY), None);
}

/// Applies the repairs `control` asks for, so inputs reach the checks behind the MAC.
fn repair(control: Control, buf: &mut Vec<u8>) {
    if control.wants(FIX_MAGIC) {
        buf[..CHECKPOINT_MAGIC.len()].copy_from_slice(&CHECKPOINT_MAGIC);
        let version = if control.wants(OLD_VERSION) {
            CHECKPOINT_VERSION_1
        } else {
            CHECKPOINT_VERSION
        };
        put_u32(buf, C_VERSION, version);
    }
    if control.wants(FIT_COUNTS) {
        // Shrink the list lengths until they fit the input, then cut it to size (version 1
        // has no outstanding list).
        let mut room = buf.len() - CHECKPOINT_FIXED_LEN - MAC_LEN;
        let outstanding_len = match get_u32(buf, C_VERSION) {
            CHECKPOINT_VERSION_1 => usize::MAX,
            _ => OUTSTANDING_ENTRY_LEN,
        };
        for (at, entry_len) in [
            (C_SEGMENT_COUNT, SEGMENT_ENTRY_LEN),
            (C_RETIRED_COUNT, 4),
            (C_SHARD_COUNT, 8),
            (C_OUTSTANDING_COUNT, outstanding_len),
        ] {
            let count = get_u32(buf, at) as usize % (room / entry_len + 1);
            put_u32(buf, at, count as u32);
            room -= count * entry_len;
        }
        buf.truncate(buf.len() - room);
    }
    if control.wants(SEAL) {
        let body_len = buf.len() - MAC_LEN;
        KEY.seal(buf, body_len);
    }
}

/// Encodes a checkpoint built from fuzz bytes; checks it decodes back and damage is refused.
fn encode_valid_checkpoint(any: AnyCheckpoint) {
    let checkpoint = Checkpoint {
        flags: any.flags,
        next_seq: any.next_seq,
        segments: any
            .segments
            .iter()
            .map(|s| SegmentCheckpoint {
                segment_id: s.segment_id,
                flags: s.flags,
                end_offset: s.end_offset,
                append_offset: s.append_offset,
                live_objects: s.live_objects,
                live_payload_bytes: s.live_payload_bytes,
                live_record_bytes: s.live_record_bytes,
                pending_objects: s.pending_objects,
                pending_payload_bytes: s.pending_payload_bytes,
            })
            .collect(),
        retired: any.retired,
        shard_used_slots: any.shard_used_slots,
        outstanding: any
            .outstanding
            .iter()
            .map(|&(segment_id, offset, relocation)| OutstandingRecord {
                segment_id,
                offset,
                purpose: if relocation {
                    ReservedFor::Relocation
                } else {
                    ReservedFor::NewRecord
                },
            })
            .collect(),
    };
    let buf = checkpoint.encode(&KEY);
    assert_eq!(
        buf.len(),
        CHECKPOINT_FIXED_LEN
            + SEGMENT_ENTRY_LEN * checkpoint.segments.len()
            + 4 * checkpoint.retired.len()
            + 8 * checkpoint.shard_used_slots.len()
            + OUTSTANDING_ENTRY_LEN * checkpoint.outstanding.len()
            + MAC_LEN
    );
    assert_eq!(Checkpoint::decode(&buf, &KEY).as_ref(), Some(&checkpoint));
    assert_eq!(Checkpoint::decode(&buf, &OTHER_KEY), None);

    let cut = (any.flip % buf.len() as u64) as usize;
    assert_eq!(
        Checkpoint::decode(&buf[..cut], &KEY),
        None,
        "cut to {cut} bytes"
    );
    let mut longer = buf.clone();
    longer.push(any.flip as u8);
    assert_eq!(Checkpoint::decode(&longer, &KEY), None, "one byte too long");
    let mut flipped = buf.clone();
    let at = flip_bit(&mut flipped, 0..buf.len(), any.flip);
    assert_eq!(
        Checkpoint::decode(&flipped, &KEY),
        None,
        "a flipped bit in byte {at} went unnoticed"
    );
}
