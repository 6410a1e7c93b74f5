//! gatehouse: a TLS-terminating reverse proxy that makes users log in and
//! forwards their identity to backends that have no login of their own.
//!
//! # Layout
//! A request's path through the code follows its path through the system:
//!
//! - [`server`]: listeners, TLS handshake, HTTP/1.1 and HTTP/2 connections,
//!   client-side timeouts, graceful drain; [`run`] is the entry point.
//! - [`redirect`]: the optional plain listener (308 to https).
//! - [`proxy`]: the request's phases: filter → route → authenticate →
//!   upstream request → forward → response filter → access log.
//! - [`routing`]: host and longest-prefix route matching.
//! - [`auth`]: session cookies resolved against the store; login (the
//!   users file, or an OpenID provider in [`auth::oidc`]), logout and
//!   whoami under `/.gatehouse/`.
//! - [`error`]: why the proxy answered itself, mapped to a status and a page.
//! - [`admin`]: health and metrics endpoints on the admin listener.
//! - [`metrics`]: the Prometheus metrics.
//! - [`body`]: the body type shared by all responses.
//!
//! Pure leaves that do no I/O:
//! - [`config`]: `proxy.toml` → a validated [`config::Config`].
//! - [`path`]: request path normalization, the one spelling routing and the upstream see.
//! - [`return_url`]: which post-login `rd` targets are honoured (same-origin paths only).
//! - [`request_id`]: the `X-Request-Id` kept or made for each request.
//! - [`headers`]: header rules: hop-by-hop, identity and forwarding headers, the session cookie.
//! - [`session`]: session ids, cookie values and their hashed store keys.
//! - [`pages`]: the HTML people see.
//!
//! Loading from disk, and the store:
//! - [`tls`]: certificate and key → rustls server config.
//! - [`users`]: `users.toml` and password verification.
//! - [`store`]: the session store, embedded (`memory://`) or Redis.
//! - [`session_admin`]: `gatehouse sessions list|revoke` against the store.
#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod body;
pub mod config;
pub mod error;
pub mod headers;
pub mod metrics;
pub mod pages;
pub mod path;
pub mod proxy;
pub mod redirect;
pub mod request_id;
pub mod return_url;
pub mod routing;
pub mod server;
pub mod session;
pub mod session_admin;
pub mod store;
pub mod tls;
pub mod users;

pub use server::{run, Listeners, RunError};

/// Everything `gatehouse check` validates: the config, the certificates and
/// the users file (with `provider = "users_file"`). An OpenID provider is
/// not contacted: it may be down, and gatehouse still starts.
pub fn check(path: &std::path::Path) -> Result<config::Config, config::ConfigError> {
    let config = config::load(path)?;
    tls::server_config(&config.tls)?;
    if config.login.provider == config::LoginProvider::UsersFile {
        users::Users::load(&config.login.users_file)?;
    }
    Ok(config)
}
