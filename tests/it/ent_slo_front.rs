//! An ENT's front-channel logout reaches, in the browser, the providers that take logouts only
//! there (a Redirect SingleLogoutService, no SOAP one), over a real socket: the gateway's page
//! loads each one's LogoutRequest (its query signed by the gateway, checked here with openssl)
//! in a hidden iframe, then goes on to the ENT's LogoutResponse; the provider's LogoutResponse
//! (xmlsec1-signed) comes back to the IdP's logout endpoint, is verified, taken once and traced.

use passerelle::clock::Clock;
use passerelle::trace::TraceEvent;

use crate::provider_slo_onward::{attr, post_form, query_signed_by_gateway};
use crate::support::ent_idp::{logout_response, EntLogoutRequest};
use crate::support::gateway::*;
use crate::support::saml_browser::*;

pub(crate) const SP_SLO: &str = "https://resource.example.test/saml/slo";
pub(crate) const RP_FRONT: &str = "https://other.example.test/deconnexion?from=gw";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// The `src` of each iframe of `page`, unescaped.
pub(crate) fn frames(page: &str) -> Vec<String> {
    page.split("<iframe src=\"")
        .skip(1)
        .filter_map(|r| r.split('"').next())
        .map(|u| u.replace("&amp;", "&"))
        .collect()
}

