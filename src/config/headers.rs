//! Validation of `[headers]`: the identity header names must be valid,
//! distinct even after `_`/`-` folding, and not ones the proxy manages.

use http::header::HeaderName;

use super::defaults as default;
use super::raw::{RawHeaders, Value};
use super::validate::Checker;
use super::{ConfigError, IdentityHeaders};

impl Checker<'_> {
    pub(super) fn headers(&self, raw: &RawHeaders) -> Result<IdentityHeaders, ConfigError> {
        let user = self.header("headers.user", &raw.user, default::HEADER_USER)?;
        let email = self.header("headers.email", &raw.email, default::HEADER_EMAIL)?;
        let groups = self.header("headers.groups", &raw.groups, default::HEADER_GROUPS)?;
        // Clients may smuggle `X_Forwarded_User`; the names must differ even
        // then, or stripping one would strip another.
        let folded = |name: &HeaderName| name.as_str().replace('_', "-");
        let named = [
            ("headers.user", &raw.user, &user),
            ("headers.email", &raw.email, &email),
            ("headers.groups", &raw.groups, &groups),
        ];
        for (i, (key, value, name)) in named.iter().enumerate() {
            if let Some((first, ..)) = named[..i].iter().find(|(.., n)| folded(n) == folded(name)) {
                let reason = format!("\"{name}\" is the same header as {first}");
                return Err(self.error(key, value.as_ref(), reason));
            }
        }
        Ok(IdentityHeaders {
            user,
            email,
            groups,
        })
    }

    fn header(
        &self,
        key: &str,
        value: &Value<String>,
        default: &str,
    ) -> Result<HeaderName, ConfigError> {
        let text = value.as_ref().map_or(default, |v| v.get_ref().as_str());
        let name = HeaderName::from_bytes(text.as_bytes()).map_err(|_| {
            let reason = format!("{text:?} is not a valid header name");
            self.error(key, value.as_ref(), reason)
        })?;
        if crate::headers::is_managed_by_proxy(&name) {
            let reason = format!("{text:?} is a header the proxy itself manages");
            return Err(self.error(key, value.as_ref(), reason));
        }
        Ok(name)
    }
}
