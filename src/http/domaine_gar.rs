//! `GET /domaineGar?idENT=<b64>&idEtab=<b64>&idRessource=<ark>`: the entry point of every
//! médiacentre link. Authenticates the user at their ENT when the gateway has no session for
//! that ENT, asks the ENT who is at the browser when its session is older than the ENT's
//! `confirm_person_after` (a shared computer changes hands without the ENT telling us),
//! applies the access rule, then sends the browser to the resource.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Response;
use base64::Engine;

use crate::app::AppState;
use crate::domain::{IdEnt, Refusal, ResourceId, Uai};
use crate::flow;
use crate::session::{PendingTarget, Session};

use super::error::PageError;
use super::party::LiveSession;

fn b64_param(params: &HashMap<String, String>, name: &'static str) -> Result<String, PageError> {
    let raw = params
        .get(name)
        .ok_or_else(|| PageError::bad_request("bad_link", format!("domaineGar: missing {name}")))?;
    let trimmed = raw.trim().trim_end_matches('=');
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed))
        .map_err(|_| {
            PageError::bad_request("bad_link", format!("domaineGar: {name} is not base64"))
        })?;
    String::from_utf8(bytes)
        .map_err(|_| PageError::bad_request("bad_link", format!("domaineGar: {name} is not UTF-8")))
}

pub async fn handle(
    State(state): State<AppState>,
    client: super::limits::Client,
    LiveSession(live): LiveSession,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let ent_id: IdEnt = b64_param(&params, "idENT")?
        .parse()
        .map_err(|e| PageError::bad_request("bad_link", format!("domaineGar: idENT: {e}")))?;
    let uai: Uai = b64_param(&params, "idEtab")?
        .parse()
        .map_err(|e| PageError::bad_request("bad_link", format!("domaineGar: idEtab: {e}")))?;
    let resource_id: ResourceId = params
        .get("idRessource")
        .ok_or_else(|| PageError::bad_request("bad_link", "domaineGar: missing idRessource"))?
        .parse()
        .map_err(|e| PageError::bad_request("bad_link", format!("domaineGar: idRessource: {e}")))?;

    let ent = state.config.ents.get(&ent_id);
    flow::access::check_link(&state.deps(), &ent_id, ent.is_some(), &uai, &resource_id).await?;
    let Some(ent) = ent else {
        return Err(PageError::refusal(Refusal::UnknownEnt));
    };

    let next = super::login::Next::Open(PendingTarget {
        uai: uai.clone(),
        resource: resource_id.clone(),
    });
    match live {
        Some(session) if session.ent == ent_id => {
            if session.confirmed_within(ent.confirm_person_after, state.clock.now()) {
                open_target(&state, session, &uai, &resource_id).await
            } else {
                // The ENT says who is at the browser now; the launch goes on as that person.
                super::login::confirm(&state, ent, next, client).await
            }
        }
        // No usable session: authenticate the user at their ENT first.
        _ => super::login::start(&state, ent, next, client).await,
    }
}

/// Opens the resource in `session` (a live session of the link's ENT): the launch is recorded
/// and the browser sent to the resource.
async fn open_target(
    state: &AppState,
    session: Session,
    uai: &Uai,
    resource_id: &ResourceId,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let launched =
        flow::access::launch(&state.deps(), session, false, uai, resource_id, now).await?;
    Ok(super::login::to_resource(&launched.access_url))
}
