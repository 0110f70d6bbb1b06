//! The store's superblock, `store.meta`: format version, the per-store key, and the parameters
//! fixed at creation. Written once, atomically (temp file, fsync, rename, fsync dir); read at
//! every open. Layout in docs/FORMAT.md, "Superblock".

use crate::codec::{get_u32, get_u64, plain_checksum, put_u32, put_u64, StoreKey, MAC_LEN};

/// Size of the superblock file.
pub const SUPERBLOCK_LEN: usize = 4096;
/// File magic.
pub const SUPERBLOCK_MAGIC: [u8; 8] = *b"CLSSTORE";
/// The one format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

const MAGIC_OFFSET: usize = 0;
const VERSION_OFFSET: usize = MAGIC_OFFSET + 8;
const SHARDS_OFFSET: usize = VERSION_OFFSET + 4;
const CREATED_OFFSET: usize = SHARDS_OFFSET + 4;
const KEY_OFFSET: usize = CREATED_OFFSET + 8;
const KEY_END: usize = KEY_OFFSET + 32;
const CHECKSUM_OFFSET: usize = SUPERBLOCK_LEN - MAC_LEN;
const _: () = assert!(KEY_END == 56);
const _: () = assert!(KEY_END <= CHECKSUM_OFFSET);

/// Decoded superblock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Superblock {
    /// Number of index shard files (fixed at creation).
    pub index_shards: u32,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
    /// The key sealing every record and index header.
    pub key: StoreKey,
}

/// Why a superblock did not decode.
#[derive(Debug, PartialEq, Eq)]
pub enum SuperblockError {
    /// Wrong length or magic: not ours.
    NotAStore(&'static str),
    /// Ours, but a version this build does not read.
    Version(u32),
    /// Checksum mismatch.
    Damaged,
}

impl Superblock {
    /// Encodes to exactly [`SUPERBLOCK_LEN`] bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = vec![0u8; SUPERBLOCK_LEN];
        buf[MAGIC_OFFSET..MAGIC_OFFSET + 8].copy_from_slice(&SUPERBLOCK_MAGIC);
        put_u32(&mut buf, VERSION_OFFSET, FORMAT_VERSION);
        put_u32(&mut buf, SHARDS_OFFSET, self.index_shards);
        put_u64(&mut buf, CREATED_OFFSET, self.created_unix_ms);
        buf[KEY_OFFSET..KEY_END].copy_from_slice(&self.key.0);
        let checksum = plain_checksum(&buf[..CHECKSUM_OFFSET]);
        buf[CHECKSUM_OFFSET..].copy_from_slice(&checksum);
        debug_assert_eq!(Self::decode(&buf).as_ref(), Ok(self));
        buf
    }

    /// Decodes and verifies.
    pub fn decode(buf: &[u8]) -> Result<Self, SuperblockError> {
        if buf.len() != SUPERBLOCK_LEN {
            return Err(SuperblockError::NotAStore(
                "store.meta has the wrong length",
            ));
        }
        if buf[MAGIC_OFFSET..MAGIC_OFFSET + 8] != SUPERBLOCK_MAGIC {
            return Err(SuperblockError::NotAStore("store.meta has the wrong magic"));
        }
        let version = get_u32(buf, VERSION_OFFSET);
        if version != FORMAT_VERSION {
            return Err(SuperblockError::Version(version));
        }
        if plain_checksum(&buf[..CHECKSUM_OFFSET]) != buf[CHECKSUM_OFFSET..] {
            return Err(SuperblockError::Damaged);
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&buf[KEY_OFFSET..KEY_END]);
        Ok(Self {
            index_shards: get_u32(buf, SHARDS_OFFSET),
            created_unix_ms: get_u64(buf, CREATED_OFFSET),
            key: StoreKey(key),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(shards in 1u32..1024, created in any::<u64>(), key in any::<[u8; 32]>()) {
            let sb = Superblock { index_shards: shards, created_unix_ms: created, key: StoreKey(key) };
            prop_assert_eq!(Superblock::decode(&sb.encode()), Ok(sb));
        }

        #[test]
        fn any_bit_flip_is_detected(bit in 0usize..SUPERBLOCK_LEN * 8) {
            let sb = Superblock { index_shards: 16, created_unix_ms: 7, key: StoreKey([9; 32]) };
            let mut buf = sb.encode();
            buf[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(Superblock::decode(&buf).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..5000)) {
            let _ = Superblock::decode(&buf);
        }
    }
}
