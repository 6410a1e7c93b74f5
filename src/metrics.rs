//! Prometheus metrics, served as text on the admin listener's `/metrics`.
//! One registry per running proxy (no global state), kept across reloads.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// A request by route (its path prefix, or `-` when none matched) and status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: Arc<str>,
    pub status: u16,
}

/// A latency by route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: Arc<str>,
}

/// One route's metrics, resolved once per config generation so that a
/// request costs no label allocation or family lookup for its latencies.
#[derive(Clone, Debug)]
pub struct RouteMetrics {
    route: Arc<str>,
    request_duration: Histogram,
    upstream_duration: Histogram,
}

impl RouteMetrics {
    /// Records how long the upstream took to send its response head.
    pub fn upstream(&self, duration: Duration) {
        self.upstream_duration.observe(duration.as_secs_f64());
    }
}

/// How a session lookup ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Lookup {
    /// A live session was found in the store.
    Hit,
    /// No session (no cookie, malformed, unknown, expired, user removed).
    Miss,
    /// Answered from the in-process cache without a store round trip.
    CacheHit,
    /// The store failed or timed out.
    StoreError,
}

impl Lookup {
    fn label(self) -> &'static str {
        match self {
            Lookup::Hit => "hit",
            Lookup::Miss => "miss",
            Lookup::CacheHit => "cache_hit",
            Lookup::StoreError => "store_error",
        }
    }
}

/// How a login attempt ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Login {
    Ok,
    Failed,
    LockedOut,
}

impl Login {
    fn label(self) -> &'static str {
        match self {
            Login::Ok => "ok",
            Login::Failed => "failed",
            Login::LockedOut => "locked_out",
        }
    }
}

/// A result label (`hit`, `failed`, …).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latency buckets from 100 µs to about 13 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

/// Every metric gatehouse exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: HistogramFamily<RouteLabels>,
    upstream_duration: HistogramFamily<RouteLabels>,
    session_lookups: Family<ResultLabels, Counter>,
    logins: Family<ResultLabels, Counter>,
    open_connections: Gauge,
    store_round_trip: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Metrics {
            registry: Registry::with_prefix("gatehouse"),
            requests: Family::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
            upstream_duration: Family::new_with_constructor(latency_histogram),
            session_lookups: Family::default(),
            logins: Family::default(),
            open_connections: Gauge::default(),
            store_round_trip: latency_histogram(),
        };
        let mut registry = m.registry;
        registry.register(
            "requests",
            "Requests by route and status",
            m.requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from request head to response head, by route",
            m.request_duration.clone(),
        );
        registry.register(
            "upstream_duration_seconds",
            "Time the upstream took to send its response head, by route",
            m.upstream_duration.clone(),
        );
        registry.register(
            "session_lookups",
            "Session lookups by result",
            m.session_lookups.clone(),
        );
        registry.register("logins", "Login attempts by result", m.logins.clone());
        registry.register(
            "open_connections",
            "Client connections open on the TLS listener",
            m.open_connections.clone(),
        );
        registry.register(
            "store_round_trip_seconds",
            "Session store round-trip time of session lookups",
            m.store_round_trip.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// The metrics of the route with path prefix `route` (`-` for requests
    /// no route matched).
    pub fn route(&self, route: &str) -> RouteMetrics {
        let labels = RouteLabels {
            route: Arc::from(route),
        };
        RouteMetrics {
            request_duration: self.request_duration.get_or_create(&labels).clone(),
            upstream_duration: self.upstream_duration.get_or_create(&labels).clone(),
            route: labels.route,
        }
    }

    /// Counts a request answered with `status` after `duration`.
    pub fn request(&self, route: &RouteMetrics, status: u16, duration: Duration) {
        route.request_duration.observe(duration.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                route: route.route.clone(),
                status,
            })
            .inc();
    }

    pub fn session_lookup(&self, result: Lookup) {
        self.session_lookups
            .get_or_create(&ResultLabels {
                result: result.label(),
            })
            .inc();
    }

    pub fn store_round_trip(&self, duration: Duration) {
        self.store_round_trip.observe(duration.as_secs_f64());
    }

    pub fn login(&self, result: Login) {
        self.logins
            .get_or_create(&ResultLabels {
                result: result.label(),
            })
            .inc();
    }

    /// Counts a client connection until the guard is dropped.
    pub fn connection_opened(&self) -> ConnectionGuard {
        self.open_connections.inc();
        ConnectionGuard(self.open_connections.clone())
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Decrements the open-connections gauge when the connection ends.
pub struct ConnectionGuard(Gauge);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_labels() {
        let m = Metrics::default();
        let api = m.route("/api");
        m.request(&api, 200, Duration::from_millis(3));
        api.upstream(Duration::from_millis(2));
        m.session_lookup(Lookup::CacheHit);
        m.login(Login::LockedOut);
        m.store_round_trip(Duration::from_micros(300));
        let guard = m.connection_opened();
        let text = m.render();
        assert!(
            text.contains(r#"gatehouse_requests_total{route="/api",status="200"} 1"#),
            "{text}"
        );
        assert!(text.contains("gatehouse_request_duration_seconds_bucket"));
        assert!(text.contains("gatehouse_upstream_duration_seconds_count{route=\"/api\"} 1"));
        assert!(
            text.contains(r#"gatehouse_session_lookups_total{result="cache_hit"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"gatehouse_logins_total{result="locked_out"} 1"#));
        assert!(text.contains("gatehouse_open_connections 1"));
        drop(guard);
        assert!(m.render().contains("gatehouse_open_connections 0"));
        assert!(text.contains("gatehouse_store_round_trip_seconds_count 1"));
    }
}
