//! A crash must not undo an acceptance made while compaction was copying the object, whether
//! the store reopens from a current checkpoint or from one written by the first checkpoint
//! version (a store upgraded in place).
//!
//! The copy is made from the pending object and carries "pending" in its trailer. The
//! acceptance is applied while the copy waits on its fdatasync, then a checkpoint is written
//! and the process exits as after a kill -9. A current checkpoint lists the copy as an
//! outstanding compaction copy, so replay skips it and the index's "accepted" stands. A version
//! 1 checkpoint lists nothing outstanding, so replay applies the copy, and the acceptance
//! marker, before its own segment's frontier, is not replayed: the copy must keep the
//! acceptance the index already had for the same record (same sequence number).
//!
//! A child process sets it up (the copy's fdatasync held through an interposed disk); the
//! parent reopens one copy of the crashed store as it is and another with its checkpoint
//! rewritten as version 1.

mod common;

use std::path::Path;
use std::process::Command;

use colossus_engine::checkpoint::{Checkpoint, CHECKPOINT_VERSION_1, SEGMENT_ENTRY_LEN};
use colossus_engine::codec::{put_u32, put_u64, MAC_LEN};
use colossus_engine::store::{CHECKPOINT_FILE, SUPERBLOCK_FILE};
use colossus_engine::superblock::Superblock;
use colossus_engine::{Store, Writer};
use common::crash_child::crash_in_child;
use common::held_compaction_copy::{config, crash_with_a_copy_in_flight, COPIED_BYTES};
use common::*;

const CHILD_ENV: &str = "COLOSSUS_ACCEPT_DURING_COPY_CHILD";
const COPIED_ID: u64 = 1;

/// In the child: compaction's copy of the pending object held in flight, the object accepted
/// meanwhile, a checkpoint, an exit that closes nothing.
fn set_up_and_crash(dir: &Path) -> ! {
    crash_with_a_copy_in_flight(dir, COPIED_ID, async |accepting: &Writer| {
        assert!(accepting.mark_accepted(COPIED_ID).await.unwrap().accepted);
    })
}

/// Rewrites the store's checkpoint as the first version would have written it: no
/// outstanding records, zero where version 2 keeps append offsets, version 1.
fn rewrite_checkpoint_as_version_1(dir: &Path) {
    let key = Superblock::decode(&std::fs::read(dir.join(SUPERBLOCK_FILE)).unwrap())
        .unwrap()
        .key;
    let path = dir.join(CHECKPOINT_FILE);
    let mut checkpoint = Checkpoint::decode(&std::fs::read(&path).unwrap(), &key).unwrap();
    assert!(
        !checkpoint.outstanding.is_empty(),
        "the copy should be outstanding at the checkpoint"
    );
    checkpoint.outstanding.clear();
    let mut bytes = checkpoint.encode(&key);
    put_u32(&mut bytes, 8, CHECKPOINT_VERSION_1);
    for i in 0..checkpoint.segments.len() {
        put_u64(&mut bytes, 40 + i * SEGMENT_ENTRY_LEN + 56, 0);
    }
    let body_len = bytes.len() - MAC_LEN;
    key.seal(&mut bytes, body_len);
    std::fs::write(&path, bytes).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn an_acceptance_made_while_compaction_copies_the_object_survives_a_crash() {
    let temp = tempfile::tempdir().unwrap();
    let crashed = temp.path().join("crashed");
    crash_in_child(
        "an_acceptance_made_while_compaction_copies_the_object_survives_a_crash",
        CHILD_ENV,
        &crashed,
        set_up_and_crash,
    );
    let version_1 = temp.path().join("version-1");
    copy_dir(&crashed, &version_1);
    rewrite_checkpoint_as_version_1(&version_1);

    for dir in [&crashed, &version_1] {
        let store = Store::open(dir, config()).unwrap();
        let report = store.open_report();
        assert!(
            !report.clean && report.index_rebuilt.is_none(),
            "{report:?}"
        );
        let meta = store.metadata(COPIED_ID).unwrap();
        assert!(
            meta.accepted,
            "{}: the acceptance was undone",
            dir.display()
        );
        run(async {
            assert_eq!(
                store.read_to_vec(COPIED_ID).await.unwrap(),
                content(COPIED_ID, COPIED_BYTES)
            );
        });
    }
}
