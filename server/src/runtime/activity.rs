//! A connection's I/O, remembering when it last moved a byte, so a watchdog can close
//! connections that stall (idle keep-alive, clients that stop reading or sending).
//!
//! Writes of bytes that lie in one of the engine's pinned windows go out with sendfile from
//! the segment file instead: the window is a locked mapping of those very page-cache pages,
//! so the file range holds the same bytes, and the kernel sends them without copying them
//! through user memory. When the socket is full, the ordinary write path registers the wait
//! (and would send the same bytes by copying them, should the socket have room by then).

use std::cell::Cell;
use std::io;
use std::os::unix::io::{AsRawFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use hyper::rt::{Read, ReadBufCursor, Write};
use monoio::io::poll_io::{AsyncRead as _, AsyncWrite as _, ReadBuf};
use monoio::net::tcp::stream_poll::TcpStreamPoll;
use monoio_compat::hyper::MonoioIo;

/// When a connection last moved a byte, and whether its last write found the socket full.
#[derive(Clone)]
pub struct Activity(Rc<ActivityState>);

struct ActivityState {
    last: Cell<Instant>,
    write_blocked: Cell<bool>,
}

impl Activity {
    /// Starts now.
    pub fn new() -> Self {
        Self(Rc::new(ActivityState {
            last: Cell::new(Instant::now()),
            write_blocked: Cell::new(false),
        }))
    }

    /// When the last byte moved.
    pub fn last(&self) -> Instant {
        self.0.last.get()
    }

    /// Whether the last write attempt found the socket full: hyper then still holds bytes
    /// it could not send.
    pub fn write_blocked(&self) -> bool {
        self.0.write_blocked.get()
    }

    fn touch(&self) {
        self.0.last.set(Instant::now());
    }

    fn wrote<T>(&self, outcome: &Poll<io::Result<T>>) {
        self.0.write_blocked.set(outcome.is_pending());
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
    socket: RawFd,
    activity: Activity,
    /// Bytes read from the socket earlier (by a previous hyper connection on it) that come
    /// before anything still in the socket.
    carried: Bytes,
}

/// Slices shorter than this are copied even when pinned: for them a copy costs less than
/// sendfile's page splicing. Longer ones go with sendfile, their head ahead of them flagged
/// MSG_MORE (see `send_more`). With 64 KiB objects at 64 connections, side by side: copied
/// (the threshold at 128 KiB) 20.9-23.4k GETs/s; sent with sendfile after a MSG_MORE head
/// 23.4-25.6k/s. Without MSG_MORE the head went out as a segment of its own and sendfile
/// lost (16-19k/s against 19-20k copied). Where below 64 KiB the two cross was not
/// measured; 16 KiB is a guess.
const SENDFILE_MIN_BYTES: usize = 16 << 10;

/// sendfile moves at most this much per call (Linux: 0x7ffff000).
const SENDFILE_MAX_BYTES: usize = 0x7fff_f000;

impl TrackedIo {
    /// Wraps a poll-mode stream; `carried` is read before the socket.
    pub fn new(stream: TcpStreamPoll, activity: Activity, carried: Bytes) -> Self {
        Self {
            socket: stream.as_raw_fd(),
            inner: MonoioIo::new(stream),
            activity,
            carried,
        }
    }

    /// Reads the next bytes into `buf` (bytes carried in first): how many, 0 at the end of
    /// the stream. For requests read without hyper (see `direct`).
    pub async fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.carried.is_empty() {
            let n = self.carried.len().min(buf.len());
            buf[..n].copy_from_slice(&self.carried.split_to(n));
            return Ok(n);
        }
        let stream: &mut TcpStreamPoll = &mut self.inner;
        let n = std::future::poll_fn(|cx| {
            let mut read = ReadBuf::new(buf);
            Pin::new(&mut *stream)
                .poll_read(cx, &mut read)
                .map_ok(|()| read.filled().len())
        })
        .await?;
        self.activity.touch();
        Ok(n)
    }

    /// Puts `bytes` back in front of whatever is still to be read.
    pub fn unread(&mut self, bytes: Bytes) {
        if self.carried.is_empty() {
            self.carried = bytes;
        } else if !bytes.is_empty() {
            let mut joined = bytes::BytesMut::with_capacity(bytes.len() + self.carried.len());
            joined.extend_from_slice(&bytes);
            joined.extend_from_slice(&self.carried);
            self.carried = joined.freeze();
        }
    }

    /// The bytes carried in and not read yet, taken out.
    pub fn take_carried(&mut self) -> Bytes {
        std::mem::take(&mut self.carried)
    }

    /// Writes all of `bytes`.
    pub async fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let stream: &mut TcpStreamPoll = &mut self.inner;
            let written =
                std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_write(cx, bytes)).await;
            match written? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => {
                    self.activity.touch();
                    bytes = &bytes[n..];
                }
            }
        }
        Ok(())
    }

    /// The stream back, for a connection that hyper has finished with. Bytes carried in
    /// must have been read by then (hyper hands back what it read and did not use).
    pub fn into_stream(self) -> TcpStreamPoll {
        debug_assert!(self.carried.is_empty(), "carried bytes were never read");
        self.inner.inner()
    }

    /// Sends `len` bytes from `source` (a pinned window's file); None when the socket is
    /// full (the caller's ordinary write then registers the wait).
    fn sendfile(
        &self,
        source: &colossus_engine::pinned::FileSource,
        len: usize,
    ) -> Option<io::Result<usize>> {
        let mut offset = libc::off_t::try_from(source.offset).ok()?;
        let count = len.min(SENDFILE_MAX_BYTES);
        // SAFETY: both descriptors are open (the socket by `self.inner`, the file by
        // `source`) and `offset` is a valid out-pointer for the call's duration.
        nonblocking_outcome(unsafe {
            libc::sendfile(self.socket, source.file().as_raw_fd(), &mut offset, count)
        })
    }

    /// Sends the slices that come before a pinned one (the response head) flagged MSG_MORE:
    /// the kernel holds them back to go out in the same segments as the sendfile that
    /// follows, as nginx's TCP_NOPUSH does, instead of a small segment of its own (the
    /// socket has TCP_NODELAY). The sendfile's last piece is sent without the flag, which
    /// pushes everything. None when the socket is full (the ordinary write registers the wait).
    fn send_more(&self, bufs: &[io::IoSlice<'_>]) -> Option<io::Result<usize>> {
        // SAFETY: zeroed is a valid msghdr (no name, no control data).
        let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
        // IoSlice is ABI-compatible with iovec on Unix (std guarantees it); the kernel only
        // reads through the pointer.
        message.msg_iov = bufs.as_ptr().cast_mut().cast::<libc::iovec>();
        message.msg_iovlen = bufs.len().min(libc::UIO_MAXIOV as usize);
        let flags = libc::MSG_MORE | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
        // SAFETY: the socket is open (owned by `self.inner`); `message` and the slices it
        // points to live for the call's duration.
        nonblocking_outcome(unsafe { libc::sendmsg(self.socket, &message, flags) })
    }
}

