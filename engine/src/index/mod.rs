//! The object index: object id -> everything needed to answer metadata and find the bytes,
//! memory-mapped so opening a store reads nothing, split into shards so writers on different
//! cores rarely share a lock. The index is a cache of the segments: it can always be rebuilt.

pub mod published;
pub mod shard;
pub mod slot;

use std::path::{Path, PathBuf};

pub use shard::{hash_id, Lookup, Probe, ShardOpenError};
pub use slot::IndexEntry;

use crate::codec::StoreKey;
use crate::error::{EngineError, Result};
use shard::Shard;

/// Lookups [`Index::get_many`] keeps in flight: enough to cover a DRAM miss with the
/// decoding of the others, few enough that the prefetched lines stay in L1.
pub const GET_MANY_WINDOW: usize = 16;

/// Directory of the shard files inside the store.
pub const INDEX_DIR: &str = "index";

/// All shards.
pub struct Index {
    dir: PathBuf,
    shards: Vec<Shard>,
}

impl Index {
    /// Creates empty shard files (replacing any there).
    pub fn create(store_dir: &Path, shards: u32, key: StoreKey) -> Result<Self> {
        let dir = store_dir.join(INDEX_DIR);
        std::fs::create_dir_all(&dir)
            .map_err(|e| EngineError::io("create index directory", &dir, e))?;
        let shards = (0..shards)
            .map(|n| Shard::create(&dir, n, key))
            .collect::<Result<Vec<_>>>()?;
        crate::io::sync_dir_std(&dir)
            .map_err(|e| EngineError::io("fsync index directory", &dir, e))?;
        Ok(Self { dir, shards })
    }

