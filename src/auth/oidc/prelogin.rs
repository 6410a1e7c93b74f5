//! The pre-login cookie: what binds a provider's callback to the browser
//! that started the sign-in. Pure: no I/O.
//!
//! Each sign-in gets its own short-lived cookie, named after the start of
//! its `state`, so sign-ins started in several tabs do not overwrite each
//! other. It holds the `state` (compared in constant time with the
//! callback's), the `nonce` (which the ID token must echo), the PKCE code
//! verifier (which the token request must prove), where to return, and
//! when it expires. Nothing in it is useful without this browser's callback:
//! the provider only ever sees the `state`, the nonce and the verifier's
//! hash, and the cookie is `HttpOnly`, `Secure` and bound to this origin.
//! It is cleared by the callback, so a `state` works once.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use subtle::ConstantTimeEq;

use crate::return_url::safe_return_url;
use crate::session::random_token;

/// How long a browser has to come back from the provider.
pub const LIFETIME: Duration = Duration::from_secs(10 * 60);
/// Characters of the `state` in the cookie's name: enough to tell a
/// browser's concurrent sign-ins apart, not a secret.
const NAME_STATE_CHARS: usize = 12;
/// Length of the random values (256 bits, base64url).
const TOKEN_CHARS: usize = 43;

/// One sign-in in progress.
#[derive(Clone, PartialEq, Eq)]
pub struct PreLogin {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// A validated same-origin path.
    pub return_to: String,
    /// Unix seconds.
    pub expires_at: u64,
}

impl std::fmt::Debug for PreLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreLogin")
            .field("return_to", &self.return_to)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl PreLogin {
    /// A new sign-in returning to `rd` (validated here) once done.
    pub fn new(rd: &str, now: u64) -> Self {
        PreLogin {
            state: random_token(),
            nonce: random_token(),
            pkce_verifier: random_token(),
            return_to: safe_return_url(rd).to_owned(),
            expires_at: now + LIFETIME.as_secs(),
        }
    }

    /// The cookie's value: `expiry.state.nonce.verifier.base64url(rd)`.
    pub fn cookie_value(&self) -> String {
        format!(
            "{}.{}.{}.{}.{}",
            self.expires_at,
            self.state,
            self.nonce,
            self.pkce_verifier,
            URL_SAFE_NO_PAD.encode(&self.return_to)
        )
    }

    /// The sign-in in `value`, if it is well-formed, unexpired and belongs
    /// to `state`.
    pub fn from_cookie(value: &str, state: &str, now: u64) -> Option<Self> {
        let mut parts = value.split('.');
        let expires_at: u64 = parts.next()?.parse().ok()?;
        let (cookie_state, nonce, verifier) = (parts.next()?, parts.next()?, parts.next()?);
        let rd = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
        let rd = String::from_utf8(rd).ok()?;
        if parts.next().is_some()
            || expires_at <= now
            || ![cookie_state, nonce, verifier].iter().all(|t| is_token(t))
            || !bool::from(cookie_state.as_bytes().ct_eq(state.as_bytes()))
        {
            return None;
        }
        Some(PreLogin {
            state: cookie_state.to_owned(),
            nonce: nonce.to_owned(),
            pkce_verifier: verifier.to_owned(),
            // Checked again: the cookie came back from the client.
            return_to: safe_return_url(&rd).to_owned(),
            expires_at,
        })
    }
}

/// The cookie's name for the sign-in with `state`, or `None` when `state`
/// cannot be one gatehouse issued.
pub fn cookie_name(session_cookie: &str, state: &str) -> Option<String> {
    is_token(state).then(|| format!("{session_cookie}-oidc-{}", &state[..NAME_STATE_CHARS]))
}

/// Shaped like [`random_token`]'s output.
fn is_token(value: &str) -> bool {
    value.len() == TOKEN_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn round_trips_through_the_cookie() {
        let pre = PreLogin::new("/wiki/page?x=1#top", NOW);
        let back = PreLogin::from_cookie(&pre.cookie_value(), &pre.state, NOW + 1).unwrap();
        assert_eq!(back, pre);
        assert_eq!(back.return_to, "/wiki/page?x=1#top");
        let name = cookie_name("__Host-gatehouse", &pre.state).unwrap();
        assert_eq!(name, format!("__Host-gatehouse-oidc-{}", &pre.state[..12]));
    }

    #[test]
    fn values_are_fresh_and_distinct() {
        let a = PreLogin::new("/", NOW);
        let b = PreLogin::new("/", NOW);
        assert_ne!(a.state, b.state);
        assert_ne!(a.state, a.nonce);
        assert_ne!(a.nonce, a.pkce_verifier);
    }

    #[test]
    fn refuses_another_state_an_expired_or_a_mangled_cookie() {
        let pre = PreLogin::new("/", NOW);
        let value = pre.cookie_value();
        let other = PreLogin::new("/", NOW).state;
        assert!(
            PreLogin::from_cookie(&value, &other, NOW).is_none(),
            "foreign state"
        );
        assert!(PreLogin::from_cookie(&value, "", NOW).is_none());
        assert!(
            PreLogin::from_cookie(&value, &pre.state, pre.expires_at).is_none(),
            "expired"
        );
        assert!(PreLogin::from_cookie(&format!("{value}.x"), &pre.state, NOW).is_none());
        assert!(PreLogin::from_cookie(&value.replacen('.', ",", 1), &pre.state, NOW).is_none());
        assert!(PreLogin::from_cookie("", &pre.state, NOW).is_none());
    }

    #[test]
    fn return_url_is_checked_both_ways() {
        assert_eq!(PreLogin::new("//evil.test/", NOW).return_to, "/");
        let mut pre = PreLogin::new("/", NOW);
        pre.return_to = "https://evil.test/".into();
        let back = PreLogin::from_cookie(&pre.cookie_value(), &pre.state, NOW).unwrap();
        assert_eq!(back.return_to, "/");
    }

    #[test]
    fn cookie_names_only_for_well_formed_states() {
        assert!(cookie_name("__Host-g", "short").is_none());
        assert!(cookie_name("__Host-g", &"é".repeat(43)).is_none());
        assert!(cookie_name("__Host-g", &"a;b=c".repeat(9)[..43]).is_none());
    }
}
