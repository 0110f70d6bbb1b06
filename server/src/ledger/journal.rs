//! The embedded ledger's journal: an append-only file of [`Mutation`]s, one checksummed JSON
//! line each, every line fdatasynced before the change it carries is acknowledged. Opening
//! reads it back; a damaged last line (an append a crash interrupted, so never acknowledged) is
//! cut off, damage anywhere else refuses the open. Compaction writes a replacement beside it
//! and renames it over. Byte layout: docs/FORMAT.md, "Ledger journal".

use std::borrow::Borrow;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use colossus_engine::io::{sync_dir_std, try_lock_exclusive};

use super::{LedgerError, Mutation};

/// Journal format version, carried by the first line (`{"op":"journalVersion","version":1}`).
pub const JOURNAL_VERSION: u64 = 1;

/// Longest line, in bytes, counting the checksum, the space and the newline. Longer lines are
/// never written (`append` refuses them) and are damage when read.
pub const LINE_BYTES_MAX: usize = 64 * 1024;

/// Checksum field: crc32c as 8 lowercase hex digits.
const CRC_HEX_LEN: usize = 8;
/// Checksum field and the space after it.
const PREFIX_LEN: usize = CRC_HEX_LEN + 1;
/// Shortest JSON a line can carry (`{}`), so the shortest line, newline included.
const LINE_BYTES_MIN: usize = PREFIX_LEN + 2 + 1;
const _: () = assert!(PREFIX_LEN == 9);
const _: () = assert!(LINE_BYTES_MIN < LINE_BYTES_MAX);

/// The `op` of the first line.
const VERSION_OP: &str = "journalVersion";

/// Suffix of the replacement file a compaction writes before renaming it over the journal.
const REWRITE_SUFFIX: &str = ".new";

/// Read buffer for opening: big enough that a replay is not syscall-bound.
const READ_BUFFER_BYTES: usize = 256 * 1024;

/// What opening found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalOpenReport {
    /// The file was absent or empty (a crash during creation), and a version line was written.
    pub created: bool,
    /// Mutation lines read (the version line not counted).
    pub mutation_lines: u64,
    /// Bytes cut off the end: a torn or damaged last line. Zero when the file was clean.
    pub truncated_bytes: u64,
    /// Why those bytes were cut off (line number and problem).
    pub truncated_reason: Option<String>,
    /// A replacement left by a compaction a crash interrupted before its rename was removed.
    pub removed_stale_rewrite: bool,
}

/// An open journal, holding an exclusive `flock` on its file.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    /// Opened for append: every write lands at the end, whatever truncation came before.
    file: File,
    mutation_lines: u64,
    /// Set by the first failed write or fsync; every later change is refused with it.
    poisoned: Option<String>,
    /// Reused encoding buffer.
    line: Vec<u8>,
}

impl Journal {
    /// Opens (or creates) the journal at `path` and returns every mutation in it, in order.
    pub fn open(path: &Path) -> Result<(Journal, Vec<Mutation>, JournalOpenReport), LedgerError> {
        let mut mutations = Vec::new();
        let (journal, report) = Self::open_with(path, |_, m| {
            mutations.push(m);
            Ok(())
        })?;
        Ok((journal, mutations, report))
    }

