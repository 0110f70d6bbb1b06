//! `parse_range` (and the conditional headers read next to it on every GET): request headers
//! anyone can send. Checks: nothing panics; a `Partial` range always has
//! `start <= end_inclusive < size`, and a zero-byte object never gets one; `Content-Range` of a
//! partial answer names exactly that range; and one well-formed `bytes=first-last`,
//! `bytes=first-` or `bytes=-suffix` range gets the answer RFC 9110 §14.1.1 defines.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use colossus::http::conditional::{
    etag, http_date, if_none_match_matches, if_range_allows_partial, parse_http_date,
    CONDITIONAL_HEADER_LEN_MAX, HTTP_DATE_UNIX_S_MAX,
};
use colossus::http::range::{content_range, parse_range, RangeOutcome};
use libfuzzer_sys::fuzz_target;

/// One range spec with numbers chosen by the fuzzer.
#[derive(Debug, Arbitrary)]
enum Spec {
    FirstLast(u64, u64),
    First(u64),
    Suffix(u64),
}

fuzz_target!(|data: &[u8]| {
    let mut input = Unstructured::new(data);
    let Ok(size_pick) = u64::arbitrary(&mut input) else {
        return;
    };
    // Small sizes make every boundary case reachable; sometimes the full u64 range.
    let size_bytes = if size_pick & 1 == 0 {
        (size_pick >> 1) & 0xffff
    } else {
        size_pick
    };
    let rest = input.peek_bytes(input.len()).unwrap_or_default();
    let text = String::from_utf8_lossy(rest);
    check(&text, size_bytes);
    conditional(&text, size_pick);

    if let Ok(spec) = Spec::arbitrary(&mut input) {
        model(spec, size_bytes);
    }
});

/// Invariants of any answer.
fn check(header: &str, size_bytes: u64) -> RangeOutcome {
    let outcome = parse_range(header, size_bytes);
    if let RangeOutcome::Partial {
        start,
        end_inclusive,
    } = outcome
    {
        assert!(start <= end_inclusive, "{header:?}: {outcome:?}");
        assert!(
            end_inclusive < size_bytes,
            "{header:?}: {outcome:?} of {size_bytes}"
        );
        assert_eq!(
            content_range(start, end_inclusive, size_bytes),
            format!("bytes {start}-{end_inclusive}/{size_bytes}")
        );
        assert_eq!(outcome.partial_len_bytes(), Some(end_inclusive - start + 1));
    }
    if size_bytes == 0 {
        assert!(
            !matches!(outcome, RangeOutcome::Partial { .. }),
            "{header:?}"
        );
    }
    outcome
}

/// One well-formed range against RFC 9110's definition.
fn model(spec: Spec, size_bytes: u64) {
    let (header, expected) = match spec {
        Spec::FirstLast(first, last) => {
            let expected = if last < first {
                RangeOutcome::Full // invalid: ignored
            } else if first >= size_bytes {
                RangeOutcome::Unsatisfiable
            } else {
                RangeOutcome::Partial {
                    start: first,
                    end_inclusive: last.min(size_bytes - 1),
                }
            };
            (format!("bytes={first}-{last}"), expected)
        }
        Spec::First(first) => {
            let expected = if first >= size_bytes {
                RangeOutcome::Unsatisfiable
            } else {
                RangeOutcome::Partial {
                    start: first,
                    end_inclusive: size_bytes - 1,
                }
            };
            (format!("bytes={first}-"), expected)
        }
        Spec::Suffix(length) => {
            let expected = if length == 0 || size_bytes == 0 {
                RangeOutcome::Unsatisfiable
            } else {
                RangeOutcome::Partial {
                    start: size_bytes - length.min(size_bytes),
                    end_inclusive: size_bytes - 1,
                }
            };
            (format!("bytes=-{length}"), expected)
        }
    };
    assert_eq!(check(&header, size_bytes), expected, "{header}");
    // The same range twice is the same range.
    let twice = format!("{header},{}", &header["bytes=".len()..]);
    assert_eq!(check(&twice, size_bytes), expected, "{twice}");
}

/// The conditional headers never panic, and agree with themselves on a valid tag and date.
fn conditional(text: &str, unix_s: u64) {
    let tag = etag("gW9P5o2bT1aZq8vUAHd3Xh6r5uB9WGZkV2m7c8Xb1sQ4EtMf");
    let _ = if_none_match_matches(text, &tag);
    let _ = if_range_allows_partial(text, &tag, unix_s);
    let _ = parse_http_date(text);
    let date = http_date(unix_s);
    assert!(if_range_allows_partial(&date, &tag, unix_s), "{date}");
    assert_eq!(
        parse_http_date(&date),
        Some(unix_s.min(HTTP_DATE_UNIX_S_MAX)),
        "{date}"
    );
    // A quote in `text` may open a string that swallows the tag.
    let list = format!("{text}, {tag}");
    if !text.contains('"') && list.len() <= CONDITIONAL_HEADER_LEN_MAX {
        assert!(if_none_match_matches(&list, &tag), "{list:?}");
    }
}
