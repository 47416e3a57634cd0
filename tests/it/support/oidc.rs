//! Helpers for driving the gateway's OpenID Provider in route tests: the OIDC resource's
//! subscription, PKCE pairs, authorization and token requests, and reading JWT payloads.

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use passerelle::domain::{Assignment, AssignmentTarget, Subscription};
use passerelle::store::SubscriptionStore;
use serde_json::Value;
use sha2::Digest;

use crate::support::gateway::*;

/// An INDIV subscription of the OIDC resource for pupils and teachers, assigned to the Latin
/// group and to the teacher (so `eleve-0001` and `ens-0001` may open it, `eleve-0002` may not).
pub async fn subscribe(gw: &TestGateway) {
    let s: Subscription = serde_json::from_value(serde_json::json!({
        "id": "abo-oidc", "distributor_id": "987654321_0000000000000000", "resource_id": RES_OIDC,
        "valid_from": "2026-08-15T00:00:00Z", "valid_until": "2027-08-15T00:00:00Z", "uais": [UAI],
        "assignment_type": "INDIV", "audiences": ["ELEVE", "ENSEIGNANT"]
    }))
    .unwrap();
    gw.store.put_subscription(&s).await.unwrap();
    gw.store
        .add_assignment(&Assignment {
            subscription_id: "abo-oidc".into(),
            uai: UAI.parse().unwrap(),
            target: AssignmentTarget::Group {
                code: "LATIN".into(),
            },
        })
        .await
        .unwrap();
    gw.store
        .add_assignment(&Assignment {
            subscription_id: "abo-oidc".into(),
            uai: UAI.parse().unwrap(),
            target: AssignmentTarget::Person {
                ent: "B0".parse().unwrap(),
                id: "ens-0001".into(),
            },
        })
        .await
        .unwrap();
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = format!("v{}", passerelle::oidc::op::records::new_secret());
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    q.finish()
}

/// The web client's PKCE verifier and its S256 challenge (confidential clients send PKCE too).
pub const WEB_VERIFIER: &str = "web-verifier-0123456789abcdefghijklmnopqrstuvwxyz";
pub const WEB_CHALLENGE: &str = "3VQJxmSW049T5z_03jFdxmuaEcNNmXEz3x4PkH7r6bU";

/// The parameters of a web client's authorization request (with PKCE: [`WEB_VERIFIER`]).
pub fn web_params<'a>() -> Vec<(&'a str, &'a str)> {
    vec![
        ("client_id", OIDC_WEB),
        ("redirect_uri", OIDC_WEB_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid scope.gar"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("idRessource", RES_OIDC),
        ("code_challenge", WEB_CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
}

/// A native client's authorization request with PKCE.
pub fn app_params(challenge: &str) -> Vec<(&str, &str)> {
    vec![
        ("client_id", OIDC_APP),
        ("redirect_uri", OIDC_APP_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid scope.gar"),
        ("state", "st-app"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
        ("idRessource", RES_OIDC),
    ]
}

pub async fn authorize(
    gw: &TestGateway,
    cookie: Option<&str>,
    pairs: &[(&str, &str)],
) -> Response<Body> {
    gw.get(&format!("/oidc/authorize?{}", query(pairs)), cookie)
        .await
}

/// The query parameters of a redirect back to the client.
pub fn redirect_params(resp: &Response<Body>) -> std::collections::HashMap<String, String> {
    assert_eq!(
        resp.status(),
        StatusCode::FOUND,
        "expected a redirect to the client"
    );
    let loc = location(resp);
    let u = url::Url::parse(&loc).unwrap();
    u.query_pairs()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The code of a successful authorization.
pub fn code_of(resp: &Response<Body>) -> String {
    let p = redirect_params(resp);
    assert!(!p.contains_key("error"), "authorization refused: {p:?}");
    p["code"].clone()
}

/// A token-endpoint style POST; `basic` authenticates with client_secret_basic.
pub async fn post(
    gw: &TestGateway,
    path: &str,
    pairs: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (StatusCode, Value) {
    let mut b = Request::post(path).header("content-type", "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        let cred = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        b = b.header("authorization", format!("Basic {cred}"));
    }
    let resp = gw.call(b.body(Body::from(query(pairs))).unwrap()).await;
    let status = resp.status();
    let body = body_string(resp).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

pub async fn redeem_web(gw: &TestGateway, code: &str) -> (StatusCode, Value) {
    post(
        gw,
        "/oidc/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", OIDC_WEB_REDIRECT),
            ("code_verifier", WEB_VERIFIER),
        ],
        Some((OIDC_WEB, OIDC_WEB_SECRET)),
    )
    .await
}

pub async fn redeem_app(gw: &TestGateway, code: &str, verifier: &str) -> (StatusCode, Value) {
    post(
        gw,
        "/oidc/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", OIDC_APP_REDIRECT),
            ("client_id", OIDC_APP),
            ("code_verifier", verifier),
        ],
        None,
    )
    .await
}

pub async fn userinfo(
    gw: &TestGateway,
    token: &str,
    extra: &str,
) -> (StatusCode, Value, Option<String>) {
    let resp = gw
        .call(
            Request::get(format!("/oidc/userinfo{extra}"))
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let status = resp.status();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let body = body_string(resp).await;
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::Null),
        challenge,
    )
}

/// The payload of a JWT, unverified (the tests that verify use an independent library).
pub fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// A JWT with this header and payload and the given signature part.
pub fn forge(header: &Value, payload: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    )
}
