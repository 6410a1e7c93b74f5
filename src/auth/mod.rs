//! Sessions on the HTTP side: resolving the cookie to a session, deciding
//! whether a request on a `required` route goes on, and the proxy's own
//! endpoints under `/.gatehouse/` ([`endpoints`]).
//!
//! The store knows nothing of HTTP; this module is where cookies, store
//! records and the users file meet.

mod cookies;
mod csrf;
pub mod endpoints;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

use crate::config::{self, Route};
use crate::error::ProxyError;
use crate::headers::{session_cookie, CookieLookup};
use crate::metrics::{Lookup, Metrics};
use crate::proxy::Identity;
use crate::session::{SessionId, SessionKey};
use crate::store::{SessionRecord, SessionStore, StoreError};
use crate::users::Users;

/// Longest gap between two write-backs of a session's last use.
const MAX_TOUCH_INTERVAL: Duration = Duration::from_secs(60);

/// A session found for a request.
#[derive(Debug)]
pub struct Resolved {
    pub key: SessionKey,
    pub record: SessionRecord,
    pub identity: Identity,
    /// Found in the hot-path cache, without a store round trip.
    pub from_cache: bool,
}

/// Resolves session cookies against the store and the users file.
pub struct Authenticator {
    store: SessionStore,
    users: Arc<Users>,
    session: config::Session,
    login: config::Login,
    metrics: Arc<Metrics>,
}

impl Authenticator {
    pub fn new(
        store: SessionStore,
        users: Arc<Users>,
        session: config::Session,
        login: config::Login,
        metrics: Arc<Metrics>,
    ) -> Self {
        Authenticator {
            store,
            users,
            session,
            login,
            metrics,
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn store(&self) -> &SessionStore {
        &self.store
    }

    pub fn cookie_name(&self) -> &str {
        &self.session.cookie_name
    }

    /// Phase "authenticate" for one route: public routes never look a
    /// session up; required ones need a live session of a user who still
    /// exists and is in one of the route's groups.
    pub async fn authorize(
        &self,
        route: &Route,
        headers: &HeaderMap,
    ) -> Result<Option<Identity>, ProxyError> {
        if route.auth == config::Auth::Public {
            return Ok(None);
        }
        let resolved = self
            .resolve(headers)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "session lookup failed");
                ProxyError::StoreUnavailable
            })?
            .ok_or(ProxyError::Unauthenticated)?;
        let identity = resolved.identity;
        if !route.groups.is_empty() && !identity.groups.iter().any(|g| route.groups.contains(g)) {
            return Err(ProxyError::Forbidden);
        }
        Ok(Some(identity))
    }

    /// The live session named by the request's cookie, if any. Malformed
    /// cookie values never reach the store.
    pub async fn resolve(&self, headers: &HeaderMap) -> Result<Option<Resolved>, StoreError> {
        let resolved = self.lookup(headers).await;
        self.metrics.session_lookup(match &resolved {
            Ok(Some(r)) if r.from_cache => Lookup::CacheHit,
            Ok(Some(_)) => Lookup::Hit,
            Ok(None) => Lookup::Miss,
            Err(_) => Lookup::StoreError,
        });
        resolved
    }

    async fn lookup(&self, headers: &HeaderMap) -> Result<Option<Resolved>, StoreError> {
        let Some(id) = self.session_id(headers) else {
            return Ok(None);
        };
        let key = id.key();
        let (found, from_cache) = match self.store.cached(&key) {
            Some(record) => (Some(record), true),
            None => {
                let started = std::time::Instant::now();
                let found = self.store.get(&key).await;
                self.metrics.store_round_trip(started.elapsed());
                (found?, false)
            }
        };
        let Some(record) = found else {
            return Ok(None);
        };
        let now = unix_now();
        if record.absolute_expiry <= now {
            self.store.remove(&key, &record.user).await?;
            return Ok(None);
        }
        // The store expires an idle session itself; this check makes a
        // cached copy (or an expiry the store has not carried out yet) agree.
        if record
            .last_seen
            .saturating_add(self.session.idle_timeout.as_secs())
            <= now
        {
            return Ok(None);
        }
        // Identity comes from the users file as it is now: a removed user's
        // sessions stop working, and group changes apply at once.
        let Some(user) = self.users.get(&record.user) else {
            self.store.remove(&key, &record.user).await?;
            return Ok(None);
        };
        let identity = Identity {
            user: user.name.clone(),
            email: user.email.clone(),
            groups: user.groups.clone(),
        };
        self.touch_if_due(&key, &record, now);
        Ok(Some(Resolved {
            key,
            record,
            identity,
            from_cache,
        }))
    }

    /// The session id in the request's cookie, when there is exactly one
    /// well-formed one.
    pub fn session_id(&self, headers: &HeaderMap) -> Option<SessionId> {
        match session_cookie(headers, &self.session.cookie_name) {
            CookieLookup::One(value) => SessionId::parse(value),
            CookieLookup::Absent | CookieLookup::Ambiguous => None,
        }
    }

    /// Slides the idle window, writing back at most once per
    /// [`touch_interval`](Self::touch_interval) per session, in the
    /// background: a failed write-back only shortens a session.
    fn touch_if_due(&self, key: &SessionKey, record: &SessionRecord, now: u64) {
        if now.saturating_sub(record.last_seen) < self.touch_interval().as_secs() {
            return;
        }
        let mut record = record.clone();
        record.last_seen = now;
        let ttl = self.ttl(&record, now);
        let store = self.store.clone();
        let key = key.clone();
        tokio::spawn(async move {
            if let Err(e) = store.touch(&key, &record, ttl).await {
                tracing::debug!(error = %e, "session write-back failed");
            }
        });
    }

    /// `min(60 s, idle_timeout / 10)`: a session expires between
    /// `idle_timeout - touch_interval` and `idle_timeout` after its last use.
    pub fn touch_interval(&self) -> Duration {
        MAX_TOUCH_INTERVAL.min(self.session.idle_timeout / 10)
    }

    /// The store TTL: the idle window, capped at the absolute expiry.
    fn ttl(&self, record: &SessionRecord, now: u64) -> Duration {
        let left = Duration::from_secs(record.absolute_expiry.saturating_sub(now));
        self.session.idle_timeout.min(left)
    }

    /// Starts a session for `identity` and returns its id (for the cookie).
    pub async fn start_session(
        &self,
        identity: &Identity,
        peer: SocketAddr,
        user_agent: &str,
    ) -> Result<SessionId, StoreError> {
        let now = unix_now();
        let record = SessionRecord {
            user: identity.user.clone(),
            email: identity.email.clone(),
            groups: identity.groups.clone(),
            created: now,
            last_seen: now,
            absolute_expiry: now + self.session.absolute_timeout.as_secs(),
            client_addr: peer.ip().to_string(),
            user_agent: user_agent.chars().take(256).collect(),
        };
        let id = SessionId::generate();
        self.store
            .insert(&id.key(), &record, self.ttl(&record, now))
            .await?;
        Ok(id)
    }

    /// The users file, shared with the blocking password check.
    pub fn users_handle(&self) -> Arc<Users> {
        self.users.clone()
    }

    pub fn login_config(&self) -> &config::Login {
        &self.login
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
