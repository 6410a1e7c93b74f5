//! Why an OpenID sign-in failed, mapped to a status and a sentence for
//! people in exactly one place. The details (which claim, which provider
//! error) go to the log, never to the page.

use http::StatusCode;

/// A sign-in at the provider that did not end in a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// The callback's `state` matches no pre-login cookie of this browser:
    /// forged, replayed, expired, or started in another browser.
    #[error("unknown or replayed state")]
    UnknownState,
    /// The provider answered the authorization request with an error
    /// (e.g. the user declined); the text is the provider's error code.
    #[error("provider refused the sign-in: {0}")]
    Refused(String),
    /// Discovery, the keys, the token or refresh endpoint could not be
    /// reached or answered nonsense within the timeout.
    #[error("provider unavailable: {0}")]
    ProviderUnavailable(String),
    /// The ID token (or the answer that carried it) failed validation:
    /// signature, `iss`, `aud`, `exp`, `nonce`, `at_hash`, or the callback's
    /// `iss` parameter.
    #[error("invalid ID token: {0}")]
    InvalidToken(String),
    /// A claim we would forward cannot be put in a header (control
    /// characters, commas in a group, …).
    #[error("unusable claim: {0}")]
    UnusableClaim(String),
    /// `allowed_email_domains` or `allowed_groups` said no.
    #[error("not allowed: {0}")]
    NotAllowed(&'static str),
    /// The session could not be stored.
    #[error("session store unavailable")]
    StoreUnavailable,
}

impl OidcError {
    /// The one mapping from error to status.
    pub fn status(&self) -> StatusCode {
        match self {
            OidcError::UnknownState => StatusCode::BAD_REQUEST,
            OidcError::Refused(_) | OidcError::UnusableClaim(_) | OidcError::NotAllowed(_) => {
                StatusCode::FORBIDDEN
            }
            OidcError::ProviderUnavailable(_) => StatusCode::BAD_GATEWAY,
            OidcError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            OidcError::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// What the person sees, above a "Try again" link.
    pub fn message(&self) -> &'static str {
        match self {
            OidcError::UnknownState => {
                "This sign-in could not be completed: it was already used, took too long, \
                 or was started in another browser."
            }
            OidcError::Refused(_) => "The identity provider did not sign you in.",
            OidcError::ProviderUnavailable(_) => {
                "The identity provider could not be reached. Please try again in a moment."
            }
            OidcError::InvalidToken(_) => {
                "The identity provider's answer could not be verified, so you were not signed in."
            }
            OidcError::UnusableClaim(_) => {
                "Your account's details cannot be passed on to this application. \
                 Please contact your administrator."
            }
            OidcError::NotAllowed(_) => "Your account is not allowed to use this application.",
            OidcError::StoreUnavailable => {
                "Sign-in is temporarily unavailable. Please try again in a moment."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_maps_to_its_status() {
        let cases = [
            (OidcError::UnknownState, 400),
            (OidcError::Refused("access_denied".into()), 403),
            (OidcError::ProviderUnavailable("timeout".into()), 502),
            (OidcError::InvalidToken("nonce".into()), 401),
            (OidcError::UnusableClaim("groups".into()), 403),
            (OidcError::NotAllowed("email domain"), 403),
            (OidcError::StoreUnavailable, 503),
        ];
        for (err, code) in cases {
            assert_eq!(err.status().as_u16(), code, "{err:?}");
            let message = err.message();
            assert!(message.ends_with('.'), "{message}");
            // The page never carries internal detail.
            for detail in ["access_denied", "timeout", "nonce", "groups", "domain"] {
                assert!(!message.contains(detail), "{message}");
            }
        }
    }
}
