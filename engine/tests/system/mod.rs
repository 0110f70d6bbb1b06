//! What the loop-mounted file system tests (disk_full, power_loss_shutdown) need from the
//! system: root tools found on PATH or in /sbin, skipping outside CI, and the process's open
//! files (why an unmount is busy).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Skips with a reason outside CI; fails under CI, which promises root and the tools.
pub fn skip_or_fail(reason: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("CI is set, so this test must run, but: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
}

/// Where `tool` is installed (PATH, then /sbin and /usr/sbin).
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/sbin", "/usr/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

/// Runs a tool; Ok is its trimmed stdout, Err carries the command line, status and stderr.
pub fn run_tool<S: AsRef<OsStr>>(tool: &str, args: &[S]) -> Result<String, String> {
    let path = which(tool).ok_or_else(|| format!("{tool} is not installed"))?;
    let output = Command::new(&path)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {tool}: {e}"))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).trim().to_string());
    }
    let args: Vec<_> = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    Err(format!(
        "`{tool} {}` failed ({}): {}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}

/// This process's descriptors on files under `dir` (deleted ones end in " (deleted)").
pub fn open_files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.starts_with(dir))
        .collect()
}
