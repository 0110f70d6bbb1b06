//! POST /files: check everything the request head (and the text fields before the file part)
//! allows against the ledger and the limits, then stream the file part straight into an
//! engine reservation, verify size and hash, and answer 201 only once the commit is durable.
//! Any failure drops the engine upload, which releases its reservation: nothing changes.

use std::time::Duration;

use bytes::Bytes;
use colossus_engine::{CommitSpec, Upload, UploadSpec};
use http::{Response, StatusCode};

use super::query::query_param;
use super::request_body::{DirectBody, RequestBody};
use super::{json_response, now_unix_ms, parse_decimal_id, ApiBody, ApiError};
use crate::compat::bag_id::BagId;
use crate::http::multipart::{self, DelimiterWatch, Event, MultipartLimits, MultipartParser};
use crate::ledger::DataObject;
use crate::node::UploadSlot;
use crate::runtime::Core;

/// Header carrying the upload token (the giza spec's `UploadAuth` scheme).
pub const UPLOAD_TOKEN_HEADER: &str = "x-api-key";

/// Bytes a multipart body may carry besides the file: boundaries, part headers, text fields.
pub const MULTIPART_OVERHEAD_MAX_BYTES: u64 = 64 * 1024;

/// Largest text field (ids and bag ids are far shorter).
pub const TEXT_FIELD_MAX_BYTES: usize = 1024;

/// The three upload parameters, from the query string and/or text fields.
#[derive(Default, Debug)]
struct UploadParams {
    data_object_id: Option<String>,
    storage_bucket_id: Option<String>,
    bag_id: Option<String>,
}

impl UploadParams {
    fn slot(&mut self, name: &str) -> Option<&mut Option<String>> {
        match name {
            "dataObjectId" => Some(&mut self.data_object_id),
            "storageBucketId" => Some(&mut self.storage_bucket_id),
            "bagId" => Some(&mut self.bag_id),
            _ => None,
        }
    }

    /// Sets a parameter; the same name given twice with different values is refused.
    fn set(&mut self, name: &str, value: String) -> Result<(), ApiError> {
        let Some(slot) = self.slot(name) else {
            return Ok(()); // Unknown fields are ignored, as the reference does.
        };
        match slot {
            Some(existing) if *existing != value => Err(ApiError::BadRequest(format!(
                "{name} is given twice with different values ({existing:?} and {value:?})"
            ))),
            _ => {
                *slot = Some(value);
                Ok(())
            }
        }
    }

    fn required(value: &Option<String>, name: &str) -> Result<String, ApiError> {
        value.clone().ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{name} is required (as a query parameter or a form field)"
            ))
        })
    }
}

/// What the checks established.
struct Admitted {
    /// Holds the upload's share of the in-flight limits until the upload ends.
    _slot: UploadSlot,
    object: DataObject,
    bag: BagId,
    digest: [u8; 32],
}

/// The body as a stream of multipart events.
struct MultipartBody<'a> {
    body: &'a mut RequestBody,
    parser: MultipartParser,
    timeout: Duration,
    ended: bool,
}

impl MultipartBody<'_> {
    /// The next event; Err if the body ends before the closing boundary.
    async fn next(&mut self) -> Result<Event, ApiError> {
        loop {
            if let Some(event) = self.parser.next_event().map_err(multipart_error)? {
                return Ok(event);
            }
            self.fill().await?;
        }
    }

    /// Pushes the next body bytes into the parser; Err if there are none left (the body ended
    /// before the closing boundary).
    async fn fill(&mut self) -> Result<(), ApiError> {
        if self.ended {
            self.parser.finish().map_err(multipart_error)?;
            return Err(ApiError::BadRequest(
                "the multipart body ended before its closing boundary".into(),
            ));
        }
        match self.body.next_bytes(self.timeout).await? {
            Some(bytes) => self.parser.push(bytes),
            None => self.ended = true,
        }
        Ok(())
    }
}