    /// Opens (or creates) the journal at `path`, handing each mutation and its line number
    /// (1-based; line 1 is the version line) to `on_mutation`, which may refuse it. Nothing
    /// in the file changes unless every line up to the torn tail was accepted.
    pub fn open_with(
        path: &Path,
        mut on_mutation: impl FnMut(u64, Mutation) -> Result<(), LedgerError>,
    ) -> Result<(Journal, JournalOpenReport), LedgerError> {
        let mut report = JournalOpenReport::default();
        let io_err = |action| {
            let path = path.to_path_buf();
            move |source| LedgerError::Io {
                action,
                path,
                source,
            }
        };

        let (file, created_now) = open_locked(path).map_err(io_err("open and lock"))?;
        if created_now {
            // Without this, a power cut could drop the new directory entry, and with it every
            // line acknowledged from this file.
            sync_dir_std(parent_dir(path)).map_err(io_err("fsync directory after creating"))?;
        }
        // A compaction's replacement still here was never renamed over the journal, so the
        // journal is still the authority and the replacement may be incomplete. Only the lock
        // holder may remove it: before the lock it could be another process's compaction in
        // progress. If this removal is lost in a crash it is simply done again.
        report.removed_stale_rewrite = remove_if_present(&rewrite_path(path))
            .map_err(io_err("remove stale compaction file"))?;

        let scan = scan(&file, path, &mut on_mutation)?;
        report.mutation_lines = scan.mutation_lines;
        let file_len = file.metadata().map_err(io_err("stat"))?.len();
        if let Some(reason) = scan.torn {
            report.truncated_bytes = file_len - scan.valid_len;
            report.truncated_reason = Some(reason);
            file.set_len(scan.valid_len)
                .map_err(io_err("truncate torn tail"))?;
            // Without this, the cut could be lost in a power cut while lines appended after it
            // survive: the torn bytes would then sit before them, as damage in the middle.
            file.sync_all().map_err(io_err("fsync after truncating"))?;
        }

        let mut journal = Journal {
            path: path.to_path_buf(),
            file,
            mutation_lines: scan.mutation_lines,
            poisoned: None,
            line: Vec::with_capacity(512),
        };
        if scan.valid_len == 0 {
            // Absent, empty, or only a torn version line: a crash during creation at worst.
            report.created = true;
            let mut line = Vec::new();
            encode_version_line(&mut line);
            journal.write_durably(&line)?;
        }
        Ok((journal, report))
    }

    /// Appends one mutation and returns once it is on stable storage. A line longer than
    /// [`LINE_BYTES_MAX`] is refused (`Invalid`) with nothing written. After a failed write or
    /// fsync the journal refuses every later change: the kernel may have dropped the dirty
    /// pages, and a retried fsync would report success for data that is gone.
    pub fn append(&mut self, mutation: &Mutation) -> Result<(), LedgerError> {
        self.append_all(std::slice::from_ref(mutation))
    }

    /// Appends several mutations with one write and one fdatasync (a group commit), and
    /// returns once all of them are on stable storage. If one cannot be encoded, nothing is
    /// written; otherwise as [`Journal::append`].
    pub fn append_all(&mut self, mutations: &[Mutation]) -> Result<(), LedgerError> {
        self.check_usable()?;
        let mut line = std::mem::take(&mut self.line);
        let lines = mutations
            .iter()
            .try_fold(Vec::new(), |mut lines, mutation| {
                encode_line(mutation, &mut line)?;
                lines.extend_from_slice(&line);
                Ok(lines)
            });
        self.line = line;
        self.write_durably(&lines?)?;
        self.mutation_lines += mutations.len() as u64;
        Ok(())
    }

    /// Replaces the journal by one holding exactly `mutations` (compaction): written to
    /// `<path>.new`, fdatasynced, renamed over the journal, directory fsynced. A failure before
    /// the rename leaves the journal as it was and usable; a failure after it poisons it.
    pub fn rewrite<I>(&mut self, mutations: I) -> Result<(), LedgerError>
    where
        I: IntoIterator,
        I::Item: Borrow<Mutation>,
    {
        self.check_usable()?;
        let new_path = rewrite_path(&self.path);
        let written = write_replacement(&new_path, mutations);
        let (new_file, lines) = match written {
            Ok(done) => done,
            Err(e) => {
                // Best effort: a leftover replacement is removed at the next open anyway.
                let _ = fs::remove_file(&new_path);
                return Err(e);
            }
        };
        if let Err(source) = fs::rename(&new_path, &self.path) {
            let _ = fs::remove_file(&new_path);
            return Err(LedgerError::Io {
                action: "rename compacted journal into place",
                path: self.path.clone(),
                source,
            });
        }
        // From here on, appends go to the new file, so its name must be durable: without this
        // fsync a power cut could bring back the old journal and lose every line appended to
        // the new one, acknowledged or not.
        self.file = new_file;
        if let Err(source) = sync_dir_std(parent_dir(&self.path)) {
            return Err(self.poison("fsync directory after compaction", source));
        }
        self.mutation_lines = lines;
        Ok(())
    }

