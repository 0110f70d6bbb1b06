//! Opening a store: create it, or check the superblock and lock, then bring the index up to
//! date. After a clean shutdown nothing is read but small files. After a crash, only records
//! past the checkpoint are read and verified (head, trailer, chunk checksums). If the index or
//! checkpoint is unusable, the index is rebuilt from every segment.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::Arc;

use crate::checkpoint::Checkpoint;
use crate::codec::StoreKey;
use crate::config::StoreConfig;
use crate::error::{EngineError, Result};
use crate::index::{Index, IndexEntry, ShardOpenError};
use crate::io::{Disk, DiskFile};
use crate::record::RecordError;
use crate::record::{
    decode_table, trailer_len, trailer_offset, RecordHead, RecordKind, Trailer, BLOCK_LEN,
    TRAILER_FIXED_LEN,
};
use crate::segment::{self, ReservedFor, Segment, SegmentState, FIRST_RECORD_OFFSET, SEGMENTS_DIR};
use crate::store::{
    add_entry_to_counters, now_unix_ms, DamagedRecord, OpenReport, StoreInner, CHECKPOINT_FILE,
    LOCK_FILE, SUPERBLOCK_FILE,
};
use crate::superblock::{Superblock, SuperblockError, FORMAT_VERSION};

/// A valid record found by a scan.
#[derive(Clone, Debug)]
pub(crate) enum Found {
    /// A committed object.
    Object { head: RecordHead, trailer: Trailer },
    /// A tombstone.
    Tombstone(RecordHead),
    /// An acceptance.
    Accept(RecordHead),
}

impl Found {
    fn head(&self) -> &RecordHead {
        match self {
            Found::Object { head, .. } | Found::Tombstone(head) | Found::Accept(head) => head,
        }
    }

    fn order(&self) -> (u64, u32, u64) {
        let head = self.head();
        (head.seq, head.segment_id, head.offset)
    }
}

/// Which records a replay reads and applies.
///
/// From a checkpoint: each listed segment is read from its frontier (the first record that
/// was outstanding at the capture). Past the frontier lie three kinds of record: those still
/// outstanding at the capture (applied, unless compaction's copies: the index still points at
/// the original, kept on disk until a later checkpoint, and the object may have been deleted
/// while it was copied), those reserved after it, from the segment's append offset on
/// (applied), and those between that the capture saw applied already (skipped: the index has
/// them, and may have seen them deleted since, by a tombstone that is itself before its own
/// segment's frontier). Segments the checkpoint does not list were created after it: read
/// and applied whole. The apply gate makes the capture one instant for all segments, so a
/// record is never skipped while an earlier record of the same object is applied.
///
/// Without a checkpoint (a rebuild): every record of every segment.
#[derive(Debug, Default)]
struct ReplayPlan {
    segments: HashMap<u32, SegmentReplay>,
}

#[derive(Debug)]
struct SegmentReplay {
    frontier: u64,
    append_offset: u64,
    outstanding: HashMap<u64, ReservedFor>,
}

impl ReplayPlan {
    fn from_checkpoint(checkpoint: &Checkpoint) -> Self {
        let mut segments: HashMap<u32, SegmentReplay> = checkpoint
            .segments
            .iter()
            .map(|s| {
                let replay = SegmentReplay {
                    frontier: s.end_offset.max(FIRST_RECORD_OFFSET),
                    append_offset: s.append_offset,
                    outstanding: HashMap::new(),
                };
                (s.segment_id, replay)
            })
            .collect();
        for record in &checkpoint.outstanding {
            if let Some(replay) = segments.get_mut(&record.segment_id) {
                replay.outstanding.insert(record.offset, record.purpose);
            }
        }
        Self { segments }
    }

    /// Where reading segment `id` starts.
    fn start(&self, id: u32) -> u64 {
        self.segments
            .get(&id)
            .map_or(FIRST_RECORD_OFFSET, |s| s.frontier)
    }

    /// Whether the record at `offset` of segment `id` is applied to the index.
    fn applies(&self, id: u32, offset: u64) -> bool {
        let Some(replay) = self.segments.get(&id) else {
            return true;
        };
        match replay.outstanding.get(&offset) {
            Some(ReservedFor::NewRecord) => true,
            Some(ReservedFor::Relocation) => false,
            None => offset >= replay.append_offset,
        }
    }
}

