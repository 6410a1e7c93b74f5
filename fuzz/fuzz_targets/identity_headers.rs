//! A client's headers after `remove_hop_by_hop` and `strip_identity_headers`:
//! no spelling of an identity header survives, no hop-by-hop header or header
//! named in `Connection` survives, and everything else does; identity values
//! that could split or smuggle a header are refused (see `gatehouse::headers`).
#![no_main]

use arbitrary::Arbitrary;
use gatehouse::headers::{
    identity_header_value, identity_list_header_value, remove_hop_by_hop, strip_identity_headers,
};
use http::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION};
use libfuzzer_sys::fuzz_target;

/// The identity headers the proxy sets (the config defaults).
const IDENTITY: [&str; 3] = [
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-groups",
];

/// RFC 9110 §7.6.1, plus `keep-alive` and `proxy-connection`.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
];

#[derive(Arbitrary, Debug)]
struct Input {
    headers: Vec<Header>,
    /// Tried as a user name or email header value.
    identity: String,
    /// Tried as the groups header's list.
    groups: Vec<String>,
}

#[derive(Arbitrary, Debug)]
enum Header {
    /// An identity or hop-by-hop header, in some spelling.
    Known { name: Spelling, value: Vec<u8> },
    /// `Connection: <names>, <extra>`.
    Connection {
        listed: Vec<Spelling>,
        extra: Vec<u8>,
    },
    /// Anything at all.
    Raw { name: Vec<u8>, value: Vec<u8> },
}

/// One of the known names with some letters upper-cased (`mask` bit i for
/// byte i) and some `-` turned into `_` (bit 16 + i).
#[derive(Arbitrary, Debug)]
struct Spelling {
    which: u8,
    mask: u32,
}

impl Spelling {
    fn bytes(&self) -> Vec<u8> {
        let known: Vec<&str> = IDENTITY.iter().chain(HOP_BY_HOP.iter()).copied().collect();
        let name = known[usize::from(self.which) % known.len()];
        name.bytes()
            .enumerate()
            .map(|(i, b)| match b {
                b'-' if self.mask >> (16 + i % 16) & 1 == 1 => b'_',
                b if self.mask >> (i % 16) & 1 == 1 => b.to_ascii_uppercase(),
                b => b,
            })
            .collect()
    }
}

fuzz_target!(|input: Input| {
    let mut headers = HeaderMap::new();
    for header in &input.headers {
        let (name, value) = match header {
            Header::Known { name, value } => (name.bytes(), value.clone()),
            Header::Connection { listed, extra } => {
                let mut value: Vec<u8> = listed
                    .iter()
                    .flat_map(|name| [name.bytes(), b", ".to_vec()])
                    .flatten()
                    .collect();
                value.extend_from_slice(extra);
                (b"connection".to_vec(), value)
            }
            Header::Raw { name, value } => (name.clone(), value.clone()),
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&name),
            HeaderValue::from_bytes(&value),
        ) {
            headers.append(name, value);
        }
    }

    // Every header a `Connection` header names, by the reference reading.
    let connection_named: Vec<String> = headers
        .get_all(CONNECTION)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .map(|token| String::from_utf8_lossy(token.trim_ascii()).to_ascii_lowercase())
        .collect();

    let mut cleaned = headers.clone();
    remove_hop_by_hop(&mut cleaned);
    let identity_names: Vec<HeaderName> = IDENTITY
        .iter()
        .map(|n| HeaderName::from_static(n))
        .collect();
    let identity_refs: Vec<&HeaderName> = identity_names.iter().collect();
    strip_identity_headers(&mut cleaned, &identity_refs);

    for name in headers.keys() {
        let folded = name.as_str().to_ascii_lowercase().replace('_', "-");
        let must_go = IDENTITY.contains(&folded.as_str())
            || HOP_BY_HOP.contains(&name.as_str())
            || connection_named.iter().any(|named| named == name.as_str());
        if must_go {
            assert!(!cleaned.contains_key(name), "{name} survived");
        } else {
            // Everything else passes untouched, every value in order.
            let before: Vec<&HeaderValue> = headers.get_all(name).iter().collect();
            let after: Vec<&HeaderValue> = cleaned.get_all(name).iter().collect();
            assert_eq!(before, after, "{name} was changed");
        }
    }
    assert!(cleaned.keys().all(|name| headers.contains_key(name)));

    check_identity_value(&input.identity);
    for group in &input.groups {
        check_identity_value(group);
    }
    if let Some(value) = identity_list_header_value(&input.groups) {
        check_header_bytes(value.as_bytes());
        if !input.groups.is_empty() {
            // A backend splitting the list finds exactly the groups: none
            // split in two, none merged, none padded.
            let items: Vec<&[u8]> = value.as_bytes().split(|&b| b == b',').collect();
            let groups: Vec<&[u8]> = input.groups.iter().map(|g| g.as_bytes()).collect();
            assert_eq!(items, groups, "groups read back differently");
        }
    }
});

/// A user name or email is refused when it could end or split the header,
/// and is sent byte for byte otherwise.
fn check_identity_value(s: &str) {
    let value = identity_header_value(s);
    if s.contains(['\r', '\n', '\0']) {
        assert!(value.is_none(), "{s:?} accepted");
    }
    if let Some(value) = value {
        assert_eq!(value.as_bytes(), s.as_bytes(), "{s:?} altered");
        check_header_bytes(value.as_bytes());
        assert_eq!(s.trim(), s, "{s:?} accepted with blanks at an end");
        assert!(
            !s.contains(['\u{85}', '\u{2028}', '\u{2029}']),
            "{s:?} accepted with a line separator"
        );
    }
}

/// No control byte at all (not even tab), which is stricter than HTTP.
fn check_header_bytes(bytes: &[u8]) {
    assert!(
        bytes.iter().all(|&b| b >= 0x20 && b != 0x7F),
        "{bytes:?} holds a control byte"
    );
}
