//! `GET /oidc/.well-known/openid-configuration` (OIDC Discovery 1.0) and `GET /oidc/jwks`
//! (every published key, so that clients keep validating across a key rollover).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use crate::app::AppState;
use crate::domain::AttributeName;

pub async fn discovery(State(state): State<AppState>) -> impl IntoResponse {
    let c = &state.config;
    let mut claims: Vec<&str> = vec!["sub"];
    claims.extend(AttributeName::ALL.iter().map(|a| a.as_str()));
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(json!({
            "issuer": c.oidc_issuer(),
            "authorization_endpoint": c.url("/oidc/authorize"),
            "token_endpoint": c.url("/oidc/token"),
            "userinfo_endpoint": c.url("/oidc/userinfo"),
            "jwks_uri": c.url("/oidc/jwks"),
            "revocation_endpoint": c.url("/oidc/revoke"),
            "introspection_endpoint": c.url("/oidc/introspect"),
            "end_session_endpoint": c.url("/oidc/logout"),
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
            "frontchannel_logout_supported": true,
            "frontchannel_logout_session_supported": true,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": c.oidc.keys.algorithms(),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "scope.gar", "offline_access"],
            "claims_supported": claims,
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "authorization_response_iss_parameter_supported": true,
        })),
    )
}

pub async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::CONTENT_TYPE, "application/jwk-set+json"),
        ],
        state.config.oidc.keys.jwks().to_string(),
    )
}
