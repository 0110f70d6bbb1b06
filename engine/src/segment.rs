//! Segment files: a sealed header block, then records appended on block boundaries. A segment
//! is written by one writer lane at a time and read by anyone; a failed fsync poisons it (no
//! more writes, ever: the kernel may have dropped the dirty pages). Layout: docs/FORMAT.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::codec::{get_u32, get_u64, put_u32, put_u64, StoreKey, MAC_LEN};
use crate::io::DiskFile;
use crate::record::BLOCK_LEN;

/// Directory of segment files inside the store.
pub const SEGMENTS_DIR: &str = "segments";
/// Segment header magic.
pub const SEGMENT_MAGIC: [u8; 8] = *b"CLSSSEG\0";
/// Segment header version.
pub const SEGMENT_VERSION: u32 = 1;
/// The header occupies the first block; records start here.
pub const FIRST_RECORD_OFFSET: u64 = BLOCK_LEN;

const G_MAGIC: usize = 0;
const G_VERSION: usize = G_MAGIC + 8;
const G_SEGMENT_ID: usize = G_VERSION + 4;
const G_CREATED: usize = G_SEGMENT_ID + 4;
const G_MAC: usize = BLOCK_LEN as usize - MAC_LEN;
const _: () = assert!(G_CREATED + 8 <= G_MAC);

/// Encodes a segment header block.
pub fn encode_header(key: &StoreKey, segment_id: u32, created_unix_ms: u64) -> Vec<u8> {
    let mut block = vec![0u8; BLOCK_LEN as usize];
    block[G_MAGIC..G_MAGIC + 8].copy_from_slice(&SEGMENT_MAGIC);
    put_u32(&mut block, G_VERSION, SEGMENT_VERSION);
    put_u32(&mut block, G_SEGMENT_ID, segment_id);
    put_u64(&mut block, G_CREATED, created_unix_ms);
    key.seal(&mut block, G_MAC);
    block
}

/// Decodes a segment header block; returns its creation time when valid for `segment_id`.
pub fn decode_header(key: &StoreKey, block: &[u8], segment_id: u32) -> Option<u64> {
    (block.len() >= BLOCK_LEN as usize
        && block[G_MAGIC..G_MAGIC + 8] == SEGMENT_MAGIC
        && get_u32(block, G_VERSION) == SEGMENT_VERSION
        && get_u32(block, G_SEGMENT_ID) == segment_id
        && key.verify(block, G_MAC))
    .then(|| get_u64(block, G_CREATED))
}

/// File name of a segment.
pub fn file_name(segment_id: u32) -> String {
    format!("{segment_id:08x}.seg")
}

/// Parses a segment file name.
pub fn parse_file_name(name: &str) -> Option<u32> {
    let hex = name.strip_suffix(".seg")?;
    let id = u32::from_str_radix(hex, 16).ok()?;
    // Only the one spelling `file_name` produces: no case or sign variants aliasing an id.
    (file_name(id) == name).then_some(id)
}

/// What a reservation will hold; decides whether replay after a crash applies the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservedFor {
    /// A record nobody has seen yet: an upload, a tombstone, an acceptance (or one carried
    /// forward by compaction). Replayed if it is complete.
    NewRecord,
    /// Compaction's copy of a live object. Never replayed from a checkpoint: the index still
    /// points at the original, which stays on disk until a later checkpoint, and the object
    /// may have been deleted while it was copied.
    Relocation,
}

/// An outstanding reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reserved {
    /// Length of the record.
    pub len_bytes: u64,
    /// What it will hold.
    pub purpose: ReservedFor,
}

/// Mutable bookkeeping of a segment.
#[derive(Debug, Default)]
pub struct SegmentState {
    /// Next free offset (end of the last reserved record).
    pub append_pos: u64,
    /// Bytes allocated on disk (fallocate) from the start of the file.
    pub allocated_bytes: u64,
    /// Records reserved but not yet applied to the index or abandoned, by offset.
    pub outstanding: BTreeMap<u64, Reserved>,
    /// No more appends.
    pub sealed: bool,
    /// Live objects whose record is here.
    pub live_objects: u64,
    /// Their payload bytes.
    pub live_payload_bytes: u64,
    /// Their record bytes.
    pub live_record_bytes: u64,
    /// Live objects not yet accepted.
    pub pending_objects: u64,
    /// Their payload bytes.
    pub pending_payload_bytes: u64,
    /// Set after a failed fsync: the segment takes no more writes.
    pub poisoned: Option<String>,
}

impl SegmentState {
    /// Every record before this offset is reflected in the index.
    pub fn frontier(&self) -> u64 {
        self.outstanding
            .first_key_value()
            .map_or(self.append_pos, |(offset, _)| *offset)
    }

    /// Bytes held by outstanding reservations.
    pub fn reserved_bytes(&self) -> u64 {
        self.outstanding.values().map(|r| r.len_bytes).sum()
    }

    /// Bytes that hold nothing live: deleted, abandoned or superseded records, metadata blocks.
    pub fn dead_bytes(&self) -> u64 {
        self.append_pos
            .saturating_sub(FIRST_RECORD_OFFSET)
            .saturating_sub(self.live_record_bytes)
            .saturating_sub(self.reserved_bytes())
    }
}

/// A segment file in use.
pub struct Segment {
    /// Segment id.
    pub id: u32,
    /// Path of the file.
    pub path: PathBuf,
    /// The file.
    pub file: Arc<dyn DiskFile>,
    /// Bookkeeping.
    pub state: Mutex<SegmentState>,
}

impl Segment {
    /// Wraps an open file.
    pub fn new(id: u32, path: &Path, file: Arc<dyn DiskFile>, state: SegmentState) -> Self {
        Self {
            id,
            path: path.to_path_buf(),
            file,
            state: Mutex::new(state),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_names_parse() {
        let key = StoreKey([5; 32]);
        let block = encode_header(&key, 42, 1234);
        assert_eq!(decode_header(&key, &block, 42), Some(1234));
        assert_eq!(decode_header(&key, &block, 43), None);
        assert_eq!(decode_header(&StoreKey([6; 32]), &block, 42), None);
        assert_eq!(parse_file_name(&file_name(0xdead_beef)), Some(0xdead_beef));
        assert_eq!(parse_file_name("0000002a.seg"), Some(42));
        assert_eq!(parse_file_name("2a.seg"), None);
        assert_eq!(parse_file_name("0000002a.tmp"), None);
        assert_eq!(parse_file_name("0000002A.seg"), None);
        assert_eq!(parse_file_name("+000002a.seg"), None);
    }
}
