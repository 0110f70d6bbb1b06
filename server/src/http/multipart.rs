//! Streaming `multipart/form-data` (RFC 7578 over RFC 2046 §5.1) for POST /api/v1/files: a
//! few small text fields and one file part that may be GiB long and goes straight to the
//! engine. Sans-I/O: the caller pushes body chunks of any size and split and pulls events.
//!
//! Invariants: file bytes are handed out as slices of the pushed chunks (`Bytes`, zero copy),
//! except fewer than a delimiter's length (at most 74 bytes) at a chunk edge that could be the
//! start of a boundary, which are held back and copied once; the parser buffers no more than
//! that beyond what the caller pushed and has not yet pulled; every size it reads is bounded
//! by [`MultipartLimits`]; after an error it only repeats that error.
//!
//! Strictness: line ends are CRLF as RFC 2046 requires (a bare LF is an error, never
//! guessed at); a line that begins with the delimiter but does not end in `--` or transport
//! padding and CRLF is an error (the client's boundary was not unique to the body), not data;
//! parts are `form-data` with a name; `Content-Transfer-Encoding` other than 7bit, 8bit or
//! binary is refused (we store bytes as sent and hash them). Header values are read as UTF-8
//! (invalid bytes replaced); quoted parameters take backslash escapes as the reference node's
//! parser (busboy) does; `filename*` (RFC 5987, UTF-8) is decoded and preferred to `filename`.
//! The upload is complete only when [`Event::End`] (the closing boundary) has been seen.

use std::collections::VecDeque;
use std::fmt;

pub use bytes::Bytes;
use bytes::BytesMut;

use super::is_ows;
use super::percent::percent_decode;

/// Longest boundary RFC 2046 allows.
pub const BOUNDARY_LEN_MAX: usize = 70;
/// Longest `Content-Type` value [`boundary_from_content_type`] reads.
pub const CONTENT_TYPE_LEN_MAX: usize = 1024;
/// Most transport-padding bytes (spaces, tabs) accepted after a boundary on its line.
pub const TRANSPORT_PADDING_BYTES_MAX: usize = 64;
/// Length of the delimiter `CRLF--boundary` for the longest boundary.
pub const DELIMITER_LEN_MAX: usize = BOUNDARY_LEN_MAX + 4;

/// The bounds on everything the parser reads; a body that exceeds one is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultipartLimits {
    /// Most parts in one body.
    pub parts_max: usize,
    /// Largest header block of one part, its final empty line included.
    pub header_block_bytes_max: usize,
    /// Most header lines in one part.
    pub headers_max: usize,
    /// Largest part without a filename (a text field), unless the caller sets the part's own
    /// bound with [`MultipartParser::set_part_bytes_max`]. Parts with a filename are unbounded
    /// unless the caller sets one.
    pub field_bytes_max: u64,
    /// Most bytes skipped before the first boundary.
    pub preamble_bytes_max: u64,
    /// Most bytes skipped after the closing boundary.
    pub epilogue_bytes_max: u64,
}

impl Default for MultipartLimits {
    fn default() -> Self {
        Self {
            parts_max: 16,
            header_block_bytes_max: 8 * 1024,
            headers_max: 16,
            field_bytes_max: 4 * 1024,
            preamble_bytes_max: 8 * 1024,
            epilogue_bytes_max: 8 * 1024,
        }
    }
}

/// Why a `Content-Type` or a body was refused. All are the client's fault (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    /// The request's media type is not `multipart/form-data`.
    #[error("Content-Type must be multipart/form-data, not {found:?}")]
    NotFormData {
        /// The media type found (cut to 64 bytes).
        found: String,
    },
    /// `Content-Type` cannot be parsed.
    #[error("malformed Content-Type: {reason}")]
    MalformedContentType {
        /// What is wrong.
        reason: &'static str,
    },
    /// `Content-Type: multipart/form-data` without a boundary parameter.
    #[error("Content-Type multipart/form-data has no boundary parameter")]
    MissingBoundary,
    /// The boundary is empty, too long or has characters RFC 2046 does not allow.
    #[error(
        "multipart boundary must be 1 to {BOUNDARY_LEN_MAX} printable ASCII characters, \
         not ending in a space"
    )]
    InvalidBoundary,
    /// No boundary within the first `limit_bytes` bytes of the body.
    #[error("no multipart boundary within the first {limit_bytes} bytes of the body")]
    PreambleTooLarge {
        /// [`MultipartLimits::preamble_bytes_max`].
        limit_bytes: u64,
    },
    /// A line starting with the boundary is not a valid boundary line.
    #[error("malformed multipart boundary line: {reason}")]
    MalformedBoundaryLine {
        /// What is wrong.
        reason: &'static str,
    },
    /// More parts than [`MultipartLimits::parts_max`].
    #[error("multipart body has more than {limit} parts")]
    TooManyParts {
        /// The limit.
        limit: usize,
    },
    /// A part's header block is larger than [`MultipartLimits::header_block_bytes_max`].
    #[error("multipart part {part} has a header block larger than {limit_bytes} bytes")]
    HeaderBlockTooLarge {
        /// 1-based part number.
        part: usize,
        /// The limit.
        limit_bytes: usize,
    },
    /// A part has more header lines than [`MultipartLimits::headers_max`].
    #[error("multipart part {part} has more than {limit} headers")]
    TooManyHeaders {
        /// 1-based part number.
        part: usize,
        /// The limit.
        limit: usize,
    },
    /// A part's header is malformed.
    #[error("multipart part {part} has a malformed header: {reason}")]
    MalformedHeader {
        /// 1-based part number.
        part: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A part has no `Content-Disposition: form-data; name=...` header.
    #[error("multipart part {part} has no Content-Disposition: form-data header with a name")]
    MissingName {
        /// 1-based part number.
        part: usize,
    },
    /// A part asks for a transfer encoding we do not decode.
    #[error(
        "multipart part {part} has Content-Transfer-Encoding {encoding:?}, which is not supported"
    )]
    UnsupportedTransferEncoding {
        /// 1-based part number.
        part: usize,
        /// The encoding named (cut to 64 bytes).
        encoding: String,
    },
    /// A part is longer than its bound.
    #[error("multipart part {name:?} is larger than {limit_bytes} bytes")]
    PartTooLarge {
        /// The part's field name (cut to 64 bytes).
        name: String,
        /// The bound.
        limit_bytes: u64,
    },
    /// More than [`MultipartLimits::epilogue_bytes_max`] bytes after the closing boundary.
    #[error("more than {limit_bytes} bytes after the closing multipart boundary")]
    EpilogueTooLarge {
        /// The limit.
        limit_bytes: u64,
    },
    /// The delimiter occurs inside data the caller took in itself
    /// ([`MultipartParser::hand_off_part_data`]): the part ends before the length the caller
    /// was promised.
    #[error(
        "multipart part {name:?} ends after {at_bytes} of its data bytes, fewer than the \
         request promised (is the boundary unique to the body?)"
    )]
    PartEndsEarly {
        /// The part's field name (cut to 64 bytes).
        name: String,
        /// Data bytes of the part before the delimiter.
        at_bytes: u64,
    },
    /// The body ended before the closing boundary.
    #[error("multipart body ended {during} before the closing boundary")]
    Truncated {
        /// Where the parser was.
        during: &'static str,
    },
}

/// What the parser found next in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A part begins; its data follows as [`Event::Data`] until [`Event::PartEnd`].
    PartStart {
        /// The form field name (`name=`).
        name: String,
        /// The file name, if the part is a file (`filename=` or `filename*=`).
        filename: Option<String>,
        /// The part's `Content-Type`, if given.
        content_type: Option<String>,
    },
    /// Next bytes of the current part (never empty).
    Data(Bytes),
    /// The current part is complete (its closing delimiter line was read).
    PartEnd,
    /// The closing boundary: the body is complete. Nothing follows.
    End,
}

/// Extracts the boundary from a request's `Content-Type: multipart/form-data; boundary=...`
/// (type and parameter names case-insensitive, the value a token or a quoted string).
pub fn boundary_from_content_type(value: &str) -> Result<String, MultipartError> {
    if value.len() > CONTENT_TYPE_LEN_MAX {
        return Err(MultipartError::MalformedContentType {
            reason: "longer than 1024 bytes",
        });
    }
    let (media_type, params) = value.split_at(value.find(';').unwrap_or(value.len()));
    let media_type = media_type.trim_matches(is_ows);
    let is_form_data = media_type.split_once('/').is_some_and(|(kind, subtype)| {
        kind.eq_ignore_ascii_case("multipart") && subtype.eq_ignore_ascii_case("form-data")
    });
    if !is_form_data {
        return Err(MultipartError::NotFormData {
            found: cut(media_type),
        });
    }
    let params = parse_params(params, true)
        .map_err(|reason| MultipartError::MalformedContentType { reason })?;
    let mut boundary = None;
    for (name, value) in params {
        if name.eq_ignore_ascii_case("boundary") {
            if boundary.is_some() {
                return Err(MultipartError::MalformedContentType {
                    reason: "boundary given twice",
                });
            }
            boundary = Some(value);
        }
    }
    let boundary = boundary.ok_or(MultipartError::MissingBoundary)?;
    validate_boundary(&boundary)?;
    Ok(boundary)
}

