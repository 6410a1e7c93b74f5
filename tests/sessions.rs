//! Sessions at work (SPEC §4, README "HTTP behaviour", "Session lifetime"):
//! enforcement on required and public routes, identity headers, session
//! ids, timeouts, logout, and users removed from the users file. Every
//! behaviour runs twice: on `memory://` and on a real Redis.

#[allow(dead_code)] // not every helper of the shared harness is used here
mod common;

use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION};
use reqwest::StatusCode;

use common::backend::{Backend, SeenRequest};
use common::client::{https_client, raw_request, tls_connect};
use common::gatehouse::{self, Builder, Gatehouse};
use common::login::{
    api_get, cookie_set, login_ok, logout, session, set_cookies, start_ready, wait_ready, whoami,
    TestStore, SESSION_COOKIE,
};

/// gatehouse with a required route `/`, a public route `/pub`, a route
/// `/admin` for group `admins`, and users alice (staff), bob (staff) and
/// root (admins).
fn builder(store: &TestStore, backend: &Backend) -> Builder {
    gatehouse::builder()
        .store(&store.url())
        .route(gatehouse::route("/", &backend.url(), "required"))
        .route(gatehouse::route("/pub", &backend.url(), "public"))
        .route(format!(
            "{}groups = [\"admins\"]\n",
            gatehouse::route("/admin", &backend.url(), "required")
        ))
        .user("alice", "alice@example.com", &["staff"])
        .user("bob", "bob@example.com", &["staff"])
        .user("root", "root@example.com", &["admins", "staff"])
}

