//! A fast wrong answer never scores: against a server that flips a byte, cuts the body short,
//! sends too few bytes, fails, or returns zeros for ranges, colossus-bench reports errors of
//! the right kind (and exits 2), and a correct chunked server is the control that scores.

mod bench_common;

use bench_common::{bench, bytes, wrong_server, Wrong};

const SIZE: usize = 100_000;

fn urls_file(dir: &std::path::Path, addr: std::net::SocketAddr, object: &[u8]) -> String {
    let path = dir.join("urls.txt");
    std::fs::write(
        &path,
        format!(
            "# url size multihash\nhttp://{addr}/obj {} {}\n",
            object.len(),
            colossus_engine::multihash::of(object)
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

fn get_from(mode: Wrong, verify: bool) -> bench_common::Run {
    let object = bytes(1, SIZE);
    let addr = wrong_server(object.clone(), mode);
    let dir = tempfile::tempdir().unwrap();
    let file = urls_file(dir.path(), addr, &object);
    let mut args = vec![
        "get",
        "--urls-file",
        &file,
        "--count",
        "20",
        "-c",
        "2",
        "--timeout-ms",
        "5000",
    ];
    if verify {
        args.push("--verify");
    }
    bench(&args)
}

fn assert_all_failed(run: &bench_common::Run, kind: &str) {
    assert_eq!(run.code, 2, "exit code; {}", run.stderr);
    assert_eq!(run.u64("/requests"), 20, "{:#}", run.report);
    assert_eq!(run.u64("/ok"), 0, "{:#}", run.report);
    assert_eq!(run.errors_of(kind), 20, "{:#}", run.report);
    assert_eq!(run.u64("/payload_bytes"), 0);
    assert_eq!(run.report["bytes_per_s"].as_f64(), Some(0.0));
}

#[test]
fn a_flipped_byte_is_a_hash_mismatch() {
    assert_all_failed(&get_from(Wrong::FlippedByte, true), "hash_mismatch");
    // Without --verify only lengths are checked; the report says verify was off.
    let run = get_from(Wrong::FlippedByte, false);
    run.assert_clean(20, 20 * SIZE as u64);
    assert_eq!(run.report["params"]["verify"], false);
}

#[test]
fn a_body_cut_short_is_a_short_body() {
    assert_all_failed(&get_from(Wrong::ShortBody, false), "short_body");
}

#[test]
fn a_complete_body_of_the_wrong_length_is_a_length_error() {
    assert_all_failed(&get_from(Wrong::ShortLength, false), "length");
}

#[test]
fn an_error_status_is_a_status_error() {
    let run = get_from(Wrong::Status500, false);
    assert_all_failed(&run, "status");
    assert!(
        run.report["error_samples"][0]
            .as_str()
            .unwrap()
            .contains("deliberately broken"),
        "{:#}",
        run.report
    );
}

#[test]
fn a_correct_chunked_answer_scores() {
    get_from(Wrong::RightChunked, true).assert_clean(20, 20 * SIZE as u64);
}

#[test]
fn zero_bytes_for_a_known_range_are_a_content_mismatch() {
    let addr = wrong_server(vec![0u8; SIZE], Wrong::ZeroRanges);
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("m.json");
    std::fs::write(
        &manifest,
        serde_json::json!({
            "node": format!("http://{addr}"),
            "objects": [{"path": "/obj", "sizeBytes": SIZE, "seed": 99}]
        })
        .to_string(),
    )
    .unwrap();
    let run = bench(&[
        "range",
        "--manifest",
        manifest.to_str().unwrap(),
        "--range-bytes",
        "4096",
        "--count",
        "20",
        "-c",
        "2",
        "--verify",
    ]);
    assert_all_failed(&run, "content_mismatch");
}

#[test]
fn an_unreachable_server_is_a_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/obj");
    let run = bench(&["get", "--url", &url, "--count", "20", "-c", "2"]);
    assert_all_failed(&run, "connect");
}
