//! The gateway as SP of ENT identity providers: responses signed by an independent test IdP
//! (xmlsec1), accepted only when every check holds; one negative test per check, each
//! refused with a `protocol_refused` trace naming the check.

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use ent_idp::{EntResponse, Sign};
use passerelle::trace::TraceEvent;

use crate::support::ent_idp;
use crate::support::gateway::*;

/// Starts a login through domaineGar and returns the AuthnRequest ID (also the RelayState).
async fn start_login(gw: &TestGateway, resource: &str) -> String {
    let resp = gw.get(&domaine_gar(resource), None).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let url = location(&resp);
    let relay = url
        .split('&')
        .find_map(|p| p.strip_prefix("RelayState="))
        .unwrap();
    let id = urlencoding::decode(relay).unwrap().into_owned();
    // The login is bound to this browser by a cookie only it carries.
    let cookie = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with(&format!("{}{id}=1;", gw.login_cookie())),
        "{cookie}"
    );
    assert!(cookie.contains("HttpOnly") && cookie.contains("Path=/saml/acs"));
    id
}

async fn post_response(
    gw: &TestGateway,
    xml: &str,
    relay: &str,
) -> axum::http::Response<axum::body::Body> {
    let cookie = format!("{}{relay}=1", gw.login_cookie());
    gw.post_form(
        "/saml/acs",
        &[("SAMLResponse", &b64(xml)), ("RelayState", relay)],
        Some(&cookie),
    )
    .await
}

fn response(gw: &TestGateway, request_id: &str) -> EntResponse {
    EntResponse::new(
        BASE,
        ENT_ENTITY,
        request_id,
        gw.state.clock.now(),
        "eleve-0001",
    )
}

/// Posts `xml` for the pending login `id` and expects a refusal by `check`, traced once, and
/// no session.
async fn assert_refused(gw: &TestGateway, xml: &str, id: &str, check: &str) {
    assert_case_refused(gw, check, xml, id, check).await;
}

/// [`assert_refused`], its failures named `case` (the check when a test has one case for it).
async fn assert_case_refused(gw: &TestGateway, case: &str, xml: &str, id: &str, check: &str) {
    let logins = |gw: &TestGateway| {
        gw.events()
            .iter()
            .filter(|e| matches!(e, TraceEvent::EntLogin { .. }))
            .count()
    };
    let (before, logins_before) = (gw.refused_checks().len(), logins(gw));
    let resp = post_response(gw, xml, id).await;
    let status = resp.status();
    assert!(status.is_client_error(), "{case}: got {status}");
    assert!(
        resp.headers().get("set-cookie").is_none(),
        "{case}: no session may be created"
    );
    let page = body_string(resp).await;
    assert!(
        page.contains(check) && page.contains("Connexion refusée"),
        "{case}: {page}"
    );
    let checks = gw.refused_checks();
    assert_eq!(
        checks.len(),
        before + 1,
        "{case}: exactly one protocol_refused event"
    );
    assert_eq!(*checks.last().unwrap(), check, "{case}");
    assert_eq!(logins(gw), logins_before, "{case}: no login");
}

/// A named change to the valid response (given the gateway's clock's now), and the check that
/// refuses the changed response.
type Case = (
    &'static str,
    fn(&mut EntResponse, DateTime<Utc>),
    &'static str,
);

/// Each case's change to a fresh valid response for the pending login `id`, signed by the ENT
/// and posted, is refused by its check ([`assert_case_refused`], which names the case).
async fn assert_cases_refused(gw: &TestGateway, id: &str, cases: &[Case]) {
    for (case, change, check) in cases {
        let mut r = response(gw, id);
        change(&mut r, gw.state.clock.now());
        assert_case_refused(gw, case, &r.signed(&gw.ent.key, &gw.ent.cert), id, check).await;
    }
}

