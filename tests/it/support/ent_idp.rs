//! A test ENT identity provider that is not the gateway's code: it writes SAML Responses as
//! text and signs them with the `xmlsec1` command-line tool. Knobs cover every check the
//! gateway makes, and the attacks of the security catalogue (wrapping, comment injection,
//! DTDs, stripped signatures, SHA-1).

use std::path::Path;

use chrono::{DateTime, Duration, Utc};

/// Which elements carry a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sign {
    Assertion,
    Response,
    Both,
    None,
}

/// A Response as an ENT IdP sends it, with every field adjustable.
#[derive(Debug, Clone)]
pub struct EntResponse {
    pub response_id: String,
    pub assertion_id: String,
    pub issuer: String,
    pub destination: String,
    pub recipient: String,
    pub audience: String,
    pub in_response_to: String,
    pub issued: DateTime<Utc>,
    pub not_before: DateTime<Utc>,
    pub not_on_or_after: DateTime<Utc>,
    pub status: String,
    /// `(name, values)`; an attribute may be listed twice.
    pub attributes: Vec<(String, Vec<String>)>,
    pub sign: Sign,
    pub sha1: bool,
}

fn t(d: DateTime<Utc>) -> String {
    d.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl EntResponse {
    /// A valid response for the gateway at `base`, to the request `in_response_to`.
    pub fn new(
        base: &str,
        idp_entity: &str,
        in_response_to: &str,
        now: DateTime<Utc>,
        person: &str,
    ) -> Self {
        Self {
            response_id: format!("_resp-{}", uuid::Uuid::new_v4().simple()),
            assertion_id: format!("_assert-{}", uuid::Uuid::new_v4().simple()),
            issuer: idp_entity.to_string(),
            destination: format!("{base}/saml/acs"),
            recipient: format!("{base}/saml/acs"),
            audience: format!("{base}/saml/metadata"),
            in_response_to: in_response_to.to_string(),
            issued: now,
            not_before: now - Duration::seconds(30),
            not_on_or_after: now + Duration::minutes(5),
            status: "urn:oasis:names:tc:SAML:2.0:status:Success".into(),
            attributes: vec![
                ("idEnt".into(), vec!["B0".into()]),
                ("GARPersonIdentifiant".into(), vec![person.into()]),
            ],
            sign: Sign::Assertion,
            sha1: false,
        }
    }

    fn signature_template(&self, reference: &str) -> String {
        let (sig, dig) = if self.sha1 {
            (
                "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
                "http://www.w3.org/2000/09/xmldsig#sha1",
            )
        } else {
            (
                "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                "http://www.w3.org/2001/04/xmlenc#sha256",
            )
        };
        format!(
            r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="{sig}"/><ds:Reference URI="#{reference}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="{dig}"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>"##
        )
    }

    /// The assertion, with a signature template when it is to be signed.
    pub fn assertion_xml(&self, with_template: bool) -> String {
        let attrs: String = self
            .attributes
            .iter()
            .map(|(n, vs)| {
                let values: String = vs.iter().map(|v| format!(r#"<saml:AttributeValue xsi:type="xs:string">{v}</saml:AttributeValue>"#)).collect();
                format!(r#"<saml:Attribute Name="{n}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">{values}</saml:Attribute>"#)
            })
            .collect();
        let sig = if with_template {
            self.signature_template(&self.assertion_id)
        } else {
            String::new()
        };
        format!(
            r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="{id}" Version="2.0" IssueInstant="{issued}"><saml:Issuer>{issuer}</saml:Issuer>{sig}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">_transient-{id}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{noa}" Recipient="{recipient}" InResponseTo="{irt}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{nb}" NotOnOrAfter="{noa}"><saml:AudienceRestriction><saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{issued}" SessionIndex="_s1"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement>{attrs}</saml:AttributeStatement></saml:Assertion>"#,
            id = self.assertion_id,
            issued = t(self.issued),
            issuer = self.issuer,
            noa = t(self.not_on_or_after),
            nb = t(self.not_before),
            recipient = self.recipient,
            irt = self.in_response_to,
            aud = self.audience,
        )
    }

    fn response_xml(&self, assertion: &str, with_template: bool) -> String {
        let sig = if with_template {
            self.signature_template(&self.response_id)
        } else {
            String::new()
        };
        format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{issued}" Destination="{dest}" InResponseTo="{irt}"><saml:Issuer>{issuer}</saml:Issuer>{sig}<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status>{assertion}</samlp:Response>"#,
            id = self.response_id,
            issued = t(self.issued),
            dest = self.destination,
            irt = self.in_response_to,
            issuer = self.issuer,
            status = self.status,
        )
    }

    /// The response, signed as `self.sign` says with `key`/`cert` (PEM files).
    pub fn signed(&self, key: &Path, cert: &Path) -> String {
        let assertion = match self.sign {
            Sign::Assertion | Sign::Both => {
                strip_decl(&xmlsec1_sign(&self.assertion_xml(true), key, cert))
            }
            Sign::Response | Sign::None => self.assertion_xml(false),
        };
        match self.sign {
            Sign::Response | Sign::Both => {
                xmlsec1_sign(&self.response_xml(&assertion, true), key, cert)
            }
            Sign::Assertion | Sign::None => self.response_xml(&assertion, false),
        }
    }

    /// The ENT's answer to a passive request when nobody is logged in there (SAML core
    /// §3.4.1.1): a signed Response, status `Responder` / `NoPassive`, no assertion.
    pub fn signed_no_passive(&self, key: &Path, cert: &Path) -> String {
        let status = r#"<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:NoPassive"/></samlp:StatusCode></samlp:Status>"#;
        let xml = format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{issued}" Destination="{dest}" InResponseTo="{irt}"><saml:Issuer>{issuer}</saml:Issuer>{sig}{status}</samlp:Response>"#,
            id = self.response_id,
            issued = t(self.issued),
            dest = self.destination,
            irt = self.in_response_to,
            issuer = self.issuer,
            sig = self.signature_template(&self.response_id),
        );
        xmlsec1_sign(&xml, key, cert)
    }
}

fn strip_decl(xml: &str) -> String {
    match xml.trim_start().strip_prefix("<?xml") {
        Some(rest) => rest
            .split_once("?>")
            .map(|(_, b)| b.trim_start().to_string())
            .unwrap_or_default(),
        None => xml.to_string(),
    }
}

/// Signs the first signature template of `xml` with the xmlsec1 tool.
pub fn xmlsec1_sign(xml: &str, key: &Path, cert: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.xml"), dir.path().join("out.xml"));
    std::fs::write(&input, xml).unwrap();
    let keyspec = format!("{},{}", key.display(), cert.display());
    let out = std::process::Command::new("xmlsec1")
        .args(["--sign", "--privkey-pem", &keyspec])
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:Response",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:AuthnRequest",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:LogoutRequest",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:LogoutResponse",
        ])
        .arg("--output")
        .arg(&output)
        .arg(&input)
        .output()
        .expect("xmlsec1 must be installed (Debian package xmlsec1; see scripts/setup.sh)");
    assert!(
        out.status.success(),
        "xmlsec1 --sign failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(output).unwrap()
}

/// Verifies, with the xmlsec1 command-line tool and the certificate `cert` (never one from the
/// message), the signature selected by the XPath `node`.
pub fn xmlsec1_verify(xml: &str, cert: &std::path::Path, node: &str) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("doc.xml");
    std::fs::write(&f, xml).unwrap();
    let out = std::process::Command::new("xmlsec1")
        .args(["--verify", "--pubkey-cert-pem"])
        .arg(cert)
        .args([
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:Response",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:LogoutResponse",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:protocol:LogoutRequest",
            "--node-xpath",
            node,
        ])
        .arg(&f)
        .output()
        .map_err(|e| format!("cannot run xmlsec1 (install the xmlsec1 package): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// An enveloped RSA-SHA256 signature template for the element whose ID replaces `ID`.
const TEMPLATE: &str = r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#ID"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>"##;

/// An ENT's LogoutRequest, as the ENT's SAML stack writes it.
#[derive(Debug, Clone)]
pub struct EntLogoutRequest {
    pub id: String,
    pub issuer: String,
    /// `None`: no Destination attribute.
    pub destination: Option<String>,
    pub issued: DateTime<Utc>,
    pub name_id: String,
    pub session_indexes: Vec<String>,
}

impl EntLogoutRequest {
    /// The request's XML, with an enveloped signature made by xmlsec1 with `key` and `cert`
    /// when given.
    pub fn xml(&self, key: Option<(&Path, &Path)>) -> String {
        let destination = self
            .destination
            .as_ref()
            .map(|d| format!(r#" Destination="{d}""#))
            .unwrap_or_default();
        let sig = if key.is_some() {
            TEMPLATE.replace("#ID", &format!("#{}", self.id))
        } else {
            String::new()
        };
        let indexes: String = self
            .session_indexes
            .iter()
            .map(|i| format!("<samlp:SessionIndex>{i}</samlp:SessionIndex>"))
            .collect();
        let xml = format!(
            r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{at}"{destination}><saml:Issuer>{issuer}</saml:Issuer>{sig}<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">{name_id}</saml:NameID>{indexes}</samlp:LogoutRequest>"#,
            id = self.id,
            at = t(self.issued),
            issuer = self.issuer,
            name_id = self.name_id,
        );
        match key {
            Some((k, c)) => xmlsec1_sign(&xml, k, c),
            None => xml,
        }
    }
}

/// A provider's AuthnRequest for the HTTP-POST binding, with an enveloped signature made by
/// xmlsec1 (or none when `key` is `None`).
pub fn post_authn_request(
    id: &str,
    issuer: &str,
    destination: &str,
    acs: &str,
    key: Option<(&Path, &Path)>,
) -> String {
    post_authn_request_with(id, issuer, Some(destination), acs, "", key)
}

/// The same, with an optional Destination and extra attributes (e.g. ` IsPassive="true"`).
pub fn post_authn_request_with(
    id: &str,
    issuer: &str,
    destination: Option<&str>,
    acs: &str,
    extra_attributes: &str,
    key: Option<(&Path, &Path)>,
) -> String {
    let destination = destination
        .map(|d| format!(r#" Destination="{d}""#))
        .unwrap_or_default();
    let sig = if key.is_some() {
        TEMPLATE.replace("#ID", &format!("#{id}"))
    } else {
        String::new()
    };
    let xml = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="2026-11-24T08:00:00Z"{destination}{extra_attributes} AssertionConsumerServiceURL="{acs}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>{issuer}</saml:Issuer>{sig}</samlp:AuthnRequest>"#
    );
    match key {
        Some((k, c)) => xmlsec1_sign(&xml, k, c),
        None => xml,
    }
}

/// XSW: a copy of the signed assertion, for another user and with another ID, inserted before
/// (or after) the signed one.
pub fn wrap_with_evil_assertion(signed: &str, evil_person: &str, before: bool) -> String {
    let start = signed.find("<saml:Assertion").unwrap();
    let end = signed.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let original = &signed[start..end];
    let mut evil = original.to_string();
    if let Some(s) = evil.find("<ds:Signature") {
        let e = evil.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        evil.replace_range(s..e, "");
    }
    let evil = evil
        .replacen("ID=\"_assert", "ID=\"_evil", 1)
        .replace(">eleve-0001<", &format!(">{evil_person}<"));
    let (a, b) = if before {
        (evil.as_str(), original)
    } else {
        (original, evil.as_str())
    };
    format!("{}{}{}{}", &signed[..start], a, b, &signed[end..])
}

/// The value of `GARPersonIdentifiant` changed after signing.
pub fn tamper(signed: &str, from: &str, to: &str) -> String {
    signed.replace(&format!(">{from}<"), &format!(">{to}<"))
}

/// Every ds:Signature element removed.
pub fn strip_signatures(signed: &str) -> String {
    let mut out = signed.to_string();
    while let Some(s) = out.find("<ds:Signature") {
        let e = out[s..].find("</ds:Signature>").unwrap() + s + "</ds:Signature>".len();
        out.replace_range(s..e, "");
    }
    out
}

/// A DOCTYPE with an internal entity, placed before the root element.
pub fn add_doctype(xml: &str) -> String {
    let body = strip_decl(xml);
    format!("<?xml version=\"1.0\"?><!DOCTYPE samlp:Response [<!ENTITY who \"eleve-0002\">]>{body}")
}

/// An ENT's LogoutResponse (HTTP-POST binding) to the gateway's LogoutRequest `in_response_to`,
/// with top-level `status`, its enveloped signature made by xmlsec1 with `key` and `cert` when
/// given.
pub fn ent_logout_response(
    in_response_to: &str,
    destination: &str,
    issued: DateTime<Utc>,
    status: &str,
    key: Option<(&Path, &Path)>,
) -> String {
    let ent = crate::support::gateway::ENT_ENTITY;
    logout_response(ent, in_response_to, destination, issued, status, key)
}

/// A LogoutResponse from `issuer` (an ENT, or a provider), as [`ent_logout_response`].
pub fn logout_response(
    issuer: &str,
    in_response_to: &str,
    destination: &str,
    issued: DateTime<Utc>,
    status: &str,
    key: Option<(&Path, &Path)>,
) -> String {
    let id = format!("_elr-{}", uuid::Uuid::new_v4().simple());
    let sig = if key.is_some() {
        TEMPLATE.replace("#ID", &format!("#{id}"))
    } else {
        String::new()
    };
    let xml = format!(
        r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{at}" Destination="{destination}" InResponseTo="{in_response_to}"><saml:Issuer>{issuer}</saml:Issuer>{sig}<samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status></samlp:LogoutResponse>"#,
        at = t(issued),
    );
    match key {
        Some((k, c)) => xmlsec1_sign(&xml, k, c),
        None => xml,
    }
}

/// The provider's LogoutRequest for the login its `assertion` opened (naming that assertion's
/// SessionIndex), to the gateway at `base`'s HTTP-POST logout endpoint, issued at `issued`.
pub fn provider_logout_request(
    assertion: &str,
    base: &str,
    issued: DateTime<Utc>,
) -> EntLogoutRequest {
    let index = assertion
        .split("SessionIndex=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the assertion has a SessionIndex")
        .to_string();
    EntLogoutRequest {
        id: format!("_plr-{}", uuid::Uuid::new_v4().simple()),
        issuer: crate::support::gateway::SP_ENTITY.into(),
        destination: Some(format!("{base}/idp/profile/SAML2/POST/SLO")),
        issued,
        name_id: "ignored-by-the-gateway".into(),
        session_indexes: vec![index],
    }
}
