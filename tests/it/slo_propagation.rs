//! One session, three provider protocols: a user opens a SAML resource, an OIDC client and a
//! CAS service in one gateway session, then logs out at the ENT. Each party hears of it over its
//! back channel with the handle of its own login (the SAML provider the SessionIndex of its
//! assertion, the OIDC client the `sid` of its ID token, the CAS application the ticket that
//! opened its session, read by python-cas); the SAML provider fails every attempt, is tried three
//! times, and holds up neither of the others.

use passerelle::trace::TraceEvent;

use crate::oidc_backchannel::{claims, client_endpoint};
use crate::provider_slo_onward::attr;
use crate::saml_backchannel::{ent_logs_out_over_soap, provider_endpoint};
use crate::support::cas_peer::Cas;
use crate::support::gateway::*;
use crate::support::saml_browser::*;

/// The `logout_sent` traces so far: (protocol, delivered, attempts).
fn sent(s: &Saml) -> Vec<(&'static str, bool, u32)> {
    s.gw.events()
        .into_iter()
        .filter_map(|e| match e {
            TraceEvent::LogoutSent {
                protocol,
                delivered,
                attempts,
                ..
            } => Some((protocol, delivered, attempts)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ent_logout_reaches_a_saml_an_oidc_and_a_cas_party_each_with_its_own_handle() {
    let (saml_slo, saml_got) = provider_endpoint(500).await;
    let (bcl, mut oidc_got) = client_endpoint().await;
    let cas = Cas::with(
        3,
        vec![
            (
                "PASSERELLE__PROVIDERS__TEST_EDITEUR__SAML__SLO_SOAP_URL".into(),
                saml_slo,
            ),
            (
                "PASSERELLE__PROVIDERS__OTHER-EDITEUR__OIDC__CLIENTS__0__BACKCHANNEL_LOGOUT_URI"
                    .into(),
                bcl,
            ),
        ],
    )
    .await;
    let s = &cas.saml;
    crate::support::oidc::subscribe(&s.gw).await;
    // SAML: the médiacentre click, the ENT's login, the provider's assertion.
    let (_, to_ent) = s.click().await;
    let ((status, _), login) = s.ent_answers_as(&to_ent, PUPIL).await;
    assert_eq!(status, 302);
    let assertion = s.provider_assertion("_sp-first").await.unwrap();
    // OIDC: a code, redeemed for the ID token whose sid the logout token must carry.
    let params = crate::support::oidc::query(&crate::support::oidc::web_params());
    let (_, to) = status_and_location(&s.get(&format!("/oidc/authorize?{params}")).await);
    let code = query_param(&to, "code");
    let (_, tokens) = crate::support::oidc::redeem_web(&s.gw, &code).await;
    let sid = claims(tokens["id_token"].as_str().unwrap())["sid"].clone();
    // CAS: a ticket for the application's service.
    let service = cas.peer.service();
    let (_, to) = status_and_location(
        &s.get(&format!("/login?service={}", urlencoding::encode(&service)))
            .await,
    );
    let ticket = query_param(&to, "ticket");
    assert!(ticket.starts_with("ST-"), "{to}");

    // The ENT logs the pupil out over its back channel.
    ent_logs_out_over_soap(s, &login).await;

    // The OIDC client: a logout token naming the sid of its own ID token.
    let token = tokio::time::timeout(std::time::Duration::from_secs(10), oidc_got.recv())
        .await
        .expect("the OIDC client hears of the logout")
        .unwrap();
    assert_eq!(claims(&token)["sid"], sid);
    assert_eq!(claims(&token)["aud"], OIDC_WEB);
    // The CAS application: python-cas read the ticket that opened its session.
    let mut logouts = Vec::new();
    for _ in 0..100 {
        logouts = cas.peer.logouts().await;
        if !logouts.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(logouts, vec![ticket]);
    // The SAML provider: its SessionIndex, every attempt refused, three attempts in all.
    let mut traced = Vec::new();
    for _ in 0..200 {
        traced = sent(s);
        if traced.iter().any(|t| t.0 == "saml") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let got = saml_got.lock().unwrap().clone();
    assert_eq!(got.len(), 3, "three attempts");
    let index = attr(&assertion, "SessionIndex");
    assert!(got
        .iter()
        .all(|r| r.contains(&format!("SessionIndex>{index}</"))));
    // The failing provider held up nobody: both others were delivered at the first attempt,
    // and traced before the SAML provider's last attempt was given up.
    let saml_at = traced.iter().position(|t| t.0 == "saml").unwrap();
    assert_eq!(traced[saml_at], ("saml", false, 3), "{traced:?}");
    for protocol in ["oidc", "cas"] {
        let at = traced
            .iter()
            .position(|t| *t == (protocol, true, 1))
            .unwrap_or_else(|| panic!("{protocol} delivered at once: {traced:?}"));
        assert!(at < saml_at, "{traced:?}");
    }
}
