//! `GET /ressources/{idENT}/{UAI}/{GARPersonIdentifiant}`: the médiacentre listing, in the GAR's
//! JSON shape (`{"listeRessources":{"ressource":[...]}}`), errors as `{"Erreur":{...}}`.
//!
//! Callers are ENT servers, authenticated by the bearer token configured for that ENT
//! (`ents.<id>.api_token_file`); an ENT lists only its own users.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Serialize;

use crate::app::AppState;
use crate::domain::{IdEnt, Presentation, Resource, Term, Uai};
use crate::listing::{self, ListingError};

use super::api_error::{ApiError, Shape};
use super::party::{EntCaller, Unauthenticated};

/// The GAR error shape.
/// The GAR's JSON error for `path` (`api_error::Shape::GarJson`).
fn gar_error(status: StatusCode, message: &str, path: &str, cause: &str) -> Response {
    ApiError::new(
        status,
        Shape::GarJson {
            resource: path.to_string(),
        },
        message,
        cause,
    )
    .into_response()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    id_ressource: &'a str,
    id_type: &'static str,
    nom_ressource: &'a str,
    id_editeur: &'a str,
    nom_editeur: &'a str,
    url_vignette: &'a str,
    type_presentation: &'a Presentation,
    type_pedagogique: &'a [Term],
    typologie_document: &'a [Term],
    niveau_educatif: &'a [Term],
    domaine_enseignement: &'a [Term],
    url_acces_ressource: String,
    nom_source_etiquette_gar: &'static str,
    distributeur_tech: &'a str,
    validateur_tech: &'a str,
}

/// The answer's frame around the entries, each rendered once per school and resource:
/// `{"listeRessources":{"ressource":[...]}}`.
const LISTING_OPEN: &[u8] = br#"{"listeRessources":{"ressource":["#;
const LISTING_CLOSE: &[u8] = b"]}}";

/// A resource's entry for `ent`'s users in `uai`, as JSON.
fn render(state: &AppState, ent: &IdEnt, uai: &Uai, r: &Resource) -> Vec<u8> {
    let entry = Entry {
        id_ressource: r.id.as_str(),
        id_type: "ARK",
        nom_ressource: &r.name,
        id_editeur: &r.editor_id,
        nom_editeur: &r.editor_name,
        url_vignette: &r.display.url_vignette,
        type_presentation: &r.display.type_presentation,
        type_pedagogique: &r.display.type_pedagogique,
        typologie_document: &r.display.typologie_document,
        niveau_educatif: &r.display.niveau_educatif,
        domaine_enseignement: &r.display.domaine_enseignement,
        url_acces_ressource: access_link(state, ent, uai, r),
        nom_source_etiquette_gar: "Accessible via le Gestionnaire d’accès aux ressources (GAR)",
        distributeur_tech: &r.technical_distributor,
        validateur_tech: r
            .display
            .validateur_tech
            .as_deref()
            .unwrap_or(&r.technical_distributor),
    };
    // Plain strings and lists of terms: serialising them cannot fail.
    serde_json::to_vec(&entry).unwrap_or_default()
}

/// The `domaineGar` link of a resource for a school, shaped as the real GAR shapes it.
pub fn access_link(state: &AppState, ent: &IdEnt, uai: &Uai, resource: &Resource) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "{}?idENT={}&idEtab={}&idRessource={}",
        state.config.url("/domaineGar"),
        urlencoding::encode(&b64(ent.as_str())),
        urlencoding::encode(&b64(uai.as_str())),
        urlencoding::encode(resource.id.as_str())
    )
}

/// The ENT calling (`party`) is the ENT of the path.
fn authorised(caller: Result<EntCaller, Unauthenticated>, ent: &IdEnt) -> Result<(), &'static str> {
    match caller {
        Ok(c) if &c.ent().id == ent => Ok(()),
        Ok(_) => Err("the credentials are another ENT's"),
        Err(e) => Err(e.cause()),
    }
}

pub async fn handle(
    State(state): State<AppState>,
    caller: Result<EntCaller, Unauthenticated>,
    Path((ent, uai, person)): Path<(String, String, String)>,
) -> Response {
    let path = format!("ressources/{ent}/{uai}/{}", urlencoding::encode(&person));
    let Ok(ent) = ent.parse::<IdEnt>() else {
        return gar_error(
            StatusCode::BAD_REQUEST,
            "ENT non trouvé",
            &path,
            "malformed idENT",
        );
    };
    if let Err(cause) = authorised(caller, &ent) {
        return gar_error(
            StatusCode::UNAUTHORIZED,
            "Authentification requise",
            &path,
            cause,
        );
    }
    let Ok(uai) = uai.parse::<Uai>() else {
        return gar_error(
            StatusCode::BAD_REQUEST,
            "Établissement non trouvé",
            &path,
            "malformed UAI",
        );
    };
    let now = state.clock.now();
    let render = |r: &Resource| render(&state, &ent, &uai, r);
    let listed = match listing::resources_for(
        state.store.as_ref(),
        &state.listing_cache,
        &ent,
        &uai,
        &person,
        now,
        &render,
    )
    .await
    {
        Ok(r) => r,
        Err(ListingError::UnknownSchool) => {
            return gar_error(
                StatusCode::BAD_REQUEST,
                "Établissement non trouvé",
                &path,
                "unknown school",
            )
        }
        Err(ListingError::UnknownUser) => {
            return gar_error(
                StatusCode::BAD_REQUEST,
                "Utilisateur non trouvé",
                &path,
                "unknown user in that school",
            )
        }
        Err(ListingError::Store(e)) => {
            return ApiError::store(Shape::GarJson { resource: path }, &e).into_response()
        }
    };
    let mut body = Vec::with_capacity(4096);
    body.extend_from_slice(LISTING_OPEN);
    for (i, entry) in listed.entries().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&entry.rendered);
    }
    body.extend_from_slice(LISTING_CLOSE);
    (
        [(header::CONTENT_TYPE, "application/json")],
        axum::body::Bytes::from(body),
    )
        .into_response()
}
