//! Security headers on every response, seen by an HTTP client over a real listener: pages
//! cannot be framed (clickjacking of the assignment page's buttons), URLs do not leak in a
//! Referer, content is not sniffed.

use crate::support::gateway::*;

#[tokio::test]
async fn every_answer_forbids_framing_sniffing_and_referers() {
    let gw = TestGateway::new().await;
    let base = gw.listen().await;
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
        ("GET", "/".to_string()),
        ("GET", "/static/passerelle.css".to_string()),
        ("GET", "/nulle-part".to_string()),
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

/// Over HTTPS the cookies carry the prefixes browsers enforce, and only the prefixed names
/// are read: a cookie planted under the plain name (by a sibling subdomain, or over plain
/// HTTP) does not open a session.
#[tokio::test]
async fn cookies_over_https_are_prefixed_and_the_plain_names_are_not_read() {
    let gw = TestGateway::new().await;
    assert_eq!(gw.state.config.public_base_url.scheme(), "https");
    let resp = gw.get(&domaine_gar(RES_ETABL), None).await;
    let login = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(login.starts_with("__Secure-passerelle_login_"), "{login}");
    assert!(
        login.contains("; Secure") && !login.contains("Domain="),
        "{login}"
    );

    let session = gw.session("ens-0001").await;
    assert!(
        session.starts_with("__Host-passerelle_session="),
        "{session}"
    );
    let link = domaine_gar(RES_ETABL);
    let opened = gw.get(&link, Some(&session)).await;
    assert_eq!(
        opened.status(),
        302,
        "the prefixed session opens the resource"
    );
    let planted = session.replacen("__Host-", "", 1);
    let resp = gw.get(&link, Some(&planted)).await;
    assert_eq!(
        resp.status(),
        303,
        "the plain name is ignored: the user is sent to log in"
    );
}
