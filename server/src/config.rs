//! The server's limits and settings. Every limit the node enforces is a field here with a
//! default a production node can run with; `colossus server` exposes each as a flag.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Limits on connections, requests and uploads.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Open connections per core; the core stops accepting (the kernel backlog queues) while
    /// at the limit.
    pub connections_per_core_max: usize,
    /// Largest request head (request line and headers).
    pub header_size_max_bytes: usize,
    /// Most request headers.
    pub headers_max: usize,
    /// Time a client has to send a whole request head, counted from when the connection
    /// starts waiting for one (slowloris). hyper starts this clock on a fresh connection and
    /// after every response, so it also bounds how long a keep-alive connection may sit idle
    /// between requests.
    pub header_read_timeout_ms: u64,
    /// A connection that moves no byte in either direction for this long is closed, whatever
    /// it is doing: clients that stopped reading a response, stalled exchanges.
    pub idle_timeout_ms: u64,
    /// Longest wait for the next piece of a request body.
    pub body_read_timeout_ms: u64,
    /// Uploads in progress at once across the node.
    pub uploads_in_flight_max: u64,
    /// Sum of the declared sizes of uploads in progress (disk space held by reservations).
    pub upload_bytes_in_flight_max: u64,
    /// Largest data object accepted.
    pub object_size_max_bytes: u64,
    /// Largest JSON request body (authToken, admin API).
    pub json_body_max_bytes: usize,
    /// Time in-flight requests get to finish after SIGINT/SIGTERM before they are aborted.
    pub shutdown_grace_ms: u64,
    /// Upload tokens are valid this long.
    pub upload_token_ttl_ms: u64,
    /// Outstanding upload tokens (nonces) remembered at once.
    pub upload_tokens_max: usize,
    /// Memory for verified, locked pages of hot objects, served without re-reading,
    /// re-checking or copying them (0 turns this off). Locking needs the memlock limit to
    /// allow it (CAP_IPC_LOCK, or `LimitMEMLOCK=` in a systemd unit); the node caps it there.
    pub pinned_cache_bytes: u64,
    /// A keep-alive connection that has sat idle between requests for this long gives back
    /// its HTTP state and buffers (20-30 KiB) and waits for its next request holding only
    /// its socket (0: never). Bounds the memory of many idle connections.
    pub idle_release_ms: u64,
    /// Segment files the store keeps zero-filled ahead of need (0: off). Small uploads commit
    /// faster into them (their fdatasyncs convert no extents), but every block is written
    /// twice: for nodes taking many small objects on a disk with bandwidth to spare.
    pub prezeroed_segments: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connections_per_core_max: 16_384,
            header_size_max_bytes: 16 * 1024,
            headers_max: 64,
            header_read_timeout_ms: 20_000,
            idle_timeout_ms: 60_000,
            body_read_timeout_ms: 30_000,
            uploads_in_flight_max: 1024,
            upload_bytes_in_flight_max: 1 << 40,
            object_size_max_bytes: 60 << 30,
            json_body_max_bytes: 1 << 20,
            shutdown_grace_ms: 30_000,
            upload_token_ttl_ms: crate::auth::upload_token::DEFAULT_TOKEN_TTL_MS,
            upload_tokens_max: crate::auth::upload_token::DEFAULT_NONCE_CAPACITY,
            pinned_cache_bytes: 2 << 30,
            idle_release_ms: 1_000,
            prezeroed_segments: 0,
        }
    }
}

/// Everything `colossus server` runs with.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The data directory: the store, the ledger journal, the admin token, the node key.
    pub data_dir: PathBuf,
    /// Address every core listens on (SO_REUSEPORT).
    pub listen: SocketAddr,
    /// Server threads, one monoio runtime each.
    pub threads: usize,
    /// Upload tokens are required (POST /authToken, then `x-api-key`).
    pub upload_auth: bool,
    /// Development node: seeded ledger, `//Bob` node key.
    pub dev: bool,
    /// Upload payloads go to the disk with O_DIRECT (`StoreConfig::direct_writes`).
    pub direct_writes: bool,
    /// Threads hashing upload buffers for the cores (`StoreConfig::hash_threads`).
    pub hash_threads: usize,
    /// Upload write buffers each core shares (`StoreConfig::write_buffers_per_lane`).
    pub write_buffers_per_core: usize,
    /// How long a core keeps a burst's write buffers
    /// (`StoreConfig::write_buffers_burst_kept_ms`).
    pub write_buffers_burst_kept_ms: u64,
    /// Limits.
    pub limits: Limits,
}

/// Files in the data directory.
pub mod layout {
    /// The segment store's directory.
    pub const STORE_DIR: &str = "store";
    /// The admin token (mode 0600).
    pub const ADMIN_TOKEN_FILE: &str = "admin.token";
    /// The node's generated key seed, when no key is given (mode 0600).
    pub const NODE_KEY_FILE: &str = "node.key";
}
