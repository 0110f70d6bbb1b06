//! The `Range` request header (RFC 9110 §14.2) for GET of one stored object: which bytes to
//! send, as one contiguous range or the whole object. Invariant: a `Partial` outcome always
//! has `start <= end_inclusive < size_bytes`.
//!
//! Choices RFC 9110 leaves to the server, all made towards "send the whole object" (200),
//! which every client understands, and never towards guessing what a broken header meant:
//! - an unknown range unit, a syntactically invalid header (any element), or a header longer
//!   than [`RANGE_HEADER_LEN_MAX`] is ignored (§14.2: a server MAY ignore Range);
//! - several ranges are coalesced when they overlap or touch (as the reference node's
//!   `range-parser` with `combine: true` does); if they still are several, the whole object
//!   is sent: we do not produce `multipart/byteranges` (§14.2 allows ignoring Range, and
//!   players only ask for one range);
//! - unsatisfiable elements of a list are dropped; when none is left the answer is 416 with
//!   `Content-Range: bytes */size`. A zero-byte object satisfies no range.

use super::is_ows;

/// Longest `Range` value looked at; longer ones are ignored (whole object). One range needs at
/// most 47 bytes (`bytes=` and two 20-digit numbers), so this leaves room for short lists.
pub const RANGE_HEADER_LEN_MAX: usize = 1024;

/// What to answer to a GET that carried a `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOutcome {
    /// Ignore the header and send the whole object (200).
    Full,
    /// Send bytes `start..=end_inclusive` (206 with [`content_range`]).
    Partial {
        /// First byte sent.
        start: u64,
        /// Last byte sent (inclusive, always below the object's size).
        end_inclusive: u64,
    },
    /// No requested range overlaps the object: 416 with [`content_range_unsatisfiable`].
    Unsatisfiable,
}

impl RangeOutcome {
    /// Number of bytes a `Partial` outcome sends (None for the other outcomes).
    pub fn partial_len_bytes(&self) -> Option<u64> {
        match *self {
            Self::Partial {
                start,
                end_inclusive,
            } => Some(end_inclusive - start + 1),
            Self::Full | Self::Unsatisfiable => None,
        }
    }
}

/// Decides what a `Range` header value asks of an object of `size_bytes` bytes.
pub fn parse_range(header: &str, size_bytes: u64) -> RangeOutcome {
    if header.len() > RANGE_HEADER_LEN_MAX {
        return RangeOutcome::Full;
    }
    let Some((unit, set)) = header.trim_matches(is_ows).split_once('=') else {
        return RangeOutcome::Full;
    };
    if !unit.eq_ignore_ascii_case("bytes") {
        return RangeOutcome::Full;
    }

    // Satisfiable ranges as (start, end_inclusive); at most RANGE_HEADER_LEN_MAX / 2 of them.
    let mut satisfiable: Vec<(u64, u64)> = Vec::new();
    let mut any_spec = false;
    for element in set.split(',') {
        let element = element.trim_matches(is_ows);
        if element.is_empty() {
            // RFC 9110 §5.6.1: recipients accept empty list elements.
            continue;
        }
        let Some(spec) = parse_spec(element) else {
            return RangeOutcome::Full;
        };
        any_spec = true;
        if let Some(range) = spec.resolve(size_bytes) {
            satisfiable.push(range);
        }
    }
    if !any_spec {
        return RangeOutcome::Full;
    }
    match coalesce(satisfiable).as_slice() {
        [] => RangeOutcome::Unsatisfiable,
        [(start, end_inclusive)] => {
            debug_assert!(start <= end_inclusive && *end_inclusive < size_bytes);
            RangeOutcome::Partial {
                start: *start,
                end_inclusive: *end_inclusive,
            }
        }
        _ => RangeOutcome::Full,
    }
}

/// `Content-Range` of a 206 answer: `bytes 0-99/1000`.
pub fn content_range(start: u64, end_inclusive: u64, size_bytes: u64) -> String {
    debug_assert!(start <= end_inclusive && end_inclusive < size_bytes);
    format!("bytes {start}-{end_inclusive}/{size_bytes}")
}

/// `Content-Range` of a 416 answer: `bytes */1000`.
pub fn content_range_unsatisfiable(size_bytes: u64) -> String {
    format!("bytes */{size_bytes}")
}

