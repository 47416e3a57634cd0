//! Single logout, on both sides: a peer's `LogoutRequest` in (an ENT's to the gateway's SP, a
//! provider's to the gateway's IdP), over HTTP-Redirect,
//! HTTP-POST or SOAP (SAML bindings §3.4, §3.5, §3.2), verified as strictly as a Response (the
//! signature by the ENT's configured certificate, allowed algorithms, Issuer, Destination,
//! IssueInstant and NotOnOrAfter within the clock skew), and the gateway's signed
//! `LogoutResponse` out. Every value returned is read from the verified message. Replay (the
//! request's ID) is the caller's, through the store, until [`VerifiedLogout::remember_until`].

use chrono::{DateTime, Duration, Utc};
use quick_xml::events::Event;
use quick_xml::Reader;

use samael::crypto::CertificateDer;

use super::algorithms::AlgorithmPolicy;
use super::binding::{self, RedirectQuery};
use super::guard;
use super::keys::SigningKey;
use super::sp::EntIdp;
use super::xml::{escape, instant, new_id};
use super::{Check, SamlError};

/// A LogoutRequest older than this (plus the clock skew) is refused, whatever its NotOnOrAfter.
pub const MAX_AGE: Duration = Duration::minutes(5);

pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const STATUS_REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
pub const STATUS_UNKNOWN_PRINCIPAL: &str = "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal";
/// The second-level status of a logout that ended the session but not everywhere (SAML core
/// §3.7.3.2).
pub const STATUS_PARTIAL_LOGOUT: &str = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout";

/// A LogoutRequest as received, with its binding.
#[derive(Debug, Clone)]
pub enum Carried {
    /// HTTP-Redirect: the query's signature covers the deflated message.
    Redirect(RedirectQuery),
    /// HTTP-POST: the decoded XML, with an enveloped signature.
    Post(String),
    /// SOAP: the envelope's XML, the LogoutRequest in its Body with an enveloped signature.
    Soap(String),
}

/// Where the gateway receives LogoutRequests, per binding (compared with `Destination`).
#[derive(Debug, Clone)]
pub struct SloUrls {
    pub redirect: String,
    pub post: String,
    pub soap: String,
}

/// The peer a LogoutRequest must come from: its entityID and the keys it signs with.
#[derive(Debug, Clone, Copy)]
pub struct Peer<'a> {
    pub entity_id: &'a str,
    pub certs: &'a [CertificateDer],
    pub algorithms: &'a AlgorithmPolicy,
}

impl<'a> Peer<'a> {
    /// An ENT's identity provider.
    pub fn ent(idp: &'a EntIdp) -> Self {
        Self {
            entity_id: &idp.peer.entity_id,
            certs: &idp.peer.signing_certs,
            algorithms: &idp.algorithms,
        }
    }

    /// A provider's service provider.
    pub fn provider(sp: &'a super::idp::ProviderSp) -> Self {
        Self {
            entity_id: &sp.entity_id,
            certs: &sp.signing_certs,
            algorithms: &sp.algorithms,
        }
    }
}

/// What a verified LogoutRequest asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLogout {
    pub id: String,
    /// The NameID of the ENT's assertion, as the ENT sent it.
    pub name_id: String,
    /// The ENT's `SessionIndex` values; none: every session of the NameID.
    pub session_indexes: Vec<String>,
    /// Until when the request's ID must be remembered against replay.
    pub remember_until: DateTime<Utc>,
}

pub(super) fn err(check: Check, detail: impl Into<std::borrow::Cow<'static, str>>) -> SamlError {
    SamlError::new(check, detail)
}

/// Verifies `carried` from the ENT `idp` at `now`.
pub fn verify_logout_request(
    carried: &Carried,
    urls: &SloUrls,
    peer: &Peer<'_>,
    skew: Duration,
    max_bytes: usize,
    now: DateTime<Utc>,
) -> Result<VerifiedLogout, SamlError> {
    let xml = verified_xml(carried, peer, max_bytes, "LogoutRequest")?;
    let destination = match carried {
        Carried::Redirect(_) => Some(urls.redirect.as_str()),
        Carried::Post(_) => Some(urls.post.as_str()),
        Carried::Soap(_) => None,
    };
    let request = read(&xml)?;
    check(&request, destination, &urls.soap, peer.entity_id, skew, now)
}

