//! Attacks on sign-in and sessions: open redirects after login, login and
//! logout CSRF, session fixation, and hostile session cookies.

use crate::common::client::https_client;
use crate::common::gatehouse::PASSWORD;
use crate::{assert_refused, only_reply, set_cookie_value, App, CSRF_COOKIE, SESSION_COOKIE};

/// Signs `alice` in with `rd` and returns the `Location` she is sent to.
async fn login_location(app: &App, rd: &str) -> String {
    let (cookie, field) = app.login_form().await;
    let response = app
        .post_login(&[
            ("username", "alice"),
            ("password", PASSWORD),
            ("rd", rd),
            ("csrf", &field),
        ])
        .header("cookie", format!("{CSRF_COOKIE}={cookie}"))
        .send()
        .await
        .expect("login post");
    assert_eq!(response.status(), 303, "rd {rd:?}");
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a Location")
        .to_owned()
}

fn assert_same_origin(location: &str, rd: &str) {
    assert_eq!(location, "/", "rd {rd:?} must land on /, not {location:?}");
}

#[tokio::test]
async fn open_redirect_to_another_origin_is_refused() {
    let app = App::start().await;
    for rd in [
        "https://evil.test",
        "//evil.test",
        "/\\evil.test",
        "\\/evil.test",
        "https:evil.test",
        "javascript:alert(1)",
        " //evil.test",
        "/\t/evil.test",
    ] {
        assert_same_origin(&login_location(&app, rd).await, rd);
    }
    // A legitimate path is kept.
    assert_eq!(
        login_location(&app, "/private/x?a=1").await,
        "/private/x?a=1"
    );
    app.assert_backend_saw_nothing("login redirects").await;
}

#[tokio::test]
async fn open_redirect_through_encoding_is_refused() {
    let app = App::start().await;
    for rd in [
        "/%2F%2Fevil.test",
        "%2F%2Fevil.test",
        "/%2f%2fevil.test",
        "/%5Cevil.test",
        "/%09/evil.test",
        "%68ttps://evil.test",
        "/%0d%0aLocation:%20https://evil.test",
    ] {
        assert_same_origin(&login_location(&app, rd).await, rd);
    }
}

#[tokio::test]
async fn login_form_does_not_carry_a_foreign_return_url() {
    let app = App::start().await;
    let page = https_client(app.gh.https)
        .get(app.gh.url("/.gatehouse/login?rd=%2F%2Fevil.test"))
        .send()
        .await
        .expect("form")
        .text()
        .await
        .expect("page");
    assert!(page.contains("name=\"rd\" value=\"/\""), "{page}");
    assert!(!page.contains("evil.test"));
}

