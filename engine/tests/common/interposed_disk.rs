//! A `Disk` over the real files (io_uring) that lets a test watch writes and hold fdatasyncs.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use colossus_engine::io::{BufResult, Disk, DiskFile, LocalBoxFuture, UringDisk};
use colossus_engine::segment::parse_file_name;

/// What a test does at each interposed call; the defaults pass everything through.
pub trait Interpose: Send + Sync + 'static {
    /// Called before each write of `len` bytes at `pos` to `path` (async or blocking).
    fn on_write(&self, _path: &Path, _pos: u64, _len: usize) {}

    /// Whether the asynchronous fdatasync of `path` never completes (as if the disk stalled
    /// there), so a test can act, or crash, while a commit waits on it.
    fn holds_sync(&self, _path: &Path) -> bool {
        false
    }
}

/// The real disk, with `hooks` consulted on the way.
pub struct InterposedDisk<H: Interpose> {
    pub hooks: Arc<H>,
}

struct InterposedFile<H: Interpose> {
    inner: Arc<dyn DiskFile>,
    path: PathBuf,
    hooks: Arc<H>,
}

impl<H: Interpose> Disk for InterposedDisk<H> {
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn DiskFile>> {
        Ok(Arc::new(InterposedFile {
            inner: UringDisk.open(path, create)?,
            path: path.to_path_buf(),
            hooks: self.hooks.clone(),
        }))
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        UringDisk.remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        UringDisk.rename(from, to)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        UringDisk.sync_dir(path)
    }
}

impl<H: Interpose> DiskFile for InterposedFile<H> {
    fn read_at(&self, buf: Vec<u8>, pos: u64) -> LocalBoxFuture<'_, BufResult<usize>> {
        self.inner.read_at(buf, pos)
    }
    fn write_all_at(&self, buf: Vec<u8>, pos: u64) -> LocalBoxFuture<'_, BufResult<()>> {
        self.hooks.on_write(&self.path, pos, buf.len());
        self.inner.write_all_at(buf, pos)
    }
    fn sync_data(&self) -> LocalBoxFuture<'_, io::Result<()>> {
        if self.hooks.holds_sync(&self.path) {
            return Box::pin(std::future::pending());
        }
        self.inner.sync_data()
    }
    fn read_exact_at_blocking(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        self.inner.read_exact_at_blocking(buf, pos)
    }
    fn write_all_at_blocking(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.hooks.on_write(&self.path, pos, buf.len());
        self.inner.write_all_at_blocking(buf, pos)
    }
    fn sync_data_blocking(&self) -> io::Result<()> {
        self.inner.sync_data_blocking()
    }
    fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        self.inner.allocate(offset, len)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn std_file(&self) -> Option<Arc<std::fs::File>> {
        self.inner.std_file()
    }
}

/// Holds every asynchronous fdatasync of segments created after `hold_new_segments` (segment
/// ids grow, so those are the ids above the highest written to before).
#[derive(Default)]
pub struct HoldNewSegments {
    /// Highest segment id written to so far.
    newest_written: AtomicU32,
    /// Segment ids from this one on have their syncs held (0: none).
    held_from: AtomicU32,
    held_syncs: AtomicU64,
}

impl HoldNewSegments {
    /// From now on, segments created later have their syncs held.
    pub fn hold_new_segments(&self) {
        let from = self.newest_written.load(Ordering::SeqCst) + 1;
        self.held_from.store(from, Ordering::SeqCst);
    }

    /// Returns once some fdatasync is being held (panics after 10 s).
    pub async fn wait_for_a_held_sync(&self) {
        let mut waited_ms = 0;
        while self.held_syncs.load(Ordering::SeqCst) == 0 {
            assert!(
                waited_ms < 10_000,
                "no fdatasync of a new segment within 10 s"
            );
            monoio::time::sleep(Duration::from_millis(1)).await;
            waited_ms += 1;
        }
    }
}

impl Interpose for HoldNewSegments {
    fn on_write(&self, path: &Path, _pos: u64, _len: usize) {
        if let Some(id) = segment_id(path) {
            self.newest_written.fetch_max(id, Ordering::SeqCst);
        }
    }

    fn holds_sync(&self, path: &Path) -> bool {
        let from = self.held_from.load(Ordering::SeqCst);
        let held = from > 0 && segment_id(path).is_some_and(|id| id >= from);
        if held {
            self.held_syncs.fetch_add(1, Ordering::SeqCst);
        }
        held
    }
}

fn segment_id(path: &Path) -> Option<u32> {
    parse_file_name(path.file_name()?.to_str()?)
}
