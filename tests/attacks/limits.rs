//! Resource and protocol limits: oversized heads and bodies, upgrades,
//! forbidden methods, HTTP/2 connection-specific headers, slow clients.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::client::{https_client, tls_connect};
use crate::{assert_refused, only_reply, summary, App, SESSION_COOKIE};

#[tokio::test]
async fn a_70_kib_header_gets_431() {
    let app = App::start().await;
    let big = format!("X-Big: {}", "a".repeat(70 * 1024));
    let replies = app.raw_get("GET /public/big", &[&big]).await;
    assert_refused(&replies, &[431], "70 KiB header");
    let big_cookie = format!("Cookie: {SESSION_COOKIE}={}", "A".repeat(70 * 1024));
    let replies = app.raw_get("GET /private/big", &[&big_cookie]).await;
    assert_refused(&replies, &[431], "70 KiB cookie");
    app.assert_backend_saw_nothing("70 KiB header").await;
}

#[tokio::test]
async fn many_small_headers_are_refused() {
    let app = App::start().await;
    let lines: Vec<String> = (0..500).map(|i| format!("X-H{i}: {i}")).collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let replies = app.raw_get("GET /public/many", &lines).await;
    assert_refused(&replies, &[431], "500 headers");
    app.assert_backend_saw_nothing("many headers").await;
}

const SMALL_BODY_LIMIT: &str = "[timeouts]\nmax_body_bytes = 1024\n";

