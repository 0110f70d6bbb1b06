//! The engine's error type: one enum, structured variants that say what an operator needs to
//! act on. The server maps these to HTTP statuses in one place.

use std::io;
use std::path::PathBuf;

/// Everything the engine can fail with.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// An I/O error on a path, with what the engine was doing.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file system has no room for the reservation or its index entry.
    #[error("no space left on the store's file system: {context}")]
    NoSpace { context: String },
    /// Another process holds the store's lock file.
    #[error("store {path} is locked by another process (lock file {lock_path})")]
    Locked { path: PathBuf, lock_path: PathBuf },
    /// The directory holds a store of a format version this build does not read.
    #[error("store {path} has format version {found}; this build reads version {supported}")]
    UnsupportedVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// The directory holds something that is not a colossus store.
    #[error("{path} is not a colossus store: {reason}")]
    NotAStore { path: PathBuf, reason: String },
    /// A configuration value is out of range.
    #[error("invalid store configuration: {0}")]
    InvalidConfig(String),
    /// No object with this id.
    #[error("object {id} not found")]
    NotFound { id: u64 },
    /// The object id is already stored or reserved.
    #[error("object {id} already exists")]
    AlreadyExists { id: u64 },
    /// The object is bigger than the configured limit.
    #[error("object of {size_bytes} bytes exceeds the limit of {limit_bytes} bytes")]
    TooLarge { size_bytes: u64, limit_bytes: u64 },
    /// A limit on concurrent work was reached.
    #[error("limit reached: {what} (max {limit})")]
    LimitReached { what: &'static str, limit: u64 },
    /// The bag id is longer than the index can hold.
    #[error("bag id of {len} bytes exceeds the maximum of {max} bytes")]
    BagTooLong { len: usize, max: usize },
    /// More (or fewer) bytes arrived than were reserved.
    #[error("object {id}: expected {expected} bytes, got {actual}")]
    SizeMismatch { id: u64, expected: u64, actual: u64 },
    /// The content hash differs from the expected multihash.
    #[error("object {id}: hash mismatch: expected {expected}, computed {actual}")]
    HashMismatch {
        id: u64,
        expected: String,
        actual: String,
    },
    /// Stored bytes fail their checksum: the object is damaged and is not served.
    #[error("object {id} is corrupt at segment {segment_id} offset {offset}: {reason}")]
    Corrupt {
        id: u64,
        segment_id: u32,
        offset: u64,
        reason: String,
    },
    /// The index has a damaged entry on this id's probe path; rebuild the index.
    #[error("index entry damaged near object {id}; run an index rebuild")]
    IndexCorrupt { id: u64 },
    /// A segment failed an fsync earlier and takes no more writes.
    #[error("segment {segment_id} is read-only after a failed fsync: {reason}")]
    SegmentPoisoned { segment_id: u32, reason: String },
    /// The requested byte range lies outside the object.
    #[error("range {start}..{end} is outside object {id} of {size_bytes} bytes")]
    RangeOutOfBounds {
        id: u64,
        start: u64,
        end: u64,
        size_bytes: u64,
    },
    /// The store is closing and takes no new work.
    #[error("store is shutting down")]
    ShuttingDown,
}

/// Engine results.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl EngineError {
    /// Wraps an io::Error, turning ENOSPC/EDQUOT into [`EngineError::NoSpace`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        match source.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => EngineError::NoSpace {
                context: format!("{action} {}", path.display()),
            },
            _ => EngineError::Io {
                action,
                path,
                source,
            },
        }
    }
}
