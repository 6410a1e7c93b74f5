//! Request path normalization: the one spelling of a path that routing,
//! authorization and the upstream all agree on.
//!
//! A proxy that authorizes one spelling of a path and forwards another is a
//! bypass waiting to happen (`/public/../admin`, `/%61dmin`, `/admin;x/`,
//! `/..;/admin`). So the path is normalized once, here, and the router sees
//! and the upstream receives the same result. Spellings that different
//! backends read differently (an encoded `/` or `\`, control bytes, overlong
//! UTF-8, dot segments with parameters) are refused rather than guessed at.

use thiserror::Error;

/// A request path after normalization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedPath {
    /// What is sent upstream: escapes of unreserved characters decoded, other
    /// escapes in uppercase hex, `.`/`..` resolved, `//` runs collapsed, a
    /// trailing `/` kept. Path parameters (`;x`) are kept because the backend
    /// may need them (`;jsessionid=…`).
    pub forward: String,
    /// What routes are matched against: `forward` with every segment's
    /// parameters (from the first `;` or `%3B`) removed, so that parameters
    /// never hide a path from routing (`/admin;x/` is matched as `/admin/`).
    pub matching: String,
}

/// Why a path was refused; the caller answers 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PathError {
    /// Origin-form paths start with `/`; `*` and absolute-form are handled by
    /// the caller before it gets here.
    #[error("the path does not start with `/`")]
    NotAbsolute,
    /// A `%` not followed by two hex digits: backends disagree on what it means.
    #[error("the path holds a malformed percent escape")]
    MalformedEscape,
    /// `%2F` or `%5C`: some backends decode it into a separator after routing.
    #[error("the path holds an encoded `/` or `\\`")]
    EncodedSeparator,
    /// A raw `\`: Windows and some frameworks treat it as `/`.
    #[error("the path holds a backslash")]
    Backslash,
    /// A control byte, raw or encoded (NUL truncates, CR/LF split headers).
    #[error("the path holds a control character")]
    ControlCharacter,
    /// A raw byte above 0x7F; it is only accepted percent-encoded.
    #[error("the path holds a raw non-ASCII character")]
    NonAscii,
    /// An overlong UTF-8 sequence (`%C0%AE` is `.` to some old decoders).
    #[error("the path holds an overlong UTF-8 sequence")]
    OverlongUtf8,
    /// `..;/` or `.;x`: a dot segment that some servers resolve and others do
    /// not, the classic way to slip past a proxy's routing.
    #[error("a `.` or `..` segment carries parameters")]
    DotSegmentWithParameters,
}

/// Normalizes `raw`, the request URI's path as received (still
/// percent-encoded, without the query).
///
/// Steps, in this order (it matters):
/// 1. escapes are canonicalized first, so that `%2e%2e` *is* `..` when dot
///    segments are resolved and `/%61dmin` *is* `/admin` when routes match;
/// 2. dot segments are resolved (RFC 3986 `remove_dot_segments`; `..` above
///    the root stays at the root) and empty segments (`//`) dropped;
/// 3. parameters are stripped for `matching` only, after step 2 so that a
///    parameter can never decide which segment `..` removes.
pub fn normalize_path(raw: &str) -> Result<NormalizedPath, PathError> {
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let canonical = canonicalize_escapes(raw.as_bytes())?;
    let forward = remove_dot_segments(&canonical)?;
    let matching = strip_parameters(&forward);
    Ok(NormalizedPath { forward, matching })
}

/// Decodes escapes of unreserved characters, uppercases the others, encodes
/// raw characters that have no business in a path (`?`, `#`, space, `{`, …)
/// and refuses the dangerous bytes listed in [`PathError`].
fn canonicalize_escapes(raw: &[u8]) -> Result<String, PathError> {
    let mut out = String::with_capacity(raw.len());
    // The previous byte if it came from an escape: overlong UTF-8 is two
    // consecutive escapes.
    let mut previous_escaped: Option<u8> = None;
    let mut i = 0;
    while i < raw.len() {
        let byte = raw[i];
        if byte == b'%' {
            let decoded = match (raw.get(i + 1).and_then(hex), raw.get(i + 2).and_then(hex)) {
                (Some(high), Some(low)) => high << 4 | low,
                _ => return Err(PathError::MalformedEscape),
            };
            if let Some(lead) = previous_escaped {
                if is_overlong(lead, decoded) {
                    return Err(PathError::OverlongUtf8);
                }
            }
            match decoded {
                b'/' | b'\\' => return Err(PathError::EncodedSeparator),
                b if is_control(b) => return Err(PathError::ControlCharacter),
                b if is_unreserved(b) => out.push(char::from(b)),
                b => push_escape(&mut out, b),
            }
            previous_escaped = Some(decoded);
            i += 3;
            continue;
        }
        match byte {
            b'\\' => return Err(PathError::Backslash),
            b if is_control(b) => return Err(PathError::ControlCharacter),
            b if !b.is_ascii() => return Err(PathError::NonAscii),
            b if is_path_char(b) => out.push(char::from(b)),
            b => push_escape(&mut out, b),
        }
        previous_escaped = None;
        i += 1;
    }
    Ok(out)
}

