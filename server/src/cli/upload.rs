//! `colossus upload`: the whole path of a file into a node, as a Joystream app does it:
//! the data object is created in the node's ledger (admin API; on the real network the chain
//! does this), a member asks the node for an upload token (a signed /authToken request), and
//! the file is streamed to POST /api/v1/files. Prints `object <id> <multihash>`.
//! Cheap checks and network look-ups come before hashing, so a wrong flag or an unreachable
//! node fails fast even for a big file.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::ledger::SchemeArg;
use super::tools::{canonical_bag_id, hash_file, Progress};
use super::{report, CliError, NodeArgs};
use crate::auth::keys::KeyPair;
use crate::client::{token_request_body, ClientError, NodeClient, UploadTarget};
use crate::ledger::{DataObject, Mutation};

/// Tries at creating the object under a fresh id when another client took the id first.
const CREATE_ATTEMPTS_MAX: u32 = 5;

/// Flags of `colossus upload`.
#[derive(Debug, clap::Args)]
pub struct UploadArgs {
    /// The node and its admin token.
    #[command(flatten)]
    pub node: NodeArgs,
    /// Bag the object belongs to.
    #[arg(long, value_name = "BAG")]
    pub bag: String,
    /// The file to upload.
    #[arg(long, value_name = "PATH")]
    pub file: PathBuf,
    /// Data object id (default: the node's next unused id).
    #[arg(long, value_name = "N")]
    pub object_id: Option<u64>,
    /// The object already exists in the node's ledger: do not create it (no admin token
    /// needed).
    #[arg(long, requires = "object_id")]
    pub existing: bool,
    /// Member asking for the upload token.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub member_id: u64,
    /// Secret URI of the member's controller key (development keys like `//Alice`; the value
    /// is visible to other local users in the process list).
    #[arg(long, value_name = "URI", default_value = "//Alice")]
    pub member_uri: String,
    /// Scheme of the member's key.
    #[arg(long, value_enum, default_value_t = SchemeArg::Sr25519)]
    pub member_scheme: SchemeArg,
    /// Storage bucket to upload into (default: the first of the node's upload buckets).
    #[arg(long, value_name = "N")]
    pub bucket_id: Option<u64>,
    /// Send no upload token (nodes run with --disable-upload-auth).
    #[arg(long)]
    pub no_token: bool,
}

/// Runs `colossus upload`.
pub fn run(args: UploadArgs) -> ExitCode {
    report(execute(&args).map(|(id, multihash)| println!("object {id} {multihash}")))
}

/// Runs `colossus upload`; returns the object id and the multihash the node answered.
pub fn execute(args: &UploadArgs) -> Result<(u64, String), CliError> {
    // Local checks first.
    let bag = canonical_bag_id(&args.bag)?;
    let metadata = std::fs::metadata(&args.file)
        .map_err(|e| CliError::new(format!("cannot open {}: {e}", args.file.display())))?;
    if !metadata.is_file() {
        return Err(CliError::new(format!(
            "{} is not a regular file",
            args.file.display()
        )));
    }
    let member_key = if args.no_token {
        None
    } else {
        Some(
            KeyPair::from_uri(&args.member_uri, args.member_scheme.into())
                .map_err(|e| CliError::new(format!("invalid --member-uri: {e}")))?,
        )
    };
    let client = if args.existing {
        args.node.public_client()?
    } else {
        args.node.admin_client()?
    };

    // Then what the node must tell us.
    let bucket_id = match args.bucket_id {
        Some(id) => id,
        None => default_bucket(&client)?,
    };
    let mut object_id = match args.object_id {
        Some(id) => id,
        None => client.next_object_id()?,
    };

    let label = format!("hashing {}", args.file.display());
    let (multihash, size_bytes) = hash_file(&args.file, &label)?;

    if !args.existing {
        object_id = create_object(&client, args, object_id, &bag, size_bytes, &multihash)?;
    }
    match send(
        &client,
        args,
        member_key.as_ref(),
        object_id,
        bucket_id,
        &bag,
        size_bytes,
    ) {
        Ok(answered) => check_answer(object_id, answered, &multihash),
        // The object was there before: it is not ours to remove.
        Err(failure) if args.existing => Err(failure.error),
        Err(failure) => Err(roll_back(&client, object_id, failure)),
    }
}