    /// Mutation lines in the file (the version line not counted).
    pub fn mutation_lines(&self) -> u64 {
        self.mutation_lines
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether an earlier write or fsync failed, so every change is refused.
    #[cfg(test)]
    fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    fn check_usable(&self) -> Result<(), LedgerError> {
        match &self.poisoned {
            None => Ok(()),
            Some(cause) => Err(LedgerError::Io {
                action: "refuse changes after an earlier failed write (restart the node)",
                path: self.path.clone(),
                source: io::Error::other(cause.clone()),
            }),
        }
    }

    /// Writes `line` at the end and fdatasyncs, poisoning the journal on failure.
    fn write_durably(&mut self, line: &[u8]) -> Result<(), LedgerError> {
        if let Err(source) = self.file.write_all(line) {
            // A partial line may be on disk; it is the torn tail the next open cuts off.
            return Err(self.poison("append", source));
        }
        // Without this, a power cut after the change is acknowledged could lose the line
        // (it may still sit in the page cache), and the node would forget the change.
        if let Err(source) = self.file.sync_data() {
            return Err(self.poison("fdatasync after append", source));
        }
        Ok(())
    }

    fn poison(&mut self, action: &'static str, source: io::Error) -> LedgerError {
        self.poisoned = Some(format!("{action} failed: {source}"));
        LedgerError::Io {
            action,
            path: self.path.clone(),
            source,
        }
    }
}

/// Appends the journal line of `mutation` to `out`: crc, space, JSON, newline.
pub fn encode_line(mutation: &Mutation, out: &mut Vec<u8>) -> Result<(), LedgerError> {
    out.clear();
    out.extend_from_slice(&[b'0'; PREFIX_LEN]);
    serde_json::to_writer(&mut *out, mutation)
        .map_err(|e| LedgerError::Invalid(format!("cannot encode the change: {e}")))?;
    seal_line(out);
    if out.len() > LINE_BYTES_MAX {
        return Err(LedgerError::Invalid(format!(
            "the change is {} bytes as a journal line, more than the {LINE_BYTES_MAX} allowed \
             (assign bags one by one with assignBag)",
            out.len()
        )));
    }
    debug_assert_eq!(check_frame(out), Ok(&out[PREFIX_LEN..out.len() - 1]));
    Ok(())
}

/// The journal's first line.
fn encode_version_line(out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&[b'0'; PREFIX_LEN]);
    out.extend_from_slice(br#"{"op":""#);
    out.extend_from_slice(VERSION_OP.as_bytes());
    out.extend_from_slice(br#"","version":"#);
    out.extend_from_slice(JOURNAL_VERSION.to_string().as_bytes());
    out.push(b'}');
    seal_line(out);
}

/// Fills in the checksum of `line[PREFIX_LEN..]` and ends the line.
fn seal_line(line: &mut Vec<u8>) {
    debug_assert!(line.len() > PREFIX_LEN);
    // Compact JSON escapes control characters inside strings, so a newline only ever ends a
    // line.
    assert!(
        !line[PREFIX_LEN..].contains(&b'\n'),
        "JSON with a raw newline"
    );
    let crc = crc32c::crc32c(&line[PREFIX_LEN..]);
    let hex = format!("{crc:08x}");
    line[..CRC_HEX_LEN].copy_from_slice(hex.as_bytes());
    line[CRC_HEX_LEN] = b' ';
    line.push(b'\n');
}

/// The JSON of a complete line (newline included), or why its frame or checksum is wrong.
fn check_frame(line: &[u8]) -> Result<&[u8], String> {
    if line.len() < LINE_BYTES_MIN {
        return Err(format!("{} bytes is too short for a line", line.len()));
    }
    if line.len() > LINE_BYTES_MAX {
        return Err(format!("longer than {LINE_BYTES_MAX} bytes"));
    }
    let Some((&b'\n', body)) = line.split_last() else {
        return Err("no newline at the end".to_owned());
    };
    let hex = &body[..CRC_HEX_LEN];
    if body[CRC_HEX_LEN] != b' ' || !hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err("does not start with 8 lowercase hex digits and a space".to_owned());
    }
    let expected = std::str::from_utf8(hex)
        .ok()
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .ok_or_else(|| "unreadable checksum".to_owned())?;
    let json = &body[PREFIX_LEN..];
    let actual = crc32c::crc32c(json);
    if actual != expected {
        return Err(format!(
            "checksum mismatch (line says {expected:08x}, content has {actual:08x})"
        ));
    }
    Ok(json)
}

/// Checks the version line's JSON (its checksum already verified).
fn check_version(json: &[u8]) -> Result<(), String> {
    let value: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| format!("the first line is not JSON: {e}"))?;
    let fields = value
        .as_object()
        .filter(|fields| fields.get("op").and_then(|op| op.as_str()) == Some(VERSION_OP))
        .ok_or_else(|| format!("the first line is not the {VERSION_OP} line"))?;
    match fields.get("version").and_then(|v| v.as_u64()) {
        Some(JOURNAL_VERSION) if fields.len() == 2 => Ok(()),
        Some(JOURNAL_VERSION) => Err("the version line has unknown fields".to_owned()),
        Some(version) => Err(format!(
            "journal format version {version}; this build reads version {JOURNAL_VERSION} only"
        )),
        None => Err("the version line has no numeric version".to_owned()),
    }
}