/// RFC 3986 §5.2.4 on a path that starts with `/`, with empty segments
/// dropped. A trailing `/` is kept, and a final `.` or `..` leaves one
/// (`/a/b/..` is `/a/`), as the RFC does.
fn remove_dot_segments(path: &str) -> Result<String, PathError> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in rest.split('/') {
        let (name, has_parameters) = split_parameters(segment);
        trailing_slash = false;
        match name {
            "." | ".." if has_parameters => return Err(PathError::DotSegmentWithParameters),
            "." => trailing_slash = true,
            ".." => {
                segments.pop();
                trailing_slash = true;
            }
            // Only the last empty piece survives, as the trailing slash.
            "" if !has_parameters => trailing_slash = true,
            _ => segments.push(segment),
        }
    }
    Ok(join(&segments, trailing_slash))
}

/// `forward` with each segment's parameters removed; segments left empty
/// (`/;x/admin`) are dropped like `//`, except the last, which stays as the
/// trailing slash.
fn strip_parameters(forward: &str) -> String {
    let rest = forward.strip_prefix('/').unwrap_or(forward);
    let mut names: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in rest.split('/') {
        let (name, _) = split_parameters(segment);
        trailing_slash = name.is_empty();
        if !trailing_slash {
            names.push(name);
        }
    }
    join(&names, trailing_slash)
}

/// Splits a segment at its first `;`, or `%3B` (a backend that decodes
/// before it strips parameters sees `..%3B` as `..;`, so both count).
fn split_parameters(segment: &str) -> (&str, bool) {
    let raw = segment.find(';');
    let encoded = segment.find("%3B");
    match (raw, encoded) {
        (Some(a), Some(b)) => (&segment[..a.min(b)], true),
        (Some(at), None) | (None, Some(at)) => (&segment[..at], true),
        (None, None) => (segment, false),
    }
}

fn join(segments: &[&str], trailing_slash: bool) -> String {
    let mut out = String::with_capacity(segments.iter().map(|s| s.len() + 1).sum::<usize>() + 1);
    for segment in segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    out
}

fn hex(byte: &u8) -> Option<u8> {
    char::from(*byte)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn push_escape(out: &mut String, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(byte >> 4)]));
    out.push(char::from(HEX[usize::from(byte & 0x0F)]));
}

fn is_control(byte: u8) -> bool {
    byte < 0x20 || byte == 0x7F
}

/// RFC 3986 unreserved: the characters whose escapes mean the same as the
/// character itself, so decoding them changes nothing but the spelling.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 `pchar` plus `/`, kept raw; anything else printable is encoded.
fn is_path_char(byte: u8) -> bool {
    is_unreserved(byte)
        || matches!(
            byte,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'/'
        )
}

