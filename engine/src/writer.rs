//! The write path. A [`Writer`] is one thread's lane into the store: it owns an active segment
//! no other lane appends to, so uploads on different cores never share a lock on the data
//! path. An [`Upload`] streams an object of known size into a reservation, pipelining its
//! writes and hashing each write buffer as it goes out (by a hashing thread unless they are
//! all busy, see `hash_pool` and `payload_sums`); `commit` makes it durable (trailer write,
//! then one fdatasync for payload and trailer, grouped across concurrent commits) before it
//! becomes visible.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::aligned_buf::AlignedBuf;
use crate::config::SyncPolicy;
use crate::content_type::{self, ContentType};
use crate::error::{EngineError, Result};
use crate::hash_pool::PendingSums;
use crate::index::IndexEntry;
use crate::io::{DirectWriter, DiskFile};
use crate::payload_sums::{sum_buffer, BufferSums, PayloadSums};
use crate::record::{
    chunk_count, object_record_len, trailer_len, trailer_offset, BagName, RecordHead, RecordKind,
    Trailer, BAG_LEN_MAX, BLOCK_LEN, FLAG_ACCEPTED,
};
use crate::segment::{
    self, Reserved, ReservedFor, Segment, SegmentState, FIRST_RECORD_OFFSET, SEGMENTS_DIR,
};
use crate::store::{now_unix_ms, ObjectMeta, Store, StoreInner};
use crate::sync_gate::SyncGate;
use crate::write_buffers::{BufferLease, WriteBuffers};

/// A segment this lane appends to, with its group-commit gate.
pub(crate) struct ActiveSegment {
    pub segment: Arc<Segment>,
    pub gate: SyncGate,
    /// The segment opened for writes past the page cache, when the store uses them and the
    /// file system allows them; payloads go through the segment's own file otherwise.
    direct: Option<DirectWriter>,
}

impl ActiveSegment {
    /// Writes a block-aligned run of payload (and trailer) at `pos`, handing the buffer back.
    async fn write_aligned(
        &self,
        buf: Arc<AlignedBuf>,
        pos: u64,
    ) -> (std::io::Result<()>, Arc<AlignedBuf>) {
        match &self.direct {
            Some(direct) => direct.write_at(buf, pos).await,
            None => self.segment.file.write_aligned_at(buf, pos).await,
        }
    }
}

/// One thread's lane for writes (uploads, deletes, acceptances, compaction).
pub struct Writer {
    pub(crate) store: Store,
    active: RefCell<Option<Rc<ActiveSegment>>>,
    /// Payload buffers, shared by this lane's uploads.
    buffers: Rc<WriteBuffers>,
}

/// What to reserve for an upload.
#[derive(Clone, Debug)]
pub struct UploadSpec<'a> {
    /// Data object id.
    pub id: u64,
    /// Bag id (at most 40 bytes).
    pub bag: &'a str,
    /// Exact payload size in bytes.
    pub size_bytes: u64,
}

/// Space held for one record until it is applied to the index or abandoned. Dropping it
/// without `finish` abandons the record: its bytes become dead space for compaction.
pub(crate) struct Reservation {
    inner: Arc<StoreInner>,
    segment: Arc<Segment>,
    offset: u64,
    len: u64,
    /// The object id held in the index's reserved set, for uploads.
    reserved_id: Option<u64>,
    done: bool,
}

