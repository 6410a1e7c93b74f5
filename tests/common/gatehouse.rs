//! Starts gatehouse in-process on ephemeral ports, from a config written
//! into a temporary folder, with a users file of known passwords.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The password of every user the harness creates.
pub const PASSWORD: &str = "correct horse battery staple";

/// One argon2id hash of [`PASSWORD`], made once per test binary.
pub fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| gatehouse::users::hash_password(PASSWORD))
}

/// Route helper: `route("/", &backend.url(), "public")`.
pub fn route(path: &str, upstream: &str, auth: &str) -> String {
    format!("[[route]]\npath = \"{path}\"\nupstream = \"{upstream}\"\nauth = \"{auth}\"\n")
}

/// Builds a gatehouse config and starts it.
pub struct Builder {
    store_url: String,
    /// More `[store]` keys (e.g. `cluster = [...]`), written after `url`.
    store_keys: String,
    sections: Vec<String>,
    routes: Vec<String>,
    users: Vec<String>,
    http_listener: bool,
}

pub fn builder() -> Builder {
    Builder {
        store_url: "memory://".into(),
        store_keys: String::new(),
        sections: Vec::new(),
        routes: Vec::new(),
        users: Vec::new(),
        http_listener: false,
    }
}

impl Builder {
    pub fn store(mut self, url: &str) -> Self {
        self.store_url = url.to_owned();
        self
    }

    /// Raw `key = value` lines added to the `[store]` table the harness
    /// writes (which always has `url`; keep it `memory://` for the
    /// `cluster` or `sentinels` forms).
    pub fn store_toml(mut self, lines: &str) -> Self {
        self.store_keys.push_str(lines);
        if !lines.ends_with('\n') {
            self.store_keys.push('\n');
        }
        self
    }

    /// Raw toml appended to the config (e.g. a `[timeouts]` table).
    pub fn section(mut self, toml: &str) -> Self {
        self.sections.push(toml.to_owned());
        self
    }

    pub fn route(mut self, toml: String) -> Self {
        self.routes.push(toml);
        self
    }

    /// A user with [`PASSWORD`].
    pub fn user(mut self, name: &str, email: &str, groups: &[&str]) -> Self {
        let groups: Vec<String> = groups.iter().map(|g| format!("\"{g}\"")).collect();
        self.users.push(format!(
            "[[user]]\nname = \"{name}\"\npassword = \"{}\"\nemail = \"{email}\"\ngroups = [{}]\n",
            password_hash(),
            groups.join(", ")
        ));
        self
    }

    pub fn with_http_listener(mut self) -> Self {
        self.http_listener = true;
        self
    }

    /// Writes the files into a fresh folder and returns them without starting.
    pub fn write(&self) -> ConfigDir {
        let dir = tempfile::tempdir().expect("temp dir");
        let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs");
        let mut toml = format!(
            "[listen]\nhttps = \"127.0.0.1:0\"\n{}admin = \"127.0.0.1:0\"\n\n\
             [tls]\ncert = \"{}\"\nkey = \"{}\"\n\n[store]\nurl = \"{}\"\n{}\n",
            if self.http_listener {
                "http = \"127.0.0.1:0\"\n"
            } else {
                ""
            },
            certs.join("localhost.crt").display(),
            certs.join("localhost.key").display(),
            self.store_url,
            self.store_keys,
        );
        for section in &self.sections {
            toml.push_str(section);
            toml.push('\n');
        }
        for route in &self.routes {
            toml.push_str(route);
            toml.push('\n');
        }
        let config = dir.path().join("proxy.toml");
        std::fs::write(&config, toml).expect("write proxy.toml");
        std::fs::write(dir.path().join("users.toml"), self.users.join("\n"))
            .expect("write users.toml");
        ConfigDir { dir, config }
    }

    /// Starts gatehouse on ephemeral ports.
    pub async fn start(self) -> Gatehouse {
        let files = self.write();
        Gatehouse::start(files).await
    }
}

/// The folder holding a test's `proxy.toml` and `users.toml`.
pub struct ConfigDir {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

/// A running gatehouse; shut down (and awaited) by [`Gatehouse::stop`], or
/// aborted on drop.
pub struct Gatehouse {
    pub https: SocketAddr,
    pub http: Option<SocketAddr>,
    pub admin: SocketAddr,
    pub files: ConfigDir,
    shutdown: Option<oneshot::Sender<()>>,
    reload: mpsc::Sender<()>,
    task: Option<JoinHandle<Result<(), gatehouse::RunError>>>,
}

impl Gatehouse {
    pub async fn start(files: ConfigDir) -> Gatehouse {
        let config = gatehouse::config::load(&files.config).expect("test config is valid");
        let https = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = match config.listen.http {
            Some(_) => Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
            None => None,
        };
        let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addrs = (
            https.local_addr().unwrap(),
            http.as_ref().map(|l| l.local_addr().unwrap()),
            admin.local_addr().unwrap(),
        );
        let listeners = gatehouse::Listeners {
            https,
            http,
            admin: Some(admin),
        };
        let (tx, rx) = oneshot::channel::<()>();
        let (reload, reloads) = mpsc::channel(1);
        let task = tokio::spawn(gatehouse::run(
            config,
            listeners,
            async move {
                let _ = rx.await;
            },
            reloads,
        ));
        Gatehouse {
            https: addrs.0,
            http: addrs.1,
            admin: addrs.2,
            files,
            shutdown: Some(tx),
            reload,
            task: Some(task),
        }
    }

    /// `https://localhost:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.https.port())
    }

    /// Asks for a reload of the config files, as SIGHUP does.
    pub async fn reload(&self) {
        self.reload.send(()).await.expect("gatehouse is running");
    }

    /// Starts the drain and returns the task, to await its end.
    pub fn begin_shutdown(&mut self) -> JoinHandle<Result<(), gatehouse::RunError>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.take().expect("running")
    }
}

impl Drop for Gatehouse {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
