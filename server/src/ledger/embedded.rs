//! The embedded ledger: the whole state in memory behind a read-write lock, every change
//! journaled ([`super::journal`]) and fdatasynced before it becomes visible. Invariant: what
//! readers see is exactly the state the journal replays to, so a crash never loses an
//! acknowledged change nor shows one that was not. Changes are serialized by the journal's
//! mutex; reads never touch the disk.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use colossus_engine::multihash;
use parking_lot::{Mutex, RwLock};

use super::journal::{Journal, JournalOpenReport};
use super::{Bucket, DataObject, Ledger, LedgerError, LedgerSnapshot, Member, Mutation};
use crate::auth::ss58;
use crate::compat::bag_id::BagId;

/// The journal's file name inside the ledger directory.
pub const JOURNAL_FILE: &str = "ledger.journal";

/// Compaction runs once the journal holds more than twice the lines the state needs plus this
/// many: the slack keeps a small ledger from compacting on every change.
pub const COMPACT_SLACK_LINES: u64 = 1024;

/// Which data objects a snapshot lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotObjects {
    /// Every one.
    All,
    /// None (the rest of the ledger only).
    None,
    /// Those of one bag.
    InBag(BagId),
}

/// The durable ledger kept in the data directory.
pub struct EmbeddedLedger {
    state: RwLock<State>,
    writer: Mutex<Writer>,
    open_report: JournalOpenReport,
}

/// The journal and compaction bookkeeping; its mutex serializes every change.
struct Writer {
    journal: Journal,
    slack_lines: u64,
    /// After a failed compaction, the next attempt waits until the journal reaches this many
    /// lines, so a full disk does not turn every change into a full rewrite.
    compact_not_before_lines: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct BucketState {
    operator_worker_id: u64,
    accepting_uploads: bool,
    all_bags: bool,
    bags: BTreeSet<BagId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct MemberState {
    /// As given (validated).
    controller: String,
    public_key: [u8; ss58::PUBLIC_KEY_LEN],
}

/// Length of a blake3 multihash in base58btc (34 bytes need 46 digits).
const MULTIHASH_TEXT_LEN: usize = 46;

/// Fixed size, no heap (a million objects replay into about 160 MB resident, index and all),
/// and reading one back needs no base58 encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ObjectState {
    bag: BagId,
    size_bytes: u64,
    /// The multihash text, validated (ASCII, canonical).
    multihash: [u8; MULTIHASH_TEXT_LEN],
    accepted: bool,
}
const _: () = assert!(std::mem::size_of::<ObjectState>() <= 72);

#[derive(Default)]
struct State {
    worker_id: Option<u64>,
    auto_accept_uploads: bool,
    buckets: BTreeMap<u64, BucketState>,
    members: BTreeMap<u64, MemberState>,
    objects: BTreeMap<u64, ObjectState>,
    /// Object ids by bag, each list sorted; every object is in exactly its bag's list, and no
    /// list is empty. Vectors, not sets: ids mostly arrive in increasing order, so an insert is
    /// a push, and replaying a million objects spread over many bags stays cache-friendly.
    objects_by_bag: HashMap<BagId, Vec<u64>>,
}

/// A validated mutation, in the decoded form the state stores.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Change {
    SetWorker(u64),
    SetAutoAccept(bool),
    PutBucket(u64, BucketState),
    RemoveBucket(u64),
    AssignBag(u64, BagId),
    UnassignBag(u64, BagId),
    PutMember(u64, MemberState),
    RemoveMember(u64),
    CreateObject(u64, ObjectState),
    DeleteObject(u64),
    AcceptObject(u64),
}

impl EmbeddedLedger {
    /// Opens the ledger in `dir` (journal [`JOURNAL_FILE`], created if absent), replaying the
    /// journal. A change in it that does not apply to the state before it is `Corrupt`.
    pub fn open(dir: &Path) -> Result<EmbeddedLedger, LedgerError> {
        let path = dir.join(JOURNAL_FILE);
        let mut state = State::default();
        let (journal, open_report) = Journal::open_with(&path, |line, mutation| {
            match state.prepare(mutation) {
                Ok(Some(change)) => state.commit(change),
                Ok(None) => {}
                Err(e) => {
                    return Err(LedgerError::Corrupt {
                        path: path.clone(),
                        line,
                        reason: format!("the change does not apply to the state before it: {e}"),
                    })
                }
            }
            Ok(())
        })?;
        Ok(EmbeddedLedger {
            state: RwLock::new(state),
            writer: Mutex::new(Writer {
                journal,
                slack_lines: COMPACT_SLACK_LINES,
                compact_not_before_lines: 0,
            }),
            open_report,
        })
    }

    /// Validates `mutation` against the current state, journals it durably, then makes it
    /// visible. A mutation that would change nothing (e.g. setting the worker id it already
    /// has, accepting an accepted object) succeeds without a journal write. On error nothing
    /// changed.
    pub fn apply(&self, mutation: Mutation) -> Result<(), LedgerError> {
        let mut writer = self.writer.lock();
        // Every change holds `writer`, so the state `prepare` checks is the state `commit`
        // changes.
        let Some(change) = self.state.read().prepare(mutation)? else {
            return Ok(());
        };
        writer.journal.append(&change.to_mutation())?;
        self.state.write().commit(change);
        // The change is durable and visible whatever compaction does; a failed compaction
        // leaves the journal as it was (or poisoned, if the failure came after the rename) and
        // is retried later.
        let _ = self.compact_if_large(&mut writer);
        Ok(())
    }

