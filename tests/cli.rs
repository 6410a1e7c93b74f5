//! The command line, tested through the real binary: `check`, startup with a
//! bad config, `hash-password`, usage errors, serving with its logs, and
//! graceful shutdown on SIGTERM.
//!
//! What is asserted is what an operator sees: exit codes, and error lines
//! that name the file, the key, the `line:column` and the reason.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};

use common::process::{free_addr, Process, BIN};

/// The password [`hash`] hashes.
const PASSWORD: &str = "secret";

/// A well-formed argon2i (not argon2id) PHC string.
const ARGON2I_HASH: &str =
    "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";

/// Bound on anything a test waits for, so that no test can hang.
const DEADLINE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Files and processes

fn manifest_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The argon2id hash of [`PASSWORD`], made once by `gatehouse hash-password`.
fn hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let out = run_with_stdin(&["hash-password"], "secret\n");
        assert_eq!(out.status.code(), Some(0), "hash-password: {out:?}");
        String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
    })
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run gatehouse")
}

fn run_with_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gatehouse");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn write_config(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("proxy.toml");
    std::fs::write(&path, body).unwrap();
    path
}

fn write_users(dir: &Path, body: &str) {
    std::fs::write(dir.join("users.toml"), body).unwrap();
}

fn user(name: &str, password: &str) -> String {
    format!("[[user]]\nname = \"{name}\"\npassword = \"{password}\"\n")
}

fn listen(https: &str) -> String {
    format!("[listen]\nhttps = \"{https}\"\n\n")
}

fn tls(cert: &Path, key: &Path) -> String {
    format!(
        "[tls]\ncert = \"{}\"\nkey = \"{}\"\n\n",
        cert.display(),
        key.display()
    )
}

fn dev_tls() -> String {
    tls(
        &manifest_path("certs/localhost.crt"),
        &manifest_path("certs/localhost.key"),
    )
}

fn route(path: &str, upstream: &str, auth: &str) -> String {
    format!("[[route]]\npath = \"{path}\"\nupstream = \"{upstream}\"\nauth = \"{auth}\"\n\n")
}

/// A valid proxy.toml with `tables` between `[tls]` and the one route.
fn valid_config(tables: &str) -> String {
    listen("127.0.0.1:8443")
        + &dev_tls()
        + tables
        + &route("/", "http://127.0.0.1:3000", "required")
}

/// A folder with `proxy.toml` = `config` and a valid `users.toml`.
fn config_dir(config: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    write_users(dir.path(), &user("alice", hash()));
    let path = write_config(dir.path(), config);
    (dir, path)
}

/// `line:column` (1-based) of the first `needle` in `text`.
fn position(text: &str, needle: &str) -> String {
    let offset = text.find(needle).expect("needle in text");
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{line}:{column}")
}

/// Error output must be one readable line, never a Debug dump.
fn assert_readable(err: &str) {
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    for debug in ["Error {", "Os {", "Custom {", "kind:", "code:"] {
        assert!(!err.contains(debug), "Debug text {debug:?} in {err:?}");
    }
}

/// Runs `gatehouse check --config path`, asserts exit 2 and a readable
/// one-line error, and returns that line.
fn check_fails(path: &Path) -> String {
    let out = run(&["check", "--config", path.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "check: {err}");
    assert!(out.stdout.is_empty(), "stdout on failure: {out:?}");
    assert!(err.starts_with("error: "), "{err}");
    assert_readable(&err);
    err
}

fn check_config_fails(config: &str) -> String {
    let (_dir, path) = config_dir(config);
    let err = check_fails(&path);
    assert!(err.contains(path.to_str().unwrap()), "no file in {err}");
    err
}

/// `check` with `[tls]` = `cert` and `key`: the error names the TLS file at
/// fault rather than proxy.toml.
fn check_tls_fails(cert: &Path, key: &Path) -> String {
    let config = listen("127.0.0.1:8443")
        + &tls(cert, key)
        + &route("/", "http://127.0.0.1:3000", "required");
    let (_dir, path) = config_dir(&config);
    check_fails(&path)
}

fn assert_has(text: &str, pieces: &[&str]) {
    for piece in pieces {
        assert!(text.contains(piece), "{piece:?} not in {text:?}");
    }
}

/// A gatehouse child process whose stderr is collected as it comes. Killed
/// on drop, so a failing test leaves nothing behind.
/// A minimal HTTP/1.1 backend: answers every request `200 ok`. Each request
/// head is sent on the returned channel when it arrives; the answer then
/// waits for a permit of the semaphore (one is consumed per request).
async fn backend(gate: Arc<Semaphore>) -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen, heads) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let (gate, seen) = (gate.clone(), seen.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.ends_with(b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(n @ 1..) => head.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                }
                let _ = seen.send(String::from_utf8_lossy(&head).into_owned());
                gate.acquire().await.unwrap().forget();
                let reply = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
                let _ = tcp.write_all(reply.as_bytes()).await;
            });
        }
    });
    (addr, heads)
}

