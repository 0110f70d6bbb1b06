//! Upload payloads go to the disk with O_DIRECT by default and through the page cache with
//! `--buffered-writes`: `GET /admin/store` (`payloadWrites`) says which way each segment the
//! node appended to went, and what was uploaded either way reads back intact.

mod common;

use common::*;

const BAG: &str = "dynamic:channel:7";

fn writes(node: &Node) -> serde_json::Value {
    admin_get(node, "/admin/store")["payloadWrites"].clone()
}

/// Uploads objects of awkward sizes (none a whole number of blocks, one of several write
/// buffers) and reads each back.
fn upload_and_read_back(node: &Node) {
    let sizes = [1usize, 4095, 70_000, 3 * (1 << 20) + 123];
    for (i, &size) in sizes.iter().enumerate() {
        let id = i as u64 + 1;
        put(node, id, BAG, &content(id, size)).assert_status(201);
    }
    for (i, &size) in sizes.iter().enumerate() {
        let id = i as u64 + 1;
        let answer = get(&node.url(&format!("/files/{id}")));
        answer.assert_status(200);
        assert!(
            answer.body == content(id, size),
            "object {id} read back other bytes"
        );
    }
}

#[test]
fn payloads_go_direct_unless_told_otherwise() {
    // The test's data directory is on the machine's ext4 root, which takes O_DIRECT.
    let node = Node::start_dev(&[]);
    upload_and_read_back(&node);
    let direct = writes(&node);
    assert_eq!(direct["direct"], true, "{direct}");
    assert!(direct["directSegments"].as_u64() >= Some(1), "{direct}");
    assert_eq!(direct["bufferedSegments"], 0, "{direct}");
    node.stop();

    let node = Node::start_dev(&["--buffered-writes"]);
    upload_and_read_back(&node);
    let buffered = writes(&node);
    assert_eq!(buffered["direct"], false, "{buffered}");
    assert_eq!(buffered["directSegments"], 0, "{buffered}");
    assert!(
        buffered["bufferedSegments"].as_u64() >= Some(1),
        "{buffered}"
    );
    node.stop();
}
