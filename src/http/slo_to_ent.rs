//! A provider's front-channel logout goes on to the ENT (SAML single logout, the gateway as
//! the session authority between them): when a provider's LogoutRequest ends a session from a
//! SAML ENT that takes logouts over the front channel, the browser goes to the ENT with the
//! gateway's signed LogoutRequest (naming the ENT's NameID and SessionIndex), and the provider
//! gets its LogoutResponse once the ENT has answered at `/saml/slo`. What the provider is owed
//! meanwhile waits in the store for a few minutes, under the ID of the gateway's request, and
//! is taken once: any node can take the ENT's answer. An ENT that did not log its user out
//! makes the provider's answer `PartialLogout`; an answer that cannot be verified, or that
//! names no request the gateway is waiting on, ends nothing more and answers nobody.

use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::saml::metadata::SloEndpoints;
use crate::saml::slo::{Carried, MAX_AGE};
use crate::saml::slo_back::{self, EntLogin};
use crate::saml::{binding, Check, SamlError};
use crate::session::Session;

use super::error::PageError;
use super::slo_answer::{
    reply, verified_response, Answered, Failure, Next, Outcome, Side, FRONT_PATH,
};

/// Store kind of what a provider is owed while its user logs out at the ENT.
const KIND: &str = "saml-logout-onward";

/// The provider's LogoutRequest that started the logout.
pub(super) struct Asked<'a> {
    /// The provider's configuration key.
    pub provider: &'a str,
    pub in_response_to: &'a str,
    pub relay: Option<&'a str>,
}

/// What the provider is owed, kept while the ENT is asked.
#[derive(Serialize, Deserialize)]
struct Owed {
    provider: String,
    in_response_to: String,
    relay: Option<String>,
    /// The ENT asked (its id): only its answer settles it.
    ent: String,
}

/// Keeps, under `key` (the gateway's request ID, or the OIDC `state`), what the provider that
/// `asked` is owed once the ENT `ent` has answered.
async fn owe(
    state: &AppState,
    key: &str,
    asked: &Asked<'_>,
    ent: &crate::domain::IdEnt,
) -> Result<(), PageError> {
    let owed = Owed {
        provider: asked.provider.to_string(),
        in_response_to: asked.in_response_to.to_string(),
        relay: asked.relay.map(str::to_string),
        ent: ent.to_string(),
    };
    let value = serde_json::to_value(&owed).unwrap_or_default();
    let ttl = MAX_AGE.to_std().unwrap_or_default();
    Ok(state.store.put_token(KIND, key, &value, ttl).await?)
}

/// When one of `ended` is a login at a SAML ENT with a front-channel logout endpoint: what
/// the provider is owed, stored, and the browser sent to the ENT with the gateway's signed
/// LogoutRequest; at an OIDC ENT whose discovery publishes an `end_session_endpoint`, the
/// browser goes there instead (RP-Initiated Logout 1.0). `None` when no ENT is to be asked
/// (the provider is answered at once).
pub(super) async fn ask_ent(
    state: &AppState,
    ended: &[Session],
    asked: Asked<'_>,
) -> Result<Option<Next>, PageError> {
    let found = ended.iter().find_map(|s| {
        let r = s.ent_session.as_ref()?;
        let ent = state.config.ents.values().find(|e| e.id == s.ent)?;
        let idp = ent.saml()?;
        (idp.peer.slo.redirect.is_some() || idp.peer.slo.post.is_some()).then_some((ent, idp, r))
    });
    let Some((ent, idp, r)) = found else {
        return ask_oidc_ent(state, ended, asked).await;
    };
    let now = state.clock.now();
    let login = EntLogin {
        sp: &state.sp.entity_id,
        name_id: &r.subject,
        format: r.format.as_deref(),
        session_index: r.index.as_deref(),
    };
    let slo = &idp.peer.slo;
    let destination = slo
        .redirect
        .as_ref()
        .or(slo.post.as_ref())
        .cloned()
        .unwrap_or_default();
    let failed = |e: SamlError| PageError::saml_logout(&e);
    let key = state.config.signing_key.get();
    let (id, xml) = if slo.redirect.is_some() {
        slo_back::request(login, &destination, None, now).map_err(failed)?
    } else {
        let login = (
            login.name_id.to_string(),
            login.format.map(str::to_string),
            login.session_index.map(str::to_string),
        );
        let (sp, dest, key) = (state.sp.entity_id.clone(), destination.clone(), key.clone());
        super::verify::off_worker(state, move || {
            let login = EntLogin {
                sp: &sp,
                name_id: &login.0,
                format: login.1.as_deref(),
                session_index: login.2.as_deref(),
            };
            slo_back::request(login, &dest, Some(&key), now)
        })
        .await
        .map_err(failed)?
    };
    owe(state, &id, &asked, &ent.id).await?;
    let next = if let Some(location) = &slo.redirect {
        let url = binding::signed_redirect_url(location, "SAMLRequest", &xml, None, &key.key)
            .map_err(failed)?;
        Next::Redirect(url)
    } else {
        Next::Post {
            location: destination,
            field: "SAMLRequest",
            signed: xml,
            relay: None,
        }
    };
    tracing::info!(ent = %ent.id, provider = asked.provider, "a provider's logout goes on to the ENT");
    Ok(Some(next))
}

