//! POST /authToken bodies `{data, signature}`: parse, type-check the fields the node needs,
//! and verify the signature over `JSON.stringify(data)` (client key order, JS formatting)
//! against the key of `data.accountId`, the way the reference node does.
//! Checking that the account controls `memberId` is the ledger's job, not this module's.

use super::hex;
use super::js_json::{self, JsJsonError, JsObject, JsValue};
use super::keys::{CryptoScheme, PublicKey};
use super::signature::{self, MessageForm, ParsedSignature, SignatureError};
use super::ss58;

/// Largest body accepted (the reference's express.json default limit is 100 kB).
pub const MAX_TOKEN_REQUEST_BYTES: usize = 16 * 1024;

/// Most properties `data` may carry (five are required; extras are signed and kept).
pub const MAX_DATA_FIELDS: usize = 32;

/// Keys the node adds to an upload token; a request carrying them is refused, because the
/// reference copies the request over them (`{nonce, validUntil, ...data}`), letting a client
/// choose its own expiry.
pub const RESERVED_DATA_FIELDS: [&str; 2] = ["nonce", "validUntil"];

/// Why a token request is refused. Every variant but `SignatureMismatch` means a malformed
/// request (the reference answers 400); `SignatureMismatch` means unauthorised (401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRequestError {
    /// The body is larger than `MAX_TOKEN_REQUEST_BYTES`.
    #[error("token request is {len} bytes, more than the {max} allowed")]
    BodyTooLarge {
        /// Body length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The body is not JSON.
    #[error("token request is not valid JSON: {0}")]
    InvalidJson(#[from] JsJsonError),
    /// The body or its `data` is not a JSON object.
    #[error("`{field}` must be a JSON object")]
    NotAnObject {
        /// "body" or "data".
        field: &'static str,
    },
    /// A required field is absent.
    #[error("token request is missing `{field}`")]
    MissingField {
        /// Name of the field (`data.x` for fields inside data).
        field: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("`{field}` must be {expected}")]
    WrongFieldType {
        /// Name of the field.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// An id is not a non-negative integer a JS client can represent exactly (<= 2^53 - 1).
    #[error("`{field}` must be an integer from 0 to 9007199254740991")]
    NotSafeInteger {
        /// Name of the field.
        field: &'static str,
    },
    /// `data` carries a key the node sets itself in upload tokens.
    #[error("`data.{field}` is set by the storage node and must not be in the request")]
    ReservedField {
        /// The reserved key.
        field: &'static str,
    },
    /// `data` has more than `MAX_DATA_FIELDS` properties.
    #[error("`data` has {count} fields, more than the {max} allowed")]
    TooManyFields {
        /// Number of properties.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// `data.accountId` is neither an SS58 address nor 0x-hex of a 32-byte public key.
    #[error("`data.accountId` is not an SS58 address or 0x-hex public key: {reason}")]
    UnknownAccountFormat {
        /// Why decoding failed.
        reason: String,
    },
    /// `signature` is not 0x-hex.
    #[error("`signature` is not 0x-hex: {0}")]
    BadSignatureEncoding(hex::HexError),
    /// `signature` decodes to a length no supported scheme uses.
    #[error("`signature` is {got} bytes; expected 64 (or 65 with a type byte)")]
    BadSignatureLength {
        /// Decoded length.
        got: usize,
    },
    /// `signature` is ECDSA, which this node does not accept.
    #[error("`signature` is ecdsa; sign with an sr25519 or ed25519 key")]
    UnsupportedSignatureScheme,
    /// The signature is not by `data.accountId` over `data` (as sent, or `<Bytes>`-wrapped).
    #[error("signature does not match `data` and `data.accountId`")]
    SignatureMismatch,
}

impl From<SignatureError> for TokenRequestError {
    fn from(e: SignatureError) -> Self {
        match e {
            SignatureError::BadEncoding(h) => Self::BadSignatureEncoding(h),
            SignatureError::BadLength { got } => Self::BadSignatureLength { got },
            SignatureError::UnsupportedScheme => Self::UnsupportedSignatureScheme,
            SignatureError::Mismatch => Self::SignatureMismatch,
        }
    }
}

/// How the client wrote `accountId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountIdFormat {
    /// SS58 with this prefix. The reference later compares the text with the member's
    /// controller account printed with prefix 126, so only 126 can succeed there.
    Ss58 {
        /// The address's network prefix.
        prefix: u16,
    },
    /// 0x-hex public key (polkadot-js `decodeAddress` accepts this too).
    Hex,
}

/// A decoded `accountId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountId {
    /// The account's public key.
    pub public_key: PublicKey,
    /// How it was written.
    pub format: AccountIdFormat,
}

impl AccountId {
    /// Decodes an SS58 address (any prefix) or 0x-hex 32-byte key, as `decodeAddress` does.
    pub fn parse(text: &str) -> Result<Self, TokenRequestError> {
        if text.starts_with("0x") {
            let bytes = hex::decode(text).map_err(|e| TokenRequestError::UnknownAccountFormat {
                reason: e.to_string(),
            })?;
            let key: [u8; 32] =
                bytes
                    .try_into()
                    .map_err(|b: Vec<u8>| TokenRequestError::UnknownAccountFormat {
                        reason: format!("hex public key is {} bytes, expected 32", b.len()),
                    })?;
            return Ok(Self {
                public_key: PublicKey(key),
                format: AccountIdFormat::Hex,
            });
        }
        let address = ss58::decode(text).map_err(|e| TokenRequestError::UnknownAccountFormat {
            reason: e.to_string(),
        })?;
        Ok(Self {
            public_key: PublicKey(address.public_key),
            format: AccountIdFormat::Ss58 {
                prefix: address.prefix,
            },
        })
    }
}

/// A structurally valid token request whose signature has not been checked yet.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The client's `data`, keys in JS property order; this is what was signed.
    pub data: JsObject,
    /// `data.memberId`.
    pub member_id: u64,
    /// `data.accountId` as sent.
    pub account_id: String,
    /// `data.accountId` decoded.
    pub account: AccountId,
    /// `data.dataObjectId`.
    pub data_object_id: u64,
    /// `data.storageBucketId`.
    pub storage_bucket_id: u64,
    /// `data.bagId` as sent (not validated here: the reference does not at /authToken;
    /// the upload must later carry the identical string).
    pub bag_id: String,
    /// `signature` decoded.
    pub signature: ParsedSignature,
}

