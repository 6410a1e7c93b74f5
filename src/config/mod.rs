//! The validated configuration: what `proxy.toml` means once every key has
//! been checked. `raw` holds the serde shape of the file; `validate` (and
//! `route`) turn it into a [`Config`] of real types, or a [`ConfigError`] that
//! names the file, the key, the line:column and the reason.

pub mod defaults;
mod error;
mod headers;
mod locate;
mod login;
mod raw;
mod route;
mod store;
mod validate;

pub use error::{ConfigError, Position};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::header::HeaderName;
use http::uri::Authority;

/// Everything gatehouse needs to run, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from; errors and reloads refer to it.
    pub path: PathBuf,
    pub listen: Listen,
    pub server: Server,
    pub tls: Tls,
    pub store: Store,
    pub session: Session,
    pub login: Login,
    pub headers: IdentityHeaders,
    pub timeouts: Timeouts,
    /// At least one; no two share host and path.
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone)]
pub struct Listen {
    pub https: SocketAddr,
    /// Plain listener that only redirects to the https origin.
    pub http: Option<SocketAddr>,
    /// Plain listener for health and metrics; never the public one.
    pub admin: Option<SocketAddr>,
}

#[derive(Debug, Clone)]
pub struct Server {
    /// Worker threads; 0 in the file becomes the number of CPU cores.
    pub workers: usize,
    /// Shown in page titles and headings.
    pub app_name: String,
}

#[derive(Debug, Clone)]
pub struct Tls {
    /// Absolute paths (relative ones are resolved against the config's folder).
    pub cert: PathBuf,
    pub key: PathBuf,
    /// `Strict-Transport-Security: max-age`; zero disables the header.
    pub hsts: Duration,
}

/// Where the sessions live: `[store] url`, or the `cluster` / `sentinels`
/// keys for a Redis that is more than one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `memory://`: embedded, one process only.
    Memory,
    /// `redis://`, `rediss://` or `redis+unix://`, kept as written for the redis crate.
    Redis(String),
    /// `[store] cluster`: seed nodes of a Redis Cluster (`redis://` or
    /// `rediss://`, at least one); the rest of the cluster is discovered.
    Cluster(Vec<String>),
    /// `[store] sentinels` + `sentinel_master`: the master that Redis
    /// Sentinel names, followed across failovers.
    Sentinel(SentinelTarget),
}

/// A master found through Redis Sentinel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelTarget {
    /// Sentinel addresses (`redis://host:26379`, at least one); any
    /// credentials in them are for the sentinels, not the master.
    pub sentinels: Vec<String>,
    /// The name the sentinels monitor the master under (`sentinel monitor NAME …`).
    pub master: String,
    /// Database number on the master.
    pub db: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    pub url: StoreUrl,
    pub key_prefix: String,
    /// Sessions cached in-process between store lookups; 0 = no cache.
    pub cache_capacity: usize,
    /// Upper bound on every single store operation.
    pub timeout: Duration,
    /// Bound on entries held by the embedded store.
    pub max_entries: usize,
}

#[derive(Debug, Clone)]
pub struct Session {
    /// Always starts with `__Host-`.
    pub cookie_name: String,
    pub idle_timeout: Duration,
    pub absolute_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct Login {
    /// Who vouches for people signing in; the one place that decides
    /// between the users file and an OpenID provider.
    pub provider: LoginProvider,
    /// Absolute path of `users.toml` (read only with
    /// [`LoginProvider::UsersFile`]).
    pub users_file: PathBuf,
    pub max_failures: u32,
    pub lockout: Duration,
}

/// `[login] provider`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginProvider {
    /// The built-in login form over `users_file`.
    UsersFile,
    /// Sign-in at an OpenID Connect provider.
    Oidc(Box<Oidc>),
}

/// `[login]` with `provider = "oidc"`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oidc {
    /// Exactly as written: issuers are compared as strings (OpenID
    /// Discovery §4.3), so a trailing `/` matters. `https://`, or
    /// `http://` to a loopback IP address only.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: ClientSecret,
    /// Under `/.gatehouse/`, so it is never routed to a backend.
    pub redirect_path: String,
    /// Requested besides `openid` (which is always requested).
    pub scopes: Vec<String>,
    pub claims: ClaimNames,
    /// Lower-cased; empty = any email (or none).
    pub allowed_email_domains: Vec<String>,
    /// Empty = any groups (or none).
    pub allowed_groups: Vec<String>,
    /// On logout, also send the browser to the provider's
    /// `end_session_endpoint` (RP-initiated logout), when it has one.
    pub provider_logout: bool,
    /// Bound on every call to the provider.
    pub timeout: Duration,
}

/// Which ID token claims carry the identity forwarded upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    /// `sub` is used when the token has no such claim.
    pub username: String,
    pub email: String,
    pub groups: String,
}

/// The client secret, read at load time (from the file, the environment
/// or the config itself). Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(pub String);

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// Names of the identity headers injected upstream (and stripped from clients).
#[derive(Debug, Clone)]
pub struct IdentityHeaders {
    pub user: HeaderName,
    pub email: HeaderName,
    pub groups: HeaderName,
}

#[derive(Debug, Clone)]
pub struct Timeouts {
    pub connect: Duration,
    pub response: Duration,
    pub client_header: Duration,
    pub keep_alive_idle: Duration,
    pub shutdown_drain: Duration,
    pub tls_handshake: Duration,
    pub max_header_bytes: usize,
    /// `None` when the file says 0 (unlimited).
    pub max_body_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Required,
    Public,
}

#[derive(Debug, Clone)]
pub struct Route {
    /// Lower-cased, without port; `None` matches any host.
    pub host: Option<String>,
    /// Starts with `/`; no trailing `/` unless it is exactly `/`.
    pub path: String,
    /// `host:port` of the plain-HTTP upstream.
    pub upstream: Authority,
    pub auth: Auth,
    /// Empty = any logged-in user.
    pub groups: Vec<String>,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
}

/// Reads and validates the config file at `path`. Does no other I/O: the
/// TLS files and the users file it names are loaded by [`crate::tls`] and
/// [`crate::users`].
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let source =
        std::fs::read_to_string(path).map_err(|e| ConfigError::unreadable(path, "", &e))?;
    parse(path, &source)
}

/// Validates `source`, the text of the config file at `path` (which is only
/// used in errors and to resolve relative paths).
pub fn parse(path: &Path, source: &str) -> Result<Config, ConfigError> {
    let raw: raw::RawConfig =
        toml::from_str(source).map_err(|e| ConfigError::from_toml(path, source, &e))?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let checker = validate::Checker {
        file: path,
        source,
        folder: absolute.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    checker.config(raw)
}

#[cfg(test)]
mod tests;
