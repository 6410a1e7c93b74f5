//! When the proxy answers instead of the backend (502, 504, 431, 413, 405)
//! and what those answers look like, and the client-side timeouts: a
//! slowloris head, and idle keep-alive connections.

#[allow(dead_code)] // not every helper of the shared harness is used here
mod common;

use std::time::Duration;

use common::backend::Backend;
use common::client::{https_client_http1, https_client_http2, tls_connect};
use common::gatehouse::{builder, route, Gatehouse};
use common::wire::{self, Quiet, Reply};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(5);

fn host_of(g: &Gatehouse) -> String {
    format!("localhost:{}", g.https.port())
}

/// Sends `request` on a fresh HTTP/1.1 connection and reads one response
/// (without waiting for the proxy to close the connection).
async fn exchange(g: &Gatehouse, request: &[u8]) -> Reply {
    let mut tls = tls_connect(g.https, &[b"http/1.1"]).await;
    tls.write_all(request).await.unwrap();
    wire::read_one(&mut tls, WAIT)
        .await
        .expect("a complete response")
}

/// A proxy-made error: the status, a short body in the format `Accept`
/// asked for (HTML when `html`, else JSON), and no internal error text.
fn assert_clean_error(reply: &Reply, status: u16, html: bool) {
    assert_eq!(reply.status, status, "{}", reply.text());
    let text = reply.text();
    assert!(reply.body.len() < 4096, "{status}: long body: {text}");
    for internal in ["hyper::", "Error {", "os error", "Os {", "io::"] {
        assert!(!text.contains(internal), "{status}: {internal:?} in {text}");
    }
    let content_type = reply.header("content-type").unwrap_or_default();
    if html {
        assert!(content_type.starts_with("text/html"), "{content_type}");
        assert!(text.contains(&status.to_string()), "{text}");
    } else {
        assert_eq!(content_type, "application/json");
        let json: serde_json::Value = serde_json::from_str(&text).expect("JSON error body");
        assert_eq!(json["status"], status);
    }
}

/// `GET path` twice (JSON, then HTML) and checks both error answers.
async fn assert_error_both_ways(g: &Gatehouse, path: &str, status: u16) {
    for (accept, html) in [("application/json", false), ("text/html,*/*;q=0.8", true)] {
        let extra = format!("Accept: {accept}\r\n");
        let reply = exchange(g, &wire::get(path, &host_of(g), &extra)).await;
        assert_clean_error(&reply, status, html);
    }
}

// ---------------------------------------------------------------------------
// Upstream failures

#[tokio::test]
async fn a_closed_upstream_port_is_a_502() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let g = builder()
        .route(route("/", &format!("http://127.0.0.1:{port}"), "public"))
        .start()
        .await;
    assert_error_both_ways(&g, "/page", 502).await;
}

#[tokio::test]
async fn no_response_head_within_the_routes_response_timeout_is_a_504_in_time() {
    let backend = Backend::start().await;
    let g = builder()
        .route(format!(
            "[[route]]\npath = \"/\"\nupstream = \"{}\"\nauth = \"public\"\n\
             response_timeout = \"300ms\"\n",
            backend.url()
        ))
        .start()
        .await;
    let start = Instant::now();
    let reply = exchange(&g, &wire::get("/hang", &host_of(&g), "")).await;
    let took = start.elapsed();
    assert_clean_error(&reply, 504, false);
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "504 after {took:?}"
    );
    assert_eq!(backend.seen()[0].path, "/hang");
    assert_error_both_ways(&g, "/hang", 504).await;
}

// ---------------------------------------------------------------------------
// Request limits

