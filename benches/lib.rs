//! Shared setup for the engine benchmarks in benches/: where bench data lives (the repo's
//! target/ directory, the same filesystem a production store would use, never a tmpfs), the
//! io_uring runtime every engine call runs on, deterministic content, and the cached store of
//! one million objects that the `lookup` and `open_1m` benches share. docs/BENCHMARKS.md says
//! what each bench measures and against which ceiling.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use colossus_engine::{CommitSpec, Store, StoreConfig, SyncPolicy, UploadSpec, Writer};

/// Objects in the shared large store.
pub const LARGE_STORE_OBJECTS: u64 = 1_000_000;
/// Bag every benchmark object belongs to (a realistic length for a channel bag).
pub const BENCH_BAG: &str = "dynamic:channel:123456";

/// The cargo target directory (`CARGO_TARGET_DIR`, else the workspace's `target/`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
            manifest.parent().unwrap_or(manifest).join("target")
        })
}

/// A fresh, empty directory for one benchmark's throwaway data, under target/bench-data/.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = target_dir().join("bench-data").join(name);
    remove_dir_if_present(&dir);
    std::fs::create_dir_all(&dir).expect("create bench scratch directory");
    dir
}

/// Removes a directory tree; a missing directory is fine.
pub fn remove_dir_if_present(dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("remove {}: {e}", dir.display()),
    }
}

/// The runtime type every bench drives the engine with.
pub type Runtime = monoio::Runtime<monoio::time::TimeDriver<monoio::IoUringDriver>>;

/// A single-threaded monoio runtime on the io_uring driver, as the server runs per core.
pub fn runtime() -> Runtime {
    monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .build()
        .expect("build io_uring runtime (is io_uring allowed here?)")
}

/// Deterministic, incompressible-looking bytes (xorshift64), different for each `seed`.
pub fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Uploads `bytes` as object `id`, fed to the engine `piece` bytes at a time, and commits
/// with the digest given (None skips the check).
pub async fn put(
    writer: &Writer,
    id: u64,
    bytes: &[u8],
    piece: usize,
    expected_digest: Option<[u8; 32]>,
) -> colossus_engine::Result<()> {
    let mut upload = writer.begin_upload(UploadSpec {
        id,
        bag: BENCH_BAG,
        size_bytes: bytes.len() as u64,
    })?;
    for part in bytes.chunks(piece.max(1)) {
        upload.write(part).await?;
    }
    upload
        .commit(CommitSpec {
            expected_digest,
            accepted: true,
        })
        .await?;
    Ok(())
}

/// Directory of the cached store of [`LARGE_STORE_OBJECTS`] empty objects.
pub fn large_store_dir() -> PathBuf {
    target_dir().join("bench-stores").join("objects-1m")
}

/// Configuration the large store is built and opened with (production defaults).
pub fn large_store_config(sync: SyncPolicy) -> StoreConfig {
    StoreConfig {
        sync,
        ..StoreConfig::default()
    }
}

/// Opens the cached store of one million objects, building it first when it is missing or
/// unusable (wrong object count, unclean, or a format this engine cannot open). Building
/// writes about 8 GiB (an empty object's record is two 4 KiB blocks) and takes minutes; the
/// result is kept under target/bench-stores/ for later runs.
pub fn open_large_store() -> Store {
    let dir = large_store_dir();
    if let Some(store) = open_if_valid(&dir) {
        return store;
    }
    remove_dir_if_present(&dir);
    std::fs::create_dir_all(&dir).expect("create large store directory");
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    eprintln!(
        "building the {LARGE_STORE_OBJECTS}-object bench store in {} ({threads} writer threads)",
        dir.display()
    );
    let started = Instant::now();
    build_large_store(&dir, threads);
    eprintln!(
        "built the bench store in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    open_if_valid(&dir).expect("the freshly built bench store fails validation")
}

fn open_if_valid(dir: &Path) -> Option<Store> {
    if !dir.join(colossus_engine::store::SUPERBLOCK_FILE).exists() {
        return None;
    }
    let store = match Store::open(dir, large_store_config(SyncPolicy::Never)) {
        Ok(store) => store,
        Err(error) => {
            eprintln!("cached bench store unusable ({error}); rebuilding");
            return None;
        }
    };
    let objects = store.stats().objects;
    let clean = store.open_report().clean;
    if objects == LARGE_STORE_OBJECTS && clean {
        return Some(store);
    }
    eprintln!("cached bench store has {objects} objects (clean: {clean}); rebuilding");
    store.close().expect("close the stale bench store");
    None
}

/// Builds the large store: empty objects, no fsync (SyncPolicy::Never), then a clean close,
/// which makes everything durable through the checkpoint.
fn build_large_store(dir: &Path, threads: usize) {
    let store = Store::open(dir, large_store_config(SyncPolicy::Never)).expect("create store");
    put_empty_objects(&store, LARGE_STORE_OBJECTS, threads);
    store.close().expect("close the built bench store");
}

/// Puts ids `0..objects` as empty objects from `threads` threads, each with its own runtime and
/// writer lane running 64 uploads at once.
pub fn put_empty_objects(store: &Store, objects: u64, threads: usize) {
    const TASKS_PER_THREAD: u64 = 64;
    let threads = threads.max(1) as u64;
    let stride = (threads * TASKS_PER_THREAD) as usize;
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let store = store.clone();
            scope.spawn(move || {
                runtime().block_on(async move {
                    let writer = Rc::new(store.writer());
                    let tasks: Vec<_> = (0..TASKS_PER_THREAD)
                        .map(|task| {
                            let writer = writer.clone();
                            let first = thread * TASKS_PER_THREAD + task;
                            monoio::spawn(async move {
                                for id in (first..objects).step_by(stride) {
                                    put(&writer, id, &[], 1, None)
                                        .await
                                        .expect("put an empty object");
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await;
                    }
                });
            });
        }
    });
}

/// `len` ids drawn uniformly from `0..range` (deterministic).
pub fn random_ids(len: usize, range: u64, seed: u64) -> Vec<u64> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % range
        })
        .collect()
}

