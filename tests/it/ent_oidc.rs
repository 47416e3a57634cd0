//! The gateway as OpenID Connect relying party of an ENT: the full flow over real sockets with
//! panva's `oidc-provider` as the ENT's OpenID Provider (and its refusal of a wrong client
//! secret); against an OP written in the test, the accepted cases (PKCE and client
//! authentication, claims from userinfo, `at_hash`, `azp`), JWKS rotation, the discovery cache,
//! and logs free of codes, tokens and claim values. Refusals are in `ent_oidc_refusals.rs`.

use axum::http::StatusCode;
use hostile_op::{RsaKey, ACCESS_TOKEN, CLIENT_ID, CLIENT_SECRET};
use oidc_login::*;
use passerelle::trace::TraceEvent;
use serde_json::json;

use crate::support::captured_logs;
use crate::support::ent_op::{panva, Panva};
use crate::support::gateway::*;
use crate::support::hostile_op;
use crate::support::oidc_login;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_with_panva_oidc_provider_over_sockets() {
    for conform in [false, true] {
        let Panva {
            base,
            redirect_uri,
            op,
            gw,
            stop,
            server,
            browser,
            ..
        } = panva(CLIENT_SECRET, conform).await;

        // Médiacentre click: the gateway sends the browser to the ENT's authorization endpoint.
        let resp = browser
            .get(format!("{base}{}", domaine_gar(RES_ETABL)))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 303);
        let mut url = resp.headers()["location"].to_str().unwrap().to_string();
        assert!(url.starts_with(&format!("{}/auth?", op.issuer)), "{url}");
        assert_eq!(query_param(&url, "code_challenge_method").unwrap(), "S256");
        assert_eq!(query_param(&url, "redirect_uri").unwrap(), redirect_uri);
        assert!(query_param(&url, "nonce").is_some());

        // The ENT logs the demo user in and sends the browser back; then the resource.
        let mut through_callback = false;
        for _ in 0..10 {
            let resp = browser.get(&url).send().await.unwrap();
            let status = resp.status();
            assert!(
                status.is_redirection(),
                "{url}: {status} {}",
                resp.text().await.unwrap()
            );
            url = resp.headers()["location"].to_str().unwrap().to_string();
            if url.starts_with('/') {
                url = format!("{}{url}", op.issuer);
            }
            if url.starts_with(&redirect_uri) {
                through_callback = true;
                assert_eq!(query_param(&url, "iss").unwrap(), op.issuer);
            }
            if url == RES_ACCESS {
                break;
            }
        }
        assert!(through_callback);
        assert_eq!(url, RES_ACCESS, "conform={conform}");
        let events = gw.events();
        assert!(
            events.iter().any(|e| matches!(
                e,
                TraceEvent::EntLogin {
                    protocol: "oidc",
                    ..
                }
            )),
            "{events:?}"
        );
        assert!(events
            .iter()
            .any(|e| matches!(e, TraceEvent::AccessGranted { .. })));
        assert!(gw.refused_checks().is_empty(), "{:?}", gw.refused_checks());

        // The session serves the next click without a new ENT login.
        let resp = browser
            .get(format!("{base}{}", domaine_gar(RES_ETABL)))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302);
        assert_eq!(resp.headers()["location"], RES_ACCESS);

        let _ = stop.send(());
        server.await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn a_valid_id_token_opens_a_session_with_pkce_and_basic_auth() {
    let (gw, op) = hostile().await;
    let (url, cookie) = start(&gw).await;
    assert!(url.starts_with(&format!("{}/authorize?", op.issuer)));
    assert_eq!(query_param(&url, "response_type").unwrap(), "code");
    assert_eq!(query_param(&url, "client_id").unwrap(), CLIENT_ID);
    assert_eq!(query_param(&url, "scope").unwrap(), "openid");
    assert_eq!(query_param(&url, "code_challenge_method").unwrap(), "S256");
    let challenge = query_param(&url, "code_challenge").unwrap();
    let nonce = query_param(&url, "nonce").unwrap();
    let state = query_param(&url, "state").unwrap();
    op.set_id_token(op.key.sign(&op.claims(&nonce, now())));

    let resp = gw.get(&callback_uri(&op, &state), Some(&cookie)).await;
    assert_eq!(
        resp.status(),
        StatusCode::FOUND,
        "{}",
        body_string(resp).await
    );
    assert_eq!(location(&resp), RES_ACCESS);
    let set: Vec<&str> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(set
        .iter()
        .any(|c| c.starts_with(&format!("{}=", gw.session_cookie()))));
    assert!(set.iter().any(
        |c| c.starts_with(&format!("{}{state}=;", gw.login_cookie())) && c.contains("Max-Age=0")
    ));

    // The token request: client_secret_basic, the code, the PKCE verifier of the challenge.
    let (auth, form) = op.state.lock().unwrap().last_token_request.clone().unwrap();
    use base64::Engine;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    assert_eq!(auth, format!("Basic {basic}"));
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "the-code");
    assert_eq!(form["redirect_uri"], format!("{BASE}/ent/oidc/callback"));
    let verifier = &form["code_verifier"];
    use sha2::Digest;
    let derived = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    assert_eq!(derived, challenge);
    assert!(gw.events().iter().any(|e| matches!(
        e,
        TraceEvent::EntLogin {
            protocol: "oidc",
            ..
        }
    )));

    // The same callback again: the login was consumed.
    let before = gw.refused_checks().len();
    let resp = gw.get(&callback_uri(&op, &state), Some(&cookie)).await;
    let checks_before = before;
    let status = resp.status();
    let page = body_string(resp).await;
    assert!(
        status.is_client_error() && page.contains("oidc.state"),
        "{page}"
    );
    assert_eq!(gw.refused_checks().len(), checks_before + 1);
}

