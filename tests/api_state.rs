//! The state, version, status and OpenAPI routes, the admin API, and the JSON errors of
//! unknown routes and wrong methods, against the real binary.

mod common;

use common::*;
use serde_json::{json, Value};

const MEMBER_BAG: &str = "dynamic:member:1";

fn get_json(node: &Node, path: &str) -> Value {
    let answer = get(&node.url(path));
    assert_eq!(
        answer.status,
        200,
        "GET {path}: {}",
        String::from_utf8_lossy(&answer.body)
    );
    assert!(
        answer
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "GET {path}: {:?}",
        answer.headers
    );
    answer.json()
}

fn admin(node: &Node, method: &str, path: &str, auth: Option<&str>, body: Option<&[u8]>) -> Answer {
    let mut headers = vec![("Content-Type", "application/json")];
    let value;
    if let Some(auth) = auth {
        value = auth.to_string();
        headers.push(("Authorization", &value));
    }
    request(method, &node.url(path), &headers, body)
}

#[test]
fn state_routes_list_stored_objects_and_count_their_bytes() {
    let node = Node::start_dev(&[]);
    assert_eq!(get_json(&node, "/state/data-objects"), json!([]));
    assert_eq!(
        state_data(&node),
        json!({"totalSize": 0, "objectNumber": 0, "tempDirSize": 0, "tempDownloads": 0,
               "pendingDirSize": 0, "pendingObjects": 0})
    );

    let objects: &[(u64, &str, usize)] = &[
        (2, MEMBER_BAG, 1000),
        (10, MEMBER_BAG, 0),
        (3, "static:council", 5000),
        (25, "static:wg:storage", 70_000),
        (100, "dynamic:channel:7", 1),
    ];
    for &(id, bag, len) in objects {
        put(&node, id, bag, &content(id, len)).assert_status(201);
    }
    // Created in the ledger but never uploaded: not stored, so not listed.
    create_object(&node, 50, MEMBER_BAG, &content(50, 10));

    // Ids as strings, in numeric order.
    assert_eq!(
        get_json(&node, "/state/data-objects"),
        json!(["2", "3", "10", "25", "100"])
    );
    let in_member_bag = json!(["2", "10"]);
    for spelling in [
        "dynamic:member:1",
        "dynamic%3Amember%3A1",
        "dynamic%3amember%3a1",
        "Dynamic:Member:1",
        "dynamic:member:01",
        "%20dynamic:member:1%20",
    ] {
        assert_eq!(
            get_json(&node, &format!("/state/bags/{spelling}/data-objects")),
            in_member_bag,
            "{spelling}"
        );
    }
    assert_eq!(
        get_json(&node, "/state/bags/static:council/data-objects"),
        json!(["3"])
    );
    assert_eq!(
        get_json(&node, "/state/bags/static%3Awg%3Astorage/data-objects"),
        json!(["25"])
    );
    assert_eq!(
        get_json(&node, "/state/bags/dynamic:channel:7/data-objects"),
        json!(["100"])
    );
    // A valid bag holding nothing here.
    assert_eq!(
        get_json(&node, "/state/bags/dynamic:member:2/data-objects"),
        json!([])
    );
    for bad in [
        "dynamic:planet:1",
        "static:nothing",
        "static:wg:nogroup",
        "dynamic:member:x",
        "dynamic:member:-1",
        "dynamic:member:0x10",
        "dynamic:member:18446744073709551616",
        "dynamic:member",
        "nonsense",
        "%zz",
        "%ff%fe",
    ] {
        let json = get(&node.url(&format!("/state/bags/{bad}/data-objects"))).assert_error(400);
        assert_eq!(json["type"], "bad_request", "{bad}: {json}");
    }

    let total: usize = objects.iter().map(|o| o.2).sum();
    assert_eq!(
        state_data(&node),
        json!({"totalSize": total, "objectNumber": objects.len(), "tempDirSize": 0,
               "tempDownloads": 0, "pendingDirSize": 0, "pendingObjects": 0})
    );

    // HEAD: the same status, no body.
    for path in ["/state/data", "/state/data-objects", "/version", "/status"] {
        let head = request("HEAD", &node.url(path), &[], None);
        assert_eq!(head.status, 200, "HEAD {path}");
        assert!(head.body.is_empty(), "HEAD {path} has a body");
    }
}

