//! The gateway's IdP side for resource providers: `GET /idp/metadata` and SP-initiated SSO
//! over HTTP-Redirect and HTTP-POST.
//!
//! The user must have a gateway session and have launched one of the provider's resources
//! from the médiacentre (`domaineGar`); the access rule runs again here, and the attributes
//! released are computed from its grant, for the school of that launch. A session the ENT has
//! not vouched for lately (`login::confirmed_for_use`) answers nothing before the ENT, asked
//! passively, names its person again (`idp_force::confirm_first`).

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};
use axum::Form;
use serde::Deserialize;

use crate::app::AppState;
use crate::saml::idp::{self, UnverifiedRequest};
use crate::saml::metadata;
use crate::saml::{binding, Check, SamlError};

use super::error::PageError;
use super::idp_answer::{answer, refused};
use super::limits::Client;

pub async fn metadata(State(state): State<AppState>) -> Result<Response, PageError> {
    let slo = super::slo::idp_endpoints(&state);
    let xml = metadata::idp_metadata(
        &state.idp.entity_id,
        &state.idp.sso_redirect_url,
        &state.idp.sso_post_url,
        &slo,
        &super::acs::publication(&state).get(),
    )
    .map_err(|e| super::idp_answer::refused(&state, None, e))?;
    Ok((
        [(header::CONTENT_TYPE, "application/samlmetadata+xml")],
        xml,
    )
        .into_response())
}

pub async fn sso_redirect(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let req = idp::decode_redirect(
        query.as_deref().unwrap_or(""),
        state.config.saml.max_message_bytes,
    )
    .map_err(|e| refused(&state, None, e))?;
    sso(state, headers, client, req).await
}

#[derive(Deserialize)]
pub struct PostForm {
    #[serde(rename = "SAMLRequest")]
    saml_request: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

pub async fn sso_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    Form(form): Form<PostForm>,
) -> Result<Response, PageError> {
    let req = idp::decode_post(
        &form.saml_request,
        form.relay_state,
        state.config.saml.max_message_bytes,
    )
    .map_err(|e| refused(&state, None, e))?;
    sso(state, headers, client, req).await
}

async fn sso(
    state: AppState,
    headers: HeaderMap,
    client: Client,
    req: UnverifiedRequest,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let Some(provider) = state.config.provider_by_entity_id(&req.issuer) else {
        return Err(refused(
            &state,
            None,
            SamlError::new(
                Check::Issuer,
                "the AuthnRequest's Issuer is not a registered provider",
            ),
        ));
    };
    let Some(sp) = provider.sp() else {
        return Err(refused(
            &state,
            Some(&provider.key),
            SamlError::new(Check::Config, "this provider is not a SAML provider"),
        ));
    };
    let verify = |sp_peer: std::sync::Arc<idp::ProviderSp>| {
        let (settings, req) = (state.idp.clone(), req.clone());
        super::verify::off_worker(&state, move || {
            idp::verify_request(&req, &sp_peer, &settings, now)
        })
    };
    let mut verified = verify(sp).await;
    // Signed by a key the provider's metadata does not list (yet): another node's newer copy,
    // else its source, is asked (at most once per metadata.min_refresh_seconds); naming an ACS
    // URL it does not list: another node's newer copy. Then the request is checked again.
    let partner = format!("provider:{}", provider.key);
    let changed = match verified.as_ref().map_err(|e| e.check) {
        Err(Check::Signature) => state.partners.unknown_key(&partner).await,
        Err(Check::Acs) => state.partners.unknown_endpoint(&partner).await,
        _ => false,
    };
    if changed {
        if let Some(sp) = provider.sp() {
            verified = verify(sp).await;
        }
    }
    let request = verified.map_err(|e| refused(&state, Some(&provider.key), e))?;
    let ttl = (state.idp.assertion_lifetime + state.idp.clock_skew * 2)
        .to_std()
        .unwrap_or_default();
    // The request's id remembered and the session read together (one wait on a shared
    // store); a replay is refused before the session is looked at.
    let namespace = format!("saml-authn-request:{}", provider.key);
    let (first_time, session) = tokio::join!(
        state.store.remember_once(&namespace, &request.id, ttl),
        super::party::live_session(&state, &headers),
    );
    if !first_time? {
        return Err(refused(
            &state,
            Some(&provider.key),
            SamlError::new(Check::Replay, "this AuthnRequest was already answered"),
        ));
    }
    let session = session?;
    let ids: Vec<_> = provider.resources.iter().map(|r| &r.id).collect();
    let launched = session
        .as_ref()
        .and_then(|s| s.latest_launch_of(&ids).cloned());
    let confirmed = session
        .as_ref()
        .is_some_and(|s| super::login::confirmed_for_use(&state, s, now));
    if request.is_passive && (launched.is_none() || request.force_authn || !confirmed) {
        // SAML core §3.4.1: nothing may be shown to the user (not even the ENT's login page a
        // ForceAuthn needs); the provider hears at once that a passive login is not possible.
        tracing::info!(
            provider = %provider.key,
            "passive AuthnRequest without a gateway session, confirmed lately, that launched this provider's resource: answered NoPassive"
        );
        return status_answer(
            &state,
            &request,
            STATUS_NO_PASSIVE,
            "no session: the user must log in at their ENT first",
            now,
        )
        .await;
    }
    let Some(session) = session else {
        return Err(PageError::no_session(format!(
            "SSO for provider {}: no live gateway session",
            provider.key
        )));
    };
    let Some(launch_of) = launched else {
        return Err(PageError::no_session(format!(
            "SSO for provider {}: none of its resources was launched in this session",
            provider.key
        )));
    };
    if request.force_authn {
        // SAML core §3.4.1: the user authenticates again at their ENT; the existing session
        // is not reused, and the request is answered once a fresh login resumes it.
        return super::idp_force::reauthenticate(&state, provider, request, &session, launch_of)
            .await;
    }
    if !confirmed {
        // A shared computer may have changed hands since the ENT last said who is here.
        return super::idp_force::confirm_first(
            &state, provider, request, &session, launch_of, client,
        )
        .await;
    }
    answer(
        &state, &headers, provider, &request, &session, &launch_of, now,
    )
    .await
}

/// SAML core §3.2.2.2 second-level status codes the gateway answers with.
const STATUS_NO_PASSIVE: &str = "urn:oasis:names:tc:SAML:2.0:status:NoPassive";

/// Answers the provider's ACS at once with a signed Response whose status is `Responder` /
/// `status` (no assertion), echoing the provider's RelayState.
async fn status_answer(
    state: &AppState,
    request: &idp::VerifiedAuthnRequest,
    status: &'static str,
    message: &'static str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Response, PageError> {
    let (settings, config, req) = (state.idp.clone(), state.config.clone(), request.clone());
    let xml = super::verify::off_worker(state, move || {
        idp::signed_error_response(
            &settings,
            &config.signing_key.get(),
            &req,
            status,
            message,
            now,
        )
    })
    .await
    .map_err(|e| refused(state, None, e))?;
    let page = binding::post_form(
        &request.acs_url,
        "SAMLResponse",
        &xml,
        request.relay_state.as_deref(),
    );
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response())
}
