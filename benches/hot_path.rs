//! The hot path's CI guard: how many instructions the release `gatehouse`
//! binary spends on one proxied, authenticated request, counted by
//! callgrind and compared with the committed `benches/hot_path.baseline`.
//! Unlike wall clock, instruction counts barely move between runs (within
//! 1% here), so a generous margin still catches bad regressions.
//!
//! ```sh
//! cargo bench --bench hot_path                   # measure and compare
//! HOT_PATH_BLESS=1 cargo bench --bench hot_path  # rewrite the baseline
//! ```
//!
//! Each set-up (embedded store; Redis with the session cache; Redis
//! without it) runs gatehouse under `valgrind --tool=callgrind` with
//! `[server] workers = 1`, one user signed in through the login form, one
//! route to a backend in this process that answers a fixed 1 KiB body, and
//! `redis-server` where needed. Per protocol (HTTP/1.1, HTTP/2) a run opens
//! one keep-alive TLS connection, sends [`WARMUP`] requests, then the
//! measured ones; every answer must be 200 with that body.
//!
//! The cost of a request is the difference between a run with
//! [`REQUESTS`] measured requests and one with none, divided by
//! [`REQUESTS`]. Start-up, login (argon2), TLS handshakes, warm-up and
//! shutdown are the same in both and cancel out, so nothing has to reach
//! into the running process. `callgrind_control --zero`/`--dump` would
//! save a run, but it goes through vgdb, which must ptrace a process that
//! tokio keeps blocked in `epoll_wait`; where ptrace is not allowed (some
//! containers) the command waits until a request wakes the process, and
//! that request then straddles the boundary.

#[allow(dead_code)] // the guard uses a few of the test harness's helpers
#[path = "../tests/common/mod.rs"]
mod common;

use std::convert::Infallible;
use std::fmt::Write as _;
use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::header::{COOKIE, HOST};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use common::client::{https_client, https_url, tls_connect};
use common::gatehouse::{self, ConfigDir, PASSWORD};
use common::login::{cookie_set, csrf_token_at, login_post, session, LOGIN, SESSION_COOKIE};
use common::metrics::{series, CACHE_HITS};
use common::process::{fix_ports, BIN};
use common::redis::RedisServer;

/// Requests per connection before measuring: TLS session, buffers, the
/// session cache and the upstream pool settle.
const WARMUP: u32 = 50;
/// Measured requests per protocol.
const REQUESTS: u32 = 1000;
/// Fail above this multiple of the baseline. Repeated runs agree within
/// 1%, but another toolchain, libc or CPU (ring picks its AES and SHA code
/// by CPU features) can move counts by more, so this trips on bad
/// regressions only: one extra Redis round trip per request (about 14,000
/// instructions) passes, three fail on HTTP/1.1.
const MARGIN: f64 = 1.3;
/// Below this multiple of the baseline, suggest re-blessing it (a
/// baseline that is too high lets regressions through).
const REBLESS_BELOW: f64 = 0.7;
/// Bound on gatehouse's start-up and shutdown under valgrind.
const DEADLINE: Duration = Duration::from_secs(60);
/// Lines of each log shown when a run fails.
const LOG_TAIL: usize = 40;
const BASELINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/hot_path.baseline");
const BLESS_VAR: &str = "HOT_PATH_BLESS";
/// The signed-in user.
const USER: &str = "bench";
/// What the backend answers to everything.
static BODY: [u8; 1024] = [b'x'; 1024];

/// One way of running gatehouse; `name` is its table in the baseline.
struct SetUp {
    name: &'static str,
    /// A fresh `redis-server` per run, else `memory://`.
    redis: bool,
    /// Extra `[store]` lines.
    store_toml: &'static str,
    /// Whether lookups must be answered by the session cache.
    cached: bool,
}

