//! `colossus ledger`: reads and changes a running node's embedded ledger through its admin
//! API. Each change is one `ledger::Mutation`, serialised by its own type, so the CLI and the
//! server cannot disagree on the wire format. Values are checked here first (bag ids, SS58
//! addresses, multihashes) for clearer errors; the node checks them again.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, ArgGroup, Subcommand};

use super::tools::{canonical_bag_id, hash_file, human_bytes};
use super::{report, CliError, NodeArgs};
use crate::auth::keys::{CryptoScheme, KeyPair};
use crate::auth::ss58;
use crate::client::NodeClient;
use crate::ledger::{Bucket, DataObject, LedgerSnapshot, Member, Mutation};

/// Flags of `colossus ledger`.
#[derive(Debug, clap::Args)]
pub struct LedgerArgs {
    /// The node and its admin token.
    #[command(flatten)]
    pub node: NodeArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: LedgerCommand,
}

/// Signature scheme of a key given by secret URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemeArg {
    /// sr25519 (the polkadot-js default).
    Sr25519,
    /// ed25519.
    Ed25519,
}

impl From<SchemeArg> for CryptoScheme {
    fn from(s: SchemeArg) -> Self {
        match s {
            SchemeArg::Sr25519 => CryptoScheme::Sr25519,
            SchemeArg::Ed25519 => CryptoScheme::Ed25519,
        }
    }
}

/// `colossus ledger` subcommands.
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Creates or replaces a member and its controller account.
    AddMember(AddMemberArgs),
    /// Removes a member.
    RemoveMember {
        /// Member id.
        #[arg(long, value_name = "N")]
        member_id: u64,
    },
    /// Creates a data object (pending until accepted, unless --accepted).
    CreateObject(CreateObjectArgs),
    /// Deletes a data object (the node drops its stored copy).
    DeleteObject {
        /// Data object id.
        #[arg(long, value_name = "N")]
        object_id: u64,
    },
    /// Marks a data object accepted.
    AcceptObject {
        /// Data object id.
        #[arg(long, value_name = "N")]
        object_id: u64,
    },
    /// Prints the ledger: worker, buckets, members and data objects.
    List {
        /// Only data objects of this bag.
        #[arg(long, value_name = "BAG")]
        bag: Option<String>,
        /// Print the node's JSON snapshot as is.
        #[arg(long)]
        json: bool,
    },
    /// Creates or updates a storage bucket (its assigned bags are kept).
    SetBucket(SetBucketArgs),
    /// Removes a storage bucket.
    RemoveBucket {
        /// Bucket id.
        #[arg(long, value_name = "N")]
        bucket_id: u64,
    },
    /// Assigns a bag to a bucket.
    AssignBag {
        /// Bucket id.
        #[arg(long, value_name = "N")]
        bucket_id: u64,
        /// Bag id.
        #[arg(long, value_name = "BAG")]
        bag: String,
    },
    /// Removes a bag from a bucket.
    UnassignBag {
        /// Bucket id.
        #[arg(long, value_name = "N")]
        bucket_id: u64,
        /// Bag id.
        #[arg(long, value_name = "BAG")]
        bag: String,
    },
    /// Sets the storage worker id this node operates as.
    SetWorker {
        /// Worker id.
        #[arg(long, value_name = "N")]
        worker_id: u64,
    },
    /// Sets whether uploaded objects are accepted at once (instead of staying pending).
    SetAutoAccept {
        /// true or false.
        #[arg(long, value_name = "BOOL", action = ArgAction::Set)]
        enabled: bool,
    },
}

/// Flags of `ledger add-member`.
#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("account").required(true).args(["controller", "controller_uri"])))]
pub struct AddMemberArgs {
    /// Member id.
    #[arg(long, value_name = "N")]
    pub member_id: u64,
    /// Controller account, SS58 address.
    #[arg(long, value_name = "SS58")]
    pub controller: Option<String>,
    /// Controller account given by secret URI instead (e.g. `//Bob`; development only).
    #[arg(long, value_name = "URI")]
    pub controller_uri: Option<String>,
    /// Scheme of --controller-uri's key.
    #[arg(long, value_enum, default_value_t = SchemeArg::Sr25519, requires = "controller_uri")]
    pub scheme: SchemeArg,
}

