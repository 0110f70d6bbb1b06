//! Recognising, from the first bytes of a connection's next request, an upload
//! (`POST /api/v1/files`) that the node reads without hyper, so that the file part goes from
//! the socket straight into the engine's buffers (see `runtime::direct`).
//!
//! Only the plain case is taken: HTTP/1.1 with one `Content-Length`, no `Transfer-Encoding`,
//! no `Upgrade`, `Expect` absent or `100-continue`, header names and values that `http`
//! accepts, at most `headers_max` headers. Anything else (and any head hyper would refuse)
//! is [`HeadScan::Other`]: the bytes go to hyper, which serves it as every other request,
//! chunked uploads included. So this parser never has to be right about an error: it only
//! has to be sure of what it accepts.

use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Version};

/// Request line prefix of the only request taken.
const UPLOAD_REQUEST_PREFIX: &[u8] = b"POST /api/v1/files";

/// What the bytes read so far say about the request they begin.
#[derive(Debug)]
pub enum HeadScan {
    /// Not an upload this path takes (or a head hyper is to judge): hand it to hyper.
    Other,
    /// Too few bytes to tell.
    Partial,
    /// A complete upload head (boxed: it is some 200 bytes, the other answers none).
    Upload(Box<UploadHead>),
}

/// An upload request's head.
#[derive(Debug)]
pub struct UploadHead {
    /// Method, target, version and headers.
    pub parts: http::request::Parts,
    /// Bytes of the head, its final empty line included: the body starts there.
    pub head_len_bytes: usize,
    /// The body's length.
    pub content_length_bytes: u64,
    /// The client waits for `100 Continue` before it sends the body.
    pub expects_continue: bool,
    /// The client may send another request on the connection after this one.
    pub keep_alive: bool,
}

/// Looks at the bytes read so far from a connection's next request.
pub fn scan_upload_head(bytes: &[u8], headers_max: usize) -> HeadScan {
    let prefix_len = UPLOAD_REQUEST_PREFIX.len().min(bytes.len());
    if bytes[..prefix_len] != UPLOAD_REQUEST_PREFIX[..prefix_len] {
        return HeadScan::Other;
    }
    match bytes.get(UPLOAD_REQUEST_PREFIX.len()) {
        None => return HeadScan::Partial,
        Some(b' ' | b'?') => {}
        Some(_) => return HeadScan::Other,
    }
    let mut headers = vec![httparse::EMPTY_HEADER; headers_max];
    let mut request = httparse::Request::new(&mut headers);
    let head_len_bytes = match request.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return HeadScan::Partial,
        Err(_) => return HeadScan::Other,
    };
    match upload_head(&request, head_len_bytes) {
        Some(head) => HeadScan::Upload(Box::new(head)),
        None => HeadScan::Other,
    }
}

/// The head, if it is one this path takes.
fn upload_head(request: &httparse::Request<'_, '_>, head_len_bytes: usize) -> Option<UploadHead> {
    if request.method != Some("POST") || request.version != Some(1) {
        return None;
    }
    let target = request.path?;
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    if path != "/api/v1/files" {
        return None;
    }
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(target)
        .version(Version::HTTP_11);
    let mut content_length_bytes: Option<u64> = None;
    let mut expects_continue = false;
    let mut keep_alive = true;
    for field in request.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(field.value).ok()?;
        if name == header::TRANSFER_ENCODING || name == header::UPGRADE {
            return None;
        }
        if name == header::CONTENT_LENGTH {
            let length = decimal(value.as_bytes())?;
            // Several Content-Length fields must agree (RFC 9112 §6.3); hyper judges others.
            if content_length_bytes.is_some_and(|seen| seen != length) {
                return None;
            }
            content_length_bytes = Some(length);
        }
        if name == header::EXPECT {
            if !value.as_bytes().eq_ignore_ascii_case(b"100-continue") {
                return None;
            }
            expects_continue = true;
        }
        if name == header::CONNECTION
            && value
                .as_bytes()
                .split(|&b| b == b',')
                .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"))
        {
            keep_alive = false;
        }
        builder = builder.header(name, value);
    }
    let (parts, ()) = builder.body(()).ok()?.into_parts();
    Some(UploadHead {
        parts,
        head_len_bytes,
        content_length_bytes: content_length_bytes?,
        expects_continue,
        keep_alive,
    })
}

