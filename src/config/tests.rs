//! Tests for `load`: real files in a temp dir, errors checked for file, key,
//! line:column and reason.

use std::path::Path;
use std::time::Duration;

use super::*;

const ROUTE: &str = "[[route]]\npath = \"/\"\nupstream = \"http://127.0.0.1:3000\"\n";

fn load_str(body: &str) -> (tempfile::TempDir, Result<Config, ConfigError>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("proxy.toml");
    std::fs::write(&path, body).expect("write proxy.toml");
    let result = load(&path);
    (dir, result)
}

fn ok(body: &str) -> Config {
    let (_dir, result) = load_str(body);
    result.unwrap_or_else(|e| panic!("expected a valid config, got: {e}"))
}

/// Loads `body`, expects an error at `key` and `line:column`, and returns
/// its reason after checking the whole sentence.
fn err(body: &str, key: &str, line_col: Option<(usize, usize)>) -> String {
    let (dir, result) = load_str(body);
    let e = result.expect_err("expected a config error");
    let file = dir.path().join("proxy.toml");
    assert_eq!(e.file(), file.as_path());
    assert_eq!(e.key(), key, "key of: {e}");
    let position = line_col.map(|(line, column)| Position { line, column });
    assert_eq!(e.position(), position, "position of: {e}");
    let mut sentence = file.display().to_string();
    if let Some((line, column)) = line_col {
        sentence += &format!(":{line}:{column}");
    }
    if !key.is_empty() {
        sentence += &format!(": {key}");
    }
    assert_eq!(e.to_string(), format!("{sentence}: {}", e.reason()));
    assert!(!e.to_string().contains('\n'), "one line: {e}");
    e.reason().to_string()
}

fn with_https(rest: &str) -> String {
    format!("[listen]\nhttps = \"127.0.0.1:8443\"\n{rest}")
}

