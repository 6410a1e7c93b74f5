//! Reaching Redis: the first connection (retried in the background for as
//! long as it takes), and a description of the target that is safe to log.

use std::sync::Weak;
use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use super::connection::Target;
use super::Inner;

/// First pause between attempts to reach a Redis that was down at startup.
const FIRST_CONNECT_RETRY: Duration = Duration::from_millis(100);
/// Longest pause between those attempts.
const MAX_CONNECT_RETRY: Duration = Duration::from_secs(5);

/// Connects for the first time, retrying with backoff until it works or
/// the store is dropped. Logs a warning for the first failure and whenever
/// the reason changes, so a down Redis is one clear line, not a flood.
pub(super) async fn connect(inner: Weak<Inner>, target: Target) {
    let mut delay = FIRST_CONNECT_RETRY;
    let mut last_error = None;
    let mut attempts: u32 = 0;
    loop {
        let Some((described, timeout)) = inner.upgrade().map(|i| (i.target.clone(), i.timeout))
        else {
            return;
        };
        attempts += 1;
        let attempt = target.connect(timeout);
        let error = match tokio::time::timeout(timeout * 2, attempt).await {
            Ok(Ok(conn)) => {
                if let Some(inner) = inner.upgrade() {
                    let _ = inner.conn.set(conn);
                    tracing::info!(store = %described, attempts, "connected to the session store");
                }
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no connection within {:?}", timeout * 2),
        };
        if last_error.as_ref() != Some(&error) {
            tracing::warn!(
                store = %described,
                error = %error,
                retry_max = ?MAX_CONNECT_RETRY,
                "session store unreachable; retrying in the background, \
                 routes that need a session answer 503 until it connects"
            );
        } else {
            tracing::debug!(store = %described, attempts, "session store still unreachable");
        }
        last_error = Some(error);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_CONNECT_RETRY);
    }
}

/// A server's address as a URL without user, password or query.
pub(super) fn describe(info: &ConnectionInfo) -> String {
    let db = info.redis_settings().db();
    match info.addr() {
        ConnectionAddr::Tcp(host, port) => format!("redis://{host}:{port}/{db}"),
        ConnectionAddr::TcpTls { host, port, .. } => format!("rediss://{host}:{port}/{db}"),
        ConnectionAddr::Unix(path) => format!("redis+unix://{}?db={db}", path.display()),
        other => other.to_string(),
    }
}

/// Cluster seeds or sentinels as `scheme://host:port,host:port` (the
/// scheme of the first), without credentials; unparsable entries are
/// named by position only.
pub(super) fn describe_nodes(scheme: &str, nodes: &[String], suffix: &str) -> String {
    let hosts: Vec<String> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| match node.as_str().into_connection_info() {
            Ok(info) => match info.addr() {
                ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
                    format!("{host}:{port}")
                }
                other => other.to_string(),
            },
            Err(_) => format!("(node {i})"),
        })
        .collect();
    format!("{scheme}://{}{suffix}", hosts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn described_targets_carry_no_credentials() {
        let tcp = "redis://alice:s3cret@cache.internal:6380/2"
            .into_connection_info()
            .expect("valid");
        assert_eq!(describe(&tcp), "redis://cache.internal:6380/2");
        let unix = "redis+unix:///run/redis.sock?db=1&pass=s3cret"
            .into_connection_info()
            .expect("valid");
        assert_eq!(describe(&unix), "redis+unix:///run/redis.sock?db=1");
        let seeds = [
            "redis://:s3cret@10.0.0.1:7000".to_string(),
            "redis://:s3cret@10.0.0.2:7001".to_string(),
        ];
        assert_eq!(
            describe_nodes("redis-cluster", &seeds, ""),
            "redis-cluster://10.0.0.1:7000,10.0.0.2:7001"
        );
    }
}
