//! Talking to upstreams: a pooled keep-alive client per connect timeout,
//! the response timeout, and the WebSocket tunnel after a `101`.

use std::collections::HashMap;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use crate::body::Body;
use crate::config::Route;
use crate::error::ProxyError;

/// How long an unused upstream connection stays in the pool.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A pooled keep-alive client to a route's upstream.
#[derive(Clone, Debug)]
pub struct Upstream {
    client: Client<HttpConnector, Body>,
}

/// One [`Upstream`] per route, in the order of `routes`; routes with the
/// same connect timeout (the connector owns it) share one pool.
pub fn for_routes(routes: &[Route]) -> Vec<Upstream> {
    let mut clients: HashMap<Duration, Client<HttpConnector, Body>> = HashMap::new();
    routes
        .iter()
        .map(|route| Upstream {
            client: clients
                .entry(route.connect_timeout)
                .or_insert_with(|| client(route.connect_timeout))
                .clone(),
        })
        .collect()
}

impl Upstream {
    /// Sends `req` (its URI already absolute, pointing at the upstream) and
    /// waits for the response head at most `route.response_timeout`.
    pub async fn send(
        &self,
        route: &Route,
        req: Request<Body>,
    ) -> Result<Response<Incoming>, ProxyError> {
        match tokio::time::timeout(route.response_timeout, self.client.request(req)).await {
            Err(_) => Err(ProxyError::UpstreamTimeout),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => {
                if caused_by::<http_body_util::LengthLimitError>(&e) {
                    return Err(ProxyError::BodyTooLarge);
                }
                if caused_by::<ClientBodyError>(&e) {
                    tracing::debug!(error = %error_chain(&e), "client request body failed");
                    return Err(ProxyError::BadRequest("request body"));
                }
                tracing::warn!(upstream = %route.upstream, error = %error_chain(&e), "upstream request failed");
                Err(ProxyError::UpstreamUnreachable)
            }
        }
    }
}

fn client(connect_timeout: Duration) -> Client<HttpConnector, Body> {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(connect_timeout));
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build(connector)
}

/// The client's request body failed while it was forwarded (malformed
/// chunking, the client went away): the client's fault, not the upstream's,
/// so it must not become a 502 and an upstream warning.
#[derive(Debug, thiserror::Error)]
#[error("the client request body failed")]
pub struct ClientBodyError(#[source] pub hyper::Error);

/// True when `T` is somewhere in `e`'s cause chain: `LengthLimitError` when
/// the client's body went over `max_body_bytes` mid-stream,
/// [`ClientBodyError`] when it failed.
fn caused_by<T: std::error::Error + 'static>(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(err) = source {
        if err.is::<T>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// `a: b: c` for the log.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(err) = source {
        text.push_str(": ");
        text.push_str(&err.to_string());
        source = err.source();
    }
    text
}

/// Joins the client's and the upstream's upgraded connections and copies
/// bytes both ways until either side closes.
pub fn tunnel(client: OnUpgrade, upstream: OnUpgrade) {
    tokio::spawn(async move {
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(error = %e, "upgrade failed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(error = %e, "tunnel ended with an error");
        }
    });
}
