//! Header rules: what a client may not send upstream, what the proxy adds,
//! and how the proxy's own session cookie is found, hidden and protected.
//!
//! Backends trust the identity and forwarding headers they receive, so every
//! rule here is about making sure only the proxy can set them.
//!
//! # Order (the handler composes these; the order is part of the security)
//! On a request:
//! 1. read what is needed from headers about to go: [`websocket_upgrade_requested`]
//!    (reads `Upgrade`/`Connection`) and [`session_cookie`];
//! 2. [`remove_hop_by_hop`], *before anything is injected*: a client's
//!    `Connection: X-Forwarded-For` or `Connection: X-Forwarded-User` would
//!    otherwise remove what the proxy adds (Apache's CVE-2022-31813);
//! 3. [`strip_identity_headers`] and [`strip_session_cookie`], *before injecting*:
//!    strip first, so nothing the client sent survives next to the real values;
//! 4. [`set_forwarded_headers`] and the identity values ([`identity_header_value`]);
//! 5. for a WebSocket, re-add `Upgrade: websocket` and `Connection: upgrade`.
//!
//! On a response: [`remove_hop_by_hop`], then [`drop_session_set_cookie`].

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// RFC 9110 §7.6.1 hop-by-hop headers, plus the non-standard `keep-alive`
/// and `proxy-connection`: they describe one connection, never the next one.
/// Prebuilt names: the request path removes them on every request.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Headers that describe the client or the original request and that
/// backends believe because "only a proxy sets them". The spec names the
/// first five; the rest are honoured by common frameworks: `X-Original-URL`
/// and `X-Rewrite-URL` *replace the request path* in IIS, Symfony and Zend
/// (a route bypass: `/public` routed, `/admin` served), and the others feed
/// "client IP" and "is HTTPS" checks.
const CLIENT_SUPPLIED_FORWARDING: &[&str] = &[
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "forwarded",
    "x-real-ip",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-forwarded-scheme",
    "x-forwarded-ssl",
    "front-end-https",
    "x-url-scheme",
    "x-client-ip",
    "client-ip",
    "true-client-ip",
    "x-cluster-client-ip",
    "x-original-url",
    "x-rewrite-url",
];

/// Headers whose meaning the proxy owns besides the two lists above: the
/// request's framing, host and cookies, and the request id it sets.
const OTHER_MANAGED: &[&str] = &[
    "host",
    "cookie",
    "set-cookie",
    "content-length",
    "x-request-id",
];

/// True for a header the proxy sets, strips or relies on itself; naming an
/// identity header after one would break forwarding or open a hole, so the
/// config refuses it.
pub fn is_managed_by_proxy(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(name)
        || [CLIENT_SUPPLIED_FORWARDING, OTHER_MANAGED]
            .iter()
            .any(|list| list.contains(&name.as_str()))
}

