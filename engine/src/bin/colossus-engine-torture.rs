//! colossus-engine-torture: drives a store hard so that crashes can be checked afterwards.
//!
//! `write` commits deterministic objects in a loop and logs each step to stdout *after* the
//! engine returned, so a line `committed <id> <multihash>` means "acknowledged". `verify`
//! reopens the store and checks the log against it: every acknowledged object reads back
//! byte-identical with its multihash, deleted ones are gone, abandoned uploads never appear,
//! an unacknowledged object may exist but only with the right bytes, and no reservation is
//! left. Kill the writer (kill -9, power cut, full disk) at any moment, then verify.
//!
//! Used by scripts/soak-crash.sh and by engine/tests/{crash_kill9_during_commit,
//! power_loss_shutdown,disk_full}.rs, which include this file as a module (`#[path]`) so the
//! in-process checks and the content generator are exactly the ones the binary uses.
//!
//! Log lines (one `write` run appends one `start` line, then events in the order they
//! happened; a final line without its newline is a write cut short by the kill, and ignored):
//!   start seed=<u64> start_id=<u64> max_size=<bytes> segment_size=<bytes> chunk_size=<bytes>
//!         sync=<always|never> concurrency=<k> delete_every=<m> compact_every=<c>
//!   begin <id> <size>            printed before the reservation is taken
//!   committed <id> <multihash>   printed right after commit returned
//!   abandoned <id>               printed after a planned abandonment dropped the upload
//!   deleting <id> / deleted <id> printed before and after writer.delete
//!   compacting / compacted ...   around a compaction (informational)
//!   done                         the run reached --count and closed the store

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

use colossus_engine::record::{object_record_len, BLOCK_LEN};
use colossus_engine::segment::FIRST_RECORD_OFFSET;
use colossus_engine::{CommitSpec, EngineError, Store, StoreConfig, SyncPolicy, UploadSpec};

const USAGE: &str = "\
usage:
  colossus-engine-torture write --dir DIR [--seed N] [--max-size BYTES] [--concurrency K]
        [--delete-every M] [--sync always|never] [--start-id ID] [--count N]
        [--compact-every C] [--segment-size BYTES] [--chunk-size BYTES]
        [--prezeroed-segments P] [--buffered-writes]
  colossus-engine-torture verify --dir DIR --log FILE [--after-power-loss]

write   commits objects until killed (or --count ids were tried) and logs every step to
        stdout; --start-id defaults to one past the highest stored id, but pass the next id
        after the highest one a previous log mentions so ids are never reused.
verify  reopens the store and checks it against the log (the writer's stdout, all runs
        appended); exits 1 with a one-line reason on any failure. --after-power-loss
        tolerates damaged-record reports (torn tails written back out of order).";

/// Default largest object: bigger than a default segment, so some objects get their own.
pub const DEFAULT_MAX_SIZE_BYTES: u64 = 3 << 20;
/// Default segment size: small, so runs roll over segments often.
pub const DEFAULT_SEGMENT_SIZE_BYTES: u64 = 2 << 20;
/// Default chunk size: small, so objects have many chunks and long checksum tables.
pub const DEFAULT_CHUNK_SIZE_BYTES: u32 = 16 << 10;

/// Everything the content and shape of object `id` depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub seed: u64,
    pub max_size_bytes: u64,
    pub segment_size_bytes: u64,
    pub chunk_size_bytes: u32,
}

/// What the writer does with one id, derived from the id and [`Params`] alone, so the
/// verifier knows the expected bytes without any other record of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub size_bytes: u64,
    /// The upload is dropped after this many bytes and must never become visible.
    pub abandon_after_bytes: Option<u64>,
    pub accepted: bool,
    /// Size of each `Upload::write` call (odd sizes on purpose).
    pub piece_bytes: usize,
    pub bag: String,
}

/// splitmix64's finaliser: a cheap, well-spread hash of one word.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// An independent pseudo-random draw per (seed, id, purpose).
fn draw(seed: u64, id: u64, purpose: u64) -> u64 {
    mix(seed ^ mix(id ^ mix(purpose)))
}

