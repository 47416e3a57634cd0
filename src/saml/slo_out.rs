//! The gateway's own single logout towards SAML providers, over the SOAP back channel (SAML
//! bindings §3.2): when a session ends, each provider that got an assertion in it and publishes
//! a SOAP `SingleLogoutService` receives a `LogoutRequest` signed by the gateway's IdP key,
//! naming the NameID (persistent, the IDO) and the `SessionIndex` of that assertion; its
//! `LogoutResponse` says whether it logged the user out.

use chrono::{DateTime, Utc};
use quick_xml::events::Event;
use quick_xml::Reader;

use super::keys::SigningKey;
use super::slo::{MAX_AGE, STATUS_SUCCESS};
use super::xml::{escape, instant, new_id};
use super::SamlError;

/// What the gateway told a provider in its assertion, that its logout names.
#[derive(Debug, Clone, Copy)]
pub struct Named<'a> {
    /// The gateway's IdP entityID (the assertion's Issuer and NameQualifier).
    pub issuer: &'a str,
    /// The provider's entityID (the NameID's SPNameQualifier).
    pub sp: &'a str,
    /// The NameID: the IDO.
    pub name_id: &'a str,
    pub session_index: &'a str,
}

/// The `LogoutRequest` for `named` to `destination`, with `sig` after its Issuer.
fn request_xml(
    named: Named<'_>,
    destination: &str,
    id: &str,
    sig: &str,
    now: DateTime<Utc>,
) -> String {
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}" Destination="{dest}" NotOnOrAfter="{until}" Reason="urn:oasis:names:tc:SAML:2.0:logout:user"><saml:Issuer>{issuer}</saml:Issuer>{sig}<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" NameQualifier="{issuer}" SPNameQualifier="{sp}">{name_id}</saml:NameID><samlp:SessionIndex>{index}</samlp:SessionIndex></samlp:LogoutRequest>"#,
        now = instant(now),
        until = instant(now + MAX_AGE),
        dest = escape(destination),
        issuer = escape(named.issuer),
        sp = escape(named.sp),
        name_id = escape(named.name_id),
        index = escape(named.session_index),
    )
}

/// A `LogoutRequest` for `named`, to `destination`, signed (enveloped), in a SOAP envelope.
pub fn soap_request(
    named: Named<'_>,
    destination: &str,
    key: &SigningKey,
    now: DateTime<Utc>,
) -> Result<String, SamlError> {
    let id = new_id();
    let sig = super::signing::signature_template(&id, key);
    let signed = super::signing::sign(&request_xml(named, destination, &id, &sig, now), key)?;
    Ok(super::slo::soap_envelope(&signed))
}

/// A `LogoutRequest` for `named` over HTTP-Redirect (the front channel): its ID, and the URL
/// at `destination` whose query the gateway's key signs.
pub fn redirect_url(
    named: Named<'_>,
    destination: &str,
    key: &SigningKey,
    now: DateTime<Utc>,
) -> Result<(String, String), SamlError> {
    let id = new_id();
    let xml = request_xml(named, destination, &id, "", now);
    let url =
        super::binding::signed_redirect_url(destination, "SAMLRequest", &xml, None, &key.key)?;
    Ok((id, url))
}

/// Whether the SOAP answer `body` carries a `LogoutResponse` whose top-level status is
/// `Success` (anything else, a fault or an unreadable answer, is a failure to retry).
pub fn accepted(body: &str, max_bytes: usize) -> bool {
    if super::guard::check_xml(body.as_bytes(), max_bytes).is_err() {
        return false;
    }
    let mut reader = Reader::from_str(body);
    let mut in_response = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                let name = e.local_name();
                if name.as_ref() == b"LogoutResponse" {
                    in_response = true;
                } else if in_response && name.as_ref() == b"StatusCode" {
                    // The first StatusCode is the top-level one.
                    return e
                        .try_get_attribute("Value")
                        .ok()
                        .flatten()
                        .is_some_and(|v| v.value.as_ref() == STATUS_SUCCESS.as_bytes());
                }
            }
            Ok(Event::Eof) | Err(_) => return false,
            Ok(_) => {}
        }
    }
}

/// POSTs the SOAP `envelope` to `url`; `Ok` when the provider answers 200 with a successful
/// `LogoutResponse` (read up to `max_bytes`).
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    envelope: String,
    max_bytes: usize,
) -> Result<(), String> {
    let resp = http
        .post(url)
        .header("content-type", "text/xml; charset=utf-8")
        .header(
            "soapaction",
            "http://www.oasis-open.org/committees/security",
        )
        .body(envelope)
        .send()
        .await
        .map_err(|e| format!("not reached: {e}"))?;
    let status = resp.status().as_u16();
    let body = crate::outbound::read_capped(resp, max_bytes)
        .await
        .map_err(|e| format!("answer not read: {e}"))?;
    if status == 200 && accepted(&String::from_utf8_lossy(&body), max_bytes) {
        Ok(())
    } else {
        Err(format!(
            "answered {status} without a successful LogoutResponse"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><soap11:Envelope xmlns:soap11="http://schemas.xmlsoap.org/soap/envelope/"><soap11:Body><samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r" Version="2.0" IssueInstant="2026-12-07T10:00:00Z" InResponseTo="_q"><samlp:Status><samlp:StatusCode Value="{status}"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:StatusCode></samlp:Status></samlp:LogoutResponse></soap11:Body></soap11:Envelope>"#
        )
    }

    #[test]
    fn only_a_top_level_success_is_accepted() {
        assert!(accepted(&response(STATUS_SUCCESS), 65536));
        assert!(!accepted(
            &response("urn:oasis:names:tc:SAML:2.0:status:Responder"),
            65536
        ));
        assert!(!accepted("<soap11:Fault/>", 65536));
        assert!(!accepted("not xml", 65536));
        let with_dtd = format!("<!DOCTYPE x []>{}", response(STATUS_SUCCESS));
        assert!(!accepted(&with_dtd, 65536), "the XML boundary holds");
        assert!(!accepted(&response(STATUS_SUCCESS), 64), "and its size");
    }
}
