//! The OIDC provider path end to end over real sockets, against code that is not ours: the ENT
//! authenticates the user over SAML (the xmlsec1-signing test IdP), then a resource provider's
//! relying party built on Python's Authlib (`tests/peers/oidc-rp/rp.py`) runs the authorization
//! code flow, validates the ID token against the published JWKS and reads userinfo, as a web
//! application (client_secret_basic) and as a native application (PKCE, loopback redirect on
//! an ephemeral port, refresh-token rotation and reuse).

use std::io::Read;

use base64::Engine;
use ent_idp::{EntResponse, Sign};

use crate::support::ent_idp;
use crate::support::gateway::*;
use crate::support::oidc;

fn query_param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .unwrap()
        .1
        .into_owned()
}

/// A médiacentre click on the OIDC resource, the ENT's signed SAML Response, and the gateway's
/// redirect to the resource: returns the browser's gateway session id.
async fn ent_login(base: &str, gw: &TestGateway) -> String {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = browser
        .get(format!("{base}{}", domaine_gar(RES_OIDC)))
        .send()
        .await
        .unwrap();
    let to_ent = resp.headers()["location"].to_str().unwrap().to_string();
    let login_cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let mut request_xml = String::new();
    flate2::read::DeflateDecoder::new(
        &base64::engine::general_purpose::STANDARD
            .decode(query_param(&to_ent, "SAMLRequest"))
            .unwrap()[..],
    )
    .read_to_string(&mut request_xml)
    .unwrap();
    let request_id = request_xml
        .split("ID=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let mut ent_response = EntResponse::new(base, ENT_ENTITY, &request_id, now(), "eleve-0001");
    ent_response.sign = Sign::Assertion;
    let xml = ent_response.signed(&gw.ent.key, &gw.ent.cert);
    let resp = browser
        .post(format!("{base}/saml/acs"))
        .header("cookie", login_cookie)
        .form(&[
            (
                "SAMLResponse",
                base64::engine::general_purpose::STANDARD.encode(&xml),
            ),
            ("RelayState", query_param(&to_ent, "RelayState")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["location"], "https://other.example.test/");
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .find_map(|v| v.to_str().unwrap().strip_prefix("passerelle_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

async fn rp(args: &[&str]) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/oidc-rp/rp.py");
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .await
        .expect("python3 runs the Authlib relying party (scripts/setup.sh installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the relying party failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ent_over_saml_then_oidc_web_and_native_clients_built_on_authlib() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let gw = TestGateway::with(Options {
        base: base.clone(),
        ..Options::default()
    })
    .await;
    oidc::subscribe(&gw).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(passerelle::http::serve(listener, gw.state.clone(), async {
        let _ = stopped.await;
    }));
    let session = ent_login(&base, &gw).await;
    let issuer = format!("{base}/oidc");
    let now = now().timestamp().to_string();

    let web = rp(&[
        "--issuer",
        &issuer,
        "--client-id",
        OIDC_WEB,
        "--client-secret",
        OIDC_WEB_SECRET,
        "--redirect-uri",
        OIDC_WEB_REDIRECT,
        "--resource",
        RES_OIDC,
        "--session-cookie",
        &session,
        "--now",
        &now,
    ])
    .await;
    let sub = web["sub"].as_str().unwrap();
    assert_eq!(sub.len(), 128);
    assert_eq!(web["alg"], "RS256");
    assert_eq!(web["userinfo"]["IDO"], sub);
    assert_eq!(web["userinfo"]["UAI"], UAI);
    assert_eq!(web["userinfo"]["DIV"], serde_json::json!(["4A##4e A"]));
    assert!(web["userinfo"].get("NOM").is_none());

    let app = rp(&[
        "--issuer",
        &issuer,
        "--client-id",
        OIDC_APP,
        "--redirect-uri",
        "http://127.0.0.1:53999/callback",
        "--resource",
        RES_OIDC,
        "--session-cookie",
        &session,
        "--now",
        &now,
        "--access-mode",
        "app",
    ])
    .await;
    assert_eq!(
        app["sub"], sub,
        "one IDO per user and technical distributor, whatever the client"
    );
    assert_eq!(app["rotated"], true);
    assert_eq!(
        app["reuse"],
        serde_json::json!([400, "invalid_grant"]),
        "a reused refresh token is refused"
    );

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
