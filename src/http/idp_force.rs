//! `ForceAuthn="true"` from a provider: the verified AuthnRequest is kept in the store while
//! the user authenticates again at their ENT (`ForceAuthn` to a SAML ENT, `prompt=login` and
//! `max_age=0` to an OIDC ENT), then `GET /idp/resume` answers it, once, and only for a
//! session that a login completed after the request created (never the session the request
//! came with) for the same ENT user.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::PageError;
use super::login::{self, Next};
use crate::app::AppState;
use crate::config::ProviderConfig;
use crate::domain::IdEnt;
use crate::oidc::op::records::{key_of, new_secret};
use crate::saml::idp::VerifiedAuthnRequest;
use crate::saml::Check;
use crate::session::{Launch, Session};
use crate::trace::TraceEvent;

/// Store kind of a request waiting for the user's fresh login.
const KIND_FORCED: &str = "saml-forced-sso";
/// `remember_once` namespace: a forced request is resumed once.
const ONCE_FORCED: &str = "saml-forced-sso-used";

/// What the gateway keeps while the user authenticates again.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Forced {
    provider: String,
    request: VerifiedAuthnRequest,
    launch: Launch,
    ent: IdEnt,
    person_id: String,
    /// The public handle of the session the request came with: never the one that answers.
    previous_session: String,
    received_at: DateTime<Utc>,
}

/// Keeps `request` and sends the browser to `session`'s ENT for a forced login that comes
/// back to `/idp/resume`.
pub(super) async fn reauthenticate(
    state: &AppState,
    provider: &ProviderConfig,
    request: VerifiedAuthnRequest,
    session: &Session,
    launch: Launch,
) -> Result<Response, PageError> {
    let Some(ent) = state.config.ents.get(&session.ent) else {
        return Err(PageError::no_session(format!(
            "ForceAuthn for provider {}: the session's ENT is no longer configured",
            provider.key
        )));
    };
    let id = new_secret();
    let forced = Forced {
        provider: provider.key.clone(),
        request,
        launch,
        ent: session.ent.clone(),
        person_id: session.person_id.clone(),
        previous_session: session.public_ref(),
        received_at: state.clock.now(),
    };
    let value = serde_json::to_value(&forced)
        .map_err(|e| crate::store::StoreError::Corrupt(format!("forced SSO record: {e}")))?;
    state
        .store
        .put_token(
            KIND_FORCED,
            &key_of(&id),
            &value,
            state.config.saml.request_ttl,
        )
        .await?;
    tracing::info!(provider = %provider.key, "AuthnRequest with ForceAuthn: the user authenticates again at their ENT");
    login::start_forced(state, ent, Next::Resume(format!("/idp/resume?id={id}"))).await
}

fn refused(state: &AppState, provider: Option<String>, detail: &'static str) -> PageError {
    state.trace(TraceEvent::ProtocolRefused {
        peer_kind: "provider",
        peer: provider,
        protocol: "saml",
        check: Check::ForceAuthn.code(),
    });
    PageError::saml(&crate::saml::SamlError::new(Check::ForceAuthn, detail))
}

/// `GET /idp/resume?id=...`: answers a forced request after the fresh login.
pub async fn resume(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let key = key_of(q.get("id").map(String::as_str).unwrap_or(""));
    let Some(value) = state.store.get_token(KIND_FORCED, &key).await? else {
        return Err(refused(
            &state,
            None,
            "no waiting ForceAuthn request has this id (expired or unknown)",
        ));
    };
    let forced: Forced = serde_json::from_value(value).map_err(|_| {
        crate::store::StoreError::Corrupt("forced SSO record does not decode".into())
    })?;
    let session = super::party::live_session(&state, &headers).await?;
    let fresh = session.as_ref().is_some_and(|s| {
        s.public_ref() != forced.previous_session && s.authenticated_at >= forced.received_at
    });
    let Some(mut session) = session.filter(|_| fresh) else {
        return Err(refused(
            &state,
            Some(forced.provider),
            "ForceAuthn: no session from a login completed after the request; the old session is never reused",
        ));
    };
    if session.ent != forced.ent || session.person_id != forced.person_id {
        return Err(refused(
            &state,
            Some(forced.provider),
            "ForceAuthn: the fresh login is another user's than the request's session",
        ));
    }
    let ttl = state.config.saml.request_ttl;
    if !state.store.remember_once(ONCE_FORCED, &key, ttl).await? {
        return Err(refused(
            &state,
            Some(forced.provider),
            "this ForceAuthn request was already answered",
        ));
    }
    state.store.delete_token(KIND_FORCED, &key).await?;
    let Some(provider) = state.config.providers.get(&forced.provider) else {
        return Err(refused(
            &state,
            None,
            "the provider is no longer configured",
        ));
    };
    // The launch of the old session carries over to the fresh one.
    session.record_launch(forced.launch.clone());
    let left = (session.expires_at - now).to_std().unwrap_or_default();
    state.store.put_session(&session, left).await?;
    super::idp_answer::answer(
        &state,
        &headers,
        provider,
        &forced.request,
        &session,
        &forced.launch,
        now,
    )
    .await
}
