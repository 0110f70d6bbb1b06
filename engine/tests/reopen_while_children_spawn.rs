//! Closing a store and opening it again at once works even while another thread of the same
//! process is spawning child processes. A child holds a copy of every descriptor of its
//! parent from its fork until its exec, the store's lock file among them; the test suites do
//! exactly this (mkfs, mount and the node binary are spawned by tests running beside others).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use colossus_engine::Store;
use common::small_config;

/// Close-and-reopen cycles, and the bound on the whole test.
const REOPENS: usize = 300;
const TEST_TIME_MAX: Duration = Duration::from_secs(60);
/// How long a refused reopen is retried before the test gives up on the store.
const REOPEN_WAIT_MAX: Duration = Duration::from_secs(10);

#[test]
fn reopening_right_after_close_is_not_refused_by_spawning_children() {
    let dir = tempfile::tempdir().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let spawner = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut spawned = 0u64;
            while !stop.load(Ordering::Acquire) {
                let status = std::process::Command::new("true")
                    .status()
                    .expect("spawn `true`");
                assert!(status.success());
                spawned += 1;
            }
            spawned
        })
    };
    let started = Instant::now();
    let mut store = Store::open(dir.path(), small_config()).unwrap();
    let mut refused = Vec::new();
    for round in 0..REOPENS {
        if started.elapsed() > TEST_TIME_MAX {
            break;
        }
        store.close().unwrap();
        store = match Store::open(dir.path(), small_config()) {
            Ok(store) => store,
            Err(error) => {
                refused.push(format!("round {round}: {error}"));
                // The lock comes free once the child execs; take it to go on.
                let waited_since = Instant::now();
                loop {
                    match Store::open(dir.path(), small_config()) {
                        Ok(store) => break store,
                        Err(error) if waited_since.elapsed() > REOPEN_WAIT_MAX => {
                            panic!(
                                "round {round}: still refused after {REOPEN_WAIT_MAX:?}: {error}"
                            )
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(1)),
                    }
                }
            }
        };
    }
    stop.store(true, Ordering::Release);
    let spawned = spawner.join().unwrap();
    store.close().unwrap();
    println!("{spawned} children spawned during the reopens");
    assert!(
        spawned > 0,
        "no child was spawned while the store was reopened"
    );
    assert!(
        refused.is_empty(),
        "{} of {REOPENS} reopens refused: {:?}",
        refused.len(),
        &refused[..refused.len().min(5)]
    );
}
