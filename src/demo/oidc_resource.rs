//! The demo OIDC resource: a web application that logs its visitors in through the gateway's
//! OpenID Provider (authorization code with PKCE, client_secret_basic), verifies the ID token
//! against the published JWKS, reads userinfo, and shows exactly what it received.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine;
use sha2::Digest;

use super::data::OIDC_RESOURCE;
use crate::clock::Clock;
use crate::oidc::jwks::{verify_id_token, IdTokenExpect};
use crate::oidc::op::records::new_secret;
use crate::saml::xml::escape;

/// One login the resource started: its nonce and PKCE verifier, by `state`.
struct Started {
    nonce: String,
    verifier: String,
}

#[derive(Clone)]
pub struct DemoOidcResource {
    pub gateway_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub clock: Arc<dyn Clock>,
    http: reqwest::Client,
    started: Arc<Mutex<HashMap<String, Started>>>,
}

impl DemoOidcResource {
    pub fn new(
        gateway_url: String,
        client_id: String,
        client_secret: String,
        redirect_uri: String,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(Self {
            gateway_url,
            client_id,
            client_secret,
            redirect_uri,
            clock,
            http,
            started: Arc::default(),
        })
    }

    fn issuer(&self) -> String {
        format!("{}/oidc", self.gateway_url)
    }
}

pub fn router(state: DemoOidcResource) -> Router {
    Router::new()
        .route(
            crate::http::pages::STYLESHEET_PATH,
            get(crate::http::pages::stylesheet),
        )
        .route("/", get(start))
        .route("/ressource/{short}", get(open))
        .route("/oidc/callback", get(callback))
        .with_state(state)
}

async fn open(State(res): State<DemoOidcResource>, Path(short): Path<String>) -> Response {
    if short != OIDC_RESOURCE.short {
        return (
            StatusCode::NOT_FOUND,
            Html(page(
                "Ressource inconnue",
                "<p>Cette ressource n'existe pas.</p>",
            )),
        )
            .into_response();
    }
    start(State(res)).await
}

/// Starts a login at the gateway.
async fn start(State(res): State<DemoOidcResource>) -> Response {
    let (state, nonce, verifier) = (new_secret(), new_secret(), new_secret());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &res.client_id)
        .append_pair("redirect_uri", &res.redirect_uri)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid scope.gar")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("idRessource", OIDC_RESOURCE.ark)
        .finish();
    res.started
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(state, Started { nonce, verifier });
    Redirect::to(&format!("{}/oidc/authorize?{q}", res.gateway_url)).into_response()
}

fn failed(what: &str) -> Response {
    (
        StatusCode::BAD_GATEWAY,
        Html(page(
            "Connexion impossible",
            &format!("<p>{}</p>", escape(what)),
        )),
    )
        .into_response()
}

async fn callback(
    State(res): State<DemoOidcResource>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(e) = q.get("error") {
        let why = if e == "access_denied" {
            "La passerelle a refusé l'accès : cette ressource ne vous est pas attribuée."
        } else {
            "La passerelle a refusé la demande de connexion."
        };
        return (
            StatusCode::FORBIDDEN,
            Html(page(
                "Accès refusé",
                &format!("<p>{why}</p><p>Code : <code>{}</code></p>", escape(e)),
            )),
        )
            .into_response();
    }
    let Some(started) = q.get("state").and_then(|s| {
        res.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(s)
    }) else {
        // A reloaded or bookmarked callback: its login is done (or expired); say so, and offer a
        // new one rather than a dead end.
        return (
            StatusCode::BAD_REQUEST,
            Html(page(
                "Connexion déjà terminée",
                "<p>Cette page de retour a déjà servi : la connexion qu'elle terminait est faite ou a expiré.</p><p><a href=\"/\">Revenir à l'accueil de l'Atelier de sciences</a> pour vous connecter à nouveau.</p>",
            )),
        )
            .into_response();
    };
    if q.get("iss") != Some(&res.issuer()) {
        return failed("La réponse ne vient pas de la passerelle attendue (iss).");
    }
    let Some(code) = q.get("code") else {
        return failed("La réponse ne contient pas de code.");
    };
    match finish(&res, code, &started).await {
        Ok(page) => Html(page).into_response(),
        Err(e) => failed(&e),
    }
}

async fn json(resp: reqwest::Response) -> Result<serde_json::Value, String> {
    let text = resp.text().await.map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| format!("réponse illisible : {e}"))
}

async fn finish(res: &DemoOidcResource, code: &str, started: &Started) -> Result<String, String> {
    let gw = &res.gateway_url;
    let tokens = res
        .http
        .post(format!("{gw}/oidc/token"))
        .basic_auth(&res.client_id, Some(&res.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &res.redirect_uri),
            ("code_verifier", &started.verifier),
        ])
        .send()
        .await
        .map_err(|e| format!("jeton : {e}"))?;
    let tokens = json(tokens).await?;
    let (Some(id_token), Some(access_token)) =
        (tokens["id_token"].as_str(), tokens["access_token"].as_str())
    else {
        return Err(format!(
            "la passerelle n'a pas délivré de jeton ({})",
            tokens["error"]
        ));
    };
    let jwks = json(
        res.http
            .get(format!("{gw}/oidc/jwks"))
            .send()
            .await
            .map_err(|e| e.to_string())?,
    )
    .await?;
    let issuer = res.issuer();
    let claims = verify_id_token(
        &jwks,
        id_token,
        &IdTokenExpect {
            issuer: &issuer,
            client_id: &res.client_id,
            nonce: &started.nonce,
            access_token,
        },
        res.clock.now(),
    )
    .map_err(|e| format!("jeton d'identité refusé : {e}"))?;
    let profile = res
        .http
        .get(format!("{gw}/oidc/userinfo"))
        .query(&[("idRessource", OIDC_RESOURCE.ark), ("access_mode", "web")])
        .bearer_auth(access_token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let profile = json(profile).await?;
    let rows = attribute_rows(
        profile
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.as_str() != "sub"),
    );
    Ok(page(
        &format!("Bienvenue dans « {} »", OIDC_RESOURCE.title),
        &format!(
            "<p>Connexion par <strong>OpenID Connect</strong>. Jeton d'identité vérifié avec la clé publiée par la passerelle (RS256) : émetteur, audience, nonce, <code>at_hash</code> et expiration contrôlés.</p><p>Identifiant reçu (<code>sub</code>) : <code style=\"word-break:break-all\">{}</code></p><h2>Attributs reçus (userinfo)</h2><table>{rows}</table>",
            escape(&claims.sub)
        ),
    ))
}

/// The rows of a table of attributes received as JSON (a value or an array of values each).
pub(super) fn attribute_rows<'a>(
    attributes: impl Iterator<Item = (&'a String, &'a serde_json::Value)>,
) -> String {
    attributes
        .map(|(k, v)| {
            let values: Vec<String> = match v {
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().unwrap_or_default().to_string())
                    .collect(),
                other => vec![other.as_str().unwrap_or_default().to_string()],
            };
            let cells: String = values
                .iter()
                .map(|x| {
                    format!(
                        "<code style=\"word-break:break-all\">{}</code><br>",
                        escape(x)
                    )
                })
                .collect();
            format!(
                "<tr><td><code>{}</code></td><td>{cells}</td></tr>",
                escape(k)
            )
        })
        .collect()
}

/// A page of this demo site (its own name in the browser's tab, not the gateway's).
fn page(title: &str, body_html: &str) -> String {
    crate::http::pages::page_of("Atelier de sciences (démo)", title, body_html)
}
