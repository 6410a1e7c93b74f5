//! The access log: one line per request, written when its response body is
//! done (so that duration and bytes are true), never with a cookie value.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::StatusCode;
use http_body::{Body as HttpBody, Frame, SizeHint};

use super::ServedRoute;
use crate::body::{Body, BoxError};
use crate::server::InFlight;

/// What is known about a request so far; filled in as it moves through the phases.
#[derive(Debug)]
pub struct AccessLog {
    pub start: Instant,
    pub request_id: http::HeaderValue,
    pub peer: SocketAddr,
    pub method: http::Method,
    pub host: String,
    /// The normalized path (or the raw one when it could not be normalized).
    pub path: String,
    /// Kept for the login redirect; not logged (it may carry tokens).
    pub query: Option<String>,
    /// The route that served the request, if one matched.
    pub route: Option<Arc<ServedRoute>>,
    pub user: Option<String>,
    /// Why the proxy answered itself, for operators.
    pub error: Option<String>,
    pub status: StatusCode,
}

impl AccessLog {
    pub fn new(
        peer: SocketAddr,
        method: http::Method,
        path: &str,
        request_id: http::HeaderValue,
    ) -> Self {
        AccessLog {
            start: Instant::now(),
            request_id,
            peer,
            method,
            host: String::new(),
            path: path.to_owned(),
            query: None,
            route: None,
            user: None,
            error: None,
            status: StatusCode::OK,
        }
    }

    fn write(&self, bytes: u64, complete: bool) {
        tracing::info!(
            target: "gatehouse::access",
            request_id = self.request_id.to_str().unwrap_or("-"),
            client = %self.peer.ip(),
            method = %self.method,
            host = %self.host,
            path = %self.path,
            status = self.status.as_u16(),
            route = self.route.as_ref().map_or("-", |r| r.route.path.as_str()),
            upstream = self.route.as_ref().map_or("-", |r| r.route.upstream.as_str()),
            user = self.user.as_deref().unwrap_or("-"),
            duration_ms = self.start.elapsed().as_secs_f64() * 1000.0,
            bytes,
            complete,
            error = self.error.as_deref().unwrap_or(""),
            "request"
        );
    }
}

/// A response body that counts its bytes, holds the connection's in-flight
/// guard, and writes the access log line when it ends or is dropped.
pub struct LoggedBody {
    inner: Body,
    log: AccessLog,
    bytes: u64,
    done: bool,
    _in_flight: InFlight,
}

impl LoggedBody {
    pub fn new(inner: Body, log: AccessLog, in_flight: InFlight) -> Self {
        LoggedBody {
            inner,
            log,
            bytes: 0,
            done: false,
            _in_flight: in_flight,
        }
    }
}

impl HttpBody for LoggedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_frame(cx);
        match &poll {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) if !this.done => {
                this.done = true;
                this.log.write(this.bytes, true);
            }
            _ => {}
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for LoggedBody {
    fn drop(&mut self) {
        if !self.done {
            // hyper may drop a body it knows is empty without polling it.
            let complete = self.inner.is_end_stream();
            self.log.write(self.bytes, complete);
        }
    }
}
