//! Each ENT's OpenID Provider as discovered: its metadata and signing keys, cached per ENT for
//! the configured TTL; the JWKS is refetched when an ID token names a key it lacks, at most
//! once a minute per ENT; a failed discovery is retried at most every ten seconds (clicks on
//! the médiacentre cannot make the gateway hammer an ENT that is down).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};
use serde::Deserialize;
use url::Url;

use super::{allowed_url, fetch, Check, EntOidc, RpError};

/// How often an unknown `kid` may trigger a JWKS refetch, per ENT.
pub const JWKS_REFETCH_INTERVAL: chrono::Duration = chrono::Duration::seconds(60);

/// How long a failed discovery is answered from memory, per ENT.
pub const DISCOVERY_RETRY_INTERVAL: chrono::Duration = chrono::Duration::seconds(10);

/// An ENT's provider metadata (its `jwks` filled in) and when it was fetched.
#[derive(Debug)]
pub struct Discovered {
    pub metadata: CoreProviderMetadata,
    /// RFC 9207: the provider sends `iss` in its authorization responses, so one missing is
    /// refused.
    pub iss_parameter_supported: bool,
    /// RP-Initiated Logout 1.0: where the gateway sends the browser so that the ENT logs its
    /// user out too (after a provider's logout).
    pub end_session_endpoint: Option<String>,
    pub fetched_at: DateTime<Utc>,
    /// The ENT's `allow_private_network` when it was discovered (its JWKS is refetched under
    /// the same policy).
    pub allow_private_network: bool,
}

/// What the discovery document says beyond `CoreProviderMetadata`.
#[derive(Deserialize)]
struct Extra {
    /// RFC 9207.
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
    /// RP-Initiated Logout 1.0.
    #[serde(default)]
    end_session_endpoint: Option<String>,
}

struct Entry {
    discovered: Arc<Discovered>,
    last_refetch: Option<DateTime<Utc>>,
}

struct Failure {
    at: DateTime<Utc>,
    error: RpError,
}

/// The cache of every ENT's provider, shared by all requests of a gateway node.
pub struct Providers {
    /// Public addresses only.
    http: reqwest::Client,
    /// Also loopback and private addresses, for ENTs with `allow_private_network`.
    http_private: reqwest::Client,
    entries: Mutex<HashMap<String, Entry>>,
    failures: Mutex<HashMap<String, Failure>>,
}

impl Default for Providers {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Providers")
    }
}

