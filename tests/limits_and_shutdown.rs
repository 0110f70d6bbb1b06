//! The node's limits against hostile or unlucky clients (slowloris heads, idle keep-alive
//! connections, oversized heads, more connections than a core takes, more uploads than the
//! node admits) and graceful shutdown on SIGTERM with uploads in flight. Timeouts here are
//! deadlines for behaviour, with wide margins, never speed checks.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const BAG: &str = "dynamic:member:1";

/// A keep-alive GET /version.
fn version_request(addr: SocketAddr) -> String {
    format!("GET /api/v1/version HTTP/1.1\r\nHost: {addr}\r\n\r\n")
}

/// Whether the peer closed the connection: EOF or a reset, not a read timeout.
fn is_closed(result: &std::io::Result<usize>) -> bool {
    match result {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

/// Reads until the peer closes the connection, at most `deadline`; whether it did.
fn closed_within(stream: &mut TcpStream, deadline: Duration) -> bool {
    let end = Instant::now() + deadline;
    let mut buffer = [0u8; 4096];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        let result = stream.read(&mut buffer);
        if is_closed(&result) {
            return true;
        }
        if result.is_err() {
            return false; // The deadline passed.
        }
    }
}

/// What became of a request head sent one byte at a time.
struct SlowHead {
    /// Bytes of the head sent before the node closed the connection.
    sent: usize,
    /// Whether the node closed it.
    closed: bool,
    /// What the node sent before closing (nothing, or a 408).
    received: Vec<u8>,
}

/// Sends `head` one byte per ~200 ms, watching for the node closing the connection.
fn send_slowly(addr: SocketAddr, head: &[u8]) -> SlowHead {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut outcome = SlowHead {
        sent: 0,
        closed: false,
        received: Vec::new(),
    };
    let mut buffer = [0u8; 1024];
    for byte in head {
        if stream.write_all(std::slice::from_ref(byte)).is_err() {
            outcome.closed = true;
            return outcome;
        }
        outcome.sent += 1;
        // The read timeout paces the bytes.
        loop {
            let result = stream.read(&mut buffer);
            if let Ok(n) = result {
                outcome.received.extend_from_slice(&buffer[..n]);
            }
            if is_closed(&result) {
                outcome.closed = true;
                return outcome;
            }
            if result.is_err() {
                break;
            }
        }
    }
    outcome
}

#[test]
fn slowloris_heads_are_cut_off_while_others_are_served() {
    let node = Node::start_dev(&["--header-read-timeout-ms", "1000"]);
    // About 140 bytes at five a second: a client would need about 28 s to finish this head.
    // Half of them trickle an upload's head, which the node reads without hyper.
    let heads = [
        format!(
            "GET /api/v1/version HTTP/1.1\r\nHost: {}\r\nUser-Agent: slowloris\r\nX-Padding: {}\r\n\r\n",
            node.addr,
            "a".repeat(64)
        ),
        format!(
            "POST /api/v1/files HTTP/1.1\r\nHost: {}\r\nContent-Length: 100\r\nX-Padding: {}\r\n\r\n",
            node.addr,
            "a".repeat(64)
        ),
    ];
    let slow: Vec<_> = (0..4)
        .map(|i| {
            let addr = node.addr;
            let head = heads[i % 2].clone().into_bytes();
            (head.len(), thread::spawn(move || send_slowly(addr, &head)))
        })
        .collect();
    // Meanwhile the node serves everyone else.
    for _ in 0..10 {
        let answer = get(&node.url("/version"));
        assert_eq!(answer.status, 200);
        thread::sleep(Duration::from_millis(200));
    }
    for (head_len, slow) in slow {
        let outcome = slow.join().expect("slow client");
        assert!(
            outcome.closed,
            "the node let a client take {} bytes of head at 5 bytes/s",
            outcome.sent
        );
        assert!(
            outcome.sent < head_len,
            "sent {} of {head_len}",
            outcome.sent
        );
        // Closed silently, or with a 408; never an answer to the unfinished request.
        let text = String::from_utf8_lossy(&outcome.received);
        assert!(
            outcome.received.is_empty() || text.starts_with("HTTP/1.1 408"),
            "{text}"
        );
    }
    assert_eq!(get(&node.url("/version")).status, 200);
}

#[test]
fn idle_keep_alive_connections_are_closed() {
    // The header read timeout is far longer, so a close within seconds is the idle timeout.
    let node = Node::start_dev(&[
        "--idle-timeout-ms",
        "500",
        "--header-read-timeout-ms",
        "60000",
    ]);
    let request = version_request(node.addr);

    // A busy keep-alive connection is not idle: twenty requests 50 ms apart (a second in
    // all, twice the idle timeout), all on the same connection.
    let mut busy = raw_connect(&node);
    for _ in 0..20 {
        busy.write_all(request.as_bytes()).expect("send");
        let answer = read_raw_answer(&mut busy).expect("answer on the busy connection");
        assert_eq!(answer.status, 200);
        thread::sleep(Duration::from_millis(50));
    }

    // After its last request the connection goes idle, and the node closes it.
    let mut idle = raw_connect(&node);
    idle.write_all(request.as_bytes()).expect("send");
    assert_eq!(read_raw_answer(&mut idle).expect("answer").status, 200);
    assert!(
        closed_within(&mut idle, Duration::from_secs(20)),
        "an idle connection stayed open for 20 s with --idle-timeout-ms 500"
    );
    // A connection that never sends a byte is idle too.
    let mut silent = raw_connect(&node);
    assert!(
        closed_within(&mut silent, Duration::from_secs(20)),
        "a silent connection stayed open for 20 s with --idle-timeout-ms 500"
    );
    assert_eq!(get(&node.url("/version")).status, 200);
}

#[test]
fn oversized_heads_get_431_and_the_node_keeps_serving() {
    let node = Node::start_dev(&[]);
    let big_header = format!(
        "GET /api/v1/version HTTP/1.1\r\nHost: {}\r\nX-Big: {}\r\n\r\n",
        node.addr,
        "a".repeat(64 * 1024)
    );
    let with_headers = |count: usize| {
        let mut head = format!("GET /api/v1/version HTTP/1.1\r\nHost: {}\r\n", node.addr);
        for i in 0..count {
            head.push_str(&format!("X-Header-{i}: {i}\r\n"));
        }
        head + "\r\n"
    };
    // 80 headers are over the node's limit (64) and within hyper's bound (100): the node
    // answers its JSON 431. 64 KiB of head (4x the size limit) and 200 headers are past
    // hyper's bounds: hyper refuses, may close before answering, and has no JSON body.
    for (head, node_answers) in [
        (with_headers(80), true),
        (big_header, false),
        (with_headers(200), false),
    ] {
        let mut stream = raw_connect(&node);
        // The node may close before taking the whole head; the write may then fail.
        let _ = stream.write_all(head.as_bytes());
        match read_raw_answer(&mut stream) {
            Some(answer) => {
                assert_eq!(answer.status, 431, "{}", answer.head);
                if node_answers {
                    let json: serde_json::Value =
                        serde_json::from_slice(&answer.body).expect("a JSON body");
                    assert_eq!(json["type"], "header_fields_too_large", "{json}");
                }
            }
            None => assert!(!node_answers, "no answer to a head with 80 headers"),
        }
        // Well inside the 20 s header read timeout: the close comes with the refusal.
        assert!(
            closed_within(&mut stream, Duration::from_secs(5)),
            "the connection stayed open after a refused head"
        );
        assert_eq!(get(&node.url("/version")).status, 200);
    }
}

#[test]
fn connections_over_the_per_core_limit_wait_in_the_backlog() {
    let node = Node::start_dev(&[
        "--max-connections-per-core",
        "4",
        "--idle-timeout-ms",
        "120000",
        "--header-read-timeout-ms",
        "120000",
    ]);
    let request = version_request(node.addr);
    // Fill both cores: 4 connections each, every one proven accepted by an answer. The
    // kernel spreads connections over the cores' listeners by hash, so a connection can land
    // on a core that is already full; it gets no answer, and is dropped (the node accepts it
    // later, finds it closed, and frees the slot again).
    let mut held = Vec::new();
    let mut attempts = 0;
    while held.len() < 8 {
        attempts += 1;
        assert!(
            attempts <= 60,
            "could not fill both cores in 60 connections"
        );
        let mut stream = raw_connect(&node);
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        stream.write_all(request.as_bytes()).expect("send");
        if let Some(answer) = read_raw_answer(&mut stream) {
            assert_eq!(answer.status, 200);
            held.push(stream);
        }
    }

    // A 9th connection: the kernel queues it; the node must not refuse it.
    let (tx, rx) = mpsc::channel();
    let addr = node.addr;
    let ninth = thread::spawn(move || {
        let outcome = TcpStream::connect(addr).and_then(|mut stream| {
            stream.set_read_timeout(Some(Duration::from_secs(120)))?;
            stream.write_all(version_request(addr).as_bytes())?;
            read_raw_answer(&mut stream)
                .map(|answer| answer.status)
                .ok_or_else(|| std::io::Error::other("connection closed without an answer"))
        });
        let _ = tx.send(outcome);
    });
    match rx.recv_timeout(Duration::from_millis(1500)) {
        Err(mpsc::RecvTimeoutError::Timeout) => {}
        other => panic!("the 9th connection was handled while both cores were full: {other:?}"),
    }
    // Close held connections one at a time until the 9th is served (the one closed first may
    // sit on the other core).
    let mut answer = None;
    while answer.is_none() {
        let Some(stream) = held.pop() else { break };
        drop(stream);
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(outcome) => answer = Some(outcome),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(e) => panic!("{e}"),
        }
    }
    let answer = answer.unwrap_or_else(|| {
        rx.recv_timeout(Duration::from_secs(60))
            .expect("the 9th connection was never served")
    });
    assert_eq!(
        answer.expect("the 9th connection was refused"),
        200,
        "the 9th request"
    );
    ninth.join().expect("9th client");
}

