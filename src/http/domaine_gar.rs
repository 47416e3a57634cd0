//! `GET /domaineGar?idENT=<b64>&idEtab=<b64>&idRessource=<ark>`: the entry point of every
//! médiacentre link. Authenticates the user at their ENT when the gateway has no session for
//! that ENT, applies the access rule, then sends the browser to the resource.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::app::AppState;
use crate::domain::{IdEnt, Refusal, ResourceId, Uai};
use crate::launch::{self, LaunchError};
use crate::session::{Launch, PendingTarget, Session};
use crate::trace::{Channel, TraceEvent};

use super::cookies;
use super::error::PageError;

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

fn refuse(
    state: &AppState,
    r: Refusal,
    ent: Option<&IdEnt>,
    subject: Option<String>,
    uai: Option<&Uai>,
    resource: Option<&ResourceId>,
) -> PageError {
    state.trace(TraceEvent::AccessRefused {
        ent: ent.cloned(),
        subject,
        uai: uai.cloned(),
        resource: resource.cloned(),
        reason: r.code(),
    });
    PageError::refusal(r)
}

pub async fn handle(
    State(state): State<AppState>,
    client: super::limits::Client,
    headers: HeaderMap,
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

    let Some(ent) = state.config.ents.get(&ent_id) else {
        return Err(refuse(
            &state,
            Refusal::UnknownEnt,
            Some(&ent_id),
            None,
            Some(&uai),
            Some(&resource_id),
        ));
    };
    if state.store.resource(&resource_id).await?.is_none() {
        return Err(refuse(
            &state,
            Refusal::UnknownResource,
            Some(&ent_id),
            None,
            Some(&uai),
            Some(&resource_id),
        ));
    }
    if state
        .store
        .school(&uai)
        .await?
        .is_none_or(|s| s.ent != ent_id)
    {
        return Err(refuse(
            &state,
            Refusal::UnknownSchool,
            Some(&ent_id),
            None,
            Some(&uai),
            Some(&resource_id),
        ));
    }

    let now = state.clock.now();
    if let Some(id) = cookies::session_id(&headers, cookies::secure(&state.config)) {
        if let Some(session) = state.store.get_session(&id).await? {
            if session.is_live(now) && session.ent == ent_id {
                return open_target(&state, session, &uai, &resource_id, None).await;
            }
        }
    }

    // No usable session: authenticate the user at their ENT first.
    super::login::start(
        &state,
        ent,
        super::login::Next::Open(PendingTarget {
            uai,
            resource: resource_id,
        }),
        client,
    )
    .await
}

/// Applies the access rule for `session` and sends the browser to the resource, saving the
/// launch in the session. `new_cookie` is set when the session was just created.
pub async fn open_target(
    state: &AppState,
    mut session: Session,
    uai: &Uai,
    resource_id: &ResourceId,
    new_cookie: Option<axum::http::HeaderValue>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let subject = launch::trace_subject(state, &session);
    let Some(resource) = state.store.resource(resource_id).await? else {
        return Err(refuse(
            state,
            Refusal::UnknownResource,
            Some(&session.ent),
            Some(subject),
            Some(uai),
            Some(resource_id),
        ));
    };
    let (grant, _person) = match launch::check_access(state, &session, uai, &resource, now).await {
        Ok(ok) => ok,
        Err(LaunchError::Refused(r)) => {
            let err = refuse(
                state,
                r,
                Some(&session.ent),
                Some(subject),
                Some(uai),
                Some(resource_id),
            );
            return Ok(with_cookie(err.into_response(), new_cookie));
        }
        Err(LaunchError::Store(e)) => return Err(e.into()),
    };
    session.record_launch(Launch {
        resource: resource.id.clone(),
        uai: uai.clone(),
        profile: grant.profile(),
        at: now,
    });
    let remaining = (session.expires_at - now).to_std().unwrap_or_default();
    state.store.put_session(&session, remaining).await?;
    state.trace(TraceEvent::AccessGranted {
        ent: session.ent.clone(),
        subject,
        uai: uai.clone(),
        profile: grant.profile(),
        resource: resource.id.clone(),
        subscription: grant.subscription_id().to_string(),
        channel: Channel::Web,
    });
    let mut resp = (
        StatusCode::FOUND,
        [(header::LOCATION, resource.access_url.clone())],
    )
        .into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(with_cookie(resp, new_cookie))
}

fn with_cookie(mut resp: Response, cookie: Option<axum::http::HeaderValue>) -> Response {
    if let Some(c) = cookie {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}
