//! Threads that sum upload buffers (blake3 subtree + chunk crcs, see `payload_sums`) so a
//! core that receives an upload does not also spend about half of its time hashing it. A
//! buffer is offered to the pool only when no other buffer is waiting for a thread (so it
//! waits at most for one buffer's hashing); when one is, every thread is busy and the core
//! sums the buffer itself. One big upload on an otherwise quiet node so gets a second CPU;
//! on a loaded node the cores keep hashing whatever the threads cannot take at once.

use std::sync::Arc;
use std::thread::JoinHandle;

use futures_channel::oneshot;
use parking_lot::Mutex;

use crate::aligned_buf::AlignedBuf;
use crate::payload_sums::{sum_buffer, BufferSums};

/// Most hashing threads a store starts.
pub const HASH_THREADS_MAX: usize = 64;

struct Job {
    buffer: Arc<AlignedBuf>,
    object_offset: u64,
    chunk_size: u32,
    answer: oneshot::Sender<BufferSums>,
}

/// The hashing threads of one store; they stop when it is dropped.
pub struct HashPool {
    queue: Option<crossbeam_channel::Sender<Job>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    thread_count: usize,
}

/// A buffer's sums, computed by the pool.
pub type PendingSums = oneshot::Receiver<BufferSums>;

impl HashPool {
    /// Starts `thread_count` threads (1..=[`HASH_THREADS_MAX`]).
    pub fn start(thread_count: usize) -> std::io::Result<Self> {
        assert!((1..=HASH_THREADS_MAX).contains(&thread_count));
        // As many jobs waiting as threads: a buffer is only offered while one would be
        // taken right away (see `offer`), so the queue never needs to be longer.
        let (queue, jobs) = crossbeam_channel::bounded::<Job>(thread_count);
        let mut threads = Vec::with_capacity(thread_count);
        for i in 0..thread_count {
            let jobs = jobs.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("colossus-hash-{i}"))
                    .spawn(move || {
                        for job in jobs {
                            let sums = sum_buffer(
                                job.buffer.as_slice(),
                                job.object_offset,
                                job.chunk_size,
                            );
                            // The buffer is free for reuse once its sums are in.
                            drop(job.buffer);
                            // The upload may be gone (aborted); its sums are then unwanted.
                            let _ = job.answer.send(sums);
                        }
                    })?,
            );
        }
        Ok(Self {
            queue: Some(queue),
            threads: Mutex::new(threads),
            thread_count,
        })
    }

    /// Hands `buffer` (starting `object_offset` bytes into its object) to the threads, or
    /// gives None when a buffer is already waiting for one (every thread has work): the
    /// caller then sums it itself.
    pub fn offer(
        &self,
        buffer: &Arc<AlignedBuf>,
        object_offset: u64,
        chunk_size: u32,
    ) -> Option<PendingSums> {
        let queue = self.queue.as_ref()?;
        // Jobs waiting are jobs no thread has taken yet: all of them are busy.
        if !queue.is_empty() {
            return None;
        }
        let (answer, answered) = oneshot::channel();
        let job = Job {
            buffer: buffer.clone(),
            object_offset,
            chunk_size,
            answer,
        };
        queue.try_send(job).ok().map(|()| answered)
    }

    /// Threads in the pool.
    pub fn thread_count(&self) -> usize {
        self.thread_count
    }
}

impl Drop for HashPool {
    fn drop(&mut self) {
        // Closing the queue ends each thread's loop once the jobs taken are done.
        self.queue = None;
        for thread in self.threads.lock().drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(len: usize, byte: u8) -> Arc<AlignedBuf> {
        let mut buffer = AlignedBuf::with_capacity(len);
        buffer.extend_from_slice(&vec![byte; len]);
        Arc::new(buffer)
    }

    #[test]
    fn pool_sums_equal_sums_here_and_release_the_buffer() {
        let pool = HashPool::start(2).expect("start pool");
        let buffer = filled(64 << 10, 7);
        let pending = pool
            .offer(&buffer, 1 << 20, 16 << 10)
            .expect("an idle pool takes the buffer");
        let sums = wait_answer(pending).expect("answered");
        assert_eq!(sums, sum_buffer(buffer.as_slice(), 1 << 20, 16 << 10));
        assert_eq!(
            Arc::strong_count(&buffer),
            1,
            "the pool let go of the buffer"
        );
    }

    #[test]
    fn busy_pool_declines() {
        let pool = HashPool::start(1).expect("start pool");
        let buffer = filled(8 << 20, 1);
        let mut pending = Vec::new();
        let mut declined = 0;
        // One thread: at most one job running and one waiting; the rest are declined.
        for _ in 0..16 {
            match pool.offer(&buffer, 8 << 20, 4096) {
                Some(p) => pending.push(p),
                None => declined += 1,
            }
        }
        assert!(declined >= 1, "a busy pool must decline");
        assert!(!pending.is_empty(), "an idle pool takes the first buffer");
        for p in pending {
            assert!(wait_answer(p).is_ok());
        }
    }

    /// Waits for a oneshot answer from a plain thread (the pool answers across threads).
    fn wait_answer(mut pending: PendingSums) -> Result<BufferSums, oneshot::Canceled> {
        loop {
            match pending.try_recv() {
                Ok(Some(sums)) => return Ok(sums),
                Ok(None) => std::thread::sleep(std::time::Duration::from_millis(1)),
                Err(canceled) => return Err(canceled),
            }
        }
    }
}
