//! The admin API: the only way to change the embedded ledger. Every route needs
//! `Authorization: Bearer <admin token>` (the token generated into `<data>/admin.token`).

use std::sync::Arc;

use http::{Request, Response, StatusCode};

use super::query::query_param;
use super::request_body::RequestBody;
use super::{json_response, read_small_body, ApiBody, ApiError};
use crate::compat::bag_id::BagId;
use crate::ledger::embedded::SnapshotObjects;
use crate::ledger::{EmbeddedLedger, Mutation};
use crate::runtime::Core;

/// Compares without an early exit, so response time says nothing about the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorize(core: &Core, headers: &http::HeaderMap) -> Result<Arc<EmbeddedLedger>, ApiError> {
    check_token(core, headers)?;
    core.node.embedded_ledger.clone().ok_or_else(|| {
        ApiError::NotFound(
            "this node's ledger is not the embedded one; it cannot be changed here".into(),
        )
    })
}

fn check_token(core: &Core, headers: &http::HeaderMap) -> Result<(), ApiError> {
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        // The scheme name is case-insensitive (RFC 9110 section 11.1).
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "the admin API needs `Authorization: Bearer <admin token>`".into(),
            )
        })?;
    if !constant_time_eq(presented.as_bytes(), core.node.admin_token.as_bytes()) {
        return Err(ApiError::Unauthorized("the admin token is wrong".into()));
    }
    Ok(())
}

/// GET /admin/store: the store's counters and those of its pinned cache, segment pool and
/// payload write path.
pub fn store<B>(core: &Core, request: &Request<B>) -> Result<Response<ApiBody>, ApiError> {
    check_token(core, request.headers())?;
    let store = &core.node.store;
    let stats = store.stats();
    let pinned = store.pinned_stats();
    let pool = store.segment_pool_stats();
    let writes = store.write_path_stats();
    let body = serde_json::json!({
        "objects": stats.objects,
        "livePayloadBytes": stats.live_payload_bytes,
        "liveRecordBytes": stats.live_record_bytes,
        "pendingObjects": stats.pending_objects,
        "pendingPayloadBytes": stats.pending_payload_bytes,
        "deadBytes": stats.dead_bytes,
        "reservedBytes": stats.reserved_bytes,
        "reservations": stats.reservations,
        "segments": stats.segments,
        "pinned": {
            "windows": pinned.windows,
            "bytes": pinned.bytes,
            "budgetBytes": pinned.budget_bytes,
            "hits": pinned.hits,
            "pinned": pinned.pinned,
            "fallbacks": pinned.fallbacks,
            "disabledReason": pinned.disabled_reason,
        },
        "segmentPool": {
            "readyFiles": pool.ready_files,
            "preparedFiles": pool.prepared_files,
            "lastError": pool.last_error,
        },
        "payloadWrites": {
            "direct": writes.direct_configured,
            "directSegments": writes.direct_segments,
            "bufferedSegments": writes.buffered_segments,
        },
        "payloadHashing": {
            "threads": writes.hash_threads,
            "buffersOffCore": writes.buffers_hashed_off_core,
            "buffersOnCore": writes.buffers_hashed_on_core,
        },
        "writeBuffers": {
            "bytesEach": writes.write_buffer_bytes,
            "perCore": writes.write_buffers_per_lane,
            "burstKeptMs": writes.write_buffers_burst_kept_ms,
            "taken": writes.write_buffers_taken,
            "idle": writes.write_buffers_idle,
        },
    });
    Ok(json_response(StatusCode::OK, body.to_string()))
}

/// GET /admin/connections: open connections across the cores, how many of them wait for a
/// request holding only their socket, and how often idle ones released their HTTP state.
pub fn connections<B>(core: &Core, request: &Request<B>) -> Result<Response<ApiBody>, ApiError> {
    check_token(core, request.headers())?;
    let now = core.node.connections.snapshot();
    let body = serde_json::json!({
        "open": now.open,
        "waiting": now.waiting,
        "releases": now.releases,
    });
    Ok(json_response(StatusCode::OK, body.to_string()))
}

