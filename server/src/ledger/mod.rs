//! The node's view of the chain: which buckets it operates and whether they accept uploads,
//! which bags those buckets hold, which data objects exist (bag, size, hash, accepted), and
//! which account controls each member. The server reads it only through [`Ledger`]; the
//! embedded backend ([`embedded::EmbeddedLedger`]) keeps it durable in the data directory and
//! is changed only through [`Mutation`]s (the admin API and `--dev` seeding). A query-node
//! backend would implement the same trait read-only.

pub mod embedded;
pub mod journal;

use serde::{Deserialize, Serialize};

pub use embedded::EmbeddedLedger;

/// A storage bucket as the chain describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Bucket {
    /// Bucket id.
    pub id: u64,
    /// The storage worker operating it.
    pub operator_worker_id: u64,
    /// Whether it takes new uploads.
    pub accepting_uploads: bool,
    /// Every bag is assigned to it (what `--dev` seeds), besides `bags`.
    #[serde(default)]
    pub all_bags: bool,
    /// Bags assigned to it, canonical bag id text (`BagId::to_string`).
    #[serde(default)]
    pub bags: Vec<String>,
}

/// A data object as the chain describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataObject {
    /// Data object id.
    pub id: u64,
    /// Its bag, canonical bag id text.
    pub bag: String,
    /// Exact size.
    pub size_bytes: u64,
    /// blake3 multihash, base58 (`gW...`, 46 characters).
    pub multihash: String,
    /// Accepted by the node's worker (false: pending).
    #[serde(default)]
    pub accepted: bool,
}

/// A member and the account that controls it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Member {
    /// Member id.
    pub id: u64,
    /// Controller account, SS58 (any prefix accepted on input; stored as given after
    /// validation).
    pub controller: String,
}

/// Everything the embedded ledger holds, for listing and for journal snapshots.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LedgerSnapshot {
    /// The storage worker id whose buckets this node operates.
    pub worker_id: Option<u64>,
    /// Uploaded objects are accepted at once (dev), instead of staying pending.
    pub auto_accept_uploads: bool,
    /// Buckets, by id.
    pub buckets: Vec<Bucket>,
    /// Members, by id.
    pub members: Vec<Member>,
    /// Data objects, by id.
    pub objects: Vec<DataObject>,
}

/// One change to the embedded ledger. This is also the admin API's request body
/// (POST /api/v1/admin/ledger) and one journal line, so its JSON form is a contract:
/// `{"op": "<camelCase variant>", ...fields in camelCase}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "op",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Mutation {
    /// Sets the worker id this node operates as.
    SetWorker { worker_id: u64 },
    /// Sets whether uploads are accepted at once.
    SetAutoAccept { enabled: bool },
    /// Creates or replaces a bucket.
    PutBucket { bucket: Bucket },
    /// Removes a bucket.
    RemoveBucket { id: u64 },
    /// Assigns a bag to a bucket.
    AssignBag { bucket_id: u64, bag: String },
    /// Removes a bag from a bucket.
    UnassignBag { bucket_id: u64, bag: String },
    /// Creates or replaces a member.
    PutMember { member: Member },
    /// Removes a member.
    RemoveMember { id: u64 },
    /// Creates a data object (refused if the id exists).
    CreateObject { object: DataObject },
    /// Deletes a data object (the node also drops its stored copy).
    DeleteObject { id: u64 },
    /// Marks a data object accepted.
    AcceptObject { id: u64 },
}

/// Why a ledger read or change failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The thing a mutation names does not exist.
    #[error("{what} {id} does not exist in the ledger")]
    NotFound { what: &'static str, id: u64 },
    /// A data object with this id already exists.
    #[error("data object {id} already exists in the ledger")]
    ObjectExists { id: u64 },
    /// A mutation carries an invalid value (bag id, multihash, SS58 address, ...).
    #[error("invalid ledger change: {0}")]
    Invalid(String),
    /// Reading or writing the journal failed.
    #[error("ledger journal {path}: {action}: {source}")]
    Io {
        action: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The journal is damaged before its last line (a torn last line is not damage).
    #[error("ledger journal {path} is damaged at line {line}: {reason}")]
    Corrupt {
        path: std::path::PathBuf,
        line: u64,
        reason: String,
    },
}

/// What the server asks of the chain. Reads are cheap, lock-free or behind a read lock, and
/// never touch the disk.
pub trait Ledger: Send + Sync + 'static {
    /// The worker id this node operates as, if set.
    fn worker_id(&self) -> Option<u64>;
    /// A bucket by id.
    fn bucket(&self, id: u64) -> Option<Bucket>;
    /// Buckets operated by this node's worker.
    fn operated_buckets(&self) -> Vec<Bucket>;
    /// Whether `bag` (canonical text) is assigned to bucket `bucket_id`.
    fn bag_in_bucket(&self, bag: &str, bucket_id: u64) -> bool;
    /// A data object by id.
    fn data_object(&self, id: u64) -> Option<DataObject>;
    /// The controller account's public key of a member.
    fn member_controller(&self, member_id: u64) -> Option<[u8; 32]>;
    /// Whether uploads are accepted at once.
    fn auto_accept_uploads(&self) -> bool;
    /// Records that the node accepted an uploaded object (what the worker's
    /// acceptPendingDataObjects extrinsic does on chain). Durable before it returns.
    fn accept_object(&self, id: u64) -> Result<(), LedgerError>;
    /// [`Ledger::accept_object`] for several objects, made durable together; an answer per
    /// id, in order.
    fn accept_objects(&self, ids: &[u64]) -> Vec<Result<(), LedgerError>>;
}
