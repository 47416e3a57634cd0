//! SAML 2.0, on both sides of the gateway.
//!
//! - [`sp`]: the gateway as service provider of ENT identity providers (AuthnRequest out,
//!   Response in, every check of SAML profiles §4.1.4).
//! - [`idp`]: the gateway as identity provider of resource providers (AuthnRequest in,
//!   signed Response and Assertion out).
//! - [`guard`], [`binding`], [`algorithms`], [`metadata`], [`keys`], [`xml`]: what both share.
//!
//! Invariant: only this module imports `samael`. It turns SAML messages into neutral values
//! ([`sp::VerifiedLogin`], [`idp::VerifiedAuthnRequest`]); the rest of the gateway never sees XML.
//! Every value read from a message is read from the part whose signature was verified.

pub mod algorithms;
pub mod binding;
pub mod check;
pub mod guard;
pub mod idp;
pub mod keys;
pub mod metadata;
pub mod signing;
pub mod slo;
pub mod slo_back;
pub mod slo_out;
pub mod sp;
pub mod xml;

use std::borrow::Cow;

pub use check::Check;

/// Verifies every XML signature of `xml` with one of `certs` (never a certificate carried in
/// the message) under `policy`, and returns only the signed part (samael's reduction).
pub(crate) fn verified_part(
    xml: &str,
    certs: &[samael::crypto::CertificateDer],
    policy: &algorithms::AlgorithmPolicy,
) -> Result<String, SamlError> {
    use samael::crypto::{CryptoProvider, ReduceMode, XmlSec};
    let allow = policy.samael_allow_list();
    XmlSec::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        certs,
        ReduceMode::ValidateAndMarkNoAncestors,
        allow.as_deref(),
    )
    .map_err(|e| {
        SamlError::new(
            Check::Signature,
            format!("signature verification failed: {e}"),
        )
    })
}

/// A refused SAML message: the check that failed (its code is stable, such as `saml.signature`)
/// and a detail for operators. Neither carries message content or personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{check}: {detail}")]
pub struct SamlError {
    pub check: Check,
    pub detail: Cow<'static, str>,
}

impl SamlError {
    pub fn new(check: Check, detail: impl Into<Cow<'static, str>>) -> Self {
        Self {
            check,
            detail: detail.into(),
        }
    }
}

/// The XML boundary's refusals under the SAML refusal codes.
impl From<crate::xml_boundary::Refusal> for SamlError {
    fn from(r: crate::xml_boundary::Refusal) -> Self {
        use crate::xml_boundary::Refused;
        let check = match r.kind {
            Refused::TooLarge => Check::TooLarge,
            Refused::Encoding => Check::Encoding,
            Refused::Dtd => Check::Dtd,
            Refused::Comment => Check::Comment,
            Refused::ProcessingInstruction | Refused::TooDeep | Refused::Malformed => {
                Check::Malformed
            }
        };
        Self::new(check, r.to_string())
    }
}

#[cfg(test)]
mod roundtrip_tests;
#[cfg(test)]
mod xmlsec_patch_tests;
