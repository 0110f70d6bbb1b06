//! Acceptances of uploaded objects in the ledger, grouped and off the cores.
//!
//! With auto-accept on, every upload records its acceptance in the ledger journal before it
//! is answered, durably. Done on the core that served the upload, that was one fdatasync per
//! upload under the ledger's lock: it halved the rate of small uploads (16 KiB: 1.6-1.8k/s
//! against 3.6k/s with auto-accept off) and stalled every other connection of the core while
//! it ran. Here one thread takes every acceptance queued while its previous batch was being
//! synced and makes them durable together (one journal write, one fdatasync); the upload's
//! task waits for its answer without blocking the core.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;

use futures_channel::oneshot;

use crate::ledger::{Ledger, LedgerError};

/// Acceptances waiting for the thread before uploads make theirs on their own core, as
/// they did before this thread existed.
pub const ACCEPTANCES_QUEUED_MAX: usize = 4096;

/// Acceptances made durable by one journal write.
const BATCH_MAX: usize = 1024;

struct Pending {
    id: u64,
    answer: oneshot::Sender<Result<(), LedgerError>>,
}

/// The acceptance thread's queue. Dropping it lets the thread finish what is queued and exit.
pub struct AcceptanceThread {
    queue: Option<SyncSender<Pending>>,
    /// For acceptances made on the caller's core (queue full, or no thread).
    ledger: Arc<dyn Ledger>,
}

impl AcceptanceThread {
    /// Starts the thread. If the OS refuses a thread, every acceptance is made on the
    /// caller's core instead.
    pub fn start(ledger: Arc<dyn Ledger>) -> AcceptanceThread {
        let (queue, queued) = mpsc::sync_channel(ACCEPTANCES_QUEUED_MAX);
        let started = std::thread::Builder::new()
            .name("colossus-accept".into())
            .spawn({
                let ledger = ledger.clone();
                move || accept_batches(ledger.as_ref(), queued)
            });
        AcceptanceThread {
            queue: started.ok().map(|_| queue),
            ledger,
        }
    }

    /// Records that object `id` is accepted, durably, like [`Ledger::accept_object`] but
    /// grouped with concurrent acceptances and without blocking the calling core (unless the
    /// queue is full or the thread is gone: then it is done here, the old way).
    pub async fn accept(&self, id: u64) -> Result<(), LedgerError> {
        let Some(queue) = &self.queue else {
            return self.ledger.accept_object(id);
        };
        let (answer, answered) = oneshot::channel();
        if queue.try_send(Pending { id, answer }).is_err() {
            return self.ledger.accept_object(id);
        }
        match answered.await {
            Ok(outcome) => outcome,
            // The batch failed without an answer (a panic): try once more, here.
            Err(oneshot::Canceled) => self.ledger.accept_object(id),
        }
    }
}

fn accept_batches(ledger: &dyn Ledger, queued: Receiver<Pending>) {
    while let Ok(first) = queued.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH_MAX {
            match queued.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let ids: Vec<u64> = batch.iter().map(|pending| pending.id).collect();
        // A panic drops the batch's senders: each waiter then makes its acceptance itself.
        let Ok(answers) =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ledger.accept_objects(&ids)))
        else {
            continue;
        };
        debug_assert_eq!(answers.len(), batch.len());
        for (pending, outcome) in batch.into_iter().zip(answers) {
            // The upload may have gone (its connection closed); the acceptance stands.
            let _ = pending.answer.send(outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::ledger::embedded::EmbeddedLedger;
    use crate::ledger::{DataObject, Mutation};

    #[test]
    fn concurrent_acceptances_are_all_made_durable() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Arc::new(EmbeddedLedger::open(dir.path()).unwrap());
        for id in 0..200u64 {
            ledger
                .apply(Mutation::CreateObject {
                    object: DataObject {
                        id,
                        bag: "dynamic:channel:1".to_owned(),
                        size_bytes: 1,
                        multihash: colossus_engine::multihash::encode(&[id as u8; 32]),
                        accepted: false,
                    },
                })
                .unwrap();
        }
        let thread = Rc::new(AcceptanceThread::start(ledger.clone()));
        let mut runtime = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()
            .unwrap();
        let outcomes: Vec<String> = runtime.block_on(async {
            let tasks: Vec<_> = (0..201u64)
                .map(|id| {
                    let thread = thread.clone();
                    monoio::spawn(async move { format!("{:?}", thread.accept(id).await) })
                })
                .collect();
            let mut outcomes = Vec::new();
            for task in tasks {
                outcomes.push(task.await);
            }
            outcomes
        });
        assert!(
            outcomes[..200].iter().all(|o| o == "Ok(())"),
            "{outcomes:?}"
        );
        assert!(outcomes[200].contains("NotFound"), "{}", outcomes[200]);
        // The thread holds the ledger until it has seen its queue close.
        drop(Rc::into_inner(thread).expect("no task holds the thread any more"));
        while Arc::strong_count(&ledger) > 1 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        drop(ledger);
        let reopened = EmbeddedLedger::open(dir.path()).unwrap();
        for id in 0..200u64 {
            assert!(reopened.data_object(id).unwrap().accepted, "{id}");
        }
    }
}
