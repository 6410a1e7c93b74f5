//! Sessions in Redis (SPEC §5, README "Session store"): what lands in
//! Redis, instances sharing it, and Redis flushed, killed, restarted,
//! paused, or not there yet at startup.

#[allow(dead_code)] // not every helper of the shared harness is used here
mod common;

use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, COOKIE, LOCATION, RETRY_AFTER};
use reqwest::{Client, Response, StatusCode};

use common::backend::Backend;
use common::client::https_client;
use common::gatehouse::{self, Builder, ConfigDir, Gatehouse};
use common::login::{api_get, login, login_ok, logout, readyz, session, wait_ready, whoami};
use common::poll::eventually;
use common::redis::{free_port, RedisServer};

/// `[store] timeout` in these tests, so that failures show quickly.
const STORE_TIMEOUT: &str = "1s";
/// What a request may take while the store is down or paused: the store
/// timeout plus room for a slow, shared test machine.
const FAIL_FAST: Duration = Duration::from_millis(2900);

fn builder(redis_url: &str, backend: &Backend) -> Builder {
    gatehouse::builder()
        .store(redis_url)
        .route(gatehouse::route("/", &backend.url(), "required"))
        .route(gatehouse::route("/pub", &backend.url(), "public"))
        .user("alice", "alice@example.com", &["staff"])
        .user("bob", "bob@example.com", &["staff"])
}

/// Writes the config with `[store] timeout` set (the harness writes the
/// `[store]` table itself, so the key is added to it here).
fn with_store_timeout(builder: &Builder) -> ConfigDir {
    let files = builder.write();
    let toml = std::fs::read_to_string(&files.config).unwrap();
    let toml = toml.replacen(
        "[store]\n",
        &format!("[store]\ntimeout = \"{STORE_TIMEOUT}\"\n"),
        1,
    );
    std::fs::write(&files.config, toml).unwrap();
    files
}

async fn start(redis: &RedisServer, backend: &Backend) -> Gatehouse {
    let g = Gatehouse::start(with_store_timeout(&builder(&redis.url(), backend))).await;
    wait_ready(&g).await;
    g
}

/// A browser navigation to `path` carrying session `id`, and how long the
/// answer took.
async fn browse(client: &Client, g: &Gatehouse, path: &str, id: &str) -> (Response, Duration) {
    let started = Instant::now();
    let resp = client
        .get(g.url(path))
        .header(ACCEPT, "text/html")
        .header(COOKIE, session(id))
        .send()
        .await
        .expect("an answer");
    (resp, started.elapsed())
}

/// Asserts a fast 503 with `Retry-After` and no redirect.
fn assert_store_down(resp: &Response, took: Duration, what: &str) {
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
    assert!(
        resp.headers().contains_key(RETRY_AFTER),
        "{what}: Retry-After"
    );
    assert!(
        !resp.headers().contains_key(LOCATION),
        "{what}: no redirect"
    );
    assert!(took < FAIL_FAST, "{what}: took {took:?}");
}

/// Every key gatehouse wrote, with its value(s) as text.
fn dump(redis: &RedisServer) -> Vec<(String, String)> {
    redis
        .cli(&["--scan"])
        .lines()
        .filter(|k| !k.is_empty())
        .map(|key| {
            let value = match redis.cli(&["TYPE", key]).trim() {
                "string" => redis.cli(&["GET", key]),
                "set" => redis.cli(&["SMEMBERS", key]),
                other => panic!("unexpected type {other} of {key}"),
            };
            (key.to_owned(), value)
        })
        .collect()
}

#[tokio::test]
async fn raw_session_id_never_lands_in_redis() {
    let redis = RedisServer::start();
    let backend = Backend::start().await;
    let g = start(&redis, &backend).await;
    let client = https_client(g.https);
    // A failed login too, so that the counters are in the dump.
    login(&client, &g, "alice", "wrong", "/").await;
    let id = login_ok(&client, &g, "alice").await;

    let keys = dump(&redis);
    for (key, value) in &keys {
        assert!(!key.contains(&id), "raw id in key {key}");
        assert!(!value.contains(&id), "raw id in the value of {key}");
        assert!(!value.contains(gatehouse::PASSWORD), "password in {key}");
    }
    let hashed = ::gatehouse::session::SessionId::parse(&id)
        .expect("a well-formed id")
        .key();
    let session_key = format!("gatehouse:s:{}", hashed.as_str());
    let record = &keys
        .iter()
        .find(|(k, _)| *k == session_key)
        .unwrap_or_else(|| panic!("{session_key} in {keys:?}"))
        .1;
    let record: serde_json::Value = serde_json::from_str(record).expect("a JSON record");
    assert_eq!(record["user"], "alice");
    let index = redis.cli(&["SMEMBERS", "gatehouse:u:alice"]);
    assert!(index.contains(hashed.as_str()), "user index: {index}");
    let ttl: u64 = redis.cli(&["TTL", &session_key]).trim().parse().unwrap();
    assert!((1..=1800).contains(&ttl), "TTL is the idle window: {ttl}");
}

