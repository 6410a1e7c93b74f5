//! Request ids and logs (SPEC §6): `X-Request-Id` is generated, or a
//! well-formed client value kept, sent upstream and returned; the real
//! binary, at debug level in JSON and in plain text, never logs a cookie
//! value, a password, a CSRF token or a query string, and its access line
//! carries the request id.

#[allow(dead_code)] // not every helper of the shared harness is used here
mod common;

use std::net::SocketAddr;

use reqwest::header::{ACCEPT, COOKIE};
use reqwest::{Client, StatusCode};

use common::backend::Backend;
use common::client::{https_client, https_url};
use common::gatehouse::{self, PASSWORD};
use common::login::{cookie_set, hidden_input, CSRF_COOKIE, LOGIN, LOGOUT, SESSION_COOKIE, WHOAMI};
use common::metrics::admin_get;
use common::poll::eventually;
use common::process::{fix_ports, Process};
use common::redis::RedisServer;

const X_REQUEST_ID: &str = "x-request-id";

/// Sends `GET /some/path` with the given `X-Request-Id` values; returns the
/// id in the response and every id the backend received.
async fn ids_through(
    client: &Client,
    url: &str,
    backend: &Backend,
    sent: &[&str],
) -> (String, Vec<String>) {
    let before = backend.seen().len();
    let mut req = client.get(url);
    for value in sent {
        req = req.header(X_REQUEST_ID, *value);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let returned: Vec<String> = resp
        .headers()
        .get_all(X_REQUEST_ID)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(returned.len(), 1, "one id in the response: {returned:?}");
    let seen = backend
        .wait_for_requests(before + 1, std::time::Duration::from_secs(5))
        .await;
    let upstream = seen[before]
        .header_all(X_REQUEST_ID)
        .iter()
        .map(|v| String::from_utf8(v.to_vec()).unwrap())
        .collect();
    (returned[0].clone(), upstream)
}

fn assert_fresh_uuid(id: &str, what: &str) {
    let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|e| panic!("{what}: {id:?}: {e}"));
    assert_eq!(uuid.get_version_num(), 4, "{what}: {id}");
    assert_eq!(
        id,
        uuid.hyphenated().to_string(),
        "{what}: hyphenated lower case"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_generated_kept_or_replaced_end_to_end() {
    let backend = Backend::start().await;
    let g = gatehouse::builder()
        .route(gatehouse::route("/", &backend.url(), "public"))
        .start()
        .await;
    let client = https_client(g.https);
    let url = g.url("/page");

    let (returned, upstream) = ids_through(&client, &url, &backend, &[]).await;
    assert_fresh_uuid(&returned, "a generated id");
    assert_eq!(
        upstream,
        vec![returned.clone()],
        "the same id upstream and back"
    );
    let (again, _) = ids_through(&client, &url, &backend, &[]).await;
    assert_ne!(again, returned, "a new id per request");

    let client_id = "0b8d4f3e-9a1c-4e2b-8f7a-5c6d7e8f9a0b";
    let (returned, upstream) = ids_through(&client, &url, &backend, &[client_id]).await;
    assert_eq!(returned, client_id, "a client UUID is kept");
    assert_eq!(upstream, [client_id]);

    let long = "a".repeat(200);
    for sent in [&["a b"][..], &[long.as_str()], &["one-id", "another-id"]] {
        let (returned, upstream) = ids_through(&client, &url, &backend, sent).await;
        assert_fresh_uuid(&returned, &format!("replacing {sent:?}"));
        assert_eq!(
            upstream,
            vec![returned.clone()],
            "{sent:?}: one id upstream, the same"
        );
        assert!(!sent.contains(&returned.as_str()));
    }
}

/// What a full sign-in session left in the log, and the secrets it used.
struct Browsed {
    log: String,
    session: String,
    csrf: String,
    request_id: String,
}

const WRONG_PASSWORD: &str = "Wr0ng-Zebra-Passphrase-77";
const QUERY_SECRET: &str = "secret123";

/// Runs the binary on `store_url` with `envs`, then: wrong password, right
/// password, browse a page with `?token=secret123`, whoami, logout;
/// returns its complete stderr after SIGTERM.
async fn full_session(store_url: &str, envs: &[(&str, &str)]) -> Browsed {
    let backend = Backend::start().await;
    let files = gatehouse::builder()
        .store(store_url)
        .route(gatehouse::route("/", &backend.url(), "required"))
        .user("alice", "alice@example.com", &["staff"])
        .write();
    let ports = fix_ports(&files.config);
    let mut proxy = Process::start(&files.config, envs);
    proxy.wait_accepting(ports.https).await;
    eventually("the store is reachable", || async {
        admin_get(ports.admin, "/readyz").await.0 == 200
    })
    .await;
    let client = https_client(ports.https);
    let url = |path: &str| https_url(ports.https, path);

    let csrf = csrf(&client, ports.https).await;
    let resp = post_login(&client, ports.https, &csrf, WRONG_PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::OK, "the form again");
    let csrf = csrf_again(&client, ports.https, &csrf).await;
    let resp = post_login(&client, ports.https, &csrf, PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let session = cookie_set(&resp, SESSION_COOKIE).expect("a session cookie");
    let cookie = format!("{SESSION_COOKIE}={session}");

    let resp = client
        .get(url(&format!("/docs/page?token={QUERY_SECRET}")))
        .header(COOKIE, &cookie)
        .header(ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let resp = client
        .get(url(WHOAMI))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = client
        .post(url(LOGOUT))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);

    let (code, log) = proxy.stop();
    assert_eq!(code, Some(0), "{log}");
    Browsed {
        log,
        session,
        csrf,
        request_id,
    }
}

async fn csrf(client: &Client, https: SocketAddr) -> String {
    let resp = client.get(https_url(https, LOGIN)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let page = resp.text().await.unwrap();
    hidden_input(&page, "csrf").expect("a csrf input")
}

/// The token to post after a failed attempt: the form shown again carries
/// one; if it renewed the cookie, the new token.
async fn csrf_again(client: &Client, https: SocketAddr, old: &str) -> String {
    let resp = client
        .get(https_url(https, LOGIN))
        .header(COOKIE, format!("{CSRF_COOKIE}={old}"))
        .send()
        .await
        .unwrap();
    let renewed = cookie_set(&resp, CSRF_COOKIE);
    let page = resp.text().await.unwrap();
    renewed.unwrap_or_else(|| hidden_input(&page, "csrf").expect("a csrf input"))
}

async fn post_login(
    client: &Client,
    https: SocketAddr,
    csrf: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(https_url(https, LOGIN))
        .header(COOKIE, format!("{CSRF_COOKIE}={csrf}"))
        .form(&[
            ("username", "alice"),
            ("password", password),
            ("rd", "/docs/page"),
            ("csrf", csrf),
        ])
        .send()
        .await
        .unwrap()
}

fn assert_no_secrets(b: &Browsed) {
    let form_encoded = |s: &str| s.replace(' ', "+");
    for (what, secret) in [
        ("the session cookie value", b.session.clone()),
        ("the right password", PASSWORD.to_owned()),
        ("the right password, form-encoded", form_encoded(PASSWORD)),
        ("the wrong password", WRONG_PASSWORD.to_owned()),
        ("the CSRF token", b.csrf.clone()),
        ("the query string", format!("token={QUERY_SECRET}")),
        ("the query value", QUERY_SECRET.to_owned()),
    ] {
        if let Some(line) = b.log.lines().find(|l| l.contains(&secret)) {
            panic!("{what} is in the log: {line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_debug_logs_hold_no_secrets_and_the_access_line_has_the_request_id() {
    // On Redis, so that the store client's debug output is in the log too.
    let redis = RedisServer::start();
    let envs = [("GATEHOUSE_LOG_FORMAT", "json"), ("RUST_LOG", "debug")];
    let b = full_session(&redis.url(), &envs).await;
    assert_no_secrets(&b);
    let lines: Vec<serde_json::Value> = b
        .log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "DEBUG"),
        "debug level is on:\n{}",
        b.log
    );
    let access = lines
        .iter()
        .find(|l| l["target"] == "gatehouse::access" && l["request_id"] == b.request_id.as_str())
        .unwrap_or_else(|| panic!("no access line with {}:\n{}", b.request_id, b.log));
    assert_eq!(access["path"], "/docs/page", "{access}");
    assert_eq!(access["user"], "alice", "{access}");
    assert_eq!(access["status"], 200, "{access}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_debug_logs_hold_no_secrets_and_the_access_line_has_the_request_id() {
    let b = full_session("memory://", &[("RUST_LOG", "debug")]).await;
    assert_no_secrets(&b);
    assert!(b.log.contains("DEBUG"), "debug level is on:\n{}", b.log);
    let access = b
        .log
        .lines()
        .find(|l| l.contains("gatehouse::access") && l.contains(&b.request_id))
        .unwrap_or_else(|| panic!("no access line with {}:\n{}", b.request_id, b.log));
    assert!(
        access.contains("/docs/page") && access.contains("alice"),
        "{access}"
    );
}
