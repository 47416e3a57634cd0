//! `GET`/`POST /oidc/userinfo` (alias `/oidc/oidcProfile`, called by GAR providers as
//! `oidcProfile?idRessource=...&access_mode=web`): the attributes released for the resource the
//! access token was issued for, as claims with the GAR's short names.
//!
//! The token comes in `Authorization: Bearer` (or, for POST, an `access_token` form
//! parameter; never in the query string, RFC 6750 §2.3). Errors answer `WWW-Authenticate`.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::{json_error, no_store, params};
use crate::app::AppState;
use crate::flow;
use crate::oidc::error_code::Endpoint;
use crate::oidc::op::service::{self, OpError};
use crate::oidc::{ErrorCode, OidcError};

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
                ErrorCode::InvalidRequest,
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
                    ErrorCode::InvalidRequest,
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
                OidcError::new(ErrorCode::InvalidToken, "oidc.token", "no access token"),
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
                .map_err(|f| super::refused_grant(f, ErrorCode::InvalidToken))
        }
        Err(e) => Err(e),
    };
    match answered {
        Ok(claims) => (no_store(), Json(claims)).into_response(),
        Err(e) => json_error(state, Endpoint::Protected, None, e),
    }
}

/// RFC 6750 §3: the error in `WWW-Authenticate`, and the same in a JSON body.
fn error(state: &AppState, e: OidcError) -> Response {
    json_error(state, Endpoint::Protected, None, OpError::Refused(e))
}
