//! The checkpoint file: which records of each segment the (msynced) index reflects, so
//! reopening after a crash replays only the others. A clean shutdown also records exact stats
//! so a clean open reads nothing else. Replaced atomically; layout in docs/FORMAT.md,
//! "Checkpoint".

use crate::codec::{get_u32, get_u64, put_u32, put_u64, StoreKey, MAC_LEN};
use crate::segment::ReservedFor;

/// File magic.
pub const CHECKPOINT_MAGIC: [u8; 8] = *b"CLSSCKPT";
/// Layout version written. Version 1 (no append offsets, no outstanding list) is still read.
pub const CHECKPOINT_VERSION: u32 = 2;
/// The first layout: read as "replay everything from each frontier".
pub const CHECKPOINT_VERSION_1: u32 = 1;
/// Flag: written by a clean shutdown; stats and used-slot counts are exact.
pub const FLAG_CLEAN: u32 = 1;
/// Segment flag: sealed (no more appends).
pub const SEGMENT_SEALED: u32 = 1;

const C_MAGIC: usize = 0;
const C_VERSION: usize = C_MAGIC + 8;
const C_FLAGS: usize = C_VERSION + 4;
const C_NEXT_SEQ: usize = C_FLAGS + 4;
const C_SEGMENT_COUNT: usize = C_NEXT_SEQ + 8;
const C_RETIRED_COUNT: usize = C_SEGMENT_COUNT + 4;
const C_SHARD_COUNT: usize = C_RETIRED_COUNT + 4;
/// Version 2: outstanding record count (version 1: zero).
const C_OUTSTANDING_COUNT: usize = C_SHARD_COUNT + 4;
/// Bytes before the variable part.
pub const CHECKPOINT_FIXED_LEN: usize = C_OUTSTANDING_COUNT + 4;
const _: () = assert!(CHECKPOINT_FIXED_LEN == 40);
/// Bytes per segment entry.
pub const SEGMENT_ENTRY_LEN: usize = 64;
/// Version 2: offset of the append offset in a segment entry (version 1: zero).
const S_APPEND_OFFSET: usize = 56;
/// Bytes per outstanding record entry (version 2).
pub const OUTSTANDING_ENTRY_LEN: usize = 16;
/// Purpose code of an outstanding new record.
const PURPOSE_NEW_RECORD: u32 = 1;
/// Purpose code of an outstanding compaction copy.
const PURPOSE_RELOCATION: u32 = 2;
/// Upper bound on entries of each list, so a damaged count cannot ask for a huge allocation.
pub const LIST_LEN_MAX: u32 = 1 << 24;

/// Per-segment state at the checkpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentCheckpoint {
    /// Segment id.
    pub segment_id: u32,
    /// [`SEGMENT_SEALED`] or 0.
    pub flags: u32,
    /// The frontier: every record before this offset is reflected in the index; replay
    /// starts here.
    pub end_offset: u64,
    /// The end of the last reservation: records from here on were reserved after the
    /// checkpoint. Between the two offsets, only the records listed as outstanding are not
    /// reflected in the index. (Equal to `end_offset` when read from a version 1 file.)
    pub append_offset: u64,
    /// Live objects whose records are in this segment.
    pub live_objects: u64,
    /// Their payload bytes.
    pub live_payload_bytes: u64,
    /// Their record bytes (head, payload, trailer, padding).
    pub live_record_bytes: u64,
    /// Live objects not yet accepted.
    pub pending_objects: u64,
    /// Their payload bytes.
    pub pending_payload_bytes: u64,
}

/// A record reserved but not yet applied to the index when the checkpoint was captured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutstandingRecord {
    /// Segment of the record.
    pub segment_id: u32,
    /// Offset of its head block.
    pub offset: u64,
    /// What it was reserved for.
    pub purpose: ReservedFor,
}

