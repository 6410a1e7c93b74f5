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
//! - [`auth`]: session cookies resolved against the store; login, logout
//!   and whoami under `/.gatehouse/`.
//! - [`routing`]: host and longest-prefix route matching.
//! - [`error`]: why the proxy answered itself, mapped to a status and a page.
//! - [`admin`]: health endpoints on the admin listener.
//! - [`body`]: the body type shared by all responses.
//!
//! Pure leaves that do no I/O:
//! - [`config`]: `proxy.toml` → a validated [`config::Config`].
//! - [`session`]: session ids, cookie values and their hashed store keys.
//! - [`path`]: request path normalization.
//! - [`headers`]: hop-by-hop, identity, cookie and forwarding header rules.
//! - [`pages`]: the HTML people see.
//!
//! And the store:
//! - [`store`]: the session store, embedded (`memory://`) or Redis.
#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod body;
pub mod config;
pub mod error;
pub mod headers;
pub mod pages;
pub mod path;
pub mod proxy;
pub mod redirect;
pub mod return_url;
pub mod routing;
pub mod server;
pub mod session;
pub mod store;
pub mod tls;
pub mod users;

pub use server::{run, Listeners, RunError};

/// Everything `gatehouse check` validates: the config, the certificates and
/// (once sessions exist) the users file.
pub fn check(path: &std::path::Path) -> Result<config::Config, config::ConfigError> {
    let config = config::load(path)?;
    tls::server_config(&config.tls)?;
    Ok(config)
}