#[test]
fn pending_objects_are_counted_and_served_until_accepted() {
    let node = Node::start_dev(&[]);
    put(&node, 1, MEMBER_BAG, &content(1, 3000)).assert_status(201);
    admin_apply(&node, json!({"op": "setAutoAccept", "enabled": false})).assert_status(200);

    let pending = content(7, 4096);
    put(&node, 7, MEMBER_BAG, &pending).assert_status(201);
    assert_eq!(
        state_data(&node),
        json!({"totalSize": 3000 + 4096, "objectNumber": 2, "tempDirSize": 0, "tempDownloads": 0,
               "pendingDirSize": 4096, "pendingObjects": 1})
    );
    // Served anyway, and listed.
    let fetched = get(&node.url("/files/7"));
    assert_eq!(fetched.status, 200);
    assert!(fetched.body == pending);
    assert_eq!(get_json(&node, "/state/data-objects"), json!(["1", "7"]));
    let ledger = admin_get(&node, "/admin/ledger");
    let object = ledger["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == 7)
        .cloned()
        .expect("object 7 in the ledger");
    assert_eq!(object["accepted"], false, "{object}");

    // Accepting it: no longer pending, still served.
    admin_apply(&node, json!({"op": "acceptObject", "id": 7})).assert_status(200);
    assert_eq!(
        state_data(&node),
        json!({"totalSize": 3000 + 4096, "objectNumber": 2, "tempDirSize": 0, "tempDownloads": 0,
               "pendingDirSize": 0, "pendingObjects": 0})
    );
    assert!(get(&node.url("/files/7")).body == pending);
    let ledger = admin_get(&node, "/admin/ledger");
    let accepted = ledger["objects"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["id"] == 7 && o["accepted"] == true);
    assert!(accepted, "{ledger}");
    // Accepting an object the ledger does not have: 404.
    admin_apply(&node, json!({"op": "acceptObject", "id": 999})).assert_error(404);

    // The id list is cached between changes: a delete must show at once, and the next poll
    // must not bring the old body back; an upload after it must show too.
    assert_eq!(get_json(&node, "/state/data-objects"), json!(["1", "7"]));
    admin_apply(&node, json!({"op": "deleteObject", "id": 1})).assert_status(200);
    assert_eq!(get_json(&node, "/state/data-objects"), json!(["7"]));
    assert_eq!(get_json(&node, "/state/data-objects"), json!(["7"]));
    put(&node, 3, MEMBER_BAG, &content(3, 100)).assert_status(201);
    assert_eq!(get_json(&node, "/state/data-objects"), json!(["3", "7"]));
}

#[test]
fn an_object_the_ledger_calls_accepted_is_not_pending_once_stored() {
    // With auto-accept off, an upload stays pending until accepted; but an object the ledger
    // already says is accepted (created with "accepted": true) has nothing left to wait for.
    let node = Node::start_dev(&[]);
    admin_apply(&node, json!({"op": "setAutoAccept", "enabled": false})).assert_status(200);
    let accepted = content(8, 2048);
    admin_apply(
        &node,
        json!({"op": "createObject", "object": {"id": 8, "bag": MEMBER_BAG,
            "sizeBytes": accepted.len(), "multihash": multihash(&accepted), "accepted": true}}),
    )
    .assert_status(200);
    let token = alice_token(&node, 8, MEMBER_BAG);
    upload(&node, 8, MEMBER_BAG, &accepted, Some(&token)).assert_status(201);
    let after = state_data(&node);
    assert_eq!(after["objectNumber"], 1, "{after}");
    assert_eq!(after["pendingObjects"], 0, "{after}");
    assert_eq!(after["pendingDirSize"], 0, "{after}");
    let ledger = admin_get(&node, "/admin/ledger");
    assert_eq!(ledger["objects"][0]["accepted"], true, "{ledger}");
}

#[test]
fn version_and_status() {
    let node = Node::start_dev(&[]);
    let version = get_json(&node, "/version");
    let printed = std::process::Command::new(binary())
        .arg("--version")
        .output()
        .expect("colossus --version");
    let printed = String::from_utf8(printed.stdout).unwrap();
    let expected = printed.split_whitespace().nth(1).expect("a version");
    assert_eq!(version["version"], expected, "{version}");
    assert!(
        version["userAgent"]
            .as_str()
            .is_some_and(|ua| ua.contains(expected)),
        "{version}"
    );

    // The shape of StatusResponse in the current reference spec.
    let status = get_json(&node, "/status");
    assert_eq!(status["version"], expected);
    let uptime = status["uptime"].as_f64().expect("uptime is a number");
    assert!(uptime >= 0.0);
    assert_eq!(status["nodeEnv"], "development");
    let qn = &status["queryNodeStatus"];
    assert!(qn["url"].is_string(), "{status}");
    assert!(qn["chainHead"].is_u64(), "{status}");
    assert!(qn["blocksProcessed"].is_u64(), "{status}");
    assert!(qn["packageVersion"].is_string(), "{status}");
    for part in ["sync", "cleanup"] {
        assert!(status[part]["enabled"].is_boolean(), "{status}");
        assert!(status[part]["interval"].is_u64(), "{status}");
    }
    assert_eq!(status["uploadBuckets"], json!(["0"]));
    assert_eq!(status["downloadBuckets"], json!(["0"]));

    // Buckets follow the ledger: one more operated bucket, one closed for uploads, one
    // operated by another worker (not ours, so not listed).
    let put_bucket = |id: u64, worker: u64, accepting: bool| {
        admin_apply(
            &node,
            json!({"op": "putBucket", "bucket": {"id": id, "operatorWorkerId": worker,
                   "acceptingUploads": accepting, "allBags": true}}),
        )
        .assert_status(200);
    };
    put_bucket(1, 0, true);
    put_bucket(0, 0, false);
    put_bucket(4, 9, true);
    std::thread::sleep(std::time::Duration::from_millis(50));
    let later = get_json(&node, "/status");
    assert_eq!(later["uploadBuckets"], json!(["1"]), "{later}");
    assert_eq!(later["downloadBuckets"], json!(["0", "1"]), "{later}");
    assert!(later["uptime"].as_f64().unwrap() > uptime, "{later}");

    // A node that is not --dev: production, no buckets until its ledger names a worker.
    let temp = tempfile::tempdir().unwrap();
    let plain = Node::start_in(&temp.path().join("data"), &[]);
    let status = get_json(&plain, "/status");
    assert_eq!(status["nodeEnv"], "production", "{status}");
    assert_eq!(status["uploadBuckets"], json!([]), "{status}");
    assert_eq!(status["downloadBuckets"], json!([]), "{status}");
}

/// Every route of the API with the operations the document must describe, and a concrete
/// path to try it on. (Every GET route also answers HEAD; the document says so once, and
/// describes HEAD as an operation only for /files/{id}, as the reference does.)
const ROUTES: &[(&str, &[&str], &str)] = &[
    ("/files/{id}", &["get", "head"], "/files/1"),
    ("/files", &["post"], "/files"),
    ("/authToken", &["post"], "/authToken"),
    ("/state/data-objects", &["get"], "/state/data-objects"),
    (
        "/state/bags/{bagId}/data-objects",
        &["get"],
        "/state/bags/static:council/data-objects",
    ),
    ("/state/data", &["get"], "/state/data"),
    ("/version", &["get"], "/version"),
    ("/status", &["get"], "/status"),
    ("/openapi.yaml", &["get"], "/openapi.yaml"),
    ("/admin/ledger", &["get", "post"], "/admin/ledger"),
    (
        "/admin/ledger/next-object-id",
        &["get"],
        "/admin/ledger/next-object-id",
    ),
    ("/admin/store", &["get"], "/admin/store"),
    ("/admin/connections", &["get"], "/admin/connections"),
];

/// The paths of an OpenAPI document and the methods under each (a YAML reader for the
/// block style our document uses: two-space indents, one key per line).
fn openapi_paths(yaml: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_paths = false;
    for line in yaml.lines() {
        let trimmed = line.trim_end();
        if trimmed.is_empty() || trimmed.trim_start().starts_with('#') {
            continue;
        }
        let indent = trimmed.len() - trimmed.trim_start().len();
        if indent == 0 {
            in_paths = trimmed == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        let key = trimmed.trim_start().trim_end_matches(':');
        let key = key.trim_matches('\'').trim_matches('"');
        if indent == 2 {
            out.push((key.to_string(), Vec::new()));
        } else if indent == 4 && trimmed.ends_with(':') {
            if let Some(last) = out.last_mut() {
                last.1.push(key.to_string());
            }
        }
    }
    out
}

#[test]
fn the_openapi_document_is_served_and_describes_every_route() {
    let node = Node::start_dev(&[]);
    let answer = get(&node.url("/openapi.yaml"));
    assert_eq!(answer.status, 200);
    assert!(
        answer
            .header("content-type")
            .is_some_and(|t| t.contains("yaml")),
        "{:?}",
        answer.headers
    );
    let served = String::from_utf8(answer.body.clone()).expect("UTF-8");
    let on_disk = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml"))
        .expect("server/openapi.yaml");
    assert_eq!(
        served, on_disk,
        "the node serves another document than server/openapi.yaml"
    );
    assert!(
        served.starts_with("openapi: 3.0.3\n"),
        "{}",
        &served[..40.min(served.len())]
    );
    assert!(!served.contains('\t'), "YAML must not contain tabs");

    // Every route, with every method it answers.
    let paths = openapi_paths(&served);
    for (path, methods, _) in ROUTES {
        let documented = paths
            .iter()
            .find(|(p, _)| p == path)
            .unwrap_or_else(|| panic!("{path} is not in openapi.yaml; paths: {paths:?}"));
        for method in *methods {
            assert!(
                documented.1.iter().any(|m| m == method),
                "{method} {path} is not documented: {documented:?}"
            );
        }
    }
    // And nothing the node does not route: each documented operation reaches a handler
    // (neither "no route" nor 405).
    for (path, methods) in &paths {
        let (_, _, concrete) = ROUTES
            .iter()
            .find(|(p, _, _)| p == path)
            .unwrap_or_else(|| {
                panic!("openapi.yaml documents {path}, which this test does not know")
            });
        for method in methods {
            if !["get", "head", "post", "put", "delete", "patch", "options"]
                .contains(&method.as_str())
            {
                continue; // parameters, summary, ...
            }
            let answer = request(&method.to_uppercase(), &node.url(concrete), &[], Some(b""));
            assert_ne!(answer.status, 405, "{method} {path}");
            if answer.status == 404 {
                let body = String::from_utf8_lossy(&answer.body);
                assert!(!body.contains("no route"), "{method} {path}: {body}");
            }
        }
    }
    // The reference's operations keep their ids.
    for id in [
        "filesApi.getFile",
        "filesApi.getFileHeaders",
        "filesApi.uploadFile",
        "filesApi.authTokenForUploading",
        "stateApi.getAllLocalDataObjects",
        "stateApi.getLocalDataObjectsByBagId",
        "stateApi.getVersion",
        "stateApi.getLocalDataStats",
        "stateApi.getStatus",
    ] {
        assert!(
            served.contains(&format!("operationId: {id}\n")),
            "operationId {id} missing"
        );
    }
    // Every reference resolves to a schema the document defines.
    let defined: Vec<&str> = served
        .split("\n  schemas:\n")
        .nth(1)
        .expect("components/schemas")
        .lines()
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .filter(|l| l.len() > 4 && !l[4..].starts_with(' ') && l.ends_with(':'))
        .map(|l| l.trim().trim_end_matches(':'))
        .collect();
    for schema in [
        "ErrorResponse",
        "TokenRequest",
        "DataStatsResponse",
        "StatusResponse",
    ] {
        assert!(
            defined.contains(&schema),
            "{schema} not defined: {defined:?}"
        );
    }
    for reference in served.split("#/components/schemas/").skip(1) {
        let name: String = reference
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        assert!(
            defined.contains(&name.as_str()),
            "$ref to undefined schema {name}"
        );
    }
    // The error types the node answers with are all named.
    for kind in [
        "bad_request",
        "unauthorized",
        "not_found",
        "method_not_allowed",
        "conflict",
        "payload_too_large",
        "range_not_satisfiable",
        "unavailable",
        "insufficient_storage",
        "timeout",
        "corrupt_object",
        "internal",
    ] {
        assert!(served.contains(kind), "error type {kind} is not documented");
    }
}

#[test]
fn unknown_routes_are_404_and_wrong_methods_405_in_json() {
    let node = Node::start_dev(&[]);
    let base = format!("http://{}", node.addr);
    for path in [
        "/",
        "/api",
        "/api/v1",
        "/api/v1/",
        "/api/v2/files/1",
        "/api/v1/nothing",
        "/api/v1/files/1/extra",
        "/api/v1/state",
        "/api/v1/state/bags",
        "/api/v1/state/bags/static:council",
        "/api/v1/admin",
        "/files/1",
    ] {
        let answer = get(&format!("{base}{path}"));
        let json = answer.assert_error(404);
        assert_eq!(json["type"], "not_found", "{path}");
        assert_eq!(
            answer.header("access-control-allow-origin"),
            Some("*"),
            "{path}"
        );
    }
    // Unknown routes are 404 whatever the method.
    request("POST", &node.url("/nothing"), &[], Some(b"{}")).assert_error(404);
    request("DELETE", &node.url("/files/1/x"), &[], None).assert_error(404);

    let cases: &[(&str, &str, &str)] = &[
        ("GET", "/files", "POST, OPTIONS"),
        ("PUT", "/files", "POST, OPTIONS"),
        ("DELETE", "/files", "POST, OPTIONS"),
        ("POST", "/files/1", "GET, HEAD, OPTIONS"),
        ("PUT", "/files/1", "GET, HEAD, OPTIONS"),
        ("DELETE", "/files/1", "GET, HEAD, OPTIONS"),
        ("GET", "/authToken", "POST, OPTIONS"),
        ("POST", "/state/data-objects", "GET, HEAD, OPTIONS"),
        (
            "DELETE",
            "/state/bags/static:council/data-objects",
            "GET, HEAD, OPTIONS",
        ),
        ("POST", "/state/data", "GET, HEAD, OPTIONS"),
        ("POST", "/version", "GET, HEAD, OPTIONS"),
        ("PUT", "/status", "GET, HEAD, OPTIONS"),
        ("POST", "/openapi.yaml", "GET, HEAD, OPTIONS"),
        ("PUT", "/admin/ledger", "GET, POST, OPTIONS"),
        ("DELETE", "/admin/ledger", "GET, POST, OPTIONS"),
        ("POST", "/admin/ledger/next-object-id", "GET, HEAD, OPTIONS"),
    ];
    for (method, path, allow) in cases {
        let answer = request(method, &node.url(path), &[], None);
        let json = answer.assert_error(405);
        assert_eq!(json["type"], "method_not_allowed", "{method} {path}");
        assert!(
            json["message"].as_str().unwrap().contains(method),
            "{method} {path}: {json}"
        );
        // Allow lists at least these methods, and never the one refused.
        let listed: Vec<&str> = answer
            .header("allow")
            .unwrap_or_else(|| panic!("no Allow on {method} {path}"))
            .split(',')
            .map(str::trim)
            .collect();
        for expected in allow.split(", ") {
            assert!(
                listed.contains(&expected),
                "{method} {path}: Allow {listed:?}"
            );
        }
        assert!(
            !listed.contains(method),
            "{method} {path}: Allow {listed:?}"
        );
    }
    // HEAD on a POST-only route: 405 with Allow, no body.
    let head = request("HEAD", &node.url("/authToken"), &[], None);
    assert_eq!(head.status, 405);
    assert_eq!(head.header("allow"), Some("POST, OPTIONS"));
    assert!(head.body.is_empty());

    // CORS preflight on any route.
    for path in ["/files", "/files/1", "/authToken", "/state/data"] {
        let answer = request(
            "OPTIONS",
            &node.url(path),
            &[
                ("Origin", "https://player.example"),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "x-api-key, content-type"),
            ],
            None,
        );
        assert_eq!(answer.status, 204, "OPTIONS {path}");
        assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
        assert_eq!(
            answer.header("access-control-allow-headers"),
            Some("x-api-key, content-type")
        );
        let methods = answer.header("access-control-allow-methods").unwrap_or("");
        for method in ["GET", "HEAD", "POST"] {
            assert!(methods.contains(method), "{methods}");
        }
    }
}

#[test]
fn head_is_answered_wherever_get_is() {
    let node = Node::start_dev(&[]);
    put(&node, 1, MEMBER_BAG, &content(1, 100)).assert_status(201);
    // HEAD wherever GET is (RFC 9110 §9.1: servers MUST support GET and HEAD), admin routes
    // included: the same status and headers as GET, no body.
    let auth = node.admin_bearer();
    for (_, methods, path) in ROUTES {
        if !methods.contains(&"get") {
            continue;
        }
        let headers = [("Authorization", auth.as_str())];
        let get = request("GET", &node.url(path), &headers, None);
        get.assert_status(200);
        let head = request("HEAD", &node.url(path), &headers, None);
        assert_eq!(head.status, get.status, "HEAD {path}");
        assert!(head.body.is_empty(), "HEAD {path} has a body");
        assert_eq!(
            head.header("content-type"),
            get.header("content-type"),
            "HEAD {path}"
        );
        // /status reports its uptime, so only its length's presence can be compared.
        if *path == "/status" {
            assert!(head.header("content-length").is_some(), "HEAD {path}");
        } else {
            assert_eq!(
                head.header("content-length"),
                get.header("content-length"),
                "HEAD {path}"
            );
        }
        assert_eq!(
            get.header("content-length"),
            Some(get.body.len().to_string().as_str()),
            "GET {path}"
        );
    }
}

#[test]
fn the_admin_api_needs_the_token() {
    let node = Node::start_dev(&[]);
    let token = node.admin_token();
    assert!(token.len() >= 32, "{token}");
    let wrong = format!("Bearer {}x", &token);
    let short = format!("Bearer {}", &token[..token.len() - 1]);
    let basic = format!("Basic {token}");
    let mutation = json!({"op": "putMember", "member": {"id": 9, "controller":
        "j4W7rVcUCxi2crhhjRq46fNDRbVHTjJrz6bKxZwehEMQxZeSf"}})
    .to_string();
    for (method, path, body) in [
        ("GET", "/admin/ledger", None),
        ("GET", "/admin/ledger?bag=static:council", None),
        ("GET", "/admin/ledger/next-object-id", None),
        ("POST", "/admin/ledger", Some(mutation.as_bytes())),
    ] {
        for auth in [
            None,
            Some("Bearer "),
            Some(wrong.as_str()),
            Some(short.as_str()),
            Some(basic.as_str()),
            Some(token.as_str()),
        ] {
            let json = admin(&node, method, path, auth, body).assert_error(401);
            assert_eq!(json["type"], "unauthorized", "{method} {path} {auth:?}");
        }
    }
    // Nothing changed.
    let ledger = admin_get(&node, "/admin/ledger");
    assert_eq!(ledger["members"].as_array().unwrap().len(), 1, "{ledger}");
}

#[test]
fn admin_api_reads_and_changes_the_ledger() {
    let node = Node::start_dev(&[]);
    let auth = node.admin_bearer();
    let alice = "j4W7rVcUCxi2crhhjRq46fNDRbVHTjJrz6bKxZwehEMQxZeSf";

    // What --dev seeds.
    let ledger = admin_get(&node, "/admin/ledger");
    assert_eq!(ledger["workerId"], 0, "{ledger}");
    assert_eq!(ledger["autoAcceptUploads"], true, "{ledger}");
    let buckets = ledger["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 1, "{ledger}");
    assert_eq!(buckets[0]["id"], 0);
    assert_eq!(buckets[0]["operatorWorkerId"], 0);
    assert_eq!(buckets[0]["acceptingUploads"], true);
    assert_eq!(buckets[0]["allBags"], true);
    assert_eq!(ledger["members"], json!([{"id": 1, "controller": alice}]));
    assert_eq!(ledger["objects"], json!([]));
    assert_eq!(
        admin_get(&node, "/admin/ledger/next-object-id"),
        json!({"nextObjectId": 0})
    );

    // Objects: created, listed, next id after the largest.
    let five = content(5, 100);
    create_object(&node, 5, MEMBER_BAG, &five);
    create_object(&node, 3, "static:council", &content(3, 10));
    assert_eq!(
        admin_get(&node, "/admin/ledger/next-object-id"),
        json!({"nextObjectId": 6})
    );
    let ledger = admin_get(&node, "/admin/ledger");
    assert_eq!(
        ledger["objects"],
        json!([
            {"id": 3, "bag": "static:council", "sizeBytes": 10,
             "multihash": multihash(&content(3, 10)), "accepted": false},
            {"id": 5, "bag": MEMBER_BAG, "sizeBytes": 100, "multihash": multihash(&five),
             "accepted": false},
        ])
    );
    // Filtered by bag, in any spelling; a bad bag is 400.
    for bag in [
        "dynamic:member:1",
        "dynamic%3Amember%3A1",
        "Dynamic:Member:1",
    ] {
        let filtered = admin_get(&node, &format!("/admin/ledger?bag={bag}"));
        let ids: Vec<&Value> = filtered["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| &o["id"])
            .collect();
        assert_eq!(ids, [&json!(5)], "{bag}");
    }
    let empty = admin_get(&node, "/admin/ledger?bag=dynamic:channel:9");
    assert_eq!(empty["objects"], json!([]));
    for bad in ["dynamic:planet:1", "%zz", ""] {
        let json = admin(
            &node,
            "GET",
            &format!("/admin/ledger?bag={bad}"),
            Some(&auth),
            None,
        )
        .assert_error(400);
        assert_eq!(json["type"], "bad_request", "{bad}");
    }

    // 409: creating an object that exists, even identical.
    let again = json!({"op": "createObject", "object": {"id": 5, "bag": MEMBER_BAG,
        "sizeBytes": 100, "multihash": multihash(&five)}});
    let json = admin_apply(&node, again).assert_error(409);
    assert_eq!(json["type"], "conflict");
    // 404: deleting or accepting what does not exist; removing an absent member or bucket.
    for mutation in [
        json!({"op": "deleteObject", "id": 77}),
        json!({"op": "acceptObject", "id": 77}),
        json!({"op": "removeMember", "id": 77}),
        json!({"op": "removeBucket", "id": 77}),
    ] {
        let json = admin_apply(&node, mutation.clone()).assert_error(404);
        assert_eq!(json["type"], "not_found", "{mutation}");
    }

    // 400: not a mutation.
    let bad_bodies: Vec<(String, &str)> = vec![
        ("not json".into(), "not JSON"),
        (String::new(), "empty"),
        ("[]".into(), "an array"),
        (r#"{"op":"nope"}"#.into(), "unknown op"),
        (r#"{"id":5}"#.into(), "no op"),
        (
            r#"{"op":"createObject","object":{"id":6}}"#.into(),
            "missing fields",
        ),
        (
            json!({"op": "createObject", "object": {"id": 6, "bag": MEMBER_BAG,
                "sizeBytes": 1, "multihash": "gWnotahash"}})
            .to_string(),
            "bad multihash",
        ),
        (
            json!({"op": "createObject", "object": {"id": 6, "bag": "dynamic:planet:1",
                "sizeBytes": 1, "multihash": multihash(b"x")}})
            .to_string(),
            "bad bag",
        ),
        (
            json!({"op": "createObject", "object": {"id": -6, "bag": MEMBER_BAG,
                "sizeBytes": 1, "multihash": multihash(b"x")}})
            .to_string(),
            "negative id",
        ),
        (
            json!({"op": "putMember", "member": {"id": 6, "controller": "not-an-address"}})
                .to_string(),
            "bad controller",
        ),
        (
            json!({"op": "putMember", "member": {"id": 6, "controller": alice}, "extra": 1})
                .to_string(),
            "unknown field",
        ),
        (
            json!({"op": "setAutoAccept", "enabled": "yes"}).to_string(),
            "wrong type",
        ),
    ];
    for (body, why) in &bad_bodies {
        let answer = admin(
            &node,
            "POST",
            "/admin/ledger",
            Some(&auth),
            Some(body.as_bytes()),
        );
        let json = answer.assert_error(400);
        assert_eq!(json["type"], "bad_request", "{why}: {json}");
    }
    // A body over the JSON limit (1 MiB): 413.
    let huge = format!(
        r#"{{"op":"putMember","member":{{"id":6,"controller":"{}"}}}}"#,
        "x".repeat(2 << 20)
    );
    let headers = format!(
        "Authorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        huge.len()
    );
    let reply = post_raw(&node, "/api/v1/admin/ledger", &headers, huge.as_bytes());
    assert!(
        reply.starts_with("HTTP/1.1 413"),
        "{}",
        &reply[..reply.len().min(300)]
    );
    assert!(reply.contains("payload_too_large"), "{reply}");
    // None of it changed the ledger.
    let ledger = admin_get(&node, "/admin/ledger");
    assert_eq!(ledger["members"].as_array().unwrap().len(), 1, "{ledger}");
    assert_eq!(ledger["objects"].as_array().unwrap().len(), 2, "{ledger}");

    // deleteObject also removes the stored copy.
    let token = alice_token(&node, 5, MEMBER_BAG);
    assert_eq!(
        upload(&node, 5, MEMBER_BAG, &five, Some(&token)).status,
        201
    );
    assert!(get(&node.url("/files/5")).body == five);
    let answer = admin_apply(&node, json!({"op": "deleteObject", "id": 5}));
    answer.assert_status(200);
    assert_eq!(answer.json(), json!({"applied": true}));
    get(&node.url("/files/5")).assert_error(404);
    assert_eq!(
        request("HEAD", &node.url("/files/5"), &[], None).status,
        404
    );
    assert_eq!(get_json(&node, "/state/data-objects"), json!([]));
    assert_eq!(
        get_json(&node, "/state/bags/dynamic:member:1/data-objects"),
        json!([])
    );
    let after = state_data(&node);
    assert_eq!(after["objectNumber"], 0, "{after}");
    assert_eq!(after["totalSize"], 0, "{after}");
    let ledger = admin_get(&node, "/admin/ledger");
    assert!(
        !ledger["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == 5),
        "{ledger}"
    );
    // The id can be used again, for other bytes.
    let other = content(55, 2000);
    put(&node, 5, MEMBER_BAG, &other).assert_status(201);
    let fetched = get(&node.url("/files/5"));
    assert!(
        fetched.body == other,
        "the re-created object 5 serves other bytes"
    );
    let etag = format!("\"{}\"", multihash(&other));
    assert_eq!(fetched.header("etag"), Some(etag.as_str()));
}

#[test]
fn a_refused_admin_change_is_answered_even_to_clients_that_send_the_whole_body_first() {
    // A wrong admin token is refused before the body is read; a client that writes its whole
    // (here 100 KiB) body before reading must still get the 401 JSON answer, not a reset
    // connection (POST /files drains refused bodies up to 1 MiB for this reason).
    let node = Node::start_dev(&[]);
    let body = format!(
        r#"{{"op":"putMember","member":{{"id":6,"controller":"{}"}}}}"#,
        "x".repeat(100 * 1024)
    );
    assert_refusal_reaches_whole_body_clients(
        &node.url("/admin/ledger"),
        &[
            ("Authorization", "Bearer wrong"),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
        401,
        "unauthorized",
    );
}
