//! Signing in (SPEC §4, README "Users"): the cookie a login sets, wrong
//! credentials, CSRF and cross-site posts, lockout, and the return URL.
//! Every behaviour runs twice: on `memory://` and on a real Redis.

#[allow(dead_code)] // not every helper of the shared harness is used here
mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use reqwest::header::{CACHE_CONTROL, COOKIE, LOCATION, ORIGIN, RETRY_AFTER};
use reqwest::{Client, StatusCode};

use common::backend::Backend;
use common::client::{https_client, https_client_builder, raw_request, tls_connect};
use common::gatehouse::{self, Gatehouse, PASSWORD};
use common::login::{
    cookie_set, csrf_token, hidden_input, login, login_ok, login_post, set_cookies, start_ready,
    whoami, TestStore, CSRF_COOKIE, LOGIN, SESSION_COOKIE,
};

const WRONG_CREDENTIALS: &str = "Incorrect username or password.";

async fn start(store: &TestStore, backend: &Backend, extra: &str) -> Gatehouse {
    let mut builder = gatehouse::builder()
        .store(&store.url())
        .route(gatehouse::route("/", &backend.url(), "required"))
        .user("alice", "alice@example.com", &["staff"])
        .user("bob", "bob@example.com", &["staff"]);
    if !extra.is_empty() {
        builder = builder.section(extra);
    }
    start_ready(builder).await
}

/// A client whose connections come from `127.0.0.N`, so that tests can
/// be different client addresses on one machine.
fn client_from(g: &Gatehouse, n: u8) -> Client {
    https_client_builder(g.https)
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .build()
        .expect("client")
}

on_both_stores! {
    login_sets_a_host_only_browser_session_cookie => login_cookie_memory, login_cookie_redis;
    wrong_password_and_unknown_user_get_the_same_answer => wrong_credentials_memory, wrong_credentials_redis;
    unicode_password_of_64_characters_works => unicode_password_memory, unicode_password_redis;
    oversized_login_body_is_413 => oversized_login_memory, oversized_login_redis;
    login_without_the_right_token_is_refused => csrf_token_memory, csrf_token_redis;
    cross_site_posts_are_refused => cross_site_memory, cross_site_redis;
    lockout_counts_per_user_and_per_address => lockout_memory, lockout_redis;
    return_url_is_only_ever_a_local_path => return_url_memory, return_url_redis;
}

async fn login_sets_a_host_only_browser_session_cookie(store: TestStore) {
    let backend = Backend::start().await;
    let g = start(&store, &backend, "").await;
    let client = https_client(g.https);

    let resp = login(&client, &g, "alice", PASSWORD, "/a/b?x=1").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[LOCATION], "/a/b?x=1");
    assert_eq!(resp.headers()[CACHE_CONTROL], "no-store");
    let cookies = set_cookies(&resp);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-gatehouse="))
        .expect("session cookie set");
    let mut parts = session.split(';').map(str::trim);
    let value = parts
        .next()
        .unwrap()
        .strip_prefix("__Host-gatehouse=")
        .unwrap();
    assert_eq!(value.len(), 43, "256 bits, base64url without padding");
    assert!(value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    let mut attributes: Vec<&str> = parts.collect();
    attributes.sort_unstable();
    assert_eq!(
        attributes,
        ["HttpOnly", "Path=/", "SameSite=Lax", "Secure"],
        "exactly these attributes (no Domain, Expires or Max-Age): {session}"
    );
    // The form's CSRF cookie is spent.
    assert!(cookies
        .iter()
        .any(|c| c.starts_with(&format!("{CSRF_COOKIE}=;")) && c.contains("Max-Age=0")));
    assert_eq!(whoami(&client, &g, value).await, StatusCode::OK);
    assert!(backend.seen().is_empty(), "login is never forwarded");
}

/// The answer to a failed login, with what legitimately differs between
/// two attempts (the fresh token, the echoed name) blanked out.
async fn failed_login(client: &Client, g: &Gatehouse, user: &str, password: &str) -> String {
    let resp = login(client, g, user, password, "/").await;
    assert_eq!(resp.status(), StatusCode::OK, "{user}: the form again");
    assert_eq!(
        cookie_set(&resp, SESSION_COOKIE),
        None,
        "{user}: no session"
    );
    let cookies = set_cookies(&resp);
    assert!(
        cookies.iter().all(|c| c.starts_with(CSRF_COOKIE)),
        "{user}: only a new form token is set: {cookies:?}"
    );
    assert_eq!(resp.headers()[CACHE_CONTROL], "no-store");
    let page = resp.text().await.unwrap();
    assert!(page.contains(WRONG_CREDENTIALS), "{user}: message: {page}");
    let token = hidden_input(&page, "csrf").expect("a new token");
    page.replace(&token, "TOKEN")
        .replace(&format!("value=\"{user}\""), "value=\"USER\"")
}

