//! Group commit for one segment on one thread: every commit needs an fdatasync that *started*
//! after its own writes completed; concurrent commits share one. At most one fdatasync runs
//! at a time; callers arriving meanwhile wait for the next, which covers them all.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::{Poll, Waker};

use crate::error::{EngineError, Result};
use crate::segment::Segment;

/// Per-segment, per-thread group commit state.
#[derive(Default)]
pub struct SyncGate {
    started: Cell<u64>,
    finished: Cell<u64>,
    in_flight: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

/// Resets the gate if the future running an fdatasync is dropped: its outcome is unknown, so
/// the waiters must start another.
struct InFlightGuard<'a> {
    gate: &'a SyncGate,
    armed: bool,
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.gate.in_flight.set(false);
            self.gate.wake_all();
        }
    }
}

impl SyncGate {
    fn wake_all(&self) {
        for waker in self.waiters.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    /// Returns once an fdatasync that started after this call began has succeeded. A failed
    /// fdatasync poisons the segment: the kernel may have dropped the dirty pages, so neither
    /// this nor any later write to it can be trusted to be durable.
    pub async fn barrier(&self, segment: &Segment) -> Result<()> {
        let needed = self.started.get() + 1;
        loop {
            if let Some(reason) = &segment.state.lock().poisoned {
                return Err(EngineError::SegmentPoisoned {
                    segment_id: segment.id,
                    reason: reason.clone(),
                });
            }
            if self.finished.get() >= needed {
                return Ok(());
            }
            if !self.in_flight.get() {
                self.in_flight.set(true);
                let this_sync = self.started.get() + 1;
                self.started.set(this_sync);
                let mut guard = InFlightGuard {
                    gate: self,
                    armed: true,
                };
                let outcome = segment.file.sync_data().await;
                guard.armed = false;
                self.in_flight.set(false);
                match outcome {
                    Ok(()) => self.finished.set(self.finished.get().max(this_sync)),
                    Err(error) => {
                        segment.state.lock().poisoned = Some(format!("fdatasync failed: {error}"));
                    }
                }
                self.wake_all();
                continue;
            }
            let mut registered = false;
            poll_fn(|cx| {
                if registered {
                    Poll::Ready(())
                } else {
                    registered = true;
                    self.waiters.borrow_mut().push(cx.waker().clone());
                    Poll::Pending
                }
            })
            .await;
        }
    }
}