/// GET /admin/ledger[?bag=BAG][?objects=false]: everything the ledger holds, the objects of
/// one bag only, or no objects at all.
pub fn ledger<B>(core: &Core, request: &Request<B>) -> Result<Response<ApiBody>, ApiError> {
    let ledger = authorize(core, request.headers())?;
    let objects = objects_asked(request.uri().query()).map_err(ApiError::BadRequest)?;
    let body = serde_json::to_string(&ledger.snapshot_with(objects))
        .map_err(|e| ApiError::Internal(format!("serialising the ledger: {e}")))?;
    Ok(json_response(StatusCode::OK, body))
}

/// Which objects GET /admin/ledger lists: `bag=BAG` those of one bag, `objects=false` none
/// (`objects=true` is the default, every one); both together are refused.
fn objects_asked(query: Option<&str>) -> Result<SnapshotObjects, String> {
    let bag = query_param(query, "bag")?;
    let objects = match query_param(query, "objects")?.as_deref() {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => return Err(format!("objects must be true or false, not {other:?}")),
    };
    match (bag, objects) {
        (Some(_), false) => Err("bag selects objects to list; objects=false lists none".into()),
        (Some(bag), true) => BagId::parse_lenient(&bag)
            .map(SnapshotObjects::InBag)
            .map_err(|e| format!("invalid bag id {bag:?}: {e}")),
        (None, true) => Ok(SnapshotObjects::All),
        (None, false) => Ok(SnapshotObjects::None),
    }
}

/// GET /admin/ledger/next-object-id.
pub fn next_object_id<B>(core: &Core, request: &Request<B>) -> Result<Response<ApiBody>, ApiError> {
    let ledger = authorize(core, request.headers())?;
    let body = serde_json::json!({ "nextObjectId": ledger.next_object_id() });
    Ok(json_response(StatusCode::OK, body.to_string()))
}

/// POST /admin/ledger: applies one mutation. Deleting an object also drops the stored copy;
/// accepting one also marks the stored copy accepted.
pub async fn apply(
    core: &Core,
    head: &http::request::Parts,
    body: &mut RequestBody,
) -> Result<Response<ApiBody>, ApiError> {
    let ledger = authorize(core, &head.headers)?;
    let max = core.node.config.limits.json_body_max_bytes;
    let body = read_small_body(core, head, body, max).await?;
    let mutation: Mutation = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid ledger change: {e}")))?;
    core.node
        .ledger_writes
        .apply(ledger, mutation.clone())
        .await?;
    let store = &core.node.store;
    match mutation {
        Mutation::DeleteObject { id } if store.contains(id)? => {
            core.writer.delete(id).await?;
        }
        Mutation::AcceptObject { id } if store.contains(id)? => {
            core.writer.mark_accepted(id).await?;
        }
        _ => {}
    }
    Ok(json_response(
        StatusCode::OK,
        serde_json::json!({ "applied": true }).to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_all_one_bags_or_none() {
        assert_eq!(objects_asked(None), Ok(SnapshotObjects::All));
        assert_eq!(
            objects_asked(Some("objects=true")),
            Ok(SnapshotObjects::All)
        );
        assert_eq!(
            objects_asked(Some("objects=false")),
            Ok(SnapshotObjects::None)
        );
        let council = BagId::parse_lenient("static:council").expect("bag id");
        assert_eq!(
            objects_asked(Some("bag=static%3Acouncil")),
            Ok(SnapshotObjects::InBag(council))
        );
        assert_eq!(
            objects_asked(Some("objects=true&bag=static:council")),
            Ok(SnapshotObjects::InBag(council))
        );
        for refused in [
            "objects=no",
            "objects=",
            "objects=FALSE",
            "bag=static:council&objects=false",
            "bag=nonsense",
        ] {
            assert!(objects_asked(Some(refused)).is_err(), "{refused}");
        }
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
