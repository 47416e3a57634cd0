//! Security headers on every response, seen by an HTTP client over a real listener: pages
//! cannot be framed (clickjacking of the assignment page's buttons), URLs do not leak in a
//! Referer, content is not sniffed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

#[tokio::test]
async fn every_answer_forbids_framing_sniffing_and_referers() {
    let gw = TestGateway::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(passerelle::http::serve(
        listener,
        gw.state.clone(),
        std::future::pending(),
    ));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    let pages = [
        ("GET", "/affectations".to_string()),
        ("GET", "/domaineGar".to_string()),
        ("GET", domaine_gar(RES_ETABL)),
        ("GET", "/health/live".to_string()),
        ("POST", "/saml/acs".to_string()),
    ];
    for (method, path) in pages {
        let url = format!("{base}{path}");
        let resp = match method {
            "GET" => client.get(&url).send().await.unwrap(),
            _ => client
                .post(&url)
                .form(&[("SAMLResponse", "PHg+"), ("RelayState", "x")])
                .send()
                .await
                .unwrap(),
        };
        let h = resp.headers();
        let get = |name: &str| h.get(name).map(|v| v.to_str().unwrap().to_string());
        assert_eq!(get("x-frame-options").as_deref(), Some("DENY"), "{path}");
        assert!(
            get("content-security-policy").is_some_and(|v| v.contains("frame-ancestors 'none'")),
            "{path}"
        );
        assert_eq!(
            get("referrer-policy").as_deref(),
            Some("no-referrer"),
            "{path}"
        );
        assert_eq!(
            get("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
    }
}
