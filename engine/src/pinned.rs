//! Pinned windows: verified object bytes held in memory, so a hot object is served without
//! reading or checking it again, and without copying it (the server hands the kernel the
//! file range to send, see [`file_source`]).
//!
//! A window is up to [`WINDOW_BYTES_MAX`] of one record's payload, mapped read-only from its
//! segment file and locked in memory with `mlock`. Locked pages stay resident: the kernel can
//! neither drop them nor read them again from the disk, so the bytes checked against the
//! chunk crcs when the window was pinned are the bytes the page cache holds for as long as
//! the window lives. That is what makes sending straight from the file (sendfile) safe:
//! the kernel sends those very pages.
//!
//! Pinning never waits on the disk: a window is pinned only when `mincore` says every page of
//! it is already in the page cache. A cold object is read the ordinary way (which brings it
//! into the cache), and a later read pins it. The cache is bounded in bytes and in windows
//! (each window is one mapping; the kernel limits mappings per process), and forgets the
//! least recently used windows first (a clock).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::ops::Range;
use std::os::unix::io::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use crate::codec::align_up;
use crate::error::{EngineError, Result};
use crate::index::IndexEntry;
use crate::reader::ObjectReader;
use crate::record::BLOCK_LEN;
use crate::store::{Store, StoreInner};

/// Payload bytes per window. A multiple of every valid chunk size (at most 32 MiB) and of the
/// page size, so windows start on chunk and page boundaries.
pub const WINDOW_BYTES_MAX: u64 = 64 << 20;

const PAGE_BYTES: u64 = 4096;
const _: () = assert!(WINDOW_BYTES_MAX % (32 << 20) == 0 && BLOCK_LEN % PAGE_BYTES == 0);

/// Which window of which record.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct WindowKey {
    segment_id: u32,
    record_offset: u64,
    seq: u64,
    index: u64,
}

/// A verified, locked, read-only mapping of part of a record's payload.
pub struct Window {
    addr: NonNull<u8>,
    map_len: usize,
    /// Payload bytes in the window (the mapping is rounded up to whole pages).
    len: usize,
    /// The segment file; kept open for sendfile, and so the mapping's file stays whole.
    file: Arc<File>,
    /// File offset of the first mapped byte.
    file_offset: u64,
    key: WindowKey,
    /// Read since the clock hand last passed.
    referenced: AtomicBool,
}

// SAFETY: the mapping is read-only (PROT_READ) and shared by no one who writes through it;
// it lives until Drop unmaps it, which needs exclusive ownership. Reading it from any thread
// is reading immutable memory.
unsafe impl Send for Window {}
// SAFETY: as above; `&Window` only ever gives shared, read-only access to the mapping.
unsafe impl Sync for Window {}

impl Window {
    fn bytes(&self) -> &[u8] {
        // SAFETY: `addr` maps `map_len >= len` readable bytes until Drop.
        unsafe { std::slice::from_raw_parts(self.addr.as_ptr(), self.len) }
    }

    fn contains(&self, ptr: usize, len: usize) -> bool {
        let start = self.addr.as_ptr() as usize;
        ptr >= start && ptr.saturating_add(len) <= start + self.len
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        let start = self.addr.as_ptr() as usize;
        // Out of the registry first: once unmapped, the addresses may be handed to another
        // mapping that must not be mistaken for this file's bytes.
        {
            let mut registry = REGISTRY.write();
            if registry
                .get(&start)
                .is_some_and(|weak| weak.strong_count() == 0)
            {
                registry.remove(&start);
            }
        }
        // SAFETY: unmaps exactly the mapping made in `map_window` (which also unlocks it);
        // no reference into it outlives the Window (slices hold an Arc).
        unsafe {
            libc::munmap(self.addr.as_ptr().cast(), self.map_len);
        }
    }
}

/// Every live window by start address, for [`file_source`]. Global because the code that
/// writes to sockets sees only byte slices, not stores.
static REGISTRY: RwLock<BTreeMap<usize, Weak<Window>>> = RwLock::new(BTreeMap::new());

