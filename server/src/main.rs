//! The `colossus` binary: see `colossus --help` and README.md.

fn main() -> std::process::ExitCode {
    colossus::cli::main()
}