/// A token request whose signature verified.
#[derive(Debug, Clone)]
pub struct VerifiedTokenRequest {
    /// The request's fields.
    pub request: TokenRequest,
    /// The scheme the signature verified under.
    pub scheme: CryptoScheme,
    /// Whether the client signed the JSON as is or `<Bytes>`-wrapped.
    pub form: MessageForm,
}

fn required<'a>(data: &'a JsObject, field: &'static str) -> Result<&'a JsValue, TokenRequestError> {
    data.get(strip_data_prefix(field))
        .ok_or(TokenRequestError::MissingField { field })
}

fn strip_data_prefix(field: &'static str) -> &'static str {
    field.strip_prefix("data.").unwrap_or(field)
}

fn id_field(data: &JsObject, field: &'static str) -> Result<u64, TokenRequestError> {
    let value = required(data, field)?;
    if value.as_f64().is_none() {
        return Err(TokenRequestError::WrongFieldType {
            field,
            expected: "a number",
        });
    }
    value
        .as_safe_u64()
        .ok_or(TokenRequestError::NotSafeInteger { field })
}

fn string_field(data: &JsObject, field: &'static str) -> Result<String, TokenRequestError> {
    required(data, field)?
        .as_str()
        .ok_or(TokenRequestError::WrongFieldType {
            field,
            expected: "a string (without lone surrogates)",
        })
}

/// Parses and type-checks a token request body without verifying the signature.
pub fn parse_token_request(body: &[u8]) -> Result<TokenRequest, TokenRequestError> {
    if body.len() > MAX_TOKEN_REQUEST_BYTES {
        return Err(TokenRequestError::BodyTooLarge {
            len: body.len(),
            max: MAX_TOKEN_REQUEST_BYTES,
        });
    }
    let root = js_json::parse(body)?;
    let root = root
        .as_object()
        .ok_or(TokenRequestError::NotAnObject { field: "body" })?;
    let data = root
        .get("data")
        .ok_or(TokenRequestError::MissingField { field: "data" })?
        .as_object()
        .ok_or(TokenRequestError::NotAnObject { field: "data" })?;
    let signature = root
        .get("signature")
        .ok_or(TokenRequestError::MissingField { field: "signature" })?
        .as_str()
        .ok_or(TokenRequestError::WrongFieldType {
            field: "signature",
            expected: "a 0x-hex string",
        })?;
    if data.len() > MAX_DATA_FIELDS {
        return Err(TokenRequestError::TooManyFields {
            count: data.len(),
            max: MAX_DATA_FIELDS,
        });
    }
    for field in RESERVED_DATA_FIELDS {
        if data.contains_key(field) {
            return Err(TokenRequestError::ReservedField { field });
        }
    }
    let member_id = id_field(data, "data.memberId")?;
    let account_id = string_field(data, "data.accountId")?;
    let data_object_id = id_field(data, "data.dataObjectId")?;
    let storage_bucket_id = id_field(data, "data.storageBucketId")?;
    let bag_id = string_field(data, "data.bagId")?;
    let account = AccountId::parse(&account_id)?;
    let signature = ParsedSignature::from_hex(&signature)?;
    Ok(TokenRequest {
        data: data.clone(),
        member_id,
        account_id,
        account,
        data_object_id,
        storage_bucket_id,
        bag_id,
        signature,
    })
}

impl TokenRequest {
    /// The exact text the client signed: `JSON.stringify(data)`.
    pub fn signed_message(&self) -> String {
        js_json::object_to_string(&self.data)
    }

    /// Verifies the signature against `accountId`'s key (polkadot-js `signatureVerify` rules).
    pub fn verify(self) -> Result<VerifiedTokenRequest, TokenRequestError> {
        let message = self.signed_message();
        let verified = signature::verify(
            message.as_bytes(),
            &self.signature,
            &self.account.public_key,
        )?;
        Ok(VerifiedTokenRequest {
            request: self,
            scheme: verified.scheme,
            form: verified.form,
        })
    }
}

/// Parses, type-checks and verifies a POST /authToken body.
pub fn verify_token_request(body: &[u8]) -> Result<VerifiedTokenRequest, TokenRequestError> {
    parse_token_request(body)?.verify()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keys::KeyPair;
    use crate::auth::signature::wrap_bytes;
    use crate::test_vectors;

    fn body_of(entry: &JsValue) -> Vec<u8> {
        js_json::to_string(entry.get("body").unwrap()).into_bytes()
    }

    fn signed_body(pair: &KeyPair, data: &str, wrap: bool) -> Vec<u8> {
        let parsed = js_json::parse(data.as_bytes()).unwrap();
        let message = js_json::to_string(&parsed);
        let sig = if wrap {
            pair.sign(&wrap_bytes(message.as_bytes()))
        } else {
            pair.sign(message.as_bytes())
        };
        format!(r#"{{"data":{data},"signature":"{}"}}"#, hex::encode(&sig)).into_bytes()
    }

    const ALICE: &str = "j4W7rVcUCxi2crhhjRq46fNDRbVHTjJrz6bKxZwehEMQxZeSf";

    #[test]
    fn every_vector_token_request_verifies() {
        let v = test_vectors::load();
        let entries = v.get("tokenRequests").and_then(JsValue::as_array).unwrap();
        assert_eq!(entries.len(), 3);
        for entry in entries {
            assert_eq!(entry.get("valid").and_then(JsValue::as_bool), Some(true));
            let verified = verify_token_request(&body_of(entry)).unwrap();
            let expected_scheme = match entry.get("crypto").and_then(JsValue::as_str).as_deref() {
                Some("sr25519") => CryptoScheme::Sr25519,
                Some("ed25519") => CryptoScheme::Ed25519,
                other => panic!("unexpected crypto {other:?}"),
            };
            assert_eq!(verified.scheme, expected_scheme);
            // The vectors are signed over the raw JSON, not <Bytes>-wrapped.
            assert_eq!(verified.form, MessageForm::Raw);
            let expected_message = entry
                .get("signedMessage")
                .and_then(JsValue::as_str)
                .unwrap();
            assert_eq!(verified.request.signed_message(), expected_message);
            assert_eq!(
                verified.request.account,
                AccountId::parse(&verified.request.account_id).unwrap()
            );
        }
    }

    #[test]
    fn every_vector_bad_signature_fails() {
        let v = test_vectors::load();
        let entries = v.get("badSignatures").and_then(JsValue::as_array).unwrap();
        assert_eq!(entries.len(), 2);
        for entry in entries {
            assert_eq!(entry.get("valid").and_then(JsValue::as_bool), Some(false));
            assert_eq!(
                verify_token_request(&body_of(entry)).unwrap_err(),
                TokenRequestError::SignatureMismatch,
                "{:?}",
                entry.get("why")
            );
        }
    }

    #[test]
    fn vector_fields_are_extracted() {
        let v = test_vectors::load();
        let entry = &v.get("tokenRequests").and_then(JsValue::as_array).unwrap()[1];
        let request = parse_token_request(&body_of(entry)).unwrap();
        assert_eq!(request.member_id, 12345);
        assert_eq!(request.data_object_id, 9_007_199_254_740_991);
        assert_eq!(request.storage_bucket_id, 3);
        assert_eq!(request.bag_id, "static:council");
        assert_eq!(request.account_id, ALICE);
        assert_eq!(
            request.account.format,
            AccountIdFormat::Ss58 { prefix: 126 }
        );
    }

    #[test]
    fn bytes_wrapped_signatures_are_accepted_like_the_reference() {
        let alice = KeyPair::from_uri("//Alice", crate::auth::keys::CryptoScheme::Sr25519).unwrap();
        let data = format!(
            r#"{{"memberId":1,"accountId":"{ALICE}","dataObjectId":2,"storageBucketId":3,"bagId":"dynamic:member:1"}}"#
        );
        let raw = verify_token_request(&signed_body(&alice, &data, false)).unwrap();
        assert_eq!(raw.form, MessageForm::Raw);
        let wrapped = verify_token_request(&signed_body(&alice, &data, true)).unwrap();
        assert_eq!(wrapped.form, MessageForm::BytesWrapped);
    }

    #[test]
    fn polkadot_js_bytes_wrapped_signature_verifies() {
        // Made with @polkadot/keyring 12: alice.sign(u8aWrapBytes(msg)); polkadot-js
        // signatureVerify(msg, sig, alice.address) reports isValid: true for it.
        let data = format!(
            r#"{{"memberId":1,"accountId":"{ALICE}","dataObjectId":2,"storageBucketId":3,"bagId":"dynamic:member:1"}}"#
        );
        let sig = "0xcaeb25217e129aae22ebee42c57988cc99a01071709a38f0ab8e89333fe0c657ce8e9a4c316a7ef75ddc5222b1e7c770a3053c8dbd5362fcc5b1558a59ad7783";
        let body = format!(r#"{{"data":{data},"signature":"{sig}"}}"#);
        let verified = verify_token_request(body.as_bytes()).unwrap();
        assert_eq!(verified.form, MessageForm::BytesWrapped);
        assert_eq!(verified.scheme, CryptoScheme::Sr25519);
    }

    #[test]
    fn client_number_text_and_whitespace_are_normalised_before_verifying() {
        // A non-JS client may write 1.0 or 1e0 and add whitespace; the reference verifies
        // over JSON.stringify(JSON.parse(..)), so the signature must cover the normal form.
        let alice = KeyPair::from_uri("//Alice", crate::auth::keys::CryptoScheme::Sr25519).unwrap();
        let normal = format!(
            r#"{{"memberId":1,"accountId":"{ALICE}","dataObjectId":2,"storageBucketId":3,"bagId":"x","extra":"é"}}"#
        );
        let sig = alice.sign(normal.as_bytes());
        let odd = format!(
            r#"{{ "data" : {{"memberId":1.0, "accountId":"{ALICE}","dataObjectId":2e0,"storageBucketId":3,"bagId":"x","extra":"\u00e9"}}, "signature":"{}" }}"#,
            hex::encode(&sig)
        );
        let verified = verify_token_request(odd.as_bytes()).unwrap();
        assert_eq!(verified.request.signed_message(), normal);
    }

    #[test]
    fn hex_and_foreign_prefix_account_ids_decode() {
        let alice = KeyPair::from_uri("//Alice", crate::auth::keys::CryptoScheme::Sr25519).unwrap();
        for account in [
            alice.public_key().to_hex(),
            ss58::encode(alice.public_key().as_bytes(), 42).unwrap(),
        ] {
            let data = format!(
                r#"{{"memberId":1,"accountId":"{account}","dataObjectId":2,"storageBucketId":3,"bagId":"x"}}"#
            );
            let verified = verify_token_request(&signed_body(&alice, &data, false)).unwrap();
            assert_eq!(verified.request.account.public_key, alice.public_key());
        }
    }

    #[test]
    fn structural_errors_are_specific() {
        let sig = format!("0x{}", "00".repeat(64));
        let with = |data: &str| format!(r#"{{"data":{data},"signature":"{sig}"}}"#);
        let ok_data = format!(
            r#"{{"memberId":1,"accountId":"{ALICE}","dataObjectId":2,"storageBucketId":3,"bagId":"x"}}"#
        );
        let err = |body: String| parse_token_request(body.as_bytes()).unwrap_err();

        assert!(matches!(err("{".into()), TokenRequestError::InvalidJson(_)));
        assert_eq!(
            err("[]".into()),
            TokenRequestError::NotAnObject { field: "body" }
        );
        assert_eq!(
            err(format!(r#"{{"signature":"{sig}"}}"#)),
            TokenRequestError::MissingField { field: "data" }
        );
        assert_eq!(
            err(with("\"x\"")),
            TokenRequestError::NotAnObject { field: "data" }
        );
        assert_eq!(
            err(format!(r#"{{"data":{ok_data}}}"#)),
            TokenRequestError::MissingField { field: "signature" }
        );
        assert_eq!(
            err(format!(r#"{{"data":{ok_data},"signature":1}}"#)),
            TokenRequestError::WrongFieldType {
                field: "signature",
                expected: "a 0x-hex string"
            }
        );
        assert_eq!(
            err(with(&ok_data.replace(r#""memberId":1,"#, ""))),
            TokenRequestError::MissingField {
                field: "data.memberId"
            }
        );
        assert_eq!(
            err(with(
                &ok_data.replace(r#""dataObjectId":2"#, r#""dataObjectId":"2""#)
            )),
            TokenRequestError::WrongFieldType {
                field: "data.dataObjectId",
                expected: "a number"
            }
        );
        for bad in ["-1", "1.5", "9007199254740992", "1e300"] {
            assert_eq!(
                err(with(&ok_data.replace(
                    r#""storageBucketId":3"#,
                    &format!(r#""storageBucketId":{bad}"#)
                ))),
                TokenRequestError::NotSafeInteger {
                    field: "data.storageBucketId"
                },
                "{bad}"
            );
        }
        assert_eq!(
            err(with(&ok_data.replace(r#""bagId":"x""#, r#""bagId":7"#))),
            TokenRequestError::WrongFieldType {
                field: "data.bagId",
                expected: "a string (without lone surrogates)"
            }
        );
        assert_eq!(
            err(with(&ok_data.replace(
                r#""bagId":"x""#,
                r#""bagId":"x","validUntil":9e15"#
            ))),
            TokenRequestError::ReservedField {
                field: "validUntil"
            }
        );
        assert_eq!(
            err(with(
                &ok_data.replace(r#""bagId":"x""#, r#""bagId":"x","nonce":"1""#)
            )),
            TokenRequestError::ReservedField { field: "nonce" }
        );
        assert!(matches!(
            err(with(&ok_data.replace(ALICE, "not-an-address"))),
            TokenRequestError::UnknownAccountFormat { .. }
        ));
        assert!(matches!(
            err(with(&ok_data.replace(ALICE, "0x1234"))),
            TokenRequestError::UnknownAccountFormat { .. }
        ));
        let extra: String = (0..MAX_DATA_FIELDS)
            .map(|i| format!(r#","f{i}":0"#))
            .collect();
        assert!(matches!(
            err(with(&ok_data.replace(
                r#""bagId":"x""#,
                &format!(r#""bagId":"x"{extra}"#)
            ))),
            TokenRequestError::TooManyFields { .. }
        ));
        assert!(matches!(
            err(format!(r#"{{"data":{ok_data},"signature":"0xzz"}}"#)),
            TokenRequestError::BadSignatureEncoding(_)
        ));
        assert_eq!(
            err(format!(r#"{{"data":{ok_data},"signature":"0x00"}}"#)),
            TokenRequestError::BadSignatureLength { got: 1 }
        );
        assert_eq!(
            err(format!(
                r#"{{"data":{ok_data},"signature":"0x02{}"}}"#,
                "00".repeat(64)
            )),
            TokenRequestError::UnsupportedSignatureScheme
        );
        let huge = vec![b' '; MAX_TOKEN_REQUEST_BYTES + 1];
        assert!(matches!(
            err(String::from_utf8(huge).unwrap()),
            TokenRequestError::BodyTooLarge { .. }
        ));
        // Well-formed but wrong signature.
        assert_eq!(
            verify_token_request(with(&ok_data).as_bytes()).unwrap_err(),
            TokenRequestError::SignatureMismatch
        );
    }

    #[test]
    fn signature_over_data_with_reordered_keys_still_follows_js_order() {
        // The signature covers the client's key order; reordering keys breaks it.
        let v = test_vectors::load();
        let entry = &v.get("tokenRequests").and_then(JsValue::as_array).unwrap()[0];
        let data = entry
            .get("body")
            .and_then(|b| b.get("data"))
            .and_then(JsValue::as_object)
            .unwrap();
        let sig = entry
            .get("body")
            .and_then(|b| b.get("signature"))
            .and_then(JsValue::as_str)
            .unwrap();
        let mut reordered = String::from("{");
        let mut entries = data.entries();
        entries.reverse();
        for (i, (k, val)) in entries.into_iter().enumerate() {
            if i > 0 {
                reordered.push(',');
            }
            reordered.push_str(&js_json::to_string(&JsValue::String(k.clone())));
            reordered.push(':');
            reordered.push_str(&js_json::to_string(val));
        }
        reordered.push('}');
        let body = format!(r#"{{"data":{reordered},"signature":"{sig}"}}"#);
        assert_eq!(
            verify_token_request(body.as_bytes()).unwrap_err(),
            TokenRequestError::SignatureMismatch
        );
    }
}