/// Posts a login for `root` with `csrf` as the form token and `cookie` as
/// the CSRF cookie, plus `extra` headers; asserts 403 and no session.
async fn assert_login_refused(
    app: &App,
    cookie: Option<&str>,
    csrf: Option<&str>,
    extra: &[(&str, &str)],
    what: &str,
) {
    let mut fields = vec![("username", "root"), ("password", PASSWORD), ("rd", "/")];
    if let Some(csrf) = csrf {
        fields.push(("csrf", csrf));
    }
    let mut request = app.post_login(&fields);
    if let Some(cookie) = cookie {
        request = request.header("cookie", format!("{CSRF_COOKIE}={cookie}"));
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("login post");
    assert_eq!(response.status(), 403, "{what}");
    assert_eq!(
        set_cookie_value(response.headers(), SESSION_COOKIE),
        None,
        "{what}: no session"
    );
}

#[tokio::test]
async fn login_csrf_is_refused() {
    let app = App::start().await;
    let (cookie, field) = app.login_form().await;
    let (other_cookie, _) = app.login_form().await;
    assert_login_refused(&app, None, None, &[], "no token, no cookie").await;
    assert_login_refused(&app, Some(&cookie), None, &[], "no token").await;
    assert_login_refused(&app, None, Some(&field), &[], "no cookie").await;
    assert_login_refused(&app, Some(&cookie), Some("wrong"), &[], "wrong token").await;
    assert_login_refused(
        &app,
        Some(&other_cookie),
        Some(&field),
        &[],
        "another form's",
    )
    .await;
    assert_login_refused(&app, Some(""), Some(""), &[], "empty token").await;
    for (name, value) in [
        ("origin", "https://evil.test"),
        ("origin", "null"),
        ("origin", "http://localhost"),
        ("sec-fetch-site", "cross-site"),
    ] {
        assert_login_refused(
            &app,
            Some(&cookie),
            Some(&field),
            &[(name, value)],
            &format!("{name}: {value}"),
        )
        .await;
    }
    // The form was fine all along: the same token, same-origin, signs in.
    let response = app
        .post_login(&[
            ("username", "root"),
            ("password", PASSWORD),
            ("rd", "/"),
            ("csrf", &field),
        ])
        .header("cookie", format!("{CSRF_COOKIE}={cookie}"))
        .header(
            "origin",
            format!("https://localhost:{}", app.gh.https.port()),
        )
        .send()
        .await
        .expect("login post");
    assert_eq!(response.status(), 303);
}

/// `GET /.gatehouse/whoami` with `session`: its status.
async fn whoami(app: &App, session: &str) -> u16 {
    https_client(app.gh.https)
        .get(app.gh.url("/.gatehouse/whoami"))
        .header("cookie", format!("{SESSION_COOKIE}={session}"))
        .send()
        .await
        .expect("whoami")
        .status()
        .as_u16()
}

#[tokio::test]
async fn logout_csrf_is_refused_and_the_session_survives() {
    let app = App::start().await;
    let session = app.login("alice").await;
    for (name, value) in [
        ("origin", "https://evil.test"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
    ] {
        for path in ["/.gatehouse/logout", "/.gatehouse/logout?everywhere=1"] {
            let response = https_client(app.gh.https)
                .post(app.gh.url(path))
                .header("cookie", format!("{SESSION_COOKIE}={session}"))
                .header(name, value)
                .send()
                .await
                .expect("logout");
            assert_eq!(response.status(), 403, "{path} with {name}: {value}");
            assert!(response.headers().get("set-cookie").is_none());
            assert_eq!(whoami(&app, &session).await, 200, "the session survives");
        }
    }
    // Same-origin logout works (the control).
    let response = https_client(app.gh.https)
        .post(app.gh.url("/.gatehouse/logout"))
        .header("cookie", format!("{SESSION_COOKIE}={session}"))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), 303);
    assert_eq!(whoami(&app, &session).await, 401);
}

#[tokio::test]
async fn a_planted_cookie_never_becomes_the_session() {
    let app = App::start().await;
    // An id the attacker made up (well-formed), then one the attacker got
    // by signing in themselves: both planted in the victim's browser.
    let made_up = "A".repeat(42) + "A";
    let attackers_own = app.login("alice").await;
    for planted in [made_up.as_str(), attackers_own.as_str()] {
        let (cookie, field) = app.login_form().await;
        let response = app
            .post_login(&[
                ("username", "root"),
                ("password", PASSWORD),
                ("rd", "/"),
                ("csrf", &field),
            ])
            .header(
                "cookie",
                format!("{CSRF_COOKIE}={cookie}; {SESSION_COOKIE}={planted}"),
            )
            .send()
            .await
            .expect("victim login");
        assert_eq!(response.status(), 303);
        let issued = set_cookie_value(response.headers(), SESSION_COOKIE).expect("new session");
        assert_ne!(issued, planted, "a fresh id at every login");
        assert_eq!(whoami(&app, &issued).await, 200);
        assert_eq!(whoami(&app, planted).await, 401, "the planted id is dead");
    }
}

