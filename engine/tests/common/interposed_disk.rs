//! A `Disk` over the real files (io_uring) that lets a test watch writes and hold fdatasyncs.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use colossus_engine::io::{BufResult, Disk, DiskFile, LocalBoxFuture, UringDisk};

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