/// Whether `lead` followed by `next` can only start an overlong UTF-8
/// encoding (`%C0%AE` for `.`, `%E0%80%AF` for `/`). Latin-1 paths such as
/// `/caf%E9` are not affected.
fn is_overlong(lead: u8, next: u8) -> bool {
    match lead {
        0xC0 | 0xC1 => (0x80..=0xBF).contains(&next),
        0xE0 => (0x80..=0x9F).contains(&next),
        0xF0 => (0x80..=0x8F).contains(&next),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward(raw: &str) -> String {
        normalize_path(raw).expect("path is accepted").forward
    }

    fn matching(raw: &str) -> String {
        normalize_path(raw).expect("path is accepted").matching
    }

    #[test]
    fn plain_paths_are_unchanged() {
        assert_eq!(forward("/"), "/");
        assert_eq!(forward("/a/b"), "/a/b");
        assert_eq!(matching("/a/b"), "/a/b");
    }

    #[test]
    fn parent_segment_cannot_escape_a_public_prefix() {
        assert_eq!(forward("/public/../admin"), "/admin");
        assert_eq!(matching("/public/../admin"), "/admin");
    }

    #[test]
    fn current_segments_are_removed() {
        assert_eq!(forward("/a/./b"), "/a/b");
        assert_eq!(forward("/a/."), "/a/");
        assert_eq!(forward("/./."), "/");
    }

    #[test]
    fn double_slashes_are_collapsed() {
        assert_eq!(forward("//admin"), "/admin");
        assert_eq!(forward("/a//b///c"), "/a/b/c");
        assert_eq!(forward("///"), "/");
    }

    #[test]
    fn parent_above_root_stays_at_root() {
        assert_eq!(forward("/.."), "/");
        assert_eq!(forward("/../../admin"), "/admin");
        assert_eq!(forward("/a/b/.."), "/a/");
    }

    #[test]
    fn encoded_dots_are_resolved() {
        assert_eq!(forward("/%2e%2e/admin"), "/admin");
        assert_eq!(forward("/.%2e/admin"), "/admin");
        assert_eq!(forward("/public/%2E%2E/admin"), "/admin");
        assert_eq!(forward("/public/%2e/admin"), "/public/admin");
    }

    #[test]
    fn encoded_unreserved_characters_are_decoded() {
        assert_eq!(forward("/%61dmin"), "/admin");
        assert_eq!(matching("/%41%44%4d%49%4E"), "/ADMIN");
        assert_eq!(forward("/%7e%2d%5f"), "/~-_");
    }

    #[test]
    fn other_escapes_are_kept_in_uppercase() {
        assert_eq!(forward("/caf%c3%a9"), "/caf%C3%A9");
        assert_eq!(forward("/a%20b"), "/a%20b");
        assert_eq!(forward("/100%25"), "/100%25");
        assert_eq!(forward("/a%3fb"), "/a%3Fb");
    }

    #[test]
    fn raw_characters_outside_pchar_are_encoded() {
        assert_eq!(forward("/a?b"), "/a%3Fb");
        assert_eq!(forward("/a#b"), "/a%23b");
        assert_eq!(forward("/{x}"), "/%7Bx%7D");
        assert_eq!(forward("/a b"), "/a%20b");
        assert_eq!(forward("/a:b@c!$&'()*+,=;"), "/a:b@c!$&'()*+,=;");
    }

    #[test]
    fn encoded_slash_is_rejected() {
        assert_eq!(
            normalize_path("/a/..%2fadmin"),
            Err(PathError::EncodedSeparator)
        );
        assert_eq!(normalize_path("/%2F"), Err(PathError::EncodedSeparator));
        assert_eq!(normalize_path("/%2f"), Err(PathError::EncodedSeparator));
    }

    #[test]
    fn encoded_backslash_is_rejected() {
        assert_eq!(normalize_path("/a%5cb"), Err(PathError::EncodedSeparator));
        assert_eq!(normalize_path("/a%5Cb"), Err(PathError::EncodedSeparator));
    }

    #[test]
    fn raw_backslash_is_rejected() {
        assert_eq!(normalize_path("/a\\b"), Err(PathError::Backslash));
        assert_eq!(normalize_path("/..\\admin"), Err(PathError::Backslash));
    }

    #[test]
    fn encoded_control_bytes_are_rejected() {
        assert_eq!(normalize_path("/%00"), Err(PathError::ControlCharacter));
        assert_eq!(
            normalize_path("/a%0d%0ab"),
            Err(PathError::ControlCharacter)
        );
        assert_eq!(normalize_path("/a%09"), Err(PathError::ControlCharacter));
        assert_eq!(normalize_path("/a%7f"), Err(PathError::ControlCharacter));
        assert_eq!(normalize_path("/a%1F"), Err(PathError::ControlCharacter));
    }

    #[test]
    fn raw_control_bytes_are_rejected() {
        assert_eq!(normalize_path("/a\0"), Err(PathError::ControlCharacter));
        assert_eq!(normalize_path("/a\r\nb"), Err(PathError::ControlCharacter));
        assert_eq!(normalize_path("/a\tb"), Err(PathError::ControlCharacter));
        assert_eq!(normalize_path("/a\x7f"), Err(PathError::ControlCharacter));
    }

    #[test]
    fn raw_non_ascii_is_rejected() {
        assert_eq!(normalize_path("/café"), Err(PathError::NonAscii));
    }

    #[test]
    fn malformed_escapes_are_rejected() {
        assert_eq!(normalize_path("/a%zz"), Err(PathError::MalformedEscape));
        assert_eq!(normalize_path("/a%"), Err(PathError::MalformedEscape));
        assert_eq!(normalize_path("/a%4"), Err(PathError::MalformedEscape));
        assert_eq!(normalize_path("/a%%41"), Err(PathError::MalformedEscape));
        assert_eq!(normalize_path("/a%é"), Err(PathError::MalformedEscape));
    }

    #[test]
    fn overlong_utf8_is_rejected() {
        assert_eq!(
            normalize_path("/%c0%ae%c0%ae/admin"),
            Err(PathError::OverlongUtf8)
        );
        assert_eq!(normalize_path("/a%C0%AFb"), Err(PathError::OverlongUtf8));
        assert_eq!(normalize_path("/%e0%80%ae"), Err(PathError::OverlongUtf8));
        assert_eq!(
            normalize_path("/%f0%80%80%ae"),
            Err(PathError::OverlongUtf8)
        );
        // A Latin-1 path is not UTF-8 at all, and that is fine.
        assert_eq!(forward("/caf%e9"), "/caf%E9");
        assert_eq!(forward("/%c0x"), "/%C0x");
    }

    #[test]
    fn dot_segments_with_parameters_are_rejected() {
        assert_eq!(
            normalize_path("/..;/admin"),
            Err(PathError::DotSegmentWithParameters)
        );
        assert_eq!(
            normalize_path("/public/..;x/admin"),
            Err(PathError::DotSegmentWithParameters)
        );
        assert_eq!(
            normalize_path("/.;x/admin"),
            Err(PathError::DotSegmentWithParameters)
        );
        assert_eq!(
            normalize_path("/%2e%2e;/admin"),
            Err(PathError::DotSegmentWithParameters)
        );
        assert_eq!(
            normalize_path("/..%3b/admin"),
            Err(PathError::DotSegmentWithParameters)
        );
        assert_eq!(
            normalize_path("/a/.."),
            Ok(NormalizedPath {
                forward: "/".into(),
                matching: "/".into()
            })
        );
    }

    #[test]
    fn parameters_do_not_hide_a_path_from_matching() {
        let path = normalize_path("/admin;x/").expect("accepted");
        assert_eq!(path.forward, "/admin;x/");
        assert_eq!(path.matching, "/admin/");
        assert_eq!(matching("/admin;jsessionid=1"), "/admin");
        assert_eq!(matching("/admin%3bx/users"), "/admin/users");
        assert_eq!(matching("/;x/admin"), "/admin");
        assert_eq!(matching("/admin/;x"), "/admin/");
        assert_eq!(matching("/;x"), "/");
    }

    #[test]
    fn parameters_do_not_change_what_dot_dot_removes() {
        assert_eq!(forward("/a;x/../admin"), "/admin");
        assert_eq!(matching("/a;x/../admin"), "/admin");
    }

    #[test]
    fn trailing_slash_is_kept() {
        assert_eq!(forward("/admin/"), "/admin/");
        assert_eq!(forward("/a//"), "/a/");
        assert_eq!(matching("/admin/"), "/admin/");
    }

    #[test]
    fn relative_and_empty_paths_are_rejected() {
        assert_eq!(normalize_path(""), Err(PathError::NotAbsolute));
        assert_eq!(normalize_path("*"), Err(PathError::NotAbsolute));
        assert_eq!(normalize_path("admin"), Err(PathError::NotAbsolute));
        assert_eq!(
            normalize_path("http://x/admin"),
            Err(PathError::NotAbsolute)
        );
    }

    #[test]
    fn normalization_is_idempotent() {
        for raw in [
            "/public/../admin",
            "/%61dmin;x/",
            "/a//b/./c/..",
            "/caf%c3%a9",
            "/a b?",
        ] {
            let once = forward(raw);
            assert_eq!(forward(&once), once, "{raw}");
        }
    }
}
