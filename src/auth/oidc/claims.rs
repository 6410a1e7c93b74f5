//! From verified ID token claims to the identity forwarded upstream, and
//! the `allowed_*` checks. Pure: no I/O. The claims arrive here only after
//! the `openidconnect` crate has verified the token they came in.

use serde_json::{Map, Value};

use super::OidcError;
use crate::config::Oidc;
use crate::headers::{identity_header_value, identity_list_header_value};
use crate::proxy::Identity;

/// The identity in `claims` (a verified ID token's, as JSON), or why it
/// cannot be used. A value that could not travel in a header is refused
/// here, at sign-in, rather than failing every later request.
pub fn identity(claims: &Map<String, Value>, cfg: &Oidc) -> Result<Identity, OidcError> {
    let user = match claims.get(&cfg.claims.username) {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        // The default mapping: `preferred_username`, else the stable `sub`.
        _ => match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
            _ => return Err(OidcError::UnusableClaim("no user name and no sub".into())),
        },
    };
    if identity_header_value(&user).is_none() {
        return Err(OidcError::UnusableClaim(format!(
            "{} is not header-safe",
            cfg.claims.username
        )));
    }

    // An address the provider says it has not verified is not the user's.
    let verified = !matches!(claims.get("email_verified"), Some(Value::Bool(false)));
    let email = match claims.get(&cfg.claims.email) {
        Some(Value::String(email)) if verified && !email.is_empty() => Some(email.clone()),
        _ => None,
    };
    if email
        .as_deref()
        .is_some_and(|e| identity_header_value(e).is_none())
    {
        return Err(OidcError::UnusableClaim(format!(
            "{} is not header-safe",
            cfg.claims.email
        )));
    }

    let groups: Vec<String> = match claims.get(&cfg.claims.groups) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(group)) => vec![group.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(group) => Ok(group.clone()),
                _ => Err(OidcError::UnusableClaim(format!(
                    "{} holds a non-string",
                    cfg.claims.groups
                ))),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(OidcError::UnusableClaim(format!(
                "{} is neither a string nor a list",
                cfg.claims.groups
            )))
        }
    };
    if !groups.is_empty() && identity_list_header_value(&groups).is_none() {
        return Err(OidcError::UnusableClaim(format!(
            "{} is not header-safe (or holds a comma)",
            cfg.claims.groups
        )));
    }

    let identity = Identity {
        user,
        email,
        groups,
    };
    check_allowed(&identity, cfg)?;
    Ok(identity)
}

