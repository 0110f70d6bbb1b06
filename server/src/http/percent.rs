//! Percent-decoding (RFC 3986 §2.1), shared by query strings and path segments (api/query.rs)
//! and RFC 8187 `ext-value`s in multipart headers (`filename*=UTF-8''...`). The result must be
//! UTF-8; a malformed escape or invalid UTF-8 decodes to nothing rather than to a guess.

/// Decodes %XX escapes (and `+` as space when `plus_is_space`). None if an escape is
/// malformed or the result is not UTF-8.
pub fn percent_decode(text: &str, plus_is_space: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let high = (hex[0] as char).to_digit(16)?;
                let low = (hex[1] as char).to_digit(16)?;
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_plus() {
        assert_eq!(
            percent_decode("dynamic%3Amember%3A1", false).as_deref(),
            Some("dynamic:member:1")
        );
        assert_eq!(percent_decode("a+b", true).as_deref(), Some("a b"));
        assert_eq!(percent_decode("a+b", false).as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%zz", false), None);
        assert_eq!(percent_decode("%4", false), None);
        assert_eq!(percent_decode("%ff", false), None);
        assert_eq!(
            percent_decode("%C3%A9t%c3%a9", false).as_deref(),
            Some("été")
        );
        // A non-ASCII character where a hex digit belongs is not a digit.
        assert_eq!(percent_decode("%\u{e9}0", false), None);
    }
}
