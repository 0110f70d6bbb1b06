//! colossus-bench `mixed` against a live dev node: reads and uploads share the run in the
//! asked ratio, both are counted and checked, and every upload that scored is stored.

mod bench_common;

use bench_common::{bench, Node};

#[test]
fn mixed_reads_and_writes_are_counted_and_checked() {
    let node = Node::start_dev(&[]);
    let base = node.base();
    let token = node.admin_token_file();
    let run = bench(&[
        "mixed",
        "--node",
        &base,
        "--admin-token-file",
        &token,
        "--prepare-count",
        "4",
        "--prepare-size",
        "64KiB",
        "--read-ratio",
        "0.7",
        "--count",
        "300",
        "-c",
        "8",
        "--verify",
        "--seed",
        "7",
    ]);
    run.assert_clean(300, 300 * 65536);
    let reads = run.u64("/read/ok");
    let writes = run.u64("/write/ok");
    assert!(
        (150..=260).contains(&reads),
        "reads {reads} of 300 at ratio 0.7"
    );

    // The node stores the 4 prepared objects and one per scored upload (the rest of the write
    // pool was never sent), and each reads back whole with the multihash of its ledger entry.
    let ids = node.stored_ids();
    assert_eq!(ids.len() as u64, 4 + writes, "stored {ids:?}");
    let id_list = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    let n = ids.len().to_string();
    let check = bench(&[
        "get",
        "--node",
        &base,
        "--admin-token-file",
        &token,
        "--ids",
        &id_list,
        "--count",
        &n,
        "--verify",
    ]);
    check.assert_clean(ids.len() as u64, ids.len() as u64 * 65536);
}
