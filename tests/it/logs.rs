//! What operators' logs may carry: check codes, references, route templates; never user ids,
//! names, tokens or SAML messages. Every log line of a run of refusals and successes is captured
//! and searched.

use axum::body::Body;
use axum::http::Request;

use crate::support::captured_logs;
use crate::support::ent_idp;
use crate::support::gateway::*;
use crate::support::oidc;

#[tokio::test(flavor = "current_thread")]
async fn logs_carry_no_personal_data_tokens_or_messages() {
    let (captured, _guard) = captured_logs::capture();

    let gw = TestGateway::new().await;
    // A login refused (tampered), then a good one, then a refusal, a listing error and a listing.
    let resp = gw.get(&domaine_gar(RES_ETABL), None).await;
    let url = location(&resp);
    let id = urlencoding::decode(
        url.split("RelayState=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap(),
    )
    .unwrap()
    .into_owned();
    let signed = ent_idp::EntResponse::new(BASE, ENT_ENTITY, &id, now(), "eleve-0001")
        .signed(&gw.ent.key, &gw.ent.cert);
    let cookie = format!("{}{id}=1", gw.login_cookie());
    let tampered = ent_idp::tamper(&signed, "eleve-0001", "eleve-0002");
    gw.post_form(
        "/saml/acs",
        &[("SAMLResponse", &b64(&tampered)), ("RelayState", &id)],
        Some(&cookie),
    )
    .await;
    let ok = gw
        .post_form(
            "/saml/acs",
            &[("SAMLResponse", &b64(&signed)), ("RelayState", &id)],
            Some(&cookie),
        )
        .await;
    assert_eq!(ok.status(), 302);
    let session = gw.session("eleve-0002").await;
    gw.get(&domaine_gar(RES_INDIV), Some(&session)).await;
    for person in ["eleve-0001", "ghost-person-42"] {
        let req = Request::get(format!("/ressources/B0/{UAI}/{person}"))
            .header("authorization", format!("Bearer {ENT_TOKEN}"))
            .body(Body::empty())
            .unwrap();
        gw.call(req).await;
    }
    let wrong_token = Request::get(format!("/ressources/B0/{UAI}/eleve-0001"))
        .header("authorization", "Bearer secret-looking-token-value-123456")
        .body(Body::empty())
        .unwrap();
    gw.call(wrong_token).await;

    // OIDC: a code, tokens, userinfo, a reused code, a wrong secret, a forged token.
    oidc::subscribe(&gw).await;
    let pupil = gw.session("eleve-0001").await;
    let code = oidc::code_of(&oidc::authorize(&gw, Some(&pupil), &oidc::web_params()).await);
    let (_, tokens) = oidc::redeem_web(&gw, &code).await;
    let access_token = tokens["access_token"].as_str().unwrap().to_string();
    oidc::userinfo(&gw, &access_token, "").await;
    oidc::redeem_web(&gw, &code).await;
    oidc::post(
        &gw,
        "/oidc/token",
        &[("grant_type", "authorization_code"), ("code", "x")],
        Some((OIDC_WEB, "wrong-secret-value-abcdef")),
    )
    .await;
    oidc::userinfo(&gw, &format!("{access_token}x"), "").await;

    let logs = captured.text();
    assert!(
        logs.contains("oidc.code_reused") && logs.contains("oidc.client_auth"),
        "{logs}"
    );
    for secret in [
        code.as_str(),
        &access_token[..40],
        tokens["id_token"].as_str().unwrap(),
        OIDC_WEB_SECRET,
        "wrong-secret-value",
    ] {
        assert!(
            !logs.contains(secret),
            "logs contain an OIDC secret:\n{logs}"
        );
    }
    assert!(
        logs.contains("saml.signature"),
        "the refusal is logged with its check: {logs}"
    );
    assert!(logs.contains("not_assigned"), "{logs}");
    for secret in [
        "eleve-0001",
        "eleve-0002",
        "ghost-person-42",
        "Martin",
        "Léa",
        ENT_TOKEN,
        "secret-looking-token-value",
        &b64(&signed)[..40],
        "SAMLResponse",
        "RelayState",
    ] {
        assert!(!logs.contains(secret), "logs contain {secret}:\n{logs}");
    }
}

fn refused_lines(logs: &str) -> Vec<&str> {
    logs.lines()
        .filter(|l| l.contains("request refused"))
        .collect()
}

/// Every refusal's cause is logged once (`http::api_error::log_cause`), with the reference the
/// client or user was given: an API refusal in its protocol's shape (GAR XML here), and a page.
#[tokio::test(flavor = "current_thread")]
async fn each_refusal_is_logged_once_with_the_reference_given() {
    let (captured, _guard) = captured_logs::capture();
    let gw = TestGateway::new().await;

    let req = Request::get("/ressourcesDiffusables")
        .header("authorization", "Bearer not-a-token-of-anyone-0123456789")
        .body(Body::empty())
        .unwrap();
    let resp = gw.call(req).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.headers()["content-type"],
        "application/xml; charset=utf-8"
    );
    let body = body_string(resp).await;
    assert!(
        body.contains(
            "<erreur><code>Unauthorized</code><message>Authentification requise</message></erreur>"
        ),
        "{body}"
    );
    let logs = captured.text();
    let lines = refused_lines(&logs);
    assert_eq!(lines.len(), 1, "{logs}");
    assert!(lines[0].contains("ents.<id>.api_token_file"), "{logs}");
    assert!(!logs.contains("not-a-token-of-anyone"), "{logs}");

    // A page: the reference on the page is the one in the single log line.
    let resp = gw.get("/domaineGar?idENT=x", None).await;
    assert_eq!(resp.status(), 400);
    let page = body_string(resp).await;
    let logs = captured.text();
    let lines = refused_lines(&logs);
    assert_eq!(lines.len(), 2, "{logs}");
    let reference = lines[1]
        .split("reference=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    assert!(page.contains(reference), "{reference} not on the page");
}
