//! Upload tokens: base64url (no padding) of `{"data":{nonce, validUntil, ...request data},
//! "signature":"0x.."}`, signed by the node's key over `JSON.stringify(data)`, as the
//! reference node issues them from POST /authToken and checks them on upload (x-api-key).
//! Each token's nonce is single-use, tracked by a bounded, expiring `NonceStore`.

use std::collections::{BTreeSet, HashMap};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

use super::js_json::{self, JsJsonError, JsObject, JsString, JsValue};
use super::keys::{KeyPair, PublicKey};
use super::signature::{self, ParsedSignature, SignatureError};
use super::token_request::{VerifiedTokenRequest, RESERVED_DATA_FIELDS};

/// How long a token is valid after issue; the reference uses 30 s (`TokenExpirationPeriod`).
pub const DEFAULT_TOKEN_TTL_MS: u64 = 30_000;

/// Longest token text accepted (a token is a few hundred bytes; headers are bounded anyway).
pub const MAX_TOKEN_CHARS: usize = 8 * 1024;

/// Longest nonce stored.
pub const MAX_NONCE_LEN: usize = 64;

/// Default number of outstanding (issued, unused, unexpired) tokens; the reference's
/// nonce cache holds 100 000.
pub const DEFAULT_NONCE_CAPACITY: usize = 100_000;

