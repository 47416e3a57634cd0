//! Refusals of the gateway's OpenID Connect relying party, against a hostile ENT OP written in
//! the test: callbacks without a valid login, the ENT's errors, crafted ID tokens (one per
//! check), unknown keys with a rate-limited JWKS refetch, a redirecting discovery. Each is a
//! French page and exactly one `protocol_refused` trace naming its check, and no session.

use axum::http::StatusCode;
use hostile_op::{raw_jwt, HostileOp, RsaKey, CLIENT_ID};
use oidc_login::*;
use serde_json::json;

use crate::support::gateway::*;
use crate::support::hostile_op;
use crate::support::oidc_login;

#[tokio::test]
async fn callbacks_without_a_valid_login_are_refused() {
    let (gw, op) = hostile().await;
    let (url, cookie) = start(&gw).await;
    let state = query_param(&url, "state").unwrap();
    op.set_id_token(
        op.key
            .sign(&op.claims(&query_param(&url, "nonce").unwrap(), now())),
    );

    // A state the gateway never issued.
    let before = gw.refused_checks().len();
    let resp = gw
        .get(&callback_uri(&op, "forged-state"), Some(&cookie))
        .await;
    assert_refused(&gw, resp, "oidc.state", before).await;

    // No state at all.
    let before = gw.refused_checks().len();
    let resp = gw
        .get("/ent/oidc/callback?code=the-code", Some(&cookie))
        .await;
    assert_refused(&gw, resp, "oidc.state", before).await;

    // The right state from another browser (no binding cookie): login CSRF.
    let before = gw.refused_checks().len();
    let resp = gw.get(&callback_uri(&op, &state), None).await;
    assert_refused(&gw, resp, "oidc.browser_binding", before).await;
    assert_eq!(
        op.hits("token"),
        0,
        "no code is exchanged for a refused callback"
    );

    // RFC 9207: an authorization response issued by another provider (mix-up).
    let before = gw.refused_checks().len();
    let resp = gw
        .get(
            &format!(
                "/ent/oidc/callback?code=c&state={state}&iss={}",
                urlencoding::encode("https://other-op.example.test")
            ),
            Some(&cookie),
        )
        .await;
    assert_refused(&gw, resp, "oidc.iss", before).await;
    assert_eq!(op.hits("token"), 0);
}

