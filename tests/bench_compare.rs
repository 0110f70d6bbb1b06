//! `colossus-bench compare` end to end, tiny: it starts a dev node, nginx (sendfile on and
//! off) and the sink, serves the same objects from each, runs every scenario kind once, and
//! writes a BENCHMARKS section with a ratio per scenario and its chart. Needs nginx
//! (Debian: `apt-get install nginx-light`); without it the test says so and passes, unless
//! CI=true, where it must run.

mod bench_common;

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use bench_common::{bench_binary, node_binary};

fn nginx_available() -> bool {
    Command::new("nginx")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn compare_writes_ratios_for_every_scenario() {
    if !nginx_available() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "nginx is needed under CI"
        );
        eprintln!("skipped: nginx is not installed (apt-get install nginx-light)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let doc = dir.path().join("BENCHMARKS.md");
    std::fs::write(&doc, "# Benchmarks\n\nHand-written text stays.\n").unwrap();
    let output = Command::new(bench_binary())
        .arg("compare")
        .arg("--colossus-bin")
        .arg(node_binary())
        .arg("--workdir")
        .arg(&work)
        .arg("--doc")
        .arg(&doc)
        .args([
            "--rounds",
            "2",
            "--duration-s",
            "0.3",
            "--big-size",
            "4MiB",
            "--big-per-connection",
            "1",
            "--small-count",
            "8",
            "--small-size",
            "16KiB",
            "--range-bytes",
            "64KiB",
            "--many-count",
            "4",
            "--many-size",
            "1MiB",
            "--threads",
            "1",
            "--scenarios",
            "big-c2,small-c8,range-c4,upload-big,upload-many",
        ])
        .output()
        .expect("run compare");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "compare failed: {stderr}");
    let text = std::fs::read_to_string(&doc).unwrap();
    assert!(
        text.starts_with("# Benchmarks\n\nHand-written text stays.\n"),
        "{text}"
    );
    for scenario in [
        "GET 4MiB object, 2 connections",
        "GET 16KiB objects (8 of them), 8 connections",
        "GET 64KiB ranges of the 4MiB object, 4 connections",
        "upload of one 4MiB object, one stream",
        "4 concurrent uploads of 1MiB objects",
    ] {
        assert!(
            text.contains(&format!("| {scenario} |")),
            "no row for {scenario}: {text}"
        );
    }
    assert!(text.contains("nginx sendfile"), "{text}");
    assert!(text.contains("blake3 sink"), "{text}");
    assert!(
        text.contains("each upload scenario run once on every upload target"),
        "the section says uploads were warmed up: {text}"
    );
    // 2 rounds x (3 reads x 3 targets + 2 uploads x 2 targets), and no run had errors.
    let runs: Vec<serde_json::Value> = std::fs::read_dir(&work)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("run-"))
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect();
    assert_eq!(runs.len(), 2 * (9 + 4));
    for run in &runs {
        assert_eq!(run["errors"], 0, "{run:#}");
        assert!(run["ok"].as_u64().unwrap() > 0, "{run:#}");
    }
    let svg = std::fs::read_to_string(dir.path().join("bench-compare.svg")).unwrap();
    assert_eq!(svg.matches("<rect x=").count(), 9 + 4);
    // Everything it started is gone: nginx removed its pid files, and the node's, nginx's and
    // the sink's ports refuse connections. The node and nginx close their listeners before
    // they exit; the sink is killed with an accept queued in io_uring, whose teardown ends
    // just after the process is reaped, so its port gets a moment.
    for conf in ["nginx-sendfile-on", "nginx-sendfile-off"] {
        let pid_file = work.join(conf).join("nginx.pid");
        assert!(!pid_file.exists(), "nginx {conf} still running");
    }
    let mut targets: Vec<(&str, &str)> = runs
        .iter()
        .map(|r| (r["target"].as_str().unwrap(), r["label"].as_str().unwrap()))
        .collect();
    targets.sort_unstable();
    targets.dedup();
    assert_eq!(
        targets.len(),
        4,
        "node, two nginx and the sink: {targets:?}"
    );
    for (target, label) in targets {
        let addr: SocketAddr = target.trim_start_matches("http://").parse().unwrap();
        let grace = if label == "blake3 sink" {
            Duration::from_secs(2)
        } else {
            Duration::ZERO
        };
        let deadline = Instant::now() + grace;
        loop {
            let refused =
                TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.kind());
            if matches!(refused, Err(std::io::ErrorKind::ConnectionRefused)) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{label} ({target}) still answers after compare exited: {refused:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