/// File bytes still to come, at the point the parser has handed out all it holds, from which
/// a body read from the connection itself is read in place, straight into the engine's
/// buffer (see [`receive_in_place`]). A smaller object gets a buffer of its own size, new
/// each time, which would have to be zeroed before a read into it: as much work as the copy.
const RECEIVE_IN_PLACE_MIN_BYTES: u64 = 256 << 10;

/// Streams the file part's data into the upload, up to the end of the part.
async fn receive_file_part(
    body: &mut MultipartBody<'_>,
    upload: &mut Upload,
) -> Result<(), ApiError> {
    loop {
        match body.parser.next_event().map_err(multipart_error)? {
            Some(Event::Data(bytes)) => upload.write(&bytes).await?,
            Some(Event::PartEnd) => return Ok(()),
            Some(Event::PartStart { .. } | Event::End) => {
                return Err(ApiError::BadRequest(
                    "the file part is not terminated".into(),
                ))
            }
            None => {
                let in_place = (upload.remaining_bytes() >= RECEIVE_IN_PLACE_MIN_BYTES)
                    .then(|| body.body.in_place())
                    .flatten();
                if let Some(direct) = in_place {
                    if let Some((held_back, watch)) = body.parser.hand_off_part_data() {
                        let taken =
                            receive_in_place(direct, body.timeout, upload, held_back, watch)
                                .await?;
                        body.parser
                            .data_taken_elsewhere(taken)
                            .map_err(multipart_error)?;
                        // What follows the object's bytes goes through the parser again.
                        continue;
                    }
                }
                body.fill().await?;
            }
        }
    }
}

/// Reads the rest of the object's bytes from the connection straight into the upload's
/// buffer (no copy on the way: the kernel's receive copy is the only one), watching them for
/// the multipart delimiter as the parser would have. `held_back` (bytes the parser held back
/// as a possible delimiter start) come first. Returns the data bytes taken.
async fn receive_in_place(
    body: &mut DirectBody,
    timeout: Duration,
    upload: &mut Upload,
    held_back: Bytes,
    mut watch: DelimiterWatch,
) -> Result<u64, ApiError> {
    watch.check(&held_back).map_err(multipart_error)?;
    upload.write(&held_back).await?;
    let mut taken = held_back.len() as u64;
    while upload.remaining_bytes() > 0 {
        let read = body.read_into(upload.unfilled_mut(), timeout).await?;
        if read == 0 {
            return Err(ApiError::BadRequest(format!(
                "the request body ends inside the file part, {} bytes short of the data object",
                upload.remaining_bytes()
            )));
        }
        watch
            .check(&upload.unfilled_mut()[..read])
            .map_err(multipart_error)?;
        upload.filled(read).await?;
        taken += read as u64;
    }
    Ok(taken)
}

fn multipart_error(error: multipart::MultipartError) -> ApiError {
    ApiError::BadRequest(format!("malformed multipart body: {error}"))
}