#[test]
fn uploads_over_the_in_flight_limit_get_503() {
    let node = Node::start_dev(&["--max-uploads-in-flight", "1"]);
    let first = content(1, 4 << 20);
    let second = content(2, 10_000);
    create_object(&node, 1, BAG, &first);
    create_object(&node, 2, BAG, &second);

    // The first upload is held mid-body.
    let token = alice_token(&node, 1, BAG);
    let mut held = RawUpload::begin(&node, 1, BAG, &first, Some(&token));
    held.send(1 << 20).expect("send part of the body");
    wait_for_uploads_in_flight(&node, 1);

    // The second is refused at once, with a JSON error, and leaves nothing behind.
    let token = alice_token(&node, 2, BAG);
    let json = upload(&node, 2, BAG, &second, Some(&token)).assert_error(503);
    assert_eq!(json["type"], "unavailable", "{json}");
    get(&node.url("/files/2")).assert_error(404);

    // The first finishes; then the second goes in.
    held.send_rest().expect("send the rest");
    let answer = held.answer().expect("answer to the first upload");
    answer.assert_status(201);
    assert_eq!(answer.json()["id"], multihash(&first));
    let token = alice_token(&node, 2, BAG);
    upload(&node, 2, BAG, &second, Some(&token)).assert_status(201);
    assert!(get(&node.url("/files/1")).body == first);
    assert!(get(&node.url("/files/2")).body == second);
    assert_eq!(state_data(&node)["tempDownloads"], 0);
}

