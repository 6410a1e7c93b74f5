//! What reaches the backend, and from which route: longest-prefix and host
//! routing, path normalization as forwarded, hop-by-hop and forwarding
//! headers, large bodies both ways over HTTP/1.1 and HTTP/2, and WebSocket.
//!
//! Tests that depend on exact bytes (paths reqwest would clean up,
//! hop-by-hop headers, a chosen `Host`) send raw HTTP/1.1 over TLS.

#[allow(dead_code)] // not every helper of the shared harness is used here
mod common;

use std::time::Duration;

use common::backend::{big_pattern, Backend, SeenRequest};
use common::client::{https_client_builder, tls_connect};
use common::gatehouse::{builder, route, Gatehouse};
use common::wire::{self, Reply};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(5);

fn host_of(g: &Gatehouse) -> String {
    format!("localhost:{}", g.https.port())
}

/// `GET target` on a fresh connection with `Host: localhost:PORT`.
async fn raw_get(g: &Gatehouse, target: &str, extra: &str) -> Reply {
    wire::send(g.https, &wire::get(target, &host_of(g), extra)).await
}

/// The only request `backend` saw.
async fn only_request(backend: &Backend) -> SeenRequest {
    let seen = backend.wait_for_requests(1, WAIT).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    seen.into_iter().next().unwrap()
}

fn paths(backend: &Backend) -> Vec<String> {
    backend.seen().into_iter().map(|r| r.path).collect()
}

// ---------------------------------------------------------------------------
// Routing

#[tokio::test]
async fn the_longest_matching_prefix_wins_on_segment_boundaries() {
    let (root, api, v2) = (
        Backend::start().await,
        Backend::start().await,
        Backend::start().await,
    );
    let g = builder()
        .route(route("/", &root.url(), "public"))
        .route(route("/api", &api.url(), "public"))
        .route(route("/api/v2", &v2.url(), "public"))
        .start()
        .await;

    for target in ["/", "/apix", "/api/v2x", "/api/v2/users", "/api", "/api/x"] {
        assert_eq!(raw_get(&g, target, "").await.status, 200, "{target}");
    }
    assert_eq!(paths(&root), ["/", "/apix"]);
    assert_eq!(paths(&api), ["/api/v2x", "/api", "/api/x"]);
    assert_eq!(paths(&v2), ["/api/v2/users"]);
}

#[tokio::test]
async fn a_host_route_beats_host_less_routes_case_insensitively_and_ignoring_the_port() {
    let (any, app) = (Backend::start().await, Backend::start().await);
    let g = builder()
        .route(route("/", &any.url(), "public"))
        .route(format!(
            "[[route]]\nhost = \"app.test\"\npath = \"/\"\nupstream = \"{}\"\nauth = \"public\"\n",
            app.url()
        ))
        .start()
        .await;

    for host in ["app.test", "APP.Test", "app.test:8443"] {
        let reply = wire::send(g.https, &wire::get("/page", host, "")).await;
        assert_eq!(reply.status, 200, "{host}");
    }
    for host in ["other.test", "localhost"] {
        let reply = wire::send(g.https, &wire::get("/page", host, "")).await;
        assert_eq!(reply.status, 200, "{host}");
    }
    let app_hosts: Vec<_> = app
        .seen()
        .iter()
        .map(|r| r.header_str("host").unwrap().to_owned())
        .collect();
    assert_eq!(app_hosts, ["app.test", "APP.Test", "app.test:8443"]);
    assert_eq!(any.seen().len(), 2);
}

