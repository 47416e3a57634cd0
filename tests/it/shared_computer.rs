//! A shared computer changes hands without the ENT telling the gateway: the teacher logs in at
//! the ENT and opens a resource, then a pupil takes the computer. Over real sockets, with a
//! SAML ENT (the xmlsec1-signing peer) and with panva's `oidc-provider` as an OIDC ENT, the
//! pupil's launch must carry the pupil's attributes, never the teacher's: before a session is
//! used again the gateway asks the ENT, passively, who is at the browser (`IsPassive`,
//! `prompt=none`), and a session whose person the ENT no longer vouches for ends.

use std::io::Read;

use base64::Engine;
use ent_idp::{EntResponse, Sign};
use passerelle::clock::Clock;
use passerelle::trace::TraceEvent;

use crate::support::ent_idp;
use crate::support::ent_op::{panva, Panva};
use crate::support::gateway::*;

const TEACHER: &str = "ens-0001";
const PUPIL: &str = "eleve-0001";

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
}

/// The AuthnRequest a redirect to the ENT carries, and its RelayState.
fn authn_request(to_ent: &str) -> (String, String) {
    assert!(to_ent.starts_with(ENT_SSO), "{to_ent}");
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(
        &base64::engine::general_purpose::STANDARD
            .decode(query_param(to_ent, "SAMLRequest"))
            .unwrap()[..],
    )
    .read_to_string(&mut xml)
    .unwrap();
    (xml, query_param(to_ent, "RelayState"))
}

fn request_id(xml: &str) -> String {
    xml.split("ID=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

struct Saml {
    base: String,
    gw: TestGateway,
    browser: reqwest::Client,
}

impl Saml {
    async fn new(vars: Vec<(String, String)>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let gw = TestGateway::with(Options {
            base: base.clone(),
            vars,
            ..Options::default()
        })
        .await;
        tokio::spawn(passerelle::http::serve(
            listener,
            gw.state.clone(),
            std::future::pending(),
        ));
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { base, gw, browser }
    }

    /// A médiacentre click; answers the redirect's target and status.
    async fn click(&self) -> (u16, String) {
        let resp = self
            .browser
            .get(format!("{}{}", self.base, domaine_gar(RES_ETABL)))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let to = resp
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, to)
    }

    /// Posts the ENT's answer `xml` to the ACS; answers the status and where it sends the browser.
    async fn post_acs(&self, xml: &str, relay: &str) -> (u16, String) {
        let resp = self
            .browser
            .post(format!("{}/saml/acs", self.base))
            .form(&[
                (
                    "SAMLResponse",
                    base64::engine::general_purpose::STANDARD.encode(xml),
                ),
                ("RelayState", relay.to_string()),
            ])
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let to = resp
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, to)
    }

    /// The ENT vouches for `person` in answer to the request the browser was sent with.
    async fn ent_answers(&self, to_ent: &str, person: &str) -> (u16, String) {
        let (xml, relay) = authn_request(to_ent);
        let mut answer = EntResponse::new(&self.base, ENT_ENTITY, &request_id(&xml), now(), person);
        answer.sign = Sign::Both;
        let signed = answer.signed(&self.gw.ent.key, &self.gw.ent.cert);
        self.post_acs(&signed, &relay).await
    }

    /// The ENT answers `NoPassive`: nobody is logged in there.
    async fn ent_has_nobody(&self, to_ent: &str) -> (u16, String) {
        let (xml, relay) = authn_request(to_ent);
        let answer = EntResponse::new(&self.base, ENT_ENTITY, &request_id(&xml), now(), "x");
        let signed = answer.signed_no_passive(&self.gw.ent.key, &self.gw.ent.cert);
        self.post_acs(&signed, &relay).await
    }

    /// The provider's SSO for the resource just opened: the assertion the gateway signs.
    async fn provider_assertion(&self, request: &str) -> Option<String> {
        let xml = provider_authn_request(request, Some(SP_ACS), "2026-11-24T08:00:00Z")
            .replace(BASE, &self.base);
        let query = signed_redirect_query(&private_key(&self.gw.sp), &xml, None, false);
        let resp = self
            .browser
            .get(format!(
                "{}/idp/profile/SAML2/Redirect/SSO?{query}",
                self.base
            ))
            .send()
            .await
            .unwrap();
        if resp.status() != 200 {
            return None;
        }
        let page = resp.text().await.unwrap();
        Some(
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(form_value(&page, "SAMLResponse"))
                    .unwrap(),
            )
            .unwrap(),
        )
    }

    /// The teacher logs in at the ENT through a médiacentre click and opens the resource.
    async fn teacher_opens_the_resource(&self) {
        let (status, to_ent) = self.click().await;
        assert_eq!(status, 303);
        let (request, _) = authn_request(&to_ent);
        assert!(!request.contains("IsPassive"), "{request}");
        assert_eq!(
            self.ent_answers(&to_ent, TEACHER).await,
            (302, RES_ACCESS.to_string())
        );
        let assertion = self.provider_assertion("_sp-teacher").await.unwrap();
        assert!(assertion.contains("National_ens") && assertion.contains("Durand"));
    }

    fn ended(&self) -> Vec<&'static str> {
        self.gw
            .events()
            .into_iter()
            .filter_map(|e| match e {
                TraceEvent::SessionEnded { reason, .. } => Some(reason),
                _ => None,
            })
            .collect()
    }
}

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
async fn through_the_op(p: &Panva, mut url: String, person: &str) -> Vec<String> {
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
    let page = p
        .browser
        .get(format!("{}/session/end", p.op.issuer))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let xsrf = page
        .split(r#"name="xsrf" value=""#)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no logout form: {page}"))
        .to_string();
    let resp = p
        .browser
        .post(format!("{}/session/end/confirm", p.op.issuer))
        .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection() || resp.status().is_success());
}

/// The provider's SSO through the gateway `p` serves, as in [`Saml::provider_assertion`].
async fn assertion_at(p: &Panva, request: &str) -> Option<String> {
    let at = p.gw.clock.now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let xml = provider_authn_request(request, Some(SP_ACS), &at).replace(BASE, &p.base);
    let query = signed_redirect_query(&private_key(&p.gw.sp), &xml, None, false);
    let resp = p
        .browser
        .get(format!("{}/idp/profile/SAML2/Redirect/SSO?{query}", p.base))
        .send()
        .await
        .unwrap();
    if resp.status() != 200 {
        return None;
    }
    let page = resp.text().await.unwrap();
    Some(
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(form_value(&page, "SAMLResponse"))
                .unwrap(),
        )
        .unwrap(),
    )
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
    let ended: Vec<_> =
        p.gw.events()
            .into_iter()
            .filter_map(|e| match e {
                TraceEvent::SessionEnded { reason, .. } => Some(reason),
                _ => None,
            })
            .collect();
    assert_eq!(ended, vec!["no_ent_session"]);
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
