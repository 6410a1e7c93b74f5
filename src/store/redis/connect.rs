//! Reaching Redis: the connection manager's settings, the first
//! connection (retried in the background for as long as it takes), and a
//! description of the target that is safe to log.

use std::sync::Weak;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, ConnectionAddr};

use super::Inner;

/// First pause between attempts to reach a Redis that was down at startup.
const FIRST_CONNECT_RETRY: Duration = Duration::from_millis(100);
/// Longest pause between those attempts.
const MAX_CONNECT_RETRY: Duration = Duration::from_secs(5);

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

/// Connects for the first time, retrying with backoff until it works or
/// the store is dropped. Logs a warning for the first failure and whenever
/// the reason changes, so a down Redis is one clear line, not a flood.
pub(super) async fn connect(inner: Weak<Inner>, client: Client, config: ConnectionManagerConfig) {
    let mut delay = FIRST_CONNECT_RETRY;
    let mut last_error = None;
    let mut attempts: u32 = 0;
    loop {
        let Some((target, timeout)) = inner.upgrade().map(|i| (i.target.clone(), i.timeout)) else {
            return;
        };
        attempts += 1;
        let attempt = ConnectionManager::new_with_config(client.clone(), config.clone());
        let error = match tokio::time::timeout(timeout * 2, attempt).await {
            Ok(Ok(conn)) => {
                if let Some(inner) = inner.upgrade() {
                    let _ = inner.conn.set(conn);
                    tracing::info!(store = %target, attempts, "connected to the session store");
                }
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no connection within {:?}", timeout * 2),
        };
        if last_error.as_ref() != Some(&error) {
            tracing::warn!(
                store = %target,
                error = %error,
                retry_max = ?MAX_CONNECT_RETRY,
                "session store unreachable; retrying in the background, \
                 routes that need a session answer 503 until it connects"
            );
        } else {
            tracing::debug!(store = %target, attempts, "session store still unreachable");
        }
        last_error = Some(error);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_CONNECT_RETRY);
    }
}

/// The client's target as a URL without user, password or query.
pub(super) fn describe(client: &Client) -> String {
    let info = client.get_connection_info();
    let db = info.redis_settings().db();
    match info.addr() {
        ConnectionAddr::Tcp(host, port) => format!("redis://{host}:{port}/{db}"),
        ConnectionAddr::TcpTls { host, port, .. } => format!("rediss://{host}:{port}/{db}"),
        ConnectionAddr::Unix(path) => format!("redis+unix://{}?db={db}", path.display()),
        other => other.to_string(),
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn described_targets_carry_no_credentials() {
        let tcp = Client::open("redis://alice:s3cret@cache.internal:6380/2").expect("valid");
        assert_eq!(describe(&tcp), "redis://cache.internal:6380/2");
        let unix = Client::open("redis+unix:///run/redis.sock?db=1&pass=s3cret").expect("valid");
        assert_eq!(describe(&unix), "redis+unix:///run/redis.sock?db=1");
    }
}