/// What a scan of the file found.
struct Scan {
    /// Bytes up to the end of the last good line.
    valid_len: u64,
    mutation_lines: u64,
    /// Why the bytes after `valid_len` (the last line) are cut off.
    torn: Option<String>,
}

/// Reads every line, handing mutations on; a bad line is a torn tail when nothing follows it
/// and damage otherwise.
fn scan(
    file: &File,
    path: &Path,
    on_mutation: &mut impl FnMut(u64, Mutation) -> Result<(), LedgerError>,
) -> Result<Scan, LedgerError> {
    let read_err = |source| LedgerError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    };
    let corrupt = |line: u64, reason: String| LedgerError::Corrupt {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, file);
    let mut line = Vec::with_capacity(4096);
    let mut scan = Scan {
        valid_len: 0,
        mutation_lines: 0,
        torn: None,
    };
    let mut line_no: u64 = 0;
    loop {
        line.clear();
        let read = (&mut reader)
            .take(LINE_BYTES_MAX as u64)
            .read_until(b'\n', &mut line)
            .map_err(read_err)?;
        if read == 0 {
            return Ok(scan);
        }
        line_no += 1;
        let problem = if line.last() != Some(&b'\n') {
            if read < LINE_BYTES_MAX {
                // read_until stopped short of the limit without a newline: end of file.
                Some("no newline at the end (torn append)".to_owned())
            } else {
                skip_line(&mut reader).map_err(read_err)?;
                Some(format!("longer than {LINE_BYTES_MAX} bytes"))
            }
        } else {
            check_frame(&line).err()
        };
        if let Some(problem) = problem {
            if !reader.fill_buf().map_err(read_err)?.is_empty() {
                return Err(corrupt(line_no, problem));
            }
            // Appends are serialized and each is fdatasynced before the next starts, so only
            // the last line can be a torn write; it was never acknowledged.
            scan.torn = Some(format!("line {line_no}: {problem}"));
            return Ok(scan);
        }
        // The checksum holds, so these are the bytes that were written: from here on any
        // problem is damage (or a newer format), never a torn write.
        let json = &line[PREFIX_LEN..line.len() - 1];
        if line_no == 1 {
            check_version(json).map_err(|reason| corrupt(line_no, reason))?;
        } else {
            let mutation: Mutation = serde_json::from_slice(json)
                .map_err(|e| corrupt(line_no, format!("not a ledger change: {e}")))?;
            on_mutation(line_no, mutation)?;
            scan.mutation_lines += 1;
        }
        scan.valid_len += line.len() as u64;
    }
}

