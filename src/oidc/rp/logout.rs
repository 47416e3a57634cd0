//! OpenID Connect Back-Channel Logout 1.0, the gateway as relying party of an ENT: the
//! `logout_token` an ENT's provider POSTs when the user logs out there, checked as an ID token
//! is (§2.6): a JWS signed by a key of the ENT's JWKS with one of its algorithms (never `none`,
//! never HMAC), `iss` the ENT's issuer, `aud` the gateway's client id, `iat` not in the future
//! and not too old, `exp` not passed, the back-channel logout event in `events`, `sub` or `sid`
//! (or both), and no `nonce`. Replay (`jti`) is the caller's, through the store.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JsonWebKeyId};
use serde_json::Value;

use super::{Check, EntOidc, RpError};

use crate::oidc::BACKCHANNEL_LOGOUT_EVENT;

/// A logout token issued longer ago than this (plus the skew) is refused.
pub const MAX_AGE: Duration = Duration::minutes(5);

/// The largest logout token read.
pub const MAX_BYTES: usize = 16 * 1024;

/// What a verified logout token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutToken {
    pub sub: Option<String>,
    pub sid: Option<String>,
    pub jti: String,
    /// Until when `jti` must be remembered against replay.
    pub remember_until: DateTime<Utc>,
}

fn refused(check: Check, description: impl Into<String>) -> RpError {
    RpError::new(check, description)
}

/// The parts of a compact JWS, decoded: header, payload, signing input and signature.
struct Parts {
    header: Value,
    payload: Value,
    signing_input: String,
    signature: Vec<u8>,
}

fn parts(token: &str) -> Result<Parts, RpError> {
    let malformed = |d: &str| refused(Check::LogoutToken, format!("logout_token: {d}"));
    if token.len() > MAX_BYTES {
        return Err(malformed("too large"));
    }
    let mut it = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(malformed(
            "not a compact JWS (an encrypted or unsigned token?)",
        ));
    };
    let json = |part: &str| -> Result<Value, RpError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| malformed("a part is not base64url"))?;
        serde_json::from_slice(&bytes).map_err(|_| malformed("a part is not JSON"))
    };
    Ok(Parts {
        header: json(h)?,
        payload: json(p)?,
        signing_input: format!("{h}.{p}"),
        signature: URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| malformed("the signature is not base64url"))?,
    })
}

/// The `iss` of an unverified logout token: only good for choosing whose keys verify it.
pub fn peek_issuer(token: &str) -> Result<String, RpError> {
    parts(token)?
        .payload
        .get("iss")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| refused(Check::Issuer, "the logout_token has no iss"))
}

/// Verifies `token` from the ENT `s` with its `jwks` at `now`.
pub fn verify_logout_token(
    token: &str,
    jwks: &CoreJsonWebKeySet,
    s: &EntOidc,
    now: DateTime<Utc>,
) -> Result<LogoutToken, RpError> {
    let p = parts(token)?;
    let alg: CoreJwsSigningAlgorithm = p
        .header
        .get("alg")
        .cloned()
        .and_then(|a| serde_json::from_value(a).ok())
        .ok_or_else(|| refused(Check::Algorithm, "the logout_token names no known alg"))?;
    if !s
        .id_token_signing_algs
        .iter()
        .any(|a| super::flow::core_alg(*a) == alg)
    {
        return Err(refused(
            Check::Algorithm,
            "the logout_token's alg is not one of the ENT's algorithms",
        ));
    }
    let kid = p.header.get("kid").and_then(Value::as_str);
    let candidates: Vec<_> = jwks
        .keys()
        .iter()
        .filter(|k| match kid {
            Some(kid) => k.key_id() == Some(&JsonWebKeyId::new(kid.to_string())),
            None => true,
        })
        .collect();
    if candidates.is_empty() {
        return Err(refused(
            Check::Kid,
            "the logout_token is signed with a key the ENT does not publish",
        ));
    }
    if !candidates.iter().any(|k| {
        k.verify_signature(&alg, p.signing_input.as_bytes(), &p.signature)
            .is_ok()
    }) {
        return Err(refused(
            Check::Signature,
            "the logout_token's signature does not verify",
        ));
    }
    claims(&p.payload, s, now)
}

fn claims(c: &Value, s: &EntOidc, now: DateTime<Utc>) -> Result<LogoutToken, RpError> {
    let skew = Duration::from_std(s.clock_skew).unwrap_or(Duration::seconds(60));
    let string = |name: &str| c.get(name).and_then(Value::as_str).map(str::to_string);
    let time = |name: &str| {
        c.get(name)
            .and_then(Value::as_i64)
            .and_then(|t| DateTime::from_timestamp(t, 0))
    };
    if string("iss").as_deref() != Some(s.issuer.as_str()) {
        return Err(refused(
            Check::Issuer,
            "the logout_token's iss is not the ENT's issuer",
        ));
    }
    let for_us = match c.get("aud") {
        Some(Value::String(a)) => a == &s.client_id,
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(&s.client_id)),
        _ => false,
    };
    if !for_us {
        return Err(refused(
            Check::Audience,
            "the logout_token is not addressed to the gateway",
        ));
    }
    let iat =
        time("iat").ok_or_else(|| refused(Check::LogoutToken, "the logout_token has no iat"))?;
    if iat > now + skew {
        return Err(refused(
            Check::LogoutToken,
            "the logout_token is issued in the future",
        ));
    }
    if iat + MAX_AGE + skew <= now {
        return Err(refused(Check::Expired, "the logout_token is too old"));
    }
    let exp = time("exp");
    if exp.is_some_and(|e| e + skew <= now) {
        return Err(refused(Check::Expired, "the logout_token has expired"));
    }
    let event = c
        .get("events")
        .and_then(Value::as_object)
        .and_then(|e| e.get(BACKCHANNEL_LOGOUT_EVENT));
    if !event.is_some_and(Value::is_object) {
        return Err(refused(
            Check::LogoutToken,
            "the logout_token carries no back-channel logout event",
        ));
    }
    if c.get("nonce").is_some() {
        return Err(refused(
            Check::LogoutToken,
            "the logout_token carries a nonce (an ID token passed off as a logout token?)",
        ));
    }
    let (sub, sid) = (string("sub"), string("sid"));
    if sub.is_none() && sid.is_none() {
        return Err(refused(
            Check::LogoutToken,
            "the logout_token names neither sub nor sid",
        ));
    }
    let jti = string("jti")
        .filter(|j| !j.is_empty())
        .ok_or_else(|| refused(Check::LogoutToken, "the logout_token has no jti"))?;
    Ok(LogoutToken {
        sub,
        sid,
        jti,
        remember_until: exp.unwrap_or(iat + MAX_AGE).max(iat + MAX_AGE) + skew,
    })
}

#[cfg(test)]
#[path = "logout_tests.rs"]
mod tests;