/// A client that trusts the development certificate and sends
/// `localhost` to `https`.
fn client(https: SocketAddr) -> reqwest::Client {
    let pem = std::fs::read(manifest_path("certs/localhost.crt")).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .resolve("localhost", https)
        .timeout(DEADLINE)
        .build()
        .unwrap()
}

/// A proxy.toml serving one public route to `upstream` on `https`.
fn serving_config(https: SocketAddr, upstream: SocketAddr) -> String {
    listen(&https.to_string())
        + &dev_tls()
        + &route("/app", &format!("http://{upstream}"), "public")
}

// ---------------------------------------------------------------------------
// gatehouse check

#[test]
fn check_accepts_a_valid_config() {
    let (_dir, path) = config_dir(&valid_config(""));
    let out = run(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains(path.to_str().unwrap()), "{stdout}");
}

#[test]
fn check_names_an_unknown_key_and_its_position() {
    let config = valid_config("[timeouts]\nconect = \"2s\"\n\n");
    let err = check_config_fails(&config);
    let at = position(&config, "conect");
    assert_has(
        &err,
        &["timeouts.conect", &format!(":{at}:"), "unknown key"],
    );
}

#[test]
fn check_names_a_duration_that_does_not_parse() {
    let config = valid_config("[timeouts]\nconnect = \"5 parsecs\"\n\n");
    let err = check_config_fails(&config);
    let at = position(&config, "\"5 parsecs\"");
    assert_has(
        &err,
        &[
            "timeouts.connect",
            &format!(":{at}:"),
            "\"5 parsecs\"",
            "is not a duration",
        ],
    );
}

#[test]
fn check_names_a_missing_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.crt");
    let err = check_tls_fails(&missing, &manifest_path("certs/localhost.key"));
    assert_has(
        &err,
        &[
            missing.to_str().unwrap(),
            "tls.cert",
            "cannot read the file",
        ],
    );
}

#[test]
fn check_names_a_garbage_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.crt");
    std::fs::write(&garbage, "this is not a certificate\n").unwrap();
    let err = check_tls_fails(&garbage, &manifest_path("certs/localhost.key"));
    assert_has(
        &err,
        &[garbage.to_str().unwrap(), "tls.cert", "no PEM certificate"],
    );
}

#[test]
fn check_refuses_a_key_that_is_not_the_certificates() {
    let other = manifest_path("tests/data/other.key");
    let cert = manifest_path("certs/localhost.crt");
    let err = check_tls_fails(&cert, &other);
    assert_has(
        &err,
        &[
            other.to_str().unwrap(),
            "tls.key",
            "does not match the certificate",
            cert.to_str().unwrap(),
        ],
    );
}

#[test]
fn check_refuses_upstreams_that_are_not_plain_http() {
    for (upstream, reason) in [
        ("https://127.0.0.1:3000", "uses https"),
        ("ftp://127.0.0.1:3000", "must be an http:// URL"),
        ("127.0.0.1:3000", "must be an http:// URL"),
    ] {
        let config = listen("127.0.0.1:8443") + &dev_tls() + &route("/", upstream, "required");
        let err = check_config_fails(&config);
        let at = position(&config, &format!("\"{upstream}\""));
        assert_has(
            &err,
            &["route[0].upstream", &format!(":{at}:"), upstream, reason],
        );
    }
}

#[test]
fn check_refuses_two_routes_with_the_same_host_and_path() {
    let config = listen("127.0.0.1:8443")
        + &dev_tls()
        + &route("/", "http://127.0.0.1:3000", "required")
        + "[[route]]\nhost = \"app.localhost\"\npath = \"/app\"\nupstream = \"http://127.0.0.1:3001\"\n\n"
        + "[[route]]\nhost = \"APP.localhost\"\npath = \"/app\"\nupstream = \"http://127.0.0.1:3002\"\n";
    let err = check_config_fails(&config);
    assert_has(
        &err,
        &["route[2]", "duplicates route[1]", "same host and path"],
    );
}

#[test]
fn check_refuses_a_config_without_routes() {
    let err = check_config_fails(&(listen("127.0.0.1:8443") + &dev_tls()));
    assert_has(&err, &["no routes", "[[route]]"]);
}

#[test]
fn check_refuses_a_cookie_name_without_the_host_prefix() {
    let config = valid_config("[session]\ncookie_name = \"gatehouse\"\n\n");
    let err = check_config_fails(&config);
    let at = position(&config, "\"gatehouse\"");
    assert_has(
        &err,
        &["session.cookie_name", &format!(":{at}:"), "__Host-"],
    );
}