#[test]
fn full_file() {
    let cfg = ok(r#"
[listen]
https = "127.0.0.1:8443"
http  = "127.0.0.1:8080"
admin = "127.0.0.1:9901"

[server]
workers = 3
app_name = "Intranet"

[tls]
cert = "c/a.crt"
key  = "/etc/gatehouse/a.key"
hsts = "0s"

[store]
url = "redis://127.0.0.1:6379/2"
key_prefix = "gh:"
cache_capacity = 0
timeout = "500ms"
max_entries = 10

[session]
cookie_name      = "__Host-sid"
idle_timeout     = "15m"
absolute_timeout = "8h"

[login]
users_file = "people.toml"
max_failures = 3
lockout      = "1m"

[headers]
user   = "Remote-User"
email  = "Remote-Email"
groups = "Remote-Groups"

[timeouts]
connect          = "1s"
response         = "20s"
client_header    = "5s"
keep_alive_idle  = "30s"
shutdown_drain   = "0s"
tls_handshake    = "3s"
max_header_bytes = 8192
max_body_bytes   = 0

[[route]]
host     = "App.Example.COM:8443"
path     = "/app/"
upstream = "http://backend"
auth     = "required"
groups   = ["staff", "ops"]
connect_timeout  = "3s"
response_timeout = "1m"

[[route]]
path     = "/"
upstream = "http://[::1]:3000/"
auth     = "public"
"#);
    assert_eq!(cfg.listen.https, "127.0.0.1:8443".parse().unwrap());
    assert_eq!(cfg.listen.http, Some("127.0.0.1:8080".parse().unwrap()));
    assert_eq!(cfg.listen.admin, Some("127.0.0.1:9901".parse().unwrap()));
    assert_eq!(cfg.server.workers, 3);
    assert_eq!(cfg.server.app_name, "Intranet");
    let folder = cfg.path.parent().unwrap();
    assert_eq!(cfg.tls.cert, folder.join("c/a.crt"));
    assert_eq!(cfg.tls.key, Path::new("/etc/gatehouse/a.key"));
    assert_eq!(cfg.tls.hsts, Duration::ZERO);
    assert_eq!(
        cfg.store.url,
        StoreUrl::Redis("redis://127.0.0.1:6379/2".into())
    );
    assert_eq!(cfg.store.key_prefix, "gh:");
    assert_eq!(cfg.store.cache_capacity, 0);
    assert_eq!(cfg.store.timeout, Duration::from_millis(500));
    assert_eq!(cfg.store.max_entries, 10);
    assert_eq!(cfg.session.cookie_name, "__Host-sid");
    assert_eq!(cfg.session.idle_timeout, Duration::from_secs(900));
    assert_eq!(cfg.session.absolute_timeout, Duration::from_secs(8 * 3600));
    assert_eq!(cfg.login.users_file, folder.join("people.toml"));
    assert_eq!(cfg.login.max_failures, 3);
    assert_eq!(cfg.login.lockout, Duration::from_secs(60));
    assert_eq!(cfg.headers.user.as_str(), "remote-user");
    assert_eq!(cfg.headers.email.as_str(), "remote-email");
    assert_eq!(cfg.headers.groups.as_str(), "remote-groups");
    let t = &cfg.timeouts;
    assert_eq!(t.connect, Duration::from_secs(1));
    assert_eq!(t.response, Duration::from_secs(20));
    assert_eq!(t.client_header, Duration::from_secs(5));
    assert_eq!(t.keep_alive_idle, Duration::from_secs(30));
    assert_eq!(t.shutdown_drain, Duration::ZERO);
    assert_eq!(t.tls_handshake, Duration::from_secs(3));
    assert_eq!(t.max_header_bytes, 8192);
    assert_eq!(t.max_body_bytes, None);
    let [app, root] = &cfg.routes[..] else {
        panic!("two routes")
    };
    assert_eq!(app.host.as_deref(), Some("app.example.com"));
    assert_eq!(app.path, "/app");
    assert_eq!(app.upstream.as_str(), "backend:80");
    assert_eq!(app.auth, Auth::Required);
    assert_eq!(app.groups, ["staff", "ops"]);
    assert_eq!(app.connect_timeout, Duration::from_secs(3));
    assert_eq!(app.response_timeout, Duration::from_secs(60));
    assert_eq!(root.host, None);
    assert_eq!(root.path, "/");
    assert_eq!(root.upstream.as_str(), "[::1]:3000");
    assert_eq!(root.auth, Auth::Public);
    assert!(root.groups.is_empty());
    assert_eq!(
        root.connect_timeout,
        Duration::from_secs(1),
        "from [timeouts]"
    );
    assert_eq!(
        root.response_timeout,
        Duration::from_secs(20),
        "from [timeouts]"
    );
}

#[test]
fn defaults() {
    let cfg = ok(&with_https(ROUTE));
    let folder = cfg.path.parent().unwrap().to_path_buf();
    assert!(folder.is_absolute());
    assert_eq!(cfg.listen.http, None);
    assert_eq!(cfg.listen.admin, None);
    assert!(cfg.server.workers >= 1, "0 becomes the CPU count");
    assert_eq!(cfg.server.app_name, "gatehouse");
    assert_eq!(cfg.tls.cert, folder.join("certs/localhost.crt"));
    assert_eq!(cfg.tls.key, folder.join("certs/localhost.key"));
    assert_eq!(cfg.tls.hsts, Duration::from_secs(365 * 86400));
    assert_eq!(cfg.store.url, StoreUrl::Memory);
    assert_eq!(cfg.store.key_prefix, "gatehouse:");
    assert_eq!(cfg.store.cache_capacity, 100_000);
    assert_eq!(cfg.store.timeout, Duration::from_secs(2));
    assert_eq!(cfg.store.max_entries, 100_000);
    assert_eq!(cfg.session.cookie_name, "__Host-gatehouse");
    assert_eq!(cfg.session.idle_timeout, Duration::from_secs(30 * 60));
    assert_eq!(cfg.session.absolute_timeout, Duration::from_secs(12 * 3600));
    assert_eq!(cfg.login.users_file, folder.join("users.toml"));
    assert_eq!(cfg.login.max_failures, 5);
    assert_eq!(cfg.login.lockout, Duration::from_secs(300));
    assert_eq!(cfg.headers.user.as_str(), "x-forwarded-user");
    assert_eq!(cfg.headers.email.as_str(), "x-forwarded-email");
    assert_eq!(cfg.headers.groups.as_str(), "x-forwarded-groups");
    let t = &cfg.timeouts;
    assert_eq!(t.connect, Duration::from_secs(2));
    assert_eq!(t.response, Duration::from_secs(30));
    assert_eq!(t.client_header, Duration::from_secs(10));
    assert_eq!(t.keep_alive_idle, Duration::from_secs(60));
    assert_eq!(t.shutdown_drain, Duration::from_secs(15));
    assert_eq!(t.tls_handshake, Duration::from_secs(10));
    assert_eq!(t.max_header_bytes, 65536);
    assert_eq!(t.max_body_bytes, Some(10 * 1024 * 1024));
    let route = &cfg.routes[0];
    assert_eq!(route.auth, Auth::Required);
    assert_eq!(route.upstream.as_str(), "127.0.0.1:3000");
    assert_eq!(route.connect_timeout, Duration::from_secs(2));
    assert_eq!(route.response_timeout, Duration::from_secs(30));
}

#[test]
fn unreadable_file_names_the_os_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.toml");
    let e = load(&path).expect_err("missing file");
    assert_eq!(e.file(), path.as_path());
    assert_eq!(e.position(), None);
    let msg = e.to_string();
    assert!(msg.starts_with(&path.display().to_string()), "{msg}");
    assert!(
        msg.contains("cannot read the file: No such file or directory"),
        "{msg}"
    );
}

