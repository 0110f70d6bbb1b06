//! The narrow storage trait: every byte the engine puts on or takes off a segment goes through
//! [`Disk`] and [`DiskFile`], so tests can wrap the real implementation and inject torn writes,
//! EIO, ENOSPC or a crash at any operation. The real implementation, [`UringDisk`], submits
//! reads, writes and fdatasync through the calling thread's monoio io_uring runtime.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use crate::aligned_buf::AlignedBuf;

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
    /// Hints that `[offset, offset+len)` was just written and will be synced soon: start
    /// writing it back now, so the disk works while the upload is still hashing. Never blocks.
    fn start_writeback(&self, _offset: u64, _len: u64) {}
    /// The plain file behind this one, for mapping and sendfile; None where every access must
    /// go through the trait (wrappers that inject faults).
    fn std_file(&self) -> Option<Arc<File>> {
        None
    }
    /// Writes all of `buf` at `pos` through the page cache, handing the buffer back. The
    /// default copies it into a `Vec` for [`DiskFile::write_all_at`].
    fn write_aligned_at(
        &self,
        buf: Arc<AlignedBuf>,
        pos: u64,
    ) -> LocalBoxFuture<'_, (io::Result<()>, Arc<AlignedBuf>)> {
        Box::pin(async move {
            let (outcome, _) = self.write_all_at(buf.as_slice().to_vec(), pos).await;
            (outcome, buf)
        })
    }
    /// A second handle on this file whose writes bypass the page cache (`O_DIRECT`); None
    /// where the file system refuses it, or where every write must go through the trait.
    fn direct_writer(&self) -> Option<DirectWriter> {
        None
    }
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

/// A file shared across threads. monoio's file handle is bound to one thread's runtime, so
/// each operation submits through a handle on a duplicated descriptor that the operation
/// owns; nothing outlives the operation, so a closed store or a deleted segment holds no
/// descriptor anywhere (a per-thread cache of handles did, until the thread next did I/O).
pub struct UringFile {
    file: Arc<File>,
}

impl UringFile {
    fn new(file: File) -> Self {
        Self {
            file: Arc::new(file),
        }
    }

    /// A handle for the calling thread's runtime.
    fn thread_handle(&self) -> io::Result<monoio::fs::File> {
        thread_handle(&self.file)
    }
}

/// A monoio handle on a duplicate of `file`'s descriptor, for the calling thread's runtime.
fn thread_handle(file: &File) -> io::Result<monoio::fs::File> {
    monoio::fs::File::from_std(file.try_clone()?)
}

/// Writes all of `buf` at `pos` through a handle of the calling thread's runtime, closed
/// before returning so no descriptor outlives the operation; hands the buffer back.
async fn write_all_through<B: monoio::buf::IoBuf>(
    file: &File,
    buf: B,
    pos: u64,
) -> (io::Result<()>, B) {
    let handle = match thread_handle(file) {
        Ok(handle) => handle,
        Err(error) => return (Err(error), buf),
    };
    let outcome = handle.write_all_at(buf, pos).await;
    let _ = handle.close().await;
    outcome
}

impl DiskFile for UringFile {
    fn read_at(&self, buf: Vec<u8>, pos: u64) -> LocalBoxFuture<'_, BufResult<usize>> {
        Box::pin(async move {
            let handle = match self.thread_handle() {
                Ok(handle) => handle,
                Err(error) => return (Err(error), buf),
            };
            let outcome = handle.read_at(buf, pos).await;
            // Close before returning, so no descriptor outlives the operation.
            let _ = handle.close().await;
            outcome
        })
    }

    fn write_all_at(&self, buf: Vec<u8>, pos: u64) -> LocalBoxFuture<'_, BufResult<()>> {
        Box::pin(write_all_through(&self.file, buf, pos))
    }

    fn sync_data(&self) -> LocalBoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            let handle = self.thread_handle()?;
            let outcome = handle.sync_data().await;
            let _ = handle.close().await;
            outcome
        })
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

    fn start_writeback(&self, offset: u64, len: u64) {
        writeback::request(&self.file, offset, len);
    }

    fn std_file(&self) -> Option<Arc<File>> {
        Some(self.file.clone())
    }

    fn write_aligned_at(
        &self,
        buf: Arc<AlignedBuf>,
        pos: u64,
    ) -> LocalBoxFuture<'_, (io::Result<()>, Arc<AlignedBuf>)> {
        Box::pin(write_all_through(&self.file, buf, pos))
    }

    fn direct_writer(&self) -> Option<DirectWriter> {
        DirectWriter::open(&self.file).ok()
    }
}

/// Writes that bypass the page cache: a second open file description of a segment, with
/// `O_DIRECT`. The memory, the file offset and the length of every write must be multiples of
/// the device's logical block size; 4 KiB covers them all, and [`AlignedBuf`] with the
/// record layout's 4 KiB blocks provides it. The data still sits in the device's volatile
/// cache until the commit's fdatasync, which also makes the unwritten-extent conversions of
/// these writes durable.
pub struct DirectWriter {
    file: Arc<File>,
}