/// Removes every header named in any `Connection` header, then the
/// hop-by-hop set, so that nothing meant for this hop reaches the next.
///
/// Read anything still needed from these headers first (see the module's
/// order). Works on the raw bytes: a non-UTF-8 `Connection` is still honoured.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // Most requests carry none of them: one pass over the names present
    // is cheaper than nine removals.
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    // Order: collect the named headers while `Connection` is still present.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(|value| list_tokens(value.as_bytes()))
        .filter_map(|token| HeaderName::from_bytes(token).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Whether the client asks for a WebSocket upgrade: exactly one `Upgrade`
/// header whose value is exactly the token `websocket` (any case), and a
/// `Connection` header holding the token `upgrade`.
///
/// Anything else (`h2c`, `websocket, h2c`, two `Upgrade` headers) is false:
/// an `h2c` upgrade forwarded to a backend would open an HTTP/2 connection
/// the proxy no longer inspects (request smuggling past every rule here).
pub fn websocket_upgrade_requested(headers: &HeaderMap) -> bool {
    let mut upgrades = headers.get_all(header::UPGRADE).iter();
    let only_websocket = match (upgrades.next(), upgrades.next()) {
        (Some(value), None) => value
            .as_bytes()
            .trim_ascii()
            .eq_ignore_ascii_case(b"websocket"),
        _ => false,
    };
    only_websocket
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .any(|value| list_tokens(value.as_bytes()).any(|t| t.eq_ignore_ascii_case(b"upgrade")))
}

/// Removes every header whose name equals one of `names` case-insensitively
/// or with `_` in place of any `-`, with all its duplicates.
///
/// The `_` spellings matter because CGI, PHP, Rack and WSGI all turn both
/// `X-Forwarded-User` and `X_Forwarded_User` into `HTTP_X_FORWARDED_USER`.
/// Run it before the real identity headers are set (see the module's order).
pub fn strip_identity_headers(headers: &mut HeaderMap, names: &[&HeaderName]) {
    let names: Vec<&str> = names.iter().map(|name| name.as_str()).collect();
    remove_spellings_of(headers, &names);
}

/// The `X-Forwarded-For` value for a client at `client`: its address, an
/// IPv4-mapped IPv6 address written as IPv4, as backends' allow-lists
/// expect. Made once per connection.
pub fn forwarded_for(client: IpAddr) -> HeaderValue {
    HeaderValue::try_from(client.to_canonical().to_string())
        .expect("an IP address is a valid header value")
}

/// Replaces whatever the client said about itself with what the proxy saw.
///
/// Removes every client-sent forwarding header (`X-Forwarded-For`,
/// `-Proto`, `-Host`, `Forwarded`, `X-Real-IP` and the others in
/// [`CLIENT_SUPPLIED_FORWARDING`], in every `_` spelling), then sets
/// `X-Forwarded-For` to `forwarded_for` (from [`forwarded_for`]),
/// `X-Forwarded-Proto: https` and, when `host` is given and looks like a
/// host (`[A-Za-z0-9._:\[\]-]`, at most 300 bytes), `X-Forwarded-Host: <host>`.
/// A malformed host is left out rather than forwarded.
pub fn set_forwarded_headers(
    headers: &mut HeaderMap,
    forwarded_for: &HeaderValue,
    host: Option<&str>,
) {
    remove_spellings_of(headers, CLIENT_SUPPLIED_FORWARDING);
    headers.insert(X_FORWARDED_FOR, forwarded_for.clone());
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
    if let Some(value) = host
        .filter(|host| is_plausible_host(host))
        .and_then(|host| HeaderValue::from_str(host).ok())
    {
        headers.insert(X_FORWARDED_HOST, value);
    }
}

/// Whether `value` can be sent as a header value without changing its
/// meaning or injecting anything: no control character at all (not CR, LF,
/// NUL, not even tab; C1 controls such as U+0085 included), no U+2028 or
/// U+2029 line separators, and no leading or trailing whitespace (a parser
/// that trims would turn user `"alice "` into `alice`). Non-ASCII is allowed.
pub fn is_safe_header_value(value: &str) -> bool {
    value.trim() == value
        && !value
            .chars()
            .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
}

/// An identity value (user name, email) as a header value, or `None` when it
/// is not [safe](is_safe_header_value). Non-ASCII is sent as its UTF-8
/// bytes, which `HeaderValue::from_str` would refuse.
///
/// `None` is a refusal: the caller must not fall back to sending the value
/// some other way.
pub fn identity_header_value(value: &str) -> Option<HeaderValue> {
    if !is_safe_header_value(value) {
        return None;
    }
    HeaderValue::from_bytes(value.as_bytes()).ok()
}

/// A comma-separated list (the groups header) as a header value, or `None`
/// when any item is empty, holds a `,`, has whitespace at either end or is
/// not safe: a group named `staff,admin` would otherwise reach the backend
/// as two groups, one of them `admin`, and ` admin` as `admin` once a
/// backend trims list items.
pub fn identity_list_header_value<S: AsRef<str>>(items: &[S]) -> Option<HeaderValue> {
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    if items
        .iter()
        .any(|item| item.is_empty() || item.contains(',') || item.trim() != *item)
    {
        return None;
    }
    identity_header_value(&items.join(","))
}

/// What the request's `Cookie` headers say about the proxy's cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieLookup<'a> {
    /// Not sent, or sent with a value that is not UTF-8 (never a session id).
    Absent,
    /// Sent exactly once, with this value (not yet validated as an id).
    One(&'a str),
    /// Sent more than once. Treated as no session: the browser sends two
    /// when someone planted a second one (cookie tossing from a sibling
    /// domain or over plain HTTP), and picking either could log the user in
    /// as the attacker or let the proxy and a backend disagree on who it is.
    Ambiguous,
}

/// Finds the proxy's cookie `name` across every `Cookie` header (a request
/// may carry several, and HTTP/2 splits one per cookie).
///
/// Parsed per RFC 6265 `name=value; name2=value2`, tolerant of spaces and
/// empty pieces; names compare exactly (case-sensitively), as browsers do.
/// Works on raw bytes, so non-UTF-8 elsewhere in the header changes nothing.
pub fn session_cookie<'a>(headers: &'a HeaderMap, name: &str) -> CookieLookup<'a> {
    if name.is_empty() {
        return CookieLookup::Absent;
    }
    let mut occurrences = 0usize;
    let mut value = None;
    for header in headers.get_all(header::COOKIE) {
        for piece in cookie_pieces(header.as_bytes()) {
            if cookie_name(piece) == name.as_bytes() {
                occurrences += 1;
                value = std::str::from_utf8(cookie_value(piece)).ok();
            }
        }
    }
    match (occurrences, value) {
        (0, _) | (1, None) => CookieLookup::Absent,
        (1, Some(value)) => CookieLookup::One(value),
        _ => CookieLookup::Ambiguous,
    }
}

