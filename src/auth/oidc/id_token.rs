//! ID token validation: the `openidconnect` crate's full check
//! (signature by the provider's keys, `iss`, `aud`, `exp`, `nonce`; no
//! unsigned tokens), then `at_hash` when present. The verified claims come
//! out as JSON, so that any claim can be mapped by name.

use openidconnect::{AccessTokenHash, OAuth2TokenResponse, TokenResponse};
use serde_json::{Map, Value};

use super::{OidcError, ProviderClient, Tokens};

/// Why verification failed: a key we may not have yet, or anything else.
pub(super) enum KeyOr {
    UnknownKey(String),
    Error(OidcError),
}

impl From<OidcError> for KeyOr {
    fn from(e: OidcError) -> Self {
        KeyOr::Error(e)
    }
}

/// The `openidconnect` crate's full ID token validation, then `at_hash`
/// when present; the verified claims as JSON, to map any claim by name.
pub(super) fn verify_id_token(
    client: &ProviderClient,
    tokens: &Tokens,
    nonce: impl openidconnect::NonceVerifier,
) -> Result<Map<String, Value>, KeyOr> {
    use openidconnect::{ClaimsVerificationError as E, SignatureVerificationError as S};
    let id_token = tokens
        .id_token()
        .ok_or_else(|| OidcError::InvalidToken("no ID token".into()))?;
    // Unsigned (`alg: none`) tokens are refused by the verifier itself,
    // which requires a signature; the allowed algorithms are the
    // provider's advertised ones.
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, nonce).map_err(|e| match e {
        E::SignatureVerification(S::NoMatchingKey) => KeyOr::UnknownKey(e.to_string()),
        e => KeyOr::Error(OidcError::InvalidToken(e.to_string())),
    })?;
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token
            .signing_alg()
            .map_err(|e| OidcError::InvalidToken(e.to_string()))?;
        let key = id_token
            .signing_key(&verifier)
            .map_err(|e| OidcError::InvalidToken(e.to_string()))?;
        let actual = AccessTokenHash::from_token(tokens.access_token(), alg, key)
            .map_err(|e| OidcError::InvalidToken(e.to_string()))?;
        if actual != *expected {
            return Err(OidcError::InvalidToken("at_hash mismatch".into()).into());
        }
    }
    match serde_json::to_value(claims) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(OidcError::InvalidToken("claims are not an object".into()).into()),
    }
}

pub(super) fn string_claim(claims: &Map<String, Value>, name: &str) -> String {
    claims
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}
