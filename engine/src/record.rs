//! Records: what a segment holds after its header. An object record is a head block (written
//! when space is reserved), the payload, and a trailer (written at commit: content hash, chunk
//! checksums). Tombstones and acceptances are single head blocks. Every head and trailer is
//! sealed with the store key over its own segment id and offset, so a block found anywhere
//! else, or forged inside a payload, never validates. Byte layout: docs/FORMAT.md, "Records".

use crate::codec::{
    align_up, get_u16, get_u32, get_u64, put_u16, put_u32, put_u64, StoreKey, MAC_LEN,
};

/// Records start on, and are padded to, this boundary.
pub const BLOCK_LEN: u64 = 4096;
/// Longest bag id the engine stores (every Joystream bag id fits).
pub const BAG_LEN_MAX: usize = 40;

/// Magic of a head block.
pub const HEAD_MAGIC: u32 = u32::from_le_bytes(*b"CLRH");
/// Magic of a trailer.
pub const TRAILER_MAGIC: u32 = u32::from_le_bytes(*b"CLRT");
/// Version of the head and trailer layouts.
pub const RECORD_VERSION: u16 = 1;

// Head block layout (the rest of the 4096-byte block is zero).
const H_MAGIC: usize = 0;
const H_VERSION: usize = H_MAGIC + 4;
const H_KIND: usize = H_VERSION + 2;
const H_FLAGS: usize = H_KIND + 1;
const H_OBJECT_ID: usize = H_FLAGS + 1;
const H_SEQ: usize = H_OBJECT_ID + 8;
const H_SEGMENT_ID: usize = H_SEQ + 8;
const H_BAG_LEN: usize = H_SEGMENT_ID + 4;
const H_OFFSET: usize = H_BAG_LEN + 4; // bag_len u8 + 3 reserved bytes
const H_PAYLOAD_LEN: usize = H_OFFSET + 8;
const H_CREATED: usize = H_PAYLOAD_LEN + 8;
const H_BAG: usize = H_CREATED + 8;
const H_CHUNK_SIZE: usize = H_BAG + BAG_LEN_MAX;
const H_MAC: usize = H_CHUNK_SIZE + 4 + 12; // 12 reserved bytes
/// Bytes of a head block that carry fields (MAC included).
pub const HEAD_LEN: usize = H_MAC + MAC_LEN;
const _: () =
    assert!(H_OFFSET == 32 && H_BAG == 56 && H_CHUNK_SIZE == 96 && H_MAC == 112 && HEAD_LEN == 128);

// Trailer fixed part; the chunk checksum table follows it.
const T_MAGIC: usize = 0;
const T_VERSION: usize = T_MAGIC + 4;
const T_CONTENT_TYPE: usize = T_VERSION + 2;
const T_FLAGS: usize = T_CONTENT_TYPE + 1;
const T_OBJECT_ID: usize = T_FLAGS + 1;
const T_SEQ: usize = T_OBJECT_ID + 8;
const T_SEGMENT_ID: usize = T_SEQ + 8;
const T_CHUNK_SIZE: usize = T_SEGMENT_ID + 4;
const T_OFFSET: usize = T_CHUNK_SIZE + 4;
const T_PAYLOAD_LEN: usize = T_OFFSET + 8;
const T_CHUNK_COUNT: usize = T_PAYLOAD_LEN + 8;
const T_DIGEST: usize = T_CHUNK_COUNT + 8;
const T_TABLE_CRC: usize = T_DIGEST + 32;
const T_MAC: usize = T_TABLE_CRC + 4 + 20; // 20 reserved bytes
/// Bytes of the trailer before the chunk checksum table.
pub const TRAILER_FIXED_LEN: usize = T_MAC + MAC_LEN;
const _: () = assert!(T_DIGEST == 56 && T_MAC == 112 && TRAILER_FIXED_LEN == 128);

/// Trailer flag: the object was accepted at commit time.
pub const FLAG_ACCEPTED: u8 = 1;

/// What a head block is.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// Start of an object record; payload and trailer follow.
    Object = 1,
    /// The object id is deleted.
    Tombstone = 2,
    /// The object is marked accepted.
    Accept = 3,
}

impl RecordKind {
    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Object),
            2 => Some(Self::Tombstone),
            3 => Some(Self::Accept),
            _ => None,
        }
    }
}

/// A bag id as stored: at most [`BAG_LEN_MAX`] bytes of UTF-8.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BagName {
    len: u8,
    bytes: [u8; BAG_LEN_MAX],
}