/// The bytes of object `id` under `seed`. Each 4 KiB block is a window into a 20 KiB
/// pseudo-random pattern of the object, at an offset drawn per block: unique per object and
/// per position (a misplaced block shows), and one memcpy per block, so generating the
/// expected bytes stays cheap even in an unoptimised test build.
pub fn content(seed: u64, id: u64, len: u64) -> Vec<u8> {
    const WINDOW_BYTES: usize = 4096;
    const SPAN_BYTES: usize = 16 << 10;
    let base = draw(seed, id, 0xc0_47e7);
    let mut pattern = Vec::with_capacity(SPAN_BYTES + WINDOW_BYTES);
    for word in 0..((SPAN_BYTES + WINDOW_BYTES) / 8) as u64 {
        pattern.extend_from_slice(&mix(base ^ word).to_le_bytes());
    }
    let len = len as usize;
    let mut out = Vec::with_capacity(len);
    let mut block = 0u64;
    while out.len() < len {
        let take = (len - out.len()).min(WINDOW_BYTES);
        let at = (mix(base.wrapping_add(block)) % SPAN_BYTES as u64) as usize;
        out.extend_from_slice(&pattern[at..at + take]);
        block += 1;
    }
    out
}

/// Sizes that sit on the engine's boundaries: blocks, chunks, and records that exactly fill
/// (or just overflow) a fresh segment, or are bigger than a segment.
pub fn boundary_sizes(params: &Params) -> Vec<u64> {
    let block = BLOCK_LEN;
    let chunk = u64::from(params.chunk_size_bytes);
    let segment = params.segment_size_bytes;
    // The largest payload whose record fits in a fresh segment after its header block.
    let room = segment.saturating_sub(FIRST_RECORD_OFFSET);
    let (mut low, mut high) = (0u64, segment);
    while low < high {
        let mid = (low + high).div_ceil(2);
        if object_record_len(mid, params.chunk_size_bytes) <= room {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    let fill = low;
    let mut sizes = vec![
        0,
        1,
        block - 1,
        block,
        block + 1,
        chunk - 1,
        chunk,
        chunk + 1,
        2 * chunk,
        2 * chunk + 1,
        fill.saturating_sub(1),
        fill,
        fill + 1,
        segment - 1,
        segment,
        segment + 1,
        params.max_size_bytes,
    ];
    sizes.retain(|size| *size <= params.max_size_bytes);
    sizes.sort_unstable();
    sizes.dedup();
    sizes
}

/// The plan for object `id`.
pub fn plan(params: &Params, id: u64) -> Plan {
    let seed = params.seed;
    let pick = draw(seed, id, 1);
    let size_bytes = if pick % 4 == 0 {
        let sizes = boundary_sizes(params);
        sizes[(pick >> 8) as usize % sizes.len()]
    } else {
        // Mostly small and medium objects, sometimes up to the maximum.
        let limit = params.max_size_bytes >> ((pick >> 8) % 6);
        draw(seed, id, 2) % (limit + 1)
    };
    let abandon_after_bytes = (draw(seed, id, 3) % 13 == 0).then_some(size_bytes / 2);
    let piece_bytes = if size_bytes <= 20_000 && draw(seed, id, 5) % 3 == 0 {
        7
    } else {
        [1 << 20, 65_536, 10_000, 4096, 333_333][(draw(seed, id, 5) >> 8) as usize % 5]
    };
    Plan {
        size_bytes,
        abandon_after_bytes,
        accepted: draw(seed, id, 4) & 1 == 1,
        piece_bytes,
        bag: format!("dynamic:channel:{}", id % 5),
    }
}

/// The store configuration the torture runs use: small segments and chunks so every run
/// rolls over segments and writes checksum tables; frequent background checkpoints so kills
/// also land in the middle of them.
pub fn torture_config(
    segment_size_bytes: u64,
    chunk_size_bytes: u32,
    sync: SyncPolicy,
) -> StoreConfig {
    StoreConfig {
        segment_size_bytes,
        chunk_size_bytes,
        sync,
        index_shards: 4,
        preallocate_step_bytes: (segment_size_bytes / 4).max(BLOCK_LEN),
        write_buffer_bytes: 64 << 10,
        read_buffer_bytes: 64 << 10,
        checkpoint_interval_ms: 100,
        ..StoreConfig::default()
    }
}

/// Runs `future` on a fresh single-threaded monoio io_uring runtime.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .build()
        .expect("cannot build an io_uring runtime (kernel too old, or io_uring disabled?)")
        .block_on(future)
}

// ---------------------------------------------------------------------------------------
// The log and its checks.

/// What the log says finally happened to an id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Begun, no outcome printed: killed in flight (commit may or may not have finished).
    Begun,
    /// Acknowledged with this multihash.
    Committed(String),
    /// Dropped on purpose; must never be visible.
    Abandoned,
    /// Acknowledged, then a delete started but did not return.
    Deleting(String),
    /// Acknowledged, then deleted.
    Deleted,
}

