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
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use crate::app::AppState;
use crate::flow;
use crate::saml::binding::{self, RedirectQuery};
use crate::saml::metadata::{SloEndpoints, BINDING_POST, BINDING_REDIRECT, BINDING_SOAP};
use crate::saml::slo::{self, Carried, LogoutAnswer, Peer, SloUrls, VerifiedLogout};
use crate::saml::{Check, SamlError};
use crate::session::Session;
use crate::trace::TraceEvent;

use super::cookies;
use super::error::PageError;
use super::pages;

pub const FRONT_PATH: &str = "/saml/slo";
pub const SOAP_PATH: &str = "/saml/slo/soap";
pub const IDP_REDIRECT_PATH: &str = "/idp/profile/SAML2/Redirect/SLO";
pub const IDP_POST_PATH: &str = "/idp/profile/SAML2/POST/SLO";
pub const IDP_SOAP_PATH: &str = "/idp/profile/SAML2/SOAP/SLO";

/// Which side of the gateway a LogoutRequest comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// From an ENT, to the gateway's SP.
    Ent,
    /// From a provider, to the gateway's IdP.
    Provider,
}

impl Side {
    fn peer_kind(self) -> &'static str {
        match self {
            Side::Ent => "ent",
            Side::Provider => "provider",
        }
    }

    fn urls(self, state: &AppState) -> SloUrls {
        match self {
            Side::Ent => SloUrls {
                redirect: state.config.url(FRONT_PATH),
                post: state.config.url(FRONT_PATH),
                soap: state.config.url(SOAP_PATH),
            },
            Side::Provider => SloUrls {
                redirect: state.config.url(IDP_REDIRECT_PATH),
                post: state.config.url(IDP_POST_PATH),
                soap: state.config.url(IDP_SOAP_PATH),
            },
        }
    }

    /// The gateway's entityID on this side (the LogoutResponse's Issuer).
    fn issuer(self, state: &AppState) -> String {
        match self {
            Side::Ent => state.sp.entity_id.clone(),
            Side::Provider => state.idp.entity_id.clone(),
        }
    }
}

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

/// The peer that sent a LogoutRequest: its name for traces, its keys, its logout endpoints.
struct Sender<'s> {
    name: String,
    /// The ENT, when an ENT sent it.
    ent: Option<&'s crate::domain::IdEnt>,
    /// The peer as its metadata says now.
    who: Who,
}

enum Who {
    Ent(std::sync::Arc<crate::saml::sp::EntIdp>),
    Provider(std::sync::Arc<crate::saml::idp::ProviderSp>),
}

impl Sender<'_> {
    fn peer(&self) -> Peer<'_> {
        match &self.who {
            Who::Ent(idp) => Peer::ent(idp),
            Who::Provider(sp) => Peer::provider(sp),
        }
    }

    fn slo(&self) -> &SloEndpoints {
        match &self.who {
            Who::Ent(idp) => &idp.peer.slo,
            Who::Provider(sp) => &sp.slo,
        }
    }
}

fn sender<'s>(state: &'s AppState, side: Side, issuer: &str) -> Result<Sender<'s>, SamlError> {
    let unknown = || {
        SamlError::new(
            Check::Issuer,
            "the LogoutRequest's Issuer is not a configured peer on this side",
        )
    };
    match side {
        Side::Ent => {
            let (ent, idp) = state
                .config
                .ents
                .values()
                .find_map(|e| {
                    e.saml()
                        .filter(|i| i.peer.entity_id == issuer)
                        .map(|i| (e, i))
                })
                .ok_or_else(unknown)?;
            Ok(Sender {
                name: ent.id.to_string(),
                ent: Some(&ent.id),
                who: Who::Ent(idp),
            })
        }
        Side::Provider => {
            let provider = state
                .config
                .provider_by_entity_id(issuer)
                .ok_or_else(unknown)?;
            let sp = provider.sp().ok_or_else(unknown)?;
            Ok(Sender {
                name: provider.key.clone(),
                ent: None,
                who: Who::Provider(sp),
            })
        }
    }
}

/// Why a LogoutRequest got no LogoutResponse.
enum Failure {
    /// It was refused (traced): nothing ended.
    Saml(SamlError),
    /// The store failed.
    Page(PageError),
}

impl Failure {
    fn saml(state: &AppState, side: Side, peer: Option<String>, e: SamlError) -> Self {
        state.trace(TraceEvent::ProtocolRefused {
            peer_kind: side.peer_kind(),
            peer,
            protocol: "saml",
            check: e.check.code(),
        });
        Failure::Saml(e)
    }

    fn page(self) -> PageError {
        match self {
            Failure::Saml(e) => PageError::saml_logout(&e),
            Failure::Page(p) => p,
        }
    }
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

fn answer(
    state: &AppState,
    side: Side,
    verified: &VerifiedLogout,
    destination: Option<&str>,
    ended: bool,
) -> LogoutAnswer {
    LogoutAnswer {
        issuer: side.issuer(state),
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

#[derive(Deserialize)]
pub struct SloForm {
    #[serde(rename = "SAMLRequest")]
    saml_request: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// `GET /saml/slo`: an ENT's LogoutRequest over HTTP-Redirect.
pub async fn redirect(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, PageError> {
    redirect_to(&state, Side::Ent, &headers, query).await
}

/// `POST /saml/slo`: an ENT's LogoutRequest over HTTP-POST.
pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SloForm>,
) -> Result<Response, PageError> {
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
    redirect_to(&state, Side::Provider, &headers, query).await
}

/// `POST /idp/profile/SAML2/POST/SLO`: a provider's LogoutRequest over HTTP-POST.
pub async fn idp_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SloForm>,
) -> Result<Response, PageError> {
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
    let xml = binding::decode_post(&form.saml_request, state.config.saml.max_message_bytes)
        .map_err(|e| Failure::saml(state, side, None, e).page())?;
    let carried = Carried::Post(xml.clone());
    front(state, side, headers, carried, &xml, form.relay_state).await
}

/// The front channel: the user's browser brought the request, and takes the answer back to
/// the peer (over its Redirect endpoint, else its POST one), or sees a page when the peer
/// publishes neither.
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
    let (key, now) = (&state.config.signing_key, state.clock.now());
    let ended = !done.ended.is_empty();
    let logout_failed = |e: SamlError| PageError::saml_logout(&e);
    let mut resp = if let Some(location) = &done.sender.slo().redirect {
        let a = answer(state, side, &done.verified, Some(location), ended);
        let xml = slo::logout_response(&a, key, false, now).map_err(logout_failed)?;
        let url = slo::redirect_response_url(location, &xml, relay.as_deref(), key)
            .map_err(logout_failed)?;
        Redirect::to(&url).into_response()
    } else if let Some(location) = &done.sender.slo().post {
        let a = answer(state, side, &done.verified, Some(location), ended);
        let key = key.clone();
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
    let a = answer(state, side, &done.verified, None, !done.ended.is_empty());
    let (key, now) = (state.config.signing_key.clone(), state.clock.now());
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
