//! The hot-path cache: resolved sessions kept in-process, so that most
//! requests skip the Redis round trip.
//!
//! It is only *live* while the invalidation channel to Redis is up (see
//! `redis::invalidation`): every change to a session key on any instance,
//! its expiry, and `FLUSHALL` reach every cache within moments. When the
//! channel is lost the cache is emptied and bypassed until it is back, so a
//! revoked session is never served from a stale cache (fail closed).
//!
//! Races: a lookup notes the [generation](SessionCache::generation) before
//! asking Redis and only caches what it read if no invalidation happened
//! meanwhile, so a logout racing a lookup cannot leave the dead session
//! cached.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use super::SessionRecord;

/// Shards, so that concurrent requests rarely contend on one lock.
const SHARDS: usize = 16;

/// A bounded, sharded map from session key to record.
pub struct SessionCache {
    shards: Vec<Mutex<HashMap<String, SessionRecord>>>,
    hasher: RandomState,
    per_shard: usize,
    /// True while the invalidation channel is up.
    live: AtomicBool,
    /// Bumped by every invalidation.
    generation: AtomicU64,
}

impl SessionCache {
    /// A cache of about `capacity` sessions, not live until
    /// [`set_live`](Self::set_live).
    pub fn new(capacity: usize) -> Self {
        SessionCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
            live: AtomicBool::new(false),
            generation: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: &str) -> &Mutex<HashMap<String, SessionRecord>> {
        let i = self.hasher.hash_one(key) as usize % SHARDS;
        &self.shards[i]
    }

    /// The cached record, when the cache is live.
    pub fn get(&self, key: &str) -> Option<SessionRecord> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        lock(self.shard(key)).get(key).cloned()
    }

    /// The generation to pass to [`insert_if_unchanged`](Self::insert_if_unchanged).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches `record` unless an invalidation happened since `generation`
    /// was read, or the cache is not live. A full shard drops an arbitrary
    /// entry (it is only a cache).
    pub fn insert_if_unchanged(&self, generation: u64, key: &str, record: &SessionRecord) {
        if !self.live.load(Ordering::Acquire) {
            return;
        }
        let mut shard = lock(self.shard(key));
        // Checked under the shard lock: `invalidate` bumps the generation
        // before taking it, so either it sees our entry or we see its bump.
        if self.generation() != generation {
            return;
        }
        if shard.len() >= self.per_shard && !shard.contains_key(key) {
            if let Some(victim) = shard.keys().next().cloned() {
                shard.remove(&victim);
            }
        }
        shard.insert(key.to_owned(), record.clone());
    }

    /// Forgets one session.
    pub fn invalidate(&self, key: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        lock(self.shard(key)).remove(key);
    }

    /// Forgets everything (`FLUSHALL`, a lost channel, `remove_all`).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        for shard in &self.shards {
            lock(shard).clear();
        }
    }

    /// Turns the cache on when the invalidation channel is up, and off
    /// (emptied) when it is lost.
    pub fn set_live(&self, live: bool) {
        if !live {
            self.live.store(false, Ordering::Release);
        }
        // Emptied either way: while the channel was down, changes went unseen.
        self.clear();
        if live {
            self.live.store(true, Ordering::Release);
        }
    }
}

/// A poisoned shard only means a panic elsewhere mid-insert; the map is
/// still a valid cache.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(user: &str) -> SessionRecord {
        SessionRecord {
            user: user.into(),
            email: None,
            groups: vec![],
            created: 1,
            last_seen: 1,
            absolute_expiry: 2,
            client_addr: String::new(),
            user_agent: String::new(),
            tokens: None,
        }
    }

    #[test]
    fn nothing_is_served_or_kept_while_not_live() {
        let cache = SessionCache::new(10);
        cache.insert_if_unchanged(cache.generation(), "k", &record("a"));
        assert!(cache.get("k").is_none());
        cache.set_live(true);
        cache.insert_if_unchanged(cache.generation(), "k", &record("a"));
        assert_eq!(cache.get("k").unwrap().user, "a");
        cache.set_live(false);
        assert!(cache.get("k").is_none());
        cache.set_live(true);
        assert!(
            cache.get("k").is_none(),
            "emptied when the channel was lost"
        );
    }

    #[test]
    fn an_invalidation_during_a_lookup_keeps_the_result_out() {
        let cache = SessionCache::new(10);
        cache.set_live(true);
        let before = cache.generation();
        cache.invalidate("k");
        cache.insert_if_unchanged(before, "k", &record("a"));
        assert!(cache.get("k").is_none());
    }

    #[test]
    fn invalidate_and_clear_forget_entries() {
        let cache = SessionCache::new(10);
        cache.set_live(true);
        for k in ["a", "b"] {
            cache.insert_if_unchanged(cache.generation(), k, &record(k));
        }
        cache.invalidate("a");
        assert!(cache.get("a").is_none() && cache.get("b").is_some());
        cache.clear();
        assert!(cache.get("b").is_none());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = SessionCache::new(32);
        cache.set_live(true);
        for i in 0..1000 {
            cache.insert_if_unchanged(cache.generation(), &i.to_string(), &record("u"));
        }
        let total: usize = cache.shards.iter().map(|s| lock(s).len()).sum();
        assert!(total <= 32, "{total}");
    }
}