async fn wrong_password_and_unknown_user_get_the_same_answer(store: TestStore) {
    let backend = Backend::start().await;
    let g = start(&store, &backend, "").await;
    let client = https_client(g.https);

    let wrong_password = failed_login(&client, &g, "alice", "not the password").await;
    let unknown_user = failed_login(&client, &g, "mallory", PASSWORD).await;
    assert_eq!(wrong_password, unknown_user);
    // The right password still works afterwards (2 failures < 5).
    login_ok(&client, &g, "alice").await;
}

async fn unicode_password_of_64_characters_works(store: TestStore) {
    let backend = Backend::start().await;
    let builder = gatehouse::builder()
        .store(&store.url())
        .route(gatehouse::route("/", &backend.url(), "required"));
    let files = builder.write();
    let password: String = "é🔐密码Ünïcødé😀ß日本語ñ"
        .chars()
        .cycle()
        .take(64)
        .collect();
    assert_eq!(password.chars().count(), 64);
    let users = format!(
        "[[user]]\nname = \"carol\"\npassword = \"{}\"\nemail = \"carol@example.com\"\ngroups = [\"staff\"]\n",
        ::gatehouse::users::hash_password(&password)
    );
    std::fs::write(files.dir.path().join("users.toml"), users).unwrap();
    let g = Gatehouse::start(files).await;
    common::login::wait_ready(&g).await;
    let client = https_client(g.https);

    let resp = login(&client, &g, "carol", &password, "/").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let id = cookie_set(&resp, SESSION_COOKIE).expect("session");
    assert_eq!(whoami(&client, &g, &id).await, StatusCode::OK);
    // One character short is a different password.
    let short: String = password.chars().take(63).collect();
    let resp = login(&client, &g, "carol", &short, "/").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(cookie_set(&resp, SESSION_COOKIE), None);
}

