//! Reading the admin listener: `/metrics` text and single series in it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

/// `GET http://ADMIN{path}`: status and body.
pub async fn admin_get(admin: SocketAddr, path: &str) -> (u16, String) {
    let resp = reqwest::Client::new()
        .get(format!("http://{admin}{path}"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("admin listener answers");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("admin body"))
}

/// The Prometheus text of `/metrics`.
pub async fn scrape(admin: SocketAddr) -> String {
    let (status, text) = admin_get(admin, "/metrics").await;
    assert_eq!(status, 200, "/metrics: {text}");
    text
}

/// The value of one series, written exactly as exposed (e.g.
/// `gatehouse_logins_total{result="failed"}`); 0 when absent, as for a
/// counter nobody has touched yet.
pub fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let rest = line.strip_prefix(series)?.strip_prefix(' ')?;
            Some(rest.trim().parse().expect("a number after the series"))
        })
        .unwrap_or(0.0)
}

/// [`value`] of a fresh scrape.
pub async fn series(admin: SocketAddr, series: &str) -> f64 {
    value(&scrape(admin).await, series)
}

/// Sessions answered from the in-process cache.
pub const CACHE_HITS: &str = r#"gatehouse_session_lookups_total{result="cache_hit"}"#;
