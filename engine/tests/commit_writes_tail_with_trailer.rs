//! How a commit reaches the disk: the end of the payload that is still buffered goes out in
//! the same write as the trailer. An object that fits one write buffer is then exactly two
//! writes (its head at reservation, payload and trailer at commit); a larger one ends with its
//! last partial buffer and the trailer together. Every write is recorded through the engine's
//! `Disk` trait on the real files, and every object reads back intact, after a reopen too.
//! A file that offers no O_DIRECT handle gets buffered writes even with direct writes on.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use colossus_engine::record::{chunk_count, trailer_len, BLOCK_LEN};
use colossus_engine::segment::SEGMENTS_DIR;
use colossus_engine::{Store, StoreConfig, Writer};
use common::interposed_disk::{Interpose, InterposedDisk};
use common::{content, put, run};

/// (offset, length) of every write to a segment file, in the order issued.
type WriteLog = Arc<Mutex<Vec<(u64, usize)>>>;

struct RecordSegmentWrites {
    writes: WriteLog,
}

impl Interpose for RecordSegmentWrites {
    fn on_write(&self, path: &Path, pos: u64, len: usize) {
        if path.parent().is_some_and(|p| p.ends_with(SEGMENTS_DIR)) {
            self.writes.lock().unwrap().push((pos, len));
        }
    }
}

const BUFFER_BYTES: usize = 64 << 10;
const CHUNK_BYTES: u32 = 16 << 10;

fn config() -> StoreConfig {
    StoreConfig {
        chunk_size_bytes: CHUNK_BYTES,
        write_buffer_bytes: BUFFER_BYTES,
        ..StoreConfig::default()
    }
}

fn trailer_bytes(size: usize) -> usize {
    trailer_len(chunk_count(size as u64, CHUNK_BYTES)) as usize
}

fn padded(size: usize) -> usize {
    size.div_ceil(BLOCK_LEN as usize) * BLOCK_LEN as usize
}

/// Puts object `id` of `size` bytes (in 10,000-byte pieces) and returns the segment writes it
/// made, offsets relative to its record's start.
fn writes_of(writer: &Writer, log: &WriteLog, id: u64, size: usize) -> Vec<(u64, usize)> {
    log.lock().unwrap().clear();
    run(async {
        put(writer, id, "dynamic:channel:1", &content(id, size), 10_000)
            .await
            .unwrap();
    });
    let writes = std::mem::take(&mut *log.lock().unwrap());
    let start = writes.first().expect("a head write").0;
    writes
        .iter()
        .map(|&(pos, len)| (pos - start, len))
        .collect()
}

#[test]
fn the_buffered_tail_and_the_trailer_are_one_write() {
    let dir = tempfile::tempdir().unwrap();
    let log = WriteLog::default();
    let disk = Arc::new(InterposedDisk {
        hooks: Arc::new(RecordSegmentWrites {
            writes: log.clone(),
        }),
    });
    let store = Store::open_with_disk(dir.path(), config(), disk).unwrap();
    // One writer lane, one segment: make it exist first, so the segment's header write is not
    // in the first object's log.
    let writer = store.writer();
    writes_of(&writer, &log, 1, 1);
    let block = BLOCK_LEN;

    // Fits one buffer: the head, then payload (padded to its last block) and trailer at once.
    for (id, size) in [(10, 1), (11, 4096), (12, 50_000), (13, BUFFER_BYTES)] {
        assert_eq!(
            writes_of(&writer, &log, id, size),
            vec![
                (0, block as usize),
                (block, padded(size) + trailer_bytes(size))
            ],
            "object of {size} bytes"
        );
    }
    // An empty object has no payload to carry: head, then the trailer alone.
    assert_eq!(
        writes_of(&writer, &log, 14, 0),
        vec![(0, block as usize), (block, trailer_bytes(0))]
    );
    // Three buffers: two full ones go out as they fill, the third with the trailer.
    let size = 2 * BUFFER_BYTES + 5000;
    let buffer = BUFFER_BYTES as u64;
    assert_eq!(
        writes_of(&writer, &log, 15, size),
        vec![
            (0, block as usize),
            (block, BUFFER_BYTES),
            (block + buffer, BUFFER_BYTES),
            (block + 2 * buffer, padded(5000) + trailer_bytes(size)),
        ]
    );

    let check = |store: &Store| {
        run(async {
            for (id, size) in [(10, 1), (11, 4096), (12, 50_000), (13, BUFFER_BYTES)]
                .into_iter()
                .chain([(14, 0), (15, size)])
            {
                assert_eq!(
                    store.read_to_vec(id).await.unwrap(),
                    content(id, size),
                    "object {id}"
                );
            }
        })
    };
    check(&store);
    // The interposed file offers no O_DIRECT handle (as a file system that refuses direct I/O
    // would not): with direct writes configured, its segment was written through the trait,
    // buffered, and counted so.
    let paths = store.write_path_stats();
    assert!(paths.direct_configured, "{paths:?}");
    assert_eq!(
        (paths.direct_segments, paths.buffered_segments),
        (0, 1),
        "{paths:?}"
    );
    drop(writer);
    store.close().unwrap();
    let reopened = Store::open(dir.path(), config()).unwrap();
    check(&reopened);
    let rebuilt = {
        reopened.close().unwrap();
        Store::open_rebuilding_index(dir.path(), config()).unwrap()
    };
    assert!(rebuilt.open_report().damaged.is_empty());
    check(&rebuilt);
}
