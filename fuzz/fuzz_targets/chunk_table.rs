//! `decode_table`: the per-chunk crc32c table behind a trailer, which the reader and recovery
//! trust to check payload chunks. Checks: it accepts exactly the inputs whose length is a
//! multiple of 4 and whose crc matches; what it accepts re-serializes to the same bytes; and a
//! single flipped bit in an accepted table is always caught.
#![no_main]

use colossus_engine::record::decode_table;
use colossus_fuzz::{flip_bit, Control};
use libfuzzer_sys::fuzz_target;

// Control bit: use the table's real crc (else the next 4 input bytes are the expected crc).
const TRUE_CRC: u8 = 0;

fuzz_target!(|data: &[u8]| {
    let (control, rest) = Control::split(data);
    let (crc, bytes) = if control.wants(TRUE_CRC) {
        (crc32c::crc32c(rest), rest)
    } else if rest.len() >= 4 {
        let (crc, bytes) = rest.split_at(4);
        (u32::from_le_bytes(crc.try_into().expect("4 bytes")), bytes)
    } else {
        (0, rest)
    };

    let decoded = decode_table(bytes, crc);
    let acceptable = bytes.len() % 4 == 0 && crc32c::crc32c(bytes) == crc;
    assert_eq!(
        decoded.is_some(),
        acceptable,
        "len {} crc {crc:#x}",
        bytes.len()
    );
    let Some(table) = decoded else {
        return;
    };
    assert_eq!(table.len() * 4, bytes.len());
    let reserialized: Vec<u8> = table.iter().flat_map(|c| c.to_le_bytes()).collect();
    assert_eq!(reserialized, bytes);
    if !bytes.is_empty() {
        let mut flipped = bytes.to_vec();
        let pick = u64::from(control.0) | (u64::from(crc) << 8);
        flip_bit(&mut flipped, 0..bytes.len(), pick);
        assert_eq!(
            decode_table(&flipped, crc),
            None,
            "a flipped bit went unnoticed"
        );
    }
});
