//! An OIDC ENT's logout reaching the gateway, as relying party, over both channels.
//!
//! OpenID Connect Back-Channel Logout 1.0: `POST /ent/oidc/backchannel-logout`,
//! where an OIDC ENT's provider posts a `logout_token` when the user logs out there. The token
//! is verified by `oidc::rp::logout` with the keys of the ENT its `iss` names (the JWKS is
//! refetched once for an unknown key, at most once a minute), once (its `jti` is remembered);
//! the session of the login its `sub` and `sid` name ends (`flow::logout::by_ent`, traced).
//! Answers 200 with no body; 400 with an OAuth-style JSON error when the token is refused
//! (§2.8), nothing ended; 503 when the store fails, so that the provider tries again.
//!
//! OpenID Connect Front-Channel Logout 1.0: `GET /ent/oidc/frontchannel-logout?iss=…&sid=…`,
//! which the ENT's provider loads in an iframe of its logout page (the gateway registers it as
//! `frontchannel_logout_uri` with `frontchannel_logout_session_required`). Nothing is signed
//! here: the ENT's session id (`sid`, from its ID token, never shown to the user) names the
//! login, and `iss` must be a configured OIDC ENT's issuer (§2, §4). The answer may be framed by
//! that issuer's origin only (`frame-ancestors`), and is never cached.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;

use crate::app::AppState;
use crate::config::EntConfig;
use crate::flow;
use crate::oidc::rp::logout::{self, LogoutToken};
use crate::oidc::rp::{Check, RpError};
use crate::trace::TraceEvent;

pub const PATH: &str = "/ent/oidc/backchannel-logout";
pub const FRONT_PATH: &str = "/ent/oidc/frontchannel-logout";

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

/// `GET /ent/oidc/frontchannel-logout`: the ENT's provider, in an iframe of its logout page,
/// names its login by `iss` and `sid`; that login's gateway session ends (traced, its providers
/// told). A request without both, or for an issuer no ENT has, ends nothing (403, traced).
pub async fn frontchannel(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, super::error::PageError> {
    let refused = |ent: Option<&EntConfig>, e: RpError| {
        super::error::PageError::oidc(&traced(&state, ent, e))
    };
    let params = super::query::unique(query.as_deref().unwrap_or("")).map_err(|k| {
        refused(
            None,
            RpError::new(
                Check::FrontChannel,
                format!("the parameter {k} is repeated"),
            ),
        )
    })?;
    let (Some(iss), Some(sid)) = (params.get("iss"), params.get("sid")) else {
        return Err(refused(
            None,
            RpError::new(
                Check::FrontChannel,
                "a front-channel logout needs iss and sid",
            ),
        ));
    };
    let Some((ent, op)) = state
        .config
        .ents
        .values()
        .find_map(|e| e.oidc().filter(|op| op.issuer == *iss).map(|op| (e, op)))
    else {
        let e = RpError::new(
            Check::Issuer,
            "the front-channel logout's iss is not a configured OIDC ENT",
        );
        return Err(refused(None, e));
    };
    let ended =
        flow::logout::by_ent(&state.deps(), &ent.id, None, std::slice::from_ref(sid)).await?;
    tracing::info!(ent = %ent.id, sessions = ended.len(), "ENT front-channel logout");
    let body = if ended.is_empty() {
        "<p>Aucune session de la passerelle n'était ouverte pour cette connexion.</p>"
    } else {
        "<p>Vous êtes déconnecté de la passerelle.</p>"
    };
    let mut resp = Html(super::pages::page("Déconnexion", body)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(origin) = origin_of(&op.issuer) {
        if let Ok(v) = HeaderValue::from_str(&format!("frame-ancestors {origin}")) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    let secure = super::cookies::secure(&state.config);
    let browsers = super::cookies::session_id(&headers, secure);
    if browsers.is_some_and(|id| ended.iter().any(|s| s.id == id)) {
        if let Some(c) = super::cookies::clear_session(secure) {
            h.append(header::SET_COOKIE, c);
        }
    }
    Ok(resp)
}

/// The origin (`scheme://host[:port]`) of an issuer URL, as `frame-ancestors` names it.
fn origin_of(issuer: &str) -> Option<String> {
    let url = url::Url::parse(issuer).ok()?;
    match url.origin() {
        url::Origin::Tuple(..) => Some(url.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}
