//! The gateway as SAML service provider of ENT identity providers.
//!
//! [`authn_request_url`] starts a login (signed HTTP-Redirect AuthnRequest);
//! [`verify_response`] accepts an HTTP-POST Response only when every check holds: a valid
//! signature over the Response or the Assertion by the certificate configured for that ENT
//! (never one carried in the message), allowed algorithms, one assertion only, issuer,
//! destination, recipient, audience, InResponseTo, validity window within the clock skew,
//! and unambiguous `idEnt` / `GARPersonIdentifiant` attributes. Replay (assertion IDs) and
//! the one-time use of the request ID are the caller's, through the store.

use chrono::{DateTime, Duration, Utc};
use samael::schema::{Assertion, Response};

use super::algorithms::AlgorithmPolicy;
use super::binding;
use super::guard;
use super::keys::SigningKey;
use super::metadata::{IdpPeer, BINDING_POST};
use super::xml::{escape, instant};
use super::{Check, SamlError};

const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";

/// The gateway's own SP identity.
#[derive(Debug, Clone)]
pub struct SpSettings {
    pub entity_id: String,
    pub acs_url: String,
    pub clock_skew: Duration,
    pub max_message_bytes: usize,
}

/// One ENT identity provider as configured.
#[derive(Debug, Clone)]
pub struct EntIdp {
    pub peer: IdpPeer,
    pub algorithms: AlgorithmPolicy,
}

/// The signed Redirect-binding URL that sends the browser to the ENT's IdP.
/// What an AuthnRequest asks of the IdP beyond authenticating the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Its session will do.
    Default,
    /// `ForceAuthn="true"`: authenticate the user again, whatever session it has.
    ForceAuthn,
    /// `IsPassive="true"`: show the user nothing; answer who is logged in, or `NoPassive`.
    IsPassive,
}

/// The URL that sends the browser to `idp` with a signed HTTP-Redirect AuthnRequest of id
/// `request_id` for this SP's ACS, asking `prompt` of it.
pub fn authn_request_url(
    sp: &SpSettings,
    idp: &EntIdp,
    request_id: &str,
    now: DateTime<Utc>,
    relay_state: &str,
    key: &SigningKey,
    prompt: Prompt,
) -> Result<String, SamlError> {
    let xml = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{at}" Destination="{dest}"{force} AssertionConsumerServiceURL="{acs}" ProtocolBinding="{post}"><saml:Issuer>{issuer}</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient" AllowCreate="true"/></samlp:AuthnRequest>"#,
        id = escape(request_id),
        at = instant(now),
        dest = escape(&idp.peer.sso_redirect_url),
        force = match prompt {
            Prompt::Default => "",
            Prompt::ForceAuthn => r#" ForceAuthn="true""#,
            Prompt::IsPassive => r#" IsPassive="true""#,
        },
        acs = escape(&sp.acs_url),
        post = BINDING_POST,
        issuer = escape(&sp.entity_id),
    );
    binding::signed_redirect_url(
        &idp.peer.sso_redirect_url,
        "SAMLRequest",
        &xml,
        Some(relay_state),
        &key.key,
    )
}

/// What a verified ENT response says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLogin {
    pub assertion_id: String,
    /// Until when the assertion is valid (plus skew): how long its ID must be remembered.
    pub remember_until: DateTime<Utc>,
    /// The `idEnt` attribute.
    pub id_ent: String,
    /// The `GARPersonIdentifiant` attribute.
    pub person_id: String,
    /// The assertion's NameID (what the ENT's LogoutRequest names).
    pub name_id: Option<String>,
    /// The NameID's `Format`, as the ENT sent it (its logout is asked with the same).
    pub name_id_format: Option<String>,
    pub session_index: Option<String>,
    /// The latest `AuthnInstant` of the assertion's statements: when the ENT authenticated
    /// the user.
    pub authn_instant: Option<DateTime<Utc>>,
}

fn err(check: super::Check, detail: impl Into<std::borrow::Cow<'static, str>>) -> SamlError {
    SamlError::new(check, detail)
}

