//! Upload buffers hashed apart (each 2^k-byte buffer is a BLAKE3 subtree) by the store's
//! hashing threads, or by the core when there are none, give every object the digest and
//! chunk crcs of hashing it whole: commits check the digest against `blake3::hash`, reads and
//! a scrub check both, a wrong digest is refused, and the counters say who did the work.

mod common;

use colossus_engine::{CommitSpec, EngineError, Store, StoreConfig, UploadSpec};
use common::{content, put, run, small_config};

/// Buffer size of `small_config` (64 KiB); objects over it are hashed buffer by buffer.
const BUFFER_BYTES: usize = 64 << 10;

/// Sizes around one buffer, several buffers (every shape of the subtree stack up to 9), with
/// and without a short last buffer, and a 5 MiB object (80 buffers).
const SIZES: [usize; 10] = [
    BUFFER_BYTES - 1,
    BUFFER_BYTES,
    BUFFER_BYTES + 1,
    2 * BUFFER_BYTES,
    3 * BUFFER_BYTES + 4096,
    4 * BUFFER_BYTES,
    5 * BUFFER_BYTES + 7,
    8 * BUFFER_BYTES + (16 << 10),
    9 * BUFFER_BYTES - 1,
    5 << 20,
];

/// Buffers an upload hands over before its commit: all but the last one of a multi-buffer
/// object (the last goes with the trailer, hashed by the committing core).
fn buffers_summed_apart(size: usize) -> u64 {
    if size > BUFFER_BYTES {
        (size.div_ceil(BUFFER_BYTES) - 1) as u64
    } else {
        0
    }
}

fn config(hash_threads: usize) -> StoreConfig {
    StoreConfig {
        hash_threads,
        ..small_config()
    }
}

/// Puts every size, reads each back, scrubs; returns (off core, on core) buffer counts.
fn put_read_scrub(hash_threads: usize, piece: usize) -> (u64, u64) {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let store = Store::open(dir.path(), config(hash_threads)).unwrap();
        let writer = store.writer();
        for (i, &size) in SIZES.iter().enumerate() {
            let id = 1 + i as u64;
            let bytes = content(id, size);
            let meta = put(&writer, id, "dynamic:channel:1", &bytes, piece)
                .await
                .unwrap_or_else(|e| panic!("{size} bytes: {e}"));
            assert_eq!(meta.multihash(), colossus_engine::multihash::of(&bytes));
            assert_eq!(store.read_to_vec(id).await.unwrap(), bytes, "{size} bytes");
        }
        let scrub = store.scrub().unwrap();
        assert!(scrub.is_clean(), "{scrub:?}");
        assert_eq!(scrub.objects_ok, SIZES.len() as u64);
        let stats = store.write_path_stats();
        assert_eq!(stats.hash_threads, hash_threads);
        store.close().unwrap();
        (stats.buffers_hashed_off_core, stats.buffers_hashed_on_core)
    })
}

#[test]
fn hashing_threads_take_buffers_and_digests_match() {
    let expected: u64 = SIZES.iter().map(|&s| buffers_summed_apart(s)).sum();
    // Pieces that straddle buffer and chunk boundaries, and whole buffers.
    for piece in [10_000, BUFFER_BYTES] {
        let (off_core, on_core) = put_read_scrub(2, piece);
        assert_eq!(off_core + on_core, expected, "pieces of {piece}");
        // One upload at a time keeps at most 4 buffers in flight: idle threads take most.
        assert!(
            off_core > 0,
            "no buffer reached a hashing thread ({on_core} on the core)"
        );
    }
}

#[test]
fn without_hashing_threads_the_core_sums_every_buffer() {
    let expected: u64 = SIZES.iter().map(|&s| buffers_summed_apart(s)).sum();
    assert_eq!(put_read_scrub(0, 10_000), (0, expected));
}

#[test]
fn a_wrong_digest_is_refused_when_hashed_off_core() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let store = Store::open(dir.path(), config(2)).unwrap();
        let writer = store.writer();
        let bytes = content(9, 6 * BUFFER_BYTES + 5);
        let mut expected = *blake3::hash(&bytes).as_bytes();
        expected[31] ^= 1;
        let mut upload = writer
            .begin_upload(UploadSpec {
                id: 9,
                bag: "dynamic:channel:1",
                size_bytes: bytes.len() as u64,
            })
            .unwrap();
        for part in bytes.chunks(BUFFER_BYTES / 3) {
            upload.write(part).await.unwrap();
        }
        let refused = upload
            .commit(CommitSpec {
                expected_digest: Some(expected),
                accepted: false,
            })
            .await;
        assert!(
            matches!(refused, Err(EngineError::HashMismatch { id: 9, .. })),
            "{refused:?}"
        );
        assert!(store.metadata(9).is_err(), "nothing became visible");
        assert!(store.write_path_stats().buffers_hashed_off_core > 0);
        // The same bytes with the right digest go in.
        let meta = put(&writer, 9, "dynamic:channel:1", &bytes, 50_000)
            .await
            .unwrap();
        assert_eq!(meta.multihash(), colossus_engine::multihash::of(&bytes));
        store.close().unwrap();
    });
}

#[test]
fn too_many_hashing_threads_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let refused = Store::open(dir.path(), config(65));
    assert!(
        matches!(refused, Err(EngineError::InvalidConfig(ref m)) if m.contains("hash_threads")),
        "{:?}",
        refused.err()
    );
}
