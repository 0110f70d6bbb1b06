//! HTTP wire details that are pure functions of bytes: the streaming multipart parser, Range
//! and conditional request headers, percent-decoding. No I/O here, so each is fuzzed on its
//! own.

pub mod conditional;
pub mod multipart;
pub mod percent;
pub mod range;
