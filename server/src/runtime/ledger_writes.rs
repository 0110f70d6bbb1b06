//! Ledger journal writes, off the cores: uploads' acceptances, grouped, and admin changes.
//!
//! Every change to the ledger is journaled durably (an fdatasync) before it is answered.
//! Done on the core that took the request, that fdatasync ran under the ledger's lock and
//! stalled every other connection of the core while it ran; for acceptances it was also one
//! fdatasync per upload, which halved the rate of small uploads (16 KiB: 1.6-1.8k/s against
//! 3.6k/s with auto-accept off). Here one thread makes the changes in the order they were
//! queued: the acceptances queued one after another while its previous write was being
//! synced go together (one journal write, one fdatasync), and an admin change is applied on
//! its own. The request's task waits for its answer without blocking the core.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;

use futures_channel::oneshot;

use crate::ledger::embedded::EmbeddedLedger;
use crate::ledger::{Ledger, LedgerError, Mutation};

/// Changes waiting for the thread before requests make theirs on their own core, as they did
/// before this thread existed.
pub const LEDGER_WRITES_QUEUED_MAX: usize = 4096;

/// Acceptances made durable by one journal write.
const BATCH_MAX: usize = 1024;

type Answer = oneshot::Sender<Result<(), LedgerError>>;

/// One queued change.
enum Job {
    Accept {
        id: u64,
        answer: Answer,
    },
    Apply {
        ledger: Arc<EmbeddedLedger>,
        mutation: Mutation,
        answer: Answer,
    },
}

/// The ledger writer thread's queue. Dropping it lets the thread finish what is queued and
/// exit.
pub struct LedgerWrites {
    queue: Option<SyncSender<Job>>,
    /// For changes made on the caller's core (queue full, or no thread).
    ledger: Arc<dyn Ledger>,
}

impl LedgerWrites {
    /// Starts the thread. If the OS refuses a thread, every change is made on the caller's
    /// core instead.
    pub fn start(ledger: Arc<dyn Ledger>) -> LedgerWrites {
        let (queue, queued) = mpsc::sync_channel(LEDGER_WRITES_QUEUED_MAX);
        let started = std::thread::Builder::new()
            .name("colossus-ledger".into())
            .spawn({
                let ledger = ledger.clone();
                move || write_jobs(ledger.as_ref(), queued)
            });
        LedgerWrites {
            queue: started.ok().map(|_| queue),
            ledger,
        }
    }

    /// Records that object `id` is accepted, durably, like [`Ledger::accept_object`] but
    /// grouped with concurrent acceptances and without blocking the calling core (unless the
    /// queue is full or the thread is gone: then it is done here, the old way).
    pub async fn accept(&self, id: u64) -> Result<(), LedgerError> {
        let ledger = self.ledger.clone();
        self.run(
            |answer| Job::Accept { id, answer },
            move || ledger.accept_object(id),
        )
        .await
    }

    /// Applies `mutation` to the embedded `ledger`, durably, like [`EmbeddedLedger::apply`],
    /// without blocking the calling core (unless the queue is full or the thread is gone).
    pub async fn apply(
        &self,
        ledger: Arc<EmbeddedLedger>,
        mutation: Mutation,
    ) -> Result<(), LedgerError> {
        let here = (ledger.clone(), mutation.clone());
        self.run(
            |answer| Job::Apply {
                ledger,
                mutation,
                answer,
            },
            move || here.0.apply(here.1),
        )
        .await
    }

    /// Queues the job made by `job` and waits for its answer, or runs `here` on this core
    /// when it cannot be queued or its batch panicked without answering.
    async fn run(
        &self,
        job: impl FnOnce(Answer) -> Job,
        here: impl FnOnce() -> Result<(), LedgerError>,
    ) -> Result<(), LedgerError> {
        let Some(queue) = &self.queue else {
            return here();
        };
        let (answer, answered) = oneshot::channel();
        if queue.try_send(job(answer)).is_err() {
            return here();
        }
        match answered.await {
            Ok(outcome) => outcome,
            // The job failed without an answer (a panic): try once more, here.
            Err(oneshot::Canceled) => here(),
        }
    }
}

fn write_jobs(ledger: &dyn Ledger, queued: Receiver<Job>) {
    // A job taken from the queue while gathering acceptances, to run after them.
    let mut next: Option<Job> = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match queued.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        match job {
            Job::Apply {
                ledger,
                mutation,
                answer,
            } => {
                // A panic drops the sender: the waiter then applies the change itself.
                if let Ok(outcome) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    ledger.apply(mutation)
                })) {
                    let _ = answer.send(outcome);
                }
            }
            Job::Accept { id, answer } => {
                let mut batch = vec![(id, answer)];
                while batch.len() < BATCH_MAX {
                    match queued.try_recv() {
                        Ok(Job::Accept { id, answer }) => batch.push((id, answer)),
                        // Changes are made in queue order: the acceptances gathered so far
                        // go first.
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                accept_batch(ledger, batch);
            }
        }
    }
}