/// Flags of `ledger create-object`.
#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("content").required(true).args(["file", "size"])))]
pub struct CreateObjectArgs {
    /// Bag id.
    #[arg(long, value_name = "BAG")]
    pub bag: String,
    /// Data object id (default: the node's next unused id).
    #[arg(long, value_name = "N")]
    pub object_id: Option<u64>,
    /// Take size and hash from this file.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["size", "hash"])]
    pub file: Option<PathBuf>,
    /// Exact size in bytes (with --hash).
    #[arg(long, value_name = "BYTES", requires = "hash")]
    pub size: Option<u64>,
    /// blake3 multihash (`gW...`, see `colossus multihash`; with --size).
    #[arg(long, value_name = "MULTIHASH", requires = "size")]
    pub hash: Option<String>,
    /// Create it already accepted.
    #[arg(long)]
    pub accepted: bool,
}

/// Flags of `ledger set-bucket`.
#[derive(Debug, clap::Args)]
pub struct SetBucketArgs {
    /// Bucket id.
    #[arg(long, value_name = "N")]
    pub bucket_id: u64,
    /// Whether the bucket takes new uploads.
    #[arg(long, value_name = "BOOL", action = ArgAction::Set)]
    pub accepting: bool,
    /// Operating worker id (default: the bucket's current one, else this node's worker).
    #[arg(long, value_name = "N")]
    pub operator: Option<u64>,
    /// Every bag is assigned to it (`--all-bags` or `--all-bags true|false`; default: as
    /// before, false for a new bucket).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set)]
    pub all_bags: Option<bool>,
}

/// Runs `colossus ledger`.
pub fn run(args: LedgerArgs) -> ExitCode {
    report(execute(&args))
}

/// Runs `colossus ledger` and returns the failure instead of printing it.
pub fn execute(args: &LedgerArgs) -> Result<(), CliError> {
    match &args.command {
        LedgerCommand::List { bag, json } => list(&args.node, bag.as_deref(), *json),
        LedgerCommand::CreateObject(create) => create_object(&args.node, create),
        LedgerCommand::SetBucket(set) => set_bucket(&args.node.admin_client()?, set),
        other => {
            // Arguments are checked before the token is read or the node called.
            let mutation = simple_mutation(other)?;
            args.node.admin_client()?.apply_mutation(&mutation)?;
            println!("{}", describe(&mutation));
            Ok(())
        }
    }
}

fn set_bucket(client: &NodeClient, set: &SetBucketArgs) -> Result<(), CliError> {
    // Only the bucket and the worker id are needed, not the (possibly millions of) objects.
    let snapshot = client.ledger_without_objects()?;
    let bucket = bucket_to_put(&snapshot, set);
    if let Some(worker) = snapshot.worker_id {
        if bucket.operator_worker_id != worker {
            eprintln!(
                "note: bucket {} is operated by worker {}, but this node runs as worker \
                 {worker}; it will not serve it",
                bucket.id, bucket.operator_worker_id
            );
        }
    }
    let summary = format!(
        "bucket {} set: operator {}, accepting uploads {}, all bags {}, {} assigned bag(s)",
        bucket.id,
        bucket.operator_worker_id,
        yes_no(bucket.accepting_uploads),
        yes_no(bucket.all_bags),
        bucket.bags.len()
    );
    client.apply_mutation(&Mutation::PutBucket { bucket })?;
    println!("{summary}");
    Ok(())
}

