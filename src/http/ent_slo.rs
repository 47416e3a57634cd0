//! An ENT's SAML single logout, the gateway's SP side: `GET /saml/slo` (HTTP-Redirect) and
//! `POST /saml/slo` (HTTP-POST) in the front channel, `POST /saml/slo/soap` in the back
//! channel. The LogoutRequest is verified by `saml::slo` with the keys of the ENT its Issuer
//! names, once (its ID is remembered), off the async workers; the sessions it names end
//! (`flow::logout::by_ent`, traced), and the ENT gets a signed LogoutResponse: `Success`, or
//! `Requester`/`UnknownPrincipal` when the gateway had no session of that login (nothing
//! ended). A request that cannot be verified ends nothing and gets no LogoutResponse: a French
//! page in the front channel, a SOAP fault in the back channel.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use crate::app::AppState;
use crate::config::EntConfig;
use crate::flow;
use crate::saml::binding::{self, RedirectQuery};
use crate::saml::metadata::{BINDING_POST, BINDING_REDIRECT, BINDING_SOAP};
use crate::saml::slo::{self, Carried, LogoutAnswer, SloUrls, VerifiedLogout};
use crate::saml::{Check, SamlError};
use crate::trace::TraceEvent;

use super::cookies;
use super::error::PageError;
use super::pages;

pub const FRONT_PATH: &str = "/saml/slo";
pub const SOAP_PATH: &str = "/saml/slo/soap";

/// The SingleLogoutService endpoints of the gateway's SP metadata.
pub fn endpoints(state: &AppState) -> Vec<(&'static str, String)> {
    let front = state.config.url(FRONT_PATH);
    vec![
        (BINDING_REDIRECT, front.clone()),
        (BINDING_POST, front),
        (BINDING_SOAP, state.config.url(SOAP_PATH)),
    ]
}

fn urls(state: &AppState) -> SloUrls {
    SloUrls {
        front: state.config.url(FRONT_PATH),
        soap: state.config.url(SOAP_PATH),
    }
}

fn refused(state: &AppState, ent: Option<&EntConfig>, e: &SamlError) {
    state.trace(TraceEvent::ProtocolRefused {
        peer_kind: "ent",
        peer: ent.map(|e| e.id.to_string()),
        protocol: "saml",
        check: e.check.code(),
    });
}

/// The SAML ENT whose IdP entityID is `issuer`.
fn ent_of<'s>(state: &'s AppState, issuer: &str) -> Result<&'s EntConfig, SamlError> {
    state
        .config
        .ents
        .values()
        .find(|e| e.saml().is_some_and(|idp| idp.peer.entity_id == issuer))
        .ok_or_else(|| {
            SamlError::new(
                Check::Issuer,
                "the LogoutRequest's Issuer is not a configured SAML ENT",
            )
        })
}

/// Verifies `carried` (whose unverified XML is `xml`), remembers its ID, and ends the sessions
/// it names. Answers the ENT, the request and whether a session was ended.
async fn ended_by<'s>(
    state: &'s AppState,
    carried: Carried,
    xml: &str,
) -> Result<(&'s EntConfig, VerifiedLogout, Vec<crate::session::Session>), Failure> {
    let max = state.config.saml.max_message_bytes;
    let issuer = slo::peek_issuer(xml, max).map_err(|e| Failure::saml(state, None, e))?;
    let ent = ent_of(state, &issuer).map_err(|e| Failure::saml(state, None, e))?;
    let Some(idp) = ent.saml().cloned() else {
        unreachable!("ent_of finds SAML ENTs only");
    };
    let (urls, skew, now) = (urls(state), state.sp.clock_skew, state.clock.now());
    let verified = super::verify::off_worker(state, move || {
        slo::verify_logout_request(&carried, &urls, &idp, skew, max, now)
    })
    .await
    .map_err(|e| Failure::saml(state, Some(ent), e))?;
    let ttl = (verified.remember_until - now).to_std().unwrap_or_default();
    let namespace = format!("saml-ent-logout:{}", ent.id);
    if !state
        .store
        .remember_once(&namespace, &verified.id, ttl)
        .await
        .map_err(|e| Failure::Page(e.into()))?
    {
        let e = SamlError::new(Check::Replay, "this LogoutRequest was already answered");
        return Err(Failure::saml(state, Some(ent), e));
    }
    let ended = flow::logout::by_ent(
        &state.deps(),
        &ent.id,
        Some(&verified.name_id),
        &verified.session_indexes,
    )
    .await
    .map_err(|e| Failure::Page(e.into()))?;
    tracing::info!(ent = %ent.id, sessions = ended.len(), "ENT single logout");
    Ok((ent, verified, ended))
}

/// Why a LogoutRequest got no LogoutResponse.
enum Failure {
    /// It was refused (traced): nothing ended.
    Saml(SamlError),
    /// The store failed.
    Page(PageError),
}

