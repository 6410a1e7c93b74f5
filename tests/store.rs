//! The session store: one behaviour suite run against every backend (the
//! embedded store, one redis-server, a 3-master Redis Cluster, a master
//! behind Redis Sentinel), then what
//! only Redis can get wrong (outages, pauses, what lands in Redis).

#[allow(dead_code)] // not every helper of the shared harness is used here
mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::poll::eventually;
use common::redis::{free_port, RedisCluster, RedisSentinel, RedisServer};
use gatehouse::config::{SentinelTarget, Store, StoreUrl};
use gatehouse::session::{SessionId, SessionKey};
use gatehouse::store::{SessionRecord, SessionStore, StoreError};

/// Store timeout used by every test: short, so failure tests are fast.
const TIMEOUT: Duration = Duration::from_millis(500);
const LONG: Duration = Duration::from_secs(600);

fn config(url: StoreUrl, max_entries: usize) -> Store {
    Store {
        url,
        key_prefix: "gh-test:".into(),
        cache_capacity: 0,
        timeout: TIMEOUT,
        max_entries,
    }
}

fn memory_store() -> SessionStore {
    SessionStore::open(&config(StoreUrl::Memory, 1000)).expect("memory store opens")
}

/// A Redis store that has finished its first connection.
async fn redis_store(server: &RedisServer) -> SessionStore {
    connected(StoreUrl::Redis(server.url())).await
}

/// A store on a Redis Cluster that has finished its first connection.
async fn cluster_store(cluster: &RedisCluster) -> SessionStore {
    connected(StoreUrl::Cluster(cluster.seeds())).await
}

/// Where a store finds the master `watched` monitors.
fn sentinel_url(watched: &RedisSentinel) -> StoreUrl {
    StoreUrl::Sentinel(SentinelTarget {
        sentinels: vec![watched.sentinel_url()],
        master: "mymaster".into(),
        db: 0,
    })
}

/// A store behind Redis Sentinel that has finished its first connection.
async fn sentinel_store(watched: &RedisSentinel) -> SessionStore {
    connected(sentinel_url(watched)).await
}

async fn connected(url: StoreUrl) -> SessionStore {
    let store = SessionStore::open(&config(url, 1000)).expect("target is valid");
    eventually("the store connects", || async {
        store.ping().await.is_ok()
    })
    .await;
    store
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn record(user: &str) -> SessionRecord {
    SessionRecord {
        user: user.into(),
        email: Some(format!("{user}@example.com")),
        groups: vec!["staff".into()],
        created: now(),
        last_seen: now(),
        absolute_expiry: now() + 12 * 3600,
        client_addr: "192.0.2.7".into(),
        user_agent: "test-agent/1.0".into(),
        tokens: None,
    }
}

fn new_key() -> SessionKey {
    SessionId::generate().key()
}

/// Runs each named behaviour against the memory store, a fresh
/// redis-server, a fresh Redis Cluster and a fresh Sentinel-watched
/// master, as four tests.
macro_rules! on_every_store {
    ($($behaviour:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    super::$behaviour(&super::memory_store()).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    let server = super::RedisServer::start();
                    super::$behaviour(&super::redis_store(&server).await).await;
                }
            )*
        }
        mod cluster {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    let cluster = super::RedisCluster::start();
                    super::$behaviour(&super::cluster_store(&cluster).await).await;
                }
            )*
        }
        mod sentinel {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    let watched = super::RedisSentinel::start();
                    super::$behaviour(&super::sentinel_store(&watched).await).await;
                }
            )*
        }
    };
}

on_every_store!(
    insert_then_get_round_trips,
    unknown_key_is_no_session,
    sessions_expire_at_their_ttl,
    touch_rewrites_and_extends_a_live_session,
    touch_after_remove_does_not_resurrect,
    remove_ends_one_session,
    remove_user_ends_only_that_users_sessions,
    list_shows_all_or_one_users_sessions,
    remove_all_ends_every_session,
    failures_count_within_the_window_and_reset_after_it,
);