/// One id's history in the log.
#[derive(Clone, Debug)]
pub struct IdRecord {
    pub params: Params,
    pub fate: Fate,
}

/// A parsed torture log.
#[derive(Clone, Debug, Default)]
pub struct Log {
    pub ids: BTreeMap<u64, IdRecord>,
    pub runs: u64,
    pub complete_lines: u64,
}

impl Log {
    /// The highest id any line mentions (the next run starts above it).
    pub fn max_id(&self) -> Option<u64> {
        self.ids.keys().next_back().copied()
    }

    /// Ids whose fate is `Committed`.
    pub fn committed(&self) -> usize {
        self.ids
            .values()
            .filter(|r| matches!(r.fate, Fate::Committed(_)))
            .count()
    }
}

fn field<T: std::str::FromStr>(line: &str, name: &str) -> Result<T, String> {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
        .ok_or_else(|| format!("log line without {name}=: {line:?}"))?
        .parse()
        .map_err(|_| format!("log line with a bad {name}=: {line:?}"))
}

/// Parses a log; only lines ending in a newline count (the kill may cut the last one).
pub fn parse_log(text: &str) -> Result<Log, String> {
    parse_log_with_unsure(text, &[])
}

/// Parses a log in which acknowledgements printed inside the byte ranges `unsure` prove
/// nothing: there, `committed` leaves the id in flight (it may be stored or not, but if it is
/// its bytes must be right) and `deleted` leaves the delete in flight; a `deleting` of an id
/// whose commit is unsure leaves it unsure too.
///
/// The power-loss test needs this. Its "power cut" is the file system's shutdown ioctl, which
/// the writer outlives for a moment: an fsync that was already past the kernel's shutdown
/// check when the cut came can still return success for writes the cut dropped. A real power
/// cut stops the process with the disk, so no acknowledgement can follow it; the test marks
/// what was printed after the moment it started the cut as unsure.
pub fn parse_log_with_unsure(text: &str, unsure: &[std::ops::Range<usize>]) -> Result<Log, String> {
    let mut log = Log::default();
    let mut params: Option<Params> = None;
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    let mut line_start = 0;
    for (number, line) in complete.lines().enumerate() {
        let at = line_start;
        line_start += line.len() + 1;
        let proves = !unsure.iter().any(|range| range.contains(&at));
        let bad = |why: &str| format!("log line {}: {why}: {line:?}", number + 1);
        let mut words = line.split_whitespace();
        let word = words.next().unwrap_or("");
        let id = || -> Result<u64, String> {
            line.split_whitespace()
                .nth(1)
                .and_then(|w| w.parse().ok())
                .ok_or_else(|| bad("no id"))
        };
        log.complete_lines += 1;
        match word {
            "start" => {
                params = Some(Params {
                    seed: field(line, "seed")?,
                    max_size_bytes: field(line, "max_size")?,
                    segment_size_bytes: field(line, "segment_size")?,
                    chunk_size_bytes: field(line, "chunk_size")?,
                });
                log.runs += 1;
            }
            "begin" => {
                let id = id()?;
                let params = params.ok_or_else(|| bad("begin before any start line"))?;
                let size: u64 = words
                    .nth(1)
                    .and_then(|w| w.parse().ok())
                    .ok_or_else(|| bad("no size"))?;
                if plan(&params, id).size_bytes != size {
                    return Err(bad("size disagrees with the plan (different build?)"));
                }
                if let Some(old) = log.ids.get(&id) {
                    if matches!(old.fate, Fate::Committed(_) | Fate::Deleting(_)) {
                        return Err(bad("id begun again while it may still be stored"));
                    }
                }
                log.ids.insert(
                    id,
                    IdRecord {
                        params,
                        fate: Fate::Begun,
                    },
                );
            }
            "committed" | "abandoned" | "deleting" | "deleted" => {
                let id = id()?;
                let record = log
                    .ids
                    .get_mut(&id)
                    .ok_or_else(|| bad("event for an id never begun"))?;
                record.fate = match (word, &record.fate) {
                    ("committed", Fate::Begun) if !proves => Fate::Begun,
                    ("deleting", Fate::Begun) if !proves => Fate::Begun,
                    ("deleted", Fate::Begun) if !proves => Fate::Begun,
                    ("deleted", Fate::Deleting(hash)) if !proves => Fate::Deleting(hash.clone()),
                    ("committed", Fate::Begun) => Fate::Committed(
                        words.nth(1).ok_or_else(|| bad("no multihash"))?.to_string(),
                    ),
                    ("abandoned", Fate::Begun) => Fate::Abandoned,
                    ("deleting", Fate::Committed(hash)) => Fate::Deleting(hash.clone()),
                    ("deleted", Fate::Deleting(_)) => Fate::Deleted,
                    _ => return Err(bad("event out of order for this id")),
                };
            }
            "done" | "compacting" | "compacted" | "" => {}
            _ => return Err(bad("unknown event")),
        }
    }
    Ok(log)
}

