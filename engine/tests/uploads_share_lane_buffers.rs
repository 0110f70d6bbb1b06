//! Many uploads at once on one lane share its write buffers: past the lane's bound each holds
//! at most two (the one it fills, the one being written) instead of one per write in flight
//! plus one, every upload still finishes and reads back intact, and once they are done the
//! lane keeps what it had taken at once idle for the next uploads (a burst's buffers, for
//! `write_buffers_burst_kept_ms`), no more.

mod common;

use colossus_engine::{CommitSpec, Store, StoreConfig, UploadSpec};
use common::*;

const UPLOADS: usize = 8;
const PER_LANE: usize = 2;
const WRITE_BUFFER_BYTES: usize = 64 << 10;
const OBJECT_BYTES: usize = 20 * WRITE_BUFFER_BYTES + 777;
const PIECE_BYTES: usize = 16 << 10;

#[test]
fn uploads_past_the_lane_bound_hold_two_buffers_each_and_all_finish() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        write_buffers_per_lane: PER_LANE,
        writes_in_flight_max: 4,
        write_buffer_bytes: WRITE_BUFFER_BYTES,
        ..small_config()
    };
    assert!(PER_LANE + 2 * UPLOADS < UPLOADS * (config.writes_in_flight_max + 1));
    let store = Store::open(dir.path(), config).unwrap();
    run(async {
        let writer = store.writer();
        let objects: Vec<(u64, Vec<u8>)> = (0..UPLOADS as u64)
            .map(|i| (100 + i, content(100 + i, OBJECT_BYTES)))
            .collect();
        let mut uploads: Vec<_> = objects
            .iter()
            .map(|(id, _)| {
                writer
                    .begin_upload(UploadSpec {
                        id: *id,
                        bag: "b",
                        size_bytes: OBJECT_BYTES as u64,
                    })
                    .unwrap()
            })
            .collect();
        // Every upload gets a piece in turn, so all of them are midway at once. This is the
        // store's only lane, so the store's buffer counts are the lane's.
        let mut most_taken = 0;
        for start in (0..OBJECT_BYTES).step_by(PIECE_BYTES) {
            for (upload, (_, bytes)) in uploads.iter_mut().zip(&objects) {
                let end = (start + PIECE_BYTES).min(OBJECT_BYTES);
                upload.write(&bytes[start..end]).await.unwrap();
                most_taken = most_taken.max(store.write_path_stats().write_buffers_taken);
            }
        }
        assert!(
            most_taken <= (PER_LANE + 2 * UPLOADS) as u64,
            "{most_taken} buffers taken at once by {UPLOADS} uploads"
        );
        for (upload, (_, bytes)) in uploads.into_iter().zip(&objects) {
            upload
                .commit(CommitSpec {
                    expected_digest: Some(*blake3::hash(bytes).as_bytes()),
                    accepted: false,
                })
                .await
                .unwrap();
        }
        let stats = store.write_path_stats();
        let (taken, idle) = (stats.write_buffers_taken, stats.write_buffers_idle);
        assert_eq!(taken, 0, "every upload gave its buffers back");
        assert!(
            idle <= most_taken,
            "{idle} idle buffers kept, {most_taken} taken at most"
        );
        assert!(
            idle > PER_LANE as u64,
            "a burst's buffers are kept past the bound for the next uploads: {idle}"
        );
        for (id, bytes) in &objects {
            let read = store.read_to_vec(*id).await.unwrap();
            assert!(read == *bytes, "object {id} read back differently");
        }
    });
}