impl Failure {
    fn saml(state: &AppState, ent: Option<&EntConfig>, e: SamlError) -> Self {
        refused(state, ent, &e);
        Failure::Saml(e)
    }

    fn page(self) -> PageError {
        match self {
            Failure::Saml(e) => PageError::saml_logout(&e),
            Failure::Page(p) => p,
        }
    }
}

fn answer(
    state: &AppState,
    verified: &VerifiedLogout,
    destination: Option<&str>,
    ended: bool,
) -> LogoutAnswer {
    LogoutAnswer {
        issuer: state.sp.entity_id.clone(),
        destination: destination.map(str::to_string),
        in_response_to: verified.id.clone(),
        status: if ended {
            slo::STATUS_SUCCESS
        } else {
            slo::STATUS_REQUESTER
        },
        detail: (!ended).then_some(slo::STATUS_UNKNOWN_PRINCIPAL),
    }
}

/// `GET /saml/slo`: a LogoutRequest over HTTP-Redirect.
pub async fn redirect(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    let max = state.config.saml.max_message_bytes;
    let q = RedirectQuery::parse(query.as_deref().unwrap_or(""), "SAMLRequest")
        .map_err(|e| Failure::saml(&state, None, e).page())?;
    let xml = binding::decode_redirect(&q.message, max)
        .map_err(|e| Failure::saml(&state, None, e).page())?;
    let relay = q.relay_state.clone();
    front(&state, &headers, Carried::Redirect(q), &xml, relay).await
}

#[derive(Deserialize)]
pub struct SloForm {
    #[serde(rename = "SAMLRequest")]
    saml_request: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// `POST /saml/slo`: a LogoutRequest over HTTP-POST.
pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SloForm>,
) -> Result<Response, PageError> {
    if form
        .relay_state
        .as_ref()
        .is_some_and(|r| r.len() > binding::MAX_RELAY_STATE)
    {
        let e = SamlError::new(Check::Malformed, "RelayState is too long");
        return Err(Failure::saml(&state, None, e).page());
    }
    let xml = binding::decode_post(&form.saml_request, state.config.saml.max_message_bytes)
        .map_err(|e| Failure::saml(&state, None, e).page())?;
    front(
        &state,
        &headers,
        Carried::Post(xml.clone()),
        &xml,
        form.relay_state,
    )
    .await
}

/// The front channel: the user's browser brought the request, and takes the answer back to
/// the ENT (over its Redirect endpoint, else its POST one), or sees a page when the ENT
/// publishes neither.
async fn front(
    state: &AppState,
    headers: &HeaderMap,
    carried: Carried,
    xml: &str,
    relay: Option<String>,
) -> Result<Response, PageError> {
    let (ent, verified, ended) = ended_by(state, carried, xml).await.map_err(Failure::page)?;
    let secure = cookies::secure(&state.config);
    let browsers = cookies::session_id(headers, secure);
    let ours = browsers.is_some_and(|id| ended.iter().any(|s| s.id == id));
    let slo_of_ent = ent
        .saml()
        .map(|idp| idp.peer.slo.clone())
        .unwrap_or_default();
    let (key, now) = (&state.config.signing_key, state.clock.now());
    let logout_failed = |e: SamlError| PageError::saml_logout(&e);
    let mut resp = if let Some(location) = &slo_of_ent.redirect {
        let xml = slo::logout_response(
            &answer(state, &verified, Some(location), !ended.is_empty()),
            key,
            false,
            now,
        )
        .map_err(logout_failed)?;
        let url = slo::redirect_response_url(location, &xml, relay.as_deref(), key)
            .map_err(logout_failed)?;
        Redirect::to(&url).into_response()
    } else if let Some(location) = &slo_of_ent.post {
        let (a, key) = (
            answer(state, &verified, Some(location), !ended.is_empty()),
            key.clone(),
        );
        let signed =
            super::verify::off_worker(state, move || slo::logout_response(&a, &key, true, now))
                .await
                .map_err(logout_failed)?;
        let page = binding::post_form(location, "SAMLResponse", &signed, relay.as_deref());
        Html(page).into_response()
    } else {
        Html(pages::page(
            "Déconnexion",
            "<p>Vous êtes déconnecté de la passerelle. Vous pouvez fermer cette fenêtre.</p>",
        ))
        .into_response()
    };
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    if ours {
        if let Some(c) = cookies::clear_session(secure) {
            resp.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    Ok(resp)
}

/// `POST /saml/slo/soap`: a LogoutRequest in a SOAP envelope, from the ENT's server.
pub async fn soap(State(state): State<AppState>, body: String) -> Response {
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
    let (_, verified, ended) = match ended_by(&state, Carried::Soap(body.clone()), &body).await {
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
    let a = answer(&state, &verified, None, !ended.is_empty());
    let (key, now) = (state.config.signing_key.clone(), state.clock.now());
    match super::verify::off_worker(&state, move || slo::logout_response(&a, &key, true, now)).await
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
