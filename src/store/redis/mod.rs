//! The Redis store, shared by every proxy instance.
//!
//! One [`ConnectionManager`] multiplexes all calls over one connection and
//! reconnects by itself after Redis goes away. Until the *first* connection
//! succeeds a background task keeps trying (the manager only reconnects a
//! connection it once had), and calls fail fast with
//! [`StoreError::Unavailable`]. Every call is bounded by the store timeout,
//! so a paused or dead Redis turns into an error, never into a pile of
//! waiting requests.
//!
//! On one server (or a Sentinel-managed master) writes that must happen
//! together (a session and its user index) run as one Lua script or one
//! `MULTI` pipeline, so no crash or race between them leaves a session
//! missing from its user's index. On a Redis Cluster the two keys live in
//! different slots, so [`ordered`] does the same writes one key at a time
//! in an order that keeps that promise without atomicity.

mod connect;
mod connection;
mod invalidation;
mod keyspace;
mod open;
mod ordered;
mod round_trip;
mod sentinel;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::cache::SessionCache;
use super::{SessionRecord, StoreError};
use crate::session::SessionKey;
use connection::Conn;
/// Keys asked for per `SCAN` step and deleted or read per batch.
const SCAN_BATCH: usize = 500;
/// Longest TTL passed to Redis (100 years), so absurd durations never
/// become an "invalid expire time" error.
const MAX_TTL_MS: u64 = 100 * 365 * 24 * 3600 * 1000;

/// Writes a session and indexes it under its user, atomically.
///
/// KEYS: session key, user set. ARGV: record, TTL in ms, set member,
/// `"XX"` to write only over an existing session (touch) or `""` (insert).
/// The user set's TTL becomes the larger of its own and the session's
/// (PTTL is -1 for a set without one, e.g. one just created), so the index
/// outlives every session it lists. Returns 1 if written, 0 if `XX` found
/// no session (a logout won the race: the session stays dead).
const WRITE_SESSION: &str = r"
local written
if ARGV[4] == 'XX' then
  written = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'XX')
else
  written = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
if not written then return 0 end
redis.call('SADD', KEYS[2], ARGV[3])
local ttl = tonumber(ARGV[2])
if redis.call('PTTL', KEYS[2]) < ttl then
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return 1
";

/// Handle to the Redis store; clones share one connection.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// Set once by the background connect task; empty means "not yet
    /// connected", and every call answers `Unavailable`.
    conn: OnceLock<Conn>,
    prefix: String,
    /// Bound on every call (on every round trip for `list`/`remove_all`).
    timeout: Duration,
    /// The URL without credentials: safe to log.
    target: String,
    /// The hot-path cache; `None` when `cache_capacity` is 0.
    cache: Option<Arc<SessionCache>>,
}

impl std::fmt::Debug for RedisStore {
    // Hand-written: the manager's Debug would print the client, password included.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("target", &self.inner.target)
            .field("connected", &self.inner.conn.get().is_some())
            .finish()
    }
}

impl RedisStore {
    /// Whether the in-process cache exists (it may still be bypassed while
    /// its invalidation channel is down).
    pub fn has_cache(&self) -> bool {
        self.inner.cache.is_some()
    }

    /// [`crate::store::SessionStore::insert`]: one Lua script writes the record
    /// (`SET PX`) and indexes it, so neither can happen without the other
    /// (on a cluster: [`Self::write_session_ordered`]).
    pub async fn insert(
        &self,
        key: &SessionKey,
        rec: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.write_session(key, rec, ttl, "").await.map(|_| ())
    }

    /// [`crate::store::SessionStore::get`]: `GET`; an unreadable record is no session.
    pub async fn get(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        let mut conn = self.conn()?;
        let generation = self.inner.cache.as_ref().map(|c| c.generation());
        let raw: Option<String> = self
            .bounded(
                redis::cmd("GET").arg(self.session_key(key.as_str())),
                &mut conn,
            )
            .await?;
        let record = raw.and_then(|raw| parse_record(key.as_str(), &raw));
        if let (Some(cache), Some(generation), Some(record)) =
            (&self.inner.cache, generation, &record)
        {
            cache.insert_if_unchanged(generation, key.as_str(), record);
        }
        Ok(record)
    }

    /// [`crate::store::SessionStore::cached`]: the hot-path cache, when live.
    pub fn cached(&self, key: &SessionKey) -> Option<SessionRecord> {
        self.inner.cache.as_ref()?.get(key.as_str())
    }

