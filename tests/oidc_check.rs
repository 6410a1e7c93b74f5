//! `gatehouse check` with `[login] provider = "oidc"`: no users file is
//! needed and the provider is not contacted (it may be down), but every
//! key is validated, and a plain-http issuer off loopback is refused with
//! the file, the key, the position and the reason.

use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

fn config(login: &str) -> String {
    let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs");
    format!(
        "[listen]\nhttps = \"127.0.0.1:8443\"\n\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n\n\
         [login]\nprovider = \"oidc\"\nclient_id = \"gatehouse\"\n{login}\n\n\
         [[route]]\npath = \"/\"\nupstream = \"http://127.0.0.1:3000\"\n",
        certs.join("localhost.crt").display(),
        certs.join("localhost.key").display(),
    )
}

/// Runs `gatehouse check` on `body` in a folder without a users file.
fn check(body: &str, env: &[(&str, &str)]) -> (Output, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy.toml");
    std::fs::write(&path, body).unwrap();
    let output = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&path)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run gatehouse check");
    (output, path, dir)
}

#[test]
fn a_valid_oidc_config_needs_no_users_file_and_no_provider() {
    // Nothing listens on port 9 of 127.0.0.1: check must not care.
    let body = config(
        "issuer = \"http://127.0.0.1:9\"\nclient_secret_env = \"GATEHOUSE_TEST_SECRET\"\n\
         allowed_groups = [\"staff\"]",
    );
    let (output, _, _dir) = check(&body, &[("GATEHOUSE_TEST_SECRET", "s3cret")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        !stderr.contains("s3cret") && !String::from_utf8_lossy(&output.stdout).contains("s3cret")
    );
}

#[test]
fn a_plain_http_issuer_off_loopback_is_a_config_error() {
    let body = config("issuer = \"http://id.example.com\"\nclient_secret = \"s3cret\"");
    let (output, path, _dir) = check(&body, &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = body.lines().position(|l| l.starts_with("issuer")).unwrap() + 1;
    let expected = format!("{}:{line}:10: login.issuer: ", path.display());
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("plain http"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
}

#[test]
fn a_missing_secret_is_a_config_error_that_never_quotes_secrets() {
    let body = config(
        "issuer = \"https://id.example.com\"\nclient_secret_env = \"GATEHOUSE_UNSET_SECRET\"",
    );
    let (output, _, _dir) = check(&body, &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("login.client_secret_env"), "{stderr}");
    assert!(stderr.contains("is not set"), "{stderr}");
}