/// URL-safe alphabet, no padding written, padding tolerated on input.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a token cannot be created, decoded or accepted. Creation errors are server-side;
/// the rest mean the upload is unauthorised (the reference answers 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadTokenError {
    /// The token text is longer than `MAX_TOKEN_CHARS`.
    #[error("upload token is {len} characters, more than the {max} allowed")]
    TooLong {
        /// Token length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The token is not base64url.
    #[error("upload token is not base64url")]
    NotBase64,
    /// The decoded token is not JSON.
    #[error("upload token is not valid JSON: {0}")]
    InvalidJson(#[from] JsJsonError),
    /// The token or its `data` is not an object.
    #[error("upload token `{field}` must be a JSON object")]
    NotAnObject {
        /// "token" or "data".
        field: &'static str,
    },
    /// A field is missing.
    #[error("upload token is missing `{field}`")]
    MissingField {
        /// The field.
        field: &'static str,
    },
    /// A field has the wrong type or range.
    #[error("upload token `{field}` must be {expected}")]
    WrongFieldType {
        /// The field.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// The signature is malformed or not the issuer's over `data`.
    #[error("upload token signature is invalid: {0}")]
    BadSignature(#[from] SignatureError),
    /// `validUntil` is in the past.
    #[error("upload token expired at {valid_until_ms} (now {now_ms})")]
    Expired {
        /// The token's expiry (ms since epoch).
        valid_until_ms: u64,
        /// The time it was checked.
        now_ms: u64,
    },
    /// The token was issued for another object, bucket or bag.
    #[error("upload token is for another {field}")]
    Mismatch {
        /// "dataObjectId", "storageBucketId" or "bagId".
        field: &'static str,
    },
    /// The nonce is unknown: never issued here, already used, or expired and pruned.
    #[error("upload token nonce is unknown or already used")]
    NonceUnknown,
    /// The request data uses a key the token sets itself.
    #[error("request data must not contain `{field}`")]
    ReservedField {
        /// The key.
        field: &'static str,
    },
    /// The nonce store is full of live tokens; try again when some expire.
    #[error("too many outstanding upload tokens ({capacity}); retry later")]
    NonceStoreFull {
        /// The store's capacity.
        capacity: usize,
    },
    /// The nonce is empty or longer than `MAX_NONCE_LEN`.
    #[error("nonce must be 1 to {max} bytes, got {len}")]
    BadNonce {
        /// The nonce length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The same nonce is already outstanding.
    #[error("nonce is already outstanding")]
    DuplicateNonce,
    /// `validUntil` would not be an exact JS number.
    #[error("validUntil {valid_until_ms} exceeds 2^53 - 1")]
    ExpiryOutOfRange {
        /// The requested expiry.
        valid_until_ms: u64,
    },
}

/// The fields of a verified token that an upload is checked against.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadTokenClaims {
    /// Single-use nonce.
    pub nonce: String,
    /// Expiry, ms since the Unix epoch; the token is valid while now <= this.
    pub valid_until_ms: u64,
    /// The data object the upload must be for.
    pub data_object_id: u64,
    /// The bucket the upload must go to.
    pub storage_bucket_id: u64,
    /// The bag id text the upload must carry (compared as strings, like the reference).
    pub bag_id: String,
    /// The whole signed `data` (memberId, accountId and any extra request fields).
    pub data: JsObject,
}

impl UploadTokenClaims {
    /// Checks the upload's form fields against the token (reference: strict equality).
    pub fn check_upload(
        &self,
        data_object_id: u64,
        storage_bucket_id: u64,
        bag_id: &str,
    ) -> Result<(), UploadTokenError> {
        if self.data_object_id != data_object_id {
            return Err(UploadTokenError::Mismatch {
                field: "dataObjectId",
            });
        }
        if self.storage_bucket_id != storage_bucket_id {
            return Err(UploadTokenError::Mismatch {
                field: "storageBucketId",
            });
        }
        if self.bag_id != bag_id {
            return Err(UploadTokenError::Mismatch { field: "bagId" });
        }
        Ok(())
    }
}

fn check_nonce(nonce: &str) -> Result<(), UploadTokenError> {
    if nonce.is_empty() || nonce.len() > MAX_NONCE_LEN {
        return Err(UploadTokenError::BadNonce {
            len: nonce.len(),
            max: MAX_NONCE_LEN,
        });
    }
    Ok(())
}

/// Token `data`: nonce, validUntil, then the request's properties in their JS order.
pub fn build_token_data(
    request_data: &JsObject,
    nonce: &str,
    valid_until_ms: u64,
) -> Result<JsObject, UploadTokenError> {
    check_nonce(nonce)?;
    let valid_until = JsValue::safe_integer(valid_until_ms)
        .ok_or(UploadTokenError::ExpiryOutOfRange { valid_until_ms })?;
    for field in RESERVED_DATA_FIELDS {
        if request_data.contains_key(field) {
            return Err(UploadTokenError::ReservedField { field });
        }
    }
    let mut data = JsObject::new();
    data.insert(JsString::new("nonce"), JsValue::string(nonce));
    data.insert(JsString::new("validUntil"), valid_until);
    for (key, value) in request_data.entries() {
        data.insert(key.clone(), value.clone());
    }
    Ok(data)
}

/// Signs token `data` with the node's key and encodes the token.
pub fn encode_upload_token(data: &JsObject, signer: &KeyPair) -> String {
    let token = signature::sign_envelope(data.clone(), signer);
    BASE64URL.encode(js_json::object_to_string(&token))
}

/// Builds, signs and encodes an upload token for `request_data`.
pub fn create_upload_token(
    request_data: &JsObject,
    nonce: &str,
    valid_until_ms: u64,
    signer: &KeyPair,
) -> Result<String, UploadTokenError> {
    let data = build_token_data(request_data, nonce, valid_until_ms)?;
    Ok(encode_upload_token(&data, signer))
}

/// A decoded token whose signature has not been checked.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedUploadToken {
    /// The signed claims.
    pub claims: UploadTokenClaims,
    /// The signature.
    pub signature: ParsedSignature,
}

fn token_field<'a>(
    data: &'a JsObject,
    field: &'static str,
) -> Result<&'a JsValue, UploadTokenError> {
    data.get(field)
        .ok_or(UploadTokenError::MissingField { field })
}

fn token_u64(data: &JsObject, field: &'static str) -> Result<u64, UploadTokenError> {
    token_field(data, field)?
        .as_safe_u64()
        .ok_or(UploadTokenError::WrongFieldType {
            field,
            expected: "an integer from 0 to 2^53 - 1",
        })
}

fn token_string(data: &JsObject, field: &'static str) -> Result<String, UploadTokenError> {
    token_field(data, field)?
        .as_str()
        .ok_or(UploadTokenError::WrongFieldType {
            field,
            expected: "a string",
        })
}

