//! The browser's side of an OpenID sign-in:
//!
//! - `GET /.gatehouse/login?rd=…`: a new pre-login cookie, and a 303 to the
//!   provider's authorization endpoint. After a logout
//!   (`?signed_out=1`) it shows the signed-out page instead, so that signing
//!   out does not bounce straight back into the provider.
//! - `GET {redirect_path}?code=…&state=…`: the callback. The `state` must
//!   match this browser's pre-login cookie (which is then spent), the code
//!   is redeemed with the PKCE verifier, the ID token validated against the
//!   cookie's nonce, and the claims mapped and checked; only then does a
//!   session start. Every failure is a page saying what happened, with a
//!   link to try again, and no session.

use http::header::{SET_COOKIE, USER_AGENT};
use http::{HeaderMap, Request, Response, StatusCode};
use hyper::body::Incoming;

use super::prelogin::{self, PreLogin};
use super::{OidcClient, OidcError};
use crate::auth::endpoints::{see_other, Call, LOGIN_PATH};
use crate::auth::{cookies, unix_now};
use crate::body::Body;
use crate::error::html_response;
use crate::headers::{session_cookie, CookieLookup};
use crate::metrics::Login;
use crate::pages;
use crate::return_url::DEFAULT_RETURN_URL;

/// `GET /.gatehouse/login` with the OpenID provider.
pub async fn start(call: &Call<'_>, oidc: &OidcClient, req: &Request<Incoming>) -> Response<Body> {
    let query = Query::parse(req.uri().query());
    if query.get("signed_out") == Some("1") {
        return html_response(StatusCode::OK, pages::logged_out_page(call.app_name));
    }
    let pre = PreLogin::new(query.get("rd").unwrap_or(""), unix_now());
    match oidc.authorization_url(call.host, &pre).await {
        Ok(url) => {
            let mut response = see_other(url.as_str());
            if let Some(name) = prelogin::cookie_name(call.auth.cookie_name(), &pre.state) {
                response.headers_mut().append(
                    SET_COOKIE,
                    cookies::pre_login(&name, &pre.cookie_value(), prelogin::LIFETIME),
                );
            }
            response
        }
        Err(e) => failed(call, &e, &pre.return_to),
    }
}

/// `GET {redirect_path}`: the provider sends the browser back here.
pub async fn callback(
    call: &Call<'_>,
    oidc: &OidcClient,
    req: &Request<Incoming>,
) -> Response<Body> {
    let query = Query::parse(req.uri().query());
    let state = query.get("state").unwrap_or("");
    let cookie_name = prelogin::cookie_name(call.auth.cookie_name(), state);
    let pre = cookie_name
        .as_deref()
        .and_then(|name| match session_cookie(req.headers(), name) {
            CookieLookup::One(value) => PreLogin::from_cookie(value, state, unix_now()),
            CookieLookup::Absent | CookieLookup::Ambiguous => None,
        });
    let Some(pre) = pre else {
        // Not this browser's sign-in: its own (if any) is left alone, so a
        // forged callback cannot cancel it.
        return failed(call, &OidcError::UnknownState, DEFAULT_RETURN_URL);
    };
    let mut response = match finish(call, oidc, &query, &pre, req.headers()).await {
        Ok(response) => response,
        Err(e) => failed(call, &e, &pre.return_to),
    };
    // The state is spent, whatever happened next: it works once.
    if let Some(name) = cookie_name {
        response
            .headers_mut()
            .append(SET_COOKIE, cookies::clear(&name));
    }
    response
}

/// The callback once its `state` is known to be this browser's.
async fn finish(
    call: &Call<'_>,
    oidc: &OidcClient,
    query: &Query,
    pre: &PreLogin,
    headers: &HeaderMap,
) -> Result<Response<Body>, OidcError> {
    if let Some(error) = query.get("error") {
        return Err(OidcError::Refused(error.chars().take(64).collect()));
    }
    // RFC 9207: a provider that names itself must be ours (mix-up defence).
    if query
        .get("iss")
        .is_some_and(|iss| iss != oidc.config().issuer)
    {
        return Err(OidcError::InvalidToken(
            "the callback's iss is another issuer".into(),
        ));
    }
    let code = query
        .get("code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| OidcError::Refused("no code".into()))?;
    let signed_in = oidc.sign_in(call.host, code, pre).await?;

    let auth = call.auth;
    // A new id at every login; the session the browser held before ends.
    if let Some(old) = auth.session_id(headers) {
        if let Ok(Some(record)) = auth.store().get(&old.key()).await {
            let _ = auth.store().remove(&old.key(), &record.user).await;
        }
    }
    let user_agent = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let id = auth
        .start_session(
            &signed_in.identity,
            call.peer,
            user_agent,
            Some(signed_in.tokens),
        )
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "session store call failed");
            OidcError::StoreUnavailable
        })?;
    tracing::info!(user = %signed_in.identity.user, client = %call.peer.ip(), "login (oidc)");
    auth.metrics().login(Login::Ok);
    let mut response = see_other(&pre.return_to);
    response.headers_mut().append(
        SET_COOKIE,
        cookies::session(auth.cookie_name(), &id.cookie_value()),
    );
    Ok(response)
}

/// The page for a failed sign-in, with a link that starts a new one
/// returning to the same place.
fn failed(call: &Call<'_>, e: &OidcError, return_to: &str) -> Response<Body> {
    match e {
        OidcError::ProviderUnavailable(_) | OidcError::StoreUnavailable => {
            tracing::warn!(client = %call.peer.ip(), error = %e, "oidc sign-in failed")
        }
        _ => tracing::info!(client = %call.peer.ip(), error = %e, "oidc sign-in refused"),
    }
    call.auth.metrics().login(Login::Failed);
    let rd: String = form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
    let retry = format!("{LOGIN_PATH}?rd={rd}");
    html_response(
        e.status(),
        pages::sign_in_failed_page(call.app_name, e.status(), e.message(), &retry),
    )
}

/// A query string's parameters; the first of a repeated name wins.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: Option<&str>) -> Self {
        Query(
            query
                .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}
