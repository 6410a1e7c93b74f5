//! Reload (SPEC §6, SIGHUP): proxy.toml, users.toml and the certificates
//! are read again; a bad new config is refused and the old one keeps
//! serving; open connections and requests in flight are not dropped; users
//! removed from the users file lose their sessions.

#[allow(dead_code)] // not every helper of the shared harness is used here
mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use common::backend::Backend;
use common::client::{cert_pem, https_client, https_url, CERT_PATH};
use common::gatehouse::{self, Gatehouse};
use common::login::{api_get, login_ok, start_ready, TestStore};
use common::poll::eventually;
use common::process::{fix_ports, Process};
use common::wire;

const WAIT: Duration = Duration::from_secs(5);

fn edit(path: &Path, change: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).expect("read");
    std::fs::write(path, change(text)).expect("write");
}

/// Reloads and returns once that reload has been applied (or refused): the
/// run loop handles reloads one at a time from a channel of capacity one,
/// so the third send can only complete after the first reload finished.
/// The two extra reloads read the same files; change nothing until they
/// are done too, or poll for the change.
async fn reload_applied(g: &Gatehouse) {
    for _ in 0..3 {
        g.reload().await;
    }
}

async fn status(client: &reqwest::Client, g: &Gatehouse, path: &str) -> StatusCode {
    client.get(g.url(path)).send().await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_added_to_proxy_toml_is_served_after_reload() {
    let old = Backend::start().await;
    let new = Backend::start().await;
    let g = gatehouse::builder()
        .route(gatehouse::route("/app", &old.url(), "public"))
        .start()
        .await;
    let client = https_client(g.https);
    assert_eq!(status(&client, &g, "/new/x").await, StatusCode::NOT_FOUND);

    edit(&g.files.config, |text| {
        text + "\n" + &gatehouse::route("/new", &new.url(), "public")
    });
    g.reload().await;
    eventually("the new route serves", || async {
        status(&client, &g, "/new/x").await == StatusCode::OK
    })
    .await;
    assert_eq!(new.seen().last().unwrap().path, "/new/x");
    assert_eq!(status(&client, &g, "/app/y").await, StatusCode::OK);
    assert_eq!(old.seen().last().unwrap().path, "/app/y");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_proxy_toml_is_refused_and_the_old_routes_keep_serving() {
    let old = Backend::start().await;
    let new = Backend::start().await;
    let g = gatehouse::builder()
        .route(gatehouse::route("/app", &old.url(), "public"))
        .start()
        .await;
    let client = https_client(g.https);

    // A new route, and an unknown key that makes the whole file invalid.
    edit(&g.files.config, |text| {
        text.replacen("[listen]\n", "[listen]\nfrobnicate = true\n", 1)
            + "\n"
            + &gatehouse::route("/new", &new.url(), "public")
    });
    reload_applied(&g).await;
    assert_eq!(status(&client, &g, "/app/still").await, StatusCode::OK);
    assert_eq!(old.seen().last().unwrap().path, "/app/still");
    assert_eq!(
        status(&client, &g, "/new/x").await,
        StatusCode::NOT_FOUND,
        "nothing of the refused file applies"
    );
    assert!(new.seen().is_empty());

    // Fixed, it applies.
    edit(&g.files.config, |text| {
        text.replacen("frobnicate = true\n", "", 1)
    });
    g.reload().await;
    eventually("the fixed file applies", || async {
        status(&client, &g, "/new/x").await == StatusCode::OK
    })
    .await;
}

/// A self-signed certificate for localhost and 127.0.0.1, made by openssl in `dir`.
fn new_certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("second.crt"), dir.join("second.key"));
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is installed (apt-get install openssl)");
    assert!(out.status.success(), "openssl: {out:?}");
    (cert, key)
}

fn der(pem: &[u8]) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem).expect("one PEM certificate")
}

