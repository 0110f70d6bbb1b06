//! A client that goes away in the middle of an upload leaves nothing behind: no object, no
//! reservation, no temp file; and the same object can then be uploaded properly. Covers a
//! dropped connection (early, and one byte short of the end), the 2021 form-field upload, and
//! a client that stops sending and holds the connection until the body read timeout fires.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

const BAG: &str = "dynamic:member:1";
const OBJECT_SIZE: usize = 8 << 20;
const SENT_BEFORE_TROUBLE: usize = 1 << 20;

/// Nothing stored for `id`, no reservation left: waits for the node to notice the abandoned
/// upload (it does so asynchronously).
fn assert_nothing_left(node: &Node, id: u64) {
    let stats = assert_upload_left_nothing(node, id);
    assert_eq!(stats["objectNumber"], 0, "{stats}");
    assert_eq!(stats["totalSize"], 0, "{stats}");
    assert_eq!(
        get(&node.url("/state/data-objects")).json(),
        serde_json::json!([])
    );
    assert_no_temp_files(&node.data);
}

/// The data directory holds the store, the ledger journal and the keys, nothing else (the
/// reference node leaked temp files for abandoned uploads).
fn assert_no_temp_files(data: &Path) {
    let files = files_under(data);
    for file in &files {
        let top = file.components().next().expect("a component");
        let top = top.as_os_str().to_str().expect("UTF-8 name");
        let known = matches!(
            top,
            "store" | "ledger.journal" | "admin.token" | "node.key" | "LOCK" | "lock"
        );
        let name = file.to_string_lossy();
        assert!(
            known && !name.contains("tmp") && !name.contains("temp"),
            "unexpected file {name} in the data directory: {files:?}"
        );
    }
}

/// The upload of `bytes` as `id` then succeeds with a fresh token and reads back identical.
fn assert_upload_succeeds(node: &Node, id: u64, bytes: &[u8]) {
    let token = alice_token(node, id, BAG);
    let answer = upload(node, id, BAG, bytes, Some(&token));
    answer.assert_status(201);
    assert_eq!(answer.json()["id"], multihash(bytes));
    assert!(get(&node.url(&format!("/files/{id}"))).body == bytes);
    let stats = state_data(node);
    assert_eq!(stats["objectNumber"], 1, "{stats}");
    assert_eq!(stats["totalSize"], bytes.len(), "{stats}");
    assert_eq!(stats["tempDownloads"], 0, "{stats}");
    assert_no_temp_files(&node.data);
}

/// Starts an upload of `bytes`, sends `sent` body bytes, and waits until the node holds a
/// reservation for it (so the test really interrupts an upload in progress).
fn upload_in_progress(
    node: &Node,
    id: u64,
    bytes: &[u8],
    sent: usize,
    form_fields: bool,
) -> RawUpload {
    let token = alice_token(node, id, BAG);
    let mut raw = if form_fields {
        RawUpload::begin_form(node, id, BAG, bytes, Some(&token))
    } else {
        RawUpload::begin(node, id, BAG, bytes, Some(&token))
    };
    raw.send(sent).expect("send part of the body");
    let stats = wait_for_uploads_in_flight(node, 1);
    // The reservation holds the whole object (plus the record's header and alignment).
    let reserved = stats["tempDirSize"].as_u64().expect("tempDirSize");
    assert!(reserved >= bytes.len() as u64, "{stats}");
    raw
}

#[test]
fn connection_dropped_after_one_mib_of_eight() {
    let node = Node::start_dev(&[]);
    let bytes = content(1, OBJECT_SIZE);
    create_object(&node, 1, BAG, &bytes);
    let raw = upload_in_progress(&node, 1, &bytes, SENT_BEFORE_TROUBLE, false);
    drop(raw);
    assert_nothing_left(&node, 1);
    assert_upload_succeeds(&node, 1, &bytes);
}

#[test]
fn connection_dropped_one_byte_short_of_the_end() {
    let node = Node::start_dev(&[]);
    let bytes = content(2, OBJECT_SIZE);
    create_object(&node, 2, BAG, &bytes);
    let mut raw = upload_in_progress(&node, 2, &bytes, SENT_BEFORE_TROUBLE, false);
    // Every byte of the object but the last; the closing boundary never comes.
    let head_len = multipart(BOUNDARY, &[], &[]).len() - format!("\r\n--{BOUNDARY}--\r\n").len();
    let to_send = head_len + OBJECT_SIZE - 1 - SENT_BEFORE_TROUBLE;
    raw.send(to_send).expect("send all but the last byte");
    drop(raw);
    assert_nothing_left(&node, 2);
    assert_upload_succeeds(&node, 2, &bytes);
}

#[test]
fn connection_dropped_mid_upload_with_form_fields() {
    let node = Node::start_dev(&[]);
    let bytes = content(3, OBJECT_SIZE);
    create_object(&node, 3, BAG, &bytes);
    let raw = upload_in_progress(&node, 3, &bytes, SENT_BEFORE_TROUBLE, true);
    drop(raw);
    assert_nothing_left(&node, 3);
    assert_upload_succeeds(&node, 3, &bytes);
}

#[test]
fn stalled_client_is_cut_off_by_the_body_read_timeout() {
    let node = Node::start_dev(&["--body-read-timeout-ms", "500"]);
    let bytes = content(4, OBJECT_SIZE);
    create_object(&node, 4, BAG, &bytes);
    let mut raw = upload_in_progress(&node, 4, &bytes, SENT_BEFORE_TROUBLE, false);
    // The client stops sending and keeps the connection open: the node answers 408 and
    // closes it (the read timeout of the raw stream is a deadline for that, not a speed test).
    raw.stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let answer = raw
        .answer()
        .expect("the node answers a stalled upload before closing it");
    assert_eq!(answer.status, 408, "{answer:?}");
    let json = answer.json();
    assert_eq!(json["type"], "timeout", "{json}");
    assert!(json["message"].is_string(), "{json}");
    // The connection is closed after the answer: the rest of the body is not awaited.
    let mut rest = Vec::new();
    let closed = std::io::Read::read_to_end(&mut raw.stream, &mut rest);
    if let Err(e) = closed {
        assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "the connection stayed open after the 408: {e}"
        );
    }
    assert_nothing_left(&node, 4);
    drop(raw);
    assert_upload_succeeds(&node, 4, &bytes);
}
