//! Operating gatehouse (SPEC §1, §6): `gatehouse sessions list|revoke`
//! through the real binary against a real Redis, and the admin listener's
//! `/healthz` and `/metrics`, whose numbers must follow real traffic.

#[allow(dead_code)] // not every helper of the shared harness is used here
mod common;

use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use reqwest::header::{COOKIE, USER_AGENT};
use reqwest::{Client, StatusCode};

use common::backend::Backend;
use common::client::{https_client, tls_connect};
use common::gatehouse::{self, Gatehouse, PASSWORD};
use common::login::cookie_set;
use common::login::{api_get, csrf_token, login, login_post, start_ready, LOGIN, SESSION_COOKIE};
use common::metrics::{admin_get, scrape, series, value};
use common::poll::eventually;
use common::process;
use common::redis::RedisServer;

/// How soon a revocation must be seen by the proxy (its cache included).
const REVOCATION_BOUND: Duration = Duration::from_secs(1);

/// Runs `gatehouse ARGS --config <g's proxy.toml>` off the async runtime.
async fn sessions_cmd(g: &Gatehouse, args: &[&str]) -> Output {
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.push("--config".into());
    args.push(g.files.config.to_str().unwrap().to_owned());
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        process::run(&args)
    })
    .await
    .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Logs `user` in with a `User-Agent` of our choosing; returns the session id.
async fn login_as(client: &Client, g: &Gatehouse, user: &str, agent: &str) -> String {
    let token = csrf_token(client, g).await;
    let resp = login_post(client, &g.url(LOGIN), &token, user, PASSWORD, "/")
        .header(USER_AGENT, agent)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "login of {user}");
    cookie_set(&resp, SESSION_COOKIE).expect("a session cookie")
}

