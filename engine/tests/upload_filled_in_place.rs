//! An upload can take its bytes in place (`unfilled_mut` then `filled`, as a socket read
//! straight into the upload's buffer does) as well as copied in (`write`), mixed in any
//! order: the object commits with the right digest and content type, reads back
//! byte-identical, and never takes more than its size.

mod common;

use colossus_engine::{CommitSpec, Store, UploadSpec};
use common::{content, run, small_config};

/// Buffer size of `small_config` (64 KiB).
const BUFFER_BYTES: usize = 64 << 10;

#[test]
fn bytes_filled_in_place_and_copied_make_one_object() {
    let dir = tempfile::tempdir().unwrap();
    run(async {
        let store = Store::open(dir.path(), small_config()).unwrap();
        let writer = store.writer();
        // Sizes within one buffer, across several, and ending mid-buffer; the objects are
        // JSON text (a list of numbers, cut anywhere) so that the sniffed content type shows
        // the first bytes were seen.
        for (id, size) in [
            (1u64, 5000usize),
            (2, 3 * BUFFER_BYTES),
            (3, 7 * BUFFER_BYTES + 123),
        ] {
            let bytes = json_text(id, size);
            let mut upload = writer
                .begin_upload(UploadSpec {
                    id,
                    bag: "dynamic:channel:1",
                    size_bytes: size as u64,
                })
                .unwrap();
            // The first 1000 bytes copied in; then alternately filled in place in pieces of
            // at most 40,000 bytes and copied in pieces of 777 bytes.
            upload.write(&bytes[..1000]).await.unwrap();
            let mut at = 1000;
            let mut in_place = true;
            while at < size {
                if in_place {
                    let room = upload.unfilled_mut();
                    assert!(!room.is_empty());
                    assert!(room.len() <= size - at, "room beyond the object's size");
                    let n = room.len().min(40_000);
                    room[..n].copy_from_slice(&bytes[at..at + n]);
                    upload.filled(n).await.unwrap();
                    at += n;
                } else {
                    let n = (size - at).min(777);
                    upload.write(&bytes[at..at + n]).await.unwrap();
                    at += n;
                }
                in_place = !in_place;
            }
            assert_eq!(upload.remaining_bytes(), 0);
            assert!(
                upload.unfilled_mut().is_empty(),
                "no room once the object is whole"
            );
            let meta = upload
                .commit(CommitSpec {
                    expected_digest: Some(*blake3::hash(&bytes).as_bytes()),
                    accepted: false,
                })
                .await
                .unwrap_or_else(|e| panic!("{size} bytes: {e}"));
            assert_eq!(meta.size_bytes, size as u64);
            assert_eq!(meta.content_type.mime(), "application/json", "{size} bytes");
            assert_eq!(store.read_to_vec(id).await.unwrap(), bytes, "{size} bytes");
        }
    });
}

/// `size` bytes of a JSON list of numbers that differ per `id`.
fn json_text(id: u64, size: usize) -> Vec<u8> {
    let mut text = b"[".to_vec();
    for byte in content(id, size) {
        if text.len() >= size {
            break;
        }
        text.extend_from_slice(format!("{byte}, ").as_bytes());
    }
    text.truncate(size);
    text
}
