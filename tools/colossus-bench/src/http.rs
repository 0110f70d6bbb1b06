//! Raw HTTP/1.1 over a monoio (io_uring) TCP stream, for both the load client and the sink:
//! one reusable read buffer per connection, heads parsed with httparse, bodies framed by
//! Content-Length, chunked encoding or the end of the connection, and every body byte handed
//! to the caller as it arrives (nothing is buffered whole).

use std::io;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::TcpStream;

/// Largest response or request head accepted.
pub const HEAD_MAX_BYTES: usize = 64 * 1024;
/// Most headers parsed in one head.
const HEADERS_MAX: usize = 64;
/// Longest chunk-size line (with extensions) or trailer line accepted.
const CHUNK_LINE_MAX_BYTES: usize = 4096;

/// How a message body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Transfer-Encoding: chunked.
    Chunked,
    /// Until the peer closes (responses only).
    UntilClose,
}

/// Why reading a message failed.
#[derive(Debug)]
pub enum ReadError {
    /// The socket failed.
    Io(io::Error),
    /// The peer closed before the message ended; `got` body bytes had arrived.
    Closed {
        /// Body bytes received before the close (0 when the head was incomplete).
        got: u64,
        /// True when not one byte of the message had arrived.
        nothing: bool,
    },
    /// The bytes are not HTTP/1.x as expected.
    Protocol(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "socket error: {e}"),
            ReadError::Closed { got, nothing: true } => {
                write!(f, "connection closed before an answer ({got} bytes)")
            }
            ReadError::Closed { got, .. } => {
                write!(
                    f,
                    "connection closed in the middle of the body after {got} bytes"
                )
            }
            ReadError::Protocol(m) => write!(f, "protocol error: {m}"),
        }
    }
}

/// A response head: what the checks and the framing need.
#[derive(Debug, Clone, Default)]
pub struct ResponseHead {
    /// Status code.
    pub status: u16,
    /// Content-Length, if given.
    pub content_length: Option<u64>,
    /// Transfer-Encoding ends in chunked.
    pub chunked: bool,
    /// The connection may carry another request.
    pub keep_alive: bool,
    /// Content-Range `bytes first-last/total` (total None for `*`).
    pub content_range: Option<(u64, u64, Option<u64>)>,
}

impl ResponseHead {
    /// The body framing of this response to a request of `method`.
    pub fn framing(&self, method: &str) -> Framing {
        if method == "HEAD" || self.status == 204 || self.status == 304 || self.status < 200 {
            Framing::Empty
        } else if self.chunked {
            Framing::Chunked
        } else if let Some(n) = self.content_length {
            Framing::Length(n)
        } else {
            Framing::UntilClose
        }
    }
}

/// A request head, as the sink reads it.
#[derive(Debug, Clone, Default)]
pub struct RequestHead {
    /// Content-Length, if given.
    pub content_length: Option<u64>,
    /// Transfer-Encoding ends in chunked.
    pub chunked: bool,
    /// The connection may carry another request.
    pub keep_alive: bool,
    /// The client waits for `100 Continue`.
    pub expect_continue: bool,
}

fn parse_content_range(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (first, last) = span.split_once('-')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((first.trim().parse().ok()?, last.trim().parse().ok()?, total))
}

fn header_is(value: &[u8], token: &str) -> bool {
    std::str::from_utf8(value)
        .map(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        .unwrap_or(false)
}

fn parse_length(value: &[u8]) -> Result<u64, ReadError> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| ReadError::Protocol("bad Content-Length".to_owned()))
}

/// One TCP connection with its read buffer.
pub struct Conn {
    stream: TcpStream,
    /// Received bytes; `buf[start..]` is not consumed yet. Capacity is fixed.
    buf: Vec<u8>,
    start: usize,
}

impl Conn {
    /// Wraps a connected stream with a read buffer of `buffer_bytes`.
    pub fn new(stream: TcpStream, buffer_bytes: usize) -> Self {
        Self {
            stream,
            buf: Vec::with_capacity(buffer_bytes.max(HEAD_MAX_BYTES)),
            start: 0,
        }
    }

    /// Connects to `addr` (Nagle off: requests are written whole).
    pub async fn connect(addr: std::net::SocketAddr, buffer_bytes: usize) -> io::Result<Self> {
        let stream = TcpStream::connect_addr(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self::new(stream, buffer_bytes))
    }

