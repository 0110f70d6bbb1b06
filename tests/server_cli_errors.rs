//! `colossus server` refuses to start, quickly, with a non-zero exit and one clear line on
//! stderr: bad flags, a data directory locked by a running node or not a colossus data
//! directory, an address in use. Help exits 0.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// How a refused start ended.
struct Refusal {
    code: Option<i32>,
    stderr: String,
    stdout: String,
}

impl Refusal {
    /// One line, `error: ...`, exit status 1.
    fn assert_one_error_line(&self, mentions: &[&str]) {
        let line = one_error_line(self.code, &self.stderr);
        for word in mentions {
            assert!(
                line.to_lowercase().contains(&word.to_lowercase()),
                "{line:?} does not mention {word:?}"
            );
        }
        assert!(
            !self.stdout.contains("listening on"),
            "it listened: {}",
            self.stdout
        );
    }
}

/// Runs `colossus <args>` to its end (at most 15 s).
fn run(args: &[&str]) -> Refusal {
    let mut child = Command::new(binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn colossus");
    let started = Instant::now();
    let status = wait_timeout(&mut child, Duration::from_secs(15));
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("colossus {args:?} was still running after 15 s");
    };
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "colossus {args:?} took {:?} to give up",
        started.elapsed()
    );
    let mut stderr = String::new();
    let mut stdout = String::new();
    use std::io::Read as _;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    Refusal {
        code: status.code(),
        stderr,
        stdout,
    }
}

/// `colossus server --data <data> --listen 127.0.0.1:0 <extra>`.
fn server(data: &Path, extra: &[&str]) -> Refusal {
    server_on(data, "127.0.0.1:0", extra)
}

/// `colossus server --data <data> --listen <listen> <extra>`, with `--threads 1` unless
/// `extra` sets it.
fn server_on(data: &Path, listen: &str, extra: &[&str]) -> Refusal {
    let data = data.to_str().unwrap();
    let mut args = vec!["server", "--data", data, "--listen", listen];
    if !extra.iter().any(|a| a.starts_with("--threads")) {
        args.extend(["--threads", "1"]);
    }
    args.extend_from_slice(extra);
    run(&args)
}

/// A clap usage error: exit 2, naming the flag.
fn assert_usage_error(refusal: &Refusal, flag: &str) {
    assert_eq!(refusal.code, Some(2), "stderr: {}", refusal.stderr);
    assert!(refusal.stderr.contains(flag), "{}", refusal.stderr);
    assert!(refusal.stderr.starts_with("error:"), "{}", refusal.stderr);
}

#[test]
fn bad_flags() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    assert_usage_error(&server(&data, &["--threads", "abc"]), "--threads");
    assert_usage_error(&server(&data, &["--threads=-1"]), "--threads");
    assert_usage_error(&server(&data, &["--no-such-flag"]), "--no-such-flag");
    assert_usage_error(
        &server(&data, &["--max-object-size", "big"]),
        "--max-object-size",
    );
    assert_usage_error(&run(&["server", "--listen", "not-an-address"]), "--listen");
    assert_usage_error(
        &server(&data, &["--key-uri", "//Bob", "--key-file", "/nonexistent"]),
        "--key",
    );
    // Values clap accepts but the node does not: one line of ours, exit 1.
    server(&data, &["--threads", "0"]).assert_one_error_line(&["--threads"]);
    server(&data, &["--max-header-size", "10"]).assert_one_error_line(&["--max-header-size"]);
    server(&data, &["--idle-timeout-ms", "0"]).assert_one_error_line(&["--idle-timeout-ms"]);
    server(&data, &["--max-json-body", "0"]).assert_one_error_line(&["--max-json-body"]);
    server(&data, &["--max-upload-tokens", "0"]).assert_one_error_line(&["--max-upload-tokens"]);
    server(&data, &["--prezeroed-segments", "17"]).assert_one_error_line(&["--prezeroed-segments"]);
    server(&data, &["--hash-threads", "65"]).assert_one_error_line(&["--hash-threads"]);
    server(&data, &["--write-buffers-per-core", "1025"])
        .assert_one_error_line(&["--write-buffers-per-core"]);
    server(&data, &["--key-uri", "not a key"]).assert_one_error_line(&["key"]);
    server(&data, &["--key-file", "/nonexistent/key"]).assert_one_error_line(&["--key-file"]);
    // None of these touched the data directory.
    assert!(!data.exists(), "a refused start created {}", data.display());
}

