//! Query strings and percent-encoded path segments (`dynamic%3Amember%3A1`).

// Path segments (api/state.rs) decode through here too.
pub use crate::http::percent::percent_decode;

/// Longest query string looked at; longer ones are refused.
pub const QUERY_MAX_BYTES: usize = 4096;

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
