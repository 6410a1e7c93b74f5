//! The listeners: accept loops for the TLS listener, the optional plain
//! redirect listener and the optional admin listener; reloads; and the
//! drain on shutdown. The library binds nothing and installs no signal
//! handlers: [`run`] takes bound listeners, a shutdown future and a channel
//! of reload requests.

mod activity;
mod conn;
mod reload;

pub use activity::InFlight;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{Config, ConfigError};
use crate::metrics::Metrics;
use crate::proxy::Gateway;
use crate::{admin, redirect};

/// Sockets bound by the caller (`main`, or a test on port 0).
pub struct Listeners {
    pub https: TcpListener,
    pub http: Option<TcpListener>,
    pub admin: Option<TcpListener>,
}

/// Why the proxy could not start (or a reload was refused).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the session store: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// What every listener shares, across reloads.
pub struct Shared {
    /// The current config generation; requests take it at their start, so
    /// a reload never changes a request half-way.
    pub gateway: ArcSwap<Gateway>,
    pub metrics: Arc<Metrics>,
    /// Set when shutdown begins, so that readiness turns false at once.
    draining: AtomicBool,
}

impl Shared {
    /// Ready for traffic: not draining, and the session store answers.
    pub async fn ready(&self) -> bool {
        !self.draining.load(Ordering::Acquire) && self.gateway.load_full().store_reachable().await
    }
}

/// Serves until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish within `timeouts.shutdown_drain`, and returns. Each
/// message on `reloads` re-reads the config, users file and certificates.
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
    mut reloads: mpsc::Receiver<()>,
) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::default());
    let gateway = Gateway::new(config, None, metrics.clone())?;
    log_startup(gateway.config(), &listeners);
    let shared = Arc::new(Shared {
        gateway: ArcSwap::from_pointee(gateway),
        metrics,
        draining: AtomicBool::new(false),
    });
    let draining = CancellationToken::new();
    let tracker = TaskTracker::new();

    // Redirect to the port actually bound (the config may say `:0`).
    let https_port = listeners.https.local_addr().map_or_else(
        |_| shared.gateway.load().config().listen.https.port(),
        |addr| addr.port(),
    );
    tracker.spawn(accept_tls(
        listeners.https,
        shared.clone(),
        draining.clone(),
        tracker.clone(),
    ));
    if let Some(listener) = listeners.http {
        tracker.spawn(redirect::serve(listener, https_port, draining.clone()));
    }
    // The admin listener outlives the drain, so that `/readyz` can say 503.
    let stopped = CancellationToken::new();
    if let Some(listener) = listeners.admin {
        tokio::spawn(admin::serve(listener, shared.clone(), stopped.clone()));
    }

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(()) = reloads.recv() => reload::apply(&shared).await,
        }
    }

    let drain = shared.gateway.load().config().timeouts.shutdown_drain;
    tracing::info!(
        ?drain,
        "shutting down: no new connections; finishing requests in flight"
    );
    shared.draining.store(true, Ordering::Release);
    draining.cancel();
    tracker.close();
    if tokio::time::timeout(drain, tracker.wait()).await.is_err() {
        tracing::warn!("drain time is up; closing the remaining connections");
    }
    stopped.cancel();
    tracing::info!("stopped");
    Ok(())
}

async fn accept_tls(
    listener: TcpListener,
    shared: Arc<Shared>,
    draining: CancellationToken,
    tracker: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = draining.cancelled() => return,
        };
        match accepted {
            Ok((tcp, peer)) => {
                tracker.spawn(conn::serve(shared.clone(), draining.clone(), tcp, peer));
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
    log_routes(config);
}

/// One line per route, at startup and after each reload.
fn log_routes(config: &Config) {
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
