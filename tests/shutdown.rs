//! Graceful shutdown as clients and operators see it: requests in flight
//! finish, new connections are turned away, the drain is bounded, and the
//! admin listener reports readiness throughout.

#[allow(dead_code)] // not every helper of the shared harness is used here
mod common;

use std::time::Duration;

use common::backend::Backend;
use common::client::{https_client_http1, https_client_http2, tls_client_config};
use common::gatehouse::{builder, route, Gatehouse};
use common::poll::eventually;
use common::wire;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

const WAIT: Duration = Duration::from_secs(5);

async fn proxy(backend: &Backend, timeouts: &str) -> Gatehouse {
    builder()
        .section(timeouts)
        .route(route("/", &backend.url(), "public"))
        .start()
        .await
}

/// Starts `GET path` in the background and returns once the backend has
/// received it, so that it is surely in flight.
async fn in_flight(
    g: &Gatehouse,
    backend: &Backend,
    client: reqwest::Client,
    path: &str,
) -> JoinHandle<reqwest::Result<reqwest::Response>> {
    let before = backend.seen().len();
    let request = tokio::spawn(client.get(g.url(path)).send());
    backend.wait_for_requests(before + 1, WAIT).await;
    request
}

fn admin_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(WAIT)
        .build()
        .expect("plain HTTP client")
}

async fn admin_status(g: &Gatehouse, path: &str) -> u16 {
    admin_client()
        .get(format!("http://{}{path}", g.admin))
        .send()
        .await
        .unwrap_or_else(|e| panic!("admin {path}: {e}"))
        .status()
        .as_u16()
}

/// Whether a brand-new client gets an answer from the TLS listener.
async fn new_connection_is_served(g: &Gatehouse) -> bool {
    let attempt = async {
        let tcp = TcpStream::connect(g.https).await.ok()?;
        let connector = TlsConnector::from(std::sync::Arc::new(tls_client_config(&[b"http/1.1"])));
        let mut tls = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .ok()?;
        let request = wire::get("/", &format!("localhost:{}", g.https.port()), "");
        tls.write_all(&request).await.ok()?;
        let mut answer = Vec::new();
        let _ = tls.read_to_end(&mut answer).await;
        wire::parse(&answer)
    };
    matches!(tokio::time::timeout(WAIT, attempt).await, Ok(Some(_)))
}

async fn in_flight_request_completes_after_shutdown_begins(
    client: fn(std::net::SocketAddr) -> reqwest::Client,
) {
    let backend = Backend::start().await;
    let mut g = proxy(&backend, "[timeouts]\nshutdown_drain = \"5s\"\n").await;
    let request = in_flight(&g, &backend, client(g.https), "/delay?ms=800").await;

    let run = g.begin_shutdown();
    let response = request
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(response.status(), 200);
    let json: serde_json::Value = response.json().await.unwrap();
    assert_eq!(json["path"], "/delay?ms=800");

    let result = tokio::time::timeout(WAIT, run)
        .await
        .expect("the run task ends once nothing is in flight");
    assert!(matches!(result, Ok(Ok(()))), "{result:?}");
}

#[tokio::test]
async fn a_request_in_flight_over_http1_completes_after_shutdown_begins() {
    in_flight_request_completes_after_shutdown_begins(https_client_http1).await;
}

#[tokio::test]
async fn a_request_in_flight_over_http2_completes_after_shutdown_begins() {
    in_flight_request_completes_after_shutdown_begins(https_client_http2).await;
}

#[tokio::test]
async fn new_connections_are_turned_away_once_shutdown_began() {
    let backend = Backend::start().await;
    let mut g = proxy(&backend, "[timeouts]\nshutdown_drain = \"5s\"\n").await;
    assert!(new_connection_is_served(&g).await, "served before shutdown");
    // Keeps the drain going while new connections are tried.
    let _hanging = in_flight(&g, &backend, https_client_http1(g.https), "/hang").await;

    let _run = g.begin_shutdown();
    eventually("new connections are refused or closed", || async {
        !new_connection_is_served(&g).await
    })
    .await;
    let forwarded = backend.seen().len();
    assert!(!new_connection_is_served(&g).await);
    assert_eq!(
        backend.seen().len(),
        forwarded,
        "a request was forwarded after shutdown"
    );
}

#[tokio::test]
async fn the_drain_is_bounded_by_shutdown_drain() {
    let backend = Backend::start().await;
    let mut g = proxy(&backend, "[timeouts]\nshutdown_drain = \"200ms\"\n").await;
    let _hanging = in_flight(&g, &backend, https_client_http1(g.https), "/hang").await;

    let start = Instant::now();
    let run = g.begin_shutdown();
    let result = tokio::time::timeout(WAIT, run)
        .await
        .expect("the run task ends despite a hanging request");
    let took = start.elapsed();
    assert!(matches!(result, Ok(Ok(()))), "{result:?}");
    assert!(took < Duration::from_secs(1), "the drain took {took:?}");
}

#[tokio::test]
async fn healthz_and_readyz_answer_200_with_the_memory_store() {
    let backend = Backend::start().await;
    let g = proxy(&backend, "").await;
    assert_eq!(admin_status(&g, "/healthz").await, 200);
    assert_eq!(admin_status(&g, "/readyz").await, 200);
}

#[tokio::test]
async fn readyz_turns_503_once_shutdown_began_while_the_admin_listener_keeps_answering() {
    let backend = Backend::start().await;
    let mut g = proxy(&backend, "[timeouts]\nshutdown_drain = \"5s\"\n").await;
    assert_eq!(admin_status(&g, "/readyz").await, 200);
    // Keeps the drain going while the admin listener is asked.
    let _hanging = in_flight(&g, &backend, https_client_http1(g.https), "/hang").await;

    let _run = g.begin_shutdown();
    eventually("/readyz says 503", || async {
        admin_status(&g, "/readyz").await == 503
    })
    .await;
    assert_eq!(admin_status(&g, "/healthz").await, 200);
}
