//! GET and HEAD /api/v1/files/{id} against the real binary: bytes, headers, ranges (first
//! byte, last byte, suffixes, past the end), conditional requests, CORS, and the errors.

mod common;

use common::*;

const BAG: &str = "dynamic:channel:7";

#[test]
fn get_head_ranges_and_conditionals() {
    let node = Node::start_dev(&[]);
    let bytes = content(1, 300_000);
    let answer = put(&node, 1, BAG, &bytes);
    answer.assert_status(201);
    let hash = multihash(&bytes);
    assert_eq!(answer.json()["id"], hash);
    let url = node.url("/files/1");
    let etag = format!("\"{hash}\"");

    // The whole object.
    let full = get(&url);
    assert_eq!(full.status, 200);
    assert!(full.body == bytes, "GET returned different bytes");
    assert_eq!(full.header("content-length"), Some("300000"));
    assert_eq!(full.header("etag"), Some(etag.as_str()));
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    assert_eq!(full.header("content-disposition"), Some("inline"));
    assert_eq!(
        full.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(full.header("access-control-allow-origin"), Some("*"));
    let exposed = full.header("access-control-expose-headers").unwrap_or("");
    for name in ["Content-Range", "Content-Length", "ETag", "Accept-Ranges"] {
        assert!(exposed.contains(name), "{name} not exposed: {exposed}");
    }
    assert_eq!(
        full.header("content-type"),
        Some("application/octet-stream")
    );
    let last_modified = full
        .header("last-modified")
        .expect("last-modified")
        .to_string();
    assert!(httpdate_parses(&last_modified), "{last_modified}");

    // HEAD: the same headers, no body.
    let head = request("HEAD", &url, &[], None);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), Some("300000"));
    assert_eq!(head.header("etag"), Some(etag.as_str()));
    assert_eq!(
        head.header("content-type"),
        Some("application/octet-stream")
    );

    // Ranges: first byte, last byte, a middle span, open ended, suffixes, past the end.
    let n = bytes.len() as u64;
    let cases: &[(&str, u64, u64)] = &[
        ("bytes=0-0", 0, 0),
        ("bytes=299999-299999", n - 1, n - 1),
        ("bytes=1000-1999", 1000, 1999),
        ("bytes=299000-", 299_000, n - 1),
        ("bytes=-1", n - 1, n - 1),
        ("bytes=-500", n - 500, n - 1),
        ("bytes=-1000000", 0, n - 1),
        ("bytes=299990-400000", 299_990, n - 1),
    ];
    for &(range, start, end) in cases {
        let answer = request("GET", &url, &[("Range", range)], None);
        assert_eq!(answer.status, 206, "{range}");
        assert_eq!(
            answer.header("content-range"),
            Some(format!("bytes {start}-{end}/{n}").as_str()),
            "{range}"
        );
        assert_eq!(
            answer.header("content-length"),
            Some((end - start + 1).to_string().as_str())
        );
        assert!(
            answer.body == bytes[start as usize..=end as usize],
            "{range}: wrong bytes"
        );
        let head = request("HEAD", &url, &[("Range", range)], None);
        assert_eq!(head.status, 206, "HEAD {range}");
        assert!(head.body.is_empty());
    }
    for range in ["bytes=300000-", "bytes=300000-300001", "bytes=-0"] {
        let answer = request("GET", &url, &[("Range", range)], None);
        answer.assert_error(416);
        assert_eq!(
            answer.header("content-range"),
            Some("bytes */300000"),
            "{range}"
        );
    }

    // If-None-Match: 304 for the current ETag (also in a list and weak), 200 otherwise.
    for value in [
        etag.clone(),
        format!("\"other\", {etag}"),
        format!("W/{etag}"),
        "*".to_string(),
    ] {
        let answer = request("GET", &url, &[("If-None-Match", &value)], None);
        assert_eq!(answer.status, 304, "{value}");
        assert!(answer.body.is_empty());
        assert_eq!(answer.header("etag"), Some(etag.as_str()));
    }
    let other = request("GET", &url, &[("If-None-Match", "\"nope\"")], None);
    assert_eq!(other.status, 200);

    // If-Range: a partial answer only while the validator still matches.
    let partial = request(
        "GET",
        &url,
        &[("Range", "bytes=0-9"), ("If-Range", &etag)],
        None,
    );
    assert_eq!(partial.status, 206);
    assert!(partial.body == bytes[..10]);
    let stale = request(
        "GET",
        &url,
        &[("Range", "bytes=0-9"), ("If-Range", "\"gWstale\"")],
        None,
    );
    assert_eq!(stale.status, 200);
    assert!(stale.body == bytes);
    let by_date = request(
        "GET",
        &url,
        &[("Range", "bytes=0-9"), ("If-Range", &last_modified)],
        None,
    );
    // Last-Modified is the exact validator the node sends, so the range is served.
    by_date.assert_status(206);
    assert!(by_date.body == bytes[..10]);
    let other_date = request(
        "GET",
        &url,
        &[
            ("Range", "bytes=0-9"),
            ("If-Range", "Thu, 01 Jan 1970 00:00:00 GMT"),
        ],
        None,
    );
    other_date.assert_status(200);
    assert!(other_date.body == bytes);
}

