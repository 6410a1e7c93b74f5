//! Every default of proxy.toml in one place, with its unit in the name or
//! type, so the README table and the code cannot drift apart silently.

use std::time::Duration;

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// `[server] workers`: 0 means one worker thread per CPU core.
pub const WORKERS: usize = 0;
/// `[server] app_name`: shown in page titles and headings.
pub const APP_NAME: &str = "gatehouse";

/// `[tls] cert`; relative to the config file's folder, like every relative path.
pub const TLS_CERT_PATH: &str = "certs/localhost.crt";
/// `[tls] key`.
pub const TLS_KEY_PATH: &str = "certs/localhost.key";
/// `[tls] hsts`: one year, the usual HSTS max-age (and the preload list's minimum).
pub const HSTS_MAX_AGE: Duration = Duration::from_secs(365 * DAY);

/// `[store] url`: the embedded store, for a single process.
pub const STORE_URL: &str = "memory://";
/// `[store] key_prefix`: keeps gatehouse's keys apart in a shared Redis.
pub const STORE_KEY_PREFIX: &str = "gatehouse:";
/// `[store] cache_capacity`: sessions cached in-process.
pub const STORE_CACHE_CAPACITY_SESSIONS: usize = 100_000;
/// `[store] timeout`: a slower store is treated as down (503), not waited for.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(2);
/// `[store] max_entries`: bound on the embedded store, so memory is bounded.
pub const STORE_MAX_ENTRIES: usize = 100_000;

/// `[session] cookie_name`: `__Host-` binds it to this exact origin.
pub const COOKIE_NAME: &str = "__Host-gatehouse";
/// `[session] idle_timeout`: slides with use.
pub const SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * MINUTE);
/// `[session] absolute_timeout`: a working day; never extends.
pub const SESSION_ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(12 * HOUR);

/// `[login] users_file`.
pub const USERS_FILE_PATH: &str = "users.toml";
/// `[login] max_failures` per user and client address within `lockout`.
pub const LOGIN_MAX_FAILURES: u32 = 5;
/// `[login] lockout`: the failure window, and how long a lockout lasts.
pub const LOGIN_LOCKOUT: Duration = Duration::from_secs(5 * MINUTE);

/// `[login] provider`: the built-in form over the users file.
pub const LOGIN_PROVIDER: &str = "users_file";
/// `[login] redirect_path`: where the OpenID provider sends the browser back.
pub const OIDC_REDIRECT_PATH: &str = "/.gatehouse/callback";
/// `[login] scopes`: `openid` is always requested as well.
pub const OIDC_SCOPES: &[&str] = &["openid", "email", "profile"];
/// `[login] username_claim`; `sub` is used when the token lacks it.
pub const OIDC_USERNAME_CLAIM: &str = "preferred_username";
/// `[login] email_claim`.
pub const OIDC_EMAIL_CLAIM: &str = "email";
/// `[login] groups_claim`.
pub const OIDC_GROUPS_CLAIM: &str = "groups";
/// `[login] provider_timeout`: bound on each call to the provider
/// (discovery, keys, token exchange, refresh).
pub const OIDC_PROVIDER_TIMEOUT: Duration = Duration::from_secs(5);

/// `[headers] user`.
pub const HEADER_USER: &str = "X-Forwarded-User";
/// `[headers] email`.
pub const HEADER_EMAIL: &str = "X-Forwarded-Email";
/// `[headers] groups` (comma-separated values).
pub const HEADER_GROUPS: &str = "X-Forwarded-Groups";

/// `[timeouts] connect`: upstream TCP connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// `[timeouts] response`: until the upstream's response headers.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// `[timeouts] client_header`: a client's request head (slowloris).
pub const CLIENT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// `[timeouts] keep_alive_idle`: idle client connections are closed.
pub const KEEP_ALIVE_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// `[timeouts] shutdown_drain`: in-flight requests get this long on shutdown.
pub const SHUTDOWN_DRAIN_TIMEOUT: Duration = Duration::from_secs(15);
/// `[timeouts] tls_handshake`: a client must finish TLS within this.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// `[timeouts] max_header_bytes`: larger request heads get 431.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// `[timeouts] max_body_bytes`: 10 MiB, larger bodies get 413; 0 in the file means unlimited.
pub const MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;
/// The smallest `max_header_bytes` accepted: hyper refuses a smaller HTTP/1 read buffer.
pub const MIN_MAX_HEADER_BYTES: usize = 8192;