#[tokio::test]
async fn claims_missing_from_the_id_token_are_read_from_userinfo() {
    let (gw, op) = hostile().await;
    op.state.lock().unwrap().userinfo = json!({
        "sub": "sub-eleve-0001", "idEnt": "B0", "GARPersonIdentifiant": "eleve-0001"
    });
    let resp = login_with(&gw, &op, |op, nonce| {
        let mut c = op.claims(nonce, now());
        c.as_object_mut().unwrap().remove("idEnt");
        c.as_object_mut().unwrap().remove("GARPersonIdentifiant");
        op.key.sign(&c)
    })
    .await;
    assert_eq!(
        resp.status(),
        StatusCode::FOUND,
        "{}",
        body_string(resp).await
    );
    assert_eq!(location(&resp), RES_ACCESS);
    assert_eq!(op.hits("userinfo"), 1);
}

#[tokio::test]
async fn a_valid_at_hash_is_accepted() {
    let (gw, op) = hostile().await;
    let resp = login_with(&gw, &op, |op, nonce| {
        use base64::Engine;
        use sha2::Digest;
        let h = sha2::Sha256::digest(ACCESS_TOKEN.as_bytes());
        let mut c = op.claims(nonce, now());
        c["at_hash"] = json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&h[..16]));
        op.key.sign(&c)
    })
    .await;
    assert_eq!(
        resp.status(),
        StatusCode::FOUND,
        "{}",
        body_string(resp).await
    );
}

#[tokio::test]
async fn a_rotated_key_is_accepted_after_one_jwks_refetch() {
    let (gw, op) = hostile().await;
    let (url, cookie) = start(&gw).await;
    assert_eq!(op.hits("jwks"), 1);
    // The ENT rotates its key after the gateway cached its JWKS.
    let new_key = RsaKey::generate("ent-key-2");
    op.state.lock().unwrap().jwks = vec![op.key.jwk.clone(), new_key.jwk.clone()];
    op.set_id_token(new_key.sign(&op.claims(&query_param(&url, "nonce").unwrap(), now())));
    let state = query_param(&url, "state").unwrap();
    let resp = gw.get(&callback_uri(&op, &state), Some(&cookie)).await;
    assert_eq!(
        resp.status(),
        StatusCode::FOUND,
        "{}",
        body_string(resp).await
    );
    assert_eq!(op.hits("jwks"), 2, "one refetch");
    assert_eq!(op.hits("discovery"), 1, "discovery stays cached");
}

