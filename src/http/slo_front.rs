//! Telling SAML providers in the browser: when an ENT's front-channel logout ends a session,
//! the providers of that session that take logouts only in the browser (a Redirect
//! SingleLogoutService and no SOAP one: the back channel tells the others) each get the
//! gateway's signed LogoutRequest in a hidden iframe of a "Déconnexion en cours" page, which
//! then goes on to the ENT's LogoutResponse (by itself once the frames have loaded, or with a
//! button). Each request's ID is kept in the store for a few minutes; the provider's
//! LogoutResponse comes back, in its iframe, to `/idp/profile/SAML2/{Redirect,POST}/SLO`, is
//! verified with the provider's keys, taken once and traced (`logout_sent`). OIDC clients with
//! a `frontchannel_logout_uri` get their iframe too (Front-Channel Logout 1.0: `iss`, `sid`).

use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;
use crate::saml::slo::{Carried, MAX_AGE};
use crate::saml::{slo_out, Check, SamlError};
use crate::session::Session;
use crate::trace::TraceEvent;

use super::error::PageError;
use super::pages;
use super::slo_answer::{verified_response, Failure, Next, Side};
use crate::saml::xml::escape;

/// Store kind of a front-channel LogoutRequest the gateway sent a provider.
const KIND: &str = "saml-logout-front";

/// A provider to tell in an iframe.
pub(super) struct Frame {
    provider: String,
    url: String,
}

/// The providers of `ended` to tell in the browser, each with its signed LogoutRequest URL
/// (its ID kept in the store); not `asker`, the provider (configuration key) whose own logout
/// this is, nor an OIDC client of that provider.
pub(super) async fn frames(
    state: &AppState,
    ended: &[Session],
    asker: Option<&str>,
) -> Result<Vec<Frame>, PageError> {
    let mut out = Vec::new();
    let (issuer, now) = (state.idp.entity_id.clone(), state.clock.now());
    let others = |provider: &str| asker != Some(provider);
    let saml = ended.iter().flat_map(|s| &s.saml_parties);
    for party in saml.filter(|p| others(&p.provider)) {
        let Some(sp) = state
            .config
            .providers
            .get(&party.provider)
            .and_then(|p| p.sp())
        else {
            continue;
        };
        let (Some(location), None) = (&sp.slo.redirect, &sp.slo.soap) else {
            continue;
        };
        let named = slo_out::Named {
            issuer: &issuer,
            sp: &sp.entity_id,
            name_id: &party.name_id,
            session_index: &party.session_index,
        };
        let (id, url) =
            slo_out::redirect_url(named, location, &state.config.signing_key.get(), now)
                .map_err(|e| PageError::saml_logout(&e))?;
        let ttl = MAX_AGE.to_std().unwrap_or_default();
        let value = json!({ "provider": party.provider });
        state.store.put_token(KIND, &id, &value, ttl).await?;
        out.push(Frame {
            provider: party.provider.clone(),
            url,
        });
    }
    // OIDC clients with a front-channel logout URI (Front-Channel Logout 1.0 §2): `iss` and
    // the `sid` their ID token carried. Nothing comes back from them.
    let oidc_issuer = state.config.oidc_issuer();
    let rps = ended.iter().flat_map(|s| &s.relying_parties);
    for rp in rps.filter(|rp| others(&rp.provider)) {
        let Some(uri) = state
            .config
            .oidc_client(&rp.client_id)
            .and_then(|(_, c)| c.frontchannel_logout_uri.clone())
        else {
            continue;
        };
        let Ok(mut url) = url::Url::parse(&uri) else {
            continue;
        };
        url.query_pairs_mut()
            .append_pair("iss", &oidc_issuer)
            .append_pair("sid", &rp.sid);
        out.push(Frame {
            provider: rp.provider.clone(),
            url: url.into(),
        });
    }
    Ok(out)
}

/// The page that loads `frames`, then goes on to `next` (the ENT's LogoutResponse).
pub(super) fn page(frames: &[Frame], next: Next) -> Response {
    let iframes: String = frames
        .iter()
        .map(|f| {
            format!(
                r#"<iframe src="{}" title="Déconnexion de {}" hidden></iframe>"#,
                escape(&f.url),
                escape(&f.provider)
            )
        })
        .collect();
    let go_on = match next {
        Next::Redirect(url) => format!(
            r#"<p><a id="suite" class="button" href="{}">Continuer</a></p>"#,
            escape(&url)
        ),
        Next::Post {
            location,
            field,
            signed,
            relay,
        } => {
            use base64::Engine;
            let relay = relay
                .map(|r| {
                    format!(
                        r#"<input type="hidden" name="RelayState" value="{}">"#,
                        escape(&r)
                    )
                })
                .unwrap_or_default();
            format!(
                r#"<form id="suite" method="post" action="{}"><input type="hidden" name="{field}" value="{}">{relay}<button type="submit">Continuer</button></form>"#,
                escape(&location),
                base64::engine::general_purpose::STANDARD.encode(signed)
            )
        }
        Next::Done => {
            "<p>Vous êtes déconnecté de la passerelle. Vous pouvez fermer cette fenêtre.</p>"
                .to_string()
        }
    };
    // Once every frame has loaded (or after five seconds), the browser goes on by itself.
    let script = format!(
        r#"<script>(function(){{var left={n};function go(){{var s=document.getElementById("suite");if(!s)return;if(s.tagName==="FORM"){{s.submit();}}else{{location.replace(s.href);}}}}document.querySelectorAll("iframe").forEach(function(f){{f.addEventListener("load",function(){{if(--left===0)go();}});}});setTimeout(go,5000);}})();</script>"#,
        n = frames.len()
    );
    let body = format!(
        "<p>La passerelle prévient les ressources que vous avez ouvertes de votre déconnexion.</p>{iframes}{go_on}{script}"
    );
    let mut resp = Html(pages::page("Déconnexion en cours", &body)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A provider's LogoutResponse, in its iframe, to a LogoutRequest of [`frames`] (`carried`,
/// whose unverified XML is `xml`, at the endpoint `destination`): verified with the provider's
/// keys, its request's record taken once, traced.
pub(super) async fn answered(
    state: &AppState,
    carried: Carried,
    xml: &str,
    destination: String,
) -> Result<Response, PageError> {
    let side = Side::Provider;
    let refused = |peer: Option<String>, e: SamlError| Failure::saml(state, side, peer, e).page();
    let (name, verified) = verified_response(state, side, carried, xml, destination).await?;
    let asked = state
        .store
        .take_token(KIND, &verified.in_response_to)
        .await?
        .is_some_and(|v| v.get("provider").and_then(|p| p.as_str()) == Some(name.as_str()));
    if !asked {
        let e = SamlError::new(
            Check::InResponseTo,
            "the LogoutResponse answers no logout the gateway sent this provider (unknown, answered already, or expired)",
        );
        return Err(refused(Some(name), e));
    }
    state.trace(TraceEvent::LogoutSent {
        provider: name.clone(),
        protocol: "saml",
        delivered: verified.success,
        attempts: 1,
    });
    let mut resp = Html(pages::page(
        "Déconnexion",
        "<p>La ressource a été prévenue de votre déconnexion.</p>",
    ))
    .into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Shown in the gateway's own logout page.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'self'"),
    );
    Ok(resp)
}
