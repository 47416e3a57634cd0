//! The demo resource: a SAML service provider that asks the gateway to authenticate its
//! visitors (signed AuthnRequest, HTTP-Redirect), verifies the gateway's signed Response with
//! the gateway's certificate, and shows exactly what it received.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use super::data::RESOURCES;

mod slo;
use crate::clock::Clock;
use crate::saml::keys::SigningKey;
use crate::saml::sp::{self, EntIdp, SpSettings};
use crate::saml::xml::{escape, new_id};
use crate::saml::{binding, metadata};

/// The demo resource's state.
#[derive(Clone)]
pub struct DemoResource {
    pub key: SigningKey,
    pub sp: SpSettings,
    /// The gateway, as this SP's identity provider.
    pub gateway: EntIdp,
    pub clock: Arc<dyn Clock>,
    pending: Arc<Mutex<HashSet<String>>>,
    /// The `SessionIndex` of each session the gateway's back-channel logout closed.
    logged_out: Arc<Mutex<Vec<String>>>,
}

impl DemoResource {
    pub fn new(key: SigningKey, sp: SpSettings, gateway: EntIdp, clock: Arc<dyn Clock>) -> Self {
        Self {
            key,
            sp,
            gateway,
            clock,
            pending: Arc::default(),
            logged_out: Arc::default(),
        }
    }
}

pub fn router(state: DemoResource) -> Router {
    Router::new()
        .route(
            crate::http::pages::STYLESHEET_PATH,
            get(crate::http::pages::stylesheet),
        )
        .route("/", get(home))
        .route("/ressource/{short}", get(open))
        .route("/saml/acs", post(acs))
        .route("/saml/metadata", get(sp_metadata))
        .route(SLO_SOAP_PATH, post(slo_soap))
        .route("/saml/logout", get(slo::logout))
        .route(SLO_PATH, get(slo::answered))
        .with_state(state)
}

/// Where the gateway sends the browser back with its LogoutResponse, after a logout this
/// resource started (HTTP-Redirect).
pub const SLO_PATH: &str = "/saml/slo";

/// Where the gateway posts its LogoutRequest when a session that opened a resource here ends.
pub const SLO_SOAP_PATH: &str = "/saml/slo/soap";

/// The gateway's back-channel logout: a SOAP LogoutRequest verified with the gateway's
/// certificate (as any provider must), the session it names closed, a `LogoutResponse`
/// `Success` answered.
async fn slo_soap(State(res): State<DemoResource>, body: String) -> Response {
    use crate::saml::slo::{self, Carried, Peer, SloUrls};
    let base = res.sp.acs_url.trim_end_matches("/saml/acs");
    let urls = SloUrls {
        redirect: format!("{base}/saml/slo"),
        post: format!("{base}/saml/slo"),
        soap: format!("{base}{SLO_SOAP_PATH}"),
    };
    let verified = slo::verify_logout_request(
        &Carried::Soap(body),
        &urls,
        &Peer::ent(&res.gateway),
        res.sp.clock_skew,
        res.sp.max_message_bytes,
        res.clock.now(),
    );
    let v = match verified {
        Ok(v) => v,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "text/xml")],
                slo::soap_fault(e.check.code()),
            )
                .into_response()
        }
    };
    res.logged_out
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend(v.session_indexes.iter().cloned());
    let answer = format!(
        r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{}" Version="2.0" IssueInstant="{}" InResponseTo="{}"><saml:Issuer>{}</saml:Issuer><samlp:Status><samlp:StatusCode Value="{}"/></samlp:Status></samlp:LogoutResponse>"#,
        new_id(),
        crate::saml::xml::instant(res.clock.now()),
        escape(&v.id),
        escape(&res.sp.entity_id),
        slo::STATUS_SUCCESS
    );
    (
        [(header::CONTENT_TYPE, "text/xml")],
        slo::soap_envelope(&answer),
    )
        .into_response()
}

async fn home(State(res): State<DemoResource>) -> Html<String> {
    let list: String = RESOURCES
        .iter()
        .map(|r| format!("<li>{}</li>", escape(r.title)))
        .collect();
    let closed = res
        .logged_out
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let closed = if closed.is_empty() {
        String::new()
    } else {
        let items: String = closed
            .iter()
            .map(|i| format!("<li><code>{}</code></li>", escape(i)))
            .collect();
        format!("<h2>Sessions fermées par la passerelle</h2><p>Déconnexions reçues par le canal arrière (SOAP), par <code>SessionIndex</code> :</p><ul>{items}</ul>")
    };
    Html(page("Éditions Démo", &format!("<p>Ressource de démonstration. Ouvrez-la depuis le médiacentre de l'ENT Démo :</p><ul>{list}</ul>{closed}")))
}

