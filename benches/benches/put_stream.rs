//! Target 1 of issue #2: streaming put of a 256 MiB object on one core (hash + write + durable
//! commit, SyncPolicy::Always, default config) at 60% or more of min(single-thread blake3,
//! sequential direct write). Both ceilings are measured in the same group, so the ratio comes
//! from one run on a shared machine: `blake3_1thread`, and `write_direct` (256 MiB written
//! with O_DIRECT through io_uring, 1 MiB blocks, 8 in flight, then fdatasync: fio's test in
//! process; benches/ceilings.sh runs fio itself as a cross-check). `write_buffered` is the
//! engine's I/O pattern without the hashing (page-cache writes, 4 in flight, fdatasync).
//! `sync_never` is a diagnostic: the same put without fdatasync, i.e. the CPU cost of the path
//! (hash, crc, copy, write). The store writes payloads with O_DIRECT by default
//! (`StoreConfig::direct_writes`); `sync_always_buffered` is the same put through the page
//! cache, the default until 2026-11-29, side by side. Every put here hashes on the core that
//! streams it (`hash_threads: 0`), as the target asks; `sync_always_hash_threads` is the same
//! put with the default hashing threads (`StoreConfig::hash_threads`, one fewer than the
//! CPUs, at least one) summing its 1 MiB buffers beside it.

use std::hint::black_box;
use std::time::{Duration, Instant};

use colossus_benches::{
    content, put, remove_dir_if_present, runtime, scaled, scratch_dir, sequential_write, WriteMode,
};
use colossus_engine::{Store, StoreConfig, SyncPolicy};
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};

const OBJECT_BYTES: usize = 256 << 20;

/// Puts `iters` objects into a fresh store and returns the time spent in the puts alone
/// (opening, closing and deleting the store are not counted).
fn timed_puts(
    iters: u64,
    data: &[u8],
    digest: [u8; 32],
    piece: usize,
    config: StoreConfig,
) -> Duration {
    let dir = scratch_dir("put_stream");
    let store = Store::open(&dir, config).expect("open bench store");
    let elapsed = runtime().block_on(async {
        let writer = store.writer();
        let mut elapsed = Duration::ZERO;
        for id in 0..iters {
            let started = Instant::now();
            put(&writer, id, data, piece, Some(digest))
                .await
                .expect("put 256 MiB");
            elapsed += started.elapsed();
        }
        elapsed
    });
    store.close().expect("close bench store");
    remove_dir_if_present(&dir);
    elapsed
}

/// The store's default config with these changes.
fn config(sync: SyncPolicy, direct_writes: bool, hash_threads: usize) -> StoreConfig {
    StoreConfig {
        sync,
        direct_writes,
        hash_threads,
        ..StoreConfig::default()
    }
}

fn put_stream(c: &mut Criterion) {
    let data = content(1, OBJECT_BYTES);
    let digest = *blake3::hash(&data).as_bytes();
    let mut group = c.benchmark_group("put_stream");
    group
        .throughput(Throughput::Bytes(OBJECT_BYTES as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(scaled(Duration::from_secs(1)))
        .measurement_time(scaled(Duration::from_secs(10)));

    // The hashing ceiling, fed the way the engine is fed (Hasher::update per 1 MiB piece).
    group.bench_function("blake3_1thread", |b| {
        b.iter(|| {
            let mut hasher = blake3::Hasher::new();
            for piece in data.chunks(1 << 20) {
                hasher.update(piece);
            }
            black_box(hasher.finalize())
        })
    });
    let blocks: Vec<Vec<u8>> = data.chunks(1 << 20).take(16).map(<[u8]>::to_vec).collect();
    for (name, mode, in_flight) in [
        ("write_direct", WriteMode::Direct, 8),
        ("write_buffered", WriteMode::Buffered, 4),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let dir = scratch_dir("put_stream_ceiling");
                let elapsed = runtime().block_on(async {
                    let mut elapsed = Duration::ZERO;
                    for _ in 0..iters {
                        elapsed +=
                            sequential_write(&dir, &blocks, OBJECT_BYTES as u64, in_flight, mode)
                                .await;
                    }
                    elapsed
                });
                remove_dir_if_present(&dir);
                elapsed
            })
        });
    }
    // The target's put (1 MiB and hyper-sized pieces), then the 1 MiB put with one thing
    // changed: hashing threads beside the core, page-cache writes, no fdatasync.
    let hash_threads = StoreConfig::default().hash_threads;
    let variants = [
        (
            "sync_always",
            1usize << 20,
            config(SyncPolicy::Always, true, 0),
        ),
        ("sync_always", 64 << 10, config(SyncPolicy::Always, true, 0)),
        (
            "sync_always_hash_threads",
            1 << 20,
            config(SyncPolicy::Always, true, hash_threads),
        ),
        (
            "sync_always_buffered",
            1 << 20,
            config(SyncPolicy::Always, false, 0),
        ),
        ("sync_never", 1 << 20, config(SyncPolicy::Never, true, 0)),
    ];
    for (name, piece, config) in variants {
        let label = format!("{}KiB_pieces", piece >> 10);
        group.bench_function(BenchmarkId::new(name, &label), |b| {
            b.iter_custom(|iters| timed_puts(iters, &data, digest, piece, config.clone()))
        });
    }
    group.finish();
}

criterion_group!(benches, put_stream);
criterion_main!(benches);
