//! Sign-in at an OpenID Connect provider (`[login] provider = "oidc"`).
//!
//! The protocol work is the `openidconnect` crate's: discovery, the
//! authorization code flow with PKCE (S256), and ID token validation
//! (signature by the provider's JWKS, `iss`, `aud`, `exp`, `nonce`; unsigned
//! tokens refused). This module keeps what is gatehouse's own:
//!
//! - [`OidcClient`]: the provider's metadata (discovered lazily and cached,
//!   so gatehouse starts while the provider is down), and each call to it,
//!   bounded by `[login] provider_timeout`.
//! - [`prelogin`]: the short-lived cookie binding a callback to the browser.
//! - [`claims`]: verified claims → the identity forwarded upstream.
//! - [`refresh`]: renewing a session's access token, one refresh at a time.
//! - [`endpoints`]: the sign-in start, the callback and the logout target.
//! - `id_token`: the crate's ID token validation, plus `at_hash`.
//! - [`OidcError`]: why a sign-in failed, as a status and a sentence.

pub mod claims;
pub mod endpoints;
mod error;
mod id_token;
pub mod prelogin;
pub mod refresh;

pub use error::OidcError;
use id_token::{string_claim, verify_id_token, KeyOr};

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl, LogoutRequest, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::auth::unix_now;
use crate::config::{self, ConfigError};
use crate::proxy::Identity;
use crate::store::ProviderTokens;
use prelogin::PreLogin;

/// How long discovered metadata and keys are used before asking again
/// (a provider that rotates its keys is picked up within this).
const DISCOVERY_TTL: Duration = Duration::from_secs(15 * 60);
/// A token whose key is unknown triggers a fresh discovery, but not more
/// often than this (forged tokens must not turn into a request flood).
const MIN_REDISCOVERY_INTERVAL: Duration = Duration::from_secs(30);

/// Every claim of the ID token that is not a standard one (e.g. `groups`),
/// kept so that any claim can be mapped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OtherClaims {
    #[serde(flatten)]
    rest: Map<String, Value>,
}

impl AdditionalClaims for OtherClaims {}

type Metadata = ProviderMetadataWithLogout;
type Fields = IdTokenFields<
    OtherClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Tokens = StandardTokenResponse<Fields, CoreTokenType>;
type ProviderClient = openidconnect::Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A successful sign-in: who, and the provider's tokens for the session.
#[derive(Debug)]
pub struct SignedIn {
    pub identity: Identity,
    pub tokens: ProviderTokens,
}

/// The configured provider, shared by every request of a config
/// generation (and kept across reloads that leave `[login]` unchanged).
pub struct OidcClient {
    cfg: config::Oidc,
    /// No redirects (a provider's redirect must not send our client secret
    /// elsewhere); every request bounded by `cfg.timeout`.
    http: reqwest::Client,
    discovered: tokio::sync::Mutex<Option<Discovered>>,
    /// One refresh per session at a time.
    pub(crate) flights: refresh::Flights,
}

struct Discovered {
    metadata: Arc<Metadata>,
    at: Instant,
}

