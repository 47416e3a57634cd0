//! Who is calling: the party registry. A request's credentials are a client certificate
//! (proven by the gateway's mutual-TLS listener, or forwarded by a trusted proxy: the
//! [`ClientIdentity`] extension) and a bearer token (`Authorization: Bearer`, the scheme read
//! case-insensitively as RFC 9110 §11.1 says). They are matched against the configured parties
//! here, and nowhere else, with one precedence:
//!
//! 1. the certificate, when it is registered for a party of the role asked for;
//! 2. otherwise the token, when it is one of that role's tokens (for audience readers: the
//!    readers of `[audience_readers]`, then providers, then ENTs).
//!
//! A certificate that names nobody is logged (the operator forgot to register it) and the
//! token is tried. Handlers ask for the role they need as a typed extractor
//! ([`ProviderCaller`], [`EntCaller`], [`AudienceReaderCaller`], [`AuditorCaller`]; a handler
//! with its own error shape takes `Result<_, Unauthenticated>`), or call [`Credentials`]'s
//! resolvers with a token from a form. [`LiveSession`] is the browser's live gateway session.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::tls::ClientIdentity;
use crate::app::AppState;
use crate::config::{AuditorConfig, Config, EntConfig, ProviderConfig};
use crate::domain::IdEnt;
use crate::session::Session;

/// The token of `Authorization: Bearer <token>`, trimmed; the scheme is case-insensitive.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// How a caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Certificate,
    Token,
}

/// Why nobody of the role asked for is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unauthenticated {
    /// Neither a certificate nor a token.
    Nothing,
    /// Credentials were presented, and none is a party of that role.
    Unknown,
}

impl Unauthenticated {
    /// The cause for the operator's log line.
    pub fn cause(self) -> &'static str {
        match self {
            Self::Nothing => "no client certificate and no bearer token",
            Self::Unknown => "neither the client certificate nor the bearer token is registered for a party of this role",
        }
    }
}

impl IntoResponse for Unauthenticated {
    fn into_response(self) -> Response {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"passerelle\"")],
            "authentification requise\n",
        )
            .into_response()
    }
}

/// What a request presented.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// SHA-256 of the client certificate (lowercase hex).
    pub fingerprint: Option<String>,
    pub token: Option<String>,
}

impl Credentials {
    pub fn of(parts: &Parts) -> Self {
        Self {
            fingerprint: parts
                .extensions
                .get::<ClientIdentity>()
                .map(|i| i.fingerprint.clone()),
            token: bearer(&parts.headers).map(str::to_string),
        }
    }

    /// A token given in a form or a query (the dashboard's and audit page's `jeton`).
    pub fn token(token: Option<&str>) -> Self {
        Self {
            fingerprint: None,
            token: token
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string),
        }
    }

    fn missing(&self) -> Unauthenticated {
        if self.fingerprint.is_none() && self.token.is_none() {
            Unauthenticated::Nothing
        } else {
            Unauthenticated::Unknown
        }
    }

    /// The certificate's party among `parties`, the unregistered certificate logged.
    fn by_certificate<'a, T>(
        &self,
        parties: impl Iterator<Item = &'a T>,
        fingerprint: impl Fn(&T) -> Option<&str>,
    ) -> Option<&'a T> {
        let fp = self.fingerprint.as_deref()?;
        parties.into_iter().find(|p| fingerprint(p) == Some(fp))
    }

    fn by_token<'a, T>(
        &self,
        parties: impl Iterator<Item = &'a T>,
        matches: impl Fn(&T, &str) -> bool,
    ) -> Option<&'a T> {
        let t = self.token.as_deref()?;
        parties.into_iter().find(|p| matches(p, t))
    }

    /// The provider calling.
    pub fn provider<'a>(&self, c: &'a Config) -> Result<(&'a ProviderConfig, By), Unauthenticated> {
        if let Some(p) = self.by_certificate(c.providers.values(), |p| {
            p.client_cert_fingerprint.as_deref()
        }) {
            return Ok((p, By::Certificate));
        }
        self.unregistered("providers.<key>.client_certificate_file");
        self.by_token(c.providers.values(), |p, t| {
            p.api_token.as_ref().is_some_and(|k| k.matches(t))
        })
        .map(|p| (p, By::Token))
        .ok_or_else(|| self.missing())
    }

    /// The ENT calling.
    pub fn ent<'a>(&self, c: &'a Config) -> Result<(&'a EntConfig, By), Unauthenticated> {
        if let Some(e) =
            self.by_certificate(c.ents.values(), |e| e.client_cert_fingerprint.as_deref())
        {
            return Ok((e, By::Certificate));
        }
        self.unregistered("ents.<id>.client_certificate_file");
        self.by_token(c.ents.values(), |e, t| {
            e.api_token.as_ref().is_some_and(|k| k.matches(t))
        })
        .map(|e| (e, By::Token))
        .ok_or_else(|| self.missing())
    }

    /// The auditor calling (auditors have tokens only).
    pub fn auditor<'a>(&self, c: &'a Config) -> Result<&'a AuditorConfig, Unauthenticated> {
        self.by_token(c.auditors.values(), |a, t| a.token.matches(t))
            .ok_or_else(|| self.missing())
    }

    /// The reader of audience figures calling: a provider or an ENT by its certificate, else a
    /// reader of `[audience_readers]`, a provider or an ENT by its token.
    pub fn audience_reader(&self, c: &Config) -> Result<AudienceReader, Unauthenticated> {
        if let Some(p) = self.by_certificate(c.providers.values(), |p| {
            p.client_cert_fingerprint.as_deref()
        }) {
            return Ok(AudienceReader::Provider(p.key.clone(), p.name.clone()));
        }
        if let Some(e) =
            self.by_certificate(c.ents.values(), |e| e.client_cert_fingerprint.as_deref())
        {
            return Ok(AudienceReader::Ent(e.id.clone(), e.name.clone()));
        }
        if let Some(r) = self.by_token(c.audience_readers.values(), |r, t| r.token.matches(t)) {
            return Ok(AudienceReader::Reader(r.clone()));
        }
        if let Ok((p, _)) = self.provider(c) {
            return Ok(AudienceReader::Provider(p.key.clone(), p.name.clone()));
        }
        if let Ok((e, _)) = self.ent(c) {
            return Ok(AudienceReader::Ent(e.id.clone(), e.name.clone()));
        }
        Err(self.missing())
    }

    fn unregistered(&self, key: &str) {
        if let Some(fp) = &self.fingerprint {
            tracing::debug!(fingerprint = %fp, "client certificate not registered for this role ({key}); trying the bearer token");
        }
    }
}

