//! GET and HEAD /files/{id}: an object's bytes with the headers players and caches rely on.
//! Everything but the body comes from the index alone; the body streams from the engine,
//! verified chunk by chunk.

use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::{ApiBody, ApiError};
use crate::http::conditional;
use crate::http::range::{self, RangeOutcome};
use crate::runtime::Core;

/// Objects never change: a year, and `immutable` so browsers do not even revalidate.
const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

/// Headers a browser script may read on a cross-origin answer.
const EXPOSED_HEADERS: &str = "Content-Range, Content-Length, ETag, Accept-Ranges";

/// Served bytes are media, never a document: no scripts, no plugins, even for SVG.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// GET or HEAD of one object.
pub async fn get(
    core: &Core,
    request: &Request<Incoming>,
    id_text: &str,
) -> Result<Response<ApiBody>, ApiError> {
    let id = super::parse_decimal_id(id_text, "data object id")?;
    let store = &core.node.store;
    let meta = store.metadata(id).map_err(|e| match e {
        colossus_engine::EngineError::NotFound { .. } => {
            ApiError::NotFound(format!("data object {id} is not stored on this node"))
        }
        other => other.into(),
    })?;
    let etag = conditional::etag(&meta.multihash());
    let last_modified_unix_s = meta.created_unix_ms / 1000;
    let headers = request.headers();
    let header_text = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());

    let mut response = Response::new(ApiBody::empty());
    let out = response.headers_mut();
    set(out, header::ETAG, &etag);
    set(
        out,
        header::LAST_MODIFIED,
        &conditional::http_date(last_modified_unix_s),
    );
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    out.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED_HEADERS),
    );

    if let Some(if_none_match) = header_text(header::IF_NONE_MATCH) {
        if conditional::if_none_match_matches(if_none_match, &etag) {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            return Ok(response);
        }
    }

    let size = meta.size_bytes;
    let wants_partial = match header_text(header::IF_RANGE) {
        Some(if_range) => {
            conditional::if_range_allows_partial(if_range, &etag, last_modified_unix_s)
        }
        None => true,
    };
    let outcome = match header_text(header::RANGE) {
        Some(range_header) if wants_partial => range::parse_range(range_header, size),
        _ => RangeOutcome::Full,
    };
    let span = match outcome {
        RangeOutcome::Full => 0..size,
        RangeOutcome::Partial {
            start,
            end_inclusive,
        } => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            set(
                response.headers_mut(),
                header::CONTENT_RANGE,
                &range::content_range(start, end_inclusive, size),
            );
            start..end_inclusive + 1
        }
        RangeOutcome::Unsatisfiable => {
            return Err(ApiError::RangeNotSatisfiable { size_bytes: size });
        }
    };

    let out = response.headers_mut();
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(meta.content_type.mime()),
    );
    out.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("inline"),
    );
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    let len_bytes = outcome.partial_len_bytes().unwrap_or(size);
    debug_assert_eq!(len_bytes, span.end - span.start);
    set(out, header::CONTENT_LENGTH, &len_bytes.to_string());
    if request.method() == Method::HEAD || span.is_empty() {
        return Ok(response);
    }
    // Hot objects come from verified, pinned memory (sent without a copy, see
    // `runtime::activity`); the rest stream from the engine, verified as they are read.
    *response.body_mut() = ApiBody::object(store.read_serving(id, span).await?);
    Ok(response)
}

fn set(headers: &mut http::HeaderMap, name: HeaderName, value: &str) {
    // Every value set here is ASCII made by this module (numbers, base58, dates).
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}