/// Why getting a token or sending the file failed.
struct SendFailure {
    error: CliError,
    /// The node answered an error status: it stored nothing.
    refused: bool,
}

impl SendFailure {
    fn from_client(e: ClientError, context: String) -> Self {
        Self {
            refused: matches!(e, ClientError::Http { .. }),
            error: CliError::from(e).context(context),
        }
    }
}

/// Gets the upload token (unless --no-token) and streams the file; returns the answered id.
fn send(
    client: &NodeClient,
    args: &UploadArgs,
    member_key: Option<&KeyPair>,
    object_id: u64,
    bucket_id: u64,
    bag: &str,
    size_bytes: u64,
) -> Result<String, SendFailure> {
    let token = match member_key {
        None => None,
        Some(key) => {
            let context = format!(
                "upload token for member {} (object {object_id}, bucket {bucket_id})",
                args.member_id
            );
            let token = token_request_body(key, args.member_id, object_id, bucket_id, bag)
                .and_then(|body| client.auth_token(&body))
                .map_err(|e| SendFailure::from_client(e, context))?;
            Some(token)
        }
    };
    let target = UploadTarget {
        object_id,
        bucket_id,
        bag,
        token: token.as_deref(),
    };
    let mut progress = Progress::new("upload", size_bytes, Duration::ZERO);
    let mut last_sent = 0;
    let answered = client.upload_file(&target, &args.file, &mut |sent, _total| {
        last_sent = sent;
        progress.update(sent);
    });
    match answered {
        Ok(answered) => {
            progress.finish(last_sent);
            Ok(answered)
        }
        Err(e) => {
            progress.abandon();
            Err(SendFailure::from_client(e, format!("object {object_id}")))
        }
    }
}

/// The node's multihash must be the file's: anything else means the file changed meanwhile.
fn check_answer(
    object_id: u64,
    answered: String,
    multihash: &str,
) -> Result<(u64, String), CliError> {
    if answered != multihash {
        return Err(CliError::new(format!(
            "object {object_id}: the node answered multihash {answered}, but the file hashes \
             to {multihash} (did the file change while uploading?)"
        )));
    }
    Ok((object_id, answered))
}

/// After a failure, removes the object this command created when the node surely stored
/// nothing (it answered an error); otherwise (connection lost: the upload may have landed)
/// keeps it and says how to retry.
fn roll_back(client: &NodeClient, object_id: u64, failure: SendFailure) -> CliError {
    let retry = format!(
        "object {object_id} stays in the ledger: retry with --object-id {object_id} --existing"
    );
    if !failure.refused {
        return CliError::new(format!("{}; {retry}", failure.error));
    }
    match client.apply_mutation(&Mutation::DeleteObject { id: object_id }) {
        Ok(()) => CliError::new(format!(
            "{} (object {object_id} was removed from the ledger again)",
            failure.error
        )),
        Err(_) => CliError::new(format!("{}; {retry}", failure.error)),
    }
}

/// The first of the node's upload buckets (GET /api/v1/status).
fn default_bucket(client: &NodeClient) -> Result<u64, CliError> {
    let status = client.status()?;
    let first = status.upload_buckets.first().ok_or_else(|| {
        CliError::new(format!(
            "the node at {} has no bucket accepting uploads (status.uploadBuckets is empty); \
             set one up with `colossus ledger set-bucket` or pass --bucket-id",
            client.base()
        ))
    })?;
    first.trim().parse().map_err(|_| {
        CliError::new(format!(
            "the node's status lists upload bucket {first:?}, which is not a number; pass --bucket-id"
        ))
    })
}

