//! The OpenID Provider's signing keys: the first one signs, every one is published in the JWKS
//! and accepted when verifying the gateway's own tokens, so that a key can be rolled over
//! without breaking clients (publish the new key second, then move it first, then drop the
//! old one once its tokens have expired).
//!
//! Keys are RSA (RS256) or EC P-256 (ES256), loaded from PEM; `kid` defaults to the key's
//! RFC 7638 thumbprint.

use std::sync::{Arc, RwLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
pub use jsonwebtoken::Algorithm;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use openssl::bn::BigNumContext;
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::oidc::{ErrorCode, OidcError};

/// One signing key with its public JWK.
#[derive(Clone)]
pub struct OidcKey {
    pub kid: String,
    pub alg: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Value,
}

impl std::fmt::Debug for OidcKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OidcKey {{ kid: {}, alg: {:?} }}", self.kid, self.alg)
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl OidcKey {
    /// Loads a PEM private key (RSA for RS256, P-256 for ES256). `kid` defaults to the RFC 7638
    /// thumbprint of the public key.
    pub fn from_pem(pem: &[u8], alg: Algorithm, kid: Option<&str>) -> Result<Self, String> {
        let key =
            PKey::private_key_from_pem(pem).map_err(|e| format!("not a PEM private key: {e}"))?;
        Self::from_pkey(&key, alg, kid)
    }

    pub fn from_pkey(
        key: &PKey<Private>,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Self, String> {
        let err = |e: openssl::error::ErrorStack| format!("key: {e}");
        let pkcs8 = key.private_key_to_pem_pkcs8().map_err(err)?;
        let (thumb_input, mut jwk, encoding, decoding) = match (alg, key.id()) {
            (Algorithm::RS256, Id::RSA) => {
                let rsa = key.rsa().map_err(err)?;
                if rsa.size() < 256 {
                    return Err("RSA keys must be at least 2048 bits".into());
                }
                let (n, e) = (b64(&rsa.n().to_vec()), b64(&rsa.e().to_vec()));
                let decoding =
                    DecodingKey::from_rsa_components(&n, &e).map_err(|e| e.to_string())?;
                let thumb = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
                let encoding = EncodingKey::from_rsa_pem(&pkcs8).map_err(|e| e.to_string())?;
                (
                    thumb,
                    json!({"kty": "RSA", "n": n, "e": e}),
                    encoding,
                    decoding,
                )
            }
            (Algorithm::ES256, Id::EC) => {
                let ec = key.ec_key().map_err(err)?;
                if ec.group().curve_name() != Some(Nid::X9_62_PRIME256V1) {
                    return Err("ES256 needs a P-256 (prime256v1) key".into());
                }
                let mut ctx = BigNumContext::new().map_err(err)?;
                let (mut x, mut y) = (
                    openssl::bn::BigNum::new().map_err(err)?,
                    openssl::bn::BigNum::new().map_err(err)?,
                );
                ec.public_key()
                    .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
                    .map_err(err)?;
                let (x, y) = (
                    b64(&x.to_vec_padded(32).map_err(err)?),
                    b64(&y.to_vec_padded(32).map_err(err)?),
                );
                let decoding =
                    DecodingKey::from_ec_components(&x, &y).map_err(|e| e.to_string())?;
                let thumb = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
                let encoding = EncodingKey::from_ec_pem(&pkcs8).map_err(|e| e.to_string())?;
                (
                    thumb,
                    json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}),
                    encoding,
                    decoding,
                )
            }
            (Algorithm::RS256 | Algorithm::ES256, _) => {
                return Err(format!(
                    "the key does not fit {alg:?} (RS256 needs RSA, ES256 needs P-256)"
                ))
            }
            _ => return Err(format!("{alg:?} is not offered (RS256 or ES256)")),
        };
        let kid = kid.map_or_else(
            || b64(&Sha256::digest(thumb_input.as_bytes())),
            str::to_string,
        );
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!(alg_name(alg));
        Ok(Self {
            kid,
            alg,
            encoding,
            decoding,
            jwk,
        })
    }
}

/// The JOSE name of an algorithm the gateway offers.
pub fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::ES256 => "ES256",
        _ => "RS256",
    }
}

/// Parses a configured algorithm name.
pub fn alg_from_name(name: &str) -> Option<Algorithm> {
    match name {
        "RS256" => Some(Algorithm::RS256),
        "ES256" => Some(Algorithm::ES256),
        _ => None,
    }
}

