//! Checks every inbound SAML message passes before any library parses or verifies it.
//!
//! Refused outright: oversized input, non-UTF-8, DTDs (entity expansion, XXE), comments and
//! processing instructions (comment-injection truncation, parser differentials), excessive
//! nesting, and any signature, digest, canonicalisation or transform algorithm outside the
//! peer's policy (SHA-1 unless allowed, XSLT and XPath transforms always).

use quick_xml::events::Event;
use quick_xml::Reader;

use super::algorithms::AlgorithmPolicy;
use super::SamlError;

const MAX_DEPTH: usize = 48;

const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

fn local_name(qname: &[u8]) -> &[u8] {
    match qname.iter().rposition(|&b| b == b':') {
        Some(i) => &qname[i + 1..],
        None => qname,
    }
}

/// Structural checks on a message (size, encoding, DTD, comments, PIs, depth).
pub fn check_xml(bytes: &[u8], max_bytes: usize) -> Result<(), SamlError> {
    check(bytes, max_bytes, false)
}

/// The same checks for metadata documents, where comments are common and harmless (nothing
/// signed is read from them): DTDs are still refused.
pub fn check_metadata(bytes: &[u8], max_bytes: usize) -> Result<(), SamlError> {
    check(bytes, max_bytes, true)
}

fn check(bytes: &[u8], max_bytes: usize, allow_comments: bool) -> Result<(), SamlError> {
    if bytes.len() > max_bytes {
        return Err(SamlError::new(
            "saml.too_large",
            format!(
                "message of {} bytes exceeds the limit of {max_bytes}",
                bytes.len()
            ),
        ));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| SamlError::new("saml.malformed", "message is not UTF-8"))?;
    let mut reader = Reader::from_str(text);
    let mut depth = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::DocType(_)) => {
                return Err(SamlError::new("saml.dtd", "message contains a DOCTYPE"))
            }
            Ok(Event::Comment(_)) if allow_comments => {}
            Ok(Event::Comment(_)) => {
                return Err(SamlError::new(
                    "saml.comment",
                    "message contains an XML comment",
                ))
            }
            Ok(Event::PI(_)) => {
                return Err(SamlError::new(
                    "saml.malformed",
                    "message contains a processing instruction",
                ))
            }
            Ok(Event::Start(_)) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(SamlError::new(
                        "saml.malformed",
                        "message is nested too deeply",
                    ));
                }
            }
            Ok(Event::End(_)) => depth = depth.saturating_sub(1),
            Ok(Event::Eof) => return Ok(()),
            Ok(_) => {}
            Err(e) => {
                return Err(SamlError::new(
                    "saml.malformed",
                    format!(
                        "not well-formed XML at byte {}: {e}",
                        reader.buffer_position()
                    ),
                ))
            }
        }
    }
}

/// The local name of the document's root element (serde parsing does not check it).
pub fn root_name(xml: &str) -> Result<String, SamlError> {
    let mut reader = Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(Event::Start(s)) | Ok(Event::Empty(s)) => {
                return Ok(String::from_utf8_lossy(local_name(s.name().as_ref())).into_owned())
            }
            Ok(Event::Eof) => {
                return Err(SamlError::new(
                    "saml.malformed",
                    "the document has no root element",
                ))
            }
            Ok(_) => {}
            Err(e) => {
                return Err(SamlError::new(
                    "saml.malformed",
                    format!("not well-formed XML: {e}"),
                ))
            }
        }
    }
}

/// What [`check_signatures`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SignatureSummary {
    /// Number of `Signature` elements.
    pub signatures: usize,
    /// Number of `Assertion` elements (signed or not) anywhere in the message.
    pub assertions: usize,
    /// Number of `EncryptedAssertion` elements.
    pub encrypted_assertions: usize,
}

