//! Offline tools: `colossus multihash` and `colossus verify-bag-id`, plus what the networked
//! commands share with them: streaming a file through blake3 and drawing progress on stderr.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::{report, CliError};
use crate::compat::bag_id::BagId;

/// Files are hashed in reads of this size (never loaded whole).
pub const HASH_READ_BYTES: usize = 1 << 20;

/// Hashing progress appears only when hashing takes longer than this (big files).
pub const HASH_PROGRESS_AFTER: Duration = Duration::from_millis(500);

/// Flags of `colossus multihash`.
#[derive(Debug, clap::Args)]
pub struct MultihashArgs {
    /// Files to hash; with one file only its multihash is printed, with several
    /// `<multihash>  <file>` lines.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

/// Flags of `colossus verify-bag-id`.
#[derive(Debug, clap::Args)]
pub struct VerifyBagIdArgs {
    /// A bag id, e.g. `static:council`, `static:wg:storage`, `dynamic:member:1`.
    #[arg(value_name = "BAG", allow_hyphen_values = true)]
    pub bag: String,
}

/// `colossus multihash`: prints the blake3 multihash of each file.
pub fn run_multihash(args: MultihashArgs) -> ExitCode {
    report((|| {
        let several = args.files.len() > 1;
        for path in &args.files {
            let (multihash, _) = hash_file(path, &format!("hashing {}", path.display()))?;
            if several {
                println!("{multihash}  {}", path.display());
            } else {
                println!("{multihash}");
            }
        }
        Ok(())
    })())
}

/// `colossus verify-bag-id`: prints the bag id's canonical text, or why it is not one.
pub fn run_verify_bag_id(args: VerifyBagIdArgs) -> ExitCode {
    report(canonical_bag_id(&args.bag).map(|canonical| println!("{canonical}")))
}

/// The canonical text of a bag id as the reference node would read it.
pub fn canonical_bag_id(bag: &str) -> Result<String, CliError> {
    BagId::parse_lenient(bag)
        .map(|id| id.to_string())
        .map_err(|e| CliError::new(format!("{bag:?} is not a valid bag id: {e}")))
}

/// Streams `path` through blake3 in `HASH_READ_BYTES` reads; returns its multihash and size.
/// Draws a progress line labelled `label` when hashing takes long.
pub fn hash_file(path: &Path, label: &str) -> Result<(String, u64), CliError> {
    let mut file = File::open(path)
        .map_err(|e| CliError::new(format!("cannot open {}: {e}", path.display())))?;
    let total_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut progress = Progress::new(label, total_bytes, HASH_PROGRESS_AFTER);
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; HASH_READ_BYTES];
    let mut done_bytes: u64 = 0;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                progress.abandon();
                return Err(CliError::new(format!(
                    "cannot read {} at byte {done_bytes}: {e}",
                    path.display()
                )));
            }
        };
        hasher.update(&buf[..n]);
        done_bytes += n as u64;
        progress.update(done_bytes);
    }
    progress.finish(done_bytes);
    Ok((
        colossus_engine::multihash::encode(hasher.finalize().as_bytes()),
        done_bytes,
    ))
}

/// A progress line on stderr: bytes, percent and MiB/s. On a terminal it redraws in place a
/// few times per second; otherwise (logs) it prints a line per second. Nothing is drawn
/// before `show_after`, so fast work stays silent.
pub struct Progress {
    label: String,
    total_bytes: u64,
    started: Instant,
    show_after: Duration,
    redraw_every: Duration,
    last_drawn: Option<Instant>,
    last_width: usize,
    tty: bool,
}

impl Progress {
    /// A progress line for `total_bytes` of work.
    pub fn new(label: &str, total_bytes: u64, show_after: Duration) -> Self {
        let tty = io::stderr().is_terminal();
        Self {
            label: label.to_owned(),
            total_bytes,
            started: Instant::now(),
            show_after,
            redraw_every: if tty {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(1)
            },
            last_drawn: None,
            last_width: 0,
            tty,
        }
    }

    /// Reports `done_bytes` so far (drawn only when due).
    pub fn update(&mut self, done_bytes: u64) {
        if done_bytes == 0 || done_bytes >= self.total_bytes {
            // Nothing to show yet (an error right away then stays the only line), or the
            // end, which `finish` draws.
            return;
        }
        let now = Instant::now();
        let due = match self.last_drawn {
            None => now.duration_since(self.started) >= self.show_after,
            Some(at) => now.duration_since(at) >= self.redraw_every,
        };
        if due {
            self.draw(done_bytes, false);
            self.last_drawn = Some(now);
        }
    }

