//! Target 4 of issue #2: opening the store holding 1,000,000 objects after a clean close, in
//! < 200 ms. `open` times Store::open alone, `open_close` the pair (close writes the clean
//! checkpoint). Both are warm (the store's small files in the page cache). With
//! COLOSSUS_BENCH_COLD=1 and root, `open_cold` drops the page cache before each open.

use std::time::{Duration, Instant};

use colossus_benches::{
    drop_page_cache, large_store_config, large_store_dir, open_large_store, scaled,
};
use colossus_engine::{Store, SyncPolicy};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};

fn open_timed(cold: bool) -> Duration {
    if cold {
        assert!(drop_page_cache(), "dropping the page cache needs root");
    }
    let started = Instant::now();
    let store = Store::open(large_store_dir(), large_store_config(SyncPolicy::Always))
        .expect("open the 1M store");
    let elapsed = started.elapsed();
    assert!(store.open_report().clean, "the 1M store must open clean");
    store.close().expect("close the 1M store");
    elapsed
}

fn open_1m(c: &mut Criterion) {
    open_large_store().close().expect("close the 1M store");

    let mut group = c.benchmark_group("open_1m");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(scaled(Duration::from_secs(1)))
        .measurement_time(scaled(Duration::from_secs(5)));
    group.bench_function("open", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| open_timed(false)).sum())
    });
    group.bench_function("open_close", |b| {
        b.iter(|| {
            Store::open(large_store_dir(), large_store_config(SyncPolicy::Always))
                .expect("open the 1M store")
                .close()
                .expect("close the 1M store")
        })
    });
    if std::env::var_os("COLOSSUS_BENCH_COLD").is_some_and(|v| v == "1") {
        group
            .sample_size(10)
            .measurement_time(scaled(Duration::from_secs(10)));
        group.bench_function("open_cold", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| open_timed(true)).sum())
        });
    }
    group.finish();
}

criterion_group!(benches, open_1m);
criterion_main!(benches);
