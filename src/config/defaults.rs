//! Every default of proxy.toml in one place, with its unit in the name or
//! type, so the README table and the code cannot drift apart silently.

use std::time::Duration;

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// `[server] workers`: 0 means one worker thread per CPU core.
pub const WORKERS: usize = 0;
pub const APP_NAME: &str = "gatehouse";

/// Relative to the config file's folder, like every relative path.
pub const TLS_CERT_PATH: &str = "certs/localhost.crt";
pub const TLS_KEY_PATH: &str = "certs/localhost.key";
/// One year, the usual HSTS max-age (and the preload list's minimum).
pub const HSTS_MAX_AGE: Duration = Duration::from_secs(365 * DAY);

pub const STORE_URL: &str = "memory://";
pub const STORE_KEY_PREFIX: &str = "gatehouse:";
pub const STORE_CACHE_CAPACITY_SESSIONS: usize = 100_000;
/// A store slower than this is treated as down (503), not waited for.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(2);
pub const STORE_MAX_ENTRIES: usize = 100_000;

pub const COOKIE_NAME: &str = "__Host-gatehouse";
pub const SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * MINUTE);
pub const SESSION_ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(12 * HOUR);

pub const USERS_FILE_PATH: &str = "users.toml";
pub const LOGIN_MAX_FAILURES: u32 = 5;
pub const LOGIN_LOCKOUT: Duration = Duration::from_secs(5 * MINUTE);

pub const HEADER_USER: &str = "X-Forwarded-User";
pub const HEADER_EMAIL: &str = "X-Forwarded-Email";
pub const HEADER_GROUPS: &str = "X-Forwarded-Groups";

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
pub const CLIENT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
pub const KEEP_ALIVE_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const SHUTDOWN_DRAIN_TIMEOUT: Duration = Duration::from_secs(15);
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// 10 MiB; 0 in the file means unlimited.
pub const MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;
/// hyper refuses a smaller read buffer for HTTP/1.
pub const MIN_MAX_HEADER_BYTES: usize = 8192;
