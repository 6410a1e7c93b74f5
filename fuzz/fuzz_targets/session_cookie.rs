//! The proxy's session cookie in one or several `Cookie` headers:
//! `session_cookie` finds it without panicking, `strip_session_cookie`
//! removes every copy and nothing else, and `SessionId::parse` accepts only
//! a 43-character base64url id (see `gatehouse::headers` and `session`).
#![no_main]

use arbitrary::Arbitrary;
use gatehouse::config::defaults::COOKIE_NAME;
use gatehouse::headers::{session_cookie, strip_session_cookie, CookieLookup};
use gatehouse::session::SessionId;
use http::header::{HeaderMap, HeaderValue, COOKIE};
use libfuzzer_sys::fuzz_target;

/// Each inner list is one `Cookie` header, its pieces joined by `;`.
#[derive(Arbitrary, Debug)]
struct Input {
    headers: Vec<Vec<Piece>>,
}

/// Pieces biased towards the proxy's cookie, which random bytes rarely spell.
#[derive(Arbitrary, Debug)]
enum Piece {
    /// `__Host-gatehouse=<value>`, with optional blanks around name and value.
    Session { value: Vec<u8>, padding: u8 },
    /// `__Host-gatehouse=<a well-formed id>`.
    SessionId([u8; 32]),
    /// `<name>=<value>`.
    Other { name: Vec<u8>, value: Vec<u8> },
    /// Anything, `;` and `=` included.
    Raw(Vec<u8>),
}

fuzz_target!(|input: Input| {
    let mut headers = HeaderMap::new();
    for pieces in &input.headers {
        if let Ok(value) = HeaderValue::from_bytes(&header_bytes(pieces)) {
            headers.append(COOKIE, value);
        }
    }

    let before = cookie_pieces(&headers);
    let sessions: Vec<&[u8]> = before
        .iter()
        .filter(|piece| cookie_name(piece) == COOKIE_NAME.as_bytes())
        .map(|piece| cookie_value(piece))
        .collect();
    let lookup = session_cookie(&headers, COOKIE_NAME);
    match (sessions.as_slice(), lookup) {
        ([], CookieLookup::Absent) => {}
        ([value], CookieLookup::One(found)) => {
            assert_eq!(found.as_bytes(), *value, "the wrong value is found")
        }
        // One copy whose value is not UTF-8 is no session at all.
        ([value], CookieLookup::Absent) => assert!(
            std::str::from_utf8(value).is_err(),
            "the cookie {value:?} is missed"
        ),
        ([_, _, ..], CookieLookup::Ambiguous) => {}
        (sessions, lookup) => panic!("{sessions:?} found as {lookup:?}"),
    }
    if let CookieLookup::One(value) = lookup {
        check_id(value);
    }
    for value in &sessions {
        if let Ok(value) = std::str::from_utf8(value) {
            check_id(value);
        }
    }

    let mut stripped = headers.clone();
    strip_session_cookie(&mut stripped, COOKIE_NAME);
    assert!(
        stripped.get_all(COOKIE).iter().count() <= 1,
        "cookies are not merged into one header"
    );
    let after = cookie_pieces(&stripped);
    let others: Vec<Vec<u8>> = before
        .into_iter()
        .filter(|piece| cookie_name(piece) != COOKIE_NAME.as_bytes())
        .collect();
    assert_eq!(
        after, others,
        "other cookies are not kept as they were, in order"
    );
    assert_eq!(session_cookie(&stripped, COOKIE_NAME), CookieLookup::Absent);
});

/// `SessionId::parse` accepts exactly the 43-character base64url spellings
/// of 32 bytes: the alphabet `A-Za-z0-9-_`, and a last character whose two
/// unused low bits are zero (so each id has one spelling).
fn check_id(value: &str) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = |b: u8| ALPHABET.iter().position(|&a| a == b);
    let well_formed = value.len() == 43
        && value.bytes().all(|b| index(b).is_some())
        && value
            .bytes()
            .last()
            .and_then(index)
            .is_some_and(|i| i % 4 == 0);
    match SessionId::parse(value) {
        Some(id) => {
            assert!(well_formed, "{value:?} accepted");
            assert_eq!(id.cookie_value(), value, "{value:?} is not canonical");
        }
        None => assert!(!well_formed, "{value:?} refused"),
    }
}

fn header_bytes(pieces: &[Piece]) -> Vec<u8> {
    const PADDING: [&[u8]; 4] = [b"", b" ", b"\t", b"  "];
    let mut out = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            out.push(b';');
        }
        match piece {
            Piece::Session { value, padding } => {
                let pad = PADDING[usize::from(padding % 4)];
                out.extend_from_slice(pad);
                out.extend_from_slice(COOKIE_NAME.as_bytes());
                out.extend_from_slice(pad);
                out.push(b'=');
                out.extend_from_slice(pad);
                out.extend_from_slice(value);
            }
            Piece::SessionId(bytes) => {
                out.extend_from_slice(COOKIE_NAME.as_bytes());
                out.push(b'=');
                out.extend_from_slice(base64url(bytes).as_bytes());
            }
            Piece::Other { name, value } => {
                out.extend_from_slice(name);
                out.push(b'=');
                out.extend_from_slice(value);
            }
            Piece::Raw(bytes) => out.extend_from_slice(bytes),
        }
    }
    out
}

/// The reference reading of `Cookie` headers (RFC 6265 §5.4 as browsers
/// write them): `;`-separated pieces, blanks around them ignored, empty
/// pieces skipped; across headers, in order.
fn cookie_pieces(headers: &HeaderMap) -> Vec<Vec<u8>> {
    headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b';'))
        .map(|piece| piece.trim_ascii().to_vec())
        .filter(|piece| !piece.is_empty())
        .collect()
}

/// The name before the first `=`, trimmed; a piece without `=` is nameless.
fn cookie_name(piece: &[u8]) -> &[u8] {
    match piece.iter().position(|&b| b == b'=') {
        Some(at) => piece[..at].trim_ascii(),
        None => b"",
    }
}

fn cookie_value(piece: &[u8]) -> &[u8] {
    match piece.iter().position(|&b| b == b'=') {
        Some(at) => piece[at + 1..].trim_ascii(),
        None => piece,
    }
}

/// Unpadded base64url, written out here so the target does not share the
/// encoder it is testing.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}
