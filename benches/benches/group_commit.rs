//! Target 5 of issue #2: 64 KiB objects committed by 64 concurrent writers (tasks sharing one
//! Writer on one monoio runtime), SyncPolicy::Always, at 5,000 objects/s or more. `1_writer` is
//! the same put one at a time: what grouping the fdatasyncs buys. `64_writers_prezeroed` is the
//! same store with `prezeroed_segments: 2`: new segments come zero-filled from the pool, so
//! appends overwrite written blocks and an fdatasync converts no extents. The pool's own zero
//! writes run during the measurement; only the first segment is waited for.
//! `64_writers_buffered` writes through the page cache instead of with O_DIRECT (the store's
//! default since 2026-11-29, `StoreConfig::direct_writes`), side by side.

use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use colossus_benches::{
    content, put, remove_dir_if_present, runtime, scaled, scratch_dir, Runtime,
};
use colossus_engine::{Store, StoreConfig, Writer};
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode,
    Throughput,
};

const OBJECT_BYTES: usize = 64 << 10;
const OBJECTS_PER_WRITER: u64 = 16;
/// Zero-filled segments the pool keeps ready in the `prezeroed` variant.
const PREZEROED_SEGMENTS: usize = 2;

/// Puts `writers * OBJECTS_PER_WRITER` objects with `writers` concurrent tasks.
async fn batch(
    writer: &Rc<Writer>,
    writers: u64,
    next_id: &Rc<Cell<u64>>,
    data: &Rc<Vec<u8>>,
    digest: [u8; 32],
) {
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (writer, next_id, data) = (writer.clone(), next_id.clone(), data.clone());
            monoio::spawn(async move {
                for _ in 0..OBJECTS_PER_WRITER {
                    let id = next_id.get();
                    next_id.set(id + 1);
                    put(&writer, id, &data, OBJECT_BYTES, Some(digest))
                        .await
                        .expect("put 64 KiB");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await;
    }
}

/// Benches `writers` concurrent writers on a fresh store.
fn variant(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    label: &str,
    writers: u64,
    prezeroed: bool,
    direct_writes: bool,
) {
    let data = Rc::new(content(3, OBJECT_BYTES));
    let digest = *blake3::hash(&data).as_bytes();
    let next_id = Rc::new(Cell::new(0u64));
    // Set up on first use, so a filtered-out variant costs nothing (pre-writing takes seconds).
    let mut bench: Option<(PathBuf, Store, Rc<Writer>, Runtime)> = None;
    group.throughput(Throughput::Elements(writers * OBJECTS_PER_WRITER));
    group.bench_function(BenchmarkId::new("64KiB_objects", label), |b| {
        let (_, _, writer, rt) = bench.get_or_insert_with(|| {
            let dir = scratch_dir("group_commit");
            let config = StoreConfig {
                prezeroed_segments: if prezeroed { PREZEROED_SEGMENTS } else { 0 },
                direct_writes,
                ..StoreConfig::default()
            };
            let store = Store::open(&dir, config).expect("open bench store");
            if prezeroed {
                // The first segment is taken at the first put: let the pool fill first, as it
                // has on a node that has been up for a while.
                let deadline = std::time::Instant::now() + Duration::from_secs(120);
                while store.segment_pool_stats().ready_files < PREZEROED_SEGMENTS {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "segment pool not ready: {:?}",
                        store.segment_pool_stats()
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            let writer = Rc::new(store.writer());
            (dir, store, writer, runtime())
        });
        b.iter(|| rt.block_on(batch(writer, writers, &next_id, &data, digest)))
    });
    if let Some((dir, store, writer, _)) = bench {
        drop(writer);
        store.close().expect("close bench store");
        remove_dir_if_present(&dir);
    }
}

fn group_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("group_commit");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(scaled(Duration::from_secs(1)))
        .measurement_time(scaled(Duration::from_secs(6)));
    variant(&mut group, "64_writers", 64, false, true);
    variant(&mut group, "1_writer", 1, false, true);
    variant(&mut group, "64_writers_prezeroed", 64, true, true);
    variant(&mut group, "64_writers_buffered", 64, false, false);
    group.finish();
}

criterion_group!(benches, group_commit);
criterion_main!(benches);
