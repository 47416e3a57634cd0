//! The gateway as SAML identity provider of resource providers.
//!
//! Inbound: a provider's AuthnRequest over HTTP-Redirect (query signature) or HTTP-POST
//! (enveloped XML signature), verified with the certificate registered for that provider,
//! answered only at an ACS URL registered for it. Outbound: a Response and its Assertion,
//! both signed RSA-SHA256 by xmlsec, NameID persistent = IDO, GAR short attribute names,
//! multi-valued attributes as repeated AttributeValue elements.

use chrono::{DateTime, Duration, Utc};
use samael::crypto::CertificateDer;
use samael::schema::AuthnRequest;

use super::algorithms::AlgorithmPolicy;
use super::binding::{self, RedirectQuery};
use super::guard;
use super::keys::SigningKey;
use super::metadata::BINDING_POST;
use super::xml::{escape, instant, new_id};
use super::{Check, SamlError};

/// The gateway's own IdP identity.
#[derive(Debug, Clone)]
pub struct IdpSettings {
    pub entity_id: String,
    pub sso_redirect_url: String,
    pub sso_post_url: String,
    pub clock_skew: Duration,
    pub max_message_bytes: usize,
    /// How long an issued assertion may be used.
    pub assertion_lifetime: Duration,
}

/// A resource provider's SAML service provider, as registered.
#[derive(Debug, Clone)]
pub struct ProviderSp {
    pub entity_id: String,
    pub acs_urls: Vec<String>,
    pub signing_certs: Vec<CertificateDer>,
    pub algorithms: AlgorithmPolicy,
    /// Where it takes LogoutResponses (from its metadata; none when configured without).
    pub slo: super::metadata::SloEndpoints,
}

/// A provider's AuthnRequest whose signature was verified.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VerifiedAuthnRequest {
    pub id: String,
    pub issuer: String,
    /// The registered ACS URL the Response goes to.
    pub acs_url: String,
    pub relay_state: Option<String>,
    /// `ForceAuthn="true"`: the user authenticates at their ENT again, the existing session is
    /// not reused.
    pub force_authn: bool,
    /// `IsPassive="true"`: nothing may be shown to the user; without a session the answer is
    /// `NoPassive`.
    pub is_passive: bool,
    pub issue_instant: DateTime<Utc>,
}

fn err(check: super::Check, detail: impl Into<std::borrow::Cow<'static, str>>) -> SamlError {
    SamlError::new(check, detail)
}

/// An AuthnRequest as received, before its signature is checked: only good for finding
/// which provider claims to send it.
#[derive(Debug, Clone)]
pub struct UnverifiedRequest {
    pub xml: String,
    pub issuer: String,
    pub relay_state: Option<String>,
    redirect: Option<RedirectQuery>,
}

/// Decodes an HTTP-Redirect AuthnRequest from the raw query string.
pub fn decode_redirect(raw_query: &str, max_bytes: usize) -> Result<UnverifiedRequest, SamlError> {
    let q = RedirectQuery::parse(raw_query, "SAMLRequest")?;
    let xml = binding::decode_redirect(&q.message, max_bytes)?;
    let issuer = peek_issuer(&xml, max_bytes)?;
    Ok(UnverifiedRequest {
        xml,
        issuer,
        relay_state: q.relay_state.clone(),
        redirect: Some(q),
    })
}

/// Decodes an HTTP-POST AuthnRequest.
pub fn decode_post(
    saml_request: &str,
    relay_state: Option<String>,
    max_bytes: usize,
) -> Result<UnverifiedRequest, SamlError> {
    if relay_state
        .as_ref()
        .is_some_and(|r| r.len() > binding::MAX_RELAY_STATE)
    {
        return Err(err(Check::Malformed, "RelayState is too long"));
    }
    let xml = binding::decode_post(saml_request, max_bytes)?;
    let issuer = peek_issuer(&xml, max_bytes)?;
    Ok(UnverifiedRequest {
        xml,
        issuer,
        relay_state,
        redirect: None,
    })
}

fn peek_issuer(xml: &str, max_bytes: usize) -> Result<String, SamlError> {
    guard::check_xml(xml.as_bytes(), max_bytes)?;
    if guard::root_name(xml)? != "AuthnRequest" {
        return Err(err(
            Check::Malformed,
            "the message is not a SAML AuthnRequest",
        ));
    }
    let req: AuthnRequest = xml.parse().map_err(|_| {
        err(
            Check::Malformed,
            "not a SAML AuthnRequest (its structure does not match the SAML schema)",
        )
    })?;
    req.issuer
        .and_then(|i| i.value)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| err(Check::Issuer, "the AuthnRequest has no Issuer"))
}