/// What scanning one segment found.
#[derive(Default, Debug)]
pub(crate) struct Scan {
    pub found: Vec<Found>,
    pub damaged: Vec<DamagedRecord>,
    pub abandoned: u64,
    /// End of the last valid record (the log end).
    pub log_end: u64,
    pub bytes_verified: u64,
    pub max_seq: Option<u64>,
}

/// How thoroughly to scan.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ScanMode {
    /// Read every payload and check its chunk crcs.
    pub verify_payload: bool,
    /// Also check the blake3 digest of each payload (scrub).
    pub verify_digest: bool,
}

/// Scans a segment's records from `start` to the end of the file. Past an invalid head it
/// searches block by block for the next valid one: after a crash nothing valid follows the
/// torn tail, but after corruption the records beyond a damaged head are still there.
/// Object records at offsets `not_replayed` names (the checkpoint's index reflects them, or
/// their original for a compaction copy) are stepped over by their head's length, unread and
/// not reported.
pub(crate) fn scan_segment(
    file: &dyn DiskFile,
    key: &StoreKey,
    segment_id: u32,
    start: u64,
    end: Option<u64>,
    mode: ScanMode,
    not_replayed: &dyn Fn(u64) -> bool,
) -> Scan {
    let mut scan = Scan {
        log_end: start,
        ..Scan::default()
    };
    let file_len = file.len().unwrap_or(0).min(end.unwrap_or(u64::MAX));
    let mut pos = start;
    let mut block = vec![0u8; BLOCK_LEN as usize];
    let mut in_gap = false;
    while pos + BLOCK_LEN <= file_len {
        if file.read_exact_at_blocking(&mut block, pos).is_err() {
            break;
        }
        let head = match RecordHead::decode(&block, key, segment_id, pos) {
            Ok(head) => head,
            Err(_) => {
                in_gap = true;
                pos += BLOCK_LEN;
                continue;
            }
        };
        if in_gap && pos > scan.log_end {
            scan.damaged.push(DamagedRecord {
                segment_id,
                offset: scan.log_end,
                object_id: None,
                reason: format!(
                    "unreadable region of {} bytes before a valid record",
                    pos - scan.log_end
                ),
            });
        }
        in_gap = false;
        scan.max_seq = scan.max_seq.max(Some(head.seq));
        match head.kind {
            RecordKind::Tombstone => {
                scan.found.push(Found::Tombstone(head));
                pos += BLOCK_LEN;
            }
            RecordKind::Accept => {
                scan.found.push(Found::Accept(head));
                pos += BLOCK_LEN;
            }
            RecordKind::Object if not_replayed(pos) => {
                pos = pos.saturating_add(crate::record::object_record_len(
                    head.payload_len,
                    head.chunk_size,
                ));
            }
            RecordKind::Object => {
                let record_len =
                    crate::record::object_record_len(head.payload_len, head.chunk_size);
                match check_object(file, key, &head, file_len, mode) {
                    Ok((trailer, verified)) => {
                        scan.bytes_verified += verified;
                        scan.found.push(Found::Object { head, trailer });
                    }
                    Err(ObjectCheck::Unfinished) => scan.abandoned += 1,
                    Err(ObjectCheck::Damaged(reason)) => scan.damaged.push(DamagedRecord {
                        segment_id,
                        offset: pos,
                        object_id: Some(head.object_id),
                        reason,
                    }),
                }
                pos = pos.saturating_add(record_len);
            }
        }
        scan.log_end = pos;
    }
    scan
}

enum ObjectCheck {
    /// No valid trailer: an upload that never committed.
    Unfinished,
    /// Committed, but the bytes fail their checks.
    Damaged(String),
}

