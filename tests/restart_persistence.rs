//! Upload, stop (SIGTERM, and kill -9), restart on the same data directory: every object
//! acknowledged before comes back byte-identical with the same ETag and Last-Modified, the
//! ledger keeps every change made through the admin API, and the admin token stays the same
//! file with the same mode.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;

use colossus::auth::keys::{CryptoScheme, KeyPair};
use common::*;
use serde_json::{json, Value};

/// What a GET of a stored object showed.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    bytes: Vec<u8>,
    etag: String,
    last_modified: String,
    content_type: String,
}

fn fetch(node: &Node, id: u64) -> Seen {
    let answer = get(&node.url(&format!("/files/{id}")));
    assert_eq!(
        answer.status,
        200,
        "object {id}: {}",
        String::from_utf8_lossy(&answer.body)
    );
    Seen {
        etag: answer.header("etag").expect("etag").to_string(),
        last_modified: answer
            .header("last-modified")
            .expect("last-modified")
            .to_string(),
        content_type: answer
            .header("content-type")
            .expect("content-type")
            .to_string(),
        bytes: answer.body,
    }
}

fn ids(node: &Node) -> Value {
    get(&node.url("/state/data-objects")).json()
}

/// Checks every object in `seen` against the node, and a range of each non-empty one.
fn assert_all_served(node: &Node, seen: &BTreeMap<u64, Seen>) {
    for (&id, before) in seen {
        let now = fetch(node, id);
        assert!(now.bytes == before.bytes, "object {id}: different bytes");
        assert_eq!(now, *before, "object {id}: different headers");
        let head = request("HEAD", &node.url(&format!("/files/{id}")), &[], None);
        assert_eq!(head.status, 200);
        assert_eq!(
            head.header("content-length"),
            Some(before.bytes.len().to_string().as_str())
        );
        if !before.bytes.is_empty() {
            let last = before.bytes.len() - 1;
            let range = request(
                "GET",
                &node.url(&format!("/files/{id}")),
                &[("Range", &format!("bytes={}-", last / 2))],
                None,
            );
            assert_eq!(range.status, 206, "object {id}");
            assert!(
                range.body == before.bytes[last / 2..],
                "object {id}: range bytes"
            );
        }
        // Conditional GET with the old validator: still current.
        let conditional = request(
            "GET",
            &node.url(&format!("/files/{id}")),
            &[("If-None-Match", &before.etag)],
            None,
        );
        assert_eq!(conditional.status, 304, "object {id}");
    }
}

