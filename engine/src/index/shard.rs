//! One index shard: an open-addressing hash table (linear probing) in a memory-mapped,
//! fully preallocated file. Readers probe lock-free; writers hold the shard's mutex. Growing
//! writes a new file at twice the capacity and swaps it in; readers of the old map finish on it
//! (see [`super::published`]).

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use memmap2::MmapMut;
use parking_lot::Mutex;

use super::published::Published;
use super::slot::{self, IndexEntry, SlotState, SlotView, SLOT_LEN, SLOT_WORDS};
use crate::codec::{get_u32, get_u64, put_u32, put_u64, StoreKey, MAC_LEN};
use crate::error::{EngineError, Result};
use crate::io::fallocate;

/// Shard file header length; slots start right after it.
pub const SHARD_HEADER_LEN: usize = 4096;
/// Shard file magic.
pub const SHARD_MAGIC: [u8; 8] = *b"CLSSIDX\0";
/// Shard layout version.
pub const SHARD_VERSION: u32 = 1;
/// Slots in a new shard.
pub const INITIAL_CAPACITY_SLOTS: u64 = 1 << 12;
/// Grow when used slots (live, vacated or damaged) would pass this fraction, in percent.
pub const LOAD_FACTOR_MAX_PERCENT: u64 = 70;

const SH_MAGIC: usize = 0;
const SH_VERSION: usize = SH_MAGIC + 8;
const SH_SHARD: usize = SH_VERSION + 4;
const SH_CAPACITY: usize = SH_SHARD + 4;
const SH_MAC: usize = SHARD_HEADER_LEN - MAC_LEN;
const _: () = assert!(SH_CAPACITY + 8 <= SH_MAC);

/// A mapped table. Slots are only touched through atomics.
pub struct Table {
    map: MmapMut,
    capacity_slots: u64,
    path: PathBuf,
}

impl Table {
    fn slot(&self, index: u64) -> &[AtomicU64] {
        debug_assert!(index < self.capacity_slots);
        let start = SHARD_HEADER_LEN + index as usize * SLOT_LEN;
        let bytes = &self.map[start..start + SLOT_LEN];
        // SAFETY: the mapping is page-aligned and slots are 128-byte aligned within it, so the
        // pointer is aligned for AtomicU64; the 128 bytes are in bounds (checked by the slice
        // above) and live as long as `self`. Every access to slot memory, from any thread, goes
        // through these atomics; the only non-atomic access is `flush` (msync), which reads
        // nothing in this process. The store's lock file keeps other processes out.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<AtomicU64>(), SLOT_WORDS) }
    }

    /// Asks the CPU to start loading slot `index` into its caches and return at once, so
    /// the memory latency of several lookups overlaps (see [`Shard::prefetch`]).
    fn prefetch(&self, index: u64) {
        debug_assert!(index < self.capacity_slots);
        let start = SHARD_HEADER_LEN + index as usize * SLOT_LEN;
        let line = self.map[start..start + SLOT_LEN].as_ptr();
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            // SAFETY: a prefetch is a hint; it never faults and reads nothing the program
            // sees. Both addresses lie inside the slot, inside the mapping (sliced above).
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(line.cast());
                _mm_prefetch::<_MM_HINT_T0>(line.add(SLOT_LEN / 2).cast());
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = line;
    }

    /// Number of slots.
    pub fn capacity_slots(&self) -> u64 {
        self.capacity_slots
    }

    /// Reads slot `index`.
    pub fn view(&self, index: u64) -> SlotView {
        match slot::read(self.slot(index)) {
            Some(bytes) => slot::decode(&bytes),
            None => SlotView::Damaged,
        }
    }

    fn put(&self, index: u64, state: SlotState, entry: Option<&IndexEntry>) {
        let (bytes, crc) = slot::encode(state, entry);
        slot::write(self.slot(index), &bytes, crc);
    }

    /// Makes every slot write so far durable (msync).
    pub fn flush(&self) -> std::io::Result<()> {
        self.map.flush()
    }
}

/// Writer-side bookkeeping, guarded by the shard mutex.
struct Writer {
    /// Slots that are not Empty (live, vacated, damaged): what probing pays for.
    used_slots: u64,
    /// Ids reserved by uploads in flight, so two uploads of one id cannot both proceed.
    reserved: HashSet<u64>,
}