/// Verifies the request's signature with the provider's registered certificates, then every
/// other check; every value returned is read from the signed message.
pub fn verify_request(
    req: &UnverifiedRequest,
    sp: &ProviderSp,
    settings: &IdpSettings,
    now: DateTime<Utc>,
) -> Result<VerifiedAuthnRequest, SamlError> {
    if sp.signing_certs.is_empty() {
        return Err(err(
            Check::Config,
            "no signing certificate is registered for this provider",
        ));
    }
    let (authn, destination) = match &req.redirect {
        Some(q) => {
            if !q.is_signed() {
                return Err(err(Check::Unsigned, "the AuthnRequest is not signed"));
            }
            // An enveloped signature inside a Redirect message is not allowed by the binding.
            let summary = guard::check_signatures(&req.xml, &sp.algorithms)?;
            if summary.signatures > 0 {
                return Err(err(
                    Check::Malformed,
                    "a Redirect-binding AuthnRequest must not carry an XML signature",
                ));
            }
            q.verify(&sp.signing_certs, &sp.algorithms)?;
            let parsed: AuthnRequest = req.xml.parse().map_err(|_| {
                err(
                    Check::Malformed,
                    "not a SAML AuthnRequest (its structure does not match the SAML schema)",
                )
            })?;
            (parsed, settings.sso_redirect_url.as_str())
        }
        None => {
            let summary = guard::check_signatures(&req.xml, &sp.algorithms)?;
            if summary.signatures == 0 {
                return Err(err(Check::Unsigned, "the AuthnRequest is not signed"));
            }
            if summary.assertions > 0 || summary.encrypted_assertions > 0 {
                return Err(err(
                    Check::Malformed,
                    "an AuthnRequest must not carry assertions",
                ));
            }
            let signed = super::verified_part(&req.xml, &sp.signing_certs, &sp.algorithms)?;
            if guard::root_name(&signed)? != "AuthnRequest" {
                return Err(err(
                    Check::Signature,
                    "the signed element is not the AuthnRequest",
                ));
            }
            let parsed: AuthnRequest = signed.parse().map_err(|_| {
                err(
                    Check::Signature,
                    "the signed part is not an AuthnRequest (its structure does not match the SAML schema)",
                )
            })?;
            (parsed, settings.sso_post_url.as_str())
        }
    };
    check_request(
        authn,
        req.relay_state.clone(),
        sp,
        destination,
        settings,
        now,
    )
}

fn check_request(
    authn: AuthnRequest,
    relay_state: Option<String>,
    sp: &ProviderSp,
    destination: &str,
    settings: &IdpSettings,
    now: DateTime<Utc>,
) -> Result<VerifiedAuthnRequest, SamlError> {
    if authn.version != "2.0" {
        return Err(err(Check::Malformed, "AuthnRequest version is not 2.0"));
    }
    let issuer = authn
        .issuer
        .as_ref()
        .and_then(|i| i.value.as_deref())
        .map(str::trim);
    if issuer != Some(sp.entity_id.as_str()) {
        return Err(err(
            Check::Issuer,
            "the signed Issuer is not the provider's registered entityID",
        ));
    }
    // SAML bindings §3.4.5.2 and §3.5.5.2: a signed message carries Destination, and it is
    // the endpoint that received it (every AuthnRequest accepted here is signed).
    match authn.destination.as_deref() {
        None => {
            return Err(err(
                Check::Destination,
                "the signed AuthnRequest has no Destination (SAML bindings 3.4.5.2, 3.5.5.2): the provider must name this endpoint",
            ))
        }
        Some(d) if d != destination => {
            return Err(err(
                Check::Destination,
                "the AuthnRequest's Destination is not this endpoint",
            ))
        }
        Some(_) => {}
    }
    let skew = settings.clock_skew;
    if authn.issue_instant > now + skew {
        return Err(err(
            Check::NotYetValid,
            "the AuthnRequest was issued in the future",
        ));
    }
    if authn.issue_instant + settings.assertion_lifetime + skew < now {
        return Err(err(Check::Expired, "the AuthnRequest is too old"));
    }
    if authn
        .protocol_binding
        .as_deref()
        .is_some_and(|b| b != BINDING_POST)
    {
        return Err(err(
            Check::Binding,
            "only the HTTP-POST binding is offered for responses",
        ));
    }
    let acs_url = match (
        &authn.assertion_consumer_service_url,
        authn.assertion_consumer_service_index,
    ) {
        (Some(_), Some(_)) => {
            return Err(err(
                Check::Acs,
                "AssertionConsumerServiceURL and Index are mutually exclusive",
            ))
        }
        (Some(url), None) => sp
            .acs_urls
            .iter()
            .find(|u| *u == url)
            .cloned()
            .ok_or_else(|| {
                err(
                    Check::Acs,
                    "the AssertionConsumerServiceURL is not registered for this provider",
                )
            })?,
        (None, Some(i)) => sp.acs_urls.get(i).cloned().ok_or_else(|| {
            err(
                Check::Acs,
                "the AssertionConsumerServiceIndex is not registered for this provider",
            )
        })?,
        (None, None) => sp
            .acs_urls
            .first()
            .cloned()
            .ok_or_else(|| err(Check::Acs, "no ACS URL is registered for this provider"))?,
    };
    Ok(VerifiedAuthnRequest {
        id: authn.id,
        issuer: sp.entity_id.clone(),
        acs_url,
        relay_state,
        force_authn: authn.force_authn.unwrap_or(false),
        is_passive: authn.is_passive.unwrap_or(false),
        issue_instant: authn.issue_instant,
    })
}

