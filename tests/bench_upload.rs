//! colossus-bench `upload` against live dev nodes: every object is created in the ledger,
//! uploaded (with a token, or without on a node that does not ask for one) and then reads back
//! with the ledger's multihash; uploads the node refuses are errors, not throughput.

mod bench_common;

use bench_common::{bench, Node};

#[test]
fn uploads_with_tokens_are_stored_and_read_back() {
    let node = Node::start_dev(&[]);
    let base = node.base();
    let token = node.admin_token_file();
    let run = bench(&[
        "upload",
        "--node",
        &base,
        "--admin-token-file",
        &token,
        "--object-size",
        "256KiB",
        "--count",
        "16",
        "-c",
        "4",
    ]);
    run.assert_clean(16, 16 * 256 * 1024);
    assert_eq!(run.u64("/params/objects"), 16);

    // A fresh dev node numbers objects from 0.
    let run = bench(&[
        "get",
        "--node",
        &base,
        "--admin-token-file",
        &token,
        "--ids",
        "0-15",
        "--count",
        "32",
        "--verify",
    ]);
    run.assert_clean(32, 32 * 256 * 1024);

    // Without a token on a node that asks for one: every upload is refused, none scores.
    let run = bench(&[
        "upload",
        "--node",
        &base,
        "--admin-token-file",
        &token,
        "--object-size",
        "4KiB",
        "--count",
        "4",
        "-c",
        "2",
        "--no-token",
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.u64("/ok"), 0);
    assert_eq!(run.errors_of("status"), 4, "{:#}", run.report);
    assert_eq!(run.u64("/payload_bytes"), 0);
}

#[test]
fn uploads_without_tokens_on_an_open_node() {
    let node = Node::start_dev(&["--disable-upload-auth"]);
    let run = bench(&[
        "upload",
        "--node",
        &node.base(),
        "--admin-token-file",
        &node.admin_token_file(),
        "--object-size",
        "1MiB",
        "--count",
        "6",
        "-c",
        "3",
        "--no-token",
    ]);
    run.assert_clean(6, 6 << 20);
}
