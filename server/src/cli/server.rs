//! `colossus server`: opens the data directory, binds one SO_REUSEPORT listener per core,
//! serves until SIGINT or SIGTERM, then drains and closes the store cleanly.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use colossus_engine::config::PREZEROED_SEGMENTS_MAX;
use colossus_engine::config::{WRITE_BUFFERS_BURST_KEPT_MS_MAX, WRITE_BUFFERS_PER_LANE_MAX};
use colossus_engine::hash_pool::HASH_THREADS_MAX;
use signal_hook::consts::{SIGINT, SIGTERM};

use crate::auth::keys::{CryptoScheme, KeyPair};
use crate::config::{layout, Limits, ServerConfig};
use crate::node::{write_private_file, Node};
use crate::runtime::{bind_listeners, Server};

/// Flags of `colossus server`.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// Data directory (store, ledger journal, admin token, node key).
    #[arg(long, default_value = "./colossus-data")]
    pub data: PathBuf,
    /// Address to listen on (every core binds it with SO_REUSEPORT; port 0 picks a free port).
    #[arg(long, default_value = "0.0.0.0:3333")]
    pub listen: SocketAddr,
    /// Server threads, one io_uring runtime each [default: the number of cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// Development node: seeds the ledger (worker 0, bucket 0 taking every bag, member 1
    /// controlled by //Alice, uploads accepted at once) and signs tokens with //Bob.
    #[arg(long)]
    pub dev: bool,
    /// Accept uploads without an upload token (clients of the current network send none).
    #[arg(long)]
    pub disable_upload_auth: bool,
    /// Write upload payloads through the page cache instead of with O_DIRECT (the default,
    /// where the file system allows it): costs a copy per byte and writeback work, but keeps
    /// just-uploaded objects cached.
    #[arg(long)]
    pub buffered_writes: bool,
    /// Threads that hash upload payloads (blake3, chunk crcs) for the server threads, one
    /// 2 MiB write buffer at a time, unless another buffer is already waiting for one; 0 makes
    /// each server thread hash its own uploads [default: one fewer than the cores, at least 1].
    #[arg(long)]
    pub hash_threads: Option<usize>,
    /// 2 MiB upload write buffers each server thread shares among its uploads: past this many
    /// an upload holds two at most (the one it fills, the one being written) instead of five,
    /// and this many stay allocated between uploads (after a burst, as many as were taken at
    /// once, for --write-buffers-burst-kept-ms more; 0: none kept, two per upload).
    #[arg(long, default_value_t = colossus_engine::StoreConfig::default().write_buffers_per_lane)]
    pub write_buffers_per_core: usize,
    /// After a burst of uploads, a server thread keeps as many write buffers as it had taken
    /// at once (when more than --write-buffers-per-core) for this long, so that the uploads
    /// that keep coming reuse them instead of allocating them again; 0: only
    /// --write-buffers-per-core are kept, ms
    #[arg(long, default_value_t = colossus_engine::config::WRITE_BUFFERS_BURST_KEPT_MS_DEFAULT)]
    pub write_buffers_burst_kept_ms: u64,
    /// The node's key as a secret URI (`//Bob`, a mnemonic, `0x<seed>`), sr25519.
    #[arg(long, conflicts_with = "key_file")]
    pub key_uri: Option<String>,
    /// A file holding the node's secret URI or 0x seed (first line).
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// Largest data object accepted, bytes.
    #[arg(long, default_value_t = Limits::default().object_size_max_bytes)]
    pub max_object_size: u64,
    /// Open connections per core.
    #[arg(long, default_value_t = Limits::default().connections_per_core_max)]
    pub max_connections_per_core: usize,
    /// Largest request head, bytes.
    #[arg(long, default_value_t = Limits::default().header_size_max_bytes)]
    pub max_header_size: usize,
    /// Most headers in a request.
    #[arg(long, default_value_t = Limits::default().headers_max)]
    pub max_headers: usize,
    /// Largest JSON request body (authToken, admin API), bytes.
    #[arg(long, default_value_t = Limits::default().json_body_max_bytes)]
    pub max_json_body: usize,
    /// Upload tokens outstanding at once (each remembered until used or expired).
    #[arg(long, default_value_t = Limits::default().upload_tokens_max)]
    pub max_upload_tokens: usize,
    /// Time to receive a whole request head, ms; also how long a keep-alive connection may
    /// wait idle for its next request.
    #[arg(long, default_value_t = Limits::default().header_read_timeout_ms)]
    pub header_read_timeout_ms: u64,
    /// Close connections that move no byte in either direction for this long, ms.
    #[arg(long, default_value_t = Limits::default().idle_timeout_ms)]
    pub idle_timeout_ms: u64,
    /// Longest wait for the next piece of a request body, ms.
    #[arg(long, default_value_t = Limits::default().body_read_timeout_ms)]
    pub body_read_timeout_ms: u64,
    /// Uploads in progress at once.
    #[arg(long, default_value_t = Limits::default().uploads_in_flight_max)]
    pub max_uploads_in_flight: u64,
    /// Sum of the sizes of uploads in progress, bytes.
    #[arg(long, default_value_t = Limits::default().upload_bytes_in_flight_max)]
    pub max_upload_bytes_in_flight: u64,
    /// Upload token lifetime, ms.
    #[arg(long, default_value_t = Limits::default().upload_token_ttl_ms)]
    pub upload_token_ttl_ms: u64,
    /// Memory for hot objects' verified pages, locked and served without a copy, bytes (0:
    /// off). Capped to the process's memlock limit unless it may lock any amount.
    #[arg(long, default_value_t = Limits::default().pinned_cache_bytes)]
    pub pinned_cache_bytes: u64,
    /// Idle keep-alive connections give back their HTTP buffers after this long without a
    /// request, ms (0: never).
    #[arg(long, default_value_t = Limits::default().idle_release_ms)]
    pub idle_release_ms: u64,
    /// Segment files (1 GiB each) kept zero-filled ahead of need, 0-16 (0: off): faster
    /// commits of small uploads, at the price of writing every block twice.
    #[arg(long, default_value_t = Limits::default().prezeroed_segments)]
    pub prezeroed_segments: usize,
    /// Time in-flight requests get to finish on SIGINT/SIGTERM, ms.
    #[arg(long, default_value_t = Limits::default().shutdown_grace_ms)]
    pub shutdown_grace_ms: u64,
}