async fn oversized_login_body_is_413(store: TestStore) {
    let backend = Backend::start().await;
    let g = start(&store, &backend, "").await;
    let client = https_client(g.https);
    let token = csrf_token(&client, &g).await;
    let padding = "a".repeat(100 * 1024);
    let resp = client
        .post(g.url(LOGIN))
        .header(COOKIE, format!("{CSRF_COOKIE}={token}"))
        .form(&[
            ("username", "alice"),
            ("password", PASSWORD),
            ("rd", "/"),
            ("csrf", &token),
            ("padding", &padding),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(cookie_set(&resp, SESSION_COOKIE), None);

    // The same without a declared length: chunked, so only counting the
    // bytes as they arrive can refuse it.
    let token = csrf_token(&client, &g).await;
    let form = format!(
        "username=alice&password={}&rd=%2F&csrf={token}&padding={padding}",
        PASSWORD.replace(' ', "+")
    );
    let mut stream = tls_connect(g.https, &[b"http/1.1"]).await;
    let mut request = format!(
        "POST {LOGIN} HTTP/1.1\r\nHost: localhost:{}\r\n\
         Cookie: {CSRF_COOKIE}={token}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        g.https.port()
    )
    .into_bytes();
    for chunk in form.as_bytes().chunks(4096) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let response = raw_request(&mut stream, &request).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(!response.contains("__Host-gatehouse="), "{response}");
}

async fn login_without_the_right_token_is_refused(store: TestStore) {
    let backend = Backend::start().await;
    let g = start(&store, &backend, "").await;
    let client = https_client(g.https);
    let fields = |csrf: &'static str| {
        [
            ("username", "alice"),
            ("password", PASSWORD),
            ("rd", "/"),
            ("csrf", csrf),
        ]
    };

    // No token at all: neither field nor cookie.
    let resp = client
        .post(g.url(LOGIN))
        .form(&fields("")[..3])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(cookie_set(&resp, SESSION_COOKIE), None);

    // A token in the field but no cookie.
    let token = csrf_token(&client, &g).await;
    let resp = client
        .post(g.url(LOGIN))
        .form(&[
            ("username", "alice"),
            ("password", PASSWORD),
            ("rd", "/"),
            ("csrf", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(cookie_set(&resp, SESSION_COOKIE), None);

    // Cookie and field disagree.
    let resp = client
        .post(g.url(LOGIN))
        .header(COOKIE, format!("{CSRF_COOKIE}={token}"))
        .form(&fields("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(cookie_set(&resp, SESSION_COOKIE), None);

    // Empty cookie and empty field "match" but are no token.
    let resp = client
        .post(g.url(LOGIN))
        .header(COOKIE, format!("{CSRF_COOKIE}="))
        .form(&fields(""))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(cookie_set(&resp, SESSION_COOKIE), None);
}

async fn cross_site_posts_are_refused(store: TestStore) {
    let backend = Backend::start().await;
    let g = start(&store, &backend, "").await;
    let client = https_client(g.https);

    for (name, value) in [
        ("origin", "https://evil.test"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let token = csrf_token(&client, &g).await;
        let resp = login_post(&client, &g.url(LOGIN), &token, "alice", PASSWORD, "/")
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "login with {name}");
        assert_eq!(cookie_set(&resp, SESSION_COOKIE), None, "login with {name}");
    }

    // The same post from our own origin works.
    let token = csrf_token(&client, &g).await;
    let resp = login_post(&client, &g.url(LOGIN), &token, "alice", PASSWORD, "/")
        .header(ORIGIN, format!("https://localhost:{}", g.https.port()))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "same-origin login");
    let id = cookie_set(&resp, SESSION_COOKIE).expect("session");

    // Logout from another site is refused and ends nothing.
    for (name, value) in [
        ("origin", "https://evil.test"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let resp = client
            .post(g.url("/.gatehouse/logout"))
            .header(COOKIE, common::login::session(&id))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "logout with {name}");
        assert!(set_cookies(&resp).is_empty(), "logout with {name}");
        assert_eq!(whoami(&client, &g, &id).await, StatusCode::OK);
    }
}

/// With `max_failures = 3`, failures count per user name and per client
/// address (README "Users"). Every test connection comes from loopback, so
/// the clients here bind distinct `127.0.0.N` source addresses to tell the
/// two counters apart.
async fn lockout_counts_per_user_and_per_address(store: TestStore) {
    let backend = Backend::start().await;
    let g = start(
        &store,
        &backend,
        "[login]\nmax_failures = 3\nlockout = \"2s\"\n",
    )
    .await;
    let attacker = client_from(&g, 2);
    // The window starts at the first failure and is never extended.
    let first_failure = Instant::now();
    for attempt in 1..=3 {
        let resp = login(&attacker, &g, "alice", "guess", "/").await;
        assert_eq!(resp.status(), StatusCode::OK, "failure {attempt}");
    }

    // Alice's name is locked wherever she comes from, right password or not.
    let alice = client_from(&g, 3);
    let resp = login(&alice, &g, "alice", PASSWORD, "/").await;
    let refused_at = Instant::now();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(cookie_set(&resp, SESSION_COOKIE), None);
    let retry: u64 = resp.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=2).contains(&retry), "Retry-After {retry}");

    // Bob from another address is not affected …
    let bob = client_from(&g, 4);
    let resp = login(&bob, &g, "bob", PASSWORD, "/").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "bob elsewhere");
    // … but the attacker's address is locked for every name.
    let resp = login(&attacker, &g, "bob", PASSWORD, "/").await;
    assert_eq!(
        resp.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "bob from the locked address"
    );

    // A client that waits as long as Retry-After said gets in: waiting is
    // what this asserts, so it sleeps rather than polls.
    tokio::time::sleep_until((refused_at + Duration::from_secs(retry)).into()).await;
    let resp = login(&alice, &g, "alice", PASSWORD, "/").await;
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "after Retry-After ({retry} s), {:?} after the first failure",
        first_failure.elapsed()
    );
    assert!(
        first_failure.elapsed() >= Duration::from_millis(1900),
        "the lockout lasted less than its 2 s window: {:?}",
        first_failure.elapsed()
    );
}

async fn return_url_is_only_ever_a_local_path(store: TestStore) {
    let backend = Backend::start().await;
    let g = start(&store, &backend, "").await;
    let client = https_client(g.https);
    for rd in [
        "https://evil.test",
        "//evil.test",
        "/\\evil.test",
        "/%09/evil.test",
        "/%5Cevil.test",
        "/%2F/evil.test",
        "https:evil.test",
        "javascript:alert(1)",
        "///evil.test",
        "%0d%0a",
        "/a\r\nSet-Cookie: x=1",
        " /a",
        "",
    ] {
        let resp = login(&client, &g, "alice", PASSWORD, rd).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "rd {rd:?}");
        assert_eq!(resp.headers()[LOCATION], "/", "rd {rd:?}");
    }
    for rd in ["/a/b?x=1", "/a/b?x=1&y=%2F#frag", "/"] {
        let resp = login(&client, &g, "alice", PASSWORD, rd).await;
        assert_eq!(resp.headers()[LOCATION], rd, "rd {rd:?} kept exactly");
    }
}
