//! The store: one directory holding the superblock, the lock file, segment files, index
//! shards and the checkpoint. This module owns the shared state every thread sees and the
//! operations that change it (applying records, checkpoints, close); opening lives in
//! `recovery`, the write path in `writer`, the read path in `reader`.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};

use crate::checkpoint::{
    Checkpoint, OutstandingRecord, SegmentCheckpoint, FLAG_CLEAN, SEGMENT_SEALED,
};
use crate::codec::StoreKey;
use crate::config::StoreConfig;
use crate::content_type::ContentType;
use crate::error::{EngineError, Result};
use crate::hash_pool::HashPool;
use crate::id_set::IdSet;
use crate::index::{Index, IndexEntry};
use crate::io::{Disk, UringDisk};
use crate::pinned::PinnedCache;
use crate::record::{object_record_len, BagName};
use crate::segment::{self, Segment, SEGMENTS_DIR};
use crate::segment_pool::{SegmentPool, SegmentPoolStats};
use crate::write_buffers::WriteBufferTotals;

/// Name of the superblock file.
pub const SUPERBLOCK_FILE: &str = "store.meta";
/// Name of the lock file.
pub const LOCK_FILE: &str = "LOCK";
/// Name of the checkpoint file.
pub const CHECKPOINT_FILE: &str = "checkpoint";

/// Metadata of a stored object, answered from the index alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Data object id.
    pub id: u64,
    /// Payload size in bytes.
    pub size_bytes: u64,
    /// blake3 digest of the payload.
    pub digest: [u8; 32],
    /// Content type sniffed from the first bytes.
    pub content_type: ContentType,
    /// Bag id (`bag.as_str()`); kept inline so a lookup allocates nothing.
    pub bag: BagName,
    /// Accepted (true) or pending (false).
    pub accepted: bool,
    /// Creation time, ms since the Unix epoch.
    pub created_unix_ms: u64,
}

impl ObjectMeta {
    /// The network's multihash string of the content.
    pub fn multihash(&self) -> String {
        crate::multihash::encode(&self.digest)
    }

    pub(crate) fn from_entry(entry: &IndexEntry) -> Self {
        Self {
            id: entry.object_id,
            size_bytes: entry.payload_len,
            digest: entry.digest,
            content_type: ContentType::from_code(entry.content_type)
                .unwrap_or(ContentType::OctetStream),
            bag: entry.bag,
            accepted: entry.accepted,
            created_unix_ms: entry.created_unix_ms,
        }
    }
}

/// Where a record lies on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordLocation {
    /// Segment id.
    pub segment_id: u32,
    /// Offset of the head block in the segment file.
    pub offset: u64,
    /// Bytes the record occupies (head, payload, trailer, padding).
    pub len_bytes: u64,
    /// The segment file.
    pub path: PathBuf,
}

/// Space and object counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Live objects.
    pub objects: u64,
    /// Their payload bytes.
    pub live_payload_bytes: u64,
    /// Bytes their records occupy on disk.
    pub live_record_bytes: u64,
    /// Live objects not yet accepted.
    pub pending_objects: u64,
    /// Their payload bytes.
    pub pending_payload_bytes: u64,
    /// Bytes in segments holding nothing live (reclaimable by compaction).
    pub dead_bytes: u64,
    /// Bytes reserved by uploads in flight.
    pub reserved_bytes: u64,
    /// Uploads in flight.
    pub reservations: u64,
    /// Segment files.
    pub segments: u64,
}

/// How upload payloads reach the disk (`StoreConfig::direct_writes`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WritePathStats {
    /// Direct writes are configured.
    pub direct_configured: bool,
    /// Segments this process appended to with O_DIRECT payload writes.
    pub direct_segments: u64,
    /// Segments it appended to through the page cache (direct writes off, or refused by the
    /// file system for that file).
    pub buffered_segments: u64,
    /// Threads hashing upload buffers for the cores (`StoreConfig::hash_threads`).
    pub hash_threads: usize,
    /// Upload buffers hashed by those threads.
    pub buffers_hashed_off_core: u64,
    /// Upload buffers that could have been, but were hashed by the core receiving them
    /// (every thread was busy, or there are none).
    pub buffers_hashed_on_core: u64,
    /// Size of each upload write buffer (`StoreConfig::write_buffer_bytes`).
    pub write_buffer_bytes: usize,
    /// Write buffers each lane shares (`StoreConfig::write_buffers_per_lane`).
    pub write_buffers_per_lane: usize,
    /// How long a lane keeps a burst's buffers (`StoreConfig::write_buffers_burst_kept_ms`).
    pub write_buffers_burst_kept_ms: u64,
    /// Write buffers held by uploads now, all lanes.
    pub write_buffers_taken: u64,
    /// Write buffers kept idle for the next uploads, all lanes.
    pub write_buffers_idle: u64,
}

