//! Scenarios set up in a child process that then ends as a crash would, for the parent to
//! reopen the store: the test binary runs itself again, one test only, with an environment
//! variable naming the store's directory.

use std::path::Path;
use std::process::Command;

/// In the parent: runs this binary again for `test_name` alone with `env_key` set to `dir`,
/// and asserts the child succeeded. In that child (the variable set), runs
/// `set_up_and_crash` on the directory instead, which never returns.
pub fn crash_in_child(
    test_name: &str,
    env_key: &str,
    dir: &Path,
    set_up_and_crash: fn(&Path) -> !,
) {
    if let Some(child_dir) = std::env::var_os(env_key) {
        set_up_and_crash(Path::new(&child_dir));
    }
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test_name, "--nocapture"])
        .env(env_key, dir)
        .status()
        .unwrap();
    assert!(status.success(), "the child failed: {status}");
}

/// Ends the process at once, as a kill -9 would: no destructor runs, nothing is closed or
/// flushed (the page cache keeps every write), tasks stay where they are.
pub fn exit_as_if_killed() -> ! {
    // SAFETY: _exit only ends the process; nothing runs after it that could see a broken
    // state.
    unsafe { libc::_exit(0) }
}
