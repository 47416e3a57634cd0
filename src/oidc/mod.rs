//! Everything OpenID Connect: [`op`], the gateway as OpenID Provider for resource providers
//! (web resources and native applications); [`rp`], the gateway as relying party of ENTs that
//! authenticate their users over OIDC; [`jwks`], ID token checks as a relying party makes
//! them against a published JWKS.
//!
//! Invariant: only this module imports `jsonwebtoken` (and `openidconnect`). It turns
//! protocol messages into neutral values; access decisions stay in `domain` and `flow`.

pub mod error_code;
pub mod jwks;
pub mod op;
pub mod rp;

pub use error_code::ErrorCode;

/// The event a back-channel logout token carries (OpenID Connect Back-Channel Logout 1.0
/// §2.4), whichever side makes or checks it.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// An OAuth 2.0 / OIDC refusal: the `error` code the client receives, the check that failed
/// (for traces and logs), and a description safe to show (no token, no personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{check}: {description}")]
pub struct OidcError {
    /// RFC 6749 / RFC 6750 / OIDC error code, e.g. `invalid_grant`.
    pub error: ErrorCode,
    /// The check that failed, e.g. `oidc.pkce`.
    pub check: &'static str,
    pub description: String,
}

impl OidcError {
    pub fn new(error: ErrorCode, check: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            check,
            description: description.into(),
        }
    }
}
