//! The gateway as OpenID Connect relying party of ENTs that authenticate their users over OIDC
//! instead of SAML: [`EntOidc`] (one ENT's validated settings), [`provider`] (discovery and
//! JWKS, cached per ENT, fetched through [`fetch`]), and [`flow`] (authorization request with
//! PKCE S256, state and nonce; code exchange; every ID token check; the GAR claims).
//!
//! Invariants: time is a parameter (`now`), never read here; outbound requests have a 10 s
//! timeout, follow no redirect, ignore proxy environment variables and reach only public
//! addresses over https, unless the ENT's configuration allows private networks ([`ssrf`]);
//! no token, code or claim value reaches an error description (they end up in logs).

pub mod check;
pub mod fetch;
pub mod flow;
pub mod logout;
pub mod provider;
pub mod ssrf;

use std::time::Duration;

use crate::secret::Secret;

pub use check::Check;
pub use flow::{begin, complete, verify_id_token, Begin, EntUser, LoginSecrets};
pub use provider::{Discovered, Providers};
pub use ssrf::{allowed_url, is_loopback};

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
    /// `allow_private_network`: the ENT's provider may be on loopback or a private network
    /// (and over plain http there). Off by default: only public addresses over https.
    pub allow_private_network: bool,
}

/// Why an ENT's OpenID Connect message was refused: the check that failed (for traces, logs
/// and the error page) and a description for operators, free of tokens and claim values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{check}: {description}")]
pub struct RpError {
    /// The check that failed; its code is e.g. `oidc.nonce`.
    pub check: Check,
    pub description: String,
}

impl RpError {
    pub fn new(check: Check, description: impl Into<String>) -> Self {
        Self {
            check,
            description: description.into(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod flow_tests;
