//! Session ids: how they are made, how a cookie value is parsed back into
//! one, and the hashed key under which the store knows a session.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Bytes of randomness in a session id (256 bits).
const ID_BYTES: usize = 32;
/// Length of an id as base64url without padding.
const ID_CHARS: usize = 43;

/// A session id as the browser holds it. Never logged, never stored.
pub struct SessionId([u8; ID_BYTES]);

impl SessionId {
    /// A fresh id from the OS CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; ID_BYTES];
        OsRng.fill_bytes(&mut bytes);
        SessionId(bytes)
    }

    /// Parses a cookie value; `None` for anything of the wrong length or
    /// alphabet, so that such values never reach the store.
    pub fn parse(value: &str) -> Option<Self> {
        if value.len() != ID_CHARS
            || !value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return None;
        }
        let mut bytes = [0u8; ID_BYTES];
        // decode_slice rejects non-canonical trailing bits, so each id has one spelling.
        match URL_SAFE_NO_PAD.decode_slice(value, &mut bytes) {
            Ok(ID_BYTES) => Some(SessionId(bytes)),
            _ => None,
        }
    }

    /// The value to put in the cookie.
    pub fn cookie_value(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The store key: base64url(SHA-256(id)).
    pub fn key(&self) -> SessionKey {
        SessionKey(URL_SAFE_NO_PAD.encode(Sha256::digest(self.0)))
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(<redacted>)")
    }
}

/// A random 256-bit token, base64url: for values that must be unguessable
/// but are not session ids (the login form's CSRF token).
pub fn random_token() -> String {
    SessionId::generate().cookie_value()
}

/// The hash of a session id; safe to store and to log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKey(String);

impl SessionKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Rebuilds a key read back from the store's user index.
    pub fn from_stored(s: String) -> Self {
        SessionKey(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_round_trip_through_the_cookie() {
        let id = SessionId::generate();
        let value = id.cookie_value();
        assert_eq!(value.len(), ID_CHARS);
        let back = SessionId::parse(&value).expect("own id parses");
        assert_eq!(back.key(), id.key());
    }

    #[test]
    fn ids_are_distinct() {
        assert_ne!(SessionId::generate().key(), SessionId::generate().key());
    }

    #[test]
    fn malformed_values_are_rejected() {
        let good = SessionId::generate().cookie_value();
        assert!(SessionId::parse("").is_none());
        assert!(SessionId::parse(&good[..42]).is_none());
        assert!(SessionId::parse(&format!("{good}A")).is_none());
        assert!(SessionId::parse(&format!("{}*", &good[..42])).is_none());
        assert!(SessionId::parse(&format!("{}=", &good[..42])).is_none());
        assert!(SessionId::parse(&format!("{}+", &good[..42])).is_none());
        assert!(SessionId::parse(&"é".repeat(21)).is_none());
    }

    #[test]
    fn key_is_not_the_id() {
        let id = SessionId::generate();
        assert_ne!(id.key().as_str(), id.cookie_value());
        assert_eq!(id.key().as_str().len(), 43);
    }
}
