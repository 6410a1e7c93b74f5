//! Cross-site request defences for the proxy's own forms: the
//! `Origin`/`Sec-Fetch-Site` check and the login form's double-submit token.

use http::header::ORIGIN;
use http::HeaderMap;
use subtle::ConstantTimeEq;

/// True when the browser tells us the request comes from another site:
/// `Sec-Fetch-Site: cross-site`, or an `Origin` other than `https://host`
/// (`Origin: null` included). Requests without either header (old
/// browsers, scripts) are not refused here; the login form's token still
/// protects them.
pub fn is_cross_site(headers: &HeaderMap, host: &str) -> bool {
    let fetch_site = headers
        .get("sec-fetch-site")
        .map(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    if fetch_site == Some(true) {
        return true;
    }
    headers.get_all(ORIGIN).iter().any(|origin| {
        let Ok(origin) = origin.to_str() else {
            return true;
        };
        match origin.strip_prefix("https://") {
            Some(origin_host) => !origin_host.eq_ignore_ascii_case(host),
            None => true,
        }
    })
}

/// True for a value shaped like the tokens gatehouse issues (43
/// base64url characters), so a browser's existing token can be reused.
pub fn is_token(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Compares the form's token with the cookie's in constant time.
pub fn token_matches(cookie: Option<&str>, form: Option<&str>) -> bool {
    match (cookie, form) {
        (Some(cookie), Some(form)) if !cookie.is_empty() => {
            bool::from(cookie.as_bytes().ct_eq(form.as_bytes()))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_passes() {
        assert!(!is_cross_site(&headers(&[]), "localhost:8443"));
        assert!(!is_cross_site(
            &headers(&[
                ("origin", "https://localhost:8443"),
                ("sec-fetch-site", "same-origin")
            ]),
            "localhost:8443"
        ));
    }

    #[test]
    fn other_origins_are_refused() {
        let host = "localhost:8443";
        assert!(is_cross_site(
            &headers(&[("origin", "https://evil.test")]),
            host
        ));
        assert!(is_cross_site(&headers(&[("origin", "null")]), host));
        assert!(is_cross_site(
            &headers(&[("origin", "http://localhost:8443")]),
            host
        ));
        assert!(is_cross_site(
            &headers(&[("origin", "https://localhost:8443.evil.test")]),
            host
        ));
        assert!(is_cross_site(
            &headers(&[("sec-fetch-site", "cross-site")]),
            host
        ));
    }

    #[test]
    fn tokens_must_be_present_and_equal() {
        assert!(token_matches(Some("abc"), Some("abc")));
        assert!(!token_matches(Some("abc"), Some("abd")));
        assert!(!token_matches(Some("abc"), None));
        assert!(!token_matches(None, Some("abc")));
        assert!(!token_matches(Some(""), Some("")));
    }
}
