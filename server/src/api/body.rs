//! Response bodies: small buffered ones (JSON, errors), and object streams from the engine:
//! a frame per pinned window (verified memory, sent without a copy), or chunk by chunk as the
//! engine reads and verifies them. hyper polls the next chunk only when the previous one was
//! written to the socket, so a slow client holds at most one engine read (plus its one
//! prefetch) in memory, besides the pinned windows the engine shares between requests.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use colossus_engine::{EngineError, ServingReader};
use http_body::{Body, Frame, SizeHint};

type NextChunk =
    Pin<Box<dyn Future<Output = (Box<ServingReader>, Option<Result<Bytes, EngineError>>)>>>;

/// A response body.
pub struct ApiBody {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    Object {
        reader: Option<Box<ServingReader>>,
        pending: Option<NextChunk>,
        remaining_bytes: u64,
    },
}

impl ApiBody {
    /// No body.
    pub fn empty() -> Self {
        Self {
            kind: Kind::Full(None),
        }
    }

    /// A body held in memory.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        Self {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// The bytes of a body held in memory (None for an object stream).
    pub fn full_bytes(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Full(bytes) => Some(bytes.as_deref().unwrap_or_default()),
            Kind::Object { .. } => None,
        }
    }

    /// The verified bytes of an engine read.
    pub fn object(reader: ServingReader) -> Self {
        let remaining_bytes = reader.remaining_bytes();
        Self {
            kind: Kind::Object {
                reader: Some(Box::new(reader)),
                pending: None,
                remaining_bytes,
            },
        }
    }
}

impl Body for ApiBody {
    type Data = Bytes;
    type Error = EngineError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, EngineError>>> {
        match &mut self.kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Object {
                reader,
                pending,
                remaining_bytes,
            } => {
                if pending.is_none() {
                    let Some(mut owned) = reader.take() else {
                        return Poll::Ready(None);
                    };
                    *pending = Some(Box::pin(async move {
                        let next = owned.next_piece().await;
                        (owned, next)
                    }));
                }
                let Some(future) = pending.as_mut() else {
                    return Poll::Ready(None);
                };
                match future.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready((owned, next)) => {
                        *pending = None;
                        match next {
                            Some(Ok(bytes)) => {
                                *remaining_bytes =
                                    remaining_bytes.saturating_sub(bytes.len() as u64);
                                *reader = Some(owned);
                                Poll::Ready(Some(Ok(Frame::data(bytes))))
                            }
                            // A failed chunk ends the stream with an error: hyper then closes
                            // the connection without completing the body, so the client sees
                            // a short response, never wrong bytes.
                            Some(Err(error)) => Poll::Ready(Some(Err(error))),
                            None => Poll::Ready(None),
                        }
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Object {
                remaining_bytes,
                pending,
                ..
            } => *remaining_bytes == 0 && pending.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Object {
                remaining_bytes, ..
            } => SizeHint::with_exact(*remaining_bytes),
        }
    }
}
