//! Signature checks in the polkadot-js `signatureVerify` convention the reference node uses:
//! a 0x-hex signature (64 bytes, or 65 with a MultiSignature type byte), tried as ed25519 then
//! sr25519, over the message as given or, failing that, wrapped in `<Bytes>...</Bytes>`.
//! ECDSA signatures are recognised but not supported (Joystream member keys are sr25519).

use std::fmt;

use super::hex;
use super::js_json::{self, JsObject, JsString, JsValue};
use super::keys::{self, CryptoScheme, KeyPair, PublicKey, SIGNATURE_LEN};

/// What signing extensions put before a raw message (`u8aWrapBytes`).
pub const BYTES_WRAP_PREFIX: &[u8] = b"<Bytes>";

/// What signing extensions put after a raw message.
pub const BYTES_WRAP_SUFFIX: &[u8] = b"</Bytes>";

/// Prefix of Ethereum-style personal messages; polkadot-js never re-wraps these.
const ETHEREUM_WRAP_PREFIX: &[u8] = b"\x19Ethereum Signed Message:\n";

/// MultiSignature type bytes (SCALE enum index of `MultiSignature`).
const MULTI_ED25519: u8 = 0;
const MULTI_SR25519: u8 = 1;
const MULTI_ECDSA: u8 = 2;

/// Why a signature string cannot be used, or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature is not 0x-hex.
    #[error("signature is not 0x-hex: {0}")]
    BadEncoding(#[from] hex::HexError),
    /// The signature has a length no supported scheme uses.
    #[error("signature is {got} bytes; expected 64 (or 65 with a MultiSignature type byte)")]
    BadLength {
        /// Decoded length in bytes.
        got: usize,
    },
    /// An ECDSA (secp256k1) signature: polkadot-js accepts these, this node does not.
    #[error("ecdsa signatures are not supported; sign with an sr25519 or ed25519 key")]
    UnsupportedScheme,
    /// The signature is well-formed but not by this key over this message.
    #[error("signature does not match the message and public key")]
    Mismatch,
}

/// A signature decoded from its 0x-hex text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ParsedSignature {
    /// 64 bytes with no scheme given: try ed25519 then sr25519.
    Untyped([u8; SIGNATURE_LEN]),
    /// 65 bytes whose first byte names the scheme (MultiSignature encoding).
    Typed(CryptoScheme, [u8; SIGNATURE_LEN]),
}

impl fmt::Debug for ParsedSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Untyped(s) => write!(f, "Untyped({})", hex::encode(s)),
            Self::Typed(scheme, s) => write!(f, "Typed({scheme}, {})", hex::encode(s)),
        }
    }
}

impl ParsedSignature {
    /// Decodes a 0x-hex signature as polkadot-js `signatureVerify` reads it.
    pub fn from_hex(text: &str) -> Result<Self, SignatureError> {
        // 66 bytes of hex plus "0x" is the longest anything accepts; refuse more unread.
        if text.len() > 2 + 2 * 66 {
            return Err(SignatureError::BadLength {
                got: text.len().saturating_sub(2) / 2,
            });
        }
        let bytes = hex::decode(text)?;
        let mut raw = [0u8; SIGNATURE_LEN];
        match bytes.len() {
            SIGNATURE_LEN => {
                raw.copy_from_slice(&bytes);
                Ok(Self::Untyped(raw))
            }
            65 => {
                let scheme = match bytes[0] {
                    MULTI_ED25519 => CryptoScheme::Ed25519,
                    MULTI_SR25519 => CryptoScheme::Sr25519,
                    // Type 2, or a 65-byte recoverable secp256k1 signature without type byte.
                    _ => return Err(SignatureError::UnsupportedScheme),
                };
                raw.copy_from_slice(&bytes[1..]);
                Ok(Self::Typed(scheme, raw))
            }
            66 if bytes[0] == MULTI_ECDSA => Err(SignatureError::UnsupportedScheme),
            got => Err(SignatureError::BadLength { got }),
        }
    }

    /// The signature as 0x-hex, as polkadot-js `u8aToHex` prints it (lowercase).
    pub fn to_hex(&self) -> String {
        match self {
            Self::Untyped(raw) => hex::encode(raw),
            Self::Typed(scheme, raw) => {
                let mut bytes = Vec::with_capacity(65);
                bytes.push(match scheme {
                    CryptoScheme::Ed25519 => MULTI_ED25519,
                    CryptoScheme::Sr25519 => MULTI_SR25519,
                });
                bytes.extend_from_slice(raw);
                hex::encode(&bytes)
            }
        }
    }
}