/// Consumes the rest of an overlong line, through its newline or to the end of the file.
fn skip_line(reader: &mut impl BufRead) -> io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(at) => {
                reader.consume(at + 1);
                return Ok(());
            }
            None => {
                let len = buf.len();
                reader.consume(len);
            }
        }
    }
}

/// Writes a complete journal holding `mutations` to `new_path` and fdatasyncs it; returns the
/// file, open for append and locked, and its mutation line count.
fn write_replacement<I>(new_path: &Path, mutations: I) -> Result<(File, u64), LedgerError>
where
    I: IntoIterator,
    I::Item: Borrow<Mutation>,
{
    let io_err = |action| {
        move |source| LedgerError::Io {
            action,
            path: new_path.to_path_buf(),
            source,
        }
    };
    // A replacement left by an earlier failure is stale.
    remove_if_present(new_path).map_err(io_err("remove stale compaction file"))?;
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create_new(true)
        .open(new_path)
        .map_err(io_err("create"))?;
    // Locked before it takes the journal's name, so no other process can open it unlocked.
    lock_exclusive(&file).map_err(io_err("lock"))?;
    let mut out = BufWriter::with_capacity(READ_BUFFER_BYTES, &file);
    let mut line = Vec::with_capacity(512);
    encode_version_line(&mut line);
    out.write_all(&line).map_err(io_err("write"))?;
    let mut lines = 0u64;
    for mutation in mutations {
        encode_line(mutation.borrow(), &mut line)?;
        out.write_all(&line).map_err(io_err("write"))?;
        lines += 1;
    }
    out.flush().map_err(io_err("write"))?;
    drop(out);
    // Without this, the rename below could reach the disk before the data: after a power cut
    // the journal's name would point at a short or empty file and the ledger would be lost.
    file.sync_data().map_err(io_err("fdatasync"))?;
    Ok((file, lines))
}