/// A boundary is 1..=70 printable ASCII characters (space allowed, not last). RFC 2046's
/// `bchars` are a subset; every client we know of stays within them, and accepting the rest
/// of printable ASCII costs nothing since the boundary is only ever compared byte for byte.
fn validate_boundary(boundary: &str) -> Result<(), MultipartError> {
    let bytes = boundary.as_bytes();
    let valid = (1..=BOUNDARY_LEN_MAX).contains(&bytes.len())
        && bytes.iter().all(|b| (0x20..=0x7e).contains(b))
        && bytes.last() != Some(&b' ');
    if valid {
        Ok(())
    } else {
        Err(MultipartError::InvalidBoundary)
    }
}

/// Where the parser is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first boundary. While `at_start`, the first boundary may come without the
    /// CRLF that otherwise precedes it.
    Preamble { at_start: bool },
    /// Just read `--boundary`; next is `--`, or transport padding and CRLF.
    AfterBoundary { in_part: bool, padding: usize },
    /// Reading a part's header block.
    Headers,
    /// Reading a part's data.
    Body,
    /// Read the closing boundary inside a part: [`Event::End`] is next.
    Closing,
    /// After [`Event::End`]: everything is epilogue, skipped.
    Epilogue,
}

impl State {
    fn describe(self) -> &'static str {
        match self {
            Self::Preamble { .. } => "before the first boundary",
            Self::AfterBoundary { .. } => "in a boundary line",
            Self::Headers => "in a part's headers",
            Self::Body => "in a part's data",
            Self::Closing | Self::Epilogue => "after the closing boundary",
        }
    }
}

/// Search for the delimiter `CRLF--boundary` (memchr's SIMD substring search: the file part
/// of an upload is scanned byte by byte for it, and a table-driven Horspool scan cost about
/// 7% of an upload's CPU).
struct Delimiter {
    bytes: Box<[u8]>,
    finder: memchr::memmem::Finder<'static>,
}

impl Delimiter {
    fn new(boundary: &str) -> Self {
        let mut bytes = Vec::with_capacity(boundary.len() + 4);
        bytes.extend_from_slice(b"\r\n--");
        bytes.extend_from_slice(boundary.as_bytes());
        debug_assert!(bytes.len() <= DELIMITER_LEN_MAX, "boundary was validated");
        let finder = memchr::memmem::Finder::new(&bytes).into_owned();
        Self {
            bytes: bytes.into_boxed_slice(),
            finder,
        }
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }

    /// `--boundary`: how the first boundary of a body may begin.
    fn dash_boundary(&self) -> &[u8] {
        &self.bytes[2..]
    }

    /// First position of the whole delimiter in `hay`.
    fn find(&self, hay: &[u8]) -> Option<usize> {
        self.finder.find(hay)
    }

    /// Where in `hay` (which holds no whole delimiter) a possible start of the delimiter
    /// begins: the first suffix that is a prefix of the delimiter, or `hay.len()`.
    fn held_back_from(&self, hay: &[u8]) -> usize {
        let from = hay.len().saturating_sub(self.bytes.len() - 1);
        (from..hay.len())
            .find(|&i| hay[i] == b'\r' && self.bytes.starts_with(&hay[i..]))
            .unwrap_or(hay.len())
    }
}

/// Finds the delimiter in part data the caller takes past the parser
/// ([`MultipartParser::hand_off_part_data`]), across the pieces it comes in.
pub struct DelimiterWatch {
    finder: memchr::memmem::Finder<'static>,
    delimiter_len: usize,
    /// The last bytes seen (fewer than a delimiter's length): a delimiter may begin there.
    tail: Vec<u8>,
    part_name: String,
    /// Data bytes of the part before `tail`'s end.
    seen_bytes: u64,
}

impl DelimiterWatch {
    /// Looks at the next data bytes; an error if a delimiter ends in them.
    pub fn check(&mut self, data: &[u8]) -> Result<(), MultipartError> {
        let keep = self.delimiter_len - 1;
        // A delimiter that begins in the tail ends within the first `keep` bytes of `data`.
        let tail_len = self.tail.len();
        self.tail.extend_from_slice(&data[..data.len().min(keep)]);
        let found = match self.finder.find(&self.tail) {
            Some(at) => Some(at as u64),
            None => self.finder.find(data).map(|at| (tail_len + at) as u64),
        };
        if let Some(at) = found {
            return Err(MultipartError::PartEndsEarly {
                name: self.part_name.clone(),
                at_bytes: self.seen_bytes - tail_len as u64 + at,
            });
        }
        self.seen_bytes += data.len() as u64;
        if data.len() >= keep {
            self.tail.clear();
            self.tail.extend_from_slice(&data[data.len() - keep..]);
        } else {
            let excess = self.tail.len().saturating_sub(keep);
            self.tail.drain(..excess);
        }
        Ok(())
    }
}

/// What scanning for the delimiter found at the front of the input.
enum Scan {
    /// Bytes before any delimiter (never empty).
    Bytes(Bytes),
    /// The delimiter was at the front and has been consumed.
    Delimiter,
    /// Not enough input to decide.
    NeedMore,
}

/// Incremental multipart/form-data parser: [`push`](Self::push) body chunks, then call
/// [`next_event`](Self::next_event) until it returns `Ok(None)`; at the end of the body call
/// [`finish`](Self::finish).
pub struct MultipartParser {
    limits: MultipartLimits,
    delimiter: Delimiter,
    /// Pushed bytes not yet consumed, in order; no chunk is empty.
    input: VecDeque<Bytes>,
    state: State,
    /// Parts started so far.
    parts: usize,
    /// Field name of the current part (for errors).
    part_name: String,
    /// Data bytes of the current part handed out so far.
    part_bytes: u64,
    /// Bound on the current part's data.
    part_bytes_max: Option<u64>,
    /// Preamble or epilogue bytes skipped so far.
    skipped_bytes: u64,
    /// A header block being gathered across chunks.
    header_buf: BytesMut,
    /// Leading bytes of `header_buf` already searched for the block's end.
    header_scanned: usize,
    failed: Option<MultipartError>,
}

