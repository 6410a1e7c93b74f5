//! The front door: TLS versions and ALPN as a client negotiates them,
//! HTTP/2 end to end, `Strict-Transport-Security`, and the plain-HTTP
//! listener's redirect to https.

#[allow(dead_code)] // not every helper of the shared harness is used here
mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::backend::Backend;
use common::client::{
    cert_pem, https_client, https_client_http1, https_client_http2, tls_connect, tls_connect_with,
};
use common::gatehouse::{builder, route, Gatehouse};
use common::wire;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::ProtocolVersion;

const HSTS_ONE_YEAR: &str = "max-age=31536000";

async fn proxy_to(backend: &Backend) -> Gatehouse {
    builder()
        .route(route("/", &backend.url(), "public"))
        .start()
        .await
}

/// A rustls client that offers TLS 1.2 and nothing else.
fn tls12_only_config() -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&cert_pem()) {
        roots.add(cert.unwrap()).unwrap();
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[tokio::test]
async fn a_tls13_client_negotiates_tls13() {
    let backend = Backend::start().await;
    let g = proxy_to(&backend).await;
    let tls = tls_connect(g.https, &[b"http/1.1"]).await;
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(ProtocolVersion::TLSv1_3)
    );
}

#[tokio::test]
async fn a_tls12_only_client_connects_and_is_served() {
    let backend = Backend::start().await;
    let g = proxy_to(&backend).await;
    let mut config = tls12_only_config();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut tls = tls_connect_with(g.https, config).await;
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(ProtocolVersion::TLSv1_2)
    );

    let host = format!("localhost:{}", g.https.port());
    let bytes = common::client::raw_request(&mut tls, &wire::get("/tls12", &host, "")).await;
    let reply = wire::parse(&bytes).expect("a response over TLS 1.2");
    assert_eq!(reply.status, 200);
}

/// Runs `openssl s_client` against `addr` with `flags`; the handshake
/// outcome and everything it printed. Fails with a hint when openssl is
/// not installed.
fn openssl_handshake(addr: SocketAddr, flags: &[&str]) -> (bool, String) {
    let output = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            "localhost",
        ])
        .args(flags)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `openssl` ({e}); install it: apt-get install openssl")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // s_client exits non-zero when the handshake fails, and prints a
    // session without a cipher.
    let handshake = output.status.success() && !text.contains("Cipher is (NONE)");
    (handshake, text)
}

#[tokio::test]
async fn a_client_offering_only_tls11_or_tls10_is_refused() {
    let backend = Backend::start().await;
    let g = proxy_to(&backend).await;
    let addr = g.https;
    // SECLEVEL=0 lets OpenSSL 3 itself offer the old versions at all, so a
    // failure below is the server's refusal, not the client's.
    let (results, control) = tokio::task::spawn_blocking(move || {
        let old: Vec<_> = ["-tls1_1", "-tls1"]
            .into_iter()
            .map(|flag| {
                (
                    flag,
                    openssl_handshake(addr, &[flag, "-cipher", "DEFAULT@SECLEVEL=0"]),
                )
            })
            .collect();
        (old, openssl_handshake(addr, &["-tls1_2", "-brief"]))
    })
    .await
    .unwrap();
    assert!(
        control.0,
        "control: openssl -tls1_2 should connect: {}",
        control.1
    );
    for (flag, (handshake, text)) in results {
        assert!(!handshake, "openssl {flag} completed a handshake:\n{text}");
        assert!(
            // rustls answers a ClientHello without TLS 1.2 or 1.3 with a
            // handshake_failure alert (40) rather than protocol_version (70).
            text.contains("alert handshake failure") || text.contains("alert protocol version"),
            "openssl {flag} was not refused by the server's alert:\n{text}"
        );
    }
}

#[tokio::test]
async fn alpn_picks_h2_when_offered() {
    let backend = Backend::start().await;
    let g = proxy_to(&backend).await;
    let tls = tls_connect(g.https, &[b"h2", b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
}

#[tokio::test]
async fn alpn_picks_http11_when_only_that_is_offered() {
    let backend = Backend::start().await;
    let g = proxy_to(&backend).await;
    let tls = tls_connect(g.https, &[b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[tokio::test]
async fn http2_requests_are_served_and_reach_the_backend_as_http11() {
    let backend = Backend::start().await;
    let g = proxy_to(&backend).await;
    let response = https_client_http2(g.https)
        .get(g.url("/over-h2?q=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let json: serde_json::Value = response.json().await.unwrap();
    assert_eq!(json["path"], "/over-h2?q=1");

    let seen = backend.wait_for_requests(1, Duration::from_secs(5)).await;
    assert_eq!(seen[0].version, hyper::Version::HTTP_11);
    assert_eq!(
        seen[0].header_str("host"),
        Some(&*format!("localhost:{}", g.https.port()))
    );
}

#[tokio::test]
async fn a_client_that_lets_alpn_decide_gets_http2() {
    let backend = Backend::start().await;
    let g = proxy_to(&backend).await;
    let response = https_client(g.https).get(g.url("/")).send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn hsts_is_on_proxied_responses_and_on_the_proxys_own_errors() {
    let backend = Backend::start().await;
    let g = builder()
        .route(route("/app", &backend.url(), "public"))
        .start()
        .await;
    let client = https_client_http1(g.https);

    let proxied = client.get(g.url("/app/page")).send().await.unwrap();
    assert_eq!(proxied.status(), 200);
    assert_eq!(
        proxied.headers()["strict-transport-security"],
        HSTS_ONE_YEAR
    );

    let not_found = client.get(g.url("/nowhere")).send().await.unwrap();
    assert_eq!(not_found.status(), 404);
    assert_eq!(
        not_found.headers()["strict-transport-security"],
        HSTS_ONE_YEAR
    );

    let h2 = https_client_http2(g.https)
        .get(g.url("/app/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(h2.headers()["strict-transport-security"], HSTS_ONE_YEAR);
}

#[tokio::test]
async fn hsts_zero_sends_no_strict_transport_security() {
    let backend = Backend::start().await;
    let files = builder()
        .route(route("/app", &backend.url(), "public"))
        .write();
    // The harness writes `[tls]` itself; a table may appear only once, so
    // the key goes into the written file.
    let toml = std::fs::read_to_string(&files.config).unwrap();
    let toml = toml.replacen("[tls]\n", "[tls]\nhsts = \"0s\"\n", 1);
    std::fs::write(&files.config, toml).unwrap();
    let g = Gatehouse::start(files).await;
    let client = https_client_http1(g.https);

    for path in ["/app/page", "/nowhere"] {
        let response = client.get(g.url(path)).send().await.unwrap();
        assert!(
            !response.headers().contains_key("strict-transport-security"),
            "{path}: {:?}",
            response.headers()
        );
    }
}

#[tokio::test]
async fn the_http_listener_redirects_to_https_keeping_path_and_query() {
    let backend = Backend::start().await;
    let g = builder()
        .route(route("/", &backend.url(), "public"))
        .with_http_listener()
        .start()
        .await;
    let http = g.http.expect("plain listener");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let response = client
        .post(format!(
            "http://localhost:{}/some/page?x=1&y=a%20b",
            http.port()
        ))
        .body("not forwarded")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 308);
    assert_eq!(
        response.headers()["location"],
        &*format!("https://localhost:{}/some/page?x=1&y=a%20b", g.https.port())
    );
    assert!(backend.seen().is_empty(), "{:?}", backend.seen());
}
