//! The load engine: `threads` OS threads, each running one monoio (io_uring) runtime that
//! drives its share of the keep-alive connections as tasks (never a thread per connection).
//! Each connection takes request tickets from one shared counter until the count or the
//! deadline is reached, sends the request the workload describes, streams the answer through
//! the checks, and records latency, bytes and errors in its own statistics (merged at the end;
//! the hot path shares nothing but a few relaxed atomic counters, and those only when the
//! progress line is on).

use std::cell::RefCell;
use std::io::{IsTerminal, Write as _};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::content::Content;
use crate::hist::Histogram;
use crate::http::{Conn, ReadError};
use crate::target::Server;

/// io_uring entries per runtime.
const RING_ENTRIES: u32 = 1024;
/// Error messages kept per run, to show what went wrong.
const ERROR_SAMPLES_MAX: usize = 8;
/// Largest answer body kept for JSON checks and error messages.
const SMALL_BODY_MAX_BYTES: usize = 64 * 1024;
/// Pause after a failed connect, so a dead server does not spin the client.
const CONNECT_RETRY_PAUSE: Duration = Duration::from_millis(5);
/// Per-request timeout of the runs the tool makes for itself: a 1 GiB body on a busy machine.
const QUIET_TIMEOUT: Duration = Duration::from_secs(600);
/// Read buffer per connection unless the command line says otherwise.
const READ_BUFFER_BYTES: usize = 256 * 1024;
/// Upload bodies are written in pieces of this size unless the command line says otherwise.
const WRITE_CHUNK_BYTES: usize = 1 << 20;

/// Explicit limits and shape of one run.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// Server address.
    pub addr: SocketAddr,
    /// Host header value.
    pub host: String,
    /// Busy connections.
    pub connections: usize,
    /// Runtimes (OS threads).
    pub threads: usize,
    /// Stop after this many requests.
    pub count: Option<u64>,
    /// Stop at this time after the start (requests in flight then are cut, not counted).
    pub duration: Option<Duration>,
    /// Longest a request may take, connect included.
    pub timeout: Duration,
    /// Read buffer per connection.
    pub read_buffer_bytes: usize,
    /// Upload bodies are written in pieces of this size.
    pub write_chunk_bytes: usize,
    /// Connections opened and kept idle for the whole run.
    pub idle_connections: usize,
    /// Each idle connection first sends one HEAD (of the workload's first request target)
    /// and reads its answer, so it idles as a keep-alive connection that has served a
    /// request; otherwise it never sends anything.
    pub idle_warm: bool,
    /// Print a progress line on stderr about once a second.
    pub progress: bool,
    /// Seed of the request choices.
    pub seed: u64,
}

impl LoadConfig {
    /// A run against `server` with default buffers, a long timeout, no idle connections and
    /// no progress line (the runs the tool makes for itself; commands override the rest).
    pub fn quiet(
        server: &Server,
        connections: usize,
        threads: usize,
        count: Option<u64>,
        duration: Option<Duration>,
        seed: u64,
    ) -> Self {
        Self {
            addr: server.addr,
            host: server.host.clone(),
            connections,
            threads,
            count,
            duration,
            timeout: QUIET_TIMEOUT,
            read_buffer_bytes: READ_BUFFER_BYTES,
            write_chunk_bytes: WRITE_CHUNK_BYTES,
            idle_connections: 0,
            idle_warm: false,
            progress: false,
            seed,
        }
    }
}

/// A small fast PRNG (splitmix64): request choices, not cryptography.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Read or write, for separate statistics in mixed runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// A GET (whole or range).
    Read,
    /// An upload.
    Write,
}

/// An upload body: a one-part multipart form around generated content (or the content alone
/// when the framing pieces are empty).
#[derive(Clone, Copy, Debug)]
pub struct Body<'a> {
    /// Content-Type header value.
    pub content_type: &'a str,
    /// Bytes before the content.
    pub preamble: &'a [u8],
    /// The content.
    pub content: Content,
    /// Bytes after the content.
    pub epilogue: &'a [u8],
}

