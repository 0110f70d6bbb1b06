//! Shared helpers for the engine's scenario tests.
#![allow(dead_code)]

use colossus_engine::{CommitSpec, ObjectMeta, Result, StoreConfig, UploadSpec, Writer};

/// Runs `future` on a fresh single-threaded monoio io_uring runtime.
pub fn run<F: std::future::Future>(future: F) -> F::Output {
    monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .build()
        .expect("io_uring runtime")
        .block_on(future)
}

/// Deterministic object bytes that differ per object id.
pub fn content(id: u64, len: usize) -> Vec<u8> {
    let mut state = id.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A configuration with small segments and chunks so tests exercise roll-over and tables.
pub fn small_config() -> StoreConfig {
    StoreConfig {
        segment_size_bytes: 4 << 20,
        chunk_size_bytes: 16 << 10,
        preallocate_step_bytes: 1 << 20,
        write_buffer_bytes: 64 << 10,
        read_buffer_bytes: 64 << 10,
        index_shards: 4,
        checkpoint_interval_ms: 200,
        ..StoreConfig::default()
    }
}

/// Uploads `bytes` as object `id` in pieces of `piece` bytes and commits with the right hash.
pub async fn put(
    writer: &Writer,
    id: u64,
    bag: &str,
    bytes: &[u8],
    piece: usize,
) -> Result<ObjectMeta> {
    let mut upload = writer.begin_upload(UploadSpec {
        id,
        bag,
        size_bytes: bytes.len() as u64,
    })?;
    for part in bytes.chunks(piece.max(1)) {
        upload.write(part).await?;
    }
    upload
        .commit(CommitSpec {
            expected_digest: Some(*blake3::hash(bytes).as_bytes()),
            accepted: false,
        })
        .await
}
pub mod crash_child;
pub mod held_compaction_copy;
pub mod interposed_disk;