/// Verifies an ENT's Response (the decoded XML of the POST binding) to the request
/// `expected_request_id`, at `now`, and reads the ENT user's identity from it.
pub fn verify_response(
    xml: &str,
    expected_request_id: &str,
    sp: &SpSettings,
    idp: &EntIdp,
    now: DateTime<Utc>,
) -> Result<VerifiedLogin, SamlError> {
    let (assertion, remember_until) = verified_assertion(xml, expected_request_id, sp, idp, now)?;
    let id_ent = single_attribute(&assertion, "idEnt")?;
    let person_id = single_attribute(&assertion, "GARPersonIdentifiant")?;
    let session_index = assertion
        .authn_statements
        .iter()
        .flatten()
        .find_map(|s| s.session_index.clone());
    let authn_instant = assertion
        .authn_statements
        .iter()
        .flatten()
        .filter_map(|s| s.authn_instant)
        .max();
    let subject = assertion.subject.as_ref().and_then(|s| s.name_id.as_ref());
    let name_id = subject.map(|n| n.value.clone());
    let name_id_format = subject.and_then(|n| n.format.clone());
    Ok(VerifiedLogin {
        assertion_id: assertion.id,
        remember_until,
        id_ent,
        person_id,
        name_id,
        name_id_format,
        session_index,
        authn_instant,
    })
}

/// Everything a verified assertion says, for a relying party that wants all of it (the demo
/// resource, which shows what it received).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionView {
    pub assertion_id: String,
    pub name_id: Option<String>,
    pub name_id_format: Option<String>,
    /// The `SessionIndex` of the assertion's AuthnStatement (what the SP's logout names).
    pub session_index: Option<String>,
    /// Attributes in document order, each with its values.
    pub attributes: Vec<(String, Vec<String>)>,
}

/// Verifies a Response exactly as [`verify_response`] does, and returns every attribute.
pub fn verify_response_view(
    xml: &str,
    expected_request_id: &str,
    sp: &SpSettings,
    idp: &EntIdp,
    now: DateTime<Utc>,
) -> Result<AssertionView, SamlError> {
    let (a, _) = verified_assertion(xml, expected_request_id, sp, idp, now)?;
    let name_id = a.subject.as_ref().and_then(|s| s.name_id.as_ref());
    Ok(AssertionView {
        assertion_id: a.id.clone(),
        name_id: name_id.map(|n| n.value.clone()),
        name_id_format: name_id.and_then(|n| n.format.clone()),
        session_index: a
            .authn_statements
            .iter()
            .flatten()
            .find_map(|s| s.session_index.clone()),
        attributes: a
            .attribute_statements
            .iter()
            .flatten()
            .flat_map(|st| st.attributes.iter())
            .map(|at| {
                (
                    at.name.clone().unwrap_or_default(),
                    at.values.iter().filter_map(|v| v.value.clone()).collect(),
                )
            })
            .collect(),
    })
}

