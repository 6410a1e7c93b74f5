//! Route selection: which `[[route]]` serves a request, by host and by the
//! longest path prefix on segment boundaries. Pure: no I/O.

use crate::config::Route;

/// The routes of one config, ordered for matching.
#[derive(Debug)]
pub struct Router {
    /// Sorted by path length, longest first, so the first match is the longest
    /// prefix; for equal paths, host-specific routes come before host-less ones.
    routes: Vec<(usize, Route)>,
}

impl Router {
    /// Builds a router; the index kept with each route is its position in
    /// `routes`, which is what [`find`](Self::find) answers.
    pub fn new(routes: &[Route]) -> Self {
        let mut routes: Vec<(usize, Route)> = routes.iter().cloned().enumerate().collect();
        routes.sort_by(|(_, a), (_, b)| {
            b.path
                .len()
                .cmp(&a.path.len())
                .then_with(|| b.host.is_some().cmp(&a.host.is_some()))
        });
        Router { routes }
    }

    /// The route for a request to `host` (as sent, any case, port allowed)
    /// and the normalized matching `path`. A route for a specific host always
    /// beats a host-less one with a shorter or equal prefix. Answers the
    /// route's position in the `routes` the router was built from.
    pub fn find(&self, host: Option<&str>, path: &str) -> Option<usize> {
        let host = host.map(strip_port);
        let for_host = self.routes.iter().find(|(_, r)| {
            matches!((&r.host, host), (Some(h), Some(want)) if h.eq_ignore_ascii_case(want))
                && prefix_matches(&r.path, path)
        });
        for_host
            .or_else(|| {
                self.routes
                    .iter()
                    .find(|(_, r)| r.host.is_none() && prefix_matches(&r.path, path))
            })
            .map(|(i, _)| *i)
    }
}

/// `/api` matches `/api` and `/api/x`, never `/apix`; `/` matches everything.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// `Host` without its port; IPv6 literals keep their brackets.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Auth;
    use std::time::Duration;

    fn route(host: Option<&str>, path: &str, port: u16) -> Route {
        Route {
            host: host.map(str::to_owned),
            path: path.to_owned(),
            upstream: format!("127.0.0.1:{port}").parse().unwrap(),
            auth: Auth::Public,
            groups: vec![],
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
        }
    }

    /// The port of the found route's upstream (each test route has its own).
    fn port(routes: &[Route], found: Option<usize>) -> Option<u16> {
        found.map(|i| routes[i].upstream.port_u16().unwrap())
    }

    #[test]
    fn longest_prefix_wins_on_segment_boundaries() {
        let routes = [
            route(None, "/", 1),
            route(None, "/api", 2),
            route(None, "/api/v2", 3),
        ];
        let router = Router::new(&routes);
        assert_eq!(port(&routes, router.find(None, "/")), Some(1));
        assert_eq!(port(&routes, router.find(None, "/apix")), Some(1));
        assert_eq!(port(&routes, router.find(None, "/api")), Some(2));
        assert_eq!(port(&routes, router.find(None, "/api/")), Some(2));
        assert_eq!(port(&routes, router.find(None, "/api/v2x")), Some(2));
        assert_eq!(port(&routes, router.find(None, "/api/v2/users")), Some(3));
    }

    #[test]
    fn host_is_exact_case_insensitive_and_ignores_port() {
        let routes = [route(Some("app.test"), "/", 1), route(None, "/x", 2)];
        let router = Router::new(&routes);
        assert_eq!(
            port(&routes, router.find(Some("APP.test:8443"), "/")),
            Some(1)
        );
        assert_eq!(
            port(&routes, router.find(Some("app.test"), "/x/y")),
            Some(1)
        );
        assert_eq!(
            port(&routes, router.find(Some("other.test"), "/x")),
            Some(2)
        );
        assert_eq!(port(&routes, router.find(Some("other.test"), "/")), None);
        assert_eq!(port(&routes, router.find(Some("sub.app.test"), "/")), None);
        assert_eq!(port(&routes, router.find(None, "/")), None);
    }

    #[test]
    fn no_match_is_none() {
        let routes = [route(None, "/api", 1)];
        let router = Router::new(&routes);
        assert!(router.find(None, "/").is_none());
        assert!(router.find(None, "/ap").is_none());
    }

    #[test]
    fn strip_port_handles_ipv6() {
        assert_eq!(strip_port("[::1]:8443"), "[::1]");
        assert_eq!(strip_port("[::1]"), "[::1]");
        assert_eq!(strip_port("localhost:1"), "localhost");
        assert_eq!(strip_port("localhost"), "localhost");
    }
}