/// How strict [`verify_store`] is.
#[derive(Clone, Copy, Debug, Default)]
pub struct VerifyOptions {
    /// Damaged records in the open report are not failures (after a power cut, background
    /// writeback can persist a later head of an unfinished upload before an earlier one).
    pub allow_damaged: bool,
}

/// What [`verify_store`] checked.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Acknowledged objects read back byte-identical.
    pub committed_ok: u64,
    /// Objects stored whose commit finished but was never printed; bytes were right.
    pub unacknowledged_present: u64,
    /// Deleted (or delete-in-flight) objects that are gone.
    pub deleted_absent: u64,
    /// Abandoned or in-flight uploads that left nothing visible.
    pub never_visible: u64,
    /// Payload bytes read and compared.
    pub bytes_compared: u64,
    /// Damaged records the open reported (only non-zero with `allow_damaged`).
    pub damaged_reported: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} acknowledged objects byte-identical, {} unacknowledged but correct, {} deleted \
             gone, {} abandoned/in-flight invisible, {} bytes compared, {} damaged records reported",
            self.committed_ok,
            self.unacknowledged_present,
            self.deleted_absent,
            self.never_visible,
            self.bytes_compared,
            self.damaged_reported
        )
    }
}

/// Reads object `id` and compares everything the store says about it with the plan.
async fn check_object(
    store: &Store,
    id: u64,
    record: &IdRecord,
    logged_hash: Option<&str>,
) -> Result<u64, String> {
    let plan = plan(&record.params, id);
    let expected = content(record.params.seed, id, plan.size_bytes);
    let expected_hash = colossus_engine::multihash::of(&expected);
    if let Some(logged) = logged_hash {
        if logged != expected_hash {
            return Err(format!(
                "object {id}: commit acknowledged multihash {logged}, content hashes to {expected_hash}"
            ));
        }
    }
    let meta = store
        .metadata(id)
        .map_err(|e| format!("object {id}: metadata: {e}"))?;
    if meta.size_bytes != plan.size_bytes
        || meta.multihash() != expected_hash
        || meta.bag.as_str() != plan.bag
        || meta.accepted != plan.accepted
    {
        return Err(format!(
            "object {id}: metadata {meta:?} disagrees with the plan (size {}, multihash \
             {expected_hash}, bag {}, accepted {})",
            plan.size_bytes, plan.bag, plan.accepted
        ));
    }
    let mut reader = store
        .read(id, 0..plan.size_bytes)
        .await
        .map_err(|e| format!("object {id}: open read: {e}"))?;
    let mut at = 0usize;
    while let Some(piece) = reader.next_chunk().await {
        let piece = piece.map_err(|e| format!("object {id}: read at {at}: {e}"))?;
        let end = at + piece.len();
        if end > expected.len() {
            return Err(format!(
                "object {id}: read returned {end} bytes, object has {}",
                expected.len()
            ));
        }
        if piece[..] != expected[at..end] {
            let first = piece
                .iter()
                .zip(&expected[at..end])
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            return Err(format!(
                "object {id}: byte {} differs from what was written",
                at + first
            ));
        }
        at = end;
    }
    if at != expected.len() {
        return Err(format!(
            "object {id}: read ended after {at} of {} bytes",
            expected.len()
        ));
    }
    Ok(at as u64)
}

