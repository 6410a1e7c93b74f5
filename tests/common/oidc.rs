//! A real OpenID provider for tests: the certified `oidc-provider` npm
//! package, run by `tests/oidc/provider.mjs` on Node.js, on a free port of
//! 127.0.0.1, ready when its discovery document answers, killed on drop.
//! Its stdout (one JSON event per line: grants, refusals, logouts) is
//! collected so tests can see what the provider saw; if it dies, the panic
//! message carries its output.
//!
//! Also the browser side: [`Browser`] follows redirects across gatehouse
//! and the provider with one cookie jar, and fills in the provider's login
//! and consent forms like a person would.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::cookie::Jar;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

use super::client::https_client_builder;
use super::gatehouse::Gatehouse;
use super::redis::free_port;

/// How long a starting provider gets to answer discovery.
const START_DEADLINE: Duration = Duration::from_secs(20);
pub const CLIENT_ID: &str = "gatehouse-test";
pub const CLIENT_SECRET: &str = "test-client-secret-0123456789";

/// What the provider is started with.
pub struct ProviderConfig {
    /// Account name → claims besides `sub` (the name).
    pub accounts: Value,
    pub access_token_ttl: u64,
    /// Initial misbehaviour (see `tests/oidc/provider.mjs`).
    pub misbehave: String,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig {
            accounts: json!({
                "alice": {
                    "preferred_username": "alice", "email": "alice@example.com",
                    "email_verified": true, "groups": ["staff"]
                },
                "bob": {
                    "preferred_username": "bob", "email": "bob@other.test",
                    "email_verified": true, "groups": ["guests"]
                },
                "carol": { "email": "carol@example.com", "email_verified": true }
            }),
            access_token_ttl: 3600,
            misbehave: String::new(),
        }
    }
}

/// One provider process owned by a test.
pub struct OidcProvider {
    pub port: u16,
    child: Option<Child>,
    /// Everything it printed, line by line (stdout and stderr).
    output: Arc<Mutex<Vec<String>>>,
    dir: tempfile::TempDir,
}

impl OidcProvider {
    /// The folder with `provider.mjs` and its `node_modules`.
    pub fn script_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
    }

    /// Reserves a port, so gatehouse can be configured with the issuer
    /// before the provider (which needs gatehouse's redirect URI) starts.
    pub fn reserve_port() -> u16 {
        free_port()
    }

    /// `http://127.0.0.1:PORT`, the issuer of a provider on `port`.
    pub fn issuer_on(port: u16) -> String {
        format!("http://127.0.0.1:{port}")
    }

    pub fn issuer(&self) -> String {
        Self::issuer_on(self.port)
    }

    /// Starts the provider on `port` for gatehouse `g`, and waits until its
    /// discovery document answers.
    pub fn start(port: u16, g: &Gatehouse, cfg: ProviderConfig) -> Self {
        let script_dir = Self::script_dir();
        assert!(
            script_dir.join("node_modules/oidc-provider").is_dir(),
            "tests/oidc/node_modules is missing: run npm ci --prefix tests/oidc \
             (needs Node.js 20.19+ and npm: apt-get install -y nodejs npm)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let config = json!({
            "port": port,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [g.url("/.gatehouse/callback")],
            "post_logout_redirect_uris": [g.url("/.gatehouse/login?signed_out=1")],
            "access_token_ttl": cfg.access_token_ttl,
            "accounts": cfg.accounts,
            "misbehave": cfg.misbehave,
        });
        let config_path = dir.path().join("provider.json");
        std::fs::write(&config_path, config.to_string()).expect("write provider config");
        let mut child = match Command::new("node")
            .arg(script_dir.join("provider.mjs"))
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!("node not found: install Node.js 20.19+ (apt-get install -y nodejs npm)")
            }
            Err(e) => panic!("cannot run node: {e}"),
        };
        let output = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().expect("piped"), output.clone());
        collect(child.stderr.take().expect("piped"), output.clone());
        let mut provider = OidcProvider {
            port,
            child: Some(child),
            output,
            dir,
        };
        provider.wait_until_up();
        provider
    }

    fn wait_until_up(&mut self) {
        let deadline = Instant::now() + START_DEADLINE;
        let url = format!("{}/.well-known/openid-configuration", self.issuer());
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("the OpenID provider exited with {status}:\n{}", self.log());
                }
            }
            if answers_200(&url) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the OpenID provider did not answer within {START_DEADLINE:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything the provider printed so far.
    pub fn log(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// The JSON events it printed with `"event": name`.
    pub fn events(&self, name: &str) -> Vec<Value> {
        self.output
            .lock()
            .unwrap()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|event| event["event"] == name)
            .collect()
    }

    /// How many `grant_type` grants it made.
    pub fn grants(&self, grant_type: &str) -> usize {
        self.events("grant")
            .iter()
            .filter(|e| e["grant_type"] == grant_type)
            .count()
    }

    /// Tells the provider to misbehave from now on ("" to behave).
    pub async fn misbehave(&self, mode: &str) {
        let resp = Client::new()
            .post(format!("{}/__test/misbehave?mode={mode}", self.issuer()))
            .send()
            .await
            .expect("provider answers");
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }

    /// Kills the provider (a provider that is down).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads `stream` line by line into `lines`, on a thread of its own.
fn collect(stream: impl Read + Send + 'static, lines: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line);
        }
    });
}