#[test]
fn uploads_over_the_in_flight_bytes_limit_get_503() {
    let node = Node::start_dev(&["--max-upload-bytes-in-flight", &(5 << 20).to_string()]);
    let first = content(3, 4 << 20);
    let too_big = content(4, 2 << 20);
    let fits = content(5, 100_000);
    create_object(&node, 1, BAG, &first);
    create_object(&node, 2, BAG, &too_big);
    create_object(&node, 3, BAG, &fits);
    let token = alice_token(&node, 1, BAG);
    let mut held = RawUpload::begin(&node, 1, BAG, &first, Some(&token));
    held.send(1 << 20).expect("send part of the body");
    wait_for_uploads_in_flight(&node, 1);

    // 4 MiB held + 2 MiB would pass 5 MiB; 4 MiB + 100 kB does not.
    // Refused from the head alone: read the answer before sending the body (a client that
    // pushed all 2 MiB first could see a reset, since the node drains at most 1 MiB).
    let token = alice_token(&node, 2, BAG);
    let mut refused = RawUpload::begin(&node, 2, BAG, &too_big, Some(&token));
    let answer = refused.answer().expect("an answer to the refused upload");
    assert_eq!(answer.status, 503, "{}", answer.head);
    drop(refused);
    let token = alice_token(&node, 3, BAG);
    assert_eq!(upload(&node, 3, BAG, &fits, Some(&token)).status, 201);

    held.send_rest().expect("send the rest");
    assert_eq!(held.answer().expect("answer").status, 201);
    let token = alice_token(&node, 2, BAG);
    assert_eq!(upload(&node, 2, BAG, &too_big, Some(&token)).status, 201);
    assert_eq!(state_data(&node)["objectNumber"], 3);
}

/// Waits for the node to log that it received the stop signal.
fn wait_for_stop_line(node: &Node) {
    loop {
        let line = node
            .stdout
            .recv_timeout(Duration::from_secs(30))
            .expect("the node did not log the stop signal within 30 s");
        if line.contains("received") {
            return;
        }
    }
}

