//! The demo ENT: a login chooser with the demo users, a médiacentre page whose links go
//! through the gateway's `domaineGar`, and a SAML identity provider that answers the gateway's
//! signed AuthnRequests with a signed Response carrying `idEnt` and `GARPersonIdentifiant`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use serde::Deserialize;

use super::data::{self, RESOURCES, USERS};

mod slo;
use crate::clock::Clock;
use crate::saml::idp::{self, IdpSettings, Issue, ProviderSp, VerifiedAuthnRequest};
use crate::saml::keys::SigningKey;
use crate::saml::xml::escape;
use crate::saml::Check;
use crate::saml::{binding, xml::new_id};

const COOKIE: &str = "demo_ent_session";

/// The demo ENT's state.
#[derive(Clone)]
pub struct DemoEnt {
    pub gateway_base: String,
    pub key: SigningKey,
    /// The gateway as this IdP's service provider.
    pub gateway_sp: ProviderSp,
    pub idp: IdpSettings,
    pub clock: Arc<dyn Clock>,
    sessions: Arc<Mutex<HashMap<String, String>>>,
    pending: Arc<Mutex<HashMap<String, VerifiedAuthnRequest>>>,
    /// Per ENT session, the NameID and SessionIndex of its latest login at the gateway: what
    /// its logout names.
    logins: Arc<Mutex<HashMap<String, (String, String)>>>,
    /// Where a login started by the OIDC provider goes back to (its authorization request), by
    /// the chooser's token.
    resume: Arc<Mutex<HashMap<String, String>>>,
    /// In OIDC mode, how the ENT's logout reaches the gateway (set by `ent_oidc`).
    pub(super) backchannel: Arc<Mutex<Option<super::ent_backchannel::Backchannel>>>,
    /// The ENT's bearer token on the gateway's web services (the médiacentre listing).
    listing_token: String,
    http: reqwest::Client,
}

impl DemoEnt {
    pub fn new(
        gateway_base: String,
        key: SigningKey,
        gateway_sp: ProviderSp,
        idp: IdpSettings,
        clock: Arc<dyn Clock>,
        listing_token: String,
    ) -> Self {
        Self {
            listing_token,
            http: crate::outbound::client(std::time::Duration::from_secs(10)),
            gateway_base,
            key,
            gateway_sp,
            idp,
            clock,
            sessions: Arc::default(),
            pending: Arc::default(),
            logins: Arc::default(),
            resume: Arc::default(),
            backchannel: Arc::default(),
        }
    }

    /// The resources the gateway's listing (`/ressources/{idENT}/{UAI}/{id}`) gives `user`:
    /// their names and access URLs.
    async fn listing(&self, uai: &str, user: &str) -> Result<Vec<(String, String)>, String> {
        let url = format!(
            "{}/ressources/{}/{uai}/{}",
            self.gateway_base,
            data::ENT_ID,
            urlencoding::encode(user)
        );
        let resp = self
            .http
            .get(url)
            .bearer_auth(&self.listing_token)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("réponse {status}"));
        }
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("réponse illisible : {e}"))?;
        Ok(v["listeRessources"]["ressource"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                Some((
                    r["nomRessource"].as_str()?.to_string(),
                    r["urlAccesRessource"].as_str()?.to_string(),
                ))
            })
            .collect())
    }

    /// The login page, for a login that goes back to `url` (a path of the demo ENT) once done.
    pub(super) fn log_in_then(&self, url: String) -> Response {
        let token = new_id();
        self.resume
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.clone(), url);
        Html(chooser(Some(&token))).into_response()
    }

    /// The demo user logged in at the demo ENT in this browser.
    pub(super) fn user(&self, headers: &HeaderMap) -> Option<String> {
        let id = session_id(headers)?;
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }
}

/// The demo ENT's session id this browser's cookie names.
fn session_id(headers: &HeaderMap) -> Option<String> {
    let cookie = headers.get(header::COOKIE)?.to_str().ok()?;
    cookie
        .split(';')
        .filter_map(|c| c.trim().strip_prefix(&format!("{COOKIE}=")))
        .next()
        .map(str::to_string)
}

