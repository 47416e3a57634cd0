//! The gateway's SP side for ENTs: `GET /saml/metadata` (with the single logout endpoints of
//! `slo`) and `POST /saml/acs`.
//!
//! A response is accepted only for a login this gateway started (RelayState names it, the
//! Response's InResponseTo must match it, and it is consumed once), after every check of
//! `saml::sp`, and when its assertion ID was never seen before (replay cache in the store).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;

use crate::app::AppState;
use crate::saml::{binding, metadata, sp, Check, SamlError};
use crate::trace::TraceEvent;

use super::cookies;
use super::error::PageError;

pub async fn metadata(State(state): State<AppState>) -> Result<Response, PageError> {
    let xml = metadata::sp_metadata(
        &state.sp.entity_id,
        &state.sp.acs_url,
        &super::slo::ent_endpoints(&state),
        &publication(&state).get(),
    )
    .map_err(|e| refused(&state, None, e))?;
    Ok((
        [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
        xml,
    )
        .into_response())
}

/// The keys the gateway's metadata is published with now (a reload may replace them).
pub(super) struct Published {
    key: std::sync::Arc<crate::saml::keys::SigningKey>,
    next: std::sync::Arc<Option<String>>,
    valid_until: chrono::DateTime<chrono::Utc>,
}

impl Published {
    pub(super) fn get(&self) -> metadata::Publication<'_> {
        metadata::Publication {
            key: &self.key,
            next_certificate: self.next.as_deref(),
            valid_until: self.valid_until,
        }
    }
}

/// How the gateway's metadata is published now: signed with its current key, with the next
/// one during a rollover, valid for `[saml] metadata_validity_days`.
pub(super) fn publication(state: &AppState) -> Published {
    let validity = chrono::Duration::from_std(state.config.saml.metadata_validity)
        .unwrap_or(chrono::Duration::days(7));
    Published {
        key: state.config.signing_key.get(),
        next: state.config.saml.next_signing_certificate.get(),
        valid_until: state.clock.now() + validity,
    }
}

#[derive(Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

fn refused(state: &AppState, ent: Option<&str>, e: SamlError) -> PageError {
    state.trace(TraceEvent::ProtocolRefused {
        peer_kind: "ent",
        peer: ent.map(str::to_string),
        protocol: "saml",
        check: e.check.code(),
    });
    PageError::saml(&e)
}

pub async fn handle(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Form(form): Form<AcsForm>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let Some(login_id) = form.relay_state.filter(|r| r.len() <= 64) else {
        return Err(refused(
            &state,
            None,
            SamlError::new(
                Check::InResponseTo,
                "no RelayState: unsolicited responses are refused",
            ),
        ));
    };
    let Some(pending) = state.store.get_pending_login(&login_id).await? else {
        return Err(refused(
            &state,
            None,
            SamlError::new(
                Check::InResponseTo,
                "the RelayState names no pending login (expired, already used, or never issued)",
            ),
        ));
    };
    let ent_name = pending.ent.to_string();
    if !cookies::has_login(&headers, &pending.id, cookies::secure(&state.config)) {
        return Err(refused(
            &state,
            Some(&ent_name),
            SamlError::new(Check::BrowserBinding, "the browser posting this response did not start this login (login CSRF, or cookies blocked)"),
        ));
    }
    let Some(ent) = state.config.ents.get(&pending.ent) else {
        return Err(refused(
            &state,
            Some(&ent_name),
            SamlError::new(
                Check::Config,
                "the pending login's ENT is no longer configured",
            ),
        ));
    };
    let xml = binding::decode_post(&form.saml_response, state.config.saml.max_message_bytes)
        .map_err(|e| refused(&state, Some(&ent_name), e))?;
    // Signature verification is CPU work: keep it off the async workers.
    let Some(idp) = ent.saml() else {
        return Err(refused(
            &state,
            Some(&ent_name),
            SamlError::new(Check::Config, "this ENT authenticates over OpenID Connect"),
        ));
    };
    let verify = |idp: std::sync::Arc<sp::EntIdp>| {
        let (sp_settings, expected, xml) = (state.sp.clone(), pending.id.clone(), xml.clone());
        super::verify::off_worker(&state, move || {
            sp::verify_response(&xml, &expected, &sp_settings, &idp, now)
        })
    };
    let mut verified = verify(idp).await;
    // Signed by a key the ENT's metadata does not list (yet): its metadata is asked again (at
    // most once per metadata.min_refresh_seconds) and, if it changed, the Response checked again.
    if verified
        .as_ref()
        .is_err_and(|e| e.check == Check::Signature)
        && state.partners.unknown_key(&format!("ent:{}", ent.id)).await
    {
        if let Some(idp) = ent.saml() {
            verified = verify(idp).await;
        }
    }
    let login = match verified {
        Ok(login) => login,
        // Asked passively who is at the browser, the ENT says it cannot tell (`NoPassive`, or
        // any answer but success): nobody is logged in there. This browser posted it for the
        // login it started, so the worst it can do is end its own session.
        Err(e) if e.check == Check::Status && pending.passive => {
            let Some(pending) = state.store.take_pending_login(&pending.id).await? else {
                return Err(refused(
                    &state,
                    Some(&ent_name),
                    SamlError::new(Check::Replay, "the login was already completed"),
                ));
            };
            return super::login::unconfirmed(&state, &headers, pending, "saml").await;
        }
        Err(e) => return Err(refused(&state, Some(&ent_name), e)),
    };
    if login.id_ent != pending.ent.as_str() {
        return Err(refused(
            &state,
            Some(&ent_name),
            SamlError::new(
                Check::Attributes,
                "the idEnt attribute is not the ENT this login was sent to",
            ),
        ));
    }
    // A forced login (a provider's ForceAuthn) counts only if the ENT says it authenticated
    // the user after the request; checked before the login is used up.
    if pending.forced
        && login
            .authn_instant
            .is_none_or(|t| t + state.sp.clock_skew < pending.created_at)
    {
        return Err(refused(
            &state,
            Some(&ent_name),
            SamlError::new(
                Check::ForceAuthn,
                "the ENT was asked to authenticate the user again (ForceAuthn) but its AuthnInstant is older than the request",
            ),
        ));
    }
    // One use of the request, one use of the assertion.
    if state.store.take_pending_login(&pending.id).await?.is_none() {
        return Err(refused(
            &state,
            Some(&ent_name),
            SamlError::new(Check::Replay, "the login was already completed"),
        ));
    }
    let ttl = (login.remember_until - now)
        .to_std()
        .unwrap_or_default()
        .max(std::time::Duration::from_secs(1));
    if !state
        .store
        .remember_once(
            &format!("saml-assertion:{}", pending.ent),
            &login.assertion_id,
            ttl,
        )
        .await?
    {
        return Err(refused(
            &state,
            Some(&ent_name),
            SamlError::new(Check::Replay, "this assertion was already used"),
        ));
    }

    let ent_session = login.name_id.map(|subject| crate::session::EntSessionRef {
        subject,
        index: login.session_index,
        earlier_subjects: Vec::new(),
        format: login.name_id_format,
    });
    super::login::finish(
        &state,
        &headers,
        pending,
        login.person_id,
        ent_session,
        "saml",
    )
    .await
}