#[tokio::test]
async fn a_declared_body_over_the_limit_gets_413_before_the_backend() {
    let app = App::start_with(&[SMALL_BODY_LIMIT]).await;
    let body = "x".repeat(4096);
    let request = format!(
        "POST /public/upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let replies = app.raw(request.as_bytes()).await;
    assert_refused(&replies, &[413], "Content-Length over the limit");
    assert!(only_reply(&replies).is_some());
    app.assert_backend_saw_nothing("declared body over the limit")
        .await;
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_cut() {
    let app = App::start_with(&[SMALL_BODY_LIMIT]).await;
    let chunk = "y".repeat(512);
    let mut request = "POST /public/upload HTTP/1.1\r\nHost: localhost\r\n\
                       Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        .to_owned();
    for _ in 0..8 {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    request.push_str("0\r\n\r\n");
    let replies = app.raw(request.as_bytes()).await;
    // 413, or a closed connection: never a 200 for 4 KiB past a 1 KiB limit.
    assert_refused(&replies, &[413], "chunked body over the limit");
    let seen = app.settle().await;
    assert!(seen.len() <= 1, "{:?}", summary(&seen));
    for r in &seen {
        assert!(
            r.body_len <= 1024,
            "the backend got {} bytes past a 1024-byte limit",
            r.body_len
        );
    }
}

#[tokio::test]
async fn h2c_upgrade_is_never_passed_on() {
    let app = App::start().await;
    let replies = app
        .raw_get(
            "GET /public/h2c",
            &[
                "Connection: Upgrade, HTTP2-Settings",
                "Upgrade: h2c",
                "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
            ],
        )
        .await;
    let reply = only_reply(&replies).expect("an answer");
    assert_ne!(reply.status, 101, "no protocol switch");
    assert_eq!(reply.status, 200);
    let seen = app.settle().await;
    assert_eq!(seen.len(), 1);
    for name in ["upgrade", "http2-settings", "connection"] {
        assert_eq!(
            seen[0].header(name),
            None,
            "{name} must not reach the backend"
        );
    }
    // `websocket, h2c` and two Upgrade headers are not WebSocket upgrades.
    let replies = app
        .raw_get(
            "GET /public/h2c",
            &["Connection: Upgrade", "Upgrade: websocket, h2c"],
        )
        .await;
    assert_ne!(only_reply(&replies).map(|r| r.status), Some(101));
    let seen = app.settle().await;
    assert!(seen.iter().all(|r| r.header("upgrade").is_none()));
}

#[tokio::test]
async fn websocket_upgrade_without_a_session_is_refused() {
    let app = App::start().await;
    let handshake = [
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ];
    let replies = app.raw_get("GET /private/ws", &handshake).await;
    assert_refused(&replies, &[401], "websocket without a session");
    let mut with_html = handshake.to_vec();
    with_html.push("Accept: text/html");
    let replies = app.raw_get("GET /admin/ws", &with_html).await;
    assert_refused(&replies, &[303], "websocket navigation without a session");
    app.assert_backend_saw_nothing("websocket without a session")
        .await;
}

#[tokio::test]
async fn trace_and_connect_get_405() {
    let app = App::start().await;
    for request in [
        "TRACE /public/t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "TRACE * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        "CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\nConnection: close\r\n\r\n",
        "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\nConnection: close\r\n\r\n",
    ] {
        let replies = app.raw(request.as_bytes()).await;
        assert_refused(&replies, &[405], request.lines().next().unwrap_or_default());
        assert!(only_reply(&replies).is_some(), "{request}: an answer");
    }
    app.assert_backend_saw_nothing("TRACE and CONNECT").await;
}

#[tokio::test]
async fn method_override_headers_pass_through() {
    // Report only: `X-HTTP-Method-Override: TRACE` is an ordinary header to
    // the proxy and reaches the backend on a GET; a backend that honours it
    // must apply its own rules. Pinned so that a change is deliberate.
    let app = App::start().await;
    let replies = app
        .raw_get("GET /public/override", &["X-HTTP-Method-Override: TRACE"])
        .await;
    assert_eq!(only_reply(&replies).map(|r| r.status), Some(200));
    let seen = app.settle().await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].header_str("x-http-method-override"), Some("TRACE"));
}

/// What became of a hand-made HTTP/2 request.
#[derive(Debug, PartialEq)]
enum H2Outcome {
    /// `RST_STREAM` on the request's stream, with this error code.
    Reset(u32),
    /// `GOAWAY`, with this error code.
    GoAway(u32),
    /// A response `HEADERS` frame: the request was accepted.
    Answered,
    /// Nothing conclusive before the connection ended or the wait ran out.
    Nothing,
}

/// A literal header field without indexing, new name (RFC 7541 §6.2.2),
/// no Huffman coding; names and values under 127 bytes.
fn hpack_literal(block: &mut Vec<u8>, name: &str, value: &str) {
    block.push(0x00);
    block.push(u8::try_from(name.len()).expect("short name"));
    block.extend_from_slice(name.as_bytes());
    block.push(u8::try_from(value.len()).expect("short value"));
    block.extend_from_slice(value.as_bytes());
}

fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("small frame");
    let mut frame = len.to_be_bytes()[1..].to_vec();
    frame.push(kind);
    frame.push(flags);
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// Sends one HTTP/2 GET for `path` with `extra` headers, byte by byte as
/// we mean it (client libraries refuse to send connection headers), and
/// reports what the proxy did with stream 1.
async fn h2_request(app: &App, path: &str, extra: &[(&str, &str)]) -> H2Outcome {
    let mut stream = tls_connect(app.gh.https, &[b"h2"]).await;
    let authority = format!("localhost:{}", app.gh.https.port());
    let mut block = Vec::new();
    hpack_literal(&mut block, ":method", "GET");
    hpack_literal(&mut block, ":scheme", "https");
    hpack_literal(&mut block, ":authority", &authority);
    hpack_literal(&mut block, ":path", path);
    for (name, value) in extra {
        hpack_literal(&mut block, name, value);
    }
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(h2_frame(0x4, 0, 0, &[]));
    // END_STREAM | END_HEADERS on stream 1.
    out.extend(h2_frame(0x1, 0x5, 1, &block));
    stream.write_all(&out).await.expect("write h2");
    stream.flush().await.expect("flush h2");

    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut read = [0u8; 16 * 1024];
    loop {
        while buf.len() >= 9 {
            let len = usize::from(buf[0]) << 16 | usize::from(buf[1]) << 8 | usize::from(buf[2]);
            if buf.len() < 9 + len {
                break;
            }
            let (kind, flags) = (buf[3], buf[4]);
            let id = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
            let payload: Vec<u8> = buf[9..9 + len].to_vec();
            buf.drain(..9 + len);
            let code = |at: usize| {
                payload
                    .get(at..at + 4)
                    .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            };
            match kind {
                0x3 if id == 1 => return H2Outcome::Reset(code(0)),
                0x7 => return H2Outcome::GoAway(code(4)),
                0x1 if id == 1 => return H2Outcome::Answered,
                0x4 if flags & 0x1 == 0 => {
                    // Acknowledge the server's SETTINGS, as a client must.
                    let ack = h2_frame(0x4, 0x1, 0, &[]);
                    let _ = stream.write_all(&ack).await;
                }
                _ => {}
            }
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut read)).await {
            Ok(Ok(n @ 1..)) => buf.extend_from_slice(&read[..n]),
            _ => return H2Outcome::Nothing,
        }
    }
}

