//! Serving reads (`Store::read_serving`): hot objects come from verified, locked windows,
//! cold ones from ordinary reads, and both give the same bytes. A window is pinned only when
//! its pages are cached, is never pinned when its bytes fail their crcs, and the cache keeps
//! to its budget.

mod common;

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;

use colossus_engine::pinned::WINDOW_BYTES_MAX;
use colossus_engine::{EngineError, Store, StoreConfig, SyncPolicy};
use common::{content, put, run, small_config};

async fn serve(store: &Store, id: u64, range: Range<u64>) -> Result<Vec<u8>, EngineError> {
    let mut reader = store.read_serving(id, range.clone()).await?;
    assert_eq!(reader.remaining_bytes(), range.end - range.start);
    let mut out = Vec::new();
    while let Some(piece) = reader.next_piece().await {
        out.extend_from_slice(&piece?);
    }
    assert_eq!(reader.remaining_bytes(), 0);
    Ok(out)
}

/// Drops the clean cached pages of every segment file, so the next read finds them cold.
fn evict_segments(dir: &std::path::Path) {
    for entry in std::fs::read_dir(dir.join("segments")).unwrap() {
        let file = File::open(entry.unwrap().path()).unwrap();
        file.sync_all().unwrap();
        let outcome =
            unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(outcome, 0);
    }
}

fn config(pinned_cache_bytes: u64) -> StoreConfig {
    StoreConfig {
        // One segment holds the large object, so its windows are whole.
        segment_size_bytes: 256 << 20,
        sync: SyncPolicy::Always,
        pinned_cache_bytes,
        ..small_config()
    }
}

#[test]
fn windows_serve_the_same_bytes_as_ordinary_reads() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let store = Store::open(dir.path(), config(1 << 30)).unwrap();
        let writer = store.writer();
        // Two and a bit windows, and a small object.
        let big_len = 2 * WINDOW_BYTES_MAX as usize + 12_345;
        let big = content(1, big_len);
        put(&writer, 1, "dynamic:channel:1", &big, 1 << 20)
            .await
            .unwrap();
        let small = content(2, 70_000);
        put(&writer, 2, "dynamic:channel:1", &small, 8192)
            .await
            .unwrap();

        let w = WINDOW_BYTES_MAX;
        let n = big_len as u64;
        let ranges = [
            0..n,
            0..1,
            n - 1..n,
            w - 10..w + 10,
            w..2 * w,
            w - 1..2 * w + 1,
            2 * w..n,
            12_345..12_346,
        ];
        for pass in 0..2 {
            for range in &ranges {
                let got = serve(&store, 1, range.clone()).await.unwrap();
                assert!(
                    got == big[range.start as usize..range.end as usize],
                    "pass {pass}: range {range:?} differs"
                );
            }
            assert_eq!(serve(&store, 2, 0..70_000).await.unwrap(), small);
            assert_eq!(
                serve(&store, 2, 100..4097).await.unwrap(),
                &small[100..4097]
            );
        }
        let stats = store.pinned_stats();
        // Three windows of the big object, one of the small one, pinned once each.
        assert_eq!(stats.windows, 4, "{stats:?}");
        assert_eq!(stats.pinned, 4, "{stats:?}");
        assert_eq!(stats.bytes, big_len as u64 + 70_000);
        assert!(stats.hits > 10, "{stats:?}");
        // Not asserted: how many reads fell back. Payloads are written past the page cache
        // (`direct_writes`), so a window's first read takes the ordinary path, which caches
        // its pages, and a later read pins it; the kernel may also drop cached pages before
        // they are pinned (on these VMs DAMON pages out cold physical regions by itself).
        // The counts above hold what matters: every window ended up pinned, once.

        // Errors are those of `read`.
        assert!(matches!(
            store.read_serving(9, 0..1).await.err(),
            Some(EngineError::NotFound { id: 9 })
        ));
        assert!(matches!(
            store.read_serving(2, 0..70_001).await.err(),
            Some(EngineError::RangeOutOfBounds { .. })
        ));
        store.close().unwrap();
    });
}

