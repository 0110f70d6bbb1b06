//! A request body as handlers read it: data bytes with a deadline per piece, and a record of
//! whether it was ever asked for. That matters for `Expect: 100-continue`: the client is told
//! to go on when the body is first read, so only a body that was asked for will come (and
//! must be read off the connection if the request is refused).
//!
//! The body comes from hyper, or, for an upload read without hyper (`runtime::direct`),
//! straight from the connection: then its bytes can also be read in place, into a buffer
//! the handler names (the engine's), without passing through any other memory.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

use super::ApiError;
use crate::runtime::activity::TrackedIo;

/// Largest piece [`RequestBody::next_bytes`] reads from a direct body at a time.
const DIRECT_PIECE_MAX_BYTES: usize = 64 << 10;

/// What a client that sent `Expect: 100-continue` is told before its body is read.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The body of a request being handled.
pub struct RequestBody {
    source: Source,
    asked: bool,
}

enum Source {
    Hyper(Incoming),
    Direct(DirectBody),
}

/// A body of known length read from the connection itself.
pub struct DirectBody {
    io: TrackedIo,
    /// Body bytes read together with the head, not handed out yet.
    early: Bytes,
    /// Body bytes not handed out yet (`early` included).
    remaining_bytes: u64,
    /// The declared length.
    length_bytes: u64,
    /// `100 Continue` is still to be sent before the first read from the socket.
    continue_due: bool,
}

impl DirectBody {
    /// The body of `length_bytes` on `io`, of which `early` (read with the head, at most
    /// `length_bytes`) came first.
    pub fn new(io: TrackedIo, early: Bytes, length_bytes: u64, expects_continue: bool) -> Self {
        assert!(
            early.len() as u64 <= length_bytes,
            "early bytes beyond the body"
        );
        Self {
            io,
            early,
            remaining_bytes: length_bytes,
            length_bytes,
            // A client that sent its body along anyway needs no go-ahead.
            continue_due: expects_continue,
        }
    }

    /// The connection back, and whether the body was read to its end.
    pub fn into_io(self) -> (TrackedIo, bool) {
        (self.io, self.remaining_bytes == 0)
    }

    /// Reads the next body bytes into `buf` (no more than are left): how many, 0 at the end
    /// of the body. A connection that ends first, or stays silent for `timeout`, is an error.
    pub async fn read_into(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<usize, ApiError> {
        let want = buf
            .len()
            .min(usize::try_from(self.remaining_bytes).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        if !self.early.is_empty() {
            let n = want.min(self.early.len());
            buf[..n].copy_from_slice(&self.early.split_to(n));
            self.remaining_bytes -= n as u64;
            return Ok(n);
        }
        if std::mem::take(&mut self.continue_due) {
            self.io
                .write_all(CONTINUE)
                .await
                .map_err(|e| ApiError::BadRequest(format!("sending 100 Continue: {e}")))?;
        }
        let read = monoio::time::timeout(timeout, self.io.read_some(&mut buf[..want]))
            .await
            .map_err(|_| silent(timeout))?
            .map_err(|e| ApiError::BadRequest(format!("reading the request body: {e}")))?;
        if read == 0 {
            return Err(ApiError::BadRequest(format!(
                "the request body ended after {} of its {} bytes (Content-Length)",
                self.length_bytes - self.remaining_bytes,
                self.length_bytes
            )));
        }
        self.remaining_bytes -= read as u64;
        Ok(read)
    }
}

fn silent(timeout: Duration) -> ApiError {
    ApiError::Timeout(format!(
        "no request body bytes arrived for {} ms",
        timeout.as_millis()
    ))
}

impl RequestBody {
    /// A body hyper reads.
    pub fn new(incoming: Incoming) -> Self {
        Self {
            source: Source::Hyper(incoming),
            asked: false,
        }
    }

    /// A body read from the connection itself.
    pub fn direct(body: DirectBody) -> Self {
        Self {
            source: Source::Direct(body),
            asked: false,
        }
    }

    /// The direct body back (None for hyper's).
    pub fn into_direct(self) -> Option<DirectBody> {
        match self.source {
            Source::Direct(body) => Some(body),
            Source::Hyper(_) => None,
        }
    }

    /// The next data bytes, waiting at most `timeout` for them; None at the end of the body.
    pub async fn next_bytes(&mut self, timeout: Duration) -> Result<Option<Bytes>, ApiError> {
        self.asked = true;
        let incoming = match &mut self.source {
            Source::Hyper(incoming) => incoming,
            Source::Direct(body) => {
                if !body.early.is_empty() {
                    body.remaining_bytes -= body.early.len() as u64;
                    return Ok(Some(std::mem::take(&mut body.early)));
                }
                let piece = usize::try_from(body.remaining_bytes)
                    .unwrap_or(usize::MAX)
                    .min(DIRECT_PIECE_MAX_BYTES);
                if piece == 0 {
                    return Ok(None);
                }
                let mut buf = BytesMut::zeroed(piece);
                let read = body.read_into(&mut buf, timeout).await?;
                buf.truncate(read);
                return Ok(Some(buf.freeze()));
            }
        };
        loop {
            let frame = monoio::time::timeout(timeout, incoming.frame())
                .await
                .map_err(|_| silent(timeout))?;
            match frame {
                None => return Ok(None),
                Some(Err(e)) => {
                    return Err(ApiError::BadRequest(format!(
                        "reading the request body: {e}"
                    )))
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Ok(Some(data));
                    }
                    // Trailers carry nothing we use.
                }
            }
        }
    }

    /// The body to be read in place, into a buffer the handler names
    /// ([`DirectBody::read_into`]): a body read from the connection itself only.
    pub fn in_place(&mut self) -> Option<&mut DirectBody> {
        match &mut self.source {
            Source::Direct(body) => {
                self.asked = true;
                Some(body)
            }
            Source::Hyper(_) => None,
        }
    }

    /// Whether a handler has read (or tried to read) the body: for `Expect: 100-continue`,
    /// whether the client was told to send it.
    pub fn was_asked_for(&self) -> bool {
        self.asked
    }

    /// Whether nothing is left to read.
    pub fn is_end_stream(&self) -> bool {
        match &self.source {
            Source::Hyper(incoming) => hyper::body::Body::is_end_stream(incoming),
            Source::Direct(body) => body.remaining_bytes == 0,
        }
    }
}
