//! Keeps the hot-path cache honest: a dedicated RESP3 connection with
//! `CLIENT TRACKING ON BCAST PREFIX <key_prefix>s:` receives an
//! `invalidate` push for every change to any session key, by any instance
//! (logout, revocation, touch, expiry), and a flush-all for `FLUSHALL`.
//! A heartbeat notices a silent connection; whenever the channel is down
//! the cache is emptied and bypassed.

use std::sync::Arc;
use std::time::Duration;

use redis::{AsyncConnectionConfig, Client, PushKind, Value};
use tokio::sync::mpsc;

use crate::store::cache::SessionCache;

/// How often the channel proves it is alive.
const HEARTBEAT: Duration = Duration::from_millis(500);
/// Pause before reconnecting a lost channel.
const RECONNECT_DELAY: Duration = Duration::from_millis(250);

/// Runs for as long as the cache exists (it holds only a weak reference).
pub(super) async fn listen(
    client: Client,
    cache: std::sync::Weak<SessionCache>,
    session_prefix: String,
    timeout: Duration,
) {
    loop {
        let Some(strong) = cache.upgrade() else {
            return;
        };
        if let Err(e) = track(&client, &strong, &session_prefix, timeout).await {
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
    client: &Client,
    cache: &Arc<SessionCache>,
    session_prefix: &str,
    timeout: Duration,
) -> Result<(), String> {
    let (tx, mut pushes) = mpsc::unbounded_channel();
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_push_sender(tx);
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
                let ping = redis::cmd("PING");
                match tokio::time::timeout(timeout, ping.query_async::<String>(&mut conn)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(e.to_string()),
                    Err(_) => return Err("heartbeat timed out".into()),
                }
            }
        }
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