/// A record found damaged while opening, scanning or reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamagedRecord {
    /// Segment of the record.
    pub segment_id: u32,
    /// Offset of its head block.
    pub offset: u64,
    /// The object id, when the head was readable.
    pub object_id: Option<u64>,
    /// What was wrong.
    pub reason: String,
}

/// What opening the store did.
#[derive(Clone, Debug, Default)]
pub struct OpenReport {
    /// The store was created by this open.
    pub created: bool,
    /// The previous shutdown was clean (nothing to replay).
    pub clean: bool,
    /// Records replayed from after the last checkpoint.
    pub records_replayed: u64,
    /// Payload bytes whose chunk checksums were verified while replaying.
    pub bytes_verified: u64,
    /// Reservations of unfinished uploads found and reclaimed.
    pub abandoned_reservations: u64,
    /// Damaged records found (not indexed).
    pub damaged: Vec<DamagedRecord>,
    /// The index was rebuilt from segments, and why.
    pub index_rebuilt: Option<String>,
}

/// State shared by every handle and thread.
pub(crate) struct StoreInner {
    pub dir: PathBuf,
    pub config: StoreConfig,
    pub key: StoreKey,
    pub disk: Arc<dyn Disk>,
    pub index: Index,
    pub segments: RwLock<BTreeMap<u32, Arc<Segment>>>,
    pub next_seq: AtomicU64,
    pub next_segment_id: AtomicU32,
    pub reservations: AtomicU64,
    pub records_since_checkpoint: AtomicU64,
    /// Bumped whenever an id joins or leaves the index (see [`Store::id_set_version`]).
    pub id_set_version: AtomicU64,
    /// The stored ids, in memory once first listed.
    pub ids: IdSet,
    /// Segments emptied by compaction, deleted after the next checkpoint.
    pub retired: Mutex<Vec<u32>>,
    checkpoint_lock: Mutex<()>,
    /// Shared while a record is applied to the index and leaves its segment's outstanding set
    /// (and while compaction checks an object and reserves room for its copy); exclusive while
    /// a checkpoint captures the segments. So a checkpoint sees each record either wholly
    /// applied or wholly outstanding, across all segments at one instant (see `recovery`).
    /// Never held across an await; taken before any segment's lock.
    pub apply_gate: RwLock<()>,
    pub closed: AtomicBool,
    pub last_checkpoint_error: Mutex<Option<String>>,
    pub open_report: OpenReport,
    /// Verified windows of hot objects, locked in memory (see `pinned`).
    pub pinned: PinnedCache,
    /// Zero-filled files for new segments (see `segment_pool`).
    pub segment_pool: SegmentPool,
    /// Threads that sum upload buffers off the cores (see `hash_pool`); None when the
    /// config asks for none.
    pub hash_pool: Option<HashPool>,
    /// Segments opened for appends with direct payload writes, and without.
    pub direct_segments: AtomicU64,
    pub buffered_segments: AtomicU64,
    /// Upload buffers summed apart by a hashing thread, and by the receiving core.
    pub buffers_hashed_off_core: AtomicU64,
    pub buffers_hashed_on_core: AtomicU64,
    /// The write buffers of every lane, counted.
    pub write_buffer_totals: Arc<WriteBufferTotals>,
    /// Held for the store's lifetime: the flock on LOCK.
    _lock_file: File,
}

/// A handle to an open store. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<StoreInner>,
    /// Kept for its Drop: the last handle stops the thread and closes the store.
    _checkpointer: Arc<Checkpointer>,
}

/// The background checkpoint thread; stops when the last handle goes.
struct Checkpointer {
    stop: Mutex<Option<std::sync::mpsc::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    inner: Arc<StoreInner>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.lock().take();
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
        // Best effort when the owner did not call close(): a clean checkpoint if nothing is
        // in flight. Errors leave the previous checkpoint, which replay handles.
        if !self.inner.closed.swap(true, Ordering::AcqRel) {
            let _ = self.inner.shutdown();
        }
    }
}