impl Body<'_> {
    fn length(&self) -> u64 {
        self.preamble.len() as u64 + self.content.size_bytes + self.epilogue.len() as u64
    }
}

/// A JSON field the (small) answer body must carry.
#[derive(Clone, Copy, Debug)]
pub enum AnswerCheck<'a> {
    /// `{"<name>": "<value>"}`.
    Str(&'static str, &'a str),
    /// `{"<name>": <value>}`.
    Num(&'static str, u64),
}

/// What a correct answer looks like.
#[derive(Clone, Copy, Debug, Default)]
pub struct Expect<'a> {
    /// Status code.
    pub status: u16,
    /// Exact body length.
    pub length: Option<u64>,
    /// blake3 of the whole body.
    pub digest: Option<&'a [u8; 32]>,
    /// The body must equal this content from this offset.
    pub content: Option<(Content, u64)>,
    /// Content-Range `first-last/total`.
    pub content_range: Option<(u64, u64, u64)>,
    /// A JSON field of the answer.
    pub answer: Option<AnswerCheck<'a>>,
}

/// One request to make.
#[derive(Clone, Copy, Debug)]
pub struct Op<'a> {
    /// Which statistics it counts in.
    pub kind: OpKind,
    /// Method.
    pub method: &'static str,
    /// Request target (path and query).
    pub path: &'a str,
    /// `Range: bytes=first-last`.
    pub range: Option<(u64, u64)>,
    /// `x-api-key` upload token.
    pub token: Option<&'a str>,
    /// Request body.
    pub body: Option<Body<'a>>,
    /// The checks of the answer.
    pub expect: Expect<'a>,
}

/// A source of requests, shared by every connection.
pub trait Workload: Send + Sync + 'static {
    /// The request for `ticket` (0, 1, 2, ... across all connections); None when the workload
    /// has nothing more to do (the run then ends).
    fn op(&self, ticket: u64, rng: &mut Rng) -> Option<Op<'_>>;
}

/// Why a request did not score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The TCP connection could not be made.
    Connect,
    /// The request took longer than the per-request timeout.
    Timeout,
    /// The socket failed mid-request.
    Io,
    /// The answer is not HTTP/1.1 as expected.
    Protocol,
    /// An unexpected status.
    Status,
    /// The connection closed before the body ended.
    ShortBody,
    /// A complete body of the wrong length.
    Length,
    /// A wrong Content-Range.
    ContentRange,
    /// The whole-body blake3 differs from the expected multihash.
    Hash,
    /// Range bytes differ from the known content.
    Content,
    /// The answer's JSON is not the expected one.
    Answer,
}

/// Every error kind, in report order.
pub const ERROR_KINDS: [ErrorKind; 11] = [
    ErrorKind::Connect,
    ErrorKind::Timeout,
    ErrorKind::Io,
    ErrorKind::Protocol,
    ErrorKind::Status,
    ErrorKind::ShortBody,
    ErrorKind::Length,
    ErrorKind::ContentRange,
    ErrorKind::Hash,
    ErrorKind::Content,
    ErrorKind::Answer,
];

impl ErrorKind {
    /// Name in reports.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Io => "io",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Status => "status",
            ErrorKind::ShortBody => "short_body",
            ErrorKind::Length => "length",
            ErrorKind::ContentRange => "content_range",
            ErrorKind::Hash => "hash_mismatch",
            ErrorKind::Content => "content_mismatch",
            ErrorKind::Answer => "answer",
        }
    }

    fn index(self) -> usize {
        ERROR_KINDS.iter().position(|&k| k == self).unwrap_or(0)
    }
}