/// Decodes a token's base64url JSON into claims and signature (no verification).
pub fn decode_upload_token(token: &str) -> Result<DecodedUploadToken, UploadTokenError> {
    if token.len() > MAX_TOKEN_CHARS {
        return Err(UploadTokenError::TooLong {
            len: token.len(),
            max: MAX_TOKEN_CHARS,
        });
    }
    let json = BASE64URL
        .decode(token)
        .map_err(|_| UploadTokenError::NotBase64)?;
    let root = js_json::parse(&json)?;
    let root = root
        .as_object()
        .ok_or(UploadTokenError::NotAnObject { field: "token" })?;
    let data = token_field(root, "data")?
        .as_object()
        .ok_or(UploadTokenError::NotAnObject { field: "data" })?;
    let signature = ParsedSignature::from_hex(&token_string(root, "signature")?)?;
    let nonce = token_string(data, "nonce")?;
    check_nonce(&nonce)?;
    Ok(DecodedUploadToken {
        claims: UploadTokenClaims {
            nonce,
            valid_until_ms: token_u64(data, "validUntil")?,
            data_object_id: token_u64(data, "dataObjectId")?,
            storage_bucket_id: token_u64(data, "storageBucketId")?,
            bag_id: token_string(data, "bagId")?,
            data: data.clone(),
        },
        signature,
    })
}

/// Decodes a token and checks the issuer's signature and the expiry (not the nonce).
pub fn verify_upload_token(
    token: &str,
    issuer: &PublicKey,
    now_ms: u64,
) -> Result<UploadTokenClaims, UploadTokenError> {
    let decoded = decode_upload_token(token)?;
    let message = js_json::object_to_string(&decoded.claims.data);
    signature::verify(message.as_bytes(), &decoded.signature, issuer)?;
    // The reference refuses when validUntil < now: a token is still good at validUntil.
    if decoded.claims.valid_until_ms < now_ms {
        return Err(UploadTokenError::Expired {
            valid_until_ms: decoded.claims.valid_until_ms,
            now_ms,
        });
    }
    Ok(decoded.claims)
}

/// Outstanding nonces with their expiry: bounded, single-use, pruned by time.
///
/// Full means full of live tokens: new ones are refused (`NonceStoreFull`) rather than
/// evicting a token a client may be about to use. Expired entries are pruned on insert.
#[derive(Debug)]
pub struct NonceStore {
    capacity: usize,
    expiry_by_nonce: HashMap<String, u64>,
    by_expiry: BTreeSet<(u64, String)>,
}

impl NonceStore {
    /// An empty store holding at most `capacity` outstanding nonces.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            expiry_by_nonce: HashMap::new(),
            by_expiry: BTreeSet::new(),
        }
    }

    /// The capacity limit.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Outstanding nonces (including expired ones not yet pruned).
    pub fn len(&self) -> usize {
        debug_assert_eq!(self.expiry_by_nonce.len(), self.by_expiry.len());
        self.expiry_by_nonce.len()
    }

    /// True when nothing is outstanding.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every nonce whose expiry is before `now_ms`; returns how many.
    pub fn prune_expired(&mut self, now_ms: u64) -> usize {
        let mut pruned = 0;
        while let Some((expires_ms, _)) = self.by_expiry.first() {
            if *expires_ms >= now_ms {
                break;
            }
            if let Some((_, nonce)) = self.by_expiry.pop_first() {
                self.expiry_by_nonce.remove(&nonce);
                pruned += 1;
            }
        }
        pruned
    }

    /// Records a newly issued nonce valid until `expires_ms` (inclusive).
    pub fn insert(
        &mut self,
        nonce: &str,
        expires_ms: u64,
        now_ms: u64,
    ) -> Result<(), UploadTokenError> {
        check_nonce(nonce)?;
        self.prune_expired(now_ms);
        if self.expiry_by_nonce.contains_key(nonce) {
            return Err(UploadTokenError::DuplicateNonce);
        }
        if self.len() >= self.capacity {
            return Err(UploadTokenError::NonceStoreFull {
                capacity: self.capacity,
            });
        }
        self.expiry_by_nonce.insert(nonce.to_owned(), expires_ms);
        self.by_expiry.insert((expires_ms, nonce.to_owned()));
        Ok(())
    }

    /// Uses up `nonce`: succeeds once per issued, unexpired nonce.
    pub fn consume(&mut self, nonce: &str, now_ms: u64) -> Result<(), UploadTokenError> {
        let expires_ms = self
            .expiry_by_nonce
            .remove(nonce)
            .ok_or(UploadTokenError::NonceUnknown)?;
        self.by_expiry.remove(&(expires_ms, nonce.to_owned()));
        if expires_ms < now_ms {
            return Err(UploadTokenError::Expired {
                valid_until_ms: expires_ms,
                now_ms,
            });
        }
        Ok(())
    }
}

