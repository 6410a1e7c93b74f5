//! The proxy's own endpoints under `/.gatehouse/` (SPEC §4): the login
//! form and its post, logout, and whoami. With an OpenID provider, the
//! login page starts a sign-in there and the callback finishes it
//! ([`super::oidc::endpoints`]).

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{
    HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, SET_COOKIE, USER_AGENT,
};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::oidc::endpoints as oidc;
use super::{cookies, csrf, Authenticator, Provider};
use crate::body::{empty, full, Body};
use crate::error::{html_response, ProxyError};
use crate::headers::{session_cookie, CookieLookup};
use crate::metrics::Login;
use crate::pages::{self, LoginView};
use crate::proxy::Identity;
use crate::return_url::safe_return_url;
use crate::session::random_token;

/// The login page's path.
pub const LOGIN_PATH: &str = "/.gatehouse/login";
const LOGOUT_PATH: &str = "/.gatehouse/logout";
const WHOAMI_PATH: &str = "/.gatehouse/whoami";

/// Largest login form accepted; larger is refused before any hashing.
const MAX_LOGIN_BODY: usize = 8 * 1024;
/// Longest user name looked up (longer ones cannot exist in users.toml).
const MAX_USERNAME: usize = 256;

const WRONG_CREDENTIALS: &str = "Incorrect username or password.";
const FORM_EXPIRED: &str = "The sign-in form expired. Please try again.";
const SIGNED_OUT: &str = "You have signed out.";

/// The request facts every endpoint needs.
pub struct Call<'a> {
    pub auth: &'a Authenticator,
    pub app_name: &'a str,
    /// The host the client asked for (with port), for the same-origin check.
    pub host: &'a str,
    pub peer: SocketAddr,
}

/// Answers a request for a reserved path.
pub async fn handle(
    call: Call<'_>,
    path: &str,
    req: Request<Incoming>,
) -> Result<Response<Body>, ProxyError> {
    if let Provider::Oidc(provider) = call.auth.provider() {
        let provider = provider.clone();
        match (path, req.method()) {
            (LOGIN_PATH, &Method::GET | &Method::HEAD) => {
                return Ok(oidc::start(&call, &provider, &req).await)
            }
            // Passwords are the provider's business.
            (LOGIN_PATH, _) => return Err(ProxyError::MethodNotAllowed),
            (p, &Method::GET) if p == provider.config().redirect_path => {
                return Ok(oidc::callback(&call, &provider, &req).await)
            }
            (p, _) if p == provider.config().redirect_path => {
                return Err(ProxyError::MethodNotAllowed)
            }
            _ => {}
        }
    }
    match (path, req.method()) {
        (LOGIN_PATH, &Method::GET | &Method::HEAD) => Ok(login_form(&call, &req)),
        (LOGIN_PATH, &Method::POST) => login(&call, req).await,
        (LOGOUT_PATH, &Method::POST) => logout(&call, req).await,
        (WHOAMI_PATH, &Method::GET | &Method::HEAD) => whoami(&call, req.headers()).await,
        (LOGIN_PATH | LOGOUT_PATH | WHOAMI_PATH, _) => Err(ProxyError::MethodNotAllowed),
        _ => Err(ProxyError::NoRoute),
    }
}

/// Where a browser without a session is sent: the login page, remembering
/// the path and query it asked for.
pub fn login_redirect(path_and_query: &str) -> Response<Body> {
    let rd: String = form_urlencoded::byte_serialize(path_and_query.as_bytes()).collect();
    see_other(&format!("{LOGIN_PATH}?rd={rd}"))
}

/// `GET /.gatehouse/login?rd=…`: the form, with a fresh CSRF token.
fn login_form(call: &Call<'_>, req: &Request<Incoming>) -> Response<Body> {
    let query = req.uri().query();
    let param = |name: &str| {
        query.and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        })
    };
    let rd = param("rd").unwrap_or_default();
    // Where `logout` sends people: the form, saying what just happened.
    let notice = (param("signed_out").as_deref() == Some("1")).then_some(SIGNED_OUT);
    let token = current_csrf_token(call, req.headers());
    form_page(
        call,
        StatusCode::OK,
        token,
        notice,
        None,
        "",
        safe_return_url(&rd),
    )
}

