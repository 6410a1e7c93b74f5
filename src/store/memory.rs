//! The embedded `memory://` store: the same semantics as Redis within one
//! process, for a single proxy instance. Sessions die with the process.
//!
//! Entries expire at their TTL (checked on every read, purged on every
//! insert) and the store holds at most `max_entries` sessions: when it is
//! full after purging expired ones, the session closest to its expiry is
//! evicted. That user is logged out early, which is the least harmful
//! choice: it had the least time left. Failure counters are bounded the
//! same way.
//!
//! All state sits behind one `std::sync::Mutex`, held only for in-memory
//! work and never across an `.await`, so the async methods never block for
//! long and never fail.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::expiring::{deadline, ExpiringMap};
use super::{SessionRecord, StoreError};
use crate::session::SessionKey;

/// Handle to the embedded store; clones share the same sessions.
#[derive(Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for MemoryStore {
    // Hand-written: a derived Debug would dump every session record.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            // try_lock: formatting must never wait on (or deadlock with) the store.
            .field("users", &self.state.try_lock().ok().map(|s| s.users.len()))
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct State {
    sessions: ExpiringMap<SessionRecord>,
    /// User name → keys of that user's sessions. Kept exact: every session
    /// that leaves `sessions` (expired, evicted, removed) leaves this too.
    users: HashMap<String, HashSet<String>>,
    /// Scope → failed logins in the window that ends at the entry's deadline.
    failures: ExpiringMap<u32>,
}

impl State {
    /// Drops sessions that left the map from their users' index.
    fn unindex(&mut self, gone: Vec<(String, SessionRecord)>) {
        for (key, rec) in gone {
            if let Some(keys) = self.users.get_mut(&rec.user) {
                keys.remove(&key);
                if keys.is_empty() {
                    self.users.remove(&rec.user);
                }
            }
        }
    }

    /// Shared by insert and touch: stores `rec` under `key` and indexes it.
    fn put(&mut self, key: &SessionKey, rec: &SessionRecord, ttl: Duration, now: Instant) {
        let gone = self.sessions.insert(
            key.as_str().to_owned(),
            rec.clone(),
            deadline(now, ttl),
            now,
        );
        // Unindex before indexing: a replaced entry under the same key is
        // among `gone`, and must not undo the new membership.
        self.unindex(gone);
        self.users
            .entry(rec.user.clone())
            .or_default()
            .insert(key.as_str().to_owned());
    }
}

impl MemoryStore {
    /// An empty store holding at most `max_entries` sessions (and as many
    /// failure counters).
    pub fn new(max_entries: usize) -> Self {
        MemoryStore {
            state: Arc::new(Mutex::new(State {
                sessions: ExpiringMap::new(max_entries),
                users: HashMap::new(),
                failures: ExpiringMap::new(max_entries),
            })),
        }
    }

    /// The state. A panic elsewhere while holding the lock cannot leave it
    /// half-updated in a way that matters more than failing every request,
    /// so a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`super::SessionStore::insert`]; may evict the session closest to
    /// expiry when the store is full.
    pub async fn insert(
        &self,
        key: &SessionKey,
        rec: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.lock().put(key, rec, ttl, Instant::now());
        Ok(())
    }

    /// [`super::SessionStore::get`]; expired sessions are invisible at once.
    pub async fn get(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let state = self.lock();
        Ok(state
            .sessions
            .get(key.as_str(), Instant::now())
            .map(|(rec, _)| rec.clone()))
    }

    /// [`super::SessionStore::touch`]: rewrites only a live session.
    pub async fn touch(
        &self,
        key: &SessionKey,
        rec: &SessionRecord,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut state = self.lock();
        if state.sessions.get(key.as_str(), now).is_none() {
            return Ok(false);
        }
        state.put(key, rec, ttl, now);
        Ok(true)
    }

    /// [`super::SessionStore::remove`].
    pub async fn remove(&self, key: &SessionKey, user: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        let removed = state.sessions.remove(key.as_str(), Instant::now());
        if let Some(rec) = removed {
            state.unindex(vec![(key.as_str().to_owned(), rec)]);
        }
        if let Some(keys) = state.users.get_mut(user) {
            keys.remove(key.as_str());
            if keys.is_empty() {
                state.users.remove(user);
            }
        }
        Ok(())
    }

    /// [`super::SessionStore::remove_user`].
    pub async fn remove_user(&self, user: &str) -> Result<usize, StoreError> {
        let now = Instant::now();
        let mut state = self.lock();
        let keys = state.users.remove(user).unwrap_or_default();
        Ok(keys
            .iter()
            .filter(|key| state.sessions.remove(key, now).is_some())
            .count())
    }

    /// [`super::SessionStore::list`].
    pub async fn list(&self, user: Option<&str>) -> Result<Vec<SessionRecord>, StoreError> {
        let state = self.lock();
        let now = Instant::now();
        Ok(match user {
            Some(user) => state
                .users
                .get(user)
                .into_iter()
                .flatten()
                .filter_map(|key| state.sessions.get(key, now))
                .map(|(rec, _)| rec.clone())
                .collect(),
            None => state
                .sessions
                .live(now)
                .map(|(_, rec)| rec.clone())
                .collect(),
        })
    }

    /// [`super::SessionStore::remove_all`].
    pub async fn remove_all(&self) -> Result<usize, StoreError> {
        let mut state = self.lock();
        state.users.clear();
        Ok(state.sessions.clear(Instant::now()))
    }

    /// [`super::SessionStore::record_failure`]: the window starts at the
    /// first failure and is never extended.
    pub async fn record_failure(&self, scope: &str, window: Duration) -> Result<u32, StoreError> {
        let now = Instant::now();
        let mut state = self.lock();
        if let Some(count) = state.failures.get_mut(scope, now) {
            *count = count.saturating_add(1);
            return Ok(*count);
        }
        // A new window starts at the first failure and is never extended.
        state
            .failures
            .insert(scope.to_owned(), 1, deadline(now, window), now);
        Ok(1)
    }

    /// [`super::SessionStore::failures`].
    pub async fn failures(&self, scope: &str) -> Result<(u32, Duration), StoreError> {
        let now = Instant::now();
        let state = self.lock();
        Ok(match state.failures.get(scope, now) {
            Some((count, ends)) => (*count, ends.saturating_duration_since(now)),
            None => (0, Duration::ZERO),
        })
    }

    /// [`super::SessionStore::clear_failures`].
    pub async fn clear_failures(&self, scope: &str) -> Result<(), StoreError> {
        self.lock().failures.remove(scope, Instant::now());
        Ok(())
    }

    /// Always ready: the embedded store has nothing to reach.
    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
