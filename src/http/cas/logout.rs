//! `{prefix}/logout[?service=URL]`: ends the gateway session, then goes to `service` when it is
//! registered (else a French page says the user is logged out). The session's CAS services
//! and OIDC clients are told (back channel) by `flow::logout::end`.
//!
//! The session cookie is `SameSite=None`, so any site could send a browser here: as for OIDC's
//! RP-initiated logout, the session ends only on the POST of the confirmation page this
//! endpoint shows, carrying a token bound to the session.

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::params;
use crate::app::AppState;
use crate::flow::logout::{end, Ended};
use crate::http::cookies;
use crate::http::error::PageError;
use crate::http::pages;
use crate::saml::xml::escape;

/// The confirmation form's field carrying the session-bound token.
const TOKEN_FIELD: &str = "jeton";

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
    let expected = state.config.ido_key.logout_token(&session.id);
    let confirmed = posted
        && p.get(TOKEN_FIELD).is_some_and(|t| {
            bool::from(subtle::ConstantTimeEq::ct_eq(
                t.as_bytes(),
                expected.as_bytes(),
            ))
        });
    if !confirmed {
        if posted {
            tracing::warn!("cas logout: confirmation token wrong (a forged cross-site request?); the session is kept");
        }
        return confirmation(state, &expected, &p);
    }
    if let Err(e) = end(&state.deps(), &session, Ended::ProviderLogout).await {
        return PageError::from(e).into_response();
    }
    done(state, target)
}

/// The page asking the user to confirm: a POST form with the session-bound token.
fn confirmation(state: &AppState, token: &str, p: &HashMap<String, String>) -> Response {
    let mut fields = format!(
        r#"<input type="hidden" name="{TOKEN_FIELD}" value="{}">"#,
        escape(token)
    );
    if let Some(s) = p.get("service") {
        fields.push_str(&format!(
            r#"<input type="hidden" name="service" value="{}">"#,
            escape(s)
        ));
    }
    let body = format!(
        r#"<p>Une application demande la fin de votre session sur la passerelle.</p><p>Si c'est bien vous qui avez demandé à vous déconnecter, confirmez. Sinon, fermez simplement cette page : votre session est conservée.</p><form method="post" action="{action}">{fields}<button type="submit">Me déconnecter</button></form>"#,
        action = escape(&state.config.url(&state.config.cas.path("/logout"))),
    );
    no_store(Html(pages::page("Se déconnecter de la passerelle ?", &body)).into_response())
}

/// Once the session (if any) is over: the registered service, or a page.
fn done(state: &AppState, target: Option<String>) -> Response {
    let mut resp = match target {
        Some(t) => (StatusCode::FOUND, [(header::LOCATION, t)]).into_response(),
        None => Html(pages::page("Vous êtes déconnecté", "<p>Votre session sur la passerelle est terminée. Pour vous déconnecter aussi de votre ENT, utilisez son bouton de déconnexion.</p>")).into_response(),
    };
    if let Some(c) = cookies::clear_session(cookies::secure(&state.config)) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    no_store(resp)
}

fn no_store(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    resp
}
