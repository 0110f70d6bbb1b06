//! Uploads in the plain form (HTTP/1.1, Content-Length) are read without hyper, their file
//! part straight from the socket into the engine's buffers; every other request, and uploads
//! in other forms, go to hyper. Over raw connections: several uploads and a pipelined request
//! on one keep-alive connection; the same upload through hyper (after a GET, chunked); a
//! boundary inside the file data, a body shorter than its Content-Length, `Expect:
//! 100-continue`, `Connection: close`. Every stored object reads back byte-identical; a
//! refused one leaves nothing.

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;

use common::*;

const BAG: &str = "dynamic:member:1";

/// The upload request of object `id` (parameters in the query string): head with `extra`
/// header lines, and the multipart body.
fn upload_request(id: u64, bytes: &[u8], extra: &str) -> (String, Vec<u8>) {
    let body = multipart(BOUNDARY, &[], bytes);
    let head = format!(
        "POST /api/v1/files?dataObjectId={id}&storageBucketId=0&bagId=dynamic%3Amember%3A1 \
         HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
         Content-Length: {}\r\n{extra}\r\n",
        body.len()
    );
    (head, body)
}

fn send_upload(stream: &mut std::net::TcpStream, id: u64, bytes: &[u8]) {
    let (head, body) = upload_request(id, bytes, "");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body).unwrap();
}

/// Sends the upload of object `id` in chunked transfer coding (no length to read it by).
fn send_chunked_upload(stream: &mut std::net::TcpStream, id: u64, bytes: &[u8]) {
    let framed = chunked(&multipart(BOUNDARY, &[], bytes), 300_000);
    let head = format!(
        "POST /api/v1/files?dataObjectId={id}&storageBucketId=0&bagId=dynamic%3Amember%3A1 \
         HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&framed).unwrap();
}

/// A GET answered on `stream`: the connection is hyper's until it is released.
fn get_on(stream: &mut std::net::TcpStream) {
    stream
        .write_all(b"GET /api/v1/version HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    read_raw_answer(stream)
        .expect("the GET's answer")
        .assert_status(200);
}

fn assert_stored(node: &Node, id: u64, bytes: &[u8]) {
    let answer = get(&node.url(&format!("/files/{id}")));
    answer.assert_status(200);
    assert!(answer.body == bytes, "object {id} reads back different");
}

fn assert_created(answer: Option<RawAnswer>, bytes: &[u8]) -> RawAnswer {
    let answer = answer.expect("an answer");
    answer.assert_status(201);
    assert_eq!(answer.json()["id"], multihash(bytes));
    answer
}

#[test]
fn uploads_and_a_pipelined_request_share_one_connection() {
    let node = Node::start_dev(&["--disable-upload-auth"]);
    let first = content(1, 3 << 20);
    let second = content(2, (1 << 20) + 17);
    create_object(&node, 1, BAG, &first);
    create_object(&node, 2, BAG, &second);
    let mut stream = raw_connect(&node);
    send_upload(&mut stream, 1, &first);
    let answer = assert_created(read_raw_answer(&mut stream), &first);
    assert!(
        !answer
            .head
            .to_ascii_lowercase()
            .contains("connection: close"),
        "{}",
        answer.head
    );
    assert!(answer
        .head
        .to_ascii_lowercase()
        .contains("access-control-allow-origin: *"));
    // The second upload and a GET after it in one write: the GET's bytes may arrive with
    // the end of the upload's body.
    let (head, mut bytes) = upload_request(2, &second, "");
    let mut request = head.into_bytes();
    request.append(&mut bytes);
    request.extend_from_slice(b"GET /api/v1/files/1 HTTP/1.1\r\nHost: x\r\n\r\n");
    stream.write_all(&request).unwrap();
    // Both answers may come in one read: read them off one buffer.
    let mut answers = read_raw_answers(&mut stream, 2).into_iter();
    assert_created(answers.next(), &second);
    let got = answers.next().expect("the pipelined GET's answer");
    got.assert_status(200);
    assert!(
        got.body == first,
        "the pipelined GET read back different bytes"
    );
    assert_stored(&node, 2, &second);
}

#[test]
fn uploads_in_other_forms_go_through_hyper() {
    let node = Node::start_dev(&["--disable-upload-auth"]);
    let after_get = content(3, 2 << 20);
    let chunked = content(4, (2 << 20) + 5);
    create_object(&node, 3, BAG, &after_get);
    create_object(&node, 4, BAG, &chunked);

    // hyper serves the GET, and then the upload that follows on its connection.
    let mut stream = raw_connect(&node);
    get_on(&mut stream);
    send_upload(&mut stream, 3, &after_get);
    assert_created(read_raw_answer(&mut stream), &after_get);

    // Chunked transfer coding: no length to read the body by.
    let mut stream = raw_connect(&node);
    send_chunked_upload(&mut stream, 4, &chunked);
    assert_created(read_raw_answer(&mut stream), &chunked);
    assert_stored(&node, 3, &after_get);
    assert_stored(&node, 4, &chunked);
}

#[test]
fn a_boundary_inside_the_file_data_is_refused_either_way() {
    let node = Node::start_dev(&["--disable-upload-auth"]);
    // The delimiter lies 1.5 MiB into a 2 MiB object, where the node reads in place; the
    // ledger's hash is that of these very bytes, so only the framing is wrong.
    let mut bytes = content(5, 2 << 20);
    let delimiter = format!("\r\n--{BOUNDARY}");
    let at = 3 << 19;
    bytes[at..at + delimiter.len()].copy_from_slice(delimiter.as_bytes());
    create_object(&node, 5, BAG, &bytes);

    let mut stream = raw_connect(&node);
    send_upload(&mut stream, 5, &bytes);
    let answer = read_raw_answer(&mut stream).expect("an answer");
    let error = answer.assert_status(400).json();
    assert_eq!(error["type"], "bad_request", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("ends after {at} of its data bytes")),
        "{message}"
    );
    assert_upload_left_nothing(&node, 5);

    // Through hyper (after a GET on the connection, or chunked) the parser ends the part at
    // the delimiter and refuses what follows it: its own message, not the one of the watch
    // over bytes read in place, which shows these uploads took hyper's path.
    // One after the other: two uploads of the same object at once would refuse each other.
    for chunked in [false, true] {
        let mut stream = raw_connect(&node);
        if chunked {
            send_chunked_upload(&mut stream, 5, &bytes);
        } else {
            get_on(&mut stream);
            send_upload(&mut stream, 5, &bytes);
        }
        let answer = read_raw_answer(&mut stream).expect("an answer");
        let error = answer.assert_status(400).json();
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("boundary line"),
            "chunked {chunked}: {message}"
        );
    }
    assert_upload_left_nothing(&node, 5);
}

