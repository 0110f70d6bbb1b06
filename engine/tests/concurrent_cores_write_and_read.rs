//! Several cores at once: each thread runs its own monoio runtime with its own writer lane and
//! uploads objects from many concurrent tasks, while reader threads look objects up and read
//! them the whole time. Every read returns the right bytes or "not found yet"; afterwards
//! every object reads back from every thread.

mod common;

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use colossus_engine::{EngineError, Store};
use common::{content, put, run, small_config};

const THREADS: u64 = 3;
const TASKS_PER_THREAD: u64 = 16;
const OBJECTS_PER_TASK: u64 = 12;

fn id_of(thread: u64, task: u64, n: u64) -> u64 {
    thread * 1_000_000 + task * 1_000 + n
}

fn size_of(id: u64) -> usize {
    (id as usize * 2654435761) % 150_000
}

#[test]
fn writers_on_every_core_and_readers_alongside() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), small_config()).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reads_checked = Arc::new(AtomicU64::new(0));

    let readers: Vec<_> = (0..2)
        .map(|r| {
            let store = store.clone();
            let done = done.clone();
            let reads_checked = reads_checked.clone();
            std::thread::spawn(move || {
                run(async move {
                    let mut n: u64 = r;
                    while !done.load(Ordering::Acquire) {
                        n = n
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let id = id_of(
                            n % THREADS,
                            (n >> 8) % TASKS_PER_THREAD,
                            (n >> 16) % OBJECTS_PER_TASK,
                        );
                        match store.read_to_vec(id).await {
                            Ok(bytes) => {
                                assert!(
                                    bytes == content(id, size_of(id)),
                                    "object {id} read back wrong"
                                );
                                reads_checked.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(EngineError::NotFound { .. }) => {}
                            Err(other) => panic!("read of {id} failed: {other}"),
                        }
                    }
                })
            })
        })
        .collect();

    let writers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let store = store.clone();
            std::thread::spawn(move || {
                run(async move {
                    let writer = Rc::new(store.writer());
                    let tasks: Vec<_> = (0..TASKS_PER_THREAD)
                        .map(|task| {
                            let writer = writer.clone();
                            monoio::spawn(async move {
                                for n in 0..OBJECTS_PER_TASK {
                                    let id = id_of(thread, task, n);
                                    put(
                                        &writer,
                                        id,
                                        "dynamic:channel:9",
                                        &content(id, size_of(id)),
                                        8_000,
                                    )
                                    .await
                                    .unwrap();
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await;
                    }
                })
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer thread");
    }
    done.store(true, Ordering::Release);
    for reader in readers {
        reader.join().expect("reader thread");
    }
    let total = THREADS * TASKS_PER_THREAD * OBJECTS_PER_TASK;
    assert_eq!(store.stats().objects, total);
    assert_eq!(store.list_ids().len() as u64, total);
    assert!(
        reads_checked.load(Ordering::Relaxed) > 0,
        "readers saw no object at all"
    );
    // Every object reads back from a thread that wrote none of them.
    std::thread::spawn(move || {
        run(async move {
            for thread in 0..THREADS {
                for task in 0..TASKS_PER_THREAD {
                    for n in 0..OBJECTS_PER_TASK {
                        let id = id_of(thread, task, n);
                        assert!(store.read_to_vec(id).await.unwrap() == content(id, size_of(id)));
                    }
                }
            }
            store.close().unwrap();
        })
    })
    .join()
    .unwrap();
}