#[test]
fn cold_pages_are_read_the_ordinary_way_then_pinned() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let store = Store::open(dir.path(), config(1 << 30)).unwrap();
        let writer = store.writer();
        let bytes = content(3, 3 << 20);
        put(&writer, 3, "dynamic:channel:1", &bytes, 1 << 20)
            .await
            .unwrap();
        evict_segments(dir.path());
        assert_eq!(serve(&store, 3, 0..3 << 20).await.unwrap(), bytes);
        let stats = store.pinned_stats();
        assert_eq!((stats.fallbacks, stats.pinned), (1, 0), "{stats:?}");
        // The ordinary read brought the pages in: now the window is pinned.
        assert_eq!(serve(&store, 3, 0..3 << 20).await.unwrap(), bytes);
        let stats = store.pinned_stats();
        assert_eq!((stats.fallbacks, stats.pinned), (1, 1), "{stats:?}");
        store.close().unwrap();
    });
}

#[test]
fn damaged_bytes_are_never_pinned_or_served() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = content(4, 200_000);
    run(async {
        let store = Store::open(dir.path(), config(1 << 30)).unwrap();
        put(&store.writer(), 4, "dynamic:channel:1", &bytes, 65_536)
            .await
            .unwrap();
        let location = store.record_location(4).unwrap();
        store.close().unwrap();
        // Flip one payload bit on disk (the payload starts one block after the head).
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&location.path)
            .unwrap();
        let at = location.offset + 4096 + 150_000;
        let mut byte = [0u8];
        file.read_exact_at(&mut byte, at).unwrap();
        file.write_all_at(&[byte[0] ^ 0x10], at).unwrap();
        file.sync_all().unwrap();
    });
    run(async {
        let store = Store::open(dir.path(), config(1 << 30)).unwrap();
        for _ in 0..2 {
            let mut reader = store.read_serving(4, 0..200_000).await.unwrap();
            let mut served = 0usize;
            let error = loop {
                match reader.next_piece().await {
                    Some(Ok(piece)) => served += piece.len(),
                    Some(Err(error)) => break error,
                    None => panic!("a damaged object was served whole"),
                }
            };
            assert!(
                matches!(error, EngineError::Corrupt { id: 4, .. }),
                "{error}"
            );
            assert!(served < 150_000, "bytes past the damage were served");
        }
        let stats = store.pinned_stats();
        assert_eq!((stats.windows, stats.pinned), (0, 0), "{stats:?}");
        store.close().unwrap();
    });
}

#[test]
fn the_cache_keeps_to_its_budget_and_can_be_off() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let budget = 3 << 20;
        let store = Store::open(dir.path(), config(budget)).unwrap();
        let writer = store.writer();
        let objects: Vec<Vec<u8>> = (10..20).map(|id| content(id, 1 << 20)).collect();
        for (id, bytes) in (10..20).zip(&objects) {
            put(&writer, id, "dynamic:channel:1", bytes, 1 << 20)
                .await
                .unwrap();
        }
        for round in 0..3 {
            for (id, bytes) in (10..20).zip(&objects) {
                assert_eq!(
                    &serve(&store, id, 0..1 << 20).await.unwrap(),
                    bytes,
                    "round {round}, object {id}"
                );
                let stats = store.pinned_stats();
                assert!(stats.bytes <= budget, "{stats:?}");
                assert!(stats.windows <= 3, "{stats:?}");
            }
        }
        store.close().unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let store = Store::open(dir.path(), config(0)).unwrap();
        let bytes = content(5, 100_000);
        put(&store.writer(), 5, "dynamic:channel:1", &bytes, 4096)
            .await
            .unwrap();
        assert_eq!(serve(&store, 5, 0..100_000).await.unwrap(), bytes);
        assert_eq!(
            serve(&store, 5, 99_999..100_000).await.unwrap(),
            &bytes[99_999..]
        );
        let stats = store.pinned_stats();
        assert_eq!((stats.windows, stats.pinned, stats.hits), (0, 0, 0));
        store.close().unwrap();
    });
}
