//! The listeners: accept loops for the TLS listener, the optional plain
//! redirect listener and the optional admin listener, and the drain on
//! shutdown. The library binds nothing and installs no signal handlers:
//! [`run`] takes bound listeners and a shutdown future.

mod activity;
mod conn;

pub use activity::InFlight;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, ConfigError};
use crate::proxy::Gateway;
use crate::{admin, redirect, tls};

/// Sockets bound by the caller (`main`, or a test on port 0).
pub struct Listeners {
    pub https: TcpListener,
    pub http: Option<TcpListener>,
    pub admin: Option<TcpListener>,
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the session store: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// Serves until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish within `timeouts.shutdown_drain`, and returns.
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let acceptor = TlsAcceptor::from(tls::server_config(&config.tls)?);
    let gateway = Arc::new(Gateway::new(config)?);
    let config = gateway.config();
    let draining = CancellationToken::new();
    let tracker = TaskTracker::new();

    log_startup(config, &listeners);
    let ctx = Arc::new(conn::ConnContext {
        gateway: gateway.clone(),
        acceptor,
        draining: draining.clone(),
    });
    // Redirect to the port actually bound (the config may say `:0`).
    let https_port = listeners
        .https
        .local_addr()
        .map_or(config.listen.https.port(), |addr| addr.port());
    tracker.spawn(accept_tls(listeners.https, ctx, tracker.clone()));
    if let Some(listener) = listeners.http {
        tracker.spawn(redirect::serve(listener, https_port, draining.clone()));
    }
    // The admin listener outlives the drain, so that `/readyz` can say 503.
    let stopped = CancellationToken::new();
    if let Some(listener) = listeners.admin {
        tokio::spawn(admin::serve(listener, gateway.clone(), stopped.clone()));
    }

    shutdown.await;
    tracing::info!(
        drain = ?config.timeouts.shutdown_drain,
        "shutting down: no new connections; finishing requests in flight"
    );
    gateway.start_draining();
    draining.cancel();
    tracker.close();
    if tokio::time::timeout(config.timeouts.shutdown_drain, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("drain time is up; closing the remaining connections");
    }
    stopped.cancel();
    tracing::info!("stopped");
    Ok(())
}

async fn accept_tls(listener: TcpListener, ctx: Arc<conn::ConnContext>, tracker: TaskTracker) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = ctx.draining.cancelled() => return,
        };
        match accepted {
            Ok((tcp, peer)) => {
                tracker.spawn(conn::serve(ctx.clone(), tcp, peer));
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

fn log_startup(config: &Config, listeners: &Listeners) {
    let addr = |l: &TcpListener| l.local_addr().map(|a| a.to_string()).unwrap_or_default();
    tracing::info!(
        https = %addr(&listeners.https),
        http = listeners.http.as_ref().map(addr).unwrap_or_default(),
        admin = listeners.admin.as_ref().map(addr).unwrap_or_default(),
        config = %config.path.display(),
        "gatehouse listening"
    );
    for route in &config.routes {
        tracing::info!(
            host = route.host.as_deref().unwrap_or("*"),
            path = %route.path,
            upstream = %route.upstream,
            auth = ?route.auth,
            "route"
        );
    }
}
