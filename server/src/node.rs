//! The node's shared state: the store, the ledger, the upload token issuer, the admin token,
//! the limits, and counters of work in flight. One `Node` is shared by every core; what is
//! per core (the engine's writer lane) lives in `runtime`.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use colossus_engine::{EngineError, Store, StoreConfig};
use parking_lot::Mutex;

use crate::auth::keys::KeyPair;
use crate::auth::upload_token::UploadTokenIssuer;
use crate::config::{layout, ServerConfig};
use crate::ledger::{EmbeddedLedger, Ledger, LedgerError};

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened (locked, foreign, newer version, I/O).
    #[error("cannot open the store: {0}")]
    Store(#[from] EngineError),
    /// The ledger could not be opened.
    #[error("cannot open the ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// A file of the data directory could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StartError {
    let path = path.to_path_buf();
    move |source| StartError::Io {
        action,
        path,
        source,
    }
}

/// State shared by every core.
pub struct Node {
    /// The segment store.
    pub store: Store,
    /// The node's view of the chain.
    pub ledger: Arc<dyn Ledger>,
    /// The embedded backend, changed through the admin API (None for read-only backends).
    pub embedded_ledger: Option<Arc<EmbeddedLedger>>,
    /// Issues and redeems upload tokens (per-upload work, so one lock is fine).
    pub tokens: Mutex<UploadTokenIssuer>,
    /// Bearer token of the admin API.
    pub admin_token: String,
    /// What the node runs with.
    pub config: ServerConfig,
    /// When the node started.
    pub started: Instant,
    /// Uploads in progress.
    pub uploads_in_flight: AtomicU64,
    /// Sum of their declared sizes.
    pub upload_bytes_in_flight: AtomicU64,
    /// The last `GET /state/data-objects` body and the store's id-set version it was built
    /// at: a million ids take a quarter of a second to list and encode, and a node that is
    /// not ingesting answers every poll with the same bytes.
    pub id_list_cache: Mutex<Option<(u64, bytes::Bytes)>>,
    /// Where ledger changes (uploads' acceptances, grouped, and admin changes) are
    /// journaled, off the cores (see `runtime::ledger_writes`).
    pub ledger_writes: crate::runtime::ledger_writes::LedgerWrites,
    /// Where id listings run, off the cores (see `runtime::listing`).
    pub listing: crate::runtime::listing::ListingThread,
    /// Open connections, and how many of them wait without HTTP state.
    pub connections: crate::runtime::connections::ConnectionCounters,
}

/// How much of `wanted` this process may lock in memory: all of it as root (CAP_IPC_LOCK
/// ignores the limit), else up to RLIMIT_MEMLOCK, after raising the soft limit to the hard
/// one. Says so when it cuts.
fn lockable_bytes(wanted: u64) -> u64 {
    // SAFETY: geteuid cannot fail.
    if wanted == 0 || unsafe { libc::geteuid() } == 0 {
        return wanted;
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid rlimit struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) != 0 {
            return 0;
        }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) != 0 {
                libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit);
            }
        }
    }
    if limit.rlim_cur == libc::RLIM_INFINITY || limit.rlim_cur >= wanted {
        return wanted;
    }
    eprintln!(
        "colossus: pinned cache cut from {wanted} to {} bytes by the memlock limit \
         (RLIMIT_MEMLOCK); raise it (systemd: LimitMEMLOCK=) to serve more hot objects from memory",
        limit.rlim_cur
    );
    limit.rlim_cur
}