/// Milliseconds since the Unix epoch.
/// What [`Store::metadata`] answers for an index lookup of `id`.
fn meta_of(id: u64, lookup: Result<Option<IndexEntry>>) -> Result<ObjectMeta> {
    match lookup? {
        Some(entry) => Ok(ObjectMeta::from_entry(&entry)),
        None => Err(EngineError::NotFound { id }),
    }
}

pub(crate) fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Store {
    /// Opens (creating if absent) the store in `dir`, recovering from a crash if needed.
    pub fn open(dir: impl AsRef<Path>, config: StoreConfig) -> Result<Store> {
        Self::open_with_disk(dir, config, Arc::new(UringDisk))
    }

    /// Opens with a custom [`Disk`] (fault injection in tests).
    pub fn open_with_disk(
        dir: impl AsRef<Path>,
        config: StoreConfig,
        disk: Arc<dyn Disk>,
    ) -> Result<Store> {
        let inner = Arc::new(crate::recovery::open(dir.as_ref(), config, disk, false)?);
        Ok(Self::start(inner))
    }

    /// Opens the store and rebuilds its index from the segments (every record is read and
    /// checked; damaged ones are left out and listed in the open report).
    pub fn open_rebuilding_index(dir: impl AsRef<Path>, config: StoreConfig) -> Result<Store> {
        let inner = Arc::new(crate::recovery::open(
            dir.as_ref(),
            config,
            Arc::new(UringDisk),
            true,
        )?);
        Ok(Self::start(inner))
    }

    fn start(inner: Arc<StoreInner>) -> Store {
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let interval = Duration::from_millis(inner.config.checkpoint_interval_ms);
        let weak = Arc::downgrade(&inner);
        let thread = std::thread::Builder::new()
            .name("colossus-checkpoint".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stop_rx.recv_timeout(interval)
                {
                    let Some(inner) = weak.upgrade() else { return };
                    if inner.records_since_checkpoint.load(Ordering::Acquire) > 0 {
                        let outcome = inner.write_checkpoint(false);
                        *inner.last_checkpoint_error.lock() = outcome.err().map(|e| e.to_string());
                    }
                }
            })
            .ok();
        Store {
            _checkpointer: Arc::new(Checkpointer {
                stop: Mutex::new(Some(stop_tx)),
                thread: Mutex::new(thread),
                inner: inner.clone(),
            }),
            inner,
        }
    }

    /// The zero-filled segment files kept ready (`StoreConfig::prezeroed_segments`).
    pub fn segment_pool_stats(&self) -> SegmentPoolStats {
        self.inner.segment_pool.stats()
    }

    /// Whether upload payloads go to the disk with O_DIRECT, and where they could not.
    pub fn write_path_stats(&self) -> WritePathStats {
        let totals = &self.inner.write_buffer_totals;
        WritePathStats {
            direct_configured: self.inner.config.direct_writes,
            direct_segments: self.inner.direct_segments.load(Ordering::Relaxed),
            buffered_segments: self.inner.buffered_segments.load(Ordering::Relaxed),
            hash_threads: self
                .inner
                .hash_pool
                .as_ref()
                .map_or(0, HashPool::thread_count),
            buffers_hashed_off_core: self.inner.buffers_hashed_off_core.load(Ordering::Relaxed),
            buffers_hashed_on_core: self.inner.buffers_hashed_on_core.load(Ordering::Relaxed),
            write_buffer_bytes: self.inner.config.write_buffer_bytes,
            write_buffers_per_lane: self.inner.config.write_buffers_per_lane,
            write_buffers_burst_kept_ms: self.inner.config.write_buffers_burst_kept_ms,
            write_buffers_taken: totals.taken.load(Ordering::Relaxed),
            write_buffers_idle: totals.idle.load(Ordering::Relaxed),
        }
    }

    /// What opening did (recovery, rebuild, damage found).
    pub fn open_report(&self) -> &OpenReport {
        &self.inner.open_report
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The configuration in force.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Metadata of object `id`, from the index alone.
    pub fn metadata(&self, id: u64) -> Result<ObjectMeta> {
        meta_of(id, self.inner.index.get(id))
    }

    /// Metadata of many objects, from the index alone: `visit` gets each id, in order, with
    /// what [`Store::metadata`] would return for it. Much faster per id than calling
    /// `metadata` in a loop on a large store, because the index lookups overlap their memory
    /// latency (for listings, bag scans and replication diffs).
    pub fn metadata_many(&self, ids: &[u64], mut visit: impl FnMut(u64, Result<ObjectMeta>)) {
        self.inner
            .index
            .get_many(ids, |id, outcome| visit(id, meta_of(id, outcome)));
    }

    /// Where object `id`'s record lies (for diagnostics and repair tools).
    pub fn record_location(&self, id: u64) -> Result<RecordLocation> {
        let entry = self
            .inner
            .index
            .get(id)?
            .ok_or(EngineError::NotFound { id })?;
        Ok(RecordLocation {
            segment_id: entry.segment_id,
            offset: entry.offset,
            len_bytes: object_record_len(entry.payload_len, entry.chunk_size),
            path: self
                .inner
                .dir
                .join(SEGMENTS_DIR)
                .join(segment::file_name(entry.segment_id)),
        })
    }

    /// Whether object `id` is stored.
    pub fn contains(&self, id: u64) -> Result<bool> {
        Ok(self.inner.index.get(id)?.is_some())
    }

    /// Every stored object id, ascending. The first call walks the index; later ones read
    /// the id set it leaves in memory (see [`crate::id_set`]).
    pub fn list_ids(&self) -> Vec<u64> {
        self.inner.ids.list(&self.inner.index)
    }

    /// A number that changes whenever an object is added to or removed from the store (not
    /// when one is accepted or moved): a cache of [`Store::list_ids`] taken at version `v` is
    /// current while this still returns `v`. Read it *before* listing.
    pub fn id_set_version(&self) -> u64 {
        self.inner.id_set_version.load(Ordering::Acquire)
    }

    /// Ids of the objects in `bag`, ascending (kept in memory with [`Store::list_ids`]).
    pub fn list_ids_in_bag(&self, bag: &str) -> Vec<u64> {
        self.inner.ids.list_in_bag(&self.inner.index, bag)
    }

    /// Space and object counts.
    pub fn stats(&self) -> StoreStats {
        let segments = self.inner.segments.read();
        let mut stats = StoreStats {
            segments: segments.len() as u64,
            reservations: self.inner.reservations.load(Ordering::Acquire),
            ..StoreStats::default()
        };
        for segment in segments.values() {
            let state = segment.state.lock();
            stats.objects += state.live_objects;
            stats.live_payload_bytes += state.live_payload_bytes;
            stats.live_record_bytes += state.live_record_bytes;
            stats.pending_objects += state.pending_objects;
            stats.pending_payload_bytes += state.pending_payload_bytes;
            stats.dead_bytes += state.dead_bytes();
            stats.reserved_bytes += state.reserved_bytes();
        }
        stats
    }

    /// Writes a checkpoint now (normally the background thread does this).
    pub fn checkpoint(&self) -> Result<()> {
        self.inner.write_checkpoint(false)
    }

    /// The last background checkpoint error, if the last attempt failed.
    pub fn last_checkpoint_error(&self) -> Option<String> {
        self.inner.last_checkpoint_error.lock().clone()
    }

    /// Stops taking work, seals active segments and writes a clean checkpoint when no upload
    /// is in flight. Other handles (and writers) still open see `ShuttingDown`.
    pub fn close(self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.inner.shutdown()
    }
}

