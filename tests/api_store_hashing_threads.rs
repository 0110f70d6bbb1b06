//! Upload buffers are hashed by the node's hashing threads while one is idle, or by the
//! server thread receiving them (`--hash-threads 0`, or every thread busy); either way the
//! object is stored under its right digest and reads back intact, and `GET /admin/store`
//! (`payloadHashing`) counts who hashed how many buffers.

mod common;

use common::*;

const BAG: &str = "dynamic:channel:7";

/// Three write buffers and 123 bytes: four buffers, the first three hashed apart (the last one
/// is hashed with the commit).
const BUFFERS_APART: u64 = 3;

fn size_bytes() -> usize {
    let write_buffer_bytes = colossus_engine::config::StoreConfig::default().write_buffer_bytes;
    BUFFERS_APART as usize * write_buffer_bytes + 123
}

fn upload_read_back_and_count(node: &Node) -> serde_json::Value {
    let bytes = content(41, size_bytes());
    put(node, 41, BAG, &bytes).assert_status(201);
    let answer = get(&node.url("/files/41"));
    answer.assert_status(200);
    assert!(answer.body == bytes, "object 41 read back differently");
    admin_get(node, "/admin/store")["payloadHashing"].clone()
}

#[test]
fn buffers_are_hashed_off_the_server_threads_or_on_them() {
    let node = Node::start_dev(&["--hash-threads", "2"]);
    let hashing = upload_read_back_and_count(&node);
    assert_eq!(hashing["threads"], 2, "{hashing}");
    let off = hashing["buffersOffCore"].as_u64().expect("a count");
    let on = hashing["buffersOnCore"].as_u64().expect("a count");
    assert_eq!(off + on, BUFFERS_APART, "{hashing}");
    assert!(
        off >= 1,
        "an idle node hands buffers to its threads: {hashing}"
    );
    node.stop();

    let node = Node::start_dev(&["--hash-threads", "0"]);
    let hashing = upload_read_back_and_count(&node);
    assert_eq!(hashing["threads"], 0, "{hashing}");
    assert_eq!(hashing["buffersOffCore"], 0, "{hashing}");
    assert_eq!(hashing["buffersOnCore"], BUFFERS_APART, "{hashing}");
    node.stop();
}
