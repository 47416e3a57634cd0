//! The gateway as OpenID Connect relying party of ENTs that authenticate their users over OIDC
//! instead of SAML: [`EntOidc`] (one ENT's validated settings), [`provider`] (discovery and
//! JWKS, cached per ENT, fetched through [`fetch`]), and [`flow`] (authorization request with
//! PKCE S256, state and nonce; code exchange; every ID token check; the GAR claims).
//!
//! Invariants: time is a parameter (`now`), never read here; outbound requests have a 10 s
//! timeout, follow no redirect and use https except to a loopback address; no token, code or
//! claim value reaches an error description (they end up in logs).

pub mod fetch;
pub mod flow;
pub mod provider;

use std::time::Duration;

use url::Url;

use crate::config::Secret;

pub use flow::{begin, complete, verify_id_token, Begin, EntUser, LoginSecrets};
pub use provider::{Discovered, Providers};

/// The ID token signature algorithms an ENT may be pinned to. `none` and the HMAC family are
/// not representable: a client secret is not a signing key the gateway would accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdTokenAlg {
    Rs256,
    Rs384,
    Rs512,
    Es256,
    Ps256,
}

impl IdTokenAlg {
    /// The JOSE name (`RS256`...) as written in the configuration.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "RS256" => Self::Rs256,
            "RS384" => Self::Rs384,
            "RS512" => Self::Rs512,
            "ES256" => Self::Es256,
            "PS256" => Self::Ps256,
            _ => return None,
        })
    }

    pub const NAMES: &'static str = "RS256, RS384, RS512, ES256 or PS256";
}

/// One ENT's OpenID Provider, as configured under `[ents.<id>.oidc]`.
#[derive(Debug, Clone)]
pub struct EntOidc {
    /// The issuer identifier, exactly as the ID tokens carry it (an http(s) URL).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Scopes requested (`openid` is always sent).
    pub scopes: Vec<String>,
    /// The only algorithms accepted on this ENT's ID tokens.
    pub id_token_signing_algs: Vec<IdTokenAlg>,
    /// The claim naming the ENT (`idEnt`): it must be this ENT's id.
    pub ent_claim: String,
    /// The claim carrying the user's `GARPersonIdentifiant`.
    pub person_claim: String,
    pub discovery_ttl: Duration,
    pub clock_skew: Duration,
}

/// Why an ENT's OpenID Connect message was refused: the check that failed (for traces, logs
/// and the error page) and a description for operators, free of tokens and claim values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{check}: {description}")]
pub struct RpError {
    /// e.g. `oidc.nonce`, `oidc.audience`.
    pub check: &'static str,
    pub description: String,
}

impl RpError {
    pub fn new(check: &'static str, description: impl Into<String>) -> Self {
        Self {
            check,
            description: description.into(),
        }
    }
}

/// Whether `url` may be fetched: https, or plain http to a loopback address (local trials and
/// tests); never an IP literal in a private, link-local or otherwise internal range (names are
/// checked when they resolve, see `fetch::PublicOnly`).
pub fn allowed_url(url: &Url) -> bool {
    let internal_literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => is_internal(std::net::IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_internal(std::net::IpAddr::V6(ip)),
        _ => false,
    };
    !internal_literal && (url.scheme() == "https" || (url.scheme() == "http" && is_loopback(url)))
}

/// Addresses an ENT's OpenID Provider must not lead the gateway to (SSRF): private, shared,
/// link-local, unique-local, unspecified, broadcast and documentation ranges. Loopback is not
/// in this list: it is allowed for http trials, and refused for resolved names.
pub fn is_internal(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xC0) == 64)
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4)) || v4.is_loopback();
            }
            v6.is_unspecified() || (seg[0] & 0xfe00) == 0xfc00 || (seg[0] & 0xffc0) == 0xfe80
        }
    }
}

pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod flow_tests;