const SET_UPS: [SetUp; 3] = [
    SetUp {
        name: "memory",
        redis: false,
        store_toml: "",
        cached: false,
    },
    SetUp {
        name: "redis_cache",
        redis: true,
        store_toml: "", // the default cache_capacity
        cached: true,
    },
    SetUp {
        name: "redis_nocache",
        redis: true,
        store_toml: "cache_capacity = 0",
        cached: false,
    },
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

const PROTOCOLS: [Protocol; 2] = [Protocol::Http1, Protocol::Http2];

impl Protocol {
    /// Its key in the baseline.
    fn name(self) -> &'static str {
        match self {
            Protocol::Http1 => "http1",
            Protocol::Http2 => "http2",
        }
    }

    fn alpn(self) -> &'static [u8] {
        match self {
            Protocol::Http1 => b"http/1.1",
            Protocol::Http2 => b"h2",
        }
    }
}

/// Instructions per request of one set-up and protocol.
struct Measured {
    set_up: &'static str,
    protocol: Protocol,
    ir: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    // `cargo test --benches` runs this too, with a debug binary, which the
    // baseline says nothing about.
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "hot_path: measures the release binary; run it with `cargo bench --bench hot_path`"
        );
        return ExitCode::SUCCESS;
    }
    for (tool, package) in [("valgrind", "valgrind"), ("redis-server", "redis-server")] {
        if let Err(e) = require(tool, package) {
            eprintln!("hot_path: {e}");
            return ExitCode::FAILURE;
        }
    }
    let started = Instant::now();
    let backend = start_backend().await;
    let mut measured = Vec::new();
    for set_up in &SET_UPS {
        let base = run(set_up, backend, None).await;
        for protocol in PROTOCOLS {
            let busy = run(set_up, backend, Some(protocol)).await;
            let ir = busy.checked_sub(base).unwrap_or_else(|| {
                panic!(
                    "{}: a run with requests counted fewer instructions than one without",
                    set_up.name
                )
            }) / u64::from(REQUESTS);
            println!(
                "{:14} {:6} {ir:>9} Ir/request",
                set_up.name,
                protocol.name()
            );
            measured.push(Measured {
                set_up: set_up.name,
                protocol,
                ir,
            });
        }
    }
    let elapsed = started.elapsed().as_secs();
    if std::env::var_os(BLESS_VAR).is_some_and(|v| v == "1") {
        std::fs::write(BASELINE, baseline_text(&measured))
            .unwrap_or_else(|e| panic!("writing {BASELINE}: {e}"));
        println!("hot_path: wrote {BASELINE} ({elapsed} s); commit it");
        return ExitCode::SUCCESS;
    }
    let ok = compare(&measured);
    println!(
        "hot_path: {} in {elapsed} s",
        if ok { "ok" } else { "FAILED" }
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// An error naming the package to install when `tool` is not on the PATH.
fn require(tool: &str, package: &str) -> Result<(), String> {
    match Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "{tool} not found: install it with `apt-get install {package}`"
        )),
        Err(e) => Err(format!("cannot run {tool}: {e}")),
    }
}

/// An HTTP/1.1 server on 127.0.0.1 that answers everything with 200 and [`BODY`].
async fn start_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the backend");
    let addr = listener.local_addr().expect("the backend's address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service_fn(|_| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(&BODY))))
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    addr
}

/// One run of `set_up` under callgrind: sign in, warm up every protocol,
/// send [`REQUESTS`] measured requests on `measured` (if any), stop.
/// Returns the instructions counted over the whole run.
async fn run(set_up: &SetUp, backend: SocketAddr, measured: Option<Protocol>) -> u64 {
    // A fresh server per run, so that every run finds Redis in the same state.
    let redis = set_up.redis.then(RedisServer::start);
    let mut config = gatehouse::builder()
        .store(&redis.as_ref().map_or("memory://".into(), RedisServer::url))
        .section("[server]\nworkers = 1\n")
        .route(format!(
            "[[route]]\npath = \"/\"\nupstream = \"http://{backend}\"\n"
        ))
        .user(USER, "bench@example.com", &["staff"]);
    if !set_up.store_toml.is_empty() {
        config = config.store_toml(set_up.store_toml);
    }
    let files = config.write();
    let ports = fix_ports(&files.config);
    let mut proxy = Callgrind::start(&files);
    proxy.wait_ready(ports.admin).await;

    let cookie = login(ports.https).await;
    for protocol in PROTOCOLS {
        let mut connection = Connection::open(ports.https, protocol).await;
        let extra = if measured == Some(protocol) {
            REQUESTS
        } else {
            0
        };
        for _ in 0..WARMUP + extra {
            connection.get(ports.https, &cookie).await;
        }
    }
    let cache_hits = series(ports.admin, CACHE_HITS).await;
    assert_eq!(
        cache_hits > 0.0,
        set_up.cached,
        "{}: {cache_hits} session cache hits",
        set_up.name
    );
    proxy.stop().await
}