/// The browser's CSRF token when it already has a well-formed one, so that
/// every login form open in its tabs stays valid.
fn current_csrf_token<'h>(call: &Call<'_>, headers: &'h HeaderMap) -> Option<&'h str> {
    match session_cookie(headers, &csrf_cookie_name(call.auth)) {
        CookieLookup::One(value) if csrf::is_token(value) => Some(value),
        _ => None,
    }
}

/// The login form, with the browser's token (`token`) or a new one, in
/// both the page and the cookie.
fn form_page(
    call: &Call<'_>,
    status: StatusCode,
    token: Option<&str>,
    notice: Option<&str>,
    error: Option<&str>,
    username: &str,
    return_to: &str,
) -> Response<Body> {
    let token = token.map_or_else(random_token, str::to_owned);
    let page = pages::login_page(
        call.app_name,
        &LoginView {
            error,
            notice,
            username,
            return_to,
            csrf_token: &token,
        },
    );
    let mut response = html_response(status, page);
    response.headers_mut().append(
        SET_COOKIE,
        cookies::csrf(&csrf_cookie_name(call.auth), &token),
    );
    response
}

/// `POST /.gatehouse/login`.
async fn login(call: &Call<'_>, req: Request<Incoming>) -> Result<Response<Body>, ProxyError> {
    if csrf::is_cross_site(req.headers(), call.host) {
        return Err(ProxyError::CrossSite);
    }
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_LOGIN_BODY as u64) {
        return Err(ProxyError::BodyTooLarge);
    }
    let body = Limited::new(body, MAX_LOGIN_BODY)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ProxyError::BodyTooLarge
            } else {
                ProxyError::BadRequest("login body")
            }
        })?
        .to_bytes();
    let form = LoginForm::parse(&body);
    let return_to = safe_return_url(&form.rd).to_owned();

    let csrf_cookie = match session_cookie(&parts.headers, &csrf_cookie_name(call.auth)) {
        CookieLookup::One(value) => Some(value),
        _ => None,
    };
    if !csrf::token_matches(csrf_cookie, Some(&form.csrf)) {
        return Ok(form_page(
            call,
            StatusCode::FORBIDDEN,
            None,
            None,
            Some(FORM_EXPIRED),
            &form.username,
            &return_to,
        ));
    }

    let auth = call.auth;
    let store = auth.store();
    let limits = auth.login_config();
    let user_scope = format!("u:{}", form.username);
    let addr_scope = format!("a:{}", call.peer.ip());
    let (user_failures, user_wait) = store.failures(&user_scope).await.map_err(store_down)?;
    let (addr_failures, addr_wait) = store.failures(&addr_scope).await.map_err(store_down)?;
    if user_failures >= limits.max_failures || addr_failures >= limits.max_failures {
        tracing::info!(client = %call.peer.ip(), "login refused: too many failures");
        auth.metrics().login(Login::LockedOut);
        return Err(ProxyError::LockedOut {
            retry_after: user_wait.max(addr_wait),
        });
    }

    let users = auth.users_handle().ok_or(ProxyError::MethodNotAllowed)?;
    let user = if form.username.len() <= MAX_USERNAME {
        let (name, password) = (form.username.clone(), form.password.clone());
        tokio::task::spawn_blocking(move || users.verify(&name, &password))
            .await
            .map_err(|_| ProxyError::StoreUnavailable)?
    } else {
        None
    };
    let Some(user) = user else {
        store
            .record_failure(&user_scope, limits.lockout)
            .await
            .map_err(store_down)?;
        store
            .record_failure(&addr_scope, limits.lockout)
            .await
            .map_err(store_down)?;
        tracing::info!(client = %call.peer.ip(), "login failed");
        auth.metrics().login(Login::Failed);
        return Ok(form_page(
            call,
            StatusCode::OK,
            csrf_cookie,
            None,
            Some(WRONG_CREDENTIALS),
            &form.username,
            &return_to,
        ));
    };

    store
        .clear_failures(&user_scope)
        .await
        .map_err(store_down)?;
    // A new id at every login; the session the browser held before (if
    // any) ends, so a planted cookie can never become a logged-in one.
    if let Some(old) = auth.session_id(&parts.headers) {
        let _ = store.remove(&old.key(), &user.name).await;
    }
    let identity = Identity {
        user: user.name.clone(),
        email: user.email.clone(),
        groups: user.groups.clone(),
    };
    let user_agent = parts
        .headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let id = auth
        .start_session(&identity, call.peer, user_agent, None)
        .await
        .map_err(store_down)?;
    tracing::info!(user = %identity.user, client = %call.peer.ip(), "login");
    auth.metrics().login(Login::Ok);
    let mut response = see_other(&return_to);
    let headers = response.headers_mut();
    headers.append(
        SET_COOKIE,
        cookies::session(auth.cookie_name(), &id.cookie_value()),
    );
    headers.append(SET_COOKIE, cookies::clear(&csrf_cookie_name(auth)));
    Ok(response)
}

