//! Power loss (issue #2, point 2): the torture writer commits with `--sync always` onto a
//! loop-mounted ext4 or xfs, then the file system is shut down without flushing its log
//! (`xfs_io -x -c shutdown`: everything not yet on the device is gone, as in a power cut),
//! the writer is killed, and the file system is unmounted and mounted again. The store must
//! then hold every acknowledged object byte-identical, keep deleted ones gone and show no
//! abandoned upload. Several rounds per file system on the same store.
//!
//! "Acknowledged" means printed before the test started the cut. The shutdown ioctl does not
//! stop the writer, and an fsync already under way when it lands can return success for
//! writes the shutdown then drops (seen on ext4, kernel 6.18: about one run in five lost such
//! a racing acknowledgement, every one of them printed after the cut began). A real power cut
//! stops the writer with the disk, so acknowledgements printed during the cut count as
//! in flight: allowed to be missing, but checked byte for byte if present.
//!
//! Needs root, losetup, mount and xfs_io (xfsprogs; mkfs.xfs for the xfs case). Without them
//! the test prints why and passes, except under CI (the CI variable set), where it fails.

mod system;
#[path = "../src/bin/colossus-engine-torture.rs"]
#[allow(dead_code)]
mod torture;

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use colossus_engine::{Store, SyncPolicy};
use system::{open_files_under, run_tool, skip_or_fail, which};
use torture::{block_on, mix, parse_log_with_unsure, verify_store, VerifyOptions};

const BIN: &str = env!("CARGO_BIN_EXE_colossus-engine-torture");
const ROUNDS: u64 = 8;
/// xfs needs at least 300 MiB; the image is sparse, so only what is written takes space. The
/// rounds write into the same store and nothing compacts it: on a fast machine eight rounds
/// wrote ~300 MB of live objects and more of deleted and abandoned ones, and 512 MiB ran out
/// in round 7 (a writer that fails for want of space tests nothing here; the disk-full test
/// does that).
const IMAGE_BYTES: u64 = 2 << 30;
const SEGMENT_SIZE_BYTES: u64 = 512 << 10;
const MAX_SIZE_BYTES: u64 = 1 << 20;

#[derive(Clone, Copy, Debug)]
enum Fs {
    Ext4,
    Xfs,
}

impl Fs {
    fn name(self) -> &'static str {
        match self {
            Fs::Ext4 => "ext4",
            Fs::Xfs => "xfs",
        }
    }
}

/// A file system image on a loop device, mounted. Dropping it unmounts and detaches, also
/// when a check panicked half-way.
struct LoopFs {
    device: Option<String>,
    mountpoint: PathBuf,
    mounted: bool,
    /// Holds the image; removed last.
    _dir: tempfile::TempDir,
}

