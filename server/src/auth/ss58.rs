//! SS58 account addresses for 32-byte public keys: base58 of prefix || key || checksum, the
//! checksum being the first 2 bytes of blake2b-512("SS58PRE" || prefix || key).
//! Prefixes 0..=63 take one byte, 64..=16383 two bytes; Joystream uses 126.

use blake2::{Blake2b512, Digest};

/// The SS58 prefix of the Joystream network.
pub const JOYSTREAM_SS58_PREFIX: u16 = 126;

/// Generic substrate prefix ("5..." addresses), used by dev tooling.
pub const SUBSTRATE_SS58_PREFIX: u16 = 42;

/// Largest prefix the two-byte form can carry.
pub const MAX_SS58_PREFIX: u16 = 16383;

/// Length of the public key an account address carries.
pub const PUBLIC_KEY_LEN: usize = 32;

/// Checksum length for 32-byte keys.
const CHECKSUM_LEN: usize = 2;

/// Longest text we hand to the base58 decoder (36 bytes encode to at most 50 chars).
const MAX_ADDRESS_CHARS: usize = 64;

const CHECKSUM_CONTEXT: &[u8] = b"SS58PRE";

/// Why a string is not an SS58 address of a 32-byte key (or a prefix cannot be encoded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ss58Error {
    /// The address text is empty or implausibly long.
    #[error("address length {len} bytes is out of range (1 to 64)")]
    BadLength {
        /// Length of the input in bytes.
        len: usize,
    },
    /// A character outside the base58 alphabet.
    #[error("address is not base58: {reason}")]
    NotBase58 {
        /// What the decoder reported.
        reason: String,
    },
    /// The first byte marks a reserved (>= 128) prefix form.
    #[error("address uses reserved prefix byte 0x{byte:02x}")]
    ReservedPrefix {
        /// The first decoded byte.
        byte: u8,
    },
    /// The payload is not a 32-byte public key (e.g. an account index or a 33-byte ecdsa key).
    #[error("address payload is {got} bytes; only 32-byte public keys are supported")]
    UnsupportedPayload {
        /// Payload length in bytes.
        got: usize,
    },
    /// The checksum does not match: mistyped or corrupted address.
    #[error("address checksum mismatch")]
    BadChecksum,
    /// The prefix cannot be encoded (above 16383, or the reserved 46/47).
    #[error("ss58 prefix {prefix} cannot be encoded")]
    PrefixOutOfRange {
        /// The requested prefix.
        prefix: u16,
    },
}

/// A decoded address: its network prefix and public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ss58Address {
    /// Network prefix (126 on Joystream).
    pub prefix: u16,
    /// The account's public key.
    pub public_key: [u8; PUBLIC_KEY_LEN],
}

fn checksum(prefix_and_key: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut hasher = Blake2b512::new();
    hasher.update(CHECKSUM_CONTEXT);
    hasher.update(prefix_and_key);
    let hash = hasher.finalize();
    [hash[0], hash[1]]
}

const fn prefix_is_encodable(prefix: u16) -> bool {
    // polkadot-js encodeAddress refuses 46 and 47 (reserved) and anything above 16383.
    prefix <= MAX_SS58_PREFIX && prefix != 46 && prefix != 47
}

const _: () = assert!(prefix_is_encodable(JOYSTREAM_SS58_PREFIX));

/// Prefix || key || checksum, base58; `prefix` must satisfy `prefix_is_encodable`.
fn encode_checked(public_key: &[u8; PUBLIC_KEY_LEN], prefix: u16) -> String {
    debug_assert!(prefix_is_encodable(prefix));
    let [low, high] = prefix.to_le_bytes();
    let mut bytes = Vec::with_capacity(2 + PUBLIC_KEY_LEN + CHECKSUM_LEN);
    if prefix < 64 {
        bytes.push(low);
    } else {
        // 14 bits: the low byte's upper six bits go into the first byte (marked 0b01......),
        // its two low bits and the high byte's six bits into the second.
        bytes.push(((low & 0b1111_1100) >> 2) | 0b0100_0000);
        bytes.push((high & 0b0011_1111) | ((low & 0b0000_0011) << 6));
    }
    bytes.extend_from_slice(public_key);
    let sum = checksum(&bytes);
    bytes.extend_from_slice(&sum);
    bs58::encode(bytes).into_string()
}

/// Encodes a 32-byte public key as an SS58 address with the given network prefix.
pub fn encode(public_key: &[u8; PUBLIC_KEY_LEN], prefix: u16) -> Result<String, Ss58Error> {
    if !prefix_is_encodable(prefix) {
        return Err(Ss58Error::PrefixOutOfRange { prefix });
    }
    Ok(encode_checked(public_key, prefix))
}

/// Encodes a public key as a Joystream (prefix 126) address.
pub fn encode_joystream(public_key: &[u8; PUBLIC_KEY_LEN]) -> String {
    encode_checked(public_key, JOYSTREAM_SS58_PREFIX)
}