    fn available(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Reads more bytes into the buffer; Ok(0) when the peer closed.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.buf.len() == self.buf.capacity() {
            self.buf.copy_within(self.start.., 0);
            let kept = self.buf.len() - self.start;
            self.buf.truncate(kept);
            self.start = 0;
            if kept == self.buf.capacity() {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "buffer full"));
            }
        }
        let buf = std::mem::take(&mut self.buf);
        let filled = buf.len();
        let (result, slice) = self.stream.read(buf.slice_mut(filled..)).await;
        self.buf = slice.into_inner();
        result
    }

    /// Writes all of `buf`, giving it back.
    pub async fn write_all(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
        let (result, buf) = self.stream.write_all(buf).await;
        (result.map(|_| ()), buf)
    }

    /// True when no unread byte is buffered (a response must not arrive unasked).
    pub fn is_drained(&self) -> bool {
        self.start == self.buf.len()
    }

    /// Reads a response head, skipping interim (1xx) answers.
    pub async fn read_response_head(&mut self) -> Result<ResponseHead, ReadError> {
        let mut any_byte = !self.is_drained();
        loop {
            let parsed = {
                let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
                let mut response = httparse::Response::new(&mut headers);
                match response.parse(self.available()) {
                    Ok(httparse::Status::Complete(n)) => {
                        let mut head = ResponseHead {
                            status: response.code.unwrap_or(0),
                            keep_alive: response.version == Some(1),
                            ..ResponseHead::default()
                        };
                        for h in response.headers.iter() {
                            if h.name.eq_ignore_ascii_case("content-length") {
                                let n = parse_length(h.value)?;
                                if head.content_length.is_some_and(|m| m != n) {
                                    return Err(ReadError::Protocol(
                                        "conflicting Content-Length headers".to_owned(),
                                    ));
                                }
                                head.content_length = Some(n);
                            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                                head.chunked = std::str::from_utf8(h.value)
                                    .map(|v| v.trim().to_ascii_lowercase().ends_with("chunked"))
                                    .unwrap_or(false);
                            } else if h.name.eq_ignore_ascii_case("connection") {
                                if header_is(h.value, "close") {
                                    head.keep_alive = false;
                                } else if header_is(h.value, "keep-alive") {
                                    head.keep_alive = true;
                                }
                            } else if h.name.eq_ignore_ascii_case("content-range") {
                                head.content_range = std::str::from_utf8(h.value)
                                    .ok()
                                    .and_then(parse_content_range);
                            }
                        }
                        Some((n, head))
                    }
                    Ok(httparse::Status::Partial) => None,
                    Err(e) => return Err(ReadError::Protocol(format!("bad response head: {e}"))),
                }
            };
            match parsed {
                Some((n, head)) => {
                    self.start += n;
                    if (100..200).contains(&head.status) && head.status != 101 {
                        continue;
                    }
                    return Ok(head);
                }
                None => {
                    if self.available().len() >= HEAD_MAX_BYTES {
                        return Err(ReadError::Protocol("response head too large".to_owned()));
                    }
                    match self.fill().await {
                        Ok(0) => {
                            return Err(ReadError::Closed {
                                got: 0,
                                nothing: !any_byte,
                            })
                        }
                        Ok(_) => any_byte = true,
                        Err(e) => return Err(ReadError::Io(e)),
                    }
                }
            }
        }
    }

    /// Reads a request head; Ok(None) when the peer closed cleanly between requests.
    pub async fn read_request_head(&mut self) -> Result<Option<RequestHead>, ReadError> {
        loop {
            let parsed = {
                let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
                let mut request = httparse::Request::new(&mut headers);
                match request.parse(self.available()) {
                    Ok(httparse::Status::Complete(n)) => {
                        let mut head = RequestHead {
                            keep_alive: request.version == Some(1),
                            ..RequestHead::default()
                        };
                        for h in request.headers.iter() {
                            if h.name.eq_ignore_ascii_case("content-length") {
                                head.content_length = Some(parse_length(h.value)?);
                            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                                head.chunked = header_is(h.value, "chunked");
                            } else if h.name.eq_ignore_ascii_case("connection") {
                                if header_is(h.value, "close") {
                                    head.keep_alive = false;
                                } else if header_is(h.value, "keep-alive") {
                                    head.keep_alive = true;
                                }
                            } else if h.name.eq_ignore_ascii_case("expect") {
                                head.expect_continue = header_is(h.value, "100-continue");
                            }
                        }
                        Some((n, head))
                    }
                    Ok(httparse::Status::Partial) => None,
                    Err(e) => return Err(ReadError::Protocol(format!("bad request head: {e}"))),
                }
            };
            match parsed {
                Some((n, head)) => {
                    self.start += n;
                    return Ok(Some(head));
                }
                None => {
                    if self.available().len() >= HEAD_MAX_BYTES {
                        return Err(ReadError::Protocol("request head too large".to_owned()));
                    }
                    let had = self.available().len();
                    match self.fill().await {
                        Ok(0) if had == 0 => return Ok(None),
                        Ok(0) => {
                            return Err(ReadError::Closed {
                                got: 0,
                                nothing: false,
                            })
                        }
                        Ok(_) => {}
                        Err(e) => return Err(ReadError::Io(e)),
                    }
                }
            }
        }
    }

    /// Reads a body framed by `framing`, handing every byte to `on_data`; returns its length.
    pub async fn read_body(
        &mut self,
        framing: Framing,
        on_data: &mut impl FnMut(&[u8]),
    ) -> Result<u64, ReadError> {
        match framing {
            Framing::Empty => Ok(0),
            Framing::Length(n) => {
                let mut got = 0;
                self.read_exact_into(n, &mut got, on_data).await?;
                Ok(got)
            }
            Framing::UntilClose => {
                let mut got = 0u64;
                loop {
                    let available = self.available();
                    if !available.is_empty() {
                        got += available.len() as u64;
                        on_data(available);
                        self.start = self.buf.len();
                    }
                    match self.fill().await {
                        Ok(0) => return Ok(got),
                        Ok(_) => {}
                        Err(e) => return Err(ReadError::Io(e)),
                    }
                }
            }
            Framing::Chunked => self.read_chunked(on_data).await,
        }
    }

    /// Fills or fails with `Closed { got }` when the peer closed.
    async fn fill_or_closed(&mut self, got: u64) -> Result<(), ReadError> {
        match self.fill().await {
            Ok(0) => Err(ReadError::Closed {
                got,
                nothing: false,
            }),
            Ok(_) => Ok(()),
            Err(e) => Err(ReadError::Io(e)),
        }
    }

    async fn read_exact_into(
        &mut self,
        n: u64,
        got: &mut u64,
        on_data: &mut impl FnMut(&[u8]),
    ) -> Result<(), ReadError> {
        let mut remaining = n;
        while remaining > 0 {
            if self.is_drained() {
                self.fill_or_closed(*got).await?;
            }
            let available = self.available();
            let take = available
                .len()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            on_data(&available[..take]);
            self.start += take;
            remaining -= take as u64;
            *got += take as u64;
        }
        Ok(())
    }

    async fn read_chunked(&mut self, on_data: &mut impl FnMut(&[u8])) -> Result<u64, ReadError> {
        let mut got = 0u64;
        loop {
            let size = loop {
                match httparse::parse_chunk_size(self.available()) {
                    Ok(httparse::Status::Complete((n, size))) => {
                        self.start += n;
                        break size;
                    }
                    Ok(httparse::Status::Partial) => {
                        if self.available().len() > CHUNK_LINE_MAX_BYTES {
                            return Err(ReadError::Protocol("chunk size line too long".to_owned()));
                        }
                        self.fill_or_closed(got).await?;
                    }
                    Err(_) => return Err(ReadError::Protocol("bad chunk size".to_owned())),
                }
            };
            if size == 0 {
                // Trailer lines up to the empty one.
                loop {
                    match self.available().windows(2).position(|w| w == b"\r\n") {
                        Some(0) => {
                            self.start += 2;
                            return Ok(got);
                        }
                        Some(at) => self.start += at + 2,
                        None => {
                            if self.available().len() > CHUNK_LINE_MAX_BYTES {
                                return Err(ReadError::Protocol("trailer too long".to_owned()));
                            }
                            self.fill_or_closed(got).await?;
                        }
                    }
                }
            }
            self.read_exact_into(size, &mut got, on_data).await?;
            while self.available().len() < 2 {
                self.fill_or_closed(got).await?;
            }
            if &self.available()[..2] != b"\r\n" {
                return Err(ReadError::Protocol("missing CRLF after a chunk".to_owned()));
            }
            self.start += 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_is_parsed() {
        assert_eq!(
            parse_content_range("bytes 0-99/1000"),
            Some((0, 99, Some(1000)))
        );
        assert_eq!(parse_content_range("bytes 5-6/*"), Some((5, 6, None)));
        assert_eq!(parse_content_range("items 0-1/2"), None);
    }
}