#[test]
fn bad_duration() {
    let body = with_https(&format!("[timeouts]\nconnect = \"5 parsecs\"\n{ROUTE}"));
    let reason = err(&body, "timeouts.connect", Some((4, 11)));
    assert_eq!(
        reason,
        r#""5 parsecs" is not a duration (use e.g. "250ms", "2s", "30m")"#
    );
    let body = with_https(&format!("{ROUTE}response_timeout = \"soon\"\n"));
    err(&body, "route[0].response_timeout", Some((6, 20)));
    let body = with_https(&format!("[timeouts]\nresponse = \"0s\"\n{ROUTE}"));
    let reason = err(&body, "timeouts.response", Some((4, 12)));
    assert_eq!(reason, r#""0s" must be longer than zero"#);
}

#[test]
fn unknown_keys() {
    let body = with_https(&format!("colour = \"red\"\n{ROUTE}"));
    let reason = err(&body, "listen.colour", Some((3, 1)));
    assert_eq!(
        reason,
        "unknown key, expected one of `https`, `http`, `admin`"
    );
    let body = with_https(&format!("[extra]\nx = 1\n{ROUTE}"));
    assert!(err(&body, "extra", Some((3, 2))).starts_with("unknown key, expected one of"));
    let body = with_https(&format!("{ROUTE}{ROUTE}timeout = \"1s\"\n"));
    assert!(err(&body, "route[1].timeout", Some((9, 1))).starts_with("unknown key"));
}

#[test]
fn wrong_types_and_syntax() {
    let body = with_https(&format!("[server]\nworkers = \"four\"\n{ROUTE}"));
    let reason = err(&body, "server.workers", Some((4, 11)));
    assert!(reason.contains("expected usize"), "{reason}");
    let body = with_https(&format!("[login]\nmax_failures = -1\n{ROUTE}"));
    err(&body, "login.max_failures", Some((4, 16)));
    let reason = err("[listen\n", "listen", Some((1, 8)));
    assert_eq!(reason, "invalid table header; expected `.`, `]`");
}

#[test]
fn listen_addresses() {
    let reason = err(ROUTE, "listen.https", None);
    assert!(reason.starts_with("is required"), "{reason}");
    let body = format!("[listen]\nhttps = \"localhost:8443\"\n{ROUTE}");
    let reason = err(&body, "listen.https", Some((2, 9)));
    assert!(
        reason.starts_with("\"localhost:8443\" is not a socket address"),
        "{reason}"
    );
    let body = with_https(&format!("admin = \"127.0.0.1:8443\"\n{ROUTE}"));
    assert!(err(&body, "listen.admin", Some((3, 9))).contains("already used by listen.https"));
}

#[test]
fn upstreams() {
    let cases = [
        ("https://127.0.0.1:3000", "uses https"),
        ("http://127.0.0.1:3000/app", "must not have a path"),
        (
            "http://127.0.0.1:3000/?a=b",
            "must not have a path or query",
        ),
        ("http://bob:pw@127.0.0.1:3000", "must not contain a user"),
        ("127.0.0.1:3000", "must be an http:// URL"),
        ("http://exa mple", "is not a URL"),
    ];
    for (upstream, expected) in cases {
        let body = with_https(&format!(
            "[[route]]\npath = \"/\"\nupstream = \"{upstream}\"\n"
        ));
        let reason = err(&body, "route[0].upstream", Some((5, 12)));
        assert!(reason.contains(expected), "{upstream}: {reason}");
        assert!(reason.starts_with(&format!("{upstream:?}")), "{reason}");
    }
    let body = with_https("[[route]]\npath = \"/\"\n");
    let reason = err(&body, "route[0].upstream", Some((3, 1)));
    assert!(reason.starts_with("is required"), "{reason}");
}

#[test]
fn route_paths_and_hosts() {
    let route = |extra: &str| with_https(&format!("[[route]]\nupstream = \"http://a:1\"\n{extra}"));
    let reason = err(&route("path = \"app\""), "route[0].path", Some((5, 8)));
    assert_eq!(reason, r#""app" must start with "/""#);
    err(&route("path = \"/a/../b\""), "route[0].path", Some((5, 8)));
    err(&route("path = \"/a?b\""), "route[0].path", Some((5, 8)));
    let reason = err(
        &route("path = \"/\"\nhost = \"*.example.com\""),
        "route[0].host",
        Some((6, 8)),
    );
    assert!(reason.contains("wildcard"), "{reason}");
    err(
        &route("path = \"/\"\nhost = \"a/b\""),
        "route[0].host",
        Some((6, 8)),
    );
    let reason = err(
        &route("path = \"/\"\nauth = \"maybe\""),
        "route[0].auth",
        Some((6, 8)),
    );
    assert_eq!(reason, r#""maybe" is not "required" or "public""#);
    let body = route("path = \"/\"\nauth = \"public\"\ngroups = [\"staff\"]");
    err(&body, "route[0].groups", Some((7, 11)));
    err(
        &route("path = \"/\"\ngroups = [\"a,b\"]"),
        "route[0].groups",
        Some((6, 11)),
    );
}

#[test]
fn duplicate_and_missing_routes() {
    let body = with_https(
        "[[route]]\nhost = \"a.test\"\npath = \"/x\"\nupstream = \"http://a:1\"\n\
         [[route]]\npath = \"/x\"\nupstream = \"http://a:1\"\n\
         [[route]]\nhost = \"A.test:443\"\npath = \"/x/\"\nupstream = \"http://b:1\"\n",
    );
    let reason = err(&body, "route[2].path", Some((12, 8)));
    assert_eq!(reason, "route[2] duplicates route[0] (same host and path)");
    let reason = err(&with_https(""), "route", None);
    assert!(reason.starts_with("no routes"), "{reason}");
}

#[test]
fn sessions() {
    let session = |s: &str| with_https(&format!("[session]\n{s}\n{ROUTE}"));
    let reason = err(
        &session("cookie_name = \"sid\""),
        "session.cookie_name",
        Some((4, 15)),
    );
    assert!(reason.contains("must start with \"__Host-\""), "{reason}");
    let reason = err(
        &session("cookie_name = \"__Host-a b\""),
        "session.cookie_name",
        Some((4, 15)),
    );
    assert!(reason.contains("not a valid cookie name"), "{reason}");
    let body = session("idle_timeout = \"13h\"");
    let reason = err(&body, "session.idle_timeout", Some((4, 16)));
    assert_eq!(
        reason,
        "the idle timeout (13h) must not exceed the absolute timeout (12h)"
    );
    err(
        &session("absolute_timeout = \"0s\""),
        "session.absolute_timeout",
        Some((4, 20)),
    );
}

#[test]
fn identity_headers() {
    let headers = |s: &str| with_https(&format!("[headers]\n{s}\n{ROUTE}"));
    let reason = err(&headers("user = \"X User\""), "headers.user", Some((4, 8)));
    assert_eq!(reason, r#""X User" is not a valid header name"#);
    let reason = err(
        &headers("email = \"x_forwarded_user\""),
        "headers.email",
        Some((4, 9)),
    );
    assert!(
        reason.contains("the same header as headers.user"),
        "{reason}"
    );
    err(
        &headers("groups = \"Cookie\""),
        "headers.groups",
        Some((4, 10)),
    );
}

#[test]
fn store_and_limits() {
    let store = |s: &str| with_https(&format!("[store]\n{s}\n{ROUTE}"));
    let reason = err(&store("url = \"mysql://db\""), "store.url", Some((4, 7)));
    assert!(
        reason.starts_with("\"mysql://db\" is not a store URL"),
        "{reason}"
    );
    for url in ["rediss://h:6380/0", "redis+unix:///run/redis.sock"] {
        let cfg = ok(&store(&format!("url = \"{url}\"")));
        assert_eq!(cfg.store.url, StoreUrl::Redis(url.into()));
    }
    let body = with_https(&format!("[timeouts]\nmax_header_bytes = 4096\n{ROUTE}"));
    let reason = err(&body, "timeouts.max_header_bytes", Some((4, 20)));
    assert_eq!(
        reason,
        "4096 is too small: it must be at least 8192 (hyper's minimum header buffer)"
    );
    let body = with_https(&format!("[login]\nmax_failures = 0\n{ROUTE}"));
    err(&body, "login.max_failures", Some((4, 16)));
    let body = with_https(&format!("[tls]\ncert = \"\"\n{ROUTE}"));
    err(&body, "tls.cert", Some((4, 8)));
}

const OIDC: &str =
    "[login]\nprovider = \"oidc\"\nissuer = \"https://id.example.com/realms/main\"\n\
                    client_id = \"gatehouse\"\nclient_secret = \"s3cret\"\n";

#[test]
fn users_file_is_the_default_provider() {
    let cfg = ok(&with_https(ROUTE));
    assert_eq!(cfg.login.provider, LoginProvider::UsersFile);
}

#[test]
fn oidc_with_defaults() {
    let cfg = ok(&with_https(&format!("{OIDC}{ROUTE}")));
    let LoginProvider::Oidc(oidc) = cfg.login.provider else {
        panic!("oidc provider expected");
    };
    assert_eq!(oidc.issuer, "https://id.example.com/realms/main");
    assert_eq!(oidc.client_id, "gatehouse");
    assert_eq!(oidc.client_secret, ClientSecret("s3cret".into()));
    assert!(
        !format!("{oidc:?}").contains("s3cret"),
        "Debug hides the secret"
    );
    assert_eq!(oidc.redirect_path, "/.gatehouse/callback");
    assert_eq!(oidc.scopes, ["email", "profile"], "openid is implied");
    assert_eq!(
        (
            oidc.claims.username.as_str(),
            oidc.claims.email.as_str(),
            oidc.claims.groups.as_str()
        ),
        ("preferred_username", "email", "groups")
    );
    assert!(oidc.allowed_email_domains.is_empty() && oidc.allowed_groups.is_empty());
    assert!(!oidc.provider_logout);
    assert_eq!(oidc.timeout, Duration::from_secs(5));
}

#[test]
fn oidc_with_every_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret.txt"), "from-file\n").unwrap();
    let body = with_https(&format!(
        "[login]\nprovider = \"oidc\"\nissuer = \"http://127.0.0.1:9000\"\nclient_id = \"gh\"\n\
         client_secret_file = \"secret.txt\"\nredirect_path = \"/.gatehouse/oidc/cb\"\n\
         scopes = [\"openid\", \"groups\", \"offline_access\"]\nusername_claim = \"upn\"\n\
         email_claim = \"mail\"\ngroups_claim = \"roles\"\n\
         allowed_email_domains = [\"Example.COM\"]\nallowed_groups = [\"staff\"]\n\
         provider_logout = true\nprovider_timeout = \"2s\"\n{ROUTE}"
    ));
    let path = dir.path().join("proxy.toml");
    std::fs::write(&path, body).unwrap();
    let cfg = load(&path).unwrap();
    let LoginProvider::Oidc(oidc) = cfg.login.provider else {
        panic!("oidc provider expected");
    };
    assert_eq!(oidc.client_secret, ClientSecret("from-file".into()));
    assert_eq!(oidc.redirect_path, "/.gatehouse/oidc/cb");
    assert_eq!(oidc.scopes, ["groups", "offline_access"]);
    assert_eq!(oidc.claims.username, "upn");
    assert_eq!(oidc.allowed_email_domains, ["example.com"]);
    assert_eq!(oidc.allowed_groups, ["staff"]);
    assert!(oidc.provider_logout);
    assert_eq!(oidc.timeout, Duration::from_secs(2));
}

#[test]
fn oidc_secret_from_the_environment() {
    std::env::set_var("GATEHOUSE_TEST_OIDC_SECRET", "from-env");
    let body = OIDC.replace(
        "client_secret = \"s3cret\"",
        "client_secret_env = \"GATEHOUSE_TEST_OIDC_SECRET\"",
    );
    let cfg = ok(&with_https(&format!("{body}{ROUTE}")));
    let LoginProvider::Oidc(oidc) = cfg.login.provider else {
        panic!("oidc provider expected");
    };
    assert_eq!(oidc.client_secret, ClientSecret("from-env".into()));
    let body = OIDC.replace(
        "client_secret = \"s3cret\"",
        "client_secret_env = \"GATEHOUSE_TEST_OIDC_UNSET\"",
    );
    let reason = err(
        &with_https(&format!("{body}{ROUTE}")),
        "login.client_secret_env",
        Some((7, 21)),
    );
    assert!(reason.contains("is not set"), "{reason}");
}

#[test]
fn plain_http_issuers_only_on_loopback() {
    for issuer in ["http://127.0.0.1:8080", "http://[::1]:8080/realms/x"] {
        let body = OIDC.replace("https://id.example.com/realms/main", issuer);
        ok(&with_https(&format!("{body}{ROUTE}")));
    }
    for (issuer, expected) in [
        ("http://id.example.com", "plain http"),
        ("http://localhost:8080", "plain http"),
        ("http://10.0.0.1", "plain http"),
        ("ftp://id.example.com", "https://"),
        ("id.example.com", "https://"),
        ("/realms/main", "absolute URL"),
        ("https://id.example.com/?x=1", "query"),
        ("https://user@id.example.com", "user info"),
    ] {
        let body = OIDC.replace("https://id.example.com/realms/main", issuer);
        let reason = err(
            &with_https(&format!("{body}{ROUTE}")),
            "login.issuer",
            Some((5, 10)),
        );
        assert!(reason.contains(expected), "{issuer}: {reason}");
    }
}

#[test]
fn oidc_mistakes_are_named() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "users_file = \"u.toml\"",
            "login.users_file",
            "only used with provider = \"users_file\"",
        ),
        (
            "client_secret_file = \"x\"",
            "login.client_secret_file",
            "only one",
        ),
        (
            "redirect_path = \"/callback\"",
            "login.redirect_path",
            "under /.gatehouse/",
        ),
        (
            "redirect_path = \"/.gatehouse/login\"",
            "login.redirect_path",
            "own endpoints",
        ),
        (
            "redirect_path = \"/.gatehouse/../x\"",
            "login.redirect_path",
            "plain path",
        ),
        ("scopes = [\"a b\"]", "login.scopes", "not a scope"),
        (
            "allowed_email_domains = [\"@example.com\"]",
            "login.allowed_email_domains",
            "bare domain",
        ),
        (
            "allowed_groups = [\"\"]",
            "login.allowed_groups",
            "non-empty",
        ),
        (
            "provider_timeout = \"0s\"",
            "login.provider_timeout",
            "longer than zero",
        ),
        (
            "username_claim = \" x\"",
            "login.username_claim",
            "surrounding spaces",
        ),
    ];
    for (line, key, expected) in cases {
        let body = with_https(&format!("{OIDC}{line}\n{ROUTE}"));
        let (_dir, result) = load_str(&body);
        let e = result.expect_err(line);
        assert_eq!(e.key(), *key, "{line}: {e}");
        assert!(e.position().is_some(), "{line}: {e}");
        assert!(e.reason().contains(expected), "{line}: {e}");
    }
    for missing in [
        "client_id = \"gatehouse\"\n",
        "client_secret = \"s3cret\"\n",
    ] {
        let body = with_https(&format!("{}{ROUTE}", OIDC.replace(missing, "")));
        let (_dir, result) = load_str(&body);
        let e = result.expect_err(missing);
        assert!(
            e.reason().contains("is required with provider = \"oidc\""),
            "{e}"
        );
    }
}

