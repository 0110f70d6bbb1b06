//! `GET /admin/store` (`writeBuffers`) shows the upload write buffers: their size, how many
//! each server thread shares, how long a burst's are kept, how many uploads hold now and how
//! many are kept idle. After an upload of several buffers, none is held, the thread that took
//! it keeps some for the next upload, and once `--write-buffers-burst-kept-ms` has passed at
//! most `--write-buffers-per-core` of them per server thread.

mod common;

use common::*;

const BAG: &str = "dynamic:channel:7";
const PER_CORE: u64 = 2;
/// Long enough that the uploads' buffers are still kept when looked at right after them,
/// even on a loaded machine.
const BURST_KEPT_MS: u64 = 3_000;

fn write_buffers(node: &Node) -> serde_json::Value {
    admin_get(node, "/admin/store")["writeBuffers"].clone()
}

#[test]
fn written_buffers_are_given_back_and_at_most_per_core_kept() {
    let node = Node::start_dev(&[
        "--write-buffers-per-core",
        &PER_CORE.to_string(),
        "--write-buffers-burst-kept-ms",
        &BURST_KEPT_MS.to_string(),
    ]);
    let before = write_buffers(&node);
    assert_eq!(before["perCore"], PER_CORE, "{before}");
    assert_eq!(before["burstKeptMs"], BURST_KEPT_MS, "{before}");
    assert_eq!(before["taken"], 0, "{before}");
    assert_eq!(before["idle"], 0, "no upload yet: {before}");
    let buffer_bytes = before["bytesEach"].as_u64().expect("a size") as usize;
    assert_eq!(
        buffer_bytes,
        colossus_engine::config::StoreConfig::default().write_buffer_bytes
    );

    // Eight uploads at once of five buffers and a bit, on the node's two server threads: each
    // holds two buffers at least while it runs, so a thread with more than one of them takes
    // more than PER_CORE at once.
    let ids = 51..59u64;
    let uploads: Vec<(String, String, Vec<u8>)> = ids
        .clone()
        .map(|id| {
            let bytes = content(id, 5 * buffer_bytes + 4321);
            create_object(&node, id, BAG, &bytes);
            let url = format!(
                "{}?dataObjectId={id}&storageBucketId=0&bagId={}",
                node.url("/files"),
                BAG.replace(':', "%3A")
            );
            (
                url,
                alice_token(&node, id, BAG),
                multipart(BOUNDARY, &[], &bytes),
            )
        })
        .collect();
    std::thread::scope(|scope| {
        for (url, token, body) in &uploads {
            scope.spawn(move || {
                let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
                let headers = [
                    ("Content-Type", content_type.as_str()),
                    ("x-api-key", token),
                ];
                request("POST", url, &headers, Some(body)).assert_status(201);
            });
        }
    });
    let after = write_buffers(&node);
    assert_eq!(after["taken"], 0, "the finished uploads hold none: {after}");
    // One of the two threads had four or more of the uploads at once, two buffers each at
    // least: it keeps that many for now, more than PER_CORE per thread on the two together.
    let kept_max = 2 * PER_CORE;
    let idle = after["idle"].as_u64().expect("a count");
    assert!(
        idle > kept_max,
        "the threads keep the burst's buffers past {PER_CORE} each for now: {after}"
    );

    for id in ids {
        let answer = get(&node.url(&format!("/files/{id}")));
        answer.assert_status(200);
        assert!(
            answer.body == content(id, 5 * buffer_bytes + 4321),
            "object {id} read back differently"
        );
    }

    // Each thread trims what it keeps once a second; past the burst time at most PER_CORE
    // stay per thread.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let now = write_buffers(&node);
        let idle = now["idle"].as_u64().expect("a count");
        if (1..=kept_max).contains(&idle) {
            break;
        }
        assert!(
            idle > kept_max && std::time::Instant::now() < deadline,
            "after {BURST_KEPT_MS} ms the two threads keep 1 to {kept_max} buffers: {now}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    node.stop();
}
