//! 50 uploads at once (each its own object and size, from empty to about 2 MiB), then 200
//! downloads at once (whole objects and ranges), every byte checked against the source, and
//! the node's counters agreeing with what was stored. Run once with upload tokens and once on a
//! node with upload auth off (clients of the current network send none).

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::thread;

use common::*;

const UPLOADS: u64 = 50;
const DOWNLOADS: usize = 200;
const BAGS: [&str; 3] = ["dynamic:member:1", "dynamic:channel:9", "static:council"];

/// Object `i`'s size: empty, one byte, then spread up to about 2 MiB, with sizes on and off
/// chunk and block boundaries.
fn size_of(i: u64) -> usize {
    match i {
        0 => 0,
        1 => 1,
        2 => 4096,
        3 => 1 << 20,
        4 => (1 << 20) + 1,
        5 => 2 << 20,
        _ => (i as usize * 41_983) % (2 << 20) + i as usize,
    }
}

struct Object {
    id: u64,
    bag: &'static str,
    bytes: Vec<u8>,
}

fn objects(seed: u64) -> Vec<Arc<Object>> {
    (0..UPLOADS)
        .map(|i| {
            Arc::new(Object {
                id: 100 + i,
                bag: BAGS[i as usize % BAGS.len()],
                bytes: content(seed + i, size_of(i)),
            })
        })
        .collect()
}

/// Uploads every object at once; each must answer 201 with its multihash.
fn upload_all(node: &Node, objects: &[Arc<Object>], with_tokens: bool) {
    for object in objects {
        create_object(node, object.id, object.bag, &object.bytes);
    }
    let addr = node.addr;
    let barrier = Arc::new(Barrier::new(objects.len()));
    let threads: Vec<_> = objects
        .iter()
        .map(|object| {
            let object = object.clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                let token =
                    with_tokens.then(|| member_token(addr, &alice_key(), 1, object.id, object.bag));
                barrier.wait();
                (object.id, upload_one(addr, &object, token.as_deref()))
            })
        })
        .collect();
    for (thread, object) in threads.into_iter().zip(objects) {
        let (id, answer) = thread.join().expect("upload thread");
        assert_eq!(
            answer.status,
            201,
            "upload of object {id} ({} bytes): {}",
            object.bytes.len(),
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.json()["id"], multihash(&object.bytes), "object {id}");
    }
}

/// Even ids send the parameters in the query string (the current client), odd ones as form
/// fields before the file part (the 2021 API).
fn upload_one(addr: SocketAddr, object: &Object, token: Option<&str>) -> Answer {
    let id = object.id.to_string();
    let (target, body) = if object.id % 2 == 0 {
        let query = format!(
            "?dataObjectId={id}&storageBucketId=0&bagId={}",
            object.bag.replace(':', "%3A")
        );
        (
            api_url(addr, &format!("/files{query}")),
            multipart(BOUNDARY, &[], &object.bytes),
        )
    } else {
        let fields = [
            ("dataObjectId", id.as_str()),
            ("storageBucketId", "0"),
            ("bagId", object.bag),
        ];
        (
            api_url(addr, "/files"),
            multipart(BOUNDARY, &fields, &object.bytes),
        )
    };
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let mut headers = vec![("Content-Type", content_type.as_str())];
    if let Some(token) = token {
        headers.push(("x-api-key", token));
    }
    request("POST", &target, &headers, Some(&body))
}

/// Which request download `n` makes of an object of `len` bytes: the Range header (None for
/// the whole object) and the span it must return.
fn download_plan(n: usize, len: usize) -> (Option<String>, std::ops::Range<usize>) {
    if len == 0 {
        return (None, 0..0);
    }
    let a = (n * 7919) % len;
    let b = (n * 104_729) % len;
    let (start, end) = (a.min(b), a.max(b));
    // Download n goes to object n % UPLOADS; shifting the kind by n / UPLOADS gives every
    // object four different kinds of request, and every kind occurs.
    match (n + n / UPLOADS as usize) % 5 {
        0 | 1 => (None, 0..len),
        2 => (Some(format!("bytes={start}-{end}")), start..end + 1),
        3 => (Some(format!("bytes={start}-")), start..len),
        _ => {
            let suffix = end - start + 1;
            (Some(format!("bytes=-{suffix}")), len - suffix..len)
        }
    }
}