impl BagName {
    /// The empty bag name (tombstones and acceptances carry none).
    pub const EMPTY: BagName = BagName {
        len: 0,
        bytes: [0; BAG_LEN_MAX],
    };

    /// Wraps a bag id, or None when longer than [`BAG_LEN_MAX`].
    pub fn new(bag: &str) -> Option<Self> {
        Self::from_bytes(bag.as_bytes())
    }

    /// From stored bytes; None when too long or not UTF-8.
    pub fn from_bytes(raw: &[u8]) -> Option<Self> {
        if raw.len() > BAG_LEN_MAX || std::str::from_utf8(raw).is_err() {
            return None;
        }
        let mut bytes = [0u8; BAG_LEN_MAX];
        bytes[..raw.len()].copy_from_slice(raw);
        Some(Self {
            len: raw.len() as u8,
            bytes,
        })
    }

    /// The bag id.
    pub fn as_str(&self) -> &str {
        // Constructors only admit UTF-8.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl PartialEq<str> for BagName {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<String> for BagName {
    fn eq(&self, other: &String) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl std::fmt::Display for BagName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for BagName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// A decoded head block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHead {
    /// What the record is.
    pub kind: RecordKind,
    /// Data object id.
    pub object_id: u64,
    /// Store-wide sequence number; orders records that touch the same id.
    pub seq: u64,
    /// Segment holding this block (sealed in).
    pub segment_id: u32,
    /// Offset of this block in its segment (sealed in).
    pub offset: u64,
    /// Payload bytes of an object record; 0 for the others.
    pub payload_len: u64,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
    /// Bag the object belongs to (empty for tombstones and acceptances).
    pub bag: BagName,
    /// Bytes per checksummed chunk of an object record (0 for the others); with the payload
    /// length it fixes the record's length, so a scan can step over an unfinished record.
    pub chunk_size: u32,
}

/// Why a block is not a valid record part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordError {
    /// Too short to hold the structure.
    Short,
    /// Magic mismatch: not a record part (often: end of the written log).
    Magic,
    /// Unknown layout version.
    Version(u16),
    /// Keyed checksum mismatch: damaged, torn, or never written by this store here.
    Mac,
    /// Sealed fields disagree with where the block was found or with its head.
    Misplaced,
    /// Field values out of range.
    Invalid(&'static str),
}

impl RecordHead {
    /// Encodes a full head block.
    pub fn encode(&self, key: &StoreKey) -> Vec<u8> {
        assert!(
            self.offset % BLOCK_LEN == 0,
            "records start on block boundaries"
        );
        assert!(match self.kind {
            RecordKind::Object => valid_chunk_size(self.chunk_size),
            _ => self.payload_len == 0 && self.chunk_size == 0,
        });
        let mut block = vec![0u8; BLOCK_LEN as usize];
        put_u32(&mut block, H_MAGIC, HEAD_MAGIC);
        put_u16(&mut block, H_VERSION, RECORD_VERSION);
        block[H_KIND] = self.kind as u8;
        block[H_FLAGS] = 0;
        put_u64(&mut block, H_OBJECT_ID, self.object_id);
        put_u64(&mut block, H_SEQ, self.seq);
        put_u32(&mut block, H_SEGMENT_ID, self.segment_id);
        block[H_BAG_LEN] = self.bag.len;
        put_u64(&mut block, H_OFFSET, self.offset);
        put_u64(&mut block, H_PAYLOAD_LEN, self.payload_len);
        put_u64(&mut block, H_CREATED, self.created_unix_ms);
        block[H_BAG..H_BAG + BAG_LEN_MAX].copy_from_slice(&self.bag.bytes);
        put_u32(&mut block, H_CHUNK_SIZE, self.chunk_size);
        key.seal(&mut block, H_MAC);
        debug_assert_eq!(
            Self::decode(&block, key, self.segment_id, self.offset),
            Ok(*self)
        );
        block
    }

