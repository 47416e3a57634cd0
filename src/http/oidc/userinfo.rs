//! `GET`/`POST /oidc/userinfo` (alias `/oidc/oidcProfile`, called by GAR providers as
//! `oidcProfile?idRessource=...&access_mode=web`): the attributes released for the resource the
//! access token was issued for, as claims with the GAR's short names.
//!
//! The token comes in `Authorization: Bearer` (or, for POST, an `access_token` form
//! parameter; never in the query string, RFC 6750 §2.3). Errors answer `WWW-Authenticate`.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::{no_store, params, traced};
use crate::app::AppState;
use crate::flow;
use crate::oidc::op::service::{self, OpError};
use crate::oidc::OidcError;

fn bearer(headers: &HeaderMap) -> Option<String> {
    crate::http::party::bearer(headers).map(str::to_string)
}

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    handle(&state, bearer(&headers), q.as_deref().unwrap_or(""), "").await
}

pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: String,
) -> Response {
    handle(&state, bearer(&headers), q.as_deref().unwrap_or(""), &body).await
}

async fn handle(
    state: &AppState,
    header_token: Option<String>,
    query: &str,
    body: &str,
) -> Response {
    let (q, b) = match (params(query), params(body)) {
        (Ok(q), Ok(b)) => (q, b),
        (Err(e), _) | (_, Err(e)) => return error(state, e),
    };
    if q.contains_key("access_token") {
        return error(
            state,
            OidcError::new(
                "invalid_request",
                "oidc.token_in_query",
                "the access token must not be sent in the URL",
            ),
        );
    }
    let token = match (header_token, b.get("access_token")) {
        (Some(_), Some(_)) => {
            return error(
                state,
                OidcError::new(
                    "invalid_request",
                    "oidc.token",
                    "send the access token once",
                ),
            )
        }
        (Some(t), None) => t,
        (None, Some(t)) => t.clone(),
        (None, None) => {
            return error(
                state,
                OidcError::new("invalid_token", "oidc.token", "no access token"),
            )
        }
    };
    let get = |k: &str| q.get(k).or_else(|| b.get(k)).map(String::as_str);
    let now = state.clock.now();
    let answered = match service::userinfo_facts(
        &state.op(),
        &token,
        get("idRessource"),
        get("access_mode"),
        now,
    )
    .await
    {
        Ok((claims, facts)) => {
            // The access rule runs again: an ended subscription or a withdrawn assignment
            // closes the access at the next call.
            let user = flow::User {
                ent: &facts.ent,
                person_id: &facts.person_id,
            };
            flow::access::release_for(&state.deps(), user, &facts.uai, &facts.resource, now)
                .await
                .map(|rel| service::userinfo_claims(&claims, &rel.attributes))
                .map_err(|f| super::refused_grant(f, "invalid_token"))
        }
        Err(e) => Err(e),
    };
    match answered {
        Ok(claims) => (no_store(), Json(claims)).into_response(),
        Err(OpError::Refused(e)) => error(state, e),
        Err(OpError::Store(s)) => {
            tracing::error!(cause = %s, "userinfo: store unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, no_store()).into_response()
        }
    }
}

/// RFC 6750 §3: the error in `WWW-Authenticate`, and the same in a JSON body.
fn error(state: &AppState, e: OidcError) -> Response {
    traced(state, None, &e);
    tracing::warn!(check = e.check, error = e.error, cause = %e.description, "userinfo refused");
    let status = match e.error {
        "invalid_request" => StatusCode::BAD_REQUEST,
        "insufficient_scope" => StatusCode::FORBIDDEN,
        _ => StatusCode::UNAUTHORIZED,
    };
    let challenge = format!(
        "Bearer realm=\"passerelle\", error=\"{}\", error_description=\"{}\"",
        e.error,
        e.description.replace(['"', '\\'], "'")
    );
    let mut resp = (
        status,
        no_store(),
        Json(serde_json::json!({"error": e.error, "error_description": e.description})),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}
