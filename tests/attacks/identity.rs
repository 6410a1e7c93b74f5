//! Identity spoofing: a client may say anything about who it is; the
//! backend must only ever hear what the session says.

use crate::common::backend::SeenRequest;
use crate::common::client::https_client_http2;
use crate::{assert_refused, only_reply, App, SESSION_COOKIE};

/// Identity header names as a CGI-style backend folds them.
const IDENTITY: &[&str] = &[
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-groups",
];

/// Every header of `r` whose name folds (case, `_`/`-`) to an identity
/// header, with its values.
fn identity_headers(r: &SeenRequest) -> Vec<(String, String)> {
    r.headers
        .iter()
        .filter(|(name, _)| {
            let folded = name.to_ascii_lowercase().replace('_', "-");
            IDENTITY.contains(&folded.as_str())
        })
        .map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned()))
        .collect()
}

/// Spoofed identity lines in every spelling.
const SPOOFS: &[&str] = &[
    "X-Forwarded-User: root",
    "x-forwarded-user: root2",
    "X-FORWARDED-USER: root3",
    "X_Forwarded_User: root4",
    "x_forwarded-user: root5",
    "X-Forwarded_User: root6",
    "X-Forwarded-User: root7",
    "X-Forwarded-User:",
    "X-Forwarded-Email: root@example.com",
    "X_FORWARDED_EMAIL: root@example.com",
    "X-Forwarded-Groups: admins",
    "x_forwarded_groups: admins",
];

#[tokio::test]
async fn spoofed_identity_on_a_public_route_is_removed() {
    let app = App::start().await;
    let replies = app.raw_get("GET /public/spoof", SPOOFS).await;
    assert_eq!(only_reply(&replies).map(|r| r.status), Some(200));
    let seen = app.settle().await;
    assert_eq!(seen.len(), 1);
    assert_eq!(
        identity_headers(&seen[0]),
        vec![],
        "public: no identity at all"
    );
}

#[tokio::test]
async fn spoofed_identity_next_to_a_real_session_is_replaced() {
    let app = App::start().await;
    let alice = app.login("alice").await;
    let cookie = format!("Cookie: {SESSION_COOKIE}={alice}");
    let mut lines: Vec<&str> = SPOOFS.to_vec();
    lines.push(&cookie);
    let replies = app.raw_get("GET /private/spoof", &lines).await;
    assert_eq!(only_reply(&replies).map(|r| r.status), Some(200));
    let seen = app.settle().await;
    assert_eq!(seen.len(), 1);
    assert_eq!(
        identity_headers(&seen[0]),
        vec![
            ("x-forwarded-user".to_owned(), "alice".to_owned()),
            (
                "x-forwarded-email".to_owned(),
                "alice@example.com".to_owned()
            ),
            ("x-forwarded-groups".to_owned(), "staff".to_owned()),
        ],
        "exactly the session's values, once each"
    );
}

#[tokio::test]
async fn spoofed_identity_without_a_session_gets_nothing() {
    let app = App::start().await;
    let replies = app.raw_get("GET /private/spoof", SPOOFS).await;
    assert_refused(&replies, &[401], "spoofed identity, no session");
    let replies = app.raw_get("GET /admin/spoof", SPOOFS).await;
    assert_refused(&replies, &[401], "spoofed admin, no session");
    app.assert_backend_saw_nothing("spoofed identity without a session")
        .await;
}

#[tokio::test]
async fn spoofed_groups_do_not_pass_a_group_check() {
    let app = App::start().await;
    let alice = app.login("alice").await;
    let cookie = format!("Cookie: {SESSION_COOKIE}={alice}");
    let replies = app
        .raw_get(
            "GET /admin/panel",
            &[
                &cookie,
                "X-Forwarded-Groups: admins",
                "X_Forwarded_Groups: admins",
                "X-Forwarded-User: root",
            ],
        )
        .await;
    assert_refused(&replies, &[403], "alice claiming admins");
    app.assert_backend_saw_nothing("spoofed groups").await;
}

