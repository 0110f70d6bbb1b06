//! The current table of a shard, as readers find it: one plain load, no atomic
//! read-modify-write. A lookup that took a reference count (or an `arc_swap` guard) paid a
//! `lock`-prefixed instruction per lookup, and on x86 such an instruction waits for every
//! earlier load to finish: the memory misses of consecutive lookups could no longer overlap,
//! which is most of what a lookup costs with a 256 MiB index.
//!
//! The price: a table that is replaced (the shard grew) stays allocated and mapped until the
//! shard is dropped, since a reader may still be probing it and nothing counts readers. Each
//! growth doubles the table, so the retired tables of a shard add up to less than its current
//! one; their pages are clean (flushed before the swap) and the kernel may reclaim them.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, Ordering};

use parking_lot::Mutex;

/// Holds every table a shard has published; hands out the newest.
pub struct Published<T> {
    current: AtomicPtr<T>,
    /// Owns every table ever published, the current one last. Only grows.
    owned: Mutex<Vec<Box<T>>>,
}

impl<T> Published<T> {
    /// Publishes `first`.
    pub fn new(first: T) -> Self {
        let mut boxed = Box::new(first);
        let current = AtomicPtr::new(&mut *boxed as *mut T);
        Self {
            current,
            owned: Mutex::new(vec![boxed]),
        }
    }

    /// The newest table.
    #[inline]
    pub fn get(&self) -> &T {
        let ptr = self.current.load(Ordering::Acquire);
        debug_assert!(NonNull::new(ptr).is_some());
        // SAFETY: `ptr` points into a Box held in `owned`, which never drops or moves a Box
        // (it only grows) until `self` is dropped; the returned reference borrows `self`, so it
        // cannot outlive the Box. The Acquire load pairs with the Release store in `replace`,
        // so the table's contents written before publication are visible here.
        unsafe { &*ptr }
    }

    /// Makes `next` the newest table. Readers that already hold the previous one finish on it;
    /// it stays allocated until `self` is dropped.
    pub fn replace(&self, next: T) {
        let mut owned = self.owned.lock();
        let mut boxed = Box::new(next);
        let ptr = &mut *boxed as *mut T;
        owned.push(boxed);
        self.current.store(ptr, Ordering::Release);
    }

    /// Tables published so far (the current one included).
    #[cfg(test)]
    fn generations(&self) -> usize {
        self.owned.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_returns_the_newest_and_old_references_stay_valid() {
        let published = Published::new(vec![1u8; 16]);
        let old = published.get();
        published.replace(vec![2u8; 32]);
        assert_eq!(published.get(), &vec![2u8; 32]);
        // The first table is still alive and unchanged for a reader that held it.
        assert_eq!(old, &vec![1u8; 16]);
        assert_eq!(published.generations(), 2);
    }

    #[test]
    fn readers_on_other_threads_see_whole_tables() {
        let published = Published::new(vec![0u64; 64]);
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    for _ in 0..10_000 {
                        let table = published.get();
                        let first = table[0];
                        assert!(table.iter().all(|&v| v == first), "a torn table");
                    }
                });
            }
            for generation in 1..50u64 {
                published.replace(vec![generation; 64]);
            }
        });
        assert_eq!(published.get()[0], 49);
    }
}
