//! Store configuration: every limit explicit, with defaults for a production node. Values
//! fixed at creation (index shard count) are recorded in the superblock; the rest apply per
//! open.

use crate::error::{EngineError, Result};
use crate::hash_pool::HASH_THREADS_MAX;
use crate::record::{valid_chunk_size, BLOCK_LEN};

/// When commits reach stable storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// fdatasync before acknowledging every commit (grouped across concurrent commits).
    Always,
    /// Never fsync: for throwaway stores in benchmarks and tests of non-durability paths.
    /// Acknowledged objects may be lost on power failure (not on a process crash).
    Never,
}

/// Mappings the kernel allows a process by default (`vm.max_map_count` 65,530), less room for
/// the rest of the process.
const PINNED_WINDOWS_LIMIT: usize = 60_000;

/// Zero-filled segment files kept ready at most (each is a whole segment of disk space).
pub const PREZEROED_SEGMENTS_MAX: usize = 16;

/// Write buffers a lane shares among its uploads by default: 16 of 2 MiB, 32 MiB per core.
pub const WRITE_BUFFERS_PER_LANE_DEFAULT: usize = 16;

/// Most write buffers a lane may be configured to share (and keep idle): 2 GiB per core at
/// 2 MiB each.
pub const WRITE_BUFFERS_PER_LANE_MAX: usize = 1024;

/// How long a lane keeps the buffers it needed at its busiest beyond
/// `write_buffers_per_lane`, by default (`write_buffers::WriteBuffers`).
pub const WRITE_BUFFERS_BURST_KEPT_MS_DEFAULT: u64 = 300_000;

/// Longest a lane may be configured to keep a burst's buffers: an hour.
pub const WRITE_BUFFERS_BURST_KEPT_MS_MAX: u64 = 3_600_000;

/// Configuration of an open store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Target size of a segment file; one larger object gets a segment of its own size.
    pub segment_size_bytes: u64,
    /// Bytes per checksummed chunk of new records (power of two, 4 KiB..32 MiB).
    pub chunk_size_bytes: u32,
    /// Index shard files, fixed when the store is created.
    pub index_shards: u32,
    /// Durability of commits.
    pub sync: SyncPolicy,
    /// Largest object accepted (the network's maximum is 60 GiB).
    pub object_size_max_bytes: u64,
    /// Uploads reserved at once across the store.
    pub reservations_max: u64,
    /// Space allocated ahead of the append position in a segment, per step.
    pub preallocate_step_bytes: u64,
    /// Size of each write submitted while streaming an upload. A multiple of 2 MiB gets
    /// huge-page buffers (`aligned_buf`): 6-23% less CPU per uploaded byte in the node than
    /// 1 MiB of small pages.
    pub write_buffer_bytes: usize,
    /// Write buffers each lane (core) shares among its uploads (`write_buffers`): past this
    /// many, each upload holds at most two (the one it fills, the one being written) instead
    /// of `writes_in_flight_max + 1`, and this many stay allocated idle between uploads (more
    /// for a while after a burst: `write_buffers_burst_kept_ms`).
    pub write_buffers_per_lane: usize,
    /// How long, after a lane last had that many taken at once, it keeps as many buffers
    /// allocated as it had taken at its busiest (when that is more than
    /// `write_buffers_per_lane`, and that is not 0); 0 keeps only `write_buffers_per_lane`.
    pub write_buffers_burst_kept_ms: u64,
    /// Writes of one upload in flight at once (pipelines hashing with disk writes).
    pub writes_in_flight_max: usize,
    /// Size of each read while streaming an object out (a multiple of the chunk size is best).
    pub read_buffer_bytes: usize,
    /// A background checkpoint runs at this interval when records were written since the last.
    pub checkpoint_interval_ms: u64,
    /// Memory for verified, locked windows of hot objects (`pinned`); 0 turns them off.
    pub pinned_cache_bytes: u64,
    /// Windows held at once (each is one memory mapping; Linux allows 65,530 per process).
    pub pinned_windows_max: usize,
    /// Segment files kept zero-filled ahead of need by a background thread (`segment_pool`):
    /// commits into them skip the extent conversions that make small commits' fdatasyncs
    /// slow, at the price of writing every block twice. 0 (the default) turns it off.
    pub prezeroed_segments: usize,
    /// Upload payloads go to the disk with `O_DIRECT`, past the page cache (where the file
    /// system allows it; buffered otherwise): no copy into the page cache and no writeback
    /// work, but an object just uploaded is read from the disk the first time.
    pub direct_writes: bool,
    /// Threads that hash upload buffers (blake3 and chunk crcs) for the cores that receive
    /// them (`hash_pool`). A buffer goes to them only when no other is waiting (the core
    /// hashes it otherwise), so they lend an upload on a quiet node a second CPU and at most
    /// one buffer waits for them. 0: every core hashes its own uploads. Default: one fewer than
    /// the CPUs, at least one (measured on 2 vCPUs: one thread uploaded a single 1 GiB stream
    /// 2-6% faster than two, alternated three times, and 64 streams at the same rate).
    pub hash_threads: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            segment_size_bytes: 1 << 30,
            chunk_size_bytes: 256 << 10,
            index_shards: 16,
            sync: SyncPolicy::Always,
            object_size_max_bytes: 60 << 30,
            reservations_max: 4096,
            preallocate_step_bytes: 64 << 20,
            write_buffer_bytes: 2 << 20,
            write_buffers_per_lane: WRITE_BUFFERS_PER_LANE_DEFAULT,
            write_buffers_burst_kept_ms: WRITE_BUFFERS_BURST_KEPT_MS_DEFAULT,
            writes_in_flight_max: 4,
            read_buffer_bytes: 1 << 20,
            checkpoint_interval_ms: 5_000,
            pinned_cache_bytes: 2 << 30,
            pinned_windows_max: 16_384,
            prezeroed_segments: 0,
            direct_writes: true,
            hash_threads: std::thread::available_parallelism()
                .map_or(1, |cpus| cpus.get().saturating_sub(1).max(1))
                .min(HASH_THREADS_MAX),
        }
    }
}