/// Decodes an SS58 address of any prefix into prefix and 32-byte public key.
pub fn decode(address: &str) -> Result<Ss58Address, Ss58Error> {
    if address.is_empty() || address.len() > MAX_ADDRESS_CHARS {
        return Err(Ss58Error::BadLength { len: address.len() });
    }
    let bytes = bs58::decode(address)
        .into_vec()
        .map_err(|e| Ss58Error::NotBase58 {
            reason: e.to_string(),
        })?;
    let first = *bytes.first().ok_or(Ss58Error::BadLength { len: 0 })?;
    let (prefix, prefix_len) = match first {
        0..=63 => (u16::from(first), 1),
        64..=127 => {
            let second = *bytes
                .get(1)
                .ok_or(Ss58Error::UnsupportedPayload { got: 0 })?;
            let low = ((first & 0b0011_1111) << 2) | (second >> 6);
            let high = second & 0b0011_1111;
            (u16::from_le_bytes([low, high]), 2)
        }
        _ => return Err(Ss58Error::ReservedPrefix { byte: first }),
    };
    let payload_len = bytes.len().saturating_sub(prefix_len + CHECKSUM_LEN);
    if payload_len != PUBLIC_KEY_LEN || bytes.len() != prefix_len + PUBLIC_KEY_LEN + CHECKSUM_LEN {
        return Err(Ss58Error::UnsupportedPayload { got: payload_len });
    }
    let body_len = prefix_len + PUBLIC_KEY_LEN;
    if checksum(&bytes[..body_len]) != bytes[body_len..] {
        return Err(Ss58Error::BadChecksum);
    }
    let mut public_key = [0u8; PUBLIC_KEY_LEN];
    public_key.copy_from_slice(&bytes[prefix_len..body_len]);
    Ok(Ss58Address { prefix, public_key })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::hex;
    use crate::test_vectors;

    fn key(hex_text: &str) -> [u8; 32] {
        hex::decode(hex_text).unwrap().try_into().unwrap()
    }

    #[test]
    fn vector_accounts_round_trip() {
        let v = test_vectors::load();
        let accounts = v.get("accounts").and_then(|a| a.as_object()).unwrap();
        assert_eq!(accounts.len(), 3);
        for (name, account) in accounts.entries() {
            let address = account.get("address").and_then(|a| a.as_str()).unwrap();
            let public_key = key(&account.get("publicKey").and_then(|a| a.as_str()).unwrap());
            let decoded = decode(&address).unwrap();
            assert_eq!(decoded.prefix, JOYSTREAM_SS58_PREFIX, "{name:?}");
            assert_eq!(decoded.public_key, public_key, "{name:?}");
            assert_eq!(encode(&public_key, JOYSTREAM_SS58_PREFIX).unwrap(), address);
            assert_eq!(encode_joystream(&public_key), address);
        }
    }

    #[test]
    fn one_byte_prefixes_known_alice_addresses() {
        let alice = key("0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d");
        let generic = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
        assert_eq!(encode(&alice, SUBSTRATE_SS58_PREFIX).unwrap(), generic);
        assert_eq!(
            decode(generic).unwrap(),
            Ss58Address {
                prefix: 42,
                public_key: alice
            }
        );
        let polkadot = encode(&alice, 0).unwrap();
        assert!(polkadot.starts_with('1'), "{polkadot}");
        assert_eq!(decode(&polkadot).unwrap().prefix, 0);
    }

    #[test]
    fn every_prefix_form_round_trips() {
        let k = [0x5au8; 32];
        for prefix in [0u16, 1, 2, 42, 63, 64, 65, 126, 255, 256, 1000, 4095, 16383] {
            let text = encode(&k, prefix).unwrap();
            assert_eq!(
                decode(&text).unwrap(),
                Ss58Address {
                    prefix,
                    public_key: k
                }
            );
        }
        for bad in [46u16, 47, 16384, u16::MAX] {
            assert_eq!(
                encode(&k, bad),
                Err(Ss58Error::PrefixOutOfRange { prefix: bad })
            );
        }
    }

    #[test]
    fn rejects_corruption() {
        let good = "j4W7rVcUCxi2crhhjRq46fNDRbVHTjJrz6bKxZwehEMQxZeSf";
        // One changed character breaks the checksum (or the payload length).
        let mut chars: Vec<char> = good.chars().collect();
        chars[20] = if chars[20] == 'a' { 'b' } else { 'a' };
        let bad: String = chars.into_iter().collect();
        assert!(matches!(
            decode(&bad),
            Err(Ss58Error::BadChecksum | Ss58Error::UnsupportedPayload { .. })
        ));
        assert!(matches!(decode(""), Err(Ss58Error::BadLength { .. })));
        assert!(matches!(
            decode(&"j".repeat(65)),
            Err(Ss58Error::BadLength { .. })
        ));
        assert!(matches!(decode("0OIl"), Err(Ss58Error::NotBase58 { .. })));
        assert!(decode(&good[..good.len() - 1]).is_err());
        assert!(matches!(
            decode("j4W7rVcUCxi2"),
            Err(Ss58Error::UnsupportedPayload { .. })
        ));
        // A hex public key is not an SS58 address.
        assert!(
            decode("0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d").is_err()
        );
    }

    #[test]
    fn rejects_reserved_first_byte() {
        let mut bytes = vec![0x80u8];
        bytes.extend_from_slice(&[1u8; 34]);
        let text = bs58::encode(bytes).into_string();
        assert_eq!(decode(&text), Err(Ss58Error::ReservedPrefix { byte: 0x80 }));
    }
}