/// A decoded checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// [`FLAG_CLEAN`] or 0.
    pub flags: u32,
    /// The next record sequence number to hand out.
    pub next_seq: u64,
    /// Known segments.
    pub segments: Vec<SegmentCheckpoint>,
    /// Segments emptied by compaction whose files must be deleted.
    pub retired: Vec<u32>,
    /// Used slots per index shard (exact only when clean).
    pub shard_used_slots: Vec<u64>,
    /// Records outstanding at the capture, by segment and offset.
    pub outstanding: Vec<OutstandingRecord>,
}

impl Checkpoint {
    /// Whether this was written by a clean shutdown.
    pub fn is_clean(&self) -> bool {
        self.flags & FLAG_CLEAN != 0
    }

    /// Encodes and seals.
    pub fn encode(&self, key: &StoreKey) -> Vec<u8> {
        assert!(self.segments.len() <= LIST_LEN_MAX as usize);
        assert!(self.retired.len() <= LIST_LEN_MAX as usize);
        assert!(self.shard_used_slots.len() <= LIST_LEN_MAX as usize);
        assert!(self.outstanding.len() <= LIST_LEN_MAX as usize);
        let len = CHECKPOINT_FIXED_LEN
            + self.segments.len() * SEGMENT_ENTRY_LEN
            + self.retired.len() * 4
            + self.shard_used_slots.len() * 8
            + self.outstanding.len() * OUTSTANDING_ENTRY_LEN
            + MAC_LEN;
        let mut buf = vec![0u8; len];
        buf[C_MAGIC..C_MAGIC + 8].copy_from_slice(&CHECKPOINT_MAGIC);
        put_u32(&mut buf, C_VERSION, CHECKPOINT_VERSION);
        put_u32(&mut buf, C_FLAGS, self.flags);
        put_u64(&mut buf, C_NEXT_SEQ, self.next_seq);
        put_u32(&mut buf, C_SEGMENT_COUNT, self.segments.len() as u32);
        put_u32(&mut buf, C_RETIRED_COUNT, self.retired.len() as u32);
        put_u32(&mut buf, C_SHARD_COUNT, self.shard_used_slots.len() as u32);
        put_u32(&mut buf, C_OUTSTANDING_COUNT, self.outstanding.len() as u32);
        let mut at = CHECKPOINT_FIXED_LEN;
        for s in &self.segments {
            put_u32(&mut buf, at, s.segment_id);
            put_u32(&mut buf, at + 4, s.flags);
            put_u64(&mut buf, at + 8, s.end_offset);
            put_u64(&mut buf, at + 16, s.live_objects);
            put_u64(&mut buf, at + 24, s.live_payload_bytes);
            put_u64(&mut buf, at + 32, s.live_record_bytes);
            put_u64(&mut buf, at + 40, s.pending_objects);
            put_u64(&mut buf, at + 48, s.pending_payload_bytes);
            put_u64(&mut buf, at + S_APPEND_OFFSET, s.append_offset);
            at += SEGMENT_ENTRY_LEN;
        }
        for id in &self.retired {
            put_u32(&mut buf, at, *id);
            at += 4;
        }
        for used in &self.shard_used_slots {
            put_u64(&mut buf, at, *used);
            at += 8;
        }
        for record in &self.outstanding {
            put_u32(&mut buf, at, record.segment_id);
            put_u32(
                &mut buf,
                at + 4,
                match record.purpose {
                    ReservedFor::NewRecord => PURPOSE_NEW_RECORD,
                    ReservedFor::Relocation => PURPOSE_RELOCATION,
                },
            );
            put_u64(&mut buf, at + 8, record.offset);
            at += OUTSTANDING_ENTRY_LEN;
        }
        assert_eq!(at, len - MAC_LEN);
        key.seal(&mut buf, at);
        debug_assert_eq!(Self::decode(&buf, key).as_ref(), Some(self));
        buf
    }

