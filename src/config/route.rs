//! Validation of `[[route]]` tables: host, path prefix, upstream, access
//! rules and per-route timeouts. Routes are named `route[i]`, counted from 0
//! in file order.

use std::str::FromStr;

use http::uri::{Authority, Uri};
use toml::Spanned;

use super::raw::RawRoute;
use super::validate::{has_control, Checker, Zero};
use super::{Auth, ConfigError, Route, Timeouts};

impl Checker<'_> {
    pub(super) fn routes(
        &self,
        raw: &[Spanned<RawRoute>],
        timeouts: &Timeouts,
    ) -> Result<Vec<Route>, ConfigError> {
        if raw.is_empty() {
            let reason = "no routes: add at least one [[route]] with `path` and `upstream`";
            return Err(self.error::<()>("route", None, reason.into()));
        }
        let mut routes: Vec<Route> = Vec::with_capacity(raw.len());
        for (i, spanned) in raw.iter().enumerate() {
            let route = self.route(i, spanned, timeouts)?;
            if let Some(j) = routes
                .iter()
                .position(|r| r.host == route.host && r.path == route.path)
            {
                let reason = format!("route[{i}] duplicates route[{j}] (same host and path)");
                let path = spanned.get_ref().path.as_ref();
                return Err(self.error(&format!("route[{i}].path"), path, reason));
            }
            routes.push(route);
        }
        Ok(routes)
    }

    fn route(
        &self,
        i: usize,
        spanned: &Spanned<RawRoute>,
        timeouts: &Timeouts,
    ) -> Result<Route, ConfigError> {
        let raw = spanned.get_ref();
        let key = |name: &str| format!("route[{i}].{name}");
        let required = |name: &str| {
            let reason = format!("is required in every [[route]] (route[{i}] has none)");
            self.error(&key(name), Some(spanned), reason)
        };
        let path = raw.path.as_ref().ok_or_else(|| required("path"))?;
        let upstream = raw.upstream.as_ref().ok_or_else(|| required("upstream"))?;
        let auth = match &raw.auth {
            None => Auth::Required,
            Some(auth) => match auth.get_ref().as_str() {
                "required" => Auth::Required,
                "public" => Auth::Public,
                other => {
                    let reason = format!("{other:?} is not \"required\" or \"public\"");
                    return Err(self.error(&key("auth"), Some(auth), reason));
                }
            },
        };
        let groups = raw.groups.as_deref().unwrap_or_default();
        if let (Auth::Public, Some(first)) = (auth, groups.first()) {
            let reason = "a public route cannot require groups; use auth = \"required\"".into();
            return Err(self.error(&key("groups"), Some(first), reason));
        }
        for group in groups {
            let text = group.get_ref();
            if text.trim().is_empty() || text.contains(',') || has_control(text) {
                let reason = format!(
                    "{text:?} is not a group name (non-empty, no commas or control characters)"
                );
                return Err(self.error(&key("groups"), Some(group), reason));
            }
        }
        Ok(Route {
            host: raw
                .host
                .as_ref()
                .map(|h| self.route_host(&key("host"), h))
                .transpose()?,
            path: self.route_path(&key("path"), path)?,
            upstream: self.upstream(&key("upstream"), upstream)?,
            auth,
            groups: groups.iter().map(|g| g.get_ref().clone()).collect(),
            connect_timeout: self.duration(
                &key("connect_timeout"),
                &raw.connect_timeout,
                timeouts.connect,
                Zero::Refused,
            )?,
            response_timeout: self.duration(
                &key("response_timeout"),
                &raw.response_timeout,
                timeouts.response,
                Zero::Refused,
            )?,
        })
    }

    /// Lower-cased, port stripped; an exact name, never a pattern.
    fn route_host(&self, key: &str, value: &Spanned<String>) -> Result<String, ConfigError> {
        let text = value.get_ref();
        let bad = |why: &str| self.error(key, Some(value), format!("{text:?} {why}"));
        if text.contains('*') {
            return Err(bad(
                "is a wildcard; hosts match exactly (leave `host` out to match any host)",
            ));
        }
        let authority = Authority::from_str(text)
            .ok()
            .filter(|a| !a.host().is_empty() && !a.as_str().contains('@'))
            .ok_or_else(|| bad("is not a host name (use e.g. \"app.example.com\")"))?;
        Ok(authority.host().to_ascii_lowercase())
    }

    /// Starts with `/`, no trailing `/` unless it is `/`, and already in the
    /// normalized form requests are matched in (else it could never match).
    fn route_path(&self, key: &str, value: &Spanned<String>) -> Result<String, ConfigError> {
        let text = value.get_ref();
        let bad = |why: &str| self.error(key, Some(value), format!("{text:?} {why}"));
        if !text.starts_with('/') {
            return Err(bad("must start with \"/\""));
        }
        if text.contains(['?', '#', '\\', ';'])
            || text.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad("must be a plain path (no query, fragment, `;`, `\\`, spaces or control characters)"));
        }
        let trimmed = match text.strip_suffix('/') {
            Some(rest) if !rest.is_empty() => rest,
            _ => text.as_str(),
        };
        if trimmed.len() > 1
            && trimmed[1..]
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..")
        {
            return Err(bad(
                "is not a normalized path (no `//`, `.` or `..` segments)",
            ));
        }
        Ok(trimmed.to_string())
    }

    /// `http://host[:port]`, stored as `host:port` (port 80 when absent).
    fn upstream(&self, key: &str, value: &Spanned<String>) -> Result<Authority, ConfigError> {
        let text = value.get_ref();
        let bad = |why: &str| self.error(key, Some(value), format!("{text:?} {why}"));
        let uri = Uri::from_str(text.trim())
            .map_err(|_| bad("is not a URL (use e.g. \"http://127.0.0.1:3000\")"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad(
                    "uses https; upstreams are plain http (e.g. \"http://127.0.0.1:3000\")",
                ))
            }
            _ => {
                return Err(bad(
                    "must be an http:// URL (e.g. \"http://127.0.0.1:3000\")",
                ))
            }
        }
        let authority = uri
            .authority()
            .filter(|a| !a.host().is_empty())
            .ok_or_else(|| bad("has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("must not contain a user or password"));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad(
                "must not have a path or query: requests are forwarded with their own path",
            ));
        }
        if authority.port_u16() == Some(0) {
            return Err(bad("has port 0"));
        }
        if authority.port().is_some() {
            return Ok(authority.clone());
        }
        Authority::from_str(&format!("{}:80", authority.host()))
            .map_err(|_| bad("is not a valid host"))
    }
}
