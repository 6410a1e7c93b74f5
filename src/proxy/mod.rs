//! A request's life in the proxy, as named phases run in this order:
//!
//! 1. [`Gateway::request_filter`]: method, header size, host and path
//!    checks; the path is normalized here, once, for everything after.
//! 2. reserved paths (`/.gatehouse/…`) are answered by the proxy itself.
//! 3. routing: the longest matching `[[route]]`, or 404.
//! 4. [`Authenticator::authorize`]: on `required` routes, the session decides
//!    whether the request goes on (with an identity) or is answered here.
//! 5. [`Gateway::upstream_request`]: hop-by-hop and client-sent identity
//!    headers removed, then identity and `X-Forwarded-*` set.
//! 6. forwarding ([`upstream`]), and [`Gateway::response_filter`] on the
//!    way back; the access log line is written when the body ends.

mod access_log;
mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{
    HeaderValue, CONNECTION, CONTENT_LENGTH, HOST, STRICT_TRANSPORT_SECURITY, UPGRADE,
};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, Request, Response, Uri, Version};
use http_body::Frame;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::auth::endpoints::{self, login_redirect, Call};
use crate::auth::{Authenticator, Provider};
use crate::body::Body;
use crate::config::{Config, Route};
use crate::error::{wants_html, ProxyError};
use crate::headers;
use crate::metrics::{Metrics, RouteMetrics};
use crate::path::{normalize_path, NormalizedPath};
use crate::request_id::{request_id, X_REQUEST_ID};
use crate::routing::Router;
use crate::server::InFlight;
use crate::store::SessionStore;
use access_log::{AccessLog, LoggedBody};
use upstream::Upstream;

/// Paths under this prefix belong to the proxy and are never forwarded.
const RESERVED_PREFIX: &str = "/.gatehouse";

