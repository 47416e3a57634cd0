//! Answering a provider's verified AuthnRequest for a user with a session: the hand-over of
//! `flow::access` (the access rule again, the attributes released) with a signed Response and
//! Assertion as its credential, posted to the provider's ACS. The SSO endpoints (`idp`) and the
//! resume of a forced request (`idp_force`) answer through it.

use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};

use crate::app::AppState;
use crate::config::ProviderConfig;
use crate::flow::{self, access::HandOverError};
use crate::saml::idp::{self, Issue};
use crate::saml::{binding, SamlError};
use crate::trace::{Channel, TraceEvent};

use super::error::PageError;

/// Runs the access rule again for the launch and answers the request with a signed Response
/// and Assertion for `session`'s user.
pub(super) async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    provider: &ProviderConfig,
    request: &idp::VerifiedAuthnRequest,
    session: &crate::session::Session,
    launch_of: &crate::session::Launch,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Response, PageError> {
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let handed = flow::access::HandOver {
        user: flow::User::of(session),
        uai: &launch_of.uai,
        resource: &launch_of.resource,
        provider: &provider.key,
        protocol: "saml",
        channel: Channel::Web,
        device: crate::audience::DeviceClass::from_user_agent(ua),
        issuance: flow::access::Issuance::Access,
    };
    let session_index = session.public_ref();
    let authn_instant = session.authenticated_at;
    let signed = flow::access::hand_over(&state.deps(), handed, now, |rel| async move {
        // Signing is CPU work: keep it off the async workers.
        let (settings, config, req) = (state.idp.clone(), state.config.clone(), request.clone());
        let attributes = rel.attributes;
        let name_id = attributes.subject.clone();
        let xml = super::verify::off_worker(state, move || {
            let values: Vec<(&str, &[String])> = attributes
                .values
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_slice()))
                .collect();
            let issue = Issue {
                request: &req,
                subject: &attributes.subject,
                attributes: &values,
                authn_instant,
                session_index: &session_index,
            };
            idp::signed_response(&settings, &config.signing_key.get(), &issue, now)
        })
        .await?;
        Ok::<_, SamlError>((xml, rel.resource.access_url, name_id))
    })
    .await;
    let (xml, access_url, name_id) = match signed {
        Ok(ok) => ok,
        Err(HandOverError::Flow(e)) => return Err(e.into()),
        Err(HandOverError::Issue(e)) => return Err(refused(state, Some(&provider.key), e)),
    };
    // A provider with a logout endpoint (SOAP, or Redirect in the browser) hears when this
    // session ends.
    if provider
        .sp()
        .is_some_and(|sp| sp.slo.soap.is_some() || sp.slo.redirect.is_some())
    {
        let party = crate::session::SamlParty {
            provider: provider.key.clone(),
            name_id,
            session_index: session.public_ref(),
        };
        flow::logout::remember(
            &state.deps(),
            session,
            flow::logout::Party::Saml(party),
            now,
        )
        .await?;
    }
    // RelayState: echoed when the provider sent one, else the resource's access URL (as the GAR does).
    let relay = request.relay_state.clone().unwrap_or(access_url);
    let page = binding::post_form(&request.acs_url, "SAMLResponse", &xml, Some(&relay));
    Ok(([(header::CACHE_CONTROL, "no-store")], Html(page)).into_response())
}

/// Traces a refused SAML exchange with `provider` and turns it into a page.
pub(super) fn refused(state: &AppState, provider: Option<&str>, e: SamlError) -> PageError {
    state.trace(TraceEvent::ProtocolRefused {
        peer_kind: "provider",
        peer: provider.map(str::to_string),
        protocol: "saml",
        check: e.check.code(),
    });
    PageError::saml(&e)
}
