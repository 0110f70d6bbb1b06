//! The `colossus` command line: `server` runs a node; `ledger` and `upload` drive a running
//! node over HTTP (`crate::client`); `multihash` and `verify-bag-id` work offline.
//! Contract: results on stdout; failures as one `error: ...` line on stderr with exit code 1
//! (usage errors exit 2, from clap); no panics.

pub mod ledger;
pub mod server;
pub mod tools;
pub mod upload;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::client::{is_token_text, ClientError, NodeClient, DEFAULT_NODE_URL};
use crate::config::layout;

/// Default data directory of `colossus server --data`.
pub const DEFAULT_DATA_DIR: &str = "./colossus-data";

/// Default admin token file: the token `colossus server` writes into its default data dir.
pub fn default_admin_token_file() -> PathBuf {
    Path::new(DEFAULT_DATA_DIR).join(layout::ADMIN_TOKEN_FILE)
}

/// Longest admin token file read (a token is a few dozen bytes).
const ADMIN_TOKEN_FILE_MAX_BYTES: u64 = 4096;

/// colossus-rs: a Joystream storage node on io_uring.
#[derive(Debug, Parser)]
#[command(name = "colossus", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the storage node.
    Server(server::ServerArgs),
    /// Reads and changes a node's embedded ledger through its admin API.
    Ledger(ledger::LedgerArgs),
    /// Uploads a file to a node: creates the data object in its ledger, gets an upload token
    /// as a member, streams the file.
    Upload(upload::UploadArgs),
    /// Prints the blake3 multihash of a file (the network's content address).
    Multihash(tools::MultihashArgs),
    /// Prints the canonical form of a bag id, or why it is not one.
    VerifyBagId(tools::VerifyBagIdArgs),
}

/// Parses the process arguments and runs the command.
pub fn main() -> ExitCode {
    run(Cli::parse())
}

/// Runs parsed arguments.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Server(args) => server::run(args),
        Command::Ledger(args) => ledger::run(args),
        Command::Upload(args) => upload::run(args),
        Command::Multihash(args) => tools::run_multihash(args),
        Command::VerifyBagId(args) => tools::run_verify_bag_id(args),
    }
}

/// A failed command, as the one line printed after `error: `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    message: String,
}

impl CliError {
    /// An error with this message (made one line when printed).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// Prefixes the message with context (`context: message`).
    pub fn context(self, context: impl fmt::Display) -> Self {
        Self::new(format!("{context}: {}", self.message))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        Self::new(e.to_string())
    }
}

/// `text` on one line: control characters (newlines from a node's message) become spaces.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Prints an error as one `error: ...` line and maps the result to an exit code.
pub fn report(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e.message));
            ExitCode::from(1)
        }
    }
}

/// How to reach a node and prove to be its admin (shared by `ledger` and `upload`).
#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs {
    /// Base URL of the node's HTTP API.
    #[arg(long, value_name = "URL", default_value = DEFAULT_NODE_URL, global = true)]
    pub node: String,
    /// File holding the node's admin token (`colossus server` writes it as
    /// `<data dir>/admin.token`).
    #[arg(
        long,
        value_name = "FILE",
        default_value_os_t = default_admin_token_file(),
        global = true
    )]
    pub admin_token_file: PathBuf,
}

impl NodeArgs {
    /// A client with the admin token from `--admin-token-file`.
    pub fn admin_client(&self) -> Result<NodeClient, CliError> {
        // A bad URL is reported before a missing token file.
        NodeClient::new(&self.node, None)?;
        let token = read_admin_token(&self.admin_token_file)?;
        Ok(NodeClient::new(&self.node, Some(token))?)
    }

    /// A client without admin rights (nothing read from disk).
    pub fn public_client(&self) -> Result<NodeClient, CliError> {
        Ok(NodeClient::new(&self.node, None)?)
    }
}

/// Reads an admin token file: its content, surrounding whitespace trimmed.
pub fn read_admin_token(path: &Path) -> Result<String, CliError> {
    use std::io::Read;
    let hint = "pass --admin-token-file <data dir>/admin.token of the node";
    let file = std::fs::File::open(path).map_err(|e| {
        CliError::new(format!(
            "cannot read the admin token file {}: {e}; {hint}",
            path.display()
        ))
    })?;
    let mut text = String::new();
    file.take(ADMIN_TOKEN_FILE_MAX_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| {
            CliError::new(format!(
                "cannot read the admin token file {}: {e}",
                path.display()
            ))
        })?;
    if text.len() as u64 > ADMIN_TOKEN_FILE_MAX_BYTES {
        return Err(CliError::new(format!(
            "the admin token file {} is larger than {ADMIN_TOKEN_FILE_MAX_BYTES} bytes; is it the right file?",
            path.display()
        )));
    }
    let token = text.trim();
    if token.is_empty() {
        return Err(CliError::new(format!(
            "the admin token file {} is empty; {hint}",
            path.display()
        )));
    }
    if !is_token_text(token) {
        return Err(CliError::new(format!(
            "the admin token in {} must be one word of printable ASCII",
            path.display()
        )));
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn subcommands_have_the_contract_names() {
        let names: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .collect();
        for name in ["server", "ledger", "upload", "multihash", "verify-bag-id"] {
            assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
        }
    }

    #[test]
    fn the_admin_token_file_default_is_in_the_servers_default_data_dir() {
        let command = Cli::command();
        let data_default = command
            .find_subcommand("server")
            .and_then(|server| server.get_arguments().find(|a| a.get_id() == "data"))
            .map(|data| data.get_default_values().to_vec());
        assert_eq!(data_default, Some(vec![DEFAULT_DATA_DIR.into()]));
        assert_eq!(
            default_admin_token_file(),
            PathBuf::from("./colossus-data/admin.token")
        );
    }

    #[test]
    fn admin_tokens_are_trimmed_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.token");
        std::fs::write(&path, "abc123\n").unwrap();
        assert_eq!(read_admin_token(&path).unwrap(), "abc123");
        std::fs::write(&path, " \n").unwrap();
        assert!(read_admin_token(&path)
            .unwrap_err()
            .to_string()
            .contains("is empty"));
        std::fs::write(&path, "two words").unwrap();
        assert!(read_admin_token(&path).is_err());
        let missing = read_admin_token(&dir.path().join("nope")).unwrap_err();
        assert!(missing
            .to_string()
            .contains("cannot read the admin token file"));
    }

    #[test]
    fn errors_print_on_one_line() {
        assert_eq!(one_line("a\nb\r\tc"), "a b  c");
    }
}