/// The mutation of a subcommand that needs nothing from the node to build it.
pub fn simple_mutation(command: &LedgerCommand) -> Result<Mutation, CliError> {
    Ok(match command {
        LedgerCommand::AddMember(add) => Mutation::PutMember {
            member: Member {
                id: add.member_id,
                controller: controller_address(add)?,
            },
        },
        LedgerCommand::RemoveMember { member_id } => Mutation::RemoveMember { id: *member_id },
        LedgerCommand::DeleteObject { object_id } => Mutation::DeleteObject { id: *object_id },
        LedgerCommand::AcceptObject { object_id } => Mutation::AcceptObject { id: *object_id },
        LedgerCommand::RemoveBucket { bucket_id } => Mutation::RemoveBucket { id: *bucket_id },
        LedgerCommand::AssignBag { bucket_id, bag } => Mutation::AssignBag {
            bucket_id: *bucket_id,
            bag: canonical_bag_id(bag)?,
        },
        LedgerCommand::UnassignBag { bucket_id, bag } => Mutation::UnassignBag {
            bucket_id: *bucket_id,
            bag: canonical_bag_id(bag)?,
        },
        LedgerCommand::SetWorker { worker_id } => Mutation::SetWorker {
            worker_id: *worker_id,
        },
        LedgerCommand::SetAutoAccept { enabled } => Mutation::SetAutoAccept { enabled: *enabled },
        LedgerCommand::List { .. }
        | LedgerCommand::CreateObject(_)
        | LedgerCommand::SetBucket(_) => {
            return Err(CliError::new("this ledger command needs the node's state"))
        }
    })
}

fn controller_address(add: &AddMemberArgs) -> Result<String, CliError> {
    if let Some(uri) = &add.controller_uri {
        let pair = KeyPair::from_uri(uri, add.scheme.into())
            .map_err(|e| CliError::new(format!("invalid --controller-uri: {e}")))?;
        return Ok(pair.public_key().to_joystream_address());
    }
    let address = add.controller.as_deref().unwrap_or_default();
    ss58::decode(address).map_err(|e| {
        CliError::new(format!(
            "--controller {address:?} is not an SS58 address: {e}"
        ))
    })?;
    Ok(address.to_owned())
}

/// The bucket `set-bucket` writes: the flags over the bucket as it is (bags kept).
pub fn bucket_to_put(snapshot: &LedgerSnapshot, set: &SetBucketArgs) -> Bucket {
    let existing = snapshot.buckets.iter().find(|b| b.id == set.bucket_id);
    Bucket {
        id: set.bucket_id,
        operator_worker_id: set
            .operator
            .or(existing.map(|b| b.operator_worker_id))
            .or(snapshot.worker_id)
            .unwrap_or(0),
        accepting_uploads: set.accepting,
        all_bags: set
            .all_bags
            .or(existing.map(|b| b.all_bags))
            .unwrap_or(false),
        bags: existing.map(|b| b.bags.clone()).unwrap_or_default(),
    }
}

fn create_object(node: &NodeArgs, create: &CreateObjectArgs) -> Result<(), CliError> {
    let bag = canonical_bag_id(&create.bag)?;
    let client = node.admin_client()?;
    let (size_bytes, multihash) = match (&create.file, create.size, &create.hash) {
        (Some(path), _, _) => {
            let (multihash, size) = hash_file(path, &format!("hashing {}", path.display()))?;
            (size, multihash)
        }
        (None, Some(size), Some(hash)) => {
            colossus_engine::multihash::decode(hash)
                .map_err(|e| CliError::new(format!("--hash {hash:?}: {e}")))?;
            (size, hash.clone())
        }
        _ => return Err(CliError::new("give --file, or --size with --hash")),
    };
    let id = match create.object_id {
        Some(id) => id,
        None => client.next_object_id()?,
    };
    let object = DataObject {
        id,
        bag,
        size_bytes,
        multihash,
        accepted: create.accepted,
    };
    let mutation = Mutation::CreateObject { object };
    client.apply_mutation(&mutation)?;
    println!("{}", describe(&mutation));
    Ok(())
}