/// Polls until the proxy refuses session `id` with 401, within [`REVOCATION_BOUND`].
async fn refused_soon(client: &Client, g: &Gatehouse, id: &str, what: &str) {
    let start = tokio::time::Instant::now();
    loop {
        let status = api_get(client, g, "/", id).await.status();
        if status == StatusCode::UNAUTHORIZED {
            return;
        }
        assert!(
            start.elapsed() < REVOCATION_BOUND,
            "{what}: still {status} after {:?}",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const ALICE_AGENT: &str = "OpsTest-Agent/7.3 (alice; distinctive)";
const BOB_AGENT: &str = "OpsTest-Agent/7.3 (bob; distinctive)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_list_shows_who_when_where_and_never_the_id() {
    let redis = RedisServer::start();
    let backend = Backend::start().await;
    let g = start_ready(
        gatehouse::builder()
            .store(&redis.url())
            .route(gatehouse::route("/", &backend.url(), "required"))
            .user("alice", "alice@example.com", &["staff"])
            .user("bob", "bob@example.com", &["staff"]),
    )
    .await;
    let client = https_client(g.https);
    let alice = login_as(&client, &g, "alice", ALICE_AGENT).await;
    let bob = login_as(&client, &g, "bob", BOB_AGENT).await;

    let out = sessions_cmd(&g, &["sessions", "list"]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two sessions:\n{text}");
    assert_eq!(
        lines[0].split('\t').collect::<Vec<_>>(),
        ["USER", "CREATED", "LAST SEEN", "CLIENT", "USER AGENT"]
    );
    for (user, agent) in [("alice", ALICE_AGENT), ("bob", BOB_AGENT)] {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("{user}\t")))
            .unwrap_or_else(|| panic!("no line for {user}:\n{text}"));
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 5, "{line}");
        for time in &fields[1..3] {
            let parsed = humantime_like(time);
            assert!(parsed, "created/last seen as RFC 3339: {time:?} in {line}");
        }
        assert_eq!(fields[3], "127.0.0.1", "client address: {line}");
        assert_eq!(fields[4], agent, "user agent: {line}");
    }
    for id in [&alice, &bob] {
        assert!(
            !text.contains(id.as_str()),
            "a session id in the list:\n{text}"
        );
    }
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = sessions_cmd(&g, &["sessions", "list", "--user", "bob"]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(lines.len(), 1, "only bob's session:\n{text}");
    assert!(lines[0].starts_with("bob\t") && lines[0].ends_with(BOB_AGENT));
}

/// `2026-01-15T08:00:00Z`-shaped: what `sessions list` prints for times.
fn humantime_like(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && s.chars()
            .enumerate()
            .all(|(i, c)| matches!(i, 4 | 7 | 10 | 13 | 16 | 19) || c.is_ascii_digit())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_revoke_by_user_then_all_ends_them_at_the_proxy() {
    let redis = RedisServer::start();
    let backend = Backend::start().await;
    let g = start_ready(
        gatehouse::builder()
            .store(&redis.url())
            .route(gatehouse::route("/", &backend.url(), "required"))
            .user("alice", "alice@example.com", &["staff"])
            .user("bob", "bob@example.com", &["staff"]),
    )
    .await;
    let client = https_client(g.https);
    let alice1 = login_as(&client, &g, "alice", ALICE_AGENT).await;
    let alice2 = login_as(&client, &g, "alice", ALICE_AGENT).await;
    let bob = login_as(&client, &g, "bob", BOB_AGENT).await;
    for id in [&alice1, &alice2, &bob] {
        // Twice: the second answer may come from the cache.
        for _ in 0..2 {
            assert_eq!(api_get(&client, &g, "/", id).await.status(), StatusCode::OK);
        }
    }

    let out = sessions_cmd(&g, &["sessions", "revoke", "--user", "alice"]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout(&out), "revoked 2 session(s) of alice\n");
    refused_soon(&client, &g, &alice1, "alice's first session").await;
    refused_soon(&client, &g, &alice2, "alice's second session").await;
    assert_eq!(
        api_get(&client, &g, "/", &bob).await.status(),
        StatusCode::OK
    );

    let out = sessions_cmd(&g, &["sessions", "revoke", "--all"]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout(&out), "revoked 1 session(s)\n");
    refused_soon(&client, &g, &bob, "bob's session after --all").await;
    let out = sessions_cmd(&g, &["sessions", "list"]).await;
    assert_eq!(stdout(&out).lines().count(), 1, "only the header left");
}

#[tokio::test]
async fn sessions_commands_on_the_embedded_store_exit_2_asking_for_a_shared_store() {
    let files = gatehouse::builder()
        .route(gatehouse::route("/", "http://127.0.0.1:9", "required"))
        .write();
    let config = files.config.to_str().unwrap();
    for args in [
        &["sessions", "list"][..],
        &["sessions", "revoke", "--all"],
        &["sessions", "revoke", "--user", "alice"],
    ] {
        let mut args = args.to_vec();
        args.extend(["--config", config]);
        let out = process::run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("shared store"), "{args:?}: {err}");
        assert!(err.contains("memory://"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

// ---------------------------------------------------------------------------
// The admin listener

/// Series that must be there from the first scrape on or after traffic.
const FAMILIES: &[&str] = &[
    "gatehouse_requests_total{route=",
    "gatehouse_request_duration_seconds_bucket",
    "gatehouse_upstream_duration_seconds",
    "gatehouse_session_lookups_total{result=\"hit\"}",
    "gatehouse_session_lookups_total{result=\"miss\"}",
    "gatehouse_logins_total{result=\"ok\"}",
    "gatehouse_logins_total{result=\"failed\"}",
    "gatehouse_logins_total{result=\"locked_out\"}",
    "gatehouse_open_connections",
    "gatehouse_store_round_trip_seconds",
];

const LOGINS_OK: &str = r#"gatehouse_logins_total{result="ok"}"#;
const LOGINS_FAILED: &str = r#"gatehouse_logins_total{result="failed"}"#;
const LOGINS_LOCKED: &str = r#"gatehouse_logins_total{result="locked_out"}"#;
const LOOKUP_HIT: &str = r#"gatehouse_session_lookups_total{result="hit"}"#;
const LOOKUP_MISS: &str = r#"gatehouse_session_lookups_total{result="miss"}"#;
const APP_200: &str = r#"gatehouse_requests_total{route="/app",status="200"}"#;
const APP_401: &str = r#"gatehouse_requests_total{route="/app",status="401"}"#;
const UPSTREAM_COUNT: &str = r#"gatehouse_upstream_duration_seconds_count{route="/app"}"#;
const DURATION_COUNT: &str = r#"gatehouse_request_duration_seconds_count{route="/app"}"#;
const ROUND_TRIPS: &str = "gatehouse_store_round_trip_seconds_count";
const OPEN: &str = "gatehouse_open_connections";

/// Reads every series a test follows from one scrape.
async fn snapshot(admin: SocketAddr, names: &[&str]) -> Vec<f64> {
    let text = scrape(admin).await;
    names.iter().map(|n| value(&text, n)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_metrics_follow_real_traffic() {
    let backend = Backend::start().await;
    // Only `/app` is routed, so nothing else on the public listener is forwarded.
    let g = start_ready(
        gatehouse::builder()
            .route(gatehouse::route("/app", &backend.url(), "required"))
            .user("alice", "alice@example.com", &["staff"])
            .user("mallory", "mallory@example.com", &[])
            .section("[login]\nmax_failures = 3\nlockout = \"5m\"\n"),
    )
    .await;
    let client = https_client(g.https);

    let (status, body) = admin_get(g.admin, "/healthz").await;
    assert_eq!(status, 200, "{body}");

    let names = [
        LOGINS_OK,
        LOGINS_FAILED,
        LOGINS_LOCKED,
        LOOKUP_HIT,
        LOOKUP_MISS,
        APP_200,
        APP_401,
        UPSTREAM_COUNT,
        DURATION_COUNT,
        ROUND_TRIPS,
    ];
    let before = snapshot(g.admin, &names).await;

    // One failed login moves the failed counter by exactly one.
    let resp = login(&client, &g, "alice", "not the password", "/").await;
    assert_eq!(resp.status(), StatusCode::OK, "the form again");
    assert_eq!(series(g.admin, LOGINS_FAILED).await - before[1], 1.0);
    // Then a good one; then mallory fails twice, which makes three failures
    // from this address, so the next attempt is locked out.
    let id = login(&client, &g, "alice", PASSWORD, "/").await;
    assert_eq!(id.status(), StatusCode::SEE_OTHER);
    let id = cookie_set(&id, SESSION_COOKIE).unwrap();
    for _ in 0..2 {
        let resp = login(&client, &g, "mallory", "wrong", "/").await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let resp = login(&client, &g, "mallory", PASSWORD, "/").await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);

    // Two forwarded requests (two store lookups: hits), one without a session (miss → 401).
    for _ in 0..2 {
        let resp = api_get(&client, &g, "/app/x", &id).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let resp = client
        .get(g.url("/app/x"))
        .header(COOKIE, format!("{SESSION_COOKIE}={}", "A".repeat(43)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let text = scrape(g.admin).await;
    for family in FAMILIES {
        assert!(
            text.contains(family),
            "{family} missing from /metrics:\n{text}"
        );
    }
    let after: Vec<f64> = names.iter().map(|n| value(&text, n)).collect();
    let delta = |name: &str| {
        let i = names.iter().position(|n| *n == name).unwrap();
        after[i] - before[i]
    };
    assert_eq!(
        delta(LOGINS_FAILED),
        3.0,
        "alice once, mallory twice:\n{text}"
    );
    assert_eq!(delta(LOGINS_OK), 1.0, "{text}");
    assert_eq!(delta(LOGINS_LOCKED), 1.0, "{text}");
    assert_eq!(delta(LOOKUP_HIT), 2.0, "{text}");
    assert_eq!(delta(LOOKUP_MISS), 1.0, "{text}");
    assert_eq!(delta(APP_200), 2.0, "{text}");
    assert_eq!(delta(APP_401), 1.0, "{text}");
    assert_eq!(delta(UPSTREAM_COUNT), 2.0, "{text}");
    assert_eq!(delta(DURATION_COUNT), 3.0, "{text}");
    assert!(delta(ROUND_TRIPS) >= 3.0, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_connections_gauge_follows_connections() {
    let backend = Backend::start().await;
    let g =
        start_ready(gatehouse::builder().route(gatehouse::route("/app", &backend.url(), "public")))
            .await;
    let before = series(g.admin, OPEN).await;
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(tls_connect(g.https, &[b"http/1.1"]).await);
    }
    eventually("three more open connections", || async {
        series(g.admin, OPEN).await == before + 3.0
    })
    .await;
    drop(conns);
    eventually("back to where it was", || async {
        series(g.admin, OPEN).await == before
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoints_are_not_on_the_public_listener() {
    let backend = Backend::start().await;
    let g =
        start_ready(gatehouse::builder().route(gatehouse::route("/app", &backend.url(), "public")))
            .await;
    let client = https_client(g.https);
    for path in ["/metrics", "/healthz", "/readyz"] {
        let resp = client.get(g.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        let body = resp.text().await.unwrap();
        assert!(!body.contains("gatehouse_"), "{path}: {body}");
    }
    assert!(backend.seen().is_empty(), "nothing was forwarded");
    // The admin listener is plain HTTP on its own port, and says so.
    assert_ne!(g.admin.port(), g.https.port());
    let (status, text) = admin_get(g.admin, "/metrics").await;
    assert_eq!(status, 200);
    assert!(text.contains("# TYPE gatehouse_"), "{text}");
}
