//! The demo CAS resource: a web application that logs its visitors in through the gateway's
//! CAS server the way published GAR integrations do (django-gar: the service URL
//! `/?sso_id=gar`, a ticket validated at `p3/serviceValidate`), shows exactly the attributes it
//! validated, and takes the gateway's back-channel `logoutRequest` (its session index is the
//! ticket that opened the visitor's session here), which it lists.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};

use super::data::CAS_RESOURCE;
use super::oidc_resource::attribute_rows;
use crate::saml::xml::escape;

#[derive(Clone)]
pub struct DemoCasResource {
    /// The gateway's CAS base URL (no trailing slash).
    pub cas_base: String,
    /// The service URL this application gives the gateway.
    pub service: String,
    http: reqwest::Client,
    /// The tickets whose sessions the gateway's back channel ended, most recent last.
    logged_out: Arc<Mutex<Vec<String>>>,
}

impl DemoCasResource {
    pub fn new(cas_base: String, service: String) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(Self {
            cas_base,
            service,
            http,
            logged_out: Arc::default(),
        })
    }
}

pub fn router(state: DemoCasResource) -> Router {
    Router::new()
        .route(
            crate::http::pages::STYLESHEET_PATH,
            get(crate::http::pages::stylesheet),
        )
        .route("/", get(home))
        .route("/logout", axum::routing::post(logout))
        .with_state(state)
}

/// A page of this demo site (its own name in the browser's tab, not the gateway's).
fn page(title: &str, body_html: &str) -> String {
    crate::http::pages::page_of("Cahier de textes (démo)", title, body_html)
}

async fn home(
    State(res): State<DemoCasResource>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let from_gar = q
        .get("sso_id")
        .is_some_and(|v| v.eq_ignore_ascii_case("gar"));
    match (from_gar, q.get("ticket")) {
        (true, Some(ticket)) => validated(&res, ticket).await,
        (true, None) => {
            let login = format!(
                "{}/login?service={}",
                res.cas_base,
                urlencoding::encode(&res.service)
            );
            Redirect::to(&login).into_response()
        }
        (false, _) => Html(page(
            CAS_RESOURCE.title,
            &format!(
                "<p>Application de démonstration connectée à la passerelle par <strong>CAS</strong>.</p><p><a href=\"/?sso_id=gar\">Se connecter par le GAR</a></p>{}",
                logouts(&res)
            ),
        ))
        .into_response(),
    }
}

/// The back channel's logouts received so far.
fn logouts(res: &DemoCasResource) -> String {
    let list = res
        .logged_out
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if list.is_empty() {
        return String::new();
    }
    let items: String = list
        .iter()
        .map(|t| format!("<li><code>{}</code></li>", escape(t)))
        .collect();
    format!("<h2>Sessions fermées par la passerelle</h2><ul>{items}</ul>")
}

async fn validated(res: &DemoCasResource, ticket: &str) -> Response {
    let answer = res
        .http
        .get(format!("{}/p3/serviceValidate", res.cas_base))
        .query(&[
            ("service", res.service.as_str()),
            ("ticket", ticket),
            ("format", "JSON"),
        ])
        .send()
        .await;
    let body = match answer {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(e) => {
            return (
                StatusCode::BAD_GATEWAY,
                Html(page(
                    "Connexion impossible",
                    &format!("<p>{}</p>", escape(&e.to_string())),
                )),
            )
                .into_response()
        }
    };
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let response = &v["serviceResponse"];
    if let Some(failure) = response.get("authenticationFailure") {
        // A reloaded page: its ticket was already validated.
        return (
            StatusCode::FORBIDDEN,
            Html(page(
                "Connexion refusée",
                &format!(
                    "<p>La passerelle a refusé le ticket (<code>{}</code>) : un ticket ne sert qu'une fois, quelques secondes.</p><p><a href=\"/?sso_id=gar\">Se connecter à nouveau</a></p>",
                    escape(failure["code"].as_str().unwrap_or_default())
                ),
            )),
        )
            .into_response();
    }
    let ok = &response["authenticationSuccess"];
    let rows = attribute_rows(ok["attributes"].as_object().into_iter().flatten());
    Html(page(
        &format!("Bienvenue dans « {} »", CAS_RESOURCE.title),
        &format!(
            "<p>Connexion par <strong>CAS</strong> : ticket validé par la passerelle (<code>p3/serviceValidate</code>), à usage unique.</p><p>Utilisateur (<code>cas:user</code>) : <code style=\"word-break:break-all\">{}</code></p><h2>Attributs validés</h2><table>{rows}</table>",
            escape(ok["user"].as_str().unwrap_or_default())
        ),
    ))
    .into_response()
}

/// The gateway's back-channel logout: a `logoutRequest` form field whose `SessionIndex` is the
/// ticket that opened the session.
async fn logout(
    State(res): State<DemoCasResource>,
    Form(f): Form<HashMap<String, String>>,
) -> StatusCode {
    let index = f.get("logoutRequest").and_then(|x| {
        let start = x.find("<samlp:SessionIndex>")? + "<samlp:SessionIndex>".len();
        let end = x[start..].find("</samlp:SessionIndex>")? + start;
        Some(x[start..end].to_string())
    });
    match index {
        Some(t) => {
            res.logged_out
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(t);
            StatusCode::NO_CONTENT
        }
        None => StatusCode::BAD_REQUEST,
    }
}