/// The XML `carried` brought, once its signature verifies with one of `peer`'s keys: the
/// Redirect query's signature, or an enveloped one over POST and SOAP (only the signed part is
/// read). `what` names the message in refusals.
pub(super) fn verified_xml(
    carried: &Carried,
    peer: &Peer<'_>,
    max_bytes: usize,
    what: &str,
) -> Result<String, SamlError> {
    if peer.certs.is_empty() {
        return Err(err(
            Check::Config,
            "no signing certificate is configured for this peer",
        ));
    }
    match carried {
        Carried::Redirect(q) => {
            let xml = binding::decode_redirect(&q.message, max_bytes)?;
            guard::check_xml(xml.as_bytes(), max_bytes)?;
            q.verify(peer.certs, peer.algorithms)?;
            Ok(xml)
        }
        Carried::Post(xml) | Carried::Soap(xml) => {
            guard::check_xml(xml.as_bytes(), max_bytes)?;
            let summary = guard::check_signatures(xml, peer.algorithms)?;
            if summary.signatures == 0 {
                return Err(err(Check::Unsigned, format!("the {what} is not signed")));
            }
            super::verified_part(xml, peer.certs, peer.algorithms)
        }
    }
}

/// The text of the first `Issuer` element of an unverified message (a LogoutRequest, alone or
/// in a SOAP envelope): only good for choosing whose keys verify it.
pub fn peek_issuer(xml: &str, max_bytes: usize) -> Result<String, SamlError> {
    guard::check_xml(xml.as_bytes(), max_bytes)?;
    let mut reader = Reader::from_str(xml);
    let mut inside = false;
    let mut text = String::new();
    loop {
        match reader
            .read_event()
            .map_err(|e| err(Check::Malformed, format!("not well-formed XML: {e}")))?
        {
            Event::Start(s) if local(s.name().as_ref()) == b"Issuer" => inside = true,
            Event::Text(t) if inside => text.push_str(
                &t.unescape()
                    .map_err(|e| err(Check::Malformed, format!("not well-formed XML: {e}")))?,
            ),
            Event::End(_) if inside => break,
            Event::Eof => break,
            _ => {}
        }
    }
    let issuer = text.trim();
    if issuer.is_empty() {
        return Err(err(Check::Issuer, "the LogoutRequest has no Issuer"));
    }
    Ok(issuer.to_string())
}

/// The attributes and children of a LogoutRequest that the checks read.
#[derive(Debug, Default)]
struct Read {
    id: Option<String>,
    version: Option<String>,
    issue_instant: Option<String>,
    destination: Option<String>,
    not_on_or_after: Option<String>,
    issuer: Option<String>,
    name_id: Option<String>,
    encrypted_id: bool,
    session_indexes: Vec<String>,
}

