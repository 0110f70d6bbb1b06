//! `Journal::open`: reads the embedded ledger's journal at every start, after any crash; a
//! damaged file must be refused (`Corrupt`) or lose only its torn last line, never panic or
//! guess. The fuzz bytes are written as a journal file and opened. Checks: open never
//! panics; a refused open is `Corrupt` and leaves the file untouched; an accepted open only
//! ever cuts bytes off the end (or writes the version line into an empty file), and opening
//! again reads the same mutations and changes nothing; rewriting what was read and opening
//! again reads the same. Structured inputs (control bit 2) build valid journals, then cut
//! them at any byte or flip any bit: a cut keeps exactly the complete lines before it, and a
//! flipped bit is never accepted as data (it is reported on its line, or, in the last line,
//! that line is dropped).
#![no_main]

use std::fs;
use std::path::{Path, PathBuf};

use arbitrary::{Arbitrary, Unstructured};
use colossus::ledger::journal::{encode_line, Journal};
use colossus::ledger::{Bucket, DataObject, LedgerError, Member, Mutation};
use colossus_fuzz::Control;
use libfuzzer_sys::fuzz_target;

// Control bits: repairs applied to the fuzz bytes before they become the file.
/// Prefix every '\n'-terminated line with its correct crc32c, so the JSON parser is reached.
const SEAL: u8 = 0;
/// Start the file with the version line.
const VERSION: u8 = 1;
/// Ignore the bytes as a file: build a valid journal from them and damage it.
const STRUCTURED: u8 = 2;

/// The version line (docs/FORMAT.md, "Ledger journal").
const VERSION_JSON: &[u8] = br#"{"op":"journalVersion","version":1}"#;

/// Most mutations a structured input makes, and most bags per bucket (lines stay short).
const MUTATIONS_MAX: usize = 64;
const BAGS_MAX: usize = 8;

/// A damage applied to a structured journal.
#[derive(Debug, Arbitrary)]
enum Damage {
    /// Cut the file at `at` (modulo its length + 1): a torn append.
    Cut { at: u32 },
    /// Flip bit `bit` (modulo the file's bits): media damage.
    Flip { bit: u32 },
}

fuzz_target!(|data: &[u8]| {
    let (control, rest) = Control::split(data);
    let path = scratch_path();
    if control.wants(STRUCTURED) {
        structured(&path, rest);
    } else {
        let mut bytes = Vec::new();
        if control.wants(VERSION) {
            bytes.extend(sealed(VERSION_JSON));
        }
        if control.wants(SEAL) {
            for line in rest.split_inclusive(|&b| b == b'\n') {
                match line.strip_suffix(b"\n") {
                    Some(json) => bytes.extend(sealed(json)),
                    None => bytes.extend_from_slice(line), // the torn tail, as it is
                }
            }
        } else {
            bytes.extend_from_slice(rest);
        }
        // Either outcome is fine for arbitrary bytes; open_checked checks each.
        let _ = open_checked(&path, &bytes);
    }
    let _ = fs::remove_file(&path);
});

/// Writes `bytes` as the journal, opens it and checks everything the module docs promise;
/// returns what the open gave.
fn open_checked(path: &Path, bytes: &[u8]) -> Result<Vec<Mutation>, LedgerError> {
    fs::write(path, bytes).expect("write the journal");
    let opened = Journal::open(path);
    let after = fs::read(path).expect("read the journal back");
    let (journal, mutations, report) = match opened {
        Ok(opened) => opened,
        Err(e) => {
            assert!(matches!(e, LedgerError::Corrupt { .. }), "{e:?}");
            assert_eq!(after, bytes, "a refused open changed the file");
            return Err(e);
        }
    };
    let kept_len = bytes.len() - usize::try_from(report.truncated_bytes).expect("fits");
    assert_eq!(
        report.truncated_bytes > 0,
        report.truncated_reason.is_some()
    );
    assert_eq!(report.mutation_lines, mutations.len() as u64);
    assert_eq!(journal.mutation_lines(), mutations.len() as u64);
    if report.created {
        assert_eq!(kept_len, 0, "a version line was written over kept bytes");
        assert_eq!(after, sealed(VERSION_JSON));
    } else {
        assert_eq!(
            after,
            bytes[..kept_len],
            "open changed more than a torn tail"
        );
    }
    drop(journal);

    let (mut journal, again, report) = Journal::open(path).expect("reopening what opened");
    assert_eq!(again, mutations, "a reopen reads something else");
    assert_eq!(report.truncated_bytes, 0);
    assert!(!report.created);
    assert_eq!(
        fs::read(path).expect("read"),
        after,
        "a reopen changed the file"
    );

    journal.rewrite(&mutations).expect("rewrite");
    drop(journal);
    let (_, rewritten, _) = Journal::open(path).expect("opening a rewrite");
    assert_eq!(rewritten, mutations, "a rewrite reads back differently");
    Ok(mutations)
}