pub fn router(state: DemoEnt) -> Router {
    Router::new()
        .route(
            crate::http::pages::STYLESHEET_PATH,
            get(crate::http::pages::stylesheet),
        )
        .route("/", get(home))
        .route("/login", post(login))
        .route("/logout", get(logout))
        .route("/mediacentre", get(mediacentre))
        .route("/idp/sso", get(sso))
        .route("/idp/slo", get(slo_answered))
        .with_state(state)
}

fn chooser(pending: Option<&str>) -> String {
    let hidden = pending
        .map(|p| {
            format!(
                r#"<input type="hidden" name="pending" value="{}">"#,
                escape(p)
            )
        })
        .unwrap_or_default();
    let users: String = USERS
        .iter()
        .map(|u| format!(r#"<li><form method="post" action="/login"><input type="hidden" name="user" value="{}">{hidden}<button type="submit">Se connecter</button> {}</form></li>"#, u.id, escape(u.label)))
        .collect();
    page("ENT Démo — connexion", &format!("<p>Espace numérique de travail de démonstration du Collège Démo. Choisissez un compte de démonstration :</p><ul>{users}</ul>"))
}

async fn home(State(ent): State<DemoEnt>, headers: HeaderMap) -> Response {
    if ent.user(&headers).is_some() {
        return Redirect::to("/mediacentre").into_response();
    }
    Html(chooser(None)).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    pending: Option<String>,
}

async fn login(State(ent): State<DemoEnt>, Form(form): Form<LoginForm>) -> Response {
    if !USERS.iter().any(|u| u.id == form.user) {
        return (
            StatusCode::BAD_REQUEST,
            Html(page(
                "Compte inconnu",
                "<p>Ce compte de démonstration n'existe pas.</p>",
            )),
        )
            .into_response();
    }
    let sid = crate::session::new_id();
    ent.sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(sid.clone(), form.user.clone());
    let cookie = format!("{COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax");
    let token = form.pending.unwrap_or_default();
    let pending = ent
        .pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&token);
    let resume = ent
        .resume
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&token);
    let mut resp = match (pending, resume) {
        (Some(request), _) => answer(&ent, &request, &form.user, &sid),
        // The OIDC provider's authorization request, which the login interrupted.
        (None, Some(url)) => Redirect::to(&url).into_response(),
        (None, None) => Redirect::to("/mediacentre").into_response(),
    };
    if let Ok(v) = header::HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// Logs the browser out of the ENT and, when it logged in at the gateway, sends it there with
/// a signed LogoutRequest (HTTP-Redirect) naming that login: the gateway ends its session and
/// sends the browser back to `/idp/slo` with its LogoutResponse.
async fn logout(State(ent): State<DemoEnt>, headers: HeaderMap) -> Response {
    let Some(sid) = session_id(&headers) else {
        return Redirect::to("/").into_response();
    };
    let user = ent
        .sessions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&sid);
    let backchannel = ent
        .backchannel
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if let (Some(user), Some(b)) = (user, backchannel) {
        // OIDC mode: the ENT's provider tells the gateway over the back channel.
        let told = b.logout(&user, ent.clock.now()).await;
        let outcome = if told {
            " et de la passerelle"
        } else {
            " (la passerelle n'a pas pu être prévenue)"
        };
        return Html(page(
            "Déconnexion",
            &format!("<p>Vous êtes déconnecté de l'ENT{outcome}.</p><p><a href=\"/\">Retour à l'accueil de l'ENT</a></p>"),
        ))
        .into_response();
    }
    let login = ent
        .logins
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&sid);
    let Some((name_id, session_index)) = login else {
        return Redirect::to("/").into_response();
    };
    let slo = format!("{}/saml/slo", ent.gateway_base);
    let (_, xml) = crate::saml::slo::logout_request(
        &ent.idp.entity_id,
        &slo,
        &name_id,
        Some(&session_index),
        ent.clock.now(),
    );
    match binding::signed_redirect_url(&slo, "SAMLRequest", &xml, None, &ent.key.key) {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => failed(&e),
    }
}

