//! A connection's I/O, remembering when it last moved a byte, so a watchdog can close
//! connections that stall (idle keep-alive, clients that stop reading or sending).

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use hyper::rt::{Read, ReadBufCursor, Write};
use monoio::net::tcp::stream_poll::TcpStreamPoll;
use monoio_compat::hyper::MonoioIo;

/// When a connection last moved a byte.
#[derive(Clone)]
pub struct Activity(Rc<Cell<Instant>>);

impl Activity {
    /// Starts now.
    pub fn new() -> Self {
        Self(Rc::new(Cell::new(Instant::now())))
    }

    /// When the last byte moved.
    pub fn last(&self) -> Instant {
        self.0.get()
    }

    fn touch(&self) {
        self.0.set(Instant::now());
    }
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

/// The TCP stream as hyper sees it, touching `Activity` on every byte moved.
pub struct TrackedIo {
    inner: MonoioIo<TcpStreamPoll>,
    activity: Activity,
}

impl TrackedIo {
    /// Wraps a poll-mode stream.
    pub fn new(stream: TcpStreamPoll, activity: Activity) -> Self {
        Self {
            inner: MonoioIo::new(stream),
            activity,
        }
    }
}

impl Read for TrackedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let outcome = Pin::new(&mut this.inner).poll_read(cx, buf);
        if outcome.is_ready() {
            this.activity.touch();
        }
        outcome
    }
}

impl Write for TrackedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let outcome = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(outcome, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        outcome
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let outcome = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(outcome, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        outcome
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