    /// Rewrites the journal as the shortest list of mutations giving the current state.
    pub fn compact(&self) -> Result<(), LedgerError> {
        let mut writer = self.writer.lock();
        self.compact_locked(&mut writer)
    }

    /// Everything the ledger holds, each list sorted by id.
    #[cfg(test)]
    fn snapshot(&self) -> LedgerSnapshot {
        self.snapshot_with(SnapshotObjects::All)
    }

    /// Everything but the data objects (worker, auto-accept, buckets, members).
    #[cfg(test)]
    fn snapshot_without_objects(&self) -> LedgerSnapshot {
        self.snapshot_with(SnapshotObjects::None)
    }

    /// Worker, auto-accept, buckets, members and the data objects `objects` selects, each
    /// list sorted by id, all read under one read lock: one state, never parts of two.
    pub fn snapshot_with(&self, objects: SnapshotObjects) -> LedgerSnapshot {
        let state = self.state.read();
        let objects = match objects {
            SnapshotObjects::All => state
                .objects
                .iter()
                .map(|(&id, o)| o.to_object(id))
                .collect(),
            SnapshotObjects::None => Vec::new(),
            // The bag index, not every object filtered.
            SnapshotObjects::InBag(bag) => state
                .objects_by_bag
                .get(&bag)
                .map(|ids| {
                    ids.iter()
                        .filter_map(|id| state.objects.get(id).map(|o| o.to_object(*id)))
                        .collect()
                })
                .unwrap_or_default(),
        };
        LedgerSnapshot {
            worker_id: state.worker_id,
            auto_accept_uploads: state.auto_accept_uploads,
            buckets: state
                .buckets
                .iter()
                .map(|(&id, b)| b.to_bucket(id))
                .collect(),
            members: state
                .members
                .iter()
                .map(|(&id, m)| m.to_member(id))
                .collect(),
            objects,
        }
    }

    /// One more than the largest data object id (saturating), or 0 when there are none.
    pub fn next_object_id(&self) -> u64 {
        self.state
            .read()
            .objects
            .last_key_value()
            .map_or(0, |(&id, _)| id.saturating_add(1))
    }

    /// Number of data objects.
    #[cfg(test)]
    fn object_count(&self) -> u64 {
        self.state.read().objects.len() as u64
    }

    /// Number of buckets.
    #[cfg(test)]
    fn bucket_count(&self) -> u64 {
        self.state.read().buckets.len() as u64
    }

    /// Number of members.
    #[cfg(test)]
    fn member_count(&self) -> u64 {
        self.state.read().members.len() as u64
    }

    /// Mutation lines in the journal now.
    #[cfg(test)]
    fn journal_lines(&self) -> u64 {
        self.writer.lock().journal.mutation_lines()
    }

    /// What opening the journal found (a cut torn tail is worth logging).
    pub fn open_report(&self) -> &JournalOpenReport {
        &self.open_report
    }

    /// Seeds a development ledger: worker `worker_id` with auto-accept, bucket 0 operated by
    /// it holding every bag (bags assigned to it since are kept), member 1 controlled by
    /// `controller_of_member_1`. Idempotent: only what differs is journaled.
    pub fn seed_dev(
        &self,
        worker_id: u64,
        controller_of_member_1: &str,
    ) -> Result<(), LedgerError> {
        let bags = self.bucket(0).map(|b| b.bags).unwrap_or_default();
        let seed = [
            Mutation::SetWorker { worker_id },
            Mutation::SetAutoAccept { enabled: true },
            Mutation::PutBucket {
                bucket: Bucket {
                    id: 0,
                    operator_worker_id: worker_id,
                    accepting_uploads: true,
                    all_bags: true,
                    bags,
                },
            },
            Mutation::PutMember {
                member: Member {
                    id: 1,
                    controller: controller_of_member_1.to_owned(),
                },
            },
        ];
        seed.into_iter().try_for_each(|m| self.apply(m))
    }

    fn compact_if_large(&self, writer: &mut Writer) -> Result<(), LedgerError> {
        let lines = writer.journal.mutation_lines();
        if lines < writer.compact_not_before_lines {
            return Ok(());
        }
        let needed = self.state.read().minimal_lines();
        if lines <= needed.saturating_mul(2).saturating_add(writer.slack_lines) {
            return Ok(());
        }
        self.compact_locked(writer)
    }

    fn compact_locked(&self, writer: &mut Writer) -> Result<(), LedgerError> {
        // Readers go on under the read lock; changes wait for `writer`.
        let state = self.state.read();
        let result = writer.journal.rewrite(state.minimal_mutations());
        if result.is_err() {
            let lines = writer.journal.mutation_lines();
            writer.compact_not_before_lines = lines.saturating_add(writer.slack_lines);
        }
        result
    }

    #[cfg(test)]
    fn set_compact_slack_lines(&self, slack_lines: u64) {
        self.writer.lock().slack_lines = slack_lines;
    }
}

