//! `scan_upload_head`: the first bytes of every connection's next request go through it.
//! Checks: nothing panics; a head it takes is a POST to /api/v1/files whose length lies
//! within the input and ends a line, and every shorter prefix of that head asks for more
//! (a head that arrives in pieces is judged as one that arrives whole); bytes after a head
//! do not change it; input refused stays refused whatever follows it.
#![no_main]

use colossus::http::upload_head::{scan_upload_head, HeadScan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Heads start with the upload's request line often enough to get past the first check.
    let mut input = b"POST /api/v1/files".to_vec();
    let bytes: &[u8] = if data.first().is_some_and(|b| b & 1 == 1) {
        input.extend_from_slice(&data[1..]);
        &input
    } else {
        data
    };
    match scan_upload_head(bytes, 16) {
        HeadScan::Upload(head) => {
            let len = head.head_len_bytes;
            assert!(len <= bytes.len());
            assert_eq!(bytes[len - 1], b'\n');
            assert_eq!(head.parts.method.as_str(), "POST");
            assert_eq!(head.parts.uri.path(), "/api/v1/files");
            if len <= 2048 {
                for prefix in 0..len {
                    assert!(
                        matches!(scan_upload_head(&bytes[..prefix], 16), HeadScan::Partial),
                        "prefix of {prefix} bytes"
                    );
                }
            }
            let mut longer = bytes.to_vec();
            longer.extend_from_slice(b"trailing body bytes");
            let HeadScan::Upload(again) = scan_upload_head(&longer, 16) else {
                panic!("bytes after the head changed the verdict");
            };
            assert_eq!(again.head_len_bytes, len);
            assert_eq!(again.content_length_bytes, head.content_length_bytes);
        }
        HeadScan::Other => {
            let mut longer = bytes.to_vec();
            longer.extend_from_slice(b"\r\n\r\n");
            assert!(matches!(scan_upload_head(&longer, 16), HeadScan::Other));
        }
        HeadScan::Partial => {}
    }
});