impl DirectWriter {
    /// Reopens `file` with `O_DIRECT` (through /proc/self/fd, so it is the same inode whatever
    /// its path is now). Fails where the file system refuses direct I/O (EINVAL; tmpfs on older kernels).
    fn open(file: &File) -> io::Result<Self> {
        let path = format!("/proc/self/fd/{}", file.as_raw_fd());
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT | libc::O_CLOEXEC)
            .open(path)?;
        Ok(Self {
            file: Arc::new(file),
        })
    }

    /// Writes all of `buf` at `pos`, both multiples of 4 KiB, handing the buffer back.
    pub async fn write_at(
        &self,
        buf: Arc<AlignedBuf>,
        pos: u64,
    ) -> (io::Result<()>, Arc<AlignedBuf>) {
        debug_assert_eq!(buf.len() % crate::aligned_buf::BUFFER_ALIGN_BYTES, 0);
        debug_assert_eq!(pos % crate::aligned_buf::BUFFER_ALIGN_BYTES as u64, 0);
        write_all_through(&self.file, buf, pos).await
    }
}

/// Starts writeback of dirty ranges on a background thread: sync_file_range(WRITE) can block
/// while the device queue is full, which must not stall a core's event loop.
mod writeback {
    use std::fs::File;
    use std::os::unix::io::AsRawFd;
    use std::sync::{Arc, OnceLock};

    /// Requests waiting for the writeback thread; past this, hints are dropped (the final
    /// fdatasync writes everything anyway).
    const QUEUE_LEN_MAX: usize = 256;

    type Request = (Arc<File>, u64, u64);

    fn sender() -> Option<&'static crossbeam_channel::Sender<Request>> {
        static SENDER: OnceLock<Option<crossbeam_channel::Sender<Request>>> = OnceLock::new();
        SENDER
            .get_or_init(|| {
                let (tx, rx) = crossbeam_channel::bounded::<Request>(QUEUE_LEN_MAX);
                std::thread::Builder::new()
                    .name("colossus-writeback".into())
                    .spawn(move || {
                        for (file, offset, len) in rx {
                            let (Ok(offset), Ok(len)) = (
                                libc::off64_t::try_from(offset),
                                libc::off64_t::try_from(len),
                            ) else {
                                continue;
                            };
                            // SAFETY: a plain syscall on a descriptor kept open by `file`.
                            // Errors only mean the hint was not taken.
                            unsafe {
                                libc::sync_file_range(
                                    file.as_raw_fd(),
                                    offset,
                                    len,
                                    libc::SYNC_FILE_RANGE_WRITE,
                                );
                            }
                        }
                    })
                    .ok()
                    .map(|_| tx)
            })
            .as_ref()
    }

    pub(super) fn request(file: &Arc<File>, offset: u64, len: u64) {
        if let Some(tx) = sender() {
            let _ = tx.try_send((file.clone(), offset, len));
        }
    }
}

/// Makes the calling thread's monoio runtime hand every queued io_uring operation to the
/// kernel now: monoio submits its queue only when no task is ready to run, so a task that
/// starts a write and goes on computing would otherwise delay the write until it next waits.
/// Waiting on a trivial operation (opening /dev/null) is such a wait; errors are ignored, as
/// the queued operations are submitted at the next wait in any case.
pub async fn submit_queued_io() {
    if let Ok(null) = monoio::fs::File::open("/dev/null").await {
        let _ = null.close().await;
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

/// How long [`try_lock_exclusive`] keeps trying while the lock is held, before it answers that
/// someone else holds it. A child process being spawned by any thread of this process holds a
/// copy of every descriptor, the lock file's among them, from its fork until its exec: for that
/// moment a lock this process has just let go of still looks held. Another process that really
/// holds the lock keeps it far longer than this, and is then refused.
pub const LOCK_HANDOVER_WAIT_MS: u64 = 500;

/// Pause between attempts while waiting for the lock.
const LOCK_RETRY_INTERVAL_MS: u64 = 2;

/// Takes an exclusive advisory `flock` on `file`: `Ok(false)` when another open file
/// description still holds one after [`LOCK_HANDOVER_WAIT_MS`]. The lock lasts until every
/// descriptor of this open file description is closed; two processes writing one store or
/// journal would damage it.
pub fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_millis(LOCK_HANDOVER_WAIT_MS);
    loop {
        // SAFETY: flock on a descriptor `file` keeps open for the call; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(true);
        }
        let error = io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(error);
        }
        if std::time::Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(std::time::Duration::from_millis(LOCK_RETRY_INTERVAL_MS));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A locked file and a second open file description of it (as another process would
    /// have), with the directory that holds them.
    fn held_and_other() -> (tempfile::TempDir, File, File) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("LOCK");
        let holder = File::create(&path).expect("open");
        assert!(try_lock_exclusive(&holder).expect("lock"));
        let other = File::create(&path).expect("open again");
        (dir, holder, other)
    }

    #[test]
    fn exclusive_lock_is_refused_while_held_and_free_after() {
        let (_dir, holder, other) = held_and_other();
        let asked = std::time::Instant::now();
        assert!(!try_lock_exclusive(&other).expect("try lock"));
        assert!(asked.elapsed() >= std::time::Duration::from_millis(LOCK_HANDOVER_WAIT_MS));
        drop(holder);
        assert!(try_lock_exclusive(&other).expect("lock after release"));
    }

    /// A holder that lets go within the handover wait (as a spawned child does at its exec)
    /// does not make the lock look taken.
    #[test]
    fn a_lock_released_during_the_handover_wait_is_taken() {
        let (_dir, holder, other) = held_and_other();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(LOCK_HANDOVER_WAIT_MS / 5));
            drop(holder);
        });
        assert!(try_lock_exclusive(&other).expect("lock once the holder lets go"));
        releaser.join().expect("releaser");
    }
}