#[test]
fn errors_are_json() {
    let node = Node::start_dev(&[]);
    for bad in ["abc", "-1", "1.5", "0x10", "18446744073709551616", "%20"] {
        get(&node.url(&format!("/files/{bad}"))).assert_error(400);
        let head = request("HEAD", &node.url(&format!("/files/{bad}")), &[], None);
        assert_eq!(head.status, 400, "HEAD {bad}");
        assert!(head.body.is_empty());
    }
    let missing = get(&node.url("/files/424242"));
    let json = missing.assert_error(404);
    assert!(json["message"].as_str().unwrap().contains("424242"));
    let head = request("HEAD", &node.url("/files/424242"), &[], None);
    assert_eq!(head.status, 404);
    let wrong_method = request("DELETE", &node.url("/files/1"), &[], None);
    wrong_method.assert_error(405);
    assert!(wrong_method.header("allow").unwrap().contains("GET"));
    get(&node.url("/no/such/route")).assert_error(404);
    // A head over the limit (16 KiB by default) but within hyper's wider bound: JSON 431.
    let big = "x".repeat(20 * 1024);
    request("GET", &node.url("/files/1"), &[("X-Padding", &big)], None).assert_error(431);
    let many: Vec<(String, String)> = (0..80).map(|i| (format!("x-h{i}"), "1".into())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    request("GET", &node.url("/files/1"), &many, None).assert_error(431);
    get(&format!("http://{}/", node.addr)).assert_error(404);
}

#[test]
fn empty_and_typed_objects() {
    let node = Node::start_dev(&[]);
    assert_eq!(put(&node, 5, BAG, b"").status, 201);
    let empty = get(&node.url("/files/5"));
    assert_eq!(empty.status, 200);
    assert!(empty.body.is_empty());
    assert_eq!(empty.header("content-length"), Some("0"));
    get_with_range_is_416(&node, 5, "bytes=0-0");

    let png = [&b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..], &content(9, 100)[..]].concat();
    assert_eq!(put(&node, 6, BAG, &png).status, 201);
    let answer = get(&node.url("/files/6"));
    assert_eq!(answer.header("content-type"), Some("image/png"));
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    assert!(answer.body == png);

    let cors = request(
        "OPTIONS",
        &node.url("/files/6"),
        &[
            ("Origin", "https://example.org"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "range"),
        ],
        None,
    );
    assert_eq!(cors.status, 204);
    assert_eq!(cors.header("access-control-allow-origin"), Some("*"));
    assert!(cors
        .header("access-control-allow-methods")
        .unwrap()
        .contains("GET"));
}

fn get_with_range_is_416(node: &Node, id: u64, range: &str) {
    let answer = request(
        "GET",
        &node.url(&format!("/files/{id}")),
        &[("Range", range)],
        None,
    );
    answer.assert_error(416);
}

fn httpdate_parses(text: &str) -> bool {
    httpdate::parse_http_date(text).is_ok()
}