/// The page of a SAML message the demo ENT could not make.
fn failed(e: &crate::saml::SamlError) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Html(page(
            "Erreur",
            &format!("<p>{}</p>", escape(&e.to_string())),
        )),
    )
        .into_response()
}

/// `GET /idp/slo`: the gateway's LogoutResponse, its query signature checked with the
/// gateway's certificate; or the gateway's LogoutRequest (`ent_slo`).
async fn slo_answered(State(ent): State<DemoEnt>, RawQuery(q): RawQuery) -> Response {
    let raw = q.as_deref().unwrap_or("");
    if url::form_urlencoded::parse(raw.as_bytes()).any(|(k, _)| k == "SAMLRequest") {
        // The gateway asks: a provider logged its user out there.
        return slo::asked(&ent, raw);
    }
    let verified = binding::RedirectQuery::parse(q.as_deref().unwrap_or(""), "SAMLResponse")
        .and_then(|rq| {
            rq.verify(&ent.gateway_sp.signing_certs, &ent.gateway_sp.algorithms)
                .map(|()| rq)
        });
    match verified {
        Ok(rq) => {
            let xml = binding::decode_redirect(&rq.message, 64 * 1024).unwrap_or_default();
            let ok = xml.contains("urn:oasis:names:tc:SAML:2.0:status:Success");
            Html(page(
                "Déconnexion",
                &format!(
                    "<p>Vous êtes déconnecté de l'ENT{}.</p><p><a href=\"/\">Retour à l'accueil de l'ENT</a></p>",
                    if ok { " et de la passerelle" } else { " (la passerelle n'avait pas de session ouverte)" }
                ),
            ))
            .into_response()
        }
        Err(e) => (
            StatusCode::FORBIDDEN,
            Html(page(
                "Déconnexion",
                &format!(
                    "<p>La réponse de la passerelle est invalide : <code>{}</code></p>",
                    escape(e.check.code())
                ),
            )),
        )
            .into_response(),
    }
}

async fn mediacentre(State(ent): State<DemoEnt>, headers: HeaderMap) -> Response {
    let Some(user) = ent.user(&headers) else {
        return Redirect::to("/").into_response();
    };
    let label = USERS.iter().find(|u| u.id == user).map_or("", |u| u.label);
    let Ok(uai) = data::uai() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    // The médiacentre lists what the gateway's listing says this user may open, as a real ENT
    // does; the school's other resources are offered apart, to see the gateway refuse them.
    let listed = match ent.listing(uai.as_str(), &user).await {
        Ok(l) => l,
        Err(e) => {
            return (
                StatusCode::BAD_GATEWAY,
                Html(page(
                    "Médiacentre",
                    &format!(
                        "<p>Le médiacentre n'a pas pu obtenir vos ressources auprès de la passerelle : {}</p>",
                        escape(&e)
                    ),
                )),
            )
                .into_response()
        }
    };
    let links: String = listed
        .iter()
        .map(|(title, href)| {
            format!(
                r#"<li><a href="{}">{}</a></li>"#,
                escape(href),
                escape(title)
            )
        })
        .collect();
    let others: String = RESOURCES
        .iter()
        .chain([&data::OIDC_RESOURCE, &data::CAS_RESOURCE])
        .filter(|r| !listed.iter().any(|(title, _)| title == r.title))
        .map(|r| {
            let href = format!(
                "{}/domaineGar?idENT={}&idEtab={}&idRessource={}",
                ent.gateway_base,
                urlencoding::encode(&b64(data::ENT_ID)),
                urlencoding::encode(&b64(uai.as_str())),
                urlencoding::encode(r.ark)
            );
            format!(
                r#"<li><a href="{}">{}</a></li>"#,
                escape(&href),
                escape(r.title)
            )
        })
        .collect();
    let others = if others.is_empty() {
        String::new()
    } else {
        format!("<h2>Pour voir un refus</h2><p>L'établissement est abonné à ces ressources, mais elles ne vous sont pas attribuées : le médiacentre ne les affiche pas, et la passerelle refuse leur lien direct.</p><ul>{others}</ul>")
    };
    let manage = if user == "ens-demo-1" {
        format!(
            "<p><a href=\"{}\">Gérer les affectations de l'établissement</a> (responsable des affectations)</p>",
            escape(&format!(
                "{}/affectations?idENT={}",
                ent.gateway_base,
                urlencoding::encode(&b64(data::ENT_ID))
            ))
        )
    } else {
        String::new()
    };
    Html(page(
        "Médiacentre",
        &format!(
            "<p>Connecté : <strong>{}</strong> — <a href=\"/logout\">se déconnecter</a></p><p>Vos ressources, telles que la passerelle les liste pour vous (chaque lien passe par elle, qui vérifie votre accès) :</p><ul>{links}</ul>{manage}{others}",
            escape(label)
        ),
    ))
    .into_response()
}

