//! One round trip to Redis, bounded by the store timeout, and what its
//! errors mean to callers.

use std::future::Future;

use redis::RedisError;

use super::connection::Conn;
use super::RedisStore;
use crate::store::StoreError;

impl RedisStore {
    /// The connection, or `Unavailable` while the first connect is pending.
    pub(super) fn conn(&self) -> Result<Conn, StoreError> {
        self.inner
            .conn
            .get()
            .cloned()
            .ok_or(StoreError::Unavailable)
    }

    /// One round trip (a command or a pipeline), bounded by the timeout.
    ///
    /// A connection that broke while idle (Redis restarted, failed over,
    /// or closed it) fails its next call, and the manager starts
    /// reconnecting; one retry on the fresh connection spares that request
    /// a 503. Only for queries that are safe to run twice: every one except
    /// the failure counter's `INCR`, which uses [`Self::bounded_once`].
    pub(super) async fn bounded<T: redis::FromRedisValue>(
        &self,
        query: &(impl RoundTrip + ?Sized),
        conn: &mut Conn,
    ) -> Result<T, StoreError> {
        self.within_timeout(self.retried(query, conn)).await
    }

    /// [`Self::bounded`] without its own timeout: for one step of a
    /// sequence that [`Self::within_timeout`] bounds as a whole.
    pub(super) async fn retried<T: redis::FromRedisValue>(
        &self,
        query: &(impl RoundTrip + ?Sized),
        conn: &mut Conn,
    ) -> Result<T, StoreError> {
        let result = match query.run(conn).await {
            Err(e) if e.is_connection_dropped() => {
                tracing::debug!(store = %self.inner.target, error = %e, "retrying once on a new connection");
                query.run(conn).await
            }
            other => other,
        };
        result.map_err(|e| self.failed(e))
    }

    /// Like [`Self::bounded`] but never retried: for queries that must not
    /// run twice.
    pub(super) async fn bounded_once<T: redis::FromRedisValue>(
        &self,
        query: &(impl RoundTrip + ?Sized),
        conn: &mut Conn,
    ) -> Result<T, StoreError> {
        self.within_timeout(async { query.run(conn).await.map_err(|e| self.failed(e)) })
            .await
    }

    /// Bounds a whole operation by the store timeout.
    pub(super) async fn within_timeout<T>(
        &self,
        op: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.inner.timeout, op).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Timeout(self.inner.timeout)),
        }
    }

    /// Maps a Redis error; the manager has already started reconnecting if
    /// the connection broke.
    pub(super) fn failed(&self, e: RedisError) -> StoreError {
        tracing::debug!(store = %self.inner.target, error = %e, "session store call failed");
        if e.is_timeout() {
            StoreError::Timeout(self.inner.timeout)
        } else if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
            StoreError::Unavailable
        } else {
            StoreError::Backend(e.to_string())
        }
    }
}

/// A command or pipeline: something that is one round trip to Redis.
pub(super) trait RoundTrip {
    fn run<T: redis::FromRedisValue>(
        &self,
        conn: &mut Conn,
    ) -> impl Future<Output = redis::RedisResult<T>> + Send;
}

impl RoundTrip for redis::Cmd {
    fn run<T: redis::FromRedisValue>(
        &self,
        conn: &mut Conn,
    ) -> impl Future<Output = redis::RedisResult<T>> + Send {
        self.query_async(conn)
    }
}

impl RoundTrip for redis::Pipeline {
    fn run<T: redis::FromRedisValue>(
        &self,
        conn: &mut Conn,
    ) -> impl Future<Output = redis::RedisResult<T>> + Send {
        self.query_async(conn)
    }
}
