//! The demo SAML resource's own single logout: a "Se déconnecter" button on the page of what it
//! received sends the browser to the gateway with a signed LogoutRequest (HTTP-Redirect) naming
//! the NameID and SessionIndex of its assertion; the gateway ends its session, has the demo
//! ENT log the user out too, and comes back to `/saml/slo` with its LogoutResponse, whose query
//! signature is checked here with the gateway's certificate.

use axum::extract::{Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::DemoResource;
use crate::saml::binding::{self, RedirectQuery};
use crate::saml::slo;
use crate::saml::sp::AssertionView;
use crate::saml::xml::escape;

fn page(title: &str, body: &str) -> String {
    crate::http::pages::page_of("Éditions Démo", title, body)
}

/// The button that starts the logout of the login `view` names.
pub(super) fn logout_form(view: &AssertionView) -> String {
    let (Some(name_id), Some(index)) = (&view.name_id, &view.session_index) else {
        return String::new();
    };
    format!(
        r#"<form method="get" action="/saml/logout"><input type="hidden" name="name_id" value="{}"><input type="hidden" name="index" value="{}"><button type="submit">Se déconnecter (de la ressource, de la passerelle et de l'ENT)</button></form>"#,
        escape(name_id),
        escape(index)
    )
}

#[derive(Deserialize)]
pub(super) struct Login {
    name_id: String,
    index: String,
}

/// `GET /saml/logout`: the browser goes to the gateway with the resource's LogoutRequest.
pub(super) async fn logout(
    State(res): State<DemoResource>,
    Query(login): Query<Login>,
) -> Response {
    let Some(to) = res.gateway.peer.slo.redirect.clone() else {
        return Html(page(
            "Déconnexion",
            "<p>La passerelle ne publie pas de service de déconnexion.</p>",
        ))
        .into_response();
    };
    let (_, xml) = slo::logout_request(
        &res.sp.entity_id,
        &to,
        &login.name_id,
        Some(&login.index),
        res.clock.now(),
    );
    match binding::signed_redirect_url(&to, "SAMLRequest", &xml, None, &res.key.key) {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Html(page(
                "Erreur",
                &format!("<p>{}</p>", escape(&e.to_string())),
            )),
        )
            .into_response(),
    }
}

/// `GET /saml/slo`: the gateway's LogoutResponse, its query signature checked.
pub(super) async fn answered(State(res): State<DemoResource>, RawQuery(q): RawQuery) -> Response {
    let checked = RedirectQuery::parse(q.as_deref().unwrap_or(""), "SAMLResponse").and_then(|rq| {
        rq.verify(&res.gateway.peer.signing_certs, &res.gateway.algorithms)?;
        binding::decode_redirect(&rq.message, res.sp.max_message_bytes)
    });
    match checked {
        Ok(xml) => {
            let outcome = if xml.contains(slo::STATUS_PARTIAL_LOGOUT) {
                "Vous êtes déconnecté de la ressource et de la passerelle ; l'ENT n'a pas confirmé votre déconnexion."
            } else if xml.contains(&format!(r#"Value="{}"/>"#, slo::STATUS_SUCCESS)) {
                "Vous êtes déconnecté de la ressource, de la passerelle et de l'ENT."
            } else {
                "La passerelle n'avait plus de session ouverte pour cette connexion."
            };
            Html(page(
                "Déconnexion",
                &format!("<p>✔ Réponse signée par la passerelle, vérifiée avec son certificat.</p><p>{outcome}</p><p><a href=\"/\">Retour</a></p>"),
            ))
            .into_response()
        }
        Err(e) => (
            StatusCode::FORBIDDEN,
            Html(page(
                "Déconnexion",
                &format!(
                    "<p>La réponse de la passerelle est invalide : <code>{}</code></p>",
                    escape(e.check.code())
                ),
            )),
        )
            .into_response(),
    }
}
