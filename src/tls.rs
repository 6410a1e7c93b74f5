//! The TLS server configuration: certificate chain and key from PEM files,
//! checked to belong together, TLS 1.3 and 1.2 with the `ring` provider,
//! ALPN for h2 and HTTP/1.1, no 0-RTT.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::ring::{default_provider, Ticketer};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ServerConfig;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::version::{TLS12, TLS13};

use crate::config::{self, ConfigError};

/// Builds the server side of TLS from `tls.cert` and `tls.key`.
///
/// Everything is checked here, at load time (and on reload), so that a bad
/// certificate is a config error instead of failed handshakes later: the
/// files must be readable PEM, the chain non-empty, and the key must be the
/// certificate's.
pub fn server_config(tls: &config::Tls) -> Result<Arc<ServerConfig>, ConfigError> {
    let certs = read_chain(&tls.cert)?;
    let key = read_key(&tls.key)?;
    let provider = Arc::new(default_provider());
    let certified = certified_key(&provider, &tls.cert, &tls.key, certs, key)?;

    let setup_error = |e: rustls::Error| ConfigError::new(&tls.cert, "tls", e.to_string());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&TLS13, &TLS12])
        .map_err(setup_error)?
        .with_no_client_auth()
        // One certificate whatever the SNI name: routing by host happens
        // after TLS, and a default certificate beats a failed handshake.
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // 0-RTT data can be replayed by an attacker; a proxy cannot know which
    // backend requests are safe to replay, so it accepts none.
    config.max_early_data_size = 0;
    // Stateless tickets keep resumption cheap without a shared cache.
    config.ticketer = Ticketer::new().map_err(setup_error)?;
    Ok(Arc::new(config))
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| ConfigError::unreadable(path, "tls.cert", &e))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::new(path, "tls.cert", pem_reason(&e, "certificate")))?;
    if certs.is_empty() {
        let reason = "holds no PEM certificate (expected \"-----BEGIN CERTIFICATE-----\")";
        return Err(ConfigError::new(path, "tls.cert", reason));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| ConfigError::unreadable(path, "tls.key", &e))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => ConfigError::new(
            path,
            "tls.key",
            "holds no PEM private key (expected \"-----BEGIN PRIVATE KEY-----\" or an EC/RSA key)",
        ),
        e => ConfigError::new(path, "tls.key", pem_reason(&e, "private key")),
    })
}

fn pem_reason(err: &pem::Error, what: &str) -> String {
    format!("is not a valid PEM {what} file: {err}")
}

/// Loads the key with the provider and proves it is the certificate's:
/// rustls would otherwise only notice when the first handshake fails.
fn certified_key(
    provider: &CryptoProvider,
    cert_path: &Path,
    key_path: &Path,
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<CertifiedKey, ConfigError> {
    let signing_key = provider.key_provider.load_private_key(key).map_err(|e| {
        ConfigError::new(
            key_path,
            "tls.key",
            format!("is not a usable private key: {e}"),
        )
    })?;
    let certified = CertifiedKey::new(certs, signing_key);
    certified.keys_match().map_err(|_| {
        let reason = format!("does not match the certificate in {}", cert_path.display());
        ConfigError::new(key_path, "tls.key", reason)
    })?;
    Ok(certified)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;

    fn repo_file(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
    }

    fn tls(cert: PathBuf, key: PathBuf) -> config::Tls {
        config::Tls {
            cert,
            key,
            hsts: Duration::ZERO,
        }
    }

    fn dev_pair() -> config::Tls {
        tls(
            repo_file("certs/localhost.crt"),
            repo_file("certs/localhost.key"),
        )
    }

    #[test]
    fn loads_the_development_pair() {
        let config = server_config(&dev_pair()).expect("valid pair");
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        assert_eq!(config.max_early_data_size, 0);
        assert!(config.ticketer.enabled());
    }

    #[test]
    fn missing_files_name_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.crt");
        let mut paths = dev_pair();
        paths.cert = missing.clone();
        let err = server_config(&paths).expect_err("missing cert");
        assert_eq!(err.file(), missing.as_path());
        assert_eq!(err.key(), "tls.cert");
        assert!(
            err.to_string()
                .contains("cannot read the file: No such file"),
            "{err}"
        );

        let mut paths = dev_pair();
        paths.key = dir.path().join("nope.key");
        assert_eq!(
            server_config(&paths).expect_err("missing key").key(),
            "tls.key"
        );
    }

    #[test]
    fn garbage_and_empty_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "this is not PEM\n").unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let broken = dir.path().join("broken.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();

        for file in [&garbage, &empty, &broken] {
            let mut paths = dev_pair();
            paths.cert = file.clone();
            let err = server_config(&paths).expect_err("bad cert");
            assert_eq!(
                (err.file(), err.key()),
                (file.as_path(), "tls.cert"),
                "{err}"
            );

            let mut paths = dev_pair();
            paths.key = file.clone();
            let err = server_config(&paths).expect_err("bad key");
            assert_eq!(
                (err.file(), err.key()),
                (file.as_path(), "tls.key"),
                "{err}"
            );
        }
        let mut paths = dev_pair();
        paths.cert = garbage;
        let err = server_config(&paths).unwrap_err();
        assert!(
            err.reason().starts_with("holds no PEM certificate"),
            "{err}"
        );
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let paths = tls(
            repo_file("certs/localhost.crt"),
            repo_file("tests/data/other.key"),
        );
        let err = server_config(&paths).expect_err("mismatched pair");
        assert_eq!(err.key(), "tls.key");
        assert!(
            err.reason().starts_with("does not match the certificate"),
            "{err}"
        );
    }
}