#[test]
fn objects_ledger_and_admin_token_survive_restarts_and_kill_9() {
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    let node = Node::start_in(&data, &["--dev"]);
    let token_path = data.join("admin.token");
    let admin_token = std::fs::read(&token_path).expect("admin token");
    let mode = std::fs::metadata(&token_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "admin.token mode {mode:o}");

    // Objects of 0, 1, 4 KiB and 3 MiB bytes in several bags; a PNG header so one object has
    // a sniffed content type to keep.
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend(content(9, 5000));
    let objects: Vec<(u64, &str, Vec<u8>)> = vec![
        (1, "dynamic:member:1", Vec::new()),
        (2, "dynamic:member:1", content(2, 1)),
        (3, "static:council", content(3, 4096)),
        (4, "dynamic:channel:7", content(4, 3 << 20)),
        (6, "static:wg:storage", png),
    ];
    for (id, bag, bytes) in &objects {
        put(&node, *id, bag, bytes).assert_status(201);
    }
    // Ledger changes: a member with a key made here, an object created but not uploaded, a
    // second bucket, and a pending (uploaded, not accepted) object.
    let member = KeyPair::generate(CryptoScheme::Sr25519);
    add_member(&node, 42, &member.public_key().to_joystream_address());
    let later = content(9, 70_000);
    create_object(&node, 9, "dynamic:member:42", &later);
    admin_apply(
        &node,
        json!({"op": "putBucket", "bucket": {"id": 1, "operatorWorkerId": 0,
            "acceptingUploads": true, "bags": ["static:council"]}}),
    )
    .assert_status(200);
    admin_apply(&node, json!({"op": "setAutoAccept", "enabled": false})).assert_status(200);
    let pending = content(5, 10_000);
    put(&node, 5, "dynamic:member:1", &pending).assert_status(201);

    let mut seen: BTreeMap<u64, Seen> = BTreeMap::new();
    for id in [1, 2, 3, 4, 5, 6] {
        seen.insert(id, fetch(&node, id));
    }
    assert_eq!(seen[&6].content_type, "image/png");
    assert!(seen[&1].bytes.is_empty());
    let stats_before = state_data(&node);
    assert_eq!(stats_before["pendingObjects"], 1, "{stats_before}");
    let ids_before = ids(&node);
    let ledger_before = admin_get(&node, "/admin/ledger");

    // Clean stop: exit status 0.
    let status = node.stop();
    assert!(status.success(), "SIGTERM exit: {status:?}");

    // Restart on the same directory: everything as it was (Last-Modified included: it is
    // the time the object was stored, not the time the node started).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let node = Node::start_in(&data, &["--dev"]);
    assert_all_served(&node, &seen);
    assert_eq!(state_data(&node), stats_before);
    assert_eq!(ids(&node), ids_before);
    assert_eq!(admin_get(&node, "/admin/ledger"), ledger_before);
    assert_eq!(std::fs::read(&token_path).unwrap(), admin_token);
    let mode = std::fs::metadata(&token_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "admin.token mode {mode:o} after a restart");
    assert_eq!(node.admin_token().as_bytes(), admin_token.trim_ascii());

    // The member added before the restart gets a token, and the object created before it
    // can be uploaded now.
    let token = member_token(node.addr, &member, 42, 9, "dynamic:member:42");
    upload(&node, 9, "dynamic:member:42", &later, Some(&token)).assert_status(201);
    seen.insert(9, fetch(&node, 9));
    // One more object and one more ledger change, then kill -9 while idle: both were
    // acknowledged, so both must be there after.
    let last = content(10, 1 << 20);
    put(&node, 10, "dynamic:member:1", &last).assert_status(201);
    seen.insert(10, fetch(&node, 10));
    let other = KeyPair::generate(CryptoScheme::Ed25519);
    add_member(&node, 43, &other.public_key().to_joystream_address());
    let stats_killed = state_data(&node);
    let ids_killed = ids(&node);
    let ledger_killed = admin_get(&node, "/admin/ledger");
    let mut node = node;
    signal(&node.child, libc::SIGKILL);
    let status = wait_timeout(&mut node.child, std::time::Duration::from_secs(30))
        .expect("the node did not die of SIGKILL");
    assert!(!status.success());
    drop(node);

    let node = Node::start_in(&data, &["--dev"]);
    assert_all_served(&node, &seen);
    assert_eq!(state_data(&node), stats_killed);
    assert_eq!(ids(&node), ids_killed);
    assert_eq!(admin_get(&node, "/admin/ledger"), ledger_killed);
    assert_eq!(std::fs::read(&token_path).unwrap(), admin_token);
    member_token(node.addr, &other, 43, 11, "dynamic:member:43");
    let status = node.stop();
    assert!(status.success(), "SIGTERM exit after recovery: {status:?}");

    // Without --dev, nothing is seeded: what is served and what the ledger says come from
    // the data directory alone.
    let node = Node::start_in(&data, &["--disable-upload-auth"]);
    assert_all_served(&node, &seen);
    assert_eq!(ids(&node), ids_killed);
    assert_eq!(admin_get(&node, "/admin/ledger"), ledger_killed);
    let status = get(&node.url("/status")).json();
    assert_eq!(status["uploadBuckets"], json!(["0", "1"]), "{status}");
    let exit = node.stop();
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn a_fresh_node_stopped_at_once_restarts_empty() {
    // A store created and closed with nothing in it opens again, and the admin token is
    // generated once.
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    let node = Node::start_in(&data, &["--dev"]);
    let token = node.admin_token();
    assert!(node.stop().success());
    let node = Node::start_in(&data, &["--dev"]);
    assert_eq!(node.admin_token(), token);
    assert_eq!(ids(&node), json!([]));
    assert_eq!(state_data(&node)["objectNumber"], 0);
    assert!(node.stop().success());
}

#[test]
fn a_dev_restart_keeps_admin_changes_to_what_dev_seeded() {
    // docs/OPERATIONS.md: "The ledger is seeded only while it has no storage worker (the
    // first start); later starts with `--dev` keep whatever the admin API changed since." An
    // operator who turned auto-accept off and closed bucket 0
    // to uploads finds them so after a restart.
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    let node = Node::start_in(&data, &["--dev"]);
    admin_apply(&node, json!({"op": "setAutoAccept", "enabled": false})).assert_status(200);
    admin_apply(
        &node,
        json!({"op": "putBucket", "bucket": {"id": 0, "operatorWorkerId": 0,
            "acceptingUploads": false, "allBags": true}}),
    )
    .assert_status(200);
    let before = admin_get(&node, "/admin/ledger");
    assert_eq!(before["autoAcceptUploads"], false);
    assert!(node.stop().success());
    let node = Node::start_in(&data, &["--dev"]);
    let after = admin_get(&node, "/admin/ledger");
    assert_eq!(after, before, "a --dev restart changed the ledger");
    let status = get(&node.url("/status")).json();
    assert_eq!(status["uploadBuckets"], json!([]), "{status}");
}
