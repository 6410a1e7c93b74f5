//! The session store: one interface, two backends. The embedded
//! [`memory`] store serves a single process; [`redis`] lets many proxy
//! instances share sessions. This module knows nothing of HTTP.
//!
//! Data model (SPEC §5): a session lives under
//! `key_prefix + "s:" + SessionKey` with a TTL of the idle window capped at
//! the absolute expiry; `key_prefix + "u:" + user` is the set of that user's
//! session keys; `key_prefix + "f:" + scope` counts failed logins.
//!
//! Every call fails closed: callers get a [`StoreError`] rather than a guess,
//! and a Redis call never waits longer than the configured store timeout.

mod cache;
mod expiring;
pub mod memory;
pub mod redis;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config;
use crate::session::SessionKey;

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
    /// The OpenID provider's tokens, for sessions signed in that way; kept
    /// here, server-side, and never in the cookie. Absent (and not written
    /// at all) for users-file sessions, so their records stay as they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<ProviderTokens>,
}

/// What an OpenID provider issued at sign-in (or at the last refresh).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderTokens {
    /// The issuer that signed the ID token; a session from another issuer
    /// (after a config change) is not honoured.
    pub issuer: String,
    /// The ID token's `sub`: a refreshed ID token must name the same one.
    pub subject: String,
    pub access_token: String,
    /// Unix seconds when the access token was issued (or refreshed).
    pub access_issued_at: u64,
    /// Unix seconds when it expires; `None` when the provider did not say.
    pub access_expires_at: Option<u64>,
    pub refresh_token: Option<String>,
    /// The last ID token, sent back as `id_token_hint` at logout.
    pub id_token: String,
}

impl std::fmt::Debug for ProviderTokens {
    // Tokens are credentials: never in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderTokens")
            .field("issuer", &self.issuer)
            .field("access_expires_at", &self.access_expires_at)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
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

/// The configured session store. Cloning is cheap (both backends are
/// handles to shared state), so every connection task can hold one.
///
/// Enum dispatch rather than a trait object: there are exactly two
/// backends, and async methods stay plain `async fn`s.
#[derive(Debug, Clone)]
pub enum SessionStore {
    /// `memory://`: one process only; sessions die with it.
    Memory(memory::MemoryStore),
    /// `redis://`, `rediss://`, `redis+unix://`, a Redis Cluster or a
    /// Sentinel-managed master: shared by every instance.
    Redis(redis::RedisStore),
}

/// Calls the same method on whichever backend this is.
macro_rules! dispatch {
    ($self:expr, $store:ident => $call:expr) => {
        match $self {
            SessionStore::Memory($store) => $call,
            SessionStore::Redis($store) => $call,
        }
    };
}

impl SessionStore {
    /// Opens the store described by `cfg`.
    ///
    /// Never blocks and never fails because Redis is down: an unreachable
    /// Redis is logged once and connected to in the background (backing off
    /// up to 5 s between tries), and until then every call returns
    /// [`StoreError::Unavailable`]. That way the proxy starts, serves public
    /// routes and answers `/readyz` with 503 instead of crash-looping.
    /// Only a malformed URL is an error.
    ///
    /// For Redis this spawns the connect task, so it must be called from
    /// within a tokio runtime; outside one it returns
    /// [`StoreError::Backend`] rather than panicking.
    pub fn open(cfg: &config::Store) -> Result<SessionStore, StoreError> {
        match &cfg.url {
            config::StoreUrl::Memory => Ok(SessionStore::Memory(memory::MemoryStore::new(
                cfg.max_entries,
            ))),
            url => Ok(SessionStore::Redis(redis::RedisStore::open(
                url,
                &cfg.key_prefix,
                cfg.timeout,
                cfg.cache_capacity,
            )?)),
        }
    }

    /// Stores a new session for `ttl` and adds it to its user's index, so
    /// that "log out everywhere" can find it.
    pub async fn insert(
        &self,
        key: &SessionKey,
        rec: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.insert(key, rec, ttl).await)
    }

    /// The session under `key`, or `None` if it never existed, expired, was
    /// removed, or its record is unreadable (logged, never a panic).
    pub async fn get(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        dispatch!(self, s => s.get(key).await)
    }

    /// The session from the in-process hot-path cache, without a store
    /// round trip; `None` when not cached, when the cache is off or its
    /// invalidation channel is down (then callers ask [`Self::get`]). The
    /// embedded store has no cache: it is in-process already.
    pub fn cached(&self, key: &SessionKey) -> Option<SessionRecord> {
        match self {
            SessionStore::Memory(_) => None,
            SessionStore::Redis(s) => s.cached(key),
        }
    }

    /// Rewrites a session (new `last_seen`) and restarts its TTL, but only
    /// if it still exists, so a logout racing a touch never resurrects the
    /// session. Returns whether it existed.
    pub async fn touch(
        &self,
        key: &SessionKey,
        rec: &SessionRecord,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        dispatch!(self, s => s.touch(key, rec, ttl).await)
    }

    /// Ends one session (logout) and drops it from `user`'s index.
    pub async fn remove(&self, key: &SessionKey, user: &str) -> Result<(), StoreError> {
        dispatch!(self, s => s.remove(key, user).await)
    }

    /// Ends every session of `user` (logout everywhere, revocation);
    /// returns how many were still alive.
    pub async fn remove_user(&self, user: &str) -> Result<usize, StoreError> {
        dispatch!(self, s => s.remove_user(user).await)
    }

    /// Live sessions, of one user or of everyone, for the admin CLI.
    /// Order is unspecified. On Redis this walks the keyspace with `SCAN`
    /// (never `KEYS`), each round trip bounded by the store timeout.
    pub async fn list(&self, user: Option<&str>) -> Result<Vec<SessionRecord>, StoreError> {
        dispatch!(self, s => s.list(user).await)
    }

    /// Ends every session of every user; returns how many sessions were
    /// removed. Failure counters are left alone.
    pub async fn remove_all(&self) -> Result<usize, StoreError> {
        dispatch!(self, s => s.remove_all().await)
    }

    /// Counts one failed login against `scope` (e.g. a user name or a client
    /// address) in a fixed window of `window` that starts at the first
    /// failure; returns the count so far in this window.
    pub async fn record_failure(&self, scope: &str, window: Duration) -> Result<u32, StoreError> {
        dispatch!(self, s => s.record_failure(scope, window).await)
    }

    /// Failed logins counted for `scope` in its current window and the time
    /// until the window ends (zero when there are none): the `Retry-After`.
    pub async fn failures(&self, scope: &str) -> Result<(u32, Duration), StoreError> {
        dispatch!(self, s => s.failures(scope).await)
    }

    /// Forgets the failures of `scope`, e.g. after a successful login.
    pub async fn clear_failures(&self, scope: &str) -> Result<(), StoreError> {
        dispatch!(self, s => s.clear_failures(scope).await)
    }

    /// Succeeds when the store can serve requests right now; for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, s => s.ping().await)
    }
}
