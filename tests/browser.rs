//! A person in a real browser: headless Chromium, driven by
//! `tests/browser/e2e.mjs` (playwright-core), signs in through gatehouse
//! on a real Redis store, reaches a real backend, signs out, and meets
//! every error page the proxy draws; the script screenshots each page into
//! `docs/screenshots/` and runs axe-core on it.
//!
//! Needs `node`, `chromium` and `tests/browser/node_modules`; when one is
//! missing the test fails with the command that installs it (`.ci/run`
//! installs all three).

#[allow(dead_code)] // not every helper of the shared harness is used here
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::backend::Backend;
use common::gatehouse::{builder, PASSWORD};
use common::redis::{free_port, RedisServer};

/// The browser Debian's `chromium` package installs.
const CHROMIUM: &str = "/usr/bin/chromium";
/// The whole browser session; it normally takes a few seconds.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(120);
/// How often the test looks whether the script has finished.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
const USER: &str = "alice";
/// What the config calls the application, checked in every page title.
const APP_NAME: &str = "Acme Wiki";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_and_out_in_chromium() {
    let script_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    require_browser_tools(&script_dir);

    let redis = RedisServer::start();
    let backend = Backend::start().await;
    let server = format!("[server]\napp_name = \"{APP_NAME}\"\n");
    // Every route is for host `localhost`, so `https://127.0.0.1:PORT/…`
    // matches none of them: a real 404.
    let route = |path: &str, upstream: &str, extra: &str| {
        format!(
            "[[route]]\npath = \"{path}\"\nhost = \"localhost\"\nupstream = \"{upstream}\"\n\
             auth = \"required\"\n{extra}"
        )
    };
    let gatehouse = builder()
        .store(&redis.url())
        .section(&server)
        .section("[login]\nmax_failures = 2\n")
        .route(route("/", &backend.url(), ""))
        .route(route("/admin", &backend.url(), "groups = [\"admins\"]\n"))
        .route(route(
            "/down",
            &format!("http://127.0.0.1:{}", free_port()),
            "",
        ))
        .route(route(
            "/hang",
            &backend.url(),
            "response_timeout = \"500ms\"\n",
        ))
        .user(USER, "alice@example.com", &["staff"])
        .start()
        .await;
    // A second gatehouse whose Redis is not there: its protected pages
    // answer 503, without taking the first one's store down.
    let store_down = builder()
        .store(&format!("redis://127.0.0.1:{}/0", free_port()))
        .section(&server)
        .route(route("/", &backend.url(), ""))
        .start()
        .await;

    let port = gatehouse.https.port();
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    let outcome = run_script(
        &script_dir,
        &[
            ("GATEHOUSE_URL", format!("https://localhost:{port}")),
            (
                "GATEHOUSE_NO_ROUTE_URL",
                format!("https://127.0.0.1:{port}"),
            ),
            (
                "GATEHOUSE_STORE_DOWN_URL",
                format!("https://localhost:{}", store_down.https.port()),
            ),
            ("GATEHOUSE_USER", USER.to_owned()),
            ("GATEHOUSE_PASSWORD", PASSWORD.to_owned()),
            ("GATEHOUSE_APP_NAME", APP_NAME.to_owned()),
            ("GATEHOUSE_COOKIE", "__Host-gatehouse".to_owned()),
            (
                "GATEHOUSE_CERT",
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("certs/localhost.crt")
                    .display()
                    .to_string(),
            ),
            ("CHROMIUM", CHROMIUM.to_owned()),
            ("SCREENSHOT_DIR", screenshots.display().to_string()),
        ],
    )
    .await;
    assert!(outcome.success, "{}", outcome.report);
    println!("{}", outcome.report);

    // The browser's requests really went through to the backend, with
    // the identity gatehouse vouched for and nothing for the error routes.
    let seen = backend.seen();
    let pages: Vec<_> = seen
        .iter()
        .filter(|r| r.path.starts_with("/whoami-page"))
        .collect();
    assert!(pages.len() >= 3, "backend saw {seen:?}");
    assert!(pages
        .iter()
        .all(|r| r.header_str("x-forwarded-user") == Some(USER)));
    assert!(seen.iter().all(|r| !r.path.starts_with("/admin")));
}

/// Panics, naming the install command, when a tool the script needs is
/// missing: a browser test that skips itself would pass without testing.
fn require_browser_tools(script_dir: &Path) {
    let runs = |program: &str| {
        Command::new(program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(
        runs("node"),
        "node not found: install Node.js 18 or later (apt-get install -y nodejs npm)"
    );
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} not found: install it with apt-get install -y chromium"
    );
    assert!(
        script_dir.join("node_modules/playwright-core").is_dir()
            && script_dir.join("node_modules/axe-core").is_dir(),
        "tests/browser/node_modules is missing: run cd tests/browser && npm ci \
         (needs npm: apt-get install -y npm)"
    );
}

struct Outcome {
    success: bool,
    /// The exit status and everything the script printed.
    report: String,
}

/// Runs `node e2e.mjs` with `env`, waiting by polling so that the
/// gatehouse and backend tasks keep serving on this runtime meanwhile.
async fn run_script(script_dir: &Path, env: &[(&str, String)]) -> Outcome {
    let out_dir = tempfile::tempdir().expect("temp dir for the script's output");
    let stdout: PathBuf = out_dir.path().join("stdout");
    let stderr: PathBuf = out_dir.path().join("stderr");
    let mut child = Command::new("node")
        .arg("e2e.mjs")
        .current_dir(script_dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("start node");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if started.elapsed() > SCRIPT_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let how = match status {
        Some(status) => format!("node e2e.mjs exited with {status}"),
        None => format!("node e2e.mjs still running after {SCRIPT_DEADLINE:?}; killed"),
    };
    Outcome {
        success: status.is_some_and(|s| s.success()),
        report: format!(
            "{how} in {:.1?}\n--- stdout\n{}--- stderr\n{}",
            started.elapsed(),
            read(&stdout),
            read(&stderr)
        ),
    }
}