#[test]
fn unknown_providers_are_named() {
    let body = with_https(&format!("{}{ROUTE}", OIDC.replace("\"oidc\"", "\"ldap\"")));
    let reason = err(&body, "login.provider", Some((4, 12)));
    assert!(reason.contains("not a provider"), "{reason}");
}

#[test]
fn oidc_keys_without_the_oidc_provider_are_refused() {
    let reason = err(
        &with_https(&format!(
            "[login]\nissuer = \"https://id.example.com\"\n{ROUTE}"
        )),
        "login.issuer",
        Some((4, 10)),
    );
    assert!(
        reason.contains("only used with provider = \"oidc\""),
        "{reason}"
    );
}

#[test]
fn store_cluster_and_sentinel_forms() {
    use super::SentinelTarget;
    let store = |s: &str| with_https(&format!("[store]\n{s}\n{ROUTE}"));
    let cfg = ok(&store(
        "cluster = [\"redis://10.0.0.1:7000\", \"rediss://10.0.0.2:7001\"]",
    ));
    assert_eq!(
        cfg.store.url,
        StoreUrl::Cluster(vec![
            "redis://10.0.0.1:7000".into(),
            "rediss://10.0.0.2:7001".into()
        ])
    );
    // The default url may stand beside it (the test harness writes it).
    ok(&store(
        "url = \"memory://\"\ncluster = [\"redis://h:7000\"]",
    ));
    let reason = err(
        &store("url = \"redis://h:6379\"\ncluster = [\"redis://h:7000\"]"),
        "store.url",
        Some((4, 7)),
    );
    assert!(reason.contains("keep one of them"), "{reason}");
    let reason = err(&store("cluster = []"), "store.cluster", Some((4, 11)));
    assert!(reason.contains("at least one node"), "{reason}");
    let reason = err(
        &store("cluster = [\"redis://h:7000\", \"redis+unix:///s\"]"),
        "store.cluster[1]",
        Some((4, 30)),
    );
    assert!(reason.contains("is not a node address"), "{reason}");

    let cfg = ok(&store(
        "sentinels = [\"redis://s1:26379\", \"redis://s2:26379\"]\nsentinel_master = \"mymaster\"\nsentinel_db = 2",
    ));
    assert_eq!(
        cfg.store.url,
        StoreUrl::Sentinel(SentinelTarget {
            sentinels: vec!["redis://s1:26379".into(), "redis://s2:26379".into()],
            master: "mymaster".into(),
            db: 2,
        })
    );
    let reason = err(
        &store("sentinels = [\"redis://s1:26379\"]"),
        "store.sentinel_master",
        Some((4, 13)),
    );
    assert!(reason.contains("is required with `sentinels`"), "{reason}");
    err(
        &store("sentinel_master = \"mymaster\""),
        "store.sentinel_master",
        Some((4, 19)),
    );
    err(
        &store("sentinels = [\"redis://s:26379\"]\nsentinel_master = \"m\"\nsentinel_db = -1"),
        "store.sentinel_db",
        Some((6, 15)),
    );
    err(
        &store("cluster = [\"redis://h:7000\"]\nsentinels = [\"redis://s:26379\"]"),
        "store.sentinels",
        Some((5, 13)),
    );
}