/// Checks that `id` is not visible through any API.
async fn check_absent(store: &Store, id: u64) -> Result<(), String> {
    match store.metadata(id) {
        Err(EngineError::NotFound { .. }) => {}
        other => {
            return Err(format!(
                "object {id}: metadata gives {other:?}, expected NotFound"
            ))
        }
    }
    match store.read(id, 0..0).await {
        Err(EngineError::NotFound { .. }) => Ok(()),
        Err(e) => Err(format!("object {id}: read gives {e}, expected NotFound")),
        Ok(_) => Err(format!("object {id}: read succeeds, expected NotFound")),
    }
}

/// Checks the store against the log. Returns every failure found (not just the first).
pub async fn verify_store(
    store: &Store,
    log: &Log,
    options: VerifyOptions,
) -> Result<Summary, Vec<String>> {
    let mut failures = Vec::new();
    let mut summary = Summary::default();
    let report = store.open_report();
    summary.damaged_reported = report.damaged.len() as u64;
    if !options.allow_damaged && !report.damaged.is_empty() {
        failures.push(format!(
            "open reported {} damaged records after a crash that kept the page cache: {:?}",
            report.damaged.len(),
            report.damaged
        ));
    }
    let stats_before = store.stats();
    if stats_before.reservations != 0 || stats_before.reserved_bytes != 0 {
        failures.push(format!(
            "reservations left after reopening: {} uploads, {} bytes",
            stats_before.reservations, stats_before.reserved_bytes
        ));
    }

    let stored: BTreeSet<u64> = store.list_ids().into_iter().collect();
    let mut live_payload_bytes = 0u64;
    let mut pending = 0u64;
    for &id in &stored {
        let Some(record) = log.ids.get(&id) else {
            failures.push(format!("object {id} is stored but the log never began it"));
            continue;
        };
        let planned = plan(&record.params, id);
        let (should_exist, logged_hash) = match &record.fate {
            Fate::Committed(hash) => (true, Some(hash.as_str())),
            Fate::Deleting(hash) => (true, Some(hash.as_str())),
            Fate::Begun if planned.abandon_after_bytes.is_none() => (true, None),
            Fate::Begun | Fate::Abandoned => {
                failures.push(format!(
                    "object {id} is visible but its upload was abandoned (never committed)"
                ));
                continue;
            }
            Fate::Deleted => {
                failures.push(format!(
                    "object {id} is visible after its delete was acknowledged"
                ));
                continue;
            }
        };
        debug_assert!(should_exist);
        match check_object(store, id, record, logged_hash).await {
            Ok(bytes) => {
                summary.bytes_compared += bytes;
                live_payload_bytes += bytes;
                pending += u64::from(!planned.accepted);
                match record.fate {
                    Fate::Committed(_) => summary.committed_ok += 1,
                    _ => summary.unacknowledged_present += 1,
                }
            }
            Err(failure) => failures.push(failure),
        }
    }
    for (&id, record) in &log.ids {
        if stored.contains(&id) {
            continue;
        }
        match &record.fate {
            Fate::Committed(hash) => failures.push(format!(
                "acknowledged object {id} ({hash}) is lost: not in the store's id list"
            )),
            Fate::Deleted | Fate::Deleting(_) => summary.deleted_absent += 1,
            Fate::Begun | Fate::Abandoned => summary.never_visible += 1,
        }
        if !matches!(record.fate, Fate::Committed(_)) {
            if let Err(failure) = check_absent(store, id).await {
                failures.push(failure);
            }
        }
    }

    let stats = store.stats();
    if stats.objects != stored.len() as u64 {
        failures.push(format!(
            "stats count {} objects, the id list has {}",
            stats.objects,
            stored.len()
        ));
    }
    if failures.is_empty() {
        // Only meaningful when every stored object matched its plan.
        if stats.live_payload_bytes != live_payload_bytes || stats.pending_objects != pending {
            failures.push(format!(
                "stats disagree with the objects: {stats:?}, objects hold {live_payload_bytes} \
                 payload bytes, {pending} pending"
            ));
        }
    }
    if failures.is_empty() {
        Ok(summary)
    } else {
        Err(failures)
    }
}

// ---------------------------------------------------------------------------------------
// The writer.

/// Prints one log line with a single write and flushes it, so a kill never loses a line the
/// engine's acknowledgement preceded.
fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let mut text = String::with_capacity(line.len() + 1);
    text.push_str(line);
    text.push('\n');
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        // Nobody is reading the log: every further acknowledgement would be lost.
        std::process::exit(3);
    }
}

