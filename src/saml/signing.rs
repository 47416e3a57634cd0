//! Enveloped XML signatures of the gateway's documents (assertions, responses, logout
//! messages, metadata): the RSA-SHA256 template with the signing certificate, filled by xmlsec.

use samael::crypto::{CryptoProvider, XmlSec};

use super::keys::SigningKey;
use super::{Check, SamlError};

/// The signature template of the element whose ID is `reference`.
pub fn signature_template(reference: &str, key: &SigningKey) -> String {
    format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#{reference}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"##,
        cert = key.certificate_base64()
    )
}

/// An error and its sources, for the operator's log line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
}

/// Signs `xml`'s (first) template; the XML declaration libxml2 prepends is left out.
pub fn sign(xml: &str, key: &SigningKey) -> Result<String, SamlError> {
    without_declaration(XmlSec::sign_xml(xml, &key.key_der))
}

/// Signs every template of `xml`, the inner ones first (a Response and the Assertion in it),
/// in one parse (samael patch 4); the XML declaration libxml2 prepends is left out.
pub fn sign_nested(xml: &str, key: &SigningKey) -> Result<String, SamlError> {
    without_declaration(XmlSec::sign_xml_nested(xml, &key.key_der))
}

fn without_declaration(
    signed: Result<String, samael::crypto::CryptoError>,
) -> Result<String, SamlError> {
    let signed = signed.map_err(|e| {
        SamlError::new(
            Check::Internal,
            format!("xmlsec signing failed: {}", chain(&e)),
        )
    })?;
    // libxml2 prepends an XML declaration; the assertion is embedded without it.
    Ok(match signed.trim_start().strip_prefix("<?xml") {
        Some(rest) => rest
            .split_once("?>")
            .map_or(signed.clone(), |(_, body)| body.trim_start().to_string()),
        None => signed,
    })
}
