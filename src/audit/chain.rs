//! The audit chain's records and checkpoints, and their pure checks.
//!
//! A record is one JSON line: `seq` (from 0, per node), `at`, `node`, `prev` (the previous
//! record's hash, or the node's genesis value), the `event`, and `hash`, the SHA-256 of the
//! line's canonical form without `hash`. A checkpoint names a record (`seq`, `hash`) and is
//! signed with the gateway's key, so that the chain's head (and, after a purge, its new start)
//! cannot be rewritten without the key.

use base64::Engine;
use chrono::{DateTime, Utc};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private, Public};
use openssl::sign::{Signer, Verifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A record as written, without its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Body {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub node: String,
    pub prev: String,
    pub event: serde_json::Value,
}

/// The `prev` of a node's first record.
pub fn genesis(node: &str) -> String {
    hex::encode(Sha256::digest(
        format!("passerelle-audit-genesis:{node}").as_bytes(),
    ))
}

impl Body {
    fn canonical(&self) -> String {
        // Struct fields serialise in declaration order and `serde_json::Map` sorts its keys:
        // the same record always has the same text.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical().as_bytes()))
    }

    /// The line written to a segment (no newline).
    pub fn line(&self) -> String {
        let c = self.canonical();
        format!("{},\"hash\":\"{}\"}}", &c[..c.len() - 1], self.hash())
    }
}

/// A line read back: its body and the hash it claims.
pub fn parse_line(line: &str) -> Result<(Body, String), String> {
    let mut v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("not a JSON record: {e}"))?;
    let hash = v
        .as_object_mut()
        .and_then(|o| o.remove("hash"))
        .and_then(|h| h.as_str().map(str::to_string))
        .ok_or("the record has no hash")?;
    let body: Body = serde_json::from_value(v).map_err(|e| format!("not an audit record: {e}"))?;
    Ok((body, hash))
}

/// A signed statement that record `seq` of `node` has `hash`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub node: String,
    pub seq: u64,
    pub hash: String,
    pub at: DateTime<Utc>,
    /// `head` (written at an interval and at shutdown) or `anchor` (the record just before the
    /// oldest one kept, written when older segments are purged).
    pub kind: String,
    /// Base64 RSA/ECDSA-SHA256 signature of [`Checkpoint::signed_text`].
    pub sig: String,
}

impl Checkpoint {
    pub fn signed_text(node: &str, seq: u64, hash: &str, at: DateTime<Utc>, kind: &str) -> String {
        format!(
            "passerelle-audit-checkpoint|{node}|{seq}|{hash}|{}|{kind}",
            at.to_rfc3339()
        )
    }

    pub fn sign(
        key: &PKey<Private>,
        node: &str,
        seq: u64,
        hash: &str,
        at: DateTime<Utc>,
        kind: &str,
    ) -> Result<Self, String> {
        let text = Self::signed_text(node, seq, hash, at, kind);
        let mut s = Signer::new(MessageDigest::sha256(), key).map_err(|e| e.to_string())?;
        s.update(text.as_bytes()).map_err(|e| e.to_string())?;
        let sig = s.sign_to_vec().map_err(|e| e.to_string())?;
        Ok(Self {
            node: node.into(),
            seq,
            hash: hash.into(),
            at,
            kind: kind.into(),
            sig: base64::engine::general_purpose::STANDARD.encode(sig),
        })
    }

    pub fn verify(&self, key: &PKey<Public>) -> bool {
        let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(&self.sig) else {
            return false;
        };
        let text = Self::signed_text(&self.node, self.seq, &self.hash, self.at, &self.kind);
        Verifier::new(MessageDigest::sha256(), key)
            .and_then(|mut v| {
                v.update(text.as_bytes())?;
                v.verify(&sig)
            })
            .unwrap_or(false)
    }
}
