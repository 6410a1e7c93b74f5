//! Waiting for something to become true, to a deadline, instead of sleeping.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How long [`eventually`] keeps trying.
pub const DEADLINE: Duration = Duration::from_secs(15);
/// How often [`eventually`] looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Polls `check` until it holds, failing the test after [`DEADLINE`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + DEADLINE;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {DEADLINE:?}");
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
