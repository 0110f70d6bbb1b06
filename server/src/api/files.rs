//! GET and HEAD /files/{id}: an object's bytes with the headers players and caches rely on.
//! Everything but the body comes from the index alone; the body streams from the engine,
//! verified chunk by chunk.

use std::cell::RefCell;
use std::collections::HashMap;

use colossus_engine::ObjectMeta;
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
    let validators = Validators::of(&meta);
    let etag = validators.etag_text();
    let last_modified_unix_s = meta.created_unix_ms / 1000;
    let headers = request.headers();
    let header_text = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());

    let mut response = Response::new(ApiBody::empty());
    let out = response.headers_mut();
    out.insert(header::ETAG, validators.etag.clone());
    out.insert(header::LAST_MODIFIED, validators.last_modified.clone());
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
        if conditional::if_none_match_matches(if_none_match, etag) {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            return Ok(response);
        }
    }

    let size = meta.size_bytes;
    let wants_partial = match header_text(header::IF_RANGE) {
        Some(if_range) => {
            conditional::if_range_allows_partial(if_range, etag, last_modified_unix_s)
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
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(len_bytes));
    if request.method() == Method::HEAD || span.is_empty() {
        return Ok(response);
    }
    // Hot objects come from verified, pinned memory (sent without a copy, see
    // `runtime::activity`); the rest stream from the engine, verified as they are read.
    *response.body_mut() = ApiBody::object(store.read_serving(id, span).await?);
    Ok(response)
}

/// Objects whose validator headers each core keeps made.
const VALIDATORS_CACHED_MAX: usize = 4096;

thread_local! {
    /// Object id to its validators, per core: base58 of the multihash and the HTTP date cost
    /// more than the rest of a small GET's headers together. Cleared when full.
    static VALIDATORS: RefCell<HashMap<u64, Validators>> = RefCell::new(HashMap::new());
}

/// An object's `ETag` and `Last-Modified` header values, and what they were made from.
#[derive(Clone)]
struct Validators {
    digest: [u8; 32],
    created_unix_ms: u64,
    etag: HeaderValue,
    last_modified: HeaderValue,
}

impl Validators {
    /// From the cache when it holds this very object (same digest and creation time: an id
    /// deleted and stored again with other bytes gets new ones), else made and cached.
    fn of(meta: &ObjectMeta) -> Validators {
        let cached = VALIDATORS.with(|cache| {
            cache
                .borrow()
                .get(&meta.id)
                .filter(|v| v.digest == meta.digest && v.created_unix_ms == meta.created_unix_ms)
                .cloned()
        });
        if let Some(validators) = cached {
            return validators;
        }
        let validators = Validators {
            digest: meta.digest,
            created_unix_ms: meta.created_unix_ms,
            etag: ascii_value(conditional::etag(&meta.multihash())),
            last_modified: ascii_value(conditional::http_date(meta.created_unix_ms / 1000)),
        };
        VALIDATORS.with(|cache| {
            let mut cache = cache.borrow_mut();
            if cache.len() >= VALIDATORS_CACHED_MAX {
                cache.clear();
            }
            cache.insert(meta.id, validators.clone());
        });
        validators
    }

    fn etag_text(&self) -> &str {
        // Made from ASCII by `of`.
        self.etag.to_str().unwrap_or_default()
    }
}

/// A header value of text this module made (quotes, base58, digits, an HTTP date): ASCII.
fn ascii_value(text: String) -> HeaderValue {
    let value = HeaderValue::try_from(text);
    debug_assert!(value.is_ok(), "a header value made here is not ASCII");
    value.unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn set(headers: &mut http::HeaderMap, name: HeaderName, value: &str) {
    // Every value set here is ASCII made by this module (numbers, base58, dates).
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}
