//! The serde shape of proxy.toml, exactly as written: every key optional
//! (defaults are applied in [`super::validate`]) and every value spanned, so
//! that validation errors can point at line and column. Unknown keys are
//! refused by `deny_unknown_fields` on every table.

use serde::Deserialize;
use toml::Spanned;

/// A value and where it sits in the file.
pub(super) type Value<T> = Option<Spanned<T>>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub listen: RawListen,
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub tls: RawTls,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub session: RawSession,
    #[serde(default)]
    pub login: RawLogin,
    #[serde(default)]
    pub headers: RawHeaders,
    #[serde(default)]
    pub timeouts: RawTimeouts,
    #[serde(default)]
    pub route: Vec<Spanned<RawRoute>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawListen {
    pub https: Value<String>,
    pub http: Value<String>,
    pub admin: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub workers: Value<usize>,
    pub app_name: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    pub cert: Value<String>,
    pub key: Value<String>,
    pub hsts: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub url: Value<String>,
    pub key_prefix: Value<String>,
    pub cache_capacity: Value<usize>,
    pub timeout: Value<String>,
    pub max_entries: Value<usize>,
    pub cluster: Option<Spanned<Vec<Spanned<String>>>>,
    pub sentinels: Option<Spanned<Vec<Spanned<String>>>>,
    pub sentinel_master: Value<String>,
    pub sentinel_db: Value<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSession {
    pub cookie_name: Value<String>,
    pub idle_timeout: Value<String>,
    pub absolute_timeout: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLogin {
    pub provider: Value<String>,
    pub users_file: Value<String>,
    pub max_failures: Value<u32>,
    pub lockout: Value<String>,
    // `provider = "oidc"` only (see `super::login`).
    pub issuer: Value<String>,
    pub client_id: Value<String>,
    pub client_secret: Value<String>,
    pub client_secret_file: Value<String>,
    pub client_secret_env: Value<String>,
    pub redirect_path: Value<String>,
    pub scopes: Option<Spanned<Vec<Spanned<String>>>>,
    pub username_claim: Value<String>,
    pub email_claim: Value<String>,
    pub groups_claim: Value<String>,
    pub allowed_email_domains: Option<Spanned<Vec<Spanned<String>>>>,
    pub allowed_groups: Option<Spanned<Vec<Spanned<String>>>>,
    pub provider_logout: Value<bool>,
    pub provider_timeout: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHeaders {
    pub user: Value<String>,
    pub email: Value<String>,
    pub groups: Value<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTimeouts {
    pub connect: Value<String>,
    pub response: Value<String>,
    pub client_header: Value<String>,
    pub keep_alive_idle: Value<String>,
    pub shutdown_drain: Value<String>,
    pub tls_handshake: Value<String>,
    pub max_header_bytes: Value<usize>,
    pub max_body_bytes: Value<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub host: Value<String>,
    pub path: Value<String>,
    pub upstream: Value<String>,
    pub auth: Value<String>,
    pub groups: Option<Vec<Spanned<String>>>,
    pub connect_timeout: Value<String>,
    pub response_timeout: Value<String>,
}
