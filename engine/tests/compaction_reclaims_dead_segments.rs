//! Compaction: after most objects are deleted, compaction copies the survivors out of
//! mostly-dead segments and deletes those files. Survivors read back intact; deleted objects
//! stay deleted through a clean reopen, a crash-style reopen and a full index rebuild (the
//! tombstones that matter were carried forward).

mod common;

use colossus_engine::{EngineError, Store};
use common::{content, put, run, small_config};

fn size_of(id: u64) -> usize {
    (id as usize * 7919) % 300_000
}

fn segment_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("segments")).unwrap().count()
}

async fn check(store: &Store, survivors: &[u64], deleted: &[u64]) {
    for id in survivors {
        let bytes = store.read_to_vec(*id).await.unwrap();
        assert!(bytes == content(*id, size_of(*id)), "object {id} wrong");
        assert!(
            store.metadata(*id).unwrap().accepted == (id % 3 == 0),
            "object {id} acceptance"
        );
    }
    for id in deleted {
        assert!(
            matches!(store.metadata(*id), Err(EngineError::NotFound { .. })),
            "object {id} came back"
        );
    }
}

#[test]
fn compaction_moves_survivors_and_deletes_dead_segments() {
    let dir = tempfile::tempdir().unwrap();
    let all: Vec<u64> = (1..=120).collect();
    let survivors: Vec<u64> = all
        .iter()
        .copied()
        .filter(|id| id % 10 == 0 || id % 3 == 0 && id % 2 == 0)
        .collect();
    let deleted: Vec<u64> = all
        .iter()
        .copied()
        .filter(|id| !survivors.contains(id))
        .collect();
    let store = Store::open(dir.path(), small_config()).unwrap();
    run(async {
        let writer = store.writer();
        for id in &all {
            put(
                &writer,
                *id,
                "dynamic:member:3",
                &content(*id, size_of(*id)),
                65_536,
            )
            .await
            .unwrap();
            if id % 3 == 0 {
                writer.mark_accepted(*id).await.unwrap();
            }
        }
        for id in &deleted {
            writer.delete(*id).await.unwrap();
        }
        let before = store.stats();
        let files_before = segment_files(dir.path());
        assert!(
            files_before >= 4,
            "the test needs several segments, got {files_before}"
        );
        let report = writer.compact(50).await.unwrap();
        let after = store.stats();
        assert!(report.segments_deleted > 0, "{report:?} {before:?}");
        assert_eq!(after.objects, survivors.len() as u64);
        assert_eq!(after.live_payload_bytes, before.live_payload_bytes);
        assert!(
            after.dead_bytes < before.dead_bytes,
            "before {before:?} after {after:?}"
        );
        assert!(segment_files(dir.path()) < files_before);
        check(&store, &survivors, &deleted).await;
    });
    store.close().unwrap();

    let store = Store::open(dir.path(), small_config()).unwrap();
    assert!(store.open_report().clean);
    run(check(&store, &survivors, &deleted));
    assert!(store.scrub().unwrap().damaged_objects.is_empty());
    drop(store);

    let store = Store::open_rebuilding_index(dir.path(), small_config()).unwrap();
    let report = store.open_report();
    assert!(report.damaged.is_empty(), "{report:?}");
    run(check(&store, &survivors, &deleted));
    assert_eq!(store.stats().objects, survivors.len() as u64);
}