/// Reads and checks an object record's trailer, table and (per `mode`) payload.
fn check_object(
    file: &dyn DiskFile,
    key: &StoreKey,
    head: &RecordHead,
    file_len: u64,
    mode: ScanMode,
) -> std::result::Result<(Trailer, u64), ObjectCheck> {
    let trailer_at = head.offset + trailer_offset(head.payload_len);
    if trailer_at + BLOCK_LEN > file_len {
        return Err(ObjectCheck::Unfinished);
    }
    let mut fixed = vec![0u8; BLOCK_LEN as usize];
    file.read_exact_at_blocking(&mut fixed, trailer_at)
        .map_err(|_| ObjectCheck::Unfinished)?;
    let trailer = match Trailer::decode(&fixed, key, head.segment_id, head.offset) {
        Ok(trailer) if trailer.matches(head) => trailer,
        Ok(_) => {
            return Err(ObjectCheck::Damaged(
                "trailer belongs to another record".into(),
            ))
        }
        // Nothing that looks like a trailer: the upload never committed.
        Err(RecordError::Magic) => return Err(ObjectCheck::Unfinished),
        // A trailer that was written but fails its checks: torn or damaged.
        Err(error) => return Err(ObjectCheck::Damaged(format!("trailer: {error:?}"))),
    };
    let table_len = 4 * trailer.chunk_count;
    if trailer_at + trailer_len(trailer.chunk_count) > file_len {
        return Err(ObjectCheck::Damaged(
            "record is cut short by the end of the file".into(),
        ));
    }
    let mut table_bytes = vec![0u8; table_len as usize];
    file.read_exact_at_blocking(&mut table_bytes, trailer_at + TRAILER_FIXED_LEN as u64)
        .map_err(|e| ObjectCheck::Damaged(format!("reading checksum table: {e}")))?;
    let table = decode_table(&table_bytes, trailer.table_crc)
        .ok_or_else(|| ObjectCheck::Damaged("chunk checksum table fails its crc".into()))?;
    if !mode.verify_payload {
        return Ok((trailer, 0));
    }
    let chunk = u64::from(trailer.chunk_size);
    let mut buf = vec![0u8; chunk as usize];
    let mut hasher = mode.verify_digest.then(blake3::Hasher::new);
    for (i, expected) in table.iter().enumerate() {
        let start = i as u64 * chunk;
        let len = chunk.min(head.payload_len - start) as usize;
        file.read_exact_at_blocking(&mut buf[..len], head.offset + BLOCK_LEN + start)
            .map_err(|e| ObjectCheck::Damaged(format!("reading chunk {i}: {e}")))?;
        if crc32c::crc32c(&buf[..len]) != *expected {
            // Behind a valid trailer: damage, or a commit whose payload and trailer were
            // written but a crash came before their one fdatasync (never acknowledged).
            return Err(ObjectCheck::Damaged(format!(
                "chunk {i} fails its checksum behind a valid trailer (damage, or a commit the \
                 crash cut before its fdatasync, never acknowledged)"
            )));
        }
        if let Some(hasher) = hasher.as_mut() {
            hasher.update(&buf[..len]);
        }
    }
    if let Some(hasher) = hasher {
        if hasher.finalize().as_bytes() != &trailer.digest {
            return Err(ObjectCheck::Damaged(
                "payload does not match its blake3 digest".into(),
            ));
        }
    }
    Ok((trailer, head.payload_len))
}

/// Index entry for a found object record.
pub(crate) fn entry_of(head: &RecordHead, trailer: &Trailer) -> IndexEntry {
    IndexEntry {
        object_id: head.object_id,
        accepted: trailer.flags & crate::record::FLAG_ACCEPTED != 0,
        content_type: trailer.content_type,
        chunk_size: trailer.chunk_size,
        bag: head.bag,
        segment_id: head.segment_id,
        offset: head.offset,
        payload_len: head.payload_len,
        seq: head.seq,
        created_unix_ms: head.created_unix_ms,
        digest: trailer.digest,
    }
}

/// Applies found records to the index in sequence order (counters are recomputed after).
fn replay(index: &Index, mut found: Vec<Found>) -> Result<u64> {
    found.sort_by_key(Found::order);
    let count = found.len() as u64;
    for record in found {
        match record {
            Found::Object { head, trailer } => {
                // A compaction copy keeps the acceptance the index has for its original.
                index.upsert(&entry_of(&head, &trailer))?;
            }
            Found::Tombstone(head) => {
                index.remove(head.object_id, head.seq);
            }
            Found::Accept(head) => {
                index.update(head.object_id, |e| {
                    if e.seq < head.seq {
                        e.accepted = true;
                    }
                })?;
            }
        }
    }
    Ok(count)
}

