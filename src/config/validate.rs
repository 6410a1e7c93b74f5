//! Stage two: a [`RawConfig`] becomes a [`Config`] of real types, with every
//! default applied and every rule checked. The first problem found is
//! returned, pointing at its key and position.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::defaults as default;
use super::raw::{RawConfig, RawSession, RawTimeouts, Value};
use super::{Config, ConfigError, Listen, Login, Server, Session, Timeouts, Tls};

/// Validation context: which file, its text (for positions) and its folder
/// (for relative paths).
pub(super) struct Checker<'a> {
    pub file: &'a Path,
    pub source: &'a str,
    pub folder: PathBuf,
}

/// Whether a zero duration means something ("0s" disables HSTS) or is a mistake.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Zero {
    Allowed,
    Refused,
}

impl Checker<'_> {
    /// An error about `key`, at `value`'s position when it was written.
    pub fn error<T>(&self, key: &str, value: Option<&Spanned<T>>, reason: String) -> ConfigError {
        let err = ConfigError::new(self.file, key, reason);
        match value {
            Some(value) => err.at_span(self.source, value.span()),
            None => err,
        }
    }

    /// A humantime duration (`"250ms"`, `"2s"`, `"30m"`, `"12h"`, `"365d"`),
    /// or `default` when the key is absent.
    pub fn duration(
        &self,
        key: &str,
        value: &Value<String>,
        default: Duration,
        zero: Zero,
    ) -> Result<Duration, ConfigError> {
        let Some(text) = value else {
            return Ok(default);
        };
        let duration = humantime::parse_duration(text.get_ref().trim()).map_err(|_| {
            let reason = format!(
                "{:?} is not a duration (use e.g. \"250ms\", \"2s\", \"30m\")",
                text.get_ref()
            );
            self.error(key, Some(text), reason)
        })?;
        if zero == Zero::Refused && duration.is_zero() {
            let reason = format!("{:?} must be longer than zero", text.get_ref());
            return Err(self.error(key, Some(text), reason));
        }
        Ok(duration)
    }

    fn socket_addr(&self, key: &str, value: &Spanned<String>) -> Result<SocketAddr, ConfigError> {
        value.get_ref().trim().parse().map_err(|_| {
            let reason = format!(
                "{:?} is not a socket address (use e.g. \"127.0.0.1:8443\" or \"[::1]:8443\")",
                value.get_ref()
            );
            self.error(key, Some(value), reason)
        })
    }

    /// A file path, resolved against the config file's folder when relative.
    pub fn path(
        &self,
        key: &str,
        value: &Value<String>,
        default: &str,
    ) -> Result<PathBuf, ConfigError> {
        let text = value.as_ref().map_or(default, |v| v.get_ref().as_str());
        if text.trim().is_empty() {
            return Err(self.error(key, value.as_ref(), "must not be empty".into()));
        }
        Ok(self.folder.join(text))
    }

    /// A number no smaller than `minimum`; `why` ends the error sentence.
    pub(super) fn at_least<T: Copy + PartialOrd + std::fmt::Display>(
        &self,
        key: &str,
        value: &Value<T>,
        default: T,
        minimum: T,
        why: &str,
    ) -> Result<T, ConfigError> {
        let Some(spanned) = value else {
            return Ok(default);
        };
        let n = *spanned.get_ref();
        if n < minimum {
            let reason = format!("{n} is too small: it must be at least {minimum}{why}");
            return Err(self.error(key, Some(spanned), reason));
        }
        Ok(n)
    }

    /// The whole file: every section, defaults applied, first error returned.
    pub fn config(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let timeouts = self.timeouts(&raw.timeouts)?;
        Ok(Config {
            path: self.file.to_path_buf(),
            listen: self.listen(&raw)?,
            server: self.server(&raw)?,
            tls: Tls {
                cert: self.path("tls.cert", &raw.tls.cert, default::TLS_CERT_PATH)?,
                key: self.path("tls.key", &raw.tls.key, default::TLS_KEY_PATH)?,
                hsts: self.duration(
                    "tls.hsts",
                    &raw.tls.hsts,
                    default::HSTS_MAX_AGE,
                    Zero::Allowed,
                )?,
            },
            store: self.store(&raw.store)?,
            session: self.session(&raw.session)?,
            login: Login {
                provider: self.login_provider(&raw.login)?,
                users_file: self.path(
                    "login.users_file",
                    &raw.login.users_file,
                    default::USERS_FILE_PATH,
                )?,
                max_failures: self.at_least(
                    "login.max_failures",
                    &raw.login.max_failures,
                    default::LOGIN_MAX_FAILURES,
                    1,
                    "",
                )?,
                lockout: self.duration(
                    "login.lockout",
                    &raw.login.lockout,
                    default::LOGIN_LOCKOUT,
                    Zero::Refused,
                )?,
            },
            headers: self.headers(&raw.headers)?,
            routes: self.routes(&raw.route, &timeouts)?,
            timeouts,
        })
    }

    fn listen(&self, raw: &RawConfig) -> Result<Listen, ConfigError> {
        let Some(https) = &raw.listen.https else {
            let reason = "is required: the address of the TLS listener, e.g. \"127.0.0.1:8443\"";
            return Err(self.error::<()>("listen.https", None, reason.into()));
        };
        let listen = Listen {
            https: self.socket_addr("listen.https", https)?,
            http: raw
                .listen
                .http
                .as_ref()
                .map(|v| self.socket_addr("listen.http", v))
                .transpose()?,
            admin: raw
                .listen
                .admin
                .as_ref()
                .map(|v| self.socket_addr("listen.admin", v))
                .transpose()?,
        };
        let named = [
            ("listen.https", Some(https), Some(listen.https)),
            ("listen.http", raw.listen.http.as_ref(), listen.http),
            ("listen.admin", raw.listen.admin.as_ref(), listen.admin),
        ];
        for (i, (key, value, addr)) in named.iter().enumerate() {
            let Some(addr) = addr.filter(|a| a.port() != 0) else {
                continue;
            };
            if let Some((first, ..)) = named[..i].iter().find(|(_, _, a)| *a == Some(addr)) {
                let reason = format!("{addr} is already used by {first}");
                return Err(self.error(key, *value, reason));
            }
        }
        Ok(listen)
    }

    fn server(&self, raw: &RawConfig) -> Result<Server, ConfigError> {
        let workers = raw
            .server
            .workers
            .as_ref()
            .map_or(default::WORKERS, |w| *w.get_ref());
        let workers = match workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let app_name = match &raw.server.app_name {
            None => default::APP_NAME.to_string(),
            Some(name) if name.get_ref().trim().is_empty() || has_control(name.get_ref()) => {
                let reason = "must be non-empty text without control characters".into();
                return Err(self.error("server.app_name", Some(name), reason));
            }
            Some(name) => name.get_ref().trim().to_string(),
        };
        Ok(Server { workers, app_name })
    }

    fn session(&self, raw: &RawSession) -> Result<Session, ConfigError> {
        let cookie_name = match &raw.cookie_name {
            None => default::COOKIE_NAME.to_string(),
            Some(name) => {
                let text = name.get_ref();
                if !text.starts_with("__Host-") {
                    let reason = format!(
                        "{text:?} must start with \"__Host-\" so browsers bind the cookie to this origin"
                    );
                    return Err(self.error("session.cookie_name", Some(name), reason));
                }
                if !text.bytes().all(is_token_byte) {
                    let reason = format!(
                        "{text:?} is not a valid cookie name (letters, digits and !#$%&'*+-.^_`|~ only)"
                    );
                    return Err(self.error("session.cookie_name", Some(name), reason));
                }
                text.clone()
            }
        };
        let idle_timeout = self.duration(
            "session.idle_timeout",
            &raw.idle_timeout,
            default::SESSION_IDLE_TIMEOUT,
            Zero::Refused,
        )?;
        let absolute_timeout = self.duration(
            "session.absolute_timeout",
            &raw.absolute_timeout,
            default::SESSION_ABSOLUTE_TIMEOUT,
            Zero::Refused,
        )?;
        if idle_timeout > absolute_timeout {
            let (key, value) = match &raw.idle_timeout {
                Some(v) => ("session.idle_timeout", Some(v)),
                None => ("session.absolute_timeout", raw.absolute_timeout.as_ref()),
            };
            let reason = format!(
                "the idle timeout ({}) must not exceed the absolute timeout ({})",
                humantime::format_duration(idle_timeout),
                humantime::format_duration(absolute_timeout)
            );
            return Err(self.error(key, value, reason));
        }
        Ok(Session {
            cookie_name,
            idle_timeout,
            absolute_timeout,
        })
    }

    fn timeouts(&self, raw: &RawTimeouts) -> Result<Timeouts, ConfigError> {
        use default::*;
        let d = |key, value, default| self.duration(key, value, default, Zero::Refused);
        Ok(Timeouts {
            connect: d("timeouts.connect", &raw.connect, CONNECT_TIMEOUT)?,
            response: d("timeouts.response", &raw.response, RESPONSE_TIMEOUT)?,
            client_header: d(
                "timeouts.client_header",
                &raw.client_header,
                CLIENT_HEADER_TIMEOUT,
            )?,
            keep_alive_idle: d(
                "timeouts.keep_alive_idle",
                &raw.keep_alive_idle,
                KEEP_ALIVE_IDLE_TIMEOUT,
            )?,
            shutdown_drain: self.duration(
                "timeouts.shutdown_drain",
                &raw.shutdown_drain,
                SHUTDOWN_DRAIN_TIMEOUT,
                Zero::Allowed,
            )?,
            tls_handshake: d(
                "timeouts.tls_handshake",
                &raw.tls_handshake,
                TLS_HANDSHAKE_TIMEOUT,
            )?,
            max_header_bytes: self.at_least(
                "timeouts.max_header_bytes",
                &raw.max_header_bytes,
                MAX_HEADER_BYTES,
                MIN_MAX_HEADER_BYTES,
                " (hyper's minimum header buffer)",
            )?,
            max_body_bytes: match raw.max_body_bytes.as_ref().map(|b| *b.get_ref()) {
                None => Some(MAX_BODY_BYTES),
                Some(0) => None,
                Some(n) => Some(n),
            },
        })
    }
}

/// RFC 9110 `tchar`: what a cookie name (a token) may contain.
pub(super) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

pub(super) fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}