async fn insert_then_get_round_trips(store: &SessionStore) {
    let key = new_key();
    let rec = record("alice");
    store.insert(&key, &rec, LONG).await.expect("insert");
    assert_eq!(store.get(&key).await.expect("get"), Some(rec));
}

async fn unknown_key_is_no_session(store: &SessionStore) {
    assert_eq!(store.get(&new_key()).await.expect("get"), None);
}

async fn sessions_expire_at_their_ttl(store: &SessionStore) {
    let key = new_key();
    let started = Instant::now();
    store
        .insert(&key, &record("alice"), Duration::from_secs(1))
        .await
        .expect("insert");
    assert!(store.get(&key).await.expect("get").is_some());
    eventually("the session expires", || async {
        store.get(&key).await.expect("get").is_none()
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "expired early, after {:?}",
        started.elapsed()
    );
    assert!(store.list(Some("alice")).await.expect("list").is_empty());
}

async fn touch_rewrites_and_extends_a_live_session(store: &SessionStore) {
    let key = new_key();
    let rec = record("alice");
    store
        .insert(&key, &rec, Duration::from_secs(1))
        .await
        .expect("insert");
    let touched = SessionRecord {
        last_seen: rec.last_seen + 42,
        ..rec
    };
    assert!(store.touch(&key, &touched, LONG).await.expect("touch"));
    // Not a wait for an event: the session must still be there after its
    // first TTL has run out, so this has to let that time pass.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(store.get(&key).await.expect("get"), Some(touched));
}

async fn touch_after_remove_does_not_resurrect(store: &SessionStore) {
    let key = new_key();
    let rec = record("alice");
    store.insert(&key, &rec, LONG).await.expect("insert");
    store.remove(&key, "alice").await.expect("remove");
    assert!(!store.touch(&key, &rec, LONG).await.expect("touch"));
    assert_eq!(store.get(&key).await.expect("get"), None);
    assert!(store.list(Some("alice")).await.expect("list").is_empty());
    // Never inserted at all: the same.
    assert!(!store.touch(&new_key(), &rec, LONG).await.expect("touch"));
}

async fn remove_ends_one_session(store: &SessionStore) {
    let (gone, kept) = (new_key(), new_key());
    store
        .insert(&gone, &record("alice"), LONG)
        .await
        .expect("insert");
    store
        .insert(&kept, &record("alice"), LONG)
        .await
        .expect("insert");
    store.remove(&gone, "alice").await.expect("remove");
    assert_eq!(store.get(&gone).await.expect("get"), None);
    assert!(store.get(&kept).await.expect("get").is_some());
    assert_eq!(store.list(Some("alice")).await.expect("list").len(), 1);
    // Removing what is already gone is not an error.
    store.remove(&gone, "alice").await.expect("remove again");
}

async fn remove_user_ends_only_that_users_sessions(store: &SessionStore) {
    let alice: Vec<SessionKey> = (0..3).map(|_| new_key()).collect();
    for key in &alice {
        store
            .insert(key, &record("alice"), LONG)
            .await
            .expect("insert");
    }
    let bob = new_key();
    store
        .insert(&bob, &record("bob"), LONG)
        .await
        .expect("insert");

    assert_eq!(store.remove_user("alice").await.expect("remove_user"), 3);
    for key in &alice {
        assert_eq!(store.get(key).await.expect("get"), None);
    }
    assert!(store.get(&bob).await.expect("get").is_some());
    assert_eq!(store.remove_user("alice").await.expect("again"), 0);
    assert_eq!(store.remove_user("nobody").await.expect("unknown"), 0);
}

async fn list_shows_all_or_one_users_sessions(store: &SessionStore) {
    assert!(store.list(None).await.expect("list").is_empty());
    for user in ["alice", "alice", "bob"] {
        store
            .insert(&new_key(), &record(user), LONG)
            .await
            .expect("insert");
    }
    let mut users: Vec<String> = store
        .list(None)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.user)
        .collect();
    users.sort();
    assert_eq!(users, ["alice", "alice", "bob"]);
    let alice = store.list(Some("alice")).await.expect("list alice");
    assert_eq!(alice.len(), 2);
    assert!(alice.iter().all(|r| r.user == "alice"));
    assert!(store.list(Some("carol")).await.expect("list").is_empty());
}