impl StoreInner {
    pub fn segment(&self, id: u32) -> Option<Arc<Segment>> {
        self.segments.read().get(&id).cloned()
    }

    pub fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(EngineError::ShuttingDown)
        } else {
            Ok(())
        }
    }

    /// Applies a committed object record to the index and the segment counters.
    pub fn apply_object(&self, entry: &IndexEntry) -> Result<bool> {
        let (replaced, applied) = self.index.upsert(entry)?;
        if applied {
            if let Some(old) = replaced {
                self.account(&old, -1);
            }
            self.account(entry, 1);
            self.records_since_checkpoint
                .fetch_add(1, Ordering::Release);
            if replaced.is_none() {
                self.ids.added(entry.object_id, entry.bag.as_str());
                self.id_set_version.fetch_add(1, Ordering::AcqRel);
            }
        }
        Ok(applied)
    }

    /// Applies a tombstone; returns the removed entry.
    pub fn apply_tombstone(&self, id: u64, seq: u64) -> Option<IndexEntry> {
        let removed = self.index.remove(id, seq);
        if let Some(old) = &removed {
            self.account(old, -1);
            self.ids.removed(id, old.bag.as_str());
            self.id_set_version.fetch_add(1, Ordering::AcqRel);
        }
        self.records_since_checkpoint
            .fetch_add(1, Ordering::Release);
        removed
    }

    /// Applies an acceptance; returns the updated entry.
    pub fn apply_accept(&self, id: u64) -> Result<Option<IndexEntry>> {
        let mut was_pending = None;
        let updated = self.index.update(id, |entry| {
            was_pending = Some(!entry.accepted);
            entry.accepted = true;
        })?;
        if let (Some(entry), Some(true)) = (&updated, was_pending) {
            if let Some(segment) = self.segment(entry.segment_id) {
                let mut state = segment.state.lock();
                state.pending_objects = state.pending_objects.saturating_sub(1);
                state.pending_payload_bytes = state
                    .pending_payload_bytes
                    .saturating_sub(entry.payload_len);
            }
        }
        self.records_since_checkpoint
            .fetch_add(1, Ordering::Release);
        Ok(updated)
    }

    /// Adds (`sign` = 1) or removes (-1) an entry's share of its segment's counters.
    pub fn account(&self, entry: &IndexEntry, sign: i64) {
        let Some(segment) = self.segment(entry.segment_id) else {
            return;
        };
        let mut state = segment.state.lock();
        add_entry_to_counters(&mut state, entry, sign);
    }

    /// Writes the checkpoint: what the index reflects, made durable in the right order.
    pub fn write_checkpoint(&self, clean: bool) -> Result<()> {
        let _serial = self.checkpoint_lock.lock();
        let records_before = self.records_since_checkpoint.swap(0, Ordering::AcqRel);
        let outcome = self.write_checkpoint_locked(clean);
        if outcome.is_err() {
            self.records_since_checkpoint
                .fetch_add(records_before.max(1), Ordering::AcqRel);
        }
        outcome
    }

    fn write_checkpoint_locked(&self, clean: bool) -> Result<()> {
        // Capture the segments first, all at one instant as far as applying records goes (the
        // apply gate): every record reserved before now and no longer outstanding was applied
        // to the index, so the msync below covers it; replay after a crash applies only the
        // records outstanding now and those reserved later (see `recovery::ReplayPlan`).
        let retired = self.retired.lock().clone();
        let mut segments = Vec::new();
        let mut outstanding = Vec::new();
        {
            let _gate = self.apply_gate.write();
            for segment in self.segments.read().values() {
                let state = segment.state.lock();
                segments.push(SegmentCheckpoint {
                    segment_id: segment.id,
                    flags: if state.sealed { SEGMENT_SEALED } else { 0 },
                    end_offset: state.frontier(),
                    append_offset: state.append_pos,
                    live_objects: state.live_objects,
                    live_payload_bytes: state.live_payload_bytes,
                    live_record_bytes: state.live_record_bytes,
                    pending_objects: state.pending_objects,
                    pending_payload_bytes: state.pending_payload_bytes,
                });
                outstanding.extend(state.outstanding.iter().map(|(offset, reserved)| {
                    OutstandingRecord {
                        segment_id: segment.id,
                        offset: *offset,
                        purpose: reserved.purpose,
                    }
                }));
            }
        }
        let checkpoint = Checkpoint {
            flags: if clean { FLAG_CLEAN } else { 0 },
            next_seq: self.next_seq.load(Ordering::Acquire),
            segments,
            retired: retired.clone(),
            outstanding,
            shard_used_slots: if clean {
                self.index.used_slots()
            } else {
                Vec::new()
            },
        };
        // Without this msync a crash could leave index pages older than the frontiers below
        // claim, and replay would skip records the index never saw.
        self.index.flush()?;
        self.replace_file(CHECKPOINT_FILE, &checkpoint.encode(&self.key))?;
        if !retired.is_empty() {
            self.delete_retired(&retired)?;
        }
        Ok(())
    }

    /// Deletes retired segment files now that a durable checkpoint no longer needs them.
    fn delete_retired(&self, retired: &[u32]) -> Result<()> {
        let dir = self.dir.join(SEGMENTS_DIR);
        for id in retired {
            let path = dir.join(segment::file_name(*id));
            match self.disk.remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(EngineError::io("remove retired segment", &path, e)),
            }
        }
        // Without this the removals could be undone by a power cut; the next open would then
        // find the files again and delete them, as the checkpoint still lists them.
        self.disk
            .sync_dir(&dir)
            .map_err(|e| EngineError::io("fsync segment directory", &dir, e))?;
        self.retired.lock().retain(|id| !retired.contains(id));
        Ok(())
    }

    /// Atomically replaces a small file in the store directory.
    pub fn replace_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let file = self
            .disk
            .open(&tmp, true)
            .map_err(|e| EngineError::io("create", &tmp, e))?;
        file.set_len(0)
            .map_err(|e| EngineError::io("truncate", &tmp, e))?;
        file.write_all_at_blocking(bytes, 0)
            .map_err(|e| EngineError::io("write", &tmp, e))?;
        // Without this fsync the rename could become durable before the contents, leaving an
        // empty or partial file under the real name after a power cut.
        file.sync_data_blocking()
            .map_err(|e| EngineError::io("fsync", &tmp, e))?;
        drop(file);
        self.disk
            .rename(&tmp, &path)
            .map_err(|e| EngineError::io("rename", &path, e))?;
        // Without this the rename itself may be lost in a power cut (the old file comes back).
        self.disk
            .sync_dir(&self.dir)
            .map_err(|e| EngineError::io("fsync store directory", &self.dir, e))
    }

    /// Seals every segment and writes the final checkpoint.
    pub fn shutdown(&self) -> Result<()> {
        // No zero-filling after close: the next open of this directory may start its own.
        self.segment_pool.stop();
        for segment in self.segments.read().values() {
            let mut state = segment.state.lock();
            if !state.sealed && state.outstanding.is_empty() {
                state.sealed = true;
                // Release preallocated space past the last record.
                if state.allocated_bytes > state.append_pos
                    && state.poisoned.is_none()
                    && segment.file.set_len(state.append_pos).is_ok()
                {
                    state.allocated_bytes = state.append_pos;
                }
            }
        }
        let clean = self.reservations.load(Ordering::Acquire) == 0;
        self.write_checkpoint(clean)
    }
}

