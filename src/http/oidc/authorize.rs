//! `/oidc/authorize` (alias `/oidc/oidcAuthorize`): the authorization code flow.
//!
//! The client and its redirect URI are checked first (a page, never a redirect, when either is
//! wrong); then the request (code only, `openid` scope, PKCE S256, the mandatory
//! `idRessource`). A user with a gateway session gets a code when the access rule grants the
//! resource in the school of their médiacentre launch, in the school they chose, or else in
//! the first of their schools that grants it; a user without one chooses their ENT first
//! ("application first", see `http::chooser`). A refused access answers `access_denied`: no code.

use std::collections::HashMap;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use url::Url;

use super::{params, traced};
use crate::app::AppState;
use crate::config::ProviderConfig;
use crate::domain::{Resource, ResourceId, Uai};
use crate::flow::{self, FlowError};
use crate::http::error::PageError;
use crate::http::limits::Client;
use crate::http::login::{self, Next};
use crate::oidc::op::client::{ApplicationType, OidcClient};
use crate::oidc::op::records::{check_challenge, new_secret, CodeRecord, GrantFacts};
use crate::oidc::op::service;
use crate::oidc::{ErrorCode, OidcError};
use crate::session::{RelyingParty, Session};
use crate::trace::Channel;

const SCOPES: [&str; 3] = ["openid", "scope.gar", "offline_access"];

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    RawQuery(q): RawQuery,
) -> Response {
    handle(&state, &headers, client, q.as_deref().unwrap_or("")).await
}

pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Client,
    body: String,
) -> Response {
    handle(&state, &headers, client, &body).await
}

/// Where errors go once the redirect URI is trusted.
struct Reply<'a> {
    redirect_uri: &'a str,
    state_param: Option<&'a str>,
    issuer: String,
}

impl Reply<'_> {
    fn to(&self, extra: &[(&str, &str)]) -> Response {
        let mut u = match Url::parse(self.redirect_uri) {
            Ok(u) => u,
            Err(_) => {
                return PageError::bad_request(
                    "oidc.redirect_uri",
                    "unparsable registered redirect URI",
                )
                .into_response()
            }
        };
        {
            let mut q = u.query_pairs_mut();
            for (k, v) in extra {
                q.append_pair(k, v);
            }
            if let Some(s) = self.state_param {
                q.append_pair("state", s);
            }
            // RFC 9207: tells the client which issuer answered (against mix-up attacks).
            q.append_pair("iss", &self.issuer);
        }
        (
            StatusCode::FOUND,
            [
                (header::LOCATION, u.to_string()),
                (header::CACHE_CONTROL, "no-store".into()),
            ],
        )
            .into_response()
    }

    fn error(&self, state: &AppState, provider: &str, e: &OidcError) -> Response {
        traced(state, Some(provider), e);
        tracing::warn!(check = e.check, error = e.error.code(), provider, cause = %e.description, "oidc authorization refused");
        self.to(&[
            ("error", e.error.code()),
            ("error_description", &e.description),
        ])
    }
}

async fn handle(state: &AppState, headers: &HeaderMap, caller: Client, raw: &str) -> Response {
    let p = match params(raw) {
        Ok(p) => p,
        Err(e) => return page(state, None, &e),
    };
    let Some((provider, client)) = p
        .get("client_id")
        .and_then(|id| state.config.oidc_client(id))
    else {
        return page(
            state,
            None,
            &OidcError::new(
                ErrorCode::InvalidRequest,
                "oidc.client",
                "unknown or missing client_id",
            ),
        );
    };
    let Some(redirect_uri) = p.get("redirect_uri").filter(|u| client.redirect_allowed(u)) else {
        return page(
            state,
            Some(&provider.key),
            &OidcError::new(
                ErrorCode::InvalidRequest,
                "oidc.redirect_uri",
                "redirect_uri missing or not registered for this client",
            ),
        );
    };
    let reply = Reply {
        redirect_uri,
        state_param: p.get("state").map(String::as_str),
        issuer: state.config.oidc_issuer(),
    };
    let checked = match check_request(&p, provider, client) {
        Ok(c) => c,
        Err(e) => return reply.error(state, &provider.key, &e),
    };
    let now = state.clock.now();
    let session = match crate::http::party::live_session(state, headers).await {
        Ok(s) => s,
        Err(e) => return PageError::from(e).into_response(),
    };
    // OpenID Connect Core §3.1.2.6: with prompt=none, a login that would show something is
    // answered `login_required` at once.
    let login_required = |why: &str| {
        let e = OidcError::new(ErrorCode::LoginRequired, "oidc.no_session", why);
        reply.error(state, &provider.key, &e)
    };
    let Some(session) = session else {
        if prompt_none(&p) {
            return login_required("no gateway session and prompt=none");
        }
        return crate::http::chooser::redirect(&crate::http::chooser::Pending::Oidc(
            raw.to_string(),
        ));
    };
    if !login::confirmed_for_use(state, &session, now) {
        // A shared computer may have changed hands since the ENT last said who is here: the
        // ENT is asked (passively), and the request comes back here as the person it names.
        if prompt_none(&p) {
            return login_required(
                "the gateway session's person must be confirmed by the ENT and prompt=none",
            );
        }
        let Some(ent) = state.config.ents.get(&session.ent) else {
            return PageError::no_session("the session's ENT is no longer configured")
                .into_response();
        };
        let resume = Next::Resume(format!("/oidc/authorize?{raw}"));
        return login::confirm(state, ent, resume, caller)
            .await
            .unwrap_or_else(IntoResponse::into_response);
    }
    let device = crate::audience::DeviceClass::from_user_agent(
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    );
    match grant(state, &session, provider, client, &checked, device, now).await {
        Ok(code) => reply.to(&[("code", &code)]),
        Err(Denied::Refused(e)) => reply.error(state, &provider.key, &e),
        Err(Denied::Page(e)) => e.into_response(),
    }
}

