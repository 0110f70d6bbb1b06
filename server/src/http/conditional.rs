//! Validators and conditional requests (RFC 9110 §8.8, §13) for stored objects. An object's
//! bytes never change once stored (its id is bound on chain to one content hash), so its
//! strong entity tag is its content multihash, quoted, and its Last-Modified date is the
//! second it was stored.
//!
//! Parsing is lenient where that can only cost a full answer instead of a 304 or 206: an
//! element that is not a well-formed entity tag never matches, and the rest of the list is
//! still read.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::is_ows;

/// Longest conditional header value looked at; longer ones never match (a full answer).
pub const CONDITIONAL_HEADER_LEN_MAX: usize = 8 * 1024;

/// Last second `httpdate` can print (9999-12-31T23:59:59Z); later times are clamped to it.
pub const HTTP_DATE_UNIX_S_MAX: u64 = 253_402_300_799;

/// Strong entity tag of an object: its multihash in double quotes (`"gW..."`).
pub fn etag(multihash: &str) -> String {
    debug_assert!(
        !multihash.contains('"'),
        "an opaque tag cannot hold a quote"
    );
    format!("\"{multihash}\"")
}

/// Whether `If-None-Match` matches an object with entity tag `etag` (as made by [`etag`]):
/// `*`, or any listed tag equal under weak comparison (RFC 9110 §8.8.3.2, `W/` ignored). A
/// match means 304 for GET/HEAD.
pub fn if_none_match_matches(header: &str, etag: &str) -> bool {
    if header.len() > CONDITIONAL_HEADER_LEN_MAX {
        return false;
    }
    let header = header.trim_matches(is_ows);
    if header == "*" {
        return true;
    }
    let ours = opaque_tag(etag);
    EntityTags::new(header).any(|tag| tag.is_some_and(|tag| tag.opaque == ours))
}

/// Whether `If-Range` lets a `Range` header apply (206); if false the whole object is sent
/// (RFC 9110 §13.1.5). An entity tag must match under strong comparison (a weak tag never
/// does); an HTTP-date must equal Last-Modified exactly. Objects are immutable, so a date that
/// equals Last-Modified identifies the same bytes and we do not apply the RFC's further rule
/// that a date is only strong when at least one second older than the Date of the response
/// that sent it. Anything else (garbage, a list) never allows the range.
pub fn if_range_allows_partial(header: &str, etag: &str, last_modified_unix_s: u64) -> bool {
    if header.len() > CONDITIONAL_HEADER_LEN_MAX {
        return false;
    }
    let header = header.trim_matches(is_ows);
    if header.starts_with('"') || header.starts_with("W/") {
        let mut tags = EntityTags::new(header);
        return match (tags.next(), tags.next()) {
            (Some(Some(tag)), None) => !tag.weak && tag.opaque == opaque_tag(etag),
            _ => false,
        };
    }
    parse_http_date(header) == Some(last_modified_unix_s.min(HTTP_DATE_UNIX_S_MAX))
}

/// An HTTP-date (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`) for a Unix time in seconds,
/// clamped to [`HTTP_DATE_UNIX_S_MAX`].
pub fn http_date(unix_s: u64) -> String {
    let time = UNIX_EPOCH + Duration::from_secs(unix_s.min(HTTP_DATE_UNIX_S_MAX));
    httpdate::fmt_http_date(time)
}

/// Parses an HTTP-date in any of the three RFC 9110 §5.6.7 formats into Unix seconds; None if
/// invalid or before 1970.
pub fn parse_http_date(text: &str) -> Option<u64> {
    if text.len() > CONDITIONAL_HEADER_LEN_MAX {
        return None;
    }
    let time: SystemTime = httpdate::parse_http_date(text).ok()?;
    time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// The opaque part of an entity tag made by [`etag`] (quotes stripped), tolerating a bare
/// multihash.
fn opaque_tag(etag: &str) -> &str {
    let etag = etag.strip_prefix("W/").unwrap_or(etag);
    etag.strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(etag)
}

/// One parsed `entity-tag`.
#[derive(Debug, PartialEq, Eq)]
struct EntityTag<'a> {
    weak: bool,
    /// Between the quotes.
    opaque: &'a str,
}

/// Iterator over a comma-separated list of entity tags (`1#entity-tag`), yielding None for an
/// element that is not a valid entity tag. Commas inside quotes belong to the tag (`etagc`
/// includes ','), so the list is scanned, not split.
struct EntityTags<'a> {
    rest: &'a str,
}

impl<'a> EntityTags<'a> {
    fn new(list: &'a str) -> Self {
        Self { rest: list }
    }
}