/// POST /files.
pub async fn upload(
    core: &Core,
    request: &http::request::Parts,
    body: &mut RequestBody,
) -> Result<Response<ApiBody>, ApiError> {
    let node = &core.node;
    let limits = &node.config.limits;
    let mut params = UploadParams::default();
    let query = request.uri.query();
    for name in ["dataObjectId", "storageBucketId", "bagId"] {
        if let Some(value) = query_param(query, name).map_err(ApiError::BadRequest)? {
            params.set(name, value)?;
        }
    }
    let content_type = request
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::BadRequest("Content-Type multipart/form-data is required".into())
        })?;
    let boundary = multipart::boundary_from_content_type(content_type).map_err(multipart_error)?;
    let declared_length = super::content_length(&request.headers)?;
    if let Some(length) = declared_length {
        if length > limits.object_size_max_bytes + MULTIPART_OVERHEAD_MAX_BYTES {
            return Err(ApiError::TooLarge(format!(
                "the request body of {length} bytes exceeds the largest object of {} bytes",
                limits.object_size_max_bytes
            )));
        }
    }
    let token = request
        .headers
        .get(UPLOAD_TOKEN_HEADER)
        .map(|v| v.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| ApiError::Unauthorized("the upload token is not valid text".into()))?;

    // With every parameter in the query string, everything is checked before a body byte is
    // read; with form fields (the 2021 API), before a byte of the file part is.
    let in_query = params.data_object_id.is_some()
        && params.storage_bucket_id.is_some()
        && params.bag_id.is_some();
    let early = if in_query {
        Some(admit(core, &params, declared_length, token.as_deref())?)
    } else {
        None
    };
    let mut body = MultipartBody {
        body,
        parser: MultipartParser::new(
            &boundary,
            MultipartLimits {
                field_bytes_max: TEXT_FIELD_MAX_BYTES as u64,
                ..MultipartLimits::default()
            },
        )
        .map_err(multipart_error)?,
        timeout: Duration::from_millis(limits.body_read_timeout_ms),
        ended: false,
    };
    read_text_fields(&mut body, &mut params).await?;
    let admitted = match early {
        Some(admitted) => admitted,
        None => admit(core, &params, declared_length, token.as_deref())?,
    };
    // The file part may carry exactly the object's bytes (no filename makes the parser
    // treat it as a small text field otherwise); more is refused as soon as it arrives.
    body.parser
        .set_part_bytes_max(Some(admitted.object.size_bytes));
    let bag_text = admitted.bag.to_string();
    let mut upload = core.writer.begin_upload(UploadSpec {
        id: admitted.object.id,
        bag: &bag_text,
        size_bytes: admitted.object.size_bytes,
    })?;
    // The file part's bytes, straight into the reservation.
    receive_file_part(&mut body, &mut upload).await?;
    // Whatever follows the file part (more fields, the closing boundary) is read and ignored.
    read_to_end(&mut body).await?;
    let auto_accept = node.ledger.auto_accept_uploads();
    let meta = upload
        .commit(CommitSpec {
            expected_digest: Some(admitted.digest),
            // The ledger may say accepted already (the chain accepted it before this node
            // got the bytes, e.g. a re-upload): store it as such.
            accepted: auto_accept || admitted.object.accepted,
        })
        .await?;
    if auto_accept && !admitted.object.accepted {
        if let Err(e) = node.ledger_writes.accept(meta.id).await {
            // The object is durable and served; only its acceptance is not recorded.
            eprintln!(
                "colossus: object {} stored but not marked accepted: {e}",
                meta.id
            );
        }
    }
    Ok(json_response(
        StatusCode::CREATED,
        serde_json::json!({ "id": meta.multihash() }).to_string(),
    ))
}

/// Reads text parts until the file part starts (a part named `file`, or any part with a
/// filename).
async fn read_text_fields(
    body: &mut MultipartBody<'_>,
    params: &mut UploadParams,
) -> Result<(), ApiError> {
    loop {
        match body.next().await? {
            Event::PartStart { name, filename, .. } => {
                if name == "file" || filename.is_some() {
                    return Ok(());
                }
                let mut value = Vec::new();
                loop {
                    match body.next().await? {
                        // The parser refuses text fields over TEXT_FIELD_MAX_BYTES.
                        Event::Data(bytes) => value.extend_from_slice(&bytes),
                        Event::PartEnd => break,
                        Event::PartStart { .. } | Event::End => {
                            return Err(ApiError::BadRequest(format!(
                                "form field {name:?} is not terminated"
                            )))
                        }
                    }
                }
                let value = String::from_utf8(value).map_err(|_| {
                    ApiError::BadRequest(format!("form field {name:?} is not UTF-8"))
                })?;
                params.set(&name, value)?;
            }
            Event::End => {
                return Err(ApiError::BadRequest(
                    "the multipart body has no file part (a part named \"file\")".into(),
                ))
            }
            Event::Data(_) | Event::PartEnd => {}
        }
    }
}

async fn read_to_end(body: &mut MultipartBody<'_>) -> Result<(), ApiError> {
    loop {
        if let Event::End = body.next().await? {
            return Ok(());
        }
    }
}