/// OpenID Connect Core §3.1.2.1: `prompt=none`, nothing may be shown to the user.
fn prompt_none(p: &HashMap<String, String>) -> bool {
    p.get("prompt")
        .is_some_and(|v| v.split(' ').any(|x| x == "none"))
}

fn page(state: &AppState, provider: Option<&str>, e: &OidcError) -> Response {
    traced(state, provider, e);
    PageError::oidc_request(e).into_response()
}

/// What a well-formed request asks for.
struct Checked {
    resource: Resource,
    scope: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    uai: Option<Uai>,
    redirect_uri: String,
}

fn check_request(
    p: &HashMap<String, String>,
    provider: &ProviderConfig,
    client: &OidcClient,
) -> Result<Checked, OidcError> {
    let req = |check, d: &str| OidcError::new(ErrorCode::InvalidRequest, check, d);
    if p.get("response_type").map(String::as_str) != Some("code") {
        return Err(OidcError::new(
            ErrorCode::UnsupportedResponseType,
            "oidc.response_type",
            "only response_type=code is offered",
        ));
    }
    let scope = p.get("scope").cloned().unwrap_or_default();
    let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    if !scopes.contains(&"openid") || scopes.iter().any(|s| !SCOPES.contains(s)) {
        return Err(OidcError::new(
            ErrorCode::InvalidScope,
            "oidc.scope",
            "scope must include openid and may add scope.gar, offline_access",
        ));
    }
    let code_challenge = match p.get("code_challenge") {
        Some(c) => {
            check_challenge(c, p.get("code_challenge_method").map(String::as_str))?;
            Some(c.clone())
        }
        None if client.needs_pkce() => {
            return Err(req(
                "oidc.pkce",
                "this client must send a PKCE code_challenge (S256); a confidential client that cannot is registered with require_pkce = false",
            ))
        }
        None => None,
    };
    if p.get("nonce").is_some_and(|n| n.len() > 512)
        || p.get("state").is_some_and(|s| s.len() > 2048)
    {
        return Err(req("oidc.parameter_length", "nonce or state is too long"));
    }
    let id: ResourceId = p
        .get("idRessource")
        .ok_or_else(|| req("oidc.id_ressource", "idRessource is mandatory"))?
        .parse()
        .map_err(|_| req("oidc.id_ressource", "idRessource is not an ARK"))?;
    let resource = provider
        .resources
        .iter()
        .find(|r| r.id == id)
        .cloned()
        .ok_or_else(|| {
            req(
                "oidc.id_ressource",
                "idRessource is not a resource of this client's provider",
            )
        })?;
    let uai = match p.get("uai") {
        Some(u) => Some(
            u.parse()
                .map_err(|_| req("oidc.uai", "uai is not a school code"))?,
        ),
        None => None,
    };
    Ok(Checked {
        resource,
        scope: scopes.join(" "),
        nonce: p.get("nonce").cloned(),
        code_challenge,
        uai,
        redirect_uri: p.get("redirect_uri").cloned().unwrap_or_default(),
    })
}

enum Denied {
    Refused(OidcError),
    Page(PageError),
}

impl From<crate::store::StoreError> for Denied {
    fn from(e: crate::store::StoreError) -> Self {
        Denied::Page(e.into())
    }
}

/// Runs the access rule in the school of the request and, when it grants, stores a code.
async fn grant(
    state: &AppState,
    session: &Session,
    provider: &ProviderConfig,
    client: &OidcClient,
    req: &Checked,
    device: crate::audience::DeviceClass,
    now: DateTime<Utc>,
) -> Result<String, Denied> {
    let channel = match client.application_type {
        ApplicationType::Native => Channel::App,
        ApplicationType::Web => Channel::Web,
    };
    let g = match flow::access::authorize(
        &state.deps(),
        session,
        &req.resource,
        req.uai.as_ref(),
        channel,
        now,
    )
    .await
    {
        Ok(g) => g,
        Err(FlowError::Refused(r)) => {
            return Err(Denied::Refused(OidcError::new(
                ErrorCode::AccessDenied,
                "oidc.access",
                format!("access refused: {}", r.code()),
            )))
        }
        Err(FlowError::Store(e)) => return Err(e.into()),
    };
    let record = CodeRecord {
        facts: GrantFacts {
            grant_id: new_secret(),
            client_id: client.client_id.clone(),
            provider: provider.key.clone(),
            ent: session.ent.clone(),
            person_id: session.person_id.clone(),
            uai: g.uai().clone(),
            profile: g.profile(),
            resource: req.resource.id.clone(),
            channel,
            device,
            scope: req.scope.clone(),
            auth_time: session.authenticated_at,
            sid: Some(session.public_ref()),
        },
        redirect_uri: req.redirect_uri.clone(),
        code_challenge: req.code_challenge.clone(),
        nonce: req.nonce.clone(),
        issued_at: now,
    };
    let code = service::new_code(&state.op(), &record).await?;
    if client.backchannel_logout_uri.is_some() || client.frontchannel_logout_uri.is_some() {
        let rp = RelyingParty {
            provider: provider.key.clone(),
            client_id: client.client_id.clone(),
            sid: session.public_ref(),
        };
        flow::logout::remember(&state.deps(), session, flow::logout::Party::Oidc(rp), now).await?;
    }
    Ok(code)
}
