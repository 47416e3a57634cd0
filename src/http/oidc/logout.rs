//! `/oidc/logout` (alias `/oidc/oidcLogout`): RP-initiated logout (OpenID Connect RP-Initiated
//! Logout 1.0), safe against cross-site requests.
//!
//! The session cookie is `SameSite=None`, so any site can make a browser send it here. The
//! gateway session therefore ends only when the request proves it comes from the session's
//! own side: an `id_token_hint` the gateway signed (its issuer, expired or not) whose `sid` is
//! the current session's, or the POST of the confirmation page this endpoint shows otherwise,
//! carrying a token bound to the session (an HMAC of its id). Then the browser returns to the
//! client's `post_logout_redirect_uri` when it is registered to the letter for the client
//! named by `client_id` or by the hint (with `state`); else a French page says the user is
//! logged out. The session's other parties are told: over the back channel, and in hidden
//! iframes of a "Déconnexion en cours" page for those that take logouts only in the browser
//! (`http::slo_front`); the asking client is not told back.

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use url::Url;

use super::{params, traced};
use crate::app::AppState;
use crate::flow::logout::{end, Ended};
use crate::http::cookies;
use crate::http::error::PageError;
use crate::http::logout_confirmation::{self as confirmation, TOKEN_FIELD};
use crate::http::slo_answer::Next;
use crate::http::slo_front;
use crate::oidc::op::tokens::verify_id_token_hint;
use crate::oidc::{ErrorCode, OidcError};
use crate::session::Session;

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    handle(&state, &headers, Method::GET, q.as_deref().unwrap_or("")).await
}

pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: String) -> Response {
    handle(&state, &headers, Method::POST, &body).await
}

fn refuse(state: &AppState, e: OidcError) -> Response {
    traced(state, None, &e);
    PageError::oidc_request(&e).into_response()
}

/// What a well-formed logout request asks for.
struct Asked {
    client_id: Option<String>,
    /// A registered `post_logout_redirect_uri`.
    target: Option<String>,
    /// The hint's `sid`, when a valid hint names one.
    hinted_sid: Option<String>,
}

fn check(state: &AppState, p: &HashMap<String, String>) -> Result<Asked, OidcError> {
    let issuer = state.config.oidc_issuer();
    let hint = match p.get("id_token_hint") {
        Some(t) => Some(
            verify_id_token_hint(&state.config.oidc.keys, &issuer, t).map_err(|e| {
                OidcError::new(
                    ErrorCode::InvalidRequest,
                    "oidc.id_token_hint",
                    e.description,
                )
            })?,
        ),
        None => None,
    };
    let client_id = match (p.get("client_id"), hint.as_ref().map(|c| &c.aud)) {
        (Some(a), Some(b)) if a != b => {
            return Err(OidcError::new(
                ErrorCode::InvalidRequest,
                "oidc.client",
                "client_id is not the id_token_hint's audience",
            ))
        }
        (Some(a), _) => Some(a.clone()),
        (None, b) => b.cloned(),
    };
    let target = match p.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let allowed = client_id
                .as_deref()
                .and_then(|id| state.config.oidc_client(id))
                .is_some_and(|(_, c)| c.post_logout_allowed(uri));
            if !allowed {
                return Err(OidcError::new(
                    ErrorCode::InvalidRequest,
                    "oidc.post_logout_redirect_uri",
                    "post_logout_redirect_uri is not registered for this client",
                ));
            }
            Some(uri.clone())
        }
    };
    Ok(Asked {
        client_id,
        target,
        hinted_sid: hint.and_then(|c| c.sid),
    })
}

async fn handle(state: &AppState, headers: &HeaderMap, method: Method, raw: &str) -> Response {
    let p = match params(raw) {
        Ok(p) => p,
        Err(e) => return refuse(state, e),
    };
    let asked = match check(state, &p) {
        Ok(a) => a,
        Err(e) => return refuse(state, e),
    };
    let session = match crate::http::party::live_session(state, headers).await {
        Ok(s) => s,
        Err(e) => return PageError::from(e).into_response(),
    };
    let Some(session) = session else {
        // No session to end: nothing a forged request could do harm to.
        return done(state, &p, asked.target);
    };
    let by_hint = asked
        .hinted_sid
        .as_deref()
        .is_some_and(|sid| sid == session.public_ref());
    let by_form =
        method == Method::POST && confirmation::confirmed(state, &session, p.get(TOKEN_FIELD));
    if !(by_hint || by_form) {
        if p.contains_key(TOKEN_FIELD) {
            tracing::warn!(
                "oidc logout: confirmation token wrong or not POSTed (a forged cross-site request?); the session is kept"
            );
        } else {
            tracing::info!(
                hint = p.contains_key("id_token_hint"),
                "oidc logout without an id_token_hint of this session: confirmation asked"
            );
        }
        return confirmation(&session, state, &p, &asked);
    }
    // The asking client has logged its user out already: the session's other parties are told
    // (back channel now, front channel in the page).
    let asker = asked
        .client_id
        .as_deref()
        .and_then(|id| state.config.oidc_client(id))
        .map(|(provider, _)| provider.key.clone());
    let mut told = session.clone();
    told.relying_parties
        .retain(|rp| Some(&rp.provider) != asker.as_ref());
    if let Err(e) = end(&state.deps(), &told, Ended::ProviderLogout).await {
        return PageError::from(e).into_response();
    }
    match slo_front::frames(state, &[told], asker.as_deref()).await {
        Ok(frames) => done_telling(state, &p, asked.target, &frames),
        Err(e) => e.into_response(),
    }
}

/// The page asking the user to confirm, carrying the (already checked) parameters.
fn confirmation(
    session: &Session,
    state: &AppState,
    p: &HashMap<String, String>,
    asked: &Asked,
) -> Response {
    let carried = [
        ("client_id", asked.client_id.as_deref()),
        ("post_logout_redirect_uri", asked.target.as_deref()),
        ("state", p.get("state").map(String::as_str)),
    ];
    confirmation::page(state, session, "/oidc/logout", &carried)
}

/// The answer once the session (if any) is over: the registered target with `state`, or a page.
fn done(state: &AppState, p: &HashMap<String, String>, target: Option<String>) -> Response {
    done_telling(state, p, target, &[])
}

/// [`done`], through the page that tells `frames` first when there are any.
fn done_telling(
    state: &AppState,
    p: &HashMap<String, String>,
    target: Option<String>,
    frames: &[slo_front::Frame],
) -> Response {
    let secure = state.config.public_base_url.scheme() == "https";
    let target = target.and_then(|t| Url::parse(&t).ok()).map(|mut u| {
        if let Some(s) = p.get("state") {
            u.query_pairs_mut().append_pair("state", s);
        }
        u.to_string()
    });
    let mut resp = match (target, frames.is_empty()) {
        (Some(t), true) => (StatusCode::FOUND, [(header::LOCATION, t)]).into_response(),
        (None, true) => confirmation::done_page(),
        (Some(t), false) => slo_front::page(frames, Next::Redirect(t)),
        (None, false) => slo_front::page(frames, Next::Done),
    };
    if let Some(c) = cookies::clear_session(secure) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    confirmation::no_store(resp)
}
