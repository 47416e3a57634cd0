//! SAML single logout requests to the gateway, from both sides.
//!
//! - An ENT (the gateway's SP side): `GET|POST /saml/slo` (HTTP-Redirect, HTTP-POST, the front
//!   channel) and `POST /saml/slo/soap` (the back channel). The request names the ENT's login
//!   (NameID, SessionIndex): `flow::logout::by_ent` ends the session of that login.
//! - A provider (the gateway's IdP side): `/idp/profile/SAML2/{Redirect,POST,SOAP}/SLO`. The
//!   request names the SessionIndex the gateway gave it (the session's public handle):
//!   `flow::logout::by_public_ref` ends that session.
//!
//! The LogoutRequest is verified by `saml::slo` with the keys of the peer its Issuer names,
//! once (its ID is remembered), off the async workers; the peer gets a signed LogoutResponse:
//! `Success`, or `Requester`/`UnknownPrincipal` when the gateway had no such session (nothing
//! ended). A request that cannot be verified ends nothing and gets no LogoutResponse: a French
//! page in the front channel, a SOAP fault in the back channel.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;

use crate::app::AppState;
use crate::flow;
use crate::saml::binding::{self, RedirectQuery};
use crate::saml::metadata::{BINDING_POST, BINDING_REDIRECT, BINDING_SOAP};
use crate::saml::slo::{self, Carried, Peer, VerifiedLogout};
use crate::saml::{Check, SamlError};
use crate::session::Session;

use super::cookies;
use super::error::PageError;
use super::slo_answer::{answer, next_step, sender, Answered, Failure, Outcome, Sender, Side};
pub use super::slo_answer::{
    FRONT_PATH, IDP_POST_PATH, IDP_REDIRECT_PATH, IDP_SOAP_PATH, SOAP_PATH,
};

/// The SingleLogoutService endpoints of the gateway's SP metadata (for ENTs).
pub fn ent_endpoints(state: &AppState) -> Vec<(&'static str, String)> {
    let front = state.config.url(FRONT_PATH);
    vec![
        (BINDING_REDIRECT, front.clone()),
        (BINDING_POST, front),
        (BINDING_SOAP, state.config.url(SOAP_PATH)),
    ]
}

/// The SingleLogoutService endpoints of the gateway's IdP metadata (for providers).
pub fn idp_endpoints(state: &AppState) -> Vec<(&'static str, String)> {
    vec![
        (BINDING_REDIRECT, state.config.url(IDP_REDIRECT_PATH)),
        (BINDING_POST, state.config.url(IDP_POST_PATH)),
        (BINDING_SOAP, state.config.url(IDP_SOAP_PATH)),
    ]
}

/// What a verified LogoutRequest ended.
struct Done<'s> {
    sender: Sender<'s>,
    verified: VerifiedLogout,
    ended: Vec<Session>,
}

/// Verifies `carried` (whose unverified XML is `xml`) as sent to `side`, remembers its ID,
/// and ends the sessions it names.
async fn ended_by<'s>(
    state: &'s AppState,
    side: Side,
    carried: Carried,
    xml: &str,
) -> Result<Done<'s>, Failure> {
    let max = state.config.saml.max_message_bytes;
    let issuer = slo::peek_issuer(xml, max).map_err(|e| Failure::saml(state, side, None, e))?;
    let sender = sender(state, side, &issuer).map_err(|e| Failure::saml(state, side, None, e))?;
    let refused = |e| Failure::saml(state, side, Some(sender.name.clone()), e);
    let (urls, skew, now) = (side.urls(state), state.sp.clock_skew, state.clock.now());
    let (entity_id, certs, algorithms) = (
        sender.peer().entity_id.to_string(),
        sender.peer().certs.to_vec(),
        sender.peer().algorithms.clone(),
    );
    let verified = super::verify::off_worker(state, move || {
        let peer = Peer {
            entity_id: &entity_id,
            certs: &certs,
            algorithms: &algorithms,
        };
        slo::verify_logout_request(&carried, &urls, &peer, skew, max, now)
    })
    .await
    .map_err(refused)?;
    let ttl = (verified.remember_until - now).to_std().unwrap_or_default();
    let namespace = format!("saml-logout:{}:{}", side.peer_kind(), sender.name);
    if !state
        .store
        .remember_once(&namespace, &verified.id, ttl)
        .await
        .map_err(|e| Failure::Page(e.into()))?
    {
        let e = SamlError::new(Check::Replay, "this LogoutRequest was already answered");
        return Err(refused(e));
    }
    let d = state.deps();
    let ended = match (side, sender.ent) {
        (Side::Ent, Some(ent)) => {
            flow::logout::by_ent(&d, ent, Some(&verified.name_id), &verified.session_indexes).await
        }
        (Side::Ent, None) => Ok(Vec::new()),
        (Side::Provider, _) => {
            flow::logout::by_public_ref(&d, &verified.session_indexes, &sender.name).await
        }
    }
    .map_err(|e| Failure::Page(e.into()))?;
    tracing::info!(side = side.peer_kind(), peer = %sender.name, sessions = ended.len(), "SAML single logout");
    Ok(Done {
        sender,
        verified,
        ended,
    })
}

