//! HTTP/1.1 framing attacks: ambiguous message lengths, malformed chunks,
//! obs-fold, `Host` confusion, pipelining and trailers. For each, the backend
//! saw nothing, or exactly one well-formed request without the smuggled part.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::common::backend::SeenRequest;
use crate::common::gatehouse::{builder, route};
use crate::{assert_refused, only_reply, summary, App, SESSION_COOKIE};

/// A complete second request, hidden in the first one's body, that would
/// reach the admin area as `root` if any hop took it for a request.
const SMUGGLED: &str = "GET /admin/smuggled HTTP/1.1\r\nHost: localhost\r\n\
                        X-Forwarded-User: root\r\nX-Forwarded-Groups: admins\r\n\r\n";

/// At most one request, never the smuggled one, never a client identity,
/// and an unambiguous length.
fn assert_not_smuggled(seen: &[SeenRequest], what: &str) {
    assert!(
        seen.len() <= 1,
        "{what}: one request became {:?}",
        summary(seen)
    );
    for r in seen {
        assert!(
            !r.path.contains("smuggled") && !r.path.starts_with("/admin"),
            "{what}: the backend saw {}",
            r.path
        );
        assert_eq!(r.header("x-forwarded-user"), None, "{what}: spoofed user");
        assert_eq!(
            r.header("x-forwarded-groups"),
            None,
            "{what}: spoofed groups"
        );
        let lengths = r.header_all("content-length").len();
        let chunked = r.header("transfer-encoding").is_some();
        assert!(
            lengths <= 1 && !(lengths == 1 && chunked),
            "{what}: ambiguous length upstream: {:?}",
            r.headers
        );
    }
}

/// Sends `request` raw, then checks the backend and that the proxy still serves.
async fn smuggle(app: &App, request: &str, allowed: &[u16], what: &str) {
    let replies = app.raw(request.as_bytes()).await;
    for reply in &replies {
        reply.assert_clean();
    }
    if let Some(first) = replies.first() {
        assert!(
            allowed.contains(&first.status),
            "{what}: expected one of {allowed:?}, got {}: {}",
            first.status,
            first.body_text()
        );
    }
    // A second answer would be the smuggled request, seen by the proxy as a
    // request of its own: then it must have been refused (no session).
    for reply in replies.iter().skip(1) {
        assert!(
            matches!(reply.status, 400 | 401 | 403),
            "{what}: the smuggled request was answered {}",
            reply.status
        );
    }
    let seen = app.settle().await;
    assert_not_smuggled(&seen, what);
    app.assert_still_serves().await;
}

fn chunk(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n", data.len())
}

#[tokio::test]
async fn content_length_and_chunked_together_never_smuggle() {
    let app = App::start().await;
    // CL.TE: a hop that believes Content-Length forwards the smuggled request
    // as part of this body; one that believes chunked sees it as the next.
    let body = format!("0\r\n\r\n{SMUGGLED}");
    let request = format!(
        "POST /public/clte HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\
         Transfer-Encoding: chunked\r\n\r\n{body}",
        body.len()
    );
    smuggle(&app, &request, &[200, 400], "CL.TE").await;
    // TE.CL: the other order, the smuggled request inside a chunk.
    let body = format!("{}0\r\n\r\n", chunk(SMUGGLED));
    let request = format!(
        "POST /public/tecl HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\
         Content-Length: 4\r\n\r\n{body}"
    );
    smuggle(&app, &request, &[200, 400], "TE.CL").await;
}

#[tokio::test]
async fn two_different_content_lengths_are_refused() {
    let app = App::start().await;
    let request = format!(
        "POST /public/a HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\
         Content-Length: {}\r\n\r\n{SMUGGLED}",
        SMUGGLED.len()
    );
    let replies = app.raw(request.as_bytes()).await;
    assert_refused(&replies, &[400], "two Content-Lengths");
    app.assert_backend_saw_nothing("two Content-Lengths").await;
}

#[tokio::test]
async fn malformed_content_lengths_are_refused() {
    let app = App::start().await;
    for value in [
        "+5",
        "5, 6",
        "0x5",
        "-1",
        "5 5",
        "1e1",
        "99999999999999999999999",
    ] {
        let request = format!(
            "POST /public/a HTTP/1.1\r\nHost: localhost\r\nContent-Length: {value}\r\n\
             Connection: close\r\n\r\nhello"
        );
        let replies = app.raw(request.as_bytes()).await;
        assert_refused(&replies, &[400, 413], &format!("Content-Length: {value}"));
    }
    app.assert_backend_saw_nothing("malformed Content-Length")
        .await;
}