fn accept_batch(ledger: &dyn Ledger, batch: Vec<(u64, Answer)>) {
    let ids: Vec<u64> = batch.iter().map(|(id, _)| *id).collect();
    // A panic drops the batch's senders: each waiter then makes its acceptance itself.
    let Ok(answers) =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ledger.accept_objects(&ids)))
    else {
        return;
    };
    debug_assert_eq!(answers.len(), batch.len());
    for ((_, answer), outcome) in batch.into_iter().zip(answers) {
        // The request may have gone (its connection closed); the change stands.
        let _ = answer.send(outcome);
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::ledger::embedded::EmbeddedLedger;
    use crate::ledger::{DataObject, Mutation};

    /// Stops the thread, waits until it has let go of the ledger (it holds it until it has
    /// seen its queue close), and opens the ledger again from its journal.
    fn stop_and_reopen(
        writes: Rc<LedgerWrites>,
        ledger: Arc<EmbeddedLedger>,
        dir: &std::path::Path,
    ) -> EmbeddedLedger {
        drop(Rc::into_inner(writes).expect("no task holds the thread any more"));
        while Arc::strong_count(&ledger) > 1 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        drop(ledger);
        EmbeddedLedger::open(dir).unwrap()
    }

    fn object(id: u64) -> DataObject {
        DataObject {
            id,
            bag: "dynamic:channel:1".to_owned(),
            size_bytes: 1,
            multihash: colossus_engine::multihash::encode(&[id as u8; 32]),
            accepted: false,
        }
    }

    /// Runs `jobs` through the thread's loop, queued all at once, on this thread.
    fn run_queued(ledger: &Arc<EmbeddedLedger>, jobs: Vec<Job>) {
        let (queue, queued) = mpsc::sync_channel(jobs.len());
        for job in jobs {
            queue.try_send(job).unwrap();
        }
        drop(queue);
        write_jobs(ledger.as_ref(), queued);
    }

    #[test]
    fn queued_changes_are_made_in_queue_order_and_all_answered() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Arc::new(EmbeddedLedger::open(dir.path()).unwrap());
        let mut answers = Vec::new();
        let mut job = |make: &dyn Fn(Answer) -> Job| {
            let (answer, answered) = oneshot::channel();
            answers.push(answered);
            make(answer)
        };
        let create = |id| Mutation::CreateObject { object: object(id) };
        // An acceptance queued before its object's creation fails; the same acceptance
        // queued after it succeeds. Acceptances gathered into one batch must not overtake
        // the creation queued between them.
        let jobs = vec![
            job(&|answer| Job::Accept { id: 1, answer }),
            job(&|answer| Job::Accept { id: 2, answer }),
            job(&|answer| Job::Apply {
                ledger: ledger.clone(),
                mutation: create(1),
                answer,
            }),
            job(&|answer| Job::Accept { id: 1, answer }),
            job(&|answer| Job::Apply {
                ledger: ledger.clone(),
                mutation: create(1),
                answer,
            }),
        ];
        run_queued(&ledger, jobs);
        let outcomes: Vec<String> = answers
            .into_iter()
            .map(|mut answered| match answered.try_recv() {
                Ok(Some(outcome)) => format!("{outcome:?}"),
                other => panic!("a queued change was not answered: {other:?}"),
            })
            .collect();
        assert!(outcomes[0].contains("NotFound"), "{outcomes:?}");
        assert!(outcomes[1].contains("NotFound"), "{outcomes:?}");
        assert_eq!(outcomes[2], "Ok(())", "{outcomes:?}");
        assert_eq!(outcomes[3], "Ok(())", "{outcomes:?}");
        assert!(outcomes[4].starts_with("Err("), "{outcomes:?}");
        assert!(ledger.data_object(1).expect("created").accepted);
    }

    #[test]
    fn admin_changes_and_acceptances_from_many_tasks_are_all_durable() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Arc::new(EmbeddedLedger::open(dir.path()).unwrap());
        let writes = Rc::new(LedgerWrites::start(ledger.clone()));
        let mut runtime = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()
            .unwrap();
        let outcomes: Vec<(String, String, String)> = runtime.block_on(async {
            // Each task creates its object, accepts it, then tries to create it again (which
            // must fail), its changes queued among the other tasks'.
            let tasks: Vec<_> = (0..100u64)
                .map(|id| {
                    let writes = writes.clone();
                    let ledger = ledger.clone();
                    monoio::spawn(async move {
                        let create = Mutation::CreateObject { object: object(id) };
                        let created = writes.apply(ledger.clone(), create.clone()).await;
                        let accepted = writes.accept(id).await;
                        let again = writes.apply(ledger, create).await;
                        (
                            format!("{created:?}"),
                            format!("{accepted:?}"),
                            format!("{again:?}"),
                        )
                    })
                })
                .collect();
            let mut outcomes = Vec::new();
            for task in tasks {
                outcomes.push(task.await);
            }
            outcomes
        });
        for (id, (created, accepted, again)) in outcomes.iter().enumerate() {
            assert_eq!(created, "Ok(())", "object {id}");
            assert_eq!(accepted, "Ok(())", "object {id}");
            assert!(
                again.starts_with("Err("),
                "object {id} created twice: {again}"
            );
        }
        let reopened = stop_and_reopen(writes, ledger, dir.path());
        for id in 0..100u64 {
            assert!(reopened.data_object(id).expect("created").accepted, "{id}");
        }
    }

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
        let thread = Rc::new(LedgerWrites::start(ledger.clone()));
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
        let reopened = stop_and_reopen(thread, ledger, dir.path());
        for id in 0..200u64 {
            assert!(reopened.data_object(id).unwrap().accepted, "{id}");
        }
    }
}
