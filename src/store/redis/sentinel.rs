//! A master found through Redis Sentinel, followed across failovers.
//!
//! The redis crate finds the master (`SentinelClient`: asks the sentinels
//! for the master's address and checks with `ROLE` that it is one) but
//! its connections stay with the server they were opened to. So this
//! module adds the one thing missing: a [`ConnectionManager`] to the
//! current master that is swapped for a new one when calls fail the way
//! a failover makes them fail (connection lost or refused, or `READONLY`
//! from a demoted master). Until the swap, calls fail closed like any
//! store outage (503).

use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use futures_util::FutureExt;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{
    Client, Cmd, ConnectionAddr, IntoConnectionInfo, Pipeline, ProtocolVersion,
    RedisConnectionInfo, RedisError, RedisFuture, RedisResult, ServerErrorKind, TlsMode, Value,
};
use tokio::sync::{Mutex, Notify};

use super::connection::manager_config;
use crate::config::SentinelTarget;

/// Least time between two asks of the sentinels, so a burst of failing
/// calls is one rediscovery, not hundreds.
const REDISCOVER_PAUSE: Duration = Duration::from_millis(200);
/// How often the sentinels are asked even without a hint.
const SENTINEL_CHECK: Duration = Duration::from_secs(5);

/// Asks the sentinels where the master is; shared by the store's
/// connection and the cache's invalidation channel.
#[derive(Clone)]
pub(super) struct Sentinels {
    /// `SentinelClient` needs `&mut` to ask.
    client: Arc<Mutex<SentinelClient>>,
}

impl Sentinels {
    /// Parses the sentinel addresses; nothing is contacted yet.
    pub(super) fn new(target: &SentinelTarget) -> Result<Self, String> {
        let tls = match target.sentinels.first().map(|s| s.starts_with("rediss://")) {
            Some(true) => Some(TlsMode::Secure),
            _ => None,
        };
        let mut master = SentinelNodeConnectionInfo::default()
            .set_redis_connection_info(RedisConnectionInfo::default().set_db(target.db));
        if let Some(tls) = tls {
            master = master.set_tls_mode(tls);
        }
        let infos = target
            .sentinels
            .iter()
            .map(|s| s.as_str().into_connection_info())
            .collect::<RedisResult<Vec<_>>>()
            .map_err(|e| format!("a sentinel address is not a valid redis:// URL: {e}"))?;
        SentinelClient::build(
            infos,
            &target.master,
            Some(master),
            SentinelServerType::Master,
        )
        .map(|client| Sentinels {
            client: Arc::new(Mutex::new(client)),
        })
        .map_err(|e| format!("the sentinels are not usable: {e}"))
    }

    /// A client for the current master, as the sentinels and the master
    /// itself (`ROLE`) agree; `resp3` for the invalidation channel.
    pub(super) async fn master(&self, timeout: Duration, resp3: bool) -> RedisResult<Client> {
        let ask = async {
            let client = self.client.lock().await.async_get_client().await?;
            if !resp3 {
                return Ok(client);
            }
            let info = client.get_connection_info().clone();
            let settings = info
                .redis_settings()
                .clone()
                .set_protocol(ProtocolVersion::RESP3);
            Client::open(info.set_redis_settings(settings))
        };
        match tokio::time::timeout(timeout, ask).await {
            Ok(result) => result,
            Err(_) => Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the sentinels did not name a master in time",
            ))),
        }
    }

    /// Connects to the current master and starts following it.
    pub(super) async fn connect(&self, timeout: Duration) -> RedisResult<SentinelConn> {
        let client = self.master(timeout, false).await?;
        let addr = address(&client);
        let manager = ConnectionManager::new_with_config(client, manager_config(timeout)).await?;
        let shared = Arc::new(Follow {
            current: ArcSwap::from_pointee(Current { addr, manager }),
            stale: Notify::new(),
        });
        tokio::spawn(follow(Arc::downgrade(&shared), self.clone(), timeout));
        Ok(SentinelConn { shared })
    }
}

/// The connection to whichever server is the master now.
#[derive(Clone)]
pub(super) struct SentinelConn {
    shared: Arc<Follow>,
}

struct Follow {
    current: ArcSwap<Current>,
    /// Woken by a call that failed the way a failover makes calls fail.
    stale: Notify,
}

struct Current {
    /// `host:port` of the master this manager talks to.
    addr: String,
    manager: ConnectionManager,
}

impl SentinelConn {
    fn manager(&self) -> ConnectionManager {
        self.shared.current.load().manager.clone()
    }

    /// Passes a call's result through, asking for a rediscovery when it
    /// looks like the master moved.
    fn watch<T>(shared: &Follow, result: RedisResult<T>) -> RedisResult<T> {
        if let Err(e) = &result {
            if e.is_connection_dropped()
                || e.is_connection_refusal()
                || e.is_io_error()
                || e.is_timeout()
                || matches!(
                    e.kind(),
                    redis::ErrorKind::Server(ServerErrorKind::ReadOnly)
                )
            {
                shared.stale.notify_one();
            }
        }
        result
    }
}

impl ConnectionLike for SentinelConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let mut manager = self.manager();
        async move {
            let result = manager.req_packed_command(cmd).await;
            Self::watch(&self.shared, result)
        }
        .boxed()
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let mut manager = self.manager();
        async move {
            let result = manager.req_packed_commands(pipeline, offset, count).await;
            Self::watch(&self.shared, result)
        }
        .boxed()
    }

    fn get_db(&self) -> i64 {
        self.shared.current.load().manager.get_db()
    }
}

/// Runs while the connection exists: on every hint that the master moved,
/// and every [`SENTINEL_CHECK`] in any case (a demoted master that still
/// answers reads gives no hint), asks the sentinels; when they name
/// another server, connects to it and swaps it in.
async fn follow(shared: Weak<Follow>, sentinels: Sentinels, timeout: Duration) {
    loop {
        let Some(strong) = shared.upgrade() else {
            return;
        };
        // Holds the store's connection at most SENTINEL_CHECK after its drop.
        let _ = tokio::time::timeout(SENTINEL_CHECK, strong.stale.notified()).await;
        match sentinels.master(timeout, false).await {
            Ok(client) => {
                let addr = address(&client);
                if addr != strong.current.load().addr {
                    let connect =
                        ConnectionManager::new_with_config(client, manager_config(timeout));
                    match tokio::time::timeout(timeout, connect).await {
                        Ok(Ok(manager)) => {
                            tracing::warn!(master = %addr, "session store master changed (Sentinel failover); following it");
                            strong.current.store(Arc::new(Current { addr, manager }));
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(master = %addr, error = %e, "cannot reach the new master yet");
                            strong.stale.notify_one();
                        }
                        Err(_) => {
                            tracing::debug!(master = %addr, "cannot reach the new master yet");
                            strong.stale.notify_one();
                        }
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "the sentinels named no master yet");
                // Try again after the pause: the failover may be under way.
                strong.stale.notify_one();
            }
        }
        drop(strong);
        tokio::time::sleep(REDISCOVER_PAUSE).await;
    }
}

/// `host:port` of a client's server.
fn address(client: &Client) -> String {
    match client.get_connection_info().addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            format!("{host}:{port}")
        }
        other => other.to_string(),
    }
}
