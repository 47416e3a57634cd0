//! A provider's AuthnRequest that waits for the ENT: `ForceAuthn="true"` (the user
//! authenticates again: `ForceAuthn` to a SAML ENT, `prompt=login` and `max_age=0` to an OIDC
//! ENT), or a session the ENT has not confirmed lately (a passive round trip asks the ENT who is
//! at the browser: a shared computer's next user never gets the last one's assertion). The
//! verified request is kept in the store meanwhile; then `GET /idp/resume` answers it, once, and
//! only for a session that a login completed after the request created (never the session the
//! request came with) for the same ENT user.

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

/// Why a request waits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Wait {
    /// The provider's `ForceAuthn`.
    #[default]
    Forced,
    /// The session's person, confirmed by the ENT (passively) before the answer.
    Confirm,
}

/// What the gateway keeps while the user authenticates again.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Forced {
    #[serde(default)]
    why: Wait,
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
    let (ent, id) = keep(state, Wait::Forced, provider, request, session, launch).await?;
    tracing::info!(provider = %provider.key, "AuthnRequest with ForceAuthn: the user authenticates again at their ENT");
    login::start_forced(state, ent, Next::Resume(format!("/idp/resume?id={id}"))).await
}

/// Keeps `request` and asks `session`'s ENT, without showing anything, who is at the browser;
/// the answer comes back to `/idp/resume`, which answers the provider only if the ENT named the
/// session's person.
pub(super) async fn confirm_first(
    state: &AppState,
    provider: &ProviderConfig,
    request: VerifiedAuthnRequest,
    session: &Session,
    launch: Launch,
    client: super::limits::Client,
) -> Result<Response, PageError> {
    let (ent, id) = keep(state, Wait::Confirm, provider, request, session, launch).await?;
    tracing::info!(provider = %provider.key, "AuthnRequest for a session not confirmed lately: the ENT is asked who is at the browser");
    login::confirm(
        state,
        ent,
        Next::Resume(format!("/idp/resume?id={id}")),
        client,
    )
    .await
}

/// Stores the waiting request; answers the ENT to ask and the id `/idp/resume` takes.
async fn keep<'s>(
    state: &'s AppState,
    why: Wait,
    provider: &ProviderConfig,
    request: VerifiedAuthnRequest,
    session: &Session,
    launch: Launch,
) -> Result<(&'s crate::config::EntConfig, String), PageError> {
    let Some(ent) = state.config.ents.get(&session.ent) else {
        return Err(PageError::no_session(format!(
            "SSO for provider {}: the session's ENT is no longer configured",
            provider.key
        )));
    };
    let id = new_secret();
    let forced = Forced {
        why,
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
    Ok((ent, id))
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
        if forced.why == Wait::Confirm {
            return Err(PageError::no_session(format!(
                "SSO for provider {}: the ENT did not confirm who is at the browser; the old session is never reused",
                forced.provider
            )));
        }
        return Err(refused(
            &state,
            Some(forced.provider),
            "ForceAuthn: no session from a login completed after the request; the old session is never reused",
        ));
    };
    if session.ent != forced.ent || session.person_id != forced.person_id {
        if forced.why == Wait::Confirm {
            // Another person is at the browser now: the request was made for the one before.
            return Err(PageError::no_session(format!(
                "SSO for provider {}: the ENT has another person logged in than the session the request came with; nothing is answered",
                forced.provider
            )));
        }
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