impl Ledger for EmbeddedLedger {
    fn worker_id(&self) -> Option<u64> {
        self.state.read().worker_id
    }

    fn bucket(&self, id: u64) -> Option<Bucket> {
        self.state.read().buckets.get(&id).map(|b| b.to_bucket(id))
    }

    fn operated_buckets(&self) -> Vec<Bucket> {
        let state = self.state.read();
        let Some(worker_id) = state.worker_id else {
            return Vec::new();
        };
        state
            .buckets
            .iter()
            .filter(|(_, b)| b.operator_worker_id == worker_id)
            .map(|(&id, b)| b.to_bucket(id))
            .collect()
    }

    fn bag_in_bucket(&self, bag: &str, bucket_id: u64) -> bool {
        let Ok(bag) = BagId::parse_lenient(bag) else {
            return false;
        };
        self.state
            .read()
            .buckets
            .get(&bucket_id)
            .is_some_and(|b| b.all_bags || b.bags.contains(&bag))
    }

    fn data_object(&self, id: u64) -> Option<DataObject> {
        self.state.read().objects.get(&id).map(|o| o.to_object(id))
    }

    fn member_controller(&self, member_id: u64) -> Option<[u8; 32]> {
        self.state
            .read()
            .members
            .get(&member_id)
            .map(|m| m.public_key)
    }

    fn auto_accept_uploads(&self) -> bool {
        self.state.read().auto_accept_uploads
    }

    fn accept_object(&self, id: u64) -> Result<(), LedgerError> {
        // Accepting an accepted object changes nothing, so `apply` returns Ok.
        self.apply(Mutation::AcceptObject { id })
    }

    /// One journal write and one fdatasync for the whole batch. An id the ledger does not
    /// hold fails alone; a journal failure fails every id that needed a line.
    fn accept_objects(&self, ids: &[u64]) -> Vec<Result<(), LedgerError>> {
        let mut writer = self.writer.lock();
        let mut answers = Vec::with_capacity(ids.len());
        // Positions in `answers` that hold only if the journal write succeeds.
        let mut journaled = Vec::new();
        let mut changes = Vec::new();
        let mut lined = HashSet::new();
        {
            let state = self.state.read();
            for (at, &id) in ids.iter().enumerate() {
                match state.prepare(Mutation::AcceptObject { id }) {
                    Ok(Some(change)) => {
                        // An id twice in one batch gets one line.
                        if lined.insert(id) {
                            changes.push(change);
                        }
                        journaled.push(at);
                        answers.push(Ok(()));
                    }
                    outcome => answers.push(outcome.map(|_| ())),
                }
            }
        }
        if changes.is_empty() {
            return answers;
        }
        let lines: Vec<Mutation> = changes.iter().map(Change::to_mutation).collect();
        if let Err(error) = writer.journal.append_all(&lines) {
            let message = error.to_string();
            for at in journaled {
                answers[at] = Err(LedgerError::Io {
                    action: "journal an acceptance",
                    path: writer.journal.path().to_path_buf(),
                    source: std::io::Error::other(message.clone()),
                });
            }
            return answers;
        }
        let mut state = self.state.write();
        for change in changes {
            state.commit(change);
        }
        drop(state);
        // As in `apply`: a failed compaction changes nothing that was acknowledged.
        let _ = self.compact_if_large(&mut writer);
        answers
    }
}

