//! Target 2 of issue #2: reading a page-cached 1 GiB object in large chunks on one core at
//! 50% or more of a 1 MiB memcpy loop. The memcpy baselines run in the same group, so the
//! ratio comes from one run: `memcpy_1MiB` copies a 1 GiB source (out of every CPU cache, like the
//! page cache) 1 MiB at a time into one reused buffer; `memcpy_1MiB_hot` copies the same
//! 1 MiB again and again (cache-resident, an upper bound no read from memory can reach).

use std::hint::black_box;
use std::time::Duration;

use colossus_benches::{content, put, remove_dir_if_present, runtime, scaled, scratch_dir};
use colossus_engine::{Store, StoreConfig, SyncPolicy};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

const OBJECT_BYTES: usize = 1 << 30;
const PIECE_BYTES: usize = 1 << 20;
const OBJECT_ID: u64 = 1;

/// Reads the whole object through the engine, touching nothing but the chunk lengths (the
/// server hands the `Bytes` to hyper as they are).
async fn read_all(store: &Store) -> u64 {
    let mut reader = store
        .read(OBJECT_ID, 0..OBJECT_BYTES as u64)
        .await
        .expect("open object");
    let mut total = 0u64;
    while let Some(chunk) = reader.next_chunk().await {
        total += black_box(chunk.expect("verified chunk")).len() as u64;
    }
    assert_eq!(total, OBJECT_BYTES as u64);
    total
}

fn read_cached(c: &mut Criterion) {
    let data = content(2, OBJECT_BYTES);
    let dir = scratch_dir("read_cached");
    // The object only needs to be in the page cache, not durable.
    let store = Store::open(
        &dir,
        StoreConfig {
            sync: SyncPolicy::Never,
            ..StoreConfig::default()
        },
    )
    .expect("open bench store");
    let mut rt = runtime();
    rt.block_on(async {
        put(&store.writer(), OBJECT_ID, &data, PIECE_BYTES, None)
            .await
            .expect("put 1 GiB");
        // Read once so every page is cached and every lazy structure is warm.
        read_all(&store).await;
    });

    let mut group = c.benchmark_group("read_cached");
    group
        .throughput(Throughput::Bytes(OBJECT_BYTES as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(scaled(Duration::from_secs(1)))
        .measurement_time(scaled(Duration::from_secs(5)));

    let mut sink = vec![0u8; PIECE_BYTES];
    group.bench_function("memcpy_1MiB", |b| {
        b.iter(|| {
            for piece in data.chunks_exact(PIECE_BYTES) {
                sink.copy_from_slice(black_box(piece));
                black_box(&mut sink);
            }
        })
    });
    group.bench_function("memcpy_1MiB_hot", |b| {
        let source = &data[..PIECE_BYTES];
        b.iter(|| {
            for _ in 0..OBJECT_BYTES / PIECE_BYTES {
                sink.copy_from_slice(black_box(source));
                black_box(&mut sink);
            }
        })
    });
    drop(data);
    group.bench_function("engine_read", |b| b.iter(|| rt.block_on(read_all(&store))));
    group.finish();
    store.close().expect("close bench store");
    remove_dir_if_present(&dir);
}

criterion_group!(benches, read_cached);
criterion_main!(benches);