/// Which bytes the signature turned out to cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageForm {
    /// The message exactly as given (what polkadot-js `keyring.sign` produces).
    Raw,
    /// `<Bytes>` + message + `</Bytes>` (what wallet extensions' `signRaw` produce).
    BytesWrapped,
    /// The message was itself wrapped and the signature covers the inner bytes.
    BytesUnwrapped,
}

/// Outcome of a successful check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The scheme that verified.
    pub scheme: CryptoScheme,
    /// The form of the message that was signed.
    pub form: MessageForm,
}

/// True if `message` is `<Bytes>...</Bytes>` (polkadot-js `u8aIsWrapped(m, false)`).
pub fn is_bytes_wrapped(message: &[u8]) -> bool {
    message.len() >= BYTES_WRAP_PREFIX.len() + BYTES_WRAP_SUFFIX.len()
        && message.starts_with(BYTES_WRAP_PREFIX)
        && message.ends_with(BYTES_WRAP_SUFFIX)
}

/// `<Bytes>` + message + `</Bytes>`.
pub fn wrap_bytes(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 15);
    out.extend_from_slice(BYTES_WRAP_PREFIX);
    out.extend_from_slice(message);
    out.extend_from_slice(BYTES_WRAP_SUFFIX);
    out
}

fn try_once(message: &[u8], signature: &ParsedSignature, key: &PublicKey) -> Option<CryptoScheme> {
    match signature {
        ParsedSignature::Typed(scheme, raw) => {
            keys::verify(*scheme, key, message, raw).then_some(*scheme)
        }
        // Same order as polkadot-js verifyDetect: ed25519, then sr25519.
        ParsedSignature::Untyped(raw) => [CryptoScheme::Ed25519, CryptoScheme::Sr25519]
            .into_iter()
            .find(|scheme| keys::verify(*scheme, key, message, raw)),
    }
}

/// Verifies `signature` over `message` by `key` exactly as polkadot-js `signatureVerify`
/// decides validity (for the schemes supported here).
pub fn verify(
    message: &[u8],
    signature: &ParsedSignature,
    key: &PublicKey,
) -> Result<Verified, SignatureError> {
    if let Some(scheme) = try_once(message, signature, key) {
        return Ok(Verified {
            scheme,
            form: MessageForm::Raw,
        });
    }
    // polkadot-js retries only when no scheme was fixed by a type byte, and never for
    // Ethereum-wrapped messages.
    if matches!(signature, ParsedSignature::Typed(..)) {
        return Err(SignatureError::Mismatch);
    }
    let wrapped = is_bytes_wrapped(message);
    if !wrapped && message.starts_with(ETHEREUM_WRAP_PREFIX) {
        return Err(SignatureError::Mismatch);
    }
    let (retry, form) = if wrapped {
        let inner = &message[BYTES_WRAP_PREFIX.len()..message.len() - BYTES_WRAP_SUFFIX.len()];
        (inner.to_vec(), MessageForm::BytesUnwrapped)
    } else {
        (wrap_bytes(message), MessageForm::BytesWrapped)
    };
    try_once(&retry, signature, key)
        .map(|scheme| Verified { scheme, form })
        .ok_or(SignatureError::Mismatch)
}

