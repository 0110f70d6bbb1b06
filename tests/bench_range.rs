//! colossus-bench `range` against a live dev node: random, aligned and fixed ranges of an
//! object it uploaded are counted exactly and compared byte for byte with the known content.

mod bench_common;

use bench_common::{bench, Node};

#[test]
fn range_reads_are_counted_and_checked_against_the_content() {
    let node = Node::start_dev(&[]);
    let base = node.base();
    let token = node.admin_token_file();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("big.json");
    let manifest = manifest.to_str().unwrap();

    let run = bench(&[
        "range",
        "--node",
        &base,
        "--admin-token-file",
        &token,
        "--prepare-count",
        "1",
        "--prepare-size",
        "4MiB",
        "--range-bytes",
        "64KiB",
        "--count",
        "100",
        "-c",
        "8",
        "--verify",
        "--save-manifest",
        manifest,
    ]);
    run.assert_clean(100, 100 * 65536);

    // The saved object again: fixed and aligned ranges compared byte for byte; by plain URL
    // (the size from HEAD) checked by length and Content-Range only.
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
    let url = format!("{base}{}", saved["objects"][0]["path"].as_str().unwrap());
    let verified = ["--manifest", manifest, "--verify"];
    for (source, shape, count, payload) in [
        (
            &verified[..],
            &["--range-bytes", "5000", "--offset", "4097"][..],
            10,
            10 * 5000,
        ),
        (
            &verified,
            &["--range-bytes", "1MiB", "--align", "1MiB", "-c", "3"],
            12,
            12 << 20,
        ),
        (&["--url", &url], &["--range-bytes", "1000"], 10, 10 * 1000),
    ] {
        let count_text = count.to_string();
        let args = [&["range", "--count", &count_text][..], source, shape].concat();
        bench(&args).assert_clean(count, payload);
    }

    // A range past the end is refused before any load.
    let run = bench(&[
        "range",
        "--url",
        &url,
        "--range-bytes",
        "5MiB",
        "--count",
        "1",
    ]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("--range-bytes"), "{}", run.stderr);
}
