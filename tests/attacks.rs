//! An attacker's view of gatehouse: every test sends something hostile and
//! asserts both what the attacker got back and what the backend saw (which
//! must be nothing it should not: backends trust the identity headers).
//!
//! One test binary (`cargo test --test attacks`), split by theme:
//!
//! | module | attacks |
//! |---|---|
//! | [`smuggling`] | HTTP/1.1 framing: CL/TE, chunk sizes, obs-fold, `Host`, pipelining, trailers |
//! | [`paths`] | dot segments, escapes, parameters and case against a public/admin split |
//! | [`identity`] | spoofed identity headers, `Connection` tricks, HTTP/2 |
//! | [`sessions`] | open redirect, login and logout CSRF, fixation, hostile cookies |
//! | [`limits`] | size limits, upgrades, methods, HTTP/2 connection headers, slow clients |
//!
//! This file holds what they share: the standard setup and a small raw
//! HTTP/1.1 response reader.

#[allow(dead_code)] // not every helper of the shared harness is used here
mod common;

#[path = "attacks/identity.rs"]
mod identity;
#[path = "attacks/limits.rs"]
mod limits;
#[path = "attacks/paths.rs"]
mod paths;
#[path = "attacks/sessions.rs"]
mod sessions;
#[path = "attacks/smuggling.rs"]
mod smuggling;

use std::time::Duration;

use common::backend::{Backend, SeenRequest};
use common::client::{https_client, raw_request_within, tls_connect};
use common::gatehouse::{builder, route, Gatehouse, PASSWORD};

/// Name of the session cookie (the default).
pub const SESSION_COOKIE: &str = "__Host-gatehouse";
/// Name of the login form's CSRF cookie.
pub const CSRF_COOKIE: &str = "__Host-gatehouse-csrf";
/// How long a raw exchange waits for the proxy to finish answering.
pub const RAW_WAIT: Duration = Duration::from_secs(3);
/// How long to wait for something the backend should see.
pub const BACKEND_WAIT: Duration = Duration::from_secs(5);
/// The path of the request [`App::settle`] sends to know the backend is up to date.
const SENTINEL: &str = "/public/__sentinel";
/// The path [`App::assert_still_serves`] asks for.
const STILL_SERVES: &str = "/public/__after";

/// Words that only appear in internal error text (hyper, io, Rust Debug
/// output, panics). A proxy-made answer must contain none of them.
const INTERNAL_TEXT: &[&str] = &[
    "hyper",
    "tokio",
    "rustls",
    "panicked",
    "Os {",
    "kind:",
    "Kind(",
    "Error {",
    "src/",
    "connection refused",
    "broken pipe",
    "LengthLimitError",
];

/// gatehouse in front of one recording backend, set up as the brief's
/// victim: `/public` is public, `/admin` needs group `admins`, everything
/// else (`/`) needs a session. Users: `alice` (staff) and `root` (admins).
pub struct App {
    pub gh: Gatehouse,
    pub backend: Backend,
    /// How many backend requests earlier [`App::settle`] calls returned.
    settled: std::sync::Mutex<usize>,
}

impl App {
    pub async fn start() -> App {
        App::start_with(&[]).await
    }

    /// [`App::start`] plus raw toml sections (e.g. a `[timeouts]` table).
    pub async fn start_with(sections: &[&str]) -> App {
        let backend = Backend::start().await;
        let mut b = builder()
            .route(route("/", &backend.url(), "required"))
            .route(route("/public", &backend.url(), "public"))
            .route(format!(
                "{}groups = [\"admins\"]\n",
                route("/admin", &backend.url(), "required")
            ))
            .user("alice", "alice@example.com", &["staff"])
            .user("root", "root@example.com", &["admins"]);
        for section in sections {
            b = b.section(section);
        }
        let gh = b.start().await;
        let app = App {
            gh,
            backend,
            settled: std::sync::Mutex::new(0),
        };
        app.wait_ready().await;
        app
    }

