//! colossus-bench `mixed` against a live dev node: reads and uploads share the run in the
//! asked ratio, and both are counted and checked.

mod bench_common;

use bench_common::{bench, Node};

#[test]
fn mixed_reads_and_writes_are_counted_and_checked() {
    let node = Node::start_dev(&[]);
    let run = bench(&[
        "mixed",
        "--node",
        &node.base(),
        "--admin-token-file",
        &node.admin_token_file(),
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
    assert_eq!(reads + writes, 300);
    assert!(
        (150..=260).contains(&reads),
        "reads {reads} of 300 at ratio 0.7"
    );
    assert_eq!(run.u64("/read/errors") + run.u64("/write/errors"), 0);
}
