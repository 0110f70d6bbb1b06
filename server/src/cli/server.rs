//! `colossus server`: (being written by the lead; placeholder so the CLI compiles).

use std::process::ExitCode;

/// Flags of `colossus server`.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {}

/// Runs the node until SIGINT/SIGTERM.
pub fn run(_args: ServerArgs) -> ExitCode {
    ExitCode::FAILURE
}