/// Every check but the attributes; returns the verified assertion and until when its ID must
/// be remembered.
fn verified_assertion(
    xml: &str,
    expected_request_id: &str,
    sp: &SpSettings,
    idp: &EntIdp,
    now: DateTime<Utc>,
) -> Result<(Assertion, DateTime<Utc>), SamlError> {
    guard::check_xml(xml.as_bytes(), sp.max_message_bytes)?;
    let summary = guard::check_signatures(xml, &idp.algorithms)?;
    // The envelope as received, for the checks that do not depend on the signature. The status
    // comes first, so that an ENT's error answer (no assertion) is reported as what it is.
    if guard::root_name(xml)? != "Response" {
        return Err(err(Check::Malformed, "the message is not a SAML Response"));
    }
    let envelope: Response = match xml.parse() {
        Ok(envelope) => envelope,
        // The schema has room for one assertion: several are a wrapping attempt.
        Err(_) if summary.assertions > 1 => return Err(too_many_assertions(summary.assertions)),
        Err(_) => {
            return Err(err(
                Check::Malformed,
                "not a SAML Response (its structure does not match the SAML schema)",
            ))
        }
    };
    check_status(&envelope)?;
    if summary.encrypted_assertions > 0 {
        return Err(err(
            Check::Encrypted,
            "encrypted assertions are not accepted from ENTs",
        ));
    }
    if summary.assertions != 1 {
        return Err(too_many_assertions(summary.assertions));
    }
    if summary.signatures == 0 {
        return Err(err(
            Check::Unsigned,
            "neither the Response nor the Assertion is signed",
        ));
    }
    if idp.peer.signing_certs.is_empty() {
        return Err(err(
            Check::Config,
            "no signing certificate is configured for this ENT",
        ));
    }

    let verified = super::verified_part(xml, &idp.peer.signing_certs, &idp.algorithms)?;

    // Read everything from the verified part only: a signed Response, or a signed Assertion.
    let assertion = match guard::root_name(&verified)?.as_str() {
        "Response" => {
            let response: Response = verified.parse().map_err(|_| {
                err(
                    Check::Signature,
                    "the signed Response cannot be read (its structure does not match the SAML schema)",
                )
            })?;
            check_response(&response, expected_request_id, sp, idp)?;
            response
                .assertion
                .ok_or_else(|| err(Check::Wrapping, "the signed Response carries no assertion"))?
        }
        "Assertion" => {
            // Only the Assertion is signed: the envelope's Destination is still checked.
            check_destination(&envelope, sp)?;
            check_in_response_to(envelope.in_response_to.as_deref(), expected_request_id)?;
            verified.parse::<Assertion>().map_err(|_| {
                err(
                    Check::Signature,
                    "the signed Assertion cannot be read (its structure does not match the SAML schema)",
                )
            })?
        }
        other => {
            return Err(err(
                Check::Signature,
                format!("the signed element is a {other}, not a Response or an Assertion"),
            ))
        }
    };
    let remember_until = check_assertion(&assertion, expected_request_id, sp, idp, now)?;
    Ok((assertion, remember_until))
}

fn too_many_assertions(count: usize) -> SamlError {
    err(
        Check::Wrapping,
        format!("the message carries {count} assertions; exactly one is accepted"),
    )
}

fn check_status(response: &Response) -> Result<(), SamlError> {
    let code = response
        .status
        .as_ref()
        .and_then(|s| s.status_code.value.as_deref());
    if code != Some(STATUS_SUCCESS) {
        return Err(err(
            Check::Status,
            format!("the ENT answered with status {}", code.unwrap_or("(none)")),
        ));
    }
    Ok(())
}

fn check_destination(response: &Response, sp: &SpSettings) -> Result<(), SamlError> {
    if response.destination.as_deref() != Some(sp.acs_url.as_str()) {
        return Err(err(
            Check::Destination,
            "the Response's Destination is not this gateway's ACS URL",
        ));
    }
    Ok(())
}

fn check_in_response_to(value: Option<&str>, expected: &str) -> Result<(), SamlError> {
    match value {
        Some(v) if v == expected => Ok(()),
        Some(_) => Err(err(
            Check::InResponseTo,
            "InResponseTo does not match the request this gateway sent",
        )),
        None => Err(err(
            Check::InResponseTo,
            "InResponseTo is missing (unsolicited responses are refused)",
        )),
    }
}

fn check_issuer(value: Option<&str>, idp: &EntIdp) -> Result<(), SamlError> {
    if value != Some(idp.peer.entity_id.as_str()) {
        return Err(err(
            Check::Issuer,
            "the Issuer is not the configured ENT identity provider",
        ));
    }
    Ok(())
}

fn check_response(
    response: &Response,
    expected: &str,
    sp: &SpSettings,
    idp: &EntIdp,
) -> Result<(), SamlError> {
    check_status(response)?;
    check_destination(response, sp)?;
    check_in_response_to(response.in_response_to.as_deref(), expected)?;
    if let Some(issuer) = &response.issuer {
        check_issuer(issuer.value.as_deref(), idp)?;
    }
    if response.encrypted_assertion.is_some() {
        return Err(err(
            Check::Encrypted,
            "encrypted assertions are not accepted from ENTs",
        ));
    }
    Ok(())
}

