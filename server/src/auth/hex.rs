//! 0x-prefixed hex as polkadot-js writes it (`u8aToHex`: lowercase) and reads it
//! (`hexToU8a`: either case, even length). Private helper of the auth modules.

/// Why a string is not 0x-hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// The string does not start with "0x".
    #[error("hex must start with 0x")]
    MissingPrefix,
    /// Odd number of hex digits.
    #[error("hex has an odd number of digits ({digits})")]
    OddLength {
        /// Digits after the prefix.
        digits: usize,
    },
    /// A character that is not a hex digit.
    #[error("invalid hex digit at position {position}")]
    InvalidDigit {
        /// Character position after the prefix.
        position: usize,
    },
}

/// Lowercase 0x-hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 + bytes.len() * 2);
    out.push_str("0x");
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Decodes 0x-hex (either case) into bytes.
pub fn decode(text: &str) -> Result<Vec<u8>, HexError> {
    let digits = text.strip_prefix("0x").ok_or(HexError::MissingPrefix)?;
    if digits.len() % 2 != 0 {
        return Err(HexError::OddLength {
            digits: digits.len(),
        });
    }
    let nibble = |position: usize, c: u8| -> Result<u8, HexError> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(HexError::InvalidDigit { position }),
        }
    };
    digits
        .as_bytes()
        .chunks_exact(2)
        .enumerate()
        .map(|(i, pair)| Ok((nibble(2 * i, pair[0])? << 4) | nibble(2 * i + 1, pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        assert_eq!(encode(&[0x00, 0xab, 0xff]), "0x00abff");
        assert_eq!(decode("0x00ABff").unwrap(), vec![0x00, 0xab, 0xff]);
        assert_eq!(decode("0x").unwrap(), Vec::<u8>::new());
        assert_eq!(decode("00ab"), Err(HexError::MissingPrefix));
        assert_eq!(decode("0xabc"), Err(HexError::OddLength { digits: 3 }));
        assert_eq!(decode("0xag"), Err(HexError::InvalidDigit { position: 1 }));
        assert!(decode("0x\u{e9}a").is_err());
    }
}