#[tokio::test]
async fn bad_chunk_sizes_never_reach_the_backend_whole() {
    let app = App::start().await;
    for size in ["zz", "-5", "ffffffffffffffffff", "5 5", "0x5", ""] {
        let request = format!(
            "POST /public/chunks HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\
             \r\n{size}\r\nhello\r\n0\r\n\r\n{SMUGGLED}"
        );
        let replies = app.raw(request.as_bytes()).await;
        // The head may already be on its way upstream when the body turns out
        // malformed: still the client's fault (400), not the upstream's (502).
        assert_refused(&replies, &[400], &format!("chunk size {size:?}"));
        let seen = app.settle().await;
        for r in &seen {
            assert_eq!(
                r.body_len, 0,
                "chunk size {size:?}: the backend got body bytes"
            );
        }
        assert_not_smuggled(&seen, &format!("chunk size {size:?}"));
    }
}

#[tokio::test]
async fn chunk_extension_abuse_is_bounded() {
    let app = App::start().await;
    // 64 KiB of extensions on one chunk: past hyper's 16 KiB budget.
    let long = format!("5;{}=x\r\nhello\r\n0\r\n\r\n", "a".repeat(64 * 1024));
    // A bare LF inside an extension: a line-ending confusion.
    let bare_lf = "5;a=b\nX: y\r\nhello\r\n0\r\n\r\n".to_owned();
    for (what, body) in [("long extension", long), ("bare LF", bare_lf)] {
        let request = format!(
            "POST /public/ext HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\
             Connection: close\r\n\r\n{body}"
        );
        let replies = app.raw(request.as_bytes()).await;
        assert_refused(&replies, &[400], what);
        let seen = app.settle().await;
        assert_not_smuggled(&seen, what);
        for r in &seen {
            assert_eq!(r.body_len, 0, "{what}: the backend got body bytes");
        }
    }
}

#[tokio::test]
async fn transfer_encodings_other_than_chunked_are_refused() {
    let app = App::start().await;
    for te in [
        "Transfer-Encoding: xchunked",
        "Transfer-Encoding: chunked, identity",
        "Transfer-Encoding: identity",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: x",
        "Transfer-Encoding:\r\n chunked",
        "Transfer-Encoding\r\n : chunked",
        "Transfer-Encoding : chunked",
    ] {
        let request = format!(
            "POST /public/te HTTP/1.1\r\nHost: localhost\r\n{te}\r\nContent-Length: 5\r\n\
             Connection: close\r\n\r\n{}0\r\n\r\n{SMUGGLED}",
            chunk("hello")
        );
        let replies = app.raw(request.as_bytes()).await;
        assert_refused(&replies, &[400], te);
    }
    app.assert_backend_saw_nothing("odd Transfer-Encoding")
        .await;
}

#[tokio::test]
async fn transfer_encoding_with_leading_space_is_plain_chunked() {
    // Leading whitespace is optional whitespace (RFC 9110 §5.5): the value
    // is `chunked`, and the body is read as chunked, exactly once.
    let app = App::start().await;
    let request = format!(
        "POST /public/space HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding:  chunked\r\n\
         Connection: close\r\n\r\n{}0\r\n\r\n{SMUGGLED}",
        chunk("hello")
    );
    smuggle(&app, &request, &[200, 400], "leading space").await;
    let seen = app.settle().await;
    if let Some(r) = seen.first() {
        assert_eq!(r.body_len, 5, "the chunked body, decoded once");
    }
}

#[tokio::test]
async fn obs_fold_in_any_header_is_refused() {
    let app = App::start().await;
    for fold in [
        "X-Note: a\r\n X-Forwarded-User: root",
        "X-Note: a\r\n\tX-Forwarded-User: root",
        "X-Forwarded-Groups: staff\r\n admins",
    ] {
        let replies = app.raw_get("GET /public/fold", &[fold]).await;
        assert_refused(&replies, &[400], fold);
    }
    app.assert_backend_saw_nothing("obs-fold").await;
}

