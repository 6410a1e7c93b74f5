//! Scale-out (README "Session store"): two gatehouse instances share
//! sessions through a Redis Cluster, or a master behind Redis Sentinel: a
//! sign-in on one is honoured by the other, and a logout or "log out
//! everywhere" on either ends the session on both.

#[allow(dead_code)] // not every helper of the shared harness is used here
mod common;

use reqwest::StatusCode;

use common::backend::Backend;
use common::client::https_client;
use common::gatehouse::{self, Builder};
use common::login::{login_ok, logout, start_ready, whoami};
use common::redis::{RedisCluster, RedisSentinel};

fn builder(store_toml: &str, backend: &Backend) -> Builder {
    gatehouse::builder()
        .store_toml(store_toml)
        .route(gatehouse::route("/", &backend.url(), "required"))
        .user("alice", "alice@example.com", &["staff"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_a_cluster_share_sessions() {
    let cluster = RedisCluster::start();
    two_instances_share_sessions(&cluster.store_toml()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behind_sentinel_share_sessions() {
    let watched = RedisSentinel::start();
    two_instances_share_sessions(&watched.store_toml()).await;
}

/// Instances A and B with the same `[store]` keys share every session.
async fn two_instances_share_sessions(store_toml: &str) {
    let backend = Backend::start().await;
    let a = start_ready(builder(store_toml, &backend)).await;
    let b = start_ready(builder(store_toml, &backend)).await;
    let (on_a, on_b) = (https_client(a.https), https_client(b.https));

    let first = login_ok(&on_a, &a, "alice").await;
    assert_eq!(whoami(&on_b, &b, &first).await, StatusCode::OK);
    let resp = logout(&on_b, &b, &first, "").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(whoami(&on_a, &a, &first).await, StatusCode::UNAUTHORIZED);

    // Sessions from both instances: one "log out everywhere" ends them all.
    let x = login_ok(&on_a, &a, "alice").await;
    let y = login_ok(&on_b, &b, "alice").await;
    assert_eq!(whoami(&on_a, &a, &y).await, StatusCode::OK);
    let resp = logout(&on_a, &a, &x, "?everywhere=1").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    for id in [&x, &y] {
        assert_eq!(whoami(&on_a, &a, id).await, StatusCode::UNAUTHORIZED);
        assert_eq!(whoami(&on_b, &b, id).await, StatusCode::UNAUTHORIZED);
    }
}