#[tokio::test]
async fn discovery_is_cached_for_its_ttl() {
    let (gw, op) = hostile().await;
    start(&gw).await;
    start(&gw).await;
    assert_eq!(op.hits("discovery"), 1);
    gw.clock.advance(chrono::Duration::seconds(3601));
    start(&gw).await;
    assert_eq!(op.hits("discovery"), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn logs_carry_no_code_token_or_claim_value() {
    let (captured, _guard) = captured_logs::capture();

    let (gw, op) = hostile().await;
    let mut tokens = Vec::new();
    // A refusal (wrong nonce), one naming another ENT, then a login that succeeds.
    for (nonce_ok, ent) in [(false, "B0"), (true, "B1"), (true, "B0")] {
        let resp = login_with(&gw, &op, |op, nonce| {
            let mut c = op.claims(if nonce_ok { nonce } else { "wrong-nonce" }, now());
            c["idEnt"] = json!(ent);
            op.key.sign(&c)
        })
        .await;
        tokens.push(op.state.lock().unwrap().id_token.clone().unwrap());
        let _ = body_string(resp).await;
    }
    assert_eq!(gw.refused_checks(), vec!["oidc.nonce", "oidc.ent_claim"]);
    let logs = captured.text();
    assert!(
        logs.contains("oidc.nonce") && logs.contains("oidc.ent_claim"),
        "{logs}"
    );
    let mut secrets = vec![
        "the-code".to_string(),
        ACCESS_TOKEN.to_string(),
        CLIENT_SECRET.to_string(),
        "eleve-0001".to_string(),
        "wrong-nonce".to_string(),
        "code_verifier".to_string(),
    ];
    for t in &tokens {
        secrets.extend(t.split('.').map(|p| p[..p.len().min(24)].to_string()));
    }
    for s in secrets.iter().filter(|s| s.len() >= 8) {
        assert!(!logs.contains(s.as_str()), "logs contain {s}:\n{logs}");
    }
}

#[tokio::test]
async fn a_callback_without_iss_is_accepted_from_an_ent_that_does_not_advertise_it() {
    let (gw, op) = hostile().await;
    let (url, cookie) = start(&gw).await;
    op.set_id_token(
        op.key
            .sign(&op.claims(&query_param(&url, "nonce").unwrap(), now())),
    );
    let state = query_param(&url, "state").unwrap();
    let resp = gw
        .get(
            &format!("/ent/oidc/callback?code=the-code&state={state}"),
            Some(&cookie),
        )
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::FOUND,
        "{}",
        body_string(resp).await
    );
    assert_eq!(location(&resp), RES_ACCESS);
}

#[tokio::test]
async fn several_audiences_are_accepted_with_an_azp_naming_the_gateway() {
    let (gw, op) = hostile().await;
    let resp = login_with(&gw, &op, |op, nonce| {
        let mut c = op.claims(nonce, now());
        c["aud"] = json!([CLIENT_ID, "another-client"]);
        c["azp"] = json!(CLIENT_ID);
        op.key.sign(&c)
    })
    .await;
    assert_eq!(
        resp.status(),
        StatusCode::FOUND,
        "{}",
        body_string(resp).await
    );

    // The same audiences with an azp naming the other client are refused.
    let (gw, op) = hostile().await;
    let before = gw.refused_checks().len();
    let resp = login_with(&gw, &op, |op, nonce| {
        let mut c = op.claims(nonce, now());
        c["aud"] = json!([CLIENT_ID, "another-client"]);
        c["azp"] = json!("another-client");
        op.key.sign(&c)
    })
    .await;
    assert_refused(&gw, resp, "oidc.audience", before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panva_oidc_provider_refuses_a_wrong_client_secret_and_the_gateway_says_so() {
    let Panva {
        base,
        redirect_uri,
        op,
        gw,
        stop,
        server,
        browser,
        ..
    } = panva("the-secret-the-ent-registered-0123456789", false).await;
    let mut url = format!("{base}{}", domaine_gar(RES_ETABL));
    let mut last = None;
    for _ in 0..10 {
        let resp = browser.get(&url).send().await.unwrap();
        if !resp.status().is_redirection() {
            last = Some((url.clone(), resp.status(), resp.text().await.unwrap()));
            break;
        }
        url = resp.headers()["location"].to_str().unwrap().to_string();
        if url.starts_with('/') {
            url = format!("{}{url}", op.issuer);
        }
    }
    let (at, status, page) = last.expect("the flow ends on a page");
    assert!(at.starts_with(&redirect_uri), "{at}");
    assert_eq!(status, 502);
    assert!(page.contains("oidc.token"), "{page}");
    assert_eq!(gw.refused_checks(), vec!["oidc.token"]);
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