/// After a restart on `data`: the object was stored byte-identical (`stored`), or nothing is
/// left of it and it can be uploaded again.
fn assert_consistent_after_restart(data: &Path, id: u64, bytes: &[u8], stored: bool) {
    let node = Node::start_in(data, &["--dev"]);
    let url = node.url(&format!("/files/{id}"));
    let stats = state_data(&node);
    assert_eq!(stats["tempDownloads"], 0, "{stats}");
    assert_eq!(stats["tempDirSize"], 0, "{stats}");
    if stored {
        let answer = get(&url);
        assert_eq!(answer.status, 200);
        assert!(answer.body == bytes, "the acknowledged object changed");
        let etag = format!("\"{}\"", multihash(bytes));
        assert_eq!(answer.header("etag"), Some(etag.as_str()));
        assert_eq!(stats["objectNumber"], 1, "{stats}");
    } else {
        get(&url).assert_error(404);
        assert_eq!(stats["objectNumber"], 0, "{stats}");
        let token = alice_token(&node, id, BAG);
        upload(&node, id, BAG, bytes, Some(&token)).assert_status(201);
        assert!(get(&url).body == bytes);
    }
    assert!(
        node.stop().success(),
        "the restarted node did not stop cleanly"
    );
}

#[test]
fn sigterm_mid_upload_lets_it_finish_and_exits_cleanly() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    let mut node = Node::start_in(&data, &["--dev", "--shutdown-grace-ms", "30000"]);
    let bytes = content(6, 4 << 20);
    create_object(&node, 1, BAG, &bytes);

    // An idle keep-alive connection, and an upload under way.
    let mut idle = raw_connect(&node);
    idle.write_all(version_request(node.addr).as_bytes())
        .expect("send");
    assert_eq!(read_raw_answer(&mut idle).expect("answer").status, 200);
    let token = alice_token(&node, 1, BAG);
    let mut upload = RawUpload::begin(&node, 1, BAG, &bytes, Some(&token));
    for _ in 0..4 {
        upload.send(256 * 1024).expect("send a piece");
        thread::sleep(Duration::from_millis(60));
    }
    wait_for_uploads_in_flight(&node, 1);

    signal(&node.child, libc::SIGTERM);
    wait_for_stop_line(&node);
    // New connections are refused once the listeners close (one made in the instant before
    // may still be queued; after the first refusal, every one is refused).
    wait_for(
        Duration::from_secs(10),
        "new connections to be refused",
        || {
            TcpStream::connect_timeout(&node.addr, Duration::from_secs(2))
                .is_err()
                .then_some(())
        },
    );
    for _ in 0..5 {
        assert!(
            TcpStream::connect_timeout(&node.addr, Duration::from_secs(2)).is_err(),
            "a new connection was accepted after the listeners closed"
        );
    }
    // The idle connection is closed; the upload is not cut off for that.
    assert!(
        closed_within(&mut idle, Duration::from_secs(10)),
        "an idle connection kept the node from shutting down"
    );

    // The rest of the upload, in pieces over about a second: well inside the 30 s grace, so
    // the node must take all of it and store it.
    let piece = upload.remaining().div_ceil(16);
    while upload.remaining() > 0 {
        upload
            .send(piece)
            .expect("the node cut off an upload in progress during the grace period");
        thread::sleep(Duration::from_millis(60));
    }
    let answer = upload
        .answer()
        .expect("no answer to an upload that finished within the grace period");
    assert_eq!(answer.status, 201, "{answer:?}");
    assert_eq!(answer.json()["id"], multihash(&bytes));

    let status = wait_timeout(&mut node.child, Duration::from_secs(60))
        .expect("the node did not exit within 60 s of SIGTERM (grace 30 s)");
    assert!(status.success(), "the node exited with {status}");
    drop(node);
    assert_consistent_after_restart(&data, 1, &bytes, true);
}

#[test]
fn sigterm_with_a_stalled_upload_exits_after_the_grace() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    let mut node = Node::start_in(&data, &["--dev", "--shutdown-grace-ms", "500"]);
    let bytes = content(7, 4 << 20);
    create_object(&node, 1, BAG, &bytes);
    let token = alice_token(&node, 1, BAG);
    let mut upload = RawUpload::begin(&node, 1, BAG, &bytes, Some(&token));
    upload.send(1 << 20).expect("send part of the body");
    wait_for_uploads_in_flight(&node, 1);

    // The upload stalls (the body read timeout is the default 30 s); the node must not wait
    // for it past its grace.
    signal(&node.child, libc::SIGTERM);
    let status = wait_timeout(&mut node.child, Duration::from_secs(20))
        .expect("the node did not exit within 20 s of SIGTERM with --shutdown-grace-ms 500");
    // The client learns its upload is over: an error answer or a closed connection.
    upload
        .stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    if let Some(answer) = upload.answer() {
        assert_ne!(answer.status, 201, "{answer:?}");
    }
    drop(node);
    assert_consistent_after_restart(&data, 1, &bytes, false);
    // Aborting the stalled upload is still a clean stop: the store was closed.
    assert!(status.success(), "the node exited with {status}");
}
