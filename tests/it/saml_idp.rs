//! The gateway as IdP of resource providers: AuthnRequests in, signed Responses out, verified
//! with xmlsec1 (not the gateway's code), and every refusal with its trace.

use axum::http::StatusCode;
use base64::Engine;
use ent_idp::xmlsec1_verify;
use passerelle::trace::TraceEvent;

use crate::support::ent_idp;
use crate::support::gateway::*;

const SSO: &str = "/idp/profile/SAML2/Redirect/SSO";
const INSTANT: &str = "2026-11-24T08:00:00Z";

/// A session of `person` that launched the ETABL resource (as after a médiacentre click).
async fn launched(gw: &TestGateway, person: &str) -> String {
    let cookie = gw.session(person).await;
    assert_eq!(
        gw.get(&domaine_gar(RES_ETABL), Some(&cookie))
            .await
            .status(),
        StatusCode::FOUND
    );
    cookie
}

fn form_field(page: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = page.find(&marker)? + marker.len();
    let end = page[start..].find('"')? + start;
    Some(
        page[start..end]
            .replace("&amp;", "&")
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&apos;", "'"),
    )
}

async fn sso(
    gw: &TestGateway,
    query: &str,
    cookie: Option<&str>,
) -> axum::http::Response<axum::body::Body> {
    gw.get(&format!("{SSO}?{query}"), cookie).await
}