/// The node's side of upload tokens: issues them from verified requests and redeems them
/// once on upload. Not internally synchronised: a multi-core server shares one behind a lock
/// (token issue and redemption are per-upload, not per-byte, operations).
#[derive(Debug)]
pub struct UploadTokenIssuer {
    key: KeyPair,
    nonces: NonceStore,
    ttl_ms: u64,
}

impl UploadTokenIssuer {
    /// An issuer signing with `key`, tokens valid `ttl_ms`, at most `capacity` outstanding.
    pub fn new(key: KeyPair, capacity: usize, ttl_ms: u64) -> Self {
        Self {
            key,
            nonces: NonceStore::new(capacity),
            ttl_ms,
        }
    }

    /// The public key tokens are verified against.
    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// Outstanding nonces.
    #[cfg(test)]
    fn nonce_store(&self) -> &NonceStore {
        &self.nonces
    }

    /// Issues a token for a verified /authToken request at time `now_ms`.
    pub fn issue(
        &mut self,
        request: &VerifiedTokenRequest,
        now_ms: u64,
    ) -> Result<String, UploadTokenError> {
        let valid_until_ms = now_ms.saturating_add(self.ttl_ms);
        // 128 random bits in decimal: unguessable, and a string like the reference's nonce.
        let nonce = rand::random::<u128>().to_string();
        let token = create_upload_token(&request.request.data, &nonce, valid_until_ms, &self.key)?;
        self.nonces.insert(&nonce, valid_until_ms, now_ms)?;
        Ok(token)
    }

