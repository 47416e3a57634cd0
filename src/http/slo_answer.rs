//! The SAML single logout endpoints' shared parts, beneath `slo` and `slo_to_ent`: the
//! gateway's logout paths, which side a message comes to, the peer that sent it (its keys and
//! logout endpoints), why a request got no answer, and the signed LogoutResponse that sends
//! the browser back to a peer.

use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::app::AppState;
use crate::saml::binding;
use crate::saml::metadata::SloEndpoints;
use crate::saml::slo::{self, LogoutAnswer, Peer, SloUrls};
use crate::saml::{Check, SamlError};
use crate::trace::TraceEvent;

use super::error::PageError;
use super::pages;
pub const FRONT_PATH: &str = "/saml/slo";
pub const SOAP_PATH: &str = "/saml/slo/soap";
pub const IDP_REDIRECT_PATH: &str = "/idp/profile/SAML2/Redirect/SLO";
pub const IDP_POST_PATH: &str = "/idp/profile/SAML2/POST/SLO";
pub const IDP_SOAP_PATH: &str = "/idp/profile/SAML2/SOAP/SLO";

/// Which side of the gateway a LogoutRequest comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    /// From an ENT, to the gateway's SP.
    Ent,
    /// From a provider, to the gateway's IdP.
    Provider,
}

impl Side {
    pub(super) fn peer_kind(self) -> &'static str {
        match self {
            Side::Ent => "ent",
            Side::Provider => "provider",
        }
    }

    pub(super) fn urls(self, state: &AppState) -> SloUrls {
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
    pub(super) fn issuer(self, state: &AppState) -> String {
        match self {
            Side::Ent => state.sp.entity_id.clone(),
            Side::Provider => state.idp.entity_id.clone(),
        }
    }
}

/// The peer that sent a LogoutRequest: its name for traces, its keys, its logout endpoints.
pub(super) struct Sender<'s> {
    pub name: String,
    /// The ENT, when an ENT sent it.
    pub ent: Option<&'s crate::domain::IdEnt>,
    /// The peer as its metadata says now.
    who: Who,
}

enum Who {
    Ent(std::sync::Arc<crate::saml::sp::EntIdp>),
    Provider(std::sync::Arc<crate::saml::idp::ProviderSp>),
}

impl Sender<'_> {
    pub(super) fn peer(&self) -> Peer<'_> {
        match &self.who {
            Who::Ent(idp) => Peer::ent(idp),
            Who::Provider(sp) => Peer::provider(sp),
        }
    }

    pub(super) fn slo(&self) -> &SloEndpoints {
        match &self.who {
            Who::Ent(idp) => &idp.peer.slo,
            Who::Provider(sp) => &sp.slo,
        }
    }
}

pub(super) fn sender<'s>(
    state: &'s AppState,
    side: Side,
    issuer: &str,
) -> Result<Sender<'s>, SamlError> {
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
pub(super) enum Failure {
    /// It was refused (traced): nothing ended.
    Saml(SamlError),
    /// The store failed.
    Page(PageError),
}

impl Failure {
    pub(super) fn saml(state: &AppState, side: Side, peer: Option<String>, e: SamlError) -> Self {
        state.trace(TraceEvent::ProtocolRefused {
            peer_kind: side.peer_kind(),
            peer,
            protocol: "saml",
            check: e.check.code(),
        });
        Failure::Saml(e)
    }

    pub(super) fn page(self) -> PageError {
        match self {
            Failure::Saml(e) => PageError::saml_logout(&e),
            Failure::Page(p) => p,
        }
    }
}

/// What came of a LogoutRequest, for its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The gateway had no session of that login: nothing ended.
    Unknown,
    /// The session ended, and everyone asked logged out.
    Ended,
    /// The session ended, but the ENT, asked in turn, did not log its user out.
    Partial,
}

pub(super) fn answer(
    state: &AppState,
    side: Side,
    in_response_to: &str,
    destination: Option<&str>,
    outcome: Outcome,
) -> LogoutAnswer {
    let (status, detail) = match outcome {
        Outcome::Ended => (slo::STATUS_SUCCESS, None),
        Outcome::Partial => (slo::STATUS_SUCCESS, Some(slo::STATUS_PARTIAL_LOGOUT)),
        Outcome::Unknown => (slo::STATUS_REQUESTER, Some(slo::STATUS_UNKNOWN_PRINCIPAL)),
    };
    LogoutAnswer {
        issuer: side.issuer(state),
        destination: destination.map(str::to_string),
        in_response_to: in_response_to.to_string(),
        status,
        detail,
    }
}

