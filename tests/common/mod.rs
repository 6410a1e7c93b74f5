//! The test harness: real backends, real TLS clients, a real redis-server
//! and gatehouse itself, all on ephemeral ports.

pub mod backend;
pub mod client;
pub mod gatehouse;
pub mod login;
pub mod metrics;
pub mod oidc;
pub mod poll;
pub mod process;
pub mod redis;
pub mod wire;
