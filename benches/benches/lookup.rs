//! Target 3 of issue #2: metadata lookup by id with 1,000,000 objects stored, random ids, at
//! 5M lookups/s or more per core. The store is built once and cached (see
//! `colossus_benches::open_large_store`). `contains` (no `ObjectMeta` built) and misses (a
//! HEAD for an id not stored) are measured beside it, and so is a store of 10,000 objects
//! whose index fits in the CPU caches: the difference is the cost of memory latency.
//! `metadata_many_random_hit` is the same lookups through the batched API, which overlaps
//! the memory latency of consecutive lookups.

use std::hint::black_box;
use std::time::Duration;

use colossus_benches::{
    open_large_store, put_empty_objects, random_ids, remove_dir_if_present, scaled, scratch_dir,
    LARGE_STORE_OBJECTS,
};
use colossus_engine::{Store, StoreConfig, SyncPolicy};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const ID_SAMPLE: usize = 1 << 20;
const SMALL_STORE_OBJECTS: u64 = 10_000;
/// Ids per `metadata_many` call in the batched variant (a listing page, say).
const BATCH: usize = 1024;

fn lookup(c: &mut Criterion) {
    let store = open_large_store();
    let hits = random_ids(ID_SAMPLE, LARGE_STORE_OBJECTS, 0x5eed);
    let misses: Vec<u64> = random_ids(ID_SAMPLE, u64::MAX - LARGE_STORE_OBJECTS, 0xfeed)
        .into_iter()
        .map(|id| id + LARGE_STORE_OBJECTS)
        .collect();

    let mut group = c.benchmark_group("lookup");
    group
        .throughput(Throughput::Elements(1))
        .warm_up_time(scaled(Duration::from_secs(1)))
        .measurement_time(scaled(Duration::from_secs(4)));
    let mut next = 0usize;
    group.bench_function("metadata_random_hit", |b| {
        b.iter(|| {
            next = (next + 1) % ID_SAMPLE;
            black_box(store.metadata(hits[next]).expect("stored object"))
        })
    });
    // The batched path: ids in batches of BATCH, their lookups overlapped (see
    // `Store::metadata_many`); throughput counts lookups, not batches.
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut start = 0usize;
    group.bench_function("metadata_many_random_hit", |b| {
        b.iter(|| {
            start = (start + BATCH) % (ID_SAMPLE - BATCH);
            let mut found = 0u32;
            store.metadata_many(&hits[start..start + BATCH], |_, meta| {
                found += u32::from(black_box(meta.expect("stored object")).size_bytes == 0);
            });
            found
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("contains_random_hit", |b| {
        b.iter(|| {
            next = (next + 1) % ID_SAMPLE;
            black_box(store.contains(hits[next]).expect("index readable"))
        })
    });
    group.bench_function("metadata_random_miss", |b| {
        b.iter(|| {
            next = (next + 1) % ID_SAMPLE;
            black_box(store.metadata(misses[next]).is_err())
        })
    });
    store.close().expect("close the bench store");

    let dir = scratch_dir("lookup_10k");
    let small = Store::open(
        &dir,
        StoreConfig {
            sync: SyncPolicy::Never,
            ..StoreConfig::default()
        },
    )
    .expect("open the 10k store");
    put_empty_objects(&small, SMALL_STORE_OBJECTS, 1);
    let small_hits = random_ids(ID_SAMPLE, SMALL_STORE_OBJECTS, 0x5eed);
    group.bench_function("metadata_random_hit_10k_objects", |b| {
        b.iter(|| {
            next = (next + 1) % ID_SAMPLE;
            black_box(small.metadata(small_hits[next]).expect("stored object"))
        })
    });
    group.finish();
    small.close().expect("close the 10k store");
    remove_dir_if_present(&dir);
}

criterion_group!(benches, lookup);
criterion_main!(benches);