async fn remove_all_ends_every_session(store: &SessionStore) {
    let keys: Vec<SessionKey> = (0..4).map(|_| new_key()).collect();
    for (i, key) in keys.iter().enumerate() {
        let user = if i % 2 == 0 { "alice" } else { "bob" };
        store
            .insert(key, &record(user), LONG)
            .await
            .expect("insert");
    }
    assert_eq!(store.remove_all().await.expect("remove_all"), 4);
    for key in &keys {
        assert_eq!(store.get(key).await.expect("get"), None);
    }
    assert!(store.list(None).await.expect("list").is_empty());
    assert!(store.list(Some("alice")).await.expect("list").is_empty());
    assert_eq!(store.remove_all().await.expect("again"), 0);
}

async fn failures_count_within_the_window_and_reset_after_it(store: &SessionStore) {
    let window = Duration::from_secs(1);
    assert_eq!(
        store.failures("user:alice").await.expect("failures"),
        (0, Duration::ZERO)
    );
    for expected in 1..=3 {
        let count = store.record_failure("user:alice", window).await;
        assert_eq!(count.expect("record"), expected);
    }
    assert_eq!(
        store
            .record_failure("ip:192.0.2.7", window)
            .await
            .expect("record"),
        1
    );
    let (count, left) = store.failures("user:alice").await.expect("failures");
    assert_eq!(count, 3);
    assert!(left > Duration::ZERO && left <= window, "{left:?} left");

    eventually("the window ends", || async {
        store.failures("user:alice").await.expect("failures") == (0, Duration::ZERO)
    })
    .await;
    assert_eq!(
        store
            .record_failure("user:alice", window)
            .await
            .expect("record"),
        1
    );

    store.clear_failures("user:alice").await.expect("clear");
    assert_eq!(store.failures("user:alice").await.expect("failures").0, 0);
}

// ---- Memory store only ----

#[tokio::test]
async fn memory_store_evicts_the_session_closest_to_expiry_when_full() {
    let store = SessionStore::open(&config(StoreUrl::Memory, 3)).expect("open");
    let keys: Vec<SessionKey> = (0..4).map(|_| new_key()).collect();
    for (i, key) in keys.iter().enumerate() {
        let ttl = Duration::from_secs(100 * (4 - i as u64));
        store
            .insert(key, &record("alice"), ttl)
            .await
            .expect("insert");
    }
    // TTLs 400 s, 300 s, 200 s fill the store; the fourth insert (100 s)
    // evicts the entry closest to expiry among those present: keys[2]. A
    // new login always gets in.
    assert_eq!(store.get(&keys[2]).await.expect("get"), None);
    for i in [0, 1, 3] {
        assert!(store.get(&keys[i]).await.expect("get").is_some(), "key {i}");
    }
    assert_eq!(store.list(None).await.expect("list").len(), 3);
    assert_eq!(store.remove_user("alice").await.expect("remove_user"), 3);
}

// ---- Redis Cluster only ----

#[tokio::test]
async fn cluster_sessions_spread_over_masters_and_are_all_found() {
    let cluster = RedisCluster::start();
    let store = cluster_store(&cluster).await;
    let keys: Vec<SessionKey> = (0..30).map(|_| new_key()).collect();
    for (i, key) in keys.iter().enumerate() {
        let user = if i % 3 == 0 { "bob" } else { "alice" };
        store
            .insert(key, &record(user), LONG)
            .await
            .expect("insert");
    }
    let holding = cluster
        .nodes
        .iter()
        .filter(|n| {
            n.cli(&["--scan", "--pattern", "gh-test:s:*"])
                .lines()
                .count()
                > 0
        })
        .count();
    assert!(holding >= 2, "sessions on {holding} master(s): not spread");
    // SCAN must walk every master, the index every slot.
    assert_eq!(store.list(None).await.expect("list").len(), 30);
    assert_eq!(store.list(Some("bob")).await.expect("list").len(), 10);
    assert_eq!(store.remove_user("alice").await.expect("remove_user"), 20);
    assert_eq!(store.list(None).await.expect("list").len(), 10);
    assert_eq!(store.remove_all().await.expect("remove_all"), 10);
    assert!(
        cluster.keys().iter().all(|k| !k.starts_with("gh-test:s:")),
        "{:?}",
        cluster.keys()
    );
}