impl fmt::Debug for MultipartParser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultipartParser")
            .field("state", &self.state)
            .field("parts", &self.parts)
            .field("part_bytes", &self.part_bytes)
            .field("buffered_bytes", &self.buffered_bytes())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl MultipartParser {
    /// A parser for a body with this boundary (from [`boundary_from_content_type`]).
    pub fn new(boundary: &str, limits: MultipartLimits) -> Result<Self, MultipartError> {
        validate_boundary(boundary)?;
        Ok(Self {
            limits,
            delimiter: Delimiter::new(boundary),
            input: VecDeque::new(),
            state: State::Preamble { at_start: true },
            parts: 0,
            part_name: String::new(),
            part_bytes: 0,
            part_bytes_max: None,
            skipped_bytes: 0,
            header_buf: BytesMut::new(),
            header_scanned: 0,
            failed: None,
        })
    }

    /// Appends the next chunk of the body (kept, not copied).
    pub fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() && self.failed.is_none() {
            self.input.push_back(chunk);
        }
    }

    /// Appends the next chunk of the body, copying it.
    #[cfg(test)]
    fn push_slice(&mut self, chunk: &[u8]) {
        self.push(Bytes::copy_from_slice(chunk));
    }

    /// Bytes pushed and not yet consumed (what the caller pushed since it last drained, plus
    /// fewer than a delimiter's length held back).
    pub fn buffered_bytes(&self) -> usize {
        self.input.iter().map(Bytes::len).sum::<usize>() + self.header_buf.len()
    }

    /// Sets the bound on the current part's data (None: unbounded), replacing the default
    /// (`field_bytes_max` for parts without a filename, none for files). Call it after
    /// [`Event::PartStart`], e.g. with the object's size for the file part.
    pub fn set_part_bytes_max(&mut self, limit_bytes: Option<u64>) {
        self.part_bytes_max = limit_bytes;
    }

    /// Lets the caller take the rest of the current part's data in itself, past the parser
    /// (an upload whose file part has a known length reads it from the socket straight into
    /// the engine's buffer). Returns the bytes the parser held back (fewer than a
    /// delimiter's length that may begin one: they are the next data bytes, to be taken
    /// first) and a watch that finds the delimiter in the data the caller takes. Then call
    /// [`data_taken_elsewhere`](Self::data_taken_elsewhere) with the bytes taken, and push
    /// the body that follows them as before.
    ///
    /// Only in a part's data with nothing else buffered, i.e. once [`next_event`](Self::next_event)
    /// returned `Ok(None)` there; None otherwise.
    pub fn hand_off_part_data(&mut self) -> Option<(Bytes, DelimiterWatch)> {
        if self.state != State::Body || self.failed.is_some() || self.input.len() > 1 {
            return None;
        }
        let held_back = self.input.pop_front().unwrap_or_default();
        debug_assert!(held_back.len() < self.delimiter.len(), "input was drained");
        let watch = DelimiterWatch {
            finder: self.delimiter.finder.clone(),
            delimiter_len: self.delimiter.len(),
            tail: Vec::with_capacity(2 * self.delimiter.len()),
            part_name: cut(&self.part_name),
            seen_bytes: self.part_bytes,
        };
        Some((held_back, watch))
    }

    /// Counts `count` data bytes of the current part as taken by the caller (see
    /// [`hand_off_part_data`](Self::hand_off_part_data)), against the part's bound.
    pub fn data_taken_elsewhere(&mut self, count: u64) -> Result<(), MultipartError> {
        assert!(
            self.state == State::Body && self.input.is_empty(),
            "data taken elsewhere only after hand_off_part_data"
        );
        let total = self.part_bytes + count;
        if let Some(limit_bytes) = self.part_bytes_max {
            if total > limit_bytes {
                let error = MultipartError::PartTooLarge {
                    name: cut(&self.part_name),
                    limit_bytes,
                };
                self.failed = Some(error.clone());
                return Err(error);
            }
        }
        self.part_bytes = total;
        Ok(())
    }

    /// Data bytes of the current part handed out so far.
    #[cfg(test)]
    fn part_bytes(&self) -> u64 {
        self.part_bytes
    }

    /// The next event, or `Ok(None)` when more input is needed (or after [`Event::End`]).
    pub fn next_event(&mut self) -> Result<Option<Event>, MultipartError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let result = self.step();
        if let Err(error) = &result {
            self.failed = Some(error.clone());
            self.input.clear();
            self.header_buf.clear();
        }
        result
    }

    /// Call at the end of the body, after draining [`next_event`](Self::next_event): an
    /// error unless the closing boundary was read.
    pub fn finish(&mut self) -> Result<(), MultipartError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        match self.state {
            State::Closing | State::Epilogue => Ok(()),
            state => {
                let error = MultipartError::Truncated {
                    during: state.describe(),
                };
                self.failed = Some(error.clone());
                Err(error)
            }
        }
    }

    fn step(&mut self) -> Result<Option<Event>, MultipartError> {
        loop {
            match self.state {
                State::Preamble { at_start } => {
                    if at_start {
                        match self.starts_with_dash_boundary() {
                            Some(true) => {
                                self.consume(self.delimiter.len() - 2);
                                self.state = State::AfterBoundary {
                                    in_part: false,
                                    padding: 0,
                                };
                            }
                            Some(false) => self.state = State::Preamble { at_start: false },
                            None => return Ok(None),
                        }
                        continue;
                    }
                    match self.scan() {
                        Scan::Bytes(skipped) => {
                            self.skipped_bytes += skipped.len() as u64;
                            if self.skipped_bytes > self.limits.preamble_bytes_max {
                                return Err(MultipartError::PreambleTooLarge {
                                    limit_bytes: self.limits.preamble_bytes_max,
                                });
                            }
                        }
                        Scan::Delimiter => {
                            self.state = State::AfterBoundary {
                                in_part: false,
                                padding: 0,
                            };
                        }
                        Scan::NeedMore => return Ok(None),
                    }
                }
                State::AfterBoundary { in_part, padding } => {
                    let Some(first) = self.peek(0) else {
                        return Ok(None);
                    };
                    match first {
                        b' ' | b'\t' => {
                            if padding >= TRANSPORT_PADDING_BYTES_MAX {
                                return Err(MultipartError::MalformedBoundaryLine {
                                    reason: "too much whitespace after the boundary",
                                });
                            }
                            self.consume(1);
                            self.state = State::AfterBoundary {
                                in_part,
                                padding: padding + 1,
                            };
                        }
                        b'-' if padding == 0 => {
                            let Some(second) = self.peek(1) else {
                                return Ok(None);
                            };
                            if second != b'-' {
                                return Err(MultipartError::MalformedBoundaryLine {
                                    reason: "boundary followed by a single '-'",
                                });
                            }
                            self.consume(2);
                            self.skipped_bytes = 0;
                            if in_part {
                                self.state = State::Closing;
                                return Ok(Some(Event::PartEnd));
                            }
                            self.state = State::Epilogue;
                            return Ok(Some(Event::End));
                        }
                        b'\r' => {
                            let Some(second) = self.peek(1) else {
                                return Ok(None);
                            };
                            if second != b'\n' {
                                return Err(MultipartError::MalformedBoundaryLine {
                                    reason: "boundary line ends in a bare CR",
                                });
                            }
                            self.consume(2);
                            if self.parts >= self.limits.parts_max {
                                return Err(MultipartError::TooManyParts {
                                    limit: self.limits.parts_max,
                                });
                            }
                            self.parts += 1;
                            self.state = State::Headers;
                            if in_part {
                                return Ok(Some(Event::PartEnd));
                            }
                        }
                        b'\n' => {
                            return Err(MultipartError::MalformedBoundaryLine {
                                reason: "boundary line ends in a bare LF, not CRLF",
                            });
                        }
                        _ => {
                            return Err(MultipartError::MalformedBoundaryLine {
                                reason: "boundary followed by other characters (is the \
                                         boundary unique to the body?)",
                            });
                        }
                    }
                }
                State::Headers => {
                    let Some(block) = self.take_header_block()? else {
                        return Ok(None);
                    };
                    let event = self.start_part(&block)?;
                    self.state = State::Body;
                    return Ok(Some(event));
                }
                State::Body => match self.scan() {
                    Scan::Bytes(data) => {
                        let total = self.part_bytes + data.len() as u64;
                        if let Some(limit_bytes) = self.part_bytes_max {
                            if total > limit_bytes {
                                return Err(MultipartError::PartTooLarge {
                                    name: cut(&self.part_name),
                                    limit_bytes,
                                });
                            }
                        }
                        self.part_bytes = total;
                        return Ok(Some(Event::Data(data)));
                    }
                    Scan::Delimiter => {
                        self.state = State::AfterBoundary {
                            in_part: true,
                            padding: 0,
                        };
                    }
                    Scan::NeedMore => return Ok(None),
                },
                State::Closing => {
                    self.state = State::Epilogue;
                    return Ok(Some(Event::End));
                }
                State::Epilogue => {
                    let skipped: usize = self.input.drain(..).map(|chunk| chunk.len()).sum();
                    self.skipped_bytes += skipped as u64;
                    if self.skipped_bytes > self.limits.epilogue_bytes_max {
                        return Err(MultipartError::EpilogueTooLarge {
                            limit_bytes: self.limits.epilogue_bytes_max,
                        });
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// Looks for the delimiter at the front of the input: hands out the bytes before it (as
    /// much as is certainly not a delimiter), or consumes the delimiter itself.
    fn scan(&mut self) -> Scan {
        loop {
            let Some(front) = self.input.front_mut() else {
                return Scan::NeedMore;
            };
            let take = match self.delimiter.find(front) {
                Some(0) => {
                    self.consume(self.delimiter.len());
                    return Scan::Delimiter;
                }
                Some(at) => at,
                None => self.delimiter.held_back_from(front),
            };
            if take > 0 {
                let bytes = front.split_to(take);
                if front.is_empty() {
                    self.input.pop_front();
                }
                return Scan::Bytes(bytes);
            }
            // The whole front chunk (shorter than the delimiter) may begin a delimiter: join
            // it with the start of the next chunk, or wait for one.
            if self.input.len() < 2 {
                return Scan::NeedMore;
            }
            self.coalesce_front(self.delimiter.len());
        }
    }

    /// Makes the front chunk at least `want_bytes` long (or all the input) by copying the
    /// front chunk and at most `want_bytes` of the following ones.
    fn coalesce_front(&mut self, want_bytes: usize) {
        let mut joined = BytesMut::with_capacity(want_bytes);
        while joined.len() < want_bytes {
            let Some(mut chunk) = self.input.pop_front() else {
                break;
            };
            let take = chunk.len().min(want_bytes - joined.len());
            joined.extend_from_slice(&chunk.split_to(take));
            if !chunk.is_empty() {
                self.input.push_front(chunk);
            }
        }
        if !joined.is_empty() {
            self.input.push_front(joined.freeze());
        }
    }

    /// The input byte at `offset` from the front, if pushed yet.
    fn peek(&self, mut offset: usize) -> Option<u8> {
        for chunk in &self.input {
            if offset < chunk.len() {
                return Some(chunk[offset]);
            }
            offset -= chunk.len();
        }
        None
    }

    /// Drops `count` bytes from the front of the input (which holds at least that many).
    fn consume(&mut self, mut count: usize) {
        while count > 0 {
            let Some(front) = self.input.front_mut() else {
                debug_assert!(false, "consumed more than was pushed");
                return;
            };
            if front.len() > count {
                let _ = front.split_to(count);
                return;
            }
            count -= front.len();
            self.input.pop_front();
        }
    }

    /// Whether the input begins with `--boundary` (None: too little input to tell).
    fn starts_with_dash_boundary(&self) -> Option<bool> {
        let dash_boundary = self.delimiter.dash_boundary();
        for (i, &expected) in dash_boundary.iter().enumerate() {
            match self.peek(i) {
                None => return None,
                Some(b) if b != expected => return Some(false),
                Some(_) => {}
            }
        }
        Some(true)
    }

    /// The next part's header block with its final empty line (`CRLF` alone when the part
    /// has no headers), once all of it has been pushed.
    fn take_header_block(&mut self) -> Result<Option<Bytes>, MultipartError> {
        let limit_bytes = self.limits.header_block_bytes_max;
        // The common case: the whole block is in the front chunk, taken without a copy.
        if self.header_buf.is_empty() {
            if let Some(front) = self.input.front_mut() {
                let window = &front[..front.len().min(limit_bytes)];
                if let Some(end) = header_block_end(window, 0) {
                    let block = front.split_to(end);
                    if front.is_empty() {
                        self.input.pop_front();
                    }
                    return Ok(Some(block));
                }
            }
        }
        loop {
            // The end may straddle what was searched and what was added since.
            let scan_from = self.header_scanned.saturating_sub(3);
            self.header_scanned = self.header_buf.len();
            if let Some(end) = header_block_end(&self.header_buf, scan_from) {
                let rest = self.header_buf.split_off(end);
                if !rest.is_empty() {
                    self.input.push_front(rest.freeze());
                }
                self.header_scanned = 0;
                return Ok(Some(std::mem::take(&mut self.header_buf).freeze()));
            }
            let room = limit_bytes - self.header_buf.len();
            if room == 0 {
                return Err(MultipartError::HeaderBlockTooLarge {
                    part: self.parts,
                    limit_bytes,
                });
            }
            let Some(mut chunk) = self.input.pop_front() else {
                return Ok(None);
            };
            let take = chunk.len().min(room);
            self.header_buf.extend_from_slice(&chunk.split_to(take));
            if !chunk.is_empty() {
                self.input.push_front(chunk);
            }
        }
    }

    /// Parses a header block and starts its part.
    fn start_part(&mut self, block: &[u8]) -> Result<Event, MultipartError> {
        let part = self.parts;
        let malformed = |reason| MultipartError::MalformedHeader { part, reason };
        debug_assert!(block.ends_with(b"\r\n"));
        let lines = &block[..block.len() - 2];
        let mut disposition: Option<(String, Option<String>)> = None;
        let mut content_type: Option<String> = None;
        let mut header_count = 0;
        // Every line, the last included, ends in CRLF; `lines` keeps those CRLFs but the
        // block's final one, so splitting leaves an empty tail.
        let mut rest = lines;
        while !rest.is_empty() {
            let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
                return Err(malformed("header line does not end in CRLF"));
            };
            let line = &rest[..eol];
            rest = &rest[eol + 2..];
            header_count += 1;
            if header_count > self.limits.headers_max {
                return Err(MultipartError::TooManyHeaders {
                    part,
                    limit: self.limits.headers_max,
                });
            }
            let (name, value) = parse_header_line(line).map_err(malformed)?;
            if name.eq_ignore_ascii_case(b"content-disposition") {
                if disposition.is_some() {
                    return Err(malformed("Content-Disposition given twice"));
                }
                disposition = Some(parse_disposition(&value).map_err(malformed)?);
            } else if name.eq_ignore_ascii_case(b"content-type") {
                if content_type.is_some() {
                    return Err(malformed("Content-Type given twice"));
                }
                content_type = Some(value);
            } else if name.eq_ignore_ascii_case(b"content-transfer-encoding") {
                let identity = ["7bit", "8bit", "binary"]
                    .iter()
                    .any(|e| value.eq_ignore_ascii_case(e));
                if !identity {
                    return Err(MultipartError::UnsupportedTransferEncoding {
                        part,
                        encoding: cut(&value),
                    });
                }
            }
        }
        let Some((name, filename)) = disposition else {
            return Err(MultipartError::MissingName { part });
        };
        self.part_name.clone_from(&name);
        self.part_bytes = 0;
        self.part_bytes_max = filename.is_none().then_some(self.limits.field_bytes_max);
        Ok(Event::PartStart {
            name,
            filename,
            content_type,
        })
    }
}

/// End (exclusive) of a header block in `buf`: `CRLF` at the very start (no headers) or the
/// first `CRLF CRLF`, searching from `scan_from`.
fn header_block_end(buf: &[u8], scan_from: usize) -> Option<usize> {
    if buf.starts_with(b"\r\n") {
        return Some(2);
    }
    buf.get(scan_from..)?
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| scan_from + at + 4)
}

/// Splits `Name: value` (value trimmed, read as UTF-8 with invalid bytes replaced).
fn parse_header_line(line: &[u8]) -> Result<(&[u8], String), &'static str> {
    if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
        return Err("folded header line (obsolete line folding is not accepted)");
    }
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or("header line without a colon")?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err("invalid header name");
    }
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err("control character (bare CR or LF?) in a header value");
    }
    let value = String::from_utf8_lossy(value);
    Ok((name, value.trim_matches(is_ows).to_owned()))
}

