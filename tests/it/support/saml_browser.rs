//! A browser in front of the gateway on a real socket, with a SAML ENT that is not the
//! gateway's code (`ent_idp`, signing with xmlsec1): médiacentre clicks, the ENT's answers
//! (a person, or nobody), a provider's AuthnRequests, and the trace of ended sessions.

use base64::Engine;
use passerelle::clock::Clock;

use crate::support::ent_idp::{EntResponse, Sign};
use crate::support::gateway::*;

pub const TEACHER: &str = "ens-0001";
pub const PUPIL: &str = "eleve-0001";

pub fn query_param(url: &str, name: &str) -> String {
    let q = url.split_once('?').unwrap().1;
    let raw = q
        .split('&')
        .find_map(|p| p.strip_prefix(&format!("{name}=")))
        .unwrap();
    urlencoding::decode(raw).unwrap().into_owned()
}

pub fn form_value(page: &str, name: &str) -> String {
    let marker = format!(r#"name="{name}" value=""#);
    let start = page.find(&marker).unwrap() + marker.len();
    let end = page[start..].find('"').unwrap() + start;
    page[start..end]
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
}

/// The AuthnRequest a redirect to the ENT carries, and its RelayState.
pub fn authn_request(to_ent: &str) -> (String, String) {
    assert!(to_ent.starts_with(ENT_SSO), "{to_ent}");
    (redirect_message(to_ent), query_param(to_ent, "RelayState"))
}

pub fn request_id(xml: &str) -> String {
    xml.split("ID=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

pub struct Saml {
    pub base: String,
    pub gw: TestGateway,
    pub browser: reqwest::Client,
}

impl Saml {
    pub async fn new(vars: Vec<(String, String)>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::on(
            listener,
            Options {
                vars,
                ..Options::default()
            },
        )
        .await
    }

    /// A gateway configured with `opts` (its base set to the listener's), served on `listener`.
    pub async fn on(listener: tokio::net::TcpListener, opts: Options) -> Self {
        let base = format!("http://{}", listener.local_addr().unwrap());
        let gw = TestGateway::with(Options {
            base: base.clone(),
            ..opts
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
    pub async fn click(&self) -> (u16, String) {
        let resp = self
            .browser
            .get(format!("{}{}", self.base, domaine_gar(RES_ETABL)))
            .send()
            .await
            .unwrap();
        status_and_location(&resp)
    }

    /// Posts the ENT's answer `xml` to the ACS; answers the status and where it sends the browser.
    pub async fn post_acs(&self, xml: &str, relay: &str) -> (u16, String) {
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
        status_and_location(&resp)
    }

    /// The ENT vouches for `person` in answer to the request the browser was sent with.
    pub async fn ent_answers(&self, to_ent: &str, person: &str) -> (u16, String) {
        self.ent_answers_as(to_ent, person).await.0
    }

    /// As [`Saml::ent_answers`], and the ENT's login (its NameID and SessionIndex).
    pub async fn ent_answers_as(&self, to_ent: &str, person: &str) -> ((u16, String), EntLogin) {
        let (xml, relay) = authn_request(to_ent);
        let mut answer = EntResponse::new(&self.base, ENT_ENTITY, &request_id(&xml), now(), person);
        answer.sign = Sign::Both;
        let signed = answer.signed(&self.gw.ent.key, &self.gw.ent.cert);
        let login = EntLogin {
            name_id: format!("_transient-{}", answer.assertion_id),
            session_index: "_s1".into(),
        };
        (self.post_acs(&signed, &relay).await, login)
    }

    /// The ENT answers `NoPassive`: nobody is logged in there.
    pub async fn ent_has_nobody(&self, to_ent: &str) -> (u16, String) {
        let (xml, relay) = authn_request(to_ent);
        let answer = EntResponse::new(&self.base, ENT_ENTITY, &request_id(&xml), now(), "x");
        let signed = answer.signed_no_passive(&self.gw.ent.key, &self.gw.ent.cert);
        self.post_acs(&signed, &relay).await
    }

    /// The provider's AuthnRequest `request` (with `attributes` such as `IsPassive="true"`)
    /// over HTTP-Redirect, as the browser carries it to the gateway.
    pub async fn provider_sso(&self, request: &str, attributes: &str) -> reqwest::Response {
        let at = self.gw.clock.now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let xml = provider_authn_request(request, Some(SP_ACS), &at)
            .replace(BASE, &self.base)
            .replacen(" Version=", &format!("{attributes} Version="), 1);
        let query = signed_redirect_query(&private_key(&self.gw.sp), &xml, None, false);
        self.browser
            .get(format!(
                "{}/idp/profile/SAML2/Redirect/SSO?{query}",
                self.base
            ))
            .send()
            .await
            .unwrap()
    }

    /// The provider's SSO for the resource just opened: the assertion the gateway signs.
    pub async fn provider_assertion(&self, request: &str) -> Option<String> {
        assertion_in(self.provider_sso(request, "").await).await
    }

    /// `GET` of a gateway path (`/idp/resume?...`) in this browser.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.browser
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// The teacher opens the resource, then the clock moves past the hop of a launch: the
    /// provider asks the gateway for the user, with no médiacentre click before (its own
    /// "sign in" button). Answers where the gateway sends the browser (the ENT, passively).
    pub async fn provider_asks_later(&self) -> String {
        self.teacher_opens_the_resource().await;
        self.gw.clock.advance(chrono::Duration::minutes(2));
        let resp = self.provider_sso("_sp-later", "").await;
        assert_eq!(
            resp.status(),
            303,
            "the session is not used before the ENT says who is there"
        );
        let to_ent = resp.headers()["location"].to_str().unwrap().to_string();
        let (request, _) = authn_request(&to_ent);
        assert!(request.contains(r#"IsPassive="true""#), "{request}");
        to_ent
    }
}

/// A response's status and where it redirects (empty when it does not).
pub fn status_and_location(resp: &reqwest::Response) -> (u16, String) {
    let to = resp
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string())
        .unwrap_or_default();
    (resp.status().as_u16(), to)
}

/// Posts the SAML message `xml` (an XML declaration dropped) in a SOAP envelope to `url`, as
/// a peer's server does; answers the status and the body.
pub async fn post_soap(url: &str, xml: &str) -> (u16, String) {
    let xml = match xml.trim_start().strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(xml, |(_, body)| body),
        None => xml,
    };
    let envelope = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soap11:Envelope xmlns:soap11="http://schemas.xmlsoap.org/soap/envelope/"><soap11:Body>{xml}</soap11:Body></soap11:Envelope>"#
    );
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "text/xml")
        .body(envelope)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

impl Saml {
    /// Checks with xmlsec1 and the gateway's published certificate the signature of the
    /// LogoutResponse in `body`.
    pub fn verify_logout_response(&self, body: &str) {
        let cert = self.gw.dir.path().join("gateway-published.crt");
        std::fs::write(&cert, self.gw.gateway.cert_pem()).unwrap();
        crate::support::ent_idp::xmlsec1_verify(
            body,
            &cert,
            "//*[local-name()='LogoutResponse']/*[local-name()='Signature']",
        )
        .unwrap();
    }

    /// Whether the browser's gateway session still answers the provider.
    pub async fn session_alive(&self) -> bool {
        let id = format!("_sp-{}", uuid::Uuid::new_v4().simple());
        self.provider_assertion(&id).await.is_some()
    }
}

/// The assertion in the auto-POST page `resp` carries to the provider, if it is one.
pub async fn assertion_in(resp: reqwest::Response) -> Option<String> {
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

impl Saml {
    /// The teacher logs in at the ENT through a médiacentre click and opens the resource.
    pub async fn teacher_opens_the_resource(&self) {
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

    pub fn ended(&self) -> Vec<&'static str> {
        self.gw.ended_sessions()
    }
}

/// How the test ENT names a login in its assertion (what its LogoutRequest names).
#[derive(Debug, Clone)]
pub struct EntLogin {
    pub name_id: String,
    pub session_index: String,
}
