//! A provider's front-channel logout goes on to the ENT and comes back, over a real socket:
//! the ENT's metadata publishes a Redirect SingleLogoutService, the provider a Redirect
//! `slo_redirect_url`. The provider's LogoutRequest (xmlsec1-signed) ends the gateway session
//! and sends the browser to the ENT with the gateway's LogoutRequest (its query signature
//! checked here with openssl and the gateway's published certificate), naming the NameID,
//! Format and SessionIndex of the ENT's assertion; the ENT's LogoutResponse (xmlsec1-signed)
//! is verified, and only then does the provider get its signed LogoutResponse. Every hostile
//! answer from the "ENT" is refused, and the provider hears nothing from it.

use passerelle::clock::Clock;

use crate::support::ent_idp::{ent_logout_response, provider_logout_request};
use crate::support::gateway::*;
use crate::support::saml_browser::*;

const SP_SLO: &str = "https://resource.example.test/saml/slo";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const RESPONDER: &str = "urn:oasis:names:tc:SAML:2.0:status:Responder";

struct Onward {
    s: Saml,
    /// The ENT's login: its NameID and SessionIndex.
    ent_name_id: String,
    provider_request: String,
    /// Where the gateway sent the browser.
    to_ent: String,
}

/// The teacher logged in at the ENT and opened the provider's resource; the provider logs the
/// teacher out at the gateway's POST endpoint.
async fn provider_logs_out() -> Onward {
    let s = Saml::new(vec![
        (
            "PASSERELLE__ENTS__B0__SAML__IDP_METADATA".into(),
            "ent-idp-slo.xml".into(),
        ),
        (
            "PASSERELLE__PROVIDERS__TEST-EDITEUR__SAML__SLO_REDIRECT_URL".into(),
            SP_SLO.into(),
        ),
    ])
    .await;
    let (_, to_ent) = s.click().await;
    let ((status, _), login) = s.ent_answers_as(&to_ent, TEACHER).await;
    assert_eq!(status, 302);
    let assertion = s.provider_assertion("_sp-first").await.unwrap();
    let r = provider_logout_request(&assertion, &s.base, s.gw.clock.now());
    let xml = r.xml(Some((&s.gw.sp.key, &s.gw.sp.cert)));
    let resp = post_form(&s, "/idp/profile/SAML2/POST/SLO", "SAMLRequest", &xml).await;
    assert_eq!(resp.status(), 303, "the browser goes on to the ENT");
    let to_ent = resp.headers()["location"].to_str().unwrap().to_string();
    Onward {
        s,
        ent_name_id: login.name_id,
        provider_request: r.id,
        to_ent,
    }
}

pub(crate) async fn post_form(s: &Saml, path: &str, param: &str, xml: &str) -> reqwest::Response {
    use base64::Engine;
    s.browser
        .post(format!("{}{path}", s.base))
        .form(&[(param, base64::engine::general_purpose::STANDARD.encode(xml))])
        .send()
        .await
        .unwrap()
}

/// Checks the Redirect binding's signature of `url` with the gateway's certificate, by
/// openssl (SAML bindings §3.4.4.1: the raw query parameters, in order, without Signature).
pub(crate) fn query_signed_by_gateway(s: &Saml, url: &str) {
    use base64::Engine;
    let query = url.split_once('?').unwrap().1;
    let mut signed = Vec::new();
    let mut signature = None;
    for part in query.split('&') {
        match part.split_once('=') {
            Some(("Signature", v)) => {
                signature = Some(urlencoding::decode(v).unwrap().into_owned())
            }
            _ => signed.push(part),
        }
    }
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature.expect("the query is signed"))
        .unwrap();
    let cert = openssl::x509::X509::from_pem(s.gw.gateway.cert_pem().as_bytes()).unwrap();
    let key = cert.public_key().unwrap();
    let mut v = openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
    v.update(signed.join("&").as_bytes()).unwrap();
    assert!(
        v.verify(&signature).unwrap(),
        "the query signature verifies"
    );
}