/// Statistics of one kind of operation.
#[derive(Clone, Default)]
pub struct KindStats {
    /// Latency of successful requests, ns.
    pub latency_ns: Histogram,
    /// Successful requests.
    pub ok: u64,
    /// Errors.
    pub errors: u64,
    /// Object bytes moved by successful requests (body received, or content sent).
    pub payload_bytes: u64,
}

impl KindStats {
    /// Adds `other`'s requests, bytes and latencies to these.
    pub fn merge(&mut self, other: &KindStats) {
        self.latency_ns.merge(&other.latency_ns);
        self.ok += other.ok;
        self.errors += other.errors;
        self.payload_bytes += other.payload_bytes;
    }
}

/// What a run measured.
#[derive(Clone, Default)]
pub struct RunStats {
    /// Reads.
    pub read: KindStats,
    /// Writes.
    pub write: KindStats,
    /// Errors by kind (indexed like ERROR_KINDS).
    pub errors: [u64; ERROR_KINDS.len()],
    /// A few error messages.
    pub error_samples: Vec<String>,
    /// Requests in flight at the deadline (neither scored nor errors).
    pub cut_at_end: u64,
    /// Connections opened (busy and idle, reconnects included).
    pub connections_opened: u64,
    /// Idle connections established.
    pub idle_established: u64,
    /// Time from the start (all connections made) to the end.
    pub elapsed: Duration,
}

impl RunStats {
    fn merge(&mut self, other: &RunStats) {
        self.read.merge(&other.read);
        self.write.merge(&other.write);
        for (a, b) in self.errors.iter_mut().zip(other.errors.iter()) {
            *a += b;
        }
        for s in &other.error_samples {
            if self.error_samples.len() < ERROR_SAMPLES_MAX {
                self.error_samples.push(s.clone());
            }
        }
        self.cut_at_end += other.cut_at_end;
        self.connections_opened += other.connections_opened;
        self.idle_established += other.idle_established;
    }

    fn error(&mut self, kind: ErrorKind, op_kind: OpKind, message: String) {
        self.errors[kind.index()] += 1;
        match op_kind {
            OpKind::Read => self.read.errors += 1,
            OpKind::Write => self.write.errors += 1,
        }
        if self.error_samples.len() < ERROR_SAMPLES_MAX {
            self.error_samples
                .push(format!("{}: {message}", kind.name()));
        }
    }

    /// An idle connection that could not be opened (or warmed): not a request error, but
    /// shown among the samples; `idle_established` falls short of the idle connections asked.
    fn note_idle_failure(&mut self, message: String) {
        if self.error_samples.len() < ERROR_SAMPLES_MAX {
            self.error_samples
                .push(format!("idle connection: {message}"));
        }
    }

    /// Total errors.
    pub fn error_count(&self) -> u64 {
        self.errors.iter().sum()
    }
}

/// Counters the progress line reads.
#[derive(Default)]
struct Live {
    done: AtomicU64,
    errors: AtomicU64,
    bytes: AtomicU64,
}

/// State every thread shares.
struct Shared {
    cfg: LoadConfig,
    workload: Arc<dyn Workload>,
    next_ticket: AtomicU64,
    stop: AtomicBool,
    live: Live,
    /// Tasks that made (or failed) their first connection.
    ready: AtomicUsize,
    /// Set when every connection is ready: the clock starts.
    started: OnceLock<Instant>,
    /// Busy connection tasks still running; idle connections close when it reaches 0.
    busy_running: AtomicUsize,
}

impl Shared {
    /// The progress counters, when there is a progress line to feed.
    fn live(&self) -> Option<&Live> {
        self.cfg.progress.then_some(&self.live)
    }

    fn deadline(&self) -> Option<Instant> {
        let started = *self.started.get()?;
        self.cfg.duration.map(|d| started + d)
    }
}

