//! The HTTP API under /api/v1: routing, and the responses every route shares (JSON, errors,
//! CORS). Each group of routes has its own module; errors become statuses only in `error`.

pub mod admin;
pub mod auth_token;
pub mod body;
pub mod error;
pub mod files;
pub mod query;
pub mod request_body;
pub mod state;
pub mod upload;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use self::request_body::RequestBody;
use crate::runtime::Core;
pub use body::ApiBody;
pub use error::ApiError;

/// Prefix of every route.
pub const API_PREFIX: &str = "/api/v1";

/// Our own OpenAPI document, served at /api/v1/openapi.yaml.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

/// Answers one request. Never fails: errors become JSON answers here.
pub async fn handle(core: &Core, request: Request<Incoming>) -> Response<ApiBody> {
    let is_head = request.method() == Method::HEAD;
    let mut response = match route(core, request).await {
        Ok(response) => response,
        Err(error) => error_response(&error),
    };
    if is_head {
        // HEAD answers carry the headers of GET (Content-Length included) and no body.
        let exact_len = http_body::Body::size_hint(response.body()).exact();
        if let (Some(len), false) = (
            exact_len,
            response.headers().contains_key(header::CONTENT_LENGTH),
        ) {
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        *response.body_mut() = ApiBody::empty();
    }
    with_cors(response)
}

/// Answers an upload (`POST /api/v1/files`) whose body is read from the connection itself
/// (`runtime::direct`): the same checks and answers as through [`handle`].
pub async fn handle_direct_upload(
    core: &Core,
    head: &http::request::Parts,
    body: &mut RequestBody,
) -> Response<ApiBody> {
    let outcome = match check_head_size(core, &head.method, &head.uri, &head.headers) {
        Ok(()) => {
            answer_politely(head, body, async |head, body| {
                upload::upload(core, head, body).await
            })
            .await
        }
        Err(error) => Err(error),
    };
    with_cors(outcome.unwrap_or_else(|error| error_response(&error)))
}

/// Any origin may read every answer.
fn with_cors(mut response: Response<ApiBody>) -> Response<ApiBody> {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

async fn route(core: &Core, request: Request<Incoming>) -> Result<Response<ApiBody>, ApiError> {
    check_head_size(core, request.method(), request.uri(), request.headers())?;
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    if method == Method::OPTIONS {
        return Ok(preflight(&request));
    }
    let Some(rest) = path.strip_prefix(API_PREFIX) else {
        return Err(not_found(&path));
    };
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let allow = |allow: &'static str| ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: path.clone(),
        allow,
    };
    match segments.as_slice() {
        ["files"] => match method {
            Method::POST => {
                refusing_politely(request, async |head, body| {
                    upload::upload(core, head, body).await
                })
                .await
            }
            _ => Err(allow("POST, OPTIONS")),
        },
        ["files", id] => match method {
            Method::GET | Method::HEAD => files::get(core, &request, id).await,
            _ => Err(allow("GET, HEAD, OPTIONS")),
        },
        ["authToken"] => match method {
            Method::POST => {
                refusing_politely(request, async |head, body| {
                    auth_token::auth_token(core, head, body).await
                })
                .await
            }
            _ => Err(allow("POST, OPTIONS")),
        },
        ["state", "data-objects"] => match method {
            Method::GET | Method::HEAD => state::data_objects(core).await,
            _ => Err(allow("GET, HEAD, OPTIONS")),
        },
        ["state", "bags", bag, "data-objects"] => match method {
            Method::GET | Method::HEAD => state::bag_data_objects(core, bag).await,
            _ => Err(allow("GET, HEAD, OPTIONS")),
        },
        ["state", "data"] => get_only(&method, allow, || state::data_stats(core)),
        ["version"] => get_only(&method, allow, || Ok(state::version())),
        ["status"] => get_only(&method, allow, || Ok(state::status(core))),
        ["openapi.yaml"] => get_only(&method, allow, || {
            Ok(with_type(
                Response::new(ApiBody::full(OPENAPI_YAML)),
                "application/yaml",
            ))
        }),
        ["admin", "ledger"] => match method {
            Method::GET | Method::HEAD => admin::ledger(core, &request),
            Method::POST => {
                refusing_politely(request, async |head, body| {
                    admin::apply(core, head, body).await
                })
                .await
            }
            _ => Err(allow("GET, HEAD, POST, OPTIONS")),
        },
        ["admin", "store"] => get_only(&method, allow, || admin::store(core, &request)),
        ["admin", "connections"] => get_only(&method, allow, || admin::connections(core, &request)),
        ["admin", "ledger", "next-object-id"] => {
            get_only(&method, allow, || admin::next_object_id(core, &request))
        }
        _ => Err(not_found(&path)),
    }
}

/// Enforces the configured head limits (hyper enforces only a wider bound; see
/// `runtime::HYPER_HEAD_LIMIT_FACTOR`). The size counts the request line and each header line
/// as sent, give or take whitespace.
fn check_head_size(
    core: &Core,
    method: &Method,
    uri: &http::Uri,
    headers: &http::HeaderMap,
) -> Result<(), ApiError> {
    let limits = &core.node.config.limits;
    if headers.len() > limits.headers_max {
        return Err(ApiError::HeadTooLarge(format!(
            "the request has {} headers, more than the {} allowed",
            headers.len(),
            limits.headers_max
        )));
    }
    let target = uri.path().len() + uri.query().map_or(0, |q| q.len() + 1);
    let request_line = method.as_str().len() + target + 12;
    let size = headers.iter().fold(request_line, |total, (name, value)| {
        total + name.as_str().len() + value.len() + 4
    });
    if size > limits.header_size_max_bytes {
        return Err(ApiError::HeadTooLarge(format!(
            "the request head is about {size} bytes, more than the {} allowed",
            limits.header_size_max_bytes
        )));
    }
    Ok(())
}

fn get_only(
    method: &Method,
    allow: impl Fn(&'static str) -> ApiError,
    answer: impl FnOnce() -> Result<Response<ApiBody>, ApiError>,
) -> Result<Response<ApiBody>, ApiError> {
    if method == Method::GET || method == Method::HEAD {
        answer()
    } else {
        Err(allow("GET, HEAD, OPTIONS"))
    }
}

fn not_found(path: &str) -> ApiError {
    ApiError::NotFound(format!("no route for {path}"))
}

/// CORS preflight: any origin, the methods the API has, the headers asked for.
fn preflight(request: &Request<Incoming>) -> Response<ApiBody> {
    let mut response = Response::new(ApiBody::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, POST, OPTIONS"),
    );
    let asked = request
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    response
}

/// A JSON answer.
pub fn json_response(status: StatusCode, json: String) -> Response<ApiBody> {
    json_bytes_response(status, json.into())
}

/// A JSON response from bytes already encoded (shared, not copied).
pub fn json_bytes_response(status: StatusCode, json: bytes::Bytes) -> Response<ApiBody> {
    // Content-Length comes from the body (for HEAD, `handle` copies it before dropping it).
    let mut response = Response::new(ApiBody::full(json));
    *response.status_mut() = status;
    with_type(response, "application/json; charset=utf-8")
}

/// Sets Content-Type.
pub fn with_type(mut response: Response<ApiBody>, content_type: &'static str) -> Response<ApiBody> {
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The JSON answer of an error.
pub fn error_response(error: &ApiError) -> Response<ApiBody> {
    let mut response = json_response(error.status(), error.to_json());
    let headers = response.headers_mut();
    match error {
        ApiError::MethodNotAllowed { allow, .. } => {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        ApiError::HeadTooLarge(_) => {
            // A client that sends oversized heads gets no second request on this connection
            // (hyper closes it after the answer).
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        ApiError::RangeNotSatisfiable { size_bytes } => {
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size_bytes}")) {
                headers.insert(header::CONTENT_RANGE, value);
            }
        }
        _ => {}
    }
    response
}

/// Reads a whole (small) body, refusing more than `max_bytes`.
pub async fn read_small_body(
    core: &Core,
    head: &http::request::Parts,
    body: &mut RequestBody,
    max_bytes: usize,
) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::TooLarge(format!("request body exceeds {max_bytes} bytes"));
    if let Some(length) = content_length(&head.headers)? {
        if length > max_bytes as u64 {
            return Err(too_large());
        }
    }
    let timeout = std::time::Duration::from_millis(core.node.config.limits.body_read_timeout_ms);
    let mut collected = bytes::BytesMut::new();
    while let Some(data) = body.next_bytes(timeout).await? {
        if collected.len() + data.len() > max_bytes {
            return Err(too_large());
        }
        collected.extend_from_slice(&data);
    }
    Ok(collected.freeze())
}

/// Body bytes read and dropped after a refusal, so that clients which send the whole body
/// before reading the answer (most do, unless they use `Expect: 100-continue`) get the JSON
/// error rather than a connection reset. Larger bodies are cut off.
pub const REFUSED_BODY_DRAIN_MAX_BYTES: u64 = 1 << 20;

/// Longest wait for each piece of a refused body being drained.
const REFUSED_BODY_DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs a handler that consumes the request body; if it refuses the request, reads and drops
/// what is left of a small body (see [`REFUSED_BODY_DRAIN_MAX_BYTES`]). A client that asked
/// for `100-continue` sends the body only once told to continue, which hyper does when the
/// handler first reads it: such a body is drained only if the handler asked for it, otherwise
/// it will not come. A refusal that leaves body bytes unread answers `Connection: close`.
pub async fn refusing_politely<F>(
    request: Request<Incoming>,
    handler: F,
) -> Result<Response<ApiBody>, ApiError>
where
    F: AsyncFnOnce(&http::request::Parts, &mut RequestBody) -> Result<Response<ApiBody>, ApiError>,
{
    let (head, incoming) = request.into_parts();
    answer_politely(&head, &mut RequestBody::new(incoming), handler).await
}

/// [`refusing_politely`] for a request already taken apart.
async fn answer_politely<F>(
    head: &http::request::Parts,
    body: &mut RequestBody,
    handler: F,
) -> Result<Response<ApiBody>, ApiError>
where
    F: AsyncFnOnce(&http::request::Parts, &mut RequestBody) -> Result<Response<ApiBody>, ApiError>,
{
    let expects_continue = head
        .headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let outcome = handler(head, body).await;
    let Err(error) = outcome else {
        return outcome;
    };
    let mut drained = body.is_end_stream();
    if !drained && (!expects_continue || body.was_asked_for()) {
        let mut dropped = 0u64;
        while dropped <= REFUSED_BODY_DRAIN_MAX_BYTES {
            match body.next_bytes(REFUSED_BODY_DRAIN_TIMEOUT).await {
                Ok(Some(bytes)) => dropped += bytes.len() as u64,
                Ok(None) => {
                    drained = true;
                    break;
                }
                Err(_) => break,
            }
        }
    }
    let mut response = error_response(&error);
    if !drained {
        // Body left unread: the connection closes after this answer (the next request
        // cannot be found). Saying so tells the client not to send another on it.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(response)
}

/// Parses an id given as text (`^\d+$`, fitting a u64); `what` names it in the error.
pub fn parse_decimal_id(text: &str, what: &str) -> Result<u64, ApiError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::BadRequest(format!(
            "{what} {text:?} must be decimal digits"
        )));
    }
    text.parse::<u64>()
        .map_err(|_| ApiError::BadRequest(format!("{what} {text:?} does not fit in 64 bits")))
}

/// The Content-Length header, if any.
pub fn content_length(headers: &http::HeaderMap) -> Result<Option<u64>, ApiError> {
    match headers.get(header::CONTENT_LENGTH) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest("Content-Length is not a number".into())),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_decimal_u64() {
        let parse = |text| parse_decimal_id(text, "data object id");
        assert_eq!(parse("0").unwrap(), 0);
        assert_eq!(parse("18446744073709551615").unwrap(), u64::MAX);
        for bad in [
            "",
            "-1",
            "+1",
            "1.0",
            "0x10",
            "18446744073709551616",
            " 1",
            "١",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