pub(crate) fn attr(xml: &str, name: &str) -> String {
    xml.split(&format!(" {name}=\""))
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no {name} in {xml}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_logout_goes_on_to_the_ent_and_the_provider_is_answered_after_it() {
    let o = provider_logs_out().await;
    let s = &o.s;
    assert_eq!(s.ended(), vec!["provider_logout"]);
    assert!(!s.session_alive().await);

    // The gateway's LogoutRequest to the ENT: signed, naming the ENT's own login.
    assert!(
        o.to_ent.starts_with(&format!("{ENT_SLO}?SAMLRequest=")),
        "{}",
        o.to_ent
    );
    query_signed_by_gateway(s, &o.to_ent);
    let request = redirect_message(&o.to_ent);
    assert_eq!(attr(&request, "Destination"), ENT_SLO);
    assert!(
        request.contains(&format!(">{}</saml:NameID>", o.ent_name_id)),
        "{request}"
    );
    assert!(
        request.contains(r#"Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient""#),
        "{request}"
    );
    assert!(
        request.contains("<samlp:SessionIndex>_s1</samlp:SessionIndex>"),
        "{request}"
    );
    assert!(request.contains(&format!(
        "<saml:Issuer>{}</saml:Issuer>",
        s.gw.state.sp.entity_id
    )));
    let asked = attr(&request, "ID");

    // Hostile answers: refused, and the provider is answered by none of them.
    let slo = format!("{}/saml/slo", s.base);
    let now = s.gw.clock.now();
    let ent = Some((s.gw.ent.key.as_path(), s.gw.ent.cert.as_path()));
    let attacker = Some((s.gw.attacker.key.as_path(), s.gw.attacker.cert.as_path()));
    for (case, xml, check) in [
        (
            "unsigned",
            ent_logout_response(&asked, &slo, now, SUCCESS, None),
            "saml.unsigned",
        ),
        (
            "another key",
            ent_logout_response(&asked, &slo, now, SUCCESS, attacker),
            "saml.signature",
        ),
        (
            "another Destination",
            ent_logout_response(&asked, "https://evil.test/slo", now, SUCCESS, ent),
            "saml.destination",
        ),
        (
            "expired",
            ent_logout_response(
                &asked,
                &slo,
                now - chrono::Duration::minutes(10),
                SUCCESS,
                ent,
            ),
            "saml.expired",
        ),
        (
            "a request never made",
            ent_logout_response("_never-asked", &slo, now, SUCCESS, ent),
            "saml.in_response_to",
        ),
    ] {
        let resp = post_form(s, "/saml/slo", "SAMLResponse", &xml).await;
        assert_eq!(resp.status(), 403, "{case}");
        assert!(resp.headers().get("location").is_none(), "{case}");
        let page = resp.text().await.unwrap();
        assert!(page.contains(check), "{case}: {page}");
    }

    // The ENT's answer: the provider gets its signed LogoutResponse, Success.
    let answer = ent_logout_response(&asked, &slo, now, SUCCESS, ent);
    let resp = post_form(s, "/saml/slo", "SAMLResponse", &answer).await;
    assert_eq!(resp.status(), 303);
    let to_provider = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(
        to_provider.starts_with(&format!("{SP_SLO}?SAMLResponse=")),
        "{to_provider}"
    );
    query_signed_by_gateway(s, &to_provider);
    let back = redirect_message(&to_provider);
    assert_eq!(attr(&back, "InResponseTo"), o.provider_request);
    assert_eq!(attr(&back, "Destination"), SP_SLO);
    assert!(
        back.contains(&format!(r#"<samlp:StatusCode Value="{SUCCESS}"/>"#)),
        "{back}"
    );

    // The same answer again: the provider was answered already.
    let resp = post_form(s, "/saml/slo", "SAMLResponse", &answer).await;
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.unwrap().contains("saml.in_response_to"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ent_that_keeps_its_user_makes_the_providers_logout_partial() {
    let o = provider_logs_out().await;
    let s = &o.s;
    let asked = attr(&redirect_message(&o.to_ent), "ID");
    let ent = Some((s.gw.ent.key.as_path(), s.gw.ent.cert.as_path()));
    let slo = format!("{}/saml/slo", s.base);
    let answer = ent_logout_response(&asked, &slo, s.gw.clock.now(), RESPONDER, ent);
    let resp = post_form(s, "/saml/slo", "SAMLResponse", &answer).await;
    assert_eq!(resp.status(), 303);
    let back = redirect_message(resp.headers()["location"].to_str().unwrap());
    assert!(
        back.contains(&format!(r#"<samlp:StatusCode Value="{SUCCESS}"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:PartialLogout"/>"#)),
        "{back}"
    );
    // The gateway's own session ended all the same.
    assert_eq!(s.ended(), vec!["provider_logout"]);
}