/// `form-data; name="..."; filename="..."` into the name and the file name (`filename*`
/// decoded and preferred when present).
fn parse_disposition(value: &str) -> Result<(String, Option<String>), &'static str> {
    let (kind, params) = value.split_at(value.find(';').unwrap_or(value.len()));
    if !kind.trim_matches(is_ows).eq_ignore_ascii_case("form-data") {
        return Err("Content-Disposition is not form-data");
    }
    let mut name = None;
    let mut filename = None;
    let mut filename_ext = None;
    for (key, value) in parse_params(params, false)? {
        let slot = if key.eq_ignore_ascii_case("name") {
            &mut name
        } else if key.eq_ignore_ascii_case("filename") {
            &mut filename
        } else if key.eq_ignore_ascii_case("filename*") {
            &mut filename_ext
        } else {
            continue;
        };
        if slot.is_some() {
            return Err("Content-Disposition parameter given twice");
        }
        *slot = Some(value);
    }
    let name = name.ok_or("Content-Disposition without a name")?;
    let filename = match filename_ext {
        Some(ext) => Some(decode_ext_value(&ext).unwrap_or(ext)),
        None => filename,
    };
    Ok((name, filename))
}

/// RFC 8187 `ext-value` in UTF-8 (`UTF-8'lang'percent-encoded`); None for other charsets or
/// malformed values.
fn decode_ext_value(ext: &str) -> Option<String> {
    let mut fields = ext.splitn(3, '\'');
    let charset = fields.next()?;
    let _language = fields.next()?;
    let encoded = fields.next()?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    // RFC 8187 has no `+` for space.
    percent_decode(encoded, false)
}