/// Where a slice of pinned bytes comes from: the file and offset holding the same bytes.
pub struct FileSource {
    window: Arc<Window>,
    /// Offset in the file of the slice's first byte.
    pub offset: u64,
}

impl FileSource {
    /// The open file (valid while the source lives).
    pub fn file(&self) -> &File {
        &self.window.file
    }
}

/// When `ptr..ptr + len` lies within one pinned window: the file range that holds the same
/// bytes. Sending that range (sendfile) sends exactly the bytes of the slice, since both are
/// the same locked page-cache pages.
pub fn file_source(ptr: *const u8, len: usize) -> Option<FileSource> {
    let at = ptr as usize;
    let window = {
        let registry = REGISTRY.read();
        let (_, weak) = registry.range(..=at).next_back()?;
        weak.upgrade()?
    };
    if !window.contains(at, len) {
        return None;
    }
    let offset = window.file_offset + (at - window.addr.as_ptr() as usize) as u64;
    Some(FileSource { window, offset })
}

/// Bytes of a window, as a `Bytes` that keeps the window alive.
struct WindowSlice {
    window: Arc<Window>,
    range: Range<usize>,
}

impl AsRef<[u8]> for WindowSlice {
    fn as_ref(&self) -> &[u8] {
        &self.window.bytes()[self.range.clone()]
    }
}

/// Counters of the pinned cache.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PinnedStats {
    /// Windows held.
    pub windows: u64,
    /// Payload bytes they hold.
    pub bytes: u64,
    /// Most bytes held.
    pub budget_bytes: u64,
    /// Window reads served from windows already pinned.
    pub hits: u64,
    /// Windows pinned.
    pub pinned: u64,
    /// Window reads that took the ordinary path instead (pages not cached yet, or the file
    /// cannot be mapped).
    pub fallbacks: u64,
    /// Why pinning stopped, when it did (mlock refused).
    pub disabled_reason: Option<String>,
}

#[derive(Default)]
struct CacheState {
    windows: HashMap<WindowKey, Arc<Window>>,
    /// Clock order of the keys in `windows`.
    clock: VecDeque<WindowKey>,
    bytes: u64,
}

/// The store's pinned windows.
pub(crate) struct PinnedCache {
    budget_bytes: u64,
    windows_max: usize,
    state: Mutex<CacheState>,
    disabled_reason: Mutex<Option<String>>,
    disabled: AtomicBool,
    hits: AtomicU64,
    pinned: AtomicU64,
    fallbacks: AtomicU64,
}

impl PinnedCache {
    pub(crate) fn new(budget_bytes: u64, windows_max: usize) -> Self {
        Self {
            budget_bytes,
            windows_max,
            state: Mutex::new(CacheState::default()),
            disabled_reason: Mutex::new(None),
            disabled: AtomicBool::new(budget_bytes == 0 || windows_max == 0),
            hits: AtomicU64::new(0),
            pinned: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
        }
    }

    fn get(&self, key: &WindowKey) -> Option<Arc<Window>> {
        let state = self.state.lock();
        let window = state.windows.get(key)?;
        window.referenced.store(true, Ordering::Relaxed);
        Some(window.clone())
    }

    /// Adds a window (or returns the one another reader pinned first), evicting by clock.
    fn insert(&self, window: Arc<Window>) -> Arc<Window> {
        let mut state = self.state.lock();
        if let Some(existing) = state.windows.get(&window.key) {
            return existing.clone();
        }
        let len = window.len as u64;
        // Clock: a referenced window gets a second chance, an unreferenced one goes. Each
        // window is passed at most twice, so this ends.
        let mut passes = 2 * state.clock.len();
        while (state.bytes + len > self.budget_bytes || state.windows.len() >= self.windows_max)
            && passes > 0
        {
            passes -= 1;
            let Some(key) = state.clock.pop_front() else {
                break;
            };
            let second_chance = state
                .windows
                .get(&key)
                .is_some_and(|w| w.referenced.swap(false, Ordering::Relaxed));
            if second_chance {
                state.clock.push_back(key);
            } else if let Some(evicted) = state.windows.remove(&key) {
                state.bytes -= evicted.len as u64;
            }
        }
        if state.bytes + len > self.budget_bytes || state.windows.len() >= self.windows_max {
            return window;
        }
        state.bytes += len;
        state.clock.push_back(window.key);
        state.windows.insert(window.key, window.clone());
        window
    }

