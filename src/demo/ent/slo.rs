//! The demo ENT's side of a logout a provider started: the gateway's LogoutRequest at
//! `GET /idp/slo` (its query signature checked with the gateway's certificate, by
//! `saml::slo`), the ENT session of that login ended, and a signed LogoutResponse back to the
//! gateway's `/saml/slo`, which then answers the provider.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::DemoEnt;
use crate::saml::binding::RedirectQuery;
use crate::saml::slo::{self, Carried, LogoutAnswer, Peer, SloUrls};
use crate::saml::xml::escape;

pub(super) fn asked(ent: &DemoEnt, raw_query: &str) -> Response {
    // The demo ENT's entityID is `{its URL}/idp`.
    let here = format!("{}/slo", ent.idp.entity_id);
    let urls = SloUrls {
        redirect: here.clone(),
        post: here.clone(),
        soap: here,
    };
    let peer = Peer::provider(&ent.gateway_sp);
    let verified = RedirectQuery::parse(raw_query, "SAMLRequest").and_then(|q| {
        slo::verify_logout_request(
            &Carried::Redirect(q),
            &urls,
            &peer,
            chrono::Duration::seconds(60),
            64 * 1024,
            ent.clock.now(),
        )
    });
    let v = match verified {
        Ok(v) => v,
        Err(e) => {
            return (
                StatusCode::FORBIDDEN,
                Html(crate::http::pages::page_of(
                    "ENT Démo",
                    "Déconnexion",
                    &format!(
                        "<p>La demande de déconnexion de la passerelle est invalide : <code>{}</code></p>",
                        escape(e.check.code())
                    ),
                )),
            )
                .into_response()
        }
    };
    // The ENT session of that login ends.
    let ended: Vec<String> = {
        let mut logins = ent.logins.lock().unwrap_or_else(|e| e.into_inner());
        let sids: Vec<String> = logins
            .iter()
            .filter(|(_, (name_id, index))| {
                *name_id == v.name_id
                    && (v.session_indexes.is_empty() || v.session_indexes.contains(index))
            })
            .map(|(sid, _)| sid.clone())
            .collect();
        for sid in &sids {
            logins.remove(sid);
        }
        sids
    };
    {
        let mut sessions = ent.sessions.lock().unwrap_or_else(|e| e.into_inner());
        for sid in &ended {
            sessions.remove(sid);
        }
    }
    let to = format!("{}/saml/slo", ent.gateway_base);
    let answer = LogoutAnswer {
        issuer: ent.idp.entity_id.clone(),
        destination: Some(to.clone()),
        in_response_to: v.id,
        status: if ended.is_empty() {
            slo::STATUS_REQUESTER
        } else {
            slo::STATUS_SUCCESS
        },
        detail: ended.is_empty().then_some(slo::STATUS_UNKNOWN_PRINCIPAL),
    };
    let signed = slo::logout_response(&answer, &ent.key, false, ent.clock.now())
        .and_then(|xml| slo::redirect_response_url(&to, &xml, None, &ent.key));
    match signed {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Html(crate::http::pages::page_of(
                "ENT Démo",
                "Erreur",
                &format!("<p>{}</p>", escape(&e.to_string())),
            )),
        )
            .into_response(),
    }
}