impl LoopFs {
    /// Makes, attaches and mounts a file system; Err says why the environment cannot.
    fn create(fs: Fs, size_bytes: u64) -> Result<LoopFs, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not running as root (needed for losetup and mount)".into());
        }
        let mkfs = format!("mkfs.{}", fs.name());
        for tool in [mkfs.as_str(), "losetup", "mount", "umount", "xfs_io"] {
            if which(tool).is_none() {
                return Err(format!(
                    "{tool} is not installed (apt-get install xfsprogs)"
                ));
            }
        }
        let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let image = dir.path().join(format!("{}.img", fs.name()));
        File::create(&image)
            .and_then(|f| f.set_len(size_bytes))
            .map_err(|e| format!("create image {}: {e}", image.display()))?;
        match fs {
            // -m 0: no blocks held back for root (we are root), as in disk_full.rs.
            Fs::Ext4 => run_tool(
                &mkfs,
                &[
                    OsStr::new("-q"),
                    OsStr::new("-F"),
                    OsStr::new("-m"),
                    OsStr::new("0"),
                    image.as_os_str(),
                ],
            )?,
            Fs::Xfs => run_tool(
                &mkfs,
                &[OsStr::new("-q"), OsStr::new("-f"), image.as_os_str()],
            )?,
        };
        let mountpoint = dir.path().join("mnt");
        std::fs::create_dir(&mountpoint).map_err(|e| format!("mkdir: {e}"))?;
        let mut loop_fs = LoopFs {
            device: None,
            mountpoint,
            mounted: false,
            _dir: dir,
        };
        let device = run_tool(
            "losetup",
            &[
                OsStr::new("--find"),
                OsStr::new("--show"),
                image.as_os_str(),
            ],
        )?;
        loop_fs.device = Some(device);
        loop_fs.mount()?;
        Ok(loop_fs)
    }

    fn mount(&mut self) -> Result<(), String> {
        let device = self.device.clone().expect("attached");
        run_tool("mount", &[OsStr::new(&device), self.mountpoint.as_os_str()])?;
        self.mounted = true;
        Ok(())
    }

    fn unmount(&mut self) -> Result<(), String> {
        // The killed writer's io_uring may still hold file references for a moment.
        let mut last = String::new();
        for _ in 0..50 {
            match run_tool("umount", &[self.mountpoint.as_os_str()]) {
                Ok(_) => {
                    self.mounted = false;
                    return Ok(());
                }
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!(
            "{last}; this process holds {:?}",
            open_files_under(&self.mountpoint)
        ))
    }

    /// Cuts the power: the file system stops, nothing cached reaches the device.
    fn shut_down(&self) -> Result<(), String> {
        run_tool(
            "xfs_io",
            &[
                OsStr::new("-x"),
                OsStr::new("-c"),
                OsStr::new("shutdown"),
                self.mountpoint.as_os_str(),
            ],
        )
        .map(|_| ())
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        if self.mounted && self.unmount().is_err() {
            let _ = run_tool("umount", &[OsStr::new("-l"), self.mountpoint.as_os_str()]);
        }
        if let Some(device) = self.device.take() {
            if let Err(e) = run_tool("losetup", &["-d", device.as_str()]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

/// Kills the writer if a check fails mid-round, so it cannot keep the mount busy.
struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| format!("<cannot read {}: {e}>", path.display()))
}

fn log_len(path: &Path) -> usize {
    std::fs::metadata(path).map_or(0, |m| m.len() as usize)
}

/// `committed` and `deleted` lines that start inside `range`.
fn unsure_acknowledgements(text: &str, range: &std::ops::Range<usize>) -> usize {
    text.get(range.clone())
        .unwrap_or("")
        .lines()
        .filter(|line| line.starts_with("committed ") || line.starts_with("deleted "))
        .count()
}

/// Reopens the store and checks it against the log; panics with every failure.
fn reopen_and_verify(store_dir: &Path, log: &torture::Log, what: &str) -> String {
    let config = torture::torture_config(
        SEGMENT_SIZE_BYTES,
        torture::DEFAULT_CHUNK_SIZE_BYTES,
        SyncPolicy::Always,
    );
    let store = Store::open(store_dir, config)
        .unwrap_or_else(|e| panic!("{what}: reopening after the power cut: {e}"));
    let report = store.open_report().clone();
    let options = VerifyOptions {
        allow_damaged: true,
    };
    match block_on(verify_store(&store, log, options)) {
        Ok(summary) => format!(
            "reopen: clean={} replayed={} abandoned={} damaged={:?} rebuilt={:?}; {summary}",
            report.clean,
            report.records_replayed,
            report.abandoned_reservations,
            report.damaged,
            report.index_rebuilt
        ),
        Err(failures) => panic!(
            "{what}: {} failures after the power cut (open report {report:?}):\n  {}",
            failures.len(),
            failures.join("\n  ")
        ),
    }
}

fn power_loss_rounds(fs: Fs) {
    let mut loop_fs = match LoopFs::create(fs, IMAGE_BYTES) {
        Ok(loop_fs) => loop_fs,
        Err(reason) => return skip_or_fail(&format!("power loss on {}: {reason}", fs.name())),
    };
    let seed = mix(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64);
    println!("power loss on {}: seed {seed}", fs.name());
    // The log lives outside the file system that loses power, like a client's memory of
    // which uploads got a 201.
    let host = tempfile::tempdir().unwrap();
    let log_path = host.path().join("torture.log");
    let stderr_path = host.path().join("writer.stderr");
    let store_dir = loop_fs.mountpoint.join("store");
    let started = Instant::now();
    let mut next_id = 1;
    // Byte ranges of the log printed while a cut was under way.
    let mut unsure = Vec::new();
    for round in 0..ROUNDS {
        let round_seed = mix(seed ^ round);
        // The first round also creates the store (several fsyncs on a fresh file system).
        let delay_ms = 250 + mix(round_seed) % 600;
        let what = format!("{} round {round} (seed {round_seed})", fs.name());
        let stdout = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap();
        let mut writer = ChildGuard(Some(
            Command::new(BIN)
                .arg("write")
                .arg("--dir")
                .arg(&store_dir)
                .args(["--sync", "always", "--delete-every", "4"])
                .args(["--seed", &round_seed.to_string()])
                .args(["--start-id", &next_id.to_string()])
                .args(["--concurrency", &(1 + round % 3).to_string()])
                .args(["--max-size", &MAX_SIZE_BYTES.to_string()])
                .args(["--segment-size", &SEGMENT_SIZE_BYTES.to_string()])
                // Odd rounds take new segments from the zero-filled pool.
                .args(["--prezeroed-segments", &(round % 2 * 2).to_string()])
                // Every third round writes payloads through the page cache, not O_DIRECT.
                .args(if round % 3 == 2 {
                    &["--buffered-writes"][..]
                } else {
                    &[]
                })
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(File::create(&stderr_path).unwrap())
                .spawn()
                .unwrap(),
        ));
        std::thread::sleep(Duration::from_millis(delay_ms));
        if let Some(status) = writer.0.as_mut().unwrap().try_wait().unwrap() {
            panic!(
                "{what}: the writer exited ({status}) before the power cut; stderr:\n{}",
                read(&stderr_path)
            );
        }
        // Acknowledgements printed from here on may come from an fsync that raced the cut
        // and reported success for writes the cut dropped (see `parse_log_with_unsure`).
        let cut_at = log_len(&log_path);
        loop_fs
            .shut_down()
            .unwrap_or_else(|e| panic!("{what}: cutting the power failed: {e}"));
        // The writer now sees EIO everywhere; what it acknowledged before is in the log.
        let mut child = writer.0.take().unwrap();
        let _ = child.kill();
        let _ = child.wait();
        unsure.push(cut_at..log_len(&log_path));
        loop_fs
            .unmount()
            .unwrap_or_else(|e| panic!("{what}: unmount after the power cut: {e}"));
        loop_fs
            .mount()
            .unwrap_or_else(|e| panic!("{what}: mount after the power cut (fs replay): {e}"));

        let text = read(&log_path);
        let log = parse_log_with_unsure(&text, &unsure).unwrap_or_else(|e| panic!("{what}: {e}"));
        let unsure_acks = unsure_acknowledgements(&text, unsure.last().expect("pushed above"));
        // On its own thread: the engine caches a per-thread duplicate of every segment
        // descriptor and keeps it after the store is dropped (see
        // `closing_the_store_releases_its_files`), which would keep the mount busy. A thread's
        // exit closes them.
        let verify = {
            let (store_dir, log, what) = (store_dir.clone(), log.clone(), what.clone());
            std::thread::spawn(move || reopen_and_verify(&store_dir, &log, &what))
        };
        match verify.join() {
            Ok(summary) => println!(
                "{what}: cut at {delay_ms} ms ({unsure_acks} acknowledgements printed during \
                 the cut, not counted); {summary}"
            ),
            Err(panic) => std::panic::resume_unwind(panic),
        }
        next_id = log.max_id().map_or(next_id, |max| max + 1);
    }
    let log = parse_log_with_unsure(&read(&log_path), &unsure).unwrap();
    println!(
        "power loss on {}: {ROUNDS} rounds in {:.1} s, {} ids tried, {} acknowledged and live",
        fs.name(),
        started.elapsed().as_secs_f64(),
        log.ids.len(),
        log.committed()
    );
    assert!(
        log.committed() > 0,
        "no object was acknowledged before any power cut: the rounds test nothing"
    );
}

#[test]
fn power_cut_on_ext4_loses_no_acknowledged_object() {
    power_loss_rounds(Fs::Ext4);
}

#[test]
fn power_cut_on_xfs_loses_no_acknowledged_object() {
    power_loss_rounds(Fs::Xfs);
}

/// Unmounting after a power cut (and any operator unmounting a data disk) needs a closed
/// store to leave no descriptor open. Reads and writes on a monoio thread make the engine
/// cache a duplicated descriptor per segment in that thread; dropping the store leaves them
/// open until the thread does I/O on some file again. No root needed.
#[test]
fn closing_the_store_releases_its_files() {
    let temp = tempfile::tempdir().unwrap();
    let store_dir = temp.path().join("store");
    block_on(async {
        let config = torture::torture_config(
            SEGMENT_SIZE_BYTES,
            torture::DEFAULT_CHUNK_SIZE_BYTES,
            SyncPolicy::Never,
        );
        let store = Store::open(&store_dir, config).unwrap();
        let writer = store.writer();
        let bytes = torture::content(1, 1, 100_000);
        let mut upload = writer
            .begin_upload(colossus_engine::UploadSpec {
                id: 1,
                bag: "static:council",
                size_bytes: bytes.len() as u64,
            })
            .unwrap();
        upload.write(&bytes).await.unwrap();
        upload.commit(Default::default()).await.unwrap();
        assert_eq!(store.read_to_vec(1).await.unwrap(), bytes);
        drop(writer);
        store.close().unwrap();
    });
    let open = open_files_under(&store_dir);
    assert!(
        open.is_empty(),
        "the store is closed and dropped, yet this thread still holds {open:?} \
         (engine/src/io.rs: UringFile::thread_handle caches a dup'd descriptor per thread in \
         THREAD_FILES; UringFile::drop only bumps CLOSE_EPOCH, so the cache is pruned the next \
         time this thread does I/O, which may be never)"
    );
}
