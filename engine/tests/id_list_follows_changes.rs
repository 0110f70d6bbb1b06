//! The id list after it is first taken (when the store starts keeping it in memory): objects
//! added above and below every stored id, deleted ones, objects moved by compaction, and a
//! reopen all leave it equal to what a walk of the index finds.

mod common;

use colossus_engine::Store;
use common::{content, put, run, small_config};

const BAG: &str = "dynamic:channel:4";

/// What a walk of the whole index finds (every object here is in one bag).
fn walked(store: &Store) -> Vec<u64> {
    store.list_ids_in_bag(BAG)
}

#[test]
fn the_kept_id_list_follows_every_change() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let store = Store::open(dir.path(), small_config()).unwrap();
        let writer = store.writer();
        assert!(store.list_ids().is_empty());
        for id in [10u64, 20, 30] {
            put(&writer, id, BAG, &content(id, 5_000), 1_000)
                .await
                .unwrap();
        }
        // The first listing builds the kept list.
        assert_eq!(store.list_ids(), vec![10, 20, 30]);

        // Above every id, below every id, between two.
        for id in [40u64, 5, 25] {
            put(&writer, id, BAG, &content(id, 5_000), 1_000)
                .await
                .unwrap();
        }
        assert_eq!(store.list_ids(), vec![5, 10, 20, 25, 30, 40]);
        assert_eq!(store.list_ids(), walked(&store));

        // Deleted: the first, the last, one inside.
        for id in [5u64, 40, 20] {
            writer.delete(id).await.unwrap();
        }
        assert_eq!(store.list_ids(), vec![10, 25, 30]);
        assert_eq!(store.list_ids(), walked(&store));

        // A failed upload of a stored id changes nothing.
        assert!(put(&writer, 10, BAG, &content(10, 5_000), 1_000)
            .await
            .is_err());
        // Compaction moves the survivors; the set of ids stays.
        writer.compact(0).await.unwrap();
        assert_eq!(store.list_ids(), vec![10, 25, 30]);
        assert_eq!(store.list_ids(), walked(&store));
        drop(writer);
        store.close().unwrap();

        // A reopened store starts without the kept list and walks the index again.
        let store = Store::open(dir.path(), small_config()).unwrap();
        assert_eq!(store.list_ids(), vec![10, 25, 30]);
        let writer = store.writer();
        put(&writer, 7, BAG, &content(7, 5_000), 1_000)
            .await
            .unwrap();
        assert_eq!(store.list_ids(), vec![7, 10, 25, 30]);
        assert_eq!(store.list_ids(), walked(&store));
    });
}