/// A non-blocking send's return value as the write paths want it: bytes sent, None when the
/// socket is full (the caller's ordinary write then registers the wait), or the error.
fn nonblocking_outcome(sent: isize) -> Option<io::Result<usize>> {
    if sent >= 0 {
        return Some(Ok(sent as usize));
    }
    let error = io::Error::last_os_error();
    match error.kind() {
        io::ErrorKind::WouldBlock => None,
        _ => Some(Err(error)),
    }
}

fn pinned_source(slice: &[u8]) -> Option<colossus_engine::pinned::FileSource> {
    if slice.len() < SENDFILE_MIN_BYTES {
        return None;
    }
    colossus_engine::pinned::file_source(slice.as_ptr(), slice.len())
}

impl Read for TrackedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.carried.is_empty() {
            let mut buf = buf;
            let n = this.carried.len().min(buf.remaining());
            buf.put_slice(&this.carried.split_to(n));
            return Poll::Ready(Ok(()));
        }
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
        let sent = pinned_source(buf).and_then(|source| this.sendfile(&source, buf.len()));
        let outcome = match sent {
            Some(sent) => Poll::Ready(sent),
            None => Pin::new(&mut this.inner).poll_write(cx, buf),
        };
        this.activity.wrote(&outcome);
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
        // A pinned slice first goes out with sendfile; slices before one go out alone first
        // (the response head, usually), so that it comes first next time.
        let pinned = bufs
            .iter()
            .enumerate()
            .find_map(|(at, b)| Some((at, pinned_source(b)?)));
        let outcome = match pinned {
            Some((0, source)) => match this.sendfile(&source, bufs[0].len()) {
                Some(sent) => Poll::Ready(sent),
                None => Pin::new(&mut this.inner).poll_write_vectored(cx, &bufs[..1]),
            },
            Some((at, _)) => match this.send_more(&bufs[..at]) {
                Some(sent) => Poll::Ready(sent),
                None => Pin::new(&mut this.inner).poll_write_vectored(cx, &bufs[..at]),
            },
            None => Pin::new(&mut this.inner).poll_write_vectored(cx, bufs),
        };
        this.activity.wrote(&outcome);
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