    /// Drops the windows of segments that compaction retired (their files are being deleted;
    /// a mapping would keep the space in use).
    pub(crate) fn forget_segments(&self, segment_ids: &[u32]) {
        let mut state = self.state.lock();
        let CacheState {
            windows,
            clock,
            bytes,
        } = &mut *state;
        windows.retain(|key, window| {
            let keep = !segment_ids.contains(&key.segment_id);
            if !keep {
                *bytes -= window.len as u64;
            }
            keep
        });
        clock.retain(|key| windows.contains_key(key));
    }

    fn disable(&self, reason: String) {
        self.disabled.store(true, Ordering::Relaxed);
        self.disabled_reason.lock().get_or_insert(reason);
    }

    pub(crate) fn stats(&self) -> PinnedStats {
        let state = self.state.lock();
        PinnedStats {
            windows: state.windows.len() as u64,
            bytes: state.bytes,
            budget_bytes: self.budget_bytes,
            hits: self.hits.load(Ordering::Relaxed),
            pinned: self.pinned.load(Ordering::Relaxed),
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
            disabled_reason: self.disabled_reason.lock().clone(),
        }
    }
}

/// Why a window was not pinned.
enum NotPinned {
    /// Read it the ordinary way this time.
    Fallback,
    /// A real error (a damaged record): report it.
    Failed(EngineError),
}

impl From<EngineError> for NotPinned {
    fn from(error: EngineError) -> Self {
        NotPinned::Failed(error)
    }
}

impl Store {
    /// A verified stream of `range` of object `id` for serving: each window of it comes from
    /// pinned memory when it is pinned already or can be pinned now (its pages are cached),
    /// else from an ordinary read ([`Store::read`]). Errors are those of `read`.
    pub async fn read_serving(&self, id: u64, range: Range<u64>) -> Result<ServingReader> {
        let entry = self
            .inner
            .index
            .get(id)?
            .ok_or(EngineError::NotFound { id })?;
        if range.start > range.end || range.end > entry.payload_len {
            return Err(EngineError::RangeOutOfBounds {
                id,
                start: range.start,
                end: range.end,
                size_bytes: entry.payload_len,
            });
        }
        let mut reader = ServingReader {
            store: self.clone(),
            entry,
            pos: range.start,
            end: range.end,
            ordinary: None,
        };
        if self.inner.pinned.disabled.load(Ordering::Relaxed) {
            // One ordinary read of the whole range, as `read` would do.
            reader.ordinary = Some(self.read(id, range).await?);
        }
        Ok(reader)
    }

    /// Counters of the pinned cache.
    pub fn pinned_stats(&self) -> PinnedStats {
        self.inner.pinned.stats()
    }
}

/// See [`Store::read_serving`].
pub struct ServingReader {
    store: Store,
    entry: IndexEntry,
    /// Next payload offset to return.
    pos: u64,
    end: u64,
    /// The ordinary read of the current window (or of the whole range, pinning off).
    ordinary: Option<ObjectReader>,
}

impl ServingReader {
    /// Bytes left in the range.
    pub fn remaining_bytes(&self) -> u64 {
        self.end - self.pos
    }

    /// The next verified piece of the range (a whole window's part when pinned); None at the
    /// end.
    pub async fn next_piece(&mut self) -> Option<Result<Bytes>> {
        loop {
            if let Some(ordinary) = &mut self.ordinary {
                match ordinary.next_chunk().await {
                    Some(Ok(bytes)) => {
                        self.pos += bytes.len() as u64;
                        return Some(Ok(bytes));
                    }
                    Some(Err(error)) => {
                        self.pos = self.end;
                        return Some(Err(error));
                    }
                    None => self.ordinary = None,
                }
            }
            if self.pos >= self.end {
                return None;
            }
            match self.next_window().await {
                Ok(Some(bytes)) => {
                    self.pos += bytes.len() as u64;
                    return Some(Ok(bytes));
                }
                // `ordinary` now reads the window.
                Ok(None) => continue,
                Err(error) => {
                    self.pos = self.end;
                    return Some(Err(error));
                }
            }
        }
    }

