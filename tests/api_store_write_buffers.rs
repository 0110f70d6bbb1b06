//! `GET /admin/store` (`writeBuffers`) shows the upload write buffers: their size, how many
//! each server thread shares, how many uploads hold now and how many are kept idle. After an
//! upload of several buffers, none is held and the thread that took it keeps at most
//! `--write-buffers-per-core` of them for the next upload.

mod common;

use common::*;

const BAG: &str = "dynamic:channel:7";
const PER_CORE: u64 = 2;

fn write_buffers(node: &Node) -> serde_json::Value {
    admin_get(node, "/admin/store")["writeBuffers"].clone()
}

#[test]
fn written_buffers_are_given_back_and_at_most_per_core_kept() {
    let node = Node::start_dev(&["--write-buffers-per-core", &PER_CORE.to_string()]);
    let before = write_buffers(&node);
    assert_eq!(before["perCore"], PER_CORE, "{before}");
    assert_eq!(before["taken"], 0, "{before}");
    assert_eq!(before["idle"], 0, "no upload yet: {before}");
    let buffer_bytes = before["bytesEach"].as_u64().expect("a size") as usize;
    assert_eq!(
        buffer_bytes,
        colossus_engine::config::StoreConfig::default().write_buffer_bytes
    );

    // Five buffers and a bit: more buffers than the thread may keep.
    let bytes = content(51, 5 * buffer_bytes + 4321);
    put(&node, 51, BAG, &bytes).assert_status(201);
    let answer = get(&node.url("/files/51"));
    answer.assert_status(200);
    assert!(answer.body == bytes, "object 51 read back differently");

    let after = write_buffers(&node);
    assert_eq!(after["taken"], 0, "the finished upload holds none: {after}");
    let idle = after["idle"].as_u64().expect("a count");
    assert!(
        (1..=PER_CORE).contains(&idle),
        "the upload's thread keeps its written buffers, at most {PER_CORE}: {after}"
    );
    node.stop();
}