#[tokio::test]
async fn valid_responses_open_a_session_and_continue_to_the_resource() {
    for sign in [Sign::Assertion, Sign::Response, Sign::Both] {
        let gw = TestGateway::new().await;
        let id = start_login(&gw, RES_ETABL).await;
        let xml = response(&gw, &id).signed(&gw.ent.key, &gw.ent.cert);
        let resp = post_response(&gw, &xml, &id).await;
        assert_eq!(
            resp.status(),
            StatusCode::FOUND,
            "{sign:?}: {}",
            body_string(resp).await
        );
        assert_eq!(location(&resp), RES_ACCESS);
        let cookie = set_cookie(&resp).expect("a session cookie");
        assert!(cookie.starts_with(&format!("{}=", gw.session_cookie())));
        let events = gw.events();
        assert!(events.iter().any(|e| matches!(
            e,
            TraceEvent::EntLogin {
                protocol: "saml",
                ..
            }
        )));
        assert!(events
            .iter()
            .any(|e| matches!(e, TraceEvent::AccessGranted { .. })));
        // The session works for the next médiacentre click without a new ENT login.
        let again = gw.get(&domaine_gar(RES_INDIV), Some(&cookie)).await;
        assert_eq!(again.status(), StatusCode::FOUND, "{sign:?}");
        assert_eq!(location(&again), format!("{RES_ACCESS}/indiv"));
    }
}

#[tokio::test]
async fn wrong_signer_is_refused() {
    let gw = TestGateway::new().await;
    let id = start_login(&gw, RES_ETABL).await;
    let xml = response(&gw, &id).signed(&gw.attacker.key, &gw.attacker.cert);
    assert_refused(&gw, &xml, &id, "saml.signature").await;
}

#[tokio::test]
async fn unsigned_and_stripped_responses_are_refused() {
    let gw = TestGateway::new().await;
    let id = start_login(&gw, RES_ETABL).await;
    assert_cases_refused(
        &gw,
        &id,
        &[("no signature", |r, _| r.sign = Sign::None, "saml.unsigned")],
    )
    .await;
    let signed = response(&gw, &id).signed(&gw.ent.key, &gw.ent.cert);
    assert_refused(
        &gw,
        &ent_idp::strip_signatures(&signed),
        &id,
        "saml.unsigned",
    )
    .await;
}

#[tokio::test]
async fn tampered_value_is_refused() {
    let gw = TestGateway::new().await;
    let id = start_login(&gw, RES_ETABL).await;
    let signed = response(&gw, &id).signed(&gw.ent.key, &gw.ent.cert);
    assert_refused(
        &gw,
        &ent_idp::tamper(&signed, "eleve-0001", "ens-0001"),
        &id,
        "saml.signature",
    )
    .await;
}

#[tokio::test]
async fn signature_wrapping_is_refused() {
    let gw = TestGateway::new().await;
    let id = start_login(&gw, RES_ETABL).await;
    let signed = response(&gw, &id).signed(&gw.ent.key, &gw.ent.cert);
    for before in [true, false] {
        let wrapped = ent_idp::wrap_with_evil_assertion(&signed, "ens-0001", before);
        assert_eq!(wrapped.matches("<saml:Assertion ").count(), 2);
        assert_refused(&gw, &wrapped, &id, "saml.wrapping").await;
    }
    // A signed Response around a second, unsigned assertion: refused too.
    let mut both = response(&gw, &id);
    both.sign = Sign::Response;
    let signed_response = both.signed(&gw.ent.key, &gw.ent.cert);
    assert_refused(
        &gw,
        &ent_idp::wrap_with_evil_assertion(&signed_response, "ens-0001", false),
        &id,
        "saml.wrapping",
    )
    .await;
}

#[tokio::test]
async fn comment_injection_is_refused() {
    let gw = TestGateway::new().await;
    let id = start_login(&gw, RES_ETABL).await;
    let mut r = response(&gw, &id);
    r.attributes[1].1 = vec!["ens-0001<!---->.evil".into()];
    // Canonicalisation drops comments, so the signature still verifies: the guard must refuse.
    let xml = r.signed(&gw.ent.key, &gw.ent.cert);
    assert_refused(&gw, &xml, &id, "saml.comment").await;
}

