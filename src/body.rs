//! The one body type that flows through the proxy, boxed so that upstream
//! bodies, proxy-made pages and limited client bodies share a type.

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};

/// Errors a body can end with (client went away, limit exceeded, upstream reset).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A streamed body; never buffered whole by the proxy.
pub type Body = BoxBody<Bytes, BoxError>;

/// A body of known bytes, for pages the proxy makes itself.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}