fn check_assertion(
    a: &Assertion,
    expected: &str,
    sp: &SpSettings,
    idp: &EntIdp,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, SamlError> {
    let skew = sp.clock_skew;
    if a.version != "2.0" {
        return Err(err(Check::Malformed, "assertion version is not 2.0"));
    }
    check_issuer(a.issuer.value.as_deref(), idp)?;
    if a.issue_instant > now + skew {
        return Err(err(
            Check::NotYetValid,
            "the assertion was issued in the future",
        ));
    }

    let conditions = a
        .conditions
        .as_ref()
        .ok_or_else(|| err(Check::Audience, "the assertion has no Conditions"))?;
    if let Some(nb) = conditions.not_before {
        if now + skew < nb {
            return Err(err(
                Check::NotYetValid,
                "the assertion is not yet valid (NotBefore)",
            ));
        }
    }
    let not_on_or_after = conditions
        .not_on_or_after
        .ok_or_else(|| err(Check::Expired, "the assertion has no NotOnOrAfter"))?;
    if now - skew >= not_on_or_after {
        return Err(err(
            Check::Expired,
            "the assertion has expired (NotOnOrAfter)",
        ));
    }
    let restrictions = conditions
        .audience_restrictions
        .as_deref()
        .unwrap_or_default();
    if restrictions.is_empty()
        || !restrictions
            .iter()
            .all(|r| r.audience.iter().any(|x| x == &sp.entity_id))
    {
        return Err(err(
            Check::Audience,
            "the assertion's Audience is not this gateway",
        ));
    }

    let subject = a
        .subject
        .as_ref()
        .ok_or_else(|| err(Check::Subject, "the assertion has no Subject"))?;
    let bearer = subject
        .subject_confirmations
        .iter()
        .flatten()
        .filter(|c| c.method.as_deref() == Some(BEARER))
        .filter_map(|c| c.subject_confirmation_data.as_ref())
        .collect::<Vec<_>>();
    let data = match bearer.as_slice() {
        [one] => *one,
        [] => return Err(err(Check::Subject, "no bearer SubjectConfirmation")),
        _ => return Err(err(Check::Subject, "several bearer SubjectConfirmations")),
    };
    if data.recipient.as_deref() != Some(sp.acs_url.as_str()) {
        return Err(err(
            Check::Recipient,
            "the SubjectConfirmation Recipient is not this gateway's ACS URL",
        ));
    }
    let confirm_until = data.not_on_or_after.ok_or_else(|| {
        err(
            Check::Expired,
            "the SubjectConfirmation has no NotOnOrAfter",
        )
    })?;
    if now - skew >= confirm_until {
        return Err(err(Check::Expired, "the SubjectConfirmation has expired"));
    }
    if let Some(nb) = data.not_before {
        if now + skew < nb {
            return Err(err(
                Check::NotYetValid,
                "the SubjectConfirmation is not yet valid",
            ));
        }
    }
    check_in_response_to(data.in_response_to.as_deref(), expected)?;
    Ok(not_on_or_after.max(confirm_until) + skew)
}

/// The single value of the attribute `name`; refuses absent, empty, repeated or multi-valued.
fn single_attribute(a: &Assertion, name: &str) -> Result<String, SamlError> {
    let mut found: Vec<&str> = Vec::new();
    for statement in a.attribute_statements.iter().flatten() {
        for attr in statement
            .attributes
            .iter()
            .filter(|x| x.name.as_deref() == Some(name))
        {
            for v in &attr.values {
                found.push(v.value.as_deref().unwrap_or(""));
            }
            if attr.values.is_empty() {
                found.push("");
            }
        }
    }
    match found.as_slice() {
        [one] if !one.trim().is_empty() && one.len() <= 256 => Ok(one.trim().to_string()),
        [] => Err(err(
            Check::Attributes,
            format!("the assertion has no {name} attribute"),
        )),
        [_] => Err(err(
            Check::Attributes,
            format!("the {name} attribute is empty or too long"),
        )),
        _ => Err(err(
            Check::Attributes,
            format!("the {name} attribute has several values"),
        )),
    }
}
