//! Sessions on the HTTP side: resolving the cookie to a session, deciding
//! whether a request on a `required` route goes on, and the proxy's own
//! endpoints under `/.gatehouse/` ([`endpoints`]).
//!
//! The store knows nothing of HTTP; this module is where cookies, store
//! records and the [`Provider`] (the users file, or an OpenID provider)
//! meet.

mod cookies;
mod csrf;
pub mod endpoints;
pub mod oidc;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

use crate::config::{self, ConfigError, Route};
use crate::error::ProxyError;
use crate::headers::{session_cookie, CookieLookup};
use crate::metrics::{Lookup, Metrics};
use crate::proxy::Identity;
use crate::session::{SessionId, SessionKey};
use crate::store::{ProviderTokens, SessionRecord, SessionStore, StoreError};
use crate::users::Users;
use oidc::OidcClient;

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

/// Who vouches for the people who sign in: the one place where the users
/// file and an OpenID provider part ways.
#[derive(Clone)]
pub enum Provider {
    /// The login form over `users.toml`. A session carries only the user's
    /// name; email and groups come from the file as it is now, and a user
    /// removed from it loses access at once.
    UsersFile(Arc<Users>),
    /// Sign-in at an OpenID provider. A session carries the identity from
    /// the ID token's claims, and the provider's tokens.
    Oidc(Arc<OidcClient>),
}

impl Provider {
    /// Loads what `[login]` names: the users file, or the OpenID client
    /// (which talks to the provider only when first needed). The
    /// `previous` provider is kept when `[login]` did not change, so a
    /// reload keeps the discovered metadata and the refresh locks.
    pub fn load(
        config: &config::Config,
        previous: Option<&Provider>,
    ) -> Result<Provider, ConfigError> {
        match &config.login.provider {
            config::LoginProvider::UsersFile => Ok(Provider::UsersFile(Arc::new(Users::load(
                &config.login.users_file,
            )?))),
            config::LoginProvider::Oidc(cfg) => match previous {
                Some(Provider::Oidc(old)) if old.config() == cfg.as_ref() => {
                    Ok(Provider::Oidc(old.clone()))
                }
                _ => Ok(Provider::Oidc(Arc::new(OidcClient::new(
                    (**cfg).clone(),
                    &config.path,
                )?))),
            },
        }
    }
}

/// Resolves session cookies against the store and the [`Provider`].
pub struct Authenticator {
    store: SessionStore,
    provider: Provider,
    session: config::Session,
    login: config::Login,
    metrics: Arc<Metrics>,
}

impl Authenticator {
    pub fn new(
        store: SessionStore,
        provider: Provider,
        session: config::Session,
        login: config::Login,
        metrics: Arc<Metrics>,
    ) -> Self {
        Authenticator {
            store,
            provider,
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
        let (record, identity) = match &self.provider {
            Provider::UsersFile(users) => {
                // Identity comes from the users file as it is now: a removed
                // user's sessions stop working, and group changes apply at
                // once. A provider's session (from before a config change)
                // names nobody in the file.
                let user = match users.get(&record.user) {
                    Some(user) if record.tokens.is_none() => user,
                    _ => {
                        self.store.remove(&key, &record.user).await?;
                        return Ok(None);
                    }
                };
                let identity = Identity {
                    user: user.name.clone(),
                    email: user.email.clone(),
                    groups: user.groups.clone(),
                };
                (record, identity)
            }
            Provider::Oidc(oidc) => {
                // Only sessions this issuer vouched for count.
                let ours = |t: &ProviderTokens| t.issuer == oidc.config().issuer;
                let Some(tokens) = record.tokens.as_ref().filter(|t| ours(t)) else {
                    self.store.remove(&key, &record.user).await?;
                    return Ok(None);
                };
                let record = if oidc::refresh::is_due(tokens, now) {
                    let ttl = |r: &SessionRecord, now| self.ttl(r, now);
                    match oidc.refreshed_session(&self.store, &key, now, ttl).await? {
                        Some(record) => record,
                        None => return Ok(None),
                    }
                } else {
                    record
                };
                let identity = Identity {
                    user: record.user.clone(),
                    email: record.email.clone(),
                    groups: record.groups.clone(),
                };
                (record, identity)
            }
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
        let store = self.store.clone();
        let key = key.clone();
        if let (Provider::Oidc(oidc), Some(_)) = (&self.provider, &record.tokens) {
            // Under the session's refresh lock, on a fresh read: never write
            // the tokens this request started with over refreshed ones.
            let (oidc, idle) = (oidc.clone(), self.session.idle_timeout);
            tokio::spawn(async move {
                let ttl = |r: &SessionRecord, now| ttl_for(idle, r, now);
                if let Err(e) = oidc.touch(&store, &key, now, ttl).await {
                    tracing::debug!(error = %e, "session write-back failed");
                }
            });
            return;
        }
        let mut record = record.clone();
        record.last_seen = now;
        let ttl = self.ttl(&record, now);
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
        ttl_for(self.session.idle_timeout, record, now)
    }

    /// Starts a session for `identity` and returns its id (for the cookie).
    /// `tokens` are the OpenID provider's, kept in the store only.
    pub async fn start_session(
        &self,
        identity: &Identity,
        peer: SocketAddr,
        user_agent: &str,
        tokens: Option<ProviderTokens>,
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
            tokens,
        };
        let id = SessionId::generate();
        self.store
            .insert(&id.key(), &record, self.ttl(&record, now))
            .await?;
        Ok(id)
    }

    /// Who vouches for sign-ins.
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// The users file, shared with the blocking password check; `None`
    /// with an OpenID provider.
    pub fn users_handle(&self) -> Option<Arc<Users>> {
        match &self.provider {
            Provider::UsersFile(users) => Some(users.clone()),
            Provider::Oidc(_) => None,
        }
    }

    pub fn login_config(&self) -> &config::Login {
        &self.login
    }
}

/// The store TTL of `record` at `now`: the idle window, capped at the
/// absolute expiry.
fn ttl_for(idle_timeout: Duration, record: &SessionRecord, now: u64) -> Duration {
    let left = Duration::from_secs(record.absolute_expiry.saturating_sub(now));
    idle_timeout.min(left)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