/// True when `url` (plain `http://host:port/path`) answers 200: a raw
/// HTTP/1.0 GET over std's TCP, so the probe needs no runtime.
fn answers_200(url: &str) -> bool {
    use std::io::Write;
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Ok(mut stream) = std::net::TcpStream::connect(authority) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.ends_with(b"200")
}

/// A browser: one cookie jar for gatehouse and the provider, redirects
/// followed, `Accept: text/html` on every navigation.
pub struct Browser {
    pub client: Client,
    pub jar: Arc<Jar>,
}

impl Browser {
    pub fn new(g: &Gatehouse) -> Self {
        Self::with_policy(g, reqwest::redirect::Policy::limited(10))
    }

    /// A browser that follows redirects except the provider's to
    /// gatehouse's callback: the test gets that 303 and its `Location`.
    pub fn stopping_at_callback(g: &Gatehouse) -> Self {
        Self::with_policy(
            g,
            reqwest::redirect::Policy::custom(|attempt| {
                if attempt.url().path() == "/.gatehouse/callback" {
                    attempt.stop()
                } else if attempt.previous().len() > 10 {
                    attempt.error("too many redirects")
                } else {
                    attempt.follow()
                }
            }),
        )
    }

    fn with_policy(g: &Gatehouse, policy: reqwest::redirect::Policy) -> Self {
        let jar = Arc::new(Jar::default());
        let client = https_client_builder(g.https)
            .cookie_provider(jar.clone())
            .redirect(policy)
            .default_headers({
                let mut h = reqwest::header::HeaderMap::new();
                h.insert(
                    reqwest::header::ACCEPT,
                    "text/html,application/xhtml+xml".parse().unwrap(),
                );
                h
            })
            .build()
            .expect("browser client");
        Browser { client, jar }
    }

    /// `GET url`, following redirects.
    pub async fn get(&self, url: &str) -> Response {
        self.client.get(url).send().await.expect("GET")
    }

    /// Opens `url` on gatehouse and signs in at the provider as `account`:
    /// fills in its login form, then its consent form, and returns where
    /// the browser ends up.
    pub async fn sign_in(&self, url: &str, account: &str) -> Response {
        let page = self.get(url).await;
        self.complete_provider_forms(page, account).await
    }

    /// Given the provider's login page, submits its forms until the
    /// browser leaves the provider.
    pub async fn complete_provider_forms(&self, mut page: Response, account: &str) -> Response {
        for _ in 0..3 {
            if !page.url().path().starts_with("/interaction/") {
                return page;
            }
            let base = page.url().clone();
            let html = page.text().await.expect("provider page");
            let form = Form::parse(&html).unwrap_or_else(|| panic!("no form in:\n{html}"));
            let mut fields = form.hidden;
            if html.contains("name=\"login\"") {
                fields.push(("login".into(), account.into()));
                fields.push(("password".into(), "any password".into()));
            }
            let action = base.join(&form.action).expect("form action");
            page = self
                .client
                .post(action)
                .form(&fields)
                .send()
                .await
                .expect("form post");
        }
        page
    }

    /// Given the provider's "sign out?" page, confirms it (the form's
    /// hidden inputs plus its `logout=yes` button), following redirects.
    pub async fn confirm_provider_logout(&self, page: Response) -> Response {
        let base = page.url().clone();
        let html = page.text().await.expect("provider logout page");
        let form = Form::parse(&html).unwrap_or_else(|| panic!("no form in:\n{html}"));
        let mut fields = form.hidden;
        fields.push(("logout".into(), "yes".into()));
        self.client
            .post(base.join(&form.action).expect("form action"))
            .form(&fields)
            .send()
            .await
            .expect("logout confirmation")
    }

    /// POSTs the logout form as the backend's page would, following redirects.
    pub async fn logout(&self, g: &Gatehouse) -> Response {
        self.client
            .post(g.url("/.gatehouse/logout"))
            .header("origin", format!("https://localhost:{}", g.https.port()))
            .send()
            .await
            .expect("logout")
    }
}

/// The first `<form>` of a page: its action and hidden inputs.
struct Form {
    action: String,
    hidden: Vec<(String, String)>,
}

impl Form {
    fn parse(html: &str) -> Option<Form> {
        let start = html.find("<form")?;
        let form = &html[start
            ..html[start..]
                .find("</form>")
                .map_or(html.len(), |e| start + e)];
        let action = attribute(form, "action")?;
        let hidden = form
            .split("<input")
            .skip(1)
            .filter(|input| input.contains("type=\"hidden\""))
            .filter_map(|input| Some((attribute(input, "name")?, attribute(input, "value")?)))
            .collect();
        Some(Form { action, hidden })
    }
}

/// The value of `name="…"` in `tag` (HTML entities for `&` undone).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let marker = format!("{name}=\"");
    let start = tag.find(&marker)? + marker.len();
    let len = tag[start..].find('"')?;
    Some(tag[start..start + len].replace("&amp;", "&"))
}
