//! `{prefix}/logout[?service=URL]`: ends the gateway session, then goes to `service` when it is
//! registered (else a French page says the user is logged out). The session's parties are
//! told: over the back channel by `flow::logout::end`, and in hidden iframes of a
//! "Déconnexion en cours" page for those that take logouts only in the browser
//! (`http::slo_front`).
//!
//! Any site could send a browser here: as for OIDC's RP-initiated logout, the session ends only
//! once confirmed (`http::logout_confirmation`).

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::params;
use crate::app::AppState;
use crate::flow::logout::{end, Ended};
use crate::http::cookies;
use crate::http::error::PageError;
use crate::http::logout_confirmation::{self as confirmation, TOKEN_FIELD};
use crate::http::slo_answer::Next;
use crate::http::slo_front;

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    handle(&state, &headers, &q.unwrap_or_default(), false).await
}

pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: String) -> Response {
    handle(&state, &headers, &body, true).await
}

async fn handle(state: &AppState, headers: &HeaderMap, raw: &str, posted: bool) -> Response {
    let Some(p) = params(raw) else {
        return PageError::bad_request("cas.request", "a CAS logout parameter is repeated")
            .into_response();
    };
    // Only a registered service is followed: the gateway redirects nowhere else.
    let target = p
        .get("service")
        .filter(|s| state.config.cas_service(s).is_some())
        .cloned();
    let session = match crate::http::party::live_session(state, headers).await {
        Ok(s) => s,
        Err(e) => return PageError::from(e).into_response(),
    };
    let Some(session) = session else {
        return done(state, target);
    };
    let confirmed = posted && confirmation::confirmed(state, &session, p.get(TOKEN_FIELD));
    if !confirmed {
        if posted {
            tracing::warn!("cas logout: confirmation token wrong (a forged cross-site request?); the session is kept");
        }
        let carried = [("service", p.get("service").map(String::as_str))];
        return confirmation::page(state, &session, &state.config.cas.path("/logout"), &carried);
    }
    if let Err(e) = end(&state.deps(), &session, Ended::ProviderLogout).await {
        return PageError::from(e).into_response();
    }
    match slo_front::frames(state, std::slice::from_ref(&session), None).await {
        Ok(frames) => done_telling(state, target, &frames),
        Err(e) => e.into_response(),
    }
}

/// Once the session (if any) is over: the registered service, or a page.
fn done(state: &AppState, target: Option<String>) -> Response {
    done_telling(state, target, &[])
}

/// [`done`], through the page that tells `frames` first when there are any.
fn done_telling(state: &AppState, target: Option<String>, frames: &[slo_front::Frame]) -> Response {
    let mut resp = match (target, frames.is_empty()) {
        (Some(t), true) => (StatusCode::FOUND, [(header::LOCATION, t)]).into_response(),
        (None, true) => confirmation::done_page(),
        (Some(t), false) => slo_front::page(frames, Next::Redirect(t)),
        (None, false) => slo_front::page(frames, Next::Done),
    };
    if let Some(c) = cookies::clear_session(cookies::secure(&state.config)) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    confirmation::no_store(resp)
}