    /// Decodes the head block found at (`segment_id`, `offset`).
    pub fn decode(
        buf: &[u8],
        key: &StoreKey,
        segment_id: u32,
        offset: u64,
    ) -> Result<Self, RecordError> {
        if buf.len() < HEAD_LEN {
            return Err(RecordError::Short);
        }
        if get_u32(buf, H_MAGIC) != HEAD_MAGIC {
            return Err(RecordError::Magic);
        }
        let version = get_u16(buf, H_VERSION);
        if version != RECORD_VERSION {
            return Err(RecordError::Version(version));
        }
        if !key.verify(buf, H_MAC) {
            return Err(RecordError::Mac);
        }
        let kind = RecordKind::from_code(buf[H_KIND]).ok_or(RecordError::Invalid("kind"))?;
        let bag_len = usize::from(buf[H_BAG_LEN]);
        let bag = BagName::from_bytes(
            buf.get(H_BAG..H_BAG + bag_len)
                .ok_or(RecordError::Invalid("bag length"))?,
        )
        .ok_or(RecordError::Invalid("bag"))?;
        let head = Self {
            kind,
            object_id: get_u64(buf, H_OBJECT_ID),
            seq: get_u64(buf, H_SEQ),
            segment_id: get_u32(buf, H_SEGMENT_ID),
            offset: get_u64(buf, H_OFFSET),
            payload_len: get_u64(buf, H_PAYLOAD_LEN),
            created_unix_ms: get_u64(buf, H_CREATED),
            bag,
            chunk_size: get_u32(buf, H_CHUNK_SIZE),
        };
        if head.segment_id != segment_id || head.offset != offset {
            return Err(RecordError::Misplaced);
        }
        match head.kind {
            RecordKind::Object if !valid_chunk_size(head.chunk_size) => {
                return Err(RecordError::Invalid("chunk size"));
            }
            RecordKind::Tombstone | RecordKind::Accept
                if head.payload_len != 0 || head.chunk_size != 0 =>
            {
                return Err(RecordError::Invalid("payload on a single-block record"));
            }
            _ => {}
        }
        Ok(head)
    }
}

/// A decoded trailer (its fixed part; the checksum table is read separately).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trailer {
    /// Sniffed content type code (see `content_type`).
    pub content_type: u8,
    /// [`FLAG_ACCEPTED`] or 0.
    pub flags: u8,
    /// Data object id (must match the head).
    pub object_id: u64,
    /// Sequence number (must match the head).
    pub seq: u64,
    /// Segment holding the record.
    pub segment_id: u32,
    /// Bytes per checksummed chunk.
    pub chunk_size: u32,
    /// Offset of the record's head block.
    pub offset: u64,
    /// Payload bytes (must match the head).
    pub payload_len: u64,
    /// Number of chunk checksums in the table.
    pub chunk_count: u64,
    /// blake3 digest of the payload.
    pub digest: [u8; 32],
    /// crc32c of the checksum table bytes.
    pub table_crc: u32,
}

impl Trailer {
    /// Encodes the trailer with its checksum table, padded to whole blocks.
    pub fn encode(&self, key: &StoreKey, table: &[u32]) -> Vec<u8> {
        assert_eq!(table.len() as u64, self.chunk_count);
        assert_eq!(
            self.chunk_count,
            chunk_count(self.payload_len, self.chunk_size)
        );
        let mut buf = vec![0u8; trailer_len(self.chunk_count) as usize];
        put_u32(&mut buf, T_MAGIC, TRAILER_MAGIC);
        put_u16(&mut buf, T_VERSION, RECORD_VERSION);
        buf[T_CONTENT_TYPE] = self.content_type;
        buf[T_FLAGS] = self.flags;
        put_u64(&mut buf, T_OBJECT_ID, self.object_id);
        put_u64(&mut buf, T_SEQ, self.seq);
        put_u32(&mut buf, T_SEGMENT_ID, self.segment_id);
        put_u32(&mut buf, T_CHUNK_SIZE, self.chunk_size);
        put_u64(&mut buf, T_OFFSET, self.offset);
        put_u64(&mut buf, T_PAYLOAD_LEN, self.payload_len);
        put_u64(&mut buf, T_CHUNK_COUNT, self.chunk_count);
        buf[T_DIGEST..T_DIGEST + 32].copy_from_slice(&self.digest);
        for (i, crc) in table.iter().enumerate() {
            put_u32(&mut buf, TRAILER_FIXED_LEN + 4 * i, *crc);
        }
        let table_end = TRAILER_FIXED_LEN + 4 * table.len();
        let table_crc = crc32c::crc32c(&buf[TRAILER_FIXED_LEN..table_end]);
        assert_eq!(
            table_crc, self.table_crc,
            "table_crc must be computed from the table"
        );
        put_u32(&mut buf, T_TABLE_CRC, table_crc);
        key.seal(&mut buf, T_MAC);
        debug_assert_eq!(
            Self::decode(&buf, key, self.segment_id, self.offset),
            Ok(*self)
        );
        buf
    }

