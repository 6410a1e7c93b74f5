//! A real HTTP/1.1 backend for the proxy to forward to: records every
//! request it receives and answers by path, so tests can see exactly what
//! gatehouse sent upstream and exercise streaming, timeouts and upgrades.
//!
//! | path | answer |
//! |---|---|
//! | anything else | 200 JSON `{"method","path","headers":[[name,value],…],"body_len"}` |
//! | `/echo-body…` | the request body streamed straight back |
//! | `/big?n=BYTES` | `n` bytes of [`big_pattern`], streamed in chunks |
//! | `/delay?ms=N` | the JSON answer after N ms |
//! | `/hang` | nothing, until the connection closes |
//! | `/set-cookie` | the JSON answer with two `Set-Cookie` headers |
//! | `/ws` | a WebSocket echo server |
//! | `/whoami-page` | `<h1>Hello, NAME</h1>` with the escaped `X-Forwarded-User` |
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{stream, SinkExt, StreamExt};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

/// Size of each chunk `/big` sends, so large answers stream instead of
/// sitting in memory whole.
const BIG_CHUNK_BYTES: usize = 64 * 1024;
/// How often `wait_for_requests` looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

type Body = BoxBody<Bytes, hyper::Error>;

/// One request as the backend received it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    /// Path and query exactly as sent on the request line.
    pub path: String,
    pub version: hyper::Version,
    /// Lower-case names; duplicates kept, each name's values in arrival
    /// order, names in the order they first appeared (hyper's `HeaderMap`
    /// groups values by name).
    pub headers: Vec<(String, Vec<u8>)>,
    /// Body bytes read so far: the whole body once the backend has
    /// answered, or what has streamed through `/echo-body` up to now.
    pub body_len: u64,
}

impl SeenRequest {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.header_all(name).into_iter().next()
    }

    /// The first value of a header as text (`None` if absent or not UTF-8).
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of a header, in order.
    pub fn header_all(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect()
    }
}

/// A running backend on `127.0.0.1:<ephemeral>`; stops on `Drop`.
pub struct Backend {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

/// What the accept loop, the connections and the test share.
struct Shared {
    requests: Mutex<Vec<Recorded>>,
    /// Connection and WebSocket tasks, aborted together when the backend drops.
    tasks: Mutex<JoinSet<()>>,
}

struct Recorded {
    request: SeenRequest,
    /// Grows while the body streams, which can outlive the handler.
    body_len: Arc<AtomicU64>,
}

impl Backend {
    /// Binds `127.0.0.1:0` and starts serving.
    pub async fn start() -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind backend listener");
        let addr = listener.local_addr().expect("backend address");
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            tasks: Mutex::new(JoinSet::new()),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Backend {
            addr,
            shared,
            accept,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, as a route's `upstream`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub fn seen(&self) -> Vec<SeenRequest> {
        lock(&self.shared.requests)
            .iter()
            .map(|r| SeenRequest {
                body_len: r.body_len.load(Ordering::SeqCst),
                ..r.request.clone()
            })
            .collect()
    }