#[tokio::test]
async fn cluster_runs_without_the_cache() {
    let cluster = RedisCluster::start();
    let store = SessionStore::open(&Store {
        cache_capacity: 1000,
        ..config(StoreUrl::Cluster(cluster.seeds()), 10)
    })
    .expect("open");
    eventually("the store connects", || async {
        store.ping().await.is_ok()
    })
    .await;
    let key = new_key();
    store
        .insert(&key, &record("alice"), LONG)
        .await
        .expect("insert");
    assert!(store.get(&key).await.expect("get").is_some());
    assert!(
        store.cached(&key).is_none(),
        "no cache without an invalidation channel"
    );
}

#[tokio::test]
async fn cluster_unreachable_at_start_is_unavailable_until_it_comes_up() {
    let seeds = vec![format!("redis://127.0.0.1:{}", free_port())];
    let store = SessionStore::open(&config(StoreUrl::Cluster(seeds), 10)).expect("open");
    let started = Instant::now();
    assert!(matches!(store.ping().await, Err(StoreError::Unavailable)));
    assert!(started.elapsed() < TIMEOUT, "Unavailable must be immediate");
}

// ---- Redis Sentinel only ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_failover_is_followed_by_the_store_and_its_cache() {
    let mut watched = RedisSentinel::start_with_replica();
    let store = SessionStore::open(&Store {
        cache_capacity: 1000,
        ..config(sentinel_url(&watched), 10)
    })
    .expect("open");
    eventually("the store connects", || async {
        store.ping().await.is_ok()
    })
    .await;
    let key = new_key();
    store
        .insert(&key, &record("alice"), LONG)
        .await
        .expect("insert");
    eventually("the session is cached", || async {
        store.get(&key).await.is_ok() && store.cached(&key).is_some()
    })
    .await;
    let replica_port = watched.replica.as_ref().expect("replica").port();
    let redis_key = format!("gh-test:s:{}", key.as_str());
    eventually("the replica has the session", || async {
        let replica = watched.replica.as_ref().expect("replica");
        !replica.cli(&["GET", &redis_key]).trim().is_empty()
    })
    .await;

    watched.master.kill();
    let killed = Instant::now();
    eventually("the sentinel promotes the replica", || async {
        watched.master_port() == Some(replica_port)
    })
    .await;
    eventually("the store follows the failover", || async {
        store.get(&key).await.is_ok_and(|r| r.is_some())
    })
    .await;
    eprintln!(
        "store working again {:?} after the master died",
        killed.elapsed()
    );
    let fresh = new_key();
    store
        .insert(&fresh, &record("bob"), LONG)
        .await
        .expect("insert on the new master");
    eventually("the cache is live again", || async {
        store.get(&fresh).await.is_ok() && store.cached(&fresh).is_some()
    })
    .await;
    // A change made on the new master reaches the cache: the invalidation
    // channel moved there too.
    let replica = watched.replica.as_ref().expect("replica");
    replica.cli(&["DEL", &format!("gh-test:s:{}", fresh.as_str())]);
    eventually(
        "the new master's invalidation reaches the cache",
        || async { store.cached(&fresh).is_none() },
    )
    .await;
}

// ---- Redis store only ----

/// Every key in the server and every value, as text.
fn dump_everything(server: &RedisServer) -> String {
    let mut dump = String::new();
    for key in server.cli(&["--scan"]).lines().filter(|k| !k.is_empty()) {
        let value = match server.cli(&["TYPE", key]).trim() {
            "string" => server.cli(&["GET", key]),
            "set" => server.cli(&["SMEMBERS", key]),
            other => panic!("unexpected {other} under {key}"),
        };
        dump.push_str(&format!("{key} => {value}\n"));
    }
    dump
}