/// The gateway with an ENT that takes logouts in the browser, the SAML provider taking them
/// only there (`SP_SLO`), and the OIDC client a front-channel logout URI (`RP_FRONT`).
pub(crate) async fn with_browser_only_parties() -> Saml {
    let s = Saml::new(vec![
        (
            "PASSERELLE__ENTS__B0__SAML__IDP_METADATA".into(),
            "ent-idp-slo.xml".into(),
        ),
        (
            "PASSERELLE__PROVIDERS__TEST-EDITEUR__SAML__SLO_REDIRECT_URL".into(),
            SP_SLO.into(),
        ),
        (
            "PASSERELLE__PROVIDERS__OTHER-EDITEUR__OIDC__CLIENTS__0__FRONTCHANNEL_LOGOUT_URI"
                .into(),
            RP_FRONT.into(),
        ),
    ])
    .await;
    crate::support::oidc::subscribe(&s.gw).await;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ents_logout_tells_front_channel_providers_in_the_browser_then_answers_the_ent() {
    let s = with_browser_only_parties().await;
    let (_, to_ent) = s.click().await;
    let ((status, _), login) = s.ent_answers_as(&to_ent, TEACHER).await;
    assert_eq!(status, 302);
    let assertion = s.provider_assertion("_sp-first").await.unwrap();
    let provider_index = attr(&assertion, "SessionIndex");
    // The same session gives an OIDC client a code.
    let params = crate::support::oidc::query(&crate::support::oidc::web_params());
    let resp = s.get(&format!("/oidc/authorize?{params}")).await;
    assert_eq!(resp.status(), 302);
    assert!(resp.headers()["location"]
        .to_str()
        .unwrap()
        .contains("code="));

    // The ENT's logout, in the browser.
    let r = EntLogoutRequest {
        id: format!("_elq-{}", uuid::Uuid::new_v4().simple()),
        issuer: ENT_ENTITY.into(),
        destination: Some(format!("{}/saml/slo", s.base)),
        issued: s.gw.clock.now(),
        name_id: login.name_id.clone(),
        session_indexes: vec![login.session_index.clone()],
    };
    let xml = r.xml(Some((&s.gw.ent.key, &s.gw.ent.cert)));
    let resp = post_form(&s, "/saml/slo", "SAMLRequest", &xml).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let page = resp.text().await.unwrap();
    assert!(page.contains("Déconnexion en cours"), "{page}");
    assert_eq!(s.ended(), vec!["ent_logout"]);

    // Two iframes: the OIDC client's front-channel logout URI with the gateway's issuer and
    // the sid its ID token carried, and the SAML provider's LogoutRequest.
    let mut urls = frames(&page);
    assert_eq!(urls.len(), 2, "{page}");
    let rp = urls.remove(urls.iter().position(|u| u.starts_with(RP_FRONT)).unwrap());
    let rp = url::Url::parse(&rp).unwrap();
    let q: std::collections::HashMap<_, _> = rp.query_pairs().into_owned().collect();
    assert_eq!(q["from"], "gw");
    assert_eq!(q["iss"], s.gw.state.config.oidc_issuer());
    assert_eq!(
        q["sid"], provider_index,
        "the session's public handle, as in its ID token"
    );
    assert!(
        urls[0].starts_with(&format!("{SP_SLO}?SAMLRequest=")),
        "{}",
        urls[0]
    );
    query_signed_by_gateway(&s, &urls[0]);
    let request = redirect_message(&urls[0]);
    assert_eq!(attr(&request, "Destination"), SP_SLO);
    assert!(
        request.contains(&format!(
            "<samlp:SessionIndex>{provider_index}</samlp:SessionIndex>"
        )),
        "{request}"
    );
    assert!(request.contains(&format!(
        "<saml:Issuer>{}</saml:Issuer>",
        s.gw.state.idp.entity_id
    )));
    let asked = attr(&request, "ID");
    // Then the ENT's answer: a link the page follows by itself, signed, Success.
    let next = page
        .split("id=\"suite\" class=\"button\" href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(|u| u.replace("&amp;", "&"))
        .unwrap_or_else(|| panic!("no way on to the ENT: {page}"));
    assert!(
        next.starts_with(&format!("{ENT_SLO}?SAMLResponse=")),
        "{next}"
    );
    query_signed_by_gateway(&s, &next);
    let to_ent = redirect_message(&next);
    assert_eq!(attr(&to_ent, "InResponseTo"), r.id);
    assert!(to_ent.contains(SUCCESS));

    // The provider's answer, in its iframe: hostile ones refused, the right one traced once.
    let endpoint = format!("{}/idp/profile/SAML2/POST/SLO", s.base);
    let now = s.gw.clock.now();
    let sp = Some((s.gw.sp.key.as_path(), s.gw.sp.cert.as_path()));
    let attacker = Some((s.gw.attacker.key.as_path(), s.gw.attacker.cert.as_path()));
    for (case, xml, check) in [
        (
            "another key",
            logout_response(SP_ENTITY, &asked, &endpoint, now, SUCCESS, attacker),
            "saml.signature",
        ),
        (
            "unsigned",
            logout_response(SP_ENTITY, &asked, &endpoint, now, SUCCESS, None),
            "saml.unsigned",
        ),
        (
            "another endpoint",
            logout_response(
                SP_ENTITY,
                &asked,
                &format!("{}/saml/slo", s.base),
                now,
                SUCCESS,
                sp,
            ),
            "saml.destination",
        ),
        (
            "never asked",
            logout_response(SP_ENTITY, "_never", &endpoint, now, SUCCESS, sp),
            "saml.in_response_to",
        ),
    ] {
        let resp = post_form(&s, "/idp/profile/SAML2/POST/SLO", "SAMLResponse", &xml).await;
        assert_eq!(resp.status(), 403, "{case}");
        let body = resp.text().await.unwrap();
        assert!(body.contains(check), "{case}: {body}");
    }
    let sent = |s: &Saml| {
        s.gw.events()
            .into_iter()
            .filter(|e| {
                matches!(
                    e,
                    TraceEvent::LogoutSent {
                        protocol: "saml",
                        delivered: true,
                        ..
                    }
                )
            })
            .count()
    };
    assert_eq!(sent(&s), 0);
    let answer = logout_response(SP_ENTITY, &asked, &endpoint, now, SUCCESS, sp);
    let resp = post_form(&s, "/idp/profile/SAML2/POST/SLO", "SAMLResponse", &answer).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-security-policy"],
        "frame-ancestors 'self'"
    );
    assert!(resp.headers().get("x-frame-options").is_none());
    assert_eq!(sent(&s), 1);
    let resp = post_form(&s, "/idp/profile/SAML2/POST/SLO", "SAMLResponse", &answer).await;
    assert_eq!(resp.status(), 403, "taken once");
    assert_eq!(sent(&s), 1);
}
