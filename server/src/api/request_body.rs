//! A request body as handlers read it: data bytes with a deadline per piece, and a record of
//! whether it was ever asked for. That matters for `Expect: 100-continue`: hyper tells such a
//! client to go on when the body is first read, so only a body that was asked for will come
//! (and must be read off the connection if the request is refused).

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

use super::ApiError;

/// The body of a request being handled.
pub struct RequestBody {
    incoming: Incoming,
    asked: bool,
}

impl RequestBody {
    pub fn new(incoming: Incoming) -> Self {
        Self {
            incoming,
            asked: false,
        }
    }

    /// The next data bytes, waiting at most `timeout` for them; None at the end of the body.
    pub async fn next_bytes(
        &mut self,
        timeout: std::time::Duration,
    ) -> Result<Option<Bytes>, ApiError> {
        self.asked = true;
        loop {
            let frame = monoio::time::timeout(timeout, self.incoming.frame())
                .await
                .map_err(|_| {
                    ApiError::Timeout(format!(
                        "no request body bytes arrived for {} ms",
                        timeout.as_millis()
                    ))
                })?;
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

    /// Whether a handler has read (or tried to read) the body: for `Expect: 100-continue`,
    /// whether the client was told to send it.
    pub fn was_asked_for(&self) -> bool {
        self.asked
    }

    /// Whether nothing is left to read.
    pub fn is_end_stream(&self) -> bool {
        hyper::body::Body::is_end_stream(&self.incoming)
    }
}
