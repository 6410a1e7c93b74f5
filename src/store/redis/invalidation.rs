//! Keeps the hot-path cache honest: a dedicated RESP3 connection with
//! `CLIENT TRACKING ON BCAST PREFIX <key_prefix>s:` receives an
//! `invalidate` push for every change to any session key, by any instance
//! (logout, revocation, touch, expiry), and a flush-all for `FLUSHALL`.
//! A heartbeat notices a silent connection; whenever the channel is down
//! the cache is emptied and bypassed. Behind Sentinel, every (re)connect
//! asks the sentinels for the master, and the heartbeat (`ROLE`) drops a
//! channel whose server is no longer the master.

use std::sync::Arc;
use std::time::Duration;

use redis::{AsyncConnectionConfig, Client, PushKind, Value};
use tokio::sync::mpsc;

use super::sentinel::Sentinels;
use crate::store::cache::SessionCache;

/// Where the channel connects.
// One per store, never copied around: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
pub(super) enum Source {
    /// One server, always the same.
    Fixed(Client),
    /// Whichever server the sentinels name as master at each connect.
    Sentinel(Sentinels),
}

impl Source {
    async fn client(&self, timeout: Duration) -> Result<Client, String> {
        match self {
            Source::Fixed(client) => Ok(client.clone()),
            Source::Sentinel(sentinels) => sentinels
                .master(timeout, true)
                .await
                .map_err(|e| e.to_string()),
        }
    }
}

/// How often the channel proves it is alive.
const HEARTBEAT: Duration = Duration::from_millis(500);
/// Pause before reconnecting a lost channel.
const RECONNECT_DELAY: Duration = Duration::from_millis(250);

/// Runs for as long as the cache exists (it holds only a weak reference).
pub(super) async fn listen(
    source: Source,
    cache: std::sync::Weak<SessionCache>,
    session_prefix: String,
    timeout: Duration,
) {
    loop {
        let Some(strong) = cache.upgrade() else {
            return;
        };
        if let Err(e) = track(&source, &strong, &session_prefix, timeout).await {
            tracing::debug!(error = %e, "invalidation channel down; session cache bypassed");
        }
        strong.set_live(false);
        drop(strong);
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

/// One life of the channel: connect, enable tracking, apply invalidations
/// until the connection fails.
async fn track(
    source: &Source,
    cache: &Arc<SessionCache>,
    session_prefix: &str,
    timeout: Duration,
) -> Result<(), String> {
    let (tx, mut pushes) = mpsc::unbounded_channel();
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_push_sender(tx);
    let client = source.client(timeout).await?;
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| e.to_string())?;
    let _: () = redis::cmd("CLIENT")
        .arg("TRACKING")
        .arg("ON")
        .arg("BCAST")
        .arg("PREFIX")
        .arg(session_prefix)
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    cache.set_live(true);
    tracing::debug!("invalidation channel up; session cache live");

    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            push = pushes.recv() => match push {
                Some(push) if push.kind == PushKind::Invalidate => {
                    apply(cache, session_prefix, &push.data);
                }
                Some(push) if push.kind == PushKind::Disconnection => {
                    return Err("disconnected".into());
                }
                Some(_) => {}
                None => return Err("push channel closed".into()),
            },
            _ = heartbeat.tick() => {
                let (probe, want) = match source {
                    Source::Fixed(_) => ("PING", "PONG"),
                    Source::Sentinel(_) => ("ROLE", "master"),
                };
                let cmd = redis::cmd(probe);
                let ask = cmd.query_async::<Value>(&mut conn);
                match tokio::time::timeout(timeout, ask).await {
                    Ok(Ok(reply)) if first_word(&reply) == Some(want) => {}
                    Ok(Ok(_)) => return Err(format!("{probe} did not answer {want}")),
                    Ok(Err(e)) => return Err(e.to_string()),
                    Err(_) => return Err("heartbeat timed out".into()),
                }
            }
        }
    }
}

/// `PONG` of a `PING`, or the role in a `ROLE` reply.
fn first_word(reply: &Value) -> Option<&str> {
    match reply {
        Value::SimpleString(s) => Some(s),
        Value::BulkString(b) => std::str::from_utf8(b).ok(),
        Value::Array(items) => items.first().and_then(first_word),
        _ => None,
    }
}

/// An `invalidate` push carries the changed keys, or nil for a flush.
fn apply(cache: &SessionCache, session_prefix: &str, data: &[Value]) {
    match data.first() {
        Some(Value::Array(keys)) | Some(Value::Set(keys)) => {
            for key in keys {
                let name = match key {
                    Value::BulkString(bytes) => String::from_utf8_lossy(bytes),
                    Value::SimpleString(s) => s.as_str().into(),
                    _ => {
                        cache.clear();
                        return;
                    }
                };
                match name.strip_prefix(session_prefix) {
                    Some(session) => cache.invalidate(session),
                    // Not a key we know how to map: forget everything.
                    None => cache.clear(),
                }
            }
        }
        _ => cache.clear(),
    }
}