/// `POST /.gatehouse/logout[?everywhere=1]`.
async fn logout(call: &Call<'_>, req: Request<Incoming>) -> Result<Response<Body>, ProxyError> {
    if csrf::is_cross_site(req.headers(), call.host) {
        return Err(ProxyError::CrossSite);
    }
    let everywhere = req.uri().query().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "everywhere" && v == "1")
    });
    let auth = call.auth;
    let signed_out = format!("{LOGIN_PATH}?signed_out=1");
    let mut next = None;
    if let Some(id) = auth.session_id(req.headers()) {
        let key = id.key();
        let store = auth.store();
        if let Some(record) = store.get(&key).await.map_err(store_down)? {
            if everywhere {
                store.remove_user(&record.user).await.map_err(store_down)?;
            } else {
                store.remove(&key, &record.user).await.map_err(store_down)?;
            }
            tracing::info!(user = %record.user, everywhere, "logout");
            // RP-initiated logout: the provider ends its own session too,
            // then sends the browser back to the signed-out page.
            if let (Provider::Oidc(provider), Some(tokens)) = (auth.provider(), &record.tokens) {
                let back = format!("https://{}{signed_out}", call.host);
                next = provider.end_session_url(tokens, &back).await;
            }
        }
    }
    let mut response = match next {
        Some(url) => see_other(url.as_str()),
        None => see_other(&signed_out),
    };
    response
        .headers_mut()
        .append(SET_COOKIE, cookies::clear(auth.cookie_name()));
    Ok(response)
}

/// `GET /.gatehouse/whoami`: the current user as JSON, or 401.
async fn whoami(call: &Call<'_>, headers: &HeaderMap) -> Result<Response<Body>, ProxyError> {
    let resolved = call
        .auth
        .resolve(headers)
        .await
        .map_err(store_down)?
        .ok_or(ProxyError::Unauthenticated)?;
    let json = serde_json::json!({
        "user": resolved.identity.user,
        "email": resolved.identity.email,
        "groups": resolved.identity.groups,
        "created": resolved.record.created,
        "expires": resolved.record.absolute_expiry,
    });
    let mut response = Response::new(full(Bytes::from(json.to_string())));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The fields of a login post; missing ones are empty.
struct LoginForm {
    username: String,
    password: String,
    rd: String,
    csrf: String,
}

impl LoginForm {
    fn parse(body: &[u8]) -> Self {
        let mut form = LoginForm {
            username: String::new(),
            password: String::new(),
            rd: String::new(),
            csrf: String::new(),
        };
        for (key, value) in form_urlencoded::parse(body) {
            let slot = match key.as_ref() {
                "username" => &mut form.username,
                "password" => &mut form.password,
                "rd" => &mut form.rd,
                "csrf" => &mut form.csrf,
                _ => continue,
            };
            // The first value wins; a repeated field cannot override it.
            if slot.is_empty() {
                *slot = value.into_owned();
            }
        }
        form
    }
}

fn csrf_cookie_name(auth: &Authenticator) -> String {
    format!("{}-csrf", auth.cookie_name())
}

fn store_down(e: crate::store::StoreError) -> ProxyError {
    tracing::warn!(error = %e, "session store call failed");
    ProxyError::StoreUnavailable
}

/// A 303 to a same-origin path (already validated by the caller), or to
/// the OpenID provider.
pub(crate) fn see_other(location: &str) -> Response<Body> {
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::SEE_OTHER;
    let location =
        HeaderValue::try_from(location).unwrap_or_else(|_| HeaderValue::from_static("/"));
    let headers = response.headers_mut();
    headers.insert(LOCATION, location);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
