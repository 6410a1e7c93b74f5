//! The browser side of signing in, done by hand so tests see every byte:
//! fetch the form (CSRF token in the page and in a cookie), post it, read
//! `Set-Cookie`, send `Cookie`. Also the store a behaviour runs against
//! ([`TestStore`], [`on_both_stores!`]) and polling to a deadline.
#![allow(dead_code)]

use std::time::Duration;

use reqwest::header::{ACCEPT, COOKIE, SET_COOKIE};
use reqwest::{Client, RequestBuilder, Response, StatusCode};

use super::gatehouse::{Builder, Gatehouse};
use super::poll::eventually;
use super::redis::RedisServer;

pub const LOGIN: &str = "/.gatehouse/login";
pub const LOGOUT: &str = "/.gatehouse/logout";
pub const WHOAMI: &str = "/.gatehouse/whoami";
pub const SESSION_COOKIE: &str = "__Host-gatehouse";
pub const CSRF_COOKIE: &str = "__Host-gatehouse-csrf";

/// The session store a behaviour runs against: the embedded one, or a
/// private `redis-server` that lives as long as this value.
pub struct TestStore {
    pub redis: Option<RedisServer>,
}

impl TestStore {
    pub fn memory() -> Self {
        TestStore { redis: None }
    }

    pub fn redis() -> Self {
        TestStore {
            redis: Some(RedisServer::start()),
        }
    }

    pub fn url(&self) -> String {
        self.redis
            .as_ref()
            .map_or_else(|| "memory://".to_owned(), RedisServer::url)
    }

    pub fn redis_server(&self) -> &RedisServer {
        self.redis.as_ref().expect("a Redis-backed test")
    }
}

/// Runs each behaviour `async fn b(store: TestStore)` as two tests, one on
/// `memory://` and one on a real Redis:
/// `on_both_stores! { b => b_memory, b_redis; }`.
#[macro_export]
macro_rules! on_both_stores {
    ($($behaviour:ident => $memory:ident, $redis:ident;)*) => {$(
        #[tokio::test]
        async fn $memory() {
            $behaviour($crate::common::login::TestStore::memory()).await
        }
        #[tokio::test]
        async fn $redis() {
            $behaviour($crate::common::login::TestStore::redis()).await
        }
    )*};
}

/// Starts gatehouse and waits until `/readyz` says its store answers (a
/// Redis store connects in the background).
pub async fn start_ready(builder: Builder) -> Gatehouse {
    let g = builder.start().await;
    wait_ready(&g).await;
    g
}

/// Polls the admin listener's `/readyz` until 200.
pub async fn wait_ready(g: &Gatehouse) {
    eventually("gatehouse is ready", || async {
        readyz(g).await == StatusCode::OK
    })
    .await;
}

/// The status of `GET /readyz` on the admin listener (plain HTTP).
pub async fn readyz(g: &Gatehouse) -> StatusCode {
    Client::new()
        .get(format!("http://{}/readyz", g.admin))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("admin listener answers")
        .status()
}

/// Fetches the login form and returns its CSRF token, checking that the
/// page's hidden input and the cookie carry the same one.
pub async fn csrf_token(client: &Client, g: &Gatehouse) -> String {
    csrf_token_at(client, &g.url(LOGIN)).await
}

/// [`csrf_token`] from the login form at `login_url`.
pub async fn csrf_token_at(client: &Client, login_url: &str) -> String {
    let resp = client.get(login_url).send().await.expect("login form");
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = cookie_set(&resp, CSRF_COOKIE).expect("the form sets a CSRF cookie");
    let page = resp.text().await.unwrap();
    let token = hidden_input(&page, "csrf").expect("the form has a csrf input");
    assert_eq!(cookie, token, "double-submit: page and cookie agree");
    token
}

/// The value of `<input type="hidden" name="NAME" value="…">` in `page`.
pub fn hidden_input(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    let len = page[start..].find('"')?;
    Some(page[start..start + len].to_owned())
}

/// Posts the login form as a browser would (token in field and cookie).
pub async fn login(
    client: &Client,
    g: &Gatehouse,
    user: &str,
    password: &str,
    rd: &str,
) -> Response {
    let token = csrf_token(client, g).await;
    login_post(client, &g.url(LOGIN), &token, user, password, rd)
        .send()
        .await
        .expect("login post")
}

/// The login form's POST to `login_url` as a browser builds it: `token` in
/// the `csrf` field and in its cookie. Add headers before sending it.
pub fn login_post(
    client: &Client,
    login_url: &str,
    token: &str,
    user: &str,
    password: &str,
    rd: &str,
) -> RequestBuilder {
    client
        .post(login_url)
        .header(COOKIE, format!("{CSRF_COOKIE}={token}"))
        .form(&[
            ("username", user),
            ("password", password),
            ("rd", rd),
            ("csrf", token),
        ])
}

/// Logs `user` in with the harness password and returns the session id.
pub async fn login_ok(client: &Client, g: &Gatehouse, user: &str) -> String {
    let resp = login(client, g, user, super::gatehouse::PASSWORD, "/").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "login of {user}");
    cookie_set(&resp, SESSION_COOKIE).expect("login sets the session cookie")
}

/// Every `Set-Cookie` value of a response.
pub fn set_cookies(resp: &Response) -> Vec<String> {
    resp.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ASCII Set-Cookie").to_owned())
        .collect()
}

/// The non-empty value a response sets for cookie `name`, if any.
pub fn cookie_set(resp: &Response, name: &str) -> Option<String> {
    set_cookies(resp).iter().find_map(|c| {
        let value = c.strip_prefix(name)?.strip_prefix('=')?;
        let value = value.split(';').next().unwrap_or("");
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// `Cookie` header value carrying session id `id`.
pub fn session(id: &str) -> String {
    format!("{SESSION_COOKIE}={id}")
}

/// `GET /.gatehouse/whoami` with session id `id`: the status.
pub async fn whoami(client: &Client, g: &Gatehouse, id: &str) -> StatusCode {
    client
        .get(g.url(WHOAMI))
        .header(COOKIE, session(id))
        .send()
        .await
        .expect("whoami")
        .status()
}

/// `GET path` as an API client (`Accept: application/json`) with session `id`.
pub async fn api_get(client: &Client, g: &Gatehouse, path: &str, id: &str) -> Response {
    client
        .get(g.url(path))
        .header(ACCEPT, "application/json")
        .header(COOKIE, session(id))
        .send()
        .await
        .expect("GET through the proxy")
}

/// `POST /.gatehouse/logout[?query]` with session id `id`.
pub async fn logout(client: &Client, g: &Gatehouse, id: &str, query: &str) -> Response {
    client
        .post(g.url(&format!("{LOGOUT}{query}")))
        .header(COOKIE, session(id))
        .send()
        .await
        .expect("logout")
}