/// One `range-spec` of the header, numbers saturated at u64::MAX (a number too large for a u64
/// is past the end of any object, which is what it means).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// `first-` or `first-last`.
    Int { first: u64, last: Option<u64> },
    /// `-length`: the last `length` bytes.
    Suffix { length: u64 },
}

impl Spec {
    /// The bytes this spec covers in an object of `size_bytes`, or None if unsatisfiable
    /// (RFC 9110 §14.1.1: first-pos at or past the end, or a zero suffix, or an empty object).
    fn resolve(self, size_bytes: u64) -> Option<(u64, u64)> {
        let last_byte = size_bytes.checked_sub(1)?;
        match self {
            Self::Int { first, last } => {
                if first > last_byte {
                    return None;
                }
                Some((first, last.unwrap_or(last_byte).min(last_byte)))
            }
            Self::Suffix { length } => {
                if length == 0 {
                    return None;
                }
                Some((size_bytes - length.min(size_bytes), last_byte))
            }
        }
    }
}

/// Parses `int-range` / `suffix-range` (no whitespace inside); None when invalid, including
/// `last < first`, which RFC 9110 §14.1.1 calls invalid.
fn parse_spec(element: &str) -> Option<Spec> {
    let (first, last) = element.split_once('-')?;
    if first.is_empty() {
        return Some(Spec::Suffix {
            length: parse_digits(last)?,
        });
    }
    let first = parse_digits(first)?;
    let last = if last.is_empty() {
        None
    } else {
        Some(parse_digits(last)?)
    };
    if last.is_some_and(|last| last < first) {
        return None;
    }
    Some(Spec::Int { first, last })
}

/// `1*DIGIT` as a u64, saturating: None if empty or not all ASCII digits.
fn parse_digits(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0u64, |value, digit| {
        value
            .saturating_mul(10)
            .saturating_add(u64::from(digit - b'0'))
    }))
}

