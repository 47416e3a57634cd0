//! The gateway's own pages, outside any protocol: the landing page at `/` (what this service
//! is, where users come from, its status, the addresses operators exchange) and the 404 of
//! every path no route takes, which `/metrics` also gives to whoever may not read it.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::pages;

/// `GET /`: what this service is, in French.
pub async fn home() -> Response {
    Html(pages::page(
        "Passerelle d'accès aux ressources numériques éducatives",
        "<p>Ce service relie les espaces numériques de travail (ENT) des écoles et des établissements scolaires aux ressources numériques de leurs éditeurs (manuels, dictionnaires, exercices…). Il vérifie que votre établissement est abonné à la ressource et qu'elle vous est attribuée, puis vous y connecte sans nouvel identifiant, en ne transmettant à l'éditeur que les informations nécessaires.</p>\
         <h2>Élèves, enseignants et personnels</h2>\
         <p>Vous n'avez rien à faire sur cette page : on arrive sur la passerelle en ouvrant une ressource depuis le <strong>médiacentre de son ENT</strong>. Retournez sur votre ENT pour ouvrir vos ressources.</p>\
         <h2>État du service</h2>\
         <p><a href=\"/health/ready\">Vérifier que le service répond</a> (la page affiche « ready » quand tout va bien).</p>\
         <h2>Exploitants, ENT et éditeurs</h2>\
         <ul>\
         <li><a href=\"/saml/metadata\">Métadonnées SAML du fournisseur de services</a>, pour les ENT (<code>/saml/metadata</code>)</li>\
         <li><a href=\"/idp/metadata\">Métadonnées SAML du fournisseur d'identité</a>, pour les éditeurs de ressources SAML (<code>/idp/metadata</code>)</li>\
         <li><a href=\"/oidc/.well-known/openid-configuration\">Configuration OpenID Connect</a>, pour les éditeurs de ressources OIDC (<code>/oidc/.well-known/openid-configuration</code>)</li>\
         </ul>",
    ))
    .into_response()
}

/// No route takes this path (the router's fallback), or it is hidden from this caller: a
/// French page for a browser, one line of text for anyone else, 404 either way.
pub async fn not_found(headers: HeaderMap) -> Response {
    not_found_for(&headers)
}

/// The answer of [`not_found`] to a request with `headers`.
pub fn not_found_for(headers: &HeaderMap) -> Response {
    if pages::wants_page(headers) {
        let body = pages::page(
            "Page introuvable",
            &format!(
                "<p>L'adresse demandée n'existe pas sur la passerelle. Le lien que vous avez suivi est peut-être incomplet ou ancien.</p><p class=\"back\">{}</p><p><a href=\"/\">Qu'est-ce que cette passerelle ?</a></p>",
                pages::WAY_BACK
            ),
        );
        (StatusCode::NOT_FOUND, Html(body)).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not found\n",
        )
            .into_response()
    }
}
