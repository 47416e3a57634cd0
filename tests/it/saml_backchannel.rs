//! The gateway's single logout towards SAML providers over SOAP, over real sockets: when the
//! session ends (here, the ENT's back-channel logout), the provider that got an assertion in
//! it receives a LogoutRequest that xmlsec1 verifies with the gateway's published certificate,
//! naming the NameID and the SessionIndex of that assertion; a provider that does not answer a
//! successful LogoutResponse is tried three times, and the failure is traced and counted. The
//! provider whose own logout ended the session is not asked back.

use std::sync::{Arc, Mutex};

use axum::routing::post;
use passerelle::clock::Clock;
use passerelle::trace::TraceEvent;

use crate::support::ent_idp::{xmlsec1_verify, EntLogoutRequest};
use crate::support::gateway::*;
use crate::support::saml_browser::*;

/// A provider's SOAP logout endpoint: keeps what it receives, answers `status`.
pub(crate) async fn provider_endpoint(status: u16) -> (String, Arc<Mutex<Vec<String>>>) {
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let kept = got.clone();
    let app = axum::Router::new().route(
        "/slo",
        post(move |body: String| {
            let kept = kept.clone();
            async move {
                let in_response_to = body
                    .split("ID=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .unwrap_or_default()
                    .to_string();
                kept.lock().unwrap().push(body);
                let answer = format!(
                    r#"<?xml version="1.0" encoding="UTF-8"?><soap11:Envelope xmlns:soap11="http://schemas.xmlsoap.org/soap/envelope/"><soap11:Body><samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_sp-r" Version="2.0" IssueInstant="2026-12-07T10:00:00Z" InResponseTo="{in_response_to}"><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse></soap11:Body></soap11:Envelope>"#
                );
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [("content-type", "text/xml")],
                    answer,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slo", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

/// The teacher logged in and the SAML provider given an assertion; the ENT then logs the
/// teacher out over its back channel. Answers the gateway and the assertion.
async fn opened_then_ent_logout(slo_url: &str) -> (Saml, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let s = Saml::on(
        listener,
        Options {
            vars: vec![(
                "PASSERELLE__PROVIDERS__TEST_EDITEUR__SAML__SLO_SOAP_URL".into(),
                slo_url.into(),
            )],
            ..Options::default()
        },
    )
    .await;
    let (status, to_ent) = s.click().await;
    assert_eq!(status, 303);
    let (answer, login) = s.ent_answers_as(&to_ent, TEACHER).await;
    assert_eq!(answer, (302, RES_ACCESS.to_string()));
    let assertion = s.provider_assertion("_sp-1").await.unwrap();
    ent_logs_out_over_soap(&s, &login).await;
    (s, assertion)
}

/// The ENT logs `login` out over its back channel (a signed SOAP LogoutRequest), which the
/// gateway accepts.
pub(crate) async fn ent_logs_out_over_soap(s: &Saml, login: &EntLogin) {
    let request = EntLogoutRequest {
        id: format!("_lr-{}", uuid::Uuid::new_v4().simple()),
        issuer: ENT_ENTITY.into(),
        destination: Some(format!("{}/saml/slo/soap", s.base)),
        issued: s.gw.clock.now(),
        name_id: login.name_id.clone(),
        session_indexes: vec![login.session_index.clone()],
    };
    let xml = request.xml(Some((&s.gw.ent.key, &s.gw.ent.cert)));
    let (status, _) = post_soap(&format!("{}/saml/slo/soap", s.base), &xml).await;
    assert_eq!(status, 200);
    assert!(s.ended().contains(&"ent_logout"));
}

fn between<'a>(xml: &'a str, open: &str, close: &str) -> &'a str {
    let start = xml
        .find(open)
        .unwrap_or_else(|| panic!("no {open} in {xml}"))
        + open.len();
    let rest = &xml[start..];
    let start = rest.find('>').unwrap() + 1;
    &rest[start..rest.find(close).unwrap()]
}

async fn logouts_sent(s: &Saml, n: usize) -> Vec<(bool, u32)> {
    for _ in 0..100 {
        let sent: Vec<(bool, u32)> =
            s.gw.events()
                .into_iter()
                .filter_map(|e| match e {
                    TraceEvent::LogoutSent {
                        protocol: "saml",
                        delivered,
                        attempts,
                        ..
                    } => Some((delivered, attempts)),
                    _ => None,
                })
                .collect();
        if sent.len() >= n {
            return sent;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no logout_sent trace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_gets_a_signed_logout_request_naming_its_assertion() {
    let (url, got) = provider_endpoint(200).await;
    let (s, assertion) = opened_then_ent_logout(&url).await;
    assert_eq!(logouts_sent(&s, 1).await, vec![(true, 1)]);
    let body = got.lock().unwrap()[0].clone();
    assert!(
        body.contains("<soap11:Envelope") || body.contains(":Envelope"),
        "{body}"
    );
    let cert = s.gw.dir.path().join("gateway-published.crt");
    std::fs::write(&cert, s.gw.gateway.cert_pem()).unwrap();
    xmlsec1_verify(
        &body,
        &cert,
        "//*[local-name()='LogoutRequest']/*[local-name()='Signature']",
    )
    .unwrap();
    let attacker = s.gw.dir.path().join("attacker-published.crt");
    std::fs::write(&attacker, s.gw.attacker.cert_pem()).unwrap();
    assert!(
        xmlsec1_verify(
            &body,
            &attacker,
            "//*[local-name()='LogoutRequest']/*[local-name()='Signature']"
        )
        .is_err(),
        "the check can fail"
    );
    assert_eq!(
        between(&body, "<saml:NameID", "</saml:NameID>"),
        between(&assertion, "<saml:NameID", "</saml:NameID>")
    );
    let index = assertion
        .split("SessionIndex=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert_eq!(
        between(&body, "<samlp:SessionIndex", "</samlp:SessionIndex>"),
        index
    );
    assert!(body.contains(&format!("Destination=\"{url}\"")));
    assert!(body.contains(&format!("SPNameQualifier=\"{SP_ENTITY}\"")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_fails_is_tried_three_times_then_counted() {
    let (url, got) = provider_endpoint(500).await;
    let (s, _) = opened_then_ent_logout(&url).await;
    assert_eq!(logouts_sent(&s, 1).await, vec![(false, 3)]);
    assert_eq!(got.lock().unwrap().len(), 3);
    let metrics = s
        .browser
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("passerelle_logouts_undelivered_total 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_whose_logout_ended_the_session_is_not_asked_back() {
    let (url, got) = provider_endpoint(200).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let s = Saml::on(
        listener,
        Options {
            vars: vec![(
                "PASSERELLE__PROVIDERS__TEST_EDITEUR__SAML__SLO_SOAP_URL".into(),
                url.clone(),
            )],
            ..Options::default()
        },
    )
    .await;
    let (_, to_ent) = s.click().await;
    assert_eq!(s.ent_answers(&to_ent, TEACHER).await.0, 302);
    let assertion = s.provider_assertion("_sp-1").await.unwrap();
    let index = assertion
        .split("SessionIndex=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let name_id = between(&assertion, "<saml:NameID", "</saml:NameID>").to_string();
    let soap = format!("{}/idp/profile/SAML2/SOAP/SLO", s.base);
    let request = EntLogoutRequest {
        id: format!("_plr-{}", uuid::Uuid::new_v4().simple()),
        issuer: SP_ENTITY.into(),
        destination: Some(soap.clone()),
        issued: s.gw.clock.now(),
        name_id,
        session_indexes: vec![index],
    };
    let (status, body) = post_soap(&soap, &request.xml(Some((&s.gw.sp.key, &s.gw.sp.cert)))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("status:Success"), "{body}");
    assert_eq!(s.ended(), vec!["provider_logout"]);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(got.lock().unwrap().is_empty(), "not asked back");
    assert!(!s
        .gw
        .events()
        .iter()
        .any(|e| matches!(e, TraceEvent::LogoutSent { .. })));
}