    /// Polls until at least `n` requests have arrived and returns them;
    /// panics, listing what did arrive, if that takes longer than `within`.
    pub async fn wait_for_requests(&self, n: usize, within: Duration) -> Vec<SeenRequest> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let seen = self.seen();
            if seen.len() >= n {
                return seen;
            }
            if tokio::time::Instant::now() >= deadline {
                let got: Vec<_> = seen.iter().map(|r| (&r.method, &r.path)).collect();
                panic!(
                    "backend saw {} of {n} requests within {within:?}: {got:?}",
                    seen.len()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.accept.abort();
        lock(&self.shared.tasks).abort_all();
    }
}

/// The byte at `offset` of a `/big` answer: a repeating run of 251 values
/// (a prime, so it never lines up with chunk or buffer sizes).
pub fn big_pattern_byte(offset: u64) -> u8 {
    (offset % 251) as u8
}

/// The first `n` bytes of the `/big` pattern, to compare a download with.
pub fn big_pattern(n: usize) -> Vec<u8> {
    (0..n as u64).map(big_pattern_byte).collect()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not hide the data from the next assertion.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut tasks = lock(&self.tasks);
        while tasks.try_join_next().is_some() {}
        tasks.spawn(task);
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let conn_shared = shared.clone();
        shared.spawn(async move {
            let service = service_fn(move |req| handle(conn_shared.clone(), req));
            // Errors here are the client going away, which tests do on purpose.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let body_len = record(&shared, &req);
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let response = match path.as_str() {
        p if p.starts_with("/echo-body") => echo_body(req, body_len),
        "/ws" => websocket(&shared, req),
        "/hang" => std::future::pending().await,
        "/big" => big(query_param(&query, "n").unwrap_or(0)),
        _ => {
            let (parts, body) = req.into_parts();
            let read = body
                .collect()
                .await
                .map(|b| b.to_bytes().len())
                .unwrap_or(0);
            body_len.store(read as u64, Ordering::SeqCst);
            let request = Request::from_parts(parts, ());
            match path.as_str() {
                "/delay" => {
                    let ms = query_param(&query, "ms").unwrap_or(0);
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    json_echo(&request, read)
                }
                "/set-cookie" => {
                    let mut response = json_echo(&request, read);
                    for cookie in [
                        "__Host-gatehouse=evil; Path=/; Secure",
                        "theme=dark; Path=/",
                    ] {
                        response
                            .headers_mut()
                            .append(header::SET_COOKIE, HeaderValue::from_static(cookie));
                    }
                    response
                }
                "/whoami-page" => whoami_page(&request),
                _ => json_echo(&request, read),
            }
        }
    };
    Ok(response)
}

/// Stores the request head before anything is answered, so a test sees
/// requests the backend never finished (`/hang`, a dropped upload).
fn record(shared: &Shared, req: &Request<Incoming>) -> Arc<AtomicU64> {
    let body_len = Arc::new(AtomicU64::new(0));
    let request = SeenRequest {
        method: req.method().to_string(),
        path: req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path().to_owned(), |pq| pq.to_string()),
        version: req.version(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect(),
        body_len: 0,
    };
    lock(&shared.requests).push(Recorded {
        request,
        body_len: body_len.clone(),
    });
    body_len
}

fn query_param<T: std::str::FromStr>(query: &str, name: &str) -> Option<T> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| value.parse().ok())
}

fn full(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(
        Full::new(body.into())
            .map_err(|never: Infallible| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn json_echo(req: &Request<()>, body_len: usize) -> Response<Body> {
    let headers: Vec<[String; 2]> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            [
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            ]
        })
        .collect();
    let body = serde_json::json!({
        "method": req.method().as_str(),
        "path": req.uri().path_and_query().map_or("", |pq| pq.as_str()),
        "headers": headers,
        "body_len": body_len,
    });
    full(StatusCode::OK, "application/json", body.to_string())
}

/// The request body becomes the response body frame by frame: nothing is
/// buffered, so uploads and downloads of any size stream both ways.
fn echo_body(req: Request<Incoming>, body_len: Arc<AtomicU64>) -> Response<Body> {
    let body = req
        .into_body()
        .map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                body_len.fetch_add(data.len() as u64, Ordering::SeqCst);
            }
            frame
        })
        .boxed();
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    response
}

fn big(n: u64) -> Response<Body> {
    let chunk = BIG_CHUNK_BYTES as u64;
    let frames = stream::iter((0..n).step_by(BIG_CHUNK_BYTES).map(move |start| {
        let data: Vec<u8> = (start..n.min(start + chunk))
            .map(big_pattern_byte)
            .collect();
        Ok::<_, hyper::Error>(Frame::data(Bytes::from(data)))
    }));
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    response
}

fn whoami_page(req: &Request<()>) -> Response<Body> {
    let user = req
        .headers()
        .get("x-forwarded-user")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>whoami</title></head><body><h1>Hello, {}</h1></body></html>\n",
        escape_html(&user)
    );
    full(StatusCode::OK, "text/html; charset=utf-8", page)
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

/// Answers the handshake with 101 and echoes text and binary messages on
/// the upgraded connection (pings and closes are answered by tungstenite).
fn websocket(shared: &Shared, mut req: Request<Incoming>) -> Response<Body> {
    let is_websocket = req
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned() else {
        return full(
            StatusCode::BAD_REQUEST,
            "text/plain",
            "not a websocket handshake",
        );
    };
    if !is_websocket {
        return full(
            StatusCode::BAD_REQUEST,
            "text/plain",
            "not a websocket handshake",
        );
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    shared.spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        while let Some(Ok(message)) = ws.next().await {
            if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                break;
            }
        }
    });
    let mut response = Response::new(
        Full::new(Bytes::new())
            .map_err(|never: Infallible| match never {})
            .boxed(),
    );
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&derive_accept_key(key.as_bytes())).expect("accept key is base64"),
    );
    response
}
