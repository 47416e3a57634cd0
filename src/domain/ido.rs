//! The pseudonymous identifier (IDO) that providers receive instead of the ENT's user id.
//!
//! IDO = hex(HMAC-SHA512(secret, "passerelle-ido-v1" ‖ scope ‖ idENT ‖ GARPersonIdentifiant)),
//! 128 lowercase hex characters. It does not depend on the school or the date, so it is stable
//! for one user of one ENT project across schools and school years; the scope (by default the
//! resource's technical distributor) keeps two scopes from linking their users; without the
//! secret it can neither be reversed nor correlated.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha512;

use super::ids::IdEnt;

/// What an IDO is kept distinct across.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdoScope {
    /// One IDO per technical distributor (the default, as the real GAR is understood to do).
    #[default]
    TechnicalDistributor,
    /// One IDO per resource provider.
    Provider,
    /// One IDO per resource.
    Resource,
    /// The same IDO for every provider (not recommended: providers could link users).
    Global,
}

/// The secret key behind every IDO.
#[derive(Clone)]
pub struct IdoKey(Vec<u8>);

impl std::fmt::Debug for IdoKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdoKey(<redacted>)")
    }
}

/// Minimum length of the IDO secret, in bytes.
pub const IDO_SECRET_MIN_BYTES: usize = 32;

impl IdoKey {
    /// Builds the key; refuses secrets shorter than [`IDO_SECRET_MIN_BYTES`].
    pub fn new(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < IDO_SECRET_MIN_BYTES {
            return Err(format!(
                "the IDO secret must be at least {IDO_SECRET_MIN_BYTES} bytes long"
            ));
        }
        Ok(Self(secret.to_vec()))
    }

    /// The IDO of a user for the scope value `scope` (e.g. the technical distributor's id).
    pub fn ido(&self, scope: &str, ent: &IdEnt, person_id: &str) -> String {
        self.keyed("passerelle-ido-v1", &[scope, ent.as_str(), person_id])
    }

    /// A pseudonymous subject for traces, distinct from every provider-facing IDO.
    pub fn trace_subject(&self, ent: &IdEnt, person_id: &str) -> String {
        self.keyed("passerelle-trace-v1", &[ent.as_str(), person_id])
    }

    /// The anti-forgery token of the forms of one gateway session.
    pub fn form_token(&self, session_id: &str) -> String {
        self.keyed("passerelle-form-v1", &[session_id])
            .chars()
            .take(43)
            .collect()
    }

    /// The token of the logout confirmation form of one gateway session (RP-initiated
    /// logout without a valid `id_token_hint`).
    pub fn logout_token(&self, session_id: &str) -> String {
        self.keyed("passerelle-logout-v1", &[session_id])
            .chars()
            .take(43)
            .collect()
    }

    fn keyed(&self, purpose: &str, parts: &[&str]) -> String {
        // The key length is checked at construction; HMAC accepts keys of any length anyway.
        let mut mac = <Hmac<Sha512> as hmac::digest::KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(purpose.as_bytes());
        for part in parts {
            // Length-prefix every part so that ("ab","c") and ("a","bc") differ.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> IdoKey {
        IdoKey::new(&[7u8; 32]).unwrap()
    }

    #[test]
    fn ido_is_128_lowercase_hex() {
        let ido = key().ido("123456789_0000000000000000", &"B0".parse().unwrap(), "u1");
        assert_eq!(ido.len(), 128);
        assert!(ido
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }

    #[test]
    fn ido_is_stable_and_separated_by_scope_ent_and_secret() {
        let b0: IdEnt = "B0".parse().unwrap();
        let z0: IdEnt = "Z0".parse().unwrap();
        let a = key().ido("dist-a", &b0, "u1");
        assert_eq!(a, key().ido("dist-a", &b0, "u1"));
        assert_ne!(a, key().ido("dist-b", &b0, "u1"));
        assert_ne!(a, key().ido("dist-a", &z0, "u1"));
        assert_ne!(a, key().ido("dist-a", &b0, "u2"));
        assert_ne!(a, IdoKey::new(&[8u8; 32]).unwrap().ido("dist-a", &b0, "u1"));
        assert_ne!(a, key().trace_subject(&b0, "u1"));
        // Parts are length-prefixed: moving a boundary changes the result.
        assert_ne!(
            key().ido("dist-a", &b0, "u1"),
            key().ido("dist-", &b0, "au1")
        );
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(IdoKey::new(&[1u8; 31]).is_err());
    }
}