impl<'a> Iterator for EntityTags<'a> {
    type Item = Option<EntityTag<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        // Skip empty elements and separators.
        self.rest = self.rest.trim_start_matches(|c| c == ',' || is_ows(c));
        if self.rest.is_empty() {
            return None;
        }
        let (weak, body) = match self.rest.strip_prefix("W/") {
            Some(body) => (true, body),
            None => (false, self.rest),
        };
        let parsed = body.strip_prefix('"').and_then(|quoted| {
            let close = quoted.find('"')?;
            let opaque = &quoted[..close];
            let after = &quoted[close + 1..];
            let valid = opaque.bytes().all(is_etagc);
            let ends = after.trim_start_matches(is_ows);
            (valid && (ends.is_empty() || ends.starts_with(',')))
                .then_some((EntityTag { weak, opaque }, ends))
        });
        match parsed {
            Some((tag, rest)) => {
                self.rest = rest;
                Some(Some(tag))
            }
            None => {
                // Not an entity tag: skip to the next comma outside quotes (best effort).
                let mut in_quotes = false;
                let end = self
                    .rest
                    .char_indices()
                    .find(|&(_, c)| {
                        if c == '"' {
                            in_quotes = !in_quotes;
                        }
                        c == ',' && !in_quotes
                    })
                    .map_or(self.rest.len(), |(i, _)| i);
                self.rest = &self.rest[end..];
                Some(None)
            }
        }
    }
}

/// `etagc = %x21 / %x23-7E / obs-text`.
fn is_etagc(b: u8) -> bool {
    b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "gW9P5o2bT1aZq8vUAHd3Xh6r5uB9WGZkV2m7c8Xb1sQ4EtMfYp";

    fn tag() -> String {
        etag(HASH)
    }

    #[test]
    fn etag_is_the_quoted_multihash() {
        assert_eq!(tag(), format!("\"{HASH}\""));
    }

    #[test]
    fn if_none_match_star_and_exact() {
        assert!(if_none_match_matches("*", &tag()));
        assert!(if_none_match_matches(" * ", &tag()));
        assert!(if_none_match_matches(&tag(), &tag()));
        assert!(!if_none_match_matches("\"other\"", &tag()));
        assert!(!if_none_match_matches("", &tag()));
    }

    #[test]
    fn if_none_match_is_weak_comparison() {
        assert!(if_none_match_matches(&format!("W/{}", tag()), &tag()));
        assert!(if_none_match_matches(&tag(), &format!("W/{}", tag())));
    }

    #[test]
    fn if_none_match_lists() {
        let t = tag();
        assert!(if_none_match_matches(&format!("\"a\", {t}"), &t));
        assert!(if_none_match_matches(&format!("\"a\",W/{t} ,\"b\""), &t));
        assert!(if_none_match_matches(&format!(",, {t},"), &t));
        assert!(if_none_match_matches(&format!("\"a,b\", {t}"), &t));
        assert!(!if_none_match_matches("\"a\", \"b\"", &t));
        // A malformed element does not hide a later valid one.
        assert!(if_none_match_matches(&format!("garbage, \"x\"y, {t}"), &t));
        assert!(!if_none_match_matches(&format!("\"un,closed, {t}"), &t));
    }

    #[test]
    fn if_none_match_requires_quotes_and_exact_text() {
        let t = tag();
        assert!(!if_none_match_matches(HASH, &t));
        assert!(!if_none_match_matches(&t.to_lowercase(), &t));
        assert!(!if_none_match_matches(&format!("w/{t}"), &t));
        assert!(!if_none_match_matches("*, \"a\"", &t));
        let long = format!("{}{t}", " ".repeat(CONDITIONAL_HEADER_LEN_MAX));
        assert!(!if_none_match_matches(&long, &t));
    }

    #[test]
    fn if_range_with_entity_tags_is_strong() {
        let t = tag();
        assert!(if_range_allows_partial(&t, &t, 0));
        assert!(if_range_allows_partial(&format!(" {t} "), &t, 0));
        assert!(!if_range_allows_partial(&format!("W/{t}"), &t, 0));
        assert!(!if_range_allows_partial("\"other\"", &t, 0));
        assert!(!if_range_allows_partial(&format!("{t}, {t}"), &t, 0));
        assert!(!if_range_allows_partial("\"unclosed", &t, 0));
    }

    #[test]
    fn if_range_with_dates_is_exact() {
        let t = tag();
        let modified = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
        assert!(if_range_allows_partial(
            "Sun, 06 Nov 1994 08:49:37 GMT",
            &t,
            modified
        ));
        // The two obsolete formats a recipient must accept.
        assert!(if_range_allows_partial(
            "Sunday, 06-Nov-94 08:49:37 GMT",
            &t,
            modified
        ));
        assert!(if_range_allows_partial(
            "Sun Nov  6 08:49:37 1994",
            &t,
            modified
        ));
        assert!(!if_range_allows_partial(
            "Sun, 06 Nov 1994 08:49:38 GMT",
            &t,
            modified
        ));
        assert!(!if_range_allows_partial(
            "Sun, 06 Nov 1994 08:49:36 GMT",
            &t,
            modified
        ));
        assert!(!if_range_allows_partial("yesterday", &t, modified));
        assert!(!if_range_allows_partial("", &t, modified));
    }

    #[test]
    fn http_dates_round_trip() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        for unix_s in [0, 1, 784_111_777, 1_700_000_000, HTTP_DATE_UNIX_S_MAX] {
            assert_eq!(parse_http_date(&http_date(unix_s)), Some(unix_s));
        }
        assert_eq!(http_date(u64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(parse_http_date("not a date"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"), None);
    }

    #[test]
    fn if_range_date_of_a_clamped_time() {
        let t = tag();
        assert!(if_range_allows_partial(&http_date(u64::MAX), &t, u64::MAX));
    }
}
