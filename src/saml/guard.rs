//! The SAML side of the XML boundary: what every inbound SAML document passes before samael,
//! libxml2 or xmlsec parses or verifies it.
//!
//! The structural checks are [`crate::xml_boundary`]'s (size, UTF-8 only, no DTD, no
//! processing instruction, depth), with comments refused in messages (comment-injection
//! truncation); this module adds duplicate `ID` values.
//!
//! For signatures ([`check_signatures`]), before xmlsec sees the document: exactly one
//! `Reference` per `Signature`, whose `URI` is the same-document reference `#id` naming the
//! element that carries the signature (xmlsec dereferences every Reference, and runs its
//! transforms, before it checks `SignatureValue`: a path, `file:`, `http:` or XPointer URI
//! would read files or reach hosts for an unsigned message); no `ds:Object`, `ds:Manifest` or
//! `ds:RetrievalMethod`; canonicalisation and transforms from an allow-list (exclusive and
//! inclusive Canonical XML 1.0, enveloped signature); signature and digest algorithms within
//! the peer's policy (SHA-1 unless allowed).

use quick_xml::events::Event;
use quick_xml::Reader;

use super::algorithms::AlgorithmPolicy;
use super::{Check, SamlError};

const MAX_DEPTH: usize = 48;

const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// Canonical XML 1.0 (inclusive), which XML-DSig verifiers must support: some ENTs sign with it.
/// The safety comes from verifying and reading only what was signed, not from the c14n choice.
const C14N_10: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const C14N_ALLOWED: [&str; 2] = [EXC_C14N, C14N_10];
const TRANSFORMS_ALLOWED: [&str; 3] = [EXC_C14N, C14N_10, ENVELOPED];

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
    let rules = crate::xml_boundary::Rules {
        max_bytes,
        max_depth: MAX_DEPTH,
        comments: allow_comments,
    };
    let mut ids = std::collections::HashSet::new();
    crate::xml_boundary::check(bytes, &rules, |start| check_unique_id(start, &mut ids))
}

/// The encoding checks alone, for the bindings (before base64-decoded bytes become text).
pub(crate) fn check_encoding(bytes: &[u8]) -> Result<(), SamlError> {
    Ok(crate::xml_boundary::check_encoding(bytes)?)
}

/// The value of the `ID` attribute (SAML's identifier attribute) of `start`, if any.
fn id_value(start: &quick_xml::events::BytesStart<'_>) -> Result<Option<String>, SamlError> {
    attribute(start, b"ID")
}

