//! `GET /domaineGar`: link parsing, refusals with their French pages and status codes, the
//! redirect to the ENT when there is no session, and access decisions with a session.

use axum::http::StatusCode;
use base64::Engine;
use passerelle::trace::TraceEvent;

use crate::support::gateway::*;

fn last_refusal(gw: &TestGateway) -> Option<&'static str> {
    gw.events().into_iter().rev().find_map(|e| match e {
        TraceEvent::AccessRefused { reason, .. } => Some(reason),
        _ => None,
    })
}

#[tokio::test]
async fn malformed_links_get_a_400_page_in_french() {
    let gw = TestGateway::new().await;
    for uri in [
        "/domaineGar".to_string(),
        format!(
            "/domaineGar?idENT=%%%&idEtab={}&idRessource=ark:/1/a",
            b64(UAI)
        ),
        format!(
            "/domaineGar?idENT={}&idEtab={}&idRessource=ark:/1/a",
            b64("B0"),
            b64("0561641F")
        ),
        format!(
            "/domaineGar?idENT={}&idEtab={}&idRessource=not-an-ark",
            b64("B0"),
            b64(UAI)
        ),
    ] {
        let resp = gw.get(&uri, None).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{uri}");
        let page = body_string(resp).await;
        assert!(
            page.contains("Lien invalide") && page.contains("Référence"),
            "{page}"
        );
    }
}

#[tokio::test]
async fn unknown_ent_school_and_resource_are_404_with_a_trace() {
    let gw = TestGateway::new().await;
    let q = |ent: &str, uai: &str, res: &str| {
        format!(
            "/domaineGar?idENT={}&idEtab={}&idRessource={}",
            b64(ent),
            b64(uai),
            urlencoding::encode(res)
        )
    };
    let cases = [
        (q("Z9", UAI, RES_ETABL), "unknown_ent"),
        (q("B0", UAI, "ark:/99999/nope"), "unknown_resource"),
        (q("B0", "0000001B", RES_ETABL), "unknown_school"),
    ];
    for (uri, code) in cases {
        let resp = gw.get(&uri, None).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{uri}");
        assert!(body_string(resp).await.contains(code));
        assert_eq!(last_refusal(&gw), Some(code));
    }
}

#[tokio::test]
async fn without_session_the_browser_goes_to_the_ent_with_a_signed_request() {
    let gw = TestGateway::new().await;
    let resp = gw.get(&domaine_gar(RES_ETABL), None).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let url = location(&resp);
    assert!(url.starts_with(&format!("{ENT_SSO}?SAMLRequest=")), "{url}");
    let query = url.split_once('?').unwrap().1;
    let param = |name: &str| -> String {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .map(|v| urlencoding::decode(v).unwrap().into_owned())
            .unwrap()
    };
    // The signature covers the raw query up to SigAlg (bindings §3.4.4.1), RSA-SHA256, gateway key.
    assert_eq!(
        param("SigAlg"),
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    );
    let signed = query.split("&Signature=").next().unwrap();
    let sig = base64::engine::general_purpose::STANDARD
        .decode(param("Signature"))
        .unwrap();
    let cert = openssl::x509::X509::from_pem(gw.gateway.cert_pem().as_bytes()).unwrap();
    let public = cert.public_key().unwrap();
    let mut v =
        openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &public).unwrap();
    v.update(signed.as_bytes()).unwrap();
    assert!(
        v.verify(&sig).unwrap(),
        "redirect signature must verify with the gateway certificate"
    );
    // The AuthnRequest names our ACS and its ID is a pending login, named by RelayState.
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(param("SAMLRequest"))
        .unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::DeflateDecoder::new(&deflated[..]),
        &mut xml,
    )
    .unwrap();
    assert!(
        xml.contains(&format!("AssertionConsumerServiceURL=\"{BASE}/saml/acs\"")),
        "{xml}"
    );
    assert!(xml.contains(&format!("<saml:Issuer>{BASE}/saml/metadata</saml:Issuer>")));
    let relay = param("RelayState");
    assert!(xml.contains(&format!("ID=\"{relay}\"")));
    let pending = passerelle::store::LoginStateStore::get_pending_login(gw.store.as_ref(), &relay)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.target.unwrap().resource.as_str(), RES_ETABL);
}

#[tokio::test]
async fn establishment_wide_resource_opens_for_a_pupil_with_a_session() {
    let gw = TestGateway::new().await;
    let cookie = gw.session("eleve-0002").await;
    let resp = gw.get(&domaine_gar(RES_ETABL), Some(&cookie)).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(location(&resp), RES_ACCESS);
    assert!(gw.events().iter().any(|e| matches!(e, TraceEvent::AccessGranted { subscription, .. } if subscription == "abo-etabl")));
}

#[tokio::test]
async fn individual_resource_opens_only_to_assigned_members() {
    let gw = TestGateway::new().await;
    let assigned = gw.session("eleve-0001").await;
    assert_eq!(
        gw.get(&domaine_gar(RES_INDIV), Some(&assigned))
            .await
            .status(),
        StatusCode::FOUND
    );

    let gw = TestGateway::new().await;
    let not_assigned = gw.session("eleve-0002").await;
    let resp = gw.get(&domaine_gar(RES_INDIV), Some(&not_assigned)).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let page = body_string(resp).await;
    assert!(
        page.contains("Ressource non attribuée") && page.contains("not_assigned"),
        "{page}"
    );
    assert_eq!(last_refusal(&gw), Some("not_assigned"));
}

#[tokio::test]
async fn teacher_outside_the_audience_and_expired_subscription_are_refused() {
    let gw = TestGateway::new().await;
    let teacher = gw.session("ens-0001").await;
    let resp = gw.get(&domaine_gar(RES_INDIV), Some(&teacher)).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(last_refusal(&gw), Some("profile_not_covered"));

    gw.clock.set(
        chrono::DateTime::parse_from_rfc3339("2027-08-15T00:00:00Z")
            .unwrap()
            .into(),
    );
    let cookie = gw.session("eleve-0002").await;
    let resp = gw.get(&domaine_gar(RES_ETABL), Some(&cookie)).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(body_string(resp).await.contains("Abonnement expiré"));
}

#[tokio::test]
async fn user_missing_from_the_directory_is_told_so() {
    let gw = TestGateway::new().await;
    let cookie = gw.session("ghost").await;
    let resp = gw.get(&domaine_gar(RES_ETABL), Some(&cookie)).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(last_refusal(&gw), Some("unknown_user"));
}

#[tokio::test]
async fn a_session_at_another_ent_does_not_open_this_ents_links() {
    let gw = TestGateway::new().await;
    let other = gw.session_at("Z0", "eleve-0001").await;
    // Same GARPersonIdentifiant, other ENT project: a different person, who must log in at B0.
    let resp = gw.get(&domaine_gar(RES_ETABL), Some(&other)).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(location(&resp).starts_with(ENT_SSO));
}