/// One line saying what a mutation did.
pub fn describe(mutation: &Mutation) -> String {
    match mutation {
        Mutation::SetWorker { worker_id } => format!("worker set to {worker_id}"),
        Mutation::SetAutoAccept { enabled } => {
            format!(
                "auto-accept of uploads {}",
                if *enabled { "on" } else { "off" }
            )
        }
        Mutation::PutBucket { bucket } => format!("bucket {} set", bucket.id),
        Mutation::RemoveBucket { id } => format!("bucket {id} removed"),
        Mutation::AssignBag { bucket_id, bag } => {
            format!("bag {bag} assigned to bucket {bucket_id}")
        }
        Mutation::UnassignBag { bucket_id, bag } => {
            format!("bag {bag} removed from bucket {bucket_id}")
        }
        Mutation::PutMember { member } => {
            format!("member {} controlled by {}", member.id, member.controller)
        }
        Mutation::RemoveMember { id } => format!("member {id} removed"),
        Mutation::CreateObject { object } => format!(
            "object {} created in {} ({} bytes, {}{})",
            object.id,
            object.bag,
            object.size_bytes,
            object.multihash,
            if object.accepted { ", accepted" } else { "" }
        ),
        Mutation::DeleteObject { id } => format!("object {id} deleted"),
        Mutation::AcceptObject { id } => format!("object {id} accepted"),
    }
}

fn list(node: &NodeArgs, bag: Option<&str>, json: bool) -> Result<(), CliError> {
    let bag = bag.map(canonical_bag_id).transpose()?;
    let client = node.admin_client()?;
    let snapshot = client.ledger_snapshot(bag.as_deref())?;
    if json {
        let text = serde_json::to_string_pretty(&snapshot)
            .map_err(|e| CliError::new(format!("cannot print the snapshot: {e}")))?;
        println!("{text}");
    } else {
        print!("{}", render_snapshot(&snapshot, bag.as_deref()));
    }
    Ok(())
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// The snapshot as text tables: settings, buckets, members, objects.
pub fn render_snapshot(snapshot: &LedgerSnapshot, bag: Option<&str>) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "worker: {}   auto-accept uploads: {}\n",
        snapshot
            .worker_id
            .map_or_else(|| "(not set)".to_owned(), |w| w.to_string()),
        yes_no(snapshot.auto_accept_uploads)
    ));
    out.push_str(&format!("\nbuckets ({}):\n", snapshot.buckets.len()));
    if !snapshot.buckets.is_empty() {
        let rows: Vec<Vec<String>> = snapshot
            .buckets
            .iter()
            .map(|b| {
                let bags = match (b.all_bags, b.bags.is_empty()) {
                    (true, true) => "(all)".to_owned(),
                    (true, false) => format!("(all) {}", b.bags.join(" ")),
                    (false, true) => "-".to_owned(),
                    (false, false) => b.bags.join(" "),
                };
                vec![
                    b.id.to_string(),
                    b.operator_worker_id.to_string(),
                    yes_no(b.accepting_uploads).to_owned(),
                    bags,
                ]
            })
            .collect();
        out.push_str(&table(&["ID", "OPERATOR", "ACCEPTING", "BAGS"], &rows));
    }
    out.push_str(&format!("\nmembers ({}):\n", snapshot.members.len()));
    if !snapshot.members.is_empty() {
        let rows: Vec<Vec<String>> = snapshot
            .members
            .iter()
            .map(|m| vec![m.id.to_string(), m.controller.clone()])
            .collect();
        out.push_str(&table(&["ID", "CONTROLLER"], &rows));
    }
    let total_bytes: u64 = snapshot.objects.iter().map(|o| o.size_bytes).sum();
    out.push_str(&format!(
        "\nobjects{} ({}, {}):\n",
        bag.map(|b| format!(" in {b}")).unwrap_or_default(),
        snapshot.objects.len(),
        human_bytes(total_bytes)
    ));
    if !snapshot.objects.is_empty() {
        let rows: Vec<Vec<String>> = snapshot
            .objects
            .iter()
            .map(|o| {
                vec![
                    o.id.to_string(),
                    o.bag.clone(),
                    o.size_bytes.to_string(),
                    o.multihash.clone(),
                    yes_no(o.accepted).to_owned(),
                ]
            })
            .collect();
        out.push_str(&table(
            &["ID", "BAG", "SIZE", "MULTIHASH", "ACCEPTED"],
            &rows,
        ));
    }
    out
}

