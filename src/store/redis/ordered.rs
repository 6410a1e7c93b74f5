//! Session writes on a Redis Cluster, where no script or `MULTI` can cover
//! a session key and its user's index set.
//!
//! Why not hash tags: the two keys would have to share a slot, and the
//! only thing a request knows is the session id (the cookie), so the
//! session key cannot carry the user name; tagging every key of a user
//! with the session hash is impossible for a set of many sessions. So the
//! writes are split, one key at a time, in an order that keeps the one
//! promise that matters: **a live session is always in its user's index**,
//! so "log out everywhere" finds every session. A stale index entry (a
//! member whose session is gone) is harmless: readers skip it, it is
//! cleaned lazily, and the set expires after its longest session.
//!
//! - insert: index, `SET`, index again. A crash after the first index
//!   leaves at most a stale entry. The second index repairs a concurrent
//!   clean-up (below) that removed the entry before the `SET` landed.
//! - touch: `SET … XX`, then index (extends the set's TTL; re-adding an
//!   existing member is a no-op).
//! - remove: `DEL` the session, then `SREM` it: a crash in between leaves
//!   a stale entry; ids are never reused, so nothing can revive it.
//! - remove_user: `SMEMBERS`, `DEL` those sessions, then [`unindex`](RedisStore::unindex).
//! - unindex (also the lazy clean-up in `list`): `SREM` the members, then
//!   read their sessions again and re-index any that is live. A login
//!   racing the clean-up either `SET` its session before that re-read (and
//!   is re-indexed here) or after it, and then its own second index step
//!   comes after our `SREM` and wins.
//!
//! What is lost against a single server: a crash of *this process* in the
//! middle of one of these sequences, while another instance runs a
//! clean-up of the same user, can leave a live session unindexed. That
//! takes two faults at once; the session still ends at its TTL.

use std::time::Duration;

use super::connection::Conn;
use super::{millis, RedisStore, SCAN_BATCH};
use crate::session::SessionKey;
use crate::store::{SessionRecord, StoreError};

/// Adds a member to a user's index and makes the set live at least as long
/// as that session. One key, so one script on the set's own slot.
/// KEYS: user set. ARGV: member, TTL in ms.
const INDEX_SESSION: &str = r"
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
";

impl RedisStore {
    /// `WRITE_SESSION` without atomicity: see the module docs for the order.
    /// `mode` is `"XX"` for touch, `""` for insert; returns whether written.
    pub(super) async fn write_session_ordered(
        &self,
        conn: &mut Conn,
        key: &SessionKey,
        rec: &SessionRecord,
        json: &str,
        ttl: Duration,
        mode: &str,
    ) -> Result<bool, StoreError> {
        let session_key = self.session_key(key.as_str());
        let user_key = self.user_key(&rec.user);
        let mut set = redis::cmd("SET");
        set.arg(&session_key).arg(json).arg("PX").arg(millis(ttl));
        self.within_timeout(async {
            if mode == "XX" {
                set.arg("XX");
                let written: Option<String> = self.retried(&set, conn).await?;
                if written.is_none() {
                    return Ok(false);
                }
                self.index(conn, &user_key, key.as_str(), ttl).await?;
                return Ok(true);
            }
            self.index(conn, &user_key, key.as_str(), ttl).await?;
            let _: Option<String> = self.retried(&set, conn).await?;
            self.index(conn, &user_key, key.as_str(), ttl).await?;
            Ok(true)
        })
        .await
    }

    /// One logout: `DEL` the session, then drop it from the index.
    pub(super) async fn remove_ordered(
        &self,
        conn: &mut Conn,
        key: &SessionKey,
        user: &str,
    ) -> Result<(), StoreError> {
        self.within_timeout(async {
            let _: usize = self
                .retried(redis::cmd("DEL").arg(self.session_key(key.as_str())), conn)
                .await?;
            let _: usize = self
                .retried(
                    redis::cmd("SREM")
                        .arg(self.user_key(user))
                        .arg(key.as_str()),
                    conn,
                )
                .await?;
            Ok(())
        })
        .await
    }

    /// Logout everywhere: every indexed session is deleted first, then the
    /// index is cleaned; returns how many sessions were still alive.
    pub(super) async fn remove_user_ordered(
        &self,
        conn: &mut Conn,
        user: &str,
    ) -> Result<usize, StoreError> {
        let user_key = self.user_key(user);
        let result = self
            .within_timeout(async {
                let members: Vec<String> = self
                    .retried(redis::cmd("SMEMBERS").arg(&user_key), conn)
                    .await?;
                let mut removed = 0;
                for batch in members.chunks(SCAN_BATCH) {
                    let keys: Vec<String> = batch.iter().map(|m| self.session_key(m)).collect();
                    // The crate splits a multi-slot DEL by slot and sums.
                    let n: usize = self.retried(redis::cmd("DEL").arg(&keys), conn).await?;
                    removed += n;
                }
                Ok((removed, members))
            })
            .await;
        let (removed, members) = result?;
        if members.is_empty() {
            return Ok(0);
        }
        for member in &members {
            self.forget(member);
        }
        self.within_timeout(self.unindex(conn, &user_key, &members))
            .await?;
        Ok(removed)
    }

    /// Drops `members` from a user's index, then re-indexes any whose
    /// session is live after all (a login that raced this clean-up).
    /// Unbounded: callers bound it.
    pub(super) async fn unindex(
        &self,
        conn: &mut Conn,
        user_key: &str,
        members: &[String],
    ) -> Result<(), StoreError> {
        for batch in members.chunks(SCAN_BATCH) {
            let _: usize = self
                .retried(redis::cmd("SREM").arg(user_key).arg(batch), conn)
                .await?;
            let keys: Vec<String> = batch.iter().map(|m| self.session_key(m)).collect();
            let alive: Vec<Option<String>> =
                self.retried(redis::cmd("MGET").arg(&keys), conn).await?;
            for (i, _) in alive.iter().enumerate().filter(|(_, v)| v.is_some()) {
                let pttl: i64 = self.retried(redis::cmd("PTTL").arg(&keys[i]), conn).await?;
                if let Ok(ms) = u64::try_from(pttl) {
                    let ttl = Duration::from_millis(ms);
                    self.index(conn, user_key, &batch[i], ttl).await?;
                }
            }
        }
        Ok(())
    }

    /// Runs [`INDEX_SESSION`].
    async fn index(
        &self,
        conn: &mut Conn,
        user_key: &str,
        member: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(INDEX_SESSION)
            .arg(1)
            .arg(user_key)
            .arg(member)
            .arg(millis(ttl));
        let _: i64 = self.retried(&cmd, conn).await?;
        Ok(())
    }
}
