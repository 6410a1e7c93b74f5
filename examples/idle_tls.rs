//! Opens N TLS connections to gatehouse (or any TLS server on localhost)
//! and holds them idle, for the benchmark's memory-per-connection figure.
//!
//! `cargo run --release --example idle_tls -- ADDR N SECONDS`: prints
//! `ready` once all N handshakes are done, then holds them SECONDS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args.next().expect("ADDR").parse().expect("ADDR");
    let count: usize = args.next().expect("N").parse().expect("N");
    let hold = Duration::from_secs(args.next().expect("SECONDS").parse().expect("SECONDS"));

    let cert = concat!(env!("CARGO_MANIFEST_DIR"), "/certs/localhost.crt");
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).expect("read the dev certificate") {
        roots.add(c.expect("certificate")).expect("trust it");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from("localhost").expect("name");

    let mut held = Vec::with_capacity(count);
    for _ in 0..count {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let tls = connector
            .connect(name.clone(), tcp)
            .await
            .expect("TLS handshake");
        held.push(tls);
    }
    println!("ready");
    tokio::time::sleep(hold).await;
    drop(held);
}
