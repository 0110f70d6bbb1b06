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
//! process exits without closing anything, as after a kill -9 (the page cache keeps every
//! write). The parent reopens.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use colossus_engine::{EngineError, Store, StoreConfig};
use common::interposed_disk::{HoldNewSegments, InterposedDisk};
use common::*;

const CHILD_ENV: &str = "COLOSSUS_COMPACTION_COPY_CHILD";
const COPIED_ID: u64 = 1;
const KEPT_ID: u64 = 200;

fn config() -> StoreConfig {
    StoreConfig {
        // Only the explicit checkpoint below.
        checkpoint_interval_ms: 3_600_000,
        ..small_config()
    }
}

/// In the child: a mostly dead segment holding one live object, compaction copying it into a
/// segment whose fdatasync never returns, the object deleted meanwhile, a checkpoint, an exit
/// that closes nothing.
fn set_up_and_crash(dir: &Path) -> ! {
    let hooks = Arc::new(HoldNewSegments::default());
    let disk = Arc::new(InterposedDisk {
        hooks: hooks.clone(),
    });
    let store = Store::open_with_disk(dir, config(), disk).unwrap();
    run(async {
        let compacting = store.writer();
        let deleting = store.writer();
        put(
            &compacting,
            COPIED_ID,
            "b",
            &content(COPIED_ID, 48 << 10),
            4096,
        )
        .await
        .unwrap();
        for id in 100..108 {
            put(&compacting, id, "b", &content(id, 32 << 10), 4096)
                .await
                .unwrap();
            compacting.delete(id).await.unwrap();
        }
        // The deleting lane's segment exists before syncs are held.
        put(&deleting, KEPT_ID, "b", &content(KEPT_ID, 4096), 4096)
            .await
            .unwrap();
        hooks.hold_new_segments();
        let compaction = monoio::spawn(async move { compacting.compact(0).await });
        hooks.wait_for_a_held_sync().await;
        deleting.delete(COPIED_ID).await.unwrap();
        store.checkpoint().unwrap();
        std::mem::forget(compaction);
        std::mem::forget(deleting);
        // SAFETY: ends the process at once, as a crash would: no destructor runs, and the
        // compaction task stays where it is, waiting on its fdatasync.
        unsafe { libc::_exit(0) }
    })
}

#[test]
fn an_object_deleted_while_compaction_copies_it_stays_deleted_after_a_crash() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        set_up_and_crash(Path::new(&dir));
    }
    let temp = tempfile::tempdir().unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "an_object_deleted_while_compaction_copies_it_stays_deleted_after_a_crash",
            "--nocapture",
        ])
        .env(CHILD_ENV, temp.path())
        .status()
        .unwrap();
    assert!(status.success(), "the child failed: {status}");
    let store = Store::open(temp.path(), config()).unwrap();
    assert!(!store.open_report().clean, "{:?}", store.open_report());
    match store.metadata(COPIED_ID) {
        Err(EngineError::NotFound { .. }) => {}
        other => panic!("object {COPIED_ID} was deleted, yet after reopening: {other:?}"),
    }
    run(async {
        assert_eq!(
            store.read_to_vec(KEPT_ID).await.unwrap(),
            content(KEPT_ID, 4096)
        );
    });
}