    /// Opens existing shard files; `used_slots` per shard from a clean checkpoint.
    pub fn open(
        store_dir: &Path,
        shards: u32,
        key: StoreKey,
        used_slots: Option<&[u64]>,
    ) -> std::result::Result<Self, ShardOpenError> {
        let dir = store_dir.join(INDEX_DIR);
        let used_slots = used_slots.filter(|u| u.len() == shards as usize);
        let shards = (0..shards)
            .map(|n| Shard::open(&dir, n, key, used_slots.map(|u| u[n as usize])))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Self { dir, shards })
    }

    fn shard(&self, hash: u64) -> &Shard {
        // High bits pick the shard, low bits the slot within it.
        &self.shards[((hash >> 40) % self.shards.len() as u64) as usize]
    }

    /// Looks up an object (lock-free).
    pub fn get(&self, id: u64) -> Result<Option<IndexEntry>> {
        let hash = hash_id(id);
        self.shard(hash).get(id, hash).into_result(id)
    }

    /// Looks up many objects, calling `visit` with each id and its outcome in order. The
    /// same answers as [`Index::get`] one by one, but faster: with a large index nearly every
    /// lookup is a cache miss (hundreds of ns of memory latency), and here the slots of the
    /// next [`GET_MANY_WINDOW`] ids are prefetched while earlier ones are decoded, so the
    /// misses overlap instead of queueing.
    pub fn get_many(&self, ids: &[u64], mut visit: impl FnMut(u64, Result<Option<IndexEntry>>)) {
        // Window by window, in three passes: prefetch every home slot; read them, which
        // settles most lookups and prefetches the next slot of the others; finish those. (A
        // sliding window, one prefetch per read, measured slower; prefetching the next slot
        // of every id up front measured no better.)
        let mut hashes = [0u64; GET_MANY_WINDOW];
        for window in ids.chunks(GET_MANY_WINDOW) {
            for (hash, &id) in hashes.iter_mut().zip(window) {
                *hash = hash_id(id);
                self.shard(*hash).prefetch(*hash);
            }
            let mut probes: [Option<Probe<'_>>; GET_MANY_WINDOW] =
                [const { None }; GET_MANY_WINDOW];
            for ((probe, &hash), &id) in probes.iter_mut().zip(&hashes).zip(window) {
                let first = self.shard(hash).first_step(id, hash);
                first.prefetch();
                *probe = Some(first);
            }
            for (probe, &id) in probes.iter_mut().zip(window) {
                if let Some(probe) = probe.take() {
                    visit(id, probe.finish(id).into_result(id));
                }
            }
        }
    }

    /// Reserves `id` for an upload.
    pub fn reserve(&self, id: u64) -> Result<()> {
        let hash = hash_id(id);
        self.shard(hash).reserve(id, hash)
    }

    /// Releases a reservation.
    pub fn unreserve(&self, id: u64) {
        self.shard(hash_id(id)).unreserve(id);
    }

    /// Inserts or replaces (newer sequence wins); returns (replaced entry, applied).
    pub fn upsert(&self, entry: &IndexEntry) -> Result<(Option<IndexEntry>, bool)> {
        let hash = hash_id(entry.object_id);
        self.shard(hash).upsert(entry, hash)
    }

    /// Changes an entry in place.
    pub fn update(
        &self,
        id: u64,
        change: impl FnOnce(&mut IndexEntry),
    ) -> Result<Option<IndexEntry>> {
        let hash = hash_id(id);
        self.shard(hash).update(id, hash, change).into_result(id)
    }

    /// Removes `id` if stored with an older sequence than `seq`.
    pub fn remove(&self, id: u64, seq: u64) -> Option<IndexEntry> {
        let hash = hash_id(id);
        self.shard(hash).remove(id, hash, seq)
    }

    /// Visits every live entry.
    pub fn for_each(&self, mut visit: impl FnMut(&IndexEntry)) {
        for shard in &self.shards {
            shard.for_each(&mut visit);
        }
    }

    /// Quarantines damaged and half-written slots (after an unclean shutdown); returns the count.
    pub fn quarantine_damaged(&self) -> u64 {
        self.shards.iter().map(Shard::quarantine_damaged).sum()
    }

    /// Damaged or quarantined slots across all shards.
    pub fn damaged_slots(&self) -> u64 {
        self.shards.iter().map(Shard::damaged_slots).sum()
    }

    /// Used slots per shard, for a clean checkpoint.
    pub fn used_slots(&self) -> Vec<u64> {
        self.shards.iter().map(Shard::used_slots).collect()
    }

    /// msyncs every shard.
    pub fn flush(&self) -> Result<()> {
        self.shards.iter().try_for_each(Shard::flush)
    }

    /// The shard directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::BagName;

    fn entry(id: u64, seq: u64) -> IndexEntry {
        IndexEntry {
            object_id: id,
            accepted: false,
            content_type: 0,
            chunk_size: 1 << 18,
            bag: BagName::new("dynamic:channel:1").unwrap(),
            segment_id: 1,
            offset: 4096 * id,
            payload_len: id,
            seq,
            created_unix_ms: 0,
            digest: [id as u8; 32],
        }
    }

    #[test]
    fn grows_and_finds_everything_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let key = StoreKey([1; 32]);
        let index = Index::create(dir.path(), 4, key).unwrap();
        for id in 0..20_000 {
            index.reserve(id).unwrap();
            assert!(index.upsert(&entry(id, id + 1)).unwrap().1);
            index.unreserve(id);
        }
        for id in (0..20_000).step_by(3) {
            assert_eq!(index.remove(id, u64::MAX).map(|e| e.object_id), Some(id));
        }
        index.flush().unwrap();
        drop(index);
        let index = Index::open(dir.path(), 4, key, None).unwrap();
        for id in 0..20_000 {
            let got = index.get(id).unwrap();
            if id % 3 == 0 {
                assert_eq!(got, None);
            } else {
                assert_eq!(got, Some(entry(id, id + 1)));
            }
        }
        let mut count = 0;
        index.for_each(|_| count += 1);
        assert_eq!(count, 20_000 - 6667);
    }

    #[test]
    fn the_same_record_moved_keeps_its_acceptance_a_newer_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::create(dir.path(), 1, StoreKey([1; 32])).unwrap();
        let accepted = IndexEntry {
            accepted: true,
            ..entry(7, 5)
        };
        index.upsert(&accepted).unwrap();
        // A copy of the same record (same sequence number), made while it was pending.
        let copy = IndexEntry {
            segment_id: 2,
            ..entry(7, 5)
        };
        assert!(index.upsert(&copy).unwrap().1);
        assert_eq!(
            index.get(7).unwrap(),
            Some(IndexEntry {
                accepted: true,
                ..copy
            })
        );
        // A newer record of the id is a new object: pending as stored.
        assert!(index.upsert(&entry(7, 6)).unwrap().1);
        assert_eq!(index.get(7).unwrap(), Some(entry(7, 6)));
    }

    #[test]
    fn get_many_answers_as_get_does_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let key = StoreKey([1; 32]);
        let index = Index::create(dir.path(), 4, key).unwrap();
        for id in (0..5_000).filter(|id| id % 7 != 0) {
            index.upsert(&entry(id, 1)).unwrap();
        }
        // Hits, misses (multiples of 7 and ids never stored), repeats, and a length that is
        // not a multiple of the window.
        let ids: Vec<u64> = (0..3 * GET_MANY_WINDOW as u64 + 5)
            .map(|i| (i * 7919) % 6_000)
            .chain([3, 3, 0, u64::MAX])
            .collect();
        let mut seen = Vec::new();
        index.get_many(&ids, |id, outcome| seen.push((id, outcome.unwrap())));
        let expected: Vec<_> = ids.iter().map(|&id| (id, index.get(id).unwrap())).collect();
        assert_eq!(seen, expected);
        assert!(seen.iter().any(|(_, e)| e.is_some()) && seen.iter().any(|(_, e)| e.is_none()));
    }

    #[test]
    fn get_many_reports_damage_as_get_does() {
        use std::os::unix::fs::FileExt;
        let dir = tempfile::tempdir().unwrap();
        let index = Index::create(dir.path(), 1, StoreKey([1; 32])).unwrap();
        for id in 0..2_000 {
            index.upsert(&entry(id, 1)).unwrap();
        }
        // Flip one byte in every 37th slot, through the file: the mapping shares its pages.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(shard::shard_path(&dir.path().join(INDEX_DIR), 0))
            .unwrap();
        let capacity = index.shards[0].capacity_slots();
        for slot in (0..capacity).step_by(37) {
            let at = shard::SHARD_HEADER_LEN as u64 + slot * slot::SLOT_LEN as u64 + 40;
            file.write_all_at(&[0xa5], at).unwrap();
        }
        let ids: Vec<u64> = (0..2_500).collect();
        let mut seen = Vec::new();
        index.get_many(&ids, |id, outcome| seen.push(format!("{id} {outcome:?}")));
        let expected: Vec<_> = ids
            .iter()
            .map(|&id| format!("{id} {:?}", index.get(id)))
            .collect();
        assert_eq!(seen, expected);
        assert!(
            seen.iter().any(|s| s.contains("IndexCorrupt")),
            "no damage seen"
        );
        assert!(seen.iter().any(|s| s.contains("Ok(Some")), "no hit seen");
        assert!(seen.iter().any(|s| s.contains("Ok(None)")), "no miss seen");
    }

    #[test]
    fn older_sequence_never_replaces_newer() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::create(dir.path(), 1, StoreKey([1; 32])).unwrap();
        index.upsert(&entry(5, 10)).unwrap();
        assert!(!index.upsert(&entry(5, 9)).unwrap().1);
        assert_eq!(index.get(5).unwrap().unwrap().seq, 10);
        assert!(
            index.remove(5, 10).is_none(),
            "a tombstone must be newer to delete"
        );
        assert!(index.remove(5, 11).is_some());
    }

    #[test]
    fn reservation_blocks_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let index = Index::create(dir.path(), 2, StoreKey([1; 32])).unwrap();
        index.reserve(9).unwrap();
        assert!(matches!(
            index.reserve(9),
            Err(EngineError::AlreadyExists { id: 9 })
        ));
        index.unreserve(9);
        index.upsert(&entry(9, 1)).unwrap();
        assert!(matches!(
            index.reserve(9),
            Err(EngineError::AlreadyExists { id: 9 })
        ));
    }

    #[test]
    fn flipped_slot_is_reported_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let key = StoreKey([1; 32]);
        let index = Index::create(dir.path(), 1, key).unwrap();
        index.upsert(&entry(77, 1)).unwrap();
        index.flush().unwrap();
        drop(index);
        // Flip one bit in every slot's object id area of the single shard.
        let path = dir.path().join(INDEX_DIR).join("shard-000.idx");
        let mut bytes = std::fs::read(&path).unwrap();
        for slot in bytes[shard::SHARD_HEADER_LEN..].chunks_mut(slot::SLOT_LEN) {
            if slot.iter().any(|b| *b != 0) {
                slot[20] ^= 0x10;
            }
        }
        std::fs::write(&path, &bytes).unwrap();
        let index = Index::open(dir.path(), 1, key, None).unwrap();
        assert!(matches!(
            index.get(77),
            Err(EngineError::IndexCorrupt { id: 77 })
        ));
        assert_eq!(index.damaged_slots(), 1);
    }
}