/// `{"data": data, "signature": "0x.."}` with the signature by `signer` over
/// `JSON.stringify(data)` (untyped, 64 bytes): the envelope of both a POST /authToken request
/// (signed by the member) and an upload token (signed by the node).
pub fn sign_envelope(data: JsObject, signer: &KeyPair) -> JsObject {
    let message = js_json::object_to_string(&data);
    let signature = ParsedSignature::Untyped(signer.sign(message.as_bytes()));
    let mut envelope = JsObject::new();
    envelope.insert(JsString::new("data"), JsValue::Object(data));
    envelope.insert(
        JsString::new("signature"),
        JsValue::string(&signature.to_hex()),
    );
    envelope
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keys::KeyPair;

    fn pair(scheme: CryptoScheme) -> KeyPair {
        KeyPair::from_uri("//Eve", scheme).unwrap()
    }

    #[test]
    fn raw_and_wrapped_signatures_verify_for_both_schemes() {
        let msg = br#"{"a":1}"#;
        for scheme in [CryptoScheme::Sr25519, CryptoScheme::Ed25519] {
            let k = pair(scheme);
            let raw = ParsedSignature::Untyped(k.sign(msg));
            assert_eq!(
                verify(msg, &raw, &k.public_key()),
                Ok(Verified {
                    scheme,
                    form: MessageForm::Raw
                })
            );
            let wrapped = ParsedSignature::Untyped(k.sign(&wrap_bytes(msg)));
            assert_eq!(
                verify(msg, &wrapped, &k.public_key()),
                Ok(Verified {
                    scheme,
                    form: MessageForm::BytesWrapped
                })
            );
            // A wrapped message verifies a signature over its inner bytes.
            assert_eq!(
                verify(&wrap_bytes(msg), &raw, &k.public_key()),
                Ok(Verified {
                    scheme,
                    form: MessageForm::BytesUnwrapped
                })
            );
            assert_eq!(
                verify(b"other", &raw, &k.public_key()),
                Err(SignatureError::Mismatch)
            );
        }
    }

    #[test]
    fn typed_signatures_fix_the_scheme_and_are_not_rewrapped() {
        let msg = b"hello";
        let k = pair(CryptoScheme::Sr25519);
        let sig = k.sign(msg);
        let typed =
            ParsedSignature::from_hex(&ParsedSignature::Typed(CryptoScheme::Sr25519, sig).to_hex())
                .unwrap();
        assert_eq!(typed, ParsedSignature::Typed(CryptoScheme::Sr25519, sig));
        assert!(verify(msg, &typed, &k.public_key()).is_ok());
        let wrong_type = ParsedSignature::Typed(CryptoScheme::Ed25519, sig);
        assert_eq!(
            verify(msg, &wrong_type, &k.public_key()),
            Err(SignatureError::Mismatch)
        );
        let wrapped_sig = ParsedSignature::Typed(CryptoScheme::Sr25519, k.sign(&wrap_bytes(msg)));
        assert_eq!(
            verify(msg, &wrapped_sig, &k.public_key()),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn ethereum_wrapped_messages_are_not_rewrapped() {
        let k = pair(CryptoScheme::Sr25519);
        let msg = b"\x19Ethereum Signed Message:\n5hello";
        let sig = ParsedSignature::Untyped(k.sign(&wrap_bytes(msg)));
        assert_eq!(
            verify(msg, &sig, &k.public_key()),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn hex_parsing() {
        let sig64 = format!("0x{}", "ab".repeat(64));
        assert!(matches!(
            ParsedSignature::from_hex(&sig64),
            Ok(ParsedSignature::Untyped(_))
        ));
        let upper = format!("0x{}", "AB".repeat(64));
        assert_eq!(
            ParsedSignature::from_hex(&upper).unwrap(),
            ParsedSignature::from_hex(&sig64).unwrap()
        );
        assert_eq!(ParsedSignature::from_hex(&sig64).unwrap().to_hex(), sig64);
        assert!(matches!(
            ParsedSignature::from_hex(&"ab".repeat(64)),
            Err(SignatureError::BadEncoding(hex::HexError::MissingPrefix))
        ));
        assert_eq!(
            ParsedSignature::from_hex(&format!("0x{}", "ab".repeat(63))),
            Err(SignatureError::BadLength { got: 63 })
        );
        assert_eq!(
            ParsedSignature::from_hex("0x"),
            Err(SignatureError::BadLength { got: 0 })
        );
        assert_eq!(
            ParsedSignature::from_hex(&format!("0x02{}", "ab".repeat(64))),
            Err(SignatureError::UnsupportedScheme)
        );
        assert_eq!(
            ParsedSignature::from_hex(&format!("0x1b{}", "ab".repeat(64))),
            Err(SignatureError::UnsupportedScheme)
        );
        assert_eq!(
            ParsedSignature::from_hex(&format!("0x02{}", "ab".repeat(65))),
            Err(SignatureError::UnsupportedScheme)
        );
        assert!(matches!(
            ParsedSignature::from_hex(&format!("0x{}", "ab".repeat(1000))),
            Err(SignatureError::BadLength { .. })
        ));
    }

    #[test]
    fn wrap_detection_edges() {
        assert!(is_bytes_wrapped(b"<Bytes></Bytes>"));
        assert!(!is_bytes_wrapped(b"<Bytes>"));
        assert!(!is_bytes_wrapped(b"<Bytes></Bytes"));
        assert_eq!(wrap_bytes(b"x"), b"<Bytes>x</Bytes>".to_vec());
    }
}
