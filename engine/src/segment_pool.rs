//! Segment files zero-filled ahead of need (`StoreConfig::prezeroed_segments`).
//!
//! A new segment's blocks are fallocated, i.e. unwritten extents. The first write to each block
//! converts it, and the fdatasync of the commit that follows then has to write that extent
//! metadata too (on ext4 without a journal: the extent-tree blocks and the inode, synchronously,
//! after the data). With small commits that is most of an fdatasync's cost. A segment whose
//! blocks were all written once beforehand, and synced, has nothing to convert: a commit's
//! fdatasync is its data and a cache flush.
//!
//! A background thread keeps up to `prezeroed_segments` such files ready in the segments
//! directory, named `zeroed-*.ready` (`zeroed-*.partial` while being written). Neither name is
//! a segment name, so recovery never reads them. A lane that needs a new segment renames a
//! ready file to the segment's name and writes the segment header into it; with none ready it
//! creates a fallocated file as before. The price is that every block is written twice: worth
//! it for small commits, not for a disk already busy with large uploads, so it is off unless
//! configured.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// File names of pool files start with this.
pub const POOL_FILE_PREFIX: &str = "zeroed-";
const READY_SUFFIX: &str = ".ready";
const PARTIAL_SUFFIX: &str = ".partial";
/// Zeros written per `pwrite` (a multiple of every block size O_DIRECT may require). Small
/// enough that a commit's cache flush queued behind one is not held up long: with 4 MiB
/// pieces the pool's writes cost small commits all they gained (docs/BENCHMARKS.md).
const ZERO_WRITE_BYTES: usize = 512 << 10;
/// The pool never takes the filesystem below this many segments' worth of free space (beyond
/// the file it is about to write), so that it cannot be what fills the disk.
const FREE_SEGMENTS_KEPT: u64 = 2;
/// After a failure (or too little free space) the thread waits this long before trying again.
const RETRY_AFTER_MS: u64 = 10_000;

/// Ready files plus the thread that fills them. Dropping it stops the thread.
pub struct SegmentPool {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    dir: PathBuf,
    segment_bytes: u64,
    target: usize,
    state: Mutex<PoolState>,
    wake: Condvar,
}

#[derive(Default)]
struct PoolState {
    ready: Vec<PathBuf>,
    stop: bool,
    /// Files prepared since the store opened.
    prepared: u64,
    /// Why the last preparation failed, if it did.
    last_error: Option<String>,
}

/// What the pool holds, for stats.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentPoolStats {
    /// Zero-filled files ready for the next new segments.
    pub ready_files: usize,
    /// Files prepared since the store opened.
    pub prepared_files: u64,
    /// Why the last preparation failed, if it did (the pool retries after a pause).
    pub last_error: Option<String>,
}

impl SegmentPool {
    /// Adopts the ready files of `segment_bytes` in `dir` (the segments directory), removes
    /// other pool files (partial ones, or ready ones of another size), and starts the thread
    /// that keeps `target` files ready. With `target` 0 there is no thread, and files left by
    /// an earlier configuration are removed.
    pub fn start(dir: &Path, segment_bytes: u64, target: usize) -> SegmentPool {
        let mut ready = Vec::new();
        let mut leftovers = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if !name.starts_with(POOL_FILE_PREFIX) {
                    continue;
                }
                let path = entry.path();
                let whole = entry.metadata().is_ok_and(|m| m.len() == segment_bytes);
                if name.ends_with(READY_SUFFIX) && whole && ready.len() < target {
                    ready.push(path);
                } else {
                    leftovers.push(path);
                }
            }
        }
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            segment_bytes,
            target,
            state: Mutex::new(PoolState {
                ready,
                ..PoolState::default()
            }),
            wake: Condvar::new(),
        });
        let thread = if target > 0 || !leftovers.is_empty() {
            let worker = shared.clone();
            std::thread::Builder::new()
                .name("colossus-zeroing".into())
                .spawn(move || run(&worker, leftovers))
                .ok()
        } else {
            None
        };
        SegmentPool {
            shared,
            thread: Mutex::new(thread),
        }
    }

    /// A ready file, if there is one (the thread starts on the next).
    pub fn take(&self) -> Option<PathBuf> {
        let taken = self.shared.state.lock().ready.pop();
        if taken.is_some() {
            self.shared.wake.notify_all();
        }
        taken
    }

    /// Stops the thread (a file it was writing is removed) and waits for it.
    pub fn stop(&self) {
        self.shared.state.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }

    pub fn stats(&self) -> SegmentPoolStats {
        let state = self.shared.state.lock();
        SegmentPoolStats {
            ready_files: state.ready.len(),
            prepared_files: state.prepared,
            last_error: state.last_error.clone(),
        }
    }
}

