//! colossus-engine: an append-only segment store for data objects. Objects are appended to
//! large segment files with io_uring, sealed by a keyed checksum and per-chunk crcs, and found
//! through a memory-mapped index. See docs/FORMAT.md for the bytes and DESIGN.md for the why.

pub mod aligned_buf;
pub mod codec;
pub mod compaction;
pub mod content_type;
pub mod error;
pub mod hash_pool;
pub mod id_set;
pub mod index;
pub mod io;
pub mod record;
pub mod superblock;

pub use error::{EngineError, Result};
pub mod checkpoint;
pub mod config;
pub mod multihash;
pub mod payload_sums;
pub mod pinned;
pub mod reader;
pub mod recovery;
pub mod scrub;
pub mod segment;
pub mod segment_pool;
pub mod store;
pub mod sync_gate;
pub mod write_buffers;
pub mod writer;

pub use compaction::CompactionReport;
pub use config::{StoreConfig, SyncPolicy};
pub use content_type::ContentType;
pub use pinned::{PinnedStats, ServingReader};
pub use reader::ObjectReader;
pub use record::BagName;
pub use scrub::ScrubReport;
pub use store::{
    DamagedRecord, ObjectMeta, OpenReport, RecordLocation, Store, StoreStats, WritePathStats,
};
pub use writer::{CommitSpec, Upload, UploadSpec, Writer};
