//! `colossus-bench report` reads the JSON of earlier runs, prints one markdown row per run
//! and draws an SVG bar per run, grouped by scenario.

mod bench_common;

use std::process::Command;

use bench_common::{bench, bench_binary, bytes, wrong_server, Wrong};

#[test]
fn report_tables_and_charts_saved_runs() {
    let addr = wrong_server(bytes(3, 10_000), Wrong::RightChunked);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{addr}/obj");
    let mut files = Vec::new();
    for (label, connections) in [("first server", "1"), ("second <server>", "2")] {
        let out = dir.path().join(format!("{connections}.json"));
        let run = bench(&[
            "get",
            "--url",
            &url,
            "--count",
            "10",
            "-c",
            connections,
            "--label",
            label,
            "--scenario",
            "get 10 kB",
            "--out",
            out.to_str().unwrap(),
        ]);
        run.assert_clean(10, 100_000);
        files.push(out);
    }
    let svg = dir.path().join("chart.svg");
    let output = Command::new(bench_binary())
        .arg("report")
        .arg("--svg")
        .arg(&svg)
        .args(["--metric", "requests"])
        .args(&files)
        .output()
        .unwrap();
    assert!(output.status.success());
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(
        table.contains("| first server | get 10 kB | 10 | 0 |"),
        "{table}"
    );
    assert!(
        table.contains("| second <server> | get 10 kB | 10 | 0 |"),
        "{table}"
    );
    let svg = std::fs::read_to_string(svg).unwrap();
    assert!(svg.starts_with("<svg"));
    assert_eq!(svg.matches("<rect x=").count(), 2);
    assert_eq!(
        svg.matches(">get 10 kB</text>").count(),
        1,
        "one group: {svg}"
    );
    assert!(svg.contains("second &lt;server&gt;"));
}