/// Refuses a second element with the same `ID`: a reference must name exactly one element.
fn check_unique_id(
    start: &quick_xml::events::BytesStart<'_>,
    seen: &mut std::collections::HashSet<String>,
) -> Result<(), SamlError> {
    if let Some(id) = id_value(start)? {
        if !seen.insert(id) {
            return Err(SamlError::new(
                Check::Wrapping,
                "two elements carry the same ID",
            ));
        }
    }
    Ok(())
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
                    Check::Malformed,
                    "the document has no root element",
                ))
            }
            Ok(_) => {}
            Err(e) => {
                return Err(SamlError::new(
                    Check::Malformed,
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

/// One `Signature` being read: the `ID` of the element that carries it, and its References.
struct OpenSignature {
    parent_id: Option<String>,
    depth: usize,
    references: usize,
}

/// Checks the structure of every signature (one same-document Reference to the signed
/// element, no Object, Manifest or RetrievalMethod) and every algorithm it names against
/// `policy`, and counts signatures and assertions.
pub fn check_signatures(
    xml: &str,
    policy: &AlgorithmPolicy,
) -> Result<SignatureSummary, SamlError> {
    let mut reader = Reader::from_str(xml);
    let mut summary = SignatureSummary::default();
    // The `ID` of each open element, innermost last.
    let mut open: Vec<Option<String>> = Vec::new();
    let mut signature: Option<OpenSignature> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| SamlError::new(Check::Malformed, format!("not well-formed XML: {e}")))?;
        let (start, empty) = match &event {
            Event::Start(s) => (s, false),
            Event::Empty(s) => (s, true),
            Event::End(_) => {
                open.pop();
                if let Some(sig) = signature.take_if(|sig| sig.depth == open.len()) {
                    if sig.references != 1 {
                        return Err(SamlError::new(
                            Check::Reference,
                            format!(
                                "a signature has {} References; exactly one is accepted",
                                sig.references
                            ),
                        ));
                    }
                }
                continue;
            }
            Event::Eof => return Ok(summary),
            _ => continue,
        };
        let name = start.name();
        let local = local_name(name.as_ref());
        match local {
            b"Assertion" => summary.assertions += 1,
            b"EncryptedAssertion" => summary.encrypted_assertions += 1,
            _ => {}
        }
        if local == b"Signature" {
            if signature.is_some() {
                return Err(SamlError::new(
                    Check::Reference,
                    "a signature inside a signature",
                ));
            }
            if empty {
                return Err(SamlError::new(
                    Check::Reference,
                    "a signature has no Reference",
                ));
            }
            summary.signatures += 1;
            signature = Some(OpenSignature {
                parent_id: open.last().cloned().flatten(),
                depth: open.len(),
                references: 0,
            });
        } else if let Some(sig) = signature.as_mut() {
            check_signature_child(start, local, sig, policy)?;
        }
        if !empty {
            open.push(id_value(start)?);
        }
    }
}

fn attribute(
    start: &quick_xml::events::BytesStart<'_>,
    key: &[u8],
) -> Result<Option<String>, SamlError> {
    for attr in start.attributes() {
        let attr =
            attr.map_err(|e| SamlError::new(Check::Malformed, format!("bad attribute: {e}")))?;
        if attr.key.as_ref() == key {
            return attr
                .unescape_value()
                .map(|v| Some(v.into_owned()))
                .map_err(|e| SamlError::new(Check::Malformed, format!("bad attribute: {e}")));
        }
    }
    Ok(None)
}

/// `saml.algorithm` unless `ok`: "`what` `alg` is not allowed`suffix`".
fn allowed(ok: bool, what: &str, alg: &str, suffix: &str) -> Result<(), SamlError> {
    if ok {
        Ok(())
    } else {
        Err(SamlError::new(
            Check::Algorithm,
            format!("{what} {alg} is not allowed{suffix}"),
        ))
    }
}

/// One element inside a `Signature`.
fn check_signature_child(
    start: &quick_xml::events::BytesStart<'_>,
    local: &[u8],
    sig: &mut OpenSignature,
    policy: &AlgorithmPolicy,
) -> Result<(), SamlError> {
    let algorithm = || attribute(start, b"Algorithm").map(Option::unwrap_or_default);
    match local {
        b"Object" | b"Manifest" | b"RetrievalMethod" => Err(SamlError::new(
            Check::Reference,
            format!(
                "a signature carries a ds:{}, which is not accepted",
                String::from_utf8_lossy(local)
            ),
        )),
        b"Reference" => {
            sig.references += 1;
            let uri = attribute(start, b"URI")?.unwrap_or_default();
            let names_parent = matches!(
                (uri.strip_prefix('#'), sig.parent_id.as_deref()),
                (Some(target), Some(id)) if !id.is_empty() && target == id
            );
            if names_parent {
                Ok(())
            } else {
                Err(SamlError::new(
                    Check::Reference,
                    "a Reference is not the same-document reference #ID of the signed element",
                ))
            }
        }
        b"SignatureMethod" => {
            let alg = algorithm()?;
            allowed(
                policy.allows_signature_uri(&alg),
                "signature algorithm",
                &alg,
                " for this peer",
            )
        }
        b"DigestMethod" => {
            let alg = algorithm()?;
            allowed(
                policy.allows_digest_uri(&alg),
                "digest algorithm",
                &alg,
                " for this peer",
            )
        }
        b"CanonicalizationMethod" => {
            let alg = algorithm()?;
            allowed(
                C14N_ALLOWED.contains(&alg.as_str()),
                "canonicalisation",
                &alg,
                "",
            )
        }
        b"Transform" => {
            let alg = algorithm()?;
            allowed(
                TRANSFORMS_ALLOWED.contains(&alg.as_str()),
                "transform",
                &alg,
                "",
            )
        }
        _ => Ok(()),
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
            Check::Dtd
        );
        assert_eq!(
            check_xml(b"<x>a<!---->b</x>", 1000).unwrap_err().check,
            Check::Comment
        );
        assert_eq!(check_xml(b"<x/>", 3).unwrap_err().check, Check::TooLarge);
        assert_eq!(
            check_xml(b"<x><y></x>", 100).unwrap_err().check,
            Check::Malformed
        );
        assert!(check_xml(b"<?xml version=\"1.0\"?><x/>", 100).is_ok());
        let deep = "<a>".repeat(60) + &"</a>".repeat(60);
        assert_eq!(
            check_xml(deep.as_bytes(), 10_000).unwrap_err().check,
            Check::Malformed
        );
    }

    #[test]
    fn refuses_sha1_unless_allowed_and_xslt_always() {
        let doc = |sig: &str, dig: &str, tr: &str| {
            format!(
                r##"<r ID="r1"><ds:Signature xmlns:ds="x"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/><ds:SignatureMethod Algorithm="{sig}"/><ds:Reference URI="#r1"><ds:Transforms><ds:Transform Algorithm="{tr}"/></ds:Transforms><ds:DigestMethod Algorithm="{dig}"/></ds:Reference></ds:SignedInfo></ds:Signature><Assertion/></r>"##
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
            Check::Algorithm
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
            Check::Algorithm
        );
        let xslt = doc(
            SigAlg::RsaSha256.uri(),
            SigAlg::RsaSha256.digest_uri(),
            "http://www.w3.org/TR/1999/REC-xslt-19991116",
        );
        assert_eq!(
            check_signatures(&xslt, &lax).unwrap_err().check,
            Check::Algorithm
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

    /// A well-formed signature over `<r ID="r1">`, with `reference` as its References and
    /// `extra` inside the Signature.
    fn signed(reference: &str, extra: &str) -> String {
        format!(
            r#"<r ID="r1"><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="{EXC_C14N}"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>{reference}</ds:SignedInfo>{extra}</ds:Signature></r>"#
        )
    }

    fn reference(uri: &str) -> String {
        format!(
            r#"<ds:Reference URI="{uri}"><ds:Transforms><ds:Transform Algorithm="{ENVELOPED}"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/></ds:Reference>"#
        )
    }

    #[test]
    fn only_one_same_document_reference_to_the_signed_element() {
        let policy = AlgorithmPolicy::default();
        let ok = signed(&reference("#r1"), "");
        assert_eq!(check_signatures(&ok, &policy).unwrap().signatures, 1);
        let two = reference("#r1") + &reference("#r1");
        let hostile = [
            reference("/dev/zero"),
            reference("file:///etc/hostname"),
            reference("http://127.0.0.1:9/x"),
            reference("#xpointer(/)"),
            reference(""),
            reference("#other"),
            r#"<ds:Reference><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/></ds:Reference>"#.to_string(),
            two,
            String::new(),
        ];
        for refs in hostile {
            let doc = signed(&refs, "");
            assert_eq!(
                check_signatures(&doc, &policy).unwrap_err().check,
                Check::Reference,
                "{refs}"
            );
        }
        for extra in [
            "<ds:Object><x/></ds:Object>",
            "<ds:Object><ds:Manifest/></ds:Object>",
            r#"<ds:KeyInfo><ds:RetrievalMethod URI="file:///etc/passwd"/></ds:KeyInfo>"#,
        ] {
            let doc = signed(&reference("#r1"), extra);
            assert_eq!(
                check_signatures(&doc, &policy).unwrap_err().check,
                Check::Reference,
                "{extra}"
            );
        }
        // A signature on an element without ID cannot name it.
        let no_id = ok.replace(r#"<r ID="r1">"#, "<r>");
        assert_eq!(
            check_signatures(&no_id, &policy).unwrap_err().check,
            Check::Reference
        );
    }

    #[test]
    fn inclusive_canonicalisation_is_accepted_xpath_is_not() {
        let policy = AlgorithmPolicy::default();
        let inclusive = signed(&reference("#r1"), "").replace(EXC_C14N, C14N_10);
        assert!(check_signatures(&inclusive, &policy).is_ok());
        let xpath = signed(&reference("#r1"), "")
            .replace(ENVELOPED, "http://www.w3.org/TR/1999/REC-xpath-19991116");
        assert_eq!(
            check_signatures(&xpath, &policy).unwrap_err().check,
            Check::Algorithm
        );
    }

    #[test]
    fn digests_outside_signatures_are_not_signature_algorithms() {
        // RSA-OAEP's DigestMethod (SHA-1 by default) inside an EncryptedAssertion.
        let doc = r#"<r><EncryptedAssertion><xenc:EncryptionMethod xmlns:xenc="x" Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"><ds:DigestMethod xmlns:ds="y" Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/></xenc:EncryptionMethod></EncryptedAssertion></r>"#;
        let summary = check_signatures(doc, &AlgorithmPolicy::default()).unwrap();
        assert_eq!(summary.encrypted_assertions, 1);
    }

    #[test]
    fn only_utf8_is_read() {
        let utf7 = br#"<?xml version="1.0" encoding="UTF-7"?><x/>"#;
        assert_eq!(check_xml(utf7, 1000).unwrap_err().check, Check::Encoding);
        let latin = br#"<?xml version="1.0" encoding='ISO-8859-1'?><x/>"#;
        assert_eq!(check_xml(latin, 1000).unwrap_err().check, Check::Encoding);
        assert!(check_xml(br#"<?xml version="1.0" encoding="utf-8"?><x/>"#, 1000).is_ok());
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("<x/>".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(check_xml(&utf16, 1000).unwrap_err().check, Check::Encoding);
        // UTF-16 without a byte-order mark: NUL bytes, which libxml2 detects as UTF-16.
        let bare: Vec<u8> = "<x/>".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(check_xml(&bare, 1000).unwrap_err().check, Check::Encoding);
        assert_eq!(
            check_xml(b"<x>\xff</x>", 1000).unwrap_err().check,
            Check::Encoding
        );
        assert_eq!(
            check_metadata(utf7, 1000).unwrap_err().check,
            Check::Encoding
        );
    }

    /// Found by the `xml_guard` fuzz target: an XML declaration after the start (`<?xml?>` in
    /// text, or after leading blanks) was let through, which libxml2 reads as a processing
    /// instruction.
    #[test]
    fn an_xml_declaration_only_at_the_start() {
        let found = b"$samdptp:\x01=/Sw.w<?xml?>m";
        assert_eq!(check_xml(found, 1000).unwrap_err().check, Check::Malformed);
        for doc in [
            &b"<r><?xml version=\"1.0\"?></r>"[..],
            b" <?xml version=\"1.0\"?><r/>",
            b"<r/><?xml version=\"1.0\"?>",
            b"<?xml version=\"1.0\"?><?xml version=\"1.0\"?><r/>",
        ] {
            assert_eq!(
                check_xml(doc, 1000).unwrap_err().check,
                Check::Malformed,
                "{}",
                String::from_utf8_lossy(doc)
            );
            assert!(check_metadata(doc, 1000).is_err());
        }
        assert!(check_xml(b"<?xml version=\"1.0\"?><r/>", 1000).is_ok());
        assert!(check_xml(
            b"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?><r/>",
            1000
        )
        .is_ok());
    }

    #[test]
    fn duplicate_ids_are_refused() {
        assert_eq!(
            check_xml(br#"<r ID="a"><s ID="a"/></r>"#, 1000)
                .unwrap_err()
                .check,
            Check::Wrapping
        );
        assert!(check_xml(br#"<r ID="a"><s ID="b"/></r>"#, 1000).is_ok());
    }
}
