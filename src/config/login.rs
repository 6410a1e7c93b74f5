//! Validation of `[login] provider` and, for `provider = "oidc"`, the
//! OpenID Connect keys. The client secret is read here (from the file or
//! the environment variable it names), so that `gatehouse check` and a
//! reload both see a missing secret as a config error.

use std::net::IpAddr;

use http::Uri;
use toml::Spanned;

use super::defaults as default;
use super::raw::{RawLogin, Value};
use super::validate::{has_control, Checker, Zero};
use super::{ClaimNames, ClientSecret, ConfigError, LoginProvider, Oidc};

/// The endpoints the proxy already serves under `/.gatehouse/`; the
/// callback must not shadow them.
const RESERVED_ENDPOINTS: &[&str] = &[
    "/.gatehouse/login",
    "/.gatehouse/logout",
    "/.gatehouse/whoami",
];

type List = Option<Spanned<Vec<Spanned<String>>>>;

impl Checker<'_> {
    pub(super) fn login_provider(&self, raw: &RawLogin) -> Result<LoginProvider, ConfigError> {
        let name = raw
            .provider
            .as_ref()
            .map_or(default::LOGIN_PROVIDER, |p| p.get_ref().as_str());
        match name {
            "users_file" => {
                self.refuse_oidc_keys(raw)?;
                Ok(LoginProvider::UsersFile)
            }
            "oidc" => {
                if let Some(users_file) = &raw.users_file {
                    let reason = "is only used with provider = \"users_file\"".into();
                    return Err(self.error("login.users_file", Some(users_file), reason));
                }
                Ok(LoginProvider::Oidc(Box::new(self.oidc(raw)?)))
            }
            other => {
                let reason =
                    format!("{other:?} is not a provider (use \"users_file\" or \"oidc\")");
                Err(self.error("login.provider", raw.provider.as_ref(), reason))
            }
        }
    }

    /// With the users file, an OpenID key is a mistake (a forgotten
    /// `provider = "oidc"`), not something to ignore.
    fn refuse_oidc_keys(&self, raw: &RawLogin) -> Result<(), ConfigError> {
        let strings = [
            ("issuer", &raw.issuer),
            ("client_id", &raw.client_id),
            ("client_secret", &raw.client_secret),
            ("client_secret_file", &raw.client_secret_file),
            ("client_secret_env", &raw.client_secret_env),
            ("redirect_path", &raw.redirect_path),
            ("username_claim", &raw.username_claim),
            ("email_claim", &raw.email_claim),
            ("groups_claim", &raw.groups_claim),
            ("provider_timeout", &raw.provider_timeout),
        ];
        let lists = [
            ("scopes", &raw.scopes),
            ("allowed_email_domains", &raw.allowed_email_domains),
            ("allowed_groups", &raw.allowed_groups),
        ];
        let found = strings
            .iter()
            .find_map(|(k, v)| v.as_ref().map(|v| (*k, v.span())))
            .or_else(|| {
                lists
                    .iter()
                    .find_map(|(k, v)| v.as_ref().map(|v| (*k, v.span())))
            })
            .or_else(|| {
                raw.provider_logout
                    .as_ref()
                    .map(|v| ("provider_logout", v.span()))
            });
        match found {
            Some((key, span)) => Err(ConfigError::new(
                self.file,
                format!("login.{key}"),
                "is only used with provider = \"oidc\"",
            )
            .at_span(self.source, span)),
            None => Ok(()),
        }
    }

    fn oidc(&self, raw: &RawLogin) -> Result<Oidc, ConfigError> {
        let claim = |key: &str, value: &Value<String>, default: &str| match value {
            None => Ok(default.to_owned()),
            Some(v) => self.word(key, v),
        };
        Ok(Oidc {
            issuer: self.issuer(&raw.issuer)?,
            client_id: match &raw.client_id {
                Some(id) => self.word("login.client_id", id)?,
                None => {
                    return Err(self.required(
                        "login.client_id",
                        "the client id registered at the provider",
                    ))
                }
            },
            client_secret: self.client_secret(raw)?,
            redirect_path: self.redirect_path(&raw.redirect_path)?,
            scopes: self.scopes(&raw.scopes)?,
            claims: ClaimNames {
                username: claim(
                    "login.username_claim",
                    &raw.username_claim,
                    default::OIDC_USERNAME_CLAIM,
                )?,
                email: claim(
                    "login.email_claim",
                    &raw.email_claim,
                    default::OIDC_EMAIL_CLAIM,
                )?,
                groups: claim(
                    "login.groups_claim",
                    &raw.groups_claim,
                    default::OIDC_GROUPS_CLAIM,
                )?,
            },
            allowed_email_domains: self
                .list(
                    "login.allowed_email_domains",
                    &raw.allowed_email_domains,
                    |d| {
                        (d.contains('@') || d.contains(char::is_whitespace)).then_some(
                            "must be a bare domain such as \"example.com\" (exact match, no @)",
                        )
                    },
                )?
                .into_iter()
                .map(|d| d.to_ascii_lowercase())
                .collect(),
            allowed_groups: self.list("login.allowed_groups", &raw.allowed_groups, |_| None)?,
            provider_logout: raw.provider_logout.as_ref().is_some_and(|v| *v.get_ref()),
            timeout: self.duration(
                "login.provider_timeout",
                &raw.provider_timeout,
                default::OIDC_PROVIDER_TIMEOUT,
                Zero::Refused,
            )?,
        })
    }

    fn required(&self, key: &str, what: &str) -> ConfigError {
        self.error::<()>(
            key,
            None,
            format!("is required with provider = \"oidc\": {what}"),
        )
    }

    /// Non-empty text without spaces at either end or control characters.
    fn word(&self, key: &str, value: &Spanned<String>) -> Result<String, ConfigError> {
        let text = value.get_ref();
        if text.trim().is_empty() || text.trim() != text || has_control(text) {
            let reason = format!(
                "{text:?} must be non-empty text without surrounding spaces or control characters"
            );
            return Err(self.error(key, Some(value), reason));
        }
        Ok(text.clone())
    }

    /// `https://…`, or `http://` to a loopback IP address (a provider on
    /// the same machine, e.g. in tests); anything else over plain HTTP
    /// would let the network forge identities.
    fn issuer(&self, value: &Value<String>) -> Result<String, ConfigError> {
        let key = "login.issuer";
        let Some(spanned) = value else {
            return Err(self.required(
                key,
                "the provider's issuer URL, e.g. \"https://id.example.com/realms/main\"",
            ));
        };
        let text = spanned.get_ref();
        let fail = |why: &str| Err(self.error(key, Some(spanned), format!("{text:?} {why}")));
        let Ok(uri) = text.parse::<Uri>() else {
            return fail("is not a URL");
        };
        let Some(authority) = uri.authority() else {
            return fail("is not an absolute URL (use e.g. \"https://id.example.com\")");
        };
        if authority.as_str().contains('@') || uri.query().is_some() || text.contains('#') {
            return fail("must not hold user info, a query or a fragment");
        }
        match uri.scheme_str() {
            Some("https") => Ok(text.clone()),
            Some("http") if is_loopback_ip(authority.host()) => Ok(text.clone()),
            Some("http") => fail(
                "uses plain http: tokens and keys would travel unprotected; use https \
                 (plain http is allowed only to a loopback IP address such as 127.0.0.1)",
            ),
            _ => fail("must be an https:// URL"),
        }
    }

    /// Exactly one of `client_secret`, `client_secret_file` (the file's
    /// content, without trailing whitespace) or `client_secret_env` (the
    /// name of an environment variable).
    fn client_secret(&self, raw: &RawLogin) -> Result<ClientSecret, ConfigError> {
        let sources = [
            ("login.client_secret", &raw.client_secret),
            ("login.client_secret_file", &raw.client_secret_file),
            ("login.client_secret_env", &raw.client_secret_env),
        ];
        let mut given = sources.iter().filter(|(_, v)| v.is_some());
        let Some((key, Some(value))) = given.next() else {
            return Err(self.required(
                "login.client_secret",
                "the client secret, or client_secret_file, or client_secret_env",
            ));
        };
        if let Some((other, other_value)) = given.next() {
            let reason = format!("give only one of the client secret keys, not also {key}");
            return Err(self.error(other, other_value.as_ref(), reason));
        }
        let secret = match *key {
            "login.client_secret_file" => {
                let path = self.path(key, &raw.client_secret_file, "")?;
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    self.error(
                        key,
                        Some(value),
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                text.trim_end().to_owned()
            }
            "login.client_secret_env" => {
                let name = value.get_ref();
                std::env::var(name).map_err(|_| {
                    let reason =
                        format!("the environment variable {name:?} is not set (or not UTF-8)");
                    self.error(key, Some(value), reason)
                })?
            }
            _ => value.get_ref().clone(),
        };
        // Never quote the value: it is a secret.
        if secret.is_empty() || has_control(&secret) {
            let reason = "the secret is empty or holds control characters".into();
            return Err(self.error(key, Some(value), reason));
        }
        Ok(ClientSecret(secret))
    }

    fn redirect_path(&self, value: &Value<String>) -> Result<String, ConfigError> {
        let Some(spanned) = value else {
            return Ok(default::OIDC_REDIRECT_PATH.to_owned());
        };
        let path = spanned.get_ref();
        let plain = path.len() > "/.gatehouse/".len()
            && path.starts_with("/.gatehouse/")
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b))
            && !path.ends_with('/')
            && path
                .split('/')
                .skip(1)
                .all(|s| !s.is_empty() && s != "." && s != "..");
        if !plain {
            let reason = format!(
                "{path:?} must be a plain path under /.gatehouse/ (e.g. \"{}\"), so it is never \
                 forwarded to a backend",
                default::OIDC_REDIRECT_PATH
            );
            return Err(self.error("login.redirect_path", Some(spanned), reason));
        }
        if RESERVED_ENDPOINTS.contains(&path.as_str()) {
            let reason = format!("{path:?} is already one of gatehouse's own endpoints");
            return Err(self.error("login.redirect_path", Some(spanned), reason));
        }
        Ok(path.clone())
    }

    /// RFC 6749 §3.3 scope tokens; `openid` is dropped (always requested).
    fn scopes(&self, value: &List) -> Result<Vec<String>, ConfigError> {
        let scopes = match value {
            None => default::OIDC_SCOPES.iter().map(|s| s.to_string()).collect(),
            Some(_) => self.list("login.scopes", value, |s| {
                (!s.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\'))
                .then_some("is not a scope (visible ASCII without quotes or backslashes)")
            })?,
        };
        Ok(scopes.into_iter().filter(|s| s != "openid").collect())
    }

    /// A list of non-empty strings, each checked by `bad`.
    fn list(
        &self,
        key: &str,
        value: &List,
        bad: impl Fn(&str) -> Option<&'static str>,
    ) -> Result<Vec<String>, ConfigError> {
        let Some(items) = value else {
            return Ok(Vec::new());
        };
        items
            .get_ref()
            .iter()
            .map(|item| {
                let text = item.get_ref();
                let why = if text.trim().is_empty() || has_control(text) {
                    Some("must be non-empty text without control characters")
                } else {
                    bad(text)
                };
                match why {
                    Some(why) => Err(self.error(key, Some(item), format!("{text:?} {why}"))),
                    None => Ok(text.clone()),
                }
            })
            .collect()
    }
}

/// `127.0.0.0/8` or `[::1]`, written as an IP address: a name such as
/// `localhost` is resolved at run time and proves nothing here.
fn is_loopback_ip(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::is_loopback_ip;

    #[test]
    fn only_loopback_ip_literals_count_as_loopback() {
        assert!(is_loopback_ip("127.0.0.1"));
        assert!(is_loopback_ip("127.8.9.10"));
        assert!(is_loopback_ip("[::1]"));
        assert!(!is_loopback_ip("localhost"));
        assert!(!is_loopback_ip("10.0.0.1"));
        assert!(!is_loopback_ip("127.0.0.1.nip.io"));
        assert!(!is_loopback_ip("[::ffff:10.0.0.1]"));
    }
}