/// Options of `write`.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    pub dir: PathBuf,
    pub params: Params,
    pub concurrency: usize,
    pub delete_every: u64,
    pub compact_every: u64,
    pub sync: SyncPolicy,
    pub start_id: Option<u64>,
    pub count: Option<u64>,
    /// `StoreConfig::prezeroed_segments`: new segments from the zero-filled pool.
    pub prezeroed_segments: usize,
    /// Payloads through the page cache instead of O_DIRECT (`StoreConfig::direct_writes`).
    pub buffered_writes: bool,
}

impl WriteOptions {
    /// The store configuration a `write` run opens with.
    fn store_config(&self) -> StoreConfig {
        StoreConfig {
            prezeroed_segments: self.prezeroed_segments,
            direct_writes: !self.buffered_writes,
            ..torture_config(
                self.params.segment_size_bytes,
                self.params.chunk_size_bytes,
                self.sync,
            )
        }
    }
}

struct Shared {
    writer: colossus_engine::Writer,
    params: Params,
    next_id: Cell<u64>,
    end_id: Option<u64>,
    delete_every: u64,
    compact_every: u64,
    /// A compaction is running (one at a time; uploads go on meanwhile).
    compacting: Cell<bool>,
    /// Ids committed by this run and not deleted: candidates for deletion.
    committed: RefCell<Vec<u64>>,
    commits: Cell<u64>,
}

async fn upload_loop(shared: Rc<Shared>) -> Result<(), String> {
    loop {
        let id = shared.next_id.get();
        if shared.end_id.is_some_and(|end| id >= end) {
            return Ok(());
        }
        shared.next_id.set(id + 1);
        let plan = plan(&shared.params, id);
        emit(&format!("begin {id} {}", plan.size_bytes));
        let bytes = content(shared.params.seed, id, plan.size_bytes);
        let mut upload = shared
            .writer
            .begin_upload(UploadSpec {
                id,
                bag: &plan.bag,
                size_bytes: plan.size_bytes,
            })
            .map_err(|e| format!("begin_upload {id}: {e}"))?;
        let send = plan.abandon_after_bytes.unwrap_or(plan.size_bytes) as usize;
        for part in bytes[..send].chunks(plan.piece_bytes) {
            upload
                .write(part)
                .await
                .map_err(|e| format!("write {id}: {e}"))?;
        }
        if plan.abandon_after_bytes.is_some() {
            drop(upload);
            emit(&format!("abandoned {id}"));
            continue;
        }
        let meta = upload
            .commit(CommitSpec {
                expected_digest: Some(*blake3::hash(&bytes).as_bytes()),
                accepted: plan.accepted,
            })
            .await
            .map_err(|e| format!("commit {id}: {e}"))?;
        emit(&format!("committed {id} {}", meta.multihash()));
        shared.committed.borrow_mut().push(id);
        let commits = shared.commits.get() + 1;
        shared.commits.set(commits);
        if shared.delete_every > 0 && commits % shared.delete_every == 0 {
            // Taken out of the candidates before awaiting, so no other task deletes it too.
            let victim = {
                let mut committed = shared.committed.borrow_mut();
                let at = draw(shared.params.seed, commits, 6) as usize % committed.len();
                committed.swap_remove(at)
            };
            emit(&format!("deleting {victim}"));
            shared
                .writer
                .delete(victim)
                .await
                .map_err(|e| format!("delete {victim}: {e}"))?;
            emit(&format!("deleted {victim}"));
        }
        if shared.compact_every > 0
            && commits % shared.compact_every == 0
            && !shared.compacting.replace(true)
        {
            // Half-dead segments get copied out and deleted while the other tasks upload, so
            // kills also land in relocations and in the checkpoint that retires segments.
            emit("compacting");
            let report = shared
                .writer
                .compact(50)
                .await
                .map_err(|e| format!("compact: {e}"))?;
            emit(&format!(
                "compacted segments_deleted={} objects_moved={}",
                report.segments_deleted, report.objects_moved
            ));
            shared.compacting.set(false);
        }
    }
}

