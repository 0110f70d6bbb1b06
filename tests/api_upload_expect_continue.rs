//! Uploads sent with `Expect: 100-continue`, refused. When the node refuses before asking
//! for the body (parameters in the query string), it answers without `100 Continue`, so the
//! client need not send the body, and closes the connection after the answer (saying so). When it refuses after reading part of it (parameters in form
//! fields, read before the file), it has said `100 Continue`, so the client sends the whole
//! body: the node must read and drop it (up to its drain limit), so that the client gets the
//! JSON error rather than a reset, and the connection stays usable for the next request.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::*;

/// Reads from `stream` until `buf` holds a whole response head and `body_len` body bytes
/// after it, where `body_len` comes from the head's Content-Length; returns (head, body).
fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> (String, Vec<u8>) {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            if head.starts_with("HTTP/1.1 100 ") {
                buf.drain(..end + 4);
                return (head, Vec::new());
            }
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .expect("a Content-Length");
            if buf.len() >= end + 4 + length {
                let body = buf[end + 4..end + 4 + length].to_vec();
                buf.drain(..end + 4 + length);
                return (head, body);
            }
        }
        let n = stream
            .read(&mut chunk)
            .unwrap_or_else(|e| panic!("reading the answer: {e}; so far {buf:?}"));
        assert!(
            n > 0,
            "the node closed the connection; so far: {:?}",
            String::from_utf8_lossy(buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A keep-alive GET on the same connection still gets its answer.
fn connection_still_serves(stream: &mut TcpStream, buf: &mut Vec<u8>) {
    stream
        .write_all(b"GET /api/v1/state/data-objects HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("send the next request");
    let (head, _) = read_response(stream, buf);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
}

/// Sent as is, or in chunked transfer coding (no length for the node to go by).
fn framed(body: &[u8], in_chunks: bool) -> (String, Vec<u8>) {
    if !in_chunks {
        return (format!("Content-Length: {}", body.len()), body.to_vec());
    }
    (
        "Transfer-Encoding: chunked".to_owned(),
        chunked(body, 50_000),
    )
}

#[test]
fn refused_after_100_continue_the_body_is_drained_and_the_connection_kept() {
    let node = Node::start_dev(&["--disable-upload-auth"]);
    // Object 999 is not in the ledger: refused once the form fields are read.
    let fields = [
        ("dataObjectId", "999"),
        ("storageBucketId", "0"),
        ("bagId", "dynamic:channel:1"),
    ];
    let multipart_body = multipart(BOUNDARY, &fields, &content(999, 256 << 10));
    for (round, chunked) in [false, true, false, true].into_iter().enumerate() {
        let (framing, body) = framed(&multipart_body, chunked);
        let mut stream = raw_connect(&node);
        let mut buf = Vec::new();
        let head = format!(
            "POST /api/v1/files HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; \
             boundary={BOUNDARY}\r\n{framing}\r\nExpect: 100-continue\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).unwrap();
        let (interim, _) = read_response(&mut stream, &mut buf);
        assert!(
            interim.starts_with("HTTP/1.1 100 "),
            "round {round}: {interim}"
        );
        stream
            .write_all(&body)
            .expect("the node takes the whole body");
        let (head, answer) = read_response(&mut stream, &mut buf);
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            head.starts_with("HTTP/1.1 4"),
            "round {round}: {head}{answer}"
        );
        assert!(answer.contains("\"type\""), "round {round}: {answer}");
        assert!(
            !head.to_ascii_lowercase().contains("connection: close"),
            "round {round}: a drained body leaves the connection open: {head}"
        );
        connection_still_serves(&mut stream, &mut buf);
    }
    node.stop();
}

#[test]
fn refused_before_the_body_no_100_continue_is_sent() {
    let node = Node::start_dev(&["--disable-upload-auth"]);
    let mut stream = raw_connect(&node);
    let mut buf = Vec::new();
    let head = format!(
        "POST /api/v1/files?dataObjectId=999&storageBucketId=0&bagId=dynamic:channel:1 \
         HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
         Content-Length: 300000\r\nExpect: 100-continue\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let (head, answer) = read_response(&mut stream, &mut buf);
    let answer = String::from_utf8_lossy(&answer);
    assert!(head.starts_with("HTTP/1.1 4"), "{head}{answer}");
    assert!(answer.contains("\"type\""), "{answer}");
    // The body was never asked for, yet a client may send it anyway (curl does after a
    // second without an answer): the node cannot tell where a next request would start, so it
    // says it closes the connection, and does, without a reset.
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "{head}"
    );
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .expect("an orderly close, not a reset");
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    node.stop();
}
