//! What the OpenID Provider remembers between requests: the grant an authorization created
//! (who, which school, which resource, which client), the code that carries it to the token
//! endpoint, and refresh tokens; with the pure checks made on them (PKCE, code redemption,
//! refresh expiry). Time is a parameter.
//!
//! Records are stored under the SHA-256 of the secret they stand for ([`key_of`]), so the
//! store never holds a usable code or token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::{IdEnt, Profile, ResourceId, Uai};
use crate::oidc::{ErrorCode, OidcError};
use crate::trace::Channel;

/// Store kinds of the records (see `store::TokenStore`).
pub const KIND_CODE: &str = "oidc-code";
pub const KIND_REFRESH: &str = "oidc-refresh";
pub const KIND_REVOKED_GRANT: &str = "oidc-revoked-grant";
pub const KIND_REVOKED_ACCESS: &str = "oidc-revoked-at";
/// `remember_once` namespaces: the first use of a code or refresh token wins.
pub const ONCE_CODE: &str = "oidc-code-used";
pub const ONCE_REFRESH: &str = "oidc-refresh-used";

/// What one authorization granted; every token issued from it carries its `grant_id`, so that
/// revoking the grant (a reused code, a reused refresh token, RFC 7009) revokes them all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantFacts {
    pub grant_id: String,
    pub client_id: String,
    /// The provider's configuration key.
    pub provider: String,
    pub ent: IdEnt,
    /// `GARPersonIdentifiant`: kept by the gateway, never sent to the provider.
    pub person_id: String,
    pub uai: Uai,
    /// The user's profile in that school when access was granted.
    pub profile: Profile,
    pub resource: ResourceId,
    pub channel: Channel,
    /// The device class of the browser that authorized (for the audience).
    #[serde(default)]
    pub device: crate::audience::DeviceClass,
    pub scope: String,
    pub auth_time: DateTime<Utc>,
    /// The gateway session's public handle (`Session::public_ref`), carried as the ID
    /// token's `sid`: RP-initiated logout checks an `id_token_hint` against it.
    #[serde(default)]
    pub sid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    pub facts: GrantFacts,
    pub redirect_uri: String,
    /// S256 challenge, when the client sent one (always, for public clients).
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub issued_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub facts: GrantFacts,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A fresh secret: 256 random bits, base64url.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// The store key of a secret.
pub fn key_of(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Checks a `code_challenge` at the authorization endpoint: S256 only (`plain` is refused),
/// 43 base64url characters.
pub fn check_challenge(challenge: &str, method: Option<&str>) -> Result<(), OidcError> {
    let bad = |d: &str| OidcError::new(ErrorCode::InvalidRequest, "oidc.pkce", d);
    match method {
        Some("S256") => {}
        Some("plain") | None => {
            return Err(bad("code_challenge_method must be S256 (plain is refused)"))
        }
        Some(_) => return Err(bad("unknown code_challenge_method (only S256)")),
    }
    if challenge.len() != 43 || URL_SAFE_NO_PAD.decode(challenge).is_err() {
        return Err(bad("code_challenge is not a base64url SHA-256"));
    }
    Ok(())
}

/// RFC 7636 §4.6: `BASE64URL(SHA256(verifier)) == challenge`, with a well-formed verifier.
fn verify_pkce(challenge: &str, verifier: Option<&str>) -> Result<(), OidcError> {
    use subtle::ConstantTimeEq;
    let bad = |d: &str| OidcError::new(ErrorCode::InvalidGrant, "oidc.pkce", d);
    let v = verifier.ok_or_else(|| bad("code_verifier is missing"))?;
    let well_formed = (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !well_formed {
        return Err(bad("code_verifier is not 43 to 128 unreserved characters"));
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()));
    if bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
        Ok(())
    } else {
        Err(bad("code_verifier does not match the code_challenge"))
    }
}

/// What the token endpoint received with a code.
pub struct Redemption<'a> {
    pub client_id: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
    pub public_client: bool,
}

/// Checks a code's record against its redemption (RFC 6749 §4.1.3, RFC 7636): issued to this
/// client, not older than `lifetime`, the same `redirect_uri`, and the PKCE verifier. A public
/// client always needs PKCE.
pub fn check_redemption(
    record: &CodeRecord,
    r: &Redemption<'_>,
    now: DateTime<Utc>,
    lifetime: Duration,
) -> Result<(), OidcError> {
    check_binding(record, r)?;
    if now >= record.issued_at + lifetime {
        return Err(OidcError::new(
            ErrorCode::InvalidGrant,
            "oidc.code_expired",
            "the code has expired",
        ));
    }
    Ok(())
}

/// What binds a code to its authorization request: the client, the `redirect_uri` and the
/// PKCE verifier. Checked before the code is used up, so that a party that only holds the
/// code cannot spend it.
pub fn check_binding(record: &CodeRecord, r: &Redemption<'_>) -> Result<(), OidcError> {
    let bad = |check, d: &str| OidcError::new(ErrorCode::InvalidGrant, check, d);
    if record.facts.client_id != r.client_id {
        return Err(bad(
            "oidc.code_client",
            "the code was issued to another client",
        ));
    }
    if r.redirect_uri != Some(record.redirect_uri.as_str()) {
        return Err(bad(
            "oidc.redirect_uri",
            "redirect_uri differs from the authorization request's",
        ));
    }
    match (&record.code_challenge, r.public_client) {
        (Some(c), _) => verify_pkce(c, r.code_verifier),
        (None, true) => Err(bad("oidc.pkce", "a public client's code needs PKCE")),
        (None, false) if r.code_verifier.is_some() => {
            Err(bad("oidc.pkce", "no code_challenge was sent for this code"))
        }
        (None, false) => Ok(()),
    }
}

/// Checks a refresh token's record: this client's, not expired.
pub fn check_refresh(
    record: &RefreshRecord,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<(), OidcError> {
    if record.facts.client_id != client_id {
        return Err(OidcError::new(
            ErrorCode::InvalidGrant,
            "oidc.refresh_client",
            "the refresh token was issued to another client",
        ));
    }
    if now >= record.expires_at {
        return Err(OidcError::new(
            ErrorCode::InvalidGrant,
            "oidc.refresh_expired",
            "the refresh token has expired",
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
