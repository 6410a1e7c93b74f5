//! Reload on request (SIGHUP in `main`): the config, the users file and the
//! certificates are read again and swapped in at once; anything wrong keeps
//! the old generation serving.

use std::sync::Arc;

use super::{log_routes, Shared};
use crate::config::{self, Config};
use crate::proxy::Gateway;

/// Builds the next generation from the same config file and swaps it in,
/// or logs why not. Requests in flight finish on the generation they
/// started with; open connections stay open.
pub async fn apply(shared: &Shared) {
    let current = shared.gateway.load_full();
    let path = current.config().path.clone();
    // File reads and the users file's dummy hash are blocking work.
    let build = {
        let path = path.clone();
        move || {
            let config = config::load(&path)?;
            warn_about_restart_only_changes(current.config(), &config);
            Gateway::new(config, Some(&current), current.metrics())
        }
    };
    let next = match tokio::task::spawn_blocking(build).await {
        Ok(next) => next,
        Err(e) => {
            tracing::error!("reload failed: {e}");
            return;
        }
    };
    match next {
        Ok(gateway) => {
            shared.gateway.store(Arc::new(gateway));
            tracing::info!(config = %path.display(), "reloaded");
            log_routes(shared.gateway.load().config());
        }
        Err(e) => tracing::error!("reload refused, the previous config keeps serving: {e}"),
    }
}

/// Listeners and worker threads are set up once; say so when they changed.
fn warn_about_restart_only_changes(old: &Config, new: &Config) {
    let listen = |c: &Config| (c.listen.https, c.listen.http, c.listen.admin);
    if listen(old) != listen(new) {
        tracing::warn!("[listen] changed: the new addresses take effect after a restart");
    }
    if old.server.workers != new.server.workers {
        tracing::warn!("[server] workers changed: takes effect after a restart");
    }
}