/// Removes the proxy's cookie from the request sent upstream, so no backend
/// ever sees (or logs) a session id; other cookies pass in their order.
///
/// All `Cookie` headers are merged into one (`; `-separated), because the
/// upstream speaks HTTP/1.1, where a request carries a single `Cookie`
/// header (RFC 9113 §8.2.3); the header is removed when nothing is left.
/// Every occurrence is removed, matched exactly as [`session_cookie`] does.
pub fn strip_session_cookie(headers: &mut HeaderMap, name: &str) {
    if !headers.contains_key(header::COOKIE) {
        return;
    }
    let mut kept: Vec<u8> = Vec::new();
    for header in headers.get_all(header::COOKIE) {
        for piece in cookie_pieces(header.as_bytes()) {
            if !name.is_empty() && cookie_name(piece) == name.as_bytes() {
                continue;
            }
            if !kept.is_empty() {
                kept.extend_from_slice(b"; ");
            }
            kept.extend_from_slice(piece);
        }
    }
    headers.remove(header::COOKIE);
    // The pieces come from valid header values, so this only fails if that
    // ever stops being true; then sending no cookies is the safe answer.
    if let Ok(mut value) = HeaderValue::from_bytes(&kept) {
        if !kept.is_empty() {
            value.set_sensitive(true);
            headers.insert(header::COOKIE, value);
        }
    }
}

/// Removes every `Set-Cookie` response header that sets the proxy's cookie,
/// so a backend (compromised, or with a header injection bug) cannot fixate
/// or clear a user's session. Others are kept in their order.
///
/// The name is compared exactly, as browsers identify cookies. Also dropped:
/// a nameless cookie whose value is `name=…` (`Set-Cookie: =name=x`), which
/// browsers send back as the bare value `name=x`.
pub fn drop_session_set_cookie(headers: &mut HeaderMap, name: &str) {
    if name.is_empty() || !headers.contains_key(header::SET_COOKIE) {
        return;
    }
    let kept: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter(|value| !sets_cookie(value.as_bytes(), name.as_bytes()))
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for value in kept {
        headers.append(header::SET_COOKIE, value);
    }
}

