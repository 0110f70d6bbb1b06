//! `--prezeroed-segments`: the node keeps zero-filled segment files ready, reports them in
//! `GET /admin/store` (`segmentPool`), takes its segments from them, and serves what was
//! uploaded into them; without the flag the pool stays empty.

mod common;

use std::time::Duration;

use common::*;

const BAG: &str = "dynamic:channel:7";

fn pool(node: &Node) -> serde_json::Value {
    admin_get(node, "/admin/store")["segmentPool"].clone()
}

#[test]
fn uploads_land_in_zero_filled_segments() {
    let node = Node::start_dev(&["--prezeroed-segments", "1"]);
    // One 1 GiB file is zero-filled in the background.
    wait_for(Duration::from_secs(60), "a ready segment file", || {
        (pool(&node)["readyFiles"] == 1).then_some(())
    });
    let objects: Vec<Vec<u8>> = (1..=4)
        .map(|id| content(id, 70_000 * id as usize))
        .collect();
    for (i, bytes) in objects.iter().enumerate() {
        put(&node, i as u64 + 1, BAG, bytes).assert_status(201);
    }
    // The uploads' cores took their segments from the pool, which refills: a second file is
    // written only after the first was taken.
    wait_for(Duration::from_secs(60), "the pool to refill", || {
        let pool = pool(&node);
        (pool["readyFiles"] == 1 && pool["preparedFiles"].as_u64() >= Some(2)).then_some(pool)
    });
    assert_eq!(pool(&node)["lastError"], serde_json::Value::Null);
    for (i, bytes) in objects.iter().enumerate() {
        let answer = get(&node.url(&format!("/files/{}", i + 1)));
        answer.assert_status(200);
        assert!(
            answer.body == *bytes,
            "object {} read back other bytes",
            i + 1
        );
    }
    node.stop();

    let plain = Node::start_dev(&[]);
    put(&plain, 1, BAG, &objects[0]).assert_status(201);
    let pool = pool(&plain);
    assert_eq!(pool["readyFiles"], 0, "{pool}");
    assert_eq!(pool["preparedFiles"], 0, "{pool}");
    plain.stop();
}