#[tokio::test]
async fn signed_request_gets_a_response_and_assertion_signed_by_the_gateway() {
    let gw = TestGateway::new().await;
    let cookie = launched(&gw, "ens-0001").await;
    let q = authn_request_query(
        &private_key(&gw.sp),
        "_r1",
        Some(SP_ACS),
        Some("state-42"),
        INSTANT,
    );
    let resp = sso(&gw, &q, Some(&cookie)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let page = body_string(resp).await;
    assert!(page.contains(&format!(r#"action="{SP_ACS}""#)), "{page}");
    assert_eq!(form_field(&page, "RelayState").as_deref(), Some("state-42"));
    let xml = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(form_field(&page, "SAMLResponse").unwrap())
            .unwrap(),
    )
    .unwrap();

    // Both signatures verify with xmlsec1 and the gateway certificate; not with another.
    xmlsec1_verify(
        &xml,
        &gw.gateway.cert,
        "/*[local-name()='Response']/*[local-name()='Signature']",
    )
    .unwrap();
    xmlsec1_verify(
        &xml,
        &gw.gateway.cert,
        "//*[local-name()='Assertion']/*[local-name()='Signature']",
    )
    .unwrap();
    assert!(xmlsec1_verify(
        &xml,
        &gw.attacker.cert,
        "/*[local-name()='Response']/*[local-name()='Signature']"
    )
    .is_err());
    assert!(xml.contains(
        r#"SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256""#
    ));
    assert!(xml.contains(r#"InResponseTo="_r1""#));
    assert!(xml.contains(&format!("<saml:Audience>{SP_ENTITY}</saml:Audience>")));

    // NameID persistent = IDO; exactly the validated attributes for a teacher, multi-valued as repeated values.
    let name_id = xml
        .split("nameid-format:persistent\"")
        .nth(1)
        .unwrap()
        .split('>')
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    assert_eq!(name_id.len(), 128);
    let names: Vec<&str> = xml
        .split(r#"<saml:Attribute Name=""#)
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect();
    assert_eq!(
        names,
        ["IDO", "UAI", "PRO", "NOM", "PRE", "P_MEL", "DIV"],
        "GRO is validated but the teacher has no group"
    );
    assert!(xml.contains(
        r#"<saml:AttributeValue xsi:type="xs:string">National_ens</saml:AttributeValue>"#
    ));
    assert!(xml.contains(&format!(
        "<saml:AttributeValue xsi:type=\"xs:string\">{name_id}</saml:AttributeValue>"
    )));

    let issued = gw.events().into_iter().find_map(|e| match e {
        TraceEvent::CredentialIssued {
            attributes, ido, ..
        } => Some((attributes, ido)),
        _ => None,
    });
    let (attributes, ido) = issued.expect("a credential_issued trace");
    assert_eq!(ido, name_id);
    assert_eq!(attributes.len(), 7);
}

#[tokio::test]
async fn relay_state_defaults_to_the_resource_access_url() {
    let gw = TestGateway::new().await;
    let cookie = launched(&gw, "eleve-0001").await;
    let q = authn_request_query(&private_key(&gw.sp), "_r2", None, None, INSTANT);
    let page = body_string(sso(&gw, &q, Some(&cookie)).await).await;
    assert_eq!(form_field(&page, "RelayState").as_deref(), Some(RES_ACCESS));
    // A pupil gets the pupil list: no name.
    let xml = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(form_field(&page, "SAMLResponse").unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(!xml.contains("Martin") && !xml.contains(r#"Name="NOM""#));
    assert!(xml.contains(r#"Name="DIV""#) && xml.contains("4A##4e A"));
}

async fn assert_refused(gw: &TestGateway, query: &str, cookie: Option<&str>, check: &str) {
    let before = gw.refused_checks().len();
    let resp = sso(gw, query, cookie).await;
    assert!(
        resp.status().is_client_error(),
        "{check}: status {}",
        resp.status()
    );
    let page = body_string(resp).await;
    assert!(page.contains(check), "{check}: {page}");
    assert!(!page.contains("SAMLResponse"));
    let checks = gw.refused_checks();
    assert_eq!(
        checks.len(),
        before + 1,
        "{check}: one protocol_refused trace"
    );
    assert_eq!(*checks.last().unwrap(), check);
}

#[tokio::test]
async fn unregistered_acs_is_refused() {
    let gw = TestGateway::new().await;
    let cookie = launched(&gw, "ens-0001").await;
    let q = authn_request_query(
        &private_key(&gw.sp),
        "_r3",
        Some("https://evil.example/acs"),
        None,
        INSTANT,
    );
    assert_refused(&gw, &q, Some(&cookie), "saml.acs").await;
}

#[tokio::test]
async fn unsigned_request_is_refused() {
    let gw = TestGateway::new().await;
    let cookie = launched(&gw, "ens-0001").await;
    let q = authn_request_query(&private_key(&gw.sp), "_r4", Some(SP_ACS), None, INSTANT);
    let unsigned = q.split("&SigAlg=").next().unwrap();
    assert_refused(&gw, unsigned, Some(&cookie), "saml.unsigned").await;
}

#[tokio::test]
async fn request_signed_by_another_key_is_refused() {
    let gw = TestGateway::new().await;
    let cookie = launched(&gw, "ens-0001").await;
    let q = authn_request_query(
        &private_key(&gw.attacker),
        "_r5",
        Some(SP_ACS),
        None,
        INSTANT,
    );
    assert_refused(&gw, &q, Some(&cookie), "saml.signature").await;
}

#[tokio::test]
async fn sha1_request_signature_is_refused_by_default() {
    let gw = TestGateway::new().await;
    let cookie = launched(&gw, "ens-0001").await;
    let q = signed_redirect_query(
        &private_key(&gw.sp),
        &provider_authn_request("_r6", Some(SP_ACS), INSTANT),
        None,
        true,
    );
    assert_refused(&gw, &q, Some(&cookie), "saml.algorithm").await;
}

#[tokio::test]
async fn unknown_issuer_is_refused() {
    let gw = TestGateway::new().await;
    let xml = provider_authn_request("_r7", Some(SP_ACS), INSTANT)
        .replace(SP_ENTITY, "https://stranger.example/sp");
    let q = signed_redirect_query(&private_key(&gw.sp), &xml, None, false);
    assert_refused(&gw, &q, None, "saml.issuer").await;
}

#[tokio::test]
async fn replayed_request_is_refused() {
    let gw = TestGateway::new().await;
    let cookie = launched(&gw, "ens-0001").await;
    let q = authn_request_query(&private_key(&gw.sp), "_r8", Some(SP_ACS), None, INSTANT);
    assert_eq!(sso(&gw, &q, Some(&cookie)).await.status(), StatusCode::OK);
    assert_refused(&gw, &q, Some(&cookie), "saml.replay").await;
}

#[tokio::test]
async fn stale_and_future_requests_are_refused() {
    let gw = TestGateway::new().await;
    let cookie = launched(&gw, "ens-0001").await;
    let q = authn_request_query(
        &private_key(&gw.sp),
        "_r9",
        Some(SP_ACS),
        None,
        "2026-11-24T07:00:00Z",
    );
    assert_refused(&gw, &q, Some(&cookie), "saml.expired").await;
    let q = authn_request_query(
        &private_key(&gw.sp),
        "_r10",
        Some(SP_ACS),
        None,
        "2026-11-24T09:00:00Z",
    );
    assert_refused(&gw, &q, Some(&cookie), "saml.not_yet_valid").await;
}

#[tokio::test]
async fn deflate_bomb_is_refused_as_too_large() {
    let gw = TestGateway::new().await;
    let xml = provider_authn_request("_r11", Some(SP_ACS), INSTANT).replace(
        "</samlp:AuthnRequest>",
        &format!("<x>{}</x></samlp:AuthnRequest>", "A".repeat(2_000_000)),
    );
    let q = signed_redirect_query(&private_key(&gw.sp), &xml, None, false);
    assert_refused(&gw, &q, None, "saml.too_large").await;
}

#[tokio::test]
async fn without_session_or_launch_no_assertion_is_issued() {
    let gw = TestGateway::new().await;
    let q = authn_request_query(&private_key(&gw.sp), "_r12", Some(SP_ACS), None, INSTANT);
    let resp = sso(&gw, &q, None).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(body_string(resp).await.contains("médiacentre"));
    assert!(!gw
        .events()
        .iter()
        .any(|e| matches!(e, TraceEvent::CredentialIssued { .. })));
}

#[tokio::test]
async fn access_withdrawn_after_launch_issues_nothing() {
    let gw = TestGateway::new().await;
    let cookie = launched(&gw, "eleve-0002").await;
    // The provider deletes the subscription between the médiacentre click and its request.
    let store = gw.store.as_ref();
    let mut sub = passerelle::store::SubscriptionStore::subscription(store, "abo-etabl")
        .await
        .unwrap()
        .unwrap();
    sub.deleted = true;
    passerelle::store::SubscriptionStore::put_subscription(store, &sub)
        .await
        .unwrap();
    let q = authn_request_query(&private_key(&gw.sp), "_r13", Some(SP_ACS), None, INSTANT);
    let resp = sso(&gw, &q, Some(&cookie)).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(body_string(resp).await.contains("no_subscription"));
    assert!(!gw
        .events()
        .iter()
        .any(|e| matches!(e, TraceEvent::CredentialIssued { .. })));
}

#[tokio::test]
async fn session_past_its_end_issues_nothing() {
    let gw = TestGateway::new().await;
    let cookie = launched(&gw, "eleve-0002").await;
    gw.clock.advance(chrono::Duration::hours(6));
    let q = authn_request_query(
        &private_key(&gw.sp),
        "_r14",
        Some(SP_ACS),
        None,
        "2026-11-24T14:00:00Z",
    );
    assert_eq!(
        sso(&gw, &q, Some(&cookie)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(!gw
        .events()
        .iter()
        .any(|e| matches!(e, TraceEvent::CredentialIssued { .. })));
}

const POST_SSO: &str = "/idp/profile/SAML2/POST/SSO";

async fn post_sso(
    gw: &TestGateway,
    xml: &str,
    cookie: Option<&str>,
) -> axum::http::Response<axum::body::Body> {
    gw.post_form(
        POST_SSO,
        &[("SAMLRequest", &b64(xml)), ("RelayState", "post-state")],
        cookie,
    )
    .await
}

#[tokio::test]
async fn post_binding_request_signed_with_xmlsec1_is_answered() {
    let gw = TestGateway::new().await;
    let cookie = launched(&gw, "eleve-0001").await;
    let xml = ent_idp::post_authn_request(
        "_p1",
        SP_ENTITY,
        &format!("{BASE}{POST_SSO}"),
        SP_ACS,
        Some((&gw.sp.key, &gw.sp.cert)),
    );
    let resp = post_sso(&gw, &xml, Some(&cookie)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let page = body_string(resp).await;
    assert_eq!(
        form_field(&page, "RelayState").as_deref(),
        Some("post-state")
    );
    let response = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(form_field(&page, "SAMLResponse").unwrap())
            .unwrap(),
    )
    .unwrap();
    xmlsec1_verify(
        &response,
        &gw.gateway.cert,
        "//*[local-name()='Assertion']/*[local-name()='Signature']",
    )
    .unwrap();
    assert!(response.contains(r#"InResponseTo="_p1""#));
}

async fn assert_post_refused(gw: &TestGateway, xml: &str, cookie: Option<&str>, check: &str) {
    let before = gw.refused_checks().len();
    let resp = post_sso(gw, xml, cookie).await;
    assert!(
        resp.status().is_client_error(),
        "{check}: {}",
        resp.status()
    );
    assert!(!body_string(resp).await.contains("SAMLResponse"));
    let checks = gw.refused_checks();
    assert_eq!(checks.len(), before + 1);
    assert_eq!(*checks.last().unwrap(), check);
}

#[tokio::test]
async fn post_binding_refuses_unsigned_wrong_signer_tampered_and_wrong_destination() {
    let gw = TestGateway::new().await;
    let cookie = launched(&gw, "eleve-0001").await;
    let dest = format!("{BASE}{POST_SSO}");
    let unsigned = ent_idp::post_authn_request("_p2", SP_ENTITY, &dest, SP_ACS, None);
    assert_post_refused(&gw, &unsigned, Some(&cookie), "saml.unsigned").await;
    let wrong = ent_idp::post_authn_request(
        "_p3",
        SP_ENTITY,
        &dest,
        SP_ACS,
        Some((&gw.attacker.key, &gw.attacker.cert)),
    );
    assert_post_refused(&gw, &wrong, Some(&cookie), "saml.signature").await;
    let signed = ent_idp::post_authn_request(
        "_p4",
        SP_ENTITY,
        &dest,
        SP_ACS,
        Some((&gw.sp.key, &gw.sp.cert)),
    );
    let tampered = signed.replace(SP_ACS, "https://evil.example/acs");
    assert_post_refused(&gw, &tampered, Some(&cookie), "saml.signature").await;
    let elsewhere = ent_idp::post_authn_request(
        "_p5",
        SP_ENTITY,
        "https://other-idp.example/sso",
        SP_ACS,
        Some((&gw.sp.key, &gw.sp.cert)),
    );
    assert_post_refused(&gw, &elsewhere, Some(&cookie), "saml.destination").await;
}

/// The gateway on a loopback listener.
async fn served(gw: &TestGateway) -> (String, reqwest::Client) {
    (gw.listen().await, http_client())
}

/// A GET of the Redirect SSO endpoint over the socket: status and body.
async fn sso_over(
    http: &reqwest::Client,
    base: &str,
    query: &str,
    cookie: Option<&str>,
) -> (u16, String) {
    let mut req = http.get(format!("{base}{SSO}?{query}"));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// A POST to the POST SSO endpoint over the socket: status and body.
async fn post_sso_over(
    http: &reqwest::Client,
    base: &str,
    xml: &str,
    cookie: Option<&str>,
) -> (u16, String) {
    let mut req = http.post(format!("{base}{POST_SSO}")).form(&[
        ("SAMLRequest", b64(xml)),
        ("RelayState", "post-state".into()),
    ]);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The decoded SAMLResponse of an auto-POST page.
fn response_of(page: &str) -> String {
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(form_field(page, "SAMLResponse").expect("an auto-POST form"))
            .unwrap(),
    )
    .unwrap()
}

/// A Redirect-binding AuthnRequest with its Destination replaced (or removed) and extra
/// attributes, signed by the provider.
fn redirect_request(gw: &TestGateway, id: &str, destination: Option<&str>, extra: &str) -> String {
    let xml = provider_authn_request(id, Some(SP_ACS), INSTANT);
    let ours = format!(r#" Destination="{BASE}{SSO}""#);
    let replaced = destination
        .map(|d| format!(r#" Destination="{d}""#))
        .unwrap_or_default();
    let xml = xml.replace(&ours, &format!("{replaced}{extra}"));
    signed_redirect_query(&private_key(&gw.sp), &xml, Some("rs-1"), false)
}

#[tokio::test]
async fn a_signed_request_without_destination_or_with_another_is_refused_on_both_bindings() {
    let gw = TestGateway::new().await;
    let cookie = launched(&gw, "ens-0001").await;
    let (base, http) = served(&gw).await;
    let post_endpoint = format!("{BASE}{POST_SSO}");
    let redirect_endpoint = format!("{BASE}{SSO}");
    for (q, why) in [
        (
            redirect_request(&gw, "_d1", None, ""),
            "Redirect, no Destination",
        ),
        (
            redirect_request(&gw, "_d2", Some(&post_endpoint), ""),
            "Redirect, the POST endpoint's Destination",
        ),
        (
            redirect_request(&gw, "_d3", Some("https://other-idp.example/sso"), ""),
            "Redirect, another IdP's Destination",
        ),
    ] {
        let (status, page) = sso_over(&http, &base, &q, Some(&cookie)).await;
        assert!((400..500).contains(&status), "{why}: {status}");
        assert!(page.contains("saml.destination"), "{why}: {page}");
        assert!(!page.contains("SAMLResponse"), "{why}");
    }
    for (xml, why) in [
        (
            ent_idp::post_authn_request_with(
                "_d4",
                SP_ENTITY,
                None,
                SP_ACS,
                "",
                Some((&gw.sp.key, &gw.sp.cert)),
            ),
            "POST, no Destination",
        ),
        (
            ent_idp::post_authn_request_with(
                "_d5",
                SP_ENTITY,
                Some(&redirect_endpoint),
                SP_ACS,
                "",
                Some((&gw.sp.key, &gw.sp.cert)),
            ),
            "POST, the Redirect endpoint's Destination",
        ),
    ] {
        let (status, page) = post_sso_over(&http, &base, &xml, Some(&cookie)).await;
        assert!((400..500).contains(&status), "{why}: {status}");
        assert!(page.contains("saml.destination"), "{why}: {page}");
        assert!(!page.contains("SAMLResponse"), "{why}");
    }
    assert_eq!(gw.refused_checks(), vec!["saml.destination"; 5]);
    // The same requests naming this endpoint are answered.
    let q = redirect_request(&gw, "_d6", Some(&redirect_endpoint), "");
    let (status, page) = sso_over(&http, &base, &q, Some(&cookie)).await;
    assert_eq!(status, 200);
    assert!(response_of(&page).contains("<saml:Assertion"));
}

#[tokio::test]
async fn a_passive_request_without_a_session_is_answered_no_passive_at_once() {
    let gw = TestGateway::new().await;
    let (base, http) = served(&gw).await;
    let endpoint = format!("{BASE}{SSO}");
    let q = redirect_request(&gw, "_np1", Some(&endpoint), r#" IsPassive="true""#);
    let (status, page) = sso_over(&http, &base, &q, None).await;
    assert_eq!(
        status, 200,
        "an auto-POST to the provider, no page, no ENT redirect"
    );
    assert!(page.contains(&format!(r#"action="{SP_ACS}""#)), "{page}");
    assert_eq!(form_field(&page, "RelayState").as_deref(), Some("rs-1"));
    let xml = response_of(&page);
    xmlsec1_verify(
        &xml,
        &gw.gateway.cert,
        "/*[local-name()='Response']/*[local-name()='Signature']",
    )
    .unwrap();
    assert!(xml.contains(r#"<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:NoPassive"/>"#), "{xml}");
    assert!(xml.contains(r#"InResponseTo="_np1""#));
    assert!(!xml.contains("Assertion"));
    // The same over the POST binding, with a session that launched nothing of this provider.
    let cookie = gw.session("ens-0001").await;
    let xml = ent_idp::post_authn_request_with(
        "_np2",
        SP_ENTITY,
        Some(&format!("{BASE}{POST_SSO}")),
        SP_ACS,
        r#" IsPassive="true""#,
        Some((&gw.sp.key, &gw.sp.cert)),
    );
    let (status, page) = post_sso_over(&http, &base, &xml, Some(&cookie)).await;
    assert_eq!(status, 200);
    assert!(response_of(&page).contains("status:NoPassive"));
    assert!(!gw
        .events()
        .iter()
        .any(|e| matches!(e, TraceEvent::CredentialIssued { .. })));

    // With a session that launched the resource, a passive request is answered as usual.
    let cookie = launched(&gw, "ens-0001").await;
    let q = redirect_request(&gw, "_np3", Some(&endpoint), r#" IsPassive="true""#);
    let (status, page) = sso_over(&http, &base, &q, Some(&cookie)).await;
    assert_eq!(status, 200);
    let xml = response_of(&page);
    assert!(xml.contains("status:Success") && xml.contains("<saml:Assertion"));
    // Passive and forced at once cannot be served: NoPassive, no trip to the ENT.
    let q = redirect_request(
        &gw,
        "_np4",
        Some(&endpoint),
        r#" IsPassive="true" ForceAuthn="true""#,
    );
    let (status, page) = sso_over(&http, &base, &q, Some(&cookie)).await;
    assert_eq!(status, 200);
    assert!(response_of(&page).contains("status:NoPassive"));
}

fn url_param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

/// The `name=value` of the cookie `prefix...` a response sets.
fn cookie_set(resp: &reqwest::Response, prefix: &str) -> String {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with(prefix) && !c.ends_with('='))
        .unwrap_or_else(|| panic!("no cookie {prefix}"))
}

#[tokio::test]
async fn force_authn_sends_the_user_to_the_ent_again_and_never_reuses_the_old_session() {
    let gw = TestGateway::new().await;
    let old = launched(&gw, "eleve-0001").await;
    let (base, http) = served(&gw).await;
    let q = redirect_request(
        &gw,
        "_fa1",
        Some(&format!("{BASE}{SSO}")),
        r#" ForceAuthn="true""#,
    );
    let resp = http
        .get(format!("{base}{SSO}?{q}"))
        .header("cookie", &old)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        303,
        "to the ENT, not an answer from the old session"
    );
    let to_ent = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(to_ent.starts_with(ENT_SSO), "{to_ent}");
    let login_cookie = cookie_set(&resp, gw.login_cookie());
    let mut request_xml = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::DeflateDecoder::new(
            &base64::engine::general_purpose::STANDARD
                .decode(url_param(&to_ent, "SAMLRequest"))
                .unwrap()[..],
        ),
        &mut request_xml,
    )
    .unwrap();
    assert!(
        request_xml.contains(r#"ForceAuthn="true""#),
        "{request_xml}"
    );
    let request_id = request_xml
        .split(" ID=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();

    // An ENT that ignores ForceAuthn and answers from its old login is refused (the login
    // stays open for a proper answer).
    gw.clock.advance(chrono::Duration::minutes(5));
    let mut stale = ent_idp::EntResponse::new(
        BASE,
        ENT_ENTITY,
        &request_id,
        gw.state.clock.now(),
        "eleve-0001",
    );
    stale.issued = gw.state.clock.now() - chrono::Duration::minutes(30);
    stale.sign = ent_idp::Sign::Both;
    let xml = stale.signed(&gw.ent.key, &gw.ent.cert);
    let resp = http
        .post(format!("{base}/saml/acs"))
        .header("cookie", &login_cookie)
        .form(&[
            ("SAMLResponse", b64(&xml)),
            ("RelayState", url_param(&to_ent, "RelayState")),
        ])
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error());
    assert!(resp.text().await.unwrap().contains("saml.force_authn"));

    // The ENT authenticates the pupil again, five minutes after the request.
    let mut ent_response = ent_idp::EntResponse::new(
        BASE,
        ENT_ENTITY,
        &request_id,
        gw.state.clock.now(),
        "eleve-0001",
    );
    ent_response.sign = ent_idp::Sign::Both;
    let xml = ent_response.signed(&gw.ent.key, &gw.ent.cert);
    let resp = http
        .post(format!("{base}/saml/acs"))
        .header("cookie", &login_cookie)
        .form(&[
            ("SAMLResponse", b64(&xml)),
            ("RelayState", url_param(&to_ent, "RelayState")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    let resume = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(resume.starts_with("/idp/resume?id="), "{resume}");
    let fresh = cookie_set(&resp, &format!("{}=", gw.session_cookie()));
    assert_ne!(fresh, old);

    // The old session cannot pick the answer up.
    let resp = http
        .get(format!("{base}{resume}"))
        .header("cookie", &old)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error());
    assert!(!resp.text().await.unwrap().contains("SAMLResponse"));
    // The fresh one does, once, with the new AuthnInstant.
    let resp = http
        .get(format!("{base}{resume}"))
        .header("cookie", &fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let page = resp.text().await.unwrap();
    assert_eq!(form_field(&page, "RelayState").as_deref(), Some("rs-1"));
    let xml = response_of(&page);
    xmlsec1_verify(
        &xml,
        &gw.gateway.cert,
        "//*[local-name()='Assertion']/*[local-name()='Signature']",
    )
    .unwrap();
    assert!(xml.contains(r#"InResponseTo="_fa1""#));
    assert!(
        xml.contains(r#"AuthnInstant="2026-11-24T08:05:00Z""#),
        "the fresh login's time: {xml}"
    );
    let again = http
        .get(format!("{base}{resume}"))
        .header("cookie", &fresh)
        .send()
        .await
        .unwrap();
    assert!(again.status().is_client_error(), "answered once");
    assert_eq!(
        gw.refused_checks(),
        vec!["saml.force_authn"; 3],
        "the stale ENT answer, the old session, the second resume"
    );
}