    /// Decodes and verifies; None when damaged, foreign or of an unknown version (the store
    /// then rebuilds its index from the segments). Version 1 files decode with each append
    /// offset equal to the frontier and no outstanding records: replay everything from each
    /// frontier, as version 1 did.
    pub fn decode(buf: &[u8], key: &StoreKey) -> Option<Self> {
        if buf.len() < CHECKPOINT_FIXED_LEN + MAC_LEN
            || buf[C_MAGIC..C_MAGIC + 8] != CHECKPOINT_MAGIC
        {
            return None;
        }
        let version = get_u32(buf, C_VERSION);
        if version != CHECKPOINT_VERSION && version != CHECKPOINT_VERSION_1 {
            return None;
        }
        let segments = get_u32(buf, C_SEGMENT_COUNT);
        let retired = get_u32(buf, C_RETIRED_COUNT);
        let shards = get_u32(buf, C_SHARD_COUNT);
        // Version 1 wrote zero here and never read it.
        let outstanding = match version {
            CHECKPOINT_VERSION_1 => 0,
            _ => get_u32(buf, C_OUTSTANDING_COUNT),
        };
        if segments > LIST_LEN_MAX
            || retired > LIST_LEN_MAX
            || shards > LIST_LEN_MAX
            || outstanding > LIST_LEN_MAX
        {
            return None;
        }
        let body_len = CHECKPOINT_FIXED_LEN
            + segments as usize * SEGMENT_ENTRY_LEN
            + retired as usize * 4
            + shards as usize * 8
            + outstanding as usize * OUTSTANDING_ENTRY_LEN;
        if buf.len() != body_len + MAC_LEN || !key.verify(buf, body_len) {
            return None;
        }
        let mut at = CHECKPOINT_FIXED_LEN;
        let mut checkpoint = Checkpoint {
            flags: get_u32(buf, C_FLAGS),
            next_seq: get_u64(buf, C_NEXT_SEQ),
            ..Checkpoint::default()
        };
        for _ in 0..segments {
            let end_offset = get_u64(buf, at + 8);
            checkpoint.segments.push(SegmentCheckpoint {
                segment_id: get_u32(buf, at),
                flags: get_u32(buf, at + 4),
                end_offset,
                append_offset: match version {
                    CHECKPOINT_VERSION_1 => end_offset,
                    _ => get_u64(buf, at + S_APPEND_OFFSET),
                },
                live_objects: get_u64(buf, at + 16),
                live_payload_bytes: get_u64(buf, at + 24),
                live_record_bytes: get_u64(buf, at + 32),
                pending_objects: get_u64(buf, at + 40),
                pending_payload_bytes: get_u64(buf, at + 48),
            });
            at += SEGMENT_ENTRY_LEN;
        }
        for _ in 0..retired {
            checkpoint.retired.push(get_u32(buf, at));
            at += 4;
        }
        for _ in 0..shards {
            checkpoint.shard_used_slots.push(get_u64(buf, at));
            at += 8;
        }
        for _ in 0..outstanding {
            checkpoint.outstanding.push(OutstandingRecord {
                segment_id: get_u32(buf, at),
                purpose: match get_u32(buf, at + 4) {
                    PURPOSE_NEW_RECORD => ReservedFor::NewRecord,
                    PURPOSE_RELOCATION => ReservedFor::Relocation,
                    _ => return None,
                },
                offset: get_u64(buf, at + 8),
            });
            at += OUTSTANDING_ENTRY_LEN;
        }
        Some(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: StoreKey = StoreKey([3; 32]);

    fn any_checkpoint() -> impl Strategy<Value = Checkpoint> {
        let segment = (any::<u32>(), 0u32..2, any::<[u64; 2]>(), any::<[u64; 5]>()).prop_map(
            |(segment_id, flags, offsets, stats)| SegmentCheckpoint {
                segment_id,
                flags,
                end_offset: offsets[0],
                append_offset: offsets[1],
                live_objects: stats[0],
                live_payload_bytes: stats[1],
                live_record_bytes: stats[2],
                pending_objects: stats[3],
                pending_payload_bytes: stats[4],
            },
        );
        let outstanding = (any::<u32>(), any::<u64>(), any::<bool>()).prop_map(
            |(segment_id, offset, relocation)| OutstandingRecord {
                segment_id,
                offset,
                purpose: if relocation {
                    ReservedFor::Relocation
                } else {
                    ReservedFor::NewRecord
                },
            },
        );
        (
            0u32..2,
            any::<u64>(),
            proptest::collection::vec(segment, 0..20),
            proptest::collection::vec(any::<u32>(), 0..5),
            proptest::collection::vec(any::<u64>(), 0..17),
            proptest::collection::vec(outstanding, 0..9),
        )
            .prop_map(
                |(flags, next_seq, segments, retired, shard_used_slots, outstanding)| Checkpoint {
                    flags,
                    next_seq,
                    segments,
                    retired,
                    shard_used_slots,
                    outstanding,
                },
            )
    }

    /// The version 1 bytes of `cp` (which must list nothing outstanding): version 1, and zero
    /// where version 2 keeps the outstanding count and each segment's append offset.
    fn encode_version_1(cp: &Checkpoint) -> Vec<u8> {
        assert!(cp.outstanding.is_empty());
        let mut buf = cp.encode(&KEY);
        put_u32(&mut buf, C_VERSION, CHECKPOINT_VERSION_1);
        for i in 0..cp.segments.len() {
            put_u64(
                &mut buf,
                CHECKPOINT_FIXED_LEN + i * SEGMENT_ENTRY_LEN + S_APPEND_OFFSET,
                0,
            );
        }
        let body_len = buf.len() - MAC_LEN;
        KEY.seal(&mut buf, body_len);
        buf
    }

    proptest! {
        #[test]
        fn round_trips(cp in any_checkpoint()) {
            prop_assert_eq!(Checkpoint::decode(&cp.encode(&KEY), &KEY), Some(cp));
        }

        #[test]
        fn damage_is_detected(cp in any_checkpoint(), pick in any::<usize>(), cut in any::<bool>()) {
            let mut buf = cp.encode(&KEY);
            if cut {
                buf.truncate(pick % buf.len());
            } else {
                let bit = pick % (buf.len() * 8);
                buf[bit / 8] ^= 1 << (bit % 8);
            }
            prop_assert_eq!(Checkpoint::decode(&buf, &KEY), None);
        }

        #[test]
        fn version_1_replays_from_each_frontier(cp in any_checkpoint()) {
            let cp = Checkpoint { outstanding: Vec::new(), ..cp };
            let expected = Checkpoint {
                segments: cp
                    .segments
                    .iter()
                    .map(|s| SegmentCheckpoint { append_offset: s.end_offset, ..*s })
                    .collect(),
                ..cp.clone()
            };
            prop_assert_eq!(Checkpoint::decode(&encode_version_1(&cp), &KEY), Some(expected));
        }

        #[test]
        fn unknown_purpose_is_refused(cp in any_checkpoint(), purpose in 3u32..) {
            prop_assume!(!cp.outstanding.is_empty());
            let mut buf = cp.encode(&KEY);
            let body_len = buf.len() - MAC_LEN;
            let last = body_len - OUTSTANDING_ENTRY_LEN;
            put_u32(&mut buf, last + 4, purpose);
            KEY.seal(&mut buf, body_len);
            prop_assert_eq!(Checkpoint::decode(&buf, &KEY), None);
            put_u32(&mut buf, last + 4, 0);
            KEY.seal(&mut buf, body_len);
            prop_assert_eq!(Checkpoint::decode(&buf, &KEY), None);
        }

        #[test]
        fn arbitrary_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Checkpoint::decode(&buf, &KEY);
        }
    }
}
