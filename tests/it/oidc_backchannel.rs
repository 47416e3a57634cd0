//! The gateway as OpenID Provider tells its clients that a session ended (Back-Channel Logout
//! 1.0): a client that registered a `backchannel_logout_uri` and got a code in a session
//! receives, when the ENT logs the user out, a `logout_token` verified here with jsonwebtoken
//! (not the gateway's code) against the published JWKS; a client that does not answer is tried
//! three times and holds up nobody.

use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::{Form, Router};
use base64::Engine;
use passerelle::clock::Clock;
use passerelle::trace::TraceEvent;
use tokio::sync::mpsc;

use crate::support::ent_idp::EntLogoutRequest;
use crate::support::gateway::*;
use crate::support::oidc::{redeem_web, subscribe, web_params};
use crate::support::saml_browser::*;

/// A client's back-channel logout endpoint on loopback: every token it receives.
pub(crate) async fn client_endpoint() -> (String, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    async fn take(
        State(tx): State<mpsc::UnboundedSender<String>>,
        Form(f): Form<std::collections::HashMap<String, String>>,
    ) -> &'static str {
        let _ = tx.send(f.get("logout_token").cloned().unwrap_or_default());
        ""
    }
    let app = Router::new().route("/bcl", post(take)).with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/bcl", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

/// A loopback port nothing listens on.
async fn dead_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/bcl", listener.local_addr().unwrap());
    drop(listener);
    url
}

pub(crate) fn claims(jwt: &str) -> serde_json::Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hears_that_the_session_ended_and_a_silent_one_holds_up_nobody() {
    let (live, mut received) = client_endpoint().await;
    let dead = dead_endpoint().await;
    let key = |i: usize| {
        format!("PASSERELLE__PROVIDERS__OTHER-EDITEUR__OIDC__CLIENTS__{i}__BACKCHANNEL_LOGOUT_URI")
    };
    let s = Saml::new(vec![
        (key(0), format!("\"{live}\"")),
        (key(1), format!("\"{dead}\"")),
    ])
    .await;
    subscribe(&s.gw).await;
    let (_, to_ent) = s.click().await;
    let (answer, login) = s.ent_answers_as(&to_ent, TEACHER).await;
    assert_eq!(answer.0, 302);

    // The web client gets a code, and its ID token a sid; the native one gets a code too.
    let authz = |pairs: Vec<(&str, &str)>| {
        let url = format!(
            "{}/oidc/authorize?{}",
            s.base,
            crate::support::oidc::query(&pairs)
        );
        let browser = s.browser.clone();
        async move { browser.get(url).send().await.unwrap() }
    };
    let resp = authz(web_params()).await;
    let code = url::Url::parse(resp.headers()["location"].to_str().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let (status, tokens) = redeem_web(&s.gw, &code).await;
    assert_eq!(status, 200, "{tokens}");
    let sid = claims(tokens["id_token"].as_str().unwrap())["sid"].clone();
    assert!(sid.is_string(), "{tokens}");
    let (_, challenge) = crate::support::oidc::pkce();
    let resp = authz(crate::support::oidc::app_params(&challenge)).await;
    assert_eq!(resp.status(), 302);

    // The ENT logs the user out (front channel, signed by the ENT's key).
    let request = EntLogoutRequest {
        id: format!("_lr-{}", uuid::Uuid::new_v4().simple()),
        issuer: ENT_ENTITY.into(),
        destination: Some(format!("{}/saml/slo", s.base)),
        issued: s.gw.clock.now(),
        name_id: login.name_id.clone(),
        session_indexes: vec![login.session_index.clone()],
    };
    let xml = request.xml(Some((&s.gw.ent.key, &s.gw.ent.cert)));
    let resp = s
        .browser
        .post(format!("{}/saml/slo", s.base))
        .form(&[(
            "SAMLRequest",
            base64::engine::general_purpose::STANDARD.encode(&xml),
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // The live client hears at once, whatever the silent one does.
    let token = tokio::time::timeout(Duration::from_secs(3), received.recv())
        .await
        .expect("the live client is told within 3 s")
        .unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(
        &reqwest::get(format!("{}/oidc/jwks", s.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&[OIDC_WEB]);
    validation.set_issuer(&[format!("{}/oidc", s.base)]);
    validation.validate_exp = false; // the gateway's clock is fixed in the past
    let verified = jsonwebtoken::decode::<serde_json::Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(verified["sid"], sid);
    assert!(verified["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(verified.get("nonce").is_none() && verified["jti"].is_string());

    // The silent client was tried three times, then given up, and that is on record.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let outcomes = loop {
        let outcomes: Vec<(bool, u32)> =
            s.gw.events()
                .into_iter()
                .filter_map(|e| match e {
                    TraceEvent::LogoutSent {
                        delivered,
                        attempts,
                        ..
                    } => Some((delivered, attempts)),
                    _ => None,
                })
                .collect();
        if outcomes.len() == 2 || std::time::Instant::now() > deadline {
            break outcomes;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(outcomes.contains(&(true, 1)), "{outcomes:?}");
    assert!(outcomes.contains(&(false, 3)), "{outcomes:?}");
}
