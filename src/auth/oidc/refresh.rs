//! Renewing a session's access token before it expires, one refresh per
//! session at a time.
//!
//! Requests of one session that find its token due all queue on that
//! session's lock; the first refreshes and writes the new tokens back, and
//! the others, once they hold the lock, re-read the record and find it
//! fresh. The session's "last seen" write-back takes the same lock and
//! re-reads the record too, so it never writes stale tokens over fresh
//! ones. (Within one process: two gatehouse instances sharing Redis may
//! still both refresh; see the README.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::OidcClient;
use crate::proxy::Identity;
use crate::session::SessionKey;
use crate::store::{ProviderTokens, SessionRecord, SessionStore, StoreError};

/// At most this long before expiry an access token is renewed…
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// True when `tokens` should be renewed now: a refresh token exists and
/// the access token has less than `min(60 s, half its lifetime)` left.
/// Without a refresh token, the session lives by gatehouse's own
/// timeouts alone.
pub fn is_due(tokens: &ProviderTokens, now: u64) -> bool {
    let (Some(_), Some(expires_at)) = (&tokens.refresh_token, tokens.access_expires_at) else {
        return false;
    };
    let lifetime = expires_at.saturating_sub(tokens.access_issued_at);
    let margin = MAX_REFRESH_MARGIN.as_secs().min(lifetime / 2);
    now.saturating_add(margin) >= expires_at
}

/// One async lock per session with a refresh or write-back under way.
#[derive(Default)]
pub struct Flights {
    locks: Mutex<HashMap<SessionKey, Arc<tokio::sync::Mutex<()>>>>,
}

/// Holds a session's lock; the map entry goes when nobody waits for it.
pub struct Flight<'a> {
    flights: &'a Flights,
    key: SessionKey,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Flights {
    /// Waits for, then holds, `key`'s lock.
    pub async fn lock(&self, key: &SessionKey) -> Flight<'_> {
        let lock = self
            .locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .clone();
        Flight {
            flights: self,
            key: key.clone(),
            _guard: lock.lock_owned().await,
        }
    }

    /// Sessions with a lock entry (for tests: entries must not pile up).
    pub fn len(&self) -> usize {
        self.locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut locks = self
            .flights
            .locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Two references: the map's and our guard's mutex. More means waiters.
        if locks
            .get(&self.key)
            .is_some_and(|lock| Arc::strong_count(lock) <= 2)
        {
            locks.remove(&self.key);
        }
    }
}

impl OidcClient {
    /// The session under `key` with fresh tokens: refreshed here, or by a
    /// request that held the lock before us. `Ok(None)` when the session
    /// ended (gone meanwhile, or the refresh failed, which ends it).
    /// `ttl` gives the store TTL of a record at a time.
    pub async fn refreshed_session(
        &self,
        store: &SessionStore,
        key: &SessionKey,
        now: u64,
        ttl: impl Fn(&SessionRecord, u64) -> Duration,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let _flight = self.flights.lock(key).await;
        // Re-read past any cache: another request may have refreshed.
        let Some(mut record) = store.get(key).await? else {
            return Ok(None);
        };
        let Some(tokens) = record.tokens.as_ref().filter(|t| is_due(t, now)) else {
            return Ok(Some(record));
        };
        match self.refresh(tokens).await {
            Ok((tokens, identity)) => {
                if let Some(identity) = identity {
                    apply_identity(&mut record, identity);
                }
                record.tokens = Some(tokens);
                record.last_seen = now;
                if store.touch(key, &record, ttl(&record, now)).await? {
                    tracing::debug!(user = %record.user, "access token refreshed");
                    Ok(Some(record))
                } else {
                    Ok(None)
                }
            }
            Err(e) => {
                tracing::info!(user = %record.user, error = %e, "refresh failed; session ended");
                store.remove(key, &record.user).await?;
                Ok(None)
            }
        }
    }

    /// The idle-window write-back for a session with tokens: under the
    /// session's lock, on a fresh read, so fresh tokens are never
    /// overwritten by the stale copy a request started with.
    pub async fn touch(
        &self,
        store: &SessionStore,
        key: &SessionKey,
        now: u64,
        ttl: impl Fn(&SessionRecord, u64) -> Duration,
    ) -> Result<(), StoreError> {
        let _flight = self.flights.lock(key).await;
        if let Some(mut record) = store.get(key).await? {
            record.last_seen = now;
            store.touch(key, &record, ttl(&record, now)).await?;
        }
        Ok(())
    }
}

/// Claims from a refreshed ID token replace the email and groups; the
/// user name is kept (the store's per-user index is keyed by it).
fn apply_identity(record: &mut SessionRecord, identity: Identity) {
    if identity.user != record.user {
        tracing::info!(user = %record.user, "refreshed ID token names another user; name kept");
    }
    record.email = identity.email;
    record.groups = identity.groups;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(issued: u64, expires: Option<u64>, refresh: bool) -> ProviderTokens {
        ProviderTokens {
            issuer: "https://id.example.com".into(),
            subject: "1".into(),
            access_token: "a".into(),
            access_issued_at: issued,
            access_expires_at: expires,
            refresh_token: refresh.then(|| "r".into()),
            id_token: "i".into(),
        }
    }

    #[test]
    fn due_within_a_minute_or_half_the_lifetime() {
        let hour = tokens(1000, Some(4600), true);
        assert!(!is_due(&hour, 1000));
        assert!(!is_due(&hour, 4539));
        assert!(is_due(&hour, 4540));
        assert!(is_due(&hour, 9999), "expired: due");
        let short = tokens(1000, Some(1004), true);
        assert!(!is_due(&short, 1001));
        assert!(is_due(&short, 1002));
    }

    #[test]
    fn never_due_without_a_refresh_token_or_an_expiry() {
        assert!(!is_due(&tokens(1000, Some(1010), false), 2000));
        assert!(!is_due(&tokens(1000, None, true), 2000));
    }

    #[tokio::test]
    async fn flights_serialize_and_clean_up() {
        let flights = Arc::new(Flights::default());
        let key = SessionKey::from_stored("k".into());
        let first = flights.lock(&key).await;
        let waiter = {
            let (flights, key) = (flights.clone(), key.clone());
            tokio::spawn(async move {
                let _second = flights.lock(&key).await;
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "the second waits for the first");
        drop(first);
        waiter.await.unwrap();
        assert!(flights.is_empty(), "no entry left behind");
    }
}
