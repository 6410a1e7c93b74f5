//! Path tricks against a public/admin split: `/public` is public, `/admin`
//! needs group `admins`, everything else needs a session. No spelling may
//! reach the backend as an unauthenticated admin request.

use crate::{assert_refused, only_reply, summary, App, SESSION_COOKIE};

/// Sends `target` raw and unauthenticated; the answer must be one of
/// `allowed`, and the backend must see nothing under `/admin`, nothing
/// outside `/public`, and no identity.
async fn probe(target: &str, allowed: &[u16]) {
    let app = App::start().await;
    let replies = app.raw_get(&format!("GET {target}"), &[]).await;
    assert_refused(&replies, allowed, target);
    let seen = app.settle().await;
    for r in &seen {
        assert!(
            r.path.starts_with("/public/") || r.path == "/public",
            "{target}: reached the backend as {}",
            r.path
        );
        assert!(!r.path.contains(".."), "{target}: forwarded {}", r.path);
        assert_eq!(r.header("x-forwarded-user"), None);
    }
    if let Some(reply) = only_reply(&replies) {
        if reply.status == 200 {
            assert_eq!(seen.len(), 1, "{target}: {:?}", summary(&seen));
        } else {
            assert!(seen.is_empty(), "{target}: {:?}", summary(&seen));
        }
    }
}

/// Resolves to `/admin` (401 without a session) or is refused (400).
const REFUSED: &[u16] = &[400, 401];

#[tokio::test]
async fn dot_dot_out_of_public() {
    probe("/public/../admin", &[401]).await;
}

#[tokio::test]
async fn encoded_dot_dot_out_of_public() {
    probe("/public/%2e%2e/admin", &[401]).await;
    probe("/public/%2E%2E/admin", &[401]).await;
    probe("/public/.%2e/admin", &[401]).await;
}

#[tokio::test]
async fn encoded_slash_after_dot_dot() {
    probe("/public/..%2fadmin", &[400]).await;
    probe("/public/..%2Fadmin", &[400]).await;
}

#[tokio::test]
async fn dot_dot_with_parameters() {
    probe("/public/..;/admin", &[400]).await;
    probe("/public/..;x=1/admin", &[400]).await;
    probe("/public/..%3b/admin", &[400]).await;
}

#[tokio::test]
async fn encoded_dot_dot_with_parameters() {
    probe("/public/%2e%2e;/admin", &[400]).await;
}

#[tokio::test]
async fn double_slash_admin() {
    probe("//admin", &[401]).await;
    probe("///admin/", &[401]).await;
}

#[tokio::test]
async fn backslashes() {
    probe("/public\\..\\admin", &[400]).await;
    probe("/public/..%5cadmin", &[400]).await;
}

#[tokio::test]
async fn nul_and_control_bytes() {
    probe("/admin%00", &[400]).await;
    probe("/public/%00/../admin", &[400]).await;
    probe("/admin%0d%0aX-Forwarded-User:%20root", &[400]).await;
}

#[tokio::test]
async fn fragment_in_the_request_target() {
    // A raw `#` is not allowed in a request target; whatever the parser
    // makes of it, the admin area is not reached.
    probe("/public#/../admin", &[200, 400, 401]).await;
    probe("/public%23/../admin", REFUSED).await;
}

#[tokio::test]
async fn encoded_letters() {
    probe("/%61dmin", &[401]).await;
    probe("/%41%44%4D%49%4E", &[401]).await;
}

#[tokio::test]
async fn upper_case_falls_to_the_required_root() {
    // Routing is case-sensitive: `/ADMIN` is not `/admin` and falls to `/`,
    // which is `required`: not served publicly either.
    probe("/ADMIN", &[401]).await;
    probe("/Public/../ADMIN", &[401]).await;
}

#[tokio::test]
async fn current_segment_then_dot_dot() {
    probe("/public/./../admin", &[401]).await;
    probe("/public/.././admin/./", &[401]).await;
}

#[tokio::test]
async fn overlong_utf8_dots() {
    probe("/public/%c0%ae%c0%ae/admin", &[400]).await;
    probe("/public/%e0%80%ae%e0%80%ae/admin", &[400]).await;
    probe("/public/..%c0%afadmin", &[400]).await;
}

#[tokio::test]
async fn parameters_on_the_admin_segment() {
    probe("/admin;x/", &[401]).await;
    probe("/;x/admin", &[401]).await;
    probe("/admin%3bjsessionid=1", &[401]).await;
}

#[tokio::test]
async fn double_encoding_stays_inside_public() {
    // `%252e` is `%2e` to one decoder and `.` to a second: the proxy decodes
    // once, so this is a public path; a backend that decodes twice is on its
    // own (it sees `/public/%252e%252e/admin` verbatim).
    let app = App::start().await;
    let replies = app.raw_get("GET /public/%252e%252e/admin", &[]).await;
    let reply = only_reply(&replies).expect("an answer");
    assert_eq!(reply.status, 200);
    let seen = app.settle().await;
    assert_eq!(summary(&seen).len(), 1);
    assert_eq!(seen[0].path, "/public/%252e%252e/admin");
}

#[tokio::test]
async fn tricks_resolve_to_the_admin_check_for_a_signed_in_user() {
    // With a session, the same tricks meet the group check: `alice` (staff)
    // gets 403; `root` (admins) reaches `/admin`, forwarded normalized.
    let app = App::start().await;
    let alice = app.login("alice").await;
    let root = app.login("root").await;
    for target in [
        "/public/../admin",
        "/public/%2e%2e/admin",
        "//admin",
        "/%61dmin",
    ] {
        let cookie = format!("Cookie: {SESSION_COOKIE}={alice}");
        let replies = app.raw_get(&format!("GET {target}"), &[&cookie]).await;
        assert_refused(&replies, &[403], target);
    }
    app.assert_backend_saw_nothing("alice on admin tricks")
        .await;
    let cookie = format!("Cookie: {SESSION_COOKIE}={root}");
    let replies = app.raw_get("GET /public/%2e%2e/admin", &[&cookie]).await;
    assert_eq!(only_reply(&replies).map(|r| r.status), Some(200));
    let seen = app.settle().await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/admin", "the normalized path is forwarded");
    assert_eq!(seen[0].header_str("x-forwarded-user"), Some("root"));
}