impl Drop for SegmentPool {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(shared: &Shared, leftovers: Vec<PathBuf>) {
    for path in leftovers {
        let _ = std::fs::remove_file(path);
    }
    if shared.target == 0 {
        // Started only to clear files left by an earlier configuration.
        return;
    }
    let mut serial = 0u64;
    loop {
        {
            let mut state = shared.state.lock();
            while !state.stop && state.ready.len() >= shared.target {
                shared.wake.wait(&mut state);
            }
            if state.stop {
                return;
            }
        }
        serial += 1;
        let stem = format!(
            "{POOL_FILE_PREFIX}{:016x}-{serial}",
            crate::store::now_unix_ms()
        );
        let partial = shared.dir.join(format!("{stem}{PARTIAL_SUFFIX}"));
        let ready = shared.dir.join(format!("{stem}{READY_SUFFIX}"));
        let outcome = match free_bytes(&shared.dir) {
            Ok(free) if free < (FREE_SEGMENTS_KEPT + 1) * shared.segment_bytes => Err(format!(
                "{free} bytes free; zero-filling another {}-byte segment would leave less than \
                 {FREE_SEGMENTS_KEPT} segments' worth",
                shared.segment_bytes
            )),
            Ok(_) => prepare(shared, &partial, &ready).map_err(|e| e.to_string()),
            Err(error) => Err(format!("statvfs: {error}")),
        };
        if !matches!(outcome, Ok(true)) {
            let _ = std::fs::remove_file(&partial);
        }
        let mut state = shared.state.lock();
        match outcome {
            Ok(true) => {
                state.ready.push(ready);
                state.prepared += 1;
                state.last_error = None;
            }
            Ok(false) => return,
            Err(error) => {
                state.last_error = Some(error);
                if !state.stop {
                    shared
                        .wake
                        .wait_for(&mut state, Duration::from_millis(RETRY_AFTER_MS));
                }
            }
        }
    }
}

/// Writes one zero-filled file at `partial`, syncs it and renames it to `ready`. `Ok(false)`
/// when the pool was stopped meanwhile.
fn prepare(shared: &Shared, partial: &Path, ready: &Path) -> io::Result<bool> {
    let (file, direct) = open_new(partial)?;
    crate::io::fallocate(&file, 0, shared.segment_bytes)?;
    // O_DIRECT needs aligned memory.
    let mut backing = crate::aligned_buf::AlignedBuf::with_capacity(ZERO_WRITE_BYTES);
    backing.push_zeros(ZERO_WRITE_BYTES);
    let zeros = backing.as_slice();
    let mut at = 0u64;
    while at < shared.segment_bytes {
        if shared.state.lock().stop {
            return Ok(false);
        }
        // Segment sizes are multiples of 4096 (validated), so every piece is whole blocks.
        let len = (shared.segment_bytes - at).min(ZERO_WRITE_BYTES as u64) as usize;
        file.write_all_at(&zeros[..len], at)?;
        at += len as u64;
    }
    // Without this the blocks' written state could be lost in a crash and come back as
    // unwritten extents: harmless (they read as zeros either way), but the first commits'
    // fdatasyncs would then carry the conversions this file exists to spare them.
    file.sync_data()?;
    if !direct {
        // The zeros went through the page cache; do not let them push out cached objects.
        // SAFETY: a plain syscall on a descriptor owned by `file`; no memory is passed.
        unsafe {
            libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
        }
    }
    // No directory fsync: a ready file that vanishes in a crash is only a file to write again.
    std::fs::rename(partial, ready)?;
    Ok(true)
}

/// Creates `path` for direct writes, or buffered ones where the filesystem refuses O_DIRECT.
fn open_new(path: &Path) -> io::Result<(File, bool)> {
    let open = |flags| {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_CLOEXEC | flags)
            .open(path)
    };
    match open(libc::O_DIRECT) {
        Ok(file) => Ok((file, true)),
        Err(error) if error.raw_os_error() == Some(libc::EINVAL) => Ok((open(0)?, false)),
        Err(error) => Err(error),
    }
}