#[test]
fn check_refuses_a_plaintext_password_and_names_the_user() {
    let (dir, path) = config_dir(&valid_config(""));
    let users = user("alice", hash()) + "\n" + &user("bob", "hunter2");
    write_users(dir.path(), &users);
    let err = check_fails(&path);
    let file = dir.path().join("users.toml");
    let at = position(&users, "\"hunter2\"");
    assert_has(
        &err,
        &[
            &format!("{}:{at}:", file.display()),
            "user[1].password",
            "\"bob\"",
            "not a PHC hash",
        ],
    );
    assert!(!err.contains("hunter2"), "the plaintext is echoed: {err}");
}

#[test]
fn check_refuses_an_argon2i_hash() {
    let (dir, path) = config_dir(&valid_config(""));
    write_users(dir.path(), &user("carol", ARGON2I_HASH));
    let err = check_fails(&path);
    assert_has(
        &err,
        &[
            "users.toml:",
            "user[0].password",
            "\"carol\"",
            "only argon2id",
        ],
    );
}

#[test]
fn check_names_a_missing_users_file() {
    let config = valid_config("[login]\nusers_file = \"nobody.toml\"\n\n");
    let (dir, path) = config_dir(&config);
    let err = check_fails(&path);
    let missing = dir.path().join("nobody.toml");
    assert_has(
        &err,
        &[
            missing.to_str().unwrap(),
            "login.users_file",
            "cannot read the file",
        ],
    );
}

#[test]
fn check_refuses_a_file_that_is_not_toml() {
    let err = check_config_fails("<html>this is not toml</html>\n");
    let (_, reason) = err
        .split_once("proxy.toml:1:1: ")
        .unwrap_or_else(|| panic!("no line:column in {err}"));
    assert!(reason.trim().len() > 3, "no reason in {err}");
}

#[test]
fn check_names_a_missing_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("proxy.toml");
    let err = check_fails(&missing);
    assert_has(&err, &[missing.to_str().unwrap(), "cannot read the file"]);
}

// ---------------------------------------------------------------------------
// Startup with a bad config

/// `gatehouse --config path` must exit 2 on its own; returns its stderr.
fn startup_fails(path: &Path) -> String {
    let mut proxy = Process::start(path, &[]);
    let (code, err) = proxy.wait_exit(DEADLINE);
    assert_eq!(code, Some(2), "{err}");
    for debug in ["Error {", "Os {", "Custom {"] {
        assert!(!err.contains(debug), "Debug text {debug:?} in {err:?}");
    }
    err
}

#[test]
fn startup_with_an_unknown_key_exits_2() {
    let config = valid_config("[timeouts]\nconect = \"2s\"\n\n");
    let (_dir, path) = config_dir(&config);
    let err = startup_fails(&path);
    let at = position(&config, "conect");
    assert_has(
        &err,
        &[
            "ERROR",
            path.to_str().unwrap(),
            &format!(":{at}:"),
            "timeouts.conect",
            "unknown key",
        ],
    );
}

#[test]
fn startup_with_a_mismatched_key_exits_2() {
    let config = listen(&free_addr().to_string())
        + &tls(
            &manifest_path("certs/localhost.crt"),
            &manifest_path("tests/data/other.key"),
        )
        + &route("/", "http://127.0.0.1:3000", "required");
    let (_dir, path) = config_dir(&config);
    let err = startup_fails(&path);
    assert_has(&err, &["ERROR", "tls.key", "does not match"]);
}

#[test]
fn startup_with_a_plaintext_password_exits_2() {
    let (dir, path) = config_dir(&serving_config(free_addr(), free_addr()));
    write_users(dir.path(), &user("bob", "hunter2"));
    let err = startup_fails(&path);
    assert_has(&err, &["ERROR", "user[0].password", "\"bob\""]);
}

// ---------------------------------------------------------------------------
// gatehouse hash-password