/// The certificate the server presented on a new handshake, with a client
/// that trusts both the old and the new one.
async fn presented(addr: std::net::SocketAddr, new_cert: &Path) -> CertificateDer<'static> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der(&cert_pem())).unwrap();
    roots.add(der(&std::fs::read(new_cert).unwrap())).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("handshake with a client that trusts both certificates");
    let certs = tls.get_ref().1.peer_certificates().expect("a certificate");
    certs[0].clone().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_certificate_serves_new_handshakes_and_old_connections_keep_working() {
    let backend = Backend::start().await;
    let g = gatehouse::builder()
        .route(gatehouse::route("/", &backend.url(), "public"))
        .start()
        .await;
    let (new_cert, new_key) = new_certificate(g.files.dir.path());
    let old_der = der(&cert_pem());
    let new_der = der(&std::fs::read(&new_cert).unwrap());
    assert_ne!(old_der, new_der);
    assert_eq!(presented(g.https, &new_cert).await, old_der);

    // A keep-alive HTTP/1.1 connection from before the reload.
    let mut kept = common::client::tls_connect(g.https, &[b"http/1.1"]).await;
    let request = b"GET /before HTTP/1.1\r\nHost: localhost\r\n\r\n";
    kept.write_all(request).await.unwrap();
    let reply = wire::read_one(&mut kept, WAIT).await.expect("an answer");
    assert_eq!(reply.status, 200);

    let manifest_key = CERT_PATH.replace("localhost.crt", "localhost.key");
    edit(&g.files.config, |text| {
        text.replacen(CERT_PATH, new_cert.to_str().unwrap(), 1)
            .replacen(&manifest_key, new_key.to_str().unwrap(), 1)
    });
    g.reload().await;
    eventually("new handshakes present the new certificate", || async {
        presented(g.https, &new_cert).await == new_der
    })
    .await;

    // The old connection still works, on the certificate it started with.
    assert_eq!(
        kept.get_ref().1.peer_certificates().unwrap()[0],
        old_der,
        "an open connection is not re-handshaked"
    );
    let request = b"GET /after HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    kept.write_all(request).await.unwrap();
    let reply = wire::read_one(&mut kept, WAIT)
        .await
        .expect("the connection opened before the reload still answers");
    assert_eq!(reply.status, 200);
    assert_eq!(backend.seen().last().unwrap().path, "/after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_flight_during_a_reload_completes() {
    let old = Backend::start().await;
    let new = Backend::start().await;
    let g = gatehouse::builder()
        .route(gatehouse::route("/", &old.url(), "public"))
        .start()
        .await;
    let client = https_client(g.https);
    let url = g.url("/delay?ms=500");
    let in_flight = tokio::spawn({
        let client = client.clone();
        async move {
            let resp = client.get(url).send().await?;
            let status = resp.status();
            Ok::<_, reqwest::Error>((status, resp.text().await?))
        }
    });
    old.wait_for_requests(1, WAIT).await;

    // The reload moves `/` to another backend while the request is held.
    edit(&g.files.config, |text| text.replace(&old.url(), &new.url()));
    reload_applied(&g).await;
    assert!(
        !in_flight.is_finished(),
        "the reload was applied mid-request"
    );
    let (status, body) = tokio::time::timeout(WAIT, in_flight)
        .await
        .expect("the request in flight completes")
        .unwrap()
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"/delay?ms=500\""), "{body}");
    assert_eq!(
        client.get(g.url("/next")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        new.seen().last().unwrap().path,
        "/next",
        "the new generation serves"
    );
}

async fn removed_users_lose_their_sessions(store: TestStore) {
    let backend = Backend::start().await;
    let g = start_ready(
        gatehouse::builder()
            .store(&store.url())
            .route(gatehouse::route("/", &backend.url(), "required"))
            .user("alice", "alice@example.com", &["staff"])
            .user("bob", "bob@example.com", &["staff"]),
    )
    .await;
    let client = https_client(g.https);
    let alice = login_ok(&client, &g, "alice").await;
    let bob = login_ok(&client, &g, "bob").await;
    for id in [&alice, &bob] {
        assert_eq!(api_get(&client, &g, "/", id).await.status(), StatusCode::OK);
    }

    let users = g.files.dir.path().join("users.toml");
    edit(&users, |text| {
        text.split("\n\n")
            .filter(|user| !user.contains("name = \"alice\""))
            .collect::<Vec<_>>()
            .join("\n\n")
    });
    g.reload().await;
    eventually("alice's session ends", || async {
        api_get(&client, &g, "/", &alice).await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
    assert_eq!(
        api_get(&client, &g, "/", &bob).await.status(),
        StatusCode::OK
    );
    // Putting alice back does not revive the ended session.
    edit(&users, |text| {
        text + "\n"
            + &format!(
                "[[user]]\nname = \"alice\"\npassword = \"{}\"\n",
                gatehouse::password_hash()
            )
    });
    reload_applied(&g).await;
    assert_eq!(
        api_get(&client, &g, "/", &alice).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api_get(&client, &g, "/", &bob).await.status(),
        StatusCode::OK
    );
}

on_both_stores! {
    removed_users_lose_their_sessions
        => removed_users_lose_their_sessions_memory, removed_users_lose_their_sessions_redis;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_a_broken_config_logs_reload_refused_and_keeps_serving() {
    let backend = Backend::start().await;
    // One worker: the binary runs a single-threaded runtime then, and
    // reloading (a blocking task) and draining must work on it too.
    let files = gatehouse::builder()
        .section("[server]\nworkers = 1\n")
        .route(gatehouse::route("/app", &backend.url(), "public"))
        .write();
    let ports = fix_ports(&files.config);
    let mut proxy = Process::start(&files.config, &[]);
    proxy.wait_accepting(ports.https).await;
    let client = https_client(ports.https);
    let get = |path: &'static str| {
        let client = client.clone();
        async move {
            client
                .get(https_url(ports.https, path))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(get("/app/1").await, StatusCode::OK);

    edit(&files.config, |text| {
        text.replacen("[listen]\n", "[listen]\nfrobnicate = true\n", 1)
            + "\n"
            + &gatehouse::route("/new", &backend.url(), "public")
    });
    proxy.signal("HUP");
    proxy.wait_log("reload refused", 1).await;
    let log = proxy.stderr();
    let refused = log.lines().find(|l| l.contains("reload refused")).unwrap();
    assert!(
        refused.contains("frobnicate"),
        "names the bad key: {refused}"
    );
    assert_eq!(get("/app/2").await, StatusCode::OK, "still serving");
    assert_eq!(
        get("/new/x").await,
        StatusCode::NOT_FOUND,
        "old routes only"
    );

    edit(&files.config, |text| {
        text.replacen("frobnicate = true\n", "", 1)
    });
    proxy.signal("HUP");
    proxy.wait_log("reloaded", 1).await;
    assert_eq!(get("/new/x").await, StatusCode::OK);

    let (code, log) = proxy.stop();
    assert_eq!(code, Some(0), "{log}");
}
