//! The tokens the OpenID Provider signs: ID tokens (OIDC Core §2) and JWT access tokens
//! (RFC 9068, `typ: at+jwt`), and the checks made when an access token comes back.
//!
//! Access tokens carry the grant id (`gid`) and the resource; the person behind them is found
//! through the grant record, so no ENT identifier ever reaches a provider. `sub` is the IDO.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::keys::{at_hash, Expect, KeySet};
use super::records::{new_secret, GrantFacts};
use crate::oidc::{ErrorCode, OidcError};

pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub azp: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub at_hash: String,
    /// The gateway session the token was issued in (OpenID Connect Front-Channel Logout §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub scope: String,
    /// The grant this token came from.
    pub gid: String,
    #[serde(rename = "idRessource")]
    pub resource: String,
}

/// Lifetimes of what the provider issues.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub code: Duration,
    pub access_token: Duration,
    pub id_token: Duration,
    pub refresh_token: Duration,
}

/// A signed access token and ID token for one grant.
pub struct Issued {
    pub access_token: String,
    pub access_claims: AccessClaims,
    pub id_token: String,
}

/// Signs the access token and ID token of `facts` for subject `ido`.
pub fn issue(
    keys: &KeySet,
    issuer: &str,
    facts: &GrantFacts,
    ido: &str,
    nonce: Option<&str>,
    now: DateTime<Utc>,
    life: &Lifetimes,
) -> Result<Issued, OidcError> {
    let access_claims = AccessClaims {
        iss: issuer.to_string(),
        sub: ido.to_string(),
        aud: facts.client_id.clone(),
        client_id: facts.client_id.clone(),
        exp: (now + life.access_token).timestamp(),
        iat: now.timestamp(),
        jti: new_secret(),
        scope: facts.scope.clone(),
        gid: facts.grant_id.clone(),
        resource: facts.resource.to_string(),
    };
    let access_token = keys.sign(ACCESS_TOKEN_TYP, &access_claims)?;
    let id = IdTokenClaims {
        iss: issuer.to_string(),
        sub: ido.to_string(),
        aud: facts.client_id.clone(),
        azp: facts.client_id.clone(),
        exp: (now + life.id_token).timestamp(),
        iat: now.timestamp(),
        auth_time: facts.auth_time.timestamp(),
        nonce: nonce.map(str::to_string),
        at_hash: at_hash(&access_token),
        sid: facts.sid.clone(),
    };
    let id_token = keys.sign("JWT", &id)?;
    Ok(Issued {
        access_token,
        access_claims,
        id_token,
    })
}

/// Verifies an access token the gateway issued and that it has not expired at `now`.
pub fn verify_access(
    keys: &KeySet,
    issuer: &str,
    token: &str,
    now: DateTime<Utc>,
) -> Result<AccessClaims, OidcError> {
    let claims: AccessClaims = keys.verify(
        token,
        &Expect {
            typ: Some(ACCESS_TOKEN_TYP),
            issuer,
            audience: None,
        },
    )?;
    if now.timestamp() >= claims.exp {
        return Err(OidcError::new(
            ErrorCode::InvalidToken,
            "oidc.token_expired",
            "the access token has expired",
        ));
    }
    Ok(claims)
}

/// Verifies an ID token the gateway issued, expired or not (an `id_token_hint` at logout).
pub fn verify_id_token_hint(
    keys: &KeySet,
    issuer: &str,
    token: &str,
) -> Result<IdTokenClaims, OidcError> {
    keys.verify(
        token,
        &Expect {
            typ: None,
            issuer,
            audience: None,
        },
    )
}
