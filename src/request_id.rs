//! `X-Request-Id`: kept when a client (or a load balancer in front) sent a
//! well-formed one, generated otherwise; sent upstream and logged, so one
//! id follows a request through every hop.

use http::header::HeaderName;
use http::{HeaderMap, HeaderValue};

/// The header's name.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-supplied id kept.
const MAX_LEN: usize = 128;

/// The request's id: the client's single `X-Request-Id` when it is 1–128
/// characters of `[A-Za-z0-9._-]` (a UUID, say), else a new UUID v4.
/// Anything else is replaced, so the id is always safe in logs and headers.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    let mut values = headers.get_all(&X_REQUEST_ID).iter();
    if let (Some(value), None) = (values.next(), values.next()) {
        if is_well_formed(value.as_bytes()) {
            return value.clone();
        }
    }
    // A UUID v4 from the thread's CSPRNG (seeded from the OS, reseeded by
    // rand): no system call per request, unlike `Uuid::new_v4`.
    let id = uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .hyphenated()
        .to_string();
    HeaderValue::try_from(id).expect("a UUID is a valid header value")
}

fn is_well_formed(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(&X_REQUEST_ID, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn a_well_formed_client_id_is_kept() {
        let id = "3f2c1a9e-8b7d-4c6e-9f00-123456789abc";
        assert_eq!(request_id(&with(&[id])), id);
        assert_eq!(request_id(&with(&["req.42_a"])), "req.42_a");
    }

    #[test]
    fn anything_else_gets_a_fresh_uuid() {
        for bad in [
            vec![""],
            vec!["a b"],
            vec!["id\"quote"],
            vec!["a", "b"],
            vec![Box::leak("x".repeat(129).into_boxed_str()) as &'static str],
        ] {
            let id = request_id(&with(&bad));
            let id = id.to_str().unwrap();
            assert_eq!(id.len(), 36, "{bad:?} → {id}");
            assert!(uuid::Uuid::parse_str(id).is_ok());
        }
        let a = request_id(&HeaderMap::new());
        assert_ne!(a, request_id(&HeaderMap::new()));
    }
}