impl StoreConfig {
    /// Checks every value; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(EngineError::InvalidConfig(what.to_string()));
        if self.segment_size_bytes < 2 * BLOCK_LEN || self.segment_size_bytes % BLOCK_LEN != 0 {
            return bad("segment_size_bytes must be a multiple of 4096 and at least 8192");
        }
        if !valid_chunk_size(self.chunk_size_bytes) {
            return bad("chunk_size_bytes must be a power of two from 4 KiB to 32 MiB");
        }
        if !(1..=1024).contains(&self.index_shards) {
            return bad("index_shards must be 1..=1024");
        }
        if self.reservations_max == 0 {
            return bad("reservations_max must be at least 1");
        }
        if self.write_buffer_bytes < BLOCK_LEN as usize
            || self.write_buffer_bytes % BLOCK_LEN as usize != 0
        {
            return bad("write_buffer_bytes must be a positive multiple of 4096");
        }
        if self.write_buffers_per_lane > WRITE_BUFFERS_PER_LANE_MAX {
            return bad(&format!(
                "write_buffers_per_lane must be at most {WRITE_BUFFERS_PER_LANE_MAX}"
            ));
        }
        if self.write_buffers_burst_kept_ms > WRITE_BUFFERS_BURST_KEPT_MS_MAX {
            return bad(&format!(
                "write_buffers_burst_kept_ms must be at most {WRITE_BUFFERS_BURST_KEPT_MS_MAX}"
            ));
        }
        if self.writes_in_flight_max == 0 {
            return bad("writes_in_flight_max must be at least 1");
        }
        if self.read_buffer_bytes < BLOCK_LEN as usize || self.read_buffer_bytes > u32::MAX as usize
        {
            return bad("read_buffer_bytes must be 4096..=4 GiB");
        }
        if self.pinned_windows_max > PINNED_WINDOWS_LIMIT {
            return bad("pinned_windows_max must be at most 60000 (each window is a mapping)");
        }
        if self.prezeroed_segments > PREZEROED_SEGMENTS_MAX {
            return bad(&format!(
                "prezeroed_segments must be at most {PREZEROED_SEGMENTS_MAX}"
            ));
        }
        if self.hash_threads > HASH_THREADS_MAX {
            return bad(&format!("hash_threads must be at most {HASH_THREADS_MAX}"));
        }
        if self.checkpoint_interval_ms == 0 {
            return bad("checkpoint_interval_ms must be positive");
        }
        Ok(())
    }
}
