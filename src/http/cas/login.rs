//! `GET {prefix}/login?service=URL[&renew=true][&gateway=true]`: a service ticket for a
//! registered service, appended to it (`?ticket=` or `&ticket=`).
//!
//! The service must be registered (an exact URL or a prefix) for a resource: otherwise a page,
//! never a redirect. A user with a gateway session gets a ticket when the access rule grants
//! the resource (in the school of their médiacentre launch, the school chosen at the ENT
//! chooser, or the first of their schools that grants it); a refusal is a French page and no
//! ticket. A user without a session chooses their ENT ("application first"); with
//! `gateway=true` they go back to the service without a ticket instead. `renew=true` has the
//! user authenticate at the ENT again before any ticket (and overrides `gateway`). A session the
//! ENT has not confirmed lately is confirmed first (passively), as for SAML and OIDC.

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{flag, params, traced};
use crate::app::AppState;
use crate::cas::service::with_ticket;
use crate::cas::{ticket, CasService, TicketRecord};
use crate::config::ProviderConfig;
use crate::domain::Uai;
use crate::flow::{self, FlowError};
use crate::http::chooser::{self, Pending};
use crate::http::error::PageError;
use crate::http::limits::Client;
use crate::http::login::{self, Next};
use crate::oidc::op::records::{key_of, new_secret};
use crate::session::{CasParty, Session};
use crate::trace::Channel;

/// Store kind of a `renew` login in progress.
const KIND_RENEW: &str = "cas-renew";
/// The parameter that carries it back to `/login` (the gateway's own, not the protocol's).
const RENEWED: &str = "renewed";

/// A `renew=true` login the gateway started at the ENT: only a session opened after it, other
/// than the one the request came with, answers it.
#[derive(Debug, Serialize, Deserialize)]
struct Renewal {
    previous_session: Option<String>,
    started_at: DateTime<Utc>,
}

fn redirect(to: &str) -> Response {
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, to.to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
    )
        .into_response()
}

fn unknown_service(state: &AppState, cause: &str) -> Response {
    traced(state, None, "cas.service");
    PageError {
        status: StatusCode::FORBIDDEN,
        code: "cas.service",
        title: "Application inconnue",
        message: "L'application qui vous a dirigé ici n'est pas enregistrée auprès de la passerelle : aucune connexion ne lui est transmise. Ouvrez vos ressources depuis le médiacentre de votre ENT ; si le problème persiste, contactez l'éditeur de la ressource en donnant la référence ci-dessous.",
        cause: cause.to_string(),
    }
    .into_response()
}

pub async fn handle(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    RawQuery(raw): RawQuery,
) -> Response {
    let raw = raw.unwrap_or_default();
    let Some(p) = params(&raw) else {
        return PageError::bad_request("cas.request", "a CAS login parameter is repeated")
            .into_response();
    };
    let Some(service) = p.get("service") else {
        return PageError::bad_request(
            "cas.request",
            "CAS login without a service: open resources from the médiacentre",
        )
        .into_response();
    };
    let Some((provider, registered)) = state.config.cas_service(service) else {
        return unknown_service(
            &state,
            "CAS login for a service no provider registered ([[providers.<key>.cas.services]])",
        );
    };
    let (renew, gateway) = (flag(&p, "renew"), flag(&p, "gateway") && !flag(&p, "renew"));
    let now = state.clock.now();
    let session = match crate::http::party::live_session(&state, &headers).await {
        Ok(s) => s,
        Err(e) => return PageError::from(e).into_response(),
    };
    let renewed = if renew {
        match renewal(&state, &p, session.as_ref()).await {
            Ok(Some(())) => true,
            Ok(None) => return start_renewal(&state, &raw, session.as_ref()).await,
            Err(e) => return e.into_response(),
        }
    } else {
        false
    };
    let Some(session) = session else {
        if gateway {
            return redirect(service);
        }
        return chooser::redirect(&Pending::Cas(raw));
    };
    if !renewed && !login::confirmed_for_use(&state, &session, now) {
        let Some(ent) = state.config.ents.get(&session.ent) else {
            return PageError::no_session("the session's ENT is no longer configured")
                .into_response();
        };
        let resume = Next::Resume(format!("{}?{raw}", state.config.cas.path("/login")));
        return login::confirm(&state, ent, resume, client)
            .await
            .unwrap_or_else(IntoResponse::into_response);
    }
    let asked = match p.get("uai").map(|u| u.parse::<Uai>()) {
        None => None,
        Some(Ok(u)) => Some(u),
        Some(Err(_)) => {
            return PageError::bad_request("cas.uai", "uai is not a school code").into_response()
        }
    };
    let device = crate::audience::DeviceClass::from_user_agent(
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    );
    let facts = Facts {
        service,
        provider,
        registered,
        asked: asked.as_ref(),
        device,
    };
    match issue(&state, &session, facts, now).await {
        Ok(to) => redirect(&to),
        Err(e) => e.into_response(),
    }
}

