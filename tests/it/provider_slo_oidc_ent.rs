//! A provider's front-channel SAML logout goes on to an OIDC ENT (panva's oidc-provider) over
//! RP-Initiated Logout 1.0: the gateway ends its session and sends the browser to the ENT's
//! `end_session_endpoint` with its `client_id`, `post_logout_redirect_uri` and a one-time
//! `state`; the person confirms at the ENT, which logs them out and sends the browser back to
//! `/ent/oidc/logged-out`, where the provider is answered. A `state` the gateway is not waiting
//! on answers nobody.

use passerelle::clock::Clock;

use crate::shared_computer::{assertion_at, confirm_op_logout, through_the_op};
use crate::support::ent_idp::provider_logout_request;
use crate::support::ent_op::panva_with_backchannel_logout;
use crate::support::gateway::*;
use crate::support::saml_browser::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_logout_goes_on_to_an_oidc_ent_and_back() {
    let p = panva_with_backchannel_logout(crate::support::hostile_op::CLIENT_SECRET).await;
    let click = format!("{}{}", p.base, domaine_gar(RES_ETABL));
    let seen = through_the_op(&p, click.clone(), TEACHER).await;
    assert_eq!(seen.last().unwrap(), RES_ACCESS, "{seen:?}");
    let assertion = assertion_at(&p, "_sp-teacher").await.unwrap();

    // The provider logs the teacher out at the gateway.
    let r = provider_logout_request(&assertion, &p.base, p.gw.clock.now());
    let xml = r.xml(Some((&p.gw.sp.key, &p.gw.sp.cert)));
    let resp = p
        .browser
        .post(format!("{}/idp/profile/SAML2/POST/SLO", p.base))
        .form(&[("SAMLRequest", b64(&xml))])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(p.gw.ended_sessions(), vec!["provider_logout"]);
    let to_ent = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    assert!(
        to_ent
            .as_str()
            .starts_with(&format!("{}/session/end?", p.op.issuer)),
        "{to_ent}"
    );
    let q: std::collections::HashMap<_, _> = to_ent.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], crate::support::hostile_op::CLIENT_ID);
    let back = format!("{}/ent/oidc/logged-out", p.base);
    assert_eq!(q["post_logout_redirect_uri"], back);
    let state = q["state"].clone();

    // A state the gateway is not waiting on: refused, nobody answered.
    let resp = p
        .browser
        .get(format!("{back}?state=not-{state}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.unwrap().contains("oidc.state"));

    // The ENT asks the person to confirm, logs them out, and sends the browser back.
    let resp = confirm_op_logout(&p, to_ent.as_str()).await;
    assert!(resp.status().is_redirection(), "{}", resp.status());
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&back), "{location}");
    assert!(location.contains(&format!("state={state}")), "{location}");
    let resp = p.browser.get(&location).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("Vous êtes déconnecté"));
    // Taken once.
    let resp = p.browser.get(&location).send().await.unwrap();
    assert_eq!(resp.status(), 403);

    // The ENT's session is gone too: the next click logs in anew at the ENT, as the pupil.
    let seen = through_the_op(&p, click, PUPIL).await;
    assert!(seen.iter().any(|u| u.contains("/interaction/")), "{seen:?}");
    assert_eq!(seen.last().unwrap(), RES_ACCESS, "{seen:?}");

    let _ = p.stop.send(());
    p.server.await.unwrap().unwrap();
}

fn b64(xml: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(xml)
}
