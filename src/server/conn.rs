//! One client connection: TLS handshake under its timeout, then HTTP/1.1 or
//! HTTP/2 (by ALPN, via hyper-util's auto builder) until the client leaves,
//! a client-side timeout fires, or the proxy drains.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::activity::{Activity, Tracked, Verdict};
use super::Shared;
use crate::proxy::Peer;

/// Serves one accepted TCP connection to completion. The connection's TLS
/// and timeouts come from the config generation current at accept; each
/// request takes the generation current when it starts.
pub async fn serve(
    shared: Arc<Shared>,
    draining: CancellationToken,
    tcp: TcpStream,
    peer: SocketAddr,
) {
    let _open = shared.metrics.connection_opened();
    let _ = tcp.set_nodelay(true);
    let generation = shared.gateway.load_full();
    let timeouts = generation.config().timeouts.clone();
    let acceptor = TlsAcceptor::from(generation.tls());
    drop(generation);
    let tls = match tokio::time::timeout(timeouts.tls_handshake, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };

    let activity = Activity::new();
    let service_activity = activity.clone();
    let client = Peer::new(peer);
    let service = service_fn(move |req| {
        let in_flight = service_activity.request_started();
        let gateway = shared.gateway.load_full();
        let client = client.clone();
        // Boxed: the request's future is large, and hyper moves it (into an
        // HTTP/2 stream's task, for one) several times per request.
        Box::pin(async move { Ok::<_, Infallible>(gateway.handle(req, &client, in_flight).await) })
    });

    // Room past `max_header_bytes`, so that a head just over it reaches the
    // request filter and gets the proxy's own 431 (JSON or HTML, HSTS)
    // instead of hyper's or h2's bare one; heads over twice the limit still
    // get the bare 431.
    let head_room = timeouts.max_header_bytes.saturating_mul(2);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // Client-side timeouts are the watchdog's job (see `activity`): hyper's
        // own header timer would also close idle keep-alive connections.
        .header_read_timeout(None)
        .max_buf_size(head_room.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(head_room).unwrap_or(u32::MAX));
    let io = TokioIo::new(Tracked::new(tls, activity.clone()));
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(conn);

    let client_header = timeouts.client_header;
    let idle = timeouts.keep_alive_idle;
    let mut closing = false;
    loop {
        let check_at = match activity.verdict(client_header, idle) {
            Verdict::CheckAt(at) => at,
            Verdict::HeaderTimeout => {
                tracing::debug!(%peer, "request head not received in time; closing");
                return;
            }
            Verdict::Idle if closing => return,
            Verdict::Idle => {
                closing = true;
                conn.as_mut().graceful_shutdown();
                tokio::time::Instant::now() + idle
            }
        };
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = draining.cancelled(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep_until(check_at) => {}
        }
    }
}