    /// Draws the final line if anything was drawn (or `show_after` is zero).
    pub fn finish(&mut self, done_bytes: u64) {
        if self.last_drawn.is_some() || self.show_after.is_zero() {
            self.draw(done_bytes, true);
        }
    }

    /// Ends an in-place line so an error message starts on its own line.
    pub fn abandon(&mut self) {
        if self.tty && self.last_drawn.is_some() {
            let _ = writeln!(io::stderr());
        }
        self.last_drawn = None;
    }

    fn draw(&mut self, done_bytes: u64, last: bool) {
        let elapsed = self.started.elapsed();
        let line = progress_line(&self.label, done_bytes, self.total_bytes, elapsed, last);
        let mut err = io::stderr().lock();
        // Progress is best effort: a closed stderr must not fail the work.
        let _ = if self.tty {
            let pad = self.last_width.saturating_sub(line.len());
            self.last_width = line.len();
            write!(
                err,
                "\r{line}{}{}",
                " ".repeat(pad),
                if last { "\n" } else { "" }
            )
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }
}

/// `label: 12.0 MiB / 100.0 MiB  12.0%  45.6 MiB/s` (and the elapsed time when `last`).
pub fn progress_line(
    label: &str,
    done_bytes: u64,
    total_bytes: u64,
    elapsed: Duration,
    last: bool,
) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    #[expect(
        clippy::cast_precision_loss,
        reason = "display only; sizes below 2^53 bytes are exact"
    )]
    let (done, total) = (done_bytes as f64, total_bytes as f64);
    let percent = if total_bytes == 0 {
        100.0
    } else {
        done * 100.0 / total
    };
    let seconds = elapsed.as_secs_f64();
    let rate = if seconds > 0.0 {
        done / MIB / seconds
    } else {
        0.0
    };
    let mut line = format!(
        "{label}: {} / {}  {percent:5.1}%  {rate:.1} MiB/s",
        human_bytes(done_bytes),
        human_bytes(total_bytes)
    );
    if last {
        line.push_str(&format!("  in {seconds:.1} s"));
    }
    line
}

/// Bytes in B, KiB, MiB or GiB with one decimal.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    #[expect(clippy::cast_precision_loss, reason = "display only")]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_file_streams_to_the_engine_multihash() {
        let dir = tempfile::tempdir().unwrap();
        for len in [
            0,
            1,
            HASH_READ_BYTES - 1,
            HASH_READ_BYTES,
            2 * HASH_READ_BYTES + 7,
        ] {
            let content: Vec<u8> = (0..len).map(|i| ((i * 31 + 7) % 256) as u8).collect();
            let path = dir.path().join(format!("f{len}"));
            std::fs::write(&path, &content).unwrap();
            let (multihash, size) = hash_file(&path, "test").unwrap();
            assert_eq!(multihash, colossus_engine::multihash::of(&content));
            assert_eq!(size, len as u64);
        }
        assert!(hash_file(&dir.path().join("missing"), "test")
            .unwrap_err()
            .to_string()
            .contains("cannot open"));
    }

    #[test]
    fn bag_ids_are_canonicalised() {
        assert_eq!(
            canonical_bag_id(" Dynamic:Member:42 ").unwrap(),
            "dynamic:member:42"
        );
        assert_eq!(
            canonical_bag_id("static:council").unwrap(),
            "static:council"
        );
        let e = canonical_bag_id("dynamic:member:x")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("\"dynamic:member:x\" is not a valid bag id: "),
            "{e}"
        );
    }

    #[test]
    fn progress_lines_read_well() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(100 << 20), "100.0 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        assert_eq!(
            progress_line("upload", 50 << 20, 100 << 20, Duration::from_secs(2), false),
            "upload: 50.0 MiB / 100.0 MiB   50.0%  25.0 MiB/s"
        );
        assert_eq!(
            progress_line("upload", 0, 0, Duration::ZERO, true),
            "upload: 0 B / 0 B  100.0%  0.0 MiB/s  in 0.0 s"
        );
    }
}