#[tokio::test]
async fn an_error_from_the_ent_answers_a_french_page() {
    let (gw, op) = hostile().await;
    let (url, cookie) = start(&gw).await;
    let state = query_param(&url, "state").unwrap();
    let before = gw.refused_checks().len();
    let resp = gw
        .get(
            &format!(
                "/ent/oidc/callback?error=access_denied&state={state}&iss={}",
                urlencoding::encode(&op.issuer)
            ),
            Some(&cookie),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let page = body_string(resp).await;
    assert!(page.contains("Connexion refusée par l"), "{page}");
    assert!(page.contains("Votre ENT n"), "{page}");
    assert!(page.contains("oidc.error"));
    assert_eq!(gw.refused_checks().len(), before + 1);
    assert_eq!(*gw.refused_checks().last().unwrap(), "oidc.error");
    assert_eq!(op.hits("token"), 0);
}

#[tokio::test]
async fn crafted_id_tokens_are_refused_each_by_its_check() {
    type Craft = Box<dyn Fn(&HostileOp, &str) -> String>;
    let cases: Vec<(&str, Craft)> = vec![
        (
            "oidc.nonce",
            Box::new(|op, _nonce| op.key.sign(&op.claims("another-nonce", now()))),
        ),
        (
            "oidc.algorithm",
            Box::new(|op, nonce| {
                raw_jwt(
                    &json!({"alg": "none", "typ": "JWT"}),
                    &op.claims(nonce, now()),
                    |_| Vec::new(),
                )
            }),
        ),
        (
            "oidc.algorithm",
            // HS256 keyed with the RSA public key, the classic algorithm confusion.
            Box::new(|op, nonce| {
                let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
                h.kid = Some(op.key.kid.clone());
                jsonwebtoken::encode(
                    &h,
                    &op.claims(nonce, now()),
                    &jsonwebtoken::EncodingKey::from_secret(&op.key.public_pem),
                )
                .unwrap()
            }),
        ),
        (
            "oidc.issuer",
            Box::new(|op, nonce| {
                let mut c = op.claims(nonce, now());
                c["iss"] = json!("https://attacker.example.test");
                op.key.sign(&c)
            }),
        ),
        (
            "oidc.audience",
            Box::new(|op, nonce| {
                let mut c = op.claims(nonce, now());
                c["aud"] = json!("another-client");
                op.key.sign(&c)
            }),
        ),
        (
            "oidc.audience",
            // Several audiences and no azp naming the gateway.
            Box::new(|op, nonce| {
                let mut c = op.claims(nonce, now());
                c["aud"] = json!([CLIENT_ID, "another-client"]);
                op.key.sign(&c)
            }),
        ),
        (
            "oidc.expired",
            // Expired two minutes ago: beyond the 60 s skew.
            Box::new(|op, nonce| {
                let t = now() - chrono::Duration::minutes(10);
                let mut c = op.claims(nonce, t);
                c["exp"] = json!((now() - chrono::Duration::minutes(2)).timestamp());
                op.key.sign(&c)
            }),
        ),
        (
            "oidc.expired",
            // Issued in the future beyond the skew.
            Box::new(|op, nonce| {
                op.key
                    .sign(&op.claims(nonce, now() + chrono::Duration::minutes(5)))
            }),
        ),
        (
            "oidc.ent_claim",
            Box::new(|op, nonce| {
                let mut c = op.claims(nonce, now());
                c["idEnt"] = json!("B1");
                op.key.sign(&c)
            }),
        ),
        (
            "oidc.at_hash",
            Box::new(|op, nonce| {
                let mut c = op.claims(nonce, now());
                c["at_hash"] = json!("AAAAAAAAAAAAAAAAAAAAAA");
                op.key.sign(&c)
            }),
        ),
        (
            "oidc.signature",
            // The right header and claims, a signature over other claims.
            Box::new(|op, nonce| {
                let good = op.key.sign(&op.claims(nonce, now()));
                let other = op.key.sign(&op.claims("x", now()));
                let sig = other.rsplit('.').next().unwrap().to_string();
                let mut parts: Vec<&str> = good.split('.').collect();
                parts[2] = &sig;
                parts.join(".")
            }),
        ),
    ];
    for (check, craft) in cases {
        let (gw, op) = hostile().await;
        let before = gw.refused_checks().len();
        let resp = login_with(&gw, &op, |op, nonce| craft(op, nonce)).await;
        assert_refused(&gw, resp, check, before).await;
        assert_eq!(op.hits("token"), 1, "{check}");
    }
}

#[tokio::test]
async fn an_unknown_kid_is_refused_after_one_refetch_and_refetches_are_rate_limited() {
    let (gw, op) = hostile().await;
    let stranger = RsaKey::generate("unknown-key");
    let before = gw.refused_checks().len();
    let resp = login_with(&gw, &op, |op, nonce| {
        stranger.sign(&op.claims(nonce, now()))
    })
    .await;
    assert_refused(&gw, resp, "oidc.kid", before).await;
    assert_eq!(op.hits("jwks"), 2, "fetched at discovery, refetched once");

    // Within the minute, another unknown kid does not reach the ENT's JWKS again.
    gw.clock.advance(chrono::Duration::seconds(30));
    let before = gw.refused_checks().len();
    let resp = login_with(&gw, &op, |op, nonce| {
        stranger.sign(&op.claims(nonce, now() + chrono::Duration::seconds(30)))
    })
    .await;
    assert_refused(&gw, resp, "oidc.kid", before).await;
    assert_eq!(op.hits("jwks"), 2);

    // After it, one refetch again.
    gw.clock.advance(chrono::Duration::seconds(31));
    let before = gw.refused_checks().len();
    let resp = login_with(&gw, &op, |op, nonce| {
        stranger.sign(&op.claims(nonce, now() + chrono::Duration::seconds(61)))
    })
    .await;
    assert_refused(&gw, resp, "oidc.kid", before).await;
    assert_eq!(op.hits("jwks"), 3);
}

#[tokio::test]
async fn a_discovery_redirect_is_refused_not_followed() {
    let (gw, op) = hostile().await;
    op.state.lock().unwrap().redirect_discovery = true;
    let before = gw.refused_checks().len();
    let resp = gw.get(&domaine_gar(RES_ETABL), None).await;
    assert_refused(&gw, resp, "oidc.discovery", before).await;
    assert_eq!(op.hits("discovery"), 1);
    assert_eq!(op.hits("elsewhere"), 0, "the redirect was not followed");
    // Clicks within ten seconds are answered without asking the ENT again; then it is retried.
    let before = gw.refused_checks().len();
    let resp = gw.get(&domaine_gar(RES_ETABL), None).await;
    assert_refused(&gw, resp, "oidc.discovery", before).await;
    assert_eq!(op.hits("discovery"), 1);
    gw.clock.advance(chrono::Duration::seconds(11));
    op.state.lock().unwrap().redirect_discovery = false;
    start(&gw).await;
    assert_eq!(op.hits("discovery"), 2);

    // Metadata naming a plain-http endpoint off loopback.
    let (gw, op) = hostile().await;
    op.state.lock().unwrap().token_endpoint = Some("http://ent.example.test/token".into());
    let before = gw.refused_checks().len();
    let resp = gw.get(&domaine_gar(RES_ETABL), None).await;
    assert_refused(&gw, resp, "oidc.discovery", before).await;
    assert_eq!(op.hits("jwks"), 0);
}

#[tokio::test]
async fn token_endpoint_failures_are_refused() {
    // The ENT refuses the code.
    let (gw, op) = hostile().await;
    op.state.lock().unwrap().token_error = Some("invalid_grant");
    let before = gw.refused_checks().len();
    let resp = login_with(&gw, &op, |op, nonce| op.key.sign(&op.claims(nonce, now()))).await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert_refused(&gw, resp, "oidc.token", before).await;

    // Tokens without an ID token.
    let (gw, op) = hostile().await;
    let (url, cookie) = start(&gw).await;
    let state = query_param(&url, "state").unwrap();
    let before = gw.refused_checks().len();
    let resp = gw.get(&callback_uri(&op, &state), Some(&cookie)).await;
    assert_refused(&gw, resp, "oidc.token", before).await;
}

#[tokio::test]
async fn a_missing_iss_is_refused_when_the_ent_advertises_rfc_9207() {
    let (gw, op) = hostile().await;
    op.state.lock().unwrap().advertise_iss = true;
    let (url, cookie) = start(&gw).await;
    op.set_id_token(
        op.key
            .sign(&op.claims(&query_param(&url, "nonce").unwrap(), now())),
    );
    let state = query_param(&url, "state").unwrap();
    let before = gw.refused_checks().len();
    let resp = gw
        .get(
            &format!("/ent/oidc/callback?code=the-code&state={state}"),
            Some(&cookie),
        )
        .await;
    assert_refused(&gw, resp, "oidc.iss", before).await;
    assert_eq!(op.hits("token"), 0);
}

/// A provider's signed ForceAuthn request for the session `cookie` (which launched the ETABL
/// resource): the ENT authorization URL it leads to, and the login-binding cookie.
async fn forced_sso(gw: &TestGateway, cookie: &str, id: &str) -> (String, String) {
    let xml = provider_authn_request(id, Some(SP_ACS), "2026-11-24T08:00:00Z").replace(
        " ProtocolBinding=",
        r#" ForceAuthn="true" ProtocolBinding="#,
    );
    let q = signed_redirect_query(&private_key(&gw.sp), &xml, None, false);
    let resp = gw
        .get(
            &format!("/idp/profile/SAML2/Redirect/SSO?{q}"),
            Some(cookie),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "to the ENT again");
    let url = location(&resp);
    let state = query_param(&url, "state").unwrap();
    (url, format!("{}{state}=1", gw.login_cookie()))
}

#[tokio::test]
async fn a_forced_login_needs_an_auth_time_after_the_request() {
    let (gw, op) = hostile().await;
    let session = gw.session("eleve-0001").await;
    assert_eq!(
        gw.get(&domaine_gar(RES_ETABL), Some(&session))
            .await
            .status(),
        StatusCode::FOUND
    );
    let (url, cookie) = forced_sso(&gw, &session, "_force-1").await;
    assert_eq!(query_param(&url, "prompt").as_deref(), Some("login"));
    assert_eq!(query_param(&url, "max_age").as_deref(), Some("0"));
    // An ID token without auth_time, or with one before the request: refused.
    for auth_time in [None, Some(now() - chrono::Duration::minutes(10))] {
        let (url, cookie) = if auth_time.is_none() {
            (url.clone(), cookie.clone())
        } else {
            forced_sso(&gw, &session, "_force-2").await
        };
        let mut claims = op.claims(&query_param(&url, "nonce").unwrap(), now());
        if let Some(t) = auth_time {
            claims["auth_time"] = json!(t.timestamp());
        }
        op.set_id_token(op.key.sign(&claims));
        let before = gw.refused_checks().len();
        let state = query_param(&url, "state").unwrap();
        let resp = gw.get(&callback_uri(&op, &state), Some(&cookie)).await;
        assert_refused(&gw, resp, "oidc.force_authn", before).await;
    }
    // The ENT authenticated the user again: the request resumes.
    let (url, cookie) = forced_sso(&gw, &session, "_force-3").await;
    let mut claims = op.claims(&query_param(&url, "nonce").unwrap(), now());
    claims["auth_time"] = json!(now().timestamp());
    op.set_id_token(op.key.sign(&claims));
    let state = query_param(&url, "state").unwrap();
    let resp = gw.get(&callback_uri(&op, &state), Some(&cookie)).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert!(location(&resp).starts_with("/idp/resume?id="));
}
