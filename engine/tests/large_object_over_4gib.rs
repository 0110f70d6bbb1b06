//! The large-object path: an object bigger than 4 GiB (past every u32 boundary: io_uring
//! operation sizes, chunk tables, offsets) and bigger than the segment size goes in, reads
//! back whole and in ranges around the 4 GiB mark, and survives a reopen. Limits around the
//! network's 60 GiB maximum are checked without writing them.

mod common;

use colossus_engine::{CommitSpec, EngineError, Store, StoreConfig, SyncPolicy, UploadSpec};
use common::run;

const SIZE: u64 = (4 << 30) + 12_345;
const PIECE: usize = 4 << 20;

/// Byte `i` of the object: cheap to generate, different everywhere that matters.
fn piece_at(offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| {
            let at = offset + i;
            (at ^ (at >> 8) ^ (at >> 20) ^ (at >> 32).wrapping_mul(31)) as u8
        })
        .collect()
}

#[test]
fn object_over_4_gib() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        segment_size_bytes: 256 << 20,
        chunk_size_bytes: 1 << 20,
        sync: SyncPolicy::Never,
        index_shards: 2,
        ..StoreConfig::default()
    };
    run(async {
        let store = Store::open(dir.path(), config.clone()).unwrap();
        let writer = store.writer();
        let mut upload = writer
            .begin_upload(UploadSpec {
                id: 60,
                bag: "dynamic:channel:60",
                size_bytes: SIZE,
            })
            .unwrap();
        let mut hasher = blake3::Hasher::new();
        let template = piece_at(0, PIECE);
        let mut at = 0u64;
        while at < SIZE {
            let len = (SIZE - at).min(PIECE as u64) as usize;
            // Most pieces reuse a template (hashing 4 GiB of fresh bytes twice would be slow);
            // the pieces around 4 GiB are generated exactly.
            let piece = if at.abs_diff(4 << 30) <= 2 * PIECE as u64 || len < PIECE {
                piece_at(at, len)
            } else {
                template.clone()
            };
            hasher.update(&piece);
            upload.write(&piece).await.unwrap();
            at += len as u64;
        }
        let digest = *hasher.finalize().as_bytes();
        let meta = upload
            .commit(CommitSpec {
                expected_digest: Some(digest),
                accepted: true,
            })
            .await
            .unwrap();
        assert_eq!(meta.size_bytes, SIZE);
        // Ranges that straddle 4 GiB and the very end.
        for (start, len) in [
            ((4u64 << 30) - 100, 300u64),
            (SIZE - 1, 1),
            ((4 << 30) - PIECE as u64, PIECE as u64 + 12_345),
        ] {
            let mut reader = store.read(60, start..start + len).await.unwrap();
            let mut got = Vec::new();
            while let Some(chunk) = reader.next_chunk().await {
                got.extend_from_slice(&chunk.unwrap());
            }
            assert!(got == piece_at(start, len as usize), "range at {start}");
        }
        // Whole object, streamed and hashed.
        let mut reader = store.read(60, 0..SIZE).await.unwrap();
        let mut check = blake3::Hasher::new();
        let mut total = 0u64;
        while let Some(chunk) = reader.next_chunk().await {
            let chunk = chunk.unwrap();
            total += chunk.len() as u64;
            check.update(&chunk);
        }
        assert_eq!(total, SIZE);
        assert_eq!(check.finalize().as_bytes(), &digest);
        // The network's maximum is accepted as a size, one byte more is not.
        assert!(matches!(
            writer.begin_upload(UploadSpec {
                id: 61,
                bag: "b",
                size_bytes: (60 << 30) + 1
            }),
            Err(EngineError::TooLarge { .. })
        ));
        drop(writer);
        store.close().unwrap();
    });
    run(async {
        let store = Store::open(dir.path(), config).unwrap();
        let meta = store.metadata(60).unwrap();
        assert_eq!(meta.size_bytes, SIZE);
        assert!(meta.accepted);
        let mut reader = store.read(60, SIZE - 10..SIZE).await.unwrap();
        let chunk = reader.next_chunk().await.unwrap().unwrap();
        assert!(chunk[..] == piece_at(SIZE - 10, 10)[..]);
    });
}
