//! `MultipartParser`: reads every upload body before anything else has checked it. Checks on
//! arbitrary bodies (fed whole, then cut at arbitrary points): it never panics; events follow
//! the grammar (PartStart, non-empty Data, PartEnd, ..., End, then nothing); it never hands out
//! more data bytes than it was given; and the outcome (the parts, or the error) does not depend
//! on where the body was cut. Checks on well-formed bodies built from the input (the way
//! browsers and curl build them, with a boundary absent from the data): every part comes back
//! exactly, however the body is cut.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use colossus::http::multipart::{Bytes, Event, MultipartError, MultipartLimits, MultipartParser};
use libfuzzer_sys::fuzz_target;

/// Boundaries for raw bodies: short ones are found by chance, long ones stress the search.
const BOUNDARIES: [&str; 4] = [
    "b",
    "--ab-ab",
    "----WebKitFormBoundary7MA4YWxkTrZu0gW",
    "0123456789012345678901234567890123456789012345678901234567890123456789",
];

/// Small limits, so raw inputs reach every limit.
const SMALL: MultipartLimits = MultipartLimits {
    parts_max: 4,
    header_block_bytes_max: 256,
    headers_max: 4,
    field_bytes_max: 64,
    preamble_bytes_max: 64,
    epilogue_bytes_max: 64,
};

/// Limits no well-formed input reaches.
const LARGE: MultipartLimits = MultipartLimits {
    parts_max: 1024,
    header_block_bytes_max: 1 << 20,
    headers_max: 16,
    field_bytes_max: u64::MAX,
    preamble_bytes_max: u64::MAX,
    epilogue_bytes_max: u64::MAX,
};

/// A part of a body: as drawn for a well-formed body (then cleaned), or as parsed.
#[derive(Debug, PartialEq, Eq, Arbitrary)]
struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: Vec<u8>,
}

/// A well-formed body and where to cut it.
#[derive(Debug, Arbitrary)]
struct WellFormed {
    boundary_seed: u64,
    parts: Vec<Part>,
    preamble: bool,
    epilogue: bool,
    cuts: Vec<u16>,
}

fuzz_target!(|data: &[u8]| {
    raw(data);
    if let Ok(body) = WellFormed::arbitrary(&mut Unstructured::new(data)) {
        well_formed(body);
    }
});

/// Arbitrary bytes: byte 0 picks the boundary and limits, byte 1 the chunk size.
fn raw(data: &[u8]) {
    let [control, chunk_pick, body @ ..] = data else {
        return;
    };
    let boundary = BOUNDARIES[usize::from(control & 3)];
    let limits = if control & 4 == 0 {
        SMALL
    } else {
        MultipartLimits::default()
    };
    let whole = parse(boundary, limits, [body]);
    let chunk_len = usize::from(*chunk_pick % 32) + 1;
    let cut = parse(boundary, limits, body.chunks(chunk_len));
    assert_eq!(whole, cut, "chunks of {chunk_len} changed the outcome");
    if body.len() <= 512 && control & 8 != 0 {
        let bytewise = parse(boundary, limits, body.chunks(1));
        assert_eq!(whole, bytewise, "byte-by-byte feeding changed the outcome");
    }
}

/// A body built the way clients build it parses back to its parts. The body is written out
/// here by hand, not by a library helper: it is the oracle the parser is checked against.
fn well_formed(input: WellFormed) {
    let boundary = format!("fuzz{:016x}", input.boundary_seed);
    let delimiter = format!("\r\n--{boundary}");
    let parts: Vec<Part> = input
        .parts
        .into_iter()
        .take(64)
        .map(|part| Part {
            name: clean(&part.name),
            filename: part.filename.as_deref().map(clean),
            content_type: part
                .content_type
                .as_deref()
                .map(|t| clean(t).trim_matches([' ', '\t']).to_owned()),
            data: part.data,
        })
        .collect();
    let mut body = Vec::new();
    if input.preamble {
        body.extend_from_slice(b"preamble\r\n");
    }
    for part in &parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{}\"", part.name);
        if let Some(filename) = &part.filename {
            disposition.push_str(&format!("; filename=\"{filename}\""));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(content_type) = &part.content_type {
            body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&part.data);
        body.extend_from_slice(b"\r\n");
        // The boundary must not occur in the data (with the CRLF before it); a client would
        // have picked another.
        let framed = [b"\r\n".as_slice(), &part.data, b"\r\n"].concat();
        if framed
            .windows(delimiter.len())
            .any(|w| w == delimiter.as_bytes())
        {
            return;
        }
    }
    body.extend_from_slice(format!("--{boundary}--").as_bytes());
    if input.epilogue {
        body.extend_from_slice(b"\r\nepilogue");
    }

    let mut cuts: Vec<usize> = input
        .cuts
        .iter()
        .take(64)
        .map(|&c| usize::from(c) % (body.len() + 1))
        .collect();
    cuts.sort_unstable();
    let mut chunks = Vec::with_capacity(cuts.len() + 1);
    let mut from = 0;
    for cut in cuts {
        chunks.push(&body[from..cut]);
        from = cut;
    }
    chunks.push(&body[from..]);
    assert_eq!(parse(&boundary, LARGE, chunks), Ok(parts));
}

/// What clients put in quoted names: no quotes, backslashes or control characters.
fn clean(text: &str) -> String {
    text.chars()
        .filter(|&c| c != '"' && c != '\\' && !c.is_control())
        .take(100)
        .collect()
}

/// Feeds the chunks (each as its own `Bytes`), draining events after each, and checks the
/// event grammar and the data budget on the way. The library hands out events only (the upload
/// route consumes them as they come), so this collector and its checks are the target's own,
/// like the unit tests' `parse_chunks_with`, which it extends with the data budget and the
/// failed-stays-failed check.
fn parse<'a>(
    boundary: &str,
    limits: MultipartLimits,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<Part>, MultipartError> {
    let mut parser = MultipartParser::new(boundary, limits)?;
    let mut parts: Vec<Part> = Vec::new();
    let mut in_part = false;
    let mut ended = false;
    let mut pushed_bytes = 0usize;
    let mut data_bytes = 0usize;
    for chunk in chunks {
        pushed_bytes += chunk.len();
        parser.push(Bytes::copy_from_slice(chunk));
        loop {
            let event = match parser.next_event() {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(error) => {
                    // Failed stays failed.
                    assert_eq!(parser.next_event(), Err(error.clone()));
                    assert_eq!(parser.finish(), Err(error.clone()));
                    return Err(error);
                }
            };
            assert!(!ended, "{event:?} after End");
            match event {
                Event::PartStart {
                    name,
                    filename,
                    content_type,
                } => {
                    assert!(!in_part, "PartStart inside a part");
                    in_part = true;
                    parts.push(Part {
                        name,
                        filename,
                        content_type,
                        data: Vec::new(),
                    });
                }
                Event::Data(data) => {
                    assert!(in_part, "Data outside a part");
                    assert!(!data.is_empty(), "empty Data");
                    data_bytes += data.len();
                    assert!(data_bytes <= pushed_bytes, "more data out than in");
                    if let Some(part) = parts.last_mut() {
                        part.data.extend_from_slice(&data);
                    }
                }
                Event::PartEnd => {
                    assert!(in_part, "PartEnd outside a part");
                    in_part = false;
                }
                Event::End => {
                    assert!(!in_part, "End inside a part");
                    ended = true;
                }
            }
        }
        assert!(parser.buffered_bytes() <= pushed_bytes);
    }
    let finished = parser.finish();
    assert_eq!(finished.is_ok(), ended, "finish disagrees with End");
    finished.map(|()| parts)
}
