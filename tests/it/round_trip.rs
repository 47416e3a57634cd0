//! The SAML path end to end over real sockets: the gateway serves on a loopback port; an HTTP
//! client plays the browser; the ENT IdP is the xmlsec1-signing test peer; the provider SP signs
//! its AuthnRequest with openssl and verifies the gateway's Response with xmlsec1. None of the
//! peers uses the gateway's code.

use std::io::Read;

use base64::Engine;
use ent_idp::{xmlsec1_verify, EntResponse, Sign};

use crate::support::ent_idp;
use crate::support::gateway::*;

fn query_param(url: &str, name: &str) -> String {
    let q = url.split_once('?').unwrap().1;
    let raw = q
        .split('&')
        .find_map(|p| p.strip_prefix(&format!("{name}=")))
        .unwrap();
    urlencoding::decode(raw).unwrap().into_owned()
}

fn form_value(page: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = page.find(&marker).unwrap() + marker.len();
    let end = page[start..].find('"').unwrap() + start;
    page[start..end]
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ent_login_then_provider_sso_over_sockets() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let gw = TestGateway::with(Options {
        base: base.clone(),
        ..Options::default()
    })
    .await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(passerelle::http::serve(listener, gw.state.clone(), async {
        let _ = stopped.await;
    }));
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // 1. Médiacentre click: the gateway sends the browser to the ENT with a signed AuthnRequest.
    let resp = browser
        .get(format!("{base}{}", domaine_gar(RES_ETABL)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let to_ent = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(to_ent.starts_with(ENT_SSO));
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
    let relay_state = query_param(&to_ent, "RelayState");

    // 2. The ENT authenticates the pupil and posts a signed Response back.
    let mut ent_response = EntResponse::new(&base, ENT_ENTITY, &request_id, now(), "eleve-0001");
    ent_response.sign = Sign::Both;
    let xml = ent_response.signed(&gw.ent.key, &gw.ent.cert);
    let resp = browser
        .post(format!("{base}/saml/acs"))
        .form(&[
            (
                "SAMLResponse",
                base64::engine::general_purpose::STANDARD.encode(&xml),
            ),
            ("RelayState", relay_state),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302, "{}", resp.text().await.unwrap());
    assert_eq!(resp.headers()["location"], RES_ACCESS);

    // 3. The resource asks the gateway to authenticate the visitor (signed Redirect binding).
    let xml_request = provider_authn_request("_sp-request-1", Some(SP_ACS), "2026-11-24T08:00:00Z")
        .replace(BASE, &base);
    let query = signed_redirect_query(&private_key(&gw.sp), &xml_request, Some("page-7"), false);
    let resp = browser
        .get(format!("{base}/idp/profile/SAML2/Redirect/SSO?{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let page = resp.text().await.unwrap();
    assert_eq!(form_value(&page, "RelayState"), "page-7");
    let response = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(form_value(&page, "SAMLResponse"))
            .unwrap(),
    )
    .unwrap();

    // 4. The provider verifies both signatures with xmlsec1 and the gateway's published certificate.
    let metadata = browser
        .get(format!("{base}/idp/metadata"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let published = metadata
        .split("<ds:X509Certificate>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        published
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let cert = gw.dir.path().join("published.crt");
    std::fs::write(&cert, pem).unwrap();
    xmlsec1_verify(
        &response,
        &cert,
        "/*[local-name()='Response']/*[local-name()='Signature']",
    )
    .unwrap();
    xmlsec1_verify(
        &response,
        &cert,
        "//*[local-name()='Assertion']/*[local-name()='Signature']",
    )
    .unwrap();
    assert!(response.contains(r#"InResponseTo="_sp-request-1""#));
    assert!(response.contains(&format!("Destination=\"{SP_ACS}\"")));
    assert!(response.contains(
        r#"<saml:AttributeValue xsi:type="xs:string">National_elv</saml:AttributeValue>"#
    ));
    assert!(
        !response.contains("Martin"),
        "the pupil's name is not validated for this resource"
    );

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
