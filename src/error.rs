//! Why a request was not forwarded, mapped to a status code and a short
//! answer in exactly one place. Internal details go to the log, never to
//! the client.

use std::time::Duration;

use bytes::Bytes;
use http::header::{
    HeaderValue, ACCEPT, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY,
    RETRY_AFTER, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderMap, Response, StatusCode};

use crate::body::{full, Body};
use crate::pages;

/// Everything the proxy itself answers instead of the upstream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// The request is malformed or unsafe to forward; the text is for the log.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("not signed in")]
    Unauthenticated,
    #[error("not in the route's groups")]
    Forbidden,
    #[error("cross-site request refused")]
    CrossSite,
    #[error("no route")]
    NoRoute,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("request body too large")]
    BodyTooLarge,
    #[error("too many failed logins")]
    LockedOut { retry_after: Duration },
    #[error("request headers too large")]
    HeadersTooLarge,
    #[error("upstream unreachable")]
    UpstreamUnreachable,
    #[error("session store unavailable")]
    StoreUnavailable,
    #[error("upstream response timed out")]
    UpstreamTimeout,
}

/// Seconds a client is told to wait after a store failure.
const STORE_RETRY_AFTER_SECS: u64 = 2;

impl ProxyError {
    /// The one mapping from error to status.
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ProxyError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ProxyError::Forbidden | ProxyError::CrossSite => StatusCode::FORBIDDEN,
            ProxyError::NoRoute => StatusCode::NOT_FOUND,
            ProxyError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProxyError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::LockedOut { .. } => StatusCode::TOO_MANY_REQUESTS,
            ProxyError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ProxyError::UpstreamUnreachable => StatusCode::BAD_GATEWAY,
            ProxyError::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// How long the client should wait before trying again, if at all.
    fn retry_after(&self) -> Option<u64> {
        match self {
            // Rounded up: a client that waits exactly this long must not
            // arrive before the lockout ends (and be refused again).
            ProxyError::LockedOut { retry_after } => {
                Some((retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)).max(1))
            }
            ProxyError::StoreUnavailable => Some(STORE_RETRY_AFTER_SECS),
            _ => None,
        }
    }

    /// The answer: an HTML page when the client asked for one (`html`, see
    /// [`wants_html`]), JSON otherwise.
    pub fn into_response(self, html: bool, app_name: &str) -> Response<Body> {
        let status = self.status();
        let message = pages::error_message(status);
        let mut response = if html {
            html_response(status, pages::error_page(app_name, status, message))
        } else {
            let json = serde_json::json!({
                "error": status.canonical_reason().unwrap_or("error"),
                "status": status.as_u16(),
                "message": message,
            });
            let mut response = Response::new(full(Bytes::from(json.to_string())));
            *response.status_mut() = status;
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        };
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after() {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A page the proxy made itself (login, errors): never cached, never
/// framed (clickjacking), no sniffing, and no script or outside resource
/// allowed: the pages need none.
pub fn html_response(status: StatusCode, page: String) -> Response<Body> {
    let mut response = Response::new(full(Bytes::from(page)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// True when the client's `Accept` names `text/html` (a browser navigation).
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn each_error_maps_to_its_status() {
        let cases = [
            (ProxyError::BadRequest("x"), 400),
            (ProxyError::Unauthenticated, 401),
            (ProxyError::Forbidden, 403),
            (ProxyError::CrossSite, 403),
            (ProxyError::NoRoute, 404),
            (ProxyError::MethodNotAllowed, 405),
            (ProxyError::BodyTooLarge, 413),
            (
                ProxyError::LockedOut {
                    retry_after: Duration::from_secs(3),
                },
                429,
            ),
            (ProxyError::HeadersTooLarge, 431),
            (ProxyError::UpstreamUnreachable, 502),
            (ProxyError::StoreUnavailable, 503),
            (ProxyError::UpstreamTimeout, 504),
        ];
        for (err, code) in cases {
            assert_eq!(err.status().as_u16(), code, "{err:?}");
        }
    }

    fn body_text(resp: Response<Body>) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = rt.block_on(resp.into_body().collect()).unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn browsers_get_html_and_others_json_without_internal_text() {
        let mut html = HeaderMap::new();
        html.insert(ACCEPT, HeaderValue::from_static("text/html,*/*"));
        let resp = ProxyError::BadRequest("secret detail").into_response(wants_html(&html), "Wiki");
        assert_eq!(resp.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(resp.headers()[X_FRAME_OPTIONS], "DENY");
        assert!(resp.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
        let text = body_text(resp);
        assert!(text.contains("400") && !text.contains("secret detail"));

        let resp = ProxyError::BadRequest("secret detail").into_response(false, "Wiki");
        assert_eq!(resp.headers()[CONTENT_TYPE], "application/json");
        let json: serde_json::Value = serde_json::from_str(&body_text(resp)).unwrap();
        assert_eq!(json["status"], 400);
        assert!(!json.to_string().contains("secret detail"));
    }

    #[test]
    fn retry_after_on_lockout_and_store_failure() {
        let resp = ProxyError::LockedOut {
            retry_after: Duration::from_secs(42),
        }
        .into_response(false, "x");
        assert_eq!(resp.headers()[RETRY_AFTER], "42");
        let resp = ProxyError::LockedOut {
            retry_after: Duration::from_millis(1_200),
        }
        .into_response(false, "x");
        assert_eq!(resp.headers()[RETRY_AFTER], "2", "rounded up, never early");
        let resp = ProxyError::StoreUnavailable.into_response(false, "x");
        assert_eq!(resp.headers()[RETRY_AFTER], "2");
    }
}