async fn sso(
    State(ent): State<DemoEnt>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let now = ent.clock.now();
    let request = idp::decode_redirect(query.as_deref().unwrap_or(""), ent.idp.max_message_bytes)
        .and_then(|req| {
            if req.issuer != ent.gateway_sp.entity_id {
                return Err(crate::saml::SamlError::new(
                    Check::Issuer,
                    "unknown service provider",
                ));
            }
            idp::verify_request(&req, &ent.gateway_sp, &ent.idp, now)
        });
    let request = match request {
        Ok(r) => r,
        Err(e) => {
            return (StatusCode::FORBIDDEN, Html(page("Demande refusée", &format!("<p>La demande d'authentification de la passerelle est invalide : <code>{}</code></p>", escape(e.check.code()))))).into_response();
        }
    };
    match (ent.user(&headers), session_id(&headers)) {
        (Some(user), Some(sid)) => answer(&ent, &request, &user, &sid),
        // Asked who is logged in, without showing anything: nobody (SAML core §3.4.1).
        _ if request.is_passive => no_passive(&ent, &request),
        _ => {
            let token = new_id();
            ent.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(token.clone(), request);
            Html(chooser(Some(&token))).into_response()
        }
    }
}

/// The signed `NoPassive` answer to a passive request, auto-posted to the gateway's ACS.
fn no_passive(ent: &DemoEnt, request: &VerifiedAuthnRequest) -> Response {
    let xml = idp::signed_error_response(
        &ent.idp,
        &ent.key,
        request,
        "urn:oasis:names:tc:SAML:2.0:status:NoPassive",
        "nobody is logged in at this ENT",
        ent.clock.now(),
    );
    post_to_acs(request, xml)
}

fn post_to_acs(
    request: &VerifiedAuthnRequest,
    xml: Result<String, crate::saml::SamlError>,
) -> Response {
    match xml {
        Ok(xml) => Html(binding::post_form(
            &request.acs_url,
            "SAMLResponse",
            &xml,
            request.relay_state.as_deref(),
        ))
        .into_response(),
        Err(e) => failed(&e),
    }
}

/// The signed Response for `user` (logged in at the ENT's session `sid`), auto-posted to the
/// gateway's ACS; the login is remembered for the ENT's logout.
fn answer(ent: &DemoEnt, request: &VerifiedAuthnRequest, user: &str, sid: &str) -> Response {
    let now = ent.clock.now();
    let ident = vec![data::ENT_ID.to_string()];
    let person = vec![user.to_string()];
    let attributes: Vec<(&str, &[String])> =
        vec![("idEnt", &ident), ("GARPersonIdentifiant", &person)];
    let subject = new_id();
    let xml = idp::signed_response(
        &ent.idp,
        &ent.key,
        &Issue {
            request,
            subject: &subject,
            attributes: &attributes,
            authn_instant: now,
            session_index: &subject,
        },
        now,
    );
    ent.logins
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(sid.to_string(), (subject.clone(), subject));
    post_to_acs(request, xml)
}

/// A page of this demo site (its own name in the browser's tab, not the gateway's).
fn page(title: &str, body_html: &str) -> String {
    crate::http::pages::page_of("ENT Démo", title, body_html)
}
