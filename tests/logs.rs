//! What operators' logs may carry: check codes, references, route templates; never user ids,
//! names, tokens or SAML messages. Every log line of a run of refusals and successes is captured
//! and searched.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "support/ent_idp.rs"]
mod ent_idp;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::Request;
use common::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn logs_carry_no_personal_data_tokens_or_messages() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

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
    let cookie = format!("passerelle_login_{id}=1");
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

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
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