#[tokio::test]
async fn host_confusion_is_refused() {
    let app = App::start().await;
    let cases: [(&str, &[u8]); 5] = [
        (
            "missing Host",
            b"GET /public/h HTTP/1.1\r\nConnection: close\r\n\r\n",
        ),
        (
            "two Host headers",
            b"GET /public/h HTTP/1.1\r\nHost: localhost\r\nHost: evil.test\r\nConnection: close\r\n\r\n",
        ),
        (
            "userinfo in Host",
            b"GET /public/h HTTP/1.1\r\nHost: root@localhost\r\nConnection: close\r\n\r\n",
        ),
        (
            "absolute-form naming another host",
            b"GET http://evil.test/public/h HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        ),
        (
            "absolute-form with userinfo",
            b"GET http://root@localhost/public/h HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        ),
    ];
    for (what, request) in cases {
        let replies = app.raw(request).await;
        assert_refused(&replies, &[400], what);
    }
    app.assert_backend_saw_nothing("Host confusion").await;
}

#[tokio::test]
async fn a_body_holding_a_request_stays_a_body() {
    // CL.0: a GET with a body that is itself a request. Upstream, it must be
    // this request's body (framed by its length), never a second request.
    let app = App::start().await;
    let request = format!(
        "GET /public/cl0 HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{SMUGGLED}",
        SMUGGLED.len()
    );
    let replies = app.raw(request.as_bytes()).await;
    let reply = only_reply(&replies).expect("an answer");
    assert_eq!(reply.status, 200);
    let seen = app.settle().await;
    assert_not_smuggled(&seen, "CL.0");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body_len, SMUGGLED.len() as u64);
}

#[tokio::test]
async fn pipelined_requests_each_need_their_own_session() {
    let app = App::start().await;
    let session = app.login("alice").await;
    let request = format!(
        "GET /private/one HTTP/1.1\r\nHost: localhost\r\nCookie: {SESSION_COOKIE}={session}\r\n\r\n\
         GET /private/two HTTP/1.1\r\nHost: localhost\r\n\r\n\
         GET /public/three HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    );
    let replies = app.raw(request.as_bytes()).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 401, 200], "in order, each judged alone");
    for reply in &replies {
        reply.assert_clean();
    }
    let seen = app.settle().await;
    let paths: Vec<&str> = seen.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/private/one", "/public/three"]);
    assert_eq!(seen[0].header_str("x-forwarded-user"), Some("alice"));
    assert_eq!(seen[1].header("x-forwarded-user"), None);
    assert_eq!(seen[1].header("x-forwarded-email"), None);
    assert_eq!(seen[1].header("cookie"), None);
}

/// A backend that records the exact bytes of each connection, reads one
/// request (a chunked body up to its last chunk and trailers), then answers
/// `200` and closes.
struct RawBackend {
    url: String,
    connections: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl RawBackend {
    async fn start() -> RawBackend {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let shared = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let mut bytes = Vec::new();
                    let mut buf = [0u8; 8192];
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
                    while !request_complete(&bytes) {
                        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                            Ok(Ok(n @ 1..)) => bytes.extend_from_slice(&buf[..n]),
                            _ => break,
                        }
                    }
                    shared.lock().expect("lock").push(bytes);
                    let _ = stream
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                        )
                        .await;
                });
            }
        });
        RawBackend { url, connections }
    }

    fn seen(&self) -> Vec<String> {
        self.connections
            .lock()
            .expect("lock")
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }
}

/// A head, then (if chunked) the last chunk and the end of the trailers.
fn request_complete(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return true;
    }
    (body.starts_with("0\r\n") || body.contains("\r\n0\r\n")) && body.ends_with("\r\n\r\n")
}

#[tokio::test]
async fn request_trailers_never_reach_the_backend() {
    let backend = RawBackend::start().await;
    let gh = builder()
        .route(route("/", &backend.url, "public"))
        .start()
        .await;
    let app_client = crate::common::client::https_client(gh.https);
    // Wait for the proxy to listen.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while app_client
        .get(gh.url("/.gatehouse/login"))
        .send()
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "proxy did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let request = format!(
        "POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\
         Trailer: X-Forwarded-User\r\nConnection: close\r\n\r\n{}0\r\n\
         X-Forwarded-User: root\r\nX-Forwarded-Groups: admins\r\n\r\n",
        chunk("hello")
    );
    let mut stream = crate::common::client::tls_connect(gh.https, &[b"http/1.1"]).await;
    let replies = crate::parse_replies(
        &crate::common::client::raw_request_within(
            &mut stream,
            request.as_bytes(),
            crate::RAW_WAIT,
        )
        .await,
    );
    let reply = only_reply(&replies).expect("an answer");
    assert_eq!(reply.status, 200, "{}", reply.body_text());
    let seen = backend.seen();
    assert_eq!(seen.len(), 1, "one upstream request: {seen:?}");
    let upstream = seen[0].to_ascii_lowercase();
    assert!(
        upstream.contains("hello"),
        "the body is forwarded: {upstream}"
    );
    assert!(
        !upstream.contains("x-forwarded-user") && !upstream.contains("x-forwarded-groups"),
        "a trailer reached the backend: {upstream}"
    );
    assert!(
        !upstream.contains("\r\ntrailer:"),
        "the Trailer announcement is hop-by-hop: {upstream}"
    );
}