    /// Drops a session from this instance's cache at once; other instances
    /// hear of it through the invalidation channel.
    fn forget(&self, key: &str) {
        if let Some(cache) = &self.inner.cache {
            cache.invalidate(key);
        }
    }

    /// [`crate::store::SessionStore::touch`]: the same script with `SET … XX PX`,
    /// so a session removed meanwhile stays removed.
    pub async fn touch(
        &self,
        key: &SessionKey,
        rec: &SessionRecord,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let written = self.write_session(key, rec, ttl, "XX").await;
        self.forget(key.as_str());
        written
    }

    /// [`crate::store::SessionStore::remove`]: `DEL` and `SREM` in one `MULTI`.
    pub async fn remove(&self, key: &SessionKey, user: &str) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        if conn.spans_slots() {
            let removed = self.remove_ordered(&mut conn, key, user).await;
            self.forget(key.as_str());
            return removed;
        }
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("DEL")
            .arg(self.session_key(key.as_str()))
            .ignore()
            .cmd("SREM")
            .arg(self.user_key(user))
            .arg(key.as_str())
            .ignore();
        let removed = self.bounded(&pipe, &mut conn).await;
        self.forget(key.as_str());
        removed
    }

    /// [`crate::store::SessionStore::remove_user`]: reads the user's set, then
    /// deletes those sessions and their index entries in one `MULTI`.
    pub async fn remove_user(&self, user: &str) -> Result<usize, StoreError> {
        let mut conn = self.conn()?;
        if conn.spans_slots() {
            return self.remove_user_ordered(&mut conn, user).await;
        }
        self.within_timeout(async {
            let user_key = self.user_key(user);
            let members: Vec<String> = redis::cmd("SMEMBERS")
                .arg(&user_key)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.failed(e))?;
            if members.is_empty() {
                return Ok(0);
            }
            let session_keys: Vec<String> = members.iter().map(|m| self.session_key(m)).collect();
            // SREM the members read rather than DEL the set: a session
            // added meanwhile by a new login stays indexed.
            let mut pipe = redis::pipe();
            pipe.atomic()
                .cmd("DEL")
                .arg(&session_keys)
                .cmd("SREM")
                .arg(&user_key)
                .arg(&members)
                .ignore();
            let removed: Result<(usize,), _> = pipe.query_async(&mut conn).await;
            for member in &members {
                self.forget(member);
            }
            let (removed,) = removed.map_err(|e| self.failed(e))?;
            Ok(removed)
        })
        .await
    }

    /// [`crate::store::SessionStore::list`]: the user's set, or a `SCAN` of all
    /// session keys; each round trip bounded by the timeout.
    pub async fn list(&self, user: Option<&str>) -> Result<Vec<SessionRecord>, StoreError> {
        let mut conn = self.conn()?;
        let Some(user) = user else {
            let mut records = Vec::new();
            for batch in self.scan(&mut conn, "s:").await?.chunks(SCAN_BATCH) {
                let (found, _) = self.read_sessions(&mut conn, batch).await?;
                records.extend(found);
            }
            return Ok(records);
        };
        let user_key = self.user_key(user);
        let members: Vec<String> = self
            .bounded(redis::cmd("SMEMBERS").arg(&user_key), &mut conn)
            .await?;
        let mut records = Vec::new();
        let mut stale = Vec::new();
        for batch in members.chunks(SCAN_BATCH) {
            let keys: Vec<String> = batch.iter().map(|m| self.session_key(m)).collect();
            let (found, missing) = self.read_sessions(&mut conn, &keys).await?;
            records.extend(found);
            stale.extend(missing.into_iter().map(|i| batch[i].clone()));
        }
        // Index entries of expired sessions are cleaned up lazily, here.
        if !stale.is_empty() && conn.spans_slots() {
            self.within_timeout(self.unindex(&mut conn, &user_key, &stale))
                .await?;
        } else if !stale.is_empty() {
            let _: usize = self
                .bounded(redis::cmd("SREM").arg(&user_key).arg(&stale), &mut conn)
                .await?;
        }
        Ok(records)
    }

    /// [`crate::store::SessionStore::remove_all`]: `SCAN` + `UNLINK` of every
    /// session key, then every user set; each round trip bounded.
    pub async fn remove_all(&self) -> Result<usize, StoreError> {
        if let Some(cache) = &self.inner.cache {
            cache.clear();
        }
        let mut conn = self.conn()?;
        let mut removed = 0;
        for (pattern, counts) in [("s:", true), ("u:", false)] {
            for batch in self.scan(&mut conn, pattern).await?.chunks(SCAN_BATCH) {
                let n: usize = self
                    .bounded(redis::cmd("UNLINK").arg(batch), &mut conn)
                    .await?;
                if counts {
                    removed += n;
                }
            }
        }
        Ok(removed)
    }

    /// [`crate::store::SessionStore::record_failure`]: a fixed-window counter.
    pub async fn record_failure(&self, scope: &str, window: Duration) -> Result<u32, StoreError> {
        let mut conn = self.conn()?;
        let key = self.failure_key(scope);
        // SET NX PX starts a window with its expiry in the same MULTI as
        // the INCR, so a counter can never be left without one (which
        // would lock the scope out forever). INCR keeps the TTL.
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("SET")
            .arg(&key)
            .arg(0)
            .arg("PX")
            .arg(millis(window))
            .arg("NX")
            .ignore()
            .cmd("INCR")
            .arg(&key);
        // Not retried: a lost reply would count one failure twice.
        let (count,): (u64,) = self.bounded_once(&pipe, &mut conn).await?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    /// [`crate::store::SessionStore::failures`]: `GET` and `PTTL` of the counter.
    pub async fn failures(&self, scope: &str) -> Result<(u32, Duration), StoreError> {
        let mut conn = self.conn()?;
        let key = self.failure_key(scope);
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("GET").arg(&key).cmd("PTTL").arg(&key);
        let (count, pttl): (Option<u64>, i64) = self.bounded(&pipe, &mut conn).await?;
        Ok(match count {
            Some(count) if count > 0 => (
                u32::try_from(count).unwrap_or(u32::MAX),
                Duration::from_millis(u64::try_from(pttl).unwrap_or(0)),
            ),
            _ => (0, Duration::ZERO),
        })
    }

    /// [`crate::store::SessionStore::clear_failures`].
    pub async fn clear_failures(&self, scope: &str) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let _: usize = self
            .bounded(redis::cmd("DEL").arg(self.failure_key(scope)), &mut conn)
            .await?;
        Ok(())
    }

    /// [`crate::store::SessionStore::ping`]: a `PING` round trip.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        // On a cluster the crate sends it to every master.
        let _: redis::Value = self.bounded(&redis::cmd("PING"), &mut conn).await?;
        Ok(())
    }

    /// Runs [`WRITE_SESSION`] (on a cluster, its ordered equivalent);
    /// `mode` is `"XX"` for touch, `""` for insert.
    async fn write_session(
        &self,
        key: &SessionKey,
        rec: &SessionRecord,
        ttl: Duration,
        mode: &str,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn()?;
        let json = serde_json::to_string(rec)
            .map_err(|e| StoreError::Backend(format!("cannot encode session record: {e}")))?;
        if conn.spans_slots() {
            return self
                .write_session_ordered(&mut conn, key, rec, &json, ttl, mode)
                .await;
        }
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(WRITE_SESSION)
            .arg(2)
            .arg(self.session_key(key.as_str()))
            .arg(self.user_key(&rec.user))
            .arg(json)
            .arg(millis(ttl))
            .arg(key.as_str())
            .arg(mode);
        let written: i64 = self.bounded(&cmd, &mut conn).await?;
        Ok(written == 1)
    }
}