/// One shard.
pub struct Shard {
    number: u32,
    dir: PathBuf,
    key: StoreKey,
    table: Published<Table>,
    writer: Mutex<Writer>,
}

/// A lookup under way: settled, or the next slot to read on its probe path.
pub enum Probe<'a> {
    /// Settled.
    Done(Lookup),
    /// Not settled yet.
    Going {
        /// The table probed (a lookup stays on one table even if the shard grows meanwhile).
        table: &'a Table,
        /// Next slot to read.
        slot: u64,
        /// Slots read so far.
        steps: u64,
        /// A damaged slot was passed: if `id` is not found, it may have been there.
        saw_damage: bool,
    },
}

impl Probe<'_> {
    /// Reads one slot, settling the lookup if it can.
    fn step(&mut self, id: u64) {
        let Probe::Going {
            table,
            slot,
            steps,
            saw_damage,
        } = self
        else {
            return;
        };
        let settled = match table.view(*slot) {
            SlotView::Live(entry) if entry.object_id == id => Some(Lookup::Found(entry)),
            SlotView::Empty => Some(not_found(*saw_damage)),
            SlotView::Damaged => {
                *saw_damage = true;
                None
            }
            SlotView::Live(_) | SlotView::Vacated => None,
        };
        *steps += 1;
        *slot = (*slot + 1) & (table.capacity_slots - 1);
        if let Some(lookup) = settled {
            *self = Probe::Done(lookup);
        } else if *steps >= table.capacity_slots {
            // Every slot read and none settled it: the table is full of other ids.
            *self = Probe::Done(not_found(*saw_damage));
        }
    }

    /// Starts loading the next slot to read, if any, into the CPU caches.
    pub fn prefetch(&self) {
        if let Probe::Going { table, slot, .. } = self {
            table.prefetch(*slot);
        }
    }

    /// Reads slots until the lookup is settled.
    pub fn finish(mut self, id: u64) -> Lookup {
        loop {
            match self {
                Probe::Done(lookup) => return lookup,
                Probe::Going { .. } => self.step(id),
            }
        }
    }
}

/// The answer when a probe ends without finding its id.
fn not_found(saw_damage: bool) -> Lookup {
    if saw_damage {
        Lookup::Damaged
    } else {
        Lookup::Absent
    }
}

/// Outcome of a lookup.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Found.
    Found(IndexEntry),
    /// Not present.
    Absent,
    /// Not found, but a damaged slot on the probe path may have held it.
    Damaged,
}

impl Lookup {
    /// The entry, None when absent, or an error naming `id` when damage may have hidden it.
    pub fn into_result(self, id: u64) -> Result<Option<IndexEntry>> {
        match self {
            Lookup::Found(entry) => Ok(Some(entry)),
            Lookup::Absent => Ok(None),
            Lookup::Damaged => Err(EngineError::IndexCorrupt { id }),
        }
    }
}

/// Home slot of a hash in a table of `capacity` slots.
fn home(hash: u64, capacity: u64) -> u64 {
    hash & (capacity - 1)
}

pub(crate) fn shard_path(dir: &Path, number: u32) -> PathBuf {
    dir.join(format!("shard-{number:03}.idx"))
}

fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> EngineError + 'a {
    move |source| EngineError::io(action, path, source)
}

/// Creates a zeroed, fully allocated shard file with a sealed header and maps it.
fn create_table(path: &Path, number: u32, capacity_slots: u64, key: &StoreKey) -> Result<Table> {
    assert!(capacity_slots.is_power_of_two());
    let len = SHARD_HEADER_LEN as u64 + capacity_slots * SLOT_LEN as u64;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(io_err("create index shard", path))?;
    // Allocate every mapped byte up front: a store to a mapped page with no block behind it
    // would be SIGBUS on a full disk; this way a full disk is an ENOSPC here instead.
    fallocate(&file, 0, len).map_err(io_err("allocate index shard", path))?;
    let mut header = vec![0u8; SHARD_HEADER_LEN];
    header[SH_MAGIC..SH_MAGIC + 8].copy_from_slice(&SHARD_MAGIC);
    put_u32(&mut header, SH_VERSION, SHARD_VERSION);
    put_u32(&mut header, SH_SHARD, number);
    put_u64(&mut header, SH_CAPACITY, capacity_slots);
    key.seal(&mut header, SH_MAC);
    std::os::unix::fs::FileExt::write_all_at(&file, &header, 0)
        .map_err(io_err("write index shard header", path))?;
    map_table(file, path, capacity_slots)
}