/// Runs `workload` under `cfg` and returns what was measured.
pub fn run(cfg: LoadConfig, workload: Arc<dyn Workload>) -> RunStats {
    let threads = cfg.threads.clamp(1, cfg.connections.max(1));
    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        workload,
        next_ticket: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        live: Live::default(),
        ready: AtomicUsize::new(0),
        started: OnceLock::new(),
        busy_running: AtomicUsize::new(cfg.connections),
    });
    let mut handles = Vec::new();
    for t in 0..threads {
        let busy = cfg.connections / threads + usize::from(t < cfg.connections % threads);
        let idle = cfg.idle_connections / threads + usize::from(t < cfg.idle_connections % threads);
        let shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name(format!("bench-{t}"))
            .spawn(move || run_thread(shared, t, busy, idle))
            .expect("spawn a load thread");
        handles.push(handle);
    }
    // Start the clock once every connection is up (or failed to come up).
    let total = cfg.connections + cfg.idle_connections;
    while shared.ready.load(Ordering::Acquire) < total {
        if handles.iter().all(|h| h.is_finished()) {
            break; // A thread died before its connections were up; do not wait forever.
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let started = Instant::now();
    let _ = shared.started.set(started);
    let progress = cfg.progress.then(|| {
        let shared = shared.clone();
        std::thread::spawn(move || progress_loop(&shared, started))
    });
    let mut stats = RunStats::default();
    for handle in handles {
        match handle.join() {
            Ok(thread_stats) => stats.merge(&thread_stats),
            Err(_) => stats
                .error_samples
                .push("a load thread panicked".to_owned()),
        }
    }
    let end = Instant::now();
    stats.elapsed = match shared.deadline() {
        Some(deadline) if deadline < end => deadline - started,
        _ => end - started,
    };
    shared.stop.store(true, Ordering::Release);
    if let Some(p) = progress {
        let _ = p.join();
    }
    stats
}

fn progress_loop(shared: &Shared, started: Instant) {
    let tty = std::io::stderr().is_terminal();
    let mut last = (started, 0u64, 0u64);
    loop {
        // Sleep in small steps so the end of the run is not delayed by a second.
        for _ in 0..20 {
            if shared.stop.load(Ordering::Acquire) {
                if tty {
                    eprintln!();
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let now = Instant::now();
        let done = shared.live.done.load(Ordering::Relaxed);
        let bytes = shared.live.bytes.load(Ordering::Relaxed);
        let errors = shared.live.errors.load(Ordering::Relaxed);
        let dt = (now - last.0).as_secs_f64().max(1e-9);
        let line = format!(
            "[{:>5.1}s] {done} requests, {:.0} req/s, {}/s, {errors} errors",
            (now - started).as_secs_f64(),
            (done - last.1) as f64 / dt,
            crate::report::human_bytes((bytes - last.2) as f64 / dt),
        );
        last = (now, done, bytes);
        let mut err = std::io::stderr().lock();
        let _ = if tty {
            write!(err, "\r\x1b[2K{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }
}

fn run_thread(shared: Arc<Shared>, thread: usize, busy: usize, idle: usize) -> RunStats {
    let runtime = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(RING_ENTRIES)
        .enable_timer()
        .build();
    let mut runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("colossus-bench: cannot start an io_uring runtime: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(async move {
        let stats = Rc::new(RefCell::new(RunStats::default()));
        let mut tasks = Vec::new();
        for i in 0..busy {
            let seed = shared.cfg.seed
                ^ ((thread as u64) << 32 | i as u64).wrapping_mul(0xA24B_AED4_963E_E407);
            tasks.push(monoio::spawn(busy_connection(
                shared.clone(),
                stats.clone(),
                seed,
            )));
        }
        let held = Rc::new(RefCell::new(Vec::with_capacity(idle)));
        for _ in 0..idle {
            tasks.push(monoio::spawn(idle_connection(
                shared.clone(),
                stats.clone(),
                held.clone(),
            )));
        }
        for task in tasks {
            task.await;
        }
        // One watcher for all of this thread's idle connections (not a timer each: ten
        // thousand of them waking every few ms would cost the client more than the run).
        if !held.borrow().is_empty() {
            while !shared.stop.load(Ordering::Acquire)
                && shared.busy_running.load(Ordering::Acquire) > 0
            {
                monoio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        drop(held);
        let out = stats.borrow().clone();
        out
    })
}

async fn wait_for_start(shared: &Shared) {
    shared.ready.fetch_add(1, Ordering::AcqRel);
    while shared.started.get().is_none() {
        monoio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Opens one idle connection (warmed with a HEAD when asked) and hands it to `held`, which
/// keeps it open, sending nothing more, until the run ends.
async fn idle_connection(
    shared: Arc<Shared>,
    stats: Rc<RefCell<RunStats>>,
    held: Rc<RefCell<Vec<Conn>>>,
) {
    let cfg = &shared.cfg;
    let opened = monoio::time::timeout(cfg.timeout, async {
        let mut conn = Conn::connect(cfg.addr, 0)
            .await
            .map_err(|e| e.to_string())?;
        if cfg.idle_warm {
            warm(&shared, &mut conn).await?;
        }
        Ok::<_, String>(conn)
    })
    .await;
    match opened {
        Ok(Ok(conn)) => {
            let mut s = stats.borrow_mut();
            s.idle_established += 1;
            s.connections_opened += 1;
            held.borrow_mut().push(conn);
        }
        Ok(Err(e)) => stats.borrow_mut().note_idle_failure(e),
        Err(_) => stats
            .borrow_mut()
            .note_idle_failure("timed out opening an idle connection".to_owned()),
    }
    shared.ready.fetch_add(1, Ordering::AcqRel);
}

/// One HEAD of the workload's first request target, its answer read whole.
async fn warm(shared: &Shared, conn: &mut Conn) -> Result<(), String> {
    let cfg = &shared.cfg;
    let mut rng = Rng::new(cfg.seed);
    let path = match shared.workload.op(0, &mut rng) {
        Some(op) => op.path.to_owned(),
        None => "/".to_owned(),
    };
    let head = format!(
        "HEAD {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: colossus-bench\r\n\r\n",
        cfg.host
    );
    let (written, _) = conn.write_all(head.into_bytes()).await;
    written.map_err(|e| format!("warming an idle connection: {e}"))?;
    let answer = conn
        .read_response_head()
        .await
        .map_err(|e| format!("warming an idle connection: {e:?}"))?;
    if !(200..300).contains(&answer.status) {
        return Err(format!(
            "warming an idle connection: HEAD {path} answered {}",
            answer.status
        ));
    }
    Ok(())
}

/// Reusable buffers of one connection task.
#[derive(Default)]
struct Bufs {
    /// Request head and upload body pieces.
    write: Vec<u8>,
    /// Expected bytes for content comparison.
    scratch: Vec<u8>,
    /// Small answer bodies.
    small: Vec<u8>,
}

/// How one request ended.
enum Outcome {
    /// Scored: payload bytes moved.
    Ok(u64),
    /// Did not score.
    Failed(ErrorKind, String),
}

async fn busy_connection(shared: Arc<Shared>, stats: Rc<RefCell<RunStats>>, seed: u64) {
    busy_loop(&shared, &stats, seed).await;
    shared.busy_running.fetch_sub(1, Ordering::AcqRel);
}

async fn busy_loop(shared: &Arc<Shared>, stats: &Rc<RefCell<RunStats>>, seed: u64) {
    let cfg = &shared.cfg;
    let mut rng = Rng::new(seed);
    let mut bufs = Bufs::default();
    let mut conn: Option<Conn> = None;
    // Connect before the clock starts; a failure here is retried (and counted) in the loop.
    if let Ok(Ok(c)) =
        monoio::time::timeout(cfg.timeout, Conn::connect(cfg.addr, cfg.read_buffer_bytes)).await
    {
        conn = Some(c);
        stats.borrow_mut().connections_opened += 1;
    }
    wait_for_start(shared).await;
    let deadline = shared.deadline();
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
        let ticket = shared.next_ticket.fetch_add(1, Ordering::Relaxed);
        if cfg.count.is_some_and(|c| ticket >= c) {
            break;
        }
        let Some(op) = shared.workload.op(ticket, &mut rng) else {
            shared.stop.store(true, Ordering::Relaxed);
            break;
        };
        let started = Instant::now();
        let mut limit = started + cfg.timeout;
        let mut cut_by_deadline = false;
        if let Some(d) = deadline {
            if d < limit {
                limit = d;
                cut_by_deadline = true;
            }
        }
        let result = monoio::time::timeout_at(
            limit.into(),
            exchange(shared, &mut conn, &op, &mut bufs, stats),
        )
        .await;
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(_) if cut_by_deadline => {
                stats.borrow_mut().cut_at_end += 1;
                break;
            }
            Err(_) => {
                conn = None;
                Outcome::Failed(
                    ErrorKind::Timeout,
                    format!(
                        "{} {}: no complete answer within {:?}",
                        op.method, op.path, cfg.timeout
                    ),
                )
            }
        };
        let latency = started.elapsed();
        if let Some(live) = shared.live() {
            live.done.fetch_add(1, Ordering::Relaxed);
        }
        let pause = {
            let mut s = stats.borrow_mut();
            match outcome {
                Outcome::Ok(payload) => {
                    let k = match op.kind {
                        OpKind::Read => &mut s.read,
                        OpKind::Write => &mut s.write,
                    };
                    k.ok += 1;
                    k.payload_bytes += payload;
                    k.latency_ns
                        .record(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX));
                    false
                }
                Outcome::Failed(kind, message) => {
                    if let Some(live) = shared.live() {
                        live.errors.fetch_add(1, Ordering::Relaxed);
                    }
                    s.error(kind, op.kind, message);
                    kind == ErrorKind::Connect
                }
            }
        };
        if pause {
            monoio::time::sleep(CONNECT_RETRY_PAUSE).await;
        }
    }
}

/// Sends `op` on the connection (connecting, or reconnecting once when a reused connection
/// turns out closed by the server) and checks the answer.
async fn exchange(
    shared: &Shared,
    slot: &mut Option<Conn>,
    op: &Op<'_>,
    bufs: &mut Bufs,
    stats: &Rc<RefCell<RunStats>>,
) -> Outcome {
    let cfg = &shared.cfg;
    let mut retried = false;
    loop {
        let (mut conn, reused) = match slot.take() {
            Some(c) => (c, true),
            None => match Conn::connect(cfg.addr, cfg.read_buffer_bytes).await {
                Ok(c) => {
                    stats.borrow_mut().connections_opened += 1;
                    (c, false)
                }
                Err(e) => return Outcome::Failed(ErrorKind::Connect, format!("{}: {e}", cfg.addr)),
            },
        };
        if !conn.is_drained() {
            // Bytes nobody asked for: the previous answer was longer than it said.
            return Outcome::Failed(
                ErrorKind::Protocol,
                "unrequested bytes on the connection".to_owned(),
            );
        }
        match send_and_check(shared, &mut conn, op, bufs).await {
            Attempt::Done(outcome, keep) => {
                if keep {
                    *slot = Some(conn);
                }
                return outcome;
            }
            Attempt::Stale(_) if reused && !retried => {
                retried = true;
                continue;
            }
            Attempt::Stale(message) => return Outcome::Failed(ErrorKind::Io, message),
        }
    }
}

enum Attempt {
    /// The outcome, and whether the connection can be reused.
    Done(Outcome, bool),
    /// The connection was closed before any answer byte: retry on a new one if it was reused.
    Stale(String),
}

fn write_head(out: &mut Vec<u8>, cfg: &LoadConfig, op: &Op<'_>) {
    use std::io::Write as _;
    out.clear();
    let _ = write!(
        out,
        "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: colossus-bench\r\n",
        op.method, op.path, cfg.host
    );
    if let Some((first, last)) = op.range {
        let _ = write!(out, "Range: bytes={first}-{last}\r\n");
    }
    if let Some(token) = op.token {
        let _ = write!(out, "x-api-key: {token}\r\n");
    }
    if let Some(body) = &op.body {
        let _ = write!(
            out,
            "Content-Type: {}\r\nContent-Length: {}\r\n",
            body.content_type,
            body.length()
        );
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes the request; Err carries the socket error.
async fn send_request(
    shared: &Shared,
    conn: &mut Conn,
    op: &Op<'_>,
    bufs: &mut Bufs,
) -> std::io::Result<()> {
    let cfg = &shared.cfg;
    let mut out = std::mem::take(&mut bufs.write);
    write_head(&mut out, cfg, op);
    let Some(body) = op.body else {
        let (result, out) = conn.write_all(out).await;
        bufs.write = out;
        return result;
    };
    let chunk = cfg.write_chunk_bytes.max(4096);
    if out.capacity() < chunk {
        out.reserve(chunk - out.len());
    }
    out.extend_from_slice(body.preamble);
    let mut offset = 0u64;
    loop {
        let room = chunk.saturating_sub(out.len());
        let take = (body.content.size_bytes - offset).min(room as u64) as usize;
        if take > 0 {
            body.content.extend(offset, take, &mut out);
            offset += take as u64;
        }
        let last = offset == body.content.size_bytes;
        if last {
            out.extend_from_slice(body.epilogue);
        }
        if last || out.len() >= chunk {
            let sent = out.len() as u64;
            let (result, back) = conn.write_all(out).await;
            out = back;
            result?;
            if let Some(live) = shared.live() {
                live.bytes.fetch_add(sent, Ordering::Relaxed);
            }
            out.clear();
        }
        if last {
            bufs.write = out;
            return Ok(());
        }
    }
}

fn json_field_matches(body: &[u8], check: AnswerCheck<'_>) -> bool {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    match check {
        AnswerCheck::Str(name, expected) => {
            value.get(name).and_then(|v| v.as_str()) == Some(expected)
        }
        AnswerCheck::Num(name, expected) => {
            value.get(name).and_then(|v| v.as_u64()) == Some(expected)
        }
    }
}

async fn send_and_check(shared: &Shared, conn: &mut Conn, op: &Op<'_>, bufs: &mut Bufs) -> Attempt {
    let name = || format!("{} {}", op.method, op.path);
    if let Err(e) = send_request(shared, conn, op, bufs).await {
        // The server may have refused the request and closed: read its answer if it sent one.
        return match conn.read_response_head().await {
            Ok(head) => Attempt::Done(
                Outcome::Failed(
                    ErrorKind::Status,
                    format!(
                        "{}: answered {} before the request was sent",
                        name(),
                        head.status
                    ),
                ),
                false,
            ),
            Err(_) if op.body.is_none() => Attempt::Stale(format!("{}: writing: {e}", name())),
            Err(_) => Attempt::Done(
                Outcome::Failed(ErrorKind::Io, format!("{}: writing the body: {e}", name())),
                false,
            ),
        };
    }
    let head = match conn.read_response_head().await {
        Ok(head) => head,
        Err(ReadError::Closed { nothing: true, .. }) => {
            return Attempt::Stale(format!("{}: connection closed before an answer", name()))
        }
        Err(e @ ReadError::Io(_)) => {
            return Attempt::Done(
                Outcome::Failed(ErrorKind::Io, format!("{}: {e}", name())),
                false,
            )
        }
        Err(e) => {
            return Attempt::Done(
                Outcome::Failed(ErrorKind::Protocol, format!("{}: {e}", name())),
                false,
            )
        }
    };
    let expect = &op.expect;
    let status_ok = head.status == expect.status;
    let framing = head.framing(op.method);
    // Stream the body through the checks.
    let mut got = 0u64;
    let mut hasher = (status_ok && expect.digest.is_some()).then(blake3::Hasher::new);
    let mut content_ok = true;
    let keep_small = !status_ok || expect.answer.is_some();
    bufs.small.clear();
    let live = shared.live().filter(|_| op.kind == OpKind::Read);
    let (small, scratch) = (&mut bufs.small, &mut bufs.scratch);
    let mut on_data = |bytes: &[u8]| {
        if let Some(h) = hasher.as_mut() {
            h.update(bytes);
        }
        if status_ok && content_ok {
            if let Some((content, offset)) = expect.content {
                content_ok = content.matches(offset + got, bytes, scratch);
            }
        }
        if keep_small && small.len() < SMALL_BODY_MAX_BYTES {
            let n = bytes.len().min(SMALL_BODY_MAX_BYTES - small.len());
            small.extend_from_slice(&bytes[..n]);
        }
        got += bytes.len() as u64;
        if let Some(live) = live {
            live.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
    };
    let body_result = conn.read_body(framing, &mut on_data).await;
    let keep = head.keep_alive;
    let failed = |kind, message: String| {
        Attempt::Done(
            Outcome::Failed(kind, format!("{}: {message}", name())),
            keep,
        )
    };
    match body_result {
        Ok(_) => {}
        Err(ReadError::Closed { got, .. }) => {
            let expected = match framing {
                crate::http::Framing::Length(n) => format!(" of {n}"),
                _ => String::new(),
            };
            return Attempt::Done(
                Outcome::Failed(
                    ErrorKind::ShortBody,
                    format!(
                        "{}: connection closed after {got} body bytes{expected}",
                        name()
                    ),
                ),
                false,
            );
        }
        Err(e @ ReadError::Io(_)) => {
            return Attempt::Done(
                Outcome::Failed(ErrorKind::Io, format!("{}: {e}", name())),
                false,
            )
        }
        Err(e) => {
            return Attempt::Done(
                Outcome::Failed(ErrorKind::Protocol, format!("{}: {e}", name())),
                false,
            )
        }
    }
    if !status_ok {
        let text = String::from_utf8_lossy(&bufs.small[..bufs.small.len().min(300)]).into_owned();
        return failed(
            ErrorKind::Status,
            format!(
                "status {} (expected {}): {text}",
                head.status, expect.status
            ),
        );
    }
    if let Some(n) = expect.length {
        if got != n {
            return failed(
                ErrorKind::Length,
                format!("body of {got} bytes, expected {n}"),
            );
        }
    }
    if let Some((first, last, total)) = expect.content_range {
        if head.content_range != Some((first, last, Some(total))) {
            return failed(
                ErrorKind::ContentRange,
                format!(
                    "Content-Range {:?}, expected bytes {first}-{last}/{total}",
                    head.content_range
                ),
            );
        }
    }
    if let (Some(h), Some(expected)) = (hasher, expect.digest) {
        if h.finalize().as_bytes() != expected {
            return failed(
                ErrorKind::Hash,
                "blake3 of the body differs from the expected multihash".to_owned(),
            );
        }
    }
    if !content_ok {
        return failed(
            ErrorKind::Content,
            "body bytes differ from the known content".to_owned(),
        );
    }
    if let Some(check) = expect.answer {
        if !json_field_matches(&bufs.small, check) {
            let text =
                String::from_utf8_lossy(&bufs.small[..bufs.small.len().min(300)]).into_owned();
            return failed(
                ErrorKind::Answer,
                format!("answer {text:?}, expected {check:?}"),
            );
        }
    }
    let payload = match op.body {
        Some(body) => body.content.size_bytes,
        None => got,
    };
    Attempt::Done(Outcome::Ok(payload), keep)
}
