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
//! bound each holds at most two (the one it fills and the one being written).
//!
//! Idle buffers are kept up to `live_max`, and beyond it up to the most the lane had taken at
//! once within the last `burst_kept` (`StoreConfig::write_buffers_burst_kept_ms`, 5 min by
//! default): under 64 uploads at once, buffers freed as one upload ended and allocated again
//! for the next cost the node a tenth of its time in page clearing (docs/BENCHMARKS.md,
//! 2026-11-29 22:30). Once the lane has not needed that many for `burst_kept`, the excess is
//! freed as buffers come back, or by [`WriteBuffers::trim`] when none does.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// Most buffers taken at once lately (at least `live_max`): idle ones are kept while they
    /// and the taken ones number no more.
    peak: Cell<usize>,
    /// When `taken` last reached `peak`.
    peak_at: Cell<Instant>,
    /// How long a peak is remembered.
    burst_kept: Duration,
    totals: Arc<WriteBufferTotals>,
}

impl WriteBuffers {
    /// A lane's buffers of `capacity_bytes`, about `live_max` of them at most (more kept for
    /// `burst_kept` after a burst), counted in `totals` too.
    pub fn new(
        capacity_bytes: usize,
        live_max: usize,
        burst_kept: Duration,
        totals: Arc<WriteBufferTotals>,
    ) -> Rc<Self> {
        Rc::new(Self {
            capacity_bytes,
            live_max,
            idle: RefCell::new(Vec::new()),
            taken: Cell::new(0),
            peak: Cell::new(live_max),
            peak_at: Cell::new(Instant::now()),
            burst_kept,
            totals,
        })
    }

    /// How many buffers, idle and taken together, the lane keeps allocated: its peak, which
    /// falls back to `live_max` (or what is taken now) once it is older than `burst_kept`.
    fn kept_max(&self) -> usize {
        if self.peak.get() > self.live_max && self.peak_at.get().elapsed() >= self.burst_kept {
            self.peak.set(self.live_max.max(self.taken.get()));
            self.peak_at.set(Instant::now());
        }
        self.peak.get()
    }

    /// Whether one more idle buffer is kept (rather than freed). A lane with `live_max` 0
    /// keeps none, ever.
    fn keeps_another_idle(&self, idle: usize) -> bool {
        idle < self.live_max || (self.live_max > 0 && idle + self.taken.get() < self.kept_max())
    }

    /// Frees the idle buffers the lane no longer keeps (a burst's, `burst_kept` after it); for
    /// a lane whose uploads have stopped, so that no buffer comes back to free them on the
    /// way. Call it now and then (the node does, once a second per core).
    pub fn trim(&self) {
        let mut idle = self.idle.borrow_mut();
        while !idle.is_empty() && !self.keeps_another_idle(idle.len() - 1) {
            drop(idle.pop());
            self.totals.idle.fetch_sub(1, Ordering::Relaxed);
        }
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
        let taken = pool.taken.get() + 1;
        pool.taken.set(taken);
        if taken >= pool.peak.get() {
            pool.peak.set(taken);
            pool.peak_at.set(Instant::now());
        }
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
        if self.pool.keeps_another_idle(idle.len()) {
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

    /// A burst is remembered far longer than any of these tests runs.
    const BURST_KEPT: Duration = Duration::from_secs(600);

    #[test]
    fn a_given_buffer_is_taken_again_empty() {
        let pool = WriteBuffers::new(8192, 2, BURST_KEPT, Arc::default());
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
    fn the_lane_is_exhausted_at_live_max_and_keeps_its_recent_peak() {
        let pool = WriteBuffers::new(4096, 2, BURST_KEPT, Arc::default());
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
        assert_eq!(
            pool.idle_count(),
            3,
            "the lane keeps as many as it just needed"
        );
        assert_eq!(pool.taken_count(), 0);
        pool.trim();
        assert_eq!(pool.idle_count(), 3, "a recent peak is not trimmed");
    }

    #[test]
    fn a_burst_older_than_burst_kept_is_freed_by_trim_or_on_the_way_back() {
        let peak_kept = Duration::from_millis(30);
        let totals = Arc::new(WriteBufferTotals::default());
        let pool = WriteBuffers::new(4096, 2, peak_kept, totals.clone());
        let mut lease = pool.lease();
        let taken: Vec<_> = (0..6).map(|_| lease.take()).collect();
        for buffer in taken {
            lease.give(buffer);
        }
        assert_eq!(pool.idle_count(), 6);
        std::thread::sleep(peak_kept * 2);
        pool.trim();
        assert_eq!(
            pool.idle_count(),
            2,
            "back to live_max once the peak is old"
        );
        assert_eq!(
            totals.idle.load(Ordering::Relaxed),
            2,
            "the store's count too"
        );

        // Without a trim, buffers coming back past an old peak are freed.
        let taken: Vec<_> = (0..5).map(|_| lease.take()).collect();
        std::thread::sleep(peak_kept * 2);
        for buffer in taken {
            lease.give(buffer);
        }
        assert_eq!(pool.idle_count(), 2);
        assert_eq!(pool.taken_count(), 0);
    }

    #[test]
    fn a_lane_of_live_max_zero_keeps_nothing() {
        let pool = WriteBuffers::new(4096, 0, BURST_KEPT, Arc::default());
        let mut lease = pool.lease();
        let taken: Vec<_> = (0..3).map(|_| lease.take()).collect();
        for buffer in taken {
            lease.give(buffer);
        }
        assert_eq!(pool.idle_count(), 0);
    }

    #[test]
    fn a_dropped_lease_releases_what_it_held() {
        let totals = Arc::new(WriteBufferTotals::default());
        let pool = WriteBuffers::new(4096, 4, BURST_KEPT, totals.clone());
        let other_lane = WriteBuffers::new(4096, 4, BURST_KEPT, totals.clone());
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