/// Whether a `Set-Cookie` value would set the cookie `name` in a browser.
fn sets_cookie(set_cookie: &[u8], name: &[u8]) -> bool {
    let pair = set_cookie.split(|&b| b == b';').next().unwrap_or_default();
    let Some((set_name, value)) = split_once(pair, b'=') else {
        // RFC 6265bis: no `=` means a nameless cookie with no `=` in its value.
        return false;
    };
    let set_name = set_name.trim_ascii();
    set_name == name
        || (set_name.is_empty()
            && split_once(value, b'=').is_some_and(|(inner, _)| inner.trim_ascii() == name))
}

/// Removes every header whose name is one of `names` in any case and any
/// `_`/`-` spelling, all duplicates included.
fn remove_spellings_of(headers: &mut HeaderMap, names: &[&str]) {
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|key| {
            names
                .iter()
                .any(|name| same_header_name(key.as_str(), name))
        })
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(name);
    }
}

/// Header names compared the way CGI-style backends see them: case and the
/// difference between `_` and `-` do not count.
fn same_header_name(a: &str, b: &str) -> bool {
    fn fold(byte: u8) -> u8 {
        if byte == b'_' {
            b'-'
        } else {
            byte.to_ascii_lowercase()
        }
    }
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| fold(x) == fold(y))
}

/// The non-empty, whitespace-trimmed tokens of a comma-separated list.
fn list_tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|token| !token.is_empty())
}

/// The non-empty, trimmed `name=value` pieces of a `Cookie` header.
fn cookie_pieces(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b';')
        .map(<[u8]>::trim_ascii)
        .filter(|piece| !piece.is_empty())
}

/// A cookie piece's name; a piece without `=` is a nameless cookie.
fn cookie_name(piece: &[u8]) -> &[u8] {
    split_once(piece, b'=').map_or(&[], |(name, _)| name.trim_ascii())
}

fn cookie_value(piece: &[u8]) -> &[u8] {
    split_once(piece, b'=').map_or(piece, |(_, value)| value.trim_ascii())
}

fn split_once(bytes: &[u8], separator: u8) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|&b| b == separator)?;
    Some((&bytes[..at], &bytes[at + 1..]))
}