/// Checks every algorithm named by the message's signatures against `policy`, and counts
/// signatures and assertions.
pub fn check_signatures(
    xml: &str,
    policy: &AlgorithmPolicy,
) -> Result<SignatureSummary, SamlError> {
    let mut reader = Reader::from_str(xml);
    let mut summary = SignatureSummary::default();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| SamlError::new("saml.malformed", format!("not well-formed XML: {e}")))?;
        let start = match &event {
            Event::Start(s) | Event::Empty(s) => s,
            Event::Eof => return Ok(summary),
            _ => continue,
        };
        let name = start.name();
        let local = local_name(name.as_ref());
        let algorithm = || -> Result<String, SamlError> {
            for attr in start.attributes() {
                let attr = attr
                    .map_err(|e| SamlError::new("saml.malformed", format!("bad attribute: {e}")))?;
                if attr.key.as_ref() == b"Algorithm" {
                    return attr.unescape_value().map(|v| v.into_owned()).map_err(|e| {
                        SamlError::new("saml.malformed", format!("bad attribute: {e}"))
                    });
                }
            }
            Ok(String::new())
        };
        match local {
            b"Signature" => summary.signatures += 1,
            b"Assertion" => summary.assertions += 1,
            b"EncryptedAssertion" => summary.encrypted_assertions += 1,
            b"SignatureMethod" => {
                let alg = algorithm()?;
                if !policy.allows_signature_uri(&alg) {
                    return Err(SamlError::new(
                        "saml.algorithm",
                        format!("signature algorithm {alg} is not allowed for this peer"),
                    ));
                }
            }
            b"DigestMethod" => {
                let alg = algorithm()?;
                if !policy.allows_digest_uri(&alg) {
                    return Err(SamlError::new(
                        "saml.algorithm",
                        format!("digest algorithm {alg} is not allowed for this peer"),
                    ));
                }
            }
            b"CanonicalizationMethod" => {
                let alg = algorithm()?;
                if alg != EXC_C14N {
                    return Err(SamlError::new(
                        "saml.algorithm",
                        format!("canonicalisation {alg} is not allowed"),
                    ));
                }
            }
            b"Transform" => {
                let alg = algorithm()?;
                if alg != EXC_C14N && alg != ENVELOPED {
                    return Err(SamlError::new(
                        "saml.algorithm",
                        format!("transform {alg} is not allowed"),
                    ));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::algorithms::{AlgorithmPolicy, SigAlg};

    #[test]
    fn refuses_doctype_comments_and_oversize() {
        assert_eq!(
            check_xml(b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", 1000)
                .unwrap_err()
                .check,
            "saml.dtd"
        );
        assert_eq!(
            check_xml(b"<x>a<!---->b</x>", 1000).unwrap_err().check,
            "saml.comment"
        );
        assert_eq!(check_xml(b"<x/>", 3).unwrap_err().check, "saml.too_large");
        assert_eq!(
            check_xml(b"<x><y></x>", 100).unwrap_err().check,
            "saml.malformed"
        );
        assert!(check_xml(b"<?xml version=\"1.0\"?><x/>", 100).is_ok());
        let deep = "<a>".repeat(60) + &"</a>".repeat(60);
        assert_eq!(
            check_xml(deep.as_bytes(), 10_000).unwrap_err().check,
            "saml.malformed"
        );
    }

    #[test]
    fn refuses_sha1_unless_allowed_and_xslt_always() {
        let doc = |sig: &str, dig: &str, tr: &str| {
            format!(
                r#"<r><ds:Signature xmlns:ds="x"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/><ds:SignatureMethod Algorithm="{sig}"/><ds:Reference><ds:Transforms><ds:Transform Algorithm="{tr}"/></ds:Transforms><ds:DigestMethod Algorithm="{dig}"/></ds:Reference></ds:SignedInfo></ds:Signature><Assertion/></r>"#
            )
        };
        let strict = AlgorithmPolicy::default();
        let lax = AlgorithmPolicy::new([SigAlg::RsaSha256, SigAlg::RsaSha1]);
        let sha1 = doc(
            SigAlg::RsaSha1.uri(),
            SigAlg::RsaSha1.digest_uri(),
            ENVELOPED,
        );
        assert_eq!(
            check_signatures(&sha1, &strict).unwrap_err().check,
            "saml.algorithm"
        );
        assert_eq!(check_signatures(&sha1, &lax).unwrap().signatures, 1);
        let sha256_sha1_digest = doc(
            SigAlg::RsaSha256.uri(),
            SigAlg::RsaSha1.digest_uri(),
            ENVELOPED,
        );
        assert_eq!(
            check_signatures(&sha256_sha1_digest, &strict)
                .unwrap_err()
                .check,
            "saml.algorithm"
        );
        let xslt = doc(
            SigAlg::RsaSha256.uri(),
            SigAlg::RsaSha256.digest_uri(),
            "http://www.w3.org/TR/1999/REC-xslt-19991116",
        );
        assert_eq!(
            check_signatures(&xslt, &lax).unwrap_err().check,
            "saml.algorithm"
        );
        let ok = check_signatures(
            &doc(
                SigAlg::RsaSha256.uri(),
                SigAlg::RsaSha256.digest_uri(),
                ENVELOPED,
            ),
            &strict,
        )
        .unwrap();
        assert_eq!((ok.signatures, ok.assertions), (1, 1));
    }
}
