//! A compaction copy caught in flight: complete on disk, its fdatasync never returning, so a
//! test can change the object and checkpoint before the copy is applied.

use std::path::Path;
use std::sync::Arc;

use colossus_engine::{Store, StoreConfig, Writer};

use super::interposed_disk::{HoldNewSegments, InterposedDisk};
use super::{content, put};

/// Payload size of the copied object.
pub const COPIED_BYTES: usize = 48 << 10;
/// The object written through the other lane (4 KiB).
pub const OTHER_LANE_ID: u64 = 200;

/// Opens (or creates) the store over a disk that can hold the syncs of new segments.
pub fn open_with_held_syncs(dir: &Path, config: StoreConfig) -> (Store, Arc<HoldNewSegments>) {
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