/// Builds a journal from `data`, damages it, and checks the outcome is exactly what the
/// damage allows.
fn structured(path: &Path, data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(damage) = Damage::arbitrary(&mut u) else {
        return;
    };
    let mut mutations = Vec::new();
    while mutations.len() < MUTATIONS_MAX {
        match any_mutation(&mut u) {
            Ok(m) => mutations.push(m),
            Err(_) => break,
        }
    }
    let mut bytes = sealed(VERSION_JSON);
    let mut line_ends = vec![bytes.len()];
    let mut line = Vec::new();
    for m in &mutations {
        encode_line(m, &mut line).expect("short lines encode");
        bytes.extend_from_slice(&line);
        line_ends.push(bytes.len());
    }
    match damage {
        Damage::Cut { at } => {
            let at = usize::try_from(at).expect("fits") % (bytes.len() + 1);
            bytes.truncate(at);
            // Complete lines before the cut, the version line first.
            let complete = line_ends.iter().filter(|&&end| end <= at).count();
            let opened = open_checked(path, &bytes).expect("a cut journal opens");
            assert_eq!(opened, mutations[..complete.saturating_sub(1)]);
        }
        Damage::Flip { bit } => {
            let bit = usize::try_from(bit).expect("fits") % (bytes.len() * 8);
            let at = bit / 8;
            bytes[at] ^= 1 << (bit % 8);
            // The line holding the flipped byte, 1-based.
            let line_no = line_ends.iter().filter(|&&end| end <= at).count() + 1;
            match open_checked(path, &bytes) {
                Err(LedgerError::Corrupt { line, .. }) => {
                    assert_eq!(line, line_no as u64, "damage reported on another line")
                }
                Err(e) => panic!("{e:?}"),
                Ok(opened) => {
                    // Only a damaged last line may be dropped, and nothing else lost; a flipped
                    // newline before the last line makes the two one damaged last line.
                    let last = line_ends.len();
                    let joined = line_no + 1 == last && at + 1 == line_ends[line_no - 1];
                    assert!(line_no == last || joined, "damage before the end accepted");
                    assert_eq!(opened, mutations[..line_no.saturating_sub(2)]);
                }
            }
        }
    }
}

fn any_mutation(u: &mut Unstructured) -> arbitrary::Result<Mutation> {
    Ok(match u.int_in_range(0..=10)? {
        0 => Mutation::SetWorker {
            worker_id: u.arbitrary()?,
        },
        1 => Mutation::SetAutoAccept {
            enabled: u.arbitrary()?,
        },
        2 => {
            let bag_count = u.int_in_range(0..=BAGS_MAX)?;
            Mutation::PutBucket {
                bucket: Bucket {
                    id: u.arbitrary()?,
                    operator_worker_id: u.arbitrary()?,
                    accepting_uploads: u.arbitrary()?,
                    all_bags: u.arbitrary()?,
                    bags: (0..bag_count)
                        .map(|_| short_string(u))
                        .collect::<Result<_, _>>()?,
                },
            }
        }
        3 => Mutation::RemoveBucket { id: u.arbitrary()? },
        4 => Mutation::AssignBag {
            bucket_id: u.arbitrary()?,
            bag: short_string(u)?,
        },
        5 => Mutation::UnassignBag {
            bucket_id: u.arbitrary()?,
            bag: short_string(u)?,
        },
        6 => Mutation::PutMember {
            member: Member {
                id: u.arbitrary()?,
                controller: short_string(u)?,
            },
        },
        7 => Mutation::RemoveMember { id: u.arbitrary()? },
        8 => Mutation::CreateObject {
            object: DataObject {
                id: u.arbitrary()?,
                bag: short_string(u)?,
                size_bytes: u.arbitrary()?,
                multihash: short_string(u)?,
                accepted: u.arbitrary()?,
            },
        },
        9 => Mutation::DeleteObject { id: u.arbitrary()? },
        _ => Mutation::AcceptObject { id: u.arbitrary()? },
    })
}

/// Any string (control characters and all), at most 64 characters.
fn short_string(u: &mut Unstructured) -> arbitrary::Result<String> {
    let s: String = u.arbitrary()?;
    Ok(s.chars().take(64).collect())
}

/// `crc32c(json)` in 8 lowercase hex digits, a space, `json`, a newline.
fn sealed(json: &[u8]) -> Vec<u8> {
    let mut line = format!("{:08x} ", crc32c::crc32c(json)).into_bytes();
    line.extend_from_slice(json);
    line.push(b'\n');
    line
}

/// A file of this process's own, on tmpfs when there is one (each input is written, opened
/// and fsynced several times).
fn scratch_path() -> PathBuf {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    dir.join(format!(
        "colossus-fuzz-ledger-journal-{}",
        std::process::id()
    ))
}
