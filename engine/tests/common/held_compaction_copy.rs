//! A compaction copy caught in flight: complete on disk, its fdatasync never returning, so a
//! test can change the object and checkpoint before the copy is applied.

use std::path::Path;
use std::sync::Arc;

use colossus_engine::{Store, StoreConfig, Writer};

use super::crash_child::exit_as_if_killed;
use super::interposed_disk::{HoldNewSegments, InterposedDisk};
use super::{content, put, run, small_config};

/// Payload size of the copied object.
pub const COPIED_BYTES: usize = 48 << 10;
/// The object written through the other lane (4 KiB).
pub const OTHER_LANE_ID: u64 = 200;

/// The stores of these tests: no checkpoint but the ones a test takes.
pub fn config() -> StoreConfig {
    StoreConfig {
        checkpoint_interval_ms: 3_600_000,
        ..small_config()
    }
}

/// In a crash child: holds compaction's copy of `copied_id` in flight in the store at `dir`
/// ([`hold_a_compaction_copy`]), lets `meanwhile` change the object through another lane,
/// takes a checkpoint and exits as if killed (nothing closed, nothing flushed).
pub fn crash_with_a_copy_in_flight(
    dir: &Path,
    copied_id: u64,
    meanwhile: impl AsyncFnOnce(&Writer),
) -> ! {
    let (store, hooks) = open_with_held_syncs(dir, config());
    run(async {
        let other = store.writer();
        hold_a_compaction_copy(&store, &hooks, copied_id, &other).await;
        meanwhile(&other).await;
        store.checkpoint().unwrap();
        exit_as_if_killed()
    })
}

/// Opens (or creates) the store over a disk that can hold the syncs of new segments.
fn open_with_held_syncs(dir: &Path, config: StoreConfig) -> (Store, Arc<HoldNewSegments>) {
    let hooks = Arc::new(HoldNewSegments::default());
    let disk = Arc::new(InterposedDisk {
        hooks: hooks.clone(),
    });
    (Store::open_with_disk(dir, config, disk).unwrap(), hooks)
}

/// Writes object `copied_id` and eight more that are deleted again, through a lane of its
/// own (so their segment is mostly dead), makes sure `other`'s segment exists, then starts
/// compaction and returns once its copy of `copied_id`, in a new segment, waits on an
/// fdatasync that never returns. The compaction task is left running.
pub async fn hold_a_compaction_copy(
    store: &Store,
    hooks: &HoldNewSegments,
    copied_id: u64,
    other: &Writer,
) {
    let compacting = store.writer();
    put(
        &compacting,
        copied_id,
        "b",
        &content(copied_id, COPIED_BYTES),
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
    put(
        other,
        OTHER_LANE_ID,
        "b",
        &content(OTHER_LANE_ID, 4096),
        4096,
    )
    .await
    .unwrap();
    hooks.hold_new_segments();
    let compaction = monoio::spawn(async move { compacting.compact(0).await });
    hooks.wait_for_a_held_sync().await;
    std::mem::forget(compaction);
}
