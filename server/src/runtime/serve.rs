//! One connection's life. The start of its first request (and of the first after each
//! release, or after an upload answered there) is read by `direct`, which answers plain
//! uploads itself and hands everything else to hyper with the bytes it read. hyper serves
//! the requests it is given; once the connection has sat idle
//! between requests for `idle_release_ms`, hyper's connection (read and write buffers,
//! parser state: 20-30 KiB with its task) is dropped and the socket waits for its next byte
//! holding nothing else. Thousands of idle keep-alive connections then cost 2-7 KiB each
//! (measured in docs/BENCHMARKS.md, target 7; what the heap gives back varies with
//! fragmentation). A fresh connection waits the same way for its first byte.
//!
//! Releasing is invisible to the client: hyper closes an idle connection on a graceful
//! shutdown without writing anything, hands back the bytes it had read but not parsed (a
//! request head begun and not finished), and those are read again, first, by the next hyper
//! connection on the same socket. A connection that turns out not to be idle (hyper would
//! only stop keeping it alive) is never released: it is served to its end and closed.

use std::cell::Cell;
use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use monoio::net::TcpStream;
use monoio_compat::hyper::MonoioTimer;

use super::activity::{Activity, TrackedIo};
use super::connections::{ConnectionGuard, Phase};
use super::direct::{self, Taken};
use super::{Core, HYPER_HEAD_LIMIT_FACTOR, HYPER_STACK_HEADERS_MAX};
use crate::api::{self, ApiBody};
use crate::config::Limits;

/// Serves `stream` until the client closes it, it times out, or the core stops.
pub async fn serve_connection(core: Rc<Core>, stream: TcpStream, guard: ConnectionGuard) {
    let counters = &core.node.connections;
    let _open = counters.opened();
    // However the connection ends, what it held is freed memory to give back.
    let _freed = FreedOnDrop;
    let limits = &core.node.config.limits;
    // Small responses go out at once instead of waiting on Nagle.
    let _ = stream.set_nodelay(true);
    let activity = Activity::new();
    let mut stream = stream;
    let mut carried = Bytes::new();
    loop {
        if carried.is_empty() {
            let _waiting = counters.waiting();
            if !wait_for_request(&stream, &guard, &activity, limits).await {
                return;
            }
        }
        let Some(polled) = switched(stream.try_into_poll_io(), &core, "connection setup") else {
            return;
        };
        let io = TrackedIo::new(polled, activity.clone(), carried);
        // An upload is answered without hyper (see `direct`); anything else goes to hyper.
        let io = match direct::take_request(&core, io, &guard).await {
            Taken::Hyper(io) => io,
            Taken::Answered(mut io) => {
                carried = io.take_carried();
                let comp = io.into_stream().try_into_comp_io();
                let Some(comp) = switched(comp, &core, "connection release") else {
                    return;
                };
                stream = comp;
                continue;
            }
            Taken::Closed => return,
        };
        let Some(released) = serve_until_idle(&core, io, &guard, &activity).await else {
            return;
        };
        counters.released();
        note_freed();
        let comp = released.io.into_stream().try_into_comp_io();
        let Some(comp) = switched(comp, &core, "connection release") else {
            return;
        };
        stream = comp;
        // A copy: hyper's unused bytes are a view of its whole read buffer, which would
        // otherwise stay allocated (even when the view is empty).
        carried = Bytes::copy_from_slice(&released.read_buf);
    }
}

/// The stream in monoio's other I/O mode (poll-style for hyper, completion-style to wait
/// without buffers); None, said on stderr, when monoio cannot switch it (the connection then
/// closes).
fn switched<T, U>(switch: Result<T, (std::io::Error, U)>, core: &Core, what: &str) -> Option<T> {
    switch
        .map_err(|(e, _)| eprintln!("colossus: core {}: {what} failed: {e}", core.index))
        .ok()
}

thread_local! {
    /// Connections released or closed on this core since its allocator was last trimmed.
    static FREED_SINCE_TRIM: Cell<u64> = const { Cell::new(0) };
}