/// 200 downloads at once, each checked byte for byte.
fn download_all(node: &Node, objects: &[Arc<Object>]) {
    let addr = node.addr;
    let barrier = Arc::new(Barrier::new(DOWNLOADS));
    let threads: Vec<_> = (0..DOWNLOADS)
        .map(|n| {
            let object = objects[n % objects.len()].clone();
            let barrier = barrier.clone();
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let (range, span) = download_plan(n, object.bytes.len());
                    let url = api_url(addr, &format!("/files/{}", object.id));
                    barrier.wait();
                    let answer = match &range {
                        Some(range) => request("GET", &url, &[("Range", range)], None),
                        None => get(&url),
                    };
                    let what = format!("download {n}: object {} range {range:?}", object.id);
                    let expected_status = if range.is_some() { 206 } else { 200 };
                    assert_eq!(answer.status, expected_status, "{what}");
                    assert_eq!(
                        answer.header("etag"),
                        Some(format!("\"{}\"", multihash(&object.bytes)).as_str()),
                        "{what}"
                    );
                    if range.is_some() {
                        let content_range = format!(
                            "bytes {}-{}/{}",
                            span.start,
                            span.end - 1,
                            object.bytes.len()
                        );
                        assert_eq!(
                            answer.header("content-range"),
                            Some(content_range.as_str()),
                            "{what}"
                        );
                    }
                    assert_eq!(answer.body.len(), span.len(), "{what}: length");
                    if let Some(at) = answer
                        .body
                        .iter()
                        .zip(&object.bytes[span.clone()])
                        .position(|(got, want)| got != want)
                    {
                        panic!("{what}: byte {} differs", span.start + at);
                    }
                })
                .expect("spawn download thread")
        })
        .collect();
    for thread in threads {
        thread.join().expect("download thread");
    }
}

/// The node's counters agree with what was uploaded; no reservation is left.
fn assert_counts(node: &Node, objects: &[Arc<Object>]) {
    let stats = state_data(node);
    let total: usize = objects.iter().map(|o| o.bytes.len()).sum();
    assert_eq!(stats["objectNumber"], objects.len(), "{stats}");
    assert_eq!(stats["totalSize"], total, "{stats}");
    assert_eq!(stats["tempDownloads"], 0, "{stats}");
    assert_eq!(stats["tempDirSize"], 0, "{stats}");
    // A --dev node accepts uploads at once: nothing is pending.
    assert_eq!(stats["pendingObjects"], 0, "{stats}");
    let mut expected: Vec<String> = objects.iter().map(|o| o.id.to_string()).collect();
    expected.sort();
    let listed = get(&node.url("/state/data-objects")).json();
    assert_eq!(listed, serde_json::json!(expected));
    for bag in BAGS {
        let mut in_bag: Vec<String> = objects
            .iter()
            .filter(|o| o.bag == bag)
            .map(|o| o.id.to_string())
            .collect();
        in_bag.sort();
        let url = node.url(&format!(
            "/state/bags/{}/data-objects",
            bag.replace(':', "%3A")
        ));
        assert_eq!(get(&url).json(), serde_json::json!(in_bag), "bag {bag}");
    }
}

/// The scenario on a --dev node with `flags`, objects from `seed`, uploads with or without
/// tokens.
fn uploads_then_downloads(flags: &[&str], seed: u64, with_tokens: bool) {
    let node = Node::start_dev(flags);
    let objects = objects(seed);
    upload_all(&node, &objects, with_tokens);
    assert_counts(&node, &objects);
    download_all(&node, &objects);
    assert_counts(&node, &objects);
}

#[test]
fn fifty_uploads_with_tokens_then_two_hundred_downloads() {
    uploads_then_downloads(&[], 1_000, true);
}

#[test]
fn fifty_uploads_without_auth_then_two_hundred_downloads() {
    uploads_then_downloads(&["--disable-upload-auth"], 2_000, false);
}

#[test]
fn download_plans_cover_every_kind_within_bounds() {
    for len in [1usize, 2, 4096, 2 << 20] {
        for n in 0..DOWNLOADS {
            let (range, span) = download_plan(n, len);
            assert!(span.end <= len && !span.is_empty(), "{n} {len} {range:?}");
        }
    }
    let kind = |range: Option<String>| match range {
        None => "whole",
        Some(r) if r.starts_with("bytes=-") => "suffix",
        Some(r) if r.ends_with('-') => "from",
        Some(_) => "span",
    };
    for object in 0..UPLOADS as usize {
        let kinds: std::collections::HashSet<_> = (object..DOWNLOADS)
            .step_by(UPLOADS as usize)
            .map(|n| kind(download_plan(n, 1000).0))
            .collect();
        assert!(kinds.len() >= 3, "object {object} gets only {kinds:?}");
    }
    let all: std::collections::HashSet<_> = (0..DOWNLOADS)
        .map(|n| kind(download_plan(n, 1000).0))
        .collect();
    assert_eq!(all.len(), 4, "every kind of request occurs: {all:?}");
}
