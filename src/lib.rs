//! gatehouse: a TLS-terminating reverse proxy that makes users log in and
//! forwards their identity to backends that have no login of their own.
//!
//! # Layout
//! A request's path through the code follows its path through the system:
//!
//! - [`config`]: `proxy.toml` → a validated [`config::Config`].
//! - [`session`]: session ids, cookie values and their hashed store keys.
//! - [`store`]: the session store, embedded (`memory://`) or Redis.
//! - [`pages`]: the HTML people see: login form, signed-out and error pages.
#![forbid(unsafe_code)]

pub mod config;
pub mod pages;
pub mod session;
pub mod store;