#[tokio::test]
async fn redis_never_sees_the_raw_session_id() {
    let server = RedisServer::start();
    let store = redis_store(&server).await;
    let id = SessionId::generate();
    let rec = record("alice");
    store.insert(&id.key(), &rec, LONG).await.expect("insert");
    store.touch(&id.key(), &rec, LONG).await.expect("touch");

    let dump = dump_everything(&server);
    assert!(
        dump.contains(id.key().as_str()),
        "the hashed key is stored:\n{dump}"
    );
    assert!(
        !dump.contains(&id.cookie_value()),
        "raw id leaked into Redis:\n{dump}"
    );
    // The record is readable JSON for operators.
    assert!(dump.contains(r#""user":"alice""#), "{dump}");
}

#[tokio::test]
async fn user_index_outlives_the_longest_session() {
    let server = RedisServer::start();
    let store = redis_store(&server).await;
    store
        .insert(&new_key(), &record("alice"), LONG)
        .await
        .expect("insert");
    store
        .insert(&new_key(), &record("alice"), Duration::from_secs(5))
        .await
        .expect("insert");
    let pttl: i64 = server
        .cli(&["PTTL", "gh-test:u:alice"])
        .trim()
        .parse()
        .expect("int");
    assert!(
        pttl > 590_000,
        "user set TTL {pttl} ms shrank below the longest session"
    );

    let key = new_key();
    store
        .insert(&key, &record("bob"), Duration::from_secs(5))
        .await
        .expect("insert");
    assert!(store
        .touch(&key, &record("bob"), LONG)
        .await
        .expect("touch"));
    let pttl: i64 = server
        .cli(&["PTTL", "gh-test:u:bob"])
        .trim()
        .parse()
        .expect("int");
    assert!(
        pttl > 590_000,
        "touch did not extend the user set: {pttl} ms"
    );
}

#[tokio::test]
async fn listing_a_user_drops_index_entries_of_expired_sessions() {
    let server = RedisServer::start();
    let store = redis_store(&server).await;
    let key = new_key();
    store
        .insert(&key, &record("alice"), Duration::from_millis(200))
        .await
        .expect("insert");
    eventually("the session expires", || async {
        store.get(&key).await.expect("get").is_none()
    })
    .await;
    assert!(store.list(Some("alice")).await.expect("list").is_empty());
    assert_eq!(server.cli(&["SCARD", "gh-test:u:alice"]).trim(), "0");
}

#[tokio::test]
async fn flushall_means_no_sessions() {
    let server = RedisServer::start();
    let store = redis_store(&server).await;
    let key = new_key();
    store
        .insert(&key, &record("alice"), LONG)
        .await
        .expect("insert");
    server.cli(&["FLUSHALL"]);
    assert_eq!(store.get(&key).await.expect("get"), None);
    assert!(!store
        .touch(&key, &record("alice"), LONG)
        .await
        .expect("touch"));
}

#[tokio::test]
async fn corrupt_records_are_no_session() {
    let server = RedisServer::start();
    let store = redis_store(&server).await;
    let key = new_key();
    let redis_key = format!("gh-test:s:{}", key.as_str());
    server.cli(&["SET", &redis_key, "{not json"]);
    assert_eq!(store.get(&key).await.expect("get"), None);
    server.cli(&["SET", &redis_key, r#"{"user":"alice"}"#]);
    assert_eq!(store.get(&key).await.expect("get"), None);
}

#[tokio::test]
async fn unix_socket_urls_work() {
    let server = RedisServer::start_unix();
    assert!(server.url().starts_with("redis+unix:///"));
    let store = redis_store(&server).await;
    let key = new_key();
    store
        .insert(&key, &record("alice"), LONG)
        .await
        .expect("insert");
    assert!(store.get(&key).await.expect("get").is_some());
}

#[tokio::test]
async fn malformed_urls_are_the_only_open_error() {
    let err = SessionStore::open(&config(StoreUrl::Redis("redis://[oops".into()), 10))
        .expect_err("malformed");
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    // Nothing listens there, and that is not an error at open.
    let port = free_port();
    SessionStore::open(&config(
        StoreUrl::Redis(format!("redis://127.0.0.1:{port}")),
        10,
    ))
    .expect("an unreachable Redis still opens");
}

#[tokio::test]
async fn unreachable_at_start_is_unavailable_until_redis_comes_up() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}/0");
    let store = SessionStore::open(&config(StoreUrl::Redis(url), 10)).expect("open");
    let started = Instant::now();
    assert!(matches!(store.ping().await, Err(StoreError::Unavailable)));
    let key = new_key();
    assert!(matches!(
        store.get(&key).await,
        Err(StoreError::Unavailable)
    ));
    assert!(started.elapsed() < TIMEOUT, "Unavailable must be immediate");

    let _server = RedisServer::start_on(port);
    let up = Instant::now();
    eventually("the store connects", || async {
        store.ping().await.is_ok()
    })
    .await;
    eprintln!("connected {:?} after redis-server started", up.elapsed());
    store
        .insert(&key, &record("alice"), LONG)
        .await
        .expect("insert");
    assert!(store.get(&key).await.expect("get").is_some());
}

#[tokio::test]
async fn a_killed_redis_fails_fast_and_is_used_again_after_restart() {
    let mut server = RedisServer::start();
    let store = redis_store(&server).await;
    let key = new_key();
    store
        .insert(&key, &record("alice"), LONG)
        .await
        .expect("insert");

    server.kill();
    // Every call during a 2 s outage fails, and fails fast.
    let down = Instant::now();
    let mut calls = 0;
    while down.elapsed() < Duration::from_secs(2) {
        let started = Instant::now();
        let result = store.get(&key).await;
        let took = started.elapsed();
        assert!(result.is_err(), "a dead Redis answered: {result:?}");
        assert!(took < 2 * TIMEOUT, "took {took:?}");
        calls += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("{calls} calls failed fast while Redis was down");

    server.restart();
    let up = Instant::now();
    eventually("calls succeed after the restart", || async {
        store.ping().await.is_ok()
    })
    .await;
    eprintln!("working again {:?} after the restart", up.elapsed());
    // The restarted server is empty: the session is gone, and new ones work.
    assert_eq!(store.get(&key).await.expect("get"), None);
    store
        .insert(&key, &record("alice"), LONG)
        .await
        .expect("insert");
    assert!(store.get(&key).await.expect("get").is_some());
}

#[tokio::test]
async fn a_paused_redis_times_out_within_the_store_timeout() {
    let server = RedisServer::start();
    let store = redis_store(&server).await;
    let key = new_key();
    store
        .insert(&key, &record("alice"), LONG)
        .await
        .expect("insert");

    server.cli(&["CLIENT", "PAUSE", "5000"]);
    let paused = Instant::now();
    // Concurrent requests all give up on time instead of queueing.
    let calls = (0..5).map(|_| {
        let store = store.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            (store.get(&key).await, started.elapsed())
        })
    });
    for call in calls {
        let (result, took) = call.await.expect("task");
        eprintln!("while paused: {result:?} after {took:?}");
        assert!(matches!(result, Err(StoreError::Timeout(_))), "{result:?}");
        assert!(took < 2 * TIMEOUT, "took {took:?}");
    }
    let started = Instant::now();
    let result = store.touch(&key, &record("alice"), LONG).await;
    assert!(
        result.is_err() && started.elapsed() < 2 * TIMEOUT,
        "{result:?}"
    );

    eventually("calls succeed after the pause", || async {
        store.get(&key).await.is_ok_and(|rec| rec.is_some())
    })
    .await;
    eprintln!(
        "working again {:?} after CLIENT PAUSE 5000",
        paused.elapsed()
    );
}

#[tokio::test]
async fn an_idle_store_recovers_from_a_redis_restart() {
    let mut server = RedisServer::start();
    let store = redis_store(&server).await;
    let key = new_key();
    store
        .insert(&key, &record("alice"), LONG)
        .await
        .expect("insert");
    // No calls while Redis is down: the store learns of it on the next
    // call, whose one retry on a new connection makes it succeed.
    server.restart();
    assert_eq!(
        store.get(&key).await.expect("first call after restart"),
        None
    );
    store
        .insert(&key, &record("alice"), LONG)
        .await
        .expect("insert");
    assert!(store.get(&key).await.expect("get").is_some());
}
