//! The committed SAML fixtures (made by `fixtures/saml/make-fixtures.sh` with xmlsec1 and the
//! example ENT key) read with a fixed clock, against the committed example keys and metadata.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use passerelle::app::AppState;
use passerelle::clock::FixedClock;
use passerelle::session::PendingLogin;
use passerelle::store::{LoginStateStore, MemoryStore};
use passerelle::trace::{MemorySink, TraceEvent};
use tower::ServiceExt;

async fn gateway(sha1: bool) -> (AppState, MemorySink) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let algs = if sha1 {
        r#"["rsa-sha256", "rsa-sha1"]"#
    } else {
        r#"["rsa-sha256"]"#
    };
    let toml = format!(
        r#"
[server]
public_base_url = "https://gateway.example.test"
[keys]
signing_key_file = "certs-example/gateway-signing.key"
signing_certificate_file = "certs-example/gateway-signing.crt"
ido_secret_file = "certs-example/ido-secret.example"
[ents.B0]
name = "ENT"
[ents.B0.saml]
idp_metadata = "config/examples/ent-B0-idp-metadata.xml"
signature_algorithms = {algs}
"#
    );
    let cfg = passerelle::config::load_str(&toml, root, Vec::<(String, String)>::new())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let store = Arc::new(MemoryStore::new());
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-24T08:00:30Z")
        .unwrap()
        .into();
    store
        .put_pending_login(
            &PendingLogin {
                id: "_fixture-request-1".into(),
                ent: "B0".parse().unwrap(),
                target: None,
                resume: None,
                created_at: at,
                extra: None,
                forced: false,
                passive: false,
            },
            std::time::Duration::from_secs(600),
        )
        .await
        .unwrap();
    let sink = MemorySink::new();
    (
        AppState::new(
            cfg,
            store,
            Arc::new(FixedClock::new(at)),
            Arc::new(sink.clone()),
        ),
        sink,
    )
}

async fn post(state: &AppState, fixture: &str) -> StatusCode {
    let xml = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/saml")
            .join(fixture),
    )
    .unwrap();
    let body = format!(
        "SAMLResponse={}&RelayState=_fixture-request-1",
        urlencoding::encode(&base64::engine::general_purpose::STANDARD.encode(xml))
    );
    let req = Request::post("/saml/acs")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", "__Secure-passerelle_login__fixture-request-1=1")
        .body(Body::from(body))
        .unwrap();
    passerelle::http::app(state.clone())
        .oneshot(req)
        .await
        .unwrap()
        .status()
}

fn refused(sink: &MemorySink) -> Vec<&'static str> {
    sink.events()
        .into_iter()
        .filter_map(|e| {
            if let TraceEvent::ProtocolRefused { check, .. } = e {
                Some(check)
            } else {
                None
            }
        })
        .collect()
}

#[tokio::test]
async fn the_valid_fixture_is_accepted() {
    let (state, sink) = gateway(false).await;
    assert_eq!(post(&state, "ent-response-valid.xml").await, StatusCode::OK);
    assert!(sink
        .events()
        .iter()
        .any(|e| matches!(e, TraceEvent::EntLogin { .. })));
}

#[tokio::test]
async fn the_sha1_fixture_needs_the_ent_to_allow_it() {
    let (state, sink) = gateway(false).await;
    assert_eq!(
        post(&state, "ent-response-sha1.xml").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(refused(&sink), ["saml.algorithm"]);
    let (state, _) = gateway(true).await;
    assert_eq!(post(&state, "ent-response-sha1.xml").await, StatusCode::OK);
}

#[tokio::test]
async fn the_wrapped_and_tampered_fixtures_are_refused() {
    let (state, sink) = gateway(false).await;
    assert_eq!(
        post(&state, "ent-response-wrapped.xml").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&state, "ent-response-tampered.xml").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(refused(&sink), ["saml.wrapping", "saml.signature"]);
}