impl OidcClient {
    /// Builds the HTTP client; talks to nobody yet.
    pub fn new(cfg: config::Oidc, config_file: &std::path::Path) -> Result<Self, ConfigError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout)
            .use_rustls_tls()
            .build()
            .map_err(|e| {
                ConfigError::new(
                    config_file,
                    "login.issuer",
                    format!("cannot set up an HTTP client for the provider: {e}"),
                )
            })?;
        Ok(OidcClient {
            cfg,
            http,
            discovered: tokio::sync::Mutex::new(None),
            flights: refresh::Flights::default(),
        })
    }

    pub fn config(&self) -> &config::Oidc {
        &self.cfg
    }

    /// The provider's metadata and keys: cached, rediscovered after
    /// [`DISCOVERY_TTL`] (or sooner when `stale_keys`); a failed
    /// rediscovery keeps using the last good copy.
    async fn metadata(&self, stale_keys: bool) -> Result<Arc<Metadata>, OidcError> {
        let mut cached = self.discovered.lock().await;
        if let Some(d) = cached.as_ref() {
            let age = d.at.elapsed();
            let fresh = if stale_keys {
                age < MIN_REDISCOVERY_INTERVAL
            } else {
                age < DISCOVERY_TTL
            };
            if fresh {
                return Ok(d.metadata.clone());
            }
        }
        let issuer = IssuerUrl::new(self.cfg.issuer.clone())
            .map_err(|e| OidcError::ProviderUnavailable(format!("issuer URL: {e}")))?;
        // Two requests (metadata, then keys), each bounded by the client.
        let found = tokio::time::timeout(
            self.cfg.timeout * 2,
            Metadata::discover_async(issuer, &self.http),
        )
        .await;
        match found {
            Ok(Ok(metadata)) => {
                let metadata = Arc::new(metadata);
                *cached = Some(Discovered {
                    metadata: metadata.clone(),
                    at: Instant::now(),
                });
                Ok(metadata)
            }
            Ok(Err(e)) => stale_or(cached.as_ref(), describe(&e)),
            Err(_) => stale_or(cached.as_ref(), "discovery timed out".into()),
        }
    }

    /// The protocol client for a browser that reached us as `host`.
    fn client(&self, metadata: &Metadata, host: &str) -> Result<ProviderClient, OidcError> {
        let redirect = RedirectUrl::new(format!("https://{host}{}", self.cfg.redirect_path))
            .map_err(|_| OidcError::UnknownState)?;
        Ok(ProviderClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.cfg.client_id.clone()),
            Some(ClientSecret::new(self.cfg.client_secret.0.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// Where to send the browser to sign in for `pre`.
    pub async fn authorization_url(
        &self,
        host: &str,
        pre: &PreLogin,
    ) -> Result<openidconnect::url::Url, OidcError> {
        let metadata = self.metadata(false).await?;
        let client = self.client(&metadata, host)?;
        let verifier = PkceCodeVerifier::new(pre.pkce_verifier.clone());
        let (state, nonce) = (pre.state.clone(), pre.nonce.clone());
        let (url, _, _) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .add_scopes(self.cfg.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier))
            .url();
        Ok(url)
    }

    /// Redeems the callback's `code` (with the PKCE verifier), validates
    /// the ID token against `pre`'s nonce, and maps its claims.
    pub async fn sign_in(
        &self,
        host: &str,
        code: &str,
        pre: &PreLogin,
    ) -> Result<SignedIn, OidcError> {
        let metadata = self.metadata(false).await?;
        let client = self.client(&metadata, host)?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::ProviderUnavailable(format!("no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pre.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(token_error)?;
        let nonce = Nonce::new(pre.nonce.clone());
        let claims = self
            .verify(&metadata, |meta| {
                let client = self.client(meta, host)?;
                verify_id_token(&client, &tokens, &nonce)
            })
            .await?;
        let identity = claims::identity(&claims, &self.cfg)?;
        let subject = string_claim(&claims, "sub");
        Ok(SignedIn {
            identity,
            tokens: self.provider_tokens(&tokens, subject, None)?,
        })
    }

    /// Verifies with the cached keys; when the token's key is unknown
    /// (the provider rotated its keys), rediscovers once and tries again.
    async fn verify<F>(
        &self,
        metadata: &Metadata,
        check: F,
    ) -> Result<Map<String, Value>, OidcError>
    where
        F: Fn(&Metadata) -> Result<Map<String, Value>, KeyOr>,
    {
        match check(metadata) {
            Ok(claims) => Ok(claims),
            Err(KeyOr::Error(e)) => Err(e),
            Err(KeyOr::UnknownKey(why)) => {
                let fresh = self.metadata(true).await?;
                match check(&fresh) {
                    Ok(claims) => Ok(claims),
                    Err(KeyOr::Error(e)) => Err(e),
                    Err(KeyOr::UnknownKey(_)) => Err(OidcError::InvalidToken(why)),
                }
            }
        }
    }

    /// Renews `current` with its refresh token. A new ID token, if the
    /// provider sends one, is validated (same issuer, audience and
    /// subject) and its claims replace the session's identity.
    pub async fn refresh(
        &self,
        current: &ProviderTokens,
    ) -> Result<(ProviderTokens, Option<Identity>), OidcError> {
        let Some(refresh_token) = &current.refresh_token else {
            return Err(OidcError::InvalidToken("no refresh token".into()));
        };
        let metadata = self.metadata(false).await?;
        // The redirect URI plays no part in a refresh.
        let client = self.client(&metadata, "localhost")?;
        let refresh_token = RefreshToken::new(refresh_token.clone());
        let tokens = client
            .exchange_refresh_token(&refresh_token)
            .map_err(|e| OidcError::ProviderUnavailable(format!("no token endpoint: {e}")))?
            .request_async(&self.http)
            .await
            .map_err(token_error)?;
        let identity = match tokens.id_token() {
            None => None,
            Some(_) => {
                let claims = self
                    .verify(&metadata, |meta| {
                        let client = self.client(meta, "localhost")?;
                        // A refreshed ID token carries no new nonce (Core §12.2).
                        verify_id_token(&client, &tokens, |_: Option<&Nonce>| Ok(()))
                    })
                    .await?;
                if string_claim(&claims, "sub") != current.subject {
                    return Err(OidcError::InvalidToken("refreshed sub differs".into()));
                }
                Some(claims::identity(&claims, &self.cfg)?)
            }
        };
        let mut next = self.provider_tokens(&tokens, current.subject.clone(), Some(current))?;
        // Providers may keep the refresh token and not send it again.
        if next.refresh_token.is_none() {
            next.refresh_token = current.refresh_token.clone();
        }
        Ok((next, identity))
    }

    /// The tokens a session keeps; on refresh the old ID token stays when
    /// no new one came.
    fn provider_tokens(
        &self,
        tokens: &Tokens,
        subject: String,
        previous: Option<&ProviderTokens>,
    ) -> Result<ProviderTokens, OidcError> {
        let now = unix_now();
        let id_token = match (tokens.id_token(), previous) {
            (Some(id_token), _) => id_token.to_string(),
            (None, Some(previous)) => previous.id_token.clone(),
            (None, None) => return Err(OidcError::InvalidToken("no ID token".into())),
        };
        Ok(ProviderTokens {
            issuer: self.cfg.issuer.clone(),
            subject,
            access_token: tokens.access_token().secret().clone(),
            access_issued_at: now,
            access_expires_at: tokens.expires_in().map(|d| now + d.as_secs()),
            refresh_token: tokens.refresh_token().map(|t| t.secret().clone()),
            id_token,
        })
    }

    /// With `provider_logout` and an `end_session_endpoint` in discovery:
    /// the provider's logout URL for this session, returning the browser
    /// to `return_to` (an absolute URL, registered at the provider).
    pub async fn end_session_url(
        &self,
        tokens: &ProviderTokens,
        return_to: &str,
    ) -> Option<openidconnect::url::Url> {
        if !self.cfg.provider_logout {
            return None;
        }
        let metadata = match self.metadata(false).await {
            Ok(metadata) => metadata,
            Err(e) => {
                tracing::warn!(error = %e, "provider logout skipped: no metadata");
                return None;
            }
        };
        let endpoint = metadata
            .additional_metadata()
            .end_session_endpoint
            .clone()?;
        let mut request =
            LogoutRequest::from(endpoint).set_client_id(ClientId::new(self.cfg.client_id.clone()));
        if let Ok(url) = PostLogoutRedirectUrl::new(return_to.to_owned()) {
            request = request.set_post_logout_redirect_uri(url);
        }
        let mut url = request.http_get_url();
        // The raw ID token as `id_token_hint`, without re-parsing it.
        url.query_pairs_mut()
            .append_pair("id_token_hint", &tokens.id_token);
        Some(url)
    }
}

/// Discovery failed: the last good metadata if there is one, else the error.
fn stale_or(cached: Option<&Discovered>, why: String) -> Result<Arc<Metadata>, OidcError> {
    match cached {
        Some(d) => {
            tracing::warn!(error = %why, "provider rediscovery failed; using the last metadata");
            Ok(d.metadata.clone())
        }
        None => Err(OidcError::ProviderUnavailable(why)),
    }
}

/// The token endpoint's answer: an OAuth error (`invalid_grant`: a code
/// used twice, a wrong PKCE verifier, a revoked refresh token) is the
/// provider refusing; anything else is the provider being unavailable.
fn token_error<RE: std::error::Error + 'static>(
    e: RequestTokenError<RE, StandardErrorResponse<CoreErrorResponseType>>,
) -> OidcError {
    match e {
        RequestTokenError::ServerResponse(response) => {
            OidcError::InvalidToken(format!("token endpoint said {}", response.error()))
        }
        other => OidcError::ProviderUnavailable(describe(&other)),
    }
}

/// An error and its causes, for the log.
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
