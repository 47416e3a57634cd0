//! A provider's SAML single logout to the gateway's IdP, over a real socket: the provider (its
//! LogoutRequests signed by xmlsec1, not the gateway's code) names the SessionIndex of the
//! assertion it received, and that gateway session ends. The endpoints the IdP metadata
//! publishes answer; every check refuses its hostile request with nothing ended.

use passerelle::clock::Clock;

use crate::support::ent_idp::EntLogoutRequest;
use crate::support::gateway::*;
use crate::support::saml_browser::*;

/// The teacher opened the resource: the SessionIndex and NameID of the provider's assertion.
async fn provider_logged_in() -> (Saml, String, String) {
    let s = Saml::new(vec![]).await;
    let (_, to_ent) = s.click().await;
    assert_eq!(s.ent_answers(&to_ent, TEACHER).await.0, 302);
    let assertion = s.provider_assertion("_sp-first").await.unwrap();
    let attr = |name: &str| {
        assertion
            .split(&format!("{name}=\""))
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string()
    };
    let name_id = assertion
        .split("<saml:NameID")
        .nth(1)
        .and_then(|r| r.split('>').nth(1))
        .and_then(|r| r.split('<').next())
        .unwrap()
        .to_string();
    (s, attr("SessionIndex"), name_id)
}

fn soap_url(s: &Saml) -> String {
    format!("{}/idp/profile/SAML2/SOAP/SLO", s.base)
}

fn request(s: &Saml, path: Option<&str>, name_id: &str, index: &str) -> EntLogoutRequest {
    EntLogoutRequest {
        id: format!("_plr-{}", uuid::Uuid::new_v4().simple()),
        issuer: SP_ENTITY.into(),
        destination: path.map(|p| format!("{}{p}", s.base)),
        issued: s.gw.clock.now(),
        name_id: name_id.into(),
        session_indexes: vec![index.into()],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_front_channel_logout_ends_the_gateway_session() {
    let (s, index, name_id) = provider_logged_in().await;
    let path = "/idp/profile/SAML2/POST/SLO";
    let by = |k: &KeyFiles, r: &EntLogoutRequest| r.xml(Some((&k.key, &k.cert)));

    // Signed by the ENT's key (not this provider's), or for another endpoint: refused.
    for (case, xml) in [
        (
            "another peer's key",
            by(&s.gw.ent, &request(&s, Some(path), &name_id, &index)),
        ),
        (
            "the ENT's endpoint",
            by(&s.gw.sp, &request(&s, Some("/saml/slo"), &name_id, &index)),
        ),
    ] {
        let resp = post_front(&s, path, &xml).await;
        assert_eq!(resp.status(), 403, "{case}");
        assert!(s.ended().is_empty(), "{case}");
    }
    assert!(s.session_alive().await);

    let xml = by(&s.gw.sp, &request(&s, Some(path), &name_id, &index));
    let resp = post_front(&s, path, &xml).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("Vous êtes déconnecté"));
    assert_eq!(s.ended(), vec!["provider_logout"]);
    assert!(!s.session_alive().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_back_channel_logout_gets_a_signed_answer() {
    let (s, index, name_id) = provider_logged_in().await;
    let sp = |r: &EntLogoutRequest| r.xml(Some((&s.gw.sp.key, &s.gw.sp.cert)));
    // A SessionIndex the gateway never gave: nothing ended, UnknownPrincipal.
    let (status, body) =
        post_soap(&soap_url(&s), &sp(&request(&s, None, &name_id, "0123abcd"))).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("status:UnknownPrincipal"), "{body}");
    assert!(s.session_alive().await);

    let r = request(&s, Some("/idp/profile/SAML2/SOAP/SLO"), &name_id, &index);
    let (status, body) = post_soap(&soap_url(&s), &sp(&r)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("status:Success") && body.contains(&r.id),
        "{body}"
    );
    s.verify_logout_response(&body);
    assert_eq!(s.ended(), vec!["provider_logout"]);
    assert!(!s.session_alive().await);
    // Replayed: a fault, nothing more.
    let (status, body) = post_soap(&soap_url(&s), &sp(&r)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("saml.replay"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idp_metadata_publishes_logout_endpoints_that_answer() {
    let s = Saml::new(vec![]).await;
    let md = reqwest::get(format!("{}/idp/metadata", s.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (binding, path, method) in [
        ("HTTP-Redirect", "Redirect", "GET"),
        ("HTTP-POST", "POST", "POST"),
        ("SOAP", "SOAP", "POST"),
    ] {
        let url = format!("{}/idp/profile/SAML2/{path}/SLO", s.base);
        assert!(
            md.contains(&format!(
                r#"Binding="urn:oasis:names:tc:SAML:2.0:bindings:{binding}" Location="{url}""#
            )),
            "{md}"
        );
        // An empty request is refused by the protocol, not unknown to the router.
        let resp = reqwest::Client::new()
            .request(method.parse().unwrap(), &url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("")
            .send()
            .await
            .unwrap();
        assert_ne!(resp.status(), 404, "{url}");
        assert_ne!(resp.status(), 405, "{url}");
    }
}

/// The browser posts the provider's LogoutRequest `xml` to `path` (HTTP-POST binding).
async fn post_front(s: &Saml, path: &str, xml: &str) -> reqwest::Response {
    s.browser
        .post(format!("{}{path}", s.base))
        .form(&[("SAMLRequest", b64(xml))])
        .send()
        .await
        .unwrap()
}

fn b64(xml: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(xml)
}