/// Opens the store and commits objects until `count` ids were tried (forever without it).
pub async fn write(options: WriteOptions) -> Result<(), String> {
    let params = options.params;
    let store = Store::open(&options.dir, options.store_config())
        .map_err(|e| format!("open {}: {e}", options.dir.display()))?;
    let start_id = options
        .start_id
        .unwrap_or_else(|| store.list_ids().last().map_or(1, |max| max + 1));
    emit(&format!(
        "start seed={} start_id={start_id} max_size={} segment_size={} chunk_size={} sync={} \
         concurrency={} delete_every={} compact_every={}",
        params.seed,
        params.max_size_bytes,
        params.segment_size_bytes,
        params.chunk_size_bytes,
        match options.sync {
            SyncPolicy::Always => "always",
            SyncPolicy::Never => "never",
        },
        options.concurrency,
        options.delete_every,
        options.compact_every
    ));
    let shared = Rc::new(Shared {
        writer: store.writer(),
        params,
        next_id: Cell::new(start_id),
        end_id: options.count.map(|count| start_id + count),
        delete_every: options.delete_every,
        compact_every: options.compact_every,
        compacting: Cell::new(false),
        committed: RefCell::new(Vec::new()),
        commits: Cell::new(0),
    });
    let tasks: Vec<_> = (0..options.concurrency)
        .map(|_| monoio::spawn(upload_loop(shared.clone())))
        .collect();
    let mut first_error = None;
    for task in tasks {
        if let Err(error) = task.await {
            first_error.get_or_insert(error);
        }
    }
    if let Some(error) = first_error {
        return Err(error);
    }
    drop(shared);
    store.close().map_err(|e| format!("close: {e}"))?;
    emit("done");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Command line.

struct Args(Vec<String>);

impl Args {
    fn take(&mut self, name: &str) -> Result<Option<String>, String> {
        let Some(at) = self.0.iter().position(|a| a == name) else {
            return Ok(None);
        };
        if at + 1 >= self.0.len() {
            return Err(format!("{name} needs a value"));
        }
        let value = self.0.remove(at + 1);
        self.0.remove(at);
        Ok(Some(value))
    }

    fn flag(&mut self, name: &str) -> bool {
        match self.0.iter().position(|a| a == name) {
            Some(at) => {
                self.0.remove(at);
                true
            }
            None => false,
        }
    }

    fn parse<T: std::str::FromStr>(&mut self, name: &str) -> Result<Option<T>, String> {
        self.take(name)?
            .map(|v| v.parse().map_err(|_| format!("{name}: cannot parse {v:?}")))
            .transpose()
    }

    fn finish(self) -> Result<(), String> {
        match self.0.first() {
            Some(extra) => Err(format!("unexpected argument {extra:?}")),
            None => Ok(()),
        }
    }
}

fn write_command(mut args: Args) -> Result<ExitCode, String> {
    let dir: PathBuf = args.parse("--dir")?.ok_or("--dir is required")?;
    let seed = match args.parse("--seed")? {
        Some(seed) => seed,
        None => mix(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)),
    };
    let sync = match args.take("--sync")?.as_deref() {
        None | Some("always") => SyncPolicy::Always,
        Some("never") => SyncPolicy::Never,
        Some(other) => return Err(format!("--sync: expected always or never, got {other:?}")),
    };
    let params = Params {
        seed,
        max_size_bytes: args.parse("--max-size")?.unwrap_or(DEFAULT_MAX_SIZE_BYTES),
        segment_size_bytes: args
            .parse("--segment-size")?
            .unwrap_or(DEFAULT_SEGMENT_SIZE_BYTES),
        chunk_size_bytes: args
            .parse("--chunk-size")?
            .unwrap_or(DEFAULT_CHUNK_SIZE_BYTES),
    };
    let options = WriteOptions {
        dir,
        params,
        concurrency: args.parse("--concurrency")?.unwrap_or(4),
        delete_every: args.parse("--delete-every")?.unwrap_or(0),
        compact_every: args.parse("--compact-every")?.unwrap_or(0),
        sync,
        start_id: args.parse("--start-id")?,
        count: args.parse("--count")?,
        prezeroed_segments: args.parse("--prezeroed-segments")?.unwrap_or(0),
        buffered_writes: args.flag("--buffered-writes"),
    };
    args.finish()?;
    if !(1..=256).contains(&options.concurrency) {
        return Err("--concurrency must be 1..=256".into());
    }
    options
        .store_config()
        .validate()
        .map_err(|e| e.to_string())?;
    match block_on(write(options)) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(error) => {
            eprintln!("colossus-engine-torture write: {error}");
            Ok(ExitCode::from(3))
        }
    }
}