/// A LogoutRequest's answer: the request it answers, what came of it, the peer's RelayState.
pub(super) struct Answered<'a> {
    pub in_response_to: &'a str,
    pub outcome: Outcome,
    pub relay: Option<&'a str>,
}

/// Where the browser goes next in a logout: to a peer with the gateway's LogoutResponse (or,
/// on the way to the ENT, its LogoutRequest), or nowhere.
pub(super) enum Next {
    /// The peer's Redirect endpoint, the signed query in the URL.
    Redirect(String),
    /// The peer's POST endpoint, with the signed message in the form field `field`
    /// (`SAMLResponse` or `SAMLRequest`).
    Post {
        location: String,
        field: &'static str,
        signed: String,
        relay: Option<String>,
    },
    /// The peer publishes neither: a page says the user is logged out.
    Done,
}

impl Next {
    pub(super) fn into_response(self) -> Response {
        let mut resp = match self {
            Next::Redirect(url) => Redirect::to(&url).into_response(),
            Next::Post {
                location,
                field,
                signed,
                relay,
            } => Html(binding::post_form(
                &location,
                field,
                &signed,
                relay.as_deref(),
            ))
            .into_response(),
            Next::Done => Html(pages::page(
                "Déconnexion",
                "<p>Vous êtes déconnecté de la passerelle. Vous pouvez fermer cette fenêtre.</p>",
            ))
            .into_response(),
        };
        resp.headers_mut().insert(
            header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
        resp
    }
}

/// The gateway's signed LogoutResponse to the peer whose logout endpoints are `slo` (over its
/// Redirect endpoint, else its POST one), or a page when the peer publishes neither.
pub(super) async fn next_step(
    state: &AppState,
    side: Side,
    slo: &SloEndpoints,
    a: Answered<'_>,
) -> Result<Next, PageError> {
    let (key, now) = (&state.config.signing_key.get(), state.clock.now());
    let logout_failed = |e: SamlError| PageError::saml_logout(&e);
    if let Some(location) = &slo.redirect {
        let answer = answer(state, side, a.in_response_to, Some(location), a.outcome);
        let xml = slo::logout_response(&answer, key, false, now).map_err(logout_failed)?;
        let url =
            slo::redirect_response_url(location, &xml, a.relay, key).map_err(logout_failed)?;
        Ok(Next::Redirect(url))
    } else if let Some(location) = &slo.post {
        let answer = answer(state, side, a.in_response_to, Some(location), a.outcome);
        let key = key.clone();
        let signed = super::verify::off_worker(state, move || {
            slo::logout_response(&answer, &key, true, now)
        })
        .await
        .map_err(logout_failed)?;
        Ok(Next::Post {
            location: location.clone(),
            field: "SAMLResponse",
            signed,
            relay: a.relay.map(str::to_string),
        })
    } else {
        Ok(Next::Done)
    }
}

/// Sends the browser back to the peer whose logout endpoints are `slo` ([`next_step`]).
pub(super) async fn reply(
    state: &AppState,
    side: Side,
    slo: &SloEndpoints,
    a: Answered<'_>,
) -> Result<Response, PageError> {
    Ok(next_step(state, side, slo, a).await?.into_response())
}

/// A peer's LogoutResponse (`carried`, whose unverified XML is `xml`) to one of the gateway's
/// LogoutRequests, at `destination` on `side`: the peer its Issuer names, verified with that
/// peer's keys off the async workers (refusals traced). Answers the peer's name and what the
/// response says; the caller checks `InResponseTo` against what it kept.
pub(super) async fn verified_response(
    state: &AppState,
    side: Side,
    carried: slo::Carried,
    xml: &str,
    destination: String,
) -> Result<(String, crate::saml::slo_back::Answered), PageError> {
    let max = state.config.saml.max_message_bytes;
    let refused = |peer: Option<String>, e: SamlError| Failure::saml(state, side, peer, e).page();
    let issuer = slo::peek_issuer(xml, max).map_err(|e| refused(None, e))?;
    let from = sender(state, side, &issuer).map_err(|e| refused(None, e))?;
    let name = from.name.clone();
    let (skew, now) = (state.sp.clock_skew, state.clock.now());
    let (entity_id, certs, algorithms) = (
        from.peer().entity_id.to_string(),
        from.peer().certs.to_vec(),
        from.peer().algorithms.clone(),
    );
    let verified = super::verify::off_worker(state, move || {
        let peer = Peer {
            entity_id: &entity_id,
            certs: &certs,
            algorithms: &algorithms,
        };
        crate::saml::slo_back::verify_response(&carried, &destination, &peer, skew, max, now)
    })
    .await
    .map_err(|e| refused(Some(name.clone()), e))?;
    Ok((name, verified))
}
