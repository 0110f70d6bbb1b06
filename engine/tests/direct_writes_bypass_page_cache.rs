//! Upload payloads go to the disk with `O_DIRECT` (`StoreConfig::direct_writes`, on by
//! default): after a commit, none of the object's payload or trailer pages sit in the page
//! cache (only the segment header and the record head, written buffered, may); the object
//! reads back intact, and the read brings its pages into the cache, which shows the probe
//! sees cached pages when there are any. With direct writes off, the payload is cached by
//! the write itself.

mod common;

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use colossus_engine::segment::{file_name, FIRST_RECORD_OFFSET, SEGMENTS_DIR};
use colossus_engine::{Store, StoreConfig};
use common::{content, put, run, small_config};

const PAGE_BYTES: usize = 4096;
const OBJECT_BYTES: usize = 1 << 20;

/// Which 4 KiB pages of `path` are in the page cache (mmap + mincore).
fn cached_pages(path: &Path) -> Vec<bool> {
    let file = File::open(path).unwrap();
    let len = file.metadata().unwrap().len() as usize;
    assert!(len > 0);
    // SAFETY: a fresh read-only mapping of an open file, unmapped below; nothing reads it.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    assert_ne!(addr, libc::MAP_FAILED);
    let mut resident = vec![0u8; len.div_ceil(PAGE_BYTES)];
    // SAFETY: `addr` maps `len` bytes; `resident` has one byte per page.
    let rc = unsafe { libc::mincore(addr, len, resident.as_mut_ptr()) };
    assert_eq!(rc, 0, "mincore: {}", std::io::Error::last_os_error());
    // SAFETY: unmaps the mapping made above.
    unsafe { libc::munmap(addr, len) };
    resident.iter().map(|page| page & 1 == 1).collect()
}

/// Whether the file system under `dir` takes O_DIRECT opens (some refuse them).
fn direct_io_supported(dir: &Path) -> bool {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(dir.join("probe"))
        .is_ok()
}

fn config(direct_writes: bool) -> StoreConfig {
    StoreConfig {
        segment_size_bytes: 4 << 20,
        preallocate_step_bytes: 4 << 20,
        direct_writes,
        ..small_config()
    }
}

/// Uploads one object into a fresh store and returns which pages of its segment are cached
/// right after the commit, and after reading it back.
fn upload_and_probe(direct_writes: bool) -> (Vec<bool>, Vec<bool>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), config(direct_writes)).unwrap();
    let writer = store.writer();
    let bytes = content(7, OBJECT_BYTES);
    let segment = dir.path().join(SEGMENTS_DIR).join(file_name(1));
    let (after_commit, after_read) = run(async {
        // Pieces that are not block multiples, as HTTP frames are.
        put(&writer, 7, "dynamic:channel:7", &bytes, 10_000)
            .await
            .unwrap();
        let after_commit = cached_pages(&segment);
        let read = store.read_to_vec(7).await.unwrap();
        assert!(read == bytes, "object 7 reads back different bytes");
        (after_commit, cached_pages(&segment))
    });
    drop(writer);
    store.close().unwrap();
    (after_commit, after_read)
}

/// Pages of the record after its head block: payload and trailer.
fn payload_pages(pages: &[bool]) -> &[bool] {
    let first = FIRST_RECORD_OFFSET as usize / PAGE_BYTES + 1;
    let last = first + OBJECT_BYTES / PAGE_BYTES;
    &pages[first..=last]
}

#[test]
fn direct_writes_leave_no_payload_in_the_page_cache() {
    let probe = tempfile::tempdir().unwrap();
    if !direct_io_supported(probe.path()) {
        eprintln!("skipped: the file system under the temp dir refuses O_DIRECT");
        return;
    }
    let (after_commit, after_read) = upload_and_probe(true);
    let cached = payload_pages(&after_commit).iter().filter(|&&c| c).count();
    assert_eq!(cached, 0, "payload pages cached after a direct upload");
    let cached = payload_pages(&after_read).iter().filter(|&&c| c).count();
    assert!(
        cached >= OBJECT_BYTES / PAGE_BYTES,
        "reading the object cached only {cached} of its pages"
    );
}

#[test]
fn buffered_writes_leave_the_payload_cached() {
    let (after_commit, _) = upload_and_probe(false);
    let cached = payload_pages(&after_commit).iter().filter(|&&c| c).count();
    assert!(cached > 0, "no payload page cached after a buffered upload");
}