#[test]
fn help_exits_zero() {
    for args in [
        &["--help"][..],
        &["server", "--help"],
        &["help", "server"],
        &["--version"],
    ] {
        let output = Command::new(binary())
            .args(args)
            .output()
            .expect("run colossus");
        assert!(output.status.success(), "{args:?}: {output:?}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(!stdout.is_empty(), "{args:?} printed nothing");
    }
    // The top-level help lists every command; no command at all is a usage error.
    let output = Command::new(binary()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for name in ["server", "ledger", "upload", "multihash", "verify-bag-id"] {
        assert!(help.contains(name), "{name} missing from --help");
    }
    let output = Command::new(binary()).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let output = Command::new(binary())
        .args(["server", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--data",
        "--listen",
        "--threads",
        "--dev",
        "--disable-upload-auth",
        "--max-object-size",
    ] {
        assert!(help.contains(flag), "server --help lacks {flag}");
    }
}

#[test]
fn a_data_directory_in_use_by_a_running_node() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let node = Node::start_in(&data, &["--dev"]);
    let refusal = server(&data, &["--dev"]);
    refusal.assert_one_error_line(&[]);
    assert!(
        refusal.stderr.to_lowercase().contains("lock")
            || refusal.stderr.to_lowercase().contains("in use"),
        "{}",
        refusal.stderr
    );
    // The running node is unharmed.
    assert_eq!(get(&node.url("/status")).status, 200);
    let answer = put(&node, 1, "static:council", &content(1, 1000));
    assert_eq!(
        answer.status,
        201,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert!(node.stop().success());
    // Once it stopped, the directory can be used again.
    let node = Node::start_in(&data, &["--dev"]);
    assert!(get(&node.url("/files/1")).body == content(1, 1000));
}

#[test]
fn an_address_in_use() {
    let temp = tempfile::tempdir().unwrap();
    // Held by a plain socket (no SO_REUSEPORT).
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = holder.local_addr().unwrap().to_string();
    let data = temp.path().join("a");
    let refusal = server_on(&data, &address, &["--dev"]);
    refusal.assert_one_error_line(&[&address]);
    drop(holder);
    // The directory that failed to start is fine afterwards.
    let first = Node::start_in(&data, &["--dev"]);

    // Held by another colossus, whose listeners use SO_REUSEPORT: still refused, rather
    // than the kernel splitting connections between two nodes.
    let taken = first.addr.to_string();
    let refusal = server_on(&temp.path().join("b"), &taken, &["--dev"]);
    refusal.assert_one_error_line(&[&taken]);
    // The first node still answers every connection.
    for _ in 0..20 {
        assert_eq!(get(&first.url("/status")).status, 200);
    }
    assert!(first.stop().success());
}

#[test]
fn a_directory_that_is_not_a_colossus_data_directory() {
    let temp = tempfile::tempdir().unwrap();

    // A store whose metadata is garbage.
    let data = temp.path().join("garbage-meta");
    std::fs::create_dir_all(data.join("store")).unwrap();
    std::fs::write(data.join("store/store.meta"), content(1, 4096)).unwrap();
    server(&data, &["--dev"]).assert_one_error_line(&["store"]);
    // A store.meta of zero bytes.
    let data = temp.path().join("empty-meta");
    std::fs::create_dir_all(data.join("store")).unwrap();
    std::fs::write(data.join("store/store.meta"), b"").unwrap();
    server(&data, &["--dev"]).assert_one_error_line(&["store"]);
    // `store` is a file.
    let data = temp.path().join("store-is-a-file");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("store"), b"hello").unwrap();
    server(&data, &["--dev"]).assert_one_error_line(&[]);
    // The data directory is a file.
    let data = temp.path().join("a-file");
    std::fs::write(&data, b"hello").unwrap();
    server(&data, &["--dev"]).assert_one_error_line(&[]);
    // A ledger journal that is not one.
    let data = temp.path().join("garbage-ledger");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("ledger.journal"),
        b"this is not a ledger\nat all\nnot one line of it\n",
    )
    .unwrap();
    server(&data, &["--dev"]).assert_one_error_line(&["ledger"]);
    // An admin token too short to be one.
    let data = temp.path().join("short-token");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("admin.token"), b"abc\n").unwrap();
    server(&data, &["--dev"]).assert_one_error_line(&["admin"]);

    // A real data directory, stopped, starts again (the checks above are not just "any
    // existing directory fails").
    let data = temp.path().join("real");
    let node = Node::start_in(&data, &["--dev"]);
    assert!(node.stop().success());
    let node = Node::start_in(&data, &["--dev"]);
    assert_eq!(get(&node.url("/status")).status, 200);
}