/// How often a core looks at whether to give freed memory back to the system.
const TRIM_INTERVAL: Duration = Duration::from_secs(1);

/// Connections released or closed since the last trim that make a trim worth its walk over
/// the heap (a few ms with tens of MB; a steady trickle of closes does not need it).
const TRIM_AFTER_FREED: u64 = 64;

fn note_freed() {
    FREED_SINCE_TRIM.with(|n| n.set(n.get() + 1));
}

/// Counts its connection as freed when the connection's task ends.
struct FreedOnDrop;

impl Drop for FreedOnDrop {
    fn drop(&mut self) {
        note_freed();
    }
}

/// Runs for the core's life: once a second, frees the idle upload write buffers the core's
/// lane no longer keeps (the engine keeps a burst's buffers for a while, see
/// `colossus_engine::write_buffers`), and, if many connections were released or closed on
/// this core, asks the allocator to return free pages to the system. The buffers of
/// thousands of connections are freed in between the small allocations that outlive them,
/// so without this the freed memory stays resident (glibc trims only the top of the heap by
/// itself). Ends once the core is gone.
pub async fn trim_released_memory(core: Weak<Core>) {
    loop {
        monoio::time::sleep(TRIM_INTERVAL).await;
        let Some(core) = core.upgrade() else {
            return;
        };
        core.writer.trim_write_buffers();
        drop(core);
        let freed = FREED_SINCE_TRIM.with(Cell::get);
        if freed >= TRIM_AFTER_FREED {
            FREED_SINCE_TRIM.with(|n| n.set(0));
            trim_allocator();
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_allocator() {
    // SAFETY: malloc_trim only walks and trims glibc's own heaps, under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_allocator() {}

/// Waits, holding only the socket, until the client sends something (or closes: the next
/// hyper connection then reads the end and finishes). False when the connection should
/// close instead: it waited as long as a keep-alive connection may, or the core stops.
async fn wait_for_request(
    stream: &TcpStream,
    guard: &ConnectionGuard,
    activity: &Activity,
    limits: &Limits,
) -> bool {
    // hyper allows a connection `header_read_timeout_ms` from the end of the last response
    // (or from the connect) to its next request head; the same bound holds while released.
    let wait_ms = limits.header_read_timeout_ms.min(limits.idle_timeout_ms);
    let deadline = activity.last() + Duration::from_millis(wait_ms);
    monoio::select! {
        ready = stream.readable(false) => ready.is_ok(),
        _ = guard.reached(Phase::ShuttingDown) => false,
        _ = monoio::time::sleep_until(deadline.into()) => false,
    }
}

/// What a released connection leaves: its I/O and the bytes hyper read but did not use.
struct Released {
    io: TrackedIo,
    read_buf: Bytes,
}

/// Serves requests on `io` until the connection ends (None) or sits idle long enough to be
/// released (Some).
async fn serve_until_idle(
    core: &Rc<Core>,
    io: TrackedIo,
    guard: &ConnectionGuard,
    activity: &Activity,
) -> Option<Released> {
    let limits = &core.node.config.limits;
    let exchanges = Exchanges::default();
    let service = ApiService {
        core: core.clone(),
        exchanges: exchanges.clone(),
    };
    // Boxed so that releasing the connection gives its memory back: held in place, it would
    // stay part of this task's allocation for the connection's whole life.
    let mut connection = Box::new(builder(limits).serve_connection(io, service));
    let idle = Duration::from_millis(limits.idle_timeout_ms);
    let release_after =
        (limits.idle_release_ms > 0).then(|| Duration::from_millis(limits.idle_release_ms));
    let mut shutdown_sent = false;
    // When to look next at whether the connection can be released.
    let mut release_check = release_after.map(|after| activity.last() + after);
    loop {
        let idle_at = activity.last() + idle;
        let next_check = match release_check {
            Some(at) if !shutdown_sent => at.min(idle_at),
            _ => idle_at,
        };
        monoio::select! {
            _ = poll_fn(|cx| connection.poll_without_shutdown(cx)) => return None,
            _ = guard.reached(Phase::ShuttingDown), if !shutdown_sent => {
                shutdown_sent = true;
                Pin::new(&mut *connection).graceful_shutdown();
            }
            _ = guard.reached(Phase::Aborting) => return None,
            _ = monoio::time::sleep_until(next_check.into()) => {
                let last = activity.last();
                if last.elapsed() >= idle {
                    return None;
                }
                let Some(after) = release_after.filter(|_| !shutdown_sent) else {
                    continue;
                };
                let now = Instant::now();
                if now < last + after {
                    // Bytes moved since the check was set.
                    release_check = Some(last + after);
                    continue;
                }
                if !exchanges.idle() || activity.write_blocked() {
                    // Quiet, but in the middle of an exchange (a client slow to read or to
                    // send): look again a period later.
                    release_check = Some(now + after);
                    continue;
                }
                // An idle hyper connection closes at once on a graceful shutdown, writing
                // nothing; one that is not idle after all only stops keeping alive, and is
                // then served to its end and closed.
                Pin::new(&mut *connection).graceful_shutdown();
                match poll_fn(|cx| Poll::Ready(connection.poll_without_shutdown(cx))).await {
                    Poll::Ready(Ok(())) => {
                        let parts = connection.into_parts();
                        return Some(Released {
                            io: parts.io,
                            read_buf: parts.read_buf,
                        });
                    }
                    Poll::Ready(Err(_)) => return None,
                    Poll::Pending => shutdown_sent = true,
                }
            }
        }
    }
}

fn builder(limits: &Limits) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(MonoioTimer)
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms))
        // hyper's own refusals have no body; it enforces a wider bound, and the API checks
        // the configured limits itself so that the usual case answers JSON.
        .max_header_size(
            limits
                .header_size_max_bytes
                .saturating_mul(HYPER_HEAD_LIMIT_FACTOR),
        )
        .keep_alive(true);
    if limits.headers_max > HYPER_STACK_HEADERS_MAX {
        builder.max_headers(limits.headers_max.saturating_mul(HYPER_HEAD_LIMIT_FACTOR));
    }
    builder
}

/// The requests of one hyper connection: how many are being answered, and whether one has
/// been answered completely (before that, hyper's connection is never idle).
#[derive(Clone, Default)]
struct Exchanges(Rc<ExchangeCounts>);

#[derive(Default)]
struct ExchangeCounts {
    in_flight: Cell<u32>,
    finished: Cell<u64>,
}

impl Exchanges {
    fn begin(&self) -> Exchange {
        self.0.in_flight.set(self.0.in_flight.get() + 1);
        Exchange(self.clone())
    }

    /// No request in flight, and at least one answered.
    fn idle(&self) -> bool {
        self.0.in_flight.get() == 0 && self.0.finished.get() > 0
    }
}

/// One request, from when hyper hands it over until its response body is dropped (hyper
/// drops it once it has taken every frame, or when the connection ends).
struct Exchange(Exchanges);

impl Drop for Exchange {
    fn drop(&mut self) {
        let counts = &(self.0).0;
        counts.in_flight.set(counts.in_flight.get() - 1);
        counts.finished.set(counts.finished.get() + 1);
    }
}

/// The API as a hyper service, counting exchanges.
struct ApiService {
    core: Rc<Core>,
    exchanges: Exchanges,
}

impl hyper::service::Service<Request<Incoming>> for ApiService {
    type Response = Response<CountedBody>;
    type Error = Infallible;
    // Boxed: hyper can hand back a connection (`poll_without_shutdown`) only when the
    // service's future is Unpin.
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>>>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let core = self.core.clone();
        let exchange = self.exchanges.begin();
        Box::pin(async move {
            let response = api::handle(&core, request).await;
            Ok(response.map(|body| CountedBody {
                body,
                _exchange: exchange,
            }))
        })
    }
}

/// A response body that ends its exchange when dropped.
struct CountedBody {
    body: ApiBody,
    _exchange: Exchange,
}

impl Body for CountedBody {
    type Data = Bytes;
    type Error = <ApiBody as Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
