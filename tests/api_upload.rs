//! POST /api/v1/files against the real binary: both parameter styles, and every refusal the
//! node makes, each leaving nothing behind (no object, no reservation).

mod common;

use common::*;

const BAG: &str = "dynamic:member:1";

/// Nothing stored for `id`, no upload reservation left.
fn upload_with_query(node: &Node, query: &str, body: &[u8], headers: &[(&str, &str)]) -> Answer {
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let mut all = vec![("Content-Type", content_type.as_str())];
    all.extend_from_slice(headers);
    request(
        "POST",
        &format!("{}?{query}", node.url("/files")),
        &all,
        Some(&multipart(BOUNDARY, &[], body)),
    )
}

#[test]
fn uploads_with_query_parameters_and_with_form_fields() {
    let node = Node::start_dev(&[]);
    let bytes = content(2, 1_500_000);
    let answer = put(&node, 10, BAG, &bytes);
    answer.assert_status(201);
    assert_eq!(answer.json()["id"], multihash(&bytes));
    assert!(get(&node.url("/files/10")).body == bytes);

    // The 2021 API: parameters as form fields before the file part.
    let bytes = content(3, 70_000);
    create_object(&node, 11, "static:council", &bytes);
    let token = alice_token(&node, 11, "static:council");
    let body = multipart(
        BOUNDARY,
        &[
            ("dataObjectId", "11"),
            ("storageBucketId", "0"),
            ("bagId", "static:council"),
        ],
        &bytes,
    );
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    request(
        "POST",
        &node.url("/files"),
        &[("Content-Type", &content_type), ("x-api-key", &token)],
        Some(&body),
    )
    .assert_status(201);
    assert!(get(&node.url("/files/11")).body == bytes);

    // Stored objects show up in the state routes.
    let ids = get(&node.url("/state/data-objects")).json();
    assert_eq!(ids, serde_json::json!(["10", "11"]));
    let in_bag = get(&node.url("/state/bags/dynamic%3Amember%3A1/data-objects")).json();
    assert_eq!(in_bag, serde_json::json!(["10"]));
}

#[test]
fn refusals_before_the_body() {
    let node = Node::start_dev(&[]);
    let bytes = content(4, 10_000);
    create_object(&node, 20, BAG, &bytes);

    // An upload of `bytes` without a token with `query`: refused with `status`.
    let refused = |query: &str, status: u16| {
        upload_with_query(&node, query, &bytes, &[]).assert_error(status);
    };

    // Missing or malformed parameters.
    refused("storageBucketId=0&bagId=dynamic:member:1", 400);
    refused(
        "dataObjectId=x&storageBucketId=0&bagId=dynamic:member:1",
        400,
    );
    // A bucket this node does not operate, and one that takes no uploads: 503.
    refused(
        "dataObjectId=20&storageBucketId=5&bagId=dynamic:member:1",
        503,
    );
    let closed = serde_json::json!({"op": "putBucket", "bucket": {
        "id": 0, "operatorWorkerId": 0, "acceptingUploads": false, "allBags": true}});
    assert_eq!(admin_apply(&node, closed).status, 200);
    refused(
        "dataObjectId=20&storageBucketId=0&bagId=dynamic:member:1",
        503,
    );
    let open = serde_json::json!({"op": "putBucket", "bucket": {
        "id": 0, "operatorWorkerId": 0, "acceptingUploads": true, "allBags": true}});
    assert_eq!(admin_apply(&node, open).status, 200);
    // A bad bag id; an object not in that bag; an object not in the ledger.
    refused(
        "dataObjectId=20&storageBucketId=0&bagId=dynamic:planet:1",
        400,
    );
    refused(
        "dataObjectId=20&storageBucketId=0&bagId=static:council",
        400,
    );
    refused(
        "dataObjectId=21&storageBucketId=0&bagId=dynamic:member:1",
        400,
    );
    // A bag not assigned to the bucket.
    let bucket1 = serde_json::json!({"op": "putBucket", "bucket": {
        "id": 1, "operatorWorkerId": 0, "acceptingUploads": true, "allBags": false}});
    assert_eq!(admin_apply(&node, bucket1).status, 200);
    refused(
        "dataObjectId=20&storageBucketId=1&bagId=dynamic:member:1",
        400,
    );
    // Tokens: missing, garbage, for another object.
    let query = "dataObjectId=20&storageBucketId=0&bagId=dynamic:member:1";
    upload_with_query(&node, query, &bytes, &[]).assert_error(401);
    upload_with_query(&node, query, &bytes, &[("x-api-key", "not-a-token")]).assert_error(401);
    create_object(&node, 22, BAG, &bytes);
    let other = alice_token(&node, 22, BAG);
    upload_with_query(&node, query, &bytes, &[("x-api-key", &other)]).assert_error(401);
    // Not multipart.
    let token = alice_token(&node, 20, BAG);
    request(
        "POST",
        &format!("{}?{query}", node.url("/files")),
        &[
            ("Content-Type", "application/octet-stream"),
            ("x-api-key", &token),
        ],
        Some(&bytes),
    )
    .assert_error(400);
    assert_upload_left_nothing(&node, 20);

    // The right token works once; the object is then stored, and a second upload is refused.
    upload_with_query(&node, query, &bytes, &[("x-api-key", &token)]).assert_status(201);
    upload_with_query(&node, query, &bytes, &[("x-api-key", &token)]).assert_error(400);
    let again = alice_token(&node, 20, BAG);
    let json = upload_with_query(&node, query, &bytes, &[("x-api-key", &again)]).assert_error(400);
    assert!(
        json["message"].as_str().unwrap().contains("already stored"),
        "{json}"
    );
}

