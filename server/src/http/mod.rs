//! HTTP wire details that are pure functions of bytes: the streaming multipart parser, Range
//! and conditional request headers, percent-decoding. No I/O here, so each is fuzzed on its
//! own.

pub mod conditional;
pub mod multipart;
pub mod percent;
pub mod range;
pub mod upload_head;

/// Optional whitespace (RFC 9110 §5.6.3): space or horizontal tab.
pub(crate) fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}
