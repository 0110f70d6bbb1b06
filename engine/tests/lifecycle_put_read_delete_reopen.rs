//! One store through its whole life: objects of many sizes go in, read back (whole and in
//! ranges), one is accepted, one deleted, the store closes and reopens cleanly, and all of it
//! is still true.

mod common;

use colossus_engine::{ContentType, EngineError, Store};
use common::{content, put, run, small_config};

const SIZES: [usize; 9] = [
    0,
    1,
    4095,
    4096,
    4097,
    16 << 10,
    (16 << 10) + 1,
    300_000,
    5 << 20,
];

#[test]
fn lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let store = Store::open(dir.path(), small_config()).unwrap();
        assert!(store.open_report().created);
        let writer = store.writer();
        for (i, size) in SIZES.iter().enumerate() {
            let id = 100 + i as u64;
            let bytes = content(id, *size);
            let meta = put(&writer, id, "dynamic:channel:7", &bytes, 10_000)
                .await
                .unwrap();
            assert_eq!(meta.size_bytes, *size as u64);
            assert_eq!(meta.multihash(), colossus_engine::multihash::of(&bytes));
            assert!(!meta.accepted);
        }
        for (i, size) in SIZES.iter().enumerate() {
            let id = 100 + i as u64;
            let bytes = content(id, *size);
            assert_eq!(store.read_to_vec(id).await.unwrap(), bytes, "object {id}");
            // Ranges: first byte, last byte, a middle slice crossing chunk boundaries.
            if *size > 2 {
                for range in [0..1, (*size - 1)..*size, 1..(*size - 1)] {
                    let mut reader = store
                        .read(id, range.start as u64..range.end as u64)
                        .await
                        .unwrap();
                    let mut got = Vec::new();
                    while let Some(piece) = reader.next_chunk().await {
                        got.extend_from_slice(&piece.unwrap());
                    }
                    assert_eq!(got, &bytes[range.clone()], "object {id} range {range:?}");
                }
            }
        }
        assert!(matches!(
            store.read(104, 0..u64::MAX).await,
            Err(EngineError::RangeOutOfBounds { .. })
        ));
        assert!(matches!(
            store.read(1, 0..0).await,
            Err(EngineError::NotFound { id: 1 })
        ));
        let accepted = writer.mark_accepted(101).await.unwrap();
        assert!(accepted.accepted);
        writer.delete(102).await.unwrap();
        assert!(matches!(
            store.metadata(102),
            Err(EngineError::NotFound { id: 102 })
        ));
        let stats = store.stats();
        assert_eq!(stats.objects, SIZES.len() as u64 - 1);
        assert_eq!(stats.pending_objects, SIZES.len() as u64 - 2);
        assert_eq!(stats.reservations, 0);
        drop(writer);
        store.close().unwrap();
    });

    run(async {
        let store = Store::open(dir.path(), small_config()).unwrap();
        let report = store.open_report();
        assert!(report.clean, "{report:?}");
        assert_eq!(report.records_replayed, 0);
        assert!(store.metadata(101).unwrap().accepted);
        assert!(!store.metadata(100).unwrap().accepted);
        assert!(matches!(
            store.metadata(102),
            Err(EngineError::NotFound { id: 102 })
        ));
        let mut ids = store.list_ids();
        ids.sort();
        let expected: Vec<u64> = (100..100 + SIZES.len() as u64)
            .filter(|id| *id != 102)
            .collect();
        assert_eq!(ids, expected);
        assert_eq!(store.list_ids_in_bag("dynamic:channel:7"), expected);
        assert!(store.list_ids_in_bag("dynamic:channel:8").is_empty());
        for (i, size) in SIZES.iter().enumerate() {
            let id = 100 + i as u64;
            if id == 102 {
                continue;
            }
            assert_eq!(
                store.read_to_vec(id).await.unwrap(),
                content(id, *size),
                "object {id}"
            );
        }
        let stats = store.stats();
        assert_eq!(stats.objects, SIZES.len() as u64 - 1);
        // Writes go on in a new segment after reopening.
        let writer = store.writer();
        let bytes = b"WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n".to_vec();
        let meta = put(&writer, 7, "static:council", &bytes, 3).await.unwrap();
        assert_eq!(meta.content_type, ContentType::WebVtt);
        assert_eq!(store.read_to_vec(7).await.unwrap(), bytes);
    });
}

#[test]
fn commit_refuses_wrong_size_or_hash_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let store = Store::open(dir.path(), small_config()).unwrap();
        let writer = store.writer();
        let bytes = content(1, 100_000);
        // Too few bytes.
        let mut upload = writer
            .begin_upload(colossus_engine::UploadSpec {
                id: 1,
                bag: "b",
                size_bytes: 100_000,
            })
            .unwrap();
        upload.write(&bytes[..99_999]).await.unwrap();
        assert!(matches!(
            upload.commit(Default::default()).await,
            Err(EngineError::SizeMismatch {
                expected: 100_000,
                actual: 99_999,
                ..
            })
        ));
        // Too many bytes.
        let mut upload = writer
            .begin_upload(colossus_engine::UploadSpec {
                id: 1,
                bag: "b",
                size_bytes: 10,
            })
            .unwrap();
        assert!(matches!(
            upload.write(&bytes[..11]).await,
            Err(EngineError::SizeMismatch { .. })
        ));
        drop(upload);
        // Wrong hash.
        let mut upload = writer
            .begin_upload(colossus_engine::UploadSpec {
                id: 1,
                bag: "b",
                size_bytes: 100_000,
            })
            .unwrap();
        upload.write(&bytes).await.unwrap();
        let outcome = upload
            .commit(colossus_engine::CommitSpec {
                expected_digest: Some([0; 32]),
                accepted: false,
            })
            .await;
        assert!(matches!(outcome, Err(EngineError::HashMismatch { .. })));
        assert!(matches!(
            store.metadata(1),
            Err(EngineError::NotFound { .. })
        ));
        let stats = store.stats();
        assert_eq!(
            (stats.objects, stats.reservations, stats.reserved_bytes),
            (0, 0, 0)
        );
        assert!(
            stats.dead_bytes > 0,
            "abandoned reservations are dead space: {stats:?}"
        );
        // Duplicate ids are refused, both while reserved and once stored.
        let upload = writer
            .begin_upload(colossus_engine::UploadSpec {
                id: 1,
                bag: "b",
                size_bytes: 1,
            })
            .unwrap();
        assert!(matches!(
            writer.begin_upload(colossus_engine::UploadSpec {
                id: 1,
                bag: "b",
                size_bytes: 1
            }),
            Err(EngineError::AlreadyExists { id: 1 })
        ));
        drop(upload);
        put(&writer, 1, "b", &bytes, 4096).await.unwrap();
        assert!(matches!(
            writer.begin_upload(colossus_engine::UploadSpec {
                id: 1,
                bag: "b",
                size_bytes: 1
            }),
            Err(EngineError::AlreadyExists { id: 1 })
        ));
        assert!(matches!(
            writer.begin_upload(colossus_engine::UploadSpec {
                id: 2,
                bag: &"x".repeat(41),
                size_bytes: 1
            }),
            Err(EngineError::BagTooLong { .. })
        ));
        assert!(matches!(
            writer.begin_upload(colossus_engine::UploadSpec {
                id: 2,
                bag: "b",
                size_bytes: (60 << 30) + 1
            }),
            Err(EngineError::TooLarge { .. })
        ));
    });
}