/// The ENT's LogoutResponse (`carried`, whose unverified XML is `xml`) to the gateway's
/// request: verified, the provider's due taken, and the provider answered.
pub(super) async fn answered(
    state: &AppState,
    carried: Carried,
    xml: &str,
) -> Result<Response, PageError> {
    let side = Side::Ent;
    let refused = |peer: Option<String>, e: SamlError| Failure::saml(state, side, peer, e).page();
    let destination = state.config.url(FRONT_PATH);
    let (name, verified) = verified_response(state, side, carried, xml, destination).await?;
    let owed = state
        .store
        .take_token(KIND, &verified.in_response_to)
        .await?
        .and_then(|v| serde_json::from_value::<Owed>(v).ok());
    let Some(owed) = owed.filter(|o| o.ent == name) else {
        let e = SamlError::new(
            Check::InResponseTo,
            "the LogoutResponse answers no logout the gateway is waiting on (unknown, answered already, or expired)",
        );
        return Err(refused(Some(name), e));
    };
    if !verified.success {
        tracing::warn!(ent = %name, provider = %owed.provider, "the ENT did not log its user out; the provider hears PartialLogout");
    }
    let slo = provider_slo(state, &owed.provider);
    let a = Answered {
        in_response_to: &owed.in_response_to,
        outcome: if verified.success {
            Outcome::Ended
        } else {
            Outcome::Partial
        },
        relay: owed.relay.as_deref(),
    };
    reply(state, Side::Provider, &slo, a).await
}

/// The logout endpoints of the provider `key` (none when it left the configuration).
fn provider_slo(state: &AppState, key: &str) -> SloEndpoints {
    state
        .config
        .providers
        .values()
        .find(|p| p.key == key)
        .and_then(|p| p.sp())
        .map(|sp| sp.slo.clone())
        .unwrap_or_default()
}

/// Where an OIDC ENT sends the browser back after its logout (the `post_logout_redirect_uri`
/// to register at the ENT).
pub const OIDC_BACK_PATH: &str = "/ent/oidc/logged-out";

/// The OIDC leg of [`ask_ent`]: the browser to the ENT's `end_session_endpoint` with the
/// gateway's `client_id`, `post_logout_redirect_uri` and a one-time `state` naming what the
/// provider is owed. (No `id_token_hint`: the gateway keeps no ENT ID token.)
async fn ask_oidc_ent(
    state: &AppState,
    ended: &[Session],
    asked: Asked<'_>,
) -> Result<Option<Next>, PageError> {
    let Some((ent, op)) = ended.iter().find_map(|s| {
        let ent = state.config.ents.values().find(|e| e.id == s.ent)?;
        Some((ent, ent.oidc()?))
    }) else {
        return Ok(None);
    };
    let end = match state
        .ent_oidc
        .get(ent.id.as_str(), op, state.clock.now())
        .await
    {
        Ok(d) => d.end_session_endpoint.clone(),
        Err(e) => {
            tracing::warn!(ent = %ent.id, check = %e.check, "the ENT's discovery failed: the provider is answered without the ENT's logout");
            None
        }
    };
    let Some(mut url) = end.and_then(|u| url::Url::parse(&u).ok()) else {
        return Ok(None);
    };
    let key = crate::session::new_id();
    owe(state, &key, &asked, &ent.id).await?;
    url.query_pairs_mut()
        .append_pair("client_id", &op.client_id)
        .append_pair(
            "post_logout_redirect_uri",
            &state.config.url(OIDC_BACK_PATH),
        )
        .append_pair("state", &key);
    tracing::info!(ent = %ent.id, provider = asked.provider, "a provider's logout goes on to the OIDC ENT");
    Ok(Some(Next::Redirect(url.into())))
}

/// `GET /ent/oidc/logged-out?state=…`: the OIDC ENT logged its user out and sent the browser
/// back; the provider whose logout it was gets its LogoutResponse. A `state` that names
/// nothing the gateway is waiting on (unknown, used, expired) answers nobody (403, traced).
pub async fn oidc_logged_out(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Response, PageError> {
    use crate::oidc::rp::{Check as RpCheck, RpError};
    let refused = |e: RpError| {
        state.trace(crate::trace::TraceEvent::ProtocolRefused {
            peer_kind: "ent",
            peer: None,
            protocol: "oidc",
            check: e.check.code(),
        });
        PageError::oidc(&e)
    };
    let params = super::query::unique(query.as_deref().unwrap_or(""))
        .map_err(|k| refused(RpError::new(RpCheck::State, format!("{k} is repeated"))))?;
    let owed = match params.get("state") {
        Some(key) => state.store.take_token(KIND, key).await?,
        None => None,
    };
    let owed = owed.and_then(|v| serde_json::from_value::<Owed>(v).ok());
    let is_oidc = |o: &Owed| {
        state
            .config
            .ents
            .values()
            .any(|e| e.id.as_str() == o.ent && e.oidc().is_some())
    };
    let Some(owed) = owed.filter(is_oidc) else {
        return Err(refused(RpError::new(
            RpCheck::State,
            "the logout's state names no provider logout the gateway is waiting on",
        )));
    };
    let slo = provider_slo(&state, &owed.provider);
    let a = Answered {
        in_response_to: &owed.in_response_to,
        outcome: Outcome::Ended,
        relay: owed.relay.as_deref(),
    };
    reply(&state, Side::Provider, &slo, a).await
}