impl Node {
    /// Opens the data directory: the store (created if absent), the ledger journal (seeded
    /// when `config.dev` and it has no storage worker yet, i.e. at the first start), and the admin token (generated at first start, mode 0600).
    pub fn open(config: ServerConfig, key: KeyPair) -> Result<Node, StartError> {
        let data = &config.data_dir;
        fs::create_dir_all(data).map_err(io_error("create data directory", data))?;
        let store_config = StoreConfig {
            object_size_max_bytes: config.limits.object_size_max_bytes,
            pinned_cache_bytes: lockable_bytes(config.limits.pinned_cache_bytes),
            prezeroed_segments: config.limits.prezeroed_segments,
            direct_writes: config.direct_writes,
            hash_threads: config.hash_threads,
            write_buffers_per_lane: config.write_buffers_per_core,
            write_buffers_burst_kept_ms: config.write_buffers_burst_kept_ms,
            ..StoreConfig::default()
        };
        let store = Store::open(data.join(layout::STORE_DIR), store_config)?;
        let ledger = Arc::new(EmbeddedLedger::open(data)?);
        let journal = ledger.open_report();
        if let Some(reason) = &journal.truncated_reason {
            // A torn last line is an append whose fsync never returned: never acknowledged.
            eprintln!(
                "colossus: ledger journal: cut {} bytes of an unfinished last change ({reason})",
                journal.truncated_bytes
            );
        }
        // --dev seeds a ledger that has no worker yet (the first start); later starts keep
        // whatever the admin API changed since.
        if config.dev && ledger.worker_id().is_none() {
            let alice = crate::auth::keys::KeyPair::from_uri(
                "//Alice",
                crate::auth::keys::CryptoScheme::Sr25519,
            )
            .map_err(|e| LedgerError::Invalid(format!("dev member key: {e}")))?;
            ledger.seed_dev(0, &alice.public_key().to_joystream_address())?;
        }
        let admin_token = load_or_create_admin_token(&data.join(layout::ADMIN_TOKEN_FILE))?;
        let tokens = UploadTokenIssuer::new(
            key,
            config.limits.upload_tokens_max,
            config.limits.upload_token_ttl_ms,
        );
        Ok(Node {
            store,
            ledger: ledger.clone(),
            ledger_writes: crate::runtime::ledger_writes::LedgerWrites::start(ledger.clone()),
            embedded_ledger: Some(ledger),
            tokens: Mutex::new(tokens),
            admin_token,
            config,
            started: Instant::now(),
            uploads_in_flight: AtomicU64::new(0),
            upload_bytes_in_flight: AtomicU64::new(0),
            id_list_cache: Mutex::new(None),
            listing: crate::runtime::listing::ListingThread::start(),
            connections: Default::default(),
        })
    }

    /// Holds an upload slot of `size_bytes` until the guard drops; None when a limit is
    /// reached.
    pub fn admit_upload(self: &Arc<Self>, size_bytes: u64) -> Option<UploadSlot> {
        let limits = &self.config.limits;
        let count = self.uploads_in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        let bytes = self
            .upload_bytes_in_flight
            .fetch_add(size_bytes, Ordering::AcqRel)
            .saturating_add(size_bytes);
        let slot = UploadSlot {
            node: self.clone(),
            size_bytes,
        };
        if count > limits.uploads_in_flight_max || bytes > limits.upload_bytes_in_flight_max {
            return None; // `slot` drops here and gives both back.
        }
        Some(slot)
    }
}

/// An admitted upload; gives its share of the in-flight limits back when dropped.
pub struct UploadSlot {
    node: Arc<Node>,
    size_bytes: u64,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        self.node.uploads_in_flight.fetch_sub(1, Ordering::AcqRel);
        self.node
            .upload_bytes_in_flight
            .fetch_sub(self.size_bytes, Ordering::AcqRel);
    }
}

/// Reads the admin token, or creates one: 32 random bytes as hex, in a file only the owner
/// can read.
fn load_or_create_admin_token(path: &Path) -> Result<String, StartError> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let token = text.trim().to_string();
            if token.len() < 32 {
                return Err(StartError::Io {
                    action: "read admin token",
                    path: path.to_path_buf(),
                    source: std::io::Error::other(
                        "the admin token is shorter than 32 characters; delete the file to have a new one generated",
                    ),
                });
            }
            Ok(token)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = crate::auth::hex::encode(&rand::random::<[u8; 32]>())
                .trim_start_matches("0x")
                .to_string();
            write_private_file(path, token.as_bytes())?;
            Ok(token)
        }
        Err(e) => Err(io_error("read admin token", path)(e)),
    }
}

/// Writes a new file readable only by its owner, durably: written to `<path>.tmp`, synced,
/// renamed into place, and the directory synced, so a crash leaves either no file or the
/// whole file (never an empty token that would lock the operator out).
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), StartError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io_error("create", &tmp))?;
    file.write_all(bytes).map_err(io_error("write", &tmp))?;
    // Guards against a crash after the rename exposing a file whose data never reached disk.
    file.sync_all().map_err(io_error("sync", &tmp))?;
    fs::rename(&tmp, path).map_err(io_error("rename into", path))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    // Guards against a crash losing the rename (the file would vanish after reboot).
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("sync directory", dir))?;
    Ok(())
}