/// `allowed_email_domains` and `allowed_groups`: exact matches only (a
/// domain compares case-insensitively, as domains do; a group exactly).
fn check_allowed(identity: &Identity, cfg: &Oidc) -> Result<(), OidcError> {
    if !cfg.allowed_email_domains.is_empty() {
        let domain = identity
            .email
            .as_deref()
            .and_then(|e| e.rsplit_once('@'))
            .map(|(_, domain)| domain.to_ascii_lowercase());
        if !domain.is_some_and(|d| cfg.allowed_email_domains.contains(&d)) {
            return Err(OidcError::NotAllowed("email domain"));
        }
    }
    if !cfg.allowed_groups.is_empty()
        && !identity
            .groups
            .iter()
            .any(|g| cfg.allowed_groups.contains(g))
    {
        return Err(OidcError::NotAllowed("groups"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::config::{ClaimNames, ClientSecret};

    fn cfg() -> Oidc {
        Oidc {
            issuer: "https://id.example.com".into(),
            client_id: "gatehouse".into(),
            client_secret: ClientSecret("s".into()),
            redirect_path: "/.gatehouse/callback".into(),
            scopes: Vec::new(),
            claims: ClaimNames {
                username: "preferred_username".into(),
                email: "email".into(),
                groups: "groups".into(),
            },
            allowed_email_domains: Vec::new(),
            allowed_groups: Vec::new(),
            provider_logout: false,
            timeout: Duration::from_secs(5),
        }
    }

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn maps_the_default_claims() {
        let claims = map(json!({
            "sub": "123", "preferred_username": "alice", "email": "alice@example.com",
            "email_verified": true, "groups": ["staff", "/ops/oncall"]
        }));
        let id = identity(&claims, &cfg()).unwrap();
        assert_eq!(id.user, "alice");
        assert_eq!(id.email.as_deref(), Some("alice@example.com"));
        assert_eq!(id.groups, ["staff", "/ops/oncall"]);
    }

    #[test]
    fn falls_back_to_sub_and_tolerates_missing_claims() {
        let id = identity(&map(json!({"sub": "123"})), &cfg()).unwrap();
        assert_eq!(
            (id.user.as_str(), id.email, id.groups.len()),
            ("123", None, 0)
        );
        let id = identity(&map(json!({"sub": "1", "groups": "solo"})), &cfg()).unwrap();
        assert_eq!(id.groups, ["solo"]);
        assert!(identity(&map(json!({"email": "x@y"})), &cfg()).is_err());
    }

    #[test]
    fn custom_claim_names() {
        let mut cfg = cfg();
        cfg.claims = ClaimNames {
            username: "upn".into(),
            email: "mail".into(),
            groups: "roles".into(),
        };
        let claims = map(json!({"sub": "1", "upn": "a@corp", "mail": "a@corp", "roles": ["r"]}));
        let id = identity(&claims, &cfg).unwrap();
        assert_eq!(
            (id.user.as_str(), id.email.as_deref()),
            ("a@corp", Some("a@corp"))
        );
        assert_eq!(id.groups, ["r"]);
    }

    #[test]
    fn unverified_email_is_not_used() {
        let claims = map(json!({"sub": "1", "email": "boss@example.com", "email_verified": false}));
        assert_eq!(identity(&claims, &cfg()).unwrap().email, None);
    }

    #[test]
    fn refuses_values_that_would_break_a_header() {
        let bad = [
            json!({"sub": "1", "preferred_username": "alice\r\nX-Forwarded-User: admin"}),
            json!({"sub": "1", "preferred_username": " alice"}),
            json!({"sub": "1", "email": "a@b\nX: y"}),
            json!({"sub": "1", "groups": ["staff,admin"]}),
            json!({"sub": "1", "groups": ["ok", ""]}),
            json!({"sub": "1", "groups": [1]}),
            json!({"sub": "1", "groups": {"a": 1}}),
        ];
        for claims in bad {
            let err = identity(&map(claims.clone()), &cfg()).unwrap_err();
            assert!(
                matches!(err, OidcError::UnusableClaim(_)),
                "{claims}: {err:?}"
            );
        }
    }

    #[test]
    fn allowed_domains_and_groups_are_exact() {
        let mut cfg = cfg();
        cfg.allowed_email_domains = vec!["example.com".into()];
        let with = |email: &str| map(json!({"sub": "1", "email": email}));
        assert!(identity(&with("a@example.com"), &cfg).is_ok());
        assert!(identity(&with("a@EXAMPLE.com"), &cfg).is_ok());
        for email in [
            "a@sub.example.com",
            "a@example.com.evil",
            "a@notexample.com",
        ] {
            assert_eq!(
                identity(&with(email), &cfg).unwrap_err(),
                OidcError::NotAllowed("email domain"),
                "{email}"
            );
        }
        assert!(
            identity(&map(json!({"sub": "1"})), &cfg).is_err(),
            "no email"
        );

        let mut cfg = self::cfg();
        cfg.allowed_groups = vec!["staff".into()];
        let with = |groups: Value| map(json!({"sub": "1", "groups": groups}));
        assert!(identity(&with(json!(["x", "staff"])), &cfg).is_ok());
        for groups in [json!(["Staff"]), json!(["staff2"]), json!([])] {
            assert_eq!(
                identity(&with(groups), &cfg).unwrap_err(),
                OidcError::NotAllowed("groups")
            );
        }
    }
}
