//! An ENT's SAML single logout over a real socket: the ENT (not the gateway's code: its
//! LogoutRequests are signed by xmlsec1, or over the query with openssl) logs the user out,
//! and the gateway session of that login ends, whichever binding carries the request. Every
//! check refuses its hostile request with nothing ended, and the gateway's LogoutResponse is
//! verified by xmlsec1.

use base64::Engine;
use passerelle::clock::Clock;

use crate::support::ent_idp::EntLogoutRequest;
use crate::support::gateway::*;
use crate::support::saml_browser::*;

/// The teacher logged in at the ENT through a médiacentre click: the gateway has a session.
async fn logged_in() -> (Saml, EntLogin) {
    let s = Saml::new(vec![]).await;
    let (status, to_ent) = s.click().await;
    assert_eq!(status, 303);
    let (answer, login) = s.ent_answers_as(&to_ent, TEACHER).await;
    assert_eq!(answer, (302, RES_ACCESS.to_string()));
    (s, login)
}

fn front(s: &Saml) -> Option<String> {
    Some(format!("{}/saml/slo", s.base))
}

/// The ENT's LogoutRequest for `login`, to the front-channel endpoint.
fn request(s: &Saml, login: &EntLogin) -> EntLogoutRequest {
    EntLogoutRequest {
        id: format!("_lr-{}", uuid::Uuid::new_v4().simple()),
        issuer: ENT_ENTITY.into(),
        destination: front(s),
        issued: s.gw.clock.now(),
        name_id: login.name_id.clone(),
        session_indexes: vec![login.session_index.clone()],
    }
}

fn soap_url(s: &Saml) -> String {
    format!("{}/saml/slo/soap", s.base)
}

fn signed(s: &Saml, r: &EntLogoutRequest) -> String {
    r.xml(Some((&s.gw.ent.key, &s.gw.ent.cert)))
}