fn map_table(file: File, path: &Path, capacity_slots: u64) -> Result<Table> {
    // SAFETY: the file is private to this store (lock file) and is never truncated while
    // mapped; slot memory is accessed only through atomics (see `Table::slot`).
    let map = unsafe { MmapMut::map_mut(&file) }.map_err(io_err("map index shard", path))?;
    Ok(Table {
        map,
        capacity_slots,
        path: path.to_path_buf(),
    })
}

/// Why an existing shard file cannot be used (the index is then rebuilt from segments).
#[derive(Debug)]
pub enum ShardOpenError {
    /// Missing, damaged header, wrong size: rebuild.
    Unusable(String),
    /// An I/O error other than the file being unusable.
    Engine(EngineError),
}

impl Shard {
    /// Creates a new empty shard file.
    pub fn create(dir: &Path, number: u32, key: StoreKey) -> Result<Self> {
        let path = shard_path(dir, number);
        let table = create_table(&path, number, INITIAL_CAPACITY_SLOTS, &key)?;
        Ok(Self::from_table(dir, number, key, table, 0))
    }

    /// Opens an existing shard file, verifying its header and size. `used_slots` comes from a
    /// clean checkpoint; without it the shard's slots are counted (touching all its pages).
    pub fn open(
        dir: &Path,
        number: u32,
        key: StoreKey,
        used_slots: Option<u64>,
    ) -> std::result::Result<Self, ShardOpenError> {
        let path = shard_path(dir, number);
        let file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ShardOpenError::Unusable(format!(
                    "{} is missing",
                    path.display()
                )))
            }
            Err(e) => {
                return Err(ShardOpenError::Engine(EngineError::io(
                    "open index shard",
                    &path,
                    e,
                )))
            }
        };
        let mut header = vec![0u8; SHARD_HEADER_LEN];
        if std::os::unix::fs::FileExt::read_exact_at(&file, &mut header, 0).is_err() {
            return Err(ShardOpenError::Unusable(format!(
                "{} has no complete header",
                path.display()
            )));
        }
        if header[..8] != SHARD_MAGIC
            || get_u32(&header, SH_VERSION) != SHARD_VERSION
            || get_u32(&header, SH_SHARD) != number
            || !key.verify(&header, SH_MAC)
        {
            return Err(ShardOpenError::Unusable(format!(
                "{} has a damaged header",
                path.display()
            )));
        }
        let capacity_slots = get_u64(&header, SH_CAPACITY);
        let expected_len = (capacity_slots as u128) * SLOT_LEN as u128 + SHARD_HEADER_LEN as u128;
        let actual_len = file
            .metadata()
            .map_err(|e| ShardOpenError::Engine(EngineError::io("stat index shard", &path, e)))?
            .len();
        if !capacity_slots.is_power_of_two() || u128::from(actual_len) != expected_len {
            return Err(ShardOpenError::Unusable(format!(
                "{} is {actual_len} bytes, its header says {expected_len}",
                path.display()
            )));
        }
        let table = map_table(file, &path, capacity_slots).map_err(ShardOpenError::Engine)?;
        let used = match used_slots {
            Some(used) => used,
            None => (0..capacity_slots)
                .filter(|i| !matches!(slot::read(table.slot(*i)), Some(b) if slot::decode(&b) == SlotView::Empty))
                .count() as u64,
        };
        Ok(Self::from_table(dir, number, key, table, used))
    }

    fn from_table(dir: &Path, number: u32, key: StoreKey, table: Table, used_slots: u64) -> Self {
        Self {
            number,
            dir: dir.to_path_buf(),
            key,
            table: Published::new(table),
            writer: Mutex::new(Writer {
                used_slots,
                reserved: HashSet::new(),
            }),
        }
    }

    /// Looks up `id` (lock-free).
    pub fn get(&self, id: u64, hash: u64) -> Lookup {
        self.first_step(id, hash).finish(id)
    }

    /// Slots in the current table.
    #[cfg(test)]
    pub fn capacity_slots(&self) -> u64 {
        self.table.get().capacity_slots
    }

    /// The first step of a lookup: the home slot alone. A batched lookup takes the first
    /// step of many ids, prefetches the next slot of those not settled by it, and then
    /// finishes them (see [`crate::index::Index::get_many`]).
    pub fn first_step(&self, id: u64, hash: u64) -> Probe<'_> {
        let table = self.table.get();
        let home = home(hash, table.capacity_slots);
        let mut probe = Probe::Going {
            table,
            slot: home,
            steps: 0,
            saw_damage: false,
        };
        probe.step(id);
        probe
    }

    /// Starts loading the home slot of `hash` into the CPU caches (a hint; see
    /// [`crate::index::Index::get_many`]).
    pub fn prefetch(&self, hash: u64) {
        let table = self.table.get();
        table.prefetch(home(hash, table.capacity_slots));
    }

    /// Finds the slot of `id` and the first reusable slot on its probe path.
    fn probe(table: &Table, id: u64, hash: u64) -> (Option<(u64, IndexEntry)>, Option<u64>) {
        let cap = table.capacity_slots;
        let mut free = None;
        let mut i = home(hash, cap);
        for _ in 0..cap {
            match table.view(i) {
                SlotView::Empty => {
                    return (None, free.or(Some(i)));
                }
                SlotView::Live(entry) if entry.object_id == id => return (Some((i, entry)), free),
                SlotView::Vacated => {
                    if free.is_none() {
                        free = Some(i);
                    }
                }
                SlotView::Live(_) | SlotView::Damaged => {}
            }
            i = (i + 1) & (cap - 1);
        }
        (None, free)
    }

    /// Marks `id` as being uploaded. Fails if it is stored or already reserved.
    pub fn reserve(&self, id: u64, hash: u64) -> Result<()> {
        let mut writer = self.writer.lock();
        if writer.reserved.contains(&id) {
            return Err(EngineError::AlreadyExists { id });
        }
        match self.get(id, hash) {
            Lookup::Found(_) => return Err(EngineError::AlreadyExists { id }),
            Lookup::Damaged => return Err(EngineError::IndexCorrupt { id }),
            Lookup::Absent => {}
        }
        // Make room now, before any byte is accepted, so commit never needs space for the index.
        let needed = writer.used_slots + writer.reserved.len() as u64 + 1;
        self.ensure_capacity(&mut writer, needed)?;
        writer.reserved.insert(id);
        Ok(())
    }

    /// Releases a reservation (abort, or after commit).
    pub fn unreserve(&self, id: u64) {
        self.writer.lock().reserved.remove(&id);
    }

    /// Inserts or replaces `entry` if its sequence number is not older than the stored one.
    /// Replacing the same record (same sequence number: a compaction copy, replayed after a
    /// crash) keeps an acceptance the stored entry has, as acceptance is never undone and
    /// the copy may predate it. Returns the entry it replaced, and whether it applied.
    pub fn upsert(&self, entry: &IndexEntry, hash: u64) -> Result<(Option<IndexEntry>, bool)> {
        let mut writer = self.writer.lock();
        // A reserved id already has its room (made at reservation): commit needs no growth.
        let extra = u64::from(!writer.reserved.contains(&entry.object_id));
        let needed = writer.used_slots + writer.reserved.len() as u64 + extra;
        self.ensure_capacity(&mut writer, needed)?;
        let table = self.table.get();
        let (found, free) = Self::probe(table, entry.object_id, hash);
        match found {
            Some((_, old)) if (old.seq, old.segment_id) > (entry.seq, entry.segment_id) => {
                Ok((Some(old), false))
            }
            Some((i, old)) => {
                let entry = IndexEntry {
                    accepted: entry.accepted || (old.seq == entry.seq && old.accepted),
                    ..*entry
                };
                table.put(i, SlotState::Live, Some(&entry));
                Ok((Some(old), true))
            }
            None => {
                let i = free.ok_or(EngineError::LimitReached {
                    what: "index shard full",
                    limit: table.capacity_slots,
                })?;
                if table.view(i) == SlotView::Empty {
                    writer.used_slots += 1;
                }
                table.put(i, SlotState::Live, Some(entry));
                Ok((None, true))
            }
        }
    }

    /// Updates `id`'s entry in place through `change` if present; returns the new entry.
    pub fn update(&self, id: u64, hash: u64, change: impl FnOnce(&mut IndexEntry)) -> Lookup {
        let _writer = self.writer.lock();
        let table = self.table.get();
        match Self::probe(table, id, hash) {
            (Some((i, mut entry)), _) => {
                change(&mut entry);
                table.put(i, SlotState::Live, Some(&entry));
                Lookup::Found(entry)
            }
            (None, _) => self.get(id, hash),
        }
    }

    /// Removes `id` if its stored sequence is older than `seq`; returns the removed entry.
    pub fn remove(&self, id: u64, hash: u64, seq: u64) -> Option<IndexEntry> {
        let _writer = self.writer.lock();
        let table = self.table.get();
        match Self::probe(table, id, hash) {
            (Some((i, entry)), _) if entry.seq < seq => {
                table.put(i, SlotState::Vacated, None);
                Some(entry)
            }
            _ => None,
        }
    }

    /// Visits every live entry (a snapshot per slot; concurrent writes may or may not show).
    pub fn for_each(&self, mut visit: impl FnMut(&IndexEntry)) {
        let table = self.table.get();
        for i in 0..table.capacity_slots {
            if let SlotView::Live(entry) = table.view(i) {
                visit(&entry);
            }
        }
    }

    /// Quarantines slots left mid-write or damaged; returns how many. Used at an unclean open.
    pub fn quarantine_damaged(&self) -> u64 {
        let _writer = self.writer.lock();
        let table = self.table.get();
        let mut count = 0;
        for i in 0..table.capacity_slots {
            let words = table.slot(i);
            if slot::is_mid_write(words) || table.view(i) == SlotView::Damaged {
                table.put(i, SlotState::Quarantined, None);
                count += 1;
            }
        }
        count
    }

    /// Number of damaged or quarantined slots.
    pub fn damaged_slots(&self) -> u64 {
        let table = self.table.get();
        (0..table.capacity_slots)
            .filter(|i| table.view(*i) == SlotView::Damaged)
            .count() as u64
    }

    /// Slots in use (live, vacated, damaged), for the checkpoint.
    pub fn used_slots(&self) -> u64 {
        self.writer.lock().used_slots
    }

    /// msyncs the current table.
    pub fn flush(&self) -> Result<()> {
        let table = self.table.get();
        table
            .flush()
            .map_err(|e| EngineError::io("msync index shard", &table.path, e))
    }

    /// Grows the table until `needed` used slots fit under the load factor.
    fn ensure_capacity(&self, writer: &mut Writer, needed: u64) -> Result<()> {
        let current = self.table.get();
        let mut capacity = current.capacity_slots;
        while needed * 100 > capacity * LOAD_FACTOR_MAX_PERCENT {
            capacity *= 2;
        }
        if capacity == current.capacity_slots {
            return Ok(());
        }
        let final_path = shard_path(&self.dir, self.number);
        let tmp_path = final_path.with_extension("idx.grow");
        let grown = create_table(&tmp_path, self.number, capacity, &self.key)?;
        let mut used = 0;
        for i in 0..current.capacity_slots {
            if let SlotView::Live(entry) = current.view(i) {
                let (_, free) = Self::probe(&grown, entry.object_id, hash_id(entry.object_id));
                let slot = free.ok_or(EngineError::LimitReached {
                    what: "index shard full while growing",
                    limit: capacity,
                })?;
                grown.put(slot, SlotState::Live, Some(&entry));
                used += 1;
            }
        }
        // Without this msync the rename below could make a file with unwritten slots the shard.
        grown
            .flush()
            .map_err(io_err("msync grown index shard", &tmp_path))?;
        std::fs::rename(&tmp_path, &final_path)
            .map_err(io_err("rename grown index shard", &final_path))?;
        // Without this a power cut could bring back the old, smaller shard file; harmless (the
        // log replays into it) but it would lose the growth.
        crate::io::sync_dir_std(&self.dir).map_err(io_err("fsync index directory", &self.dir))?;
        let mut grown = grown;
        grown.path = final_path;
        self.table.replace(grown);
        writer.used_slots = used;
        Ok(())
    }
}

/// The index's hash of an object id (splitmix64 finaliser): spreads sequential ids.
pub fn hash_id(id: u64) -> u64 {
    let mut z = id.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