fn is_plausible_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 300
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':' | b'[' | b']')
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn headers_the_proxy_manages_are_known_and_identity_names_are_not() {
        for managed in [
            "host",
            "x-forwarded-for",
            "x-real-ip",
            "x-original-url",
            "proxy-authorization",
            "transfer-encoding",
            "x-request-id",
        ] {
            assert!(
                is_managed_by_proxy(&HeaderName::from_static(managed)),
                "{managed}"
            );
        }
        for free in ["x-forwarded-user", "x-forwarded-email", "remote-user"] {
            assert!(
                !is_managed_by_proxy(&HeaderName::from_static(free)),
                "{free}"
            );
        }
    }

    use super::*;

    /// A map from (name, value) pairs, appended in order; values as bytes so
    /// tests can send what a hostile client would.
    fn map(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).expect("test header name"),
                HeaderValue::from_bytes(value).expect("test header value"),
            );
        }
        headers
    }

    fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a [u8]> {
        headers
            .get_all(name)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect()
    }

    const USER: HeaderName = HeaderName::from_static("x-forwarded-user");
    const EMAIL: HeaderName = HeaderName::from_static("x-forwarded-email");
    const COOKIE_NAME: &str = "__Host-gatehouse";

    // --- hop-by-hop ---

    #[test]
    fn hop_by_hop_set_is_removed() {
        let mut headers = map(&[
            ("connection", b"keep-alive"),
            ("keep-alive", b"timeout=5"),
            ("proxy-connection", b"keep-alive"),
            ("te", b"trailers"),
            ("trailer", b"x-forwarded-user"),
            ("transfer-encoding", b"chunked"),
            ("upgrade", b"h2c"),
            ("proxy-authenticate", b"Basic"),
            ("proxy-authorization", b"Basic YTpi"),
            ("accept", b"*/*"),
        ]);
        remove_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("accept"));
    }

    #[test]
    fn headers_named_in_connection_are_removed() {
        let mut headers = map(&[
            ("connection", b" X-Foo ,x-BAR,, close"),
            ("connection", b"X-Baz"),
            ("x-foo", b"1"),
            ("x-bar", b"2"),
            ("x-bar", b"3"),
            ("x-baz", b"4"),
            ("x-kept", b"5"),
        ]);
        remove_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-kept"));
    }

    #[test]
    fn identity_header_named_in_connection_is_removed() {
        let mut headers = map(&[
            ("connection", b"X-Forwarded-User, X_Forwarded_Email"),
            ("x-forwarded-user", b"admin"),
            ("x_forwarded_email", b"admin@example.com"),
        ]);
        remove_hop_by_hop(&mut headers);
        assert!(headers.is_empty());
    }

    #[test]
    fn connection_with_junk_tokens_does_not_panic() {
        let mut headers = map(&[("connection", b"\xff\xfe, a b, ,,,"), ("x", b"1")]);
        remove_hop_by_hop(&mut headers);
        assert_eq!(values(&headers, "x"), [b"1"]);
    }

    #[test]
    fn forwarded_for_named_in_connection_cannot_remove_ours() {
        // The order the handler follows: hop-by-hop first, then set.
        let mut headers = map(&[("connection", b"x-forwarded-for")]);
        remove_hop_by_hop(&mut headers);
        set_forwarded_headers(
            &mut headers,
            &forwarded_for("203.0.113.7".parse().expect("ip")),
            None,
        );
        assert_eq!(values(&headers, "x-forwarded-for"), [b"203.0.113.7"]);
    }

    // --- WebSocket ---

    #[test]
    fn websocket_upgrade_is_recognised() {
        let headers = map(&[
            ("upgrade", b"WebSocket"),
            ("connection", b"keep-alive, Upgrade"),
        ]);
        assert!(websocket_upgrade_requested(&headers));
        let split = map(&[
            ("upgrade", b" websocket "),
            ("connection", b"keep-alive"),
            ("connection", b"upgrade"),
        ]);
        assert!(websocket_upgrade_requested(&split));
    }

    #[test]
    fn other_upgrades_are_not_websocket() {
        for (upgrade, connection) in [
            (&b"h2c"[..], &b"upgrade"[..]),
            (b"websocket, h2c", b"upgrade"),
            (b"h2c, websocket", b"upgrade"),
            (b"websocket/13", b"upgrade"),
            (b"websocketx", b"upgrade"),
            (b"websocket", b"keep-alive"),
            (b"websocket", b"upgraded"),
        ] {
            let headers = map(&[("upgrade", upgrade), ("connection", connection)]);
            assert!(
                !websocket_upgrade_requested(&headers),
                "{upgrade:?} / {connection:?}"
            );
        }
        assert!(!websocket_upgrade_requested(&map(&[(
            "upgrade",
            b"websocket"
        )])));
        assert!(!websocket_upgrade_requested(&map(&[(
            "connection",
            b"upgrade"
        )])));
        let two = map(&[
            ("upgrade", b"websocket"),
            ("upgrade", b"h2c"),
            ("connection", b"upgrade"),
        ]);
        assert!(!websocket_upgrade_requested(&two));
    }

    // --- identity headers ---

    #[test]
    fn identity_headers_are_stripped_in_every_case() {
        let mut headers = map(&[
            ("x-forwarded-user", b"a"),
            ("X-FORWARDED-USER", b"b"),
            ("X-Forwarded-User", b"c"),
            ("x-forwarded-email", b"d"),
            ("x-forwarded-userx", b"kept"),
        ]);
        strip_identity_headers(&mut headers, &[&USER, &EMAIL]);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-forwarded-userx"));
    }

    #[test]
    fn identity_headers_are_stripped_in_underscore_spellings() {
        let mut headers = map(&[
            ("x_forwarded_user", b"a"),
            ("X-Forwarded_User", b"b"),
            ("X_FORWARDED-USER", b"c"),
            ("x_forwarded_email", b"d"),
            ("x__forwarded-user", b"kept"),
        ]);
        strip_identity_headers(&mut headers, &[&USER, &EMAIL]);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x__forwarded-user"));
    }

    #[test]
    fn configured_underscore_name_strips_dash_spelling() {
        let name = HeaderName::from_static("remote_user");
        let mut headers = map(&[("remote-user", b"a"), ("Remote_User", b"b")]);
        strip_identity_headers(&mut headers, &[&name]);
        assert!(headers.is_empty());
    }

    #[test]
    fn duplicate_identity_headers_are_all_stripped() {
        let mut headers = map(&[
            ("x-forwarded-user", b"a"),
            ("x-forwarded-user", b"b"),
            ("x-forwarded-user", b"c"),
        ]);
        strip_identity_headers(&mut headers, &[&USER]);
        assert!(headers.is_empty());
    }

    #[test]
    fn safe_values_are_accepted() {
        assert!(is_safe_header_value("alice"));
        assert!(is_safe_header_value("Zoë Ñandú"));
        assert!(is_safe_header_value("alice@example.com"));
        assert!(is_safe_header_value("a b"));
        assert!(is_safe_header_value(""));
    }

    #[test]
    fn values_that_inject_are_refused() {
        for value in [
            "alice\r\nX-Forwarded-User: admin",
            "alice\nx",
            "alice\rx",
            "alice\0",
            "a\tb",
            "a\x7f",
            "a\u{85}b",
            "a\u{2028}b",
            "a\u{2029}b",
            "alice ",
            " alice",
            "alice\u{a0}",
        ] {
            assert!(!is_safe_header_value(value), "{value:?}");
            assert!(identity_header_value(value).is_none(), "{value:?}");
        }
    }

    #[test]
    fn non_ascii_identity_is_sent_as_utf8() {
        let value = identity_header_value("Zoë").expect("safe");
        assert_eq!(value.as_bytes(), "Zoë".as_bytes());
        assert_eq!(identity_header_value("alice").expect("safe"), "alice");
    }

    #[test]
    fn group_lists_are_joined_and_commas_refused() {
        let value = identity_list_header_value(&["staff", "ops"]).expect("safe");
        assert_eq!(value, "staff,ops");
        assert!(identity_list_header_value(&["staff,admin"]).is_none());
        assert!(identity_list_header_value(&["staff", ""]).is_none());
        assert!(identity_list_header_value(&["staff", " admin"]).is_none());
        assert!(identity_list_header_value(&["staff\r\nx: y"]).is_none());
        assert_eq!(
            identity_list_header_value::<&str>(&[]).expect("empty list"),
            ""
        );
    }

    // --- forwarding headers ---

    #[test]
    fn client_forwarding_headers_are_replaced() {
        let mut headers = map(&[
            ("x-forwarded-for", b"127.0.0.1"),
            ("X-Forwarded-For", b"10.0.0.1"),
            ("x_forwarded_for", b"10.0.0.2"),
            ("x-forwarded-proto", b"http"),
            ("x-forwarded-host", b"evil.test"),
            ("forwarded", b"for=127.0.0.1;proto=https"),
            ("x-real-ip", b"127.0.0.1"),
            ("X_Real_IP", b"127.0.0.1"),
            ("x-original-url", b"/admin"),
            ("x-rewrite-url", b"/admin"),
            ("true-client-ip", b"127.0.0.1"),
        ]);
        set_forwarded_headers(
            &mut headers,
            &forwarded_for("198.51.100.2".parse().expect("ip")),
            Some("app.localhost:8443"),
        );
        assert_eq!(headers.len(), 3);
        assert_eq!(values(&headers, "x-forwarded-for"), [b"198.51.100.2"]);
        assert_eq!(values(&headers, "x-forwarded-proto"), [b"https"]);
        assert_eq!(
            values(&headers, "x-forwarded-host"),
            [b"app.localhost:8443"]
        );
    }

    #[test]
    fn forwarded_for_is_canonical() {
        let mut headers = HeaderMap::new();
        set_forwarded_headers(
            &mut headers,
            &forwarded_for("::ffff:192.0.2.1".parse().expect("ip")),
            None,
        );
        assert_eq!(values(&headers, "x-forwarded-for"), [b"192.0.2.1"]);
        set_forwarded_headers(
            &mut headers,
            &forwarded_for("2001:db8::1".parse().expect("ip")),
            None,
        );
        assert_eq!(values(&headers, "x-forwarded-for"), [b"2001:db8::1"]);
        assert!(!headers.contains_key("x-forwarded-host"));
    }

    #[test]
    fn malformed_host_is_not_forwarded() {
        for host in [
            "",
            "evil.test, app.localhost",
            "a b",
            "app\r\nx: y",
            "ex@mple",
            "héllo",
        ] {
            let mut headers = map(&[("x-forwarded-host", b"spoofed")]);
            set_forwarded_headers(
                &mut headers,
                &forwarded_for("192.0.2.1".parse().expect("ip")),
                Some(host),
            );
            assert!(!headers.contains_key("x-forwarded-host"), "{host:?}");
        }
        let mut headers = HeaderMap::new();
        set_forwarded_headers(
            &mut headers,
            &forwarded_for("192.0.2.1".parse().expect("ip")),
            Some("[::1]:8443"),
        );
        assert_eq!(values(&headers, "x-forwarded-host"), [b"[::1]:8443"]);
    }

    // --- session cookie ---

    #[test]
    fn session_cookie_is_found_among_others() {
        let headers = map(&[("cookie", b"a=1;  __Host-gatehouse = abc ;b=2")]);
        assert_eq!(
            session_cookie(&headers, COOKIE_NAME),
            CookieLookup::One("abc")
        );
    }

    #[test]
    fn session_cookie_is_found_across_several_cookie_headers() {
        let headers = map(&[
            ("cookie", b"a=1"),
            ("cookie", b"__Host-gatehouse=abc"),
            ("cookie", b"b=2"),
        ]);
        assert_eq!(
            session_cookie(&headers, COOKIE_NAME),
            CookieLookup::One("abc")
        );
    }

    #[test]
    fn absent_session_cookie() {
        assert_eq!(
            session_cookie(&HeaderMap::new(), COOKIE_NAME),
            CookieLookup::Absent
        );
        let headers = map(&[(
            "cookie",
            b"a=1; __host-gatehouse=abc; __Host-gatehousex=1; __Host-gatehouse",
        )]);
        assert_eq!(session_cookie(&headers, COOKIE_NAME), CookieLookup::Absent);
        assert_eq!(
            session_cookie(&map(&[("cookie", b"")]), COOKIE_NAME),
            CookieLookup::Absent
        );
        assert_eq!(
            session_cookie(&map(&[("cookie", b";;; ;")]), COOKIE_NAME),
            CookieLookup::Absent
        );
        assert_eq!(
            session_cookie(&map(&[("cookie", b"=x")]), ""),
            CookieLookup::Absent
        );
    }

    #[test]
    fn empty_session_cookie_value_is_returned_for_the_id_parser_to_refuse() {
        let headers = map(&[("cookie", b"__Host-gatehouse=")]);
        assert_eq!(session_cookie(&headers, COOKIE_NAME), CookieLookup::One(""));
    }

    #[test]
    fn odd_cookie_values_do_not_panic() {
        let headers = map(&[("cookie", b"__Host-gatehouse=*; a=\xff\x80\"x")]);
        assert_eq!(
            session_cookie(&headers, COOKIE_NAME),
            CookieLookup::One("*")
        );
        let binary = map(&[("cookie", b"__Host-gatehouse=\xff\xfe")]);
        assert_eq!(session_cookie(&binary, COOKIE_NAME), CookieLookup::Absent);
        let other_binary = map(&[("cookie", b"x=\xff; __Host-gatehouse=abc")]);
        assert_eq!(
            session_cookie(&other_binary, COOKIE_NAME),
            CookieLookup::One("abc")
        );
    }

    #[test]
    fn session_cookie_twice_is_ambiguous() {
        let one_header = map(&[("cookie", b"__Host-gatehouse=mine; __Host-gatehouse=planted")]);
        assert_eq!(
            session_cookie(&one_header, COOKIE_NAME),
            CookieLookup::Ambiguous
        );
        let two_headers = map(&[
            ("cookie", b"__Host-gatehouse=mine"),
            ("cookie", b"__Host-gatehouse=mine"),
        ]);
        assert_eq!(
            session_cookie(&two_headers, COOKIE_NAME),
            CookieLookup::Ambiguous
        );
        let one_binary = map(&[
            ("cookie", b"__Host-gatehouse=\xff"),
            ("cookie", b"__Host-gatehouse=abc"),
        ]);
        assert_eq!(
            session_cookie(&one_binary, COOKIE_NAME),
            CookieLookup::Ambiguous
        );
    }

    #[test]
    fn session_cookie_is_stripped_and_others_kept_in_order() {
        let mut headers = map(&[
            ("cookie", b"a=1; __Host-gatehouse=abc"),
            ("cookie", b"b=2;__Host-gatehouse=def ;  c=3"),
        ]);
        strip_session_cookie(&mut headers, COOKIE_NAME);
        assert_eq!(values(&headers, "cookie"), [b"a=1; b=2; c=3"]);
    }

    #[test]
    fn cookie_header_is_removed_when_only_the_session_was_in_it() {
        let mut headers = map(&[("cookie", b"__Host-gatehouse=abc"), ("cookie", b" ; ")]);
        strip_session_cookie(&mut headers, COOKIE_NAME);
        assert!(!headers.contains_key("cookie"));
    }

    #[test]
    fn stripping_keeps_lookalike_and_binary_cookies() {
        let mut headers = map(&[(
            "cookie",
            b"__host-gatehouse=x; __Host-gatehouse=abc; bin=\xff; flag",
        )]);
        strip_session_cookie(&mut headers, COOKIE_NAME);
        assert_eq!(
            values(&headers, "cookie"),
            [b"__host-gatehouse=x; bin=\xff; flag".as_slice()]
        );
        let mut none = HeaderMap::new();
        strip_session_cookie(&mut none, COOKIE_NAME);
        assert!(none.is_empty());
    }

    #[test]
    fn session_set_cookie_is_dropped() {
        let mut headers = map(&[
            ("set-cookie", b"a=1; Path=/"),
            ("set-cookie", b"__Host-gatehouse=fixated; Path=/; Secure"),
            ("set-cookie", b" __Host-gatehouse =x"),
            ("set-cookie", b"=__Host-gatehouse=tossed"),
            ("set-cookie", b"__Host-gatehouse=; Max-Age=0"),
            ("set-cookie", b"b=2"),
        ]);
        drop_session_set_cookie(&mut headers, COOKIE_NAME);
        assert_eq!(
            values(&headers, "set-cookie"),
            [&b"a=1; Path=/"[..], b"b=2"]
        );
    }

    #[test]
    fn other_set_cookies_are_kept() {
        let mut headers = map(&[
            ("set-cookie", b"__HOST-gatehouse=x"),
            ("set-cookie", b"__Host-gatehousex=x"),
            ("set-cookie", b"__Host-gatehouse"),
            ("set-cookie", b"app=__Host-gatehouse=x"),
            ("set-cookie", b"\xff=\xff"),
        ]);
        drop_session_set_cookie(&mut headers, COOKIE_NAME);
        assert_eq!(headers.get_all("set-cookie").iter().count(), 5);
    }
}