/// Left-aligned columns separated by two spaces, last column unpadded.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::from("  ");
        for (i, cell) in cells.enumerate() {
            if i + 1 < widths.len() {
                text.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            } else {
                text.push_str(cell);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut headers.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<LedgerArgs, clap::Error> {
        let mut argv = vec!["colossus", "ledger"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv)?.command {
            Command::Ledger(l) => Ok(l),
            other => panic!("parsed as {other:?}"),
        }
    }

    const ALICE: &str = "j4W7rVcUCxi2crhhjRq46fNDRbVHTjJrz6bKxZwehEMQxZeSf";

    #[test]
    fn contract_flags_parse() {
        let l = parse(&[
            "--node",
            "http://n:1",
            "--admin-token-file",
            "t",
            "add-member",
            "--member-id",
            "3",
            "--controller",
            ALICE,
        ])
        .unwrap();
        assert_eq!(l.node.node, "http://n:1");
        assert_eq!(l.node.admin_token_file, PathBuf::from("t"));
        assert_eq!(
            simple_mutation(&l.command).unwrap(),
            Mutation::PutMember {
                member: Member {
                    id: 3,
                    controller: ALICE.to_owned()
                }
            }
        );
        // Node flags are accepted after the subcommand too, and have defaults.
        let l = parse(&["delete-object", "--object-id", "9", "--node", "http://x:2"]).unwrap();
        assert_eq!(l.node.node, "http://x:2");
        assert_eq!(
            l.node.admin_token_file,
            PathBuf::from("./colossus-data/admin.token")
        );
        assert_eq!(
            simple_mutation(&l.command).unwrap(),
            Mutation::DeleteObject { id: 9 }
        );
        let l = parse(&["list", "--bag", "dynamic:member:1"]).unwrap();
        assert!(matches!(
            l.command,
            LedgerCommand::List {
                bag: Some(_),
                json: false
            }
        ));
        assert_eq!(parse(&[]).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn create_object_needs_a_file_or_size_and_hash() {
        assert!(parse(&[
            "create-object",
            "--bag",
            "static:council",
            "--object-id",
            "1"
        ])
        .is_err());
        assert!(parse(&["create-object", "--bag", "b", "--size", "3"]).is_err());
        assert!(parse(&[
            "create-object",
            "--bag",
            "b",
            "--file",
            "f",
            "--size",
            "3",
            "--hash",
            "h"
        ])
        .is_err());
        let l = parse(&[
            "create-object",
            "--bag",
            "static:council",
            "--object-id",
            "1",
            "--size",
            "3",
            "--hash",
            "gW",
        ])
        .unwrap();
        assert!(matches!(
            l.command,
            LedgerCommand::CreateObject(CreateObjectArgs {
                object_id: Some(1),
                size: Some(3),
                ..
            })
        ));
        assert!(parse(&["create-object", "--bag", "b", "--file", "f"]).is_ok());
    }

    #[test]
    fn add_member_checks_the_controller() {
        let l = parse(&["add-member", "--member-id", "1", "--controller", "nope"]).unwrap();
        assert!(simple_mutation(&l.command)
            .unwrap_err()
            .to_string()
            .contains("SS58"));
        let l = parse(&[
            "add-member",
            "--member-id",
            "1",
            "--controller-uri",
            "//Alice",
        ])
        .unwrap();
        assert_eq!(
            simple_mutation(&l.command).unwrap(),
            Mutation::PutMember {
                member: Member {
                    id: 1,
                    controller: ALICE.to_owned()
                }
            }
        );
        assert!(parse(&["add-member", "--member-id", "1"]).is_err());
    }

    #[test]
    fn bags_are_canonicalised_and_bools_are_explicit() {
        let l = parse(&[
            "assign-bag",
            "--bucket-id",
            "0",
            "--bag",
            "DYNAMIC:member:7",
        ])
        .unwrap();
        assert_eq!(
            simple_mutation(&l.command).unwrap(),
            Mutation::AssignBag {
                bucket_id: 0,
                bag: "dynamic:member:7".to_owned()
            }
        );
        let l = parse(&["assign-bag", "--bucket-id", "0", "--bag", "dynamic:x:7"]).unwrap();
        assert!(simple_mutation(&l.command).is_err());
        let l = parse(&["set-auto-accept", "--enabled", "false"]).unwrap();
        assert_eq!(
            simple_mutation(&l.command).unwrap(),
            Mutation::SetAutoAccept { enabled: false }
        );
        assert!(parse(&["set-auto-accept", "--enabled"]).is_err());
        assert!(parse(&["set-bucket", "--bucket-id", "0"]).is_err());
    }

    #[test]
    fn set_bucket_keeps_what_it_does_not_change() {
        let snapshot = LedgerSnapshot {
            worker_id: Some(4),
            buckets: vec![Bucket {
                id: 1,
                operator_worker_id: 2,
                accepting_uploads: false,
                all_bags: true,
                bags: vec!["static:council".to_owned()],
            }],
            ..LedgerSnapshot::default()
        };
        let set = |args: &[&str]| match parse(args).unwrap().command {
            LedgerCommand::SetBucket(s) => bucket_to_put(&snapshot, &s),
            _ => unreachable!(),
        };
        let b = set(&["set-bucket", "--bucket-id", "1", "--accepting", "true"]);
        assert_eq!(
            (
                b.operator_worker_id,
                b.accepting_uploads,
                b.all_bags,
                b.bags.len()
            ),
            (2, true, true, 1)
        );
        let b = set(&[
            "set-bucket",
            "--bucket-id",
            "1",
            "--accepting",
            "true",
            "--all-bags",
            "false",
        ]);
        assert!(!b.all_bags);
        let b = set(&[
            "set-bucket",
            "--bucket-id",
            "9",
            "--accepting",
            "true",
            "--all-bags",
        ]);
        assert_eq!(
            (b.id, b.operator_worker_id, b.all_bags, b.bags.len()),
            (9, 4, true, 0)
        );
        let b = set(&[
            "set-bucket",
            "--bucket-id",
            "9",
            "--accepting",
            "false",
            "--operator",
            "7",
        ]);
        assert_eq!((b.operator_worker_id, b.all_bags), (7, false));
    }

    #[test]
    fn snapshots_render_as_tables() {
        let snapshot = LedgerSnapshot {
            worker_id: Some(0),
            auto_accept_uploads: true,
            buckets: vec![Bucket {
                id: 0,
                operator_worker_id: 0,
                accepting_uploads: true,
                all_bags: true,
                bags: vec![],
            }],
            members: vec![Member {
                id: 1,
                controller: ALICE.to_owned(),
            }],
            objects: vec![DataObject {
                id: 12,
                bag: "dynamic:member:1".to_owned(),
                size_bytes: 2048,
                multihash: "gW9T5gSXhgQB5LaqmnJrLVVpHawhM7youzHnuY6HyGBDy3".to_owned(),
                accepted: false,
            }],
        };
        let text = render_snapshot(&snapshot, None);
        assert!(
            text.starts_with("worker: 0   auto-accept uploads: yes\n"),
            "{text}"
        );
        assert!(
            text.contains("  ID  OPERATOR  ACCEPTING  BAGS\n  0   0         yes        (all)\n"),
            "{text}"
        );
        assert!(text.contains("objects (1, 2.0 KiB):\n"), "{text}");
        assert!(text.contains(
            "  12  dynamic:member:1  2048  gW9T5gSXhgQB5LaqmnJrLVVpHawhM7youzHnuY6HyGBDy3  no\n"
        ), "{text}");
        let empty = render_snapshot(&LedgerSnapshot::default(), Some("static:council"));
        assert!(empty.contains("worker: (not set)"));
        assert!(empty.contains("objects in static:council (0, 0 B):"));
    }
}