    /// The window holding `pos`, pinned (its part of the range), or None with `ordinary` set
    /// to read that part.
    async fn next_window(&mut self) -> Result<Option<Bytes>> {
        let inner = &self.store.inner;
        let cache = &inner.pinned;
        let index = self.pos / WINDOW_BYTES_MAX;
        let window_start = index * WINDOW_BYTES_MAX;
        let stop = self.end.min(window_start + WINDOW_BYTES_MAX);
        let key = WindowKey {
            segment_id: self.entry.segment_id,
            record_offset: self.entry.offset,
            seq: self.entry.seq,
            index,
        };
        let window = match cache.get(&key) {
            Some(window) => {
                cache.hits.fetch_add(1, Ordering::Relaxed);
                Some(window)
            }
            None if cache.disabled.load(Ordering::Relaxed) => None,
            None => match pin_window(inner, &self.entry, key).await {
                Ok(window) => Some(cache.insert(window)),
                Err(NotPinned::Fallback) => {
                    cache.fallbacks.fetch_add(1, Ordering::Relaxed);
                    None
                }
                Err(NotPinned::Failed(error)) => return Err(error),
            },
        };
        match window {
            Some(window) => Ok(Some(Bytes::from_owner(WindowSlice {
                window,
                range: (self.pos - window_start) as usize..(stop - window_start) as usize,
            }))),
            None => {
                let id = self.entry.object_id;
                self.ordinary = Some(self.store.read(id, self.pos..stop).await?);
                Ok(None)
            }
        }
    }
}

/// Maps, locks and verifies one window, when all of it is in the page cache.
async fn pin_window(
    inner: &StoreInner,
    entry: &IndexEntry,
    key: WindowKey,
) -> std::result::Result<Arc<Window>, NotPinned> {
    let segment = inner.segment(entry.segment_id).ok_or(NotPinned::Fallback)?;
    let file = segment.file.std_file().ok_or(NotPinned::Fallback)?;
    let payload_start = key.index * WINDOW_BYTES_MAX;
    let len = (entry.payload_len - payload_start).min(WINDOW_BYTES_MAX);
    let file_offset = entry.offset + BLOCK_LEN + payload_start;
    debug_assert_eq!(file_offset % PAGE_BYTES, 0);
    let window = map_window(&inner.pinned, file, file_offset, len as usize, key)?;
    // The crcs of the window's chunks, checked against the index entry on the way.
    let checker =
        ObjectReader::open_entry(inner, *entry, segment, payload_start..payload_start + len)
            .await?;
    checker.verify(payload_start, window.bytes())?;
    let window = Arc::new(window);
    REGISTRY
        .write()
        .insert(window.addr.as_ptr() as usize, Arc::downgrade(&window));
    inner.pinned.pinned.fetch_add(1, Ordering::Relaxed);
    Ok(window)
}