async fn sp_metadata(State(res): State<DemoResource>) -> Response {
    let publication = metadata::Publication {
        key: &res.key,
        next_certificate: None,
        valid_until: res.clock.now() + chrono::Duration::days(7),
    };
    match metadata::sp_metadata(&res.sp.entity_id, &res.sp.acs_url, &[], &publication) {
        Ok(xml) => (
            [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
            xml,
        )
            .into_response(),
        Err(e) => refused(e.check.code()),
    }
}

async fn open(State(res): State<DemoResource>, Path(short): Path<String>) -> Response {
    if !RESOURCES.iter().any(|r| r.short == short) {
        return (
            StatusCode::NOT_FOUND,
            Html(page(
                "Ressource inconnue",
                "<p>Cette ressource n'existe pas.</p>",
            )),
        )
            .into_response();
    }
    let id = new_id();
    res.pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.clone());
    // RelayState carries which resource was asked for and the request it answers.
    let relay = format!("{short}|{id}");
    match sp::authn_request_url(
        &res.sp,
        &res.gateway,
        &id,
        res.clock.now(),
        &relay,
        &res.key,
        sp::Prompt::Default,
    ) {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[derive(Deserialize)]
struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

fn refused(detail: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        Html(page(
            "Accès refusé par la ressource",
            &format!(
                "<p>La réponse de la passerelle n'a pas été acceptée : <code>{}</code></p>",
                escape(detail)
            ),
        )),
    )
        .into_response()
}

async fn acs(State(res): State<DemoResource>, Form(form): Form<AcsForm>) -> Response {
    let relay = form.relay_state.unwrap_or_default();
    let Some((short, request_id)) = relay.split_once('|') else {
        return refused("RelayState inattendu");
    };
    let title = RESOURCES
        .iter()
        .find(|r| r.short == short)
        .map_or("Ressource", |r| r.title);
    if !res
        .pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(request_id)
    {
        // A reloaded page (the browser posts the answer again): its login is done; say so, and
        // offer a new one rather than a dead end.
        return (
            StatusCode::BAD_REQUEST,
            Html(page(
                "Connexion déjà terminée",
                &format!(
                    "<p>Cette page de retour a déjà servi : la connexion qu'elle terminait est faite ou a expiré.</p><p><a href=\"/ressource/{}\">Ouvrir à nouveau « {} »</a></p>",
                    escape(short),
                    escape(title)
                ),
            )),
        )
            .into_response();
    }
    let view =
        binding::decode_post(&form.saml_response, res.sp.max_message_bytes).and_then(|xml| {
            sp::verify_response_view(&xml, request_id, &res.sp, &res.gateway, res.clock.now())
        });
    let view = match view {
        Ok(v) => v,
        Err(e) => return refused(e.check.code()),
    };
    // The same table as the other demo resources'.
    let received: Vec<(String, serde_json::Value)> = view
        .attributes
        .iter()
        .map(|(name, values)| (name.clone(), serde_json::json!(values)))
        .collect();
    let rows = super::oidc_resource::attribute_rows(received.iter().map(|(k, v)| (k, v)));
    Html(page(
        &format!("Bienvenue dans « {title} »"),
        &format!(
            "<p><strong>✔ Signature vérifiée</strong> : la réponse et l'assertion sont signées par la passerelle (RSA-SHA256), vérifiées avec son certificat.</p>\
             <p>Identifiant reçu (NameID persistant, l'IDO) :<br><code style=\"word-break:break-all\">{}</code></p>\
             <p>Attributs reçus — exactement ceux validés pour cette ressource et votre profil :</p><table>{rows}</table>\
             <p><small>Assertion {}</small></p>{logout}",
            escape(view.name_id.as_deref().unwrap_or("")),
            escape(&view.assertion_id),
            logout = slo::logout_form(&view),
        ),
    ))
    .into_response()
}

/// A page of this demo site (its own name in the browser's tab, not the gateway's).
fn page(title: &str, body_html: &str) -> String {
    crate::http::pages::page_of("Éditions Démo", title, body_html)
}
