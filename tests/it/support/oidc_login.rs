//! The browser's side of an ENT login over OpenID Connect in route tests: a gateway whose ENT
//! B0 authenticates at an OP, the médiacentre click, the callback, and the shape of a refusal.

use axum::http::StatusCode;
use passerelle::trace::TraceEvent;

use crate::support::gateway::*;
use crate::support::hostile_op::{HostileOp, CLIENT_SECRET};

pub fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub async fn gateway_for(op_b0_auth: String, base: &str) -> TestGateway {
    TestGateway::with(Options {
        base: base.to_string(),
        ent_b0_auth: Some(op_b0_auth),
        files: vec![(
            "ent-client.secret".into(),
            CLIENT_SECRET.as_bytes().to_vec(),
        )],
        ..Options::default()
    })
    .await
}

/// A gateway whose ENT B0 authenticates over OIDC at a hostile OP.
pub async fn hostile() -> (TestGateway, HostileOp) {
    let op = HostileOp::start().await;
    let gw = gateway_for(op.ent_b0_auth(), BASE).await;
    (gw, op)
}

/// A médiacentre click: returns the authorization request URL and the browser's cookie.
pub async fn start(gw: &TestGateway) -> (String, String) {
    let resp = gw.get(&domaine_gar(RES_ETABL), None).await;
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "{}",
        body_string(resp).await
    );
    let url = location(&resp);
    let cookie_header = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    let state = query_param(&url, "state").unwrap();
    assert!(
        cookie_header.starts_with(&format!("{}{state}=1;", gw.login_cookie())),
        "{cookie_header}"
    );
    assert!(
        cookie_header.contains("Path=/ent/oidc/callback") && cookie_header.contains("HttpOnly")
    );
    (url, format!("{}{state}=1", gw.login_cookie()))
}

pub fn callback_uri(op: &HostileOp, state: &str) -> String {
    format!(
        "/ent/oidc/callback?code=the-code&state={}&iss={}",
        urlencoding::encode(state),
        urlencoding::encode(&op.issuer)
    )
}

/// Starts a login, lets `craft` make the ID token from the login's nonce, and runs the callback.
pub async fn login_with(
    gw: &TestGateway,
    op: &HostileOp,
    craft: impl Fn(&HostileOp, &str) -> String,
) -> axum::http::Response<axum::body::Body> {
    let (url, cookie) = start(gw).await;
    let nonce = query_param(&url, "nonce").unwrap();
    op.set_id_token(craft(op, &nonce));
    let state = query_param(&url, "state").unwrap();
    gw.get(&callback_uri(op, &state), Some(&cookie)).await
}

/// The response is a refusal by `check`: an error page naming it, exactly one new
/// `protocol_refused` trace with that check, no session.
pub async fn assert_refused(
    gw: &TestGateway,
    resp: axum::http::Response<axum::body::Body>,
    check: &str,
    before: usize,
) {
    let status = resp.status();
    assert!(
        status.is_client_error() || status.is_server_error(),
        "{check}: got {status}"
    );
    let cookies: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert!(
        cookies
            .iter()
            .all(|c| !c.starts_with(&format!("{}=", gw.session_cookie()))),
        "{check}: no session may be created"
    );
    let page = body_string(resp).await;
    assert!(page.contains(check), "{check}: {page}");
    let checks = gw.refused_checks();
    assert_eq!(
        checks.len(),
        before + 1,
        "{check}: one event, got {checks:?}"
    );
    assert_eq!(*checks.last().unwrap(), check);
    assert!(!gw
        .events()
        .iter()
        .any(|e| matches!(e, TraceEvent::EntLogin { .. })));
    for e in gw.events() {
        if let TraceEvent::ProtocolRefused {
            peer_kind,
            protocol,
            ..
        } = e
        {
            assert_eq!((peer_kind, protocol), ("ent", "oidc"));
        }
    }
}
