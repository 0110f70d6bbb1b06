//! Query strings and percent-encoded path segments (`dynamic%3Amember%3A1`).

/// Longest query string looked at; longer ones are refused.
pub const QUERY_MAX_BYTES: usize = 4096;

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

/// The value of `name` in an application/x-www-form-urlencoded query; the first wins.
/// Err if the query is too long or the value is malformed.
pub fn query_param(query: Option<&str>, name: &str) -> Result<Option<String>, String> {
    let Some(query) = query else {
        return Ok(None);
    };
    if query.len() > QUERY_MAX_BYTES {
        return Err(format!(
            "the query string is {} bytes, more than the {QUERY_MAX_BYTES} allowed",
            query.len()
        ));
    }
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if percent_decode(key, true).as_deref() == Some(name) {
            return percent_decode(value, true).map(Some).ok_or_else(|| {
                format!("query parameter {name} is not valid percent-encoded UTF-8")
            });
        }
    }
    Ok(None)
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
    }

    #[test]
    fn finds_parameters() {
        let query = Some("dataObjectId=7&bagId=dynamic%3Achannel%3A3&x");
        assert_eq!(
            query_param(query, "dataObjectId").unwrap().as_deref(),
            Some("7")
        );
        assert_eq!(
            query_param(query, "bagId").unwrap().as_deref(),
            Some("dynamic:channel:3")
        );
        assert_eq!(query_param(query, "x").unwrap().as_deref(), Some(""));
        assert_eq!(query_param(query, "storageBucketId").unwrap(), None);
        assert!(query_param(Some("bagId=%"), "bagId").is_err());
    }
}