/// Signs in through the proxy's own form; returns the `Cookie` value that
/// carries the new session.
async fn login(https: SocketAddr) -> String {
    let client = https_client(https);
    let url = https_url(https, LOGIN);
    let token = csrf_token_at(&client, &url).await;
    let resp = login_post(&client, &url, &token, USER, PASSWORD, "/")
        .send()
        .await
        .expect("POST the login form");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "signing in as {USER}");
    session(&cookie_set(&resp, SESSION_COOKIE).expect("signing in sets the session cookie"))
}

/// One keep-alive TLS connection to the proxy.
enum Connection {
    Http1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

impl Connection {
    async fn open(https: SocketAddr, protocol: Protocol) -> Self {
        let io = TokioIo::new(tls_connect(https, &[protocol.alpn()]).await);
        match protocol {
            Protocol::Http1 => {
                let (sender, connection) = hyper::client::conn::http1::handshake(io)
                    .await
                    .expect("HTTP/1.1 handshake");
                tokio::spawn(connection);
                Connection::Http1(sender)
            }
            Protocol::Http2 => {
                let (sender, connection) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                        .await
                        .expect("HTTP/2 handshake");
                tokio::spawn(connection);
                Connection::Http2(sender)
            }
        }
    }

    /// `GET /` with the session cookie; panics unless the answer is 200
    /// with the backend's body.
    async fn get(&mut self, https: SocketAddr, cookie: &str) {
        let authority = format!("localhost:{}", https.port());
        let request = |uri: String| {
            Request::get(uri)
                .header(COOKIE, cookie)
                .body(Empty::new())
                .expect("a valid request")
        };
        let response = match self {
            Connection::Http1(sender) => {
                sender.ready().await.expect("the connection stays open");
                let mut request = request("/".into());
                let host = authority.parse().expect("a valid Host");
                request.headers_mut().insert(HOST, host);
                sender.send_request(request).await
            }
            Connection::Http2(sender) => {
                sender.ready().await.expect("the connection stays open");
                sender
                    .send_request(request(format!("https://{authority}/")))
                    .await
            }
        }
        .expect("an answer to GET /");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("the response body")
            .to_bytes();
        assert!(
            status == StatusCode::OK && body[..] == BODY[..],
            "GET / answered {status} with {} bytes instead of 200 with the backend's 1 KiB: {:?}",
            body.len(),
            String::from_utf8_lossy(&body[..body.len().min(200)])
        );
    }
}

/// `gatehouse --config …` under callgrind; killed on drop.
struct Callgrind {
    child: Child,
    /// The run's folder: callgrind's output and both logs.
    dir: PathBuf,
}

impl Callgrind {
    fn start(files: &ConfigDir) -> Self {
        let dir = files.dir.path().to_owned();
        let stderr = File::create(dir.join("gatehouse.log")).expect("create gatehouse.log");
        let child = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!(
                "--callgrind-out-file={}",
                dir.join("callgrind.out").display()
            ))
            .arg(format!("--log-file={}", dir.join("valgrind.log").display()))
            .args([BIN, "--config"])
            .arg(&files.config)
            // Logging as in production (info), whatever this shell says.
            .env_remove("RUST_LOG")
            .env_remove("GATEHOUSE_LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn valgrind");
        Callgrind { child, dir }
    }