/// Removes the file at `path`; whether there was one.
fn remove_if_present(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn rewrite_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(REWRITE_SUFFIX);
    PathBuf::from(name)
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// How often [`open_locked`] reopens after finding that the file it locked was replaced.
const OPEN_LOCKED_ATTEMPTS_MAX: u32 = 8;

/// Opens (or creates) the journal for append and takes its exclusive lock, failing if another
/// process holds it (after the short handover wait of `try_lock_exclusive`); whether the file
/// was created. The lock must be on the file that
/// has the name: a file opened just before another process's compaction renamed a replacement
/// over it can be locked once that process lets go of it, yet is no longer the journal, so
/// after locking the name is checked to still lead to the locked file, and reopened if not.
fn open_locked(path: &Path) -> io::Result<(File, bool)> {
    for _ in 0..OPEN_LOCKED_ATTEMPTS_MAX {
        let (file, created_now) = match OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(path)
        {
            Ok(file) => (file, true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => (
                OpenOptions::new().read(true).append(true).open(path)?,
                false,
            ),
            Err(e) => return Err(e),
        };
        lock_exclusive(&file)?;
        if is_at(&file, path)? {
            return Ok((file, created_now));
        }
    }
    Err(io::Error::other(format!(
        "the file kept being replaced while it was locked ({OPEN_LOCKED_ATTEMPTS_MAX} attempts)"
    )))
}

/// Whether `path` names `file` (same device and inode), not a file renamed over it since.
fn is_at(file: &File, path: &Path) -> io::Result<bool> {
    let opened = file.metadata()?;
    match fs::metadata(path) {
        Ok(named) => Ok(opened.dev() == named.dev() && opened.ino() == named.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Takes the exclusive lock, failing if another open file description still holds it after
/// `try_lock_exclusive`'s handover wait: two processes appending to one journal would
/// interleave and damage it.
fn lock_exclusive(file: &File) -> io::Result<()> {
    if try_lock_exclusive(file)? {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "another process holds the lock (is another process using this ledger?)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Bucket, DataObject, Member};

    /// A journal line of `json` spelled out by hand (crc32c as 8 hex digits, a space, the
    /// JSON, a newline), to check the encoder against and to write what it never would.
    fn checksummed_line(json: &[u8]) -> Vec<u8> {
        let mut line = format!("{:08x} ", crc32c::crc32c(json)).into_bytes();
        line.extend_from_slice(json);
        line.push(b'\n');
        line
    }

    fn sample() -> Vec<Mutation> {
        vec![
            Mutation::SetWorker { worker_id: 7 },
            Mutation::SetAutoAccept { enabled: true },
            Mutation::PutBucket {
                bucket: Bucket {
                    id: 0,
                    operator_worker_id: 7,
                    accepting_uploads: true,
                    all_bags: false,
                    bags: vec!["static:council".to_owned()],
                },
            },
            Mutation::AssignBag {
                bucket_id: 0,
                bag: "dynamic:member:1".to_owned(),
            },
            Mutation::PutMember {
                member: Member {
                    id: 1,
                    controller: "j4W7rVcUCxi2crhhjRq46fNDRbVHTjJrz6bKxZwehEMQxZeSf".to_owned(),
                },
            },
            Mutation::CreateObject {
                object: DataObject {
                    id: 3,
                    bag: "dynamic:member:1".to_owned(),
                    size_bytes: 10,
                    multihash: "gW9T5gSXhgQB5LaqmnJrLVVpHawhM7youzHnuY6HyGBDy3".to_owned(),
                    accepted: false,
                },
            },
            Mutation::AcceptObject { id: 3 },
            Mutation::DeleteObject { id: 3 },
            Mutation::RemoveMember { id: 1 },
            Mutation::UnassignBag {
                bucket_id: 0,
                bag: "dynamic:member:1".to_owned(),
            },
            Mutation::RemoveBucket { id: 0 },
        ]
    }

    fn journal_with(dir: &Path, mutations: &[Mutation]) -> PathBuf {
        let path = dir.join("j");
        let (mut journal, _, _) = Journal::open(&path).expect("open");
        for m in mutations {
            journal.append(m).expect("append");
        }
        path
    }

    #[test]
    fn roundtrip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j");
        let (journal, read, report) = Journal::open(&path).expect("create");
        assert!(read.is_empty());
        assert!(report.created);
        assert_eq!(journal.mutation_lines(), 0);
        drop(journal);
        let text = fs::read_to_string(&path).expect("read");
        assert!(
            text.ends_with(" {\"op\":\"journalVersion\",\"version\":1}\n"),
            "{text}"
        );

        let path = journal_with(dir.path(), &sample());
        let (journal, read, report) = Journal::open(&path).expect("reopen");
        assert_eq!(read, sample());
        assert_eq!(journal.mutation_lines(), sample().len() as u64);
        assert_eq!(
            report,
            JournalOpenReport {
                mutation_lines: sample().len() as u64,
                ..JournalOpenReport::default()
            }
        );
    }

    #[test]
    fn line_format_is_crc_space_json_newline() {
        let mut line = Vec::new();
        encode_line(&Mutation::SetWorker { worker_id: 5 }, &mut line).expect("encode");
        assert_eq!(
            line,
            checksummed_line(br#"{"op":"setWorker","workerId":5}"#)
        );
    }

    #[test]
    fn torn_tail_is_cut_at_every_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mutations = sample();
        let path = journal_with(dir.path(), &mutations);
        let full = fs::read(&path).expect("read");
        let mut last = Vec::new();
        encode_line(mutations.last().expect("sample"), &mut last).expect("encode");
        let last_start = full.len() - last.len();
        // Every cut strictly inside the last line, plus the last line complete but with a
        // flipped byte or zeroed (what a torn page write leaves).
        for cut in last_start + 1..full.len() {
            fs::write(&path, &full[..cut]).expect("write");
            let (_, read, report) = Journal::open(&path).expect("open torn");
            assert_eq!(read, mutations[..mutations.len() - 1], "cut at {cut}");
            assert_eq!(report.truncated_bytes, (cut - last_start) as u64);
            assert!(report.truncated_reason.is_some());
            assert_eq!(fs::read(&path).expect("read"), full[..last_start]);
        }
        for damage in [0x01u8, 0xff] {
            let mut bytes = full.clone();
            bytes[last_start + 12] ^= damage;
            fs::write(&path, &bytes).expect("write");
            let (_, read, report) = Journal::open(&path).expect("open damaged tail");
            assert_eq!(read, mutations[..mutations.len() - 1]);
            assert_eq!(report.truncated_bytes, last.len() as u64);
        }
        let mut zeroed = full[..last_start].to_vec();
        zeroed.extend(std::iter::repeat_n(0u8, 4096));
        fs::write(&path, &zeroed).expect("write");
        let (mut journal, read, _) = Journal::open(&path).expect("open zeroed tail");
        assert_eq!(read, mutations[..mutations.len() - 1]);
        // Appending after the cut gives a clean journal.
        journal.append(&mutations[0]).expect("append");
        drop(journal);
        let (_, read, report) = Journal::open(&path).expect("reopen");
        assert_eq!(read.len(), mutations.len());
        assert_eq!(report.truncated_bytes, 0);
    }

    #[test]
    fn torn_version_line_starts_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j");
        drop(Journal::open(&path).expect("create"));
        let full = fs::read(&path).expect("read");
        for cut in 0..full.len() {
            fs::write(&path, &full[..cut]).expect("write");
            let (_, read, report) = Journal::open(&path).expect("open");
            assert!(read.is_empty());
            assert!(report.created);
            assert_eq!(fs::read(&path).expect("read"), full);
        }
    }

    #[test]
    fn damage_before_the_last_line_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = journal_with(dir.path(), &sample());
        let full = fs::read(&path).expect("read");
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(
                full.iter()
                    .enumerate()
                    .filter(|(_, &b)| b == b'\n')
                    .map(|(i, _)| i + 1),
            )
            .collect();
        // Line 4 (the third mutation), one bit flipped in its JSON.
        let at = line_starts[3] + PREFIX_LEN + 5;
        let mut bytes = full.clone();
        bytes[at] ^= 0x04;
        fs::write(&path, &bytes).expect("write");
        match Journal::open(&path) {
            Err(LedgerError::Corrupt { line, reason, .. }) => {
                assert_eq!(line, 4);
                assert!(reason.contains("checksum"), "{reason}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert_eq!(
            fs::read(&path).expect("read"),
            bytes,
            "a refused open changes nothing"
        );
    }

    #[test]
    fn intact_but_unknown_content_is_refused_even_last() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = journal_with(dir.path(), &[]);
        let mut bytes = fs::read(&path).expect("read");
        bytes.extend_from_slice(&checksummed_line(br#"{"op":"launchRocket"}"#));
        fs::write(&path, &bytes).expect("write");
        assert!(matches!(
            Journal::open(&path),
            Err(LedgerError::Corrupt { line: 2, .. })
        ));
    }

    #[test]
    fn overlong_line_is_damage_unless_last() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = journal_with(dir.path(), &[]);
        let header = fs::read(&path).expect("read");
        let mut bytes = header.clone();
        bytes.extend(std::iter::repeat_n(b'a', LINE_BYTES_MAX + 10));
        bytes.push(b'\n');
        fs::write(&path, &bytes).expect("write");
        let (_, _, report) = Journal::open(&path).expect("overlong last line is cut");
        assert_eq!(report.truncated_bytes, (LINE_BYTES_MAX + 11) as u64);

        let mut line = Vec::new();
        encode_line(&Mutation::SetWorker { worker_id: 1 }, &mut line).expect("encode");
        bytes.extend_from_slice(&line);
        fs::write(&path, &bytes).expect("write");
        assert!(matches!(
            Journal::open(&path),
            Err(LedgerError::Corrupt { line: 2, .. })
        ));
    }

    #[test]
    fn unknown_version_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j");
        let bytes = checksummed_line(br#"{"op":"journalVersion","version":2}"#);
        fs::write(&path, &bytes).expect("write");
        match Journal::open(&path) {
            Err(LedgerError::Corrupt {
                line: 1, reason, ..
            }) => {
                assert!(reason.contains("version 2"), "{reason}")
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert_eq!(fs::read(&path).expect("read"), bytes, "never overwritten");
    }

    #[test]
    fn oversized_change_is_refused_without_poisoning() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j");
        let (mut journal, _, _) = Journal::open(&path).expect("open");
        let bucket = Bucket {
            id: 1,
            operator_worker_id: 0,
            accepting_uploads: true,
            all_bags: false,
            bags: (0..5000).map(|i| format!("dynamic:channel:{i}")).collect(),
        };
        assert!(matches!(
            journal.append(&Mutation::PutBucket { bucket }),
            Err(LedgerError::Invalid(_))
        ));
        journal
            .append(&Mutation::SetWorker { worker_id: 1 })
            .expect("still usable");
    }

    #[test]
    fn failed_write_poisons() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j");
        let (mut journal, _, _) = Journal::open(&path).expect("open");
        let good = journal.file.try_clone().expect("clone");
        // Every write to /dev/full fails with ENOSPC.
        journal.file = OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let m = Mutation::SetWorker { worker_id: 1 };
        assert!(matches!(journal.append(&m), Err(LedgerError::Io { .. })));
        assert!(journal.is_poisoned());
        journal.file = good;
        assert!(journal.append(&m).is_err(), "no retry after a failure");
        assert!(journal.rewrite([&m]).is_err());
        assert_eq!(journal.mutation_lines(), 0);
    }

    #[test]
    fn rewrite_keeps_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = journal_with(dir.path(), &sample());
        let (mut journal, read, _) = Journal::open(&path).expect("open");
        let kept = &read[..3];
        journal.rewrite(kept).expect("rewrite");
        assert_eq!(journal.mutation_lines(), 3);
        assert!(!rewrite_path(&path).exists());
        journal
            .append(&Mutation::SetWorker { worker_id: 9 })
            .expect("append after rewrite");
        drop(journal);
        let (_, read, _) = Journal::open(&path).expect("reopen");
        assert_eq!(read[..3], *kept);
        assert_eq!(read[3], Mutation::SetWorker { worker_id: 9 });
        assert_eq!(read.len(), 4);
    }

    #[test]
    fn stale_rewrite_file_is_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = journal_with(dir.path(), &sample());
        fs::write(rewrite_path(&path), b"half a compaction").expect("write");
        let (_, read, report) = Journal::open(&path).expect("open");
        assert_eq!(read, sample());
        assert!(report.removed_stale_rewrite);
        assert!(!rewrite_path(&path).exists());
    }

    #[test]
    fn refused_open_leaves_the_holders_compaction_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = journal_with(dir.path(), &sample());
        let (_holder, _, _) = Journal::open(&path).expect("open");
        // What the holder's compaction has written so far.
        fs::write(rewrite_path(&path), b"compaction in progress").expect("write");
        assert!(matches!(Journal::open(&path), Err(LedgerError::Io { .. })));
        assert_eq!(
            fs::read(rewrite_path(&path)).expect("still there"),
            b"compaction in progress"
        );
    }

    #[test]
    fn a_file_renamed_over_is_no_longer_the_journal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j");
        fs::write(&path, b"old").expect("write");
        let old = File::open(&path).expect("open");
        assert!(is_at(&old, &path).expect("stat"));
        let replacement = dir.path().join("j.new");
        fs::write(&replacement, b"new").expect("write");
        fs::rename(&replacement, &path).expect("rename");
        assert!(!is_at(&old, &path).expect("stat"));
        fs::remove_file(&path).expect("remove");
        assert!(!is_at(&old, &path).expect("stat"));
    }

    #[test]
    fn second_open_is_refused_while_locked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j");
        let (mut journal, _, _) = Journal::open(&path).expect("open");
        assert!(matches!(Journal::open(&path), Err(LedgerError::Io { .. })));
        // Also after a compaction renamed a new file into place.
        journal.rewrite(sample().iter()).expect("rewrite");
        assert!(matches!(Journal::open(&path), Err(LedgerError::Io { .. })));
        drop(journal);
        Journal::open(&path).expect("open after close");
    }
}