#[derive(Deserialize)]
pub struct SloForm {
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// `GET /saml/slo`: an ENT's LogoutRequest over HTTP-Redirect, or its LogoutResponse to the
/// gateway's own request (`slo_to_ent`).
pub async fn redirect(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let raw = query.as_deref().unwrap_or("");
    let answers = url::form_urlencoded::parse(raw.as_bytes()).any(|(k, _)| k == "SAMLResponse");
    if answers {
        let max = state.config.saml.max_message_bytes;
        let q = RedirectQuery::parse(raw, "SAMLResponse")
            .map_err(|e| Failure::saml(&state, Side::Ent, None, e).page())?;
        let xml = binding::decode_redirect(&q.message, max)
            .map_err(|e| Failure::saml(&state, Side::Ent, None, e).page())?;
        return super::slo_to_ent::answered(&state, Carried::Redirect(q), &xml).await;
    }
    redirect_to(&state, Side::Ent, &headers, query).await
}

/// `POST /saml/slo`: an ENT's LogoutRequest over HTTP-POST, or its LogoutResponse.
pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SloForm>,
) -> Result<Response, PageError> {
    if let (None, Some(message)) = (&form.saml_request, &form.saml_response) {
        let xml = binding::decode_post(message, state.config.saml.max_message_bytes)
            .map_err(|e| Failure::saml(&state, Side::Ent, None, e).page())?;
        let carried = Carried::Post(xml.clone());
        return super::slo_to_ent::answered(&state, carried, &xml).await;
    }
    post_to(&state, Side::Ent, &headers, form).await
}

/// `POST /saml/slo/soap`: an ENT's LogoutRequest in a SOAP envelope.
pub async fn soap(State(state): State<AppState>, body: String) -> Response {
    soap_to(&state, Side::Ent, body).await
}

/// `GET /idp/profile/SAML2/Redirect/SLO`: a provider's LogoutRequest over HTTP-Redirect.
pub async fn idp_redirect(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let raw = query.as_deref().unwrap_or("");
    if url::form_urlencoded::parse(raw.as_bytes()).any(|(k, _)| k == "SAMLResponse") {
        let max = state.config.saml.max_message_bytes;
        let side = Side::Provider;
        let q = RedirectQuery::parse(raw, "SAMLResponse")
            .map_err(|e| Failure::saml(&state, side, None, e).page())?;
        let xml = binding::decode_redirect(&q.message, max)
            .map_err(|e| Failure::saml(&state, side, None, e).page())?;
        let at = state.config.url(IDP_REDIRECT_PATH);
        return super::slo_front::answered(&state, Carried::Redirect(q), &xml, at).await;
    }
    redirect_to(&state, Side::Provider, &headers, query).await
}

/// `POST /idp/profile/SAML2/POST/SLO`: a provider's LogoutRequest over HTTP-POST.
pub async fn idp_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SloForm>,
) -> Result<Response, PageError> {
    if let (None, Some(message)) = (&form.saml_request, &form.saml_response) {
        let xml = binding::decode_post(message, state.config.saml.max_message_bytes)
            .map_err(|e| Failure::saml(&state, Side::Provider, None, e).page())?;
        let (carried, at) = (Carried::Post(xml.clone()), state.config.url(IDP_POST_PATH));
        return super::slo_front::answered(&state, carried, &xml, at).await;
    }
    post_to(&state, Side::Provider, &headers, form).await
}

/// `POST /idp/profile/SAML2/SOAP/SLO`: a provider's LogoutRequest in a SOAP envelope.
pub async fn idp_soap(State(state): State<AppState>, body: String) -> Response {
    soap_to(&state, Side::Provider, body).await
}

async fn redirect_to(
    state: &AppState,
    side: Side,
    headers: &HeaderMap,
    query: Option<String>,
) -> Result<Response, PageError> {
    let max = state.config.saml.max_message_bytes;
    let q = RedirectQuery::parse(query.as_deref().unwrap_or(""), "SAMLRequest")
        .map_err(|e| Failure::saml(state, side, None, e).page())?;
    let xml = binding::decode_redirect(&q.message, max)
        .map_err(|e| Failure::saml(state, side, None, e).page())?;
    let relay = q.relay_state.clone();
    front(state, side, headers, Carried::Redirect(q), &xml, relay).await
}