    /// Checks a token presented with an upload and uses up its nonce: signature, expiry,
    /// upload fields, then the nonce, so a refused token keeps its nonce (as in the reference).
    pub fn redeem(
        &mut self,
        token: &str,
        data_object_id: u64,
        storage_bucket_id: u64,
        bag_id: &str,
        now_ms: u64,
    ) -> Result<UploadTokenClaims, UploadTokenError> {
        let claims = verify_upload_token(token, &self.key.public_key(), now_ms)?;
        claims.check_upload(data_object_id, storage_bucket_id, bag_id)?;
        self.nonces.consume(&claims.nonce, now_ms)?;
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::js_json::MAX_SAFE_INTEGER;
    use crate::auth::keys::CryptoScheme;
    use crate::auth::ss58;
    use crate::auth::token_request::verify_token_request;
    use crate::test_vectors;

    const NOW: u64 = 1_700_000_000_000;

    fn bob() -> KeyPair {
        KeyPair::from_uri("//Bob", CryptoScheme::Sr25519).unwrap()
    }

    fn vector_request_body() -> Vec<u8> {
        let v = test_vectors::load();
        let entry = &v.get("tokenRequests").and_then(JsValue::as_array).unwrap()[0];
        js_json::to_string(entry.get("body").unwrap()).into_bytes()
    }

    #[test]
    fn vector_tokens_decode_and_verify_against_the_issuer() {
        let v = test_vectors::load();
        let entries = v.get("uploadTokens").and_then(JsValue::as_array).unwrap();
        assert_eq!(entries.len(), 2);
        for entry in entries {
            let issuer =
                ss58::decode(&entry.get("issuer").and_then(JsValue::as_str).unwrap()).unwrap();
            let token = entry.get("token").and_then(JsValue::as_str).unwrap();
            let body = entry.get("tokenBody").and_then(JsValue::as_object).unwrap();
            let claims = verify_upload_token(&token, &PublicKey(issuer.public_key), NOW).unwrap();
            assert_eq!(&claims.data, body);
            assert_eq!(
                js_json::object_to_string(&claims.data),
                entry
                    .get("signedMessage")
                    .and_then(JsValue::as_str)
                    .unwrap()
            );
            assert_eq!(claims.nonce, "123456789012345");
            assert_eq!(claims.valid_until_ms, 1_893_456_000_000);
            claims
                .check_upload(
                    body.get("dataObjectId")
                        .and_then(JsValue::as_safe_u64)
                        .unwrap(),
                    body.get("storageBucketId")
                        .and_then(JsValue::as_safe_u64)
                        .unwrap(),
                    &body.get("bagId").and_then(JsValue::as_str).unwrap(),
                )
                .unwrap();
            // Signed by //Bob, the vectors' node key.
            assert_eq!(issuer.public_key, bob().public_key().0);
            // Another issuer's key refuses it.
            let alice = KeyPair::from_uri("//Alice", CryptoScheme::Sr25519).unwrap();
            assert!(matches!(
                verify_upload_token(&token, &alice.public_key(), NOW),
                Err(UploadTokenError::BadSignature(SignatureError::Mismatch))
            ));
            // Past validUntil it is expired; at validUntil it is still good.
            assert!(verify_upload_token(&token, &bob().public_key(), 1_893_456_000_000).is_ok());
            assert_eq!(
                verify_upload_token(&token, &bob().public_key(), 1_893_456_000_001),
                Err(UploadTokenError::Expired {
                    valid_until_ms: 1_893_456_000_000,
                    now_ms: 1_893_456_000_001
                })
            );
        }
    }

    #[test]
    fn vector_token_is_reproduced_byte_for_byte_except_the_signature() {
        // sr25519 signatures are randomized, so compare everything but the signature.
        let v = test_vectors::load();
        let entry = &v.get("uploadTokens").and_then(JsValue::as_array).unwrap()[0];
        let body = entry.get("tokenBody").and_then(JsValue::as_object).unwrap();
        let mut request = JsObject::new();
        for (k, val) in body.entries() {
            if !(k.eq_str("nonce") || k.eq_str("validUntil")) {
                request.insert(k.clone(), val.clone());
            }
        }
        let ours =
            create_upload_token(&request, "123456789012345", 1_893_456_000_000, &bob()).unwrap();
        let ours = decode_upload_token(&ours).unwrap();
        let theirs =
            decode_upload_token(&entry.get("token").and_then(JsValue::as_str).unwrap()).unwrap();
        assert_eq!(ours.claims, theirs.claims);
        let theirs_json = BASE64URL
            .decode(entry.get("token").and_then(JsValue::as_str).unwrap())
            .unwrap();
        assert!(theirs_json
            .starts_with(br#"{"data":{"nonce":"123456789012345","validUntil":1893456000000,"#));
        assert!(!entry
            .get("token")
            .and_then(JsValue::as_str)
            .unwrap()
            .contains('='));
    }

    #[test]
    fn issued_token_round_trips_once() {
        let request = verify_token_request(&vector_request_body()).unwrap();
        let mut issuer = UploadTokenIssuer::new(bob(), 8, DEFAULT_TOKEN_TTL_MS);
        let token = issuer.issue(&request, NOW).unwrap();
        assert!(!token.contains('=') && !token.contains('+') && !token.contains('/'));
        assert_eq!(issuer.nonce_store().len(), 1);

        let claims = decode_upload_token(&token).unwrap().claims;
        assert_eq!(claims.valid_until_ms, NOW + DEFAULT_TOKEN_TTL_MS);
        assert_eq!(
            js_json::object_to_string(&claims.data),
            format!(
                r#"{{"nonce":"{}","validUntil":{},{}"#,
                claims.nonce,
                NOW + DEFAULT_TOKEN_TTL_MS,
                &request.request.signed_message()[1..]
            )
        );
        // Wrong upload fields are refused and do not burn the nonce.
        assert_eq!(
            issuer.redeem(&token, 43, 0, "dynamic:channel:7", NOW + 1),
            Err(UploadTokenError::Mismatch {
                field: "dataObjectId"
            })
        );
        assert_eq!(
            issuer.redeem(&token, 42, 1, "dynamic:channel:7", NOW + 1),
            Err(UploadTokenError::Mismatch {
                field: "storageBucketId"
            })
        );
        assert_eq!(
            issuer.redeem(&token, 42, 0, "Dynamic:channel:7", NOW + 1),
            Err(UploadTokenError::Mismatch { field: "bagId" })
        );
        let claims = issuer
            .redeem(&token, 42, 0, "dynamic:channel:7", NOW + 1)
            .unwrap();
        assert_eq!(claims.data_object_id, 42);
        assert_eq!(
            issuer.redeem(&token, 42, 0, "dynamic:channel:7", NOW + 2),
            Err(UploadTokenError::NonceUnknown)
        );
        assert!(issuer.nonce_store().is_empty());
    }

    #[test]
    fn expired_token_is_refused() {
        let request = verify_token_request(&vector_request_body()).unwrap();
        let mut issuer = UploadTokenIssuer::new(bob(), 8, 1_000);
        let token = issuer.issue(&request, NOW).unwrap();
        assert!(matches!(
            issuer.redeem(&token, 42, 0, "dynamic:channel:7", NOW + 1_001),
            Err(UploadTokenError::Expired { .. })
        ));
    }

    #[test]
    fn tampered_tokens_fail() {
        let request = verify_token_request(&vector_request_body()).unwrap();
        let mut issuer = UploadTokenIssuer::new(bob(), 8, DEFAULT_TOKEN_TTL_MS);
        let token = issuer.issue(&request, NOW).unwrap();
        let json = String::from_utf8(BASE64URL.decode(&token).unwrap()).unwrap();

        // Extend the expiry, change the object, add a field, swap key order.
        let tampered = [
            json.replace(
                &format!("{}", NOW + DEFAULT_TOKEN_TTL_MS),
                &format!("{}", NOW + 999_999_999),
            ),
            json.replace(r#""dataObjectId":42"#, r#""dataObjectId":43"#),
            json.replace(
                r#""bagId":"dynamic:channel:7""#,
                r#""bagId":"dynamic:channel:7","x":1"#,
            ),
            json.replace(r#""memberId":1,"accountId""#, r#""accountId""#)
                .replace(r#""dataObjectId":42"#, r#""memberId":1,"dataObjectId":42"#),
        ];
        for t in tampered {
            assert_ne!(t, json);
            let forged = BASE64URL.encode(&t);
            assert!(
                matches!(
                    issuer.redeem(&forged, 42, 0, "dynamic:channel:7", NOW + 1),
                    Err(UploadTokenError::BadSignature(SignatureError::Mismatch))
                        | Err(UploadTokenError::Mismatch { .. })
                ),
                "{t}"
            );
        }
        // Flipped signature bit.
        let sig_at = json.find(r#""signature":"0x"#).unwrap() + 20;
        let mut bytes = json.clone().into_bytes();
        bytes[sig_at] = if bytes[sig_at] == b'0' { b'1' } else { b'0' };
        let forged = BASE64URL.encode(&bytes);
        assert!(matches!(
            issuer.redeem(&forged, 42, 0, "dynamic:channel:7", NOW + 1),
            Err(UploadTokenError::BadSignature(_))
        ));
        // Garbage.
        assert_eq!(decode_upload_token("!!!"), Err(UploadTokenError::NotBase64));
        assert!(matches!(
            decode_upload_token(&BASE64URL.encode("{")),
            Err(UploadTokenError::InvalidJson(_))
        ));
        assert_eq!(
            decode_upload_token(&BASE64URL.encode("[]")),
            Err(UploadTokenError::NotAnObject { field: "token" })
        );
        assert_eq!(
            decode_upload_token(&BASE64URL.encode(r#"{"data":{},"signature":"0x"}"#)),
            Err(UploadTokenError::BadSignature(SignatureError::BadLength {
                got: 0
            }))
        );
        assert!(matches!(
            decode_upload_token(&"A".repeat(MAX_TOKEN_CHARS + 1)),
            Err(UploadTokenError::TooLong { .. })
        ));
        // The untampered token still works afterwards: failures did not burn its nonce.
        assert!(issuer
            .redeem(&token, 42, 0, "dynamic:channel:7", NOW + 1)
            .is_ok());
    }

    #[test]
    fn padded_tokens_are_accepted() {
        let v = test_vectors::load();
        let entry = &v.get("uploadTokens").and_then(JsValue::as_array).unwrap()[0];
        let token = entry.get("token").and_then(JsValue::as_str).unwrap();
        let padded = format!("{token}{}", "=".repeat((4 - token.len() % 4) % 4));
        assert!(verify_upload_token(&padded, &bob().public_key(), NOW).is_ok());
    }

    #[test]
    fn token_data_rejects_reserved_fields_and_bad_inputs() {
        let mut data = JsObject::new();
        data.insert(JsString::new("validUntil"), JsValue::Number(1.0));
        assert_eq!(
            build_token_data(&data, "1", NOW),
            Err(UploadTokenError::ReservedField {
                field: "validUntil"
            })
        );
        let empty = JsObject::new();
        assert!(matches!(
            build_token_data(&empty, "", NOW),
            Err(UploadTokenError::BadNonce { .. })
        ));
        assert!(matches!(
            build_token_data(&empty, &"1".repeat(MAX_NONCE_LEN + 1), NOW),
            Err(UploadTokenError::BadNonce { .. })
        ));
        assert_eq!(
            build_token_data(&empty, "1", MAX_SAFE_INTEGER + 1),
            Err(UploadTokenError::ExpiryOutOfRange {
                valid_until_ms: MAX_SAFE_INTEGER + 1
            })
        );
    }

    #[test]
    fn nonce_store_is_single_use() {
        let mut store = NonceStore::new(4);
        store.insert("a", NOW + 10, NOW).unwrap();
        assert_eq!(
            store.insert("a", NOW + 10, NOW),
            Err(UploadTokenError::DuplicateNonce)
        );
        assert_eq!(store.consume("a", NOW), Ok(()));
        assert_eq!(store.consume("a", NOW), Err(UploadTokenError::NonceUnknown));
        assert_eq!(
            store.consume("never", NOW),
            Err(UploadTokenError::NonceUnknown)
        );
        assert!(store.is_empty());
    }

    #[test]
    fn nonce_store_expires_and_prunes() {
        let mut store = NonceStore::new(4);
        store.insert("a", NOW + 10, NOW).unwrap();
        store.insert("b", NOW + 20, NOW).unwrap();
        store.insert("c", NOW + 30, NOW).unwrap();
        // Valid through its expiry instant, expired after.
        assert_eq!(store.consume("a", NOW + 10), Ok(()));
        assert_eq!(
            store.consume("b", NOW + 21),
            Err(UploadTokenError::Expired {
                valid_until_ms: NOW + 20,
                now_ms: NOW + 21
            })
        );
        assert_eq!(
            store.consume("b", NOW + 21),
            Err(UploadTokenError::NonceUnknown)
        );
        assert_eq!(store.len(), 1);
        assert_eq!(store.prune_expired(NOW + 30), 0);
        assert_eq!(store.prune_expired(NOW + 31), 1);
        assert!(store.is_empty());
    }

    #[test]
    fn full_store_refuses_new_nonces_instead_of_evicting_live_ones() {
        let mut store = NonceStore::new(2);
        store.insert("a", NOW + 10, NOW).unwrap();
        store.insert("b", NOW + 100, NOW).unwrap();
        assert_eq!(
            store.insert("c", NOW + 100, NOW + 5),
            Err(UploadTokenError::NonceStoreFull { capacity: 2 })
        );
        // Both live tokens still work... well, "a" is consumed; "b" stays.
        assert_eq!(store.consume("a", NOW + 5), Ok(()));
        store.insert("c", NOW + 100, NOW + 5).unwrap();
        assert_eq!(store.len(), 2);
        // Once "b" and "c" have expired, inserting prunes them and succeeds.
        store.insert("d", NOW + 300, NOW + 101).unwrap();
        assert_eq!(store.len(), 1);
        assert_eq!(store.consume("d", NOW + 200), Ok(()));
    }

    #[test]
    fn issuer_refuses_when_full() {
        let request = verify_token_request(&vector_request_body()).unwrap();
        let mut issuer = UploadTokenIssuer::new(bob(), 1, DEFAULT_TOKEN_TTL_MS);
        let first = issuer.issue(&request, NOW).unwrap();
        assert_eq!(
            issuer.issue(&request, NOW),
            Err(UploadTokenError::NonceStoreFull { capacity: 1 })
        );
        issuer
            .redeem(&first, 42, 0, "dynamic:channel:7", NOW)
            .unwrap();
        assert!(issuer.issue(&request, NOW).is_ok());
        // After the TTL, the unused token's slot is reclaimed.
        assert!(issuer
            .issue(&request, NOW + DEFAULT_TOKEN_TTL_MS + 1)
            .is_ok());
    }
}