#[test]
fn a_body_shorter_than_its_length_is_refused_and_stores_nothing() {
    let node = Node::start_dev(&["--disable-upload-auth"]);
    let bytes = content(6, 4 << 20);
    create_object(&node, 6, BAG, &bytes);
    let mut upload = RawUpload::begin(&node, 6, BAG, &bytes, None);
    let short = upload.remaining() - 1000;
    upload.send(short).unwrap();
    upload.stream.shutdown(Shutdown::Write).unwrap();
    let answer = upload.answer().expect("an answer");
    let error = answer.assert_status(400).json();
    let message = error["message"].as_str().unwrap();
    let expected = format!("ended after {short} of its {} bytes", short + 1000);
    assert!(message.contains(&expected), "{message}");
    assert!(answer
        .head
        .to_ascii_lowercase()
        .contains("connection: close"));
    assert_upload_left_nothing(&node, 6);
    // The whole upload then goes through.
    let mut stream = raw_connect(&node);
    send_upload(&mut stream, 6, &bytes);
    assert_created(read_raw_answer(&mut stream), &bytes);
    assert_stored(&node, 6, &bytes);
}

#[test]
fn expect_continue_then_the_body() {
    let node = Node::start_dev(&["--disable-upload-auth"]);
    let bytes = content(7, 2 << 20);
    create_object(&node, 7, BAG, &bytes);
    let mut stream = raw_connect(&node);
    let (head, body) = upload_request(7, &bytes, "Expect: 100-continue\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(&body).unwrap();
    assert_created(read_raw_answer(&mut stream), &bytes);
    assert_stored(&node, 7, &bytes);
}

#[test]
fn connection_close_is_honoured() {
    let node = Node::start_dev(&["--disable-upload-auth"]);
    let bytes = content(8, 1 << 20);
    create_object(&node, 8, BAG, &bytes);
    let mut stream = raw_connect(&node);
    let (head, body) = upload_request(8, &bytes, "Connection: close\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body).unwrap();
    let answer = assert_created(read_raw_answer(&mut stream), &bytes);
    assert!(answer
        .head
        .to_ascii_lowercase()
        .contains("connection: close"));
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .expect("the node closes the connection");
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    assert_stored(&node, 8, &bytes);
}