/// Drops the page cache (root only); false when not permitted.
pub fn drop_page_cache() -> bool {
    // SAFETY: sync(2) takes no arguments, touches no memory of ours and cannot fail.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", b"3\n").is_ok()
}

/// Criterion's per-bench time budget, scaled by `COLOSSUS_BENCH_TIME_SCALE` (e.g. 0.2 for a
/// quick smoke run, 3 for a quieter machine).
pub fn scaled(duration: Duration) -> Duration {
    let scale = std::env::var("COLOSSUS_BENCH_TIME_SCALE")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(1.0);
    duration.mul_f64(scale)
}

/// A page-aligned buffer for O_DIRECT writes (a `Vec<u8>` of 1 MiB is only 16-byte aligned).
pub struct AlignedBuf {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

impl AlignedBuf {
    const ALIGN: usize = 4096;

    /// A buffer holding a copy of `bytes`.
    pub fn copy_of(bytes: &[u8]) -> Self {
        assert!(
            !bytes.is_empty(),
            "an aligned buffer holds at least one byte"
        );
        let layout = std::alloc::Layout::from_size_align(bytes.len(), Self::ALIGN)
            .expect("aligned buffer layout");
        // SAFETY: the layout has a non-zero size (asserted above).
        let raw = unsafe { std::alloc::alloc(layout) };
        let ptr =
            std::ptr::NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        // SAFETY: `ptr` is valid for `bytes.len()` fresh bytes that cannot overlap `bytes`.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr.as_ptr(), bytes.len()) };
        Self {
            ptr,
            len: bytes.len(),
        }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        let layout = std::alloc::Layout::from_size_align(self.len, Self::ALIGN)
            .expect("aligned buffer layout");
        // SAFETY: allocated in `copy_of` with this very layout, freed once.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), layout) };
    }
}

// SAFETY: the pointer stays valid and unmoved (the allocation is not owned inline) and `len`
// bytes behind it are initialised, for as long as the buffer lives.
unsafe impl monoio::buf::IoBuf for AlignedBuf {
    fn read_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len
    }
}

/// How [`sequential_write`] writes.
#[derive(Clone, Copy, Debug)]
pub enum WriteMode {
    /// O_DIRECT: the device ceiling fio measures.
    Direct,
    /// Through the page cache, as the engine writes segments.
    Buffered,
}

/// Writes `blocks` (cycled until `total_bytes`) sequentially into a fresh fallocated file in
/// `dir` with io_uring, `in_flight` writes at once, then fdatasyncs; returns the time taken
/// (file creation and fallocate excluded). The in-process twin of fio's sequential write.
pub async fn sequential_write(
    dir: &Path,
    blocks: &[Vec<u8>],
    total_bytes: u64,
    in_flight: usize,
    mode: WriteMode,
) -> Duration {
    use std::collections::VecDeque;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("sequential-write.bin");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if let WriteMode::Direct = mode {
        options.custom_flags(libc::O_DIRECT);
    }
    let std_file = options.open(&path).expect("create sequential write file");
    {
        use std::os::unix::io::AsRawFd;
        let len = libc::off_t::try_from(total_bytes).expect("file length fits off_t");
        // SAFETY: fallocate on a descriptor owned by `std_file`; no memory is passed.
        let rc = unsafe { libc::fallocate(std_file.as_raw_fd(), 0, 0, len) };
        assert_eq!(rc, 0, "fallocate: {}", std::io::Error::last_os_error());
    }
    let file = std::rc::Rc::new(monoio::fs::File::from_std(std_file).expect("register file"));
    let aligned: Vec<std::rc::Rc<AlignedBuf>> = blocks
        .iter()
        .map(|block| std::rc::Rc::new(AlignedBuf::copy_of(block)))
        .collect();
    let started = Instant::now();
    let mut pending = VecDeque::new();
    let mut at = 0u64;
    let mut next_block = 0;
    while at < total_bytes {
        if pending.len() >= in_flight.max(1) {
            let handle: monoio::task::JoinHandle<std::io::Result<()>> =
                pending.pop_front().expect("a pending write");
            handle.await.expect("sequential write");
        }
        let block = aligned[next_block % aligned.len()].clone();
        next_block += 1;
        let len = block.len as u64;
        let file = file.clone();
        let pos = at;
        pending.push_back(monoio::spawn(async move {
            let (outcome, _) = file.write_all_at(RcBuf(block), pos).await;
            outcome
        }));
        at += len;
    }
    for handle in pending {
        handle.await.expect("sequential write");
    }
    file.sync_data().await.expect("fdatasync");
    let elapsed = started.elapsed();
    drop(file);
    std::fs::remove_file(&path).expect("remove sequential write file");
    elapsed
}

/// A shared aligned block handed to io_uring (several writes may use the same bytes).
struct RcBuf(std::rc::Rc<AlignedBuf>);

// SAFETY: the Rc keeps the allocation alive and unmoved while the write uses it; the bytes are
// never written after creation, so sharing them between writes in flight is sound.
unsafe impl monoio::buf::IoBuf for RcBuf {
    fn read_ptr(&self) -> *const u8 {
        self.0.ptr.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.0.len
    }
}
