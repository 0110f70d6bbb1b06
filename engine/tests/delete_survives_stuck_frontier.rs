//! A crash must not bring back an object whose delete was acknowledged, even when the
//! object's record lies past its segment's checkpoint frontier and its tombstone does not.
//!
//! A checkpoint records, per segment, a frontier: the offset of the segment's first
//! reservation still outstanding. An object committed behind an upload that is still
//! streaming lies past that frontier although the index already has it. Here the object is
//! then deleted and its tombstone lands in another segment (the lane rolled over; in a node
//! another core's lane may write it), before that segment's frontier at the next checkpoint.
//! Until 2026-11-29 reopening replayed every record past each frontier: the object record was
//! applied, its tombstone was not, and the object came back (seen once in CI as two deleted
//! objects visible after `crash_kill9_during_commit` reopened). Now the checkpoint lists what
//! was outstanding and where each segment ended, and replay skips what the index already had,
//! without reading it.
//!
//! A child process sets it up and exits without closing the store (as after a kill -9, the
//! page cache keeps everything); the parent reopens.

mod common;

use std::path::Path;

use colossus_engine::{EngineError, Store, StoreConfig, UploadSpec};
use common::crash_child::{crash_in_child, exit_as_if_killed};
use common::*;

const CHILD_ENV: &str = "COLOSSUS_STUCK_FRONTIER_CHILD";
const DELETED_ID: u64 = 2;

fn config() -> StoreConfig {
    StoreConfig {
        segment_size_bytes: 256 << 10,
        preallocate_step_bytes: 64 << 10,
        // Only the explicit checkpoint below.
        checkpoint_interval_ms: 3_600_000,
        ..small_config()
    }
}

/// In the child: an upload left streaming, an object committed behind it, the lane rolled
/// over, the object deleted, a checkpoint, then an exit that closes nothing.
fn set_up_and_crash(dir: &Path) -> ! {
    let store = Store::open(dir, config()).unwrap();
    run(async {
        let writer = store.writer();
        let streaming = writer
            .begin_upload(UploadSpec {
                id: 1,
                bag: "b",
                size_bytes: 100 << 10,
            })
            .unwrap();
        put(
            &writer,
            DELETED_ID,
            "b",
            &content(DELETED_ID, 8 << 10),
            4096,
        )
        .await
        .unwrap();
        let segments_before = store.stats().segments;
        let mut id = 10;
        while store.stats().segments == segments_before {
            put(&writer, id, "b", &content(id, 64 << 10), 65536)
                .await
                .unwrap();
            id += 1;
        }
        writer.delete(DELETED_ID).await.unwrap();
        store.checkpoint().unwrap();
        // The upload is still streaming when the process ends.
        let _streaming = streaming;
        exit_as_if_killed()
    })
}

#[test]
fn a_deleted_object_stays_deleted_after_a_crash() {
    let temp = tempfile::tempdir().unwrap();
    crash_in_child(
        "a_deleted_object_stays_deleted_after_a_crash",
        CHILD_ENV,
        temp.path(),
        set_up_and_crash,
    );
    let store = Store::open(temp.path(), config()).unwrap();
    match store.metadata(DELETED_ID) {
        Err(EngineError::NotFound { .. }) => {}
        other => panic!("object {DELETED_ID} was deleted, yet after reopening: {other:?}"),
    }
    // Only what the checkpoint's index had not seen was read: the upload left streaming (no
    // trailer: abandoned), not the objects committed behind it.
    let report = store.open_report();
    assert!(
        !report.clean && report.index_rebuilt.is_none(),
        "{report:?}"
    );
    assert_eq!(
        (report.abandoned_reservations, report.bytes_verified),
        (1, 0),
        "{report:?}"
    );
    run(async {
        for id in 10.. {
            match store.read_to_vec(id).await {
                Ok(bytes) => assert_eq!(bytes, content(id, 64 << 10), "object {id}"),
                Err(EngineError::NotFound { .. }) => {
                    assert!(id > 11, "fewer objects than a segment holds");
                    break;
                }
                Err(error) => panic!("object {id}: {error}"),
            }
        }
    });
}
