//! The gateway as OpenID Provider over HTTP: discovery, JWKS, authorization (with the ENT
//! ENT chooser of "application first" is `http::chooser`), token, userinfo, revocation, introspection and logout,
//! under the standard names and the GAR's aliases (`oidcAuthorize`, `oidcAccessToken`,
//! `oidcProfile`, `oidcLogout`).
//!
//! Each error takes the shape its caller expects: a French page when the client or its
//! redirect URI cannot be trusted, a redirect with `error` to a registered redirect URI
//! otherwise (RFC 6749 §4.1.2.1), `{"error": ...}` JSON on the back channel (§5.2), and
//! `WWW-Authenticate: Bearer` at userinfo (RFC 6750 §3).

mod authorize;
mod logout;
mod meta;
mod token;
mod userinfo;

use std::collections::HashMap;

use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;

use crate::app::AppState;
use crate::http::api_error::ApiError;
use crate::oidc::error_code::Endpoint;
use crate::oidc::op::service::OpError;
use crate::oidc::{ErrorCode, OidcError};
use crate::trace::TraceEvent;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/oidc/.well-known/openid-configuration",
            get(meta::discovery),
        )
        .route("/oidc/jwks", get(meta::jwks))
        .route("/oidc/authorize", get(authorize::get).post(authorize::post))
        .route(
            "/oidc/oidcAuthorize",
            get(authorize::get).post(authorize::post),
        )
        .route("/oidc/token", post(token::token))
        .route("/oidc/oidcAccessToken", post(token::token))
        .route("/oidc/userinfo", get(userinfo::get).post(userinfo::post))
        .route("/oidc/oidcProfile", get(userinfo::get).post(userinfo::post))
        .route("/oidc/revoke", post(token::revoke))
        .route("/oidc/introspect", post(token::introspect))
        .route("/oidc/logout", get(logout::get).post(logout::post))
        .route("/oidc/oidcLogout", get(logout::get).post(logout::post))
}

/// A flow's refusal as the OAuth error `error` (`invalid_grant` at the token endpoint,
/// `invalid_token` at userinfo): the access rule, run again, no longer grants the resource.
pub(super) fn refused_grant(f: crate::flow::FlowError, error: ErrorCode) -> OpError {
    match f {
        crate::flow::FlowError::Refused(crate::domain::Refusal::UnknownResource) => {
            OidcError::new(error, "oidc.resource", "the resource is no longer offered").into()
        }
        crate::flow::FlowError::Refused(r) => OidcError::new(
            error,
            "oidc.access",
            format!("access refused: {}", r.code()),
        )
        .into(),
        crate::flow::FlowError::Store(e) => OpError::Store(e),
    }
}

/// Parses `application/x-www-form-urlencoded` parameters; a parameter given twice is refused
/// (RFC 6749 §3.1), as is one without a value that the caller then treats as absent.
pub(super) fn params(raw: &str) -> Result<HashMap<String, String>, OidcError> {
    super::query::unique(raw).map_err(|k| {
        OidcError::new(
            ErrorCode::InvalidRequest,
            "oidc.duplicate_parameter",
            format!("parameter {k} is given more than once"),
        )
    })
}

/// Records a refused OIDC message.
pub(super) fn traced(state: &AppState, provider: Option<&str>, e: &OidcError) {
    state.trace(TraceEvent::ProtocolRefused {
        peer_kind: "provider",
        peer: provider.map(str::to_string),
        protocol: "oidc",
        check: e.check,
    });
}

/// The back-channel error (RFC 6749 §5.2 at the token endpoint, RFC 6750 §3 at userinfo),
/// traced; its cause is logged once by `api_error::log_cause`.
pub(super) fn json_error(
    state: &AppState,
    endpoint: Endpoint,
    provider: Option<&str>,
    e: OpError,
) -> Response {
    match e {
        OpError::Refused(e) => {
            traced(state, provider, &e);
            let context = provider
                .map(|p| format!(", provider {p}"))
                .unwrap_or_default();
            ApiError::oauth(endpoint, &e, &context).into_response()
        }
        OpError::Store(s) => ApiError::oauth_store(endpoint, &s).into_response(),
    }
}

pub(super) fn no_store() -> [(header::HeaderName, &'static str); 2] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}

/// `Authorization: Basic` credentials, each part form-decoded (RFC 6749 §2.3.1).
pub(super) fn basic_credentials(
    headers: &HeaderMap,
) -> Option<Result<(String, String), OidcError>> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bad = || {
        OidcError::new(
            ErrorCode::InvalidClient,
            "oidc.client_auth",
            "malformed Basic credentials",
        )
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    let Some((id, secret)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
        return Some(Err(bad()));
    };
    let dec = |s: &str| {
        urlencoding::decode(&s.replace('+', " "))
            .map(|c| c.into_owned())
            .map_err(|_| bad())
    };
    Some(dec(id).and_then(|id| dec(secret).map(|s| (id, s))))
}
