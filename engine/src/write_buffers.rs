//! The payload buffers of one lane (a core's [`Writer`](crate::Writer)), shared by its
//! uploads and handed from upload to upload. A fresh buffer costs page faults and the
//! kernel zeroing every page of it, and a huge-page buffer may cost the kernel compacting
//! memory to find 2 MiB free: with 64 uploads of 16 MiB at once, allocating per upload made
//! huge-page buffers slower than small pages (docs/BENCHMARKS.md). Reused, a buffer is
//! faulted in once.
//!
//! The lane's buffers are bounded. Past `live_max`, an upload that has writes in flight
//! waits for them and reuses a written buffer instead of taking a new one, so many uploads
//! at once share the memory instead of each holding `writes_in_flight_max + 1` buffers. An
//! upload always gets the buffer it needs to go on, so every upload progresses: past the
//! bound each holds at most two (the one it fills and the one being written). At most
//! `live_max` idle buffers stay allocated between uploads.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::aligned_buf::AlignedBuf;

/// The buffers of every lane of a store, counted for its stats.
#[derive(Debug, Default)]
pub struct WriteBufferTotals {
    /// Buffers taken by uploads, all lanes.
    pub taken: AtomicU64,
    /// Buffers idle, all lanes.
    pub idle: AtomicU64,
}

/// The buffers of one lane, all of one size.
pub struct WriteBuffers {
    capacity_bytes: usize,
    live_max: usize,
    idle: RefCell<Vec<AlignedBuf>>,
    /// Buffers taken by uploads and not given back (nor dropped with their upload).
    taken: Cell<usize>,
    totals: Arc<WriteBufferTotals>,
}

impl WriteBuffers {
    /// A lane's buffers of `capacity_bytes`, about `live_max` of them at most, counted in
    /// `totals` too.
    pub fn new(capacity_bytes: usize, live_max: usize, totals: Arc<WriteBufferTotals>) -> Rc<Self> {
        Rc::new(Self {
            capacity_bytes,
            live_max,
            idle: RefCell::new(Vec::new()),
            taken: Cell::new(0),
            totals,
        })
    }

    /// A lease for one upload, through which it takes and gives back buffers.
    pub fn lease(self: &Rc<Self>) -> BufferLease {
        BufferLease {
            pool: self.clone(),
            held: 0,
        }
    }

    /// Whether the lane holds as many buffers as it should: no idle one, and `live_max`
    /// taken.
    fn exhausted(&self) -> bool {
        self.idle.borrow().is_empty() && self.taken.get() >= self.live_max
    }

    /// Buffers idle in the lane.
    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.idle.borrow().len()
    }

    /// Buffers taken by uploads.
    #[cfg(test)]
    fn taken_count(&self) -> usize {
        self.taken.get()
    }
}

/// One upload's share of its lane's buffers. Dropping it (with the upload) counts the buffers
/// it still held as gone; they are freed wherever their last user drops them.
pub struct BufferLease {
    pool: Rc<WriteBuffers>,
    held: usize,
}

impl BufferLease {
    /// Size of the lane's buffers.
    pub fn capacity_bytes(&self) -> usize {
        self.pool.capacity_bytes
    }

    /// An empty buffer: an idle one if there is one, else a new one.
    pub fn take(&mut self) -> AlignedBuf {
        let pool = &self.pool;
        let idle = pool.idle.borrow_mut().pop();
        let buffer = match idle {
            Some(buffer) => {
                pool.totals.idle.fetch_sub(1, Ordering::Relaxed);
                buffer
            }
            None => AlignedBuf::with_capacity(pool.capacity_bytes),
        };
        pool.taken.set(pool.taken.get() + 1);
        pool.totals.taken.fetch_add(1, Ordering::Relaxed);
        self.held += 1;
        buffer
    }

    /// Gives back a buffer taken from this lease, once nothing else uses it.
    pub fn give(&mut self, mut buffer: AlignedBuf) {
        debug_assert!(self.held > 0, "a buffer given back that was not taken");
        debug_assert_eq!(buffer.capacity(), self.pool.capacity_bytes);
        self.release(1);
        let mut idle = self.pool.idle.borrow_mut();
        if idle.len() < self.pool.live_max {
            buffer.clear();
            idle.push(buffer);
            self.pool.totals.idle.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a buffer taken from this lease as gone without giving it back (its last user
    /// frees it).
    pub fn forget(&mut self) {
        self.release(1);
    }

    /// Whether an upload with a write in flight should wait for it and reuse its buffer rather
    /// than take another.
    pub fn should_reuse(&self) -> bool {
        self.pool.exhausted()
    }

    fn release(&mut self, count: usize) {
        self.held -= count;
        self.pool.taken.set(self.pool.taken.get() - count);
        self.pool
            .totals
            .taken
            .fetch_sub(count as u64, Ordering::Relaxed);
    }
}

impl Drop for BufferLease {
    fn drop(&mut self) {
        self.release(self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_is_taken_again_empty() {
        let pool = WriteBuffers::new(8192, 2, Arc::default());
        let mut lease = pool.lease();
        let mut buffer = lease.take();
        buffer.extend_from_slice(&[1; 100]);
        let at = buffer.as_slice().as_ptr();
        lease.give(buffer);
        let again = lease.take();
        assert_eq!(again.as_slice().as_ptr(), at, "the same memory comes back");
        assert!(again.is_empty());
        assert_eq!(again.capacity(), 8192);
    }

    #[test]
    fn the_lane_is_exhausted_at_live_max_and_keeps_at_most_live_max_idle() {
        let pool = WriteBuffers::new(4096, 2, Arc::default());
        let mut a = pool.lease();
        let mut b = pool.lease();
        let first = a.take();
        assert!(!a.should_reuse());
        let second = b.take();
        assert!(a.should_reuse() && b.should_reuse());
        // Past the bound a buffer is still given (an upload with nothing in flight).
        let third = b.take();
        assert_eq!(pool.taken_count(), 3);
        b.give(second);
        assert!(!a.should_reuse(), "an idle buffer is there to take");
        b.give(third);
        a.give(first);
        assert_eq!(pool.idle_count(), 2, "at most live_max stay idle");
        assert_eq!(pool.taken_count(), 0);
    }

    #[test]
    fn a_dropped_lease_releases_what_it_held() {
        let totals = Arc::new(WriteBufferTotals::default());
        let pool = WriteBuffers::new(4096, 4, totals.clone());
        let other_lane = WriteBuffers::new(4096, 4, totals.clone());
        let mut other_lease = other_lane.lease();
        let buffer = other_lease.take();
        other_lease.give(buffer);
        let mut lease = pool.lease();
        let kept_elsewhere = lease.take();
        let _also = lease.take();
        lease.forget();
        assert_eq!(pool.taken_count(), 1);
        assert_eq!(
            totals.taken.load(Ordering::Relaxed),
            1,
            "the store counts every lane"
        );
        assert_eq!(totals.idle.load(Ordering::Relaxed), 1);
        drop(lease);
        assert_eq!(pool.taken_count(), 0);
        assert_eq!(totals.taken.load(Ordering::Relaxed), 0);
        assert_eq!(pool.idle_count(), 0, "nothing was given back");
        drop(kept_elsewhere);
    }
}
