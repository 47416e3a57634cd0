//! The CAS back-channel logout: when a gateway session ends, each service that got a ticket
//! in it receives a POSTed form field `logoutRequest`, a SAML 2 `LogoutRequest` whose
//! `SessionIndex` is the ticket that opened the provider's session (unsigned, as Apereo CAS
//! sends it).

use chrono::{DateTime, Utc};

use crate::saml::xml::{escape, instant, new_id};

/// The `logoutRequest` form value for the session that `ticket` opened.
pub fn request(ticket: &str, now: DateTime<Utc>) -> String {
    format!(
        "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{at}\"><saml:NameID>@NOT_USED@</saml:NameID><samlp:SessionIndex>{t}</samlp:SessionIndex></samlp:LogoutRequest>",
        id = new_id(),
        at = instant(now),
        t = escape(ticket)
    )
}

/// POSTs the `logoutRequest` for `ticket` to `url`; `Ok` on any 2xx (django-gar answers 204).
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    ticket: &str,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let resp = http
        .post(url)
        .form(&[("logoutRequest", request(ticket, now))])
        .send()
        .await
        .map_err(|e| format!("not reached: {e}"))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", resp.status().as_u16()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_session_index_is_the_ticket() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
            .unwrap()
            .to_utc();
        let r = super::request("ST-abc", now);
        assert!(r.contains("<samlp:SessionIndex>ST-abc</samlp:SessionIndex>"));
        assert!(r.contains("IssueInstant=\"2026-12-07T10:00:00Z\""));
        assert!(r.contains("<saml:NameID>@NOT_USED@</saml:NameID>"));
    }
}