/// Merges ranges that overlap or touch, sorted by start.
fn coalesce(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some((_, last_end)) if start <= last_end.saturating_add(1) => {
                *last_end = (*last_end).max(end);
            }
            _ => merged.push((start, end)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partial(start: u64, end_inclusive: u64) -> RangeOutcome {
        RangeOutcome::Partial {
            start,
            end_inclusive,
        }
    }

    #[test]
    fn first_and_last_byte() {
        assert_eq!(parse_range("bytes=0-0", 100), partial(0, 0));
        assert_eq!(parse_range("bytes=99-99", 100), partial(99, 99));
        assert_eq!(parse_range("bytes=-1", 100), partial(99, 99));
        assert_eq!(parse_range("bytes=0-0", 1), partial(0, 0));
        assert_eq!(parse_range("bytes=-1", 1), partial(0, 0));
    }

    #[test]
    fn open_and_clamped_ranges() {
        assert_eq!(parse_range("bytes=0-", 100), partial(0, 99));
        assert_eq!(parse_range("bytes=50-", 100), partial(50, 99));
        assert_eq!(parse_range("bytes=10-1000", 100), partial(10, 99));
        assert_eq!(parse_range("bytes=0-99", 100), partial(0, 99));
    }

    #[test]
    fn suffix_ranges() {
        assert_eq!(parse_range("bytes=-10", 100), partial(90, 99));
        assert_eq!(parse_range("bytes=-100", 100), partial(0, 99));
        assert_eq!(parse_range("bytes=-1000", 100), partial(0, 99));
        assert_eq!(parse_range("bytes=-0", 100), RangeOutcome::Unsatisfiable);
    }

    #[test]
    fn past_the_end_is_unsatisfiable() {
        assert_eq!(parse_range("bytes=100-", 100), RangeOutcome::Unsatisfiable);
        assert_eq!(
            parse_range("bytes=100-200", 100),
            RangeOutcome::Unsatisfiable
        );
        assert_eq!(
            parse_range("bytes=100-200, 300-", 100),
            RangeOutcome::Unsatisfiable
        );
    }

    #[test]
    fn empty_object_satisfies_nothing() {
        for header in [
            "bytes=0-",
            "bytes=0-0",
            "bytes=-1",
            "bytes=-0",
            "bytes=0-10",
        ] {
            assert_eq!(
                parse_range(header, 0),
                RangeOutcome::Unsatisfiable,
                "{header}"
            );
        }
        assert_eq!(parse_range("items=0-1", 0), RangeOutcome::Full);
    }

    #[test]
    fn start_after_end_is_ignored() {
        assert_eq!(parse_range("bytes=5-2", 100), RangeOutcome::Full);
        assert_eq!(parse_range("bytes=0-1, 5-2", 100), RangeOutcome::Full);
    }

    #[test]
    fn garbage_is_ignored() {
        for header in [
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "bytes=-",
            "bytes=abc",
            "bytes=1-x",
            "bytes=x-1",
            "bytes=--1",
            "bytes=1--2",
            "bytes=+1-2",
            "bytes=0x10-",
            "bytes=1 - 2",
            "bytes = 0-1",
            "bytes=1-2-3",
            "bytes=½-",
            "items=0-1",
            "=0-1",
            "bytes=0-1;q=1",
        ] {
            assert_eq!(parse_range(header, 100), RangeOutcome::Full, "{header:?}");
        }
    }

    #[test]
    fn unit_is_case_insensitive_and_ows_tolerated() {
        assert_eq!(parse_range("Bytes=0-1", 100), partial(0, 1));
        assert_eq!(parse_range("BYTES=0-1", 100), partial(0, 1));
        assert_eq!(parse_range(" bytes=0-1\t", 100), partial(0, 1));
        assert_eq!(parse_range("bytes= 0-1 ,", 100), partial(0, 1));
        assert_eq!(parse_range("bytes=,,0-1,,", 100), partial(0, 1));
    }

    #[test]
    fn several_ranges_coalesce_or_give_the_whole_object() {
        assert_eq!(parse_range("bytes=0-10, 5-20", 100), partial(0, 20));
        assert_eq!(parse_range("bytes=11-20,0-10", 100), partial(0, 20));
        assert_eq!(parse_range("bytes=0-10, 12-20", 100), RangeOutcome::Full);
        assert_eq!(parse_range("bytes=0-1, 500-600", 100), partial(0, 1));
        assert_eq!(parse_range("bytes=-5, 0-", 100), partial(0, 99));
    }

    #[test]
    fn overflowing_and_huge_numbers_saturate() {
        let huge = "99999999999999999999999999999999";
        assert_eq!(
            parse_range(&format!("bytes={huge}-"), 100),
            RangeOutcome::Unsatisfiable
        );
        assert_eq!(parse_range(&format!("bytes=0-{huge}"), 100), partial(0, 99));
        assert_eq!(parse_range(&format!("bytes=-{huge}"), 100), partial(0, 99));
        assert_eq!(
            parse_range("bytes=18446744073709551615-", u64::MAX),
            RangeOutcome::Unsatisfiable
        );
        assert_eq!(
            parse_range("bytes=18446744073709551614-", u64::MAX),
            partial(u64::MAX - 1, u64::MAX - 1)
        );
        assert_eq!(parse_range("bytes=0-", u64::MAX), partial(0, u64::MAX - 1));
        assert_eq!(
            parse_range(&format!("bytes=-{huge}"), u64::MAX),
            partial(0, u64::MAX - 1)
        );
    }

    #[test]
    fn overlong_header_is_ignored() {
        let mut header = String::from("bytes=0-1");
        while header.len() <= RANGE_HEADER_LEN_MAX {
            header.push(',');
        }
        assert_eq!(parse_range(&header, 100), RangeOutcome::Full);
        header.truncate(RANGE_HEADER_LEN_MAX);
        assert_eq!(parse_range(&header, 100), partial(0, 1));
    }

    #[test]
    fn content_range_values() {
        assert_eq!(content_range(0, 99, 1000), "bytes 0-99/1000");
        assert_eq!(content_range(999, 999, 1000), "bytes 999-999/1000");
        assert_eq!(content_range_unsatisfiable(1000), "bytes */1000");
        assert_eq!(content_range_unsatisfiable(0), "bytes */0");
        assert_eq!(partial(10, 19).partial_len_bytes(), Some(10));
        assert_eq!(RangeOutcome::Full.partial_len_bytes(), None);
    }
}