async fn post_front(s: &Saml, xml: &str) -> reqwest::Response {
    s.browser
        .post(format!("{}/saml/slo", s.base))
        .form(&[
            (
                "SAMLRequest",
                base64::engine::general_purpose::STANDARD.encode(xml),
            ),
            ("RelayState", "rs-1".to_string()),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ents_front_channel_logout_ends_the_session() {
    let (s, login) = logged_in().await;
    assert!(s.session_alive().await);
    let resp = post_front(&s, &signed(&s, &request(&s, &login))).await;
    assert_eq!(resp.status(), 200);
    let cleared = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().contains("Max-Age=0"));
    assert!(cleared, "the browser's session cookie is cleared");
    assert!(resp.text().await.unwrap().contains("Vous êtes déconnecté"));
    assert_eq!(s.ended(), vec!["ent_logout"]);
    assert!(!s.session_alive().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_logout_request_is_verified_over_its_query() {
    let (s, login) = logged_in().await;
    let xml = request(&s, &login).xml(None);
    let query = signed_redirect_query(&private_key(&s.gw.ent), &xml, Some("rs-2"), false);
    let forged = signed_redirect_query(&private_key(&s.gw.attacker), &xml, Some("rs-2"), false);
    let get = |q: String| {
        let url = format!("{}/saml/slo?{q}", s.base);
        let browser = s.browser.clone();
        async move { browser.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get(forged).await, 403);
    assert!(s.ended().is_empty() && s.session_alive().await);
    assert_eq!(get(query.clone()).await, 200);
    assert_eq!(s.ended(), vec!["ent_logout"]);
    // The same request again: refused as a replay.
    assert_eq!(get(query).await, 403);
    assert!(s.gw.refused_checks().contains(&"saml.replay"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_back_channel_logout_gets_a_signed_logout_response() {
    let (s, login) = logged_in().await;
    let mut r = request(&s, &login);
    r.destination = Some(format!("{}/saml/slo/soap", s.base));
    let (status, body) = post_soap(&soap_url(&s), &signed(&s, &r)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Envelope") && body.contains(&format!(r#"InResponseTo="{}""#, r.id)));
    assert!(
        body.contains("urn:oasis:names:tc:SAML:2.0:status:Success"),
        "{body}"
    );
    s.verify_logout_response(&body);
    assert_eq!(s.ended(), vec!["ent_logout"]);
    assert!(!s.session_alive().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_of_a_login_the_gateway_does_not_know_ends_nothing() {
    let (s, login) = logged_in().await;
    let mut r = request(&s, &login);
    r.destination = None;
    r.name_id = "_transient-someone-else".into();
    let (status, body) = post_soap(&soap_url(&s), &signed(&s, &r)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("status:Requester") && body.contains("status:UnknownPrincipal"));
    // Another session index of the same NameID: the same answer.
    let mut r = request(&s, &login);
    r.destination = None;
    r.session_indexes = vec!["_another-login".into()];
    let (_, body) = post_soap(&soap_url(&s), &signed(&s, &r)).await;
    assert!(body.contains("status:UnknownPrincipal"), "{body}");
    assert!(s.ended().is_empty());
    assert!(s.session_alive().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_logout_request_is_refused_with_nothing_ended() {
    let (s, login) = logged_in().await;
    let attacker = |r: &EntLogoutRequest| r.xml(Some((&s.gw.attacker.key, &s.gw.attacker.cert)));
    let mut cases: Vec<(&str, String, &str)> = Vec::new();
    let r = request(&s, &login);
    cases.push(("unsigned", r.xml(None), "saml.unsigned"));
    cases.push(("signed by another key", attacker(&r), "saml.signature"));
    let mut old = request(&s, &login);
    old.issued = s.gw.clock.now() - chrono::Duration::minutes(10);
    cases.push(("too old", signed(&s, &old), "saml.expired"));
    let mut elsewhere = request(&s, &login);
    elsewhere.destination = Some("https://evil.example.test/saml/slo".into());
    cases.push((
        "another Destination",
        signed(&s, &elsewhere),
        "saml.destination",
    ));
    let mut stranger = request(&s, &login);
    stranger.issuer = "https://evil.example.test/idp".into();
    cases.push(("an unknown Issuer", signed(&s, &stranger), "saml.issuer"));
    let tampered = signed(&s, &request(&s, &login)).replace(&login.name_id, "_transient-other");
    cases.push(("altered after signing", tampered, "saml.signature"));
    for (case, xml, check) in cases {
        let resp = post_front(&s, &xml).await;
        let status = resp.status().as_u16();
        let page = resp.text().await.unwrap();
        assert_eq!(status, 403, "{case}: {page}");
        assert!(
            page.contains("Déconnexion refusée") && page.contains(check),
            "{case}: {page}"
        );
        assert!(s.ended().is_empty(), "{case}");
    }
    // In the back channel, the same refusals are SOAP faults.
    let (status, body) = post_soap(&soap_url(&s), &attacker(&request(&s, &login))).await;
    assert_eq!(status, 403);
    assert!(
        body.contains("Fault") && body.contains("saml.signature"),
        "{body}"
    );
    assert!(s.session_alive().await);

    // A valid request, then the same one replayed.
    let valid = signed(&s, &request(&s, &login));
    assert_eq!(post_front(&s, &valid).await.status(), 200);
    assert_eq!(post_front(&s, &valid).await.status(), 403);
    assert_eq!(s.ended(), vec!["ent_logout"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sp_metadata_publishes_the_logout_endpoints_that_work() {
    let s = Saml::new(vec![]).await;
    let md = reqwest::get(format!("{}/saml/metadata", s.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for binding in ["HTTP-Redirect", "HTTP-POST"] {
        assert!(
            md.contains(&format!(
                r#"<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:{binding}" Location="{}/saml/slo"/>"#,
                s.base
            )),
            "{md}"
        );
    }
    assert!(md.contains(&format!(
        r#"Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="{}/saml/slo/soap""#,
        s.base
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_naming_an_earlier_login_of_the_same_person_ends_the_session() {
    let (s, first) = logged_in().await;
    // A later launch: the ENT confirms the same person with a new transient NameID.
    s.gw.clock.advance(chrono::Duration::minutes(2));
    let (status, to_ent) = s.click().await;
    assert_eq!(status, 303);
    let (answer, second) = s.ent_answers_as(&to_ent, TEACHER).await;
    assert_eq!(answer, (302, RES_ACCESS.to_string()));
    assert_ne!(first.name_id, second.name_id);
    assert!(s.ended().is_empty());
    // The ENT logs the user out naming the first login: the session that continues it ends.
    let resp = post_front(&s, &signed(&s, &request(&s, &first))).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(s.ended(), vec!["ent_logout"]);
    assert!(!s.session_alive().await);
}