/// Adds or removes one entry's share of a segment's counters.
pub(crate) fn add_entry_to_counters(
    state: &mut crate::segment::SegmentState,
    entry: &IndexEntry,
    sign: i64,
) {
    let record_len = object_record_len(entry.payload_len, entry.chunk_size);
    let apply = |value: &mut u64, delta: u64| {
        *value = if sign > 0 {
            value.saturating_add(delta)
        } else {
            value.saturating_sub(delta)
        }
    };
    apply(&mut state.live_objects, 1);
    apply(&mut state.live_payload_bytes, entry.payload_len);
    apply(&mut state.live_record_bytes, record_len);
    if !entry.accepted {
        apply(&mut state.pending_objects, 1);
        apply(&mut state.pending_payload_bytes, entry.payload_len);
    }
}

impl StoreInner {
    /// Assembles the shared state (used by `recovery::open`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        dir: PathBuf,
        config: StoreConfig,
        hash_pool: Option<HashPool>,
        key: StoreKey,
        disk: Arc<dyn Disk>,
        index: Index,
        segments: BTreeMap<u32, Arc<Segment>>,
        next_seq: u64,
        retired: Vec<u32>,
        open_report: OpenReport,
        lock_file: File,
    ) -> Self {
        let next_segment_id = segments.keys().next_back().map_or(1, |id| id + 1);
        let pinned = PinnedCache::new(config.pinned_cache_bytes, config.pinned_windows_max);
        let segment_pool = SegmentPool::start(
            &dir.join(SEGMENTS_DIR),
            config.segment_size_bytes,
            config.prezeroed_segments,
        );
        Self {
            dir,
            config,
            key,
            disk,
            index,
            segments: RwLock::new(segments),
            next_seq: AtomicU64::new(next_seq),
            next_segment_id: AtomicU32::new(next_segment_id),
            reservations: AtomicU64::new(0),
            records_since_checkpoint: AtomicU64::new(0),
            id_set_version: AtomicU64::new(0),
            ids: IdSet::default(),
            retired: Mutex::new(retired),
            checkpoint_lock: Mutex::new(()),
            apply_gate: RwLock::new(()),
            closed: AtomicBool::new(false),
            last_checkpoint_error: Mutex::new(None),
            open_report,
            pinned,
            segment_pool,
            hash_pool,
            direct_segments: AtomicU64::new(0),
            buffered_segments: AtomicU64::new(0),
            buffers_hashed_off_core: AtomicU64::new(0),
            buffers_hashed_on_core: AtomicU64::new(0),
            write_buffer_totals: Arc::default(),
            _lock_file: lock_file,
        }
    }
}