fn acquire_lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| EngineError::io("open lock file", &path, e))?;
    // `file` is kept for the store's lifetime, and with it the lock.
    match crate::io::try_lock_exclusive(&file) {
        Ok(true) => Ok(file),
        Ok(false) => Err(EngineError::Locked {
            path: dir.to_path_buf(),
            lock_path: path,
        }),
        Err(error) => Err(EngineError::io("lock", &path, error)),
    }
}

fn read_superblock(dir: &Path) -> Result<Option<Superblock>> {
    let path = dir.join(SUPERBLOCK_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(EngineError::io("read superblock", &path, e)),
    };
    match Superblock::decode(&bytes) {
        Ok(sb) => Ok(Some(sb)),
        Err(SuperblockError::Version(found)) => Err(EngineError::UnsupportedVersion {
            path: dir.to_path_buf(),
            found,
            supported: FORMAT_VERSION,
        }),
        Err(SuperblockError::NotAStore(reason)) => Err(EngineError::NotAStore {
            path: dir.to_path_buf(),
            reason: reason.to_string(),
        }),
        Err(SuperblockError::Damaged) => Err(EngineError::NotAStore {
            path: dir.to_path_buf(),
            reason: "store.meta fails its checksum".to_string(),
        }),
    }
}

fn segment_ids_on_disk(dir: &Path) -> Result<Vec<u32>> {
    let seg_dir = dir.join(SEGMENTS_DIR);
    let mut ids = Vec::new();
    let entries =
        std::fs::read_dir(&seg_dir).map_err(|e| EngineError::io("list segments", &seg_dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| EngineError::io("list segments", &seg_dir, e))?;
        if let Some(id) = entry
            .file_name()
            .to_str()
            .and_then(segment::parse_file_name)
        {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Opens or creates the store; `force_rebuild` rebuilds the index from the segments.
pub(crate) fn open(
    dir: &Path,
    config: StoreConfig,
    disk: Arc<dyn Disk>,
    force_rebuild: bool,
) -> Result<StoreInner> {
    config.validate()?;
    std::fs::create_dir_all(dir).map_err(|e| EngineError::io("create store directory", dir, e))?;
    let lock_file = acquire_lock(dir)?;
    let mut report = OpenReport::default();
    let superblock = match read_superblock(dir)? {
        Some(sb) => sb,
        None => {
            create(dir, &config, disk.as_ref())?;
            report.created = true;
            read_superblock(dir)?.ok_or_else(|| EngineError::NotAStore {
                path: dir.to_path_buf(),
                reason: "store.meta vanished after creation".into(),
            })?
        }
    };
    let key = superblock.key;
    let seg_dir = dir.join(SEGMENTS_DIR);
    let checkpoint = std::fs::read(dir.join(CHECKPOINT_FILE))
        .ok()
        .and_then(|bytes| Checkpoint::decode(&bytes, &key));
    let rebuild_requested = force_rebuild && !report.created;

    // Finish deleting segments a compaction retired before the crash.
    let mut retired = Vec::new();
    if let Some(cp) = &checkpoint {
        for id in &cp.retired {
            let path = seg_dir.join(segment::file_name(*id));
            match disk.remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(_) => retired.push(*id),
            }
        }
        disk.sync_dir(&seg_dir)
            .map_err(|e| EngineError::io("fsync segment directory", &seg_dir, e))?;
    }
    let on_disk = segment_ids_on_disk(dir)?;
    let mut files = BTreeMap::new();
    for id in &on_disk {
        if retired.contains(id) {
            continue;
        }
        let path = seg_dir.join(segment::file_name(*id));
        let file = disk
            .open(&path, false)
            .map_err(|e| EngineError::io("open segment", &path, e))?;
        files.insert(*id, file);
    }

    let shards = superblock.index_shards;
    let clean_cp = checkpoint.as_ref().filter(|cp| cp.is_clean());
    let mut index = match (&checkpoint, clean_cp) {
        (Some(_), Some(cp)) => {
            Index::open(dir, shards, key, Some(&cp.shard_used_slots)).map_err(|e| e.into_reason())
        }
        (Some(_), None) => Index::open(dir, shards, key, None).map_err(|e| e.into_reason()),
        (None, _) if on_disk.is_empty() && report.created => Ok(Index::create(dir, shards, key)?),
        (None, _) => Err(Ok("the checkpoint is missing or damaged".to_string())),
    };
    if rebuild_requested {
        index = Err(Ok("a rebuild was requested".to_string()));
    }
    let mut states: BTreeMap<u32, SegmentState> = BTreeMap::new();
    let mut next_seq = checkpoint.as_ref().map_or(1, |cp| cp.next_seq.max(1));

    if let (Ok(_), Some(cp), false) = (&index, clean_cp, rebuild_requested) {
        report.clean = true;
        for s in &cp.segments {
            if !files.contains_key(&s.segment_id) {
                continue;
            }
            states.insert(
                s.segment_id,
                SegmentState {
                    append_pos: s.end_offset,
                    live_objects: s.live_objects,
                    live_payload_bytes: s.live_payload_bytes,
                    live_record_bytes: s.live_record_bytes,
                    pending_objects: s.pending_objects,
                    pending_payload_bytes: s.pending_payload_bytes,
                    ..SegmentState::default()
                },
            );
        }
    }

    // Unclean: repair the index, replay what came after the checkpoint.
    if let (Ok(idx), Some(cp), false) = (&index, &checkpoint, report.clean) {
        let quarantined = idx.quarantine_damaged();
        replay_segments(
            idx,
            &files,
            &key,
            &ReplayPlan::from_checkpoint(cp),
            &mut report,
            &mut states,
            &mut next_seq,
        )?;
        if quarantined > 0 {
            index = Err(Ok(format!(
                "{quarantined} index slots were damaged or left mid-write by the crash"
            )));
        }
    }

    // Rebuild from every segment when the index cannot be trusted.
    let index = match index {
        Ok(index) => index,
        Err(Err(engine_error)) => return Err(engine_error),
        Err(Ok(reason)) => {
            // Invalidate the checkpoint first: a crash during the rebuild must rebuild again.
            remove_if_present(disk.as_ref(), &dir.join(CHECKPOINT_FILE))?;
            disk.sync_dir(dir)
                .map_err(|e| EngineError::io("fsync store directory", dir, e))?;
            let index = Index::create(dir, shards, key)?;
            replay_segments(
                &index,
                &files,
                &key,
                &ReplayPlan::default(),
                &mut report,
                &mut states,
                &mut next_seq,
            )?;
            report.index_rebuilt = Some(reason);
            index
        }
    };

    if !report.clean {
        // Counters follow from the index.
        for state in states.values_mut() {
            state.live_objects = 0;
            state.live_payload_bytes = 0;
            state.live_record_bytes = 0;
            state.pending_objects = 0;
            state.pending_payload_bytes = 0;
        }
        index.for_each(|entry| {
            if let Some(state) = states.get_mut(&entry.segment_id) {
                add_entry_to_counters(state, entry, 1);
            }
        });
    }

    // Every segment from before this open is sealed; new writes go to new segments.
    let mut segments = BTreeMap::new();
    for (id, file) in files {
        let mut state = states.remove(&id).unwrap_or(SegmentState {
            append_pos: FIRST_RECORD_OFFSET,
            ..SegmentState::default()
        });
        state.sealed = true;
        let len = file.len().map_err(|e| {
            EngineError::io("stat segment", seg_dir.join(segment::file_name(id)), e)
        })?;
        if len > state.append_pos && !report.clean {
            // Reclaim the torn tail and preallocated space past the last record.
            let _ = file.set_len(state.append_pos);
        }
        state.allocated_bytes = state.append_pos.min(len);
        let path = seg_dir.join(segment::file_name(id));
        segments.insert(id, Arc::new(Segment::new(id, &path, file, state)));
    }

    let hash_pool = match config.hash_threads {
        0 => None,
        threads => Some(
            crate::hash_pool::HashPool::start(threads)
                .map_err(|e| EngineError::io("start hashing threads", dir, e))?,
        ),
    };
    let inner = StoreInner::new(
        dir.to_path_buf(),
        config,
        hash_pool,
        key,
        disk,
        index,
        segments,
        next_seq,
        retired,
        report,
        lock_file,
    );
    // From here on the store is open: a crash must be seen as unclean.
    match inner.write_checkpoint(false) {
        Ok(()) => {}
        // A full disk must not keep a node from starting (and serving reads). Without a
        // checkpoint marked "open", a crash would be mistaken for a clean shutdown, so the
        // old checkpoint goes instead (removing needs no space): the next open rebuilds.
        Err(EngineError::NoSpace { .. }) => {
            remove_if_present(inner.disk.as_ref(), &dir.join(CHECKPOINT_FILE))?;
            inner
                .disk
                .sync_dir(dir)
                .map_err(|e| EngineError::io("fsync store directory", dir, e))?;
        }
        Err(error) => return Err(error),
    }
    Ok(inner)
}

/// Scans every segment from where `plan` starts it, verifying each record, replays what is
/// valid and `plan` applies into `index`, and records per segment where its log ends.
/// Replaces (not adds to) the scan figures in `report`, so a rebuild after a replay reports
/// only itself.
fn replay_segments(
    index: &Index,
    files: &BTreeMap<u32, Arc<dyn DiskFile>>,
    key: &StoreKey,
    plan: &ReplayPlan,
    report: &mut OpenReport,
    states: &mut BTreeMap<u32, SegmentState>,
    next_seq: &mut u64,
) -> Result<()> {
    let mode = ScanMode {
        verify_payload: true,
        verify_digest: false,
    };
    let mut found = Vec::new();
    states.clear();
    report.damaged.clear();
    report.abandoned_reservations = 0;
    report.bytes_verified = 0;
    for (id, file) in files {
        let not_replayed = |offset| !plan.applies(*id, offset);
        let scan = scan_segment(
            file.as_ref(),
            key,
            *id,
            plan.start(*id),
            None,
            mode,
            &not_replayed,
        );
        report.abandoned_reservations += scan.abandoned;
        report.bytes_verified += scan.bytes_verified;
        report.damaged.extend(scan.damaged);
        *next_seq = (*next_seq).max(scan.max_seq.map_or(0, |s| s + 1));
        found.extend(
            scan.found
                .into_iter()
                .filter(|record| plan.applies(*id, record.head().offset)),
        );
        states.insert(
            *id,
            SegmentState {
                append_pos: scan.log_end,
                ..SegmentState::default()
            },
        );
    }
    report.records_replayed = replay(index, found)?;
    Ok(())
}

impl ShardOpenError {
    /// Ok(reason) to rebuild, Err(error) to fail the open.
    fn into_reason(self) -> std::result::Result<String, EngineError> {
        match self {
            ShardOpenError::Unusable(reason) => Ok(reason),
            ShardOpenError::Engine(error) => Err(error),
        }
    }
}

fn remove_if_present(disk: &dyn Disk, path: &Path) -> Result<()> {
    match disk.remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(EngineError::io("remove", path, e)),
    }
}

/// Creates a new store's files in an empty (or lock-file-only) directory.
fn create(dir: &Path, config: &StoreConfig, disk: &dyn Disk) -> Result<()> {
    // Our own names may be there from a creation that crashed before store.meta appeared.
    let ours = [
        LOCK_FILE,
        SEGMENTS_DIR,
        crate::index::INDEX_DIR,
        "store.meta.tmp",
        CHECKPOINT_FILE,
        "checkpoint.tmp",
    ];
    let foreign = std::fs::read_dir(dir)
        .map_err(|e| EngineError::io("list store directory", dir, e))?
        .filter_map(|e| e.ok())
        .any(|e| !ours.iter().any(|name| e.file_name() == *name));
    if foreign {
        return Err(EngineError::NotAStore {
            path: dir.to_path_buf(),
            reason: "the directory is not empty and has no store.meta".into(),
        });
    }
    let seg_dir = dir.join(SEGMENTS_DIR);
    std::fs::create_dir_all(&seg_dir)
        .map_err(|e| EngineError::io("create segment directory", &seg_dir, e))?;
    let superblock = Superblock {
        index_shards: config.index_shards,
        created_unix_ms: now_unix_ms(),
        key: StoreKey::generate(),
    };
    let tmp = dir.join(format!("{SUPERBLOCK_FILE}.tmp"));
    let file = disk
        .open(&tmp, true)
        .map_err(|e| EngineError::io("create", &tmp, e))?;
    file.write_all_at_blocking(&superblock.encode(), 0)
        .map_err(|e| EngineError::io("write", &tmp, e))?;
    // Without this fsync a power cut could leave a renamed but empty store.meta.
    file.sync_data_blocking()
        .map_err(|e| EngineError::io("fsync", &tmp, e))?;
    drop(file);
    // store.meta appears last, so a crash during creation leaves a directory that is
    // recognisably not a store yet (and is created again).
    disk.rename(&tmp, &dir.join(SUPERBLOCK_FILE))
        .map_err(|e| EngineError::io("rename", dir.join(SUPERBLOCK_FILE), e))?;
    // Without this the rename (and the segment directory) could vanish in a power cut.
    disk.sync_dir(dir)
        .map_err(|e| EngineError::io("fsync store directory", dir, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{OutstandingRecord, SegmentCheckpoint};

    fn segment(segment_id: u32, frontier: u64, append_offset: u64) -> SegmentCheckpoint {
        SegmentCheckpoint {
            segment_id,
            end_offset: frontier,
            append_offset,
            ..SegmentCheckpoint::default()
        }
    }

    fn outstanding(segment_id: u32, offset: u64, purpose: ReservedFor) -> OutstandingRecord {
        OutstandingRecord {
            segment_id,
            offset,
            purpose,
        }
    }

    #[test]
    fn a_checkpoint_replays_only_what_its_index_has_not_seen() {
        let block = BLOCK_LEN;
        let checkpoint = Checkpoint {
            segments: vec![
                // Outstanding at the capture: an upload at 2 blocks, a compaction copy at 5.
                segment(1, 2 * block, 9 * block),
                // Nothing outstanding: the frontier is the append offset.
                segment(2, 4 * block, 4 * block),
                // A version 1 checkpoint reads as frontier = append offset, nothing listed.
                segment(3, 0, 0),
            ],
            outstanding: vec![
                outstanding(1, 2 * block, ReservedFor::NewRecord),
                outstanding(1, 5 * block, ReservedFor::Relocation),
                // For a segment the checkpoint does not list: ignored.
                outstanding(9, block, ReservedFor::Relocation),
            ],
            ..Checkpoint::default()
        };
        let plan = ReplayPlan::from_checkpoint(&checkpoint);
        assert_eq!(plan.start(1), 2 * block);
        assert_eq!(plan.start(2), 4 * block);
        assert_eq!(
            plan.start(3),
            FIRST_RECORD_OFFSET,
            "never before the first record"
        );
        assert_eq!(
            plan.start(7),
            FIRST_RECORD_OFFSET,
            "created after the checkpoint"
        );

        assert!(plan.applies(1, 2 * block), "outstanding new record");
        assert!(!plan.applies(1, 3 * block), "applied before the capture");
        assert!(!plan.applies(1, 5 * block), "compaction copy");
        assert!(!plan.applies(1, 8 * block), "applied before the capture");
        assert!(plan.applies(1, 9 * block), "reserved after the capture");
        assert!(plan.applies(2, 4 * block));
        assert!(plan.applies(3, FIRST_RECORD_OFFSET));
        assert!(plan.applies(7, FIRST_RECORD_OFFSET));
        assert!(
            plan.applies(9, block),
            "a listed record of an unlisted segment"
        );

        let rebuild = ReplayPlan::default();
        assert_eq!(rebuild.start(1), FIRST_RECORD_OFFSET);
        assert!(rebuild.applies(1, 3 * block) && rebuild.applies(1, 5 * block));
    }
}
