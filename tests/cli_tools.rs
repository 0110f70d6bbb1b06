//! The `colossus` binary's offline tools and its failures without a node: `multihash` against
//! the reference vectors, `verify-bag-id` on good and bad ids, and `ledger`/`upload` against
//! an unreachable node or without an admin token: one `error: ...` line, non-zero exit.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

const UNREACHABLE: &str = "http://127.0.0.1:1";

/// Exit code 1 and exactly one stderr line, starting `error: `; returns that line.
fn assert_one_error_line(o: &Output) -> String {
    one_error_line(o.status.code(), &stderr(o))
}

/// The shared vectors, as JSON.
fn vectors() -> serde_json::Value {
    serde_json::from_slice(&vectors_json()).expect("vectors file is valid JSON")
}

#[test]
fn multihash_matches_every_reference_vector() {
    let dir = tempfile::tempdir().unwrap();
    let v = vectors();
    let entries = v["multihash"].as_array().expect("multihash vectors");
    assert!(entries.len() >= 5);
    let mut paths = Vec::new();
    let mut expected = Vec::new();
    for entry in entries {
        let len = entry["length"].as_u64().unwrap() as usize;
        let content: Vec<u8> = (0..len).map(|i| ((i * 31 + 7) % 256) as u8).collect();
        let path = dir.path().join(format!("pattern-{len}"));
        std::fs::write(&path, content).unwrap();
        let want = entry["multihash"].as_str().unwrap().to_owned();

        let o = colossus(&["multihash", path.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stdout(&o), format!("{want}\n"), "length {len}");
        paths.push(path);
        expected.push(want);
    }
    // Several files: `<multihash>  <file>` lines, in order.
    let args: Vec<&str> = std::iter::once("multihash")
        .chain(paths.iter().map(|p| p.to_str().unwrap()))
        .collect();
    let o = colossus(&args);
    assert!(o.status.success());
    let want: String = expected
        .iter()
        .zip(&paths)
        .map(|(h, p)| format!("{h}  {}\n", p.display()))
        .collect();
    assert_eq!(stdout(&o), want);
}

#[test]
fn multihash_of_a_missing_file_is_one_error_line() {
    let o = colossus(&["multihash", "/nonexistent/colossus-test-file"]);
    let line = assert_one_error_line(&o);
    assert!(line.contains("/nonexistent/colossus-test-file"), "{line}");
    assert_eq!(colossus(&["multihash"]).status.code(), Some(2));
}

#[test]
fn verify_bag_id_prints_the_canonical_form() {
    for (input, canonical) in [
        ("static:council", "static:council"),
        ("static:wg:storage", "static:wg:storage"),
        ("dynamic:member:1", "dynamic:member:1"),
        (
            "dynamic:channel:18446744073709551615",
            "dynamic:channel:18446744073709551615",
        ),
        ("  Dynamic:Channel:7 ", "dynamic:channel:7"),
    ] {
        let o = colossus(&["verify-bag-id", input]);
        assert_eq!(o.status.code(), Some(0), "{input}: {}", stderr(&o));
        assert_eq!(stdout(&o), format!("{canonical}\n"));
        assert!(stderr(&o).is_empty());
    }
}

#[test]
fn verify_bag_id_refuses_bad_ids_with_one_line() {
    for bad in [
        "",
        "council",
        "static:nope",
        "static:wg:unknown",
        "dynamic:member",
        "dynamic:member:-1",
        "dynamic:member:18446744073709551616",
        "dynamic:thing:1",
        "-x",
        "line\nbreak",
    ] {
        let o = colossus(&["verify-bag-id", bad]);
        let line = assert_one_error_line(&o);
        assert!(line.contains("bag id"), "{bad:?}: {line}");
        assert!(stdout(&o).is_empty());
    }
    assert_eq!(colossus(&["verify-bag-id"]).status.code(), Some(2));
}

fn token_file(dir: &Path) -> String {
    let path = dir.join("admin.token");
    std::fs::write(&path, "test-admin-token\n").unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn ledger_against_an_unreachable_node_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(dir.path());
    for args in [
        vec!["list"],
        vec![
            "add-member",
            "--member-id",
            "1",
            "--controller-uri",
            "//Alice",
        ],
        vec![
            "create-object",
            "--bag",
            "static:council",
            "--object-id",
            "1",
            "--size",
            "0",
            "--hash",
            "gW9T5gSXhgQB5LaqmnJrLVVpHawhM7youzHnuY6HyGBDy3",
        ],
        vec!["delete-object", "--object-id", "1"],
    ] {
        let mut argv = vec![
            "ledger",
            "--node",
            UNREACHABLE,
            "--admin-token-file",
            &token,
        ];
        argv.extend(args.iter().copied());
        let o = colossus(&argv);
        let line = assert_one_error_line(&o);
        assert!(line.contains("cannot talk to the node"), "{args:?}: {line}");
        assert!(line.contains("127.0.0.1:1"), "{line}");
        assert!(
            !line.contains("test-admin-token"),
            "the token leaked: {line}"
        );
    }
}

#[test]
fn ledger_without_an_admin_token_file_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.token");
    let o = colossus(&[
        "ledger",
        "--node",
        UNREACHABLE,
        "--admin-token-file",
        missing.to_str().unwrap(),
        "list",
    ]);
    let line = assert_one_error_line(&o);
    assert!(line.contains("admin token file"), "{line}");
    assert!(line.contains("missing.token"), "{line}");

    // The default path is relative to the working directory.
    let o = Command::new(binary())
        .args(["ledger", "--node", UNREACHABLE, "list"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let line = assert_one_error_line(&o);
    assert!(line.contains("colossus-data/admin.token"), "{line}");

    let empty = dir.path().join("empty.token");
    std::fs::write(&empty, "\n").unwrap();
    let o = colossus(&[
        "ledger",
        "--admin-token-file",
        empty.to_str().unwrap(),
        "list",
    ]);
    assert!(assert_one_error_line(&o).contains("empty"));
}

#[test]
fn ledger_usage_errors_exit_2() {
    for args in [
        vec!["ledger"],
        vec![
            "ledger",
            "create-object",
            "--bag",
            "static:council",
            "--object-id",
            "1",
        ],
        vec!["ledger", "delete-object"],
        vec![
            "ledger",
            "set-bucket",
            "--bucket-id",
            "0",
            "--accepting",
            "maybe",
        ],
        vec!["ledger", "frobnicate"],
    ] {
        assert_eq!(colossus(&args).status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn upload_against_an_unreachable_node_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(dir.path());
    let file = dir.path().join("clip.bin");
    std::fs::write(&file, b"some bytes").unwrap();
    let file = file.to_str().unwrap();
    for extra in [
        vec![],
        vec!["--bucket-id", "0"],
        vec!["--bucket-id", "0", "--object-id", "3"],
        vec![
            "--bucket-id",
            "0",
            "--object-id",
            "3",
            "--existing",
            "--no-token",
        ],
    ] {
        let mut argv = vec![
            "upload",
            "--node",
            UNREACHABLE,
            "--admin-token-file",
            &token,
            "--bag",
            "dynamic:member:1",
            "--file",
            file,
        ];
        argv.extend(extra.iter().copied());
        let o = colossus(&argv);
        let line = assert_one_error_line(&o);
        assert!(
            line.contains("cannot talk to the node"),
            "{extra:?}: {line}"
        );
        assert!(stdout(&o).is_empty());
    }
}

#[test]
fn upload_local_mistakes_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clip.bin");
    std::fs::write(&file, b"x").unwrap();
    let file = file.to_str().unwrap();
    let missing = dir.path().join("missing.token");
    let missing = missing.to_str().unwrap();
    let cases: [(Vec<&str>, &str); 4] = [
        (
            vec![
                "--bag",
                "static:council",
                "--file",
                file,
                "--admin-token-file",
                missing,
            ],
            "admin token file",
        ),
        (vec!["--bag", "static:nope", "--file", file], "bag id"),
        (
            vec!["--bag", "static:council", "--file", "/nonexistent/clip"],
            "/nonexistent/clip",
        ),
        (
            vec![
                "--bag",
                "static:council",
                "--file",
                file,
                "--node",
                "https://example.com",
            ],
            "https",
        ),
    ];
    for (args, needle) in cases {
        let mut argv = vec!["upload"];
        argv.extend(args.iter().copied());
        let o = colossus(&argv);
        let line = assert_one_error_line(&o);
        assert!(line.contains(needle), "{args:?}: {line}");
    }
    assert_eq!(colossus(&["upload", "--file", file]).status.code(), Some(2));
}