#[test]
fn reused_and_expired_tokens() {
    let node = Node::start_dev(&["--upload-token-ttl-ms", "300"]);
    let a = content(5, 1000);
    let b = content(6, 1000);
    create_object(&node, 30, BAG, &a);
    create_object(&node, 31, BAG, &b);
    let token = alice_token(&node, 30, BAG);
    // A refused upload (wrong bytes) still uses the token up; reusing it fails.
    let wrong = upload(&node, 30, BAG, &b, Some(&token));
    wrong.assert_error(400);
    upload(&node, 30, BAG, &a, Some(&token)).assert_error(401);
    assert_upload_left_nothing(&node, 30);
    let expired = alice_token(&node, 31, BAG);
    std::thread::sleep(std::time::Duration::from_millis(600));
    upload(&node, 31, BAG, &b, Some(&expired)).assert_error(401);
    assert_upload_left_nothing(&node, 31);
    let fresh = alice_token(&node, 31, BAG);
    assert_eq!(upload(&node, 31, BAG, &b, Some(&fresh)).status, 201);
}

#[test]
fn wrong_size_or_hash_changes_nothing() {
    let node = Node::start_dev(&["--max-object-size", "100000"]);
    let bytes = content(7, 50_000);
    create_object(&node, 40, BAG, &bytes);
    // Same size, different bytes: hash mismatch.
    let mut tampered = bytes.clone();
    tampered[49_999] ^= 1;
    let token = alice_token(&node, 40, BAG);
    let json = upload(&node, 40, BAG, &tampered, Some(&token)).assert_error(400);
    assert!(json["message"].as_str().unwrap().contains("hash"), "{json}");
    assert_upload_left_nothing(&node, 40);
    // Too few bytes (the body cannot hold the object: refused before reading it).
    let token = alice_token(&node, 40, BAG);
    upload(&node, 40, BAG, &bytes[..40_000], Some(&token)).assert_error(400);
    // Too many bytes.
    let token = alice_token(&node, 40, BAG);
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0u8; 10]);
    upload(&node, 40, BAG, &longer, Some(&token)).assert_error(400);
    assert_upload_left_nothing(&node, 40);
    // Over the node's object size limit: 413.
    let big = content(8, 150_000);
    create_object(&node, 41, BAG, &big);
    let token = alice_token(&node, 41, BAG);
    upload(&node, 41, BAG, &big, Some(&token)).assert_error(413);
    assert_upload_left_nothing(&node, 41);
    // And the right bytes still go in after all that.
    let token = alice_token(&node, 40, BAG);
    assert_eq!(upload(&node, 40, BAG, &bytes, Some(&token)).status, 201);
    assert!(get(&node.url("/files/40")).body == bytes);
}

#[test]
fn multipart_without_a_file_part_or_closing_boundary() {
    let node = Node::start_dev(&["--disable-upload-auth"]);
    let bytes = content(9, 5000);
    create_object(&node, 50, BAG, &bytes);
    let query = "dataObjectId=50&storageBucketId=0&bagId=dynamic:member:1";
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let no_file = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--{BOUNDARY}--\r\n"
    );
    request(
        "POST",
        &format!("{}?{query}", node.url("/files")),
        &[("Content-Type", &content_type)],
        Some(no_file.as_bytes()),
    )
    .assert_error(400);
    let mut cut = multipart(BOUNDARY, &[], &bytes);
    cut.truncate(cut.len() - 10);
    request(
        "POST",
        &format!("{}?{query}", node.url("/files")),
        &[("Content-Type", &content_type)],
        Some(&cut),
    )
    .assert_error(400);
    assert_upload_left_nothing(&node, 50);
    // With auth disabled, no token is needed.
    upload_with_query(&node, query, &bytes, &[]).assert_status(201);
}
