//! `normalize_path` on any string: it never panics, and a path it accepts
//! comes out in one canonical spelling that routing and the upstream can
//! both trust (see `gatehouse::path`).
#![no_main]

use gatehouse::path::normalize_path;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    let Ok(path) = normalize_path(raw) else {
        return;
    };
    check_canonical(raw, "forward", &path.forward);
    check_canonical(raw, "matching", &path.matching);
    assert!(
        !path.matching.contains(';') && !path.matching.contains("%3B"),
        "{raw:?}: matching {:?} keeps a parameter",
        path.matching
    );

    // Idempotent: the forwarded spelling is its own normal form, and it
    // routes the same way the original did.
    let again = normalize_path(&path.forward)
        .unwrap_or_else(|e| panic!("{raw:?}: forward {:?} is refused: {e}", path.forward));
    assert_eq!(
        again.forward, path.forward,
        "{raw:?}: forward is not idempotent"
    );
    assert_eq!(
        again.matching, path.matching,
        "{raw:?}: forward re-matches differently"
    );

    // `matching` is a normal form too (it has no parameters left to strip).
    let matched = normalize_path(&path.matching)
        .unwrap_or_else(|e| panic!("{raw:?}: matching {:?} is refused: {e}", path.matching));
    assert_eq!(
        matched.forward, path.matching,
        "{raw:?}: matching is not a normal form"
    );
    assert_eq!(
        matched.matching, path.matching,
        "{raw:?}: matching is not a normal form"
    );
});

/// What every accepted spelling must look like; `which` names it in failures.
fn check_canonical(raw: &str, which: &str, path: &str) {
    let context = || format!("{raw:?}: {which} {path:?}");
    assert!(path.starts_with('/'), "{}: not absolute", context());
    assert!(!path.contains("//"), "{}: holds `//`", context());
    assert!(!path.contains('\\'), "{}: holds a raw `\\`", context());
    // Visible ASCII only: no control byte, no space, no raw non-ASCII.
    assert!(
        path.bytes().all(|b| b.is_ascii_graphic()),
        "{}: holds a control, space or non-ASCII byte",
        context()
    );
    let lower = path.to_ascii_lowercase();
    assert!(
        !lower.contains("%2f") && !lower.contains("%5c"),
        "{}: holds an encoded separator",
        context()
    );

    // Every escape is canonical: two uppercase hex digits, never an
    // unreserved character (it would have been decoded), a separator or a
    // control byte.
    let bytes = path.as_bytes();
    for (at, _) in path.match_indices('%') {
        let digits = bytes.get(at + 1..at + 3).unwrap_or_default();
        assert!(
            digits.len() == 2
                && digits
                    .iter()
                    .all(|d| matches!(d, b'0'..=b'9' | b'A'..=b'F')),
            "{}: escape at {at} is not two uppercase hex digits",
            context()
        );
        let decoded = u8::from_str_radix(std::str::from_utf8(digits).unwrap(), 16).unwrap();
        assert!(
            !(decoded.is_ascii_alphanumeric() || b"-._~".contains(&decoded)),
            "{}: escape at {at} encodes an unreserved character",
            context()
        );
        assert!(
            !(decoded < 0x20 || decoded == 0x7F || decoded == b'/' || decoded == b'\\'),
            "{}: escape at {at} encodes a control byte or separator",
            context()
        );
    }

    // No dot segment, even one hiding behind parameters (`..;x`).
    for segment in path.split('/').skip(1) {
        let name_end = [segment.find(';'), segment.find("%3B")]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(segment.len());
        let name = &segment[..name_end];
        assert!(
            !matches!(segment, "." | "..") && !matches!(name, "." | ".."),
            "{}: keeps a dot segment {segment:?}",
            context()
        );
    }
}