#[tokio::test]
async fn no_matching_route_is_a_404_from_the_proxy_json_or_html_by_accept() {
    let (api, app) = (Backend::start().await, Backend::start().await);
    let g = builder()
        .route(route("/api", &api.url(), "public"))
        .route(format!(
            "[[route]]\nhost = \"app.test\"\npath = \"/\"\nupstream = \"{}\"\nauth = \"public\"\n",
            app.url()
        ))
        .start()
        .await;

    let json = raw_get(&g, "/other", "Accept: application/json\r\n").await;
    assert_eq!(json.status, 404);
    assert_eq!(json.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
    assert_eq!(body["status"], 404);

    let html = raw_get(&g, "/other", "Accept: text/html,*/*\r\n").await;
    assert_eq!(html.status, 404);
    assert!(html
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(html.text().contains("404"), "{}", html.text());

    // A host route does not catch other hosts.
    assert_eq!(raw_get(&g, "/", "").await.status, 404);
    assert!(api.seen().is_empty() && app.seen().is_empty());
}

// ---------------------------------------------------------------------------
// Paths

/// `/public` to backend A, `/admin` to backend B.
async fn public_and_admin() -> (Backend, Backend, Gatehouse) {
    let (a, b) = (Backend::start().await, Backend::start().await);
    let g = builder()
        .route(route("/public", &a.url(), "public"))
        .route(route("/admin", &b.url(), "public"))
        .start()
        .await;
    (a, b, g)
}

#[tokio::test]
async fn dot_segments_and_double_slashes_are_resolved_before_routing_and_forwarding() {
    let (a, b, g) = public_and_admin().await;
    for target in [
        "/public/../admin",
        "//admin",
        "/public/%2e%2e/admin",
        "/public/%2E%2E/admin/./x",
    ] {
        assert_eq!(raw_get(&g, target, "").await.status, 200, "{target}");
    }
    assert_eq!(paths(&b), ["/admin", "/admin", "/admin", "/admin/x"]);
    assert!(a.seen().is_empty(), "{:?}", paths(&a));
}

#[tokio::test]
async fn encoded_separators_nul_and_dot_segments_with_parameters_get_400() {
    let (a, b, g) = public_and_admin().await;
    for target in [
        "/public/..%2fadmin",
        "/public%2F..%2Fadmin",
        "/public/..%5cadmin",
        "/public/..;/admin",
        "/public/x%00",
    ] {
        let reply = raw_get(&g, target, "").await;
        assert_eq!(reply.status, 400, "{target}");
    }
    assert!(
        a.seen().is_empty() && b.seen().is_empty(),
        "{:?} {:?}",
        paths(&a),
        paths(&b)
    );
}

#[tokio::test]
async fn the_query_string_is_forwarded_unchanged() {
    let (a, _b, g) = public_and_admin().await;
    let reply = raw_get(&g, "/public/./page?x=1&y=a%2Fb&z", "").await;
    assert_eq!(reply.status, 200);
    assert_eq!(only_request(&a).await.path, "/public/page?x=1&y=a%2Fb&z");
}

// ---------------------------------------------------------------------------
// Headers

#[tokio::test]
async fn hop_by_hop_headers_and_those_named_in_connection_are_not_forwarded() {
    let backend = Backend::start().await;
    let g = builder()
        .route(route("/", &backend.url(), "public"))
        .start()
        .await;
    let request = format!(
        "GET /headers HTTP/1.1\r\nHost: {}\r\nConnection: close, X-Secret\r\n\
         X-Secret: hidden\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-Checksum\r\n\
         Upgrade: h2c\r\nProxy-Connection: keep-alive\r\nX-Kept: yes\r\n\r\n",
        host_of(&g)
    );
    assert_eq!(wire::send(g.https, request.as_bytes()).await.status, 200);

    let seen = only_request(&backend).await;
    for name in [
        "connection",
        "x-secret",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "proxy-connection",
    ] {
        assert_eq!(seen.header(name), None, "{name} was forwarded: {seen:?}");
    }
    assert_eq!(seen.header_str("x-kept"), Some("yes"));
}

#[tokio::test]
async fn forwarding_headers_are_set_by_the_proxy_replacing_the_clients() {
    let backend = Backend::start().await;
    let g = builder()
        .route(route("/", &backend.url(), "public"))
        .start()
        .await;
    let reply = raw_get(
        &g,
        "/",
        "X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: http\r\n\
         X-Forwarded-Host: evil.test\r\n",
    )
    .await;
    assert_eq!(reply.status, 200);

    let seen = only_request(&backend).await;
    assert_eq!(seen.header_all("x-forwarded-for"), [b"127.0.0.1"]);
    assert_eq!(seen.header_all("x-forwarded-proto"), [b"https"]);
    assert_eq!(
        seen.header_all("x-forwarded-host"),
        [host_of(&g).as_bytes()]
    );
    assert_eq!(seen.header_all("host"), [host_of(&g).as_bytes()]);
}

#[tokio::test]
async fn client_sent_identity_headers_are_stripped_on_a_public_route() {
    let backend = Backend::start().await;
    let g = builder()
        .route(route("/", &backend.url(), "public"))
        .start()
        .await;
    let reply = raw_get(
        &g,
        "/",
        "X-Forwarded-User: admin\r\nx_forwarded_user: admin\r\nx-forwarded-email: a@x\r\n\
         X_Forwarded_Groups: staff\r\n",
    )
    .await;
    assert_eq!(reply.status, 200);

    let seen = only_request(&backend).await;
    for (name, _) in &seen.headers {
        assert!(
            !name.replace('_', "-").starts_with("x-forwarded-")
                || ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"]
                    .contains(&name.as_str()),
            "{name} reached the backend: {seen:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Bodies

const UPLOAD_BYTES: usize = 20 * 1024 * 1024;
const DOWNLOAD_BYTES: usize = 50 * 1024 * 1024;

/// A client allowed the time a large transfer takes in a debug build.
fn patient_client(g: &Gatehouse, http2: bool) -> reqwest::Client {
    let builder = https_client_builder(g.https).timeout(Duration::from_secs(120));
    let builder = if http2 {
        builder.http2_prior_knowledge()
    } else {
        builder.http1_only()
    };
    builder.build().unwrap()
}

async fn unlimited_body_proxy(backend: &Backend) -> Gatehouse {
    builder()
        .section("[timeouts]\nmax_body_bytes = 0\n")
        .route(route("/", &backend.url(), "public"))
        .start()
        .await
}

async fn upload_comes_back_identical(http2: bool) {
    let backend = Backend::start().await;
    let g = unlimited_body_proxy(&backend).await;
    let upload: Vec<u8> = (0..UPLOAD_BYTES as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let response = patient_client(&g, http2)
        .post(g.url("/echo-body"))
        .body(upload.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let echoed = response.bytes().await.unwrap();
    assert_eq!(echoed.len(), upload.len());
    assert!(echoed == upload, "the echoed body differs from the upload");
    assert_eq!(only_request(&backend).await.body_len, UPLOAD_BYTES as u64);
}

async fn download_arrives_complete(http2: bool) {
    let backend = Backend::start().await;
    let g = unlimited_body_proxy(&backend).await;
    let response = patient_client(&g, http2)
        .get(g.url(&format!("/big?n={DOWNLOAD_BYTES}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len(), DOWNLOAD_BYTES);
    assert!(body == big_pattern(DOWNLOAD_BYTES), "the download differs");
}

#[tokio::test]
async fn a_20_mib_upload_streams_through_and_back_over_http1() {
    upload_comes_back_identical(false).await;
}

#[tokio::test]
async fn a_20_mib_upload_streams_through_and_back_over_http2() {
    upload_comes_back_identical(true).await;
}

#[tokio::test]
async fn a_50_mib_download_arrives_complete_over_http1() {
    download_arrives_complete(false).await;
}

#[tokio::test]
async fn a_50_mib_download_arrives_complete_over_http2() {
    download_arrives_complete(true).await;
}

// ---------------------------------------------------------------------------
// Upgrades

#[tokio::test]
async fn websocket_text_and_binary_messages_are_echoed_through_the_proxy() {
    let backend = Backend::start().await;
    let g = builder()
        .route(route("/", &backend.url(), "public"))
        .start()
        .await;
    let tls = tls_connect(g.https, &[b"http/1.1"]).await;
    let url = format!("wss://{}/ws", host_of(&g));
    let (mut ws, response) = tokio_tungstenite::client_async(url, tls)
        .await
        .expect("WebSocket handshake through the proxy");
    assert_eq!(response.status(), 101);

    let binary: Vec<u8> = (0..=255).collect();
    for message in [
        Message::text("hello through gatehouse"),
        Message::binary(binary),
        Message::text("and again"),
    ] {
        ws.send(message.clone()).await.unwrap();
        let echoed = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("echo in time")
            .expect("connection open")
            .unwrap();
        assert_eq!(echoed, message);
    }
    ws.close(None).await.unwrap();

    let seen = only_request(&backend).await;
    assert_eq!(seen.header_str("upgrade"), Some("websocket"));
}

#[tokio::test]
async fn an_h2c_upgrade_is_answered_as_a_normal_request() {
    let backend = Backend::start().await;
    let g = builder()
        .route(route("/", &backend.url(), "public"))
        .start()
        .await;
    let reply = raw_get(
        &g,
        "/h2c",
        "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\
         HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n",
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("upgrade"), None);

    let seen = only_request(&backend).await;
    assert_eq!(seen.path, "/h2c");
    assert_eq!(seen.header("upgrade"), None, "{seen:?}");
    assert_eq!(seen.header("http2-settings"), None, "{seen:?}");
}