    /// Decodes the fixed part of a trailer belonging to the record at (`segment_id`, `offset`).
    pub fn decode(
        buf: &[u8],
        key: &StoreKey,
        segment_id: u32,
        offset: u64,
    ) -> Result<Self, RecordError> {
        if buf.len() < TRAILER_FIXED_LEN {
            return Err(RecordError::Short);
        }
        if get_u32(buf, T_MAGIC) != TRAILER_MAGIC {
            return Err(RecordError::Magic);
        }
        let version = get_u16(buf, T_VERSION);
        if version != RECORD_VERSION {
            return Err(RecordError::Version(version));
        }
        if !key.verify(buf, T_MAC) {
            return Err(RecordError::Mac);
        }
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&buf[T_DIGEST..T_DIGEST + 32]);
        let trailer = Self {
            content_type: buf[T_CONTENT_TYPE],
            flags: buf[T_FLAGS],
            object_id: get_u64(buf, T_OBJECT_ID),
            seq: get_u64(buf, T_SEQ),
            segment_id: get_u32(buf, T_SEGMENT_ID),
            chunk_size: get_u32(buf, T_CHUNK_SIZE),
            offset: get_u64(buf, T_OFFSET),
            payload_len: get_u64(buf, T_PAYLOAD_LEN),
            chunk_count: get_u64(buf, T_CHUNK_COUNT),
            digest,
            table_crc: get_u32(buf, T_TABLE_CRC),
        };
        if trailer.segment_id != segment_id || trailer.offset != offset {
            return Err(RecordError::Misplaced);
        }
        if !valid_chunk_size(trailer.chunk_size) {
            return Err(RecordError::Invalid("chunk size"));
        }
        if trailer.chunk_count != chunk_count(trailer.payload_len, trailer.chunk_size) {
            return Err(RecordError::Invalid("chunk count"));
        }
        Ok(trailer)
    }

    /// Whether this trailer completes `head` (same object, sequence, size and chunking).
    pub fn matches(&self, head: &RecordHead) -> bool {
        head.kind == RecordKind::Object
            && self.object_id == head.object_id
            && self.seq == head.seq
            && self.payload_len == head.payload_len
            && self.chunk_size == head.chunk_size
    }
}

/// Parses the chunk checksum table that follows a trailer's fixed part; `bytes` holds exactly
/// `4 * chunk_count` bytes. None when its crc differs from the trailer's.
pub fn decode_table(bytes: &[u8], table_crc: u32) -> Option<Vec<u32>> {
    if bytes.len() % 4 != 0 || crc32c::crc32c(bytes) != table_crc {
        return None;
    }
    Some(bytes.chunks_exact(4).map(|c| get_u32(c, 0)).collect())
}

/// Smallest and largest chunk sizes; chunks are whole blocks so reads stay aligned.
pub const CHUNK_SIZE_MIN: u32 = BLOCK_LEN as u32;
/// See [`CHUNK_SIZE_MIN`].
pub const CHUNK_SIZE_MAX: u32 = 32 << 20;

/// Whether `chunk_size` is a power of two within the allowed bounds.
pub fn valid_chunk_size(chunk_size: u32) -> bool {
    chunk_size.is_power_of_two() && (CHUNK_SIZE_MIN..=CHUNK_SIZE_MAX).contains(&chunk_size)
}

/// Number of checksummed chunks of a payload.
pub fn chunk_count(payload_len: u64, chunk_size: u32) -> u64 {
    payload_len.div_ceil(u64::from(chunk_size))
}

/// Bytes of a trailer with its table, padded to whole blocks.
pub fn trailer_len(chunk_count: u64) -> u64 {
    align_up(TRAILER_FIXED_LEN as u64 + 4 * chunk_count, BLOCK_LEN)
}

/// Offset of the trailer relative to the record start.
pub fn trailer_offset(payload_len: u64) -> u64 {
    BLOCK_LEN + align_up(payload_len, BLOCK_LEN)
}

