//! The gateway as OpenID Connect relying party of an ENT: the full flow over real sockets with
//! panva's `oidc-provider` as the ENT's OpenID Provider, then one negative test per check
//! against a hostile OP written here, each refused with a `protocol_refused` trace naming the
//! check, and JWKS rotation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "support/ent_op.rs"]
mod ent_op;
#[path = "support/hostile_op.rs"]
mod hostile_op;

use axum::http::StatusCode;
use common::*;
use hostile_op::{raw_jwt, HostileOp, RsaKey, ACCESS_TOKEN, CLIENT_ID, CLIENT_SECRET};
use passerelle::trace::TraceEvent;
use serde_json::json;

fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn gateway_for(op_b0_auth: String, base: &str) -> TestGateway {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flow_with_panva_oidc_provider_over_sockets() {
    for conform in [false, true] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let redirect_uri = format!("{base}/ent/oidc/callback");
        let op = ent_op::EntOp::start(&ent_op::EntOpOptions {
            redirect_uri: &redirect_uri,
            client_id: CLIENT_ID,
            client_secret: CLIENT_SECRET,
            id_ent: "B0",
            person: "eleve-0001",
            conform,
        });
        let auth = format!(
            "protocol = \"oidc\"\n[ents.B0.oidc]\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_file = \"ent-client.secret\"\n",
            op.issuer
        );
        let gw = gateway_for(auth, &base).await;
        // The OP signs with its own clock: the gateway's fixed clock is set to it.
        gw.clock.set(op.started_at);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(passerelle::http::serve(listener, gw.state.clone(), async {
            let _ = stopped.await;
        }));
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();

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

/// A gateway whose ENT B0 authenticates over OIDC at a hostile OP.
async fn hostile() -> (TestGateway, HostileOp) {
    let op = HostileOp::start().await;
    let gw = gateway_for(op.ent_b0_auth(), BASE).await;
    (gw, op)
}

/// A médiacentre click: returns the authorization request URL and the browser's cookie.
async fn start(gw: &TestGateway) -> (String, String) {
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
        cookie_header.starts_with(&format!("passerelle_login_{state}=1;")),
        "{cookie_header}"
    );
    assert!(
        cookie_header.contains("Path=/ent/oidc/callback") && cookie_header.contains("HttpOnly")
    );
    (url, format!("passerelle_login_{state}=1"))
}

fn callback_uri(op: &HostileOp, state: &str) -> String {
    format!(
        "/ent/oidc/callback?code=the-code&state={}&iss={}",
        urlencoding::encode(state),
        urlencoding::encode(&op.issuer)
    )
}

/// Starts a login, lets `craft` make the ID token from the login's nonce, and runs the callback.
async fn login_with(
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
async fn assert_refused(
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
            .all(|c| !c.starts_with("passerelle_session=")),
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
    assert!(set.iter().any(|c| c.starts_with("passerelle_session=")));
    assert!(set
        .iter()
        .any(|c| c.starts_with(&format!("passerelle_login_{state}=;")) && c.contains("Max-Age=0")));

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

#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

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
async fn logs_carry_no_code_token_or_claim_value() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

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
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
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
