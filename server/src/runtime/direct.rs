//! Uploads read without hyper. hyper reads a request body into its own buffer and hands it
//! out in frames, so every byte of an upload was copied once more on its way to the engine's
//! write buffer (about a tenth of the receiving core's time on a 1 GiB upload). Here the
//! node reads the head of a connection's next request itself; an upload in the plain form
//! (`http::upload_head`) is answered on this path, and its file part is read from the
//! socket straight into the engine's buffer. Every other request, and every upload in
//! another form, goes to hyper together with the bytes read so far, as if nothing had looked.
//!
//! The head is looked at when a connection starts and after it was released (see `serve`),
//! and after each upload answered here; requests that follow one served by hyper on the
//! same keep-alive connection stay with hyper until it is released.

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::header;
use http::Response;

use super::activity::TrackedIo;
use super::connections::{ConnectionGuard, Phase};
use super::Core;
use crate::api::request_body::{DirectBody, RequestBody};
use crate::api::{self, ApiBody};
use crate::http::upload_head::{scan_upload_head, HeadScan, UploadHead};

/// Bytes read at a time while looking for the head (an upload's body may follow in the same
/// read; the first of it is then copied once more).
const HEAD_READ_BYTES: usize = 16 << 10;

/// What became of the connection's next request.
pub enum Taken {
    /// hyper is to serve it: the connection, with every byte read so far still to be read.
    Hyper(TrackedIo),
    /// Answered here; the connection may carry another request.
    Answered(TrackedIo),
    /// The connection is to close (answered with `Connection: close`, timed out, ended, or
    /// the core is aborting).
    Closed,
}

/// Reads the start of the connection's next request and answers it here if it is an upload
/// this path takes.
pub async fn take_request(core: &Rc<Core>, mut io: TrackedIo, guard: &ConnectionGuard) -> Taken {
    let limits = &core.node.config.limits;
    let head_bytes_max = limits.header_size_max_bytes.max(HEAD_READ_BYTES);
    // The whole head must come within the timeout, however slowly its bytes trickle in (as
    // hyper bounds it).
    let deadline = Instant::now() + Duration::from_millis(limits.header_read_timeout_ms);
    let mut read = BytesMut::new();
    let head = loop {
        match scan_upload_head(&read, limits.headers_max) {
            HeadScan::Upload(head) => break head,
            HeadScan::Other => return hand_to_hyper(io, read),
            HeadScan::Partial if read.len() >= head_bytes_max => return hand_to_hyper(io, read),
            HeadScan::Partial => {}
        }
        let at = read.len();
        read.resize(at + HEAD_READ_BYTES, 0);
        let outcome = monoio::select! {
            outcome = io.read_some(&mut read[at..]) => outcome,
            _ = monoio::time::sleep_until(deadline.into()) => return Taken::Closed,
            _ = guard.reached(Phase::Aborting) => return Taken::Closed,
        };
        match outcome {
            Ok(0) | Err(_) => {
                // Ended (or failed) before a whole head: hyper sees the same and answers as
                // it does to any such request; nothing read, nothing to answer.
                read.truncate(at);
                if read.is_empty() {
                    return Taken::Closed;
                }
                return hand_to_hyper(io, read);
            }
            Ok(n) => read.truncate(at + n),
        }
    };
    answer_upload(core, io, read.freeze(), *head, guard).await
}

fn hand_to_hyper(mut io: TrackedIo, read: BytesMut) -> Taken {
    io.unread(read.freeze());
    Taken::Hyper(io)
}

/// Answers the upload whose head (and maybe the start of its body, or more) is in `read`.
async fn answer_upload(
    core: &Rc<Core>,
    mut io: TrackedIo,
    mut read: Bytes,
    head: UploadHead,
    guard: &ConnectionGuard,
) -> Taken {
    let limits = &core.node.config.limits;
    let _ = read.split_to(head.head_len_bytes);
    let body_len = usize::try_from(head.content_length_bytes).unwrap_or(usize::MAX);
    if read.len() > body_len {
        // The next request (pipelined) began in the same read.
        io.unread(read.split_off(body_len));
    }
    let mut body = RequestBody::direct(DirectBody::new(
        io,
        read,
        head.content_length_bytes,
        head.expects_continue,
    ));
    let response = monoio::select! {
        response = api::handle_direct_upload(core, &head.parts, &mut body) => response,
        // Dropping the handler aborts the engine upload (its reservation is released).
        _ = guard.reached(Phase::Aborting) => return Taken::Closed,
    };
    let Some(body) = body.into_direct() else {
        unreachable!("the body was made direct above")
    };
    let (mut io, body_read) = body.into_io();
    let close = !head.keep_alive
        || !body_read
        || guard.shutting_down()
        || response
            .headers()
            .get(header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
    let Some(encoded) = encode_response(&response, close) else {
        eprintln!(
            "colossus: core {}: an upload answer has a streamed body",
            core.index
        );
        return Taken::Closed;
    };
    let write_timeout = Duration::from_millis(limits.idle_timeout_ms);
    match monoio::time::timeout(write_timeout, io.write_all(&encoded)).await {
        Ok(Ok(())) if !close => Taken::Answered(io),
        _ => Taken::Closed,
    }
}

/// The answer as HTTP/1.1 bytes (None for a streamed body, which an upload never has).
fn encode_response(response: &Response<ApiBody>, close: bool) -> Option<Vec<u8>> {
    let body = response.body().full_bytes()?;
    let status = response.status();
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in response.headers() {
        if name == header::CONTENT_LENGTH || name == header::CONNECTION || name == header::DATE {
            continue;
        }
        push_header(&mut out, name.as_str(), value.as_bytes());
    }
    push_header(
        &mut out,
        "content-length",
        body.len().to_string().as_bytes(),
    );
    if close {
        push_header(&mut out, "connection", b"close");
    }
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    push_header(&mut out, "date", date.as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Some(out)
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}