impl Reservation {
    fn release(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let removed = self.segment.state.lock().outstanding.remove(&self.offset);
        debug_assert_eq!(removed.map(|r| r.len_bytes), Some(self.len));
        if let Some(id) = self.reserved_id {
            self.inner.index.unreserve(id);
            self.inner.reservations.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Applies the record to the index through `apply` and marks it applied, as one step as
    /// far as checkpoints can see (both happen under the store's apply gate, shared). Replay
    /// after a crash relies on it: a record a checkpoint lists as outstanding is not in that
    /// checkpoint's index, and one it does not list is wholly in it. Without it, an object
    /// could be applied and deleted (its tombstone applied, not replayed) before the
    /// checkpoint, yet still listed as outstanding (replayed): a crash would bring it back.
    /// `apply` must not await or take the gate itself.
    fn apply<T>(mut self, apply: impl FnOnce() -> T) -> T {
        let inner = self.inner.clone();
        let _gate = inner.apply_gate.read();
        let outcome = apply();
        self.release();
        outcome
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.release();
    }
}

impl Store {
    /// A writer lane for the calling thread. Create one per thread (per core) and share it
    /// between that thread's tasks.
    pub fn writer(&self) -> Writer {
        let config = &self.inner.config;
        Writer {
            store: self.clone(),
            active: RefCell::new(None),
            buffers: WriteBuffers::new(
                config.write_buffer_bytes,
                config.write_buffers_per_lane,
                Duration::from_millis(config.write_buffers_burst_kept_ms),
                self.inner.write_buffer_totals.clone(),
            ),
        }
    }
}

impl Writer {
    fn inner(&self) -> &Arc<StoreInner> {
        &self.store.inner
    }

    /// Frees the lane's idle write buffers beyond what it keeps (see
    /// [`StoreConfig::write_buffers_burst_kept_ms`](crate::StoreConfig)); for a thread to
    /// call now and then, so a burst of uploads leaves no memory behind once it is over.
    pub fn trim_write_buffers(&self) {
        self.buffers.trim();
    }

    /// Creates a new segment file for this lane.
    fn new_segment(&self, first_record_len: u64) -> Result<Rc<ActiveSegment>> {
        let inner = self.inner();
        let id = inner.next_segment_id.fetch_add(1, Ordering::AcqRel);
        let dir = inner.dir.join(SEGMENTS_DIR);
        let path = dir.join(segment::file_name(id));
        // A zero-filled pool file is a whole segment, allocated already.
        let (file, allocated) = match self.take_prezeroed(&path) {
            Some(file) => (file, inner.config.segment_size_bytes),
            None => (
                inner
                    .disk
                    .open(&path, true)
                    .map_err(|e| EngineError::io("create segment", &path, e))?,
                0,
            ),
        };
        let allocate = (FIRST_RECORD_OFFSET + first_record_len)
            .max(
                inner
                    .config
                    .preallocate_step_bytes
                    .min(inner.config.segment_size_bytes),
            )
            .max(allocated);
        let setup = || -> std::io::Result<()> {
            file.allocate(0, allocate)?;
            file.write_all_at_blocking(&segment::encode_header(&inner.key, id, now_unix_ms()), 0)?;
            // Without this fsync a power cut could lose the header of a segment whose records
            // were acknowledged (the records' own syncs cover it too; this makes it explicit).
            file.sync_data_blocking()?;
            // Without this fsync of the directory the new file itself could vanish in a power
            // cut, taking acknowledged records with it.
            inner.disk.sync_dir(&dir)
        };
        if let Err(error) = setup() {
            let _ = inner.disk.remove_file(&path);
            return Err(EngineError::io("set up segment", &path, error));
        }
        let state = SegmentState {
            append_pos: FIRST_RECORD_OFFSET,
            allocated_bytes: allocate,
            ..SegmentState::default()
        };
        let direct = if inner.config.direct_writes {
            file.direct_writer()
        } else {
            None
        };
        let counter = if direct.is_some() {
            &inner.direct_segments
        } else {
            &inner.buffered_segments
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let segment = Arc::new(Segment::new(id, &path, file, state));
        inner.segments.write().insert(id, segment.clone());
        Ok(Rc::new(ActiveSegment {
            segment,
            gate: SyncGate::default(),
            direct,
        }))
    }

    /// A zero-filled file from the segment pool, renamed to `path`, when the pool has one.
    /// Its blocks are written and synced already, so commits into it convert no extents.
    fn take_prezeroed(&self, path: &Path) -> Option<Arc<dyn DiskFile>> {
        let inner = self.inner();
        let ready = inner.segment_pool.take()?;
        // The caller's directory fsync makes the rename durable with the segment's header.
        if inner.disk.rename(&ready, path).is_err() {
            let _ = inner.disk.remove_file(&ready);
            return None;
        }
        inner.disk.open(path, false).ok()
    }

    /// Takes `len` bytes at the end of this lane's active segment (rolling to a new segment
    /// when full), with disk blocks allocated so the writes cannot hit ENOSPC.
    fn take_space(
        &self,
        len: u64,
        reserved_id: Option<u64>,
        purpose: ReservedFor,
    ) -> Result<(Rc<ActiveSegment>, Reservation)> {
        let inner = self.inner();
        for _ in 0..3 {
            let current = self.active.borrow().clone();
            let active = match current {
                Some(active) => active,
                None => {
                    let active = self.new_segment(len)?;
                    *self.active.borrow_mut() = Some(active.clone());
                    active
                }
            };
            let mut state = active.segment.state.lock();
            let full = state.append_pos > FIRST_RECORD_OFFSET
                && state.append_pos + len > inner.config.segment_size_bytes;
            if state.poisoned.is_some() || state.sealed || full {
                if !state.sealed {
                    state.sealed = true;
                    // Give back preallocated blocks past the last record.
                    if state.poisoned.is_none()
                        && active.segment.file.set_len(state.append_pos).is_ok()
                    {
                        state.allocated_bytes = state.append_pos;
                    }
                }
                drop(state);
                *self.active.borrow_mut() = None;
                continue;
            }
            let end = state.append_pos + len;
            if end > state.allocated_bytes {
                let step = inner
                    .config
                    .preallocate_step_bytes
                    .max(end - state.allocated_bytes);
                let want = step
                    .min(
                        inner
                            .config
                            .segment_size_bytes
                            .saturating_sub(state.allocated_bytes),
                    )
                    .max(end - state.allocated_bytes);
                let from = state.allocated_bytes;
                // Ask for a whole step; on a nearly full disk settle for exactly what this
                // record needs. Only what was really allocated counts.
                let granted = match active.segment.file.allocate(from, want) {
                    Ok(()) => want,
                    Err(_) => match active.segment.file.allocate(from, end - from) {
                        Ok(()) => end - from,
                        Err(error) => {
                            return Err(EngineError::io(
                                "allocate segment space",
                                &active.segment.path,
                                error,
                            ));
                        }
                    },
                };
                state.allocated_bytes = from + granted;
            }
            let offset = state.append_pos;
            state.append_pos = end;
            state.outstanding.insert(
                offset,
                Reserved {
                    len_bytes: len,
                    purpose,
                },
            );
            drop(state);
            let reservation = Reservation {
                inner: inner.clone(),
                segment: active.segment.clone(),
                offset,
                len,
                reserved_id,
                done: false,
            };
            return Ok((active, reservation));
        }
        Err(EngineError::LimitReached {
            what: "segment roll-overs for one reservation",
            limit: 3,
        })
    }

    /// Reserves space for an object of known size and returns the upload to stream it into.
    pub fn begin_upload(&self, spec: UploadSpec<'_>) -> Result<Upload> {
        let inner = self.inner().clone();
        inner.check_open()?;
        let limit = inner.config.object_size_max_bytes;
        if spec.size_bytes > limit {
            return Err(EngineError::TooLarge {
                size_bytes: spec.size_bytes,
                limit_bytes: limit,
            });
        }
        let bag = BagName::new(spec.bag).ok_or(EngineError::BagTooLong {
            len: spec.bag.len(),
            max: BAG_LEN_MAX,
        })?;
        let in_flight = inner.reservations.fetch_add(1, Ordering::AcqRel) + 1;
        if in_flight > inner.config.reservations_max {
            inner.reservations.fetch_sub(1, Ordering::AcqRel);
            return Err(EngineError::LimitReached {
                what: "uploads in flight",
                limit: inner.config.reservations_max,
            });
        }
        if let Err(error) = inner.index.reserve(spec.id) {
            inner.reservations.fetch_sub(1, Ordering::AcqRel);
            return Err(error);
        }
        let chunk_size = inner.config.chunk_size_bytes;
        let record_len = object_record_len(spec.size_bytes, chunk_size);
        let (active, reservation) =
            match self.take_space(record_len, Some(spec.id), ReservedFor::NewRecord) {
                Ok(taken) => taken,
                Err(error) => {
                    inner.index.unreserve(spec.id);
                    inner.reservations.fetch_sub(1, Ordering::AcqRel);
                    return Err(error);
                }
            };
        let head = RecordHead {
            kind: RecordKind::Object,
            object_id: spec.id,
            seq: inner.next_seq.fetch_add(1, Ordering::AcqRel),
            segment_id: active.segment.id,
            offset: reservation.offset,
            payload_len: spec.size_bytes,
            created_unix_ms: now_unix_ms(),
            bag,
            chunk_size,
        };
        // The head goes to the page cache now, before any later record in this segment can be
        // reserved and synced: any fdatasync that makes a later record durable makes this head
        // durable too, so a scan can always step over this record by its length.
        active
            .segment
            .file
            .write_all_at_blocking(&head.encode(&inner.key), reservation.offset)
            .map_err(|e| EngineError::io("write record head", &active.segment.path, e))?;
        let payload_at = reservation.offset + BLOCK_LEN;
        let mut buffers = self.buffers.lease();
        Ok(Upload {
            inner: inner.clone(),
            active,
            reservation: Some(reservation),
            head,
            received_bytes: 0,
            sums: PayloadSums::new(
                spec.size_bytes,
                chunk_size,
                inner.config.write_buffer_bytes as u64,
            ),
            sniff: Vec::new(),
            buffer: match first_buffer_bytes(
                spec.size_bytes,
                chunk_size,
                inner.config.write_buffer_bytes,
            ) {
                full if full == buffers.capacity_bytes() => buffers.take(),
                exact => AlignedBuf::with_capacity(exact),
            },
            buffer_pos: payload_at,
            in_flight: VecDeque::new(),
            buffers,
        })
    }

    /// Appends a single-block record (tombstone or acceptance) and waits until it is durable.
    async fn append_marker(&self, kind: RecordKind, id: u64) -> Result<(RecordHead, Reservation)> {
        let inner = self.inner().clone();
        inner.check_open()?;
        let (active, reservation) = self.take_space(BLOCK_LEN, None, ReservedFor::NewRecord)?;
        let head = RecordHead {
            kind,
            object_id: id,
            seq: inner.next_seq.fetch_add(1, Ordering::AcqRel),
            segment_id: active.segment.id,
            offset: reservation.offset,
            payload_len: 0,
            created_unix_ms: now_unix_ms(),
            bag: BagName::EMPTY,
            chunk_size: 0,
        };
        // Written before anything later in the segment can be reserved (as upload heads are),
        // so a crash never leaves a hole in front of a valid record.
        active
            .segment
            .file
            .write_all_at_blocking(&head.encode(&inner.key), reservation.offset)
            .map_err(|e| EngineError::io("write record", &active.segment.path, e))?;
        if inner.config.sync == SyncPolicy::Always {
            active.gate.barrier(&active.segment).await?;
        }
        Ok((head, reservation))
    }

    /// Deletes object `id`: a durable tombstone, then the index entry goes.
    pub async fn delete(&self, id: u64) -> Result<ObjectMeta> {
        let inner = self.inner().clone();
        let entry = inner.index.get(id)?.ok_or(EngineError::NotFound { id })?;
        let (head, reservation) = self.append_marker(RecordKind::Tombstone, id).await?;
        reservation.apply(|| inner.apply_tombstone(id, head.seq));
        Ok(ObjectMeta::from_entry(&entry))
    }

    /// Marks object `id` accepted, durably. Accepting an accepted object changes nothing.
    pub async fn mark_accepted(&self, id: u64) -> Result<ObjectMeta> {
        let inner = self.inner().clone();
        let entry = inner.index.get(id)?.ok_or(EngineError::NotFound { id })?;
        if entry.accepted {
            return Ok(ObjectMeta::from_entry(&entry));
        }
        let (_, reservation) = self.append_marker(RecordKind::Accept, id).await?;
        let updated = reservation
            .apply(|| inner.apply_accept(id))?
            .ok_or(EngineError::NotFound { id })?;
        Ok(ObjectMeta::from_entry(&updated))
    }

    /// Copies a live object's record into this lane's segment and repoints the index (used by
    /// compaction). Returns false if the object changed meanwhile (nothing repointed).
    pub(crate) async fn relocate(&self, read: &IndexEntry) -> Result<bool> {
        let inner = self.inner().clone();
        let source = inner
            .segment(read.segment_id)
            .ok_or(EngineError::NotFound { id: read.object_id })?;
        let record_len = object_record_len(read.payload_len, read.chunk_size);
        let (entry, active, reservation) = {
            // Checked and reserved as one step for checkpoints: an object deleted before a
            // checkpoint is never copied into space reserved after it (where replay would
            // apply the copy and bring the object back), and the copy carries the acceptance
            // of every acceptance applied before it.
            let _gate = inner.apply_gate.read();
            let entry = match inner.index.get(read.object_id)? {
                Some(current) if is_same_record(&current, read) => current,
                _ => return Ok(false),
            };
            let (active, reservation) =
                self.take_space(record_len, None, ReservedFor::Relocation)?;
            (entry, active, reservation)
        };
        let entry = &entry;
        let head = RecordHead {
            kind: RecordKind::Object,
            object_id: entry.object_id,
            seq: entry.seq,
            segment_id: active.segment.id,
            offset: reservation.offset,
            payload_len: entry.payload_len,
            created_unix_ms: entry.created_unix_ms,
            bag: entry.bag,
            chunk_size: entry.chunk_size,
        };
        active
            .segment
            .file
            .write_all_at_blocking(&head.encode(&inner.key), reservation.offset)
            .map_err(|e| EngineError::io("write record head", &active.segment.path, e))?;
        // Copy the payload and verify it on the way (a damaged source is not propagated).
        let mut reader =
            crate::reader::ObjectReader::open_entry(&inner, *entry, source, 0..entry.payload_len)
                .await?;
        let mut at = reservation.offset + BLOCK_LEN;
        while let Some(chunk) = reader.next_chunk().await {
            let chunk = chunk?;
            let len = chunk.len() as u64;
            let (outcome, _) = active.segment.file.write_all_at(chunk.to_vec(), at).await;
            outcome
                .map_err(|e| EngineError::io("write relocated payload", &active.segment.path, e))?;
            at += len;
        }
        let table = reader.into_table();
        let table_bytes: Vec<u8> = table.iter().flat_map(|c| c.to_le_bytes()).collect();
        let trailer = Trailer {
            content_type: entry.content_type,
            flags: if entry.accepted { FLAG_ACCEPTED } else { 0 },
            object_id: entry.object_id,
            seq: entry.seq,
            segment_id: active.segment.id,
            chunk_size: entry.chunk_size,
            offset: reservation.offset,
            payload_len: entry.payload_len,
            chunk_count: table.len() as u64,
            digest: entry.digest,
            table_crc: crc32c::crc32c(&table_bytes),
        };
        write_trailer_durably(&inner, &active, &trailer, &table, None, 0).await?;
        let moved = IndexEntry {
            segment_id: active.segment.id,
            offset: reservation.offset,
            ..*entry
        };
        let mut repointed = false;
        let mut accepted_meanwhile = false;
        reservation.apply(|| {
            inner.index.update(entry.object_id, |current| {
                if is_same_record(current, entry) {
                    accepted_meanwhile = current.accepted && !entry.accepted;
                    *current = IndexEntry {
                        accepted: current.accepted,
                        ..moved
                    };
                    repointed = true;
                }
            })
        })?;
        if repointed {
            let before = IndexEntry {
                accepted: entry.accepted || accepted_meanwhile,
                ..*entry
            };
            inner.account(&before, -1);
            inner.account(
                &IndexEntry {
                    accepted: before.accepted,
                    ..moved
                },
                1,
            );
            inner
                .records_since_checkpoint
                .fetch_add(1, Ordering::Release);
        }
        Ok(repointed)
    }

    /// Copies a tombstone or acceptance forward (compaction keeps them while they matter).
    pub(crate) async fn carry_marker(&self, marker: &RecordHead) -> Result<()> {
        let inner = self.inner().clone();
        let (active, reservation) = self.take_space(BLOCK_LEN, None, ReservedFor::NewRecord)?;
        let head = RecordHead {
            segment_id: active.segment.id,
            offset: reservation.offset,
            ..*marker
        };
        // Written before anything later in the segment can be reserved (as upload heads are),
        // so a crash never leaves a hole in front of a valid record.
        active
            .segment
            .file
            .write_all_at_blocking(&head.encode(&inner.key), reservation.offset)
            .map_err(|e| EngineError::io("write record", &active.segment.path, e))?;
        if inner.config.sync == SyncPolicy::Always {
            active.gate.barrier(&active.segment).await?;
        }
        // The index already reflects what the marker says (that is why it is carried).
        reservation.apply(|| ());
        Ok(())
    }

    /// Seals this lane's active segment (compaction uses this so it never compacts into a
    /// segment it is emptying).
    pub(crate) fn seal_active(&self) {
        if let Some(active) = self.active.borrow_mut().take() {
            let mut state = active.segment.state.lock();
            if !state.sealed {
                state.sealed = true;
                if state.outstanding.is_empty()
                    && state.poisoned.is_none()
                    && active.segment.file.set_len(state.append_pos).is_ok()
                {
                    state.allocated_bytes = state.append_pos;
                }
            }
        }
    }

    /// Id of this lane's active segment, if any.
    pub(crate) fn active_segment_id(&self) -> Option<u32> {
        self.active.borrow().as_ref().map(|a| a.segment.id)
    }
}

/// Capacity of an upload's first buffer: a whole object that fits one buffer gets room for its
/// block padding and trailer too, so payload and trailer go to the disk in one write.
fn first_buffer_bytes(size_bytes: u64, chunk_size: u32, write_buffer_bytes: usize) -> usize {
    let payload = block_round(size_bytes);
    if payload <= write_buffer_bytes {
        let trailer = trailer_len(chunk_count(size_bytes, chunk_size));
        payload.saturating_add(trailer.min(usize::MAX as u64) as usize)
    } else {
        write_buffer_bytes
    }
}

fn block_round(len: u64) -> usize {
    crate::codec::align_up(len.max(1), BLOCK_LEN).min(usize::MAX as u64) as usize
}

/// Writes the trailer behind the payload, then one fdatasync makes both durable. `tail` is
/// the end of the payload not written yet (None or empty if all of it was), starting at
/// `tail_pos`; when it has room, the trailer goes in the same buffer, one write for both (for
/// an object that fits one buffer, the whole payload and its trailer are then one write).
/// Every write here is whole 4 KiB blocks at block offsets (the tail is padded with the zeros
/// the record layout puts there anyway), so it can bypass the page cache.
///
/// The payload is not synced on its own first: a crash between the writes and the fdatasync
/// can leave a trailer on disk whose payload is not all there, but that commit was never
/// acknowledged, and the scan after a crash checks every chunk of every record past the
/// checkpoint against the trailer's crc table, so such a record is reported and never served.
/// Records before the checkpoint's frontier were all synced before it was written.
///
/// Gives back the tail's buffer, written, for reuse.
async fn write_trailer_durably(
    inner: &StoreInner,
    active: &ActiveSegment,
    trailer: &Trailer,
    table: &[u32],
    tail: Option<AlignedBuf>,
    tail_pos: u64,
) -> Result<Option<AlignedBuf>> {
    let segment = &active.segment;
    let at = trailer.offset + trailer_offset(trailer.payload_len);
    let encoded = trailer.encode(&inner.key, table);
    debug_assert_eq!(
        encoded.len() as u64 % BLOCK_LEN,
        0,
        "a trailer is whole blocks"
    );
    let mut written_tail = None;
    if let Some(mut tail) = tail.filter(|tail| !tail.is_empty()) {
        let tail_end = tail_pos + tail.len() as u64;
        debug_assert_eq!(
            tail_end,
            trailer.offset + BLOCK_LEN + trailer.payload_len,
            "the tail ends where the payload does"
        );
        debug_assert_eq!(tail_pos % BLOCK_LEN, 0, "the tail starts on a block");
        // The gap (less than a block) is the last payload block's padding: zeros, as the
        // record layout has them.
        let gap = (at - tail_end) as usize;
        if tail.remaining() >= gap + encoded.len() {
            tail.push_zeros(gap);
            tail.extend_from_slice(&encoded);
            let (outcome, tail) = active.write_aligned(Arc::new(tail), tail_pos).await;
            outcome.map_err(|e| EngineError::io("write payload and trailer", &segment.path, e))?;
            sync_commit(inner, active).await?;
            return Ok(Arc::into_inner(tail));
        }
        // Buffers are whole blocks long, so the padding always fits.
        assert!(tail.remaining() >= gap, "payload buffers hold whole blocks");
        tail.push_zeros(gap);
        let (outcome, tail) = active.write_aligned(Arc::new(tail), tail_pos).await;
        outcome.map_err(|e| EngineError::io("write payload", &segment.path, e))?;
        written_tail = Arc::into_inner(tail);
    }
    let mut block = AlignedBuf::with_capacity(encoded.len());
    block.extend_from_slice(&encoded);
    let (outcome, _) = active.write_aligned(Arc::new(block), at).await;
    outcome.map_err(|e| EngineError::io("write record trailer", &segment.path, e))?;
    sync_commit(inner, active).await?;
    Ok(written_tail)
}

/// The barrier every commit ends with (none under [`SyncPolicy::Never`]).
async fn sync_commit(inner: &StoreInner, active: &ActiveSegment) -> Result<()> {
    let segment = &active.segment;
    if inner.config.sync == SyncPolicy::Always {
        // Without this fdatasync the commit would be acknowledged before it is durable.
        active.gate.barrier(segment).await?;
    }
    Ok(())
}

/// How an upload is finished.
#[derive(Clone, Copy, Debug, Default)]
pub struct CommitSpec {
    /// The blake3 digest the content must have (from the ledger); None skips the check.
    pub expected_digest: Option<[u8; 32]>,
    /// Store the object as accepted right away.
    pub accepted: bool,
}

/// An object being streamed into its reservation. Dropping it aborts the upload.
pub struct Upload {
    inner: Arc<StoreInner>,
    active: Rc<ActiveSegment>,
    reservation: Option<Reservation>,
    head: RecordHead,
    received_bytes: u64,
    /// Digest and chunk crcs, fed each buffer as it goes to the disk.
    sums: PayloadSums,
    sniff: Vec<u8>,
    /// Payload gathered for the next write (4 KiB-aligned memory, so it can go `O_DIRECT`).
    buffer: AlignedBuf,
    /// File offset of `buffer[0]`, always on a block boundary.
    buffer_pos: u64,
    in_flight: VecDeque<BufferInFlight>,
    /// This upload's share of the lane's buffers: every buffer of the lane's size comes from
    /// there, and goes back once written.
    buffers: BufferLease,
}

/// A full buffer on its way to the disk, and its sums if they were taken apart.
struct BufferInFlight {
    write: monoio::task::JoinHandle<(std::io::Result<()>, Arc<AlignedBuf>)>,
    /// Object offset of the buffer's first byte.
    object_offset: u64,
    sums: BufferSumsState,
}

enum BufferSumsState {
    /// Summed in order with the upload's running sums already.
    Added,
    /// Being summed by a hashing thread.
    Pending(PendingSums),
    /// Summed apart on this thread, waiting for the buffers before it.
    Ready(BufferSums),
}

impl Upload {
    /// The object id.
    pub fn id(&self) -> u64 {
        self.head.object_id
    }

    /// Bytes received so far.
    pub fn received_bytes(&self) -> u64 {
        self.received_bytes
    }

    /// Bytes still expected.
    pub fn remaining_bytes(&self) -> u64 {
        self.head.payload_len - self.received_bytes
    }

    /// Streams the next bytes of the object.
    pub async fn write(&mut self, mut data: &[u8]) -> Result<()> {
        let total = self.received_bytes + data.len() as u64;
        if total > self.head.payload_len {
            return Err(EngineError::SizeMismatch {
                id: self.head.object_id,
                expected: self.head.payload_len,
                actual: total,
            });
        }
        let capacity = self.inner.config.write_buffer_bytes;
        while !data.is_empty() {
            let take = data.len().min(capacity - self.buffer.len());
            let (now, rest) = data.split_at(take);
            let start = self.buffer.len();
            self.buffer.extend_from_slice(now);
            self.took_into_buffer(start).await?;
            data = rest;
        }
        Ok(())
    }

    /// Room for the object's next bytes in the upload's own buffer, for a caller that
    /// receives them straight into it (a socket read) instead of copying them in with
    /// [`write`](Self::write); never more than the bytes still expected. Count what was
    /// put there with [`filled`](Self::filled).
    pub fn unfilled_mut(&mut self) -> &mut [u8] {
        let room = (self.inner.config.write_buffer_bytes - self.buffer.len())
            .min(usize::try_from(self.remaining_bytes()).unwrap_or(usize::MAX));
        &mut self.buffer.spare_mut()[..room]
    }

    /// Takes the first `count` bytes of [`unfilled_mut`](Self::unfilled_mut) as the object's
    /// next bytes.
    pub async fn filled(&mut self, count: usize) -> Result<()> {
        assert!(
            count as u64 <= self.remaining_bytes(),
            "filled more than the object has left"
        );
        let start = self.buffer.len();
        self.buffer.advance(count);
        self.took_into_buffer(start).await
    }

    /// Accounts for the bytes the buffer gained from `start` on (sniffing the content type
    /// from the object's first bytes); a full buffer goes to the disk now, unless it ends
    /// the object: the commit then writes it with the trailer.
    async fn took_into_buffer(&mut self, start: usize) -> Result<()> {
        let taken = &self.buffer.as_slice()[start..];
        if self.sniff.len() < content_type::SNIFF_LEN_BYTES {
            let take = (content_type::SNIFF_LEN_BYTES - self.sniff.len()).min(taken.len());
            self.sniff.extend_from_slice(&taken[..take]);
        }
        self.received_bytes += taken.len() as u64;
        debug_assert!(self.received_bytes <= self.head.payload_len);
        let ends_object = self.received_bytes == self.head.payload_len;
        if self.buffer.len() == self.inner.config.write_buffer_bytes && !ends_object {
            self.submit().await?;
        }
        Ok(())
    }

    /// Sends the buffer to the disk in the background, keeping a bounded number in flight,
    /// and sums it: on a hashing thread if one is free, here otherwise.
    async fn submit(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        // With the lane's buffers all taken, an upload with writes in flight reuses its own
        // (`write_buffers`).
        while self.in_flight.len() >= self.inner.config.writes_in_flight_max
            || (!self.in_flight.is_empty() && self.buffers.should_reuse())
        {
            self.wait_oldest().await?;
        }
        let next = self.buffers.take();
        let full = std::mem::replace(&mut self.buffer, next);
        debug_assert_eq!(
            full.len() as u64 % BLOCK_LEN,
            0,
            "only full buffers are submitted"
        );
        let full = Arc::new(full);
        let pos = self.buffer_pos;
        let object_offset = pos - (self.head.offset + BLOCK_LEN);
        self.buffer_pos += full.len() as u64;
        let active = self.active.clone();
        let writeback = self.inner.config.sync == SyncPolicy::Always && active.direct.is_none();
        let written = full.clone();
        let write = monoio::spawn(async move {
            let len = written.len() as u64;
            let outcome = active.write_aligned(written, pos).await;
            if writeback && outcome.0.is_ok() {
                // Start the disk now rather than at commit: the fdatasync then finds little
                // left to write, and the disk works while the upload is still hashing.
                active.segment.file.start_writeback(pos, len);
            }
            outcome
        });
        // monoio hands queued operations to the kernel only when the thread runs out of ready
        // tasks; an upload fed from memory (or from a socket that always has data) would hold
        // this write back until its next real wait, a whole buffer of hashing later.
        crate::io::submit_queued_io().await;
        let sums = if self.sums.sums_buffers_apart() {
            let chunk_size = self.head.chunk_size;
            let offered = self
                .inner
                .hash_pool
                .as_ref()
                .and_then(|pool| pool.offer(&full, object_offset, chunk_size));
            let (counter, sums) = match offered {
                Some(pending) => (
                    &self.inner.buffers_hashed_off_core,
                    BufferSumsState::Pending(pending),
                ),
                None => (
                    &self.inner.buffers_hashed_on_core,
                    BufferSumsState::Ready(sum_buffer(full.as_slice(), object_offset, chunk_size)),
                ),
            };
            counter.fetch_add(1, Ordering::Relaxed);
            sums
        } else {
            self.sums.add(full.as_slice());
            BufferSumsState::Added
        };
        self.in_flight.push_back(BufferInFlight {
            write,
            object_offset,
            sums,
        });
        Ok(())
    }

    async fn wait_oldest(&mut self) -> Result<()> {
        let Some(oldest) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let (outcome, buffer) = oldest.write.await;
        let chunk_size = self.head.chunk_size;
        match oldest.sums {
            BufferSumsState::Added => {}
            BufferSumsState::Ready(sums) => self.sums.add_summed(sums),
            BufferSumsState::Pending(pending) => {
                // A hashing thread that died with the job (it cannot, short of a bug) left
                // the buffer to be summed here.
                let sums = match pending.await {
                    Ok(sums) => sums,
                    Err(_) => sum_buffer(buffer.as_slice(), oldest.object_offset, chunk_size),
                };
                self.sums.add_summed(sums);
            }
        }
        outcome.map_err(|e| EngineError::io("write payload", &self.active.segment.path, e))?;
        // Both the write and the hashing thread are done with it: reuse it.
        match Arc::try_unwrap(buffer) {
            Ok(buffer) => self.buffers.give(buffer),
            Err(_) => self.buffers.forget(),
        }
        Ok(())
    }

    /// Verifies size and hash, makes the object durable, then visible. On any error nothing
    /// becomes visible and the reservation is released. Once the durable part has started it
    /// runs to completion even if this future is dropped.
    pub async fn commit(mut self, spec: CommitSpec) -> Result<ObjectMeta> {
        let id = self.head.object_id;
        if self.received_bytes != self.head.payload_len {
            return Err(EngineError::SizeMismatch {
                id,
                expected: self.head.payload_len,
                actual: self.received_bytes,
            });
        }
        // What is still in the buffer is written with the trailer, after the digest check.
        while !self.in_flight.is_empty() {
            self.wait_oldest().await?;
        }
        // The tail holds exactly the payload not yet written: the end of the object.
        self.sums.add(self.buffer.as_slice());
        let (digest, table) = self.sums.finish();
        if let Some(expected) = spec.expected_digest {
            if expected != digest {
                return Err(EngineError::HashMismatch {
                    id,
                    expected: crate::multihash::encode(&expected),
                    actual: crate::multihash::encode(&digest),
                });
            }
        }
        debug_assert_eq!(
            table.len() as u64,
            chunk_count(self.head.payload_len, self.head.chunk_size)
        );
        let table_bytes: Vec<u8> = table.iter().flat_map(|c| c.to_le_bytes()).collect();
        let content_type = if self.head.payload_len == 0 {
            ContentType::OctetStream
        } else {
            content_type::sniff(&self.sniff)
        };
        let trailer = Trailer {
            content_type: content_type.code(),
            flags: if spec.accepted { FLAG_ACCEPTED } else { 0 },
            object_id: id,
            seq: self.head.seq,
            segment_id: self.head.segment_id,
            chunk_size: self.head.chunk_size,
            offset: self.head.offset,
            payload_len: self.head.payload_len,
            chunk_count: table.len() as u64,
            digest,
            table_crc: crc32c::crc32c(&table_bytes),
        };
        let entry = crate::recovery::entry_of(&self.head, &trailer);
        // Moved out of the upload, which is finished with.
        let Upload {
            inner,
            active,
            reservation,
            buffer: tail,
            buffer_pos: tail_pos,
            mut buffers,
            ..
        } = self;
        // The durable part runs as its own task so a dropped request cannot leave a trailer
        // on disk that the index never saw.
        let task = monoio::spawn(async move {
            let written =
                write_trailer_durably(&inner, &active, &trailer, &table, Some(tail), tail_pos)
                    .await?;
            // The tail is the lane's size unless the whole object fit a smaller buffer.
            if let Some(tail) = written.filter(|t| t.capacity() == buffers.capacity_bytes()) {
                buffers.give(tail);
            }
            match reservation {
                Some(reservation) => reservation.apply(|| inner.apply_object(&entry))?,
                None => inner.apply_object(&entry)?,
            };
            Ok::<_, EngineError>(ObjectMeta::from_entry(&entry))
        });
        task.await
    }
}

/// Whether the index's `current` entry is still the record compaction read as `entry`.
fn is_same_record(current: &IndexEntry, entry: &IndexEntry) -> bool {
    current.segment_id == entry.segment_id
        && current.offset == entry.offset
        && current.seq == entry.seq
}
