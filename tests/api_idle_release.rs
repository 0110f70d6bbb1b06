//! Idle keep-alive connections give back their HTTP state (`--idle-release-ms`) and wait
//! holding only their socket; the client never notices: the next request on the same
//! connection is answered, a request head begun before the release is completed after it,
//! a response the client is slow to read is never cut, and the keep-alive timeout still
//! closes a connection that stays silent. `GET /admin/connections` counts all of it.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

const BAG: &str = "dynamic:channel:3";

/// Reads the connection counters over a connection of its own that closes at once (it is
/// never idle long enough to be released, so it does not move the counts it reads).
fn connections(node: &Node) -> serde_json::Value {
    let mut stream = raw_connect(node);
    write!(
        stream,
        "GET /api/v1/admin/connections HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\
         Connection: close\r\n\r\n",
        node.admin_bearer()
    )
    .unwrap();
    let answer = read_raw_answer(&mut stream).expect("an answer from /admin/connections");
    answer.assert_status(200);
    answer.json()
}

fn releases(node: &Node) -> u64 {
    connections(node)["releases"].as_u64().expect("releases")
}

fn send_get(stream: &mut TcpStream, id: u64) {
    write!(stream, "GET /api/v1/files/{id} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
}

fn assert_kept_alive(answer: &RawAnswer, expected: &[u8]) {
    answer.assert_status(200);
    assert!(answer.body == expected, "the body differs from the object");
    assert!(
        !answer
            .head
            .to_ascii_lowercase()
            .contains("connection: close"),
        "the node stopped keeping the connection alive:\n{}",
        answer.head
    );
}

/// Waits for the release count to reach `count`.
fn wait_for_releases(node: &Node, count: u64) {
    wait_for(Duration::from_secs(10), "a connection release", || {
        (releases(node) >= count).then_some(())
    });
}

#[test]
fn released_connections_keep_serving_and_keep_a_begun_request_head() {
    let node = Node::start_dev(&["--idle-release-ms", "200"]);
    let object = content(1, 300_000);
    put(&node, 1, BAG, &object).assert_status(201);
    // The client library's pooled connection is released once it idles; let that happen
    // before counting.
    std::thread::sleep(Duration::from_millis(600));
    let before = releases(&node);

    let mut stream = raw_connect(&node);
    send_get(&mut stream, 1);
    assert_kept_alive(
        &read_raw_answer(&mut stream).expect("first answer"),
        &object,
    );
    wait_for_releases(&node, before + 1);
    let now = connections(&node);
    assert!(now["waiting"].as_u64().unwrap() >= 1, "{now}");
    assert!(now["open"].as_u64().unwrap() >= 2, "{now}");

    // The next request on the released connection.
    send_get(&mut stream, 1);
    assert_kept_alive(
        &read_raw_answer(&mut stream).expect("second answer"),
        &object,
    );

    // Half a request head, a release, then the other half.
    stream.write_all(b"GET /api/v1/files/1 HT").unwrap();
    wait_for_releases(&node, before + 2);
    stream.write_all(b"TP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_kept_alive(
        &read_raw_answer(&mut stream).expect("answer to the split head"),
        &object,
    );

    // Pipelined requests after a release are answered in order.
    wait_for_releases(&node, before + 3);
    send_get(&mut stream, 1);
    send_get(&mut stream, 1);
    for answer in read_raw_answers(&mut stream, 2) {
        assert_kept_alive(&answer, &object);
    }
}

#[test]
fn a_response_the_client_is_slow_to_read_is_not_cut_by_a_release() {
    let node = Node::start_dev(&["--idle-release-ms", "100"]);
    // Far more than the socket buffers hold, so the node waits on a full socket.
    let object = content(2, 24 << 20);
    put(&node, 2, BAG, &object).assert_status(201);
    std::thread::sleep(Duration::from_millis(500));
    let before = releases(&node);

    let mut stream = raw_connect(&node);
    send_get(&mut stream, 2);
    let mut first = vec![0u8; 64 << 10];
    stream.read_exact(&mut first).unwrap();
    // The node sits on a full socket for many release periods.
    std::thread::sleep(Duration::from_millis(1_000));
    assert_eq!(
        releases(&node),
        before,
        "a connection was released in the middle of a response"
    );
    let mut rest = Vec::new();
    let head_end = first.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&first[..head_end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    rest.extend_from_slice(&first[head_end..]);
    let mut chunk = vec![0u8; 1 << 20];
    while rest.len() < object.len() {
        let n = stream.read(&mut chunk).expect("the rest of the body");
        assert!(n > 0, "the node closed the connection mid-body");
        rest.extend_from_slice(&chunk[..n]);
    }
    assert!(rest == object, "the slowly read body differs");

    // Idle now: released, and still serving.
    wait_for_releases(&node, before + 1);
    send_get(&mut stream, 2);
    assert_kept_alive(&read_raw_answer(&mut stream).expect("next answer"), &object);
}

#[test]
fn silent_connections_wait_without_state_and_close_at_the_keep_alive_timeout() {
    let node = Node::start_dev(&[
        "--idle-release-ms",
        "100",
        "--header-read-timeout-ms",
        "1500",
    ]);
    // Never sends anything.
    let mut fresh = raw_connect(&node);
    // Sends one request, then nothing.
    let mut used = raw_connect(&node);
    write!(used, "GET /api/v1/version HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    read_raw_answer(&mut used)
        .expect("version answer")
        .assert_status(200);
    let now = wait_for(Duration::from_secs(10), "both connections waiting", || {
        let now = connections(&node);
        (now["waiting"].as_u64().unwrap() >= 2).then_some(now)
    });
    assert!(now["open"].as_u64().unwrap() >= 3, "{now}");
    // Both are closed by the node once the keep-alive wait is over: end of stream, no bytes.
    for (name, stream) in [("fresh", &mut fresh), ("used", &mut used)] {
        let mut rest = Vec::new();
        stream
            .read_to_end(&mut rest)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(rest.is_empty(), "{name}: unexpected bytes {rest:?}");
    }
    let now = wait_for(Duration::from_secs(10), "the closed ones uncounted", || {
        let now = connections(&node);
        (now["waiting"].as_u64().unwrap() == 0).then_some(now)
    });
    assert_eq!(
        now["open"], 1,
        "only the counting connection is open: {now}"
    );
}

#[test]
fn admin_connections_needs_the_admin_token() {
    let node = Node::start_dev(&[]);
    request("GET", &node.url("/admin/connections"), &[], None).assert_error(401);
    let wrong = [("Authorization", "Bearer nope")];
    request("GET", &node.url("/admin/connections"), &wrong, None).assert_error(401);
    request("POST", &node.url("/admin/connections"), &[], None).assert_error(405);
    let now = admin_get(&node, "/admin/connections");
    for key in ["open", "waiting", "releases"] {
        assert!(now[key].is_u64(), "{key} missing: {now}");
    }
}