/// Values of header `name` as text.
fn values(seen: &SeenRequest, name: &str) -> Vec<String> {
    seen.header_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

/// The requests the backend saw for `path`.
fn seen_for(backend: &Backend, path: &str) -> Vec<SeenRequest> {
    backend
        .seen()
        .into_iter()
        .filter(|r| r.path == path)
        .collect()
}

on_both_stores! {
    required_route_without_session_redirects_browsers_and_refuses_apis => no_session_memory, no_session_redis;
    public_route_needs_no_session_and_gets_no_identity => public_route_memory, public_route_redis;
    logged_in_request_carries_identity_and_not_the_cookie => identity_forwarded_memory, identity_forwarded_redis;
    route_groups_are_enforced => route_groups_memory, route_groups_redis;
    client_sent_identity_headers_never_reach_the_backend => identity_spoofing_memory, identity_spoofing_redis;
    only_issued_session_ids_are_accepted => session_ids_memory, session_ids_redis;
    login_issues_a_new_id_and_ends_the_old_one => fixation_memory, fixation_redis;
    idle_and_absolute_timeouts_end_sessions => timeouts_memory, timeouts_redis;
    logout_ends_the_session_and_clears_the_cookie => logout_memory, logout_redis;
    logout_everywhere_ends_only_that_users_sessions => logout_everywhere_memory, logout_everywhere_redis;
}

async fn required_route_without_session_redirects_browsers_and_refuses_apis(store: TestStore) {
    let backend = Backend::start().await;
    let g = start_ready(builder(&store, &backend)).await;
    let client = https_client(g.https);

    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let resp = client
            .request(method.clone(), g.url("/a/b?x=1"))
            .header(ACCEPT, "text/html,application/xhtml+xml,*/*;q=0.8")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{method}");
        assert_eq!(
            resp.headers()[LOCATION],
            "/.gatehouse/login?rd=%2Fa%2Fb%3Fx%3D1",
            "{method}"
        );
    }

    let resp = client
        .get(g.url("/a/b?x=1"))
        .header(ACCEPT, "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()[CONTENT_TYPE], "application/json");
    let body: serde_json::Value = resp.json().await.expect("a JSON body");
    assert_eq!(body["status"], 401);

    // A form post from a browser is not a navigation: 401, not a redirect
    // that would drop the body.
    let resp = client
        .post(g.url("/a/b"))
        .header(ACCEPT, "text/html")
        .body("x=1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(backend.seen().is_empty(), "nothing was forwarded");
}

async fn public_route_needs_no_session_and_gets_no_identity(store: TestStore) {
    let backend = Backend::start().await;
    let g = start_ready(builder(&store, &backend)).await;
    let client = https_client(g.https);
    let id = login_ok(&client, &g, "alice").await;

    for cookie in [None, Some(session(&id)), Some(session("garbage"))] {
        let mut req = client.get(g.url("/pub/page")).header(ACCEPT, "text/html");
        if let Some(cookie) = &cookie {
            req = req.header(COOKIE, cookie);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "cookie {cookie:?}");
    }
    let seen = backend.wait_for_requests(3, Duration::from_secs(5)).await;
    for r in &seen {
        for name in [
            "x-forwarded-user",
            "x-forwarded-email",
            "x-forwarded-groups",
        ] {
            assert!(r.header(name).is_none(), "{name} on a public route");
        }
        if let Some(cookie) = r.header_str("cookie") {
            assert!(!cookie.contains(SESSION_COOKIE), "session cookie forwarded");
        }
    }
}

async fn logged_in_request_carries_identity_and_not_the_cookie(store: TestStore) {
    let backend = Backend::start().await;
    let g = start_ready(builder(&store, &backend)).await;
    let client = https_client(g.https);
    let id = login_ok(&client, &g, "alice").await;

    let resp = client
        .get(g.url("/a/b?x=1"))
        .header(ACCEPT, "text/html")
        .header(COOKIE, format!("theme=light; {}; lang=en", session(&id)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let seen = seen_for(&backend, "/a/b?x=1");
    assert_eq!(seen.len(), 1);
    assert_eq!(values(&seen[0], "x-forwarded-user"), ["alice"]);
    assert_eq!(values(&seen[0], "x-forwarded-email"), ["alice@example.com"]);
    assert_eq!(values(&seen[0], "x-forwarded-groups"), ["staff"]);
    assert_eq!(values(&seen[0], "cookie"), ["theme=light; lang=en"]);

    // Only the session cookie: no Cookie header upstream at all.
    api_get(&client, &g, "/only-session", &id).await;
    let seen = seen_for(&backend, "/only-session");
    assert!(seen[0].header("cookie").is_none(), "{:?}", seen[0].headers);

    let resp = client
        .get(g.url("/.gatehouse/whoami"))
        .header(COOKIE, session(&id))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[CACHE_CONTROL], "no-store");
    let me: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(me["user"], "alice");
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["groups"], serde_json::json!(["staff"]));

    // The backend cannot set (fixate) the proxy's cookie; its others pass.
    let resp = api_get(&client, &g, "/set-cookie", &id).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(set_cookies(&resp), ["theme=dark; Path=/"]);
}

async fn route_groups_are_enforced(store: TestStore) {
    let backend = Backend::start().await;
    let g = start_ready(builder(&store, &backend)).await;
    let client = https_client(g.https);
    let alice = login_ok(&client, &g, "alice").await;
    let root = login_ok(&client, &g, "root").await;

    for accept in ["application/json", "text/html"] {
        let resp = client
            .get(g.url("/admin/panel"))
            .header(ACCEPT, accept)
            .header(COOKIE, session(&alice))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{accept}");
    }
    assert!(backend.seen().is_empty(), "the 403s were not forwarded");

    let resp = api_get(&client, &g, "/admin/panel", &root).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let seen = backend.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(values(&seen[0], "x-forwarded-user"), ["root"]);
    assert_eq!(values(&seen[0], "x-forwarded-groups"), ["admins,staff"]);
    // Alice still reaches routes without groups.
    let resp = api_get(&client, &g, "/a", &alice).await;
    assert_eq!(resp.status(), StatusCode::OK);
}

/// Sends exact bytes over HTTP/1.1, so that header spelling, duplicates and
/// `Connection` reach the proxy as written.
async fn spoofed_request(g: &Gatehouse, path: &str, cookie: &str) -> String {
    let mut stream = tls_connect(g.https, &[b"http/1.1"]).await;
    let request = format!(
        "GET {path} HTTP/1.1\r\n\
         Host: localhost:{port}\r\n\
         Accept: application/json\r\n\
         Cookie: {cookie}\r\n\
         X-Forwarded-User: root\r\n\
         x-forwarded-user: root2\r\n\
         X_Forwarded_User: root3\r\n\
         x_forwarded_user: root4\r\n\
         X-FORWARDED-EMAIL: root@evil.test\r\n\
         X-Forwarded-Groups: admins\r\n\
         X_Forwarded_Groups: admins\r\n\
         X-Extra: hop\r\n\
         Connection: close, X-Forwarded-User, X-Extra\r\n\
         \r\n",
        port = g.https.port()
    );
    let response = raw_request(&mut stream, request.as_bytes()).await;
    String::from_utf8_lossy(&response).into_owned()
}

async fn client_sent_identity_headers_never_reach_the_backend(store: TestStore) {
    let backend = Backend::start().await;
    let g = start_ready(builder(&store, &backend)).await;
    let client = https_client(g.https);
    let id = login_ok(&client, &g, "alice").await;

    let response = spoofed_request(&g, "/spoof", &session(&id)).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let response = spoofed_request(&g, "/pub/spoof", &session(&id)).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    // Without a session, a spoofed identity gets nowhere on a required route.
    let response = spoofed_request(&g, "/spoof-anon", "a=1").await;
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");

    let required = &seen_for(&backend, "/spoof")[0];
    assert_eq!(values(required, "x-forwarded-user"), ["alice"]);
    assert_eq!(values(required, "x-forwarded-email"), ["alice@example.com"]);
    assert_eq!(values(required, "x-forwarded-groups"), ["staff"]);
    let public = &seen_for(&backend, "/pub/spoof")[0];
    for name in [
        "x-forwarded-user",
        "x-forwarded-email",
        "x-forwarded-groups",
    ] {
        assert!(
            public.header(name).is_none(),
            "{name}: {:?}",
            public.headers
        );
    }
    for seen in [required, public] {
        for name in ["x_forwarded_user", "x_forwarded_groups", "x-extra"] {
            assert!(seen.header(name).is_none(), "{name}: {:?}", seen.headers);
        }
    }
    assert!(seen_for(&backend, "/spoof-anon").is_empty());
}

async fn only_issued_session_ids_are_accepted(store: TestStore) {
    let backend = Backend::start().await;
    let g = start_ready(builder(&store, &backend)).await;
    let client = https_client(g.https);
    let id = login_ok(&client, &g, "alice").await;

    // Right shape, never issued.
    let made_up = ::gatehouse::session::SessionId::generate().cookie_value();
    // The real one with one character changed (the first: a change there
    // keeps the value canonical base64url).
    let mut tampered = id.clone().into_bytes();
    tampered[0] = if tampered[0] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let long = "A".repeat(1000);
    for (what, value) in [
        ("made up", made_up.as_str()),
        ("tampered", tampered.as_str()),
        ("star", "*"),
        ("empty", ""),
        ("1000 chars", long.as_str()),
        ("non-ASCII", "ÄÖÜéèà漢字🔐ÄÖÜéèà漢字🔐ÄÖÜéèà漢字🔐ÄÖÜé"),
        ("padded", &format!("{}=", &id[..42])),
    ] {
        assert_eq!(
            whoami(&client, &g, value).await,
            StatusCode::UNAUTHORIZED,
            "{what}"
        );
        assert_eq!(
            api_get(&client, &g, "/x", value).await.status(),
            StatusCode::UNAUTHORIZED,
            "{what}"
        );
        let resp = client
            .get(g.url("/x"))
            .header(ACCEPT, "text/html")
            .header(COOKIE, session(value))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{what}");
    }
    // The real one, sent twice with a planted one, is ambiguous: refused.
    assert_eq!(
        whoami(&client, &g, &format!("{id}; {}", session(&made_up))).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(whoami(&client, &g, &id).await, StatusCode::OK);
    assert!(backend.seen().is_empty());
}

async fn login_issues_a_new_id_and_ends_the_old_one(store: TestStore) {
    let backend = Backend::start().await;
    let g = start_ready(builder(&store, &backend)).await;
    let client = https_client(g.https);

    // An attacker plants their own live session (bob's) in alice's browser.
    let planted = login_ok(&client, &g, "bob").await;
    let token = common::login::csrf_token(&client, &g).await;
    let resp = client
        .post(g.url("/.gatehouse/login"))
        .header(
            COOKIE,
            format!("{}; __Host-gatehouse-csrf={token}", session(&planted)),
        )
        .form(&[
            ("username", "alice"),
            ("password", gatehouse::PASSWORD),
            ("rd", "/"),
            ("csrf", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let issued = cookie_set(&resp, SESSION_COOKIE).expect("a session cookie");
    assert_ne!(issued, planted, "a new id at login");
    assert_eq!(
        whoami(&client, &g, &planted).await,
        StatusCode::UNAUTHORIZED
    );
    let me: serde_json::Value = client
        .get(g.url("/.gatehouse/whoami"))
        .header(COOKIE, session(&issued))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"], "alice");

    // Logging in again from the same browser replaces the session too.
    let again = login_ok(&client, &g, "alice").await;
    assert_ne!(again, issued);
}

/// `idle_timeout = 2s`, `absolute_timeout = 4s`. The last-use time is
/// written back at most once per `min(60 s, idle_timeout / 10)` = 200 ms
/// here (`Authenticator::touch_interval` in src/auth/mod.rs; timestamps are
/// whole seconds, so in practice every use), so an idle session ends
/// between 1.8 s and 2 s after its last use, plus second rounding.
async fn idle_and_absolute_timeouts_end_sessions(store: TestStore) {
    let backend = Backend::start().await;
    let g = start_ready(
        builder(&store, &backend)
            .section("[session]\nidle_timeout = \"2s\"\nabsolute_timeout = \"4s\"\n"),
    )
    .await;
    let client = https_client(g.https);

    // Idle: unused for 3 s (waiting is the point of this test) → gone.
    let idle = login_ok(&client, &g, "alice").await;
    assert_eq!(whoami(&client, &g, &idle).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(whoami(&client, &g, &idle).await, StatusCode::UNAUTHORIZED);

    // Absolute: used every 0.5 s, it lives well past the idle window but
    // dies at the absolute timeout (4 s, counted in whole seconds).
    let busy = login_ok(&client, &g, "bob").await;
    let start = Instant::now();
    loop {
        let status = api_get(&client, &g, "/busy", &busy).await.status();
        let age = start.elapsed();
        if status == StatusCode::UNAUTHORIZED {
            assert!(age >= Duration::from_millis(2900), "died early, at {age:?}");
            break;
        }
        assert_eq!(status, StatusCode::OK, "at {age:?}");
        assert!(age < Duration::from_secs(6), "still alive at {age:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(whoami(&client, &g, &busy).await, StatusCode::UNAUTHORIZED);
}

async fn logout_ends_the_session_and_clears_the_cookie(store: TestStore) {
    let backend = Backend::start().await;
    let g = start_ready(builder(&store, &backend)).await;
    let client = https_client(g.https);
    let id = login_ok(&client, &g, "alice").await;

    let resp = logout(&client, &g, &id, "").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let location = resp.headers()[LOCATION].to_str().unwrap();
    assert!(location.starts_with("/.gatehouse/login"), "{location}");
    assert_eq!(resp.headers()[CACHE_CONTROL], "no-store");
    let cleared = set_cookies(&resp);
    assert_eq!(cleared.len(), 1, "{cleared:?}");
    assert!(cleared[0].starts_with("__Host-gatehouse=;"), "{cleared:?}");
    for attr in ["Max-Age=0", "Secure", "Path=/"] {
        assert!(
            cleared[0].split("; ").any(|a| a == attr),
            "{attr}: {cleared:?}"
        );
    }
    assert_eq!(whoami(&client, &g, &id).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        api_get(&client, &g, "/x", &id).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Logging out without a (live) session still clears the cookie.
    let resp = logout(&client, &g, &id, "").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(set_cookies(&resp)[0].contains("Max-Age=0"));
    assert!(backend.seen().is_empty());
}

async fn logout_everywhere_ends_only_that_users_sessions(store: TestStore) {
    let backend = Backend::start().await;
    let g = start_ready(builder(&store, &backend)).await;
    let laptop = https_client(g.https);
    let phone = https_client(g.https);
    let a1 = login_ok(&laptop, &g, "alice").await;
    let a2 = login_ok(&phone, &g, "alice").await;
    let b = login_ok(&phone, &g, "bob").await;

    // A plain logout ends only the one session.
    let a3 = login_ok(&laptop, &g, "alice").await;
    logout(&laptop, &g, &a3, "").await;
    assert_eq!(whoami(&laptop, &g, &a1).await, StatusCode::OK);

    let resp = logout(&laptop, &g, &a1, "?everywhere=1").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(set_cookies(&resp)[0].contains("Max-Age=0"));
    assert_eq!(whoami(&laptop, &g, &a1).await, StatusCode::UNAUTHORIZED);
    assert_eq!(whoami(&phone, &g, &a2).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        whoami(&phone, &g, &b).await,
        StatusCode::OK,
        "bob's session"
    );
    // Alice can sign in again afterwards.
    let a4 = login_ok(&laptop, &g, "alice").await;
    assert_eq!(whoami(&laptop, &g, &a4).await, StatusCode::OK);
}

/// A session outlives a restart only in Redis; the new instance reads a
/// users file without alice, so her session must stop working.
#[tokio::test]
async fn removed_user_loses_access_after_restart_redis() {
    let store = TestStore::redis();
    let backend = Backend::start().await;
    let mut first = start_ready(builder(&store, &backend)).await;
    let client = https_client(first.https);
    let alice = login_ok(&client, &first, "alice").await;
    let bob = login_ok(&client, &first, "bob").await;
    first
        .begin_shutdown()
        .await
        .expect("task joins")
        .expect("clean shutdown");

    let second = gatehouse::builder()
        .store(&store.url())
        .route(gatehouse::route("/", &backend.url(), "required"))
        .user("bob", "bob@example.com", &["staff"])
        .start()
        .await;
    wait_ready(&second).await;
    let client = https_client(second.https);
    assert_eq!(whoami(&client, &second, &bob).await, StatusCode::OK);
    assert_eq!(
        whoami(&client, &second, &alice).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api_get(&client, &second, "/x", &alice).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(backend.seen().is_empty());
}
