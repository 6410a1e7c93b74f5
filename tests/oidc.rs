//! Signing in with OpenID Connect (`[login] provider = "oidc"`), against a
//! real, certified OpenID provider (`oidc-provider` on Node.js, see
//! `tests/oidc/`), with a real HTTP client that follows redirects and fills
//! in the provider's login and consent forms.
//!
//! Covered: the whole flow and the identity forwarded from the ID token's
//! claims; the return URL across the round trip; a tampered, foreign or
//! replayed `state`; an ID token with a wrong `nonce`, `iss` or `aud`,
//! expired, unsigned or badly signed; claims that would break a header;
//! `allowed_email_domains` and `allowed_groups`; a provider that is down;
//! refresh (one refresh for concurrent requests; a failed refresh ends the
//! session); logout, locally and at the provider.

#[allow(dead_code)] // not every helper of the shared harness is used here
mod common;

use std::time::Duration;

use reqwest::header::{ACCEPT, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::json;

use common::backend::Backend;
use common::client::https_client;
use common::gatehouse::{self, Gatehouse};
use common::login::{session, SESSION_COOKIE, WHOAMI};
use common::oidc::{Browser, OidcProvider, ProviderConfig, CLIENT_ID, CLIENT_SECRET};
use common::poll::eventually;

/// A backend behind gatehouse (with an OpenID provider), and the provider.
struct Setup {
    backend: Backend,
    g: Gatehouse,
    provider: OidcProvider,
}

/// Starts a backend on `/` (required), gatehouse signing in at a new
/// provider, with `extra` lines in `[login]`, and the provider.
async fn setup(extra: &str, provider: ProviderConfig) -> Setup {
    setup_on("memory://", extra, provider).await
}

async fn setup_on(store: &str, extra: &str, provider: ProviderConfig) -> Setup {
    let backend = Backend::start().await;
    let port = OidcProvider::reserve_port();
    let login = format!(
        "[login]\nprovider = \"oidc\"\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\n\
         client_secret = \"{CLIENT_SECRET}\"\nscopes = [\"email\", \"profile\", \"groups\"]\n\
         provider_timeout = \"2s\"\n{extra}\n",
        OidcProvider::issuer_on(port)
    );
    let g = gatehouse::builder()
        .store(store)
        .section(&login)
        .route(gatehouse::route("/", &backend.url(), "required"))
        .start()
        .await;
    common::login::wait_ready(&g).await;
    let provider = OidcProvider::start(port, &g, provider);
    Setup {
        backend,
        g,
        provider,
    }
}

/// The session cookie a response sets, if any.
fn session_set(resp: &Response) -> Option<String> {
    resp.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let value = v.strip_prefix(&format!("{SESSION_COOKIE}="))?;
        let value = value.split(';').next()?;
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// The browser's session id for gatehouse, from its cookie jar.
fn browser_session(browser: &Browser, g: &Gatehouse) -> Option<String> {
    use reqwest::cookie::CookieStore;
    let url = g.url("/").parse().unwrap();
    let cookies = browser.jar.cookies(&url)?;
    cookies.to_str().ok()?.split("; ").find_map(|c| {
        c.strip_prefix(&format!("{SESSION_COOKIE}="))
            .map(str::to_owned)
    })
}

/// Waits until the provider has printed `n` events named `event` (its
/// output is read on another thread), then checks it printed no more.
async fn settled(s: &Setup, event: &str, n: usize) {
    eventually(&format!("{n} {event} events"), || async {
        s.provider.events(event).len() >= n
    })
    .await;
    let seen = s.provider.events(event).len();
    assert_eq!(seen, n, "{event} events: {}", s.provider.log());
}

/// Asserts `page` is gatehouse's sign-in failure page with `status`, a
/// "Try again" link, and no session for the browser.
async fn assert_sign_in_failed(page: Response, status: StatusCode, browser: &Browser, s: &Setup) {
    assert_eq!(page.status(), status, "at {}", page.url());
    assert_eq!(page.url().path(), "/.gatehouse/callback");
    assert!(session_set(&page).is_none(), "no session cookie");
    let html = page.text().await.unwrap();
    assert!(html.contains("<h1>Sign-in failed</h1>"), "{html}");
    assert!(
        html.contains("href=\"/.gatehouse/login?rd="),
        "a link to try again: {html}"
    );
    assert!(browser_session(browser, &s.g).is_none(), "no session");
    assert!(s.backend.seen().is_empty(), "nothing forwarded");
}

#[tokio::test]
async fn signs_in_at_the_provider_and_forwards_the_identity() {
    let s = setup("", ProviderConfig::default()).await;
    let browser = Browser::new(&s.g);

    let page = browser
        .sign_in(&s.g.url("/wiki/page?x=1&y=2"), "alice")
        .await;
    assert_eq!(page.status(), StatusCode::OK, "at {}", page.url());
    assert_eq!(
        page.url().host_str(),
        Some("localhost"),
        "back at gatehouse"
    );
    assert_eq!(page.url().path(), "/wiki/page", "the return URL survived");
    assert_eq!(page.url().query(), Some("x=1&y=2"));

    let seen = s.backend.seen();
    let request = seen.last().expect("forwarded");
    assert_eq!(request.header_str("x-forwarded-user"), Some("alice"));
    assert_eq!(
        request.header_str("x-forwarded-email"),
        Some("alice@example.com")
    );
    assert_eq!(request.header_str("x-forwarded-groups"), Some("staff"));
    let cookie = request.header_str("cookie").unwrap_or("");
    assert!(!cookie.contains(SESSION_COOKIE), "{cookie}");

    // The cookie holds a session id, nothing else; tokens stay server-side.
    let id = browser_session(&browser, &s.g).expect("a session cookie");
    assert_eq!(id.len(), 43, "{id}");
    settled(&s, "grant", 1).await;
    assert_eq!(s.provider.grants("authorization_code"), 1);
    let whoami: serde_json::Value = https_client(s.g.https)
        .get(s.g.url(WHOAMI))
        .header(COOKIE, session(&id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(whoami["user"], "alice");
    assert_eq!(whoami["groups"], json!(["staff"]));
    assert!(!whoami.to_string().contains("eyJ"), "no token: {whoami}");

    // `sub` stands in when the token has no preferred_username.
    let carol = Browser::new(&s.g);
    let page = carol.sign_in(&s.g.url("/"), "carol").await;
    assert_eq!(page.status(), StatusCode::OK);
    let seen = s.backend.seen();
    assert_eq!(
        seen.last().unwrap().header_str("x-forwarded-user"),
        Some("carol")
    );
}

#[tokio::test]
async fn the_login_page_redirects_to_the_provider_with_pkce_state_and_nonce() {
    let s = setup("", ProviderConfig::default()).await;
    let client = https_client(s.g.https);
    let resp = client
        .get(s.g.url("/.gatehouse/login?rd=%2F%2Fevil.test%2F"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let location = resp.headers()[LOCATION].to_str().unwrap().to_owned();
    let url = reqwest::Url::parse(&location).unwrap();
    assert_eq!(url.origin().ascii_serialization(), s.provider.issuer());
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("response_type").as_deref(), Some("code"));
    assert_eq!(param("client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert!(param("code_challenge").is_some_and(|c| c.len() == 43));
    assert!(param("nonce").is_some_and(|n| n.len() == 43));
    let state = param("state").expect("a state");
    assert_eq!(param("redirect_uri"), Some(s.g.url("/.gatehouse/callback")));
    assert!(param("scope").unwrap().split(' ').any(|s| s == "openid"));
    // The pre-login cookie: named after the state, short-lived, Lax.
    let cookie = resp
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{SESSION_COOKIE}-oidc-{}=", &state[..12])))
        .expect("pre-login cookie");
    for attr in [
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=600",
    ] {
        assert!(cookie.split("; ").any(|a| a == attr), "{attr}: {cookie}");
    }

    // An unsafe return URL does not survive: the user lands on `/`.
    let browser = Browser::new(&s.g);
    let page = browser
        .sign_in(&s.g.url("/.gatehouse/login?rd=%2F%2Fevil.test%2F"), "alice")
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.url().as_str(), s.g.url("/"));
}

/// A browser that stops before gatehouse's callback, so a test can look
/// at (and tamper with) the provider's answer: returns the callback URL.
async fn callback_url(s: &Setup, account: &str) -> (Browser, reqwest::Url) {
    let browser = Browser::stopping_at_callback(&s.g);
    let page = browser.sign_in(&s.g.url("/secret"), account).await;
    assert_eq!(page.status(), StatusCode::SEE_OTHER, "at {}", page.url());
    let location = page.headers()[LOCATION].to_str().unwrap();
    let url = reqwest::Url::parse(location).unwrap();
    assert_eq!(url.path(), "/.gatehouse/callback");
    (browser, url)
}

fn with_param(url: &reqwest::Url, name: &str, value: &str) -> reqwest::Url {
    let mut url = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url
}

#[tokio::test]
async fn a_tampered_foreign_or_replayed_state_is_refused() {
    let s = setup("", ProviderConfig::default()).await;

    // Tampered: another state than the one this browser's sign-in holds.
    let (browser, url) = callback_url(&s, "alice").await;
    let state = url.query_pairs().find(|(k, _)| k == "state").unwrap().1;
    let mut tampered = state.to_string();
    tampered.replace_range(20..21, if &state[20..21] == "A" { "B" } else { "A" });
    let page = browser
        .get(with_param(&url, "state", &tampered).as_str())
        .await;
    assert_sign_in_failed(page, StatusCode::BAD_REQUEST, &browser, &s).await;

    // Foreign: the right callback, in a browser that did not start it.
    let stranger = Browser::new(&s.g);
    let page = stranger.get(url.as_str()).await;
    assert_sign_in_failed(page, StatusCode::BAD_REQUEST, &stranger, &s).await;

    // The real one still works once …
    let page = browser.get(url.as_str()).await;
    assert_eq!(page.status(), StatusCode::OK, "at {}", page.url());
    assert_eq!(page.url().path(), "/secret");
    assert!(browser_session(&browser, &s.g).is_some());
    // … and never again: the pre-login cookie is spent.
    let replay = Browser::stopping_at_callback(&s.g);
    let page = replay.get(url.as_str()).await;
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    let page = browser.get(url.as_str()).await;
    assert_eq!(page.status(), StatusCode::BAD_REQUEST, "replayed");
    settled(&s, "grant", 1).await;
    assert_eq!(s.provider.grants("authorization_code"), 1);
}

#[tokio::test]
async fn a_forged_or_misissued_id_token_is_refused() {
    let s = setup("", ProviderConfig::default()).await;
    let modes = [
        ("wrong_nonce", StatusCode::UNAUTHORIZED),
        ("wrong_iss", StatusCode::UNAUTHORIZED),
        ("wrong_aud", StatusCode::UNAUTHORIZED),
        ("expired", StatusCode::UNAUTHORIZED),
        ("alg_none", StatusCode::UNAUTHORIZED),
        ("bad_signature", StatusCode::UNAUTHORIZED),
        ("header_breaking_name", StatusCode::FORBIDDEN),
    ];
    for (mode, status) in modes {
        s.provider.misbehave(mode).await;
        let browser = Browser::new(&s.g);
        let page = browser.sign_in(&s.g.url("/"), "alice").await;
        assert_eq!(page.status(), status, "{mode}");
        assert_sign_in_failed(page, status, &browser, &s).await;
    }
    settled(&s, "tampered", modes.len()).await;
    // And the provider behaving again: sign-in works.
    s.provider.misbehave("").await;
    let page = Browser::new(&s.g).sign_in(&s.g.url("/"), "alice").await;
    assert_eq!(page.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_forged_issuer_in_the_callback_is_refused() {
    let s = setup("", ProviderConfig::default()).await;
    let (browser, url) = callback_url(&s, "alice").await;
    assert!(url.query_pairs().any(|(k, _)| k == "iss"), "RFC 9207 iss");
    let page = browser
        .get(with_param(&url, "iss", "https://evil.test").as_str())
        .await;
    assert_sign_in_failed(page, StatusCode::UNAUTHORIZED, &browser, &s).await;
}

#[tokio::test]
async fn allowed_email_domains_and_groups_are_enforced() {
    let s = setup(
        "allowed_email_domains = [\"example.com\"]\nallowed_groups = [\"staff\"]",
        ProviderConfig::default(),
    )
    .await;
    // bob: wrong domain; carol: right domain, no groups.
    for account in ["bob", "carol"] {
        let browser = Browser::new(&s.g);
        let page = browser.sign_in(&s.g.url("/"), account).await;
        assert_sign_in_failed(page, StatusCode::FORBIDDEN, &browser, &s).await;
    }
    let page = Browser::new(&s.g).sign_in(&s.g.url("/"), "alice").await;
    assert_eq!(page.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_provider_that_is_down_gets_a_page_to_try_again() {
    let mut s = setup("", ProviderConfig::default()).await;
    s.provider.kill();
    let browser = Browser::new(&s.g);
    let page = browser.get(&s.g.url("/docs")).await;
    assert_eq!(page.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(page.url().path(), "/.gatehouse/login");
    let html = page.text().await.unwrap();
    assert!(html.contains("could not be reached"), "{html}");
    assert!(
        html.contains("href=\"/.gatehouse/login?rd=%2Fdocs\">Try again</a>"),
        "{html}"
    );
    assert!(s.backend.seen().is_empty());
    // API clients get 401, as without a provider.
    let resp = https_client(s.g.https)
        .get(s.g.url("/docs"))
        .header(ACCEPT, "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_provider_going_down_mid_sign_in_is_a_clear_failure() {
    let mut s = setup("", ProviderConfig::default()).await;
    let (browser, url) = callback_url(&s, "alice").await;
    s.provider.kill();
    let page = browser.get(url.as_str()).await;
    assert_sign_in_failed(page, StatusCode::BAD_GATEWAY, &browser, &s).await;
}

/// The access token lives 4 s, so a refresh is due 2 s after sign-in.
fn short_tokens() -> ProviderConfig {
    ProviderConfig {
        access_token_ttl: 4,
        ..ProviderConfig::default()
    }
}

async fn api_status(s: &Setup, id: &str) -> StatusCode {
    https_client(s.g.https)
        .get(s.g.url("/api"))
        .header(ACCEPT, "application/json")
        .header(COOKIE, session(id))
        .send()
        .await
        .expect("request")
        .status()
}

async fn refresh_renews_once_for_concurrent_requests(store: &str) {
    let s = setup_on(store, "", short_tokens()).await;
    let browser = Browser::new(&s.g);
    assert_eq!(
        browser.sign_in(&s.g.url("/"), "alice").await.status(),
        StatusCode::OK
    );
    let id = browser_session(&browser, &s.g).unwrap();
    assert_eq!(s.provider.grants("refresh_token"), 0);

    // Past the point where a refresh is due (and past expiry): a burst
    // of concurrent requests, all served, with one refresh between them.
    tokio::time::sleep(Duration::from_millis(4200)).await;
    let burst: Vec<_> = (0..8)
        .map(|_| {
            let client = https_client(s.g.https);
            let (url, cookie) = (s.g.url("/api"), session(&id));
            tokio::spawn(async move {
                client
                    .get(url)
                    .header(ACCEPT, "application/json")
                    .header(COOKIE, cookie)
                    .send()
                    .await
                    .expect("request")
                    .status()
            })
        })
        .collect();
    for request in burst {
        assert_eq!(request.await.unwrap(), StatusCode::OK);
    }
    settled(&s, "grant", 2).await;
    assert_eq!(
        s.provider.grants("refresh_token"),
        1,
        "{}",
        s.provider.log()
    );
    // And the renewed session keeps working, refreshing again when due.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(api_status(&s, &id).await, StatusCode::OK);
    settled(&s, "grant", 3).await;
    assert_eq!(s.provider.grants("refresh_token"), 2);

    // A refresh the provider refuses ends the session.
    s.provider.misbehave("refresh_fails").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(api_status(&s, &id).await, StatusCode::UNAUTHORIZED);
    settled(&s, "refresh_refused", 1).await;
    s.provider.misbehave("").await;
    assert_eq!(
        api_status(&s, &id).await,
        StatusCode::UNAUTHORIZED,
        "the session stays ended"
    );
}

#[tokio::test]
async fn refresh_renews_once_for_concurrent_requests_memory() {
    refresh_renews_once_for_concurrent_requests("memory://").await;
}

#[tokio::test]
async fn refresh_renews_once_for_concurrent_requests_redis() {
    let redis = common::redis::RedisServer::start();
    refresh_renews_once_for_concurrent_requests(&redis.url()).await;
}

#[tokio::test]
async fn a_provider_down_at_refresh_time_ends_the_session() {
    let mut s = setup("", short_tokens()).await;
    let browser = Browser::new(&s.g);
    assert_eq!(
        browser.sign_in(&s.g.url("/"), "alice").await.status(),
        StatusCode::OK
    );
    let id = browser_session(&browser, &s.g).unwrap();
    assert_eq!(api_status(&s, &id).await, StatusCode::OK);
    s.provider.kill();
    eventually("the session ends when it cannot be refreshed", || async {
        api_status(&s, &id).await == StatusCode::UNAUTHORIZED
    })
    .await;
}

#[tokio::test]
async fn logout_ends_the_session_locally() {
    let s = setup("", ProviderConfig::default()).await;
    let browser = Browser::new(&s.g);
    assert_eq!(
        browser.sign_in(&s.g.url("/"), "alice").await.status(),
        StatusCode::OK
    );
    let id = browser_session(&browser, &s.g).unwrap();

    let page = browser.logout(&s.g).await;
    // The signed-out page, not a bounce straight back to the provider.
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        page.url().as_str(),
        s.g.url("/.gatehouse/login?signed_out=1")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("You have signed out"), "{html}");
    assert_eq!(api_status(&s, &id).await, StatusCode::UNAUTHORIZED);
    assert!(s.provider.events("end_session").is_empty());

    // Signing in again goes through the provider, whose session remains.
    let page = browser.get(&s.g.url("/again")).await;
    assert_eq!(page.status(), StatusCode::OK, "at {}", page.url());
    assert_eq!(page.url().path(), "/again");
}

#[tokio::test]
async fn logout_at_the_provider_with_provider_logout() {
    let s = setup("provider_logout = true", ProviderConfig::default()).await;
    let browser = Browser::new(&s.g);
    assert_eq!(
        browser.sign_in(&s.g.url("/"), "alice").await.status(),
        StatusCode::OK
    );
    let id = browser_session(&browser, &s.g).unwrap();

    let page = browser.logout(&s.g).await;
    // The provider asks whether to sign out there too; say yes.
    assert_eq!(
        page.url().origin().ascii_serialization(),
        s.provider.issuer()
    );
    let page = browser.confirm_provider_logout(page).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        page.url().as_str(),
        s.g.url("/.gatehouse/login?signed_out=1")
    );
    settled(&s, "end_session", 1).await;
    assert_eq!(api_status(&s, &id).await, StatusCode::UNAUTHORIZED);

    // The provider forgot us too: signing in again shows its login form.
    let page = browser.get(&s.g.url("/")).await;
    assert!(
        page.url().path().starts_with("/interaction/"),
        "{}",
        page.url()
    );
}

#[tokio::test]
async fn switching_to_oidc_ends_the_users_file_sessions() {
    let backend = Backend::start().await;
    let g = gatehouse::builder()
        .route(gatehouse::route("/", &backend.url(), "required"))
        .user("alice", "alice@example.com", &["staff"])
        .start()
        .await;
    common::login::wait_ready(&g).await;
    let client = https_client(g.https);
    let id = common::login::login_ok(&client, &g, "alice").await;
    assert_eq!(
        common::login::whoami(&client, &g, &id).await,
        StatusCode::OK
    );

    // Same store, now an OpenID provider: "alice" from the users file is
    // nobody the provider vouched for.
    let port = OidcProvider::reserve_port();
    let mut toml = std::fs::read_to_string(&g.files.config).unwrap();
    toml.push_str(&format!(
        "\n[login]\nprovider = \"oidc\"\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\n\
         client_secret = \"{CLIENT_SECRET}\"\n",
        OidcProvider::issuer_on(port)
    ));
    std::fs::write(&g.files.config, toml).unwrap();
    g.reload().await;
    eventually("the users-file session stops working", || async {
        common::login::whoami(&client, &g, &id).await == StatusCode::UNAUTHORIZED
    })
    .await;
    // And the login page now sends browsers to the provider.
    let resp = client.get(g.url("/.gatehouse/login")).send().await.unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::BAD_GATEWAY,
        "provider not started"
    );
}
