//! The post-login return URL (`rd`): where a successful login sends the
//! browser, and the reason it can only ever be a path on this origin.
//!
//! `rd` arrives from the client, so an unchecked one turns the login page
//! into an open redirect: a phishing link to our own, trusted login page
//! that lands a freshly logged-in user on `https://evil.test`. Browsers are
//! generous readers of `Location` (WHATWG URL parsing treats `\` as `/`,
//! drops tabs and newlines anywhere, trims leading spaces and controls), so
//! anything not obviously a plain path is replaced by `/`.

use percent_encoding::percent_decode_str;

/// The longest `rd` honoured. Longer values are replaced, not truncated: a
/// cut URL is a different URL.
pub const MAX_RETURN_URL_BYTES: usize = 2048;

/// Where the browser goes when `rd` is absent or refused.
pub const DEFAULT_RETURN_URL: &str = "/";

/// Returns `rd` unchanged when it is a path on this origin, else `/`.
///
/// `rd` is the value after query or form decoding. It is honoured only when
/// both it and its percent-decoded form start with exactly one `/` (not `//`,
/// not `/\`), it has no scheme (implied: a URL that starts with `/` has
/// none), it holds no control character or whitespace (raw or encoded, ASCII
/// or Unicode), and it is at most [`MAX_RETURN_URL_BYTES`] long.
///
/// The result is always visible ASCII, so it is always a valid `Location`
/// header value. A query is kept exactly. A fragment (`#frag`) is kept too:
/// it never reaches a server and cannot change the origin, and keeping it
/// returns the user to the very place on the page they asked for.
pub fn safe_return_url(rd: &str) -> &str {
    if is_same_origin_path(rd) {
        rd
    } else {
        DEFAULT_RETURN_URL
    }
}

fn is_same_origin_path(rd: &str) -> bool {
    if rd.is_empty() || rd.len() > MAX_RETURN_URL_BYTES {
        return false;
    }
    // The raw form is what the browser parses: visible ASCII only, which also
    // excludes every raw space, tab, CR, LF and non-ASCII character.
    if !rd.bytes().all(|b| b.is_ascii_graphic()) || !starts_with_one_slash(rd.as_bytes()) {
        return false;
    }
    // The decoded form is what a backend or a later decoding step may see
    // (`/%2F%2Fevil.test`, `/%5Cevil.test`, `/%09/evil.test`).
    let decoded: Vec<u8> = percent_decode_str(rd).collect();
    starts_with_one_slash(&decoded) && !has_control_or_whitespace(&decoded)
}

/// `/` followed by anything but another `/` or a `\` (which browsers read as
/// `/`, making `/\evil.test` a scheme-relative URL).
fn starts_with_one_slash(bytes: &[u8]) -> bool {
    match bytes {
        [b'/', second, ..] => !matches!(second, b'/' | b'\\'),
        [b'/'] => true,
        _ => false,
    }
}

fn has_control_or_whitespace(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| b <= b' ' || b == 0x7F)
        || String::from_utf8_lossy(bytes)
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(rd: &str) {
        assert_eq!(safe_return_url(rd), "/", "{rd:?} must be refused");
    }

    fn kept(rd: &str) {
        assert_eq!(safe_return_url(rd), rd, "{rd:?} must be kept");
    }

    #[test]
    fn plain_paths_are_kept() {
        kept("/");
        kept("/a/b");
        kept("/a/b?x=1");
        kept("/a/b?next=https://elsewhere.test/&y=%2F%2F");
        kept("/caf%C3%A9");
    }

    #[test]
    fn fragment_is_kept() {
        kept("/a/b?x=1#frag");
        kept("/a#//evil.test");
    }

    #[test]
    fn absolute_urls_are_refused() {
        refused("https://evil.test");
        refused("https://evil.test/a");
        refused("HTTPS://evil.test");
    }

    #[test]
    fn scheme_relative_urls_are_refused() {
        refused("//evil.test");
        refused("///evil.test");
        refused("//evil.test/a");
    }

    #[test]
    fn backslash_variants_are_refused() {
        refused("/\\evil.test");
        refused("\\/evil.test");
        refused("\\\\evil.test");
    }

    #[test]
    fn encoded_slash_or_backslash_after_the_first_is_refused() {
        refused("/%2F%2Fevil.test");
        refused("/%2fevil.test");
        refused("/%5Cevil.test");
        refused("/%5cevil.test");
        refused("%2F%2Fevil.test");
    }

    #[test]
    fn schemes_without_slashes_are_refused() {
        refused("https:evil.test");
        refused("javascript:alert(1)");
        refused("data:text/html,<script>alert(1)</script>");
    }

    #[test]
    fn whitespace_and_controls_are_refused() {
        refused("/%09/evil.test");
        refused("/\t/evil.test");
        refused("%0d%0a");
        refused("/a%0d%0aSet-Cookie:x=1");
        refused("/a\r\nSet-Cookie:x=1");
        refused("/a%20b");
        refused("/a b");
        refused(" /a");
        refused("/a%00");
        refused("/a%7F");
        refused("/a%C2%85"); // U+0085 NEL
        refused("/a%E2%80%A8"); // U+2028 line separator
        refused("/a%C2%A0"); // no-break space
    }

    #[test]
    fn raw_non_ascii_is_refused() {
        refused("/café");
    }

    #[test]
    fn empty_and_relative_values_are_refused() {
        refused("");
        refused("a/b");
        refused("?x=1");
        refused("#x");
    }

    #[test]
    fn over_long_values_are_refused() {
        let at_limit = format!("/{}", "a".repeat(MAX_RETURN_URL_BYTES - 1));
        kept(&at_limit);
        refused(&format!("{at_limit}a"));
    }

    #[test]
    fn malformed_escapes_do_not_panic() {
        kept("/a%zz");
        kept("/a%");
        kept("/%");
        kept("/%FF%FE");
    }
}