/// Reads the (verified) LogoutRequest `xml`: its root's attributes and its direct children.
fn read(xml: &str) -> Result<Read, SamlError> {
    let malformed = |e: String| err(Check::Malformed, format!("not well-formed XML: {e}"));
    let mut reader = Reader::from_str(xml);
    let mut out = Read::default();
    let mut depth = 0usize;
    let mut child: Option<Vec<u8>> = None;
    let mut text = String::new();
    loop {
        match reader.read_event().map_err(|e| malformed(e.to_string()))? {
            Event::Empty(_) if depth == 0 => {
                return Err(err(Check::Malformed, "the LogoutRequest has no content"));
            }
            Event::Start(s) if depth == 0 => {
                if local(s.name().as_ref()) != b"LogoutRequest" {
                    return Err(err(Check::Malformed, "the message is not a LogoutRequest"));
                }
                for a in s.attributes() {
                    let a = a.map_err(|e| malformed(e.to_string()))?;
                    let v = a
                        .unescape_value()
                        .map_err(|e| malformed(e.to_string()))?
                        .into_owned();
                    match a.key.as_ref() {
                        b"ID" => out.id = Some(v),
                        b"Version" => out.version = Some(v),
                        b"IssueInstant" => out.issue_instant = Some(v),
                        b"Destination" => out.destination = Some(v),
                        b"NotOnOrAfter" => out.not_on_or_after = Some(v),
                        _ => {}
                    }
                }
                depth = 1;
            }
            Event::Start(s) => {
                depth += 1;
                if depth == 2 {
                    child = Some(local(s.name().as_ref()).to_vec());
                    text.clear();
                }
            }
            Event::Empty(s) if depth == 1 && local(s.name().as_ref()) == b"EncryptedID" => {
                out.encrypted_id = true;
            }
            Event::Text(t) if depth == 2 => {
                text.push_str(&t.unescape().map_err(|e| malformed(e.to_string()))?);
            }
            Event::End(_) => {
                if depth == 2 {
                    let value = text.trim().to_string();
                    match child.take().as_deref() {
                        Some(b"Issuer") => set_once(&mut out.issuer, value, "Issuer")?,
                        Some(b"NameID") => set_once(&mut out.name_id, value, "NameID")?,
                        Some(b"EncryptedID") => out.encrypted_id = true,
                        Some(b"SessionIndex") => out.session_indexes.push(value),
                        _ => {}
                    }
                }
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    break;
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

fn set_once(slot: &mut Option<String>, value: String, name: &str) -> Result<(), SamlError> {
    if slot.replace(value).is_some() {
        return Err(err(
            Check::Malformed,
            format!("the LogoutRequest has more than one {name}"),
        ));
    }
    Ok(())
}

fn local(qname: &[u8]) -> &[u8] {
    match qname.iter().rposition(|&b| b == b':') {
        Some(i) => &qname[i + 1..],
        None => qname,
    }
}

fn time(value: Option<&str>, what: &str) -> Result<Option<DateTime<Utc>>, SamlError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    err(
                        Check::Malformed,
                        format!("{what} is not a valid xs:dateTime"),
                    )
                })
        })
        .transpose()
}

/// A logout message's `IssueInstant`, which must be there, not in the future and at most
/// [`MAX_AGE`] old (both within `skew`). `what` names the message in refusals.
pub(super) fn issued_within(
    issue_instant: Option<&str>,
    what: &str,
    skew: Duration,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, SamlError> {
    let issued = time(issue_instant, "IssueInstant")?
        .ok_or_else(|| err(Check::Malformed, format!("the {what} has no IssueInstant")))?;
    if issued > now + skew {
        return Err(err(
            Check::NotYetValid,
            format!("the {what} is issued in the future"),
        ));
    }
    if issued + MAX_AGE + skew <= now {
        return Err(err(Check::Expired, format!("the {what} is too old")));
    }
    Ok(issued)
}

fn check(
    r: &Read,
    front_destination: Option<&str>,
    soap_url: &str,
    issuer: &str,
    skew: Duration,
    now: DateTime<Utc>,
) -> Result<VerifiedLogout, SamlError> {
    if r.version.as_deref() != Some("2.0") {
        return Err(err(
            Check::Malformed,
            "the LogoutRequest's Version is not 2.0",
        ));
    }
    let id =
        r.id.clone()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| err(Check::Malformed, "the LogoutRequest has no ID"))?;
    match (front_destination, r.destination.as_deref()) {
        // Front channel: a signed message names where it goes (SAML bindings §3.4.5.2, §3.5.5.2).
        (Some(expected), Some(d)) if d == expected => {}
        (Some(_), _) => {
            return Err(err(
                Check::Destination,
                "the LogoutRequest's Destination is not this gateway's logout URL",
            ))
        }
        (None, Some(d)) if d != soap_url => {
            return Err(err(
                Check::Destination,
                "the LogoutRequest's Destination is not this gateway's SOAP logout URL",
            ))
        }
        (None, _) => {}
    }
    if r.issuer.as_deref() != Some(issuer) {
        return Err(err(Check::Issuer, "the Issuer is not the expected peer"));
    }
    let issued = issued_within(r.issue_instant.as_deref(), "LogoutRequest", skew, now)?;
    let not_on_or_after = time(r.not_on_or_after.as_deref(), "NotOnOrAfter")?;
    if not_on_or_after.is_some_and(|t| t + skew <= now) {
        return Err(err(
            Check::Expired,
            "the LogoutRequest's NotOnOrAfter has passed",
        ));
    }
    if r.encrypted_id {
        return Err(err(
            Check::Encrypted,
            "encrypted NameIDs are not accepted from ENTs",
        ));
    }
    let name_id = r
        .name_id
        .clone()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| err(Check::Subject, "the LogoutRequest names no NameID"))?;
    let remember_until = not_on_or_after
        .unwrap_or(issued + MAX_AGE)
        .max(issued + MAX_AGE)
        + skew;
    Ok(VerifiedLogout {
        id,
        name_id,
        session_indexes: r.session_indexes.clone(),
        remember_until,
    })
}