#[tokio::test]
async fn http2_connection_specific_headers_are_refused() {
    let app = App::start().await;
    // The control: the same hand-made request without them is answered.
    assert_eq!(
        h2_request(&app, "/public/ok", &[]).await,
        H2Outcome::Answered
    );
    assert_eq!(
        h2_request(&app, "/public/ok", &[("te", "trailers")]).await,
        H2Outcome::Answered,
        "te: trailers is the one allowed value"
    );
    let before = app.settle().await;
    assert_eq!(before.len(), 2);
    for (name, value) in [
        ("connection", "keep-alive"),
        ("connection", "x-forwarded-user"),
        ("transfer-encoding", "chunked"),
        ("upgrade", "websocket"),
        ("te", "gzip"),
        ("keep-alive", "timeout=5"),
        ("proxy-connection", "keep-alive"),
    ] {
        let outcome = h2_request(&app, "/public/h2", &[(name, value)]).await;
        // PROTOCOL_ERROR (1), as a malformed request (RFC 9113 §8.2.2).
        assert!(
            matches!(outcome, H2Outcome::Reset(1) | H2Outcome::GoAway(1)),
            "{name}: {value} → {outcome:?}"
        );
    }
    app.assert_backend_saw_nothing("HTTP/2 connection headers")
        .await;
}

/// Opens a TLS connection and starts a request head that never ends: one
/// byte every 200 ms. Returns how long the proxy took to close it.
async fn slowloris(app: &App) -> Duration {
    let stream = tls_connect(app.gh.https, &[b"http/1.1"]).await;
    let (mut reader, mut writer) = tokio::io::split(stream);
    let started = Instant::now();
    let writing = tokio::spawn(async move {
        let head = b"GET /public/slow HTTP/1.1\r\nHost: localhost\r\nX-Pad: ";
        for byte in head.iter().chain(std::iter::repeat(&b'a')) {
            if writer.write_all(&[*byte]).await.is_err() || writer.flush().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(1..) = reader.read(&mut buf).await {}
    })
    .await;
    writing.abort();
    assert!(closed.is_ok(), "a slowloris connection stayed open 10 s");
    started.elapsed()
}

const FAST_HEADER_TIMEOUT: &str = "[timeouts]\nclient_header = \"1s\"\n";

/// A normal request, timed.
async fn normal_request(app: &App) -> Duration {
    let started = Instant::now();
    let response = https_client(app.gh.https)
        .get(app.gh.url("/public/normal"))
        .send()
        .await
        .expect("normal request");
    assert_eq!(response.status(), 200);
    started.elapsed()
}

#[tokio::test]
async fn slowloris_is_closed_at_the_header_timeout() {
    let app = App::start_with(&[FAST_HEADER_TIMEOUT]).await;
    let (closed_after, normal) = tokio::join!(slowloris(&app), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        normal_request(&app).await
    });
    assert!(
        closed_after >= Duration::from_millis(900) && closed_after < Duration::from_secs(3),
        "closed after {closed_after:?}, expected about 1 s"
    );
    assert!(
        normal < Duration::from_secs(1),
        "normal client took {normal:?}"
    );
    let seen = app.settle().await;
    assert!(
        seen.iter().all(|r| r.path != "/public/slow"),
        "{:?}",
        summary(&seen)
    );
}

#[tokio::test]
async fn twenty_slowloris_connections_do_not_stop_a_normal_client() {
    let app = App::start_with(&[FAST_HEADER_TIMEOUT]).await;
    let slow = futures_util::future::join_all((0..20).map(|_| slowloris(&app)));
    let normal = async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        normal_request(&app).await
    };
    let (closed, normal) = tokio::join!(slow, normal);
    assert!(
        normal < Duration::from_secs(1),
        "normal client took {normal:?}"
    );
    for after in closed {
        assert!(
            after < Duration::from_secs(3),
            "a slowloris lasted {after:?}"
        );
    }
    let seen = app.settle().await;
    assert!(seen.iter().all(|r| r.path != "/public/slow"));
}