/// Every check that needs no file byte, in the order the reference node makes them; the
/// token is redeemed last, so a request refused for another reason does not use it up.
fn admit(
    core: &Core,
    params: &UploadParams,
    declared_length: Option<u64>,
    token: Option<&str>,
) -> Result<Admitted, ApiError> {
    let node = &core.node;
    let ledger = &node.ledger;
    let id_text = UploadParams::required(&params.data_object_id, "dataObjectId")?;
    let bucket_text = UploadParams::required(&params.storage_bucket_id, "storageBucketId")?;
    let bag_text = UploadParams::required(&params.bag_id, "bagId")?;
    let id = parse_decimal_id(&id_text, "dataObjectId")?;
    let bucket_id = parse_decimal_id(&bucket_text, "storageBucketId")?;

    let bucket = ledger
        .bucket(bucket_id)
        .filter(|b| Some(b.operator_worker_id) == ledger.worker_id())
        .ok_or_else(|| {
            ApiError::Unavailable(format!(
                "storage bucket {bucket_id} is not operated by this node"
            ))
        })?;
    if !bucket.accepting_uploads {
        return Err(ApiError::Unavailable(format!(
            "storage bucket {bucket_id} does not accept uploads"
        )));
    }
    let bag = BagId::parse_lenient(&bag_text)
        .map_err(|e| ApiError::BadRequest(format!("invalid bagId {bag_text:?}: {e}")))?;
    let canonical_bag = bag.to_string();
    let object = ledger
        .data_object(id)
        .filter(|o| o.bag == canonical_bag)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "data object {id} does not exist in bag {canonical_bag}"
            ))
        })?;
    if !ledger.bag_in_bucket(&canonical_bag, bucket_id) {
        return Err(ApiError::BadRequest(format!(
            "bag {canonical_bag} is not assigned to storage bucket {bucket_id}"
        )));
    }
    if node.store.contains(id)? {
        return Err(ApiError::BadRequest(format!(
            "data object {id} is already stored"
        )));
    }
    let limit = node.config.limits.object_size_max_bytes;
    if object.size_bytes > limit {
        return Err(ApiError::TooLarge(format!(
            "data object {id} is {} bytes, more than this node's limit of {limit} bytes",
            object.size_bytes
        )));
    }
    if let Some(length) = declared_length {
        if length > object.size_bytes + MULTIPART_OVERHEAD_MAX_BYTES {
            return Err(ApiError::TooLarge(format!(
                "the request body of {length} bytes is larger than data object {id} of {} bytes allows",
                object.size_bytes
            )));
        }
        if length < object.size_bytes {
            return Err(ApiError::BadRequest(format!(
                "the request body of {length} bytes cannot hold data object {id} of {} bytes",
                object.size_bytes
            )));
        }
    }
    let digest = colossus_engine::multihash::decode(&object.multihash).map_err(|e| {
        ApiError::Internal(format!(
            "the ledger's multihash of object {id} is invalid: {e}"
        ))
    })?;
    let limits = &node.config.limits;
    let slot = node.admit_upload(object.size_bytes).ok_or_else(|| {
        ApiError::Unavailable(format!(
            "the node is at its limit of uploads in flight ({} uploads, {} bytes); retry later",
            limits.uploads_in_flight_max, limits.upload_bytes_in_flight_max
        ))
    })?;
    if node.config.upload_auth {
        let token = token.ok_or_else(|| {
            ApiError::Unauthorized(format!(
                "an upload token is required in the {UPLOAD_TOKEN_HEADER} header (POST /api/v1/authToken)"
            ))
        })?;
        node.tokens
            .lock()
            .redeem(token, id, bucket_id, &bag_text, now_unix_ms())
            .map_err(|e| ApiError::Unauthorized(format!("upload token refused: {e}")))?;
    }
    Ok(Admitted {
        _slot: slot,
        object,
        bag,
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_given_twice_must_agree() {
        let mut params = UploadParams::default();
        params.set("bagId", "static:council".into()).unwrap();
        params.set("bagId", "static:council".into()).unwrap();
        assert!(params.set("bagId", "dynamic:member:1".into()).is_err());
        params.set("somethingElse", "x".into()).unwrap();
        assert_eq!(params.bag_id.as_deref(), Some("static:council"));
    }
}
