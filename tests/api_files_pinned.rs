//! GET /files/{id} from pinned windows: the node sends hot objects straight from the segment
//! files (sendfile), and the bytes are the object's, whole and in ranges across a window
//! boundary, for fast and slow readers alike; `GET /admin/store` counts the windows, and
//! `--pinned-cache-bytes 0` turns them off without changing an answer.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;

const BAG: &str = "dynamic:channel:7";
/// A window is 64 MiB: this object has two.
const BIG_LEN: usize = (64 << 20) + 300_000;
const BOUNDARY: usize = 64 << 20;

fn pinned_stats(node: &Node) -> serde_json::Value {
    admin_get(node, "/admin/store")["pinned"].clone()
}

fn assert_serves(node: &Node, big: &[u8], small: &[u8]) {
    for _ in 0..2 {
        let full = get(&node.url("/files/1"));
        full.assert_status(200);
        assert!(
            full.body == big,
            "GET of the large object returned other bytes"
        );
        let small_answer = get(&node.url("/files/2"));
        small_answer.assert_status(200);
        assert!(small_answer.body == small);
        // A range across the window boundary, and one inside the second window.
        for (start, end) in [
            (BOUNDARY - 100_000, BOUNDARY + 100_000),
            (BOUNDARY + 5, BIG_LEN - 1),
        ] {
            let range = format!("bytes={start}-{end}");
            let part = request("GET", &node.url("/files/1"), &[("Range", &range)], None);
            part.assert_status(206);
            assert!(part.body == big[start..=end], "range {range} differs");
        }
    }
}

#[test]
fn hot_objects_are_served_from_pinned_windows() {
    let node = Node::start_dev(&[]);
    let big = content(1, BIG_LEN);
    let small = content(2, 100_000);
    put(&node, 1, BAG, &big).assert_status(201);
    put(&node, 2, BAG, &small).assert_status(201);
    // Uploads go to the disk past the page cache, so the first reads take the ordinary path
    // (and cache the pages); windows are pinned from then on.
    for id in [1, 2] {
        get(&node.url(&format!("/files/{id}"))).assert_status(200);
    }
    assert_serves(&node, &big, &small);
    let stats = pinned_stats(&node);
    assert_eq!(stats["windows"], 3, "{stats}");
    assert_eq!(stats["bytes"], (BIG_LEN + 100_000) as u64, "{stats}");
    assert_eq!(stats["budgetBytes"], 2u64 << 30, "{stats}");
    assert!(stats["hits"].as_u64().unwrap() >= 8, "{stats}");
    assert_eq!(stats["disabledReason"], serde_json::Value::Null, "{stats}");

    // A reader that stops for a while: sendfile fills the socket, the node waits, and the
    // rest still arrives whole and in order.
    let mut stream = raw_connect(&node);
    write!(
        stream,
        "GET /api/v1/files/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut head_and_start = vec![0u8; 1 << 20];
    stream.read_exact(&mut head_and_start).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    head_and_start.extend_from_slice(&rest);
    assert_pipelined_answers(&node, &small);
    let split = head_and_start
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    let head = String::from_utf8_lossy(&head_and_start[..split]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head_and_start[split..] == big[..],
        "the slow reader got other bytes"
    );
    node.stop();
}

/// Three GETs of the 100,000-byte object pipelined on one connection: each head is sent
/// flagged MSG_MORE and its body with sendfile, and each answer must arrive whole, in order,
/// and without waiting for a later one to push it out.
fn assert_pipelined_answers(node: &Node, small: &[u8]) {
    let mut stream = raw_connect(node);
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let one = "GET /api/v1/files/2 HTTP/1.1\r\nHost: x\r\n\r\n";
    write!(stream, "{one}{one}").unwrap();
    // The first two answers arrive before the third request is even sent.
    let mut answers = Vec::new();
    for _ in 0..2 {
        answers.push(read_one_answer(&mut stream, small.len()));
    }
    write!(
        stream,
        "GET /api/v1/files/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    answers.push(read_one_answer(&mut stream, small.len()));
    for (head, body) in answers {
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(body == small, "a pipelined answer had other bytes");
    }
}

/// Reads one answer with a body of `len` bytes: its head, then exactly the body.
fn read_one_answer(stream: &mut std::net::TcpStream, len: usize) -> (String, Vec<u8>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("an answer's head");
        head.push(byte[0]);
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).expect("an answer's body");
    (String::from_utf8_lossy(&head).into_owned(), body)
}

#[test]
fn without_pinning_the_answers_are_the_same() {
    let node = Node::start_dev(&["--pinned-cache-bytes", "0"]);
    let big = content(3, BIG_LEN);
    let small = content(4, 100_000);
    put(&node, 1, BAG, &big).assert_status(201);
    put(&node, 2, BAG, &small).assert_status(201);
    // Uploads go to the disk past the page cache, so the first reads take the ordinary path
    // (and cache the pages); windows are pinned from then on.
    for id in [1, 2] {
        get(&node.url(&format!("/files/{id}"))).assert_status(200);
    }
    assert_serves(&node, &big, &small);
    let stats = pinned_stats(&node);
    assert_eq!(stats["windows"], 0, "{stats}");
    assert_eq!(stats["hits"], 0, "{stats}");
    assert_eq!(stats["budgetBytes"], 0, "{stats}");
    // The store's counters come with it.
    let store = admin_get(&node, "/admin/store");
    assert_eq!(store["objects"], 2, "{store}");
    assert_eq!(
        store["livePayloadBytes"],
        (BIG_LEN + 100_000) as u64,
        "{store}"
    );
    node.stop();
}

#[test]
fn the_store_route_needs_the_admin_token() {
    let node = Node::start_dev(&[]);
    request("GET", &node.url("/admin/store"), &[], None).assert_error(401);
    request(
        "GET",
        &node.url("/admin/store"),
        &[("Authorization", "Bearer wrong")],
        None,
    )
    .assert_error(401);
    request(
        "POST",
        &node.url("/admin/store"),
        &[("Authorization", &node.admin_bearer())],
        Some(b"{}"),
    )
    .assert_error(405);
    node.stop();
}
