//! The connection kinds behind one Redis store: one server (a
//! [`ConnectionManager`]), a Redis Cluster (the crate's
//! [`ClusterConnection`], which follows `MOVED`/`ASK`, splits multi-key
//! `MGET`/`DEL`/`UNLINK` by slot and reconnects to nodes by itself), or
//! the master Redis Sentinel names ([`SentinelConn`]).
//!
//! [`Conn`] is a `ConnectionLike`, so every command runs the same way on
//! each; what differs is whether writes that span two keys may be one
//! atomic script ([`Conn::spans_slots`]), and how `SCAN` walks the keyspace.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Client, Cmd, Pipeline, RedisFuture, RedisResult, Value};

use super::sentinel::{SentinelConn, Sentinels};

/// Where to connect; made once at open, used by every connect attempt.
// One per store, never copied around: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub(super) enum Target {
    /// One server: `redis://`, `rediss://`, `redis+unix://`.
    Single(Client),
    /// A Redis Cluster, reached through its seed nodes.
    Cluster(ClusterClient),
    /// The master the sentinels name, followed across failovers.
    Sentinel(Sentinels),
}

impl Target {
    /// Builds the target of a single-server URL. The error never contains
    /// the URL, so it cannot leak a password.
    pub(super) fn single(url: &str) -> Result<Self, String> {
        Client::open(url).map(Target::Single).map_err(|e| {
            format!("the store URL is not a valid redis://, rediss:// or redis+unix:// URL: {e}")
        })
    }

    /// Builds the target of a cluster from its seed nodes; every call and
    /// every node connection is bounded like a single server's.
    pub(super) fn cluster(seeds: &[String], timeout: Duration) -> Result<Self, String> {
        let wait_ms = u64::try_from((timeout / 4).as_millis()).unwrap_or(u64::MAX);
        ClusterClientBuilder::new(seeds.iter().map(String::as_str))
            .connection_timeout(timeout / 3)
            .response_timeout(timeout)
            // MOVED/ASK and reconnects are retried within the store
            // timeout (the overall response timeout defaults to it).
            .retries(3)
            .min_retry_wait(wait_ms / 4)
            .max_retry_wait(wait_ms)
            .build()
            .map(Target::Cluster)
            .map_err(|e| format!("the store cluster seeds are not usable: {e}"))
    }

    /// One connection attempt.
    pub(super) async fn connect(&self, timeout: Duration) -> RedisResult<Conn> {
        match self {
            Target::Single(client) => {
                ConnectionManager::new_with_config(client.clone(), manager_config(timeout))
                    .await
                    .map(Conn::Single)
            }
            Target::Cluster(client) => client.get_async_connection().await.map(Conn::Cluster),
            Target::Sentinel(sentinels) => sentinels.connect(timeout).await.map(Conn::Sentinel),
        }
    }
}

/// A live connection of either kind; clones share it.
#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(SentinelConn),
}

impl Conn {
    /// True when a session key and its user's index may sit on different
    /// servers, so no script or `MULTI` can cover both (see `ordered`).
    pub(super) fn spans_slots(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
            Conn::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
            Conn::Sentinel(c) => c.get_db(),
        }
    }
}

/// Manager settings that keep one reconnect (two tries with a backoff in
/// between) within the store timeout, and every response within it.
pub(super) fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout / 3))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_min_delay(timeout / 10)
        .set_max_delay(timeout / 4)
}