/// A stored record, or `None` (with a warning) if it cannot be read: a
/// corrupt record means no session, never a panic.
fn parse_record(key: &str, raw: &str) -> Option<SessionRecord> {
    match serde_json::from_str(raw) {
        Ok(rec) => Some(rec),
        Err(e) => {
            tracing::warn!(error = %e, "unreadable session record ignored");
            // A hashed key, not the session id: safe to log.
            tracing::debug!(key, "the unreadable session record");
            None
        }
    }
}

/// TTL in whole milliseconds for `PX`/`PEXPIRE`: at least 1 (Redis
/// rejects 0) and at most [`MAX_TTL_MS`].
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis())
        .unwrap_or(MAX_TTL_MS)
        .clamp(1, MAX_TTL_MS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreUrl;

    #[test]
    fn ttls_are_clamped_to_what_redis_accepts() {
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_millis(1500)), 1500);
        assert_eq!(millis(Duration::MAX), MAX_TTL_MS);
    }

    #[test]
    fn corrupt_records_are_no_session() {
        assert!(parse_record("k", "{not json").is_none());
    }

    #[tokio::test]
    async fn malformed_urls_fail_to_open_and_do_not_echo_the_url() {
        let url = StoreUrl::Redis("redis://u:pw@[bad".into());
        let err = RedisStore::open(&url, "p:", Duration::from_secs(1), 0).expect_err("malformed");
        assert!(!err.to_string().contains("pw"), "{err}");
    }
}
