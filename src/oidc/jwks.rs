//! Verifying an ID token against a provider's published JWKS, as a relying party does: the
//! key named by `kid`, the algorithm that key declares (RS256 or ES256, never `none` or HMAC),
//! `iss`, `aud`, `azp`, `nonce`, `at_hash` and `exp` at `now`. Used by the demo's OIDC
//! resource; the gateway's own tokens are verified with `op::keys::KeySet`.

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::op::keys::at_hash;
use super::op::tokens::IdTokenClaims;
use super::{ErrorCode, OidcError};

/// What the relying party expects of the ID token.
pub struct IdTokenExpect<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub access_token: &'a str,
}

pub fn verify_id_token(
    jwks: &serde_json::Value,
    token: &str,
    expect: &IdTokenExpect<'_>,
    now: DateTime<Utc>,
) -> Result<IdTokenClaims, OidcError> {
    let bad = |d: String| OidcError::new(ErrorCode::InvalidToken, "oidc.id_token", d);
    let set: JwkSet =
        serde_json::from_value(jwks.clone()).map_err(|e| bad(format!("JWKS: {e}")))?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| bad(format!("not a JWT: {e}")))?;
    let kid = header.kid.ok_or_else(|| bad("no kid".into()))?;
    let jwk = set
        .find(&kid)
        .ok_or_else(|| bad("kid not in the JWKS".into()))?;
    let alg = match jwk.common.key_algorithm.map(|a| a.to_string()).as_deref() {
        Some("RS256") => Algorithm::RS256,
        Some("ES256") => Algorithm::ES256,
        other => return Err(bad(format!("unexpected key algorithm {other:?}"))),
    };
    if header.alg != alg {
        return Err(bad("the token's algorithm is not its key's".into()));
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| bad(format!("key: {e}")))?;
    let mut v = Validation::new(alg);
    v.validate_exp = false;
    v.set_required_spec_claims(&["iss", "aud"]);
    v.set_issuer(&[expect.issuer]);
    v.set_audience(&[expect.client_id]);
    let claims: IdTokenClaims = jsonwebtoken::decode(token, &key, &v)
        .map_err(|e| bad(format!("rejected: {e}")))?
        .claims;
    if claims.azp != expect.client_id {
        return Err(bad("azp is not this client".into()));
    }
    if claims.nonce.as_deref() != Some(expect.nonce) {
        return Err(bad("nonce mismatch".into()));
    }
    if claims.at_hash != at_hash(expect.access_token) {
        return Err(bad("at_hash does not match the access token".into()));
    }
    if now.timestamp() >= claims.exp {
        return Err(bad("expired".into()));
    }
    Ok(claims)
}