/// Total bytes an object record occupies in its segment.
pub fn object_record_len(payload_len: u64, chunk_size: u32) -> u64 {
    trailer_offset(payload_len) + trailer_len(chunk_count(payload_len, chunk_size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: StoreKey = StoreKey([7; 32]);

    fn any_kind() -> impl Strategy<Value = RecordKind> {
        prop_oneof![
            Just(RecordKind::Object),
            Just(RecordKind::Tombstone),
            Just(RecordKind::Accept)
        ]
    }

    fn any_head() -> impl Strategy<Value = RecordHead> {
        (
            any_kind(),
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            0u64..1 << 40,
            0u64..1 << 40,
            any::<u64>(),
            "[a-z:0-9]{0,40}",
        )
            .prop_map(
                |(kind, object_id, seq, segment_id, block, payload_len, created_unix_ms, bag)| {
                    RecordHead {
                        kind,
                        object_id,
                        seq,
                        segment_id,
                        offset: block * BLOCK_LEN,
                        payload_len: if kind == RecordKind::Object {
                            payload_len
                        } else {
                            0
                        },
                        created_unix_ms,
                        bag: BagName::new(&bag).unwrap(),
                        chunk_size: if kind == RecordKind::Object {
                            1 << (12 + created_unix_ms % 14)
                        } else {
                            0
                        },
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn head_round_trips(head in any_head()) {
            let block = head.encode(&KEY);
            prop_assert_eq!(block.len() as u64, BLOCK_LEN);
            prop_assert_eq!(RecordHead::decode(&block, &KEY, head.segment_id, head.offset), Ok(head));
        }

        #[test]
        fn head_bit_flip_detected(head in any_head(), bit in 0usize..HEAD_LEN * 8) {
            let mut block = head.encode(&KEY);
            block[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(RecordHead::decode(&block, &KEY, head.segment_id, head.offset).is_err());
        }

        #[test]
        fn head_elsewhere_is_misplaced(head in any_head()) {
            let block = head.encode(&KEY);
            prop_assert_eq!(
                RecordHead::decode(&block, &KEY, head.segment_id, head.offset + BLOCK_LEN),
                Err(RecordError::Misplaced)
            );
            prop_assert_eq!(
                RecordHead::decode(&block, &StoreKey([8; 32]), head.segment_id, head.offset),
                Err(RecordError::Mac)
            );
        }

        #[test]
        fn trailer_round_trips(head in any_head(), chunk_shift in 12u32..20, digest in any::<[u8; 32]>(), ct in any::<u8>(), accepted in any::<bool>(), payload_len in 0u64..(8 << 20)) {
            let chunk_size = 1u32 << chunk_shift;
            let head = RecordHead { chunk_size, payload_len, ..head };
            let count = chunk_count(payload_len, chunk_size);
            let table: Vec<u32> = (0..count).map(|i| (i as u32).wrapping_mul(2654435761)).collect();
            let table_bytes: Vec<u8> = table.iter().flat_map(|c| c.to_le_bytes()).collect();
            let trailer = Trailer {
                content_type: ct,
                flags: if accepted { FLAG_ACCEPTED } else { 0 },
                object_id: head.object_id,
                seq: head.seq,
                segment_id: head.segment_id,
                chunk_size,
                offset: head.offset,
                payload_len,
                chunk_count: count,
                digest,
                table_crc: crc32c::crc32c(&table_bytes),
            };
            let buf = trailer.encode(&KEY, &table);
            prop_assert_eq!(buf.len() as u64, trailer_len(count));
            prop_assert_eq!(Trailer::decode(&buf, &KEY, head.segment_id, head.offset), Ok(trailer));
            let end = TRAILER_FIXED_LEN + 4 * count as usize;
            prop_assert_eq!(decode_table(&buf[TRAILER_FIXED_LEN..end], trailer.table_crc), Some(table));
        }

        #[test]
        fn arbitrary_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..300), seg in any::<u32>(), off in any::<u64>()) {
            let _ = RecordHead::decode(&buf, &KEY, seg, off);
            let _ = Trailer::decode(&buf, &KEY, seg, off);
            let _ = decode_table(&buf, 0);
        }
    }

    #[test]
    fn record_lengths() {
        assert_eq!(object_record_len(0, 1 << 20), 2 * BLOCK_LEN);
        assert_eq!(object_record_len(1, 1 << 20), 3 * BLOCK_LEN);
        assert_eq!(object_record_len(4096, 1 << 20), 3 * BLOCK_LEN);
        // The network's largest object: 60 GiB in 256 KiB chunks.
        let big = 60u64 << 30;
        let chunks = chunk_count(big, 256 << 10);
        assert_eq!(chunks, 245_760);
        assert_eq!(
            object_record_len(big, 256 << 10),
            BLOCK_LEN + big + align_up(128 + 4 * chunks, BLOCK_LEN)
        );
    }

    #[test]
    fn bag_names() {
        assert!(BagName::new("static:wg:operationsWorkingGroupGamma").is_some());
        assert!(BagName::new("dynamic:channel:18446744073709551615").is_some());
        assert!(BagName::new(&"x".repeat(41)).is_none());
        assert!(BagName::from_bytes(&[0xff]).is_none());
    }
}
