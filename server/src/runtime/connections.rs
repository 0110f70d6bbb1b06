//! One core's connections: how many are open, and the local signal that tells each of them
//! the core is shutting down. Everything here is single-threaded (one per core).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

/// Where a core is in its life; only ever moves forward.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Serving.
    #[default]
    Running,
    /// Finish the request in progress, then close.
    ShuttingDown,
    /// The shutdown grace is over: close now, abandoning what is in progress.
    Aborting,
}

#[derive(Default)]
struct Inner {
    open: Cell<usize>,
    phase: Cell<Phase>,
    /// One slot per open connection, holding the waker of its shutdown watch (a slot per
    /// connection keeps registering O(1) with thousands of connections).
    shutdown_wakers: RefCell<Vec<Option<Waker>>>,
    free_slots: RefCell<Vec<usize>>,
    /// The few tasks (the accept loop, the drain) waiting for a connection to close.
    change_wakers: RefCell<Vec<Waker>>,
}

/// The open connections of a core.
#[derive(Clone, Default)]
pub struct Connections(Rc<Inner>);

impl Connections {
    /// Counts a connection until the guard drops.
    pub fn enter(&self) -> ConnectionGuard {
        let inner = &self.0;
        inner.open.set(inner.open.get() + 1);
        let slot = match inner.free_slots.borrow_mut().pop() {
            Some(slot) => slot,
            None => {
                let mut wakers = inner.shutdown_wakers.borrow_mut();
                wakers.push(None);
                wakers.len() - 1
            }
        };
        ConnectionGuard {
            connections: self.clone(),
            slot,
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.0.open.get()
    }

    /// Tells every connection to finish its current request and close.
    pub fn begin_shutdown(&self) {
        self.advance(Phase::ShuttingDown);
    }

    /// Tells every connection to close now.
    pub fn abort(&self) {
        self.advance(Phase::Aborting);
    }

    fn advance(&self, phase: Phase) {
        if self.0.phase.get() < phase {
            self.0.phase.set(phase);
        }
        let wakers: Vec<Waker> = self
            .0
            .shutdown_wakers
            .borrow_mut()
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for waker in wakers {
            waker.wake();
        }
    }

    /// Whether shutdown began.
    pub fn shutting_down(&self) -> bool {
        self.0.phase.get() >= Phase::ShuttingDown
    }

    /// Resolves once fewer than `count` connections are open.
    pub fn below(&self, count: usize) -> Below {
        Below {
            connections: self.clone(),
            count,
        }
    }
}

/// Keeps a connection counted, and watches for shutdown.
pub struct ConnectionGuard {
    connections: Connections,
    slot: usize,
}

impl ConnectionGuard {
    /// Resolves once the core reaches `phase`.
    pub fn reached(&self, phase: Phase) -> PhaseWatch<'_> {
        PhaseWatch { guard: self, phase }
    }

    /// Whether the core's shutdown began.
    pub fn shutting_down(&self) -> bool {
        self.connections.shutting_down()
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let inner = &self.connections.0;
        inner.open.set(inner.open.get() - 1);
        inner.shutdown_wakers.borrow_mut()[self.slot] = None;
        inner.free_slots.borrow_mut().push(self.slot);
        let wakers: Vec<Waker> = inner.change_wakers.borrow_mut().drain(..).collect();
        for waker in wakers {
            waker.wake();
        }
    }
}

/// See [`ConnectionGuard::reached`].
pub struct PhaseWatch<'a> {
    guard: &'a ConnectionGuard,
    phase: Phase,
}

impl Future for PhaseWatch<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let inner = &self.guard.connections.0;
        if inner.phase.get() >= self.phase {
            return Poll::Ready(());
        }
        inner.shutdown_wakers.borrow_mut()[self.guard.slot] = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// See [`Connections::below`].
pub struct Below {
    connections: Connections,
    count: usize,
}

impl Future for Below {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.connections.open() < self.count {
            return Poll::Ready(());
        }
        let mut wakers = self.connections.0.change_wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Node-wide connection counters (every core adds to them), for `GET /admin/connections`.
#[derive(Debug, Default)]
pub struct ConnectionCounters {
    open: AtomicU64,
    waiting: AtomicU64,
    releases: AtomicU64,
}

/// What `ConnectionCounters` show at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionSnapshot {
    /// Connections open now.
    pub open: u64,
    /// Of those, how many wait for a request holding only their socket (fresh connections
    /// and idle keep-alive ones whose HTTP state was released).
    pub waiting: u64,
    /// Times an idle keep-alive connection released its HTTP state since the node started.
    pub releases: u64,
}

impl ConnectionCounters {
    /// Counts one open connection until the mark drops.
    pub fn opened(&self) -> CounterMark<'_> {
        CounterMark::new(&self.open)
    }

    /// Counts one connection as waiting without HTTP state until the mark drops.
    pub fn waiting(&self) -> CounterMark<'_> {
        CounterMark::new(&self.waiting)
    }

    /// Counts one release of an idle connection's HTTP state.
    pub fn released(&self) {
        self.releases.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now (each read on its own; they may be a moment apart).
    pub fn snapshot(&self) -> ConnectionSnapshot {
        ConnectionSnapshot {
            open: self.open.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
            releases: self.releases.load(Ordering::Relaxed),
        }
    }
}

/// Holds one count in a `ConnectionCounters` gauge; dropping it gives the count back.
pub struct CounterMark<'a>(&'a AtomicU64);

impl<'a> CounterMark<'a> {
    fn new(gauge: &'a AtomicU64) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        Self(gauge)
    }
}

impl Drop for CounterMark<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lets other tasks run once.
    async fn yield_once() {
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if yielded {
                Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
        .await;
    }

    #[test]
    fn counts_and_wakes_on_close_and_shutdown() {
        let mut runtime = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .build()
            .unwrap();
        runtime.block_on(async {
            let connections = Connections::default();
            let a = connections.enter();
            let b = connections.enter();
            assert_eq!(connections.open(), 2);
            let waiter = monoio::spawn({
                let c = connections.clone();
                async move { c.below(1).await }
            });
            drop(a);
            yield_once().await;
            assert_eq!(connections.open(), 1);
            drop(b);
            waiter.await;
            let guard = connections.enter();
            let shutdown = monoio::spawn(async move { guard.reached(Phase::ShuttingDown).await });
            yield_once().await;
            connections.begin_shutdown();
            shutdown.await;
            assert!(connections.shutting_down());
        });
    }
}
