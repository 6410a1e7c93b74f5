//! The session store: one interface, two backends. The embedded
//! [`memory`] store serves a single process; [`redis`] lets many proxy
//! instances share sessions. This module knows nothing of HTTP.
//!
//! Data model (SPEC §5): a session lives under
//! `key_prefix + "s:" + SessionKey` with a TTL of the idle window capped at
//! the absolute expiry; `key_prefix + "u:" + user` is the set of that user's
//! session keys; `key_prefix + "f:" + scope` counts failed logins.

mod memory;
mod redis;

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What the store keeps for one session. Never holds the raw session id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub user: String,
    pub email: Option<String>,
    pub groups: Vec<String>,
    /// Unix seconds.
    pub created: u64,
    /// Unix seconds of the last write-back (throttled, so it lags real use).
    pub last_seen: u64,
    /// Unix seconds after which the session is dead whatever its use.
    pub absolute_expiry: u64,
    pub client_addr: String,
    pub user_agent: String,
}

/// Why a store call failed. Callers fail closed on every variant.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("session store is not connected")]
    Unavailable,
    #[error("session store did not answer within {0:?}")]
    Timeout(Duration),
    #[error("session store error: {0}")]
    Backend(String),
}
