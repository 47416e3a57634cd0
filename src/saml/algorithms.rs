//! Signature algorithms a peer may use, and the policy that accepts or refuses them.
//!
//! SHA-1 (signature or digest) is refused unless a peer's configuration lists `rsa-sha1`.

use std::collections::BTreeSet;

/// A signature algorithm with the digest it goes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SigAlg {
    RsaSha1,
    RsaSha256,
    RsaSha384,
    RsaSha512,
    EcdsaSha256,
}

pub const RSA_SHA256_URI: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const RSA_SHA1_URI: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";

impl SigAlg {
    pub const ALL: [SigAlg; 5] = [
        SigAlg::RsaSha1,
        SigAlg::RsaSha256,
        SigAlg::RsaSha384,
        SigAlg::RsaSha512,
        SigAlg::EcdsaSha256,
    ];

    /// The name used in configuration files.
    pub fn config_name(self) -> &'static str {
        match self {
            SigAlg::RsaSha1 => "rsa-sha1",
            SigAlg::RsaSha256 => "rsa-sha256",
            SigAlg::RsaSha384 => "rsa-sha384",
            SigAlg::RsaSha512 => "rsa-sha512",
            SigAlg::EcdsaSha256 => "ecdsa-sha256",
        }
    }

    pub fn from_config_name(name: &str) -> Option<SigAlg> {
        SigAlg::ALL.into_iter().find(|a| a.config_name() == name)
    }

    /// The `SignatureMethod` / `SigAlg` URI.
    pub fn uri(self) -> &'static str {
        match self {
            SigAlg::RsaSha1 => RSA_SHA1_URI,
            SigAlg::RsaSha256 => RSA_SHA256_URI,
            SigAlg::RsaSha384 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
            SigAlg::RsaSha512 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            SigAlg::EcdsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        }
    }

    /// The `DigestMethod` URI of the same hash family.
    pub fn digest_uri(self) -> &'static str {
        match self {
            SigAlg::RsaSha1 => "http://www.w3.org/2000/09/xmldsig#sha1",
            SigAlg::RsaSha256 | SigAlg::EcdsaSha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
            SigAlg::RsaSha384 => "http://www.w3.org/2001/04/xmldsig-more#sha384",
            SigAlg::RsaSha512 => "http://www.w3.org/2001/04/xmlenc#sha512",
        }
    }

    pub fn from_uri(uri: &str) -> Option<SigAlg> {
        SigAlg::ALL.into_iter().find(|a| a.uri() == uri)
    }

    pub fn message_digest(self) -> openssl::hash::MessageDigest {
        use openssl::hash::MessageDigest;
        match self {
            SigAlg::RsaSha1 => MessageDigest::sha1(),
            SigAlg::RsaSha256 | SigAlg::EcdsaSha256 => MessageDigest::sha256(),
            SigAlg::RsaSha384 => MessageDigest::sha384(),
            SigAlg::RsaSha512 => MessageDigest::sha512(),
        }
    }

    /// samael's allow-list entry, where samael has one (it has none for SHA-1).
    pub fn samael(self) -> Option<samael::crypto::AllowedSignatureAlgorithm> {
        use samael::crypto::AllowedSignatureAlgorithm as A;
        match self {
            SigAlg::RsaSha1 => None,
            SigAlg::RsaSha256 => Some(A::RsaSha256),
            SigAlg::RsaSha384 => Some(A::RsaSha384),
            SigAlg::RsaSha512 => Some(A::RsaSha512),
            SigAlg::EcdsaSha256 => Some(A::EcdsaSha256),
        }
    }
}

/// The algorithms accepted from one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlgorithmPolicy(BTreeSet<SigAlg>);

impl Default for AlgorithmPolicy {
    /// SHA-2 family only.
    fn default() -> Self {
        Self(
            [
                SigAlg::RsaSha256,
                SigAlg::RsaSha384,
                SigAlg::RsaSha512,
                SigAlg::EcdsaSha256,
            ]
            .into_iter()
            .collect(),
        )
    }
}

impl AlgorithmPolicy {
    pub fn new(algs: impl IntoIterator<Item = SigAlg>) -> Self {
        Self(algs.into_iter().collect())
    }

    pub fn allows_signature_uri(&self, uri: &str) -> bool {
        SigAlg::from_uri(uri).is_some_and(|a| self.0.contains(&a))
    }

    pub fn allows_digest_uri(&self, uri: &str) -> bool {
        self.0.iter().any(|a| a.digest_uri() == uri)
    }

    pub fn allows_sha1(&self) -> bool {
        self.0.contains(&SigAlg::RsaSha1)
    }

    /// The list to hand to samael, or `None` when SHA-1 is allowed (samael cannot express it;
    /// our own pre-check in `guard` then enforces the policy alone).
    pub fn samael_allow_list(&self) -> Option<Vec<samael::crypto::AllowedSignatureAlgorithm>> {
        if self.allows_sha1() {
            None
        } else {
            Some(self.0.iter().filter_map(|a| a.samael()).collect())
        }
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|a| a.config_name()).collect()
    }
}
