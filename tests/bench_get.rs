//! colossus-bench `get` against a live dev node: the counts, bytes and checks are exact, by
//! prepared objects, by id (expectations from the ledger), by plain URL, and for a duration.

mod bench_common;

use std::time::{Duration, Instant};

use bench_common::{bench, Node};

const SIZE: u64 = 64 * 1024;

#[test]
fn get_counts_and_verifies_every_body() {
    let node = Node::start_dev(&[]);
    let base = node.base();
    let token = node.admin_token_file();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("objects.json");
    let manifest = manifest.to_str().unwrap();

    let run = bench(&[
        "get",
        "--node",
        &base,
        "--admin-token-file",
        &token,
        "--prepare-count",
        "4",
        "--prepare-size",
        "64KiB",
        "--count",
        "200",
        "-c",
        "8",
        "--verify",
        "--save-manifest",
        manifest,
    ]);
    run.assert_clean(200, 200 * SIZE);
    assert_eq!(run.report["params"]["verify"], true);
    assert_eq!(run.u64("/params/objects"), 4);
    let latency = &run.report["latency_ms"];
    let ms = |q: &str| latency[q].as_f64().unwrap();
    let ordered = ["min", "p50", "p90", "p99", "max"].map(ms);
    assert!(
        ordered[0] > 0.0 && ordered.windows(2).all(|w| w[0] <= w[1]),
        "latency quantiles out of order: {latency}"
    );

    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
    let ids: Vec<u64> = saved["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 4);
    let id_list = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");

    // By id, sizes and multihashes from the ledger.
    let run = bench(&[
        "get",
        "--node",
        &base,
        "--admin-token-file",
        &token,
        "--ids",
        &id_list,
        "--count",
        "50",
        "--random",
        "--verify",
    ]);
    run.assert_clean(50, 50 * SIZE);

    // By id without the admin token: expectations from HEAD (Content-Length, ETag).
    let run = bench(&[
        "get", "--node", &base, "--ids", &id_list, "--count", "20", "--verify",
    ]);
    run.assert_clean(20, 20 * SIZE);

    // A plain URL, nothing known in advance but the framing.
    let url = format!("{base}/api/v1/files/{}", ids[0]);
    let run = bench(&["get", "--url", &url, "--count", "20", "-c", "2"]);
    run.assert_clean(20, 20 * SIZE);

    // With idle keep-alive connections held open beside the busy ones; the run still ends.
    let run = bench(&[
        "get",
        "--manifest",
        manifest,
        "--count",
        "100",
        "-c",
        "4",
        "--idle-connections",
        "200",
    ]);
    run.assert_clean(100, 100 * SIZE);
    assert_eq!(run.u64("/idle_established"), 200);
    assert_eq!(run.u64("/connections_opened"), 204);
    assert_eq!(run.report["params"]["idle_warm"], false);

    // Warmed: each idle connection is held only once its HEAD was answered 2xx.
    let warmed = |url: &str| {
        bench(&[
            "get",
            "--url",
            url,
            "--count",
            "20",
            "-c",
            "2",
            "--idle-connections",
            "30",
            "--idle-warm",
        ])
    };
    let run = warmed(&url);
    run.assert_clean(20, 20 * SIZE);
    assert_eq!(run.u64("/idle_established"), 30);
    assert_eq!(run.report["params"]["idle_warm"], true);
    // A target whose HEAD fails: no idle connection is held, and the samples say why.
    let missing = format!("{base}/api/v1/files/999999");
    let run = warmed(&missing);
    assert_eq!(run.u64("/idle_established"), 0);
    let samples = run.report["error_samples"].to_string();
    assert!(
        samples.contains("idle connection: warming an idle connection: HEAD"),
        "{samples}"
    );

    // For a duration: ends on time, every finished request checked. The report's elapsed_s
    // is the duration itself when the run reaches its deadline, so the process is timed.
    let began = Instant::now();
    let run = bench(&[
        "get",
        "--manifest",
        manifest,
        "--duration-s",
        "1",
        "-c",
        "4",
        "--verify",
    ]);
    let wall = began.elapsed();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let ok = run.u64("/ok");
    assert!(ok > 0);
    assert_eq!(run.u64("/errors"), 0);
    assert_eq!(run.u64("/payload_bytes"), ok * SIZE);
    // It ran to the deadline (a run that stopped early would report less) and no longer.
    let elapsed = run.report["elapsed_s"].as_f64().unwrap();
    assert!((elapsed - 1.0).abs() < 1e-9, "elapsed {elapsed}");
    assert!(
        (Duration::from_secs(1)..Duration::from_secs(3)).contains(&wall),
        "a 1 s run took {wall:?} from start to exit"
    );
}