/// A request to a required path with these raw `Cookie` lines must be
/// answered `allowed` (401 when it parses, 400 when it cannot), reach no
/// backend, and leave the proxy serving.
async fn assert_cookie_refused(app: &App, lines: &[&str], allowed: &[u16], what: &str) {
    let mut request = b"GET /private/c HTTP/1.1\r\nHost: localhost\r\n".to_vec();
    for line in lines {
        request.extend_from_slice(line.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"Connection: close\r\n\r\n");
    let replies = app.raw(&request).await;
    assert_refused(&replies, allowed, what);
    assert!(only_reply(&replies).is_some(), "{what}: an answer");
}

#[tokio::test]
async fn hostile_cookie_values_grant_nothing() {
    let app = App::start().await;
    let valid = app.login("alice").await;
    let huge = format!("Cookie: {SESSION_COOKIE}={}", "A".repeat(8 * 1024));
    let cases: Vec<(String, &str)> = vec![
        (format!("Cookie: {SESSION_COOKIE}="), "empty value"),
        (huge, "8 KiB value"),
        ("Cookie: *".to_owned(), "*"),
        (format!("Cookie: {SESSION_COOKIE}=*"), "value *"),
        (
            format!("Cookie: {SESSION_COOKIE}={valid}="),
            "valid id plus =",
        ),
        (format!("Cookie: {SESSION_COOKIE}=\"{valid}\""), "quoted id"),
        (
            format!("Cookie: {SESSION_COOKIE}={}x", &valid[..42]),
            "changed last char",
        ),
        (
            format!("Cookie: __host-gatehouse={valid}"),
            "name in another case",
        ),
        (
            format!("Cookie: {SESSION_COOKIE}={valid}; {SESSION_COOKIE}=x"),
            "valid then invalid",
        ),
        (
            format!("Cookie: {SESSION_COOKIE}=x; {SESSION_COOKIE}={valid}"),
            "invalid then valid",
        ),
        (
            format!("Cookie: {SESSION_COOKIE}={valid}; {SESSION_COOKIE}={valid}"),
            "valid twice",
        ),
    ];
    for (line, what) in &cases {
        assert_cookie_refused(&app, &[line], &[401], what).await;
    }
    // Two Cookie header lines, one valid, one not: ambiguous too.
    let first = format!("Cookie: {SESSION_COOKIE}={valid}");
    let second = format!("Cookie: {SESSION_COOKIE}=zzz");
    assert_cookie_refused(&app, &[&first, &second], &[401], "two Cookie lines").await;
    app.assert_backend_saw_nothing("hostile cookies").await;
    assert_eq!(whoami(&app, &valid).await, 200, "nothing crashed");
}

#[tokio::test]
async fn binary_cookie_bytes_grant_nothing() {
    let app = App::start().await;
    let valid = app.login("alice").await;
    let mut high =
        format!("GET /private/c HTTP/1.1\r\nHost: localhost\r\nCookie: {SESSION_COOKIE}=")
            .into_bytes();
    high.extend_from_slice(&[0xff, 0xfe, 0x80, 0xc3, 0x28]);
    high.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    assert_refused(&app.raw(&high).await, &[401], "obs-text bytes");
    let mut control =
        format!("GET /private/c HTTP/1.1\r\nHost: localhost\r\nCookie: {SESSION_COOKIE}={valid}")
            .into_bytes();
    control.extend_from_slice(&[0x01, 0x00]);
    control.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    assert_refused(&app.raw(&control).await, &[400], "control bytes");
    app.assert_backend_saw_nothing("binary cookies").await;
    assert_eq!(whoami(&app, &valid).await, 200, "nothing crashed");
}

#[tokio::test]
async fn whitespace_around_a_valid_id_is_the_same_session_and_nobody_elses() {
    // Cookie pieces are trimmed (RFC 6265 parsers trim too), so a valid id
    // padded with spaces or tabs still names its own session. This grants
    // nothing the id's holder did not have; it is pinned here so that a
    // change is deliberate. Padding never turns an id into another one.
    let app = App::start().await;
    let valid = app.login("alice").await;
    for line in [
        format!("Cookie: {SESSION_COOKIE}={valid} ; theme=dark"),
        format!("Cookie: {SESSION_COOKIE}= {valid}"),
        format!("Cookie: {SESSION_COOKIE}={valid}\t; a=b"),
    ] {
        let replies = app.raw_get("GET /private/ws", &[&line]).await;
        let reply = only_reply(&replies).expect("an answer");
        assert_eq!(reply.status, 200, "{line:?}");
    }
    let seen = app.settle().await;
    assert_eq!(seen.len(), 3);
    for r in &seen {
        assert_eq!(r.header_str("x-forwarded-user"), Some("alice"));
        assert!(!String::from_utf8_lossy(r.header("cookie").unwrap_or_default()).contains(&valid));
    }
}
