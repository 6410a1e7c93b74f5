//! STUB — replaced by the rules branch.
#![allow(unused)]
use http::{HeaderMap, HeaderName, HeaderValue};
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    todo!()
}
pub fn websocket_upgrade_requested(headers: &HeaderMap) -> bool {
    todo!()
}
pub fn strip_identity_headers(headers: &mut HeaderMap, names: &[&HeaderName]) {
    todo!()
}
pub fn strip_session_cookie(headers: &mut HeaderMap, name: &str) {
    todo!()
}
pub fn drop_session_set_cookie(headers: &mut HeaderMap, name: &str) {
    todo!()
}
pub fn identity_header_value(value: &str) -> Option<HeaderValue> {
    todo!()
}
pub fn set_forwarded_headers(
    headers: &mut HeaderMap,
    client: std::net::IpAddr,
    host: Option<&str>,
) {
    todo!()
}
