//! gatehouse: a TLS-terminating reverse proxy that makes users log in and
//! forwards their identity to backends that have no login of their own.
//!
//! # Layout
//! A request's path through the code follows its path through the system:
//!
//! - [`config`]: `proxy.toml` → a validated [`config::Config`].
//! - [`path`]: request path normalization, the one spelling routing and the upstream see.
//! - [`return_url`]: which post-login `rd` targets are honoured (same-origin paths only).
//! - [`headers`]: header rules: hop-by-hop, identity and forwarding headers, the session cookie.
//! - [`session`]: session ids, cookie values and their hashed store keys.
//! - [`store`]: the session store, embedded (`memory://`) or Redis.
#![forbid(unsafe_code)]

pub mod config;
pub mod headers;
pub mod path;
pub mod return_url;
pub mod session;
pub mod store;
