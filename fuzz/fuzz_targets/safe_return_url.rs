//! `safe_return_url` on any string: it answers either the input or `/`, and
//! what it keeps is a path on this origin however a browser or a decoding
//! backend reads it (see `gatehouse::return_url`).
#![no_main]

use gatehouse::return_url::{safe_return_url, DEFAULT_RETURN_URL, MAX_RETURN_URL_BYTES};
use libfuzzer_sys::fuzz_target;
use url::Url;

/// Where the login page lives; a kept `rd` must never leave this origin.
const LOGIN_PAGE: &str = "https://app.test/.gatehouse/login";

fuzz_target!(|rd: &str| {
    let out = safe_return_url(rd);
    assert!(
        out == rd || out == DEFAULT_RETURN_URL,
        "{rd:?}: answered {out:?}, neither the input nor `/`"
    );
    // Whatever is answered goes into `Location`: visible ASCII, bounded.
    assert!(out.len() <= MAX_RETURN_URL_BYTES, "{rd:?}: too long");
    assert!(
        http::HeaderValue::from_str(out).is_ok(),
        "{rd:?}: not a header value"
    );
    if out != rd {
        return;
    }

    let raw = out.as_bytes();
    assert!(raw.starts_with(b"/"), "{rd:?}: kept, but not a path");
    assert!(
        !starts_with_two_slashes(raw),
        "{rd:?}: kept a scheme-relative URL"
    );
    assert!(!colon_before_first_slash(raw), "{rd:?}: kept a scheme");

    let decoded = percent_decode(raw);
    assert!(decoded.starts_with(b"/"), "{rd:?}: decodes to a non-path");
    assert!(
        !starts_with_two_slashes(&decoded),
        "{rd:?}: decodes to a scheme-relative URL"
    );
    assert!(
        !colon_before_first_slash(&decoded),
        "{rd:?}: decodes to a scheme"
    );
    assert!(
        !has_control_or_whitespace(&decoded),
        "{rd:?}: decodes to a control character or whitespace"
    );

    // The browser's view (WHATWG URL parsing, as `Location` is resolved):
    // the raw value, and the decoded one a backend might echo, stay here.
    let base = Url::parse(LOGIN_PAGE).unwrap();
    let target = base
        .join(out)
        .unwrap_or_else(|e| panic!("{rd:?}: a browser cannot resolve it: {e}"));
    assert_eq!(target.origin(), base.origin(), "{rd:?}: leaves the origin");
    if let Ok(decoded) = std::str::from_utf8(&decoded) {
        if let Ok(target) = base.join(decoded) {
            assert_eq!(
                target.origin(),
                base.origin(),
                "{rd:?}: decoded {decoded:?} leaves the origin"
            );
        }
    }
});

/// `//` or `/\`: both are scheme-relative to a browser.
fn starts_with_two_slashes(bytes: &[u8]) -> bool {
    matches!(bytes, [b'/', b'/' | b'\\', ..])
}

fn colon_before_first_slash(bytes: &[u8]) -> bool {
    let slash = bytes.iter().position(|&b| b == b'/').unwrap_or(bytes.len());
    bytes[..slash].contains(&b':')
}

/// Lenient percent-decoding, as most decoders do it: `%` followed by two hex
/// digits is a byte, anything else is kept as it is.
fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .filter(|digits| digits.bytes().all(|d| d.is_ascii_hexdigit()))
            .and_then(|digits| u8::from_str_radix(digits, 16).ok());
        match escape {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

/// ASCII controls, space and DEL, and any Unicode control or whitespace
/// character (NEL, U+2028, no-break space) in the bytes read as UTF-8.
fn has_control_or_whitespace(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| b <= b' ' || b == 0x7F)
        || String::from_utf8_lossy(bytes)
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
}
