//! `/oidc/logout` (alias `/oidc/oidcLogout`): RP-initiated logout (OpenID Connect RP-Initiated
//! Logout 1.0). Ends the gateway session, then returns to the client's
//! `post_logout_redirect_uri` when it is registered to the letter for the client named by
//! `client_id` or by the `id_token_hint` (signed by the gateway, expired or not); otherwise a
//! French page says the user is logged out.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use url::Url;

use super::{params, traced};
use crate::app::AppState;
use crate::http::cookies;
use crate::http::error::PageError;
use crate::http::pages;
use crate::oidc::op::tokens::verify_id_token_hint;
use crate::oidc::OidcError;

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    handle(&state, &headers, q.as_deref().unwrap_or("")).await
}

pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: String) -> Response {
    handle(&state, &headers, &body).await
}

fn refuse(state: &AppState, e: OidcError) -> Response {
    traced(state, None, &e);
    PageError::oidc_request(&e).into_response()
}

async fn handle(state: &AppState, headers: &HeaderMap, raw: &str) -> Response {
    let p = match params(raw) {
        Ok(p) => p,
        Err(e) => return refuse(state, e),
    };
    let issuer = state.config.oidc_issuer();
    let hinted = match p.get("id_token_hint") {
        Some(t) => match verify_id_token_hint(&state.config.oidc.keys, &issuer, t) {
            Ok(c) => Some(c.aud),
            Err(e) => {
                return refuse(
                    state,
                    OidcError::new("invalid_request", "oidc.id_token_hint", e.description),
                )
            }
        },
        None => None,
    };
    let client_id = match (p.get("client_id"), hinted) {
        (Some(a), Some(b)) if *a != b => {
            return refuse(
                state,
                OidcError::new(
                    "invalid_request",
                    "oidc.client",
                    "client_id is not the id_token_hint's audience",
                ),
            )
        }
        (Some(a), _) => Some(a.clone()),
        (None, b) => b,
    };
    let target = match p.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let allowed = client_id
                .as_deref()
                .and_then(|id| state.config.oidc_client(id))
                .is_some_and(|(_, c)| c.post_logout_allowed(uri));
            if !allowed {
                return refuse(
                    state,
                    OidcError::new(
                        "invalid_request",
                        "oidc.post_logout_redirect_uri",
                        "post_logout_redirect_uri is not registered for this client",
                    ),
                );
            }
            Some(uri.clone())
        }
    };
    if let Some(id) = cookies::session_id(headers, cookies::secure(&state.config)) {
        if let Err(e) = state.store.delete_session(&id).await {
            return PageError::from(e).into_response();
        }
    }
    let secure = state.config.public_base_url.scheme() == "https";
    let mut resp = match target.and_then(|t| Url::parse(&t).ok()) {
        Some(mut u) => {
            if let Some(s) = p.get("state") {
                u.query_pairs_mut().append_pair("state", s);
            }
            (StatusCode::FOUND, [(header::LOCATION, u.to_string())]).into_response()
        }
        None => Html(pages::page("Vous êtes déconnecté", "<p>Votre session sur la passerelle est terminée. Pour vous déconnecter aussi de votre ENT, utilisez son bouton de déconnexion.</p>")).into_response(),
    };
    if let Some(c) = cookies::clear_session(secure) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    resp
}