/// Who reads audience figures.
#[derive(Debug, Clone)]
pub enum AudienceReader {
    /// A reader of `[audience_readers]`, with its scope.
    Reader(AuditorConfig),
    /// A provider: its key and name.
    Provider(String, String),
    /// An ENT project: its id and name.
    Ent(IdEnt, String),
}

/// A provider authenticated by its certificate or token.
pub struct ProviderCaller {
    config: Arc<Config>,
    key: String,
    pub by: By,
}

impl ProviderCaller {
    pub fn provider(&self) -> &ProviderConfig {
        // Resolved from this very configuration, which never changes: the key is there.
        &self.config.providers[&self.key]
    }
}

/// An ENT authenticated by its certificate or token.
pub struct EntCaller {
    config: Arc<Config>,
    id: IdEnt,
    pub by: By,
}

impl EntCaller {
    pub fn ent(&self) -> &EntConfig {
        // Resolved from this very configuration, which never changes: the id is there.
        &self.config.ents[&self.id]
    }
}

/// An auditor authenticated by its token.
pub struct AuditorCaller(pub AuditorConfig);

/// A reader of audience figures.
pub struct AudienceReaderCaller(pub AudienceReader);

impl FromRequestParts<AppState> for ProviderCaller {
    type Rejection = Unauthenticated;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let (p, by) = Credentials::of(parts).provider(&s.config)?;
        Ok(Self {
            key: p.key.clone(),
            config: s.config.clone(),
            by,
        })
    }
}

impl FromRequestParts<AppState> for EntCaller {
    type Rejection = Unauthenticated;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let (e, by) = Credentials::of(parts).ent(&s.config)?;
        Ok(Self {
            id: e.id.clone(),
            config: s.config.clone(),
            by,
        })
    }
}

impl FromRequestParts<AppState> for AuditorCaller {
    type Rejection = Unauthenticated;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(Credentials::of(parts).auditor(&s.config)?.clone()))
    }
}

impl FromRequestParts<AppState> for AudienceReaderCaller {
    type Rejection = Unauthenticated;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(Credentials::of(parts).audience_reader(&s.config)?))
    }
}

/// The browser's live gateway session at the clock's `now`, if its cookie names one.
pub struct LiveSession(pub Option<Session>);

impl FromRequestParts<AppState> for LiveSession {
    type Rejection = super::error::PageError;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(live_session(s, &parts.headers).await?))
    }
}

/// The live gateway session this browser's cookie names, read once from the store.
pub async fn live_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Session>, crate::store::StoreError> {
    let now = state.clock.now();
    match super::cookies::session_id(headers, super::cookies::secure(&state.config)) {
        Some(id) => Ok(state
            .store
            .get_session(&id)
            .await?
            .filter(|s| s.is_live(now))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::bearer;
    use axum::http::{header, HeaderMap, HeaderValue};

    fn with(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_the_token_trimmed() {
        assert_eq!(bearer(&with("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&with("bearer abc ")), Some("abc"));
        assert_eq!(bearer(&with("BEARER  abc")), Some("abc"));
        assert_eq!(bearer(&with("Basic abc")), None);
        assert_eq!(bearer(&with("Bearer ")), None);
        assert_eq!(bearer(&with("Bearerabc")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
