//! The gateway's own LogoutRequest to an ENT, over the front channel, and the ENT's
//! LogoutResponse to it. When a provider logs its user out at the gateway and the user is at
//! the browser, the gateway (as the ENT's SP) asks the ENT to end its login too, naming the
//! NameID (with its `Format`) and the `SessionIndex` of the ENT's assertion; the ENT's answer
//! is verified as strictly as any message from it: signed by the ENT's key (the Redirect
//! query's signature, or an enveloped one over POST), `Destination` this gateway's logout URL,
//! `Issuer` the ENT, issued within the last few minutes, and `InResponseTo` naming a request the
//! caller kept (one-time, in the store). Providers' LogoutResponses to the gateway's
//! front-channel LogoutRequests (`http::slo_front`) are verified the same way, with their keys.

use chrono::{DateTime, Duration, Utc};
use quick_xml::events::Event;
use quick_xml::Reader;

use super::keys::SigningKey;
use super::slo::{err, Carried, Peer, MAX_AGE, STATUS_SUCCESS};
use super::xml::{escape, instant, new_id};
use super::{Check, SamlError};

/// The login a LogoutRequest to an ENT names, as the ENT's assertion named it.
#[derive(Debug, Clone, Copy)]
pub struct EntLogin<'a> {
    /// The gateway's SP entityID (the request's Issuer).
    pub sp: &'a str,
    pub name_id: &'a str,
    pub format: Option<&'a str>,
    pub session_index: Option<&'a str>,
}

/// A LogoutRequest to `destination`; answers its ID and XML. Unsigned for the Redirect binding
/// (which signs the query); signed enveloped with `key` for the POST binding.
pub fn request(
    login: EntLogin<'_>,
    destination: &str,
    key: Option<&SigningKey>,
    now: DateTime<Utc>,
) -> Result<(String, String), SamlError> {
    let id = new_id();
    let sig = key
        .map(|k| super::signing::signature_template(&id, k))
        .unwrap_or_default();
    let format = login
        .format
        .map(|f| format!(r#" Format="{}""#, escape(f)))
        .unwrap_or_default();
    let index = login
        .session_index
        .map(|i| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", escape(i)))
        .unwrap_or_default();
    let xml = format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}" Destination="{dest}" NotOnOrAfter="{until}" Reason="urn:oasis:names:tc:SAML:2.0:logout:user"><saml:Issuer>{sp}</saml:Issuer>{sig}<saml:NameID{format} SPNameQualifier="{sp}">{name_id}</saml:NameID>{index}</samlp:LogoutRequest>"#,
        now = instant(now),
        until = instant(now + MAX_AGE),
        dest = escape(destination),
        sp = escape(login.sp),
        name_id = escape(login.name_id),
    );
    match key {
        Some(k) => Ok((id, super::signing::sign(&xml, k)?)),
        None => Ok((id, xml)),
    }
}

/// What a verified LogoutResponse says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// The ID of the gateway's request it answers.
    pub in_response_to: String,
    /// Whether the ENT logged the user out (top-level status `Success`).
    pub success: bool,
}

/// The attributes and children of a LogoutResponse that the checks read.
#[derive(Debug, Default)]
struct Read {
    version: Option<String>,
    issue_instant: Option<String>,
    destination: Option<String>,
    in_response_to: Option<String>,
    issuer: Option<String>,
    status: Option<String>,
}

/// Verifies the LogoutResponse `carried` (Redirect or POST) from `peer` (an ENT, or a
/// provider), sent to `destination` (the gateway's front-channel logout URL on that side), at
/// `now`.
pub fn verify_response(
    carried: &Carried,
    destination: &str,
    peer: &Peer<'_>,
    skew: Duration,
    max_bytes: usize,
    now: DateTime<Utc>,
) -> Result<Answered, SamlError> {
    if let Carried::Soap(_) = carried {
        return Err(err(
            Check::Malformed,
            "a LogoutResponse comes back over the front channel",
        ));
    }
    let xml = super::slo::verified_xml(carried, peer, max_bytes, "LogoutResponse")?;
    let r = read(&xml)?;
    if r.version.as_deref() != Some("2.0") {
        return Err(err(
            Check::Malformed,
            "the LogoutResponse's Version is not 2.0",
        ));
    }
    if r.destination.as_deref() != Some(destination) {
        return Err(err(
            Check::Destination,
            "the LogoutResponse's Destination is not this gateway's logout URL",
        ));
    }
    if r.issuer.as_deref() != Some(peer.entity_id) {
        return Err(err(Check::Issuer, "the Issuer is not the expected peer"));
    }
    super::slo::issued_within(r.issue_instant.as_deref(), "LogoutResponse", skew, now)?;
    let in_response_to = r
        .in_response_to
        .filter(|v| !v.is_empty())
        .ok_or_else(|| err(Check::InResponseTo, "the LogoutResponse answers no request"))?;
    Ok(Answered {
        in_response_to,
        success: r.status.as_deref() == Some(STATUS_SUCCESS),
    })
}

/// Reads the (verified) LogoutResponse `xml`: its root's attributes, its Issuer and its
/// top-level StatusCode.
fn read(xml: &str) -> Result<Read, SamlError> {
    let malformed = |e: String| err(Check::Malformed, format!("not well-formed XML: {e}"));
    let local = |q: &[u8]| -> Vec<u8> {
        match q.iter().rposition(|&b| b == b':') {
            Some(i) => q[i + 1..].to_vec(),
            None => q.to_vec(),
        }
    };
    let mut reader = Reader::from_str(xml);
    let mut out = Read::default();
    let mut depth = 0usize;
    let mut in_issuer = false;
    let mut issuer = String::new();
    loop {
        let event = reader.read_event().map_err(|e| malformed(e.to_string()))?;
        let (start, empty) = match &event {
            Event::Start(s) => (Some(s.clone()), false),
            Event::Empty(s) => (Some(s.clone()), true),
            _ => (None, false),
        };
        if let Some(s) = start {
            let name = local(s.name().as_ref());
            if depth == 0 {
                if name != b"LogoutResponse" || empty {
                    return Err(err(Check::Malformed, "the message is not a LogoutResponse"));
                }
                for a in s.attributes() {
                    let a = a.map_err(|e| malformed(e.to_string()))?;
                    let v = a
                        .unescape_value()
                        .map_err(|e| malformed(e.to_string()))?
                        .into_owned();
                    match a.key.as_ref() {
                        b"Version" => out.version = Some(v),
                        b"IssueInstant" => out.issue_instant = Some(v),
                        b"Destination" => out.destination = Some(v),
                        b"InResponseTo" => out.in_response_to = Some(v),
                        _ => {}
                    }
                }
            } else if depth == 1 && name == b"Issuer" && !empty {
                in_issuer = true;
            } else if depth == 2 && name == b"StatusCode" && out.status.is_none() {
                // The first StatusCode under Status is the top-level one.
                out.status = s
                    .try_get_attribute("Value")
                    .ok()
                    .flatten()
                    .map(|v| String::from_utf8_lossy(&v.value).into_owned());
            }
            if !empty {
                depth += 1;
            }
            continue;
        }
        match event {
            Event::Text(t) if in_issuer => {
                issuer.push_str(&t.unescape().map_err(|e| malformed(e.to_string()))?);
            }
            Event::End(_) => {
                if in_issuer {
                    in_issuer = false;
                    if out.issuer.replace(issuer.trim().to_string()).is_some() {
                        return Err(err(Check::Malformed, "the LogoutResponse has two Issuers"));
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

#[cfg(test)]
#[path = "slo_back_tests.rs"]
mod tests;
