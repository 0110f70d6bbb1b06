//! The `colossus` command line (being written).

pub mod server;

pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
