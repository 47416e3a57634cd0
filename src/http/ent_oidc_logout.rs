//! OpenID Connect Back-Channel Logout 1.0 from an ENT: `POST /ent/oidc/backchannel-logout`,
//! where an OIDC ENT's provider posts a `logout_token` when the user logs out there. The token
//! is verified by `oidc::rp::logout` with the keys of the ENT its `iss` names (the JWKS is
//! refetched once for an unknown key, at most once a minute), once (its `jti` is remembered);
//! the session of the login its `sub` and `sid` name ends (`flow::logout::by_ent`, traced).
//! Answers 200 with no body; 400 with an OAuth-style JSON error when the token is refused
//! (§2.8), nothing ended; 503 when the store fails, so that the provider tries again.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;

use crate::app::AppState;
use crate::config::EntConfig;
use crate::flow;
use crate::oidc::rp::logout::{self, LogoutToken};
use crate::oidc::rp::{Check, RpError};
use crate::trace::TraceEvent;

pub const PATH: &str = "/ent/oidc/backchannel-logout";

#[derive(Deserialize)]
pub struct LogoutForm {
    logout_token: String,
}

/// Why no session was ended.
enum Failure {
    Refused(RpError),
    Store(crate::store::StoreError),
}

impl From<RpError> for Failure {
    fn from(e: RpError) -> Self {
        Failure::Refused(e)
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        Failure::Store(e)
    }
}

pub async fn backchannel(State(state): State<AppState>, Form(form): Form<LogoutForm>) -> Response {
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    match ended_by(&state, &form.logout_token).await {
        Ok(()) => (StatusCode::OK, no_store).into_response(),
        Err(Failure::Refused(e)) => {
            tracing::warn!(check = %e.check, cause = %e.description, "back-channel logout refused");
            let body = serde_json::json!({
                "error": "invalid_request",
                "error_description": e.check.code(),
            });
            (StatusCode::BAD_REQUEST, no_store, Json(body)).into_response()
        }
        Err(Failure::Store(e)) => {
            tracing::error!(error = %e, "back-channel logout: the store failed; the provider may retry");
            (StatusCode::SERVICE_UNAVAILABLE, no_store).into_response()
        }
    }
}

fn traced(state: &AppState, ent: Option<&EntConfig>, e: RpError) -> RpError {
    state.trace(TraceEvent::ProtocolRefused {
        peer_kind: "ent",
        peer: ent.map(|e| e.id.to_string()),
        protocol: "oidc",
        check: e.check.code(),
    });
    e
}

async fn ended_by(state: &AppState, token: &str) -> Result<(), Failure> {
    let issuer = logout::peek_issuer(token).map_err(|e| traced(state, None, e))?;
    let Some((ent, op)) = state
        .config
        .ents
        .values()
        .find_map(|e| e.oidc().filter(|op| op.issuer == issuer).map(|op| (e, op)))
    else {
        let e = RpError::new(
            Check::Issuer,
            "the logout_token's iss is not a configured OIDC ENT",
        );
        return Err(traced(state, None, e).into());
    };
    let now = state.clock.now();
    let verified = verified(state, ent, op, token, now)
        .await
        .map_err(|e| traced(state, Some(ent), e))?;
    let ttl = (verified.remember_until - now).to_std().unwrap_or_default();
    let namespace = format!("oidc-ent-logout:{}", ent.id);
    if !state
        .store
        .remember_once(&namespace, &verified.jti, ttl)
        .await?
    {
        let e = RpError::new(Check::Replay, "this logout_token was already used");
        return Err(traced(state, Some(ent), e).into());
    }
    let indexes: Vec<String> = verified.sid.iter().cloned().collect();
    let ended =
        flow::logout::by_ent(&state.deps(), &ent.id, verified.sub.as_deref(), &indexes).await?;
    tracing::info!(ent = %ent.id, sessions = ended.len(), "ENT back-channel logout");
    Ok(())
}

async fn verified(
    state: &AppState,
    ent: &EntConfig,
    op: &crate::oidc::rp::EntOidc,
    token: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<LogoutToken, RpError> {
    let d = state.ent_oidc.get(ent.id.as_str(), op, now).await?;
    match logout::verify_logout_token(token, d.metadata.jwks(), op, now) {
        Err(e) if e.check == Check::Kid => {
            match state.ent_oidc.refetch_jwks(ent.id.as_str(), now).await? {
                Some(fresh) => logout::verify_logout_token(token, fresh.metadata.jwks(), op, now),
                None => Err(e),
            }
        }
        other => other,
    }
}