    /// Waits until `/readyz` answers 200 (listening, store connected).
    async fn wait_ready(&mut self, admin: SocketAddr) {
        let start = Instant::now();
        let client = reqwest::Client::new();
        let url = format!("http://{admin}/readyz");
        loop {
            if let Ok(resp) = client.get(&url).send().await {
                if resp.status() == StatusCode::OK {
                    return;
                }
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!(
                    "gatehouse exited ({status}) before it was ready\n{}",
                    self.logs()
                );
            }
            assert!(
                start.elapsed() < DEADLINE,
                "gatehouse not ready within {DEADLINE:?}\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, waits for a clean exit, and returns the instructions
    /// callgrind counted over the whole run.
    async fn stop(mut self) -> u64 {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid} failed");
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "gatehouse still running {DEADLINE:?} after SIGTERM\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(
            status.success(),
            "gatehouse exited with {status}\n{}",
            self.logs()
        );
        let out = std::fs::read_to_string(self.dir.join("callgrind.out"))
            .unwrap_or_else(|e| panic!("reading callgrind's output: {e}\n{}", self.logs()));
        out.lines()
            .find_map(|line| line.strip_prefix("summary: "))
            .and_then(|n| n.trim().parse().ok())
            .expect("a `summary:` line in callgrind's output")
    }

    /// The end of valgrind's and gatehouse's logs, for failure messages.
    fn logs(&self) -> String {
        let tail = |name: &str| match std::fs::read_to_string(self.dir.join(name)) {
            Ok(text) => {
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n")
            }
            Err(e) => format!("(no {name}: {e})"),
        };
        format!(
            "--- valgrind.log\n{}\n--- gatehouse.log\n{}",
            tail("valgrind.log"),
            tail("gatehouse.log")
        )
    }
}

impl Drop for Callgrind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Prints each measurement against the baseline; false when one is
/// missing from it or costs more than [`MARGIN`] times its baseline.
fn compare(measured: &[Measured]) -> bool {
    let rebless = format!("{BLESS_VAR}=1 cargo bench --bench hot_path");
    let baseline: toml::Table = match std::fs::read_to_string(BASELINE) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|e| panic!("{BASELINE} is not valid TOML: {e}")),
        Err(e) => {
            eprintln!("hot_path: cannot read {BASELINE} ({e}); make it with `{rebless}`");
            return false;
        }
    };
    let (mut missing, mut regressed) = (false, false);
    for m in measured {
        let (set_up, protocol) = (m.set_up, m.protocol.name());
        let Some(base) = baseline
            .get(set_up)
            .and_then(|t| t.get(protocol))
            .and_then(toml::Value::as_integer)
        else {
            eprintln!(
                "hot_path: {set_up} {protocol} is not in {BASELINE}; re-bless with `{rebless}`"
            );
            missing = true;
            continue;
        };
        let ratio = m.ir as f64 / base as f64;
        let verdict = if ratio > MARGIN {
            regressed = true;
            "REGRESSION"
        } else if ratio < REBLESS_BELOW {
            "much cheaper"
        } else {
            "ok"
        };
        println!("{set_up:14} {protocol:6} {ratio:.2}x the baseline ({base}): {verdict}");
        if ratio < REBLESS_BELOW {
            println!("  a baseline this high hides regressions: re-bless with `{rebless}` and commit {BASELINE}");
        }
    }
    if regressed {
        eprintln!(
            "hot_path: more than {MARGIN}x the baseline. Find the new cost (callgrind_annotate \
             on a callgrind run of the release binary, before and after); if it is intended, \
             re-bless with `{rebless}` and commit {BASELINE}"
        );
    }
    !missing && !regressed
}

/// The baseline file for `measured`, with where its numbers came from.
fn baseline_text(measured: &[Measured]) -> String {
    let version = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|_| "unknown".into())
    };
    let mut text = format!(
        "# Callgrind instructions (Ir) per proxied, authenticated GET / (1 KiB body,\n\
         # keep-alive TLS) of the release gatehouse binary; benches/hot_path.rs fails\n\
         # above {MARGIN}x these. Written by `{BLESS_VAR}=1 cargo bench --bench hot_path`\n\
         # with {}, {}, on {}.\n",
        version("rustc"),
        version("valgrind"),
        std::env::consts::ARCH,
    );
    for set_up in &SET_UPS {
        let _ = write!(text, "\n[{}]\n", set_up.name);
        for m in measured.iter().filter(|m| m.set_up == set_up.name) {
            let _ = writeln!(text, "{} = {}", m.protocol.name(), m.ir);
        }
    }
    text
}
