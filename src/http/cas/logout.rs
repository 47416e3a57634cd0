//! `{prefix}/logout[?service=URL]`: ends the gateway session, then goes to `service` when it is
//! registered (else a French page says the user is logged out). The session's CAS services
//! and OIDC clients are told (back channel) by `flow::logout::end`.
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
    done(state, target)
}

/// Once the session (if any) is over: the registered service, or a page.
fn done(state: &AppState, target: Option<String>) -> Response {
    let mut resp = match target {
        Some(t) => (StatusCode::FOUND, [(header::LOCATION, t)]).into_response(),
        None => confirmation::done_page(),
    };
    if let Some(c) = cookies::clear_session(cookies::secure(&state.config)) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    confirmation::no_store(resp)
}