/// Creates the data object; when its id was not given and another client took it meanwhile
/// (409), retries with the next free id. Returns the id used.
fn create_object(
    client: &NodeClient,
    args: &UploadArgs,
    first_id: u64,
    bag: &str,
    size_bytes: u64,
    multihash: &str,
) -> Result<u64, CliError> {
    let mut id = first_id;
    let mut attempt = 1;
    loop {
        let mutation = Mutation::CreateObject {
            object: DataObject {
                id,
                bag: bag.to_owned(),
                size_bytes,
                multihash: multihash.to_owned(),
                accepted: false,
            },
        };
        match client.apply_mutation(&mutation) {
            Ok(()) => return Ok(id),
            Err(ClientError::Http { status: 409, .. })
                if args.object_id.is_none() && attempt < CREATE_ATTEMPTS_MAX =>
            {
                attempt += 1;
                id = client.next_object_id()?;
            }
            Err(e @ ClientError::Http { status: 409, .. }) => {
                let hint = if args.object_id.is_some() {
                    "; pass --existing to upload into it, or another --object-id"
                } else {
                    ""
                };
                return Err(CliError::new(format!("creating object {id}: {e}{hint}")));
            }
            Err(e) => return Err(CliError::from(e).context(format!("creating object {id}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<UploadArgs, clap::Error> {
        let mut argv = vec!["colossus", "upload"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv)?.command {
            Command::Upload(u) => Ok(u),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn contract_flags_and_defaults() {
        let u = parse(&["--bag", "static:council", "--file", "f.bin"]).unwrap();
        assert_eq!(u.node.node, "http://127.0.0.1:3333");
        assert_eq!(u.member_id, 1);
        assert_eq!(u.member_uri, "//Alice");
        assert_eq!(u.member_scheme, SchemeArg::Sr25519);
        assert_eq!(
            (u.object_id, u.bucket_id, u.no_token, u.existing),
            (None, None, false, false)
        );
        let u = parse(&[
            "--node",
            "http://h:9",
            "--bag",
            "dynamic:member:2",
            "--file",
            "f",
            "--object-id",
            "5",
            "--member-id",
            "2",
            "--member-uri",
            "//Bob",
            "--bucket-id",
            "3",
            "--admin-token-file",
            "tok",
            "--no-token",
        ])
        .unwrap();
        assert_eq!(
            (u.object_id, u.bucket_id, u.member_id, u.no_token),
            (Some(5), Some(3), 2, true)
        );
        assert_eq!(u.node.admin_token_file, PathBuf::from("tok"));
        assert_eq!(parse(&["--file", "f"]).unwrap_err().exit_code(), 2);
        assert!(parse(&["--bag", "b", "--file", "f", "--existing"]).is_err());
    }

    #[test]
    fn local_mistakes_fail_before_the_network() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.bin");
        std::fs::write(&file, b"abc").unwrap();
        let file_arg = file.to_str().unwrap();
        let err = |args: &[&str]| execute(&parse(args).unwrap()).unwrap_err().to_string();
        assert!(err(&["--bag", "nope", "--file", file_arg]).contains("not a valid bag id"));
        assert!(
            err(&["--bag", "static:council", "--file", "/nonexistent/x"]).contains("cannot open")
        );
        assert!(err(&[
            "--bag",
            "static:council",
            "--file",
            file_arg,
            "--member-uri",
            "//"
        ])
        .contains("invalid --member-uri"));
        let missing_token = dir.path().join("none.token");
        assert!(err(&[
            "--bag",
            "static:council",
            "--file",
            file_arg,
            "--admin-token-file",
            missing_token.to_str().unwrap(),
            "--node",
            "http://127.0.0.1:1"
        ])
        .contains("admin token file"));
    }
}