async fn post_to(
    state: &AppState,
    side: Side,
    headers: &HeaderMap,
    form: SloForm,
) -> Result<Response, PageError> {
    if form
        .relay_state
        .as_ref()
        .is_some_and(|r| r.len() > binding::MAX_RELAY_STATE)
    {
        let e = SamlError::new(Check::Malformed, "RelayState is too long");
        return Err(Failure::saml(state, side, None, e).page());
    }
    let Some(message) = &form.saml_request else {
        let e = SamlError::new(Check::Malformed, "the form carries no SAMLRequest");
        return Err(Failure::saml(state, side, None, e).page());
    };
    let xml = binding::decode_post(message, state.config.saml.max_message_bytes)
        .map_err(|e| Failure::saml(state, side, None, e).page())?;
    let carried = Carried::Post(xml.clone());
    front(state, side, headers, carried, &xml, form.relay_state).await
}

/// The front channel: the user's browser brought the request, and takes the answer back to
/// the peer. A provider's logout of a session from an ENT that takes logouts over the front
/// channel goes there first (`slo_to_ent`), and the provider is answered when the ENT has.
async fn front(
    state: &AppState,
    side: Side,
    headers: &HeaderMap,
    carried: Carried,
    xml: &str,
    relay: Option<String>,
) -> Result<Response, PageError> {
    let done = ended_by(state, side, carried, xml)
        .await
        .map_err(Failure::page)?;
    let secure = cookies::secure(&state.config);
    let browsers = cookies::session_id(headers, secure);
    let ours = browsers.is_some_and(|id| done.ended.iter().any(|s| s.id == id));
    let onward = match side {
        Side::Provider => {
            let asked = super::slo_to_ent::Asked {
                provider: &done.sender.name,
                in_response_to: &done.verified.id,
                relay: relay.as_deref(),
            };
            super::slo_to_ent::ask_ent(state, &done.ended, asked).await?
        }
        Side::Ent => None,
    };
    let next = match onward {
        Some(to_ent) => to_ent,
        None => {
            let outcome = if done.ended.is_empty() {
                Outcome::Unknown
            } else {
                Outcome::Ended
            };
            let answered = Answered {
                in_response_to: &done.verified.id,
                outcome,
                relay: relay.as_deref(),
            };
            next_step(state, side, done.sender.slo(), answered).await?
        }
    };
    // Providers that take logouts only in the browser are told first (not the one that asked).
    let asker = match side {
        Side::Provider => Some(done.sender.name.as_str()),
        Side::Ent => None,
    };
    let frames = super::slo_front::frames(state, &done.ended, asker).await?;
    let mut resp = if frames.is_empty() {
        next.into_response()
    } else {
        super::slo_front::page(&frames, next)
    };
    if ours {
        if let Some(c) = cookies::clear_session(secure) {
            resp.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    Ok(resp)
}

/// The back channel: the peer's server posted the request in a SOAP envelope.
async fn soap_to(state: &AppState, side: Side, body: String) -> Response {
    let soap_xml = |status: StatusCode, body: String| {
        (
            status,
            [
                (header::CONTENT_TYPE, "text/xml; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response()
    };
    let done = match ended_by(state, side, Carried::Soap(body.clone()), &body).await {
        Ok(done) => done,
        Err(Failure::Saml(e)) => {
            let status = PageError::saml(&e).status;
            tracing::warn!(check = %e.check, cause = %e.detail, "SOAP LogoutRequest refused");
            return soap_xml(status, slo::soap_fault(e.check.code()));
        }
        Err(Failure::Page(p)) => {
            return soap_xml(p.status, slo::soap_fault("temporarily unavailable"));
        }
    };
    let outcome = if done.ended.is_empty() {
        Outcome::Unknown
    } else {
        Outcome::Ended
    };
    let a = answer(state, side, &done.verified.id, None, outcome);
    let (key, now) = (state.config.signing_key.get(), state.clock.now());
    match super::verify::off_worker(state, move || slo::logout_response(&a, &key, true, now)).await
    {
        Ok(signed) => soap_xml(StatusCode::OK, slo::soap_envelope(&signed)),
        Err(e) => {
            tracing::error!(check = %e.check, cause = %e.detail, "LogoutResponse not signed");
            soap_xml(
                StatusCode::INTERNAL_SERVER_ERROR,
                slo::soap_fault("internal error"),
            )
        }
    }
}
