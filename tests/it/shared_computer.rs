//! A shared computer changes hands without the ENT telling the gateway: the teacher logs in at
//! the ENT and opens a resource, then a pupil takes the computer. Over real sockets, with a
//! SAML ENT (the xmlsec1-signing peer) and with panva's `oidc-provider` as an OIDC ENT, the
//! pupil's launch must carry the pupil's attributes, never the teacher's: before a session is
//! used again the gateway asks the ENT, passively, who is at the browser (`IsPassive`,
//! `prompt=none`), and a session whose person the ENT no longer vouches for ends.

use passerelle::clock::Clock;

use crate::support::ent_op::{panva, Panva};
use crate::support::gateway::*;
use crate::support::saml_browser::*;

fn is_pupils(assertion: &str) -> bool {
    assertion.contains("National_elv")
        && !assertion.contains("National_ens")
        && !assertion.contains("Durand")
        && !assertion.contains("Paul")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_person_at_a_saml_ent_never_gets_the_last_ones_identity() {
    let s = Saml::new(vec![]).await;
    s.teacher_opens_the_resource().await;

    // The teacher logs out of the ENT, which tells the gateway nothing; the pupil logs in at
    // the ENT a minute later and clicks the same link.
    s.gw.clock.advance(chrono::Duration::minutes(1));
    let (status, to_ent) = s.click().await;
    assert_eq!(
        status, 303,
        "the session is not used before the ENT says who is there"
    );
    let (request, _) = authn_request(&to_ent);
    assert!(request.contains(r#"IsPassive="true""#), "{request}");
    assert!(!request.contains("ForceAuthn"));
    assert_eq!(
        s.ent_answers(&to_ent, PUPIL).await,
        (302, RES_ACCESS.to_string())
    );
    let assertion = s.provider_assertion("_sp-pupil").await.unwrap();
    assert!(is_pupils(&assertion), "{assertion}");
    assert_eq!(s.ended(), vec!["replaced"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saml_ent_with_nobody_logged_in_ends_the_session_and_the_next_person_logs_in() {
    let s = Saml::new(vec![]).await;
    s.teacher_opens_the_resource().await;

    s.gw.clock.advance(chrono::Duration::minutes(1));
    let (_, to_ent) = s.click().await;
    // Nobody is logged in at the ENT: the teacher's session ends, and an ordinary login starts.
    let (status, to_ent) = s.ent_has_nobody(&to_ent).await;
    assert_eq!(status, 303);
    let (request, _) = authn_request(&to_ent);
    assert!(!request.contains("IsPassive"), "{request}");
    assert_eq!(s.ended(), vec!["no_ent_session"]);
    // Until the pupil has logged in, the browser has no session: no assertion for anyone.
    assert_eq!(s.provider_assertion("_sp-nobody").await, None);

    assert_eq!(
        s.ent_answers(&to_ent, PUPIL).await,
        (302, RES_ACCESS.to_string())
    );
    let assertion = s.provider_assertion("_sp-pupil").await.unwrap();
    assert!(is_pupils(&assertion), "{assertion}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_person_confirmed_keeps_what_they_opened() {
    let s = Saml::new(vec![]).await;
    s.teacher_opens_the_resource().await;
    s.gw.clock.advance(chrono::Duration::minutes(1));
    let (_, to_ent) = s.click().await;
    assert_eq!(
        s.ent_answers(&to_ent, TEACHER).await,
        (302, RES_ACCESS.to_string())
    );
    assert!(s.ended().is_empty(), "{:?}", s.ended());
    let assertion = s.provider_assertion("_sp-teacher-again").await.unwrap();
    assert!(assertion.contains("Durand"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ent_may_let_a_session_serve_without_asking_for_a_while() {
    let s = Saml::new(vec![(
        "PASSERELLE__ENTS__B0__CONFIRM_PERSON_AFTER_SECONDS".into(),
        "600".into(),
    )])
    .await;
    s.teacher_opens_the_resource().await;
    s.gw.clock.advance(chrono::Duration::minutes(9));
    assert_eq!(s.click().await, (302, RES_ACCESS.to_string()));
    s.gw.clock.advance(chrono::Duration::minutes(2));
    let (status, to_ent) = s.click().await;
    assert_eq!(status, 303);
    assert!(authn_request(&to_ent).0.contains(r#"IsPassive="true""#));
}

/// Follows the browser's redirects from `url` through the ENT's OP (logging `person` in when
/// it asks) until the gateway sends it elsewhere than the OP or back to the gateway; answers
/// every URL visited, the last one being the resource (or the last page).
pub(crate) async fn through_the_op(p: &Panva, mut url: String, person: &str) -> Vec<String> {
    let mut seen = vec![url.clone()];
    for _ in 0..12 {
        if url.starts_with(&format!("{}/interaction/", p.op.issuer)) && !url.contains("?as=") {
            url = format!("{url}?as={person}");
        }
        let resp = p.browser.get(&url).send().await.unwrap();
        if !resp.status().is_redirection() {
            break;
        }
        url = resp.headers()["location"].to_str().unwrap().to_string();
        if url.starts_with('/') {
            url = format!("{}{url}", p.op.issuer);
        }
        seen.push(url.clone());
        if url == RES_ACCESS {
            break;
        }
    }
    seen
}

/// The person logs out at the OP itself (its end_session endpoint and confirmation form).
async fn ent_logout(p: &Panva) {
    let resp = confirm_op_logout(p, &format!("{}/session/end", p.op.issuer)).await;
    assert!(resp.status().is_redirection() || resp.status().is_success());
}

/// Opens the OP's logout page at `url` and confirms it, as the person would; answers the OP's
/// last answer.
pub(crate) async fn confirm_op_logout(p: &Panva, url: &str) -> reqwest::Response {
    let page = p
        .browser
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(r#"name="xsrf""#), "no logout form: {page}");
    let xsrf = form_value(&page, "xsrf");
    p.browser
        .post(format!("{}/session/end/confirm", p.op.issuer))
        .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
        .send()
        .await
        .unwrap()
}

/// The provider's SSO through the gateway `p` serves, as in [`Saml::provider_assertion`].
pub(crate) async fn assertion_at(p: &Panva, request: &str) -> Option<String> {
    let at = p.gw.clock.now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let xml = provider_authn_request(request, Some(SP_ACS), &at).replace(BASE, &p.base);
    let query = signed_redirect_query(&private_key(&p.gw.sp), &xml, None, false);
    let resp = p
        .browser
        .get(format!("{}/idp/profile/SAML2/Redirect/SSO?{query}", p.base))
        .send()
        .await
        .unwrap();
    assertion_in(resp).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_logout_at_an_oidc_ent_the_next_person_never_gets_the_last_ones_identity() {
    let p = panva(crate::support::hostile_op::CLIENT_SECRET, false).await;
    let click = format!("{}{}", p.base, domaine_gar(RES_ETABL));

    // The teacher logs in at the ENT (panva) and opens the resource.
    let seen = through_the_op(&p, click.clone(), TEACHER).await;
    assert_eq!(seen.last().unwrap(), RES_ACCESS, "{seen:?}");
    assert!(!seen.iter().any(|u| u.contains("prompt=none")), "{seen:?}");
    let teacher = assertion_at(&p, "_sp-teacher").await.unwrap();
    assert!(teacher.contains("National_ens") && teacher.contains("Durand"));

    // The teacher logs out of the ENT, which sends the gateway nothing; the pupil clicks.
    ent_logout(&p).await;
    p.gw.clock.advance(chrono::Duration::minutes(1));
    let seen = through_the_op(&p, click, PUPIL).await;
    // The gateway asked the ENT who is there (prompt=none), heard login_required, ended the
    // teacher's session, and logged the pupil in.
    let passive = seen
        .iter()
        .position(|u| u.starts_with(&p.op.issuer) && u.contains("prompt=none"))
        .unwrap_or_else(|| panic!("no passive request: {seen:?}"));
    assert!(
        seen[passive..]
            .iter()
            .any(|u| u.starts_with(&p.redirect_uri) && u.contains("error=login_required")),
        "{seen:?}"
    );
    assert_eq!(seen.last().unwrap(), RES_ACCESS, "{seen:?}");
    assert_eq!(p.gw.ended_sessions(), vec!["no_ent_session"]);
    let pupil = assertion_at(&p, "_sp-pupil").await.unwrap();
    assert!(is_pupils(&pupil), "{pupil}");
    assert!(
        p.gw.refused_checks().is_empty(),
        "{:?}",
        p.gw.refused_checks()
    );

    let _ = p.stop.send(());
    p.server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_later_request_is_never_answered_for_the_last_person() {
    let s = Saml::new(vec![]).await;
    let to_ent = s.provider_asks_later().await;
    // The pupil is at the ENT now: the teacher's session ends, and the provider's request, made
    // in it, gets no answer at all (the pupil launches from the médiacentre as themselves).
    let (status, resume) = s.ent_answers(&to_ent, PUPIL).await;
    assert_eq!(status, 302);
    assert!(resume.starts_with("/idp/resume?id="), "{resume}");
    let answer = s.get(&resume).await;
    assert_eq!(answer.status(), 401);
    let page = answer.text().await.unwrap();
    assert!(
        page.contains("no_session") && !page.contains("SAMLResponse"),
        "{page}"
    );
    assert_eq!(s.ended(), vec!["replaced"]);
    assert_eq!(s.provider_assertion("_sp-pupil-direct").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_later_request_is_answered_once_the_ent_names_the_same_person() {
    let s = Saml::new(vec![]).await;
    let to_ent = s.provider_asks_later().await;
    let (status, resume) = s.ent_answers(&to_ent, TEACHER).await;
    assert_eq!(status, 302);
    let assertion = assertion_in(s.get(&resume).await).await.unwrap();
    assert!(
        assertion.contains("InResponseTo=\"_sp-later\""),
        "{assertion}"
    );
    assert!(assertion.contains("Durand"));
    assert!(s.ended().is_empty(), "{:?}", s.ended());
    // Answered once.
    let again = s.get(&resume).await;
    assert_eq!(again.status(), 403);
    assert!(!again.text().await.unwrap().contains("SAMLResponse"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passive_provider_request_on_an_unconfirmed_session_hears_no_passive() {
    let s = Saml::new(vec![]).await;
    s.teacher_opens_the_resource().await;
    // Within the hop of the launch, a passive request is answered at once.
    let at_once = assertion_in(
        s.provider_sso("_sp-passive-1", r#" IsPassive="true""#)
            .await,
    )
    .await
    .unwrap();
    assert!(at_once.contains("Durand") && at_once.contains("status:Success"));
    // Later, the ENT would have to be asked, and nothing may be shown: NoPassive, no assertion.
    s.gw.clock.advance(chrono::Duration::minutes(2));
    let later = assertion_in(
        s.provider_sso("_sp-passive-2", r#" IsPassive="true""#)
            .await,
    )
    .await
    .unwrap();
    assert!(later.contains("status:NoPassive"), "{later}");
    assert!(!later.contains("Durand") && !later.contains("<saml:Assertion"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oidc_authorization_on_an_unconfirmed_session_asks_the_ent_first() {
    use crate::support::oidc::{query, redeem_web, subscribe, userinfo, web_params};
    let s = Saml::new(vec![]).await;
    subscribe(&s.gw).await;
    s.teacher_opens_the_resource().await;
    s.gw.clock.advance(chrono::Duration::minutes(2));

    // prompt=none: nothing may be shown, so the client hears login_required, with no code.
    let mut silent = web_params();
    silent.push(("prompt", "none"));
    let resp = s.get(&format!("/oidc/authorize?{}", query(&silent))).await;
    assert_eq!(resp.status(), 302);
    let to_client = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(
        to_client.starts_with(OIDC_WEB_REDIRECT) && to_client.contains("error=login_required"),
        "{to_client}"
    );
    assert!(!to_client.contains("code="));

    // Otherwise the ENT is asked who is there, and the request comes back as that person.
    let authz = format!("/oidc/authorize?{}", query(&web_params()));
    let resp = s.get(&authz).await;
    assert_eq!(resp.status(), 303);
    let to_ent = resp.headers()["location"].to_str().unwrap().to_string();
    assert!(authn_request(&to_ent).0.contains(r#"IsPassive="true""#));
    assert_eq!(s.ent_answers(&to_ent, PUPIL).await, (302, authz.clone()));
    assert_eq!(s.ended(), vec!["replaced"]);
    let resp = s.get(&authz).await;
    assert_eq!(resp.status(), 302);
    let to_client = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let code = to_client
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code: {to_client}"));
    let (status, t) = redeem_web(&s.gw, &code).await;
    assert_eq!(status, 200, "{t}");
    let (status, claims, _) = userinfo(
        &s.gw,
        t["access_token"].as_str().unwrap(),
        &format!(
            "?idRessource={}&access_mode=web",
            urlencoding::encode(RES_OIDC)
        ),
    )
    .await;
    assert_eq!(status, 200, "{claims}");
    assert_eq!(claims["PRO"], "National_elv", "{claims}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oidc_ents_back_channel_logout_ends_the_session_at_once() {
    let p = crate::support::ent_op::panva_with_backchannel_logout(
        crate::support::hostile_op::CLIENT_SECRET,
    )
    .await;
    let click = format!("{}{}", p.base, domaine_gar(RES_ETABL));
    let seen = through_the_op(&p, click.clone(), TEACHER).await;
    assert_eq!(seen.last().unwrap(), RES_ACCESS, "{seen:?}");
    assert!(assertion_at(&p, "_sp-teacher").await.is_some());

    // Hostile logout tokens first: refused, nothing ended.
    let post = |token: String| {
        let url = format!("{}/ent/oidc/backchannel-logout", p.base);
        async move {
            let resp = reqwest::Client::new()
                .post(url)
                .form(&[("logout_token", token)])
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let forged = forged_logout_token(&p.op.issuer, TEACHER, p.gw.clock.now().timestamp());
    let (status, body) = post(forged).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("invalid_request") && body.contains("oidc.signature"),
        "{body}"
    );
    let (status, body) = post("not-a-token".into()).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        assertion_at(&p, "_sp-teacher-2").await.is_some(),
        "nothing ended"
    );

    // The teacher logs out at the ENT: its provider posts a logout token to the gateway.
    ent_logout(&p).await;
    assert_eq!(p.gw.ended_sessions(), vec!["ent_logout"]);
    assert!(assertion_at(&p, "_sp-after-logout").await.is_none());
    // The pupil's click is an ordinary login (no session to confirm), as the pupil.
    let seen = through_the_op(&p, click, PUPIL).await;
    assert!(!seen.iter().any(|u| u.contains("prompt=none")), "{seen:?}");
    assert_eq!(seen.last().unwrap(), RES_ACCESS, "{seen:?}");
    let pupil = assertion_at(&p, "_sp-pupil").await.unwrap();
    assert!(is_pupils(&pupil), "{pupil}");

    let _ = p.stop.send(());
    p.server.await.unwrap().unwrap();
}

/// A logout token for `sub` at `issuer`, well formed, signed with a key the ENT does not have
/// under the ENT's key id.
fn forged_logout_token(issuer: &str, sub: &str, now: i64) -> String {
    let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("ent-op-1".into());
    let claims = serde_json::json!({
        "iss": issuer, "aud": crate::support::hostile_op::CLIENT_ID, "sub": sub,
        "iat": now, "jti": "forged-1",
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    });
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(&rsa.private_key_to_pem().unwrap()).unwrap(),
    )
    .unwrap()
}