impl ServerArgs {
    fn config(&self) -> Result<ServerConfig, String> {
        let threads = match self.threads {
            Some(0) => return Err("--threads must be at least 1".into()),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let limits = Limits {
            connections_per_core_max: self.max_connections_per_core,
            header_size_max_bytes: self.max_header_size,
            headers_max: self.max_headers,
            json_body_max_bytes: self.max_json_body,
            upload_tokens_max: self.max_upload_tokens,
            header_read_timeout_ms: self.header_read_timeout_ms,
            idle_timeout_ms: self.idle_timeout_ms,
            body_read_timeout_ms: self.body_read_timeout_ms,
            uploads_in_flight_max: self.max_uploads_in_flight,
            upload_bytes_in_flight_max: self.max_upload_bytes_in_flight,
            object_size_max_bytes: self.max_object_size,
            upload_token_ttl_ms: self.upload_token_ttl_ms,
            shutdown_grace_ms: self.shutdown_grace_ms,
            pinned_cache_bytes: self.pinned_cache_bytes,
            idle_release_ms: self.idle_release_ms,
            prezeroed_segments: self.prezeroed_segments,
        };
        // The engine's own bound, checked here so the data directory is not touched.
        if limits.prezeroed_segments > PREZEROED_SEGMENTS_MAX {
            return Err(format!(
                "--prezeroed-segments must be at most {PREZEROED_SEGMENTS_MAX} (each is a whole \
                 segment of disk space)"
            ));
        }
        let positive = [
            (
                "--max-connections-per-core",
                limits.connections_per_core_max as u64,
            ),
            ("--header-read-timeout-ms", limits.header_read_timeout_ms),
            ("--idle-timeout-ms", limits.idle_timeout_ms),
            ("--body-read-timeout-ms", limits.body_read_timeout_ms),
            ("--max-uploads-in-flight", limits.uploads_in_flight_max),
            ("--upload-token-ttl-ms", limits.upload_token_ttl_ms),
            ("--max-headers", limits.headers_max as u64),
            ("--max-json-body", limits.json_body_max_bytes as u64),
            ("--max-upload-tokens", limits.upload_tokens_max as u64),
        ];
        if let Some((flag, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(format!("{flag} must be at least 1"));
        }
        let hash_threads = self
            .hash_threads
            .unwrap_or_else(|| colossus_engine::StoreConfig::default().hash_threads);
        if hash_threads > HASH_THREADS_MAX {
            return Err(format!("--hash-threads must be at most {HASH_THREADS_MAX}"));
        }
        if self.write_buffers_per_core > WRITE_BUFFERS_PER_LANE_MAX {
            return Err(format!(
                "--write-buffers-per-core must be at most {WRITE_BUFFERS_PER_LANE_MAX} (each \
                 is 2 MiB of memory)"
            ));
        }
        if self.write_buffers_burst_kept_ms > WRITE_BUFFERS_BURST_KEPT_MS_MAX {
            return Err(format!(
                "--write-buffers-burst-kept-ms must be at most {WRITE_BUFFERS_BURST_KEPT_MS_MAX} \
                 (an hour)"
            ));
        }
        if limits.header_size_max_bytes < 1024 {
            return Err("--max-header-size must be at least 1024".into());
        }
        Ok(ServerConfig {
            data_dir: self.data.clone(),
            listen: self.listen,
            threads,
            upload_auth: !self.disable_upload_auth,
            dev: self.dev,
            direct_writes: !self.buffered_writes,
            hash_threads,
            write_buffers_per_core: self.write_buffers_per_core,
            write_buffers_burst_kept_ms: self.write_buffers_burst_kept_ms,
            limits,
        })
    }

    /// The node's signing key: --key-uri, --key-file, //Bob for --dev, else a key generated
    /// once into the data directory.
    fn key(&self) -> Result<KeyPair, String> {
        let from_uri = |uri: &str, origin: &str| {
            KeyPair::from_uri(uri.trim(), CryptoScheme::Sr25519)
                .map_err(|e| format!("invalid node key from {origin}: {e}"))
        };
        if let Some(uri) = &self.key_uri {
            return from_uri(uri, "--key-uri");
        }
        if let Some(path) = &self.key_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read --key-file {}: {e}", path.display()))?;
            let first = text.lines().next().unwrap_or("");
            return from_uri(first, &format!("--key-file {}", path.display()));
        }
        if self.dev {
            return from_uri("//Bob", "--dev");
        }
        generated_key(&self.data)
    }
}

fn generated_key(data: &Path) -> Result<KeyPair, String> {
    let path = data.join(layout::NODE_KEY_FILE);
    let seed_hex = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data)
                .map_err(|e| format!("cannot create data directory {}: {e}", data.display()))?;
            let seed = crate::auth::hex::encode(&rand::random::<[u8; 32]>());
            write_private_file(&path, seed.as_bytes()).map_err(|e| e.to_string())?;
            seed
        }
        Err(e) => return Err(format!("cannot read node key {}: {e}", path.display())),
    };
    KeyPair::from_uri(&seed_hex, CryptoScheme::Sr25519)
        .map_err(|e| format!("node key {} is invalid: {e}", path.display()))
}

