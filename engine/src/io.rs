//! The narrow storage trait: every byte the engine puts on or takes off a segment goes through
//! [`Disk`] and [`DiskFile`], so tests can wrap the real implementation and inject torn writes,
//! EIO, ENOSPC or a crash at any operation. The real implementation, [`UringDisk`], submits
//! reads, writes and fdatasync through the calling thread's monoio io_uring runtime.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// A future that stays on the thread (and io_uring runtime) that created it.
pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Result of an operation that hands its buffer back, as io_uring requires.
pub type BufResult<T> = (io::Result<T>, Vec<u8>);

/// File-system operations the engine needs, besides the per-file ones.
pub trait Disk: Send + Sync + 'static {
    /// Opens (optionally creating) a file for reading and writing.
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn DiskFile>>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Renames a file atomically within one file system.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// fsyncs a directory, making creations, renames and removals in it durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
}

/// One open file. Async methods must be called on a thread running a monoio runtime; the
/// `_blocking` ones work anywhere (start-up, recovery, maintenance threads).
pub trait DiskFile: Send + Sync {
    /// Reads up to `buf.capacity()` bytes at `pos` into `buf` (its length is set to the count).
    fn read_at(&self, buf: Vec<u8>, pos: u64) -> LocalBoxFuture<'_, BufResult<usize>>;
    /// Writes all of `buf` at `pos`.
    fn write_all_at(&self, buf: Vec<u8>, pos: u64) -> LocalBoxFuture<'_, BufResult<()>>;
    /// fdatasync.
    fn sync_data(&self) -> LocalBoxFuture<'_, io::Result<()>>;
    /// Reads exactly `buf.len()` bytes at `pos`, or fails with UnexpectedEof.
    fn read_exact_at_blocking(&self, buf: &mut [u8], pos: u64) -> io::Result<()>;
    /// Writes all of `buf` at `pos`.
    fn write_all_at_blocking(&self, buf: &[u8], pos: u64) -> io::Result<()>;
    /// fdatasync.
    fn sync_data_blocking(&self) -> io::Result<()>;
    /// Allocates disk blocks for `[offset, offset+len)` (fallocate), growing the file if needed;
    /// ENOSPC here means the space is not there, before any data was accepted.
    fn allocate(&self, offset: u64, len: u64) -> io::Result<()>;
    /// Truncates or extends the file.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Whether the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// The real disk: std for metadata and blocking paths, io_uring for the async ones.
#[derive(Debug, Default)]
pub struct UringDisk;

impl Disk for UringDisk {
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn DiskFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)?;
        Ok(Arc::new(UringFile::new(file)))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        sync_dir_std(path)
    }
}

/// Unique ids for open files, so each thread can keep its own io_uring handle per file.
static NEXT_FILE_UID: AtomicU64 = AtomicU64::new(1);
/// Bumped whenever a file is closed, so threads prune handles whose file is gone.
static CLOSE_EPOCH: AtomicU64 = AtomicU64::new(0);

struct ThreadFiles {
    seen_epoch: u64,
    /// uid -> (liveness of the shared file, this thread's handle).
    files: HashMap<u64, (Weak<()>, Rc<monoio::fs::File>)>,
}

thread_local! {
    static THREAD_FILES: RefCell<ThreadFiles> = RefCell::new(ThreadFiles {
        seen_epoch: 0,
        files: HashMap::new(),
    });
}

/// A file shared across threads; each monoio thread lazily gets its own duplicated descriptor,
/// because monoio's file handle is bound to the thread's runtime.
pub struct UringFile {
    uid: u64,
    file: File,
    /// Threads hold a Weak of this; when the file is dropped their handles are pruned.
    alive: Arc<()>,
}

impl UringFile {
    fn new(file: File) -> Self {
        Self {
            uid: NEXT_FILE_UID.fetch_add(1, Ordering::Relaxed),
            file,
            alive: Arc::new(()),
        }
    }

    /// This thread's io_uring handle for the file.
    fn thread_handle(&self) -> io::Result<Rc<monoio::fs::File>> {
        THREAD_FILES.with(|cell| {
            let mut cache = cell.borrow_mut();
            let epoch = CLOSE_EPOCH.load(Ordering::Acquire);
            if cache.seen_epoch != epoch {
                cache.files.retain(|_, (alive, _)| alive.strong_count() > 0);
                cache.seen_epoch = epoch;
            }
            if let Some((_, handle)) = cache.files.get(&self.uid) {
                return Ok(handle.clone());
            }
            let handle = Rc::new(monoio::fs::File::from_std(self.file.try_clone()?)?);
            let alive = Arc::downgrade(&self.alive);
            cache.files.insert(self.uid, (alive, handle.clone()));
            Ok(handle)
        })
    }
}

impl Drop for UringFile {
    fn drop(&mut self) {
        // Kill the liveness token first, then announce: any thread that sees the new epoch
        // finds this file's Weak dead and closes its duplicated descriptor.
        self.alive = Arc::new(());
        CLOSE_EPOCH.fetch_add(1, Ordering::Release);
    }
}

impl DiskFile for UringFile {
    fn read_at(&self, buf: Vec<u8>, pos: u64) -> LocalBoxFuture<'_, BufResult<usize>> {
        Box::pin(async move {
            let handle = match self.thread_handle() {
                Ok(handle) => handle,
                Err(error) => return (Err(error), buf),
            };
            handle.read_at(buf, pos).await
        })
    }

    fn write_all_at(&self, buf: Vec<u8>, pos: u64) -> LocalBoxFuture<'_, BufResult<()>> {
        Box::pin(async move {
            let handle = match self.thread_handle() {
                Ok(handle) => handle,
                Err(error) => return (Err(error), buf),
            };
            handle.write_all_at(buf, pos).await
        })
    }

    fn sync_data(&self) -> LocalBoxFuture<'_, io::Result<()>> {
        Box::pin(async move { self.thread_handle()?.sync_data().await })
    }

    fn read_exact_at_blocking(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, pos)
    }

    fn write_all_at_blocking(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.file.write_all_at(buf, pos)
    }

    fn sync_data_blocking(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn allocate(&self, offset: u64, len: u64) -> io::Result<()> {
        fallocate(&self.file, offset, len)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
}

/// Allocates blocks for `[offset, offset+len)` of `file`, extending it if needed.
pub fn fallocate(file: &File, offset: u64, len: u64) -> io::Result<()> {
    let offset = libc::off_t::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
    let len = libc::off_t::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
    if len == 0 {
        return Ok(());
    }
    // SAFETY: fallocate on a descriptor owned by `file`; no memory is passed to the kernel.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, offset, len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// fsyncs a directory with std (for files outside the [`Disk`] trait: the index and lock).
pub fn sync_dir_std(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}
