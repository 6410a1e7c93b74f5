//! The `Set-Cookie` values gatehouse sends: the session cookie and the
//! login form's CSRF cookie. Pure: no I/O.

use cookie::{time, Cookie, SameSite};
use http::HeaderValue;

/// The session cookie (SPEC §4): `__Host-` name, `Secure`, `HttpOnly`,
/// `SameSite=Lax`, `Path=/`, no `Domain`, no `Expires` (ends with the
/// browser session; the store decides its real lifetime).
pub fn session(name: &str, value: &str) -> HeaderValue {
    let cookie = Cookie::build((name, value))
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .build();
    to_header(&cookie)
}

/// Clears a cookie set by [`session`] or [`csrf`] (`Max-Age=0`).
pub fn clear(name: &str) -> HeaderValue {
    let cookie = Cookie::build((name, ""))
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(time::Duration::ZERO)
        .build();
    to_header(&cookie)
}

/// The login form's double-submit token. `SameSite=Strict`: it is only ever
/// needed by the proxy's own form posting to itself.
pub fn csrf(name: &str, value: &str) -> HeaderValue {
    let cookie = Cookie::build((name, value))
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .build();
    to_header(&cookie)
}

/// A sign-in at the OpenID provider in progress (see
/// [`super::oidc::prelogin`]). `SameSite=Lax`, not `Strict`: it must come
/// back on the provider's top-level redirect to the callback. It expires
/// by itself after `max_age`.
pub fn pre_login(name: &str, value: &str, max_age: std::time::Duration) -> HeaderValue {
    let cookie = Cookie::build((name, value))
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(time::Duration::seconds(
            i64::try_from(max_age.as_secs()).unwrap_or(600),
        ))
        .build();
    to_header(&cookie)
}

fn to_header(cookie: &Cookie<'_>) -> HeaderValue {
    // Names come from validated config and values are base64url, so this
    // cannot fail; fall back to a harmless value rather than panic.
    HeaderValue::try_from(cookie.to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("x=; Max-Age=0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookie_has_every_required_attribute() {
        let v = session("__Host-gatehouse", "abc")
            .to_str()
            .unwrap()
            .to_owned();
        assert!(v.starts_with("__Host-gatehouse=abc"));
        for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(v.split("; ").any(|a| a == attr), "{attr} missing in {v}");
        }
        assert!(!v.contains("Domain") && !v.contains("Expires") && !v.contains("Max-Age"));
    }

    #[test]
    fn clearing_sets_max_age_zero() {
        let v = clear("__Host-gatehouse").to_str().unwrap().to_owned();
        assert!(v.starts_with("__Host-gatehouse=;"));
        assert!(v.contains("Max-Age=0") && v.contains("Secure") && v.contains("Path=/"));
    }

    #[test]
    fn pre_login_cookie_is_lax_and_short_lived() {
        let v = pre_login("__Host-g-oidc-x", "v", std::time::Duration::from_secs(600));
        let v = v.to_str().unwrap();
        for attr in [
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=600",
        ] {
            assert!(v.split("; ").any(|a| a == attr), "{attr} missing in {v}");
        }
        assert!(!v.contains("Domain"));
    }

    #[test]
    fn csrf_cookie_is_strict() {
        let v = csrf("__Host-gatehouse-csrf", "t")
            .to_str()
            .unwrap()
            .to_owned();
        assert!(v.contains("SameSite=Strict") && v.contains("HttpOnly"));
    }
}