/// What a verified token must say beyond its signature.
pub struct Expect<'a> {
    /// `typ` header, e.g. `at+jwt` for access tokens.
    pub typ: Option<&'a str>,
    pub issuer: &'a str,
    /// Acceptable audiences; `None` when the caller checks `aud` itself.
    pub audience: Option<&'a [&'a str]>,
}

/// Every key currently published; the first signs. A reload (`crate::reload`) replaces them
/// all at once ([`KeySet::take_keys_of`]); clones share them.
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: Arc<RwLock<Arc<Vec<OidcKey>>>>,
}

impl KeySet {
    /// `keys` must not be empty.
    pub fn new(keys: Vec<OidcKey>) -> Result<Self, String> {
        if keys.is_empty() {
            return Err("at least one OIDC signing key is needed".into());
        }
        let mut kids: Vec<_> = keys.iter().map(|k| k.kid.as_str()).collect();
        kids.sort_unstable();
        if kids.windows(2).any(|w| w[0] == w[1]) {
            return Err("two OIDC signing keys have the same kid".into());
        }
        Ok(Self {
            keys: Arc::new(RwLock::new(Arc::new(keys))),
        })
    }

    /// The keys published now.
    fn now(&self) -> Arc<Vec<OidcKey>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Publishes `other`'s keys instead of these, for every clone of this set.
    pub fn take_keys_of(&self, other: &KeySet) {
        let keys = other.now();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
    }

    /// The `kid` of every published key, the signing one first.
    pub fn kids(&self) -> Vec<String> {
        self.now().iter().map(|k| k.kid.clone()).collect()
    }

    /// The algorithms of the published keys, for discovery.
    pub fn algorithms(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.now().iter().map(|k| alg_name(k.alg)).collect();
        v.dedup();
        v
    }

    /// `{"keys": [...]}`: every published public key.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.now().iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
    }

    /// Signs `claims` with the active key (the first), with header `typ`.
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, OidcError> {
        let keys = self.now();
        let key = &keys[0];
        let mut header = Header::new(key.alg);
        header.kid = Some(key.kid.clone());
        header.typ = Some(typ.to_string());
        jsonwebtoken::encode(&header, claims, &key.encoding).map_err(|e| {
            OidcError::new(
                ErrorCode::ServerError,
                "oidc.sign",
                format!("signing failed: {e}"),
            )
        })
    }

    /// Verifies a token the gateway issued: a published `kid`, that key's algorithm and no
    /// other (no `none`, no HMAC), the signature, `iss`, `aud` when asked and `typ` when asked.
    /// Expiry is the caller's check, against its own clock (`now` is a parameter there).
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        expect: &Expect<'_>,
    ) -> Result<T, OidcError> {
        let bad = |what: String| OidcError::new(ErrorCode::InvalidToken, "oidc.token", what);
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| bad(format!("not a JWT: {e}")))?;
        let kid = header
            .kid
            .as_deref()
            .ok_or_else(|| bad("the token names no kid".into()))?;
        let keys = self.now();
        let key = keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| bad("the token's kid is not a published key".into()))?;
        if header.alg != key.alg {
            return Err(bad(format!("algorithm {:?} is not the key's", header.alg)));
        }
        if let Some(typ) = expect.typ {
            if !header
                .typ
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case(typ))
            {
                return Err(bad(format!("the token's typ is not {typ}")));
            }
        }
        let mut v = Validation::new(key.alg);
        v.validate_exp = false;
        v.set_required_spec_claims(&["iss"]);
        v.set_issuer(&[expect.issuer]);
        match expect.audience {
            Some(aud) => {
                v.set_audience(aud);
                v.required_spec_claims.insert("aud".into());
            }
            None => v.validate_aud = false,
        }
        jsonwebtoken::decode::<T>(token, &key.decoding, &v)
            .map(|d| d.claims)
            .map_err(|e| bad(format!("rejected: {e}")))
    }
}

/// `at_hash`: the left half of the SHA-256 of the access token, base64url (OIDC Core 3.1.3.6;
/// SHA-256 for both RS256 and ES256).
pub fn at_hash(access_token: &str) -> String {
    let d = Sha256::digest(access_token.as_bytes());
    b64(&d[..16])
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
