//! `GET /ent/oidc/callback`: where ENTs that authenticate over OpenID Connect send the browser
//! back (the redirect URI registered at each of them).
//!
//! A callback is accepted only for a login this gateway started (`state` names it, the
//! browser carries its binding cookie, and it is consumed once), from the ENT it was sent to
//! (RFC 9207 `iss` when sent, required when the ENT advertises it), after the code exchange and
//! every ID token check of `oidc::rp`. The query carries the code: it is never logged.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use crate::app::AppState;
use crate::oidc::rp::{self, Check, LoginSecrets, RpError};

use super::cookies;
use super::error::PageError;
use super::login::{self, oidc_refused};

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

pub async fn handle(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let refuse = |ent: Option<&str>, check: Check, why: &str| {
        oidc_refused(&state, ent, &RpError::new(check, why))
    };
    let Some(login_id) = q
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 64)
    else {
        return Err(refuse(
            None,
            Check::State,
            "no state: unsolicited authorization responses are refused",
        ));
    };
    let Some(pending) = state.store.get_pending_login(login_id).await? else {
        return Err(refuse(
            None,
            Check::State,
            "the state names no pending login (expired, already used, or never issued)",
        ));
    };
    let ent_name = pending.ent.to_string();
    let ent = Some(ent_name.as_str());
    if !cookies::has_login(&headers, &pending.id, cookies::secure(&state.config)) {
        return Err(refuse(
            ent,
            Check::BrowserBinding,
            "the browser bringing this response did not start this login (login CSRF, or cookies blocked)",
        ));
    }
    let Some(op) = state
        .config
        .ents
        .get(&pending.ent)
        .and_then(|e| e.oidc())
        .cloned()
    else {
        return Err(refuse(
            ent,
            Check::Config,
            "the pending login's ENT is no longer configured for OpenID Connect",
        ));
    };
    // One callback per login, whatever its outcome.
    let Some(pending) = state.store.take_pending_login(&pending.id).await? else {
        return Err(refuse(
            ent,
            Check::Replay,
            "the login was already completed",
        ));
    };
    match q.iss.as_deref() {
        Some(iss) if iss != op.issuer => {
            return Err(refuse(
                ent,
                Check::Iss,
                "the authorization response's iss is not this ENT's issuer (mix-up)",
            ))
        }
        Some(_) => {}
        None => {
            let provider = state
                .ent_oidc
                .get(&ent_name, &op, now)
                .await
                .map_err(|e| oidc_refused(&state, ent, &e))?;
            if provider.iss_parameter_supported {
                return Err(refuse(
                    ent,
                    Check::Iss,
                    "the ENT advertises RFC 9207 but its authorization response has no iss",
                ));
            }
        }
    }
    if let Some(error) = q.error.as_deref() {
        // Asked with `prompt=none` who is at the browser, the ENT says nobody it can name
        // without showing something (OpenID Connect Core §3.1.2.6).
        if pending.passive
            && [
                "login_required",
                "interaction_required",
                "consent_required",
                "account_selection_required",
            ]
            .contains(&error)
        {
            return login::unconfirmed(&state, &headers, pending, "oidc").await;
        }
        let code = if error.len() <= 64 && error.bytes().all(|b| b.is_ascii_graphic()) {
            error
        } else {
            "(unreadable)"
        };
        return Err(refuse(
            ent,
            Check::Error,
            &format!("the ENT answered error={code}"),
        ));
    }
    let Some(code) = q.code.as_deref().filter(|c| !c.is_empty()) else {
        return Err(refuse(
            ent,
            Check::Code,
            "the authorization response has no code",
        ));
    };
    let Some(secrets) = LoginSecrets::from_extra(pending.extra.as_ref()) else {
        return Err(refuse(
            ent,
            Check::State,
            "the pending login was not started over OpenID Connect",
        ));
    };
    let user = rp::complete(
        &state.ent_oidc,
        &ent_name,
        &op,
        &login::oidc_redirect_uri(&state),
        code,
        &secrets,
        now,
    )
    .await
    .map_err(|e| oidc_refused(&state, ent, &e))?;
    // A forced login (a provider's ForceAuthn; `max_age=0` was sent) counts only if the ENT
    // says it authenticated the user after the request (OpenID Connect Core §3.1.2.1).
    let skew = chrono::Duration::from_std(op.clock_skew).unwrap_or_default();
    if pending.forced && user.auth_time.is_none_or(|t| t + skew < pending.created_at) {
        return Err(refuse(
            ent,
            Check::ForceAuthn,
            "the ENT was asked to authenticate the user again (max_age=0) but its ID token has no auth_time after the request",
        ));
    }
    let ent_session = crate::session::EntSessionRef {
        subject: user.sub,
        index: user.sid,
        earlier_subjects: Vec::new(),
        format: None,
    };
    login::finish(
        &state,
        &headers,
        pending,
        user.person_id,
        Some(ent_session),
        "oidc",
    )
    .await
}
