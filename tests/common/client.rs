//! Clients that talk to the proxy's TLS listener the way real ones do:
//! `reqwest` for ordinary requests, and a raw rustls stream for tests that
//! need exact bytes on the wire or the negotiated TLS parameters.
//!
//! Every client trusts only `certs/localhost.crt` and reaches the proxy as
//! `https://localhost:PORT`, so certificate and hostname checks stay on.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::cookie::Jar;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// The test certificate the proxy serves (self-signed, CN and SAN localhost).
pub const CERT_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/certs/localhost.crt");
/// Overall limit for one reqwest request, so a hung proxy fails the test.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Limit for a raw TCP connect plus TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`raw_request`] reads before giving up on EOF.
pub const RAW_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The PEM bytes of the test certificate.
pub fn cert_pem() -> Vec<u8> {
    std::fs::read(CERT_PATH).unwrap_or_else(|e| panic!("reading {CERT_PATH}: {e}"))
}

/// `https://localhost:PORT{path}` for the proxy listening on `proxy_https_addr`.
pub fn https_url(proxy_https_addr: SocketAddr, path: &str) -> String {
    format!("https://localhost:{}{path}", proxy_https_addr.port())
}

/// The common setup, for tests that need one more setting: trusts only the
/// test certificate, resolves `localhost` to the proxy, follows no
/// redirects (tests assert on them), and gives up after [`REQUEST_TIMEOUT`].
/// Offers HTTP/2 and HTTP/1.1 by ALPN.
pub fn https_client_builder(proxy_https_addr: SocketAddr) -> reqwest::ClientBuilder {
    let cert = reqwest::Certificate::from_pem(&cert_pem()).expect("parse test certificate");
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(cert)
        .resolve("localhost", proxy_https_addr)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
}

/// A client without cookies; HTTP/2 or HTTP/1.1 as ALPN decides.
pub fn https_client(proxy_https_addr: SocketAddr) -> reqwest::Client {
    build(https_client_builder(proxy_https_addr))
}

/// A client that keeps cookies like a browser, and the jar so a test can
/// look at them (e.g. `jar.cookies(&url)`).
pub fn https_client_with_cookies(proxy_https_addr: SocketAddr) -> (reqwest::Client, Arc<Jar>) {
    let jar = Arc::new(Jar::default());
    let client = build(https_client_builder(proxy_https_addr).cookie_provider(jar.clone()));
    (client, jar)
}

/// A client that offers only `http/1.1` by ALPN.
pub fn https_client_http1(proxy_https_addr: SocketAddr) -> reqwest::Client {
    build(https_client_builder(proxy_https_addr).http1_only())
}

/// A client that offers only `h2` by ALPN and speaks HTTP/2 from the start.
pub fn https_client_http2(proxy_https_addr: SocketAddr) -> reqwest::Client {
    build(https_client_builder(proxy_https_addr).http2_prior_knowledge())
}

fn build(builder: reqwest::ClientBuilder) -> reqwest::Client {
    builder.build().expect("build reqwest client")
}

/// A rustls client config (ring provider, TLS 1.2 and 1.3) that trusts only
/// the test certificate and offers `alpn`; tests may narrow it further.
pub fn tls_client_config(alpn: &[&[u8]]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut cert_pem().as_slice()) {
        roots
            .add(cert.expect("parse test certificate"))
            .expect("trust test certificate");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring supports the default TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// A TLS connection to `addr` as `localhost`, offering `alpn` (may be
/// empty). Inspect the result with `stream.get_ref().1.alpn_protocol()` or
/// `.protocol_version()`.
pub async fn tls_connect(addr: SocketAddr, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    tls_connect_with(addr, tls_client_config(alpn)).await
}

/// [`tls_connect`] with a caller-built config, e.g. one limited to TLS 1.2.
pub async fn tls_connect_with(
    addr: SocketAddr,
    config: rustls::ClientConfig,
) -> TlsStream<TcpStream> {
    let connector = TlsConnector::from(Arc::new(config));
    let server_name = ServerName::try_from("localhost").expect("valid server name");
    let connect = async {
        let tcp = TcpStream::connect(addr).await?;
        connector.connect(server_name, tcp).await
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, connect).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => panic!("TLS connect to {addr}: {e}"),
        Err(_) => panic!("TLS connect to {addr}: no handshake within {HANDSHAKE_TIMEOUT:?}"),
    }
}

/// Writes `bytes`, then reads until the peer closes or [`RAW_READ_TIMEOUT`]
/// passes, and returns everything read. Send `Connection: close` to get
/// the answer without waiting for the timeout.
pub async fn raw_request<S>(stream: &mut S, bytes: &[u8]) -> Vec<u8>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    raw_request_within(stream, bytes, RAW_READ_TIMEOUT).await
}

/// [`raw_request`] with its own read limit.
pub async fn raw_request_within<S>(stream: &mut S, bytes: &[u8], within: Duration) -> Vec<u8>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(bytes).await.expect("write raw request");
    stream.flush().await.expect("flush raw request");
    let mut response = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 16 * 1024];
    // A reset or a TLS close without close_notify also ends the answer.
    while let Ok(Ok(n @ 1..)) = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
        response.extend_from_slice(&buf[..n]);
    }
    response
}