#[tokio::test]
async fn connection_cannot_remove_the_injected_user() {
    let app = App::start().await;
    let alice = app.login("alice").await;
    let cookie = format!("Cookie: {SESSION_COOKIE}={alice}");
    let replies = app
        .raw_get(
            "GET /private/conn",
            &[
                &cookie,
                "Connection: X-Forwarded-User, X-Forwarded-Email",
                "Connection: X-Forwarded-Groups",
                "X-Forwarded-User: root",
            ],
        )
        .await;
    assert_eq!(only_reply(&replies).map(|r| r.status), Some(200));
    let seen = app.settle().await;
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.header_all("x-forwarded-user"), vec![b"alice".as_slice()]);
    assert_eq!(r.header_str("x-forwarded-groups"), Some("staff"));
    assert_eq!(r.header_str("x-forwarded-email"), Some("alice@example.com"));
    assert_eq!(r.header("connection"), None, "Connection is hop-by-hop");
}

#[tokio::test]
async fn connection_cannot_remove_x_forwarded_for() {
    // CVE-2022-31813: `Connection: X-Forwarded-For` made Apache drop the
    // header it had just set, and IP-based backends trusted the request.
    let app = App::start().await;
    let replies = app
        .raw_get(
            "GET /public/xff",
            &[
                "Connection: X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host",
                "X-Forwarded-For: 10.0.0.1",
                "X-Real-IP: 10.0.0.1",
                "Forwarded: for=10.0.0.1",
                "X-Original-URL: /admin",
                "X-Rewrite-URL: /admin",
            ],
        )
        .await;
    assert_eq!(only_reply(&replies).map(|r| r.status), Some(200));
    let seen = app.settle().await;
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(
        r.header_all("x-forwarded-for"),
        vec![b"127.0.0.1".as_slice()]
    );
    assert_eq!(r.header_str("x-forwarded-proto"), Some("https"));
    assert!(r
        .header_str("x-forwarded-host")
        .is_some_and(|h| h.starts_with("localhost")));
    for name in ["x-real-ip", "forwarded", "x-original-url", "x-rewrite-url"] {
        assert_eq!(r.header(name), None, "{name} must not pass");
    }
}

#[tokio::test]
async fn http2_lowercase_identity_headers_are_replaced() {
    let app = App::start().await;
    let alice = app.login("alice").await;
    let client = https_client_http2(app.gh.https);
    let response = client
        .get(app.gh.url("/private/h2"))
        .header("cookie", format!("{SESSION_COOKIE}={alice}"))
        .header("x-forwarded-user", "root")
        .header("x_forwarded_user", "root")
        .header("x-forwarded-groups", "admins")
        .send()
        .await
        .expect("h2 request");
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let response = client
        .get(app.gh.url("/admin/h2"))
        .header("cookie", format!("{SESSION_COOKIE}={alice}"))
        .header("x-forwarded-groups", "admins")
        .send()
        .await
        .expect("h2 request");
    assert_eq!(response.status(), 403);
    let response = client
        .get(app.gh.url("/public/h2"))
        .header("x-forwarded-user", "root")
        .send()
        .await
        .expect("h2 request");
    assert_eq!(response.status(), 200);
    let seen = app.settle().await;
    assert_eq!(seen.len(), 2, "the 403 never reached the backend");
    assert_eq!(
        identity_headers(&seen[0]),
        vec![
            ("x-forwarded-user".to_owned(), "alice".to_owned()),
            (
                "x-forwarded-email".to_owned(),
                "alice@example.com".to_owned()
            ),
            ("x-forwarded-groups".to_owned(), "staff".to_owned()),
        ]
    );
    assert_eq!(identity_headers(&seen[1]), vec![]);
}

#[tokio::test]
async fn the_session_cookie_never_reaches_the_backend() {
    let app = App::start().await;
    let alice = app.login("alice").await;
    let replies = app
        .raw_get(
            "GET /private/cookie",
            &[&format!(
                "Cookie: theme=dark; {SESSION_COOKIE}={alice}; lang=en"
            )],
        )
        .await;
    assert_eq!(only_reply(&replies).map(|r| r.status), Some(200));
    let seen = app.settle().await;
    assert_eq!(seen[0].header_str("cookie"), Some("theme=dark; lang=en"));
    for (_, value) in &seen[0].headers {
        let value = String::from_utf8_lossy(value);
        assert!(!value.contains(&alice), "the session id leaked upstream");
    }
}
