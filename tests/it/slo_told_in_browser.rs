//! However a session's logout starts (a provider's SAML logout, an OIDC client's
//! RP-initiated logout, CAS `/logout`), the session's other parties that take logouts only in
//! the browser are told in hidden iframes of the gateway's "Déconnexion en cours" page before
//! the browser goes on; the party that asked is not told back. Over a real socket, with the
//! messages signed by xmlsec1 and the gateway's query signatures checked with openssl.

use passerelle::clock::Clock;

use crate::ent_slo_front::{frames, RP_FRONT, SP_SLO};
use crate::provider_slo_onward::{attr, post_form, query_signed_by_gateway};
use crate::support::ent_idp::provider_logout_request;
use crate::support::gateway::*;
use crate::support::saml_browser::*;

const AU_REVOIR: &str = "https://other.example.test/au-revoir";

/// The teacher logged in at the ENT (which takes logouts in the browser), opened the SAML
/// provider's resource (browser-only logout) and the OIDC client's (front-channel logout).
/// Answers the SAML provider's assertion.
async fn both_opened() -> (Saml, String) {
    let s = crate::ent_slo_front::with_browser_only_parties().await;
    let (_, to_ent) = s.click().await;
    let ((status, _), _) = s.ent_answers_as(&to_ent, TEACHER).await;
    assert_eq!(status, 302);
    let assertion = s.provider_assertion("_sp-first").await.unwrap();
    let params = crate::support::oidc::query(&crate::support::oidc::web_params());
    let resp = s.get(&format!("/oidc/authorize?{params}")).await;
    assert!(resp.headers()["location"]
        .to_str()
        .unwrap()
        .contains("code="));
    (s, assertion)
}

/// The OIDC web client's RP-initiated logout, confirmed on the gateway's page, with `extra`
/// parameters (`state`...): the answer to the confirmation.
async fn oidc_logout_confirmed(s: &Saml, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut asked = vec![
        ("client_id", OIDC_WEB),
        ("post_logout_redirect_uri", AU_REVOIR),
    ];
    asked.extend_from_slice(extra);
    let q = crate::support::oidc::query(&asked);
    let page = s
        .get(&format!("/oidc/logout?{q}"))
        .await
        .text()
        .await
        .unwrap();
    let token = form_value(&page, "jeton");
    asked.push(("jeton", token.as_str()));
    s.browser
        .post(format!("{}/oidc/logout", s.base))
        .form(&asked)
        .send()
        .await
        .unwrap()
}

/// Where the page goes on to by itself (its "Continuer" link).
fn next_of(page: &str) -> String {
    page.split("id=\"suite\" class=\"button\" href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(|u| u.replace("&amp;", "&"))
        .unwrap_or_else(|| panic!("no way on: {page}"))
}

/// The one iframe of `page` loads the SAML provider's LogoutRequest, signed by the gateway,
/// naming the SessionIndex of `assertion`.
fn tells_the_saml_provider(s: &Saml, page: &str, assertion: &str) {
    let urls = frames(page);
    assert_eq!(urls.len(), 1, "{page}");
    assert!(
        urls[0].starts_with(&format!("{SP_SLO}?SAMLRequest=")),
        "{page}"
    );
    query_signed_by_gateway(s, &urls[0]);
    let request = redirect_message(&urls[0]);
    let index = attr(assertion, "SessionIndex");
    assert!(
        request.contains(&format!("<samlp:SessionIndex>{index}</samlp:SessionIndex>")),
        "{request}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_logout_tells_the_other_front_channel_parties_before_the_ent() {
    let (s, assertion) = both_opened().await;
    let r = provider_logout_request(&assertion, &s.base, s.gw.clock.now());
    let xml = r.xml(Some((&s.gw.sp.key, &s.gw.sp.cert)));
    let resp = post_form(&s, "/idp/profile/SAML2/POST/SLO", "SAMLRequest", &xml).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let page = resp.text().await.unwrap();
    assert!(page.contains("Déconnexion en cours"), "{page}");
    assert_eq!(s.ended(), vec!["provider_logout"]);
    // The OIDC client is told; the SAML provider that asked is not asked back.
    let urls = frames(&page);
    assert_eq!(urls.len(), 1, "{page}");
    let rp = url::Url::parse(&urls[0]).unwrap();
    assert!(urls[0].starts_with(RP_FRONT), "{page}");
    let q: std::collections::HashMap<_, _> = rp.query_pairs().into_owned().collect();
    assert_eq!(q["iss"], s.gw.state.config.oidc_issuer());
    assert_eq!(q["sid"], attr(&assertion, "SessionIndex"));
    // Then on to the ENT, with the gateway's signed LogoutRequest, as without frames.
    let next = next_of(&page);
    assert!(
        next.starts_with(&format!("{ENT_SLO}?SAMLRequest=")),
        "{next}"
    );
    query_signed_by_gateway(&s, &next);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oidc_clients_logout_tells_the_saml_provider_then_returns_to_the_client() {
    let (s, assertion) = both_opened().await;
    let resp = oidc_logout_confirmed(&s, &[("state", "st-bye")]).await;
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    assert!(page.contains("Déconnexion en cours"), "{page}");
    // The session ended as any logout ends one (traced; its parties told), not merely deleted.
    assert_eq!(s.ended(), vec!["provider_logout"]);
    assert!(!s.session_alive().await);
    // The SAML provider is told in the browser; the asking client is not.
    tells_the_saml_provider(&s, &page, &assertion);
    assert_eq!(next_of(&page), format!("{AU_REVOIR}?state=st-bye"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_browser_only_parties_the_oidc_logout_redirects_at_once() {
    let s = Saml::new(Vec::new()).await;
    crate::support::oidc::subscribe(&s.gw).await;
    s.teacher_opens_the_resource().await;
    let resp = oidc_logout_confirmed(&s, &[]).await;
    assert_eq!(status_and_location(&resp), (302, AU_REVOIR.to_string()));
    assert_eq!(s.ended(), vec!["provider_logout"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cas_logout_tells_the_saml_provider_then_returns_to_the_service() {
    let cas = crate::support::cas_peer::Cas::with(
        3,
        vec![(
            "PASSERELLE__PROVIDERS__TEST-EDITEUR__SAML__SLO_REDIRECT_URL".into(),
            SP_SLO.into(),
        )],
    )
    .await;
    let s = &cas.saml;
    let (_, to_ent) = s.click().await;
    let ((status, _), _) = s.ent_answers_as(&to_ent, PUPIL).await;
    assert_eq!(status, 302);
    let assertion = s.provider_assertion("_sp-first").await.unwrap();
    let service = cas.peer.service();
    let login = format!("/login?service={}", urlencoding::encode(&service));
    let (status, to) = status_and_location(&s.get(&login).await);
    assert_eq!(status, 302);
    assert!(to.contains("ticket=ST-"), "{to}");

    let logout = format!("/logout?service={}", urlencoding::encode(&service));
    let token = form_value(&s.get(&logout).await.text().await.unwrap(), "jeton");
    let resp = s
        .browser
        .post(format!("{}/logout", s.base))
        .form(&[("service", service.as_str()), ("jeton", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    assert!(page.contains("Déconnexion en cours"), "{page}");
    assert_eq!(s.ended(), vec!["provider_logout"]);
    tells_the_saml_provider(s, &page, &assertion);
    assert_eq!(next_of(&page), service);
}
