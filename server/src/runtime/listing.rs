//! A thread of its own for id listings. The first listing after a start walks the whole
//! index (0.2-0.9 s with a million objects), and a later one still copies and encodes
//! megabytes (20-40 ms). Run on a core, either would stall every connection of that core for
//! as long; here the core's task waits on a channel and the core goes on serving.
//!
//! One thread, so listings never run two at a time, and a bounded queue: a node flooded
//! with listing requests answers the excess with 503 instead of queueing without end.

use std::sync::mpsc::{self, SyncSender, TrySendError};

use futures_channel::oneshot;

/// Listings queued behind the one running before new ones are refused.
pub const LISTING_QUEUE_MAX: usize = 64;

type Job = Box<dyn FnOnce() + Send>;

/// Why a listing did not run.
#[derive(Debug, thiserror::Error)]
pub enum ListingError {
    /// The queue holds [`LISTING_QUEUE_MAX`] listings already.
    #[error("{LISTING_QUEUE_MAX} id listings are queued already; try again shortly")]
    QueueFull,
    /// The listing thread could not be started.
    #[error("the id listing thread is not running")]
    Stopped,
    /// The listing failed (it panicked) before it answered.
    #[error("the id listing failed; see the node's log")]
    Failed,
}

/// The listing thread's queue. Dropping it lets the thread finish the queued listings and
/// exit.
pub struct ListingThread {
    jobs: Option<SyncSender<Job>>,
}

impl ListingThread {
    /// Starts the thread. If the OS refuses a thread, listings answer [`ListingError::Stopped`]
    /// (the rest of the node works without it).
    pub fn start() -> ListingThread {
        let (jobs, queue) = mpsc::sync_channel::<Job>(LISTING_QUEUE_MAX);
        let started = std::thread::Builder::new()
            .name("colossus-listing".into())
            .spawn(move || {
                for job in queue {
                    // A listing that panics answers nobody (its asker gets `Failed`); the
                    // thread goes on with the next.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            });
        ListingThread {
            jobs: started.ok().map(|_| jobs),
        }
    }

    /// Runs `work` on the listing thread and waits for its answer without blocking the
    /// calling core.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ListingError> {
        let jobs = self.jobs.as_ref().ok_or(ListingError::Stopped)?;
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move || {
            // The asker may have gone (its connection closed); then nobody wants the answer.
            let _ = answer.send(work());
        });
        jobs.try_send(job).map_err(|error| match error {
            TrySendError::Full(_) => ListingError::QueueFull,
            TrySendError::Disconnected(_) => ListingError::Stopped,
        })?;
        answered.await.map_err(|_| ListingError::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn runs_work_off_the_calling_thread() {
        let listing = ListingThread::start();
        let caller = std::thread::current().id();
        let ran_on = block_on(listing.run(|| std::thread::current().id())).unwrap();
        assert_ne!(ran_on, caller);
        let answers: Vec<u32> = block_on(async {
            let mut answers = Vec::new();
            for i in 0..5 {
                answers.push(listing.run(move || i * 2).await.unwrap());
            }
            answers
        });
        assert_eq!(answers, [0, 2, 4, 6, 8]);
    }

    #[test]
    fn a_full_queue_is_refused_and_a_panic_fails_only_its_listing() {
        let listing = ListingThread::start();
        let (release, released) = mpsc::channel::<()>();
        let (running, is_running) = mpsc::channel::<()>();
        let queue = listing.jobs.as_ref().unwrap();
        // One job blocks the thread; the queue then fills, and one more listing is refused.
        // The queue is filled only once the thread is inside that job: were it still queued,
        // the thread taking it would free a slot for the listing that must be refused, and
        // that listing would then wait behind the blocked job for ever.
        queue
            .try_send(Box::new(move || {
                running.send(()).unwrap();
                released.recv().unwrap()
            }))
            .unwrap();
        is_running.recv().unwrap();
        let mut queued = 0;
        while queue.try_send(Box::new(|| {})).is_ok() {
            queued += 1;
        }
        assert_eq!(queued, LISTING_QUEUE_MAX);
        block_on(async {
            match listing.run(|| ()).await {
                Err(ListingError::QueueFull) => {}
                other => panic!("expected a full queue, got {other:?}"),
            }
            release.send(()).unwrap();
            // The queue drains once the blocking job returns.
            let answer = loop {
                match listing.run(|| 3).await {
                    Err(ListingError::QueueFull) => std::thread::yield_now(),
                    other => break other,
                }
            };
            assert_eq!(answer.unwrap(), 3);
            // A listing that panics fails alone; the next one runs.
            assert!(matches!(
                listing.run(|| panic!("listing failed")).await,
                Err(ListingError::Failed)
            ));
            assert_eq!(listing.run(|| 7).await.unwrap(), 7);
        });
    }
}
