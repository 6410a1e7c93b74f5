//! Opening a Redis store: which connection kind the config asks for, and
//! whether the hot-path cache may run on it (only with an invalidation
//! channel: fail closed).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use redis::{Client, ProtocolVersion};

use super::connect::{connect, describe, describe_nodes};
use super::connection::Target;
use super::{invalidation, sentinel, Inner, RedisStore};
use crate::config::StoreUrl;
use crate::store::cache::SessionCache;
use crate::store::StoreError;

impl RedisStore {
    /// Parses the target and starts connecting in the background; see
    /// [`crate::store::SessionStore::open`]. Fails only for a malformed
    /// target or when called outside a tokio runtime. `url` must not be
    /// [`StoreUrl::Memory`].
    pub fn open(
        url: &StoreUrl,
        prefix: &str,
        timeout: Duration,
        cache_capacity: usize,
    ) -> Result<Self, StoreError> {
        let (target, described) = match url {
            StoreUrl::Redis(url) => {
                let target = Target::single(url).map_err(StoreError::Backend)?;
                let Target::Single(client) = &target else {
                    unreachable!("a single-server target");
                };
                let described = describe(client.get_connection_info());
                (target, described)
            }
            StoreUrl::Cluster(seeds) => (
                Target::cluster(seeds, timeout).map_err(StoreError::Backend)?,
                describe_nodes("redis-cluster", seeds, ""),
            ),
            StoreUrl::Sentinel(t) => (
                Target::Sentinel(sentinel::Sentinels::new(t).map_err(StoreError::Backend)?),
                describe_nodes(
                    "redis+sentinel",
                    &t.sentinels,
                    &format!("/{}/{}", t.master, t.db),
                ),
            ),
            StoreUrl::Memory => {
                return Err(StoreError::Backend(
                    "not a Redis store target this build can open".into(),
                ))
            }
        };
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            StoreError::Backend("the Redis store must be opened inside a tokio runtime".into())
        })?;
        let cache = match &target {
            _ if cache_capacity == 0 => None,
            Target::Single(client) => {
                let cache = Arc::new(SessionCache::new(cache_capacity));
                // Invalidations arrive as RESP3 pushes on a connection of their own.
                let info = client.get_connection_info().clone();
                let resp3 = info
                    .redis_settings()
                    .clone()
                    .set_protocol(ProtocolVersion::RESP3);
                let tracking = Client::open(info.set_redis_settings(resp3))
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                runtime.spawn(invalidation::listen(
                    invalidation::Source::Fixed(tracking),
                    Arc::downgrade(&cache),
                    format!("{prefix}s:"),
                    timeout,
                ));
                Some(cache)
            }
            // The channel asks the sentinels for the master at every
            // (re)connect and checks `ROLE` in its heartbeat, so after a
            // failover it moves to the new master (emptying the cache).
            Target::Sentinel(sentinels) => {
                let cache = Arc::new(SessionCache::new(cache_capacity));
                runtime.spawn(invalidation::listen(
                    invalidation::Source::Sentinel(sentinels.clone()),
                    Arc::downgrade(&cache),
                    format!("{prefix}s:"),
                    timeout,
                ));
                Some(cache)
            }
            // Fail closed: a cache is only allowed with an invalidation
            // channel, and on a cluster that would be one tracking
            // connection per master, kept in step with resharding and
            // failover. Not worth it yet: every lookup asks the cluster.
            Target::Cluster(_) => {
                tracing::info!(
                    store = %described,
                    "session cache off on Redis Cluster (no invalidation channel); \
                     every lookup asks the cluster"
                );
                None
            }
        };
        let inner = Arc::new(Inner {
            conn: OnceLock::new(),
            prefix: prefix.to_owned(),
            timeout,
            target: described,
            cache,
        });
        runtime.spawn(connect(Arc::downgrade(&inner), target));
        Ok(RedisStore { inner })
    }
}