/// What goes into one assertion.
#[derive(Debug, Clone)]
pub struct Issue<'a> {
    pub request: &'a VerifiedAuthnRequest,
    /// The IDO.
    pub subject: &'a str,
    pub attributes: &'a [(&'a str, &'a [String])],
    pub authn_instant: DateTime<Utc>,
    pub session_index: &'a str,
}

use super::signing::{sign, sign_nested, signature_template};

/// Builds and signs (Assertion first, then Response) the answer to a verified request.
pub fn signed_response(
    settings: &IdpSettings,
    key: &SigningKey,
    issue: &Issue<'_>,
    now: DateTime<Utc>,
) -> Result<String, SamlError> {
    let req = issue.request;
    let assertion_id = new_id();
    let response_id = new_id();
    let until = instant(now + settings.assertion_lifetime);
    let issuer = escape(&settings.entity_id);
    let mut attrs = String::new();
    for (name, values) in issue.attributes {
        attrs.push_str(&format!(r#"<saml:Attribute Name="{}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">"#, escape(name)));
        for v in *values {
            attrs.push_str(&format!(
                r#"<saml:AttributeValue xsi:type="xs:string">{}</saml:AttributeValue>"#,
                escape(v)
            ));
        }
        attrs.push_str("</saml:Attribute>");
    }
    let attribute_statement = if attrs.is_empty() {
        String::new()
    } else {
        format!("<saml:AttributeStatement>{attrs}</saml:AttributeStatement>")
    };
    let assertion = format!(
        r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="{aid}" Version="2.0" IssueInstant="{now}"><saml:Issuer>{issuer}</saml:Issuer>{sig}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" NameQualifier="{issuer}" SPNameQualifier="{sp}">{subject}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{until}" Recipient="{acs}" InResponseTo="{rid}"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{nb}" NotOnOrAfter="{until}"><saml:AudienceRestriction><saml:Audience>{sp}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{authn}" SessionIndex="{si}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>{attribute_statement}</saml:Assertion>"#,
        aid = assertion_id,
        now = instant(now),
        sig = signature_template(&assertion_id, key),
        sp = escape(&req.issuer),
        subject = escape(issue.subject),
        acs = escape(&req.acs_url),
        rid = escape(&req.id),
        nb = instant(now - settings.clock_skew),
        authn = instant(issue.authn_instant),
        si = escape(issue.session_index),
    );
    // Both signatures in one pass: the Assertion's first, then the Response's over it.
    let response = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{rid}" Version="2.0" IssueInstant="{now}" Destination="{acs}" InResponseTo="{irt}"><saml:Issuer>{issuer}</saml:Issuer>{sig}<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>{assertion}</samlp:Response>"#,
        rid = response_id,
        now = instant(now),
        acs = escape(&req.acs_url),
        irt = escape(&req.id),
        sig = signature_template(&response_id, key),
    );
    sign_nested(&response, key)
}

/// An unsigned-assertion error Response (e.g. the user may not open the resource), signed.
pub fn signed_error_response(
    settings: &IdpSettings,
    key: &SigningKey,
    request: &VerifiedAuthnRequest,
    status: &str,
    message: &str,
    now: DateTime<Utc>,
) -> Result<String, SamlError> {
    let response_id = new_id();
    let response = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{rid}" Version="2.0" IssueInstant="{now}" Destination="{acs}" InResponseTo="{irt}"><saml:Issuer>{issuer}</saml:Issuer>{sig}<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="{status}"/></samlp:StatusCode><samlp:StatusMessage>{msg}</samlp:StatusMessage></samlp:Status></samlp:Response>"#,
        rid = response_id,
        now = instant(now),
        acs = escape(&request.acs_url),
        irt = escape(&request.id),
        issuer = escape(&settings.entity_id),
        sig = signature_template(&response_id, key),
        status = escape(status),
        msg = escape(message),
    );
    sign(&response, key)
}