fn verify_command(mut args: Args) -> Result<ExitCode, String> {
    let dir: PathBuf = args.parse("--dir")?.ok_or("--dir is required")?;
    let log_path: PathBuf = args.parse("--log")?.ok_or("--log is required")?;
    let options = VerifyOptions {
        allow_damaged: args.flag("--after-power-loss"),
    };
    args.finish()?;
    let fail = |reason: String| {
        println!("FAIL: {reason}");
        Ok(ExitCode::from(1))
    };
    let text = match std::fs::read_to_string(&log_path) {
        Ok(text) => text,
        Err(e) => return fail(format!("cannot read log {}: {e}", log_path.display())),
    };
    let log = match parse_log(&text) {
        Ok(log) => log,
        Err(e) => return fail(format!("log {}: {e}", log_path.display())),
    };
    verify_dir(&dir, &log, options).or_else(fail)
}

fn verify_dir(dir: &Path, log: &Log, options: VerifyOptions) -> Result<ExitCode, String> {
    if !dir.join(colossus_engine::store::SUPERBLOCK_FILE).exists() {
        // Killed while creating the store: fine if nothing was begun. Opening here would
        // create an empty store and "verify" it, so do not.
        return match log.max_id() {
            None => {
                println!(
                    "ok: no store yet in {}, and nothing was begun",
                    dir.display()
                );
                Ok(ExitCode::SUCCESS)
            }
            Some(id) => Err(format!(
                "{} holds no store, yet the log begins objects up to {id}",
                dir.display()
            )),
        };
    }
    let config = torture_config(
        DEFAULT_SEGMENT_SIZE_BYTES,
        DEFAULT_CHUNK_SIZE_BYTES,
        SyncPolicy::Always,
    );
    let store = Store::open(dir, config).map_err(|e| format!("reopen: {e}"))?;
    println!("open_report: {:?}", store.open_report());
    let outcome = block_on(verify_store(&store, log, options));
    println!("stats: {:?}", store.stats());
    match outcome {
        Ok(summary) => {
            println!(
                "ok: {} runs, {} log lines: {summary}",
                log.runs, log.complete_lines
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(failures) => {
            for failure in &failures {
                eprintln!("{failure}");
            }
            Err(format!(
                "{}{}",
                failures[0],
                match failures.len() {
                    1 => String::new(),
                    n => format!(" (and {} more failures, listed on stderr)", n - 1),
                }
            ))
        }
    }
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let command = if args.is_empty() {
        String::new()
    } else {
        args.remove(0)
    };
    let outcome = match command.as_str() {
        "write" => write_command(Args(args)),
        "verify" => verify_command(Args(args)),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => Err(format!("unknown command {other:?}")),
    };
    outcome.unwrap_or_else(|error| {
        eprintln!("colossus-engine-torture: {error}\n{USAGE}");
        ExitCode::from(2)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_inside_an_unsure_range_prove_nothing() {
        let text = "start seed=1 max_size=100 segment_size=1000 chunk_size=4096\n";
        let params = Params {
            seed: 1,
            max_size_bytes: 100,
            segment_size_bytes: 1000,
            chunk_size_bytes: 4096,
        };
        let mut text = text.to_string();
        for id in 1..=3 {
            text.push_str(&format!("begin {id} {}\n", plan(&params, id).size_bytes));
        }
        text.push_str("committed 1 h1\ncommitted 2 h2\ndeleting 1\n");
        let cut = text.len();
        text.push_str("committed 3 h3\ndeleted 1\ndeleting 2\ndeleted 2\n");

        let strict = parse_log(&text).unwrap();
        assert_eq!(strict.ids[&1].fate, Fate::Deleted);
        assert_eq!(strict.ids[&2].fate, Fate::Deleted);
        assert_eq!(strict.ids[&3].fate, Fate::Committed("h3".into()));

        let unsure_range = cut..text.len();
        let unsure = parse_log_with_unsure(&text, std::slice::from_ref(&unsure_range)).unwrap();
        assert_eq!(unsure.ids[&1].fate, Fate::Deleting("h1".into()));
        assert_eq!(unsure.ids[&2].fate, Fate::Deleting("h2".into()));
        assert_eq!(unsure.ids[&3].fate, Fate::Begun);
    }
}