/// What the gateway answers to a LogoutRequest.
#[derive(Debug, Clone)]
pub struct LogoutAnswer {
    /// The gateway's SP entityID.
    pub issuer: String,
    /// Where the answer goes (absent on the SOAP binding).
    pub destination: Option<String>,
    pub in_response_to: String,
    pub status: &'static str,
    /// A second-level status, such as [`STATUS_UNKNOWN_PRINCIPAL`].
    pub detail: Option<&'static str>,
}

/// The gateway's LogoutResponse, signed enveloped when `signed` (POST and SOAP; the Redirect
/// binding signs the query instead).
pub fn logout_response(
    a: &LogoutAnswer,
    key: &SigningKey,
    signed: bool,
    now: DateTime<Utc>,
) -> Result<String, SamlError> {
    let id = new_id();
    let destination = a
        .destination
        .as_deref()
        .map(|d| format!(r#" Destination="{}""#, escape(d)))
        .unwrap_or_default();
    let code = match a.detail {
        Some(d) => format!(
            r#"<samlp:StatusCode Value="{}"><samlp:StatusCode Value="{}"/></samlp:StatusCode>"#,
            escape(a.status),
            escape(d)
        ),
        None => format!(r#"<samlp:StatusCode Value="{}"/>"#, escape(a.status)),
    };
    let xml = format!(
        r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}"{destination} InResponseTo="{irt}"><saml:Issuer>{issuer}</saml:Issuer>{sig}<samlp:Status>{code}</samlp:Status></samlp:LogoutResponse>"#,
        now = instant(now),
        irt = escape(&a.in_response_to),
        issuer = escape(&a.issuer),
        sig = if signed {
            super::signing::signature_template(&id, key)
        } else {
            String::new()
        },
    );
    if signed {
        super::signing::sign(&xml, key)
    } else {
        Ok(xml)
    }
}

/// A LogoutRequest (unsigned: the Redirect binding signs the query) from `issuer` to
/// `destination` for the login `name_id` / `session_index`, issued at `now`; answers its ID and
/// XML. The demo ENT sends it to the gateway.
pub fn logout_request(
    issuer: &str,
    destination: &str,
    name_id: &str,
    session_index: Option<&str>,
    now: DateTime<Utc>,
) -> (String, String) {
    let id = new_id();
    let index = session_index
        .map(|i| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", escape(i)))
        .unwrap_or_default();
    let xml = format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}" Destination="{dest}" NotOnOrAfter="{until}"><saml:Issuer>{issuer}</saml:Issuer><saml:NameID>{name_id}</saml:NameID>{index}</samlp:LogoutRequest>"#,
        now = instant(now),
        until = instant(now + MAX_AGE),
        dest = escape(destination),
        issuer = escape(issuer),
        name_id = escape(name_id),
    );
    (id, xml)
}

/// The LogoutResponse `xml` in a SOAP 1.1 envelope (SAML bindings §3.2.3).
pub fn soap_envelope(xml: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soap11:Envelope xmlns:soap11="http://schemas.xmlsoap.org/soap/envelope/"><soap11:Body>{xml}</soap11:Body></soap11:Envelope>"#
    )
}

/// A SOAP fault, for a request the gateway cannot answer with a LogoutResponse (one that could
/// not be verified).
pub fn soap_fault(reason: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soap11:Envelope xmlns:soap11="http://schemas.xmlsoap.org/soap/envelope/"><soap11:Body><soap11:Fault><faultcode>soap11:Client</faultcode><faultstring>{}</faultstring></soap11:Fault></soap11:Body></soap11:Envelope>"#,
        escape(reason)
    )
}

/// The signed Redirect-binding URL that carries a LogoutResponse `xml` to `location`.
pub fn redirect_response_url(
    location: &str,
    xml: &str,
    relay_state: Option<&str>,
    key: &SigningKey,
) -> Result<String, SamlError> {
    binding::signed_redirect_url(location, "SAMLResponse", xml, relay_state, &key.key)
}

#[cfg(test)]
#[path = "slo_tests.rs"]
mod tests;
