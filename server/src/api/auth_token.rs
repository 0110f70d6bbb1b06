//! POST /authToken: a member asks for a single-use upload token. The request's signature is
//! checked over its `data` exactly as the client serialised it, the ledger must say the
//! signing account controls the member, and the token is signed with the node's key.

use http::{Response, StatusCode};

use super::request_body::RequestBody;
use super::{json_response, now_unix_ms, read_small_body, ApiBody, ApiError};
use crate::auth::token_request::{
    verify_token_request, TokenRequestError, MAX_TOKEN_REQUEST_BYTES,
};
use crate::auth::upload_token::UploadTokenError;
use crate::runtime::Core;

/// POST /authToken.
pub async fn auth_token(
    core: &Core,
    head: &http::request::Parts,
    body: &mut RequestBody,
) -> Result<Response<ApiBody>, ApiError> {
    let max = MAX_TOKEN_REQUEST_BYTES.min(core.node.config.limits.json_body_max_bytes);
    let body = read_small_body(core, head, body, max).await?;
    let verified = verify_token_request(&body).map_err(|e| match e {
        TokenRequestError::SignatureMismatch => {
            ApiError::Unauthorized("the token request signature does not verify".into())
        }
        other => ApiError::BadRequest(format!("invalid token request: {other}")),
    })?;
    let member_id = verified.request.member_id;
    let controller = core
        .node
        .ledger
        .member_controller(member_id)
        .ok_or_else(|| ApiError::Unauthorized(format!("member {member_id} does not exist")))?;
    if controller != *verified.request.account.public_key.as_bytes() {
        return Err(ApiError::Unauthorized(format!(
            "account {} does not control member {member_id}",
            verified.request.account_id
        )));
    }
    let token = core
        .node
        .tokens
        .lock()
        .issue(&verified, now_unix_ms())
        .map_err(|e| match e {
            UploadTokenError::NonceStoreFull { .. } => ApiError::Unavailable(format!(
                "too many upload tokens outstanding; retry later ({e})"
            )),
            other => ApiError::BadRequest(format!("cannot issue a token: {other}")),
        })?;
    Ok(json_response(
        StatusCode::CREATED,
        serde_json::json!({ "token": token }).to_string(),
    ))
}
