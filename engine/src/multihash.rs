//! The content address the network uses: a blake3 digest wrapped as a multihash (code 0x1e,
//! length 32) and written in base58btc without a multibase prefix: always 46 characters,
//! starting "gV" or "gW".

/// Multihash code of blake3.
pub const BLAKE3_CODE: u8 = 0x1e;
/// Digest length in bytes.
pub const DIGEST_LEN: usize = 32;

/// Formats a blake3 digest as the network's multihash string.
pub fn encode(digest: &[u8; DIGEST_LEN]) -> String {
    let mut raw = [0u8; DIGEST_LEN + 2];
    raw[0] = BLAKE3_CODE;
    raw[1] = DIGEST_LEN as u8;
    raw[2..].copy_from_slice(digest);
    bs58::encode(raw).into_string()
}

/// Why a string is not a blake3 multihash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultihashError {
    /// Not base58btc.
    #[error("multihash is not base58btc")]
    NotBase58,
    /// Wrong hash function code or length.
    #[error("multihash is not a 32-byte blake3 multihash (code 0x1e, length 32)")]
    NotBlake3,
}

/// Parses the network's multihash string back into a blake3 digest.
pub fn decode(text: &str) -> Result<[u8; DIGEST_LEN], MultihashError> {
    let raw = bs58::decode(text)
        .into_vec()
        .map_err(|_| MultihashError::NotBase58)?;
    if raw.len() != DIGEST_LEN + 2 || raw[0] != BLAKE3_CODE || usize::from(raw[1]) != DIGEST_LEN {
        return Err(MultihashError::NotBlake3);
    }
    let mut digest = [0u8; DIGEST_LEN];
    digest.copy_from_slice(&raw[2..]);
    Ok(digest)
}

/// The network's multihash of `bytes`.
pub fn of(bytes: &[u8]) -> String {
    encode(blake3::hash(bytes).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| ((i * 31 + 7) % 256) as u8).collect()
    }

    #[test]
    fn matches_reference_vectors() {
        // From shared/vectors/joystream-compat.json, made with the reference node's libraries.
        let vectors = [
            (0, "gW9T5gSXhgQB5LaqmnJrLVVpHawhM7youzHnuY6HyGBDy3"),
            (1, "gW2HEgQgjnCS35p7aQMRGoRJbry9jHAX6nYHimHu7eZR7h"),
            (1023, "gW64eg2vsLUh8qAiJqVnEWSSF3ZyewPKCCBmeRshXPDH6J"),
            (1024, "gVyDFmeb8Dz4AeJR9rWKbupY2eaRgwt4GRb9pKB8pc4T5f"),
            (1025, "gWA6wCSYi3wwNtdWBBseLxBV1NvjvBzLErshtdK3Y7ZYTq"),
            (65536, "gWA8d8cqwPWkiTXT1g6qwos7q67XmDhggPA14ThxjSh83y"),
            (1_048_583, "gW9PMAR3c1Qr2goZm8szHyBueKh8Q6wB3ypdg48epeHSUA"),
        ];
        for (len, expected) in vectors {
            let text = of(&pattern(len));
            assert_eq!(text, expected, "length {len}");
            assert_eq!(encode(&decode(&text).unwrap()), text);
        }
    }

    #[test]
    fn rejects_what_is_not_blake3() {
        assert_eq!(decode("0OIl"), Err(MultihashError::NotBase58));
        assert_eq!(
            decode("gW9T5gSXhgQB5LaqmnJrLVVpHawhM7youzHnuY6HyGBDy"),
            Err(MultihashError::NotBlake3)
        );
        // sha2-256 multihash (code 0x12) of the empty string.
        assert_eq!(
            decode("QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"),
            Err(MultihashError::NotBlake3)
        );
    }
}