impl State {
    /// Checks `mutation` against this state without changing it: the change to commit, or
    /// None when it would change nothing.
    fn prepare(&self, mutation: Mutation) -> Result<Option<Change>, LedgerError> {
        let change = match mutation {
            Mutation::SetWorker { worker_id } => {
                (self.worker_id != Some(worker_id)).then_some(Change::SetWorker(worker_id))
            }
            Mutation::SetAutoAccept { enabled } => {
                (self.auto_accept_uploads != enabled).then_some(Change::SetAutoAccept(enabled))
            }
            Mutation::PutBucket { bucket } => {
                let bags = bucket
                    .bags
                    .iter()
                    .map(|bag| parse_bag(bag))
                    .collect::<Result<BTreeSet<_>, _>>()?;
                let new = BucketState {
                    operator_worker_id: bucket.operator_worker_id,
                    accepting_uploads: bucket.accepting_uploads,
                    all_bags: bucket.all_bags,
                    bags,
                };
                (self.buckets.get(&bucket.id) != Some(&new))
                    .then_some(Change::PutBucket(bucket.id, new))
            }
            Mutation::RemoveBucket { id } => {
                self.bucket_state(id)?;
                Some(Change::RemoveBucket(id))
            }
            Mutation::AssignBag { bucket_id, bag } => {
                let bag = parse_bag(&bag)?;
                (!self.bucket_state(bucket_id)?.bags.contains(&bag))
                    .then_some(Change::AssignBag(bucket_id, bag))
            }
            Mutation::UnassignBag { bucket_id, bag } => {
                let bag = parse_bag(&bag)?;
                if !self.bucket_state(bucket_id)?.bags.contains(&bag) {
                    return Err(LedgerError::NotFound {
                        what: "that bag's assignment to bucket",
                        id: bucket_id,
                    });
                }
                Some(Change::UnassignBag(bucket_id, bag))
            }
            Mutation::PutMember { member } => {
                let address = ss58::decode(&member.controller).map_err(|e| {
                    LedgerError::Invalid(format!(
                        "member {} controller {:?}: {e}",
                        member.id, member.controller
                    ))
                })?;
                let new = MemberState {
                    controller: member.controller,
                    public_key: address.public_key,
                };
                (self.members.get(&member.id) != Some(&new))
                    .then_some(Change::PutMember(member.id, new))
            }
            Mutation::RemoveMember { id } => {
                if !self.members.contains_key(&id) {
                    return Err(LedgerError::NotFound { what: "member", id });
                }
                Some(Change::RemoveMember(id))
            }
            Mutation::CreateObject { object } => {
                let bag = parse_bag(&object.bag)?;
                let invalid_hash = |reason: &dyn std::fmt::Display| {
                    LedgerError::Invalid(format!(
                        "data object {} multihash {:?}: {reason}",
                        object.id, object.multihash
                    ))
                };
                multihash::decode(&object.multihash).map_err(|e| invalid_hash(&e))?;
                // What decode accepts is the one canonical spelling of its digest, always 46
                // characters; the check keeps a surprise from becoming a panic.
                let multihash: [u8; MULTIHASH_TEXT_LEN] = object
                    .multihash
                    .as_bytes()
                    .try_into()
                    .map_err(|_| invalid_hash(&"not 46 characters"))?;
                if self.objects.contains_key(&object.id) {
                    return Err(LedgerError::ObjectExists { id: object.id });
                }
                Some(Change::CreateObject(
                    object.id,
                    ObjectState {
                        bag,
                        size_bytes: object.size_bytes,
                        multihash,
                        accepted: object.accepted,
                    },
                ))
            }
            Mutation::DeleteObject { id } => {
                self.object_state(id)?;
                Some(Change::DeleteObject(id))
            }
            Mutation::AcceptObject { id } => {
                (!self.object_state(id)?.accepted).then_some(Change::AcceptObject(id))
            }
        };
        Ok(change)
    }

    /// Makes a change `prepare` returned for this very state.
    fn commit(&mut self, change: Change) {
        match change {
            Change::SetWorker(worker_id) => self.worker_id = Some(worker_id),
            Change::SetAutoAccept(enabled) => self.auto_accept_uploads = enabled,
            Change::PutBucket(id, bucket) => {
                self.buckets.insert(id, bucket);
            }
            Change::RemoveBucket(id) => {
                self.buckets.remove(&id);
            }
            Change::AssignBag(id, bag) => {
                if let Some(bucket) = self.buckets.get_mut(&id) {
                    bucket.bags.insert(bag);
                }
            }
            Change::UnassignBag(id, bag) => {
                if let Some(bucket) = self.buckets.get_mut(&id) {
                    bucket.bags.remove(&bag);
                }
            }
            Change::PutMember(id, member) => {
                self.members.insert(id, member);
            }
            Change::RemoveMember(id) => {
                self.members.remove(&id);
            }
            Change::CreateObject(id, object) => {
                let ids = self.objects_by_bag.entry(object.bag).or_default();
                match ids.last() {
                    Some(&last) if last > id => {
                        let at = ids.binary_search(&id).unwrap_or_else(|at| at);
                        ids.insert(at, id);
                    }
                    _ => ids.push(id),
                }
                let replaced = self.objects.insert(id, object);
                debug_assert!(replaced.is_none(), "prepare refuses existing ids");
            }
            Change::DeleteObject(id) => {
                if let Some(object) = self.objects.remove(&id) {
                    if let Some(ids) = self.objects_by_bag.get_mut(&object.bag) {
                        if let Ok(at) = ids.binary_search(&id) {
                            ids.remove(at);
                        }
                        if ids.is_empty() {
                            self.objects_by_bag.remove(&object.bag);
                        }
                    }
                }
            }
            Change::AcceptObject(id) => {
                if let Some(object) = self.objects.get_mut(&id) {
                    object.accepted = true;
                }
            }
        }
    }

    fn bucket_state(&self, id: u64) -> Result<&BucketState, LedgerError> {
        self.buckets
            .get(&id)
            .ok_or(LedgerError::NotFound { what: "bucket", id })
    }

    fn object_state(&self, id: u64) -> Result<&ObjectState, LedgerError> {
        self.objects.get(&id).ok_or(LedgerError::NotFound {
            what: "data object",
            id,
        })
    }

    /// How many lines `minimal_mutations` yields.
    fn minimal_lines(&self) -> u64 {
        let bags: usize = self.buckets.values().map(|b| b.bags.len()).sum();
        let count = usize::from(self.worker_id.is_some())
            + usize::from(self.auto_accept_uploads)
            + self.buckets.len()
            + bags
            + self.members.len()
            + self.objects.len();
        count as u64
    }