/// A Content-Length value: decimal digits only, fitting a u64.
fn decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(bytes: &[u8]) -> UploadHead {
        match scan_upload_head(bytes, 64) {
            HeadScan::Upload(head) => *head,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(bytes)),
        }
    }

    fn is_other(bytes: &[u8]) -> bool {
        matches!(scan_upload_head(bytes, 64), HeadScan::Other)
    }

    const HEAD: &[u8] = b"POST /api/v1/files?dataObjectId=1 HTTP/1.1\r\nHost: x\r\n\
        Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1234\r\n\r\n";

    #[test]
    fn a_plain_upload_head_is_taken_with_its_body_offset() {
        let mut bytes = HEAD.to_vec();
        bytes.extend_from_slice(b"--b\r\n");
        let head = upload(&bytes);
        assert_eq!(head.head_len_bytes, HEAD.len());
        assert_eq!(head.content_length_bytes, 1234);
        assert!(!head.expects_continue);
        assert!(head.keep_alive);
        assert_eq!(head.parts.method, Method::POST);
        assert_eq!(head.parts.uri.path(), "/api/v1/files");
        assert_eq!(head.parts.uri.query(), Some("dataObjectId=1"));
        assert_eq!(
            head.parts.headers[header::CONTENT_TYPE],
            "multipart/form-data; boundary=b"
        );
    }

    #[test]
    fn every_prefix_of_an_upload_head_asks_for_more() {
        for len in 0..HEAD.len() {
            assert!(
                matches!(scan_upload_head(&HEAD[..len], 64), HeadScan::Partial),
                "{len} bytes"
            );
        }
    }

    #[test]
    fn other_requests_go_to_hyper_from_their_first_bytes() {
        for bytes in [
            &b"G"[..],
            b"GET /api/v1/files/1 HTTP/1.1\r\n",
            b"POST /api/v1/authToken HTTP/1.1\r\n",
            b"POST /api/v1/filesX HTTP/1.1\r\n",
            b"POST /api/v1/files/ HTTP/1.1\r\n",
            b"POST /api/v1/files HTTP/1.0\r\nContent-Length: 5\r\n\r\n",
        ] {
            assert!(is_other(bytes), "{:?}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn uploads_this_path_does_not_take_go_to_hyper() {
        let with = |extra: &str| {
            format!("POST /api/v1/files HTTP/1.1\r\nHost: x\r\n{extra}\r\n").into_bytes()
        };
        for extra in [
            "",                                                    // no Content-Length
            "Transfer-Encoding: chunked\r\n",                      // chunked
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", // both
            "Content-Length: 5\r\nContent-Length: 6\r\n",          // disagreeing
            "Content-Length: +5\r\n",                              // not digits
            "Content-Length: 99999999999999999999999\r\n",         // over u64
            "Content-Length: 5\r\nExpect: something-else\r\n",     // unknown expectation
            "Content-Length: 5\r\nUpgrade: websocket\r\n",         // upgrade
            "Content-Length: 5\r\nBad Name: x\r\n",                // malformed header
        ] {
            assert!(is_other(&with(extra)), "{extra:?}");
        }
        // More headers than allowed: hyper answers that.
        let many: String = (0..65).map(|i| format!("X-{i}: y\r\n")).collect();
        assert!(is_other(&with(&format!("Content-Length: 5\r\n{many}"))));
    }

    #[test]
    fn expectation_and_connection_close_are_read() {
        let head = upload(
            b"POST /api/v1/files HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\
              expect: 100-Continue\r\nConnection: keep-alive, Close\r\n\r\n",
        );
        assert!(head.expects_continue);
        assert!(!head.keep_alive);
        assert_eq!(head.content_length_bytes, 5);
    }
}