/// Runs the node until SIGINT/SIGTERM.
pub fn run(args: ServerArgs) -> ExitCode {
    match serve(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Buffers of engine reads and writes (1 MiB) and hyper's read buffers come and go with every
/// chunk. glibc serves allocations of 128 KiB and more with a fresh mmap by default, so every
/// chunk paid page faults and zeroing of new pages (about a tenth of the CPU of a large GET,
/// measured with perf); from the heap they are reused warm.
const MALLOC_MMAP_THRESHOLD_BYTES: i32 = 64 << 20;

/// Freed heap memory is kept up to this much before it is returned to the kernel, so the
/// working set of buffers stays mapped between bursts.
const MALLOC_TRIM_THRESHOLD_BYTES: i32 = 512 << 20;

fn tune_allocator() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes glibc's allocation thresholds; it is called before any
    // server thread starts, and invalid values are refused by glibc (returning 0), not UB.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD_BYTES);
        libc::mallopt(libc::M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD_BYTES);
    }
}

fn serve(args: &ServerArgs) -> Result<(), String> {
    let config = args.config()?;
    tune_allocator();
    let signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let listen = config.listen;
    let threads = config.threads;
    let upload_auth = config.upload_auth;
    let data_dir = config.data_dir.clone();
    // Bound first: a node that cannot listen leaves the data directory as it found it.
    let listeners =
        bind_listeners(listen, threads).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let key = args.key()?;
    let node_public = key.public_key().to_joystream_address();
    let node = Arc::new(Node::open(config, key).map_err(|e| e.to_string())?);
    let server = Server::start(node.clone(), listeners)
        .map_err(|e| format!("cannot start server threads: {e}"))?;
    let report = node.store.open_report();
    println!(
        "colossus: listening on http://{} with {threads} threads; data in {} ({} objects{}); node key {node_public}; upload auth {}",
        server.local_addr,
        data_dir.display(),
        node.store.stats().objects,
        if report.created {
            ", new store"
        } else if report.clean {
            ""
        } else {
            ", recovered after an unclean stop"
        },
        if upload_auth { "on" } else { "off" },
    );
    println!(
        "colossus: admin token in {}",
        data_dir.join(layout::ADMIN_TOKEN_FILE).display()
    );
    let mut signals = signals;
    let signal = signals.forever().next();
    println!(
        "colossus: {} received; finishing requests in flight",
        match signal {
            Some(SIGINT) => "SIGINT",
            Some(SIGTERM) => "SIGTERM",
            _ => "stop signal",
        }
    );
    server.stop();
    drop(signals);
    let node = Arc::try_unwrap(node)
        .map_err(|_| "the node is still in use after its server threads stopped".to_string())?;
    node.store
        .close()
        .map_err(|e| format!("closing the store: {e}"))?;
    println!("colossus: stopped cleanly");
    Ok(())
}