    /// The shortest mutation list replaying to this state, generated lazily (a million
    /// objects are not materialized at once). Buckets are written without bags and their bags
    /// assigned one per line, so no line grows with a bucket's bag count.
    fn minimal_mutations(&self) -> impl Iterator<Item = Mutation> + '_ {
        let worker = self
            .worker_id
            .map(|worker_id| Mutation::SetWorker { worker_id });
        let auto_accept = self
            .auto_accept_uploads
            .then_some(Mutation::SetAutoAccept { enabled: true });
        let buckets = self.buckets.iter().flat_map(|(&id, b)| {
            let empty = BucketState {
                bags: BTreeSet::new(),
                ..b.clone()
            };
            std::iter::once(Change::PutBucket(id, empty).to_mutation()).chain(
                b.bags
                    .iter()
                    .map(move |&bag| Change::AssignBag(id, bag).to_mutation()),
            )
        });
        let members = self.members.iter().map(|(&id, m)| Mutation::PutMember {
            member: m.to_member(id),
        });
        let objects = self.objects.iter().map(|(&id, o)| Mutation::CreateObject {
            object: o.to_object(id),
        });
        worker
            .into_iter()
            .chain(auto_accept)
            .chain(buckets)
            .chain(members)
            .chain(objects)
    }
}

impl Change {
    /// The journal line's mutation: canonical text (bag ids, multihash), so replaying it
    /// gives this very change.
    fn to_mutation(&self) -> Mutation {
        match self {
            Self::SetWorker(worker_id) => Mutation::SetWorker {
                worker_id: *worker_id,
            },
            Self::SetAutoAccept(enabled) => Mutation::SetAutoAccept { enabled: *enabled },
            Self::PutBucket(id, bucket) => Mutation::PutBucket {
                bucket: bucket.to_bucket(*id),
            },
            Self::RemoveBucket(id) => Mutation::RemoveBucket { id: *id },
            Self::AssignBag(bucket_id, bag) => Mutation::AssignBag {
                bucket_id: *bucket_id,
                bag: bag.to_string(),
            },
            Self::UnassignBag(bucket_id, bag) => Mutation::UnassignBag {
                bucket_id: *bucket_id,
                bag: bag.to_string(),
            },
            Self::PutMember(id, member) => Mutation::PutMember {
                member: member.to_member(*id),
            },
            Self::RemoveMember(id) => Mutation::RemoveMember { id: *id },
            Self::CreateObject(id, object) => Mutation::CreateObject {
                object: object.to_object(*id),
            },
            Self::DeleteObject(id) => Mutation::DeleteObject { id: *id },
            Self::AcceptObject(id) => Mutation::AcceptObject { id: *id },
        }
    }
}

impl BucketState {
    fn to_bucket(&self, id: u64) -> Bucket {
        Bucket {
            id,
            operator_worker_id: self.operator_worker_id,
            accepting_uploads: self.accepting_uploads,
            all_bags: self.all_bags,
            bags: self.bags.iter().map(BagId::to_string).collect(),
        }
    }
}

impl MemberState {
    fn to_member(&self, id: u64) -> Member {
        Member {
            id,
            controller: self.controller.clone(),
        }
    }
}

impl ObjectState {
    fn to_object(&self, id: u64) -> DataObject {
        DataObject {
            id,
            bag: self.bag.to_string(),
            size_bytes: self.size_bytes,
            // Validated ASCII when stored.
            multihash: String::from_utf8_lossy(&self.multihash).into_owned(),
            accepted: self.accepted,
        }
    }
}