impl Providers {
    pub fn new() -> Self {
        Self {
            http: fetch::client(false),
            http_private: fetch::client(true),
            entries: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The client every request to an ENT's provider goes through, for the ENT's
    /// `allow_private_network`.
    pub fn http(&self, allow_private: bool) -> &reqwest::Client {
        if allow_private {
            &self.http_private
        } else {
            &self.http
        }
    }

    fn cached(&self, ent: &str) -> Option<(Arc<Discovered>, Option<DateTime<Utc>>)> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(ent)
            .map(|e| (e.discovered.clone(), e.last_refetch))
    }

    fn store(&self, ent: &str, discovered: Arc<Discovered>, last_refetch: Option<DateTime<Utc>>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.insert(
            ent.to_string(),
            Entry {
                discovered,
                last_refetch,
            },
        );
    }

    /// ENT `ent`'s provider, discovered again when the cached copy is older than its TTL.
    pub async fn get(
        &self,
        ent: &str,
        settings: &EntOidc,
        now: DateTime<Utc>,
    ) -> Result<Arc<Discovered>, RpError> {
        let ttl = chrono::Duration::from_std(settings.discovery_ttl)
            .unwrap_or(chrono::Duration::hours(1));
        let previous = self.cached(ent);
        if let Some((d, _)) = &previous {
            if now - d.fetched_at < ttl {
                return Ok(d.clone());
            }
        }
        {
            let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(f) = failures.get(ent) {
                if now - f.at < DISCOVERY_RETRY_INTERVAL {
                    return Err(RpError::new(
                        f.error.check,
                        format!(
                            "{} (failed at {}, not retried yet)",
                            f.error.description, f.at
                        ),
                    ));
                }
            }
        }
        match self.discover(settings, now).await {
            Ok(d) => {
                let d = Arc::new(d);
                self.store(ent, d.clone(), previous.and_then(|(_, r)| r));
                let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
                failures.remove(ent);
                Ok(d)
            }
            Err(error) => {
                let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
                failures.insert(
                    ent.to_string(),
                    Failure {
                        at: now,
                        error: error.clone(),
                    },
                );
                Err(error)
            }
        }
    }

    /// Refetches ENT `ent`'s JWKS after an ID token named a key it lacks: `None` when the
    /// last refetch was less than a minute ago (an attacker cannot make the gateway hammer
    /// the provider).
    pub async fn refetch_jwks(
        &self,
        ent: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Arc<Discovered>>, RpError> {
        let Some((current, last)) = self.cached(ent) else {
            return Ok(None);
        };
        if last.is_some_and(|t| now - t < JWKS_REFETCH_INTERVAL) {
            return Ok(None);
        }
        // Record the attempt first: a failing provider is not retried more often either.
        self.store(ent, current.clone(), Some(now));
        let jwks = self
            .jwks(&current.metadata, current.allow_private_network)
            .await?;
        let refreshed = Arc::new(Discovered {
            metadata: current.metadata.clone().set_jwks(jwks),
            iss_parameter_supported: current.iss_parameter_supported,
            end_session_endpoint: current.end_session_endpoint.clone(),
            fetched_at: current.fetched_at,
            allow_private_network: current.allow_private_network,
        });
        self.store(ent, refreshed.clone(), Some(now));
        Ok(Some(refreshed))
    }

    async fn discover(&self, s: &EntOidc, now: DateTime<Utc>) -> Result<Discovered, RpError> {
        let url = discovery_url(&s.issuer)?;
        let private = s.allow_private_network;
        let body = fetch::get_json(self.http(private), &url, private, Check::Discovery).await?;
        let metadata: CoreProviderMetadata = serde_json::from_slice(&body).map_err(|e| {
            RpError::new(
                Check::Discovery,
                format!("{url} is not provider metadata: {e}"),
            )
        })?;
        let extra = serde_json::from_slice::<Extra>(&body).ok();
        let iss_parameter_supported = extra
            .as_ref()
            .is_some_and(|r| r.authorization_response_iss_parameter_supported);
        let end_session_endpoint = extra.and_then(|r| r.end_session_endpoint);
        let end_session_url = end_session_endpoint
            .as_deref()
            .map(|u| {
                Url::parse(u).map_err(|_| {
                    RpError::new(Check::Discovery, "end_session_endpoint is not a URL")
                })
            })
            .transpose()?;
        if metadata.issuer().as_str() != s.issuer {
            return Err(RpError::new(
                Check::Discovery,
                format!(
                    "the metadata names issuer {} instead of {}",
                    metadata.issuer().as_str(),
                    s.issuer
                ),
            ));
        }
        let mut endpoints = vec![
            (
                "authorization_endpoint",
                metadata.authorization_endpoint().url(),
            ),
            ("jwks_uri", metadata.jwks_uri().url()),
        ];
        match metadata.token_endpoint() {
            Some(t) => endpoints.push(("token_endpoint", t.url())),
            None => {
                return Err(RpError::new(
                    Check::Discovery,
                    "the metadata has no token_endpoint",
                ))
            }
        }
        if let Some(u) = metadata.userinfo_endpoint() {
            endpoints.push(("userinfo_endpoint", u.url()));
        }
        if let Some(u) = &end_session_url {
            endpoints.push(("end_session_endpoint", u));
        }
        for (name, u) in endpoints {
            if !allowed_url(u, private) {
                return Err(RpError::new(
                    Check::Discovery,
                    format!("{name}: {}", fetch::refused_description(u, private)),
                ));
            }
        }
        let jwks = self.jwks(&metadata, private).await?;
        Ok(Discovered {
            metadata: metadata.set_jwks(jwks),
            iss_parameter_supported,
            end_session_endpoint,
            fetched_at: now,
            allow_private_network: private,
        })
    }

    async fn jwks(
        &self,
        metadata: &CoreProviderMetadata,
        private: bool,
    ) -> Result<CoreJsonWebKeySet, RpError> {
        let url = metadata.jwks_uri().url();
        let body = fetch::get_json(self.http(private), url, private, Check::Jwks).await?;
        serde_json::from_slice(&body)
            .map_err(|e| RpError::new(Check::Jwks, format!("{url} is not a JWK set: {e}")))
    }
}

/// `{issuer}/.well-known/openid-configuration` (OpenID Connect Discovery §4).
pub fn discovery_url(issuer: &str) -> Result<Url, RpError> {
    let s = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    Url::parse(&s).map_err(|e| RpError::new(Check::Discovery, format!("{s}: {e}")))
}
