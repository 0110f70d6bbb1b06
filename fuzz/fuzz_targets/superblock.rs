//! `Superblock::decode`: the first thing every open reads (`store.meta`), before the key is
//! known, so it is checked by a plain checksum. Checks: decode never panics and refuses
//! anything but exactly SUPERBLOCK_LEN bytes; an accepted superblock re-encodes to bytes that
//! decode to the same value and differ from the input only in reserved bytes; every
//! superblock built from fuzz bytes decodes back, and any flipped bit or length change is
//! refused.
#![no_main]

use std::ops::Range;

use arbitrary::{Arbitrary, Unstructured};
use colossus_engine::codec::{plain_checksum, put_u32, StoreKey, MAC_LEN};
use colossus_engine::superblock::{
    Superblock, SuperblockError, FORMAT_VERSION, SUPERBLOCK_LEN, SUPERBLOCK_MAGIC,
};
use colossus_fuzz::{assert_same_except, flip_bit, Control};
use libfuzzer_sys::fuzz_target;

// Superblock layout, docs/FORMAT.md "Superblock" (the engine keeps these private).
const VERSION_OFFSET: usize = 8;
const KEY_END: usize = 56;
const CHECKSUM_OFFSET: usize = SUPERBLOCK_LEN - MAC_LEN;
/// Written as zero, ignored by decode.
const ZERO_REGION: Range<usize> = KEY_END..CHECKSUM_OFFSET;

// Control bits: repairs applied to the fuzz bytes before decoding.
const FIT_LENGTH: u8 = 0;
const FIX_MAGIC: u8 = 1;
const FIX_CHECKSUM: u8 = 2;

/// A superblock: any values are legal to encode.
#[derive(Debug, Arbitrary)]
struct AnySuperblock {
    index_shards: u32,
    created_unix_ms: u64,
    key: [u8; 32],
    flip: u64,
}

fuzz_target!(|data: &[u8]| {
    decode_fuzz_bytes(data);
    if let Ok(any) = AnySuperblock::arbitrary(&mut Unstructured::new(data)) {
        encode_valid_superblock(&any);
    }
});

/// Decodes the fuzz bytes after the asked-for repairs.
fn decode_fuzz_bytes(data: &[u8]) {
    let (control, bytes) = Control::split(data);
    let mut buf = bytes.to_vec();
    if control.wants(FIT_LENGTH) {
        buf.resize(SUPERBLOCK_LEN, 0);
    }
    if buf.len() == SUPERBLOCK_LEN {
        if control.wants(FIX_MAGIC) {
            buf[..SUPERBLOCK_MAGIC.len()].copy_from_slice(&SUPERBLOCK_MAGIC);
            put_u32(&mut buf, VERSION_OFFSET, FORMAT_VERSION);
        }
        if control.wants(FIX_CHECKSUM) {
            let checksum = plain_checksum(&buf[..CHECKSUM_OFFSET]);
            buf[CHECKSUM_OFFSET..].copy_from_slice(&checksum);
        }
    }
    let decoded = Superblock::decode(&buf);
    if buf.len() != SUPERBLOCK_LEN {
        assert!(matches!(decoded, Err(SuperblockError::NotAStore(_))));
    }
    let Ok(superblock) = decoded else {
        return;
    };
    let encoded = superblock.encode();
    assert_eq!(encoded.len(), SUPERBLOCK_LEN);
    assert_eq!(Superblock::decode(&encoded).as_ref(), Ok(&superblock));
    assert_same_except(&buf, &encoded, CHECKSUM_OFFSET, &[ZERO_REGION]);
}

/// Encodes a superblock built from fuzz bytes; checks it decodes back and damage is refused.
fn encode_valid_superblock(any: &AnySuperblock) {
    let superblock = Superblock {
        index_shards: any.index_shards,
        created_unix_ms: any.created_unix_ms,
        key: StoreKey(any.key),
    };
    let buf = superblock.encode();
    assert_eq!(buf.len(), SUPERBLOCK_LEN);
    assert!(
        buf[ZERO_REGION].iter().all(|b| *b == 0),
        "reserved bytes are zero"
    );
    assert_eq!(Superblock::decode(&buf).as_ref(), Ok(&superblock));

    let mut flipped = buf.clone();
    let at = flip_bit(&mut flipped, 0..SUPERBLOCK_LEN, any.flip);
    assert!(
        Superblock::decode(&flipped).is_err(),
        "a flipped bit in byte {at} went unnoticed"
    );
    let cut = (any.flip % SUPERBLOCK_LEN as u64) as usize;
    assert!(matches!(
        Superblock::decode(&buf[..cut]),
        Err(SuperblockError::NotAStore(_))
    ));
    let mut longer = buf;
    longer.push(0);
    assert!(matches!(
        Superblock::decode(&longer),
        Err(SuperblockError::NotAStore(_))
    ));
}