/// Bytes available to this process on the filesystem holding `dir`.
fn free_bytes(dir: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c_path` is a valid NUL-terminated string and `stat` points to writable memory
    // of the right type, which statvfs fills on success.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it initialised the struct.
    let stat = unsafe { stat.assume_init() };
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    }

    fn wait_ready(pool: &SegmentPool, files: usize) {
        for _ in 0..500 {
            if pool.stats().ready_files == files {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("pool never had {files} ready files: {:?}", pool.stats());
    }

    #[test]
    fn keeps_the_target_ready_with_zero_filled_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let pool = SegmentPool::start(dir.path(), 1 << 20, 2);
        wait_ready(&pool, 2);
        let taken = pool.take().expect("a ready file");
        let bytes = std::fs::read(&taken).unwrap();
        assert_eq!(bytes.len(), 1 << 20);
        assert!(bytes.iter().all(|b| *b == 0));
        std::fs::remove_file(&taken).unwrap();
        // Taking one makes the thread write another.
        wait_ready(&pool, 2);
        assert_eq!(pool.stats().prepared_files, 3);
        pool.stop();
        let names = file_names(dir.path());
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.iter().all(|n| n.ends_with(READY_SUFFIX)), "{names:?}");
    }

    #[test]
    fn a_reopen_adopts_ready_files_and_clears_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let first = SegmentPool::start(dir.path(), 1 << 20, 1);
        wait_ready(&first, 1);
        drop(first);
        let adopted = file_names(dir.path());
        // A crash mid-write leaves a partial file; a changed segment size, a ready one that
        // no longer fits.
        std::fs::write(dir.path().join("zeroed-1-1.partial"), b"half").unwrap();
        std::fs::write(dir.path().join("zeroed-2-1.ready"), vec![0u8; 8192]).unwrap();
        std::fs::write(dir.path().join("00000001.seg"), b"not the pool's").unwrap();
        let second = SegmentPool::start(dir.path(), 1 << 20, 1);
        assert_eq!(second.stats().ready_files, 1);
        assert_eq!(second.stats().prepared_files, 0);
        // The thread clears leftovers before anything else, so they are gone once it stops.
        drop(second);
        let mut expected = adopted.clone();
        expected.insert(0, "00000001.seg".to_string());
        assert_eq!(file_names(dir.path()), expected);
        // Turned off: the ready file is removed, segments are not touched, and the thread
        // that removed it is gone.
        let off = SegmentPool::start(dir.path(), 1 << 20, 0);
        let thread = off
            .thread
            .lock()
            .take()
            .expect("a thread to clear the ready file");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !thread.is_finished() {
            assert!(
                std::time::Instant::now() < deadline,
                "the clearing thread is still running"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        thread.join().unwrap();
        assert_eq!(off.stats().prepared_files, 0);
        drop(off);
        assert_eq!(file_names(dir.path()), vec!["00000001.seg".to_string()]);
    }
}