#[tokio::test]
async fn flushall_ends_sessions_at_once() {
    let redis = RedisServer::start();
    let backend = Backend::start().await;
    let g = start(&redis, &backend).await;
    let client = https_client(g.https);
    let id = login_ok(&client, &g, "alice").await;
    assert_eq!(whoami(&client, &g, &id).await, StatusCode::OK);
    redis.cli(&["FLUSHALL"]);
    assert_eq!(whoami(&client, &g, &id).await, StatusCode::UNAUTHORIZED);
    let (resp, _) = browse(&client, &g, "/x", &id).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn two_instances_share_sessions() {
    let redis = RedisServer::start();
    let backend = Backend::start().await;
    let shared = builder(&redis.url(), &backend);
    let a = Gatehouse::start(with_store_timeout(&shared)).await;
    let b = Gatehouse::start(with_store_timeout(&shared)).await;
    wait_ready(&a).await;
    wait_ready(&b).await;
    let (to_a, to_b) = (https_client(a.https), https_client(b.https));

    let id = login_ok(&to_a, &a, "alice").await;
    assert_eq!(whoami(&to_b, &b, &id).await, StatusCode::OK);
    let resp = api_get(&to_b, &b, "/x", &id).await;
    assert_eq!(resp.status(), StatusCode::OK);

    let resp = logout(&to_b, &b, &id, "").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(whoami(&to_a, &a, &id).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        api_get(&to_a, &a, "/x", &id).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn redis_killed_then_restarted() {
    let mut redis = RedisServer::start();
    let backend = Backend::start().await;
    let g = start(&redis, &backend).await;
    let client = https_client(g.https);
    let id = login_ok(&client, &g, "alice").await;

    redis.kill();
    for path in ["/x", "/y?z=1"] {
        let (resp, took) = browse(&client, &g, path, &id).await;
        assert_store_down(&resp, took, path);
    }
    let started = Instant::now();
    let resp = api_get(&client, &g, "/api", &id).await;
    assert_store_down(&resp, started.elapsed(), "API request");
    let started = Instant::now();
    assert_eq!(
        whoami(&client, &g, &id).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(started.elapsed() < FAIL_FAST);
    // Signing in cannot work either, and says so rather than "wrong password".
    let resp = login(&client, &g, "bob", gatehouse::PASSWORD, "/").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(readyz(&g).await, StatusCode::SERVICE_UNAVAILABLE);
    // Public routes never ask the store.
    let (resp, took) = browse(&client, &g, "/pub/page", &id).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(took < FAIL_FAST, "public route took {took:?}");
    let seen: Vec<String> = backend.seen().into_iter().map(|r| r.path).collect();
    assert_eq!(seen, ["/pub/page"], "protected requests were not forwarded");

    // Redis comes back empty (no persistence): the old session is simply
    // gone, and signing in works again without restarting gatehouse.
    redis.restart();
    wait_ready(&g).await;
    eventually("the store answers lookups again", || async {
        whoami(&client, &g, &id).await != StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    assert_eq!(whoami(&client, &g, &id).await, StatusCode::UNAUTHORIZED);
    let (resp, _) = browse(&client, &g, "/x", &id).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let fresh = login_ok(&client, &g, "alice").await;
    assert_eq!(
        api_get(&client, &g, "/after", &fresh).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn paused_redis_fails_fast_without_piling_up() {
    let redis = RedisServer::start();
    let backend = Backend::start().await;
    let g = start(&redis, &backend).await;
    let client = https_client(g.https);
    let id = login_ok(&client, &g, "alice").await;

    redis.cli(&["CLIENT", "PAUSE", "3000"]);
    let paused_at = Instant::now();
    let mut requests = tokio::task::JoinSet::new();
    for n in 0..8 {
        let (client, url, id) = (client.clone(), g.url(&format!("/p{n}")), id.clone());
        requests.spawn(async move {
            let started = Instant::now();
            let resp = client
                .get(url)
                .header(ACCEPT, "application/json")
                .header(COOKIE, session(&id))
                .send()
                .await
                .expect("an answer");
            (resp, started.elapsed())
        });
    }
    while let Some(joined) = requests.join_next().await {
        let (resp, took) = joined.expect("request task");
        assert_store_down(&resp, took, "request during CLIENT PAUSE");
    }
    assert!(
        paused_at.elapsed() < FAIL_FAST,
        "8 concurrent requests took {:?} together",
        paused_at.elapsed()
    );
    assert!(backend.seen().is_empty());

    // After the pause the same session works again.
    eventually("the session works after the pause", || async {
        api_get(&client, &g, "/after", &id).await.status() == StatusCode::OK
    })
    .await;
}

#[tokio::test]
async fn starts_without_redis_and_connects_when_it_appears() {
    let port = free_port();
    let backend = Backend::start().await;
    let url = format!("redis://127.0.0.1:{port}/0");
    let g = Gatehouse::start(with_store_timeout(&builder(&url, &backend))).await;
    let client = https_client(g.https);
    let made_up = ::gatehouse::session::SessionId::generate().cookie_value();

    assert_eq!(readyz(&g).await, StatusCode::SERVICE_UNAVAILABLE);
    // A request with a session cookie needs the store: 503. (One without a
    // cookie needs no lookup and is sent to the login page, whose post
    // then answers 503.)
    let (resp, took) = browse(&client, &g, "/x", &made_up).await;
    assert_store_down(&resp, took, "protected route");
    let resp = login(&client, &g, "alice", gatehouse::PASSWORD, "/").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let (resp, _) = browse(&client, &g, "/pub/x", &made_up).await;
    assert_eq!(resp.status(), StatusCode::OK);

    let _redis = RedisServer::start_on(port);
    wait_ready(&g).await;
    let id = login_ok(&client, &g, "alice").await;
    assert_eq!(
        api_get(&client, &g, "/x", &id).await.status(),
        StatusCode::OK
    );
}