/// mmap + mincore + mlock: a locked mapping of `len` bytes at `file_offset`, or Fallback when
/// any page is not cached (locking it would read the disk on this thread).
fn map_window(
    cache: &PinnedCache,
    file: Arc<File>,
    file_offset: u64,
    len: usize,
    key: WindowKey,
) -> std::result::Result<Window, NotPinned> {
    let map_len = align_up(len as u64, PAGE_BYTES) as usize;
    let offset = libc::off_t::try_from(file_offset).map_err(|_| NotPinned::Fallback)?;
    // SAFETY: a fresh read-only shared mapping of an open file; no existing memory is touched.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            map_len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            offset,
        )
    };
    if addr == libc::MAP_FAILED {
        return Err(NotPinned::Fallback);
    }
    let addr = NonNull::new(addr.cast::<u8>()).ok_or(NotPinned::Fallback)?;
    // From here the Window owns the mapping: every early return unmaps it.
    let window = Window {
        addr,
        map_len,
        len,
        file,
        file_offset,
        key,
        referenced: AtomicBool::new(true),
    };
    let mut resident = vec![0u8; map_len / PAGE_BYTES as usize];
    // SAFETY: `addr` is a mapping of `map_len` bytes; `resident` has one byte per page.
    let outcome = unsafe { libc::mincore(addr.as_ptr().cast(), map_len, resident.as_mut_ptr()) };
    if outcome != 0 || resident.iter().any(|page| page & 1 == 0) {
        return Err(NotPinned::Fallback);
    }
    // SAFETY: locks pages of our own mapping; they are unlocked when it is unmapped.
    if unsafe { libc::mlock(addr.as_ptr().cast(), map_len) } != 0 {
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::EPERM) || error.raw_os_error() == Some(libc::ENOMEM) {
            // Not allowed, or past RLIMIT_MEMLOCK: every later attempt would fail the same way.
            cache.disable(format!(
                "mlock of {map_len} bytes failed: {error} (raise the memlock limit, or give \
                 the process CAP_IPC_LOCK)"
            ));
        }
        return Err(NotPinned::Fallback);
    }
    Ok(window)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(segment_id: u32, index: u64) -> WindowKey {
        WindowKey {
            segment_id,
            record_offset: 4096,
            seq: 1,
            index,
        }
    }

    /// A window over an anonymous mapping (the cache logic does not care what is mapped).
    fn window(segment_id: u32, index: u64, len: usize) -> Arc<Window> {
        let map_len = align_up(len as u64, PAGE_BYTES) as usize;
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(addr, libc::MAP_FAILED);
        let file = Arc::new(File::open("/dev/null").unwrap());
        Arc::new(Window {
            addr: NonNull::new(addr.cast()).unwrap(),
            map_len,
            len,
            file,
            file_offset: 0,
            key: key(segment_id, index),
            referenced: AtomicBool::new(false),
        })
    }

    #[test]
    fn evicts_unreferenced_windows_first_and_keeps_the_budget() {
        let cache = PinnedCache::new(3 * 4096, 100);
        for index in 0..3 {
            cache.insert(window(1, index, 4096));
        }
        assert_eq!(cache.stats().bytes, 3 * 4096);
        // Window 0 is read again; a fourth must push out window 1 (the oldest unreferenced).
        assert!(cache.get(&key(1, 0)).is_some());
        cache.insert(window(1, 3, 4096));
        let stats = cache.stats();
        assert_eq!((stats.windows, stats.bytes), (3, 3 * 4096));
        assert!(cache.get(&key(1, 0)).is_some());
        assert!(cache.get(&key(1, 1)).is_none());
        assert!(cache.get(&key(1, 3)).is_some());
    }

    #[test]
    fn a_window_larger_than_the_budget_is_not_kept() {
        let cache = PinnedCache::new(4096, 100);
        let big = cache.insert(window(1, 0, 8192));
        assert_eq!(big.len, 8192);
        assert_eq!(cache.stats().windows, 0);
    }

    #[test]
    fn the_window_count_is_bounded() {
        let cache = PinnedCache::new(1 << 30, 2);
        for index in 0..5 {
            cache.insert(window(1, index, 4096));
        }
        assert_eq!(cache.stats().windows, 2);
    }

    #[test]
    fn forgetting_a_segment_drops_its_windows() {
        let cache = PinnedCache::new(1 << 30, 100);
        cache.insert(window(1, 0, 4096));
        cache.insert(window(2, 0, 8192));
        cache.forget_segments(&[1]);
        let stats = cache.stats();
        assert_eq!((stats.windows, stats.bytes), (1, 8192));
        assert!(cache.get(&key(2, 0)).is_some());
    }

    #[test]
    fn file_source_finds_registered_windows_only_while_they_live() {
        let w = window(7, 0, 3 * 4096);
        let start = w.addr.as_ptr() as usize;
        REGISTRY.write().insert(start, Arc::downgrade(&w));
        let inside = file_source((start + 4096) as *const u8, 4096).unwrap();
        assert_eq!(inside.offset, 4096);
        drop(inside);
        // Past the window's payload: not a source.
        assert!(file_source((start + 2 * 4096) as *const u8, 4097).is_none());
        drop(w);
        assert!(file_source(start as *const u8, 1).is_none());
        assert!(!REGISTRY.read().contains_key(&start));
    }
}
