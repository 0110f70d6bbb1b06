//! The state and status routes, answered from the engine's index and the ledger (never by
//! walking directories).

use http::{Response, StatusCode};

use super::query::percent_decode;
use super::{json_bytes_response, json_response, ApiBody, ApiError};
use crate::compat::bag_id::BagId;
use crate::node::Node;
use crate::runtime::listing::ListingError;
use crate::runtime::Core;

/// The version this node reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

fn id_list(ids: &[u64]) -> String {
    // Ids as JSON strings, as the reference answers; built by hand, this is the large one
    // (a million ids: 9 MB).
    let mut out = String::with_capacity(ids.len() * 12 + 2);
    let mut digits = itoa::Buffer::new();
    out.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(digits.format(*id));
        out.push('"');
    }
    out.push(']');
    out
}

/// GET /state/data-objects: every stored object id. The body is kept and served again
/// until an object is added or deleted (see `Node::id_list_cache`); building it runs on the
/// listing thread (see `runtime::listing`).
pub async fn data_objects(core: &Core) -> Result<Response<ApiBody>, ApiError> {
    if let Some(body) = kept_id_list(&core.node) {
        return Ok(json_bytes_response(StatusCode::OK, body));
    }
    let node = core.node.clone();
    let body = core
        .node
        .listing
        .run(move || {
            // Listings run one at a time, so a poll queued behind one that built the body
            // finds it kept.
            if let Some(body) = kept_id_list(&node) {
                return body;
            }
            // Read before listing: a change during the listing leaves the body stale (it is
            // built again at the next poll), never wrong.
            let version = node.store.id_set_version();
            let body = bytes::Bytes::from(id_list(&node.store.list_ids()));
            *node.id_list_cache.lock() = Some((version, body.clone()));
            body
        })
        .await
        .map_err(listing_refused)?;
    Ok(json_bytes_response(StatusCode::OK, body))
}

/// The kept `/state/data-objects` body, if nothing was added or deleted since it was built.
fn kept_id_list(node: &Node) -> Option<bytes::Bytes> {
    let version = node.store.id_set_version();
    match node.id_list_cache.lock().as_ref() {
        Some((built_at, body)) if *built_at == version => Some(body.clone()),
        _ => None,
    }
}

fn listing_refused(error: ListingError) -> ApiError {
    ApiError::Unavailable(error.to_string())
}

/// GET /state/bags/{bagId}/data-objects (listed on the listing thread).
pub async fn bag_data_objects(core: &Core, bag_text: &str) -> Result<Response<ApiBody>, ApiError> {
    let decoded = percent_decode(bag_text, false).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "bag id {bag_text:?} is not valid percent-encoded UTF-8"
        ))
    })?;
    let bag = BagId::parse_lenient(&decoded)
        .map_err(|e| ApiError::BadRequest(format!("invalid bag id {decoded:?}: {e}")))?
        .to_string();
    let node = core.node.clone();
    let body = core
        .node
        .listing
        .run(move || id_list(&node.store.list_ids_in_bag(&bag)))
        .await
        .map_err(listing_refused)?;
    Ok(json_response(StatusCode::OK, body))
}

/// GET /state/data: sizes and counts. `tempDirSize`/`tempDownloads` are the reserved bytes
/// and count of uploads in flight; `pending*` are stored objects not yet accepted.
pub fn data_stats(core: &Core) -> Result<Response<ApiBody>, ApiError> {
    let stats = core.node.store.stats();
    let body = serde_json::json!({
        "totalSize": stats.live_payload_bytes,
        "objectNumber": stats.objects,
        "tempDirSize": stats.reserved_bytes,
        "tempDownloads": stats.reservations,
        "pendingDirSize": stats.pending_payload_bytes,
        "pendingObjects": stats.pending_objects,
    });
    Ok(json_response(StatusCode::OK, body.to_string()))
}

/// GET /version.
pub fn version() -> Response<ApiBody> {
    let body = serde_json::json!({
        "version": VERSION,
        "userAgent": format!("colossus-rs/{VERSION}"),
    });
    json_response(StatusCode::OK, body.to_string())
}

/// GET /status.
pub fn status(core: &Core) -> Response<ApiBody> {
    let node = &core.node;
    let buckets = node.ledger.operated_buckets();
    let upload: Vec<String> = buckets
        .iter()
        .filter(|b| b.accepting_uploads)
        .map(|b| b.id.to_string())
        .collect();
    let download: Vec<String> = buckets.iter().map(|b| b.id.to_string()).collect();
    let body = serde_json::json!({
        "version": VERSION,
        "uptime": node.started.elapsed().as_secs_f64(),
        "nodeEnv": if node.config.dev { "development" } else { "production" },
        "queryNodeStatus": {
            "url": "embedded",
            "chainHead": 0,
            "blocksProcessed": 0,
            "packageVersion": VERSION,
        },
        "uploadBuckets": upload,
        "downloadBuckets": download,
        "sync": { "enabled": false, "interval": 0 },
        "cleanup": { "enabled": false, "interval": 0 },
    });
    json_response(StatusCode::OK, body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_lists_are_json_string_arrays() {
        assert_eq!(id_list(&[]), "[]");
        assert_eq!(id_list(&[1, 20]), r#"["1","20"]"#);
        let parsed: Vec<String> = serde_json::from_str(&id_list(&[u64::MAX])).unwrap();
        assert_eq!(parsed, vec![u64::MAX.to_string()]);
    }
}
