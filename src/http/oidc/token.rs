//! The back channel: `POST /oidc/token` (alias `/oidc/oidcAccessToken`; authorization code and
//! refresh token grants), `POST /oidc/revoke` (RFC 7009) and `POST /oidc/introspect`
//! (RFC 7662). Clients authenticate with `client_secret_basic` or `client_secret_post`;
//! public clients (native applications) send only their `client_id`.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};

use super::{basic_credentials, json_error, no_store, params};
use crate::app::AppState;
use crate::config::ProviderConfig;
use crate::flow::access::{HandOver, HandOverError, Issuance};
use crate::flow::{self, User};
use crate::oidc::error_code::Endpoint;
use crate::oidc::op::client::OidcClient;
use crate::oidc::op::records::GrantFacts;
use crate::oidc::op::service::{self, OpError};
use crate::oidc::{ErrorCode, OidcError};

/// The calling client, authenticated.
fn client<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
    p: &HashMap<String, String>,
) -> Result<(&'a ProviderConfig, &'a OidcClient), OidcError> {
    let fail = |d: &str| OidcError::new(ErrorCode::InvalidClient, "oidc.client_auth", d);
    let basic = basic_credentials(headers).transpose()?;
    let id = match (&basic, p.get("client_id")) {
        (Some((b, _)), Some(f)) if b != f => {
            return Err(fail("client_id differs from the Basic credentials"))
        }
        (Some((b, _)), _) => b.as_str(),
        (None, Some(f)) => f.as_str(),
        (None, None) => return Err(fail("no client authentication")),
    };
    let (provider, client) = state
        .config
        .oidc_client(id)
        .ok_or_else(|| fail("unknown client"))?;
    client.authenticate(
        basic.as_ref().map(|(i, s)| (i.as_str(), s.as_str())),
        p.get("client_secret").map(String::as_str),
    )?;
    Ok((provider, client))
}

fn required<'a>(p: &'a HashMap<String, String>, name: &str) -> Result<&'a str, OidcError> {
    p.get(name).map(String::as_str).ok_or_else(|| {
        OidcError::new(
            ErrorCode::InvalidRequest,
            "oidc.parameter",
            format!("{name} is required"),
        )
    })
}

/// A back-channel request's parameters and its authenticated client.
type Authenticated<'a> = (HashMap<String, String>, &'a ProviderConfig, &'a OidcClient);

/// Parses the body and authenticates the client, or answers the error.
fn start<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
    body: &str,
) -> Result<Authenticated<'a>, Box<Response>> {
    let refuse = |e: OidcError| Box::new(json_error(state, Endpoint::Token, None, e.into()));
    let p = params(body).map_err(refuse)?;
    let (provider, c) = client(state, headers, &p).map_err(refuse)?;
    Ok((p, provider, c))
}

pub async fn token(State(state): State<AppState>, headers: HeaderMap, body: String) -> Response {
    let (p, provider, client) = match start(&state, &headers, &body) {
        Ok(ok) => ok,
        Err(resp) => return *resp,
    };
    let now = state.clock.now();
    let op = state.op();
    let result = match p.get("grant_type").map(String::as_str) {
        Some("authorization_code") => match required(&p, "code") {
            Ok(code) => {
                let redeemed = service::redeem_code(
                    &op,
                    client,
                    code,
                    p.get("redirect_uri").map(String::as_str),
                    p.get("code_verifier").map(String::as_str),
                    now,
                )
                .await;
                match redeemed {
                    Ok(r) => {
                        let nonce = r.nonce.as_deref();
                        hand_over(&state, client, &r.facts, nonce, Issuance::Access, now).await
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e.into()),
        },
        Some("refresh_token") if client.refresh_tokens => match required(&p, "refresh_token") {
            Ok(rt) => match service::rotate_refresh(&op, client, rt, now).await {
                Ok(facts) => hand_over(&state, client, &facts, None, Issuance::Renewal, now).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e.into()),
        },
        Some("refresh_token") => Err(OidcError::new(
            ErrorCode::UnauthorizedClient,
            "oidc.grant_type",
            "this client does not use refresh tokens",
        )
        .into()),
        _ => Err(OidcError::new(
            ErrorCode::UnsupportedGrantType,
            "oidc.grant_type",
            "grant_type is authorization_code or refresh_token",
        )
        .into()),
    };
    match result {
        Ok(t) => (no_store(), Json(t)).into_response(),
        Err(e) => json_error(&state, Endpoint::Token, Some(&provider.key), e),
    }
}

/// The token set of a grant handed to its client (`flow::access::hand_over`): the access rule
/// again, the attributes released, the tokens signed by `service::issue_set`.
async fn hand_over(
    state: &AppState,
    client: &OidcClient,
    facts: &GrantFacts,
    nonce: Option<&str>,
    issuance: Issuance,
    now: DateTime<Utc>,
) -> Result<service::TokenResponse, OpError> {
    let h = HandOver {
        user: User {
            ent: &facts.ent,
            person_id: &facts.person_id,
        },
        uai: &facts.uai,
        resource: &facts.resource,
        provider: &facts.provider,
        protocol: "oidc",
        channel: facts.channel,
        device: facts.device,
        issuance,
    };
    let op = state.op();
    flow::access::hand_over(&state.deps(), h, now, |rel| async move {
        service::issue_set(&op, client, facts, nonce, &rel.attributes, now).await
    })
    .await
    .map_err(|e| match e {
        HandOverError::Issue(e) => e,
        HandOverError::Flow(f) => super::refused_grant(f, ErrorCode::InvalidGrant),
    })
}

pub async fn revoke(State(state): State<AppState>, headers: HeaderMap, body: String) -> Response {
    let (p, provider, client) = match start(&state, &headers, &body) {
        Ok(ok) => ok,
        Err(resp) => return *resp,
    };
    let token = match required(&p, "token") {
        Ok(t) => t,
        Err(e) => return json_error(&state, Endpoint::Token, Some(&provider.key), e.into()),
    };
    match service::revoke(&state.op(), client, token, state.clock.now()).await {
        Ok(()) => (StatusCode::OK, no_store()).into_response(),
        Err(e) => json_error(&state, Endpoint::Token, Some(&provider.key), e),
    }
}

pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (p, provider, client) = match start(&state, &headers, &body) {
        Ok(ok) => ok,
        Err(resp) => return *resp,
    };
    if client.is_public() {
        let e = OidcError::new(
            ErrorCode::InvalidClient,
            "oidc.client_auth",
            "public clients cannot introspect",
        );
        return json_error(
            &state,
            Endpoint::Token,
            Some(&provider.key),
            OpError::Refused(e),
        );
    }
    let token = match required(&p, "token") {
        Ok(t) => t,
        Err(e) => return json_error(&state, Endpoint::Token, Some(&provider.key), e.into()),
    };
    match service::introspect(&state.op(), client, token, state.clock.now()).await {
        Ok(v) => (no_store(), Json(v)).into_response(),
        Err(e) => json_error(&state, Endpoint::Token, Some(&provider.key), e),
    }
}