fn parse_bag(bag: &str) -> Result<BagId, LedgerError> {
    BagId::parse_lenient(bag).map_err(|e| LedgerError::Invalid(format!("bag id {bag:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn hash(n: u64) -> String {
        multihash::of(&n.to_le_bytes())
    }

    fn address(seed: u8) -> String {
        ss58::encode_joystream(&[seed; 32])
    }

    fn object(id: u64, bag: &str) -> Mutation {
        Mutation::CreateObject {
            object: DataObject {
                id,
                bag: bag.to_owned(),
                size_bytes: id * 10,
                multihash: hash(id),
                accepted: false,
            },
        }
    }

    fn bucket(id: u64, operator: u64, bags: &[&str]) -> Mutation {
        Mutation::PutBucket {
            bucket: Bucket {
                id,
                operator_worker_id: operator,
                accepting_uploads: true,
                all_bags: false,
                bags: bags.iter().map(|b| (*b).to_owned()).collect(),
            },
        }
    }

    fn member(id: u64, controller: &str) -> Mutation {
        Mutation::PutMember {
            member: Member {
                id,
                controller: controller.to_owned(),
            },
        }
    }

    fn objects_in_bag(ledger: &EmbeddedLedger, bag: &str) -> Vec<DataObject> {
        let bag = BagId::parse_lenient(bag).expect("bag id");
        ledger.snapshot_with(SnapshotObjects::InBag(bag)).objects
    }

    fn open(dir: &Path) -> EmbeddedLedger {
        EmbeddedLedger::open(dir).expect("open ledger")
    }

    #[test]
    fn every_mutation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = open(dir.path());
        assert_eq!(ledger.snapshot(), LedgerSnapshot::default());
        assert_eq!(ledger.next_object_id(), 0);

        ledger
            .apply(Mutation::SetWorker { worker_id: 4 })
            .expect("set worker");
        assert_eq!(ledger.worker_id(), Some(4));
        ledger
            .apply(Mutation::SetAutoAccept { enabled: true })
            .expect("auto accept");
        assert!(ledger.auto_accept_uploads());

        // Bag ids are stored canonical whatever the spelling.
        ledger
            .apply(bucket(1, 4, &[" Static:Council", "dynamic:member:5"]))
            .expect("put bucket");
        ledger.apply(bucket(2, 9, &[])).expect("put other bucket");
        let one = ledger.bucket(1).expect("bucket 1");
        assert_eq!(one.bags, ["static:council", "dynamic:member:5"]);
        assert_eq!(ledger.operated_buckets(), vec![one]);
        assert!(ledger.bag_in_bucket("static:council", 1));
        assert!(!ledger.bag_in_bucket("static:council", 2));
        assert!(!ledger.bag_in_bucket("static:council", 3));

        ledger
            .apply(Mutation::AssignBag {
                bucket_id: 2,
                bag: "DYNAMIC:channel:8".to_owned(),
            })
            .expect("assign");
        assert!(ledger.bag_in_bucket("dynamic:channel:8", 2));
        ledger
            .apply(Mutation::UnassignBag {
                bucket_id: 2,
                bag: "dynamic:channel:8".to_owned(),
            })
            .expect("unassign");
        assert!(!ledger.bag_in_bucket("dynamic:channel:8", 2));
        ledger
            .apply(Mutation::RemoveBucket { id: 2 })
            .expect("remove bucket");
        assert_eq!(ledger.bucket(2), None);
        assert_eq!(ledger.bucket_count(), 1);

        let generic = ss58::encode(&[9; 32], ss58::SUBSTRATE_SS58_PREFIX).expect("encode");
        ledger.apply(member(1, &generic)).expect("put member");
        assert_eq!(ledger.member_controller(1), Some([9; 32]));
        assert_eq!(
            ledger.snapshot().members[0].controller,
            generic,
            "stored as given"
        );
        ledger.apply(member(2, &address(2))).expect("put member 2");
        ledger
            .apply(Mutation::RemoveMember { id: 2 })
            .expect("remove member");
        assert_eq!(ledger.member_controller(2), None);
        assert_eq!(ledger.member_count(), 1);

        ledger
            .apply(object(10, "dynamic:member:5"))
            .expect("create");
        ledger
            .apply(object(11, " dynamic:member:5 "))
            .expect("create");
        ledger.apply(object(12, "static:council")).expect("create");
        let ten = ledger.data_object(10).expect("object 10");
        assert_eq!(ten.multihash, hash(10));
        assert_eq!(ten.size_bytes, 100);
        assert!(!ten.accepted);
        assert_eq!(ledger.next_object_id(), 13);
        assert_eq!(ledger.object_count(), 3);
        let in_bag: Vec<u64> = objects_in_bag(&ledger, "dynamic:member:5")
            .iter()
            .map(|o| o.id)
            .collect();
        assert_eq!(in_bag, [10, 11]);
        assert_eq!(ledger.data_object(11).expect("11").bag, "dynamic:member:5");

        ledger.accept_object(10).expect("accept");
        assert!(ledger.data_object(10).expect("10").accepted);
        let lines = ledger.journal_lines();
        ledger.accept_object(10).expect("accepting twice is fine");
        assert_eq!(ledger.journal_lines(), lines, "and journals nothing");

        ledger
            .apply(Mutation::DeleteObject { id: 12 })
            .expect("delete");
        assert_eq!(ledger.data_object(12), None);
        assert!(objects_in_bag(&ledger, "static:council").is_empty());
        assert_eq!(ledger.next_object_id(), 12);
    }

    #[test]
    fn every_validation_error_changes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = open(dir.path());
        ledger.apply(bucket(1, 0, &[])).expect("bucket");
        ledger.apply(object(5, "static:council")).expect("object");
        let before = ledger.snapshot();
        let lines = ledger.journal_lines();

        let invalid = [
            bucket(2, 0, &["static:nonsense"]),
            Mutation::AssignBag {
                bucket_id: 1,
                bag: "dynamic:member:-1".to_owned(),
            },
            object(6, "council"),
            Mutation::CreateObject {
                object: DataObject {
                    id: 6,
                    bag: "static:council".to_owned(),
                    size_bytes: 1,
                    multihash: "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG".to_owned(),
                    accepted: false,
                },
            },
            member(1, "not an address"),
            member(1, &address(1)[1..]),
        ];
        for m in invalid {
            match ledger.apply(m.clone()) {
                Err(LedgerError::Invalid(_)) => {}
                other => panic!("{m:?}: expected Invalid, got {other:?}"),
            }
        }
        assert!(matches!(
            ledger.apply(object(5, "static:council")),
            Err(LedgerError::ObjectExists { id: 5 })
        ));
        let absent = [
            (Mutation::DeleteObject { id: 6 }, "data object", 6),
            (Mutation::AcceptObject { id: 6 }, "data object", 6),
            (Mutation::RemoveBucket { id: 2 }, "bucket", 2),
            (Mutation::RemoveMember { id: 1 }, "member", 1),
            (
                Mutation::AssignBag {
                    bucket_id: 2,
                    bag: "static:council".to_owned(),
                },
                "bucket",
                2,
            ),
            (
                Mutation::UnassignBag {
                    bucket_id: 2,
                    bag: "static:council".to_owned(),
                },
                "bucket",
                2,
            ),
            (
                Mutation::UnassignBag {
                    bucket_id: 1,
                    bag: "static:council".to_owned(),
                },
                "that bag's assignment to bucket",
                1,
            ),
        ];
        for (m, what_expected, id_expected) in absent {
            match ledger.apply(m.clone()) {
                Err(LedgerError::NotFound { what, id }) => {
                    assert_eq!((what, id), (what_expected, id_expected), "{m:?}")
                }
                other => panic!("{m:?}: expected NotFound, got {other:?}"),
            }
        }
        assert!(matches!(
            ledger.accept_object(77),
            Err(LedgerError::NotFound { id: 77, .. })
        ));
        assert_eq!(ledger.snapshot(), before);
        assert_eq!(ledger.journal_lines(), lines);
    }

    #[test]
    fn reopen_restores_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = open(dir.path());
        ledger
            .apply(Mutation::SetWorker { worker_id: 3 })
            .expect("apply");
        ledger
            .apply(bucket(0, 3, &["dynamic:channel:1"]))
            .expect("apply");
        ledger
            .apply(Mutation::AssignBag {
                bucket_id: 0,
                bag: "static:wg:storage".to_owned(),
            })
            .expect("apply");
        ledger.apply(member(4, &address(4))).expect("apply");
        for id in 0..20 {
            ledger
                .apply(object(id, "dynamic:channel:1"))
                .expect("apply");
        }
        ledger.accept_object(3).expect("accept");
        ledger
            .apply(Mutation::DeleteObject { id: 7 })
            .expect("delete");
        let before = ledger.snapshot();
        drop(ledger);

        let ledger = open(dir.path());
        assert_eq!(ledger.snapshot(), before);
        assert_eq!(ledger.member_controller(4), Some([4; 32]));
        assert_eq!(objects_in_bag(&ledger, "dynamic:channel:1").len(), 19);
        assert_eq!(ledger.open_report().truncated_bytes, 0);
    }

    #[test]
    fn accept_objects_journals_a_batch_once_and_answers_each_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = open(dir.path());
        for id in 1..=4 {
            ledger
                .apply(object(id, "dynamic:channel:1"))
                .expect("create");
        }
        ledger.accept_object(4).expect("accept 4 alone");
        let lines = ledger.journal_lines();
        // 2 twice, 99 unknown, 4 accepted already.
        let answers = ledger.accept_objects(&[1, 2, 2, 99, 3, 4]);
        let shown: Vec<String> = answers.iter().map(|a| format!("{a:?}")).collect();
        assert!(
            answers[0].is_ok() && answers[1].is_ok() && answers[2].is_ok(),
            "{shown:?}"
        );
        assert!(
            matches!(answers[3], Err(LedgerError::NotFound { id: 99, .. })),
            "{shown:?}"
        );
        assert!(answers[4].is_ok() && answers[5].is_ok(), "{shown:?}");
        // One line per object that changed: 1, 2 and 3.
        assert_eq!(ledger.journal_lines(), lines + 3);
        assert!(ledger.accept_objects(&[]).is_empty());
        drop(ledger);
        let ledger = open(dir.path());
        for id in 1..=4 {
            assert!(ledger.data_object(id).expect("object").accepted, "{id}");
        }
    }

    #[test]
    fn dev_seed_is_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = open(dir.path());
        ledger.seed_dev(0, &address(1)).expect("seed");
        assert_eq!(ledger.worker_id(), Some(0));
        assert!(ledger.auto_accept_uploads());
        assert!(ledger.bag_in_bucket("dynamic:member:123", 0));
        assert_eq!(ledger.operated_buckets().len(), 1);
        assert_eq!(ledger.member_controller(1), Some([1; 32]));
        let lines = ledger.journal_lines();
        assert_eq!(lines, 4);
        ledger.seed_dev(0, &address(1)).expect("seed again");
        assert_eq!(ledger.journal_lines(), lines);

        // A bag assigned since the last start survives the next seed.
        ledger
            .apply(Mutation::AssignBag {
                bucket_id: 0,
                bag: "static:council".to_owned(),
            })
            .expect("assign");
        drop(ledger);
        let ledger = open(dir.path());
        ledger.seed_dev(0, &address(1)).expect("seed after restart");
        assert_eq!(ledger.journal_lines(), lines + 1);
        assert_eq!(ledger.bucket(0).expect("bucket 0").bags, ["static:council"]);
    }

    #[test]
    fn compaction_shrinks_and_preserves_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = open(dir.path());
        ledger.set_compact_slack_lines(16);
        ledger.seed_dev(0, &address(1)).expect("seed");
        for i in 0..6 {
            ledger
                .apply(Mutation::AssignBag {
                    bucket_id: 0,
                    bag: format!("dynamic:channel:{i}"),
                })
                .expect("assign");
        }
        let mut max_lines = 0;
        for id in 0..60 {
            ledger.apply(object(id, "static:council")).expect("create");
            if id % 3 == 0 {
                ledger.accept_object(id).expect("accept");
            } else {
                ledger.apply(Mutation::DeleteObject { id }).expect("delete");
            }
            ledger
                .apply(Mutation::SetAutoAccept {
                    enabled: id % 2 == 0,
                })
                .expect("toggle");
            max_lines = max_lines.max(ledger.journal_lines());
        }
        let live = ledger.state.read().minimal_lines();
        assert_eq!(
            live,
            4 + 6 + 20 - 1,
            "worker, bucket, 6 bags, member, 20 objects"
        );
        assert!(
            max_lines <= 2 * 30 + 16 + 1,
            "compaction kept it bounded: {max_lines}"
        );
        let before = ledger.snapshot();
        ledger.compact().expect("compact");
        assert_eq!(ledger.journal_lines(), live);
        assert_eq!(ledger.snapshot(), before);
        drop(ledger);
        let ledger = open(dir.path());
        assert_eq!(ledger.snapshot(), before);
        assert_eq!(ledger.journal_lines(), live);
    }

    #[test]
    fn a_change_that_does_not_apply_is_corrupt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(JOURNAL_FILE);
        let (mut journal, _, _) = Journal::open(&path).expect("journal");
        journal
            .append(&object(1, "static:council"))
            .expect("append");
        journal
            .append(&object(1, "static:council"))
            .expect("append");
        drop(journal);
        match EmbeddedLedger::open(dir.path()) {
            Err(LedgerError::Corrupt { line, reason, .. }) => {
                assert_eq!(line, 3);
                assert!(reason.contains("already exists"), "{reason}");
            }
            Err(e) => panic!("expected Corrupt, got {e:?}"),
            Ok(_) => panic!("expected Corrupt, got a ledger"),
        }
    }

    #[test]
    fn concurrent_readers_while_applying() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = open(dir.path());
        ledger.apply(bucket(0, 0, &[])).expect("bucket");
        const OBJECTS: u64 = 200;
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    let mut seen = 0;
                    while seen < OBJECTS {
                        // Objects appear in id order, complete, and never disappear.
                        let count = ledger.object_count();
                        assert!(count >= seen);
                        seen = count;
                        if count > 0 {
                            let last = ledger.data_object(count - 1).expect("visible object");
                            assert_eq!(last.multihash, hash(count - 1));
                        }
                        let snapshot = ledger.snapshot();
                        assert!(snapshot.objects.len() as u64 >= count);
                        assert!(snapshot.objects.windows(2).all(|w| w[0].id < w[1].id));
                    }
                });
            }
            for id in 0..OBJECTS {
                ledger.apply(object(id, "static:council")).expect("create");
            }
        });
        assert_eq!(ledger.object_count(), OBJECTS);
    }

    #[test]
    fn a_snapshot_is_one_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = open(dir.path());
        const PAIRS: u64 = 200;
        std::thread::scope(|scope| {
            scope.spawn(|| loop {
                // Member n is put before object n, so one state has as many members as
                // objects, or one more; a snapshot read in two parts can have fewer.
                let snapshot = ledger.snapshot();
                let (members, objects) = (snapshot.members.len(), snapshot.objects.len());
                assert!(
                    objects <= members && members <= objects + 1,
                    "{members} members beside {objects} objects"
                );
                let bag = BagId::parse_lenient("static:council").expect("bag id");
                let snapshot = ledger.snapshot_with(SnapshotObjects::InBag(bag));
                let (members, objects) = (snapshot.members.len(), snapshot.objects.len());
                assert!(
                    objects <= members && members <= objects + 1,
                    "{members} members beside {objects} objects of the bag"
                );
                if objects as u64 == PAIRS {
                    break;
                }
            });
            for id in 0..PAIRS {
                let seed = u8::try_from(id).expect("fewer than 256 pairs");
                ledger.apply(member(id, &address(seed))).expect("member");
                ledger.apply(object(id, "static:council")).expect("object");
            }
        });
        let bare = ledger.snapshot_without_objects();
        assert!(bare.objects.is_empty());
        assert_eq!(bare.members.len() as u64, PAIRS);
        assert_eq!(bare.buckets, ledger.snapshot().buckets);
    }

    /// Replay speed for a million objects; run with
    /// `cargo test --release -p colossus --lib million -- --ignored --nocapture`.
    #[test]
    #[ignore = "slow in debug builds; a measurement, run it in release"]
    fn million_objects_open_quickly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(JOURNAL_FILE);
        let (mut journal, _, _) = Journal::open(&path).expect("journal");
        let started = Instant::now();
        journal
            .rewrite(
                (0..1_000_000u64).map(|id| object(id, &format!("dynamic:channel:{}", id % 1000))),
            )
            .expect("write");
        eprintln!("wrote 1M lines in {:?}", started.elapsed());
        drop(journal);
        let started = Instant::now();
        let ledger = open(dir.path());
        let elapsed = started.elapsed();
        eprintln!(
            "replayed {} objects in {elapsed:?}; journal {} bytes",
            ledger.object_count(),
            std::fs::metadata(&path).expect("stat").len()
        );
        assert_eq!(ledger.object_count(), 1_000_000);
        let started = Instant::now();
        ledger
            .apply(object(1_000_000, "static:council"))
            .expect("apply");
        eprintln!("one apply {:?}", started.elapsed());
        assert!(elapsed.as_secs() < 10, "{elapsed:?}");
    }
}