    /// Polls the public route until the proxy answers (it starts in a task).
    async fn wait_ready(&self) {
        let client = https_client(self.gh.https);
        let deadline = tokio::time::Instant::now() + BACKEND_WAIT;
        loop {
            if client
                .get(self.gh.url("/.gatehouse/login"))
                .send()
                .await
                .is_ok()
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "gatehouse did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Signs `user` in through the real form and returns the session
    /// cookie's value.
    pub async fn login(&self, user: &str) -> String {
        let (csrf_cookie, csrf_field) = self.login_form().await;
        let response = self
            .post_login(&[
                ("username", user),
                ("password", PASSWORD),
                ("rd", "/"),
                ("csrf", &csrf_field),
            ])
            .header("cookie", format!("{CSRF_COOKIE}={csrf_cookie}"))
            .send()
            .await
            .expect("login post");
        assert_eq!(response.status(), 303, "login of {user} must succeed");
        set_cookie_value(response.headers(), SESSION_COOKIE).expect("login sets the session")
    }

    /// `GET /.gatehouse/login`: the CSRF cookie's value and the form's token.
    pub async fn login_form(&self) -> (String, String) {
        let response = https_client(self.gh.https)
            .get(self.gh.url("/.gatehouse/login"))
            .send()
            .await
            .expect("login form");
        let cookie = set_cookie_value(response.headers(), CSRF_COOKIE).expect("csrf cookie");
        let page = response.text().await.expect("login page");
        let field = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("csrf field in the form")
            .to_owned();
        (cookie, field)
    }

    /// A login post with `fields` as the form body, to finish and send.
    pub fn post_login(&self, fields: &[(&str, &str)]) -> reqwest::RequestBuilder {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        https_client(self.gh.https)
            .post(self.gh.url("/.gatehouse/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }

    /// Sends `bytes` on a fresh TLS connection speaking HTTP/1.1 (ALPN) and
    /// returns every response read until the proxy closed or [`RAW_WAIT`].
    pub async fn raw(&self, bytes: &[u8]) -> Vec<Reply> {
        parse_replies(&self.raw_bytes(bytes).await)
    }

    /// [`App::raw`] without parsing.
    pub async fn raw_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let mut stream = tls_connect(self.gh.https, &[b"http/1.1"]).await;
        raw_request_within(&mut stream, bytes, RAW_WAIT).await
    }

    /// A raw request to `target` (`METHOD target`) with `headers` (each a
    /// full `Name: value` line) and `Connection: close`.
    pub async fn raw_get(&self, target: &str, headers: &[&str]) -> Vec<Reply> {
        let mut request = format!("{target} HTTP/1.1\r\nHost: localhost\r\n");
        for line in headers {
            request.push_str(line);
            request.push_str("\r\n");
        }
        request.push_str("Connection: close\r\n\r\n");
        self.raw(request.as_bytes()).await
    }

    /// Every request the backend has seen since the last call, once it has
    /// certainly seen everything sent before this call: a sentinel request
    /// is sent and waited for. Sentinels and [`App::assert_still_serves`]
    /// requests are left out.
    pub async fn settle(&self) -> Vec<SeenRequest> {
        let response = https_client(self.gh.https)
            .get(self.gh.url(SENTINEL))
            .send()
            .await
            .expect("sentinel request");
        assert_eq!(
            response.status(),
            200,
            "the proxy still serves after the attack"
        );
        let deadline = tokio::time::Instant::now() + BACKEND_WAIT;
        loop {
            if let Some(new) = self.take_new_if_sentinel_seen() {
                return new;
            }
            assert!(tokio::time::Instant::now() < deadline, "sentinel not seen");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The requests not yet returned by [`App::settle`], without sentinels,
    /// once a sentinel is among them.
    fn take_new_if_sentinel_seen(&self) -> Option<Vec<SeenRequest>> {
        let seen = self.backend.seen();
        let mut settled = self.settled.lock().expect("lock");
        let new = &seen[(*settled).min(seen.len())..];
        if !new.iter().any(|r| r.path == SENTINEL) {
            return None;
        }
        *settled = seen.len();
        Some(
            new.iter()
                .filter(|r| r.path != SENTINEL && r.path != STILL_SERVES)
                .cloned()
                .collect(),
        )
    }

    /// Asserts that the backend received nothing but sentinels.
    pub async fn assert_backend_saw_nothing(&self, what: &str) {
        let seen = self.settle().await;
        assert!(
            seen.is_empty(),
            "{what}: the backend must see nothing, saw {:?}",
            summary(&seen)
        );
    }

    /// Asserts that the proxy answered a request for a normal path after
    /// the attack (nothing crashed, nothing wedged).
    pub async fn assert_still_serves(&self) {
        let response = https_client(self.gh.https)
            .get(self.gh.url(STILL_SERVES))
            .send()
            .await
            .expect("a normal request after the attack");
        assert_eq!(response.status(), 200);
    }
}

/// `(method, path, x-forwarded-user)` of each request, for failure messages.
pub fn summary(seen: &[SeenRequest]) -> Vec<(String, String, Option<String>)> {
    seen.iter()
        .map(|r| {
            (
                r.method.clone(),
                r.path.clone(),
                r.header_str("x-forwarded-user").map(str::to_owned),
            )
        })
        .collect()
}

/// The value a response's `Set-Cookie` gives cookie `name`, if any
/// (empty values, i.e. clearing, count as none).
pub fn set_cookie_value(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .find(|(n, v)| n.trim() == name && !v.is_empty())
        .map(|(_, v)| v.to_owned())
}

/// One HTTP/1.1 response read off a raw connection.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Lower-case names, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// No internal error text in the body and no session cookie handed out.
    pub fn assert_clean(&self) {
        let body = self.body_text();
        for word in INTERNAL_TEXT {
            assert!(
                !body
                    .to_ascii_lowercase()
                    .contains(&word.to_ascii_lowercase()),
                "answer {} leaks internal text {word:?}: {body}",
                self.status
            );
        }
        for (name, value) in &self.headers {
            assert!(
                !(name == "set-cookie" && value.starts_with(&format!("{SESSION_COOKIE}=")))
                    || value.starts_with(&format!("{SESSION_COOKIE}=;")),
                "an attack must never be handed a session: {value}"
            );
        }
    }
}

/// Splits what a raw connection read into responses; a truncated tail is
/// dropped. `1xx` interim answers are kept as responses of their own.
pub fn parse_replies(mut bytes: &[u8]) -> Vec<Reply> {
    let mut replies = Vec::new();
    while let Some(end) = find(bytes, b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let Some(status) = lines
            .next()
            .and_then(|l| l.strip_prefix("HTTP/1.1 "))
            .and_then(|l| l.get(..3))
            .and_then(|s| s.parse().ok())
        else {
            break;
        };
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut rest = &bytes[end + 4..];
        let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let body = if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            let mut body = Vec::new();
            loop {
                let Some(line_end) = find(rest, b"\r\n") else {
                    rest = &[];
                    break;
                };
                let size_text = String::from_utf8_lossy(&rest[..line_end]).into_owned();
                let size = usize::from_str_radix(size_text.trim(), 16).unwrap_or(0);
                rest = &rest[line_end + 2..];
                if size == 0 {
                    rest = rest.get(2..).unwrap_or_default();
                    break;
                }
                let take = size.min(rest.len());
                body.extend_from_slice(&rest[..take]);
                rest = rest.get(take + 2..).unwrap_or_default();
            }
            body
        } else if let Some(len) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
            let take = len.min(rest.len());
            let body = rest[..take].to_vec();
            rest = &rest[take..];
            body
        } else if (100..200).contains(&status) || status == 204 || status == 304 {
            Vec::new()
        } else {
            let body = rest.to_vec();
            rest = &[];
            body
        };
        replies.push(Reply {
            status,
            headers,
            body,
        });
        bytes = rest;
    }
    replies
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The single answer to a raw request; the connection may also have been
/// closed without one (`None`), which is an acceptable refusal.
pub fn only_reply(replies: &[Reply]) -> Option<&Reply> {
    assert!(
        replies.len() <= 1,
        "one request must get at most one answer, got {:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    replies.first()
}

/// The answer is a refusal (4xx, or the connection closed without one),
/// and clean.
pub fn assert_refused(replies: &[Reply], allowed: &[u16], what: &str) {
    if let Some(reply) = only_reply(replies) {
        assert!(
            allowed.contains(&reply.status),
            "{what}: expected one of {allowed:?}, got {} {}",
            reply.status,
            reply.body_text()
        );
        reply.assert_clean();
    }
}