#[tokio::test]
async fn doctype_is_refused() {
    let gw = TestGateway::new().await;
    let id = start_login(&gw, RES_ETABL).await;
    let xml = response(&gw, &id).signed(&gw.ent.key, &gw.ent.cert);
    assert_refused(&gw, &ent_idp::add_doctype(&xml), &id, "saml.dtd").await;
}

#[tokio::test]
async fn expired_and_not_yet_valid_assertions_are_refused() {
    let gw = TestGateway::new().await;
    let id = start_login(&gw, RES_ETABL).await;
    assert_cases_refused(
        &gw,
        &id,
        &[
            (
                "expired past the 2-minute skew",
                |r, now| r.not_on_or_after = now - Duration::minutes(3),
                "saml.expired",
            ),
            (
                "valid beyond the skew from now",
                |r, now| r.not_before = now + Duration::minutes(3),
                "saml.not_yet_valid",
            ),
        ],
    )
    .await;
    // Within the skew both are accepted.
    let mut r = response(&gw, &id);
    r.not_before = gw.state.clock.now() + Duration::seconds(60);
    assert_eq!(
        post_response(&gw, &r.signed(&gw.ent.key, &gw.ent.cert), &id)
            .await
            .status(),
        StatusCode::FOUND
    );
}

#[tokio::test]
async fn wrong_audience_destination_recipient_and_issuer_are_refused() {
    let gw = TestGateway::new().await;
    let id = start_login(&gw, RES_ETABL).await;
    // Response and assertion both signed, so that each field is covered by a signature.
    assert_cases_refused(
        &gw,
        &id,
        &[
            (
                "another SP's audience",
                |r, _| {
                    r.audience = "https://other-sp.example/metadata".into();
                    r.sign = Sign::Both;
                },
                "saml.audience",
            ),
            (
                "another SP's destination",
                |r, _| {
                    r.destination = "https://other-sp.example/acs".into();
                    r.sign = Sign::Both;
                },
                "saml.destination",
            ),
            (
                "another SP's recipient",
                |r, _| {
                    r.recipient = "https://other-sp.example/acs".into();
                    r.sign = Sign::Both;
                },
                "saml.recipient",
            ),
            (
                "another IdP's issuer",
                |r, _| {
                    r.issuer = "https://other-idp.example/idp".into();
                    r.sign = Sign::Both;
                },
                "saml.issuer",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn unknown_or_mismatched_in_response_to_is_refused() {
    let gw = TestGateway::new().await;
    let id = start_login(&gw, RES_ETABL).await;
    // Answering another request than the one RelayState names.
    let r = response(&gw, "_a-request-we-never-sent");
    assert_refused(
        &gw,
        &r.signed(&gw.ent.key, &gw.ent.cert),
        &id,
        "saml.in_response_to",
    )
    .await;
    // A RelayState naming no pending login (unsolicited or forged).
    let r = response(&gw, "_unknown");
    assert_refused(
        &gw,
        &r.signed(&gw.ent.key, &gw.ent.cert),
        "_unknown",
        "saml.in_response_to",
    )
    .await;
}

#[tokio::test]
async fn replayed_assertion_is_refused() {
    let gw = TestGateway::new().await;
    let id = start_login(&gw, RES_ETABL).await;
    let xml = response(&gw, &id).signed(&gw.ent.key, &gw.ent.cert);
    assert_eq!(
        post_response(&gw, &xml, &id).await.status(),
        StatusCode::FOUND
    );
    // The same response again: its request is consumed.
    assert_refused(&gw, &xml, &id, "saml.in_response_to").await;
    // A new login answered with an assertion ID already seen: the replay cache refuses it.
    let id2 = start_login(&gw, RES_ETABL).await;
    let mut again = response(&gw, &id2);
    let seen_id = {
        // Re-use the assertion ID of the accepted response.
        let start = xml.find("<saml:Assertion").unwrap();
        let s = &xml[start..];
        let i = s.find("ID=\"").unwrap() + 4;
        s[i..i + s[i..].find('"').unwrap()].to_string()
    };
    again.assertion_id = seen_id;
    assert_refused(
        &gw,
        &again.signed(&gw.ent.key, &gw.ent.cert),
        &id2,
        "saml.replay",
    )
    .await;
}

#[tokio::test]
async fn sha1_is_refused_unless_the_ent_allows_it() {
    let gw = TestGateway::new().await;
    let id = start_login(&gw, RES_ETABL).await;
    let mut r = response(&gw, &id);
    r.sha1 = true;
    let xml = r.signed(&gw.ent.key, &gw.ent.cert);
    assert!(xml.contains("xmldsig#rsa-sha1"));
    assert_refused(&gw, &xml, &id, "saml.algorithm").await;

    let lax = TestGateway::with(Options {
        ent_algorithms: r#"["rsa-sha256", "rsa-sha1"]"#,
        ..Options::default()
    })
    .await;
    let id = start_login(&lax, RES_ETABL).await;
    let mut r = response(&lax, &id);
    r.sha1 = true;
    let resp = post_response(&lax, &r.signed(&lax.ent.key, &lax.ent.cert), &id).await;
    assert_eq!(
        resp.status(),
        StatusCode::FOUND,
        "{}",
        body_string(resp).await
    );
}

#[tokio::test]
async fn ambiguous_or_missing_identity_attributes_are_refused() {
    let gw = TestGateway::new().await;
    let id = start_login(&gw, RES_ETABL).await;
    assert_cases_refused(
        &gw,
        &id,
        &[
            (
                "GARPersonIdentifiant twice",
                |r, _| {
                    r.attributes
                        .push(("GARPersonIdentifiant".into(), vec!["ens-0001".into()]))
                },
                "saml.attributes",
            ),
            (
                "two values of GARPersonIdentifiant",
                |r, _| r.attributes[1].1.push("ens-0001".into()),
                "saml.attributes",
            ),
            (
                "no GARPersonIdentifiant",
                |r, _| {
                    r.attributes.remove(1);
                },
                "saml.attributes",
            ),
            (
                "another ENT's idEnt",
                |r, _| r.attributes[0].1 = vec!["Z0".into()],
                "saml.attributes",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn error_status_is_refused() {
    let gw = TestGateway::new().await;
    let id = start_login(&gw, RES_ETABL).await;
    assert_cases_refused(
        &gw,
        &id,
        &[(
            "status Responder",
            |r, _| r.status = "urn:oasis:names:tc:SAML:2.0:status:Responder".into(),
            "saml.status",
        )],
    )
    .await;
}

#[tokio::test]
async fn oversized_post_is_refused() {
    let gw = TestGateway::new().await;
    let id = start_login(&gw, RES_ETABL).await;
    assert_cases_refused(
        &gw,
        &id,
        &[(
            "a 300 kB attribute",
            |r, _| {
                r.attributes
                    .push(("padding".into(), vec!["x".repeat(300_000)]))
            },
            "saml.too_large",
        )],
    )
    .await;
}

#[tokio::test]
async fn a_response_posted_by_another_browser_is_refused() {
    // Login CSRF: an attacker's own valid response, pushed through the victim's browser.
    let gw = TestGateway::new().await;
    let id = start_login(&gw, RES_ETABL).await;
    let xml = response(&gw, &id).signed(&gw.ent.key, &gw.ent.cert);
    let resp = gw
        .post_form(
            "/saml/acs",
            &[("SAMLResponse", &b64(&xml)), ("RelayState", &id)],
            Some(&format!("{}_other=1", gw.login_cookie())),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(body_string(resp).await.contains("saml.browser_binding"));
    assert_eq!(gw.refused_checks(), ["saml.browser_binding"]);
    // The same response from the browser that started the login still works.
    assert_eq!(
        post_response(&gw, &xml, &id).await.status(),
        StatusCode::FOUND
    );
}