#[test]
fn hash_password_prints_one_argon2id_line_without_the_newline() {
    let out = run_with_stdin(&["hash-password"], "secret\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout:?}");
    let line = stdout.trim_end();
    assert!(
        line.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{line}"
    );

    // The users file takes it, and it verifies "secret", not "secret\n".
    let (dir, path) = config_dir(&valid_config(""));
    write_users(dir.path(), &user("u", line));
    let out = run(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let users = gatehouse::users::Users::load(&dir.path().join("users.toml")).unwrap();
    assert!(users.verify("u", PASSWORD).is_some());
    assert!(users.verify("u", "secret\n").is_none());
}

#[test]
fn hash_password_refuses_empty_input() {
    for input in ["", "\n"] {
        let out = run_with_stdin(&["hash-password"], input);
        let err = stderr(&out);
        assert_ne!(out.status.code(), Some(0), "{input:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{out:?}");
        assert_has(&err, &["error:", "empty"]);
        assert_readable(&err);
    }
}

// ---------------------------------------------------------------------------
// Usage errors

#[test]
fn unknown_subcommands_and_flags_are_usage_errors() {
    for args in [&["frobnicate"][..], &["--frobnicate"], &["check", "--nope"]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(stderr(&out).contains("Usage"), "{args:?}: {}", stderr(&out));
    }
}

// ---------------------------------------------------------------------------
// Serving, logs and shutdown through the binary

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_logs_and_exits_0_on_sigterm() {
    let gate = Arc::new(Semaphore::new(Semaphore::MAX_PERMITS));
    let (upstream, _heads) = backend(gate).await;
    let https = free_addr();
    let (_dir, path) = config_dir(&serving_config(https, upstream));
    let mut proxy = Process::start(&path, &[]);
    proxy.wait_accepting(https).await;

    let resp = client(https)
        .get("https://localhost/app/hello?token=s3cr3t")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ok");

    proxy.signal("TERM");
    let (code, err) = proxy.wait_exit(Duration::from_secs(5));
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains('\x1b'), "ANSI escapes in piped logs: {err:?}");
    let startup = err
        .lines()
        .find(|l| l.contains("gatehouse listening"))
        .unwrap_or_else(|| panic!("no startup line:\n{err}"));
    assert_has(startup, &[&https.to_string()]);
    let route_line = err
        .lines()
        .find(|l| l.contains("route") && l.contains(&upstream.to_string()))
        .unwrap_or_else(|| panic!("no route line:\n{err}"));
    assert_has(route_line, &["/app"]);
    let access = err
        .lines()
        .find(|l| l.contains("gatehouse::access"))
        .unwrap_or_else(|| panic!("no access line:\n{err}"));
    assert_has(access, &["GET", "/app/hello", "200"]);
    assert!(!err.contains("s3cr3t"), "query string logged:\n{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line() {
    let gate = Arc::new(Semaphore::new(Semaphore::MAX_PERMITS));
    let (upstream, _heads) = backend(gate).await;
    let https = free_addr();
    let (_dir, path) = config_dir(&serving_config(https, upstream));
    let mut proxy = Process::start(&path, &[("GATEHOUSE_LOG_FORMAT", "json")]);
    proxy.wait_accepting(https).await;

    let resp = client(https)
        .get("https://localhost/app/json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    proxy.signal("TERM");
    let (code, err) = proxy.wait_exit(Duration::from_secs(5));
    assert_eq!(code, Some(0), "{err}");

    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    let startup = lines
        .iter()
        .find(|l| l["message"] == "gatehouse listening")
        .unwrap_or_else(|| panic!("no startup line:\n{err}"));
    assert_eq!(startup["https"], https.to_string());
    let access = lines
        .iter()
        .find(|l| l["target"] == "gatehouse::access")
        .unwrap_or_else(|| panic!("no access line:\n{err}"));
    assert_eq!(access["method"], "GET");
    assert_eq!(access["path"], "/app/json");
    assert_eq!(access["status"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_request_in_flight_and_refuses_new_connections() {
    let gate = Arc::new(Semaphore::new(0));
    let (upstream, mut heads) = backend(gate.clone()).await;
    let https = free_addr();
    let (_dir, path) = config_dir(&serving_config(https, upstream));
    let mut proxy = Process::start(&path, &[]);
    proxy.wait_accepting(https).await;

    let in_flight = tokio::spawn(async move {
        let resp = client(https)
            .get("https://localhost/app/slow")
            .send()
            .await?;
        let status = resp.status();
        Ok::<_, reqwest::Error>((status, resp.text().await?))
    });
    let head = tokio::time::timeout(DEADLINE, heads.recv())
        .await
        .expect("the request reaches the backend")
        .unwrap();
    assert!(head.starts_with("GET /app/slow "), "{head}");

    proxy.signal("TERM");
    // The listener closes while the request is still held by the backend.
    let start = Instant::now();
    while tokio::net::TcpStream::connect(https).await.is_ok() {
        assert!(
            start.elapsed() < DEADLINE,
            "still accepting after SIGTERM:\n{}",
            proxy.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !in_flight.is_finished(),
        "request ended before the backend answered"
    );

    // Let the backend answer after about a second.
    tokio::time::sleep(Duration::from_secs(1)).await;
    gate.add_permits(1);
    let (status, body) = tokio::time::timeout(DEADLINE, in_flight)
        .await
        .expect("the request in flight completes")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, "ok");

    let (code, err) = proxy.wait_exit(Duration::from_secs(5));
    assert_eq!(code, Some(0), "{err}");
    assert_has(&err, &["shutting down", "stopped"]);
}
