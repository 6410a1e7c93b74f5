//! gatehouse: a TLS-terminating reverse proxy that makes users log in and
//! forwards their identity to backends that have no login of their own.
//!
//! # Layout
//! A request's path through the code follows its path through the system:
//!
//! - [`config`]: `proxy.toml` → a validated [`config::Config`].
//! - [`session`]: session ids, cookie values and their hashed store keys.
//! - [`store`]: the session store, embedded (`memory://`) or Redis.
//! - [`tls`]: certificate and key files → a checked rustls server config.
//! - [`users`]: `users.toml` → accounts with argon2id hashes; password checks.
#![forbid(unsafe_code)]

pub mod config;
pub mod session;
pub mod store;
pub mod tls;
pub mod users;