/// What a ticket is issued from.
struct Facts<'a> {
    service: &'a str,
    provider: &'a ProviderConfig,
    registered: &'a CasService,
    asked: Option<&'a Uai>,
    device: crate::audience::DeviceClass,
}

/// Runs the access rule and, when it grants, issues the ticket and remembers the service for
/// the session's single logout; answers where the browser goes.
async fn issue(
    state: &AppState,
    session: &Session,
    f: Facts<'_>,
    now: DateTime<Utc>,
) -> Result<String, PageError> {
    let Some(resource) = f
        .provider
        .resources
        .iter()
        .find(|r| r.id == f.registered.resource)
    else {
        return Err(PageError::refusal(crate::domain::Refusal::UnknownResource));
    };
    let d = state.deps();
    let grant =
        match flow::access::authorize(&d, session, resource, f.asked, Channel::Web, now).await {
            Ok(g) => g,
            Err(FlowError::Refused(r)) => return Err(PageError::refusal(r)),
            Err(FlowError::Store(e)) => return Err(e.into()),
        };
    let record = TicketRecord {
        service: f.service.to_string(),
        provider: f.provider.key.clone(),
        resource: resource.id.clone(),
        ent: session.ent.clone(),
        person_id: session.person_id.clone(),
        uai: grant.uai().clone(),
        session_ref: session.public_ref(),
        device: f.device,
        issued_at: now,
    };
    let st = ticket::issue(state.store.as_ref(), &record, state.config.cas.ticket_ttl).await?;
    let party = CasParty {
        provider: f.provider.key.clone(),
        logout_url: f.registered.logout_target(f.service).to_string(),
        ticket: st.as_str().to_string(),
    };
    flow::logout::remember(&d, session, flow::logout::Party::Cas(party), now).await?;
    Ok(with_ticket(f.service, &st))
}

/// A `renew=true` request back from its login: `Some` when the login the gateway started for
/// it (`renewed`, consumed) has opened the current session.
async fn renewal(
    state: &AppState,
    p: &HashMap<String, String>,
    session: Option<&Session>,
) -> Result<Option<()>, PageError> {
    let Some(id) = p.get(RENEWED) else {
        return Ok(None);
    };
    let Some(value) = state.store.take_token(KIND_RENEW, &key_of(id)).await? else {
        return Ok(None);
    };
    let Ok(r) = serde_json::from_value::<Renewal>(value) else {
        return Ok(None);
    };
    let fresh = session.is_some_and(|s| {
        Some(s.public_ref()) != r.previous_session && s.authenticated_at >= r.started_at
    });
    Ok(fresh.then_some(()))
}

/// Starts the fresh login `renew=true` asks for: at the session's ENT (`ForceAuthn`,
/// `prompt=login`), or through the ENT chooser when there is no session; it comes back to this
/// `/login` with the renewal's id.
async fn start_renewal(state: &AppState, raw: &str, session: Option<&Session>) -> Response {
    let id = new_secret();
    let renewal = Renewal {
        previous_session: session.map(Session::public_ref),
        started_at: state.clock.now(),
    };
    let stored = match serde_json::to_value(&renewal) {
        Ok(v) => {
            state
                .store
                .put_token(KIND_RENEW, &key_of(&id), &v, state.config.saml.request_ttl)
                .await
        }
        Err(e) => Err(crate::store::StoreError::Corrupt(format!(
            "CAS renewal record: {e}"
        ))),
    };
    if let Err(e) = stored {
        return PageError::from(e).into_response();
    }
    let mut q: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
        .filter(|(k, _)| k != RENEWED)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    q.push((RENEWED.to_string(), id));
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(q)
        .finish();
    let Some(session) = session else {
        return chooser::redirect(&Pending::Cas(query));
    };
    let Some(ent) = state.config.ents.get(&session.ent) else {
        return PageError::no_session("the session's ENT is no longer configured").into_response();
    };
    tracing::info!("CAS login with renew=true: the user authenticates again at their ENT");
    let resume = Next::Resume(format!("{}?{query}", state.config.cas.path("/login")));
    login::start_forced(state, ent, resume)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}
