//! New segments from the zero-filled pool (`StoreConfig::prezeroed_segments`): a store that
//! keeps two ready takes its segments from them (their blocks written, no unwritten extents
//! for commits to convert, as `filefrag` shows), refills the pool as segments fill, reads
//! everything back, and a reopen without the pool removes the files it left.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use colossus_engine::segment::{file_name, parse_file_name, SEGMENTS_DIR};
use colossus_engine::{Store, StoreConfig};
use common::{content, put, run, small_config};

const SEGMENT_BYTES: u64 = 1 << 20;

fn config(prezeroed_segments: usize) -> StoreConfig {
    StoreConfig {
        segment_size_bytes: SEGMENT_BYTES,
        preallocate_step_bytes: 256 << 10,
        prezeroed_segments,
        ..small_config()
    }
}

/// Whether `filefrag -v` lists an unwritten extent in `path`.
fn has_unwritten_extents(path: &Path) -> bool {
    let output = Command::new("filefrag")
        .arg("-v")
        .arg(path)
        .output()
        .expect("filefrag (e2fsprogs) must be installed");
    assert!(output.status.success(), "filefrag {}", path.display());
    String::from_utf8_lossy(&output.stdout).contains("unwritten")
}

fn pool_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join(SEGMENTS_DIR))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.starts_with(colossus_engine::segment_pool::POOL_FILE_PREFIX))
        .collect()
}

fn segment_ids(dir: &Path) -> Vec<u32> {
    let mut ids: Vec<u32> = std::fs::read_dir(dir.join(SEGMENTS_DIR))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(parse_file_name))
        .collect();
    ids.sort_unstable();
    ids
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn segments_come_zero_filled_from_the_pool() {
    // Without the pool a new segment's space past the first records is unwritten extents
    // (what makes the check below able to fail).
    let plain = tempfile::tempdir().unwrap();
    let store = Store::open(plain.path(), config(0)).unwrap();
    let writer = store.writer();
    run(async {
        put(&writer, 1, "dynamic:channel:1", &content(1, 10_000), 4096)
            .await
            .unwrap();
    });
    let first = plain.path().join(SEGMENTS_DIR).join(file_name(1));
    assert!(has_unwritten_extents(&first), "{}", first.display());
    drop(writer);
    store.close().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), config(2)).unwrap();
    wait_until("two pool files are ready", || {
        store.segment_pool_stats().ready_files == 2
    });
    let writer = store.writer();
    // ~3.5 segments of objects: the lane rolls over three times, each time into a pool file.
    let objects: Vec<(u64, usize)> = (10..45).map(|id| (id, 100_000)).collect();
    run(async {
        for &(id, size) in &objects {
            put(&writer, id, "dynamic:channel:1", &content(id, size), 30_000)
                .await
                .unwrap();
        }
    });
    let segment_ids = segment_ids(dir.path());
    assert!(segment_ids.len() >= 4, "segments: {segment_ids:?}");
    for id in &segment_ids {
        let path = dir.path().join(SEGMENTS_DIR).join(file_name(*id));
        assert!(
            !has_unwritten_extents(&path),
            "segment {id} has unwritten extents: it did not come from the pool"
        );
    }
    wait_until("the pool is refilled", || {
        store.segment_pool_stats().ready_files == 2
    });
    let stats = store.segment_pool_stats();
    assert_eq!(
        stats.prepared_files as usize,
        2 + segment_ids.len(),
        "{stats:?}"
    );
    assert_eq!(stats.last_error, None);
    run(async {
        for &(id, size) in &objects {
            assert_eq!(store.read_to_vec(id).await.unwrap(), content(id, size));
        }
    });
    drop(writer);
    store.close().unwrap();
    assert_eq!(
        pool_files(dir.path()).len(),
        2,
        "ready files are kept for the next open"
    );

    // Reopened without the pool: the ready files go, the objects stay.
    let store = Store::open(dir.path(), config(0)).unwrap();
    wait_until("the pool files are removed", || {
        pool_files(dir.path()).is_empty()
    });
    assert!(store.open_report().damaged.is_empty());
    run(async {
        for &(id, size) in &objects {
            assert_eq!(store.read_to_vec(id).await.unwrap(), content(id, size));
        }
    });
    store.close().unwrap();
}
