//! `colossus-bench sink` is the upload ceiling: the same client pushes the same multipart
//! bodies into it, and every body's byte count is checked in the sink's answer.

mod bench_common;

use bench_common::{bench, Sink};

#[test]
fn sink_measures_an_upload() {
    let sink = Sink::start(2);
    let run = bench(&[
        "upload",
        "--sink-url",
        &sink.url,
        "--object-size",
        "8MiB",
        "--count",
        "8",
        "-c",
        "4",
    ]);
    run.assert_clean(8, 8 << 23);

    // One stream, the shape of the 1 GiB ceiling, smaller.
    let run = bench(&[
        "upload",
        "--sink-url",
        &sink.url,
        "--object-size",
        "32MiB",
        "--count",
        "1",
        "-c",
        "1",
        "--write-chunk",
        "256KiB",
    ]);
    run.assert_clean(1, 32 << 20);
}