/// `/.gatehouse` and everything below it.
fn is_reserved(path: &str) -> bool {
    path.strip_prefix(RESERVED_PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Everything one config generation needs to serve requests.
pub struct Gateway {
    config: Config,
    router: Router,
    /// In config order, as [`Router::find`] answers.
    routes: Vec<Arc<ServedRoute>>,
    /// The metrics of requests no route matched.
    unrouted: RouteMetrics,
    auth: Authenticator,
    /// `Strict-Transport-Security` value; `None` when `[tls] hsts` is zero.
    hsts: Option<HeaderValue>,
    /// The TLS settings new handshakes use.
    tls: Arc<rustls::ServerConfig>,
    metrics: Arc<Metrics>,
}

/// A `[[route]]` with what serving it needs, built once per config generation.
#[derive(Debug)]
pub(crate) struct ServedRoute {
    route: Route,
    upstream: Upstream,
    metrics: RouteMetrics,
}

/// The client at the other end of a connection, as requests on it are
/// forwarded; made once per connection.
#[derive(Clone, Debug)]
pub struct Peer {
    pub addr: SocketAddr,
    forwarded_for: HeaderValue,
}

impl Peer {
    pub fn new(addr: SocketAddr) -> Self {
        Peer {
            addr,
            forwarded_for: headers::forwarded_for(addr.ip()),
        }
    }
}

/// Who the session says the user is, for the identity headers.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: String,
    pub email: Option<String>,
    pub groups: Vec<String>,
}

/// A request that passed the request filter.
struct Checked {
    host: String,
    path: NormalizedPath,
    request_id: HeaderValue,
}

impl Gateway {
    /// Loads the certificates and the login provider (the users file, or
    /// the OpenID client, which discovers its provider lazily), and opens the session
    /// store (which connects in the background: an unreachable Redis is not
    /// a startup error). On reload, the `previous` generation's store is
    /// kept when `[store]` did not change, so connections and the embedded
    /// store's sessions survive.
    pub fn new(
        config: Config,
        previous: Option<&Gateway>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, crate::server::RunError> {
        let tls = crate::tls::server_config(&config.tls)?;
        let provider = Provider::load(&config, previous.map(|old| old.auth.provider()))?;
        let store = match previous {
            Some(old) if old.config.store == config.store => old.auth.store().clone(),
            _ => SessionStore::open(&config.store)?,
        };
        let auth = Authenticator::new(
            store,
            provider,
            config.session.clone(),
            config.login.clone(),
            metrics.clone(),
        );
        let hsts = (!config.tls.hsts.is_zero()).then(|| {
            HeaderValue::try_from(format!("max-age={}", config.tls.hsts.as_secs()))
                .expect("digits are a valid header value")
        });
        let routes = config
            .routes
            .iter()
            .zip(upstream::for_routes(&config.routes))
            .map(|(route, upstream)| {
                Arc::new(ServedRoute {
                    route: route.clone(),
                    upstream,
                    metrics: metrics.route(&route.path),
                })
            })
            .collect();
        Ok(Gateway {
            router: Router::new(&config.routes),
            routes,
            unrouted: metrics.route("-"),
            auth,
            hsts,
            tls,
            metrics,
            config,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// The TLS settings for a new handshake.
    pub fn tls(&self) -> Arc<rustls::ServerConfig> {
        self.tls.clone()
    }

    /// True when the session store answers (for readiness).
    pub async fn store_reachable(&self) -> bool {
        self.auth.store().ping().await.is_ok()
    }

    /// Serves one request from a client at `peer`.
    pub async fn handle(
        &self,
        req: Request<Incoming>,
        peer: &Peer,
        in_flight: InFlight,
    ) -> Response<Body> {
        let request_id = request_id(req.headers());
        let mut log = AccessLog::new(
            peer.addr,
            req.method().clone(),
            req.uri().path(),
            request_id.clone(),
        );
        let html = wants_html(req.headers());
        let navigation = html && (req.method() == Method::GET || req.method() == Method::HEAD);
        let mut response = match self.proxy(req, peer, &mut log).await {
            Ok(response) => response,
            Err(ProxyError::Unauthenticated) if navigation && log.route.is_some() => {
                // A browser on a protected page: off to the login form, then back.
                let target = match &log.query {
                    Some(query) => format!("{}?{query}", log.path),
                    None => log.path.clone(),
                };
                login_redirect(&target)
            }
            Err(e) => {
                log.error = Some(e.to_string());
                e.into_response(html, &self.config.server.app_name)
            }
        };
        self.response_filter(&mut response);
        response
            .headers_mut()
            .insert(X_REQUEST_ID.clone(), log.request_id.clone());
        log.status = response.status();
        let metrics = log.route.as_ref().map_or(&self.unrouted, |r| &r.metrics);
        self.metrics
            .request(metrics, log.status.as_u16(), log.start.elapsed());
        response.map(|body| LoggedBody::new(body, log, in_flight).boxed())
    }

    async fn proxy(
        &self,
        req: Request<Incoming>,
        peer: &Peer,
        log: &mut AccessLog,
    ) -> Result<Response<Body>, ProxyError> {
        let checked = self.request_filter(&req, &log.request_id)?;
        log.host = checked.host.clone();
        log.path = checked.path.forward.clone();
        log.query = req.uri().query().map(str::to_owned);

        if is_reserved(&checked.path.matching) {
            let call = Call {
                auth: &self.auth,
                app_name: &self.config.server.app_name,
                host: &checked.host,
                peer: peer.addr,
            };
            return endpoints::handle(call, &checked.path.matching, req).await;
        }

        let served = self
            .router
            .find(Some(&checked.host), &checked.path.matching)
            .map(|i| &self.routes[i])
            .ok_or(ProxyError::NoRoute)?;
        log.route = Some(served.clone());
        let route = &served.route;

        let identity = self.auth.authorize(route, req.headers()).await?;
        log.user = identity.as_ref().map(|i| i.user.clone());

        let mut req = req;
        let client_upgrade = headers::websocket_upgrade_requested(req.headers())
            .then(|| hyper::upgrade::on(&mut req));
        let upstream_req = self.upstream_request(
            req,
            route,
            &checked,
            peer,
            identity.as_ref(),
            client_upgrade.is_some(),
        )?;
        let sent = std::time::Instant::now();
        let mut response = served.upstream.send(route, upstream_req).await?;
        served.metrics.upstream(sent.elapsed());

        if let (Some(client), http::StatusCode::SWITCHING_PROTOCOLS) =
            (client_upgrade, response.status())
        {
            upstream::tunnel(client, hyper::upgrade::on(&mut response));
            let mut switched = Response::new(crate::body::empty());
            *switched.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
            let headers = switched.headers_mut();
            for (name, value) in response.headers() {
                if name != CONTENT_LENGTH {
                    headers.append(name, value.clone());
                }
            }
            return Ok(switched);
        }
        let mut response = response.map(|body| body.map_err(Into::into).boxed());
        headers::remove_hop_by_hop(response.headers_mut());
        headers::drop_session_set_cookie(response.headers_mut(), &self.config.session.cookie_name);
        Ok(response)
    }

    /// Phase 1: refuses what must never be forwarded, and normalizes the path.
    fn request_filter(
        &self,
        req: &Request<Incoming>,
        request_id: &HeaderValue,
    ) -> Result<Checked, ProxyError> {
        if req.method() == Method::TRACE || req.method() == Method::CONNECT {
            return Err(ProxyError::MethodNotAllowed);
        }
        let header_bytes: usize = req
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum();
        if header_bytes > self.config.timeouts.max_header_bytes {
            return Err(ProxyError::HeadersTooLarge);
        }
        let host = request_host(req)?;
        let path = normalize_path(req.uri().path()).map_err(|_| ProxyError::BadRequest("path"))?;
        Ok(Checked {
            host,
            path,
            request_id: request_id.clone(),
        })
    }

    /// Phase 5: the request as the upstream will see it.
    fn upstream_request(
        &self,
        req: Request<Incoming>,
        route: &Route,
        checked: &Checked,
        peer: &Peer,
        identity: Option<&Identity>,
        websocket: bool,
    ) -> Result<Request<Body>, ProxyError> {
        let (mut parts, body) = req.into_parts();
        let names = &self.config.headers;
        // Order matters: strip everything a client may have sent about
        // identity (also via `Connection`) before injecting the session's.
        headers::remove_hop_by_hop(&mut parts.headers);
        headers::strip_identity_headers(
            &mut parts.headers,
            &[&names.user, &names.email, &names.groups],
        );
        headers::strip_session_cookie(&mut parts.headers, &self.config.session.cookie_name);
        headers::set_forwarded_headers(
            &mut parts.headers,
            &peer.forwarded_for,
            Some(&checked.host),
        );
        parts
            .headers
            .insert(X_REQUEST_ID.clone(), checked.request_id.clone());
        if let Some(identity) = identity {
            inject_identity(&mut parts.headers, names, identity)?;
        }
        if websocket {
            parts
                .headers
                .insert(UPGRADE, HeaderValue::from_static("websocket"));
            parts
                .headers
                .insert(CONNECTION, HeaderValue::from_static("upgrade"));
        }
        if !parts.headers.contains_key(HOST) {
            let host = HeaderValue::try_from(checked.host.as_str())
                .map_err(|_| ProxyError::BadRequest("host"))?;
            parts.headers.insert(HOST, host);
        }

        let limit = self.config.timeouts.max_body_bytes;
        if let (Some(limit), Some(length)) = (limit, content_length(&parts.headers)) {
            if length > limit {
                return Err(ProxyError::BodyTooLarge);
            }
        }
        // Trailers could smuggle identity headers past the stripping above:
        // they are never forwarded.
        let body = body
            .map_frame(|frame| {
                if frame.is_trailers() {
                    Frame::data(Bytes::new())
                } else {
                    frame
                }
            })
            .map_err(upstream::ClientBodyError);
        let body: Body = match limit {
            Some(limit) => Limited::new(body, limit as usize).boxed(),
            None => body.map_err(Into::into).boxed(),
        };

        let path_and_query = match parts.uri.path_and_query() {
            // Already normal (the usual case): reused as it is, no copy.
            Some(original) if original.path() == checked.path.forward => original.clone(),
            _ => {
                let text = match parts.uri.query() {
                    Some(query) => format!("{}?{query}", checked.path.forward),
                    None => checked.path.forward.clone(),
                };
                PathAndQuery::try_from(text).map_err(|_| ProxyError::BadRequest("uri"))?
            }
        };
        parts.uri = Uri::builder()
            .scheme(Scheme::HTTP)
            .authority(route.upstream.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| ProxyError::BadRequest("uri"))?;
        parts.version = Version::HTTP_11;
        Ok(Request::from_parts(parts, body))
    }

    /// Phase 6, on every answer the client gets: HSTS.
    fn response_filter(&self, response: &mut Response<Body>) {
        if let Some(hsts) = &self.hsts {
            response
                .headers_mut()
                .insert(STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
    }
}

/// Sets the identity headers; a value that could break a header line fails the request.
fn inject_identity(
    headers: &mut http::HeaderMap,
    names: &crate::config::IdentityHeaders,
    identity: &Identity,
) -> Result<(), ProxyError> {
    let unsafe_value = || ProxyError::BadRequest("identity value not safe for a header");
    headers.insert(
        names.user.clone(),
        headers::identity_header_value(&identity.user).ok_or_else(unsafe_value)?,
    );
    if let Some(email) = &identity.email {
        headers.insert(
            names.email.clone(),
            headers::identity_header_value(email).ok_or_else(unsafe_value)?,
        );
    }
    if !identity.groups.is_empty() {
        headers.insert(
            names.groups.clone(),
            headers::identity_header_value(&identity.groups.join(",")).ok_or_else(unsafe_value)?,
        );
    }
    Ok(())
}

/// The declared body length, when there is exactly one well-formed one.
fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// The host the client asked for: the URI authority (HTTP/2, or an
/// absolute-form target) or the single `Host` header. A request naming two
/// different hosts, several `Host` headers, or none at all is refused.
fn request_host(req: &Request<Incoming>) -> Result<String, ProxyError> {
    let mut host_headers = req.headers().get_all(HOST).iter();
    let header = host_headers.next();
    if host_headers.next().is_some() {
        return Err(ProxyError::BadRequest("several Host headers"));
    }
    let header = match header {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|h| h.parse::<Authority>().ok())
                .ok_or(ProxyError::BadRequest("malformed Host"))?,
        ),
        None => None,
    };
    let authority = match (req.uri().authority(), header) {
        (Some(uri), Some(header)) if !uri.host().eq_ignore_ascii_case(header.host()) => {
            return Err(ProxyError::BadRequest("request target names another host"));
        }
        (Some(uri), _) => uri.clone(),
        (None, Some(header)) => header,
        (None, None) => return Err(ProxyError::BadRequest("no Host")),
    };
    if authority.as_str().contains('@') {
        return Err(ProxyError::BadRequest("userinfo in host"));
    }
    Ok(authority.as_str().to_ascii_lowercase())
}
