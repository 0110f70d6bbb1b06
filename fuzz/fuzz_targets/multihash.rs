//! `multihash::decode`: parses the content addresses that arrive in upload requests and sync
//! messages. Checks: decode never panics; it says NotBase58 exactly when a character is
//! outside the base58btc alphabet; what it accepts is the one canonical spelling of its
//! digest (encoding the digest gives back the input); every digest encodes to 46 characters
//! starting "gV" or "gW" that decode back to it, and changing any one character changes or
//! breaks the decoding.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use colossus_engine::multihash::{decode, encode, MultihashError};
use libfuzzer_sys::fuzz_target;

/// The base58btc alphabet (Bitcoin's).
const ALPHABET: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
/// Length of every blake3 multihash in base58btc: 34 bytes need 46 digits.
const TEXT_LEN: usize = 46;

/// A digest and which character of its encoding to change.
#[derive(Debug, Arbitrary)]
struct AnyDigest {
    digest: [u8; 32],
    at: u8,
    replacement: u8,
}

fuzz_target!(|data: &[u8]| {
    let text = match std::str::from_utf8(data) {
        Ok(text) => text,
        Err(e) => std::str::from_utf8(&data[..e.valid_up_to()]).expect("valid prefix"),
    };
    decode_text(text);
    if let Ok(any) = AnyDigest::arbitrary(&mut Unstructured::new(data)) {
        encode_digest(&any);
    }
});

fn decode_text(text: &str) {
    let decoded = decode(text);
    let foreign = text.chars().any(|c| !ALPHABET.contains(c));
    assert_eq!(
        decoded == Err(MultihashError::NotBase58),
        foreign,
        "NotBase58 is exactly a character outside the alphabet"
    );
    if let Ok(digest) = decoded {
        assert_eq!(text.len(), TEXT_LEN);
        assert_eq!(encode(&digest), text, "an accepted address is canonical");
    }
}

fn encode_digest(any: &AnyDigest) {
    let text = encode(&any.digest);
    assert_eq!(text.len(), TEXT_LEN);
    assert!(text.starts_with("gV") || text.starts_with("gW"), "{text}");
    assert_eq!(decode(&text), Ok(any.digest));

    let at = usize::from(any.at) % TEXT_LEN;
    let original = text.as_bytes()[at];
    let alphabet = ALPHABET.as_bytes();
    let mut replacement = alphabet[usize::from(any.replacement) % alphabet.len()];
    if replacement == original {
        replacement = alphabet[(usize::from(any.replacement) + 1) % alphabet.len()];
    }
    let mut changed = text.into_bytes();
    changed[at] = replacement;
    let changed = String::from_utf8(changed).expect("ASCII");
    assert_ne!(
        decode(&changed),
        Ok(any.digest),
        "{changed} decodes to the same digest"
    );
}