#[tokio::test]
async fn a_70_kib_header_gets_the_proxys_431_and_is_not_forwarded() {
    let backend = Backend::start().await;
    let g = builder()
        .route(route("/", &backend.url(), "public"))
        .start()
        .await;
    let big = format!("X-Big: {}\r\n", "a".repeat(70 * 1024));
    for (accept, html) in [("application/json", false), ("text/html", true)] {
        let extra = format!("Accept: {accept}\r\n{big}");
        let reply = exchange(&g, &wire::get("/", &host_of(&g), &extra)).await;
        assert_clean_error(&reply, 431, html);
        assert!(
            reply.header("strict-transport-security").is_some(),
            "{reply:?}"
        );
    }

    let h2 = https_client_http2(g.https)
        .get(g.url("/"))
        .header("accept", "application/json")
        .header("x-big", "a".repeat(70 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(h2.version(), reqwest::Version::HTTP_2);
    assert_eq!(h2.status(), 431);
    assert!(
        h2.headers().contains_key("strict-transport-security"),
        "{h2:?}"
    );
    let json: serde_json::Value = h2.json().await.expect("a JSON 431 over HTTP/2");
    assert_eq!(json["status"], 431);
    assert!(backend.seen().is_empty());
}

async fn limited_proxy(backend: &Backend) -> Gatehouse {
    builder()
        .section("[timeouts]\nmax_body_bytes = 1024\n")
        .route(route("/", &backend.url(), "public"))
        .start()
        .await
}

#[tokio::test]
async fn a_content_length_over_max_body_bytes_gets_413_and_nothing_is_forwarded() {
    let backend = Backend::start().await;
    let g = limited_proxy(&backend).await;
    // Only the head: the answer must not wait for a body it will refuse.
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: {}\r\nContent-Length: 1025\r\n\r\n",
        host_of(&g)
    );
    let reply = exchange(&g, head.as_bytes()).await;
    assert_clean_error(&reply, 413, false);

    let within_limit = https_client_http1(g.https)
        .post(g.url("/upload"))
        .body(vec![b'x'; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(within_limit.status(), 200);
    let seen = backend.wait_for_requests(1, WAIT).await;
    assert_eq!(seen.len(), 1, "the 413 request was forwarded: {seen:?}");
    assert_eq!(seen[0].body_len, 1024);
}

#[tokio::test]
async fn a_chunked_body_going_over_max_body_bytes_midstream_gets_413() {
    let backend = Backend::start().await;
    let g = limited_proxy(&backend).await;
    let chunk = format!("200\r\n{}\r\n", "y".repeat(0x200));
    let request = format!(
        "POST /upload HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n\r\n{}0\r\n\r\n",
        host_of(&g),
        chunk.repeat(4)
    );
    let reply = exchange(&g, request.as_bytes()).await;
    assert_clean_error(&reply, 413, false);
    // The backend may have seen the head, never more than the limit.
    for seen in backend.seen() {
        assert!(seen.body_len <= 1024, "{seen:?}");
        assert_ne!(seen.body_len, 4 * 0x200);
    }
}

#[tokio::test]
async fn trace_and_connect_get_405() {
    let backend = Backend::start().await;
    let g = builder()
        .route(route("/", &backend.url(), "public"))
        .start()
        .await;
    let trace = https_client_http1(g.https)
        .request(reqwest::Method::TRACE, g.url("/"))
        .send()
        .await
        .unwrap();
    assert_eq!(trace.status(), 405);

    let trace = exchange(&g, b"TRACE / HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert_clean_error(&trace, 405, false);
    let connect = exchange(
        &g,
        b"CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\nAccept: text/html\r\n\r\n",
    )
    .await;
    assert_clean_error(&connect, 405, true);
    assert!(backend.seen().is_empty(), "{:?}", backend.seen());
}

#[tokio::test]
async fn a_bad_path_is_a_400_with_a_clean_body_either_way() {
    let backend = Backend::start().await;
    let g = builder()
        .route(route("/", &backend.url(), "public"))
        .start()
        .await;
    assert_error_both_ways(&g, "/a%2fb", 400).await;
    assert!(backend.seen().is_empty());
}

// ---------------------------------------------------------------------------
// Client-side timeouts

#[tokio::test]
async fn a_slowloris_head_is_cut_off_at_client_header_while_others_are_served() {
    let backend = Backend::start().await;
    let g = builder()
        .section("[timeouts]\nclient_header = \"500ms\"\n")
        .route(route("/", &backend.url(), "public"))
        .start()
        .await;
    let mut slow = tls_connect(g.https, &[b"http/1.1"]).await;
    let start = Instant::now();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();

    let normal = {
        let client = https_client_http1(g.https);
        let url = g.url("/normal");
        tokio::spawn(async move {
            let start = Instant::now();
            let response = client.get(url).send().await.unwrap();
            (response.status(), start.elapsed())
        })
    };

    let header = b"X-Slow: one-byte-at-a-time";
    let closed_after = 'drip: {
        for &byte in header.iter().cycle().take(100) {
            match wire::wait_for_close(&mut slow, Duration::from_millis(200)).await {
                Quiet::StillOpen => {}
                Quiet::Closed(_) => break 'drip start.elapsed(),
                Quiet::Data(data) => panic!("the slow client got an answer: {data:?}"),
            }
            if slow.write_all(&[byte]).await.is_err() || slow.flush().await.is_err() {
                break 'drip start.elapsed();
            }
        }
        panic!("a one-byte-every-200ms client was never cut off");
    };
    assert!(
        closed_after < Duration::from_millis(1500),
        "closed after {closed_after:?}"
    );

    let (status, took) = normal.await.unwrap();
    assert_eq!(status, 200);
    assert!(
        took < Duration::from_secs(1),
        "normal request took {took:?}"
    );
    let paths: Vec<_> = backend.seen().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/normal"]);
}

/// A keep-alive connection with one request answered on it.
async fn kept_alive_connection(
    g: &Gatehouse,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut tls = tls_connect(g.https, &[b"http/1.1"]).await;
    request_on(&mut tls, g).await;
    tls
}

/// One request on an open connection; its answer must come.
async fn request_on(
    tls: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    g: &Gatehouse,
) {
    let request = format!("GET /again HTTP/1.1\r\nHost: {}\r\n\r\n", host_of(g));
    tls.write_all(request.as_bytes()).await.unwrap();
    let reply = wire::read_one(tls, WAIT).await.expect("an answer");
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_keep_alive_idle() {
    let backend = Backend::start().await;
    let g = builder()
        .section("[timeouts]\nkeep_alive_idle = \"1s\"\n")
        .route(route("/", &backend.url(), "public"))
        .start()
        .await;
    let mut tls = kept_alive_connection(&g).await;
    match wire::wait_for_close(&mut tls, Duration::from_secs(5)).await {
        Quiet::Closed(after) => assert!(
            after >= Duration::from_millis(800) && after < Duration::from_millis(2500),
            "closed after {after:?}"
        ),
        other => panic!("idle connection: {other:?}"),
    }
}

#[tokio::test]
async fn keep_alive_idle_counts_from_the_last_request() {
    let backend = Backend::start().await;
    let g = builder()
        .section("[timeouts]\nkeep_alive_idle = \"1s\"\n")
        .route(route("/", &backend.url(), "public"))
        .start()
        .await;
    let mut tls = kept_alive_connection(&g).await;
    let first = Instant::now();
    // Activity 0.6 s into the idle window.
    assert_eq!(
        wire::wait_for_close(&mut tls, Duration::from_millis(600)).await,
        Quiet::StillOpen
    );
    request_on(&mut tls, &g).await;
    match wire::wait_for_close(&mut tls, Duration::from_secs(5)).await {
        Quiet::Closed(_) => {
            let since_first = first.elapsed();
            assert!(
                since_first >= Duration::from_millis(1400),
                "closed {since_first:?} after the first request, despite the second"
            );
        }
        other => panic!("idle connection: {other:?}"),
    }
}

#[tokio::test]
async fn an_idle_connection_outlives_client_header_when_keep_alive_idle_is_longer() {
    let backend = Backend::start().await;
    let g = builder()
        .section("[timeouts]\nclient_header = \"500ms\"\nkeep_alive_idle = \"3s\"\n")
        .route(route("/", &backend.url(), "public"))
        .start()
        .await;
    let mut tls = kept_alive_connection(&g).await;
    assert_eq!(
        wire::wait_for_close(&mut tls, Duration::from_millis(1500)).await,
        Quiet::StillOpen
    );
    request_on(&mut tls, &g).await;
    assert_eq!(backend.seen().len(), 2);
}