/// Parses `*( OWS ";" OWS name "=" value )` where value is a token or a quoted string
/// (backslash escapes). Empty parameters (`;;`, a trailing `;`) are skipped. `token_values`
/// asks for RFC token characters in unquoted values; otherwise an unquoted value runs to the
/// next `;` or whitespace (what lenient multipart clients send).
fn parse_params(text: &str, token_values: bool) -> Result<Vec<(String, String)>, &'static str> {
    let mut params = Vec::new();
    let mut rest = text.trim_start_matches(is_ows);
    while !rest.is_empty() {
        rest = rest
            .strip_prefix(';')
            .ok_or("expected ';' between parameters")?
            .trim_start_matches(is_ows);
        if rest.is_empty() || rest.starts_with(';') {
            continue;
        }
        let name_end = rest
            .find(|c: char| !c.is_ascii() || !is_tchar(c as u8))
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        if name.is_empty() {
            return Err("parameter without a name");
        }
        rest = rest[name_end..].trim_start_matches(is_ows);
        rest = rest
            .strip_prefix('=')
            .ok_or("parameter without '='")?
            .trim_start_matches(is_ows);
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, escaped)) => value.push(escaped),
                        None => break,
                    },
                    _ => value.push(c),
                }
            }
            let end = end.ok_or("unterminated quoted parameter value")?;
            rest = &quoted[end..];
            value
        } else {
            let end = rest
                .find(|c: char| c == ';' || is_ows(c))
                .unwrap_or(rest.len());
            let value = &rest[..end];
            if value.is_empty() {
                return Err("empty parameter value");
            }
            if token_values && !value.bytes().all(is_tchar) {
                return Err("invalid character in a parameter value");
            }
            rest = &rest[end..];
            value.to_owned()
        };
        params.push((name.to_owned(), value));
        rest = rest.trim_start_matches(is_ows);
    }
    Ok(params)
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `text` cut to 64 bytes (on a character boundary) for an error message.
fn cut(text: &str) -> String {
    let mut end = text.len().min(64);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: &str = "----WebKitFormBoundary7MA4YWxkTrZu0gW";

    /// A parsed body: each part's start event and its reassembled data.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Part {
        name: String,
        filename: Option<String>,
        content_type: Option<String>,
        data: Vec<u8>,
    }

    /// Feeds `chunks` one by one, draining events after each, then finishes.
    fn parse_chunks_with<'a>(
        boundary: &str,
        limits: MultipartLimits,
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Vec<Part>, MultipartError> {
        let mut parser = MultipartParser::new(boundary, limits)?;
        let mut parts: Vec<Part> = Vec::new();
        let mut in_part = false;
        let mut ended = false;
        let mut drain = |parser: &mut MultipartParser| -> Result<(), MultipartError> {
            while let Some(event) = parser.next_event()? {
                assert!(!ended, "event after End: {event:?}");
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
                        assert!(in_part && !data.is_empty());
                        parts
                            .last_mut()
                            .expect("in a part")
                            .data
                            .extend_from_slice(&data);
                    }
                    Event::PartEnd => {
                        assert!(in_part);
                        in_part = false;
                    }
                    Event::End => {
                        assert!(!in_part, "End inside a part");
                        ended = true;
                    }
                }
            }
            Ok(())
        };
        for chunk in chunks {
            parser.push_slice(chunk);
            drain(&mut parser)?;
        }
        parser.finish()?;
        assert!(ended, "finish succeeded without End");
        Ok(parts)
    }

    fn parse_chunks<'a>(
        boundary: &str,
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Vec<Part>, MultipartError> {
        parse_chunks_with(boundary, MultipartLimits::default(), chunks)
    }

    fn parse(boundary: &str, body: &[u8]) -> Result<Vec<Part>, MultipartError> {
        parse_chunks(boundary, [body])
    }

    fn field(name: &str, value: &[u8]) -> Part {
        Part {
            name: name.into(),
            filename: None,
            content_type: None,
            data: value.to_vec(),
        }
    }

    fn file(name: &str, filename: &str, content_type: &str, data: &[u8]) -> Part {
        Part {
            name: name.into(),
            filename: Some(filename.into()),
            content_type: Some(content_type.into()),
            data: data.to_vec(),
        }
    }

    /// A body as browsers and curl make it.
    fn body(boundary: &str, parts: &[Part]) -> Vec<u8> {
        let mut out = Vec::new();
        for part in parts {
            out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            out.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{}\"", part.name).as_bytes(),
            );
            if let Some(filename) = &part.filename {
                out.extend_from_slice(format!("; filename=\"{filename}\"").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            if let Some(content_type) = &part.content_type {
                out.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&part.data);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        out
    }

    /// `body` cut in two at every offset parses to `parts`.
    fn assert_every_split_parses(body: &[u8], parts: &[Part]) {
        for cut in 0..=body.len() {
            let (a, b) = body.split_at(cut);
            assert_eq!(
                parse_chunks(B, [a, b]).as_deref(),
                Ok(parts),
                "cut at {cut}"
            );
        }
    }

    fn upload_parts() -> Vec<Part> {
        vec![
            field("dataObjectId", b"42"),
            field("storageBucketId", b"7"),
            field("bagId", b"dynamic:channel:1"),
            file(
                "file",
                "clip.mp4",
                "video/mp4",
                b"\x00\x00\x00\x20ftypisom\r\n--\r\n\r\n-- not a boundary\r",
            ),
        ]
    }

    #[test]
    fn boundary_from_content_types() {
        let ok = |value: &str, expected: &str| {
            assert_eq!(
                boundary_from_content_type(value).as_deref(),
                Ok(expected),
                "{value}"
            );
        };
        ok("multipart/form-data; boundary=abc", "abc");
        ok("Multipart/Form-Data;BOUNDARY=abc", "abc");
        ok("multipart/form-data; boundary=\"a b:c\"", "a b:c");
        ok(
            "multipart/form-data ; charset=utf-8; boundary=x-y.z ;",
            "x-y.z",
        );
        ok("multipart/form-data; boundary=\"q\\\"uote\"", "q\"uote");
        ok(
            &format!("multipart/form-data; boundary={}", "b".repeat(70)),
            &"b".repeat(70),
        );

        let err = |value: &str| boundary_from_content_type(value).unwrap_err();
        assert!(matches!(
            err("application/json"),
            MultipartError::NotFormData { .. }
        ));
        assert!(matches!(
            err("multipart/mixed; boundary=a"),
            MultipartError::NotFormData { .. }
        ));
        assert_eq!(err("multipart/form-data"), MultipartError::MissingBoundary);
        assert_eq!(
            err("multipart/form-data; charset=x"),
            MultipartError::MissingBoundary
        );
        assert_eq!(
            err("multipart/form-data; boundary=\"\""),
            MultipartError::InvalidBoundary
        );
        assert_eq!(
            err("multipart/form-data; boundary=\"ab \""),
            MultipartError::InvalidBoundary
        );
        assert_eq!(
            err(&format!("multipart/form-data; boundary={}", "b".repeat(71))),
            MultipartError::InvalidBoundary
        );
        assert!(matches!(
            err("multipart/form-data; boundary=a; boundary=b"),
            MultipartError::MalformedContentType { .. }
        ));
        assert!(matches!(
            err("multipart/form-data; boundary=\"abc"),
            MultipartError::MalformedContentType { .. }
        ));
        assert!(matches!(
            err("multipart/form-data; boundary=a{b}"),
            MultipartError::MalformedContentType { .. }
        ));
        assert!(matches!(
            err("multipart/form-data; boundary abc"),
            MultipartError::MalformedContentType { .. }
        ));
        assert!(matches!(
            err(&format!(
                "multipart/form-data; x={}",
                "a".repeat(CONTENT_TYPE_LEN_MAX)
            )),
            MultipartError::MalformedContentType { .. }
        ));
    }

    #[test]
    fn single_chunk_upload() {
        let parts = upload_parts();
        assert_eq!(parse(B, &body(B, &parts)), Ok(parts));
    }

    #[test]
    fn data_is_sliced_from_the_pushed_chunk() {
        let parts = [file("file", "a", "x/y", &[7u8; 10_000])];
        let input = Bytes::from(body(B, &parts));
        let mut parser = MultipartParser::new(B, MultipartLimits::default()).unwrap();
        parser.push(input.clone());
        let range = input.as_ptr_range();
        let mut data_events = 0;
        while let Some(event) = parser.next_event().unwrap() {
            if let Event::Data(data) = event {
                data_events += 1;
                assert!(range.contains(&data.as_ptr()), "data was copied");
            }
        }
        assert_eq!(data_events, 1);
        parser.finish().unwrap();
    }

    #[test]
    fn every_split_point_gives_the_same_parts() {
        let parts = upload_parts();
        let body = body(B, &parts);
        assert_every_split_parses(&body, &parts);
        for (i, j) in [(1, 2), (40, 41), (45, 90), (100, 101)] {
            let chunks = [&body[..i], &body[i..j], &body[j..]];
            assert_eq!(parse_chunks(B, chunks), Ok(parts.clone()));
        }
    }

    #[test]
    fn byte_by_byte() {
        let parts = upload_parts();
        let body = body(B, &parts);
        assert_eq!(parse_chunks(B, body.chunks(1)), Ok(parts.clone()));
        for size in 2..=80 {
            assert_eq!(
                parse_chunks(B, body.chunks(size)),
                Ok(parts.clone()),
                "{size}"
            );
        }
    }

    #[test]
    fn boundary_like_data_inside_the_file() {
        let tricky: Vec<u8> = [
            format!("--{B}").as_bytes(),
            b"\r\n",
            format!("\r\n--{}", &B[..B.len() - 1]).as_bytes(),
            b"X\r\n\r",
            format!("-{B}\r\n--").as_bytes(),
            format!("\n--{B}--").as_bytes(),
            b"\r\r\n\r\n-",
            format!("\r\n-{B}").as_bytes(),
            b"\r\n--",
        ]
        .concat();
        let parts = vec![file("file", "t.bin", "application/octet-stream", &tricky)];
        let body = body(B, &parts);
        assert_eq!(parse(B, &body), Ok(parts.clone()));
        assert_eq!(parse_chunks(B, body.chunks(1)), Ok(parts.clone()));
        assert_every_split_parses(&body, &parts);
    }

    #[test]
    fn data_that_is_almost_the_delimiter_at_a_chunk_edge() {
        // A file whose tail is a delimiter prefix, in chunks that each end inside it.
        let data = format!("abc\r\n--{}", &B[..10]).into_bytes();
        let parts = vec![file("file", "f", "a/b", &data)];
        let body = body(B, &parts);
        let split = body.len() - B.len() - 8; // inside the real closing delimiter
        for cut in split - 30..split {
            let (a, b) = body.split_at(cut);
            assert_eq!(parse_chunks(B, [a, b]), Ok(parts.clone()));
        }
    }

    #[test]
    fn empty_parts_and_empty_body() {
        let parts = vec![field("a", b""), file("file", "e", "x/y", b"")];
        assert_eq!(parse(B, &body(B, &parts)), Ok(parts.clone()));
        // Zero parts: just the closing boundary.
        assert_eq!(parse(B, format!("--{B}--").as_bytes()), Ok(vec![]));
        // A part with no headers at all has no name.
        assert_eq!(
            parse(B, format!("--{B}\r\n\r\nx\r\n--{B}--").as_bytes()),
            Err(MultipartError::MissingName { part: 1 })
        );
    }

    #[test]
    fn preamble_epilogue_and_padding() {
        let body = format!(
            "This is a preamble.\r\n--{B} \t\r\nContent-Disposition: form-data; name=a\r\n\r\n\
             1\r\n--{B}--  trailing junk\r\nepilogue\r\n"
        );
        assert_eq!(parse(B, body.as_bytes()), Ok(vec![field("a", b"1")]));
        // An empty preamble before a CRLF.
        let body =
            format!("\r\n--{B}\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--{B}--");
        assert_eq!(parse(B, body.as_bytes()), Ok(vec![field("a", b"1")]));
        // The first boundary needs the CRLF unless it is at the very start: this is all
        // preamble, then a closing boundary (no parts).
        let body = format!("x--{B}\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--{B}--");
        assert_eq!(parse(B, body.as_bytes()), Ok(vec![]));
        let body = format!("x--{B}\r\nContent-Disposition: form-data; name=a\r\n\r\n1");
        assert_eq!(
            parse(B, body.as_bytes()),
            Err(MultipartError::Truncated {
                during: "before the first boundary"
            })
        );
    }

    #[test]
    fn preamble_and_epilogue_are_bounded() {
        let limits = MultipartLimits {
            preamble_bytes_max: 16,
            epilogue_bytes_max: 16,
            ..MultipartLimits::default()
        };
        let part = "Content-Disposition: form-data; name=a\r\n\r\n1";
        let ok = format!(
            "{}\r\n--{B}\r\n{part}\r\n--{B}--{}",
            "p".repeat(16),
            "e".repeat(16)
        );
        assert!(parse_chunks_with(B, limits, [ok.as_bytes()]).is_ok());
        let long = format!("{}\r\n--{B}\r\n{part}\r\n--{B}--", "p".repeat(17));
        assert_eq!(
            parse_chunks_with(B, limits, [long.as_bytes()]),
            Err(MultipartError::PreambleTooLarge { limit_bytes: 16 })
        );
        let long = format!("--{B}\r\n{part}\r\n--{B}--{}", "e".repeat(17));
        assert_eq!(
            parse_chunks_with(B, limits, long.as_bytes().chunks(5)),
            Err(MultipartError::EpilogueTooLarge { limit_bytes: 16 })
        );
    }

    #[test]
    fn missing_closing_boundary() {
        let full = body(B, &upload_parts());
        let closing = format!("--{B}--\r\n").len();
        for cut in 0..full.len() - closing + 2 + B.len() {
            let result = parse(B, &full[..cut]);
            assert!(
                matches!(result, Err(MultipartError::Truncated { .. })),
                "cut at {cut}: {result:?}"
            );
        }
        // Cut right after "--boundary--": complete; the CRLF after it is epilogue.
        assert!(parse(B, &full[..full.len() - 2]).is_ok());
    }

    #[test]
    fn malformed_boundary_lines() {
        let part = "Content-Disposition: form-data; name=a\r\n\r\n1";
        let cases = [
            format!("--{B}\n{part}\r\n--{B}--"),
            format!("--{B}\r{part}\r\n--{B}--"),
            format!("--{B}\r\n{part}\r\n--{B}X\r\n--{B}--"),
            format!("--{B}\r\n{part}\r\n--{B}-\r\n"),
            format!("--{B}\r\n{part}\r\n--{B} --"),
            format!(
                "--{B}{}\r\n{part}\r\n--{B}--",
                " ".repeat(TRANSPORT_PADDING_BYTES_MAX + 1)
            ),
        ];
        for body in cases {
            let result = parse(B, body.as_bytes());
            assert!(
                matches!(result, Err(MultipartError::MalformedBoundaryLine { .. })),
                "{body:?}: {result:?}"
            );
        }
    }

    #[test]
    fn lf_only_bodies_are_refused() {
        let body = format!("--{B}\nContent-Disposition: form-data; name=\"a\"\n\n1\n--{B}--\n");
        assert!(matches!(
            parse(B, body.as_bytes()),
            Err(MultipartError::MalformedBoundaryLine { .. })
        ));
        // LF line ends inside the headers: a bare LF in a header value.
        let body = format!(
            "--{B}\r\nContent-Disposition: form-data; name=\"a\"\nX: y\r\n\r\n1\r\n--{B}--"
        );
        assert!(matches!(
            parse(B, body.as_bytes()),
            Err(MultipartError::MalformedHeader { part: 1, .. })
        ));
        // A header block ended by LF LF never ends: the body is read to its end.
        let body = format!("--{B}\r\nContent-Disposition: form-data; name=\"a\"\n\n1\n--{B}--\n");
        assert!(matches!(
            parse(B, body.as_bytes()),
            Err(MultipartError::Truncated { .. })
        ));
    }

    #[test]
    fn lone_cr_and_lf_in_data_are_data() {
        let data = b"\r\r\n\n\r-\r\n-\n--\r\n--\r\n\r\n";
        let parts = vec![file("file", "f", "a/b", data)];
        let body = body(B, &parts);
        assert_eq!(parse_chunks(B, body.chunks(1)), Ok(parts.clone()));
    }

    #[test]
    fn header_limits() {
        let limits = MultipartLimits {
            header_block_bytes_max: 128,
            headers_max: 3,
            ..MultipartLimits::default()
        };
        let head = |headers: &str| format!("--{B}\r\n{headers}\r\n1\r\n--{B}--");
        let disposition = "Content-Disposition: form-data; name=a\r\n";
        let fits = head(&format!("{disposition}X-A: 1\r\nX-B: 2\r\n"));
        assert!(parse_chunks_with(B, limits, [fits.as_bytes()]).is_ok());
        let many = head(&format!("{disposition}X-A: 1\r\nX-B: 2\r\nX-C: 3\r\n"));
        assert_eq!(
            parse_chunks_with(B, limits, [many.as_bytes()]),
            Err(MultipartError::TooManyHeaders { part: 1, limit: 3 })
        );
        let big = head(&format!("{disposition}X-A: {}\r\n", "v".repeat(100)));
        for chunk in [1, 7, big.len()] {
            assert_eq!(
                parse_chunks_with(B, limits, big.as_bytes().chunks(chunk)),
                Err(MultipartError::HeaderBlockTooLarge {
                    part: 1,
                    limit_bytes: 128
                })
            );
        }
        // Exactly at the limit (block with its final empty line: 128 bytes).
        let pad = 128 - disposition.len() - "X-A: \r\n".len() - 2;
        let exact = head(&format!("{disposition}X-A: {}\r\n", "v".repeat(pad)));
        for chunk in [1, 7, exact.len()] {
            assert!(parse_chunks_with(B, limits, exact.as_bytes().chunks(chunk)).is_ok());
        }
        // A never-ending header block is refused at the limit, not buffered.
        let endless = format!("--{B}\r\n{}", "X".repeat(100_000));
        let mut parser = MultipartParser::new(B, limits).unwrap();
        parser.push_slice(endless.as_bytes());
        assert!(matches!(
            parser.next_event(),
            Err(MultipartError::HeaderBlockTooLarge { .. })
        ));
        assert_eq!(parser.buffered_bytes(), 0);
    }

    #[test]
    fn malformed_headers() {
        let cases = [
            ("Content-Disposition form-data; name=a\r\n", "no colon"),
            (" Content-Disposition: form-data; name=a\r\n", "folded"),
            ("Content-Disposition: form-data; name=a\r\n continued\r\n", "folded"),
            ("Bad Name: x\r\nContent-Disposition: form-data; name=a\r\n", "name"),
            ("Content-Disposition: attachment; name=a\r\n", "not form-data"),
            ("Content-Disposition: form-data; name=\"a\r\n", "unterminated"),
            ("Content-Disposition: form-data; name=a; name=b\r\n", "twice"),
            (
                "Content-Disposition: form-data; name=a\r\nContent-Disposition: form-data; name=b\r\n",
                "twice",
            ),
            ("Content-Disposition: form-data; name=a\r\nContent-Type: a\r\nContent-Type: b\r\n", "twice"),
            ("Content-Disposition: form-data; name\r\n", "no ="),
            ("Content-Disposition: form-data; name=a\0\r\n", "NUL"),
        ];
        for (headers, why) in cases {
            let body = format!("--{B}\r\n{headers}\r\n1\r\n--{B}--");
            let result = parse(B, body.as_bytes());
            assert!(
                matches!(result, Err(MultipartError::MalformedHeader { part: 1, .. })),
                "{why}: {result:?}"
            );
        }
        let body = format!("--{B}\r\nContent-Type: text/plain\r\n\r\n1\r\n--{B}--");
        assert_eq!(
            parse(B, body.as_bytes()),
            Err(MultipartError::MissingName { part: 1 })
        );
        let body =
            format!("--{B}\r\nContent-Disposition: form-data; filename=x\r\n\r\n1\r\n--{B}--");
        assert!(matches!(
            parse(B, body.as_bytes()),
            Err(MultipartError::MalformedHeader { .. })
        ));
        let body = format!(
            "--{B}\r\nContent-Disposition: form-data; name=a\r\nContent-Transfer-Encoding: base64\r\n\r\nMQ==\r\n--{B}--"
        );
        assert_eq!(
            parse(B, body.as_bytes()),
            Err(MultipartError::UnsupportedTransferEncoding {
                part: 1,
                encoding: "base64".into()
            })
        );
    }

    #[test]
    fn quoted_and_extended_params() {
        let one = |disposition: &str| {
            let body = format!("--{B}\r\nContent-Disposition: {disposition}\r\n\r\nx\r\n--{B}--");
            let mut parts = parse(B, body.as_bytes()).expect(disposition);
            assert_eq!(parts.len(), 1);
            let part = parts.remove(0);
            (part.name, part.filename)
        };
        assert_eq!(one("form-data; name=\"file\""), ("file".into(), None));
        assert_eq!(one("form-data; name=file"), ("file".into(), None));
        assert_eq!(
            one("FORM-DATA;NAME=\"file\";FILENAME=\"a.mp4\""),
            ("file".into(), Some("a.mp4".into()))
        );
        assert_eq!(
            one("form-data; name=\"a;b\"; filename=\"x; y.mp4\""),
            ("a;b".into(), Some("x; y.mp4".into()))
        );
        assert_eq!(
            one("form-data; name=\"q\\\"uote\""),
            ("q\"uote".into(), None)
        );
        assert_eq!(
            one("form-data; name=\"file\"; filename=\"\""),
            ("file".into(), Some(String::new()))
        );
        // Browsers percent-encode quotes in names; we keep them as sent.
        assert_eq!(
            one("form-data; name=\"file\"; filename=\"a%22b\""),
            ("file".into(), Some("a%22b".into()))
        );
        assert_eq!(
            one(
                "form-data; name=\"file\"; filename=\"naive.txt\"; filename*=UTF-8''na%C3%AFve.txt"
            ),
            ("file".into(), Some("naïve.txt".into()))
        );
        assert_eq!(
            one("form-data; name=\"file\"; filename*=utf-8'en'%E2%82%AC.bin"),
            ("file".into(), Some("€.bin".into()))
        );
        // Undecodable filename*: kept raw, so the part is still a file.
        assert_eq!(
            one("form-data; name=\"file\"; filename*=iso-8859-1''%E9.bin"),
            ("file".into(), Some("iso-8859-1''%E9.bin".into()))
        );
        assert_eq!(
            one("form-data; name=\"file\"; size=3; ;"),
            ("file".into(), None)
        );
        assert_eq!(one("form-data ;name = \"file\""), ("file".into(), None));
        // Raw UTF-8, as browsers send it.
        assert_eq!(
            one("form-data; name=\"file\"; filename=\"видео.mp4\""),
            ("file".into(), Some("видео.mp4".into()))
        );
    }

    #[test]
    fn header_names_are_case_insensitive() {
        let body = format!(
            "--{B}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"f\"\r\n\
             CONTENT-TYPE: video/webm\r\nX-Other: 1\r\n\r\nabc\r\n--{B}--\r\n"
        );
        assert_eq!(
            parse(B, body.as_bytes()),
            Ok(vec![file("file", "f", "video/webm", b"abc")])
        );
    }

    #[test]
    fn text_field_limit_and_caller_limits() {
        let limits = MultipartLimits {
            field_bytes_max: 4,
            ..MultipartLimits::default()
        };
        let ok = body(
            B,
            &[field("a", b"1234"), file("file", "f", "x/y", b"123456789")],
        );
        assert!(parse_chunks_with(B, limits, [ok.as_slice()]).is_ok());
        let big = body(B, &[field("bagId", b"12345")]);
        for chunk in [1, 3, big.len()] {
            assert_eq!(
                parse_chunks_with(B, limits, big.chunks(chunk)),
                Err(MultipartError::PartTooLarge {
                    name: "bagId".into(),
                    limit_bytes: 4
                })
            );
        }

        // The caller bounds the file part by the object's size.
        let body = body(B, &[file("file", "f", "x/y", b"123456789")]);
        let mut parser = MultipartParser::new(B, MultipartLimits::default()).unwrap();
        parser.push_slice(&body);
        assert!(matches!(
            parser.next_event(),
            Ok(Some(Event::PartStart { .. }))
        ));
        parser.set_part_bytes_max(Some(8));
        let error = parser.next_event().unwrap_err();
        assert_eq!(
            error,
            MultipartError::PartTooLarge {
                name: "file".into(),
                limit_bytes: 8
            }
        );
        // The parser stays failed.
        parser.push_slice(b"more");
        assert_eq!(parser.next_event(), Err(error.clone()));
        assert_eq!(parser.finish(), Err(error));
    }

    #[test]
    fn too_many_parts() {
        let limits = MultipartLimits {
            parts_max: 2,
            ..MultipartLimits::default()
        };
        let two = body(B, &[field("a", b"1"), field("b", b"2")]);
        assert!(parse_chunks_with(B, limits, [two.as_slice()]).is_ok());
        let three = body(B, &[field("a", b"1"), field("b", b"2"), field("c", b"3")]);
        assert_eq!(
            parse_chunks_with(B, limits, [three.as_slice()]),
            Err(MultipartError::TooManyParts { limit: 2 })
        );
    }

    #[test]
    fn events_in_order() {
        let body = body(B, &[field("a", b"1"), file("file", "f", "x/y", b"2")]);
        let mut parser = MultipartParser::new(B, MultipartLimits::default()).unwrap();
        parser.push(Bytes::from(body));
        let mut events = Vec::new();
        while let Some(event) = parser.next_event().unwrap() {
            events.push(event);
        }
        assert_eq!(
            events,
            vec![
                Event::PartStart {
                    name: "a".into(),
                    filename: None,
                    content_type: None
                },
                Event::Data(Bytes::from_static(b"1")),
                Event::PartEnd,
                Event::PartStart {
                    name: "file".into(),
                    filename: Some("f".into()),
                    content_type: Some("x/y".into()),
                },
                Event::Data(Bytes::from_static(b"2")),
                Event::PartEnd,
                Event::End,
            ]
        );
        assert_eq!(parser.next_event(), Ok(None));
        parser.finish().unwrap();
        // Epilogue pushed after End is skipped.
        parser.push_slice(b"\r\n");
        assert_eq!(parser.next_event(), Ok(None));
    }

    #[test]
    fn curl_form_body() {
        // curl -F dataObjectId=1 -F 'file=@clip.webm' (curl 8.x)
        let boundary = "------------------------d74496d66958873e";
        let body = [
            format!("--{boundary}\r\n").as_bytes(),
            b"Content-Disposition: form-data; name=\"dataObjectId\"\r\n\r\n1\r\n",
            format!("--{boundary}\r\n").as_bytes(),
            b"Content-Disposition: form-data; name=\"file\"; filename=\"clip.webm\"\r\n",
            b"Content-Type: video/webm\r\n\r\n\x1a\x45\xdf\xa3\r\n",
            format!("--{boundary}--\r\n").as_bytes(),
        ]
        .concat();
        let content_type = format!("multipart/form-data; boundary={boundary}");
        assert_eq!(boundary_from_content_type(&content_type).unwrap(), boundary);
        assert_eq!(
            parse(boundary, &body),
            Ok(vec![
                field("dataObjectId", b"1"),
                file("file", "clip.webm", "video/webm", b"\x1a\x45\xdf\xa3"),
            ])
        );
    }

    #[test]
    fn browser_form_data_body() {
        // Chrome's FormData with a Blob: the blob's name is "blob" unless given.
        let boundary = "----WebKitFormBoundaryZ8ldyEZ1zXsJBF4q";
        let body = [
            format!("--{boundary}\r\n").as_bytes(),
            b"Content-Disposition: form-data; name=\"bagId\"\r\n\r\ndynamic:channel:5\r\n",
            format!("--{boundary}\r\n").as_bytes(),
            b"Content-Disposition: form-data; name=\"file\"; filename=\"blob\"\r\n",
            b"Content-Type: application/octet-stream\r\n\r\n\x00\x01\x02\r\n",
            format!("--{boundary}--\r\n").as_bytes(),
        ]
        .concat();
        let content_type = format!("multipart/form-data; boundary={boundary}");
        let boundary = boundary_from_content_type(&content_type).unwrap();
        assert_eq!(
            parse(&boundary, &body),
            Ok(vec![
                field("bagId", b"dynamic:channel:5"),
                file("file", "blob", "application/octet-stream", b"\x00\x01\x02"),
            ])
        );
    }

    #[test]
    fn node_form_data_body() {
        // The `form-data` npm package (used by the Joystream CLI through axios): its boundary
        // is 26 dashes and 24 digits; a Buffer appended without a filename has none.
        let boundary = "--------------------------515890814546601021194782";
        let body = [
            format!("--{boundary}\r\n").as_bytes(),
            b"Content-Disposition: form-data; name=\"dataObjectId\"\r\n\r\n12\r\n",
            format!("--{boundary}\r\n").as_bytes(),
            b"Content-Disposition: form-data; name=\"file\"; filename=\"video.mp4\"\r\n",
            b"Content-Type: video/mp4\r\n\r\nDATA\r\n",
            format!("--{boundary}--\r\n").as_bytes(),
        ]
        .concat();
        assert_eq!(
            parse(boundary, &body),
            Ok(vec![
                field("dataObjectId", b"12"),
                file("file", "video.mp4", "video/mp4", b"DATA"),
            ])
        );
        let no_filename = [
            format!("--{boundary}\r\n").as_bytes(),
            b"Content-Disposition: form-data; name=\"file\"\r\n",
            b"Content-Type: application/octet-stream\r\n\r\nDATA\r\n",
            format!("--{boundary}--\r\n").as_bytes(),
        ]
        .concat();
        assert_eq!(
            parse(boundary, &no_filename),
            Ok(vec![Part {
                name: "file".into(),
                filename: None,
                content_type: Some("application/octet-stream".into()),
                data: b"DATA".to_vec(),
            }])
        );
    }

    #[test]
    fn rust_client_body() {
        // What Rust clients that build multipart by hand (ureq users, the `multipart` crate)
        // send: lowercase header names, unquoted names, an RFC 2046 transfer encoding.
        let boundary = "rUst-8f2c1a";
        let body = [
            format!("--{boundary}\r\n").as_bytes(),
            b"content-disposition: form-data; name=file; filename=obj.bin\r\n",
            b"content-type: application/octet-stream\r\ncontent-transfer-encoding: binary\r\n\r\n",
            b"\xff\xfe\r\n",
            format!("--{boundary}--").as_bytes(),
        ]
        .concat();
        assert_eq!(
            parse(boundary, &body),
            Ok(vec![file(
                "file",
                "obj.bin",
                "application/octet-stream",
                b"\xff\xfe"
            )])
        );
    }

    #[test]
    fn big_file_streams_in_bounded_memory() {
        let mut parser = MultipartParser::new(B, MultipartLimits::default()).unwrap();
        parser.push_slice(
            format!("--{B}\r\nContent-Disposition: form-data; name=file; filename=f\r\n\r\n")
                .as_bytes(),
        );
        assert!(matches!(
            parser.next_event(),
            Ok(Some(Event::PartStart { .. }))
        ));
        let chunk = Bytes::from(vec![b'\r'; 65_536]);
        let mut total = 0u64;
        for _ in 0..64 {
            parser.push(chunk.clone());
            while let Some(event) = parser.next_event().unwrap() {
                let Event::Data(data) = event else {
                    panic!("{event:?}")
                };
                total += data.len() as u64;
            }
            assert!(parser.buffered_bytes() < DELIMITER_LEN_MAX);
        }
        parser.push_slice(format!("\r\n--{B}--").as_bytes());
        while let Some(event) = parser.next_event().unwrap() {
            if let Event::Data(data) = event {
                total += data.len() as u64;
            }
        }
        parser.finish().unwrap();
        assert_eq!(total, 64 * 65_536);
        assert_eq!(parser.part_bytes(), total);
    }

    #[test]
    fn error_messages_are_clear() {
        assert_eq!(
            MultipartError::PartTooLarge {
                name: "bagId".into(),
                limit_bytes: 4096
            }
            .to_string(),
            "multipart part \"bagId\" is larger than 4096 bytes"
        );
        assert_eq!(
            MultipartError::Truncated {
                during: "in a part's data"
            }
            .to_string(),
            "multipart body ended in a part's data before the closing boundary"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// File bytes drawn mostly from characters of the delimiter, so boundary-like runs
        /// are common.
        fn file_bytes() -> impl Strategy<Value = Vec<u8>> {
            let alphabet = b"\r\n-ab".to_vec();
            prop::collection::vec(
                prop_oneof![
                    3 => prop::sample::select(alphabet),
                    1 => any::<u8>(),
                ],
                0..400,
            )
        }

        proptest! {
            #[test]
            fn random_files_and_splits_reassemble(
                data in file_bytes(),
                mut cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
                name_value in "[a-z]{0,8}",
            ) {
                let boundary = "--ab-ab";
                let parts = vec![
                    field("bagId", name_value.as_bytes()),
                    file("file", "f.bin", "application/octet-stream", &data),
                ];
                let body = body(boundary, &parts);
                let mut cut_points: Vec<usize> =
                    cuts.drain(..).map(|i| i.index(body.len() + 1)).collect();
                cut_points.sort_unstable();
                let mut chunks = Vec::new();
                let mut from = 0;
                for cut in cut_points {
                    chunks.push(&body[from..cut]);
                    from = cut;
                }
                chunks.push(&body[from..]);
                // A file that contains the delimiter (counting the CRLF before it) makes a
                // different body, which only has to be parsed without panicking; every other
                // file comes back whole.
                let delimiter = format!("\r\n--{boundary}").into_bytes();
                let framed = [b"\r\n".as_slice(), &data, &delimiter].concat();
                let occurrences = framed
                    .windows(delimiter.len())
                    .filter(|w| *w == delimiter.as_slice())
                    .count();
                let result = parse_chunks(boundary, chunks);
                if occurrences == 1 {
                    prop_assert_eq!(result, Ok(parts));
                }
            }
        }
    }

    /// Parses `body` (a field, then a file part holding `data`) with the first `cut` bytes
    /// pushed through the parser and the rest of the file data taken past it (as an upload
    /// read in place does); the file data as the caller saw it, or the first error.
    fn parse_with_hand_off(
        body: &[u8],
        data: &[u8],
        cut: usize,
    ) -> Result<Vec<u8>, MultipartError> {
        let mut parser = MultipartParser::new(B, MultipartLimits::default())?;
        parser.push_slice(&body[..cut]);
        let mut seen = Vec::new();
        let mut in_file = false;
        while let Some(event) = parser.next_event()? {
            match event {
                Event::PartStart { name, .. } => in_file = name == "file",
                Event::Data(bytes) if in_file => seen.extend_from_slice(&bytes),
                _ => {}
            }
        }
        assert!(in_file, "cut at {cut} is not in the file data");
        parser.set_part_bytes_max(Some(data.len() as u64));
        let (held_back, mut watch) = parser.hand_off_part_data().expect("in part data");
        // The caller takes the held-back bytes, then the rest of the data in pieces of 7.
        let data_start = body
            .windows(data.len().max(1))
            .position(|w| w == data)
            .unwrap();
        let taken_from = cut - held_back.len();
        assert_eq!(&body[taken_from..cut], &held_back[..]);
        assert_eq!(taken_from - data_start, seen.len(), "cut at {cut}");
        watch.check(&held_back)?;
        seen.extend_from_slice(&held_back);
        let data_end = data_start + data.len();
        for piece in body[cut..data_end].chunks(7) {
            watch.check(piece)?;
            seen.extend_from_slice(piece);
        }
        parser.data_taken_elsewhere((data_end - taken_from) as u64)?;
        parser.push_slice(&body[data_end..]);
        let mut events = Vec::new();
        while let Some(event) = parser.next_event()? {
            events.push(event);
        }
        assert_eq!(events, [Event::PartEnd, Event::End], "cut at {cut}");
        parser.finish()?;
        Ok(seen)
    }

    #[test]
    fn part_data_taken_past_the_parser_reads_as_parsed_through() {
        // Data with line breaks, dashes and a partial delimiter, so that cuts fall where the
        // parser holds bytes back.
        let mut data = b"\r\n--\r\n-".to_vec();
        data.extend_from_slice(format!("\r\n--{}", &B[..20]).as_bytes());
        data.extend_from_slice(&[b'x'; 40]);
        data.extend_from_slice(b"\r\n--");
        let body = body(
            B,
            &[
                field("bagId", b"static:council"),
                file("file", "f", "a/b", &data),
            ],
        );
        let start = body.windows(data.len()).position(|w| w == data).unwrap();
        for cut in start..start + data.len() {
            assert_eq!(
                parse_with_hand_off(&body, &data, cut),
                Ok(data.clone()),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_delimiter_in_data_taken_past_the_parser_is_found_wherever_it_falls() {
        let delimiter = format!("\r\n--{B}");
        for at in [0, 1, 5, 33, 60] {
            let mut data = vec![b'y'; 120];
            data[at..at + delimiter.len()].copy_from_slice(delimiter.as_bytes());
            let body = body(B, &[file("file", "f", "a/b", &data)]);
            let start = body.windows(data.len()).position(|w| w == data).unwrap();
            for cut in start..=start + at {
                assert_eq!(
                    parse_with_hand_off(&body, &data, cut),
                    Err(MultipartError::PartEndsEarly {
                        name: "file".into(),
                        at_bytes: at as u64,
                    }),
                    "delimiter at {at}, cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn data_taken_past_the_parser_counts_against_the_part_bound() {
        let data = vec![b'z'; 50];
        let body = body(B, &[file("file", "f", "a/b", &data)]);
        let start = body.windows(data.len()).position(|w| w == data).unwrap();
        let mut parser = MultipartParser::new(B, MultipartLimits::default()).unwrap();
        parser.push_slice(&body[..start]);
        while parser.next_event().unwrap().is_some() {}
        parser.set_part_bytes_max(Some(49));
        assert!(parser.hand_off_part_data().is_some());
        assert_eq!(
            parser.data_taken_elsewhere(50),
            Err(MultipartError::PartTooLarge {
                name: "file".into(),
                limit_bytes: 49
            })
        );
    }

    #[test]
    fn hand_off_only_inside_part_data() {
        let mut parser = MultipartParser::new(B, MultipartLimits::default()).unwrap();
        assert!(
            parser.hand_off_part_data().is_none(),
            "before the first part"
        );
        parser.push_slice(
            format!("--{B}\r\nContent-Disposition: form-data; name=\"a\"\r\n").as_bytes(),
        );
        while parser.next_event().unwrap().is_some() {}
        assert!(parser.hand_off_part_data().is_none(), "in a part's headers");
    }
}
