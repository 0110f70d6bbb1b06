//! A crash must not bring back an object deleted while compaction was copying it.
//!
//! Compaction copies a live object into a new record with the same sequence number, then
//! repoints the index. If the object is deleted while the copy is in flight, and a checkpoint
//! is taken before the copy is applied, that checkpoint's index no longer has the object and
//! its tombstone lies before its segment's frontier (not replayed). The copy, complete on disk
//! with its trailer, lies past its own segment's frontier: replaying it would bring the object
//! back. The checkpoint lists it as an outstanding compaction copy, which replay never
//! applies (the index still points at the original, or no longer has the object).
//!
//! A child process sets it up: the copy's fdatasync is held (the disk "stalls" on the new
//! segment), the object is deleted through another lane, a checkpoint is written, and the
//! process exits as after a kill -9. The parent reopens.

mod common;

use std::path::Path;

use colossus_engine::{EngineError, Store, Writer};
use common::crash_child::crash_in_child;
use common::held_compaction_copy::{config, crash_with_a_copy_in_flight, OTHER_LANE_ID};
use common::*;

const CHILD_ENV: &str = "COLOSSUS_COMPACTION_COPY_CHILD";
const COPIED_ID: u64 = 1;

/// In the child: compaction's copy of the object held in flight, the object deleted
/// meanwhile, a checkpoint, an exit that closes nothing.
fn set_up_and_crash(dir: &Path) -> ! {
    crash_with_a_copy_in_flight(dir, COPIED_ID, async |deleting: &Writer| {
        deleting.delete(COPIED_ID).await.unwrap();
    })
}

#[test]
fn an_object_deleted_while_compaction_copies_it_stays_deleted_after_a_crash() {
    let temp = tempfile::tempdir().unwrap();
    crash_in_child(
        "an_object_deleted_while_compaction_copies_it_stays_deleted_after_a_crash",
        CHILD_ENV,
        temp.path(),
        set_up_and_crash,
    );
    let store = Store::open(temp.path(), config()).unwrap();
    assert!(!store.open_report().clean, "{:?}", store.open_report());
    match store.metadata(COPIED_ID) {
        Err(EngineError::NotFound { .. }) => {}
        other => panic!("object {COPIED_ID} was deleted, yet after reopening: {other:?}"),
    }
    run(async {
        assert_eq!(
            store.read_to_vec(OTHER_LANE_ID).await.unwrap(),
            content(OTHER_LANE_ID, 4096)
        );
    });
}
